//! End-to-end flows through the real binaries: the demo's happy path with JSON checks, and the
//! lifecycle rules a user meets (not ready, rejected, expired, superseded, rolling windows).

mod common;

use common::*;

/// The whole demo: vault v1, a routine payment finalized, a large payment rejected by compliance,
/// bob rotated out for dave (vault v2), a payment under v2, the log re-verified with exact counts.
#[test]
fn demo_flow_end_to_end() {
    let w = treasury();

    // Every signer registered the same version 1.
    let list = w.airlock(&["--json", "vault", "list"]).ok().json();
    assert_eq!(list[0]["vault"], "treasury");
    assert_eq!(list[0]["version"], 1);
    let v1_id = list[0]["id"].as_str().unwrap().to_owned();
    for who in ["alice", "bob", "carol"] {
        let reg = w.signer(who, &["--json", "vault", "list"]).ok().json();
        assert_eq!(reg[0]["id"].as_str(), Some(v1_id.as_str()), "{who}");
    }

    // A routine payment: collecting -> ready -> finalized.
    let (rent, rent_bundle, rule) = w.propose_rule("treasury", "acme-rent:900");
    assert_eq!(rule, "routine");
    let st = w.status(&rent);
    assert_eq!(st["status"], "collecting");
    assert_eq!(st["missing"][0]["role"], "ops");
    assert_eq!(st["missing"][0]["needed"], 1);
    let review = w
        .signer("alice", &["--json", "review", path_str(&rent_bundle)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], true);
    assert_eq!(review["proposal"].as_str(), Some(rent.as_str()));
    assert_eq!(review["payments"][0][0], "acme-rent");
    assert_eq!(review["payments"][0][1], 900);
    let alice_rent = w.approve("alice", &rent_bundle);
    let submitted = w.submit(&[&alice_rent]).ok().json();
    assert_eq!(submitted[0]["status"], "ready");
    assert_eq!(submitted[0]["decision"], "approve");
    assert_eq!(w.status(&rent)["status"], "ready");
    let fin = w.airlock(&["--json", "finalize", &rent]).ok().json();
    assert_eq!(fin["proposal"].as_str(), Some(rent.as_str()));
    assert_eq!(fin["approvals"].as_array().unwrap().len(), 1);
    let st = w.status(&rent);
    assert_eq!(st["status"], "finalized");
    assert_eq!(st["approved"][0], "alice");
    assert!(st["finalized"]["record"].is_string());

    // A large payment: alice and bob approve, carol (the only compliance signer) rejects.
    let (big, big_bundle, rule) = w.propose_rule("treasury", "unknown-exchange:250000");
    assert_eq!(rule, "large");
    let a = w.approve("alice", &big_bundle);
    let b = w.approve("bob", &big_bundle);
    let c = w.reject("carol", &big_bundle, "destination not on the approved list");
    let submitted = w.submit(&[&a, &b]).ok().json();
    assert_eq!(submitted.as_array().unwrap().len(), 2);
    assert_eq!(submitted[1]["status"], "collecting");
    assert_eq!(w.status(&big)["missing"][0]["role"], "compliance");
    let submitted = w.submit(&[&c]).ok().json();
    assert_eq!(submitted[0]["decision"], "reject");
    assert_eq!(submitted[0]["status"], "rejected");
    let st = w.status(&big);
    assert_eq!(st["status"], "rejected");
    assert_eq!(st["approved"], serde_json::json!(["alice", "bob"]));
    assert_eq!(st["rejected"][0]["signer"], "carol");
    assert_eq!(
        st["rejected"][0]["reason"],
        "destination not on the approved list"
    );
    let text = w.airlock(&["status", &big]).ok().stdout;
    assert!(text.contains("REJECTED"), "{text}");
    assert!(text.contains("carol — destination not on the approved list"));

    // Rotation: bob out, dave in; 2 of v1 (alice, carol) and 2 of v2 sign.
    let dave = w.init_signer("dave");
    w.make_vault(
        &[
            "--vault",
            "treasury",
            "--remove-signer",
            "bob",
            "--add-signer",
            &format!("dave:ops:{dave}"),
        ],
        &["alice", "carol"],
        &["alice", "carol", "dave"],
    );
    let list = w.airlock(&["--json", "vault", "list"]).ok().json();
    assert_eq!(list[0]["version"], 2);
    let v2 = w
        .airlock(&["--json", "vault", "show", "treasury"])
        .ok()
        .json();
    let names: Vec<&str> = v2["payload"]["signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "carol", "dave"]);
    assert!(
        v2["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["valid"] == true)
    );
    let dave_list = w.signer("dave", &["--json", "vault", "list"]).ok().json();
    assert_eq!(dave_list[0]["version"], 2);

    // A payment under v2: dave (new ops signer) is enough for the routine rule.
    let (p3, p3_bundle, _) = w.propose_rule("treasury", "acme-payroll:500");
    assert_eq!(w.status(&p3)["vault_version"], 2);
    let d = w.approve("dave", &p3_bundle);
    assert_eq!(w.submit(&[&d]).ok().json()[0]["status"], "ready");

    // The log re-checks everything: 2 vault versions, 3 proposals, 4 approvals, 1 rejection,
    // 1 finalized; one checkpoint per append.
    let report = w.airlock(&["--json", "log", "verify"]).ok().json();
    assert_eq!(report["vault_versions"], 2);
    assert_eq!(report["proposals"], 3);
    assert_eq!(report["approvals"], 4);
    assert_eq!(report["rejections"], 1);
    assert_eq!(report["finalized"], 1);
    assert_eq!(report["size"], 11);
    assert_eq!(report["checkpoints"], 10);
    let log = w.airlock(&["--json", "log", "show"]).ok().json();
    assert_eq!(log.as_array().unwrap().len(), 11);
    assert_eq!(log[0]["kind"], "vault-version");
    assert_eq!(log[1]["kind"], "proposal");
    let cp = w.airlock(&["--json", "log", "checkpoint"]).ok().json();
    assert_eq!(cp["size"], 11);
    assert!(
        cp["note"]
            .as_str()
            .unwrap()
            .starts_with("test.airlock/log\n11\n")
    );

    // Each signer's journal holds its own decisions, hash-chained.
    let j = w.journal("alice");
    assert_eq!(j.as_array().unwrap().len(), 2);
    assert_eq!(j[0]["decision"], "approve");
    assert_eq!(j[0]["amount"], 900);
    assert_eq!(j[1]["prev"], j[0]["hash"]);
    let v = w
        .signer("carol", &["--json", "journal", "verify"])
        .ok()
        .json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["entries"], 1);

    // inspect names and checks every signature.
    let text = w.airlock(&["inspect", path_str(&alice_rent)]).ok().stdout;
    assert!(text.starts_with("APPROVAL artifact "), "{text}");
    assert!(
        text.contains("(alice (ops of vault treasury)): VALID"),
        "{text}"
    );
    let j = w
        .signer("bob", &["--json", "inspect", path_str(&alice_rent)])
        .ok()
        .json();
    assert_eq!(j["kind"], "approval");
    assert_eq!(j["signatures"][0]["valid"], true);
    assert_eq!(j["all_signatures_valid"], true);
    assert_eq!(j["payload"]["decision"], "approve");
}

/// Finalizing a proposal that is still collecting is refused with what is missing, and changes
/// nothing; `status` lists the same gaps and who has not decided.
#[test]
fn finalize_before_ready_names_what_is_missing() {
    let w = treasury();
    let (big, bundle) = w.propose("treasury", "unknown-exchange:5000", &[]);
    let a = w.approve("alice", &bundle);
    w.submit(&[&a]).ok();
    let st = w.status(&big);
    assert_eq!(st["status"], "collecting");
    assert_eq!(st["rule"], "large");
    assert_eq!(
        st["missing"],
        serde_json::json!([
            { "role": "ops", "needed": 2, "have": 1 },
            { "role": "compliance", "needed": 1, "have": 0 }
        ])
    );
    assert_eq!(st["undecided"], serde_json::json!(["bob", "carol"]));
    let text = w.airlock(&["status", &big]).ok().stdout;
    assert!(
        text.contains("missing:   needs 2 of ops (has 1), needs 1 of compliance (has 0)"),
        "{text}"
    );

    let before = w.coordinator_state();
    let out = w.airlock(&["finalize", &big]).fails(1, "not ready");
    assert!(
        out.stderr.contains("needs 2 of ops (has 1)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("needs 1 of compliance (has 0)"));
    assert_eq!(
        w.coordinator_state(),
        before,
        "a refused finalize changed state"
    );
    // A prefix of the id works the same way; an unknown id is refused.
    w.airlock(&["finalize", &big[..10]]).fails(1, "not ready");
    w.airlock(&["finalize", "00000000"])
        .fails(1, "no artifact id starts with");
    assert_eq!(w.coordinator_state(), before);
}

/// A finalized proposal cannot be finalized again nor take more decisions.
#[test]
fn finalize_twice_and_late_decisions_are_refused() {
    let w = treasury();
    let (p, bundle) = w.propose("treasury", "acme-payroll:100", &[]);
    let a = w.approve("alice", &bundle);
    let b = w.approve("bob", &bundle);
    w.submit(&[&a]).ok();
    let out = w.airlock(&["finalize", &p, "--out", path_str(&w.p("final.airlock"))]);
    out.ok();
    let rec = w
        .airlock(&["--json", "inspect", path_str(&w.p("final.airlock"))])
        .ok()
        .json();
    assert_eq!(rec["kind"], "finalized");
    assert_eq!(rec["payload"]["proposal"].as_str(), Some(p.as_str()));
    assert_eq!(rec["all_signatures_valid"], true);

    let before = w.coordinator_state();
    w.airlock(&["finalize", &p]).fails(1, "finalized");
    w.submit(&[&b])
        .fails(1, "finalized; it takes no more decisions");
    assert_eq!(w.coordinator_state(), before);
    let report = w.airlock(&["--json", "log", "verify"]).ok().json();
    assert_eq!(report["finalized"], 1);
    assert_eq!(report["approvals"], 1);
}

/// One rejection by the only compliance signer makes the large rule unreachable: the proposal is
/// rejected, with the reason, and takes nothing more. Under the routine rule (1 of 2 ops) one
/// rejection is not enough.
#[test]
fn rejected_when_the_policy_can_no_longer_be_met() {
    let w = treasury();
    let (big, big_bundle) = w.propose("treasury", "unknown-exchange:5000", &[]);
    let a = w.approve("alice", &big_bundle);
    let c = w.reject("carol", &big_bundle, "not on the allowlist");
    assert_eq!(w.submit(&[&c]).ok().json()[0]["status"], "rejected");
    let st = w.status(&big);
    assert_eq!(st["status"], "rejected");
    assert_eq!(
        st["rejected"],
        serde_json::json!([{ "signer": "carol", "reason": "not on the allowlist" }])
    );
    let before = w.coordinator_state();
    w.submit(&[&a]).fails(1, "rejected");
    w.airlock(&["finalize", &big]).fails(1, "rejected");
    assert_eq!(w.coordinator_state(), before);

    let (routine, bundle) = w.propose("treasury", "acme-rent:10", &[]);
    let ra = w.reject("alice", &bundle, "wrong month");
    assert_eq!(w.submit(&[&ra]).ok().json()[0]["status"], "collecting");
    let st = w.status(&routine);
    assert_eq!(st["rejected"][0]["reason"], "wrong month");
    assert_eq!(st["undecided"], serde_json::json!(["bob", "carol"]));
    let rb = w.approve("bob", &bundle);
    assert_eq!(w.submit(&[&rb]).ok().json()[0]["status"], "ready");

    // A rejection needs a reason; nothing is written without one.
    let (_, b3) = w.propose("treasury", "acme-rent:11", &[]);
    let out = w.p("no-reason.rejection");
    let journal = w.signer_files("carol");
    w.signer(
        "carol",
        &[
            "reject",
            path_str(&b3),
            "--reason",
            "  ",
            "--out",
            path_str(&out),
        ],
    )
    .fails(1, "needs a reason");
    assert!(!out.exists());
    assert_eq!(w.signer_files("carol"), journal);
}

/// With the clock past the proposal's expiry, the signer lists the problem and refuses to approve
/// (writing nothing), and the coordinator refuses an approval made in time but submitted late.
#[test]
fn expired_proposals_are_refused_by_signer_and_coordinator() {
    let w = treasury();
    let (p, bundle) = w.propose("treasury", "acme-rent:900", &["--expires-in", "1h"]);
    assert_eq!(w.status(&p)["expires"], T0 + HOUR);
    w.set_now(T0 + 600);
    let a = w.approve("alice", &bundle);

    w.set_now(T0 + 2 * HOUR);
    let review = w
        .signer("bob", &["--json", "review", path_str(&bundle)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], false);
    assert!(
        review["problems"][0]
            .as_str()
            .unwrap()
            .contains("the proposal expired at"),
        "{review}"
    );
    let text = w.signer("bob", &["review", path_str(&bundle)]).ok().stdout;
    assert!(text.contains("expired"), "{text}");
    let bob_files = w.signer_files("bob");
    let out = w.p("late.approval");
    w.signer(
        "bob",
        &[
            "approve",
            path_str(&bundle),
            "--out",
            path_str(&out),
            "--yes",
        ],
    )
    .fails(1, "expired");
    assert!(!out.exists(), "a refused approval wrote a file");
    assert_eq!(
        w.signer_files("bob"),
        bob_files,
        "a refused approval changed the signer"
    );

    let before = w.coordinator_state();
    w.submit(&[&a]).fails(1, "expired");
    w.airlock(&["finalize", &p]).fails(1, "expired");
    assert_eq!(w.coordinator_state(), before);
    assert_eq!(w.status(&p)["status"], "expired");

    // Just before expiry the same approval was fine (the clock decides, not the file).
    w.set_now(T0 + HOUR - 1);
    assert_eq!(w.submit(&[&a]).ok().json()[0]["status"], "ready");
}

/// A proposal made under vault v1 is dead once v2 is active: a signer that registered v2 refuses
/// it, and the coordinator refuses decisions on it, even from a signer that has not heard of v2.
#[test]
fn proposals_under_a_superseded_vault_version_are_refused() {
    let w = treasury();
    let dave = w.init_signer("dave");
    let (p, bundle) = w.propose("treasury", "acme-rent:900", &[]);
    let early = w.approve("alice", &bundle);
    w.signer("dave", &["review", path_str(&bundle)])
        .fails(1, "vault \"treasury\" is not registered on this signer");
    w.make_vault(
        &[
            "--vault",
            "treasury",
            "--remove-signer",
            "bob",
            "--add-signer",
            &format!("dave:ops:{dave}"),
        ],
        &["alice", "carol"],
        &["alice", "carol", "dave"],
    );

    // Carol registered v2: the v1 proposal is refused, nothing is written.
    let out = w.p("carol.approval");
    let files = w.signer_files("carol");
    w.signer("carol", &["review", path_str(&bundle)])
        .fails(1, "superseded by v2");
    w.signer(
        "carol",
        &[
            "approve",
            path_str(&bundle),
            "--out",
            path_str(&out),
            "--yes",
        ],
    )
    .fails(1, "superseded");
    assert!(!out.exists());
    assert_eq!(w.signer_files("carol"), files);
    // A fresh export of the same proposal does not help.
    let again = w.p("again.bundle");
    w.airlock(&["export", &p, "--out", path_str(&again)]).ok();
    w.signer("carol", &["review", path_str(&again)])
        .fails(1, "superseded");

    // Bob still has only v1 and approves; the coordinator refuses his approval and alice's
    // earlier one.
    let late = w.approve("bob", &bundle);
    let before = w.coordinator_state();
    w.submit(&[&late])
        .fails(1, "now at version 2; proposals under version 1 are refused");
    w.submit(&[&early]).fails(1, "version 2");
    assert_eq!(w.coordinator_state(), before);

    // A proposal under v2 goes through; bob, removed in v2, may register v2 but not approve
    // under it.
    let (p2, b2) = w.propose("treasury", "acme-rent:901", &[]);
    let reg = w
        .signer(
            "bob",
            &[
                "--json",
                "vault",
                "register",
                path_str(&w.p("treasury-v2.airlock")),
            ],
        )
        .ok()
        .json();
    assert_eq!(reg["member"], false);
    let review = w
        .signer("bob", &["--json", "review", path_str(&b2)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], false);
    assert!(
        review["problems"]
            .to_string()
            .contains("not a signer of vault"),
        "{review}"
    );
    let bob_out = w.p("bob-v2.approval");
    w.signer(
        "bob",
        &[
            "approve",
            path_str(&b2),
            "--out",
            path_str(&bob_out),
            "--yes",
        ],
    )
    .fails(1, "not a signer");
    assert!(!bob_out.exists());
    let d = w.approve("dave", &b2);
    w.submit(&[&d]).ok();
    assert_eq!(w.status(&p2)["status"], "ready");
    assert_eq!(w.status(&p2)["vault_version"], 2);
}

fn window_vault(w: &World) {
    w.init_coordinator();
    let alice = w.init_signer("alice");
    let bob = w.init_signer("bob");
    w.make_vault(
        &[
            "--vault",
            "petty",
            "--signer",
            &format!("alice:ops:{alice}"),
            "--signer",
            &format!("bob:ops:{bob}"),
            "--threshold",
            "1",
            "--rule",
            "daily: window=1000/24h => 1 ops",
            "--rule",
            "large: => 2 any",
        ],
        &["alice"],
        &["alice", "bob"],
    );
}

/// The coordinator counts what was proposed in the rolling window: 800 fits the daily limit, a
/// second 400 does not and falls to the large rule (2 approvals); a day later it fits again.
#[test]
fn rolling_window_moves_the_second_proposal_to_the_large_rule() {
    let w = World::new();
    window_vault(&w);
    let (_, _, r1) = w.propose_rule("petty", "shop:800");
    assert_eq!(r1, "daily");
    w.set_now(T0 + 60);
    let (p2, b2, r2) = w.propose_rule("petty", "shop:400");
    assert_eq!(r2, "large");
    assert_eq!(
        w.status(&p2)["missing"],
        serde_json::json!([{ "role": "any", "needed": 2, "have": 0 }])
    );
    // One approval is not enough under "large".
    let a = w.approve("alice", &b2);
    assert_eq!(w.submit(&[&a]).ok().json()[0]["status"], "collecting");
    let review = w
        .signer("bob", &["--json", "review", path_str(&b2)])
        .ok()
        .json();
    assert_eq!(review["rule"], "large");
    assert_eq!(review["can_approve"], true);

    w.set_now(T0 + 25 * HOUR);
    let (_, _, r3) = w.propose_rule("petty", "shop:400");
    assert_eq!(r3, "daily");
}

/// The signer sums its own approvals for the window: when the coordinator did not count an
/// approved-but-expired proposal and labels the next one "daily", the signer that approved 800
/// lists the rule problem and refuses, while a signer that approved nothing may approve.
#[test]
fn signer_checks_the_window_with_its_own_journal() {
    let w = World::new();
    window_vault(&w);
    let (first, b1) = w.propose_json("petty", "shop:800", &["--expires-in", "10m"]);
    assert_eq!(first["rule"], "daily");
    assert_eq!(first["expires"], T0 + 600);
    w.set_now(T0 + 60);
    w.approve("alice", &b1); // never submitted; the proposal expires at the coordinator
    w.set_now(T0 + 20 * 60);
    let (p2, b2, r2) = w.propose_rule("petty", "shop:400");
    assert_eq!(
        r2, "daily",
        "the expired proposal no longer counts at the coordinator"
    );

    let review = w
        .signer("alice", &["--json", "review", path_str(&b2)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], false);
    let problems = review["problems"].to_string();
    assert!(
        problems.contains("the coordinator applied rule \\\"daily\\\"")
            && problems.contains("800 already approved")
            && problems.contains("over the window limit of 1000"),
        "{problems}"
    );
    let journal = w.journal("alice");
    let out = w.p("alice-window.approval");
    w.signer(
        "alice",
        &["approve", path_str(&b2), "--out", path_str(&out), "--yes"],
    )
    .fails(1, "window limit of 1000");
    assert!(!out.exists());
    assert_eq!(w.journal("alice"), journal);

    let b = w.approve("bob", &b2);
    assert_eq!(w.submit(&[&b]).ok().json()[0]["status"], "ready");
    assert_eq!(w.status(&p2)["approved"], serde_json::json!(["bob"]));
}

/// Bundles, approvals and vault definitions also travel as ASCII armor.
#[test]
fn armored_artifacts_work_end_to_end() {
    let w = treasury();
    let bundle = w.p("rent.asc");
    let out = w
        .airlock(&[
            "--json",
            "propose",
            "--vault",
            "treasury",
            "--to",
            "acme-rent:5",
            "--out",
            path_str(&bundle),
            "--armor",
        ])
        .ok()
        .json();
    let p = out["proposal"].as_str().unwrap().to_owned();
    let text = std::fs::read_to_string(&bundle).unwrap();
    assert!(
        text.starts_with("-----BEGIN AIRLOCK PROPOSAL-BUNDLE-----\n"),
        "{text}"
    );
    let approval = w.p("alice.asc");
    w.signer(
        "alice",
        &[
            "approve",
            path_str(&bundle),
            "--out",
            path_str(&approval),
            "--yes",
            "--armor",
        ],
    )
    .ok();
    assert!(
        std::fs::read_to_string(&approval)
            .unwrap()
            .starts_with("-----BEGIN AIRLOCK APPROVAL-----")
    );
    let insp = w.airlock(&["inspect", path_str(&approval)]).ok().stdout;
    assert!(insp.contains(": VALID"), "{insp}");
    assert_eq!(w.submit(&[&approval]).ok().json()[0]["status"], "ready");
    assert_eq!(w.status(&p)["approved"][0], "alice");

    let vault = w.p("treasury.asc");
    w.airlock(&[
        "vault",
        "show",
        "treasury",
        "--out",
        path_str(&vault),
        "--armor",
    ])
    .ok();
    // Already registered: refused as such (it was read and verified fine).
    w.signer("bob", &["vault", "register", path_str(&vault)])
        .fails(1, "already registered");
}

/// A signer back after a busy absence (more bundles exported meanwhile than a bundle carries
/// consistency proofs for) still connects the checkpoint it last accepted: the coordinator
/// always proves consistency from the size each signer of the vault last reported.
#[test]
fn a_signer_back_after_many_exports_still_connects_its_checkpoint() {
    let w = treasury();
    let (_, first) = w.propose("treasury", "acme-rent:100", &[]);
    let a = w.approve("alice", &first);
    w.submit(&[&a]).ok();
    let mut newest = None;
    for i in 0..70 {
        newest = Some(w.propose("treasury", &format!("acme-rent:{}", 101 + i), &[]));
    }
    let (p, bundle) = newest.unwrap();
    let a = w.approve("alice", &bundle);
    w.submit(&[&a]).ok();
    assert_eq!(w.status(&p)["status"], "ready");
}

/// Issue 17 (key loss by SLIP-39 restore): alice backs up her signer identity as 2-of-3 SLIP-39
/// shares; her device is lost. One share, another secret's shares or the wrong expected identity
/// are refused and write nothing; two shares restore the same identity, so the vault needs no
/// rotation. The restored home refuses the proposal made before the restore (the lost device's
/// decisions are not in it) and approves a new one, which finalizes under the same version.
#[test]
fn a_lost_signer_is_restored_from_its_slip39_shares_without_a_rotation() {
    let w = treasury();
    let alice = w.signer_key("alice");
    let bob = w.signer_key("bob");
    let shares = w.p("alice-shares");
    let split = w
        .signer(
            "alice",
            &[
                "--json",
                "backup",
                "split",
                "--identity",
                "--group",
                "2-of-3",
                "--out-dir",
                path_str(&shares),
            ],
        )
        .ok()
        .json();
    assert_eq!(split["groups"][0]["count"], 3, "{split}");
    let share = |m: u32| shares.join(format!("share-g1-m{m}.txt"));
    let text = std::fs::read_to_string(share(1)).unwrap();
    assert!(
        text.starts_with(&format!("# Airlock signer identity of alice ({alice})")),
        "{text}"
    );
    let other = w.p("other-shares");
    w.signer(
        "alice",
        &[
            "backup",
            "split",
            "--new",
            "128",
            "--group",
            "2-of-2",
            "--out-dir",
            path_str(&other),
        ],
    )
    .ok();

    let (before, old_bundle) = w.propose("treasury", "acme-payroll:100", &[]);
    std::fs::remove_dir_all(w.signer_home("alice")).unwrap();
    w.set_now(T0 + 600);
    let restore = |files: &[std::path::PathBuf], expect: &str| {
        let mut args = vec![
            "--json",
            "init",
            "--name",
            "alice",
            "--kdf",
            "insecure-fast",
        ];
        args.push("--restore-identity");
        args.extend(files.iter().map(|f| path_str(f)));
        args.extend(["--expect-identity", expect]);
        w.signer("alice", &args)
    };
    let refused: [(&[std::path::PathBuf], &str, &str); 3] = [
        (
            &[share(1)],
            &alice,
            "too few shares of group 1: 1 given, 2 needed",
        ),
        (
            &[other.join("share-g1-m1.txt"), other.join("share-g1-m2.txt")],
            &alice,
            "128-bit secret, not a 256-bit signer identity",
        ),
        (&[share(1), share(3)], &bob, "not the expected"),
    ];
    for (files, expect, needle) in refused {
        restore(files, expect).fails(1, needle);
        let home = w.signer_home("alice");
        for file in ["signer.json", "identity.key"] {
            assert!(!home.join(file).exists(), "{needle}: nothing written");
        }
    }
    let restored = restore(&[share(3), share(1)], &alice).ok().json();
    assert_eq!(restored["identity"], alice.as_str(), "{restored}");
    assert_eq!(restored["restored"], T0 + 600, "{restored}");
    w.signer(
        "alice",
        &["vault", "register", path_str(&w.p("treasury-v1.airlock"))],
    )
    .ok();

    let review = w
        .signer("alice", &["--json", "review", path_str(&old_bundle)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], false, "{review}");
    assert!(
        review.to_string().contains("restored from a backup"),
        "{review}"
    );
    w.signer(
        "alice",
        &[
            "approve",
            path_str(&old_bundle),
            "--out",
            path_str(&w.p("old.approval")),
            "--yes",
        ],
    )
    .fails(1, "restored from a backup");
    assert!(!w.p("old.approval").exists());
    // bob (ops) carries the old proposal alone, as the routine rule allows.
    let by_bob = w.approve("bob", &old_bundle);
    w.submit(&[&by_bob]).ok();
    w.airlock(&["finalize", &before]).ok();

    w.set_now(T0 + 700);
    let (after, bundle) = w.propose("treasury", "acme-rent:200", &[]);
    let by_alice = w.approve("alice", &bundle);
    w.submit(&[&by_alice]).ok();
    w.airlock(&["finalize", &after]).ok();
    assert_eq!(w.status(&after)["status"], "finalized");
    let vaults = w.airlock(&["--json", "vault", "list"]).ok().json();
    assert_eq!(vaults[0]["version"], 1, "no rotation: {vaults}");
    w.airlock(&["log", "verify"]).ok();
}
