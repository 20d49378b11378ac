//! `airlock-signer hsm` end to end: the real binary against a real SoftHSM2 token.
//!
//! Each test makes its own token directory and `softhsm2.conf` in a temporary directory and
//! passes `SOFTHSM2_CONF` only in the environment of the processes it spawns (`softhsm2-util`,
//! `airlock-signer`), so tests never share a token or race on the environment.
//! SoftHSM2 missing is a failure with the install hint, not a skip.
//!
//! The cryptographic checks against k256 and ed25519-dalek (verification, recovery for both `v`,
//! low-S over many digests, non-extractable keys) are in `airlock-custody`'s `hsm_softhsm` tests;
//! here: the commands, their output, exit codes and errors, and the signatures' form (DER shape,
//! `s <= n/2`, `v`, Ed25519 verification with airlock-core's verifier).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TOKEN: &str = "airlock-cli";
const PIN: &str = "7316-user";
const SO_PIN: &str = "2468-so";
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// n/2 for secp256k1, big-endian: the largest low S.
const HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

struct Token {
    dir: tempfile::TempDir,
}

impl Token {
    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }
    fn pin(&self) -> PathBuf {
        self.dir.path().join("pin")
    }
    fn tokens(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }
}

fn require_softhsm() {
    let ok = Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "SoftHSM2 is not installed (softhsm2-util not found): apt-get install softhsm2"
    );
    assert!(
        Path::new(MODULE).exists(),
        "SoftHSM2 module {MODULE} missing: apt-get install softhsm2"
    );
}

fn token() -> Token {
    require_softhsm();
    let dir = tempfile::tempdir().unwrap();
    let t = Token { dir };
    std::fs::create_dir_all(t.tokens()).unwrap();
    std::fs::write(
        t.conf(),
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            t.tokens().display()
        ),
    )
    .unwrap();
    std::fs::write(t.pin(), format!("{PIN}\n")).unwrap();
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
        .env("SOFTHSM2_CONF", t.conf())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "softhsm2-util: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn signer(t: &Token, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_airlock-signer"));
    c.arg("--home")
        .arg(t.dir.path().join("home"))
        .args(args)
        .env("SOFTHSM2_CONF", t.conf())
        .env_remove("AIRLOCK_PKCS11_MODULE")
        .stdin(Stdio::null());
    c
}

fn run(t: &Token, args: &[&str]) -> Out {
    let out = signer(t, args).output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok_json(t: &Token, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run(t, &all);
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

fn with_token<'a>(pin: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--token", TOKEN, "--pin-file", pin];
    v.extend_from_slice(rest);
    v
}

/// Generates a key in the test token through the real binary; the test fails if that fails.
fn keygen(t: &Token, pin: &str, label: &str, kind: &str) {
    let out = run(
        t,
        &[
            &["hsm", "keygen"][..],
            &with_token(pin, &["--label", label, "--kind", kind]),
        ]
        .concat(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A DER INTEGER at `b`, returned as 32 big-endian bytes, and the rest.
fn der_int(b: &[u8]) -> ([u8; 32], &[u8]) {
    assert_eq!(b[0], 0x02);
    let len = usize::from(b[1]);
    let body = &b[2..2 + len];
    assert!(!body.is_empty() && len <= 33);
    if body.len() > 1 {
        assert!(
            !(body[0] == 0 && body[1] & 0x80 == 0),
            "non-minimal INTEGER"
        );
    }
    assert!(body[0] & 0x80 == 0, "negative INTEGER");
    let body = if body[0] == 0 && len == 33 {
        &body[1..]
    } else {
        body
    };
    let mut out = [0u8; 32];
    out[32 - body.len()..].copy_from_slice(body);
    (out, &b[2 + len..])
}

fn digest(i: u32) -> String {
    // Not a hash, but 32 distinct bytes are all the token needs.
    let mut d = [0u8; 32];
    for (j, b) in d.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(j as u8 * 7) ^ 0xa5;
    }
    d[..4].copy_from_slice(&i.to_be_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn keygen_list_and_sign() {
    let t = token();
    let pin = t.pin().to_string_lossy().into_owned();
    let k1 = ok_json(
        &t,
        &[
            &["hsm", "keygen"][..],
            &with_token(&pin, &["--label", "chain", "--kind", "secp256k1"]),
        ]
        .concat(),
    );
    let ed = ok_json(
        &t,
        &[
            &["hsm", "keygen"][..],
            &with_token(&pin, &["--label", "ident", "--kind", "ed25519"]),
        ]
        .concat(),
    );
    assert_eq!(k1["kind"], "secp256k1");
    assert_eq!(ed["kind"], "ed25519");
    let k1_pub = k1["public_key"].as_str().unwrap().to_string();
    let ed_pub = ed["public_key"].as_str().unwrap().to_string();
    assert_eq!(k1_pub.len(), 66);
    assert!(k1_pub.starts_with("02") || k1_pub.starts_with("03"));
    assert_eq!(ed_pub.len(), 64);

    // The same label again is refused, and nothing new appears.
    let again = run(
        &t,
        &[
            &["hsm", "keygen"][..],
            &with_token(&pin, &["--label", "chain", "--kind", "ed25519"]),
        ]
        .concat(),
    );
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    // list --json: what a vault definition needs.
    let list = ok_json(&t, &[&["hsm", "list"][..], &with_token(&pin, &[])].concat());
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["label"], "chain");
    assert_eq!(list[0]["public_key"], k1_pub.as_str());
    assert_eq!(list[0]["chain_key"], k1_pub.as_str());
    assert_eq!(list[0]["custody"], "hsm");
    assert_eq!(list[0]["extractable"], false);
    assert_eq!(list[0]["sensitive"], true);
    assert_eq!(
        list[0]["signer_spec"],
        format!("NAME:ROLE:IDENTITY_KEY:{k1_pub}:hsm")
    );
    assert_eq!(
        list[0]["public_key_uncompressed"].as_str().unwrap().len(),
        130
    );
    assert_eq!(list[1]["label"], "ident");
    assert_eq!(list[1]["public_key"], ed_pub.as_str());
    let text = run(&t, &[&["hsm", "list"][..], &with_token(&pin, &[])].concat());
    assert!(text.stdout.contains(&k1_pub) && text.stdout.contains(":hsm"));

    // Bitcoin: DER, canonical, low S.
    for i in 0..20 {
        let d = digest(i);
        let out = run(
            &t,
            &[
                &["hsm", "sign"][..],
                &with_token(
                    &pin,
                    &["--label", "chain", "--format", "bitcoin", "--digest", &d],
                ),
            ]
            .concat(),
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let der = unhex(out.stdout.trim());
        assert_eq!(der[0], 0x30);
        assert_eq!(usize::from(der[1]), der.len() - 2);
        let (_r, rest) = der_int(&der[2..]);
        let (s, rest) = der_int(rest);
        assert!(rest.is_empty());
        assert!(s <= HALF_N, "high S from `hsm sign --format bitcoin`");
    }

    // Ethereum: 65 bytes, low S, both v values over many digests; legacy v is 27/28.
    let mut seen = [false; 2];
    for i in 0..40 {
        let d = digest(100 + i);
        let v = ok_json(
            &t,
            &[
                &["hsm", "sign"][..],
                &with_token(
                    &pin,
                    &["--label", "chain", "--format", "ethereum", "--digest", &d],
                ),
            ]
            .concat(),
        );
        let sig = unhex(v["signature"].as_str().unwrap());
        assert_eq!(sig.len(), 65);
        let s: [u8; 32] = sig[32..64].try_into().unwrap();
        assert!(s <= HALF_N);
        assert_eq!(
            v["s"].as_str().unwrap(),
            &v["signature"].as_str().unwrap()[64..128]
        );
        let recid = v["v"].as_u64().unwrap();
        assert!(recid < 2);
        seen[recid as usize] = true;
    }
    assert_eq!(seen, [true, true], "both recovery ids occur");
    let legacy = ok_json(
        &t,
        &[
            &["hsm", "sign"][..],
            &with_token(
                &pin,
                &[
                    "--label",
                    "chain",
                    "--format",
                    "ethereum-legacy",
                    "--digest",
                    &digest(7),
                ],
            ),
        ]
        .concat(),
    );
    let lv = legacy["v"].as_u64().unwrap();
    assert!(lv == 27 || lv == 28);

    // Ed25519 verifies (airlock-core's verifier, the one artifacts use).
    let key = airlock_core::PublicKey::from_hex(&ed_pub).unwrap();
    let msg = "41697266c06f636b"; // arbitrary bytes
    let out = run(
        &t,
        &[
            &["hsm", "sign"][..],
            &with_token(
                &pin,
                &["--label", "ident", "--format", "ed25519", "--digest", msg],
            ),
        ]
        .concat(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let sig: [u8; 64] = unhex(out.stdout.trim()).try_into().unwrap();
    assert!(airlock_core::envelope::verify_raw(&key, &unhex(msg), &sig));
    assert!(!airlock_core::envelope::verify_raw(&key, b"other", &sig));

    // A digest that is not 32 bytes, a key of the other kind, an unknown key: clear refusals.
    let bad = run(
        &t,
        &[
            &["hsm", "sign"][..],
            &with_token(
                &pin,
                &[
                    "--label", "chain", "--format", "bitcoin", "--digest", "abcd",
                ],
            ),
        ]
        .concat(),
    );
    assert_eq!((bad.code, bad.stdout.as_str()), (1, ""));
    assert!(
        bad.stderr.contains("a digest is 32 bytes; got 2"),
        "{}",
        bad.stderr
    );
    let bad = run(
        &t,
        &[
            &["hsm", "sign"][..],
            &with_token(
                &pin,
                &[
                    "--label",
                    "ident",
                    "--format",
                    "bitcoin",
                    "--digest",
                    &digest(1),
                ],
            ),
        ]
        .concat(),
    );
    assert_eq!((bad.code, bad.stdout.as_str()), (1, ""));
    assert!(
        bad.stderr
            .contains("key \"ident\" is of kind ed25519; this needs a key of kind secp256k1"),
        "{}",
        bad.stderr
    );
    let bad = run(
        &t,
        &[
            &["hsm", "sign"][..],
            &with_token(
                &pin,
                &[
                    "--label",
                    "nope",
                    "--format",
                    "bitcoin",
                    "--digest",
                    &digest(1),
                ],
            ),
        ]
        .concat(),
    );
    assert_eq!((bad.code, bad.stdout.as_str()), (1, ""));
    assert!(
        bad.stderr.contains("no key labelled \"nope\"")
            && bad.stderr.contains("\"chain\", \"ident\""),
        "{}",
        bad.stderr
    );
}

#[test]
fn wrong_pin_is_a_clear_error_and_signs_nothing() {
    let t = token();
    let pin = t.pin().to_string_lossy().into_owned();
    keygen(&t, &pin, "k", "secp256k1");
    let wrong = t.dir.path().join("wrong-pin");
    std::fs::write(&wrong, "9999-not-it\n").unwrap();
    let wrong = wrong.to_string_lossy().into_owned();
    let out = run(
        &t,
        &[
            &["hsm", "sign"][..],
            &with_token(
                &wrong,
                &[
                    "--label",
                    "k",
                    "--format",
                    "ethereum",
                    "--digest",
                    &digest(3),
                ],
            ),
        ]
        .concat(),
    );
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "", "nothing printed as a signature");
    assert!(
        out.stderr
            .contains(&format!("wrong PIN for token \"{TOKEN}\"")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("9999") && !out.stderr.contains(PIN));
    // --json: the error as JSON on stderr, still nothing on stdout.
    let out = run(
        &t,
        &[&["--json", "hsm", "list"][..], &with_token(&wrong, &[])].concat(),
    );
    assert_eq!((out.code, out.stdout.as_str()), (1, ""));
    let err: Value = serde_json::from_str(out.stderr.trim()).unwrap();
    assert_eq!(err["exit_code"], 1);
    // The PIN is never an argument.
    let out = run(&t, &["hsm", "list", "--token", TOKEN, "--pin", PIN]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    // An empty PIN file.
    let empty = t.dir.path().join("empty-pin");
    std::fs::write(&empty, "\n").unwrap();
    let out = run(
        &t,
        &[
            &["hsm", "list"][..],
            &with_token(&empty.to_string_lossy(), &[]),
        ]
        .concat(),
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("is empty"), "{}", out.stderr);
}

#[test]
fn unknown_token_lists_the_labels_there_are() {
    let t = token();
    let pin = t.pin().to_string_lossy().into_owned();
    let out = run(
        &t,
        &["hsm", "list", "--token", "vault-hsm", "--pin-file", &pin],
    );
    assert_eq!((out.code, out.stdout.as_str()), (1, ""));
    assert!(
        out.stderr.contains("no token labelled \"vault-hsm\""),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("tokens present: \"{TOKEN}\"")),
        "{}",
        out.stderr
    );
    let out = run(&t, &["--json", "hsm", "tokens"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["tokens"], serde_json::json!([TOKEN]));
}

#[test]
fn wrong_module_path_is_named() {
    let t = token();
    let pin = t.pin().to_string_lossy().into_owned();
    let out = run(
        &t,
        &[
            &["hsm", "list"][..],
            &with_token(&pin, &["--module", "/opt/nowhere/libpkcs11.so"]),
        ]
        .concat(),
    );
    assert_eq!((out.code, out.stdout.as_str()), (1, ""));
    assert!(
        out.stderr
            .contains("PKCS#11 module /opt/nowhere/libpkcs11.so cannot be loaded"),
        "{}",
        out.stderr
    );
    // The environment variable is the other way to name it.
    let o = signer(&t, &[&["hsm", "list"][..], &with_token(&pin, &[])].concat())
        .env("AIRLOCK_PKCS11_MODULE", "/opt/elsewhere/p11.so")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/opt/elsewhere/p11.so"));
}

/// A second process takes the token away while `hsm sign --bench` is signing: SoftHSM2's token
/// storage (the token directory) is deleted under the open, logged-in session.
#[test]
fn token_removed_while_signing() {
    let t = token();
    let pin = t.pin().to_string_lossy().into_owned();
    keygen(&t, &pin, "k", "secp256k1");
    let child = signer(
        &t,
        &[
            &["hsm", "sign"][..],
            &with_token(
                &pin,
                &[
                    "--label",
                    "k",
                    "--format",
                    "ethereum",
                    "--bench",
                    "100000000",
                ],
            ),
        ]
        .concat(),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Wait until it has loaded the module, then let it log in and sign for a while (the bench
    // runs for hours, so a generous wait only makes the login certain).
    let maps = format!("/proc/{}/maps", child.id());
    let waiting = Instant::now();
    while !std::fs::read_to_string(&maps).is_ok_and(|m| m.contains("libsofthsm2")) {
        assert!(
            waiting.elapsed() < Duration::from_secs(30),
            "module never loaded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(2000));
    std::fs::remove_dir_all(t.tokens()).unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(
        stderr.contains("the token went away while signing; nothing was signed"),
        "{stderr}"
    );
}
