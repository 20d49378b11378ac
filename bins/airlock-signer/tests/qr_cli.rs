//! The air gap by QR, as people use it: the coordinator shows a proposal bundle as PNG frames, the
//! signer reads the frames back (some lost, out of order), gets the identical bytes and reviews
//! them; frames of two different messages are refused without writing anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn signer_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_airlock-signer"))
}

fn airlock_bin() -> PathBuf {
    let path = signer_bin().with_file_name("airlock");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins` first",
        path.display()
    );
    path
}

fn run(bin: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("AIRLOCK_NOW", "1800000000")
        .env_remove("AIRLOCK_HOME")
        .output()
        .expect("binary runs")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_field(text: &str, field: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(text).expect("JSON output");
    v[field].as_str().expect("field").to_owned()
}

/// A coordinator, one signer and a registered one-signer vault; returns two proposal bundles.
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let (a, s) = (airlock_bin(), signer_bin());
    std::fs::write(dir.join("pass"), "passphrase\n").unwrap();
    ok(run(
        &a,
        dir,
        &["--home", "c", "init", "--origin", "qr.test/log"],
    ));
    ok(run(
        &s,
        dir,
        &[
            "--home",
            "alice",
            "--passphrase-file",
            "pass",
            "init",
            "--name",
            "alice",
            "--kdf",
            "insecure-fast",
        ],
    ));
    let key = json_field(
        &ok(run(&s, dir, &["--home", "alice", "--json", "id"])),
        "identity",
    );
    ok(run(
        &a,
        dir,
        &[
            "--home",
            "c",
            "vault",
            "draft",
            "--vault",
            "t",
            "--signer",
            &format!("alice:ops:{key}"),
            "--out",
            "draft",
        ],
    ));
    ok(run(
        &s,
        dir,
        &[
            "--home",
            "alice",
            "--passphrase-file",
            "pass",
            "vault",
            "sign",
            "draft",
            "--out",
            "draft.alice",
            "--yes",
        ],
    ));
    ok(run(
        &a,
        dir,
        &["--home", "c", "vault", "submit", "draft.alice"],
    ));
    ok(run(
        &a,
        dir,
        &["--home", "c", "vault", "show", "t", "--out", "v1"],
    ));
    ok(run(
        &s,
        dir,
        &["--home", "alice", "vault", "register", "v1"],
    ));
    ok(run(
        &a,
        dir,
        &[
            "--home",
            "c",
            "propose",
            "--vault",
            "t",
            "--to",
            "dest:5",
            "--memo",
            "one",
            "--out",
            "one.bundle",
        ],
    ));
    ok(run(
        &a,
        dir,
        &[
            "--home",
            "c",
            "propose",
            "--vault",
            "t",
            "--to",
            "dest:6",
            "--memo",
            "two",
            "--out",
            "two.bundle",
        ],
    ));
    (dir.join("one.bundle"), dir.join("two.bundle"))
}

fn frames(dir: &Path, sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn a_bundle_crosses_by_qr_with_lost_frames_and_is_reviewed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (one, _) = setup(dir);
    ok(run(
        &airlock_bin(),
        dir,
        &[
            "--home",
            "c",
            "qr",
            "show",
            "one.bundle",
            "--format",
            "png",
            "--density",
            "low",
            "--out",
            "frames",
        ],
    ));
    let all = frames(dir, "frames");
    assert!(
        all.len() >= 4,
        "expected an animation, got {} frame(s)",
        all.len()
    );
    // Lose every third frame; the rest still carry enough repair symbols.
    for (i, f) in all.iter().enumerate() {
        if i % 3 == 1 {
            std::fs::remove_file(f).unwrap();
        }
    }
    ok(run(
        &signer_bin(),
        dir,
        &["qr", "read", "frames", "--out", "got.bundle"],
    ));
    assert_eq!(
        std::fs::read(dir.join("got.bundle")).unwrap(),
        std::fs::read(&one).unwrap()
    );
    let review = ok(run(
        &signer_bin(),
        dir,
        &["--home", "alice", "review", "got.bundle"],
    ));
    assert!(
        review.contains("5 -> dest") && review.contains("all checks passed"),
        "{review}"
    );
}

#[test]
fn frames_of_two_messages_are_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let a = airlock_bin();
    ok(run(
        &a,
        dir,
        &[
            "--home",
            "c",
            "qr",
            "show",
            "one.bundle",
            "--format",
            "png",
            "--density",
            "low",
            "--out",
            "f1",
        ],
    ));
    ok(run(
        &a,
        dir,
        &[
            "--home",
            "c",
            "qr",
            "show",
            "two.bundle",
            "--format",
            "png",
            "--density",
            "low",
            "--out",
            "f2",
        ],
    ));
    let mut mixed: Vec<String> = frames(dir, "f1")
        .into_iter()
        .take(1)
        .map(|p| p.display().to_string())
        .collect();
    mixed.extend(
        frames(dir, "f2")
            .into_iter()
            .map(|p| p.display().to_string()),
    );
    let mut args = vec!["qr", "read"];
    args.extend(mixed.iter().map(String::as_str));
    args.extend(["--out", "mixed.bundle"]);
    let out = run(&signer_bin(), dir, &args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("different message") || err.contains("mixed"),
        "{err}"
    );
    assert!(!dir.join("mixed.bundle").exists());
}
