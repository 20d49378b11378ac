//! The coordinator and its witnesses, as real processes: `airlock witness add` registers an
//! `airlock-witness` serving on loopback; every bundle the coordinator exports then carries the
//! witness's C2SP cosignature on its checkpoint (verified here with the witness's published key,
//! and still accepted by the offline signer); a copied coordinator home that diverges is refused
//! by the witness as a split view, and the export stops with an alarm.

mod common;

use std::path::Path;
use std::process::Command;

use airlock_log::witness::WitnessVerifier;
use common::*;

type Witness = WitnessProcess;

/// Runs `airlock-witness` with `args` at the world's clock.
fn witness_cli(w: &World, args: &[&str]) -> Out {
    run(&witness_bin(), args, w.now.get(), &[])
}

fn start_witness(w: &World, log_key: &str) -> Witness {
    start_witness_in(w, "witness-home", log_key)
}

fn start_witness_in(w: &World, dir: &str, log_key: &str) -> Witness {
    start_witness_process(w, dir, log_key, &[])
}

/// The checkpoint note inside a bundle file.
fn bundle_checkpoint(bundle: &Path) -> String {
    let env = airlock_cli_support::read_signed_envelope(bundle).unwrap();
    let bundle: airlock_core::ProposalBundle = env.open().unwrap();
    bundle.evidence.checkpoint
}

#[test]
fn exported_bundles_carry_the_witness_cosignature_and_a_diverging_copy_is_refused() {
    let w = treasury();
    let log_key = log_key(&w);
    let witness = start_witness(&w, &log_key);
    let verifier = WitnessVerifier::from_vkey(&witness.vkey).unwrap();
    w.airlock(&["witness", "add", "not a key", "--url", &witness.url])
        .fails(1, "witness key");
    w.airlock(&["witness", "add", &witness.vkey, "--url", "ftp://x"])
        .fails(1, "http(s)://");
    w.airlock(&["witness", "add", &witness.vkey, "--url", &witness.url])
        .ok();
    let listed = w.airlock(&["--json", "witness", "list"]).ok().json();
    assert_eq!(listed[0]["vkey"], witness.vkey.as_str());

    // Every exported bundle's checkpoint carries the witness's cosignature, which verifies
    // with its published key; the signer reads the bundle as before.
    let (p1, bundle1) = w.propose("treasury", "acme-payroll:100", &[]);
    let note = bundle_checkpoint(&bundle1);
    assert_eq!(verifier.cosigned_at(&note), Some(w.now.get()), "{note}");
    let approval = w.approve("alice", &bundle1);
    w.submit(&[&approval]).ok();
    let exported = w.fresh("again.bundle");
    let out = w
        .airlock(&["--json", "export", &p1, "--out", path_str(&exported)])
        .ok()
        .json();
    assert!(out["witnesses"][0]["cosigned_at"].is_u64(), "{out}");
    assert!(
        verifier
            .cosigned_at(&bundle_checkpoint(&exported))
            .is_some()
    );
    let cosigned = w.airlock(&["--json", "witness", "cosign"]).ok().json();
    assert!(
        verifier
            .cosigned_at(cosigned["checkpoint"].as_str().unwrap())
            .is_some(),
        "{cosigned}"
    );

    // A copy of the home that diverges (a coordinator showing another history to someone):
    // the witness has cosigned the original's history, so the copy's checkpoint is refused
    // and its export stops with an alarm, before any signer sees it.
    let copy = w.p("diverged-home");
    copy_dir(&w.coordinator_home(), &copy);
    w.propose("treasury", "acme-rent:7", &[]);
    let fork_bundle = w.fresh("fork.bundle");
    w.airlock_in(
        &copy,
        &[
            "propose",
            "--vault",
            "treasury",
            "--to",
            "acme-rent:8",
            "--out",
            path_str(&fork_bundle),
        ],
    )
    .fails(3, "split view");
    w.airlock_in(&copy, &["witness", "cosign"])
        .fails(3, "split view");
    // The original goes on being cosigned.
    let (_, bundle3) = w.propose("treasury", "acme-payroll:300", &[]);
    assert!(verifier.cosigned_at(&bundle_checkpoint(&bundle3)).is_some());
    // The witness signed one HALT for the split view (asked twice, one event), for every vault.
    let halts = witness_cli(
        &w,
        &[
            "--home",
            path_str(&w.p("witness-home")),
            "--json",
            "halt",
            "list",
        ],
    )
    .ok()
    .json();
    let halts = halts.as_array().unwrap();
    assert_eq!(halts.len(), 1, "{halts:?}");
    assert_eq!(halts[0]["reason"], "split-view");
    assert_eq!(halts[0]["vault"], "");
}

/// Issue 14, item 2: a vault version names a witness set and k; its signers refuse a bundle
/// whose checkpoint lacks k valid cosignatures by that set, whatever the coordinator does.
#[test]
fn signers_refuse_bundles_without_the_vaults_witness_quorum() {
    let w = World::new();
    w.init_coordinator();
    let alice = w.init_signer("alice");
    let bob = w.init_signer("bob");
    let log_key = log_key(&w);
    let witness = start_witness(&w, &log_key);
    let alice_entry = format!("alice:ops:{alice}");
    let bob_entry = format!("bob:ops:{bob}");
    let base = [
        "--vault",
        "guarded",
        "--signer",
        alice_entry.as_str(),
        "--signer",
        bob_entry.as_str(),
        "--threshold",
        "2",
        "--rule",
        "default: => 1 ops",
    ];
    // Bad policies are refused when drafted.
    let draft = w.fresh("bad.draft");
    let mut bad = base.to_vec();
    bad.extend_from_slice(&["--witness", "not-a-key", "--out", path_str(&draft)]);
    let mut args = vec!["vault", "draft"];
    args.extend_from_slice(&bad);
    w.airlock(&args).fails(1, "--witness");
    let mut bad = base.to_vec();
    bad.extend_from_slice(&[
        "--witness",
        &witness.vkey,
        "--witness-threshold",
        "2",
        "--out",
        path_str(&draft),
    ]);
    let mut args = vec!["vault", "draft"];
    args.extend_from_slice(&bad);
    w.airlock(&args).fails(1, "witness threshold 2");

    let mut good = base.to_vec();
    good.extend_from_slice(&["--witness", &witness.vkey]);
    let vault_file = w.make_vault(&good, &["alice", "bob"], &["alice", "bob"]);
    let shown = w
        .airlock(&["--json", "inspect", path_str(&vault_file)])
        .ok()
        .json();
    assert_eq!(shown["payload"]["witness_threshold"], 1, "{shown}");

    // The coordinator has not registered the witness: its bundles carry no cosignature, and
    // the signer refuses to approve, naming what is missing.
    let (_, bundle) = w.propose("guarded", "payee:10", &[]);
    w.signer(
        "alice",
        &[
            "approve",
            path_str(&bundle),
            "--yes",
            "--out",
            path_str(&w.fresh("a.approval")),
        ],
    )
    .fails(
        1,
        "cosignatures by 0 of vault \"guarded\"'s witnesses, and 1 are required",
    );

    // Registered, the witness cosigns every export and the same signer approves.
    w.airlock(&["witness", "add", &witness.vkey, "--url", &witness.url])
        .ok();
    let (p2, bundle2) = w.propose("guarded", "payee:20", &[]);
    let approval = w.approve("alice", &bundle2);
    w.submit(&[&approval]).ok();
    assert_eq!(w.status(&p2)["status"], "ready");
    // Releases carry the cosignature too: abandoned, alice's reservation is released.
    let release = w.fresh("p2.release");
    w.airlock(&[
        "abandon",
        &p2,
        "--reason",
        "wrong payee",
        "--out",
        path_str(&release),
    ])
    .ok();
    w.signer("alice", &["release", path_str(&release)]).ok();

    // A coordinator that strips the cosignature from a bundle (and signs the bundle again with
    // its own key) gains nothing: the checkpoint alone is not enough.
    let (_, bundle3) = w.propose("guarded", "payee:30", &[]);
    let env = airlock_cli_support::read_signed_envelope(&bundle3).unwrap();
    let mut forged: airlock_core::ProposalBundle = env.open().unwrap();
    // Keep only the coordinator's own signature line: the witness's is dropped.
    let note = forged.evidence.checkpoint.clone();
    let body_end = note.find("\n\n").unwrap() + 2;
    let own = note[body_end..]
        .lines()
        .find(|l| l.starts_with(&format!("— {} ", "test.airlock/log")))
        .unwrap();
    forged.evidence.checkpoint = format!("{}{own}\n", &note[..body_end]);
    let mut resigned = airlock_core::Artifact::envelope(&forged);
    let coordinator_key =
        airlock_custody::load_plain_identity(&w.coordinator_home().join("identity.key")).unwrap();
    resigned.sign(coordinator_key.signing_key());
    let stripped = w.fresh("stripped.bundle");
    airlock_cli_support::write_envelope(&stripped, &resigned, false).unwrap();
    w.signer(
        "bob",
        &[
            "approve",
            path_str(&stripped),
            "--yes",
            "--out",
            path_str(&w.fresh("b.approval")),
        ],
    )
    .fails(1, "and 1 are required");
}

/// Issue 14, item 1: a verifying witness fetches every new entry from the service's published
/// tiles and replays it with the coordinator's own rules before cosigning; a transition written
/// straight into the coordinator's database that breaks them is never cosigned, and the
/// service's export stops.
#[test]
fn a_verifying_witness_replays_the_published_log_and_refuses_an_invalid_transition() {
    let w = treasury();
    let (proposal, _) = w.propose("treasury", "acme-payroll:100", &[]);
    let approval = w.approve("alice", &w.propose("treasury", "acme-payroll:200", &[]).1);
    w.submit(&[&approval]).ok();
    let log_key = log_key(&w);
    let witness = start_witness_in(&w, "verifying-witness", &log_key);
    let witness_home = w.p("verifying-witness");
    let verifier = WitnessVerifier::from_vkey(&witness.vkey).unwrap();
    w.airlock(&["witness", "add", &witness.vkey, "--url", &witness.url])
        .ok();
    // The witness replays the log this service publishes.
    let verify_from = |url: &str| witness_follow(&w, &witness_home, &log_key, url);
    let server = Server::start(&w, &[]);
    verify_from(&server.url);
    let bundle_url = format!("{}/api/v1/proposals/{proposal}/bundle", server.url);
    let bundle = |url: &str| -> (u16, Vec<u8>) {
        let r = common::http::get(url);
        (r.status, r.body)
    };
    let (status, body) = bundle(&bundle_url);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let env = airlock_core::Envelope::from_bytes(&body).unwrap();
    let note = env
        .open::<airlock_core::ProposalBundle>()
        .unwrap()
        .evidence
        .checkpoint;
    assert!(verifier.cosigned_at(&note).is_some(), "{note}");
    let cosigned_size = || {
        witness_cli(
            &w,
            &["--home", path_str(&witness_home), "--json", "log", "list"],
        )
        .ok()
        .json()[0]["size"]
            .as_u64()
            .unwrap()
    };
    let good_size = cosigned_size();
    assert_eq!(good_size, common::http::log_size(&w));
    // What the witness fetched: the leaves' artifacts a range at a time, each the artifact its
    // leaf names; ranges past the log or wider than a tile are refused.
    let range = common::http::get(&format!(
        "{}/api/v1/log/artifacts?start=0&count={good_size}",
        server.url
    ));
    assert_eq!(range.status, 200);
    let artifacts = airlock_log::tiles::decode_entries(&range.body).unwrap();
    assert_eq!(artifacts.len() as u64, good_size);
    let first = common::http::get(&format!("{}/api/v1/log/entries?from=0&limit=1", server.url));
    let first: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(
        airlock_core::Envelope::from_bytes(&artifacts[0])
            .unwrap()
            .id()
            .to_hex(),
        first["entries"][0]["artifact"].as_str().unwrap()
    );
    for bad in [
        format!("start={good_size}&count=1"),
        "start=0&count=0".to_owned(),
        "start=0&count=257".to_owned(),
        "start=18446744073709551615&count=2".to_owned(),
        "start=0".to_owned(),
    ] {
        let r = common::http::get(&format!("{}/api/v1/log/artifacts?{bad}", server.url));
        assert!(
            r.status == 400 || r.status == 404,
            "{bad}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    drop(server);

    // A leaf written straight into the database: a "proposal" record naming the vault's own
    // definition (signed by its signers, not by the coordinator), under a validly signed
    // checkpoint. The tree and signature are fine; the transition is not.
    {
        let home = airlock_coordinator::CoordinatorHome::open(&w.coordinator_home()).unwrap();
        let identity = home.identity().unwrap();
        let (_, vault_env) = home
            .coordinator()
            .unwrap()
            .vault_latest("treasury")
            .unwrap();
        let mut store = home.open_store(&identity).unwrap();
        let signer =
            airlock_log::CheckpointSigner::new("test.airlock/log", identity.signing_key().clone())
                .unwrap();
        let leaf = airlock_core::LogRecord {
            kind: "proposal".into(),
            artifact: vault_env.id(),
            vault_id: "treasury".into(),
            at: w.now.get(),
        };
        let sign =
            |size: u64, root: airlock_log::LogHash| Ok(signer.sign(size, root).unwrap().note);
        store
            .append(
                vec![airlock_coordinator::store::NewEntry {
                    artifact: None,
                    leaf: leaf.to_bytes(),
                    signer_seen: None,
                }],
                &sign,
            )
            .unwrap();
    }
    let server = Server::start(&w, &[]);
    // The restarted service listens on another port.
    verify_from(&server.url);
    let (status, body) = bundle(&format!(
        "{}/api/v1/proposals/{proposal}/bundle",
        server.url
    ));
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("invalid transition"), "{text}");
    assert_eq!(cosigned_size(), good_size, "nothing invalid was cosigned");
    // The witness halted every vault of the log for it and delivered the halt; the coordinator
    // refused it (the treasury vault names no witness: a halt outside its set is reported, never
    // obeyed), and the witness keeps the refusal.
    let halts = witness_cli(
        &w,
        &["--home", path_str(&witness_home), "--json", "halt", "list"],
    )
    .ok()
    .json();
    assert_eq!(halts[0]["reason"], "invalid-transition", "{halts}");
    assert_eq!(halts[0]["vault"], "", "{halts}");
    let delivery = halts[0]["delivery"].as_str().unwrap();
    assert!(
        delivery.starts_with("refused") && delivery.contains("signed by no witness"),
        "{halts}"
    );
}

/// A vault "guarded" (alice and bob, 2 to change it, 1 ops to pay) naming `witness` in its
/// witness set, with the witness registered on the coordinator.
fn guarded_vault(w: &World, witness: &Witness) {
    let alice = w.signer_key("alice");
    let bob = w.signer_key("bob");
    let alice_entry = format!("alice:ops:{alice}");
    let bob_entry = format!("bob:ops:{bob}");
    w.make_vault(
        &[
            "--vault",
            "guarded",
            "--signer",
            &alice_entry,
            "--signer",
            &bob_entry,
            "--threshold",
            "2",
            "--rule",
            "default: => 1 ops",
            "--witness",
            &witness.vkey,
        ],
        &["alice", "bob"],
        &["alice", "bob"],
    );
    w.airlock(&["witness", "add", &witness.vkey, "--url", &witness.url])
        .ok();
}

/// Issue 14, item 3: a HALT signed by a witness of the vault's set stops the signers (they
/// refuse to approve) and the coordinator (it finalizes nothing) until a RESUME approved by the
/// vault's threshold of signers is finalized; a halt signed by a key outside the set is refused
/// and changes nothing; the log with its halt and resume verifies.
#[test]
fn a_witness_halt_stops_approvals_and_finalization_until_the_signers_resume() {
    let w = World::new();
    w.init_coordinator();
    w.init_signer("alice");
    w.init_signer("bob");
    let log_key = log_key(&w);
    let witness = start_witness(&w, &log_key);
    guarded_vault(&w, &witness);
    let (ready, ready_bundle) = w.propose("guarded", "payee:10", &[]);
    let approval = w.approve("alice", &ready_bundle);
    w.submit(&[&approval]).ok();
    assert_eq!(w.status(&ready)["status"], "ready");

    // A witness outside the vault's set: its halt is refused, nothing is recorded.
    let rogue = w.p("rogue-witness");
    let rogue = path_str(&rogue);
    witness_cli(
        &w,
        &["--home", rogue, "init", "--name", "witness.test/rogue"],
    )
    .ok();
    witness_cli(&w, &["--home", rogue, "log", "add", &log_key]).ok();
    let rogue_halt = w.fresh("rogue.halt");
    witness_cli(
        &w,
        &[
            "--home",
            rogue,
            "halt",
            "issue",
            "--log",
            "test.airlock/log",
            "--vault",
            "guarded",
            "--detail",
            "I say so",
            "--out",
            path_str(&rogue_halt),
        ],
    )
    .ok();
    let size_before = common::http::log_size(&w);
    w.airlock(&["halt", "import", path_str(&rogue_halt)]).fails(
        1,
        "signed by no witness of that vault's witness set: ignored",
    );
    assert_eq!(common::http::log_size(&w), size_before, "nothing recorded");

    // The vault's own witness halts it.
    let witness_home = w.p("witness-home");
    let halt_file = w.fresh("chain.halt");
    let issued = witness_cli(
        &w,
        &[
            "--home",
            path_str(&witness_home),
            "--json",
            "halt",
            "issue",
            "--log",
            "test.airlock/log",
            "--vault",
            "guarded",
            "--reason",
            "chain",
            "--detail",
            "0.5 BTC left the vault without a finalized proposal",
            "--out",
            path_str(&halt_file),
        ],
    )
    .ok()
    .json();
    let halt_id = issued["halt"].as_str().unwrap().to_owned();
    let recorded = w
        .airlock(&["--json", "halt", "import", path_str(&halt_file)])
        .ok()
        .json();
    assert_eq!(recorded["new"], true, "{recorded}");
    // Importing it again changes nothing.
    let again = w
        .airlock(&["--json", "halt", "import", path_str(&halt_file)])
        .ok()
        .json();
    assert_eq!(again["new"], false, "{again}");
    let listed = w.airlock(&["--json", "halt", "list"]).ok().json();
    assert_eq!(listed[0]["in_force_for"][0], "guarded", "{listed}");
    // A second halt, for every vault of the log, by the same witness.
    let second_file = w.fresh("all.halt");
    let second = witness_cli(
        &w,
        &[
            "--home",
            path_str(&witness_home),
            "--json",
            "halt",
            "issue",
            "--log",
            "test.airlock/log",
            "--detail",
            "stop everything while we look",
            "--out",
            path_str(&second_file),
        ],
    )
    .ok()
    .json()["halt"]
        .as_str()
        .unwrap()
        .to_owned();
    w.airlock(&["halt", "import", path_str(&second_file)]).ok();

    // A rotation cannot lift it by dropping the witness, even signed by every signer.
    let dropped = w.p("guarded-unwitnessed.draft");
    w.airlock(&[
        "vault",
        "draft",
        "--vault",
        "guarded",
        "--no-witnesses",
        "--out",
        path_str(&dropped),
    ])
    .ok();
    let mut copies = Vec::new();
    for who in ["alice", "bob"] {
        let out = w.fresh(&format!("unwitnessed-{who}"));
        w.signer(
            who,
            &[
                "vault",
                "sign",
                path_str(&dropped),
                "--out",
                path_str(&out),
                "--yes",
            ],
        )
        .ok();
        copies.push(out);
    }
    w.airlock(&[
        "vault",
        "submit",
        path_str(&copies[0]),
        path_str(&copies[1]),
    ])
    .fails(1, "cannot drop that witness while the halt is in force");

    // The coordinator finalizes nothing; the signers approve nothing.
    w.airlock(&["finalize", &ready])
        .fails(1, "vault \"guarded\" is halted");
    let (blocked, blocked_bundle) = w.propose("guarded", "payee:20", &[]);
    w.signer(
        "bob",
        &[
            "approve",
            path_str(&blocked_bundle),
            "--yes",
            "--out",
            path_str(&w.fresh("blocked.approval")),
        ],
    )
    .fails(1, "HALT in force: witness witness.test/w1 halted guarded");

    // The RESUME: one approval is not enough (the vault's threshold is 2)…
    let resume_bundle = w.fresh("resume.bundle");
    let resume = w
        .airlock(&[
            "--json",
            "halt",
            "resume",
            &halt_id[..16],
            "--vault",
            "guarded",
            "--memo",
            "the movement was our own cold-storage sweep, checked on chain",
            "--out",
            path_str(&resume_bundle),
        ])
        .ok()
        .json()["proposal"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = w
        .signer("alice", &["--json", "review", path_str(&resume_bundle)])
        .ok()
        .json();
    assert!(
        shown
            .to_string()
            .contains("RESUME: approving lifts this halt"),
        "{shown}"
    );
    // The other halt does not block this RESUME; it stays in force after it.
    assert!(
        shown
            .to_string()
            .contains("another HALT stays in force after this RESUME"),
        "{shown}"
    );
    let a1 = w.approve("alice", &resume_bundle);
    w.submit(&[&a1]).ok();
    w.airlock(&["finalize", &resume]).fails(1, "not ready");
    let a2 = w.approve("bob", &resume_bundle);
    w.submit(&[&a2]).ok();
    w.airlock(&["finalize", &resume]).ok();
    w.airlock(&["broadcast", &resume])
        .fails(1, "nothing to broadcast");
    let listed = w.airlock(&["--json", "halt", "list"]).ok().json();
    assert_eq!(listed[0]["in_force_for"], serde_json::json!([]), "{listed}");
    assert_eq!(listed[1]["in_force_for"][0], "guarded", "{listed}");
    w.airlock(&["finalize", &ready])
        .fails(1, "stop everything while we look");
    let second_bundle = w.fresh("resume-2.bundle");
    let second_resume = w
        .airlock(&[
            "--json",
            "halt",
            "resume",
            &second[..12],
            "--vault",
            "guarded",
            "--out",
            path_str(&second_bundle),
        ])
        .ok()
        .json()["proposal"]
        .as_str()
        .unwrap()
        .to_owned();
    let b1 = w.approve("alice", &second_bundle);
    let b2 = w.approve("bob", &second_bundle);
    w.submit(&[&b1, &b2]).ok();
    w.airlock(&["finalize", &second_resume]).ok();

    // Lifted: the ready payment finalizes, a fresh bundle of the blocked one is approved.
    w.airlock(&["finalize", &ready]).ok();
    let fresh = w.fresh("blocked-again.bundle");
    w.airlock(&["export", &blocked, "--out", path_str(&fresh)])
        .ok();
    let approval = w.approve("bob", &fresh);
    w.submit(&[&approval]).ok();
    assert_eq!(w.status(&blocked)["status"], "ready");
    let report = w.airlock(&["--json", "log", "verify"]).ok().json();
    assert_eq!(report["halts"], 2, "{report}");
}

/// Issue 14, item 1, on one machine: the coordinator publishes its log into a directory
/// (`airlock log publish`, then again before every round of asking the witnesses); a witness
/// verifies from it (`--verify-dir`), replays every proposal, and its anomaly rule halts the
/// vault; with no service to deliver to, the operator exports the halt and carries it to the
/// coordinator and a signer.
#[test]
fn a_witness_on_the_same_machine_verifies_from_the_published_directory() {
    let w = World::new();
    w.init_coordinator();
    w.init_signer("alice");
    w.init_signer("bob");
    let log_key = log_key(&w);
    let witness = start_witness(&w, &log_key);
    guarded_vault(&w, &witness);
    let witness_home = w.p("witness-home");
    let dir = w.p("published");
    witness_cli(
        &w,
        &[
            "--home",
            path_str(&witness_home),
            "log",
            "add",
            &log_key,
            "--verify-dir",
            path_str(&dir),
        ],
    )
    .fails(1, "no published log there");
    let published = w
        .airlock(&["--json", "log", "publish", path_str(&dir)])
        .ok()
        .json();
    assert_eq!(published["size"], common::http::log_size(&w), "{published}");
    assert!(dir.join("log/checkpoint").is_file());
    let again = w
        .airlock(&["--json", "log", "publish", path_str(&dir)])
        .ok()
        .json();
    assert_eq!(again["artifacts_written"], 0, "nothing new: {again}");
    witness_cli(
        &w,
        &[
            "--home",
            path_str(&witness_home),
            "log",
            "add",
            &log_key,
            "--verify-dir",
            path_str(&dir),
        ],
    )
    .ok();
    witness_cli(
        &w,
        &[
            "--home",
            path_str(&witness_home),
            "rules",
            "--max-proposals-per-hour",
            "1",
        ],
    )
    .ok();
    let (first, _) = w.propose("guarded", "payee:10", &[]);
    let (_, bundle) = w.propose("guarded", "payee:20", &[]);
    // The witness replayed both proposals from the directory and cosigned.
    let size = common::http::log_size(&w);
    let logs = witness_cli(
        &w,
        &["--home", path_str(&witness_home), "--json", "log", "list"],
    )
    .ok()
    .json();
    assert_eq!(logs[0]["size"], size, "{logs}");
    let halts = witness_cli(
        &w,
        &["--home", path_str(&witness_home), "--json", "halt", "list"],
    )
    .ok()
    .json();
    assert_eq!(halts.as_array().map(Vec::len), Some(1), "{halts}");
    assert_eq!(halts[0]["reason"], "anomaly", "{halts}");
    assert_eq!(halts[0]["delivery"], "", "nothing to deliver to: {halts}");
    // The bundle still verifies for Bob (cosigned); the halt is carried by hand.
    let review = w
        .signer("bob", &["--json", "review", path_str(&bundle)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], true, "{review}");
    let halt_file = w.fresh("anomaly.halt");
    witness_cli(
        &w,
        &[
            "--home",
            path_str(&witness_home),
            "halt",
            "export",
            &halts[0]["id"].as_str().unwrap()[..12],
            "--out",
            path_str(&halt_file),
        ],
    )
    .ok();
    w.airlock(&["halt", "import", path_str(&halt_file)]).ok();
    w.signer("bob", &["halt", "import", path_str(&halt_file)])
        .ok();
    let review = w
        .signer("bob", &["--json", "review", path_str(&bundle)])
        .ok()
        .json();
    assert_eq!(
        review["can_approve"], false,
        "the held halt stops Bob: {review}"
    );
    let listed = w.airlock(&["--json", "halt", "list"]).ok().json();
    assert_eq!(listed[0]["in_force_for"][0], "guarded", "{listed}");
    let fresh = w.fresh("first-again.bundle");
    w.airlock(&["export", &first, "--out", path_str(&fresh)])
        .ok();
    w.signer(
        "alice",
        &[
            "approve",
            path_str(&fresh),
            "--yes",
            "--out",
            path_str(&w.fresh("no.approval")),
        ],
    )
    .fails(1, "HALT in force");
}

/// Issue 14, item 3: a halt handed to a signer directly (`airlock-signer halt import`) stops
/// its approvals even though the coordinator's bundles leave the halt out; a halt by a key
/// outside the vault's witness set, or a file that is no halt, is refused and nothing is kept;
/// approving the halt's RESUME ends it on that signer.
#[test]
fn a_halt_handed_to_a_signer_stops_it_even_when_the_coordinator_leaves_it_out() {
    let w = World::new();
    w.init_coordinator();
    w.init_signer("alice");
    w.init_signer("bob");
    let log_key = log_key(&w);
    let witness = start_witness(&w, &log_key);
    guarded_vault(&w, &witness);
    let issue = |home: &str, out: &Path| {
        witness_cli(
            &w,
            &[
                "--home",
                home,
                "--json",
                "halt",
                "issue",
                "--log",
                "test.airlock/log",
                "--vault",
                "guarded",
                "--reason",
                "chain",
                "--detail",
                "coins left the vault outside Airlock",
                "--out",
                path_str(out),
            ],
        )
        .ok()
        .json()["halt"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let halt_file = w.fresh("direct.halt");
    let halt_id = issue(path_str(&w.p("witness-home")), &halt_file);
    let rogue = w.p("rogue-witness");
    witness_cli(
        &w,
        &[
            "--home",
            path_str(&rogue),
            "init",
            "--name",
            "witness.test/rogue",
        ],
    )
    .ok();
    witness_cli(&w, &["--home", path_str(&rogue), "log", "add", &log_key]).ok();
    let rogue_file = w.fresh("rogue.halt");
    issue(path_str(&rogue), &rogue_file);

    // Refusals keep nothing.
    w.signer("alice", &["halt", "import", path_str(&rogue_file)])
        .fails(1, "signed by no witness of a vault registered here");
    let not_a_halt = w.fresh("not-a-halt.bin");
    std::fs::write(&not_a_halt, b"\x01\x02 no envelope").unwrap();
    w.signer("alice", &["halt", "import", path_str(&not_a_halt)])
        .fails(1, "not-a-halt.bin");
    let held = w.signer("alice", &["--json", "halt", "list"]).ok().json();
    assert_eq!(held, serde_json::json!([]), "{held}");

    let kept = w
        .signer("alice", &["--json", "halt", "import", path_str(&halt_file)])
        .ok()
        .json();
    assert_eq!(kept["vaults"], serde_json::json!(["guarded"]), "{kept}");
    assert_eq!(kept["new"], true, "{kept}");
    let again = w
        .signer("alice", &["--json", "halt", "import", path_str(&halt_file)])
        .ok()
        .json();
    assert_eq!(again["new"], false, "{again}");

    // The coordinator never recorded the halt: its bundle does not carry it. Alice refuses
    // anyway; Bob, who was not handed the halt, would approve.
    let (p, bundle) = w.propose("guarded", "payee:10", &[]);
    let review = w
        .signer("alice", &["--json", "review", path_str(&bundle)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], false, "{review}");
    w.signer(
        "alice",
        &[
            "approve",
            path_str(&bundle),
            "--yes",
            "--out",
            path_str(&w.fresh("refused.approval")),
        ],
    )
    .fails(1, "HALT in force: witness witness.test/w1 halted guarded");
    let bob_review = w
        .signer("bob", &["--json", "review", path_str(&bundle)])
        .ok()
        .json();
    assert_eq!(bob_review["can_approve"], true, "{bob_review}");

    // The team lifts it: the coordinator records it, both approve its RESUME; on Alice the held
    // halt ends with her own approval of the RESUME.
    w.airlock(&["halt", "import", path_str(&halt_file)]).ok();
    let resume_bundle = w.fresh("resume.bundle");
    let resume = w
        .airlock(&[
            "--json",
            "halt",
            "resume",
            &halt_id[..16],
            "--vault",
            "guarded",
            "--out",
            path_str(&resume_bundle),
        ])
        .ok()
        .json()["proposal"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = w.approve("alice", &resume_bundle);
    let b = w.approve("bob", &resume_bundle);
    w.submit(&[&a, &b]).ok();
    w.airlock(&["finalize", &resume]).ok();
    let held = w.signer("alice", &["--json", "halt", "list"]).ok().json();
    assert_eq!(held[0]["in_force_for"], serde_json::json!([]), "{held}");
    let fresh = w.fresh("after.bundle");
    w.airlock(&["export", &p, "--out", path_str(&fresh)]).ok();
    let approval = w.approve("alice", &fresh);
    w.submit(&[&approval]).ok();
    assert_eq!(w.status(&p)["status"], "ready");
}

/// Issue 14, items 1 and 3: a verifying witness with an anomaly rule halts the vault whose
/// proposal fires it, delivers the halt to the service (which records it), and the bundle the
/// service hands out carries the halt, so the signer refuses to approve.
#[test]
fn an_anomaly_rule_on_the_verifying_witness_halts_the_vault_through_the_service() {
    let w = World::new();
    w.init_coordinator();
    w.init_signer("alice");
    w.init_signer("bob");
    let log_key = log_key(&w);
    let witness = start_witness(&w, &log_key);
    guarded_vault(&w, &witness);
    let witness_home = w.p("witness-home");
    let rules = witness_cli(
        &w,
        &[
            "--home",
            path_str(&witness_home),
            "--json",
            "rules",
            "--first-destination-above",
            "50",
        ],
    )
    .ok()
    .json();
    assert_eq!(rules["first_destination_above"], 50, "{rules}");
    let (small, _) = w.propose("guarded", "payee:40", &[]);
    let (large, _) = w.propose("guarded", "stranger:100", &[]);

    // The service asks its witnesses every second: once the witness verifies, the rule fires
    // within a round, without any bundle leaving, and the published checkpoint is cosigned.
    let server = Server::start(&w, &["--witness-every", "1"]);
    witness_follow(&w, &witness_home, &log_key, &server.url);
    let verifier = WitnessVerifier::from_vkey(&witness.vkey).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let halts = common::http::get(&format!("{}/api/v1/halts", server.url));
        let halts: serde_json::Value = serde_json::from_slice(&halts.body).unwrap();
        let checkpoint = common::http::get(&format!("{}/log/checkpoint", server.url));
        let note = String::from_utf8(checkpoint.body).unwrap();
        if halts.as_array().is_some_and(|a| !a.is_empty()) && verifier.cosigned_at(&note).is_some()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no halt within 60 s: {halts}\n{note}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let r = common::http::get(&format!("{}/api/v1/proposals/{large}/bundle", server.url));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let env = airlock_core::Envelope::from_bytes(&r.body).unwrap();
    let bundle: airlock_core::ProposalBundle = env.open().unwrap();
    assert_eq!(bundle.halts.len(), 1, "the bundle carries the halt");
    assert!(verifier.cosigned_at(&bundle.evidence.checkpoint).is_some());
    let halts = common::http::get(&format!("{}/api/v1/halts", server.url));
    let halts: serde_json::Value = serde_json::from_slice(&halts.body).unwrap();
    assert_eq!(halts[0]["reason"], "anomaly", "{halts}");
    assert_eq!(halts[0]["in_force_for"][0], "guarded", "{halts}");
    assert!(
        halts[0]["detail"].as_str().unwrap().contains("stranger"),
        "{halts}"
    );
    let delivered = witness_cli(
        &w,
        &["--home", path_str(&witness_home), "--json", "halt", "list"],
    )
    .ok()
    .json();
    assert_eq!(delivered[0]["delivery"], "recorded", "{delivered}");
    // The small proposal's bundle carries it too: the whole vault is halted.
    let r = common::http::get(&format!("{}/api/v1/proposals/{small}/bundle", server.url));
    assert_eq!(r.status, 200);
    let bundle_file = w.fresh("small.bundle");
    std::fs::write(&bundle_file, &r.body).unwrap();
    drop(server);
    w.signer(
        "alice",
        &[
            "approve",
            path_str(&bundle_file),
            "--yes",
            "--out",
            path_str(&w.fresh("small.approval")),
        ],
    )
    .fails(1, "HALT in force");
}

/// Issue 14, item 5: `airlock witness list` and `GET /api/v1/witnesses` show each witness's
/// largest cosigned size, the vaults that name it and its halts; the dashboard (Debian's
/// chromium, driven by playwright-core: `tests/dashboard/halt.mjs`) shows the same, the vault's
/// witness set and the halt in force.
#[test]
fn the_dashboard_shows_the_witness_set_and_a_halt_in_force() {
    let playwright =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/dashboard");
    assert!(
        playwright
            .join("node_modules/playwright-core/package.json")
            .is_file(),
        "the dashboard suite needs chromium and playwright-core: run scripts/install-dashboard-peers.sh"
    );
    let w = World::new();
    w.init_coordinator();
    w.init_signer("alice");
    w.init_signer("bob");
    let witness = start_witness(&w, &log_key(&w));
    guarded_vault(&w, &witness);
    let detail = "a Safe owner changed outside Airlock";
    let halt_file = w.fresh("owner.halt");
    witness_cli(
        &w,
        &[
            "--home",
            path_str(&w.p("witness-home")),
            "halt",
            "issue",
            "--log",
            "test.airlock/log",
            "--reason",
            "chain",
            "--detail",
            detail,
            "--out",
            path_str(&halt_file),
        ],
    )
    .ok();
    let halt = w
        .airlock(&["--json", "halt", "import", path_str(&halt_file)])
        .ok()
        .json();
    w.airlock(&["witness", "cosign"]).ok();
    let size = common::http::log_size(&w);
    let listed = w.airlock(&["--json", "witness", "list"]).ok().json();
    assert_eq!(listed[0]["cosigned_size"], size, "{listed}");
    assert_eq!(
        listed[0]["vaults"],
        serde_json::json!(["guarded"]),
        "{listed}"
    );
    assert_eq!(listed[0]["halts"][0][0], halt["id"], "{listed}");
    assert_eq!(
        listed[0]["halts"][0][2],
        serde_json::json!(["guarded"]),
        "{listed}"
    );
    let server = Server::start(&w, &[]);
    let served = common::http::get(&format!("{}/api/v1/witnesses", server.url)).json();
    assert_eq!(served, listed, "the service shows what the CLI shows");
    let out = Command::new("node")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard/halt.mjs"))
        .env("PLAYWRIGHT_DIR", &playwright)
        .env("SERVICE_URL", &server.url)
        .env("HALT_DETAIL", detail)
        .env("HALT_ID", halt["id"].as_str().unwrap())
        .env("COSIGNED_SIZE", size.to_string())
        .env(
            "SHOTS_DIR",
            std::env::var("AIRLOCK_DASHBOARD_SHOTS").unwrap_or_default(),
        )
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "the browser check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
