//! `airlock-signer backup` end to end through the real binary: SLIP-39 split to files and to
//! stdout, recover from files and stdin, refusals (too few shares, existing files), BIP-39
//! generation with dice and re-verification of a written-down backup.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(home: &Path, args: &[&str], stdin: Option<&str>) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airlock-signer"))
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

#[test]
fn slip39_split_to_files_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let secret_file = dir.path().join("secret.hex");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let shares = dir.path().join("shares");
    let split_args = [
        "backup",
        "split",
        "--group-threshold",
        "2",
        "--group",
        "2-of-3",
        "--group",
        "1-of-1",
        "--group",
        "3-of-5",
        "--secret-file",
        secret_file.to_str().unwrap(),
        "--out-dir",
        shares.to_str().unwrap(),
    ];
    let o = run(&home, &split_args, None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stdout.contains(SECRET));
    let f = |g: u8, m: u8| shares.join(format!("share-g{g}-m{m}.txt"));
    assert_eq!(std::fs::read_dir(&shares).unwrap().count(), 9);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(f(1, 1)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The share words are not printed when files were asked for.
    let first = std::fs::read_to_string(f(1, 1)).unwrap();
    let words_line = first.lines().find(|l| !l.starts_with('#')).unwrap();
    assert!(!o.stdout.contains(words_line));

    let p = |g, m| f(g, m).to_str().unwrap().to_string();
    let o = run(
        &home,
        &[
            "backup",
            "recover",
            &p(1, 3),
            &p(3, 2),
            &p(1, 1),
            &p(3, 5),
            &p(3, 4),
        ],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.trim(), SECRET);
    let o = run(
        &home,
        &["--json", "backup", "recover", &p(2, 1), &p(1, 2), &p(1, 3)],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["secret"], SECRET);

    // Too few shares: exit 1, a clear reason.
    let o = run(&home, &["backup", "recover", &p(1, 1), &p(2, 1)], None);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("too few shares of group 1"),
        "{}",
        o.stderr
    );
    // A second split into the same directory is refused and changes nothing.
    let o = run(&home, &split_args, None);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("nothing was written"), "{}", o.stderr);
    assert_eq!(std::fs::read_to_string(f(1, 1)).unwrap(), first);
    // A new set of the same (extendable) backup, from two groups' shares, then recovered.
    let new_dir = dir.path().join("new-set");
    let o = run(
        &home,
        &[
            "backup",
            "extend",
            &p(2, 1),
            &p(1, 1),
            &p(1, 2),
            "--group",
            "2-of-2",
            "--out-dir",
            new_dir.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let n1 = new_dir.join("share-g1-m1.txt");
    let n2 = new_dir.join("share-g1-m2.txt");
    let o = run(
        &home,
        &[
            "backup",
            "recover",
            n2.to_str().unwrap(),
            n1.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.trim(), SECRET);
    // Old and new shares do not mix.
    let o = run(
        &home,
        &["backup", "recover", n1.to_str().unwrap(), &p(2, 1)],
        None,
    );
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("different backup"), "{}", o.stderr);
    // Recover to a private file.
    let out = dir.path().join("recovered.hex");
    let o = run(
        &home,
        &[
            "backup",
            "recover",
            &p(2, 1),
            &p(1, 2),
            &p(1, 3),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stdout.contains(SECRET));
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), SECRET);
}

#[test]
fn slip39_split_to_stdout_and_recover_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let o = run(
        &home,
        &[
            "--json",
            "backup",
            "split",
            "--group",
            "2-of-3",
            "--new",
            "128",
            "--extendable",
            "false",
        ],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["extendable"], false);
    assert_eq!(v["words_per_share"], 20);
    let shares: Vec<String> = v["groups"][0]["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["share"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shares.len(), 3);
    let a = run(
        &home,
        &["backup", "recover"],
        Some(&format!("{}\n{}\n", shares[0], shares[2])),
    );
    let b = run(
        &home,
        &["backup", "recover"],
        Some(&format!("{}\n\n{}\n", shares[1], shares[0])),
    );
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(a.stdout.trim().len(), 32);
    assert_eq!(a.stdout, b.stdout);
    // A flipped word: the checksum error names the share.
    let mut words: Vec<&str> = shares[1].split_whitespace().collect();
    words[10] = if words[10] == "academic" {
        "acid"
    } else {
        "academic"
    };
    let o = run(
        &home,
        &["backup", "recover"],
        Some(&format!("{}\n{}\n", shares[0], words.join(" "))),
    );
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("share 2: checksum"), "{}", o.stderr);
    // Bad setups are refused.
    let o = run(
        &home,
        &["backup", "split", "--group", "1-of-3", "--new", "256"],
        None,
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
}

#[test]
fn bip39_new_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let words_file = dir.path().join("words.txt");
    let o = run(
        &home,
        &[
            "--json",
            "backup",
            "bip39-new",
            "--words",
            "24",
            "--dice",
            "-",
            "--out",
            words_file.to_str().unwrap(),
            "--record",
        ],
        Some("3 1 4 1 5 2 6 5 3 5\n"),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    let words = std::fs::read_to_string(&words_file).unwrap();
    assert_eq!(words.split_whitespace().count(), 24);
    assert!(
        v.get("mnemonic").is_none(),
        "words printed although --out was given"
    );
    let fp = v["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fp.len(), 8);

    // Re-verify: the kept fingerprint, typed words (any case, one per line).
    let typed = words.to_uppercase().replace(' ', "\n");
    let o = run(&home, &["backup", "bip39-verify"], Some(&typed));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("MATCH"));
    assert!(
        !o.stdout
            .to_lowercase()
            .contains(words.split_whitespace().next().unwrap())
    );
    // Another valid mnemonic does not match.
    let other = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    let o = run(&home, &["backup", "bip39-verify"], Some(other));
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("NO MATCH"));
    // ... but matches its own, published fingerprint.
    let o = run(
        &home,
        &[
            "--json",
            "backup",
            "bip39-verify",
            "--fingerprint",
            "73c5da0a",
        ],
        Some(other),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    // A typo is caught by the checksum.
    let o = run(
        &home,
        &["backup", "bip39-verify"],
        Some(&other.replace("about", "above")),
    );
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("checksum"), "{}", o.stderr);
}
