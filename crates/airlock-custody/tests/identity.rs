//! Device identity keys and their files.

mod support;

use std::fs;

use airlock_custody::{
    CustodyError, IdentityKey, KdfParams, load_encrypted_identity, load_plain_identity,
    save_encrypted_identity, save_plain_identity, sealed_params,
};
use airlock_transport::TransportError;
use ed25519_dalek::Verifier as _;
use support::{ScratchDir, pass};

const FAST: KdfParams = KdfParams::INSECURE_FAST;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn keys_sign_and_verify() {
    let key = IdentityKey::generate();
    let sig = key.sign(b"proposal bytes");
    key.verifying_key().verify(b"proposal bytes", &sig).unwrap();
    assert!(key.verifying_key().verify(b"other bytes", &sig).is_err());
    assert_eq!(key.signing_key().verifying_key(), key.verifying_key());
    assert_ne!(
        IdentityKey::generate().verifying_key(),
        key.verifying_key(),
        "fresh randomness"
    );
}

#[test]
fn from_secret_bytes_is_deterministic() {
    // RFC 8032 section 7.1, test 1.
    let seed: [u8; 32] = [
        0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c,
        0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae,
        0x7f, 0x60,
    ];
    let key = IdentityKey::from_secret_bytes(&seed);
    assert_eq!(
        hex(key.verifying_key().as_bytes()),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
}

#[test]
fn debug_does_not_print_the_secret() {
    let seed = [0x42u8; 32];
    let key = IdentityKey::from_secret_bytes(&seed);
    let dbg = format!("{key:?}");
    assert!(!dbg.contains(&hex(&seed)), "{dbg}");
    assert!(!dbg.contains("42424242"), "{dbg}");
    assert!(dbg.contains(&hex(key.verifying_key().as_bytes())), "{dbg}");
}

#[test]
fn encrypted_identity_round_trip() {
    let dir = ScratchDir::new("enc-roundtrip");
    let path = dir.join("identity.key");
    let key = IdentityKey::generate();
    save_encrypted_identity(&path, &key, &pass("pw"), FAST).unwrap();
    assert_eq!(dir.entries(), ["identity.key"]);

    let bytes = fs::read(&path).unwrap();
    assert_eq!(sealed_params(&bytes).unwrap(), FAST);
    assert!(
        !bytes.windows(32).any(|w| w == key.signing_key().to_bytes()),
        "secret not stored in the clear"
    );

    let loaded = load_encrypted_identity(&path, &pass("pw")).unwrap();
    assert_eq!(loaded.verifying_key(), key.verifying_key());
    let sig = loaded.sign(b"artifact");
    key.verifying_key().verify(b"artifact", &sig).unwrap();

    let err = load_encrypted_identity(&path, &pass("wrong")).unwrap_err();
    assert!(matches!(err, CustodyError::WrongPassphrase), "{err:?}");
}

#[cfg(unix)]
#[test]
fn identity_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = ScratchDir::new("modes");
    let key = IdentityKey::generate();
    save_encrypted_identity(&dir.join("enc"), &key, &pass("pw"), FAST).unwrap();
    save_plain_identity(&dir.join("plain"), &key).unwrap();
    for name in ["enc", "plain"] {
        let mode = fs::metadata(dir.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
}

#[test]
fn saves_refuse_to_overwrite() {
    let dir = ScratchDir::new("no-overwrite");
    let first = IdentityKey::generate();
    let second = IdentityKey::generate();

    let enc = dir.join("enc");
    save_encrypted_identity(&enc, &first, &pass("pw"), FAST).unwrap();
    let before = fs::read(&enc).unwrap();
    let err = save_encrypted_identity(&enc, &second, &pass("pw"), FAST).unwrap_err();
    assert!(
        matches!(
            err,
            CustodyError::Transport(TransportError::AlreadyExists { .. })
        ),
        "{err:?}"
    );
    assert_eq!(fs::read(&enc).unwrap(), before);

    let plain = dir.join("plain");
    save_plain_identity(&plain, &first).unwrap();
    let before = fs::read(&plain).unwrap();
    let err = save_plain_identity(&plain, &second).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(fs::read(&plain).unwrap(), before);

    // An encrypted save does not clobber a plain file either, and nothing is left behind.
    assert!(save_encrypted_identity(&plain, &second, &pass("pw"), FAST).is_err());
    assert_eq!(fs::read(&plain).unwrap(), before);
    assert_eq!(dir.entries(), ["enc", "plain"]);

    let loaded = load_encrypted_identity(&enc, &pass("pw")).unwrap();
    assert_eq!(loaded.verifying_key(), first.verifying_key());
}

#[test]
fn plain_identity_round_trip_and_format() {
    let dir = ScratchDir::new("plain");
    let path = dir.join("coordinator.key");
    let seed = [0xabu8; 32];
    let key = IdentityKey::from_secret_bytes(&seed);
    save_plain_identity(&path, &key).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("airlock-identity-v1 {}\n", hex(&seed))
    );
    let loaded = load_plain_identity(&path).unwrap();
    assert_eq!(loaded.verifying_key(), key.verifying_key());
    key.verifying_key()
        .verify(b"m", &loaded.sign(b"m"))
        .unwrap();

    // Tolerated: CRLF, no final newline, upper-case hex.
    for (i, text) in [
        format!("airlock-identity-v1 {}\r\n", hex(&seed)),
        format!("airlock-identity-v1 {}", hex(&seed)),
        format!("airlock-identity-v1 {}\n", hex(&seed).to_uppercase()),
    ]
    .iter()
    .enumerate()
    {
        let p = dir.join(&format!("variant{i}"));
        fs::write(&p, text).unwrap();
        assert_eq!(
            load_plain_identity(&p).unwrap().verifying_key(),
            key.verifying_key()
        );
    }
}

#[test]
fn bad_plain_identity_files_are_refused_without_showing_contents() {
    let dir = ScratchDir::new("plain-bad");
    let secret_hex = hex(&[0x5au8; 32]);
    let cases = [
        ("empty", String::new(), "not an Airlock plain identity"),
        (
            "other-version",
            format!("airlock-identity-v2 {secret_hex}\n"),
            "not an Airlock plain identity",
        ),
        (
            "no-space",
            format!("airlock-identity-v1{secret_hex}\n"),
            "not an Airlock plain identity",
        ),
        (
            "short",
            format!("airlock-identity-v1 {}\n", &secret_hex[..62]),
            "64 hex digits",
        ),
        (
            "long",
            format!("airlock-identity-v1 {secret_hex}00\n"),
            "64 hex digits",
        ),
        (
            "non-hex",
            format!("airlock-identity-v1 {}zz\n", &secret_hex[..62]),
            "64 hex digits",
        ),
        (
            "two-newlines",
            format!("airlock-identity-v1 {secret_hex}\n\n"),
            "64 hex digits",
        ),
        (
            "leading-space",
            format!(" airlock-identity-v1 {secret_hex}\n"),
            "not an Airlock plain identity",
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.join(name);
        fs::write(&path, &text).unwrap();
        let err = load_plain_identity(&path).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(expected), "{name}: {msg}");
        assert!(msg.contains(name), "{name}: message names the file: {msg}");
        assert!(
            !msg.contains(&secret_hex[..16]),
            "{name}: leaks contents: {msg}"
        );
    }
    // An encrypted file is not a plain one, and vice versa.
    let enc = dir.join("enc");
    save_encrypted_identity(&enc, &IdentityKey::generate(), &pass("pw"), FAST).unwrap();
    assert!(matches!(
        load_plain_identity(&enc),
        Err(CustodyError::UnsupportedFormat(_))
    ));
    let plain = dir.join("plain");
    save_plain_identity(&plain, &IdentityKey::generate()).unwrap();
    let err = load_encrypted_identity(&plain, &pass("pw")).unwrap_err();
    assert!(
        matches!(&err, CustodyError::UnsupportedFormat(m) if m.contains("not an Airlock keystore")),
        "{err:?}"
    );
}

#[test]
fn damaged_encrypted_identity_names_the_file() {
    let dir = ScratchDir::new("enc-damaged");
    let path = dir.join("identity.key");
    save_encrypted_identity(&path, &IdentityKey::generate(), &pass("pw"), FAST).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 40;
    bytes[last] ^= 0x10;
    let damaged = dir.join("damaged.key");
    fs::write(&damaged, &bytes).unwrap();
    let err = load_encrypted_identity(&damaged, &pass("pw")).unwrap_err();
    assert!(matches!(err, CustodyError::Corrupted(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("keystore file is corrupted ("), "{msg}");
    assert!(msg.contains("damaged.key"), "{msg}");

    // A sealed secret of the wrong length is not an identity key.
    let odd = dir.join("odd.key");
    fs::write(
        &odd,
        airlock_custody::seal(&[1u8; 31], &pass("pw"), FAST).unwrap(),
    )
    .unwrap();
    let err = load_encrypted_identity(&odd, &pass("pw")).unwrap_err();
    assert!(
        matches!(&err, CustodyError::UnsupportedFormat(m) if m.contains("31-byte")),
        "{err:?}"
    );

    // Missing and oversize files are transport errors naming the path.
    let err = load_encrypted_identity(&dir.join("missing.key"), &pass("pw")).unwrap_err();
    assert!(err.to_string().contains("missing.key"), "{err}");
    let big = dir.join("big.key");
    fs::write(&big, vec![0u8; 5000]).unwrap();
    let err = load_encrypted_identity(&big, &pass("pw")).unwrap_err();
    assert!(
        matches!(
            err,
            CustodyError::Transport(TransportError::TooLarge { .. })
        ),
        "{err:?}"
    );
}
