//! Hardening through the real binaries: bundles reviewed out of order are not alarms, strangers'
//! signatures are refused wherever an artifact enters, reservations end with an abandoned
//! proposal, and alarms exit 3 from every command (exit codes documented in `--help`).

mod common;

use std::path::Path;

use common::*;
use ed25519_dalek::SigningKey;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The coordinator's identity key (a plain file in its home): what a hostile coordinator holds.
fn coordinator_key(w: &World) -> SigningKey {
    airlock_custody::load_plain_identity(&w.coordinator_home().join("identity.key"))
        .unwrap()
        .signing_key()
        .clone()
}

/// Propose p2 then p3; the signer approves p3, then reviews (and approves) p2's older bundle: it
/// is checked against the consistency proof the signer kept and reviewed, not a split view. A
/// bundle the signer cannot place is refused as stale (exit 1), with no evidence file.
#[test]
fn an_older_bundle_of_the_same_history_is_reviewed_not_an_alarm() {
    let w = treasury();
    let (p2, b2) = w.propose("treasury", "acme-rent:2", &[]);
    let (_, b3) = w.propose("treasury", "acme-rent:3", &[]);
    let a3 = w.approve("alice", &b3);
    w.signer("alice", &["review", s(&b2)])
        .ok()
        .says("older checkpoint");
    let a2 = w.approve("alice", &b2);
    w.submit(&[&a3, &a2]).ok();
    assert_eq!(w.status(&p2)["status"], "ready");
    assert!(!w.signer_home("alice").join("log/evidence").exists());

    // A signer state without the kept proofs (an older signer, say) cannot place an old bundle.
    let (p4, b4) = w.propose("treasury", "acme-rent:4", &[]);
    let (_, b5) = w.propose("treasury", "acme-rent:5", &[]);
    w.approve("bob", &b5);
    for entry in std::fs::read_dir(w.signer_home("bob").join("log")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "proofs") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let out = w.p("bob-b4.approval");
    w.signer("bob", &["approve", s(&b4), "--out", s(&out), "--yes"])
        .fails(1, "stale bundle");
    assert!(!out.exists());
    assert!(!w.signer_home("bob").join("log/evidence").exists());
    // Exported again, it carries a proof from bob's checkpoint.
    let fresh = w.p("b4-again.bundle");
    w.airlock(&["export", &p4, "--out", s(&fresh)]).ok();
    w.approve("bob", &fresh);
}

/// A valid signature by a key with no role in an artifact is refused wherever the artifact
/// enters (decision at the coordinator, bundle and proposal at the signer, vault copy at the
/// coordinator), naming the key; nothing is stored.
#[test]
fn signatures_by_strangers_are_refused_everywhere() {
    let w = treasury();
    let stranger = SigningKey::from_bytes(&[7u8; 32]);
    let stranger_hex = hex::encode(stranger.verifying_key().to_bytes());
    let (_, bundle) = w.propose("treasury", "acme-rent:2", &[]);

    // An approval countersigned by a stranger.
    let approval = w.approve("alice", &bundle);
    let mut env = Env::read(&approval);
    env.sign_with(&stranger);
    let tampered = w.p("countersigned.approval");
    env.write(&tampered);
    let before = w.coordinator_state();
    w.submit(&[&tampered])
        .fails(1, "has no role in it")
        .fails(1, &stranger_hex);
    assert_eq!(w.coordinator_state(), before);
    w.submit(&[&approval]).ok();

    // A bundle (its own envelope, or the proposal inside) countersigned by a stranger.
    let (_, bundle) = w.propose("treasury", "acme-rent:3", &[]);
    let mut outer = Env::read(&bundle);
    outer.sign_with(&stranger);
    let b1 = w.p("outer.bundle");
    outer.write(&b1);
    w.signer("bob", &["review", s(&b1)])
        .fails(1, "has no role in it");
    let mut inner_bundle = Env::read(&bundle);
    let mut payload = inner_bundle.payload_cbor();
    let mut proposal = Env::parse(payload.get(1).bytes());
    proposal.sign_with(&stranger);
    payload.set(1, Cbor::B(proposal.to_bytes()));
    inner_bundle.payload = encode(&payload);
    inner_bundle.sigs.clear();
    inner_bundle.sign_with(&coordinator_key(&w));
    let b2 = w.p("inner.bundle");
    inner_bundle.write(&b2);
    w.signer("bob", &["review", s(&b2)])
        .fails(1, "has no role in it");

    // A vault draft copy countersigned by a stranger.
    let draft = w.p("v2.draft");
    w.airlock(&[
        "vault",
        "draft",
        "--vault",
        "treasury",
        "--threshold",
        "3",
        "--out",
        s(&draft),
    ])
    .ok();
    let mut copies = Vec::new();
    for who in ["alice", "bob", "carol"] {
        let out = w.p(&format!("v2.{who}"));
        w.signer(
            who,
            &["vault", "sign", s(&draft), "--out", s(&out), "--yes"],
        )
        .ok();
        copies.push(out);
    }
    let mut env = Env::read(&copies[0]);
    env.sign_with(&stranger);
    env.write(&copies[0]);
    let before = w.coordinator_state();
    let mut args = vec!["vault", "submit"];
    args.extend(copies.iter().map(|c| s(c)));
    w.airlock(&args).fails(1, "has no role in it");
    assert_eq!(w.coordinator_state(), before);
}

/// An approval's reservation of what it spends ends when its proposal is abandoned: the
/// coordinator records it (signed, in the log), exports the release bundle, the signer checks it
/// and journals the release. Checked on every refusal path: a forged or foreign record, a proposal
/// the signer did not approve, releasing twice.
#[test]
fn an_abandoned_proposal_releases_its_approvals() {
    let w = treasury();
    let (p, bundle) = w.propose("treasury", "acme-rent:2", &[]);
    let approval = w.approve("alice", &bundle);
    w.submit(&[&approval]).ok();
    w.airlock(&["abandon", &p, "--reason", ""])
        .fails(1, "needs a reason");
    let release = w.p("p.release");
    w.airlock(&[
        "abandon",
        &p,
        "--reason",
        "wrong invoice",
        "--out",
        s(&release),
    ])
    .ok()
    .says("abandoned");
    assert_eq!(w.status(&p)["status"], "abandoned");
    w.airlock(&["finalize", &p]).fails(1, "abandoned");
    w.airlock(&["abandon", &p, "--reason", "again"])
        .fails(1, "already abandoned");
    w.airlock(&["log", "verify"]).ok();

    // Bob did not approve it: nothing to release.
    w.signer("bob", &["release", s(&release)])
        .fails(1, "did not approve");
    // A record altered after signing is refused.
    let mut forged = Env::read(&release);
    let mut payload = forged.payload_cbor();
    let mut event = Env::parse(payload.get(1).bytes());
    let last = event.payload.len() - 3;
    event.payload[last] ^= 1;
    payload.set(1, Cbor::B(event.to_bytes()));
    forged.payload = encode(&payload);
    forged.sigs.clear();
    forged.sign_with(&coordinator_key(&w));
    let forged_file = w.p("forged.release");
    forged.write(&forged_file);
    let journal = w.journal("alice");
    assert_ne!(w.signer("alice", &["release", s(&forged_file)]).code, 0);
    assert_eq!(w.journal("alice"), journal);

    w.signer("alice", &["release", s(&release)])
        .ok()
        .says("Released");
    w.signer("alice", &["release", s(&release)])
        .ok()
        .says("already released");
    let entries = w.journal("alice");
    assert_eq!(
        entries.as_array().unwrap().last().unwrap()["decision"],
        "release"
    );
    w.signer("alice", &["journal", "verify"]).ok();
    // `airlock export` of an abandoned proposal writes its release bundle again.
    let again = w.p("again.release");
    w.airlock(&["export", &p, "--out", s(&again)])
        .ok()
        .says("release bundle");
    w.signer("alice", &["release", s(&again)]).ok();
}

/// Every alarm exits 3, whichever command meets it, and `--help` documents the codes.
#[test]
fn alarms_exit_3_from_every_command_and_help_lists_the_codes() {
    let w = treasury();
    let (_, bundle) = w.propose("treasury", "acme-rent:2", &[]);
    w.approve("alice", &bundle);
    let (_, bundle) = w.propose("treasury", "acme-rent:3", &[]);
    // Tamper with alice's journal: an edited amount.
    let journal = w.signer_home("alice").join("journal.log");
    let text = std::fs::read_to_string(&journal).unwrap();
    std::fs::write(&journal, text.replacen("\"amount\":2", "\"amount\":1", 1)).unwrap();
    let out = w.p("x.approval");
    for args in [
        vec!["review", s(&bundle)],
        vec!["approve", s(&bundle), "--out", s(&out), "--yes"],
        vec!["reject", s(&bundle), "--reason", "x", "--out", s(&out)],
        vec!["journal", "verify"],
        vec!["journal", "show"],
        vec!["status"],
    ] {
        w.signer("alice", &args).fails(3, "tampered");
    }
    assert!(!out.exists());
    for help in [
        w.airlock(&["--help"]).ok().stdout,
        w.signer_raw(&["--help"]).ok().stdout,
    ] {
        assert!(
            help.contains("Exit codes") && help.contains("3  ALARM"),
            "{help}"
        );
    }
}

/// A second writer on a busy home waits, or with a wait limit says the device is busy (exit 4).
#[test]
fn a_busy_home_is_waited_for_or_reported() {
    let w = treasury();
    let home = w.signer_home("alice");
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(home.join("lock"))
        .unwrap();
    lock.lock().unwrap();
    let (_, bundle) = w.propose("treasury", "acme-rent:2", &[]);
    let out = w.p("a.approval");
    let busy = run(
        &signer_bin(),
        &[
            "--home",
            s(&home),
            "--passphrase-file",
            s(&w.pass_file("alice")),
            "approve",
            s(&bundle),
            "--out",
            s(&out),
            "--yes",
        ],
        T0,
        &[("AIRLOCK_LOCK_WAIT", "0.2")],
    );
    busy.fails(4, "busy");
    assert!(!out.exists());
    lock.unlock().unwrap();
    w.approve("alice", &bundle);
}

/// A finalized proposal that expired before it was broadcast is not broadcast: its signers'
/// reservations have ended with it.
#[test]
fn an_expired_proposal_is_never_broadcast() {
    let w = treasury();
    let (p, bundle) = w.propose("treasury", "acme-rent:2", &[]);
    let a = w.approve("alice", &bundle);
    w.submit(&[&a]).ok();
    w.airlock(&["finalize", &p]).ok();
    w.set_now(T0 + 3 * HOUR);
    w.airlock(&["broadcast", &p]).fails(1, "expired");
    assert_eq!(w.status(&p)["status"], "finalized");
    w.airlock(&["log", "verify"]).ok();
}
