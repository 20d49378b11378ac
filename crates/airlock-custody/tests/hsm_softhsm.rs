//! `airlock_custody::hsm` against a real SoftHSM2 token.
//!
//! SoftHSM2 reads its configuration (`SOFTHSM2_CONF`) when the module is initialized, once per
//! process. So every scenario runs in a **child process**: the `#[test]` here creates its own
//! token directory and configuration in a temporary directory, initializes a token with
//! `softhsm2-util`, and re-runs this test binary for one `child_*` function with `SOFTHSM2_CONF`
//! set in the child's environment only. Nothing changes this process's environment, so the tests
//! cannot race each other.
//!
//! The `child_*` functions are `#[ignore]`d and do nothing when run on their own (without the
//! directory their parent passes).
//!
//! SoftHSM2 missing is a failure with the install hint, never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_custody::hsm::{self, HsmError, HsmKey, HsmToken, KeyKind, Pin};
use k256::ecdsa::signature::hazmat::PrehashVerifier as _;
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use sha2::{Digest as _, Sha256};

const TOKEN: &str = "airlock-test";
const PIN: &str = "4821-user";
const SO_PIN: &str = "9157-so";
const DIR_ENV: &str = "AIRLOCK_HSM_TEST_DIR";

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p =
            std::env::temp_dir().join(format!("airlock-hsm-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn require_softhsm() {
    let util = Command::new("softhsm2-util").arg("--version").output();
    assert!(
        util.is_ok_and(|o| o.status.success()),
        "SoftHSM2 is not installed (softhsm2-util not found): apt-get install softhsm2"
    );
    assert!(
        Path::new(hsm::DEFAULT_MODULE).exists(),
        "SoftHSM2 module {} missing: apt-get install softhsm2",
        hsm::DEFAULT_MODULE
    );
}

/// A token directory with its own softhsm2.conf and one initialized token labelled [`TOKEN`].
fn token_dir(name: &str) -> TempDir {
    require_softhsm();
    let dir = TempDir::new(name);
    let tokens = dir.0.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    std::fs::write(
        dir.0.join("softhsm2.conf"),
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.0.join("pin"), format!("{PIN}\n")).unwrap();
    std::fs::write(dir.0.join("wrong-pin"), "0000-wrong\n").unwrap();
    let out = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--so-pin",
            SO_PIN,
            "--pin",
            PIN,
        ])
        .env("SOFTHSM2_CONF", dir.0.join("softhsm2.conf"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "softhsm2-util --init-token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// Runs `child` of this test binary in a child process with the token directory's configuration.
fn run_child(child: &str, dir: &TempDir) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            child,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SOFTHSM2_CONF", dir.0.join("softhsm2.conf"))
        .env(DIR_ENV, &dir.0)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child {child} failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "child {child} did not run:\n{text}"
    );
}

/// The parent's directory, or `None` when a child test is run on its own.
fn child_dir() -> Option<PathBuf> {
    std::env::var_os(DIR_ENV).map(PathBuf::from)
}

fn open(dir: &Path) -> HsmToken {
    let pin = Pin::from_file(&dir.join("pin")).unwrap();
    HsmToken::open(Path::new(hsm::DEFAULT_MODULE), TOKEN, &pin).unwrap()
}

fn digest(i: u32) -> [u8; 32] {
    Sha256::digest(format!("airlock hsm test digest {i}")).into()
}

fn k256_key(key: &HsmKey) -> VerifyingKey {
    VerifyingKey::from_sec1_bytes(&key.public_key).unwrap()
}

#[test]
fn keys_and_signatures() {
    let dir = token_dir("sign");
    run_child("child_keys_and_signatures", &dir);
}

#[ignore = "run in a child process by keys_and_signatures"]
#[test]
fn child_keys_and_signatures() {
    let Some(dir) = child_dir() else { return };
    let token = open(&dir);
    let k1 = token.generate("btc-eth", KeyKind::Secp256k1).unwrap();
    let ed = token.generate("identity", KeyKind::Ed25519).unwrap();
    assert_eq!((k1.kind, ed.kind), (KeyKind::Secp256k1, KeyKind::Ed25519));
    assert_eq!(k1.public_key.len(), 33);
    assert_eq!(ed.public_key.len(), 32);
    for k in [&k1, &ed] {
        assert!(k.sensitive, "{} is not sensitive", k.label);
        assert!(!k.extractable, "{} is extractable", k.label);
    }
    let listed = token.list().unwrap();
    let labels: Vec<_> = listed.iter().map(|k| k.label.as_str()).collect();
    assert_eq!(labels, ["btc-eth", "identity"]);
    assert_eq!(listed[0].public_key, k1.public_key);
    assert_eq!(listed[1].public_key, ed.public_key);

    // A second key under a used label is refused.
    assert!(matches!(
        token.generate("btc-eth", KeyKind::Ed25519),
        Err(HsmError::LabelExists { .. })
    ));
    // An unknown label lists the ones that exist.
    let err = token.key("nope").unwrap_err();
    assert!(matches!(err, HsmError::KeyNotFound { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("\"nope\"") && msg.contains("\"btc-eth\"") && msg.contains("\"identity\""),
        "{msg}"
    );
    // Wrong kind.
    assert!(matches!(
        token.sign_ed25519(&k1, b"x"),
        Err(HsmError::WrongKeyKind { .. })
    ));
    assert!(matches!(
        token.sign_bitcoin_digest(&ed, &[0; 32]),
        Err(HsmError::WrongKeyKind { .. })
    ));
    assert!(matches!(
        token.sign_bitcoin_digest(&k1, &[0; 31]),
        Err(HsmError::DigestLength(31))
    ));

    // Bitcoin: DER, verifies, and s <= n/2 every time; the token's high-S answers (about half)
    // were normalized.
    let vk = k256_key(&k1);
    let mut normalized = 0;
    for i in 0..200 {
        let d = digest(i);
        let der = token.sign_bitcoin_digest(&k1, &d).unwrap();
        let sig = Signature::from_der(&der).expect("DER parses");
        assert_eq!(sig.to_der().as_bytes(), der.as_slice(), "DER is canonical");
        assert!(
            sig.normalize_s().is_none(),
            "high S returned for digest {i}"
        );
        vk.verify_prehash(&d, &sig)
            .expect("Bitcoin signature verifies");
        if token.sign_digest_recoverable(&k1, &d).unwrap().normalized {
            normalized += 1;
        }
    }
    assert!(
        normalized > 0,
        "the token never returned a high S in 200 signatures"
    );

    // Ethereum: recovering from r‖s‖v gives the token's key; both v values occur.
    let mut seen = [0u32; 2];
    for i in 0..200 {
        let d = digest(1000 + i);
        let rsv = token.sign_ethereum_digest(&k1, &d).unwrap();
        let sig = Signature::from_slice(&rsv[..64]).unwrap();
        assert!(sig.normalize_s().is_none(), "high S in Ethereum signature");
        let v = rsv[64];
        assert!(v < 2, "v = {v}");
        let recovered =
            VerifyingKey::recover_from_prehash(&d, &sig, RecoveryId::from_byte(v).unwrap())
                .unwrap();
        assert_eq!(recovered, vk, "digest {i}: recovers to another key");
        // The other v gives another key (so v is not right by accident).
        let other =
            VerifyingKey::recover_from_prehash(&d, &sig, RecoveryId::from_byte(1 - v).unwrap());
        assert!(other.map_or(true, |k| k != vk));
        seen[usize::from(v)] += 1;
        let legacy = token.sign_ethereum_digest_legacy(&k1, &d).unwrap();
        assert!(legacy[64] == 27 || legacy[64] == 28);
        let lsig = Signature::from_slice(&legacy[..64]).unwrap();
        let lrec = VerifyingKey::recover_from_prehash(
            &d,
            &lsig,
            RecoveryId::from_byte(legacy[64] - 27).unwrap(),
        )
        .unwrap();
        assert_eq!(lrec, vk);
    }
    assert!(seen[0] > 0 && seen[1] > 0, "v values seen: {seen:?}");

    // Ed25519 verifies with ed25519-dalek.
    let edvk = ed25519_dalek::VerifyingKey::from_bytes(&ed.public_key.clone().try_into().unwrap())
        .unwrap();
    for i in 0..50u32 {
        let msg = format!("airlock artifact {i}");
        let sig = token.sign_ed25519(&ed, msg.as_bytes()).unwrap();
        edvk.verify_strict(msg.as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig))
            .expect("Ed25519 verifies");
        assert!(
            edvk.verify_strict(
                b"another message",
                &ed25519_dalek::Signature::from_bytes(&sig)
            )
            .is_err()
        );
    }
    drop(token);

    // The keys are on the token (CKA_TOKEN): a new session sees the same public keys.
    let again = open(&dir);
    assert_eq!(again.key("btc-eth").unwrap().public_key, k1.public_key);
    assert_eq!(again.key("identity").unwrap().public_key, ed.public_key);
    drop(again);

    // The private keys cannot be read out: raw PKCS#11, asking for CKA_VALUE directly.
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::object::{Attribute, AttributeType, ObjectClass};
    use cryptoki::session::UserType;
    let ctx = Pkcs11::new(hsm::DEFAULT_MODULE).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label() == TOKEN)
        .unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    session
        .login(UserType::User, Some(&PIN.to_string().into()))
        .unwrap();
    for label in ["btc-eth", "identity"] {
        let handles = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .unwrap();
        assert_eq!(handles.len(), 1);
        let attrs = session
            .get_attributes(
                handles[0],
                &[
                    AttributeType::Value,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::NeverExtractable,
                    AttributeType::AlwaysSensitive,
                ],
            )
            .unwrap();
        assert!(
            !attrs.iter().any(|a| matches!(a, Attribute::Value(_))),
            "{label}: CKA_VALUE of the private key was readable"
        );
        for a in &attrs {
            match a {
                Attribute::Sensitive(v) | Attribute::NeverExtractable(v) => assert!(*v),
                Attribute::AlwaysSensitive(v) => assert!(*v),
                Attribute::Extractable(v) => assert!(!*v),
                _ => {}
            }
        }
        // Asked for alone, the token refuses outright with CKR_ATTRIBUTE_SENSITIVE.
        assert!(
            session
                .get_attributes(handles[0], &[AttributeType::Value])
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn wrong_pin_is_refused_clearly() {
    let dir = token_dir("pin");
    run_child("child_wrong_pin", &dir);
}

#[ignore = "run in a child process by wrong_pin_is_refused_clearly"]
#[test]
fn child_wrong_pin() {
    let Some(dir) = child_dir() else { return };
    let pin = Pin::from_file(&dir.join("wrong-pin")).unwrap();
    let err = HsmToken::open(Path::new(hsm::DEFAULT_MODULE), TOKEN, &pin).unwrap_err();
    assert!(matches!(err, HsmError::WrongPin(_)), "{err:?}");
    let msg = err.to_string();
    assert_eq!(msg, format!("wrong PIN for token \"{TOKEN}\""));
    assert!(!msg.contains("0000") && !format!("{err:?}").contains("0000"));
    // The right PIN still works afterwards.
    open(&dir);
}

#[test]
fn unknown_token_lists_the_labels() {
    let dir = token_dir("label");
    run_child("child_unknown_token", &dir);
}

#[ignore = "run in a child process by unknown_token_lists_the_labels"]
#[test]
fn child_unknown_token() {
    let Some(dir) = child_dir() else { return };
    let pin = Pin::from_file(&dir.join("pin")).unwrap();
    let err = HsmToken::open(Path::new(hsm::DEFAULT_MODULE), "no-such-token", &pin).unwrap_err();
    let HsmError::TokenNotFound { available, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(available, &[TOKEN.to_string()]);
    let msg = err.to_string();
    assert!(
        msg.contains("\"no-such-token\"") && msg.contains(&format!("\"{TOKEN}\"")),
        "{msg}"
    );
    assert_eq!(
        hsm::token_labels(Path::new(hsm::DEFAULT_MODULE)).unwrap(),
        [TOKEN]
    );
}

#[test]
fn missing_module_is_named() {
    let pin = Pin::from_bytes(b"1234").unwrap();
    let path = Path::new("/nonexistent/libpkcs11-airlock.so");
    let err = HsmToken::open(path, TOKEN, &pin).unwrap_err();
    assert!(matches!(err, HsmError::ModuleNotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("/nonexistent/libpkcs11-airlock.so"),
        "{err}"
    );
    // A file that is not a shared library.
    let dir = TempDir::new("module");
    let fake = dir.0.join("not-a-module.so");
    std::fs::write(&fake, b"not ELF").unwrap();
    let err = HsmToken::open(&fake, TOKEN, &pin).unwrap_err();
    assert!(matches!(err, HsmError::ModuleNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("not-a-module.so"), "{err}");
    assert_eq!(
        hsm::module_path(Some(Path::new("/x.so"))),
        PathBuf::from("/x.so")
    );
}

#[test]
fn pin_file_rules() {
    let dir = TempDir::new("pinfile");
    std::fs::write(dir.0.join("empty"), "\n").unwrap();
    assert!(matches!(
        Pin::from_file(&dir.0.join("empty")),
        Err(HsmError::EmptyPinFile(_))
    ));
    std::fs::write(dir.0.join("bin"), [0xffu8, 0xfe]).unwrap();
    assert!(matches!(
        Pin::from_file(&dir.0.join("bin")),
        Err(HsmError::PinNotUtf8(_))
    ));
}

#[test]
fn token_removed_while_signing() {
    let dir = token_dir("removed");
    run_child("child_token_removed", &dir);
}

#[ignore = "run in a child process by token_removed_while_signing"]
#[test]
fn child_token_removed() {
    let Some(dir) = child_dir() else { return };
    let token = open(&dir);
    let k1 = token.generate("k", KeyKind::Secp256k1).unwrap();
    let ed = token.generate("e", KeyKind::Ed25519).unwrap();
    token.sign_bitcoin_digest(&k1, &digest(1)).unwrap();
    // The session is open and logged in, the key found: now the token's storage disappears.
    std::fs::remove_dir_all(dir.join("tokens")).unwrap();
    let err = token.sign_bitcoin_digest(&k1, &digest(2)).unwrap_err();
    assert!(matches!(err, HsmError::TokenRemoved(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("the token went away while signing; nothing was signed"),
        "{err}"
    );
    let err = token.sign_ed25519(&ed, b"m").unwrap_err();
    assert!(matches!(err, HsmError::TokenRemoved(_)), "{err:?}");
}
