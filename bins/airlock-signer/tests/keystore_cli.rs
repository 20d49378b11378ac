//! `airlock-signer keystore` end to end through the real binary: import of the Web3 Secret
//! Storage Definition's PBKDF2 vector, re-sealing under the signer's passphrase, export back to a
//! v3 file that decrypts to the same key, refusals (wrong password, wrong signer passphrase,
//! existing files, a hostile KDF), and the unlock benchmark.

use std::path::Path;
use std::process::Command;

use airlock_custody::eth_keystore;
use serde_json::Value;

const VECTOR: &str =
    include_str!("../../../crates/airlock-custody/tests/data/eth_keystore_v3_pbkdf2.json");
const SECRET: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";
/// EIP-55 form of the vector's address 008aeeda4d805471df9b2a5b0f38a0c3bcba786b.
const ADDRESS_LOWER: &str = "0x008aeeda4d805471df9b2a5b0f38a0c3bcba786b";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(home: &Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock-signer"))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(o: &Out) -> Value {
    assert_eq!(o.code, 0, "stdout: {}\nstderr: {}", o.stdout, o.stderr);
    serde_json::from_str(&o.stdout).unwrap()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn import_export_round_trip_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let home = d("home");
    std::fs::write(d("signer.pass"), "signer passphrase\n").unwrap();
    std::fs::write(d("v3.pass"), "testpassword\n").unwrap();
    std::fs::write(d("other.pass"), "something else\n").unwrap();
    std::fs::write(d("vector.json"), VECTOR).unwrap();
    let sp = d("signer.pass");
    let sp = sp.to_str().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();

    let o = run(
        &home,
        &[
            "--passphrase-file",
            sp,
            "init",
            "--name",
            "eve",
            "--kdf",
            "insecure-fast",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);

    // Import the spec vector to the default place.
    let o = run(
        &home,
        &[
            "--json",
            "--passphrase-file",
            sp,
            "keystore",
            "import-eth",
            &s(&d("vector.json")),
            "--password-file",
            &s(&d("v3.pass")),
        ],
    );
    let v = json(&o);
    assert_eq!(v["address"].as_str().unwrap().to_lowercase(), ADDRESS_LOWER);
    assert_eq!(v["source_kdf"], "pbkdf2-hmac-sha256 c=262144");
    assert!(!o.stdout.contains(SECRET) && !o.stderr.contains(SECRET));
    let sealed = home.join("keys/ethereum-0x008aeeda4d805471df9b2a5b0f38a0c3bcba786b.key");
    assert_eq!(Path::new(v["out"].as_str().unwrap()), sealed);
    #[cfg(unix)]
    assert_eq!(mode(&sealed), 0o600);
    let raw = std::fs::read(&sealed).unwrap();
    assert_eq!(&raw[..16], b"AIRLOCK-KEYSTORE");

    // Again: refuses to overwrite.
    let o = run(
        &home,
        &[
            "--passphrase-file",
            sp,
            "keystore",
            "import-eth",
            &s(&d("vector.json")),
            "--password-file",
            &s(&d("v3.pass")),
        ],
    );
    assert_eq!(o.code, 1);
    assert_eq!(std::fs::read(&sealed).unwrap(), raw);

    // Wrong v3 password: the MAC error, nothing written.
    let o = run(
        &home,
        &[
            "--passphrase-file",
            sp,
            "keystore",
            "import-eth",
            &s(&d("vector.json")),
            "--password-file",
            &s(&d("other.pass")),
            "--out",
            &s(&d("x.key")),
        ],
    );
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("MAC mismatch"), "{}", o.stderr);
    assert!(!d("x.key").exists());

    // Wrong signer passphrase: refused, nothing written.
    let o = run(
        &home,
        &[
            "--passphrase-file",
            &s(&d("other.pass")),
            "keystore",
            "import-eth",
            &s(&d("vector.json")),
            "--password-file",
            &s(&d("v3.pass")),
            "--out",
            &s(&d("x.key")),
        ],
    );
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("wrong passphrase"), "{}", o.stderr);
    assert!(!d("x.key").exists());

    // A hostile KDF is refused quickly.
    let hostile = VECTOR.replace("\"c\": 262144", "\"c\": 4000000000");
    std::fs::write(d("hostile.json"), hostile).unwrap();
    let o = run(
        &home,
        &[
            "--passphrase-file",
            sp,
            "keystore",
            "import-eth",
            &s(&d("hostile.json")),
            "--password-file",
            &s(&d("v3.pass")),
            "--out",
            &s(&d("x.key")),
        ],
    );
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("refused key-derivation parameters"),
        "{}",
        o.stderr
    );

    // Export back (light scrypt) under a new password; it decrypts to the same key.
    let out = d("exported.json");
    let o = run(
        &home,
        &[
            "--json",
            "--passphrase-file",
            sp,
            "keystore",
            "export-eth",
            &s(&sealed),
            "--password-file",
            &s(&d("other.pass")),
            "--out",
            &s(&out),
            "--kdf",
            "light",
        ],
    );
    let v = json(&o);
    assert_eq!(v["address"].as_str().unwrap().to_lowercase(), ADDRESS_LOWER);
    #[cfg(unix)]
    assert_eq!(mode(&out), 0o600);
    let text = std::fs::read(&out).unwrap();
    let (k, info) = eth_keystore::decrypt_with_bytes(&text, b"something else").unwrap();
    assert_eq!(to_hex(k.secret_bytes()), SECRET);
    assert!(info.had_address);
    assert_eq!(info.kdf, eth_keystore::EthKdf::LIGHT);

    // Export refuses to overwrite.
    let o = run(
        &home,
        &[
            "--passphrase-file",
            sp,
            "keystore",
            "export-eth",
            &s(&sealed),
            "--password-file",
            &s(&d("other.pass")),
            "--out",
            &s(&out),
            "--kdf",
            "light",
        ],
    );
    assert_eq!(o.code, 1);
    assert_eq!(std::fs::read(&out).unwrap(), text);
}

#[test]
fn unlock_bench_reports_the_stored_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "pw\n").unwrap();
    let p = pass.to_str().unwrap();
    let o = run(
        &home,
        &[
            "--passphrase-file",
            p,
            "init",
            "--name",
            "bench",
            "--kdf",
            "insecure-fast",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v = json(&run(
        &home,
        &[
            "--json",
            "--passphrase-file",
            p,
            "keystore",
            "unlock-bench",
            "--runs",
            "2",
        ],
    ));
    assert_eq!(v["memory_kib"], 8192);
    assert_eq!(v["iterations"], 1);
    assert_eq!(v["runs"], 2);
    assert!(v["mean_ms"].as_f64().unwrap() > 0.0);
    assert!(v["memory_locked"].is_string());
}
