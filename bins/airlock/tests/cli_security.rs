//! Security alarms and custody through the real binaries: a coordinator that forks or rolls back
//! its log (split view), a tampered coordinator database, a tampered signer journal, and the
//! signer's identity key (init twice, wrong or missing passphrase, a damaged key file).

mod common;

use std::path::Path;

use common::*;

fn evidence_files(w: &World, who: &str) -> Vec<String> {
    let dir = w.signer_home(who).join("log").join("evidence");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    out
}

fn checkpoint_note(w: &World, home: &Path) -> String {
    w.airlock_in(home, &["--json", "log", "checkpoint"])
        .ok()
        .json()["note"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Two copies of the coordinator (same key) diverge. A signer that accepted copy A's checkpoint
/// and is then shown copy B's history raises the alarm (exit 3, SPLIT VIEW), keeps both
/// checkpoints as evidence, and signs nothing. Copy B refuses an approval whose seen checkpoint
/// is A's.
#[test]
fn a_forked_log_is_a_split_view() {
    let w = treasury();
    let (p0, _) = w.propose("treasury", "acme-rent:1", &[]);
    let a_home = w.coordinator_home();
    let b_home = w.p("coordinator-b");
    copy_dir(&a_home, &b_home);

    let (x, x_bundle) = w.propose("treasury", "acme-rent:2", &[]);
    let y_bundle = w.p("y.bundle");
    let y = w
        .airlock_in(
            &b_home,
            &[
                "--json",
                "propose",
                "--vault",
                "treasury",
                "--to",
                "acme-payroll:3",
                "--out",
                path_str(&y_bundle),
            ],
        )
        .ok()
        .json()["proposal"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(x, y);
    let note_a = checkpoint_note(&w, &a_home);
    let note_b = checkpoint_note(&w, &b_home);
    assert_ne!(note_a, note_b);

    // Alice accepts A's history by approving X.
    let ax = w.approve("alice", &x_bundle);
    let accepted = w.signer("alice", &["--json", "status"]).ok().json()["logs"][0]["checkpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(accepted, note_a);
    assert!(evidence_files(&w, "alice").is_empty());

    // B's history, same size, different root: split view.
    let journal = w.journal("alice");
    let out = w.p("alice-y.approval");
    let review = w
        .signer("alice", &["review", path_str(&y_bundle)])
        .fails(3, "SPLIT VIEW");
    assert!(review.stderr.contains("log/evidence"), "{}", review.stderr);
    w.signer(
        "alice",
        &[
            "approve",
            path_str(&y_bundle),
            "--out",
            path_str(&out),
            "--yes",
        ],
    )
    .fails(3, "SPLIT VIEW");
    w.signer(
        "alice",
        &[
            "reject",
            path_str(&y_bundle),
            "--reason",
            "fork",
            "--out",
            path_str(&out),
        ],
    )
    .fails(3, "SPLIT VIEW");
    assert!(!out.exists(), "a decision was written on a forked log");
    assert_eq!(w.journal("alice"), journal);
    let evidence = evidence_files(&w, "alice");
    assert!(!evidence.is_empty(), "no evidence kept");
    assert!(
        evidence
            .iter()
            .all(|e| e.contains(&note_a) && e.contains(&note_b)),
        "the evidence must hold both checkpoints: {evidence:?}"
    );
    // The accepted checkpoint is still A's.
    let still = w.signer("alice", &["--json", "status"]).ok().json()["logs"][0]["checkpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(still, note_a);

    // A later, larger B checkpoint (with a consistency proof from the size alice holds) is a
    // fork too.
    let z = w.p("z.bundle");
    w.airlock_in(
        &b_home,
        &[
            "propose",
            "--vault",
            "treasury",
            "--to",
            "acme-rent:4",
            "--out",
            path_str(&z),
        ],
    )
    .ok();
    let z_env = Env::read(&z).payload_cbor();
    let Cbor::A(proofs) = z_env.get(3).get(6) else {
        panic!("no consistency proofs")
    };
    assert!(
        proofs.iter().any(|p| *p.get(1) == Cbor::U(3)),
        "B's bundle should prove consistency from size 3 (the size alice accepted from A)"
    );
    w.signer("alice", &["review", path_str(&z)])
        .fails(3, "SPLIT VIEW");
    // Both contradictions are on record, although they happened in the same second.
    let note_z = checkpoint_note(&w, &b_home);
    let evidence = evidence_files(&w, "alice");
    assert!(
        evidence
            .iter()
            .any(|e| e.contains(&note_a) && e.contains(&note_b)),
        "the first contradiction's evidence was lost: {evidence:?}"
    );
    assert!(
        evidence
            .iter()
            .any(|e| e.contains(&note_a) && e.contains(&note_z)),
        "the second contradiction's evidence is missing: {evidence:?}"
    );
    // An old proposal exported from B is refused the same way.
    let p0_from_b = w.p("p0-b.bundle");
    w.airlock_in(&b_home, &["export", &p0, "--out", path_str(&p0_from_b)])
        .ok();
    w.signer("alice", &["review", path_str(&p0_from_b)])
        .fails(3, "SPLIT VIEW");
    // Carol has seen nothing yet: B looks fine to her (the alarm comes from alice's own state).
    w.signer("carol", &["review", path_str(&y_bundle)]).ok();

    // Coordinator side: alice approves P0 as exported by A (her seen checkpoint is A's); B
    // refuses that approval, A accepts it.
    let p0_from_a = w.p("p0-a.bundle");
    w.airlock(&["export", &p0, "--out", path_str(&p0_from_a)])
        .ok();
    let ap0 = w.approve("alice", &p0_from_a);
    let b_before = w.coordinator_state_in(&b_home);
    let refused = w.airlock_in(&b_home, &["submit", path_str(&ap0)]);
    let refused = refused.fails(3, "not a state of this log");
    assert!(refused.stderr.contains("split view"), "{}", refused.stderr);
    assert_eq!(w.coordinator_state_in(&b_home), b_before);
    w.submit(&[&ap0, &ax]).ok();
    w.airlock(&["log", "verify"]).ok();
}

/// A coordinator restored from an older snapshot shows a smaller log. Its old checkpoints are part
/// of the history a signer accepted, so an older bundle is checked against what the signer holds
/// and reviewed (it is not an attack); the restored coordinator refuses decisions made against
/// the log it lost, and as soon as it writes anything new its history diverges: that is the split
/// view, an alarm with both checkpoints kept as evidence.
#[test]
fn a_rolled_back_log_is_a_split_view() {
    let w = treasury();
    let (p1, _) = w.propose("treasury", "acme-rent:1", &[]);
    let snapshot = w.p("snapshot");
    copy_dir(&w.coordinator_home(), &snapshot);
    let old_note = checkpoint_note(&w, &snapshot);
    let (_, p2_bundle) = w.propose("treasury", "acme-rent:2", &[]);
    w.approve("alice", &p2_bundle);
    let new_note = checkpoint_note(&w, &w.coordinator_home());
    // Carol approves P1 as exported by the newer log (her seen checkpoint has size 3).
    let p1_new = w.p("p1-new.bundle");
    w.airlock(&["export", &p1, "--out", path_str(&p1_new)]).ok();
    let carol_p1 = w.approve("carol", &p1_new);

    restore_dir(&snapshot, &w.coordinator_home());
    // The restored coordinator refuses an approval made against a log it no longer has.
    let before = w.coordinator_state();
    let refused = w.submit(&[&carol_p1]);
    refused.fails(3, "not a state of this log");
    assert_eq!(w.coordinator_state(), before);
    assert_eq!(checkpoint_note(&w, &w.coordinator_home()), old_note);
    // Its bundle of P1 is older than what alice accepted, and provably part of it.
    let old_bundle = w.p("p1-rolled-back.bundle");
    w.airlock(&["export", &p1, "--out", path_str(&old_bundle)])
        .ok();
    w.signer("alice", &["review", path_str(&old_bundle)])
        .ok()
        .says("older checkpoint");
    // Then it writes a different history over what it lost: alice sees the fork.
    let (_, forked) = w.propose("treasury", "acme-rent:3", &[]);
    let journal = w.journal("alice");
    let out = w.p("alice-fork.approval");
    w.signer("alice", &["review", path_str(&forked)])
        .fails(3, "SPLIT VIEW");
    w.signer(
        "alice",
        &[
            "approve",
            path_str(&forked),
            "--out",
            path_str(&out),
            "--yes",
        ],
    )
    .fails(3, "SPLIT VIEW");
    assert!(!out.exists());
    assert_eq!(w.journal("alice"), journal);
    let evidence = evidence_files(&w, "alice");
    assert!(
        evidence
            .iter()
            .any(|e| e.contains(&new_note)
                && e.contains(&checkpoint_note(&w, &w.coordinator_home()))),
        "{evidence:?}"
    );
    // Bob has seen nothing newer: the restored coordinator is consistent for him.
    w.signer("bob", &["review", path_str(&old_bundle)]).ok();
}

/// A signer that missed a checkpoint needs a consistency proof; a bundle without one is refused
/// (exit 1, not an alarm) and `export --since` fixes it.
#[test]
fn a_bundle_without_a_consistency_proof_is_refused_until_exported_with_since() {
    let w = treasury();
    let (_, b1) = w.propose("treasury", "acme-rent:1", &[]);
    w.approve("alice", &b1); // alice accepts size 2
    let accepted: u64 =
        w.signer("alice", &["--json", "status"]).ok().json()["logs"][0]["checkpoint"]
            .as_str()
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
    // Build a bundle whose consistency proofs were stripped (the coordinator always includes the
    // sizes it exported; a hostile or buggy one might not).
    let (p2, b2) = w.propose("treasury", "acme-rent:2", &[]);
    let mut env = Env::read(&b2);
    let mut bundle = env.payload_cbor();
    let mut evidence = bundle.get(3).clone();
    evidence.set(6, Cbor::A(vec![]));
    bundle.set(3, evidence);
    env.payload = encode(&bundle);
    env.sigs.clear();
    let stripped = w.p("stripped.bundle");
    env.write(&stripped);
    w.signer("alice", &["review", path_str(&stripped)])
        .fails(1, &format!("export --since {accepted}"));
    let fixed = w.p("fixed.bundle");
    w.airlock(&[
        "export",
        &p2,
        "--since",
        &accepted.to_string(),
        "--out",
        path_str(&fixed),
    ])
    .ok();
    w.signer("alice", &["review", path_str(&fixed)]).ok();
}

fn tamper_db(home: &Path, sql: &str, params: &[&dyn rusqlite::ToSql]) {
    let conn = rusqlite::Connection::open(home.join("airlock.db")).unwrap();
    let changed = conn.execute(sql, params).unwrap();
    assert!(
        changed > 0,
        "the tampering statement changed nothing: {sql}"
    );
}

fn read_blob(home: &Path, sql: &str) -> Vec<u8> {
    let conn = rusqlite::Connection::open(home.join("airlock.db")).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// `log verify` passes on a real log, with its counts, and raises the alarm (exit 3) after any
/// edit of the database: a leaf, a stored artifact, a checkpoint, a removed record.
#[test]
fn log_verify_detects_a_tampered_database() {
    let w = treasury();
    let (p, bundle) = w.propose("treasury", "acme-rent:900", &[]);
    let a = w.approve("alice", &bundle);
    w.submit(&[&a]).ok();
    w.airlock(&["finalize", &p]).ok();
    let report = w.airlock(&["--json", "log", "verify"]).ok().json();
    assert_eq!(report["size"], 4);
    assert_eq!(report["checkpoints"], 4);
    assert_eq!(report["vault_versions"], 1);
    assert_eq!(report["proposals"], 1);
    assert_eq!(report["approvals"], 1);
    assert_eq!(report["finalized"], 1);
    let text = w.airlock(&["log", "verify"]).ok().stdout;
    assert!(text.starts_with("Log verified: 4 records"), "{text}");

    let good = w.p("good-coordinator");
    copy_dir(&w.coordinator_home(), &good);
    let home = w.coordinator_home();
    let fresh = || restore_dir(&good, &home);

    // A flipped bit in a log leaf.
    let mut leaf = read_blob(&home, "SELECT leaf FROM leaves WHERE idx = 1");
    leaf[5] ^= 0x04;
    tamper_db(&home, "UPDATE leaves SET leaf = ?1 WHERE idx = 1", &[&leaf]);
    w.airlock(&["log", "verify"])
        .fails(3, "log verification FAILED");

    // A stored artifact swapped for another (alice's approval re-signed by an outsider).
    fresh();
    let mut env = Env::read(&a);
    env.sigs.clear();
    env.sign_with(&outsider_key());
    let id = read_blob(&home, "SELECT id FROM artifacts WHERE kind = 'approval'");
    tamper_db(
        &home,
        "UPDATE artifacts SET bytes = ?1 WHERE id = ?2",
        &[&env.to_bytes(), &id],
    );
    w.airlock(&["log", "verify"])
        .fails(3, "not signed by alice");

    // A stored artifact whose bytes no longer hash to the id in the log.
    fresh();
    let mut bytes = read_blob(&home, "SELECT bytes FROM artifacts WHERE kind = 'proposal'");
    let n = bytes.len();
    bytes[n - 20] ^= 0x01;
    tamper_db(
        &home,
        "UPDATE artifacts SET bytes = ?1 WHERE kind = 'proposal'",
        &[&bytes],
    );
    w.airlock(&["log", "verify"])
        .fails(3, "log verification FAILED");

    // A checkpoint note edited.
    fresh();
    tamper_db(
        &home,
        "UPDATE checkpoints SET note = replace(note, 'test.airlock/log', 'test.airlock/lag') WHERE size = 2",
        &[],
    );
    w.airlock(&["log", "verify"])
        .fails(3, "checkpoint at size 2");

    // A record removed from the middle of the log.
    fresh();
    tamper_db(&home, "DELETE FROM leaves WHERE idx = 2", &[]);
    w.airlock(&["log", "verify"])
        .fails(3, "log verification FAILED");

    // The last record removed (the finalization): the signed checkpoint of size 4 still says
    // there were four.
    fresh();
    tamper_db(&home, "DELETE FROM leaves WHERE idx = 3", &[]);
    w.airlock(&["log", "verify"])
        .fails(3, "log verification FAILED");

    // ... and with its checkpoint removed too: the stored hashes still cover four leaves.
    fresh();
    tamper_db(&home, "DELETE FROM leaves WHERE idx = 3", &[]);
    tamper_db(&home, "DELETE FROM checkpoints WHERE size = 4", &[]);
    w.airlock(&["log", "verify"])
        .fails(3, "log verification FAILED");

    fresh();
    w.airlock(&["log", "verify"]).ok();
}

fn two_decisions(w: &World) -> (std::path::PathBuf, std::path::PathBuf) {
    let (_, b1) = w.propose("treasury", "acme-rent:900", &[]);
    w.approve("alice", &b1);
    let (_, b2) = w.propose("treasury", "unknown-exchange:5000", &[]);
    w.reject("alice", &b2, "too big");
    let (_, b3) = w.propose("treasury", "acme-payroll:10", &[]);
    (b2, b3)
}

/// Any edit of the signer's journal (an amount, a removed line, a removed head, a removed
/// journal) is an alarm: `journal verify` exits 3 and the signer refuses to review or decide.
#[test]
fn a_tampered_journal_stops_the_signer() {
    let w = treasury();
    let (_, next) = two_decisions(&w);
    let home = w.signer_home("alice");
    let v = w
        .signer("alice", &["--json", "journal", "verify"])
        .ok()
        .json();
    assert_eq!(v["entries"], 2);
    let good = w.p("alice-good");
    copy_dir(&home, &good);
    let journal_path = home.join("journal.log");
    let original = std::fs::read_to_string(&journal_path).unwrap();
    assert!(original.contains("\"amount\":900"), "{original}");
    let lines: Vec<&str> = original.lines().collect();

    type Edit<'a> = (&'a str, Box<dyn Fn() + 'a>, &'a str);
    let edits: Vec<Edit> = vec![
        (
            "an edited amount",
            Box::new(|| {
                std::fs::write(
                    &journal_path,
                    original.replacen("\"amount\":900", "\"amount\":9", 1),
                )
                .unwrap()
            }),
            "does not match its hash",
        ),
        (
            "the last line deleted",
            Box::new(|| std::fs::write(&journal_path, format!("{}\n", lines[0])).unwrap()),
            "entries removed",
        ),
        (
            "the first line deleted",
            Box::new(|| std::fs::write(&journal_path, format!("{}\n", lines[1])).unwrap()),
            "tampered",
        ),
        (
            "journal.head deleted",
            Box::new(|| std::fs::remove_file(home.join("journal.head")).unwrap()),
            "journal.head",
        ),
        (
            "journal.log deleted",
            Box::new(|| std::fs::remove_file(&journal_path).unwrap()),
            "tampered",
        ),
        (
            "a decision flipped from reject to approve",
            Box::new(|| {
                std::fs::write(
                    &journal_path,
                    original.replacen("\"decision\":\"reject\"", "\"decision\":\"approve\"", 1),
                )
                .unwrap()
            }),
            "does not match its hash",
        ),
    ];
    let out = w.p("after-tamper.approval");
    for (what, edit, needle) in edits {
        restore_dir(&good, &home);
        edit();
        let files = w.signer_files("alice");
        let verify = w.signer("alice", &["journal", "verify"]);
        assert_eq!(verify.code, 3, "{what}: {verify:?}");
        verify.fails(3, needle);
        w.signer("alice", &["journal", "show"]).fails(3, "journal");
        w.signer("alice", &["review", path_str(&next)])
            .fails(3, "tampered");
        w.signer(
            "alice",
            &["approve", path_str(&next), "--out", path_str(&out), "--yes"],
        )
        .fails(3, "tampered");
        w.signer(
            "alice",
            &[
                "reject",
                path_str(&next),
                "--reason",
                "x",
                "--out",
                path_str(&out),
            ],
        )
        .fails(3, "tampered");
        assert!(!out.exists(), "{what}: a decision was written");
        assert_eq!(
            w.signer_files("alice"),
            files,
            "{what}: the signer changed its files"
        );
    }
    restore_dir(&good, &home);
    w.signer("alice", &["journal", "verify"]).ok();
    w.approve("alice", &next);
}

/// `init` refuses to overwrite an existing identity (signer and coordinator) and keeps it.
#[test]
fn init_twice_keeps_the_first_identity() {
    let w = World::new();
    w.init_coordinator();
    let key = w.init_signer("alice");
    let files = w.signer_files("alice");
    w.signer(
        "alice",
        &["init", "--name", "alice", "--kdf", "insecure-fast"],
    )
    .fails(1, "already holds a signer");
    w.signer(
        "alice",
        &["init", "--name", "mallory", "--kdf", "insecure-fast"],
    )
    .fails(1, "refusing to overwrite");
    assert_eq!(w.signer_files("alice"), files);
    assert_eq!(w.signer_key("alice"), key);

    let id = w.airlock(&["--json", "id"]).ok().json();
    let coordinator = dir_contents(&w.coordinator_home());
    w.airlock(&["init", "--origin", "other.origin"])
        .fails(1, "already holds a coordinator");
    assert_eq!(w.airlock(&["--json", "id"]).ok().json(), id);
    assert_eq!(
        dir_contents(&w.coordinator_home()).get(Path::new("identity.key")),
        coordinator.get(Path::new("identity.key"))
    );
}

/// Passphrases: a wrong one is refused clearly and writes nothing; without a passphrase file and
/// without a terminal the signer says what it needs; a damaged key file is reported as damaged,
/// not as a wrong passphrase; a key file from another signer is caught.
#[test]
fn passphrase_and_identity_key_failures_are_clear_and_change_nothing() {
    let w = treasury();
    let (_, bundle) = w.propose("treasury", "acme-rent:900", &[]);
    let home = w.signer_home("alice");
    let out = w.p("alice.approval");
    let b = path_str(&bundle);
    let o = path_str(&out);
    let files = w.signer_files("alice");
    let approve_with = |pass: &Path| {
        w.signer_raw(&[
            "--home",
            path_str(&home),
            "--passphrase-file",
            path_str(pass),
            "approve",
            b,
            "--out",
            o,
            "--yes",
        ])
    };

    let wrong = w.p("wrong.pass");
    std::fs::write(&wrong, "correct horse battery staple bob\n").unwrap();
    let refused = approve_with(&wrong).fails(1, "wrong passphrase");
    assert!(!refused.stderr.contains("corrupted"));
    let empty = w.p("empty.pass");
    std::fs::write(&empty, "\n").unwrap();
    approve_with(&empty).fails(1, "is empty");
    approve_with(&w.p("missing.pass")).fails(1, "missing.pass");
    w.signer_raw(&["--home", path_str(&home), "approve", b, "--out", o, "--yes"])
        .fails(1, "a passphrase is needed");
    w.signer_raw(&[
        "--home",
        path_str(&home),
        "reject",
        b,
        "--reason",
        "no",
        "--out",
        o,
    ])
    .fails(1, "a passphrase is needed");
    w.signer_raw(&[
        "--home",
        path_str(&w.p("newbie")),
        "init",
        "--name",
        "newbie",
        "--kdf",
        "insecure-fast",
    ])
    .fails(1, "a passphrase is needed");
    assert!(!w.p("newbie").join("identity.key").exists());
    // Without --yes and without a terminal, approve refuses before asking for the passphrase.
    w.signer("alice", &["approve", b, "--out", o])
        .fails(1, "without confirmation");
    assert!(!out.exists());
    assert_eq!(w.signer_files("alice"), files);

    // A damaged identity key: one flipped bit anywhere, or a truncated file.
    let key_path = home.join("identity.key");
    let key = std::fs::read(&key_path).unwrap();
    for (what, damaged) in [
        ("a bit in the middle", flip(&key, key.len() / 2, 3)),
        ("a bit in the last byte", flip(&key, key.len() - 1, 0)),
        ("a bit in the first bytes", flip(&key, 9, 5)),
        ("truncated", key[..key.len() - 10].to_vec()),
    ] {
        std::fs::write(&key_path, &damaged).unwrap();
        let r = w.signer("alice", &["approve", b, "--out", o, "--yes"]);
        assert_eq!(r.code, 1, "{what}: {r:?}");
        assert!(
            r.stderr.contains("corrupted") || r.stderr.contains("unsupported key file"),
            "{what}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("wrong passphrase"),
            "{what}: {}",
            r.stderr
        );
        assert!(!out.exists());
    }
    std::fs::write(&key_path, flip(&key, key.len() / 2, 3)).unwrap();
    w.signer("alice", &["approve", b, "--out", o, "--yes"])
        .fails(1, "corrupted");
    let v2 = w.p("v2.draft");
    w.airlock(&[
        "vault",
        "draft",
        "--vault",
        "treasury",
        "--threshold",
        "3",
        "--out",
        path_str(&v2),
    ])
    .ok();
    w.signer(
        "alice",
        &["vault", "sign", path_str(&v2), "--out", o, "--yes"],
    )
    .fails(1, "corrupted");

    // Bob's key file in alice's home, opened with bob's passphrase: not alice's identity.
    std::fs::copy(w.signer_home("bob").join("identity.key"), &key_path).unwrap();
    w.signer_raw(&[
        "--home",
        path_str(&home),
        "--passphrase-file",
        path_str(&w.pass_file("bob")),
        "approve",
        b,
        "--out",
        o,
        "--yes",
    ])
    // An identity file that is not this signer's: its home was tampered with (an alarm).
    .fails(3, "does not match");
    assert!(!out.exists());
    std::fs::write(&key_path, &key).unwrap();
    assert_eq!(w.signer_files("alice"), files);

    // The passphrase file may also come from the environment; then it works.
    let ok = run(
        &signer_bin(),
        &["--home", path_str(&home), "approve", b, "--out", o, "--yes"],
        T0,
        &[("AIRLOCK_PASSPHRASE_FILE", path_str(&w.pass_file("alice")))],
    );
    ok.ok();
    assert!(out.exists());
}
