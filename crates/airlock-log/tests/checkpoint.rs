//! Signed notes and checkpoints.
//!
//! The reference vectors are the Go signed-note examples
//! (golang.org/x/mod/sumdb/note: package documentation, `example_test.go`
//! `ExampleSign`, `ExampleOpen`, `ExampleSign_add_signatures`, and the keys
//! of `note_test.go`), which C2SP signed-note follows. `EnochRoot` is the key
//! `ExampleSign_add_signatures` generates from an all-zero random stream,
//! i.e. the Ed25519 seed of 32 zero bytes.

use airlock_log::{
    Checkpoint, CheckpointSigner, CheckpointVerifier, LogError, LogHash, MemoryLog, empty_root,
    leaf_hash,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{SigningKey, VerifyingKey};
use signed_note::{Note, StandardVerifier, VerifierList};

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY_DATA: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

const ORIGIN: &str = "airlock.example/log";

fn go_note() -> String {
    format!("{GO_TEXT}\n{PETER_SIG}")
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn signer() -> CheckpointSigner {
    CheckpointSigner::new(ORIGIN, key(1)).unwrap()
}

fn some_root() -> LogHash {
    let mut log = MemoryLog::new();
    for i in 0..5u8 {
        log.append(&[i]);
    }
    log.root()
}

#[test]
fn go_example_verifies_through_signed_note() {
    let verifier = StandardVerifier::new(PETER_VKEY).unwrap();
    let note = Note::from_bytes(go_note().as_bytes()).unwrap();
    let (verified, unverified) = note
        .verify(&VerifierList::new(vec![Box::new(verifier)]))
        .unwrap();
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].name(), "PeterNeumann");
    assert_eq!(verified[0].id(), 0xc74f_20a3);
    assert!(unverified.is_empty());
    assert_eq!(note.text(), GO_TEXT.as_bytes());
}

#[test]
fn go_keys_parse_and_round_trip() {
    let peter = CheckpointVerifier::from_vkey(PETER_VKEY).unwrap();
    assert_eq!(peter.origin(), "PeterNeumann");
    assert_eq!(peter.vkey(), PETER_VKEY);
    let encoded = B64.decode(PETER_VKEY.rsplit('+').next().unwrap()).unwrap();
    assert_eq!(encoded[0], 0x01);
    assert_eq!(peter.public_key().as_bytes(), &encoded[1..]);
    assert_eq!(
        CheckpointVerifier::new("PeterNeumann", peter.public_key()).unwrap(),
        peter
    );

    // The private key of the Go example derives the same verifier.
    let seed = B64.decode(PETER_SKEY_DATA).unwrap();
    let peter_key = SigningKey::from_bytes(seed[1..].try_into().unwrap());
    let signer = CheckpointSigner::new("PeterNeumann", peter_key).unwrap();
    assert_eq!(signer.verifier(), peter);

    // EnochRoot is the all-zero seed.
    let enoch = CheckpointSigner::new("EnochRoot", SigningKey::from_bytes(&[0; 32])).unwrap();
    assert_eq!(enoch.verifier().vkey(), ENOCH_VKEY);
    assert_eq!(
        CheckpointVerifier::from_vkey(ENOCH_VKEY).unwrap(),
        enoch.verifier()
    );
}

#[test]
fn go_example_through_checkpoint_verifier() {
    let peter = CheckpointVerifier::from_vkey(PETER_VKEY).unwrap();
    let enoch = CheckpointVerifier::from_vkey(ENOCH_VKEY).unwrap();

    // The signature verifies, and then the text is not a checkpoint.
    assert!(matches!(
        peter.open(&go_note()),
        Err(LogError::MalformedCheckpoint(_))
    ));
    let both = format!("{GO_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    assert!(matches!(
        peter.open(&both),
        Err(LogError::MalformedCheckpoint(_))
    ));
    assert!(matches!(
        enoch.open(&both),
        Err(LogError::MalformedCheckpoint(_))
    ));

    // Signed only by a key the verifier does not know.
    assert_eq!(enoch.open(&go_note()), Err(LogError::UnknownCheckpointKey));

    // Any change to the text breaks the signature.
    let changed = go_note().replace("problem,", "problem;");
    assert_eq!(peter.open(&changed), Err(LogError::BadCheckpointSignature));
    let changed = go_note().replace("don't", "do");
    assert_eq!(peter.open(&changed), Err(LogError::BadCheckpointSignature));
}

#[test]
fn own_checkpoints_round_trip() {
    let signer = signer();
    let verifier = signer.verifier();
    assert_eq!(verifier.origin(), ORIGIN);
    assert_eq!(
        CheckpointVerifier::from_vkey(&verifier.vkey()).unwrap(),
        verifier
    );
    assert!(verifier.vkey().starts_with("airlock.example/log+"));

    for (size, root) in [(0, empty_root()), (1, leaf_hash(b"a")), (5, some_root())] {
        let signed = signer.sign(size, root).unwrap();
        let want = Checkpoint {
            origin: ORIGIN.into(),
            size,
            root,
        };
        assert_eq!(signed.checkpoint, want);
        assert_eq!(verifier.open(&signed.note).unwrap(), want);

        // The exact C2SP layout: origin, size, base64 root, blank line, one
        // signature line under the origin as key name.
        let body = format!("{ORIGIN}\n{size}\n{}\n", B64.encode(root));
        assert!(signed.note.starts_with(&format!("{body}\n— {ORIGIN} ")));
        assert!(signed.note.ends_with('\n'));
        assert_eq!(signed.note.lines().count(), 5);

        // Interoperable: signed_note's own verifier and tlog_tiles' parser
        // accept it.
        let note = Note::from_bytes(signed.note.as_bytes()).unwrap();
        let std_verifier = StandardVerifier::new(&verifier.vkey()).unwrap();
        note.verify(&VerifierList::new(vec![Box::new(std_verifier)]))
            .unwrap();
        let parsed = tlog_tiles::checkpoint::Checkpoint::from_bytes(note.text()).unwrap();
        assert_eq!(
            (parsed.origin(), parsed.size(), parsed.hash().0),
            (ORIGIN, size, root)
        );
    }
    // Ed25519 is deterministic: the same checkpoint signs to the same note.
    assert_eq!(signer.sign(5, some_root()), signer.sign(5, some_root()));
}

#[test]
fn tampered_checkpoints_are_rejected() {
    let signer = signer();
    let verifier = signer.verifier();
    let root = some_root();
    let signed = signer.sign(5, root).unwrap();
    let note = &signed.note;
    let root_b64 = B64.encode(root);

    // Changed size.
    for size in ["4", "6", "50", "05"] {
        let bad = note.replacen("\n5\n", &format!("\n{size}\n"), 1);
        assert_ne!(&bad, note);
        let got = verifier.open(&bad);
        assert_eq!(got, Err(LogError::BadCheckpointSignature), "size {size}");
    }
    // Changed root.
    let other_root = B64.encode(leaf_hash(b"other"));
    let bad = note.replacen(&root_b64, &other_root, 1);
    assert_eq!(verifier.open(&bad), Err(LogError::BadCheckpointSignature));
    let mut flipped = root;
    flipped[31] ^= 1;
    let bad = note.replacen(&root_b64, &B64.encode(flipped), 1);
    assert_eq!(verifier.open(&bad), Err(LogError::BadCheckpointSignature));

    // Changed origin in the body only.
    let bad = note.replacen("airlock.example/log\n", "airlock.example/other\n", 1);
    assert_eq!(verifier.open(&bad), Err(LogError::BadCheckpointSignature));
    // Changed origin everywhere: the signature is now under an unknown name.
    let bad = note.replace(ORIGIN, "airlock.example/other");
    assert_eq!(verifier.open(&bad), Err(LogError::UnknownCheckpointKey));

    // Corrupted signature bytes (key ID kept).
    let sig_line = note.lines().last().unwrap();
    let sig_b64 = sig_line.rsplit(' ').next().unwrap();
    let mut sig = B64.decode(sig_b64).unwrap();
    sig[10] ^= 0x40;
    let bad = note.replace(sig_b64, &B64.encode(&sig));
    assert_eq!(verifier.open(&bad), Err(LogError::BadCheckpointSignature));
    // Truncated signature bytes.
    let bad = note.replace(sig_b64, &B64.encode(&sig[..40]));
    assert_eq!(verifier.open(&bad), Err(LogError::BadCheckpointSignature));
    // Corrupted key ID: the signature is now by an unknown key.
    let mut sig = B64.decode(sig_b64).unwrap();
    sig[0] ^= 1;
    let bad = note.replace(sig_b64, &B64.encode(&sig));
    assert_eq!(verifier.open(&bad), Err(LogError::UnknownCheckpointKey));
}

#[test]
fn other_keys_are_rejected() {
    let ours = signer().verifier();
    let root = some_root();

    // Another key under the same name (a different key ID).
    let impostor = CheckpointSigner::new(ORIGIN, key(2)).unwrap();
    let signed = impostor.sign(5, root).unwrap();
    assert_eq!(ours.open(&signed.note), Err(LogError::UnknownCheckpointKey));

    // Another key under another name, for another log.
    let other = CheckpointSigner::new("other.example/log", key(1)).unwrap();
    let signed = other.sign(5, root).unwrap();
    assert_eq!(ours.open(&signed.note), Err(LogError::UnknownCheckpointKey));

    // The impostor's signature line grafted onto our own checkpoint.
    let genuine = signer().sign(5, root).unwrap().note;
    let (body, _) = genuine.split_once("\n\n").unwrap();
    let forged_sig = impostor.sign(5, root).unwrap().note;
    let (_, forged_sig) = forged_sig.split_once("\n\n").unwrap();
    let grafted = format!("{body}\n\n{forged_sig}");
    assert_eq!(ours.open(&grafted), Err(LogError::UnknownCheckpointKey));

    // Our signature plus a foreign one (e.g. a witness) is fine, in any order.
    let (_, our_sig) = genuine.split_once("\n\n").unwrap();
    for sigs in [
        format!("{our_sig}{forged_sig}"),
        format!("{forged_sig}{our_sig}"),
    ] {
        let note = format!("{body}\n\n{sigs}");
        assert_eq!(ours.open(&note).unwrap().size, 5);
    }
}

#[test]
fn missing_signatures_are_rejected() {
    let signed = signer().sign(5, some_root()).unwrap();
    let verifier = signer().verifier();
    let (body, _) = signed.note.split_once("\n\n").unwrap();
    for unsigned in [
        format!("{body}\n"),
        format!("{body}\n\n"),
        format!("{body}\n\n\n"),
        String::new(),
    ] {
        assert_eq!(
            verifier.open(&unsigned),
            Err(LogError::MissingCheckpointSignature),
            "{unsigned:?}"
        );
    }
    // A signature line that is not one.
    let broken = format!("{body}\n\n— {ORIGIN}\n");
    assert!(matches!(
        verifier.open(&broken),
        Err(LogError::MalformedCheckpoint(_))
    ));
}

/// Notes correctly signed by the trusted key whose body is still unacceptable.
#[test]
fn signed_but_unacceptable_bodies_are_rejected() {
    let (skey, vkey) = signed_note::generate_key(&mut rand_core::OsRng, ORIGIN);
    let note_signer = signed_note::StandardSigner::new(&skey).unwrap();
    let verifier = CheckpointVerifier::from_vkey(&vkey).unwrap();
    let root_b64 = B64.encode(some_root());
    let sign = |body: &str| {
        let mut note = Note::new(body.as_bytes(), &[]).unwrap();
        note.add_sigs(&[&note_signer]).unwrap();
        String::from_utf8(note.to_bytes()).unwrap()
    };

    let good = sign(&format!("{ORIGIN}\n5\n{root_b64}\n"));
    assert_eq!(verifier.open(&good).unwrap().size, 5);

    // A body for another origin, signed by our key.
    let got = verifier.open(&sign(&format!("other.example/log\n5\n{root_b64}\n")));
    assert_eq!(
        got,
        Err(LogError::OriginMismatch {
            expected: ORIGIN.into(),
            found: "other.example/log".into()
        })
    );
    // Extension lines.
    let got = verifier.open(&sign(&format!("{ORIGIN}\n5\n{root_b64}\nextra\n")));
    assert!(
        matches!(got, Err(LogError::MalformedCheckpoint(_))),
        "{got:?}"
    );
    // Malformed bodies.
    let empty_b64 = B64.encode(empty_root());
    for body in [
        format!("{ORIGIN}\n-5\n{root_b64}\n"),
        format!("{ORIGIN}\n05\n{root_b64}\n"),
        format!("{ORIGIN}\n0x5\n{root_b64}\n"),
        format!("{ORIGIN}\n18446744073709551616\n{root_b64}\n"),
        format!("{ORIGIN}\n5\n{}\n", &root_b64[..20]),
        format!("{ORIGIN}\n5\n{}\n", hex::encode(some_root())),
        format!("{ORIGIN}\n5\n"),
        format!("{ORIGIN}\n"),
        // A size-0 tree with a root other than the empty root.
        format!("{ORIGIN}\n0\n{root_b64}\n"),
    ] {
        let got = verifier.open(&sign(&body));
        assert!(
            matches!(got, Err(LogError::MalformedCheckpoint(_))),
            "{body:?}: {got:?}"
        );
    }
    assert_eq!(
        verifier
            .open(&sign(&format!("{ORIGIN}\n0\n{empty_b64}\n")))
            .unwrap()
            .size,
        0
    );
    // Our signer refuses to sign such a size-0 checkpoint in the first place.
    assert!(matches!(
        signer().sign(0, some_root()),
        Err(LogError::MalformedCheckpoint(_))
    ));
}

#[test]
fn mutated_notes_never_panic_and_never_verify() {
    let signed = signer().sign(123_456, some_root()).unwrap();
    let verifier = signer().verifier();
    let note = &signed.note;
    // Every truncation.
    for (i, _) in note.char_indices() {
        assert!(verifier.open(&note[..i]).is_err(), "truncated at {i}");
    }
    // Every character replaced, inserted, or deleted.
    let body_len = note.find("\n\n").unwrap();
    let mut bad_signatures = 0;
    for (i, c) in note.char_indices() {
        let rest = &note[i + c.len_utf8()..];
        for r in ['A', '0', '+', ' ', '\n', '—', '\u{1}'] {
            if r != c {
                let replaced = format!("{}{r}{rest}", &note[..i]);
                let got = verifier.open(&replaced);
                assert!(got.is_err(), "{replaced:?}");
                // A changed body character is caught by the signature.
                if i < body_len && r != '\u{1}' && r != '\n' {
                    assert_eq!(got, Err(LogError::BadCheckpointSignature), "{replaced:?}");
                    bad_signatures += 1;
                }
            }
            let inserted = format!("{}{r}{}", &note[..i], &note[i..]);
            assert!(verifier.open(&inserted).is_err(), "{inserted:?}");
        }
        let deleted = format!("{}{rest}", &note[..i]);
        assert!(verifier.open(&deleted).is_err(), "{deleted:?}");
    }
    assert!(bad_signatures > 5 * body_len - 10);
    // Garbage.
    for junk in [
        "\n".repeat(10),
        "— ".repeat(1000),
        "x".repeat(2_000_000),
        format!("{note}{note}"),
    ] {
        assert!(verifier.open(&junk).is_err());
    }
}

#[test]
fn invalid_origins_are_rejected() {
    for origin in [
        "",
        "with space",
        "a+b",
        "tab\there",
        "line\nbreak",
        "nbsp\u{a0}x",
        "ctl\u{1}x",
        "del\u{7f}x",
    ] {
        assert_eq!(
            CheckpointSigner::new(origin, key(1)).err(),
            Some(LogError::InvalidOrigin(origin.into())),
            "{origin:?}"
        );
        assert_eq!(
            CheckpointVerifier::new(origin, key(1).verifying_key()).err(),
            Some(LogError::InvalidOrigin(origin.into())),
            "{origin:?}"
        );
    }
}

#[test]
fn invalid_vkeys_are_rejected() {
    let (name, rest) = PETER_VKEY.split_once('+').unwrap();
    let (id, key_b64) = rest.split_once('+').unwrap();
    let cases = [
        String::new(),
        "PeterNeumann".into(),
        format!("{name}+{id}"),
        format!("{name}+{id}+"),
        format!("{name}+{}+{key_b64}", id.to_uppercase()),
        format!("{name}+c74f20a4+{key_b64}"),
        format!("{name}+c74f20a+{key_b64}"),
        format!("PeterNeuman+{id}+{key_b64}"),
        format!("{name}+{id}+{}", &key_b64[..key_b64.len() - 4]),
        format!("{name}+{id}+{key_b64}="),
        format!("{name}+{id}+{key_b64}+"),
        format!("{name} +{id}+{key_b64}"),
        format!("+{id}+{key_b64}"),
        // Unknown algorithm byte (0x02), with a matching key ID.
        {
            let mut raw = B64.decode(key_b64).unwrap();
            raw[0] = 0x02;
            let id = signed_note::key_id(name, &raw);
            format!("{name}+{id:08x}+{}", B64.encode(&raw))
        },
        // Weak key: the identity point, with a matching key ID.
        {
            let mut raw = vec![0x01, 0x01];
            raw.extend([0; 31]);
            let id = signed_note::key_id(name, &raw);
            format!("{name}+{id:08x}+{}", B64.encode(&raw))
        },
    ];
    for case in cases {
        let got = CheckpointVerifier::from_vkey(&case);
        assert!(
            matches!(got, Err(LogError::InvalidVerifierKey(_))),
            "{case:?}: {got:?}"
        );
    }
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = VerifyingKey::from_bytes(&identity).unwrap();
    assert!(matches!(
        CheckpointVerifier::new(ORIGIN, weak),
        Err(LogError::InvalidVerifierKey(_))
    ));
}

#[test]
fn generated_signers_work() {
    let a = CheckpointSigner::generate(ORIGIN, &mut rand_core::OsRng).unwrap();
    let b = CheckpointSigner::generate(ORIGIN, &mut rand_core::OsRng).unwrap();
    assert_ne!(a.verifier(), b.verifier());
    let signed = a.sign(1, leaf_hash(b"x")).unwrap();
    assert_eq!(a.verifier().open(&signed.note).unwrap(), signed.checkpoint);
    assert_eq!(
        b.verifier().open(&signed.note),
        Err(LogError::UnknownCheckpointKey)
    );
}
