//! Sealing and opening secrets: the keystore format.

mod support;

use std::time::{Duration, Instant};

use airlock_custody::keystore::{HEADER_LEN, MAGIC, MIN_SEALED_LEN};
use airlock_custody::{CustodyError, KdfParams, Passphrase, open, seal, sealed_params};
use sha2::{Digest as _, Sha256};
use support::{ScratchDir, pass};

const FAST: KdfParams = KdfParams::INSECURE_FAST;

// Offsets from the documented layout (see `airlock_custody::keystore`).
const VERSION_AT: usize = 16;
const MEMORY_AT: usize = 17;
const ITERATIONS_AT: usize = 21;
const PARALLELISM_AT: usize = 25;
const SALT_AT: usize = 29;
const NONCE_AT: usize = 45;

/// Recomputes the trailing SHA-256 after deliberate edits, as a hostile file would.
fn rechecksum(file: &mut [u8]) {
    let n = file.len() - 32;
    let digest = Sha256::digest(&file[..n]);
    file[n..].copy_from_slice(&digest);
}

fn set_u32(file: &mut [u8], at: usize, v: u32) {
    file[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn round_trip() {
    let p = pass("correct horse battery staple");
    for secret in [&b""[..], b"x", &[0xa5; 32], &[7u8; 1000]] {
        let sealed = seal(secret, &p, FAST).unwrap();
        assert_eq!(sealed.len(), MIN_SEALED_LEN + secret.len());
        assert_eq!(&open(&sealed, &p).unwrap()[..], secret);
    }
}

#[test]
fn layout_matches_the_documentation() {
    let p = pass("pw");
    let secret = b"layout";
    let sealed = seal(secret, &p, FAST).unwrap();
    assert_eq!(HEADER_LEN, 69);
    assert_eq!(MIN_SEALED_LEN, 69 + 16 + 32);
    assert_eq!(&sealed[..16], b"AIRLOCK-KEYSTORE");
    assert_eq!(&sealed[..16], MAGIC);
    assert_eq!(sealed[VERSION_AT], 1);
    assert_eq!(sealed[MEMORY_AT..MEMORY_AT + 4], 8192u32.to_be_bytes());
    assert_eq!(sealed[ITERATIONS_AT..ITERATIONS_AT + 4], 1u32.to_be_bytes());
    assert_eq!(
        sealed[PARALLELISM_AT..PARALLELISM_AT + 4],
        1u32.to_be_bytes()
    );
    let n = sealed.len() - 32;
    assert_eq!(sealed[n..], Sha256::digest(&sealed[..n])[..]);
    // The ciphertext does not contain the plaintext.
    assert!(!sealed.windows(secret.len()).any(|w| w == secret));
}

#[test]
fn sealing_twice_gives_different_files() {
    let p = pass("pw");
    let a = seal(b"same secret", &p, FAST).unwrap();
    let b = seal(b"same secret", &p, FAST).unwrap();
    assert_ne!(a[SALT_AT..NONCE_AT], b[SALT_AT..NONCE_AT], "fresh salt");
    assert_ne!(
        a[NONCE_AT..HEADER_LEN],
        b[NONCE_AT..HEADER_LEN],
        "fresh nonce"
    );
    assert_ne!(a, b);
}

#[test]
fn wrong_passphrase_is_reported_as_such() {
    let sealed = seal(b"secret", &pass("right"), FAST).unwrap();
    let err = open(&sealed, &pass("wrong")).unwrap_err();
    assert!(matches!(err, CustodyError::WrongPassphrase), "{err:?}");
    assert_eq!(err.to_string(), "wrong passphrase");
    // Near misses too.
    for near in ["righ", "right ", "Right", "right\n"] {
        let err = open(&sealed, &pass(near)).unwrap_err();
        assert!(matches!(err, CustodyError::WrongPassphrase), "{near:?}");
    }
}

#[test]
fn every_single_bit_flip_is_reported_as_corruption() {
    let p = pass("pw");
    let sealed = seal(b"short", &p, FAST).unwrap();
    let mut flips = 0;
    for byte in 0..sealed.len() {
        for bit in 0..8 {
            let mut damaged = sealed.clone();
            damaged[byte] ^= 1 << bit;
            match open(&damaged, &p) {
                Err(CustodyError::Corrupted(msg)) => {
                    assert!(msg.contains("checksum"), "byte {byte} bit {bit}: {msg}");
                }
                other => panic!("byte {byte} bit {bit}: expected Corrupted, got {other:?}"),
            }
            assert!(matches!(
                sealed_params(&damaged),
                Err(CustodyError::Corrupted(_))
            ));
            flips += 1;
        }
    }
    assert_eq!(flips, 8 * (MIN_SEALED_LEN + 5));
    // And the undamaged file still opens.
    assert_eq!(&open(&sealed, &p).unwrap()[..], b"short");
}

#[test]
fn every_truncation_and_extension_is_an_error() {
    let p = pass("pw");
    let sealed = seal(b"short", &p, FAST).unwrap();
    for len in 0..sealed.len() {
        match open(&sealed[..len], &p) {
            Err(CustodyError::Corrupted(msg)) => {
                if len < MIN_SEALED_LEN {
                    assert!(msg.contains("truncated"), "len {len}: {msg}");
                }
            }
            other => panic!("truncated to {len}: expected Corrupted, got {other:?}"),
        }
    }
    for extra in [&[0u8][..], b"\n", &[0xff; 100]] {
        let mut longer = sealed.clone();
        longer.extend_from_slice(extra);
        assert!(
            matches!(open(&longer, &p), Err(CustodyError::Corrupted(_))),
            "extended by {} bytes",
            extra.len()
        );
    }
}

#[test]
fn garbage_never_opens_and_never_panics() {
    let p = pass("pw");
    // Deterministic xorshift so failures reproduce.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..2000 {
        let len = (next() % 300) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 && len >= 16 {
            // Half of the inputs start with the real magic, to get past the first check.
            data[..16].copy_from_slice(MAGIC);
        }
        let result = open(&data, &p);
        assert!(
            matches!(
                result,
                Err(CustodyError::Corrupted(_)) | Err(CustodyError::UnsupportedFormat(_))
            ),
            "round {round}: {result:?}"
        );
    }
}

#[test]
fn other_files_are_not_keystores() {
    let p = pass("pw");
    for data in [
        &b"airlock-identity-v1 0000000000000000000000000000000000000000000000000000000000000000\n"
            [..],
        b"-----BEGIN AIRLOCK PROPOSAL-----\nAAAA\n-----END AIRLOCK PROPOSAL-----\n",
        &[0u8; 200],
        b"%PDF-1.7",
    ] {
        let err = open(data, &p).unwrap_err();
        assert!(
            matches!(&err, CustodyError::UnsupportedFormat(m) if m.contains("not an Airlock keystore")),
            "{err:?}"
        );
    }
}

#[test]
fn absurd_parameters_are_refused_before_any_allocation() {
    let p = pass("pw");
    let sealed = seal(b"short", &p, FAST).unwrap();
    let cases: [(usize, u32, &str); 8] = [
        (MEMORY_AT, u32::MAX, "memory"),
        (MEMORY_AT, 4 * 1024 * 1024 + 1, "memory"),
        (MEMORY_AT, 4, "memory"),
        (ITERATIONS_AT, 0, "iterations"),
        (ITERATIONS_AT, 65, "iterations"),
        (ITERATIONS_AT, u32::MAX, "iterations"),
        (PARALLELISM_AT, 0, "parallelism"),
        (PARALLELISM_AT, 65, "parallelism"),
    ];
    let start = Instant::now();
    for (at, value, what) in cases {
        let mut hostile = sealed.clone();
        set_u32(&mut hostile, at, value);
        rechecksum(&mut hostile);
        for result in [
            open(&hostile, &p).map(|_| ()),
            sealed_params(&hostile).map(|_| ()),
        ] {
            match result {
                Err(CustodyError::UnsupportedFormat(msg)) => {
                    assert!(msg.contains(what), "{what}={value}: {msg}")
                }
                other => panic!("{what}={value}: expected UnsupportedFormat, got {other:?}"),
            }
        }
    }
    // Argon2 with any of these would take far longer (or abort on allocation).
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn unknown_version_is_unsupported() {
    let p = pass("pw");
    let mut file = seal(b"short", &p, FAST).unwrap();
    file[VERSION_AT] = 2;
    rechecksum(&mut file);
    let err = open(&file, &p).unwrap_err();
    assert!(
        matches!(&err, CustodyError::UnsupportedFormat(m) if m.contains("version 2")),
        "{err:?}"
    );
}

/// With the checksum recomputed, tampering with the header is caught by the AEAD (the header is
/// its associated data and feeds the KDF): the file never opens.
#[test]
fn tampered_header_with_valid_checksum_does_not_open() {
    let p = pass("pw");
    let sealed = seal(b"short", &p, FAST).unwrap();
    for at in [SALT_AT, NONCE_AT, ITERATIONS_AT + 3, HEADER_LEN + 2] {
        let mut tampered = sealed.clone();
        tampered[at] ^= if at == ITERATIONS_AT + 3 { 0x02 } else { 0x01 };
        rechecksum(&mut tampered);
        let err = open(&tampered, &p).unwrap_err();
        assert!(
            matches!(err, CustodyError::WrongPassphrase),
            "offset {at}: {err:?}"
        );
    }
}

#[test]
fn sealed_params_reads_the_header() {
    let params = KdfParams {
        memory_kib: 1024,
        iterations: 2,
        parallelism: 2,
    };
    let sealed = seal(b"s", &pass("pw"), params).unwrap();
    assert_eq!(sealed_params(&sealed).unwrap(), params);
    assert_eq!(&open(&sealed, &pass("pw")).unwrap()[..], b"s");
}

#[test]
fn seal_refuses_parameters_it_could_not_open() {
    let p = pass("pw");
    for params in [
        KdfParams {
            memory_kib: 4 * 1024 * 1024 + 1,
            ..FAST
        },
        KdfParams {
            iterations: 0,
            ..FAST
        },
        KdfParams {
            iterations: 65,
            ..FAST
        },
        KdfParams {
            parallelism: 0,
            ..FAST
        },
        KdfParams {
            parallelism: 65,
            ..FAST
        },
        KdfParams {
            memory_kib: 8 * 4 - 1,
            iterations: 1,
            parallelism: 4,
        },
    ] {
        let err = seal(b"x", &p, params).unwrap_err();
        assert!(
            matches!(err, CustodyError::InvalidKdfParams(_)),
            "{params:?}: {err:?}"
        );
    }
}

#[test]
fn default_parameters_are_accepted() {
    assert_eq!(
        KdfParams::DEFAULT,
        KdfParams {
            memory_kib: 65536,
            iterations: 3,
            parallelism: 4
        }
    );
    let p = pass("a real passphrase");
    let sealed = seal(b"identity seed", &p, KdfParams::DEFAULT).unwrap();
    assert_eq!(sealed_params(&sealed).unwrap(), KdfParams::DEFAULT);
    assert_eq!(&open(&sealed, &p).unwrap()[..], b"identity seed");
}

#[test]
fn error_messages_are_distinguishable() {
    let wrong = CustodyError::WrongPassphrase.to_string();
    let corrupted = CustodyError::Corrupted("checksum mismatch".into()).to_string();
    assert_eq!(wrong, "wrong passphrase");
    assert_eq!(corrupted, "keystore file is corrupted (checksum mismatch)");
    assert_ne!(
        CustodyError::UnsupportedFormat("x".into()).to_string(),
        CustodyError::Corrupted("x".into()).to_string()
    );
}

#[test]
fn passphrases_are_not_empty_and_not_printed() {
    assert!(matches!(
        Passphrase::new(String::new()),
        Err(CustodyError::EmptyPassphrase)
    ));
    let p = pass("hunter2");
    let dbg = format!("{p:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
}

#[test]
fn passphrase_file_strips_exactly_one_line_ending() {
    let dir = ScratchDir::new("passfile");
    let secret = b"secret";
    let sealed = seal(secret, &pass("pw"), FAST).unwrap();
    let cases: [(&[u8], Option<&str>); 6] = [
        (b"pw", Some("pw")),
        (b"pw\n", Some("pw")),
        (b"pw\r\n", Some("pw")),
        (b"pw\n\n", Some("pw\n")),
        (b" pw \n", Some(" pw ")),
        (b"pw\r", Some("pw\r")),
    ];
    for (i, (contents, equivalent)) in cases.into_iter().enumerate() {
        let path = dir.join(&format!("pass{i}"));
        std::fs::write(&path, contents).unwrap();
        let from_file = Passphrase::from_file(&path).unwrap();
        let expected = equivalent.unwrap();
        let opened = open(&sealed, &from_file);
        if expected == "pw" {
            assert_eq!(&opened.unwrap()[..], secret, "{contents:?}");
        } else {
            // The extra characters are part of the passphrase.
            assert!(
                matches!(opened, Err(CustodyError::WrongPassphrase)),
                "{contents:?}"
            );
            let sealed_other = seal(secret, &pass(expected), FAST).unwrap();
            assert_eq!(&open(&sealed_other, &from_file).unwrap()[..], secret);
        }
    }
}

#[test]
fn empty_passphrase_files_are_refused_by_name() {
    let dir = ScratchDir::new("passfile-empty");
    for (name, contents) in [("empty", &b""[..]), ("lf", b"\n"), ("crlf", b"\r\n")] {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        let err = Passphrase::from_file(&path).unwrap_err();
        assert!(
            matches!(err, CustodyError::EmptyPassphraseFile(_)),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
    let big = dir.join("big");
    std::fs::write(&big, vec![b'a'; 5000]).unwrap();
    assert!(matches!(
        Passphrase::from_file(&big),
        Err(CustodyError::Transport(_))
    ));
    assert!(matches!(
        Passphrase::from_file(&dir.join("missing")),
        Err(CustodyError::Transport(_))
    ));
}
