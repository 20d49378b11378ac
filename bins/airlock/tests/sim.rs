//! `airlock sim` (issue 17, item 2): the scenario files in `scenarios/` run through the real
//! coordinator and signer code (at a lighter load than the files', to keep the suite short),
//! each checked for what its failure must cause; the same seed gives the same report; a weaker
//! policy lets a stolen key through, and the report says how much; an equivocating witness
//! cannot carry a fork past the witness quorum; bad scenario files are refused with what is
//! wrong.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn scenario_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.toml"))
}

/// The scenario `name` with `(from, to)` replacements written to a file in `w`.
fn variant(w: &World, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(scenario_file(name)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{name}.toml has no {from:?}");
        text = text.replace(from, to);
    }
    let path = w.p(&format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn sim(w: &World, file: &Path) -> Value {
    w.airlock(&["--json", "sim", path_str(file)]).ok().json()
}

fn invariants_hold(report: &Value) {
    for i in report["invariants"].as_array().unwrap() {
        assert_eq!(i["holds"], true, "{i}");
    }
}

fn timeline_says(report: &Value, needle: &str) -> bool {
    report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["what"].as_str().unwrap().contains(needle))
}

#[test]
fn a_signer_outage_defers_its_decisions_and_the_quorum_holds() {
    let w = World::new();
    let file = variant(
        &w,
        "signer-outage",
        &[("proposals_per_day = 200", "proposals_per_day = 40")],
    );
    let r = sim(&w, &file);
    invariants_hold(&r);
    assert!(
        r["counts"]["decisions_deferred"].as_u64().unwrap() > 0,
        "{r}"
    );
    assert!(timeline_says(&r, "alice is unreachable for 12 h"), "{r}");
    // Two of the three ops signers are enough: payments still finalize during the absence.
    assert!(r["counts"]["finalized"].as_u64().unwrap() > 60, "{r}");
    assert_eq!(r["funds"]["to_attacker"], 0);

    // The same seed gives the same run (the keys, and so the log's hashes, are fresh each time).
    let again = sim(&w, &file);
    for field in ["counts", "funds", "timeline"] {
        assert_eq!(again[field], r[field], "{field}");
    }
    assert_eq!(again["metrics"]["latency"], r["metrics"]["latency"]);
    assert_eq!(again["metrics"]["log_size"], r["metrics"]["log_size"]);
}

#[test]
fn a_coordinator_outage_loses_no_decision() {
    let w = World::new();
    let file = variant(
        &w,
        "coordinator-outage",
        &[("proposals_per_day = 200", "proposals_per_day = 40")],
    );
    let r = sim(&w, &file);
    invariants_hold(&r);
    assert!(
        r["counts"]["proposals_deferred"].as_u64().unwrap() > 0,
        "{r}"
    );
    assert!(timeline_says(&r, "the coordinator is back"), "{r}");
    let c = &r["counts"];
    assert_eq!(
        c["decisions_made"].as_u64().unwrap(),
        c["decisions_recorded"].as_u64().unwrap() + c["decisions_refused"].as_u64().unwrap(),
        "{r}"
    );
}

#[test]
fn a_lost_key_is_replaced_by_a_rotation_and_payments_go_on() {
    let w = World::new();
    let file = variant(
        &w,
        "key-loss",
        &[("proposals_per_day = 150", "proposals_per_day = 30")],
    );
    let r = sim(&w, &file);
    invariants_hold(&r);
    assert!(r["counts"]["decisions_missed"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["vault_versions"], 2, "{r}");
    assert_eq!(r["hours_to_recover"], 24.0, "{r}");
    assert!(timeline_says(&r, "replaced by carol-2"), "{r}");
    assert!(
        r["metrics"]["signers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "carol-2" && s["decided"].as_u64().unwrap() > 0)
    );
}

/// The same loss, recovered by restoring carol's identity from 2 of its 3 SLIP-39 shares: no
/// new vault version; the restored signer refuses the proposals made before the restore (its
/// lost device's decisions are not in its journal) and decides the later ones.
#[test]
fn a_lost_key_restored_from_slip39_shares_needs_no_rotation() {
    let w = World::new();
    let file = variant(
        &w,
        "key-loss",
        &[
            ("proposals_per_day = 150", "proposals_per_day = 30"),
            (
                "replace_after_hours = 24",
                "replace_after_hours = 24\nrecovery = \"slip39-restore\"",
            ),
        ],
    );
    let r = sim(&w, &file);
    invariants_hold(&r);
    assert_eq!(r["vault_versions"], 1, "{r}");
    assert_eq!(r["hours_to_recover"], 24.0, "{r}");
    assert!(
        timeline_says(&r, "carol's identity restored from 2 of 3 SLIP-39 shares"),
        "{r}"
    );
    assert!(
        r["counts"]["approvals_refused_by_review"].as_u64().unwrap() > 0,
        "{r}"
    );
    assert!(
        r["refusals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().contains("restored from a backup")),
        "{r}"
    );
    let carol = r["metrics"]["signers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "carol")
        .cloned()
        .unwrap();
    assert!(carol["decided"].as_u64().unwrap() > 0, "{carol}");
}

#[test]
fn a_stolen_key_is_stopped_by_the_policy_and_rotated_out() {
    let w = World::new();
    let file = variant(
        &w,
        "compromised-signer",
        &[("proposals_per_day = 150", "proposals_per_day = 30")],
    );
    let r = sim(&w, &file);
    invariants_hold(&r);
    let f = &r["funds"];
    assert!(f["attacks"].as_u64().unwrap() > 0, "{r}");
    assert!(f["attack_rejections"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(f["to_attacker"], 0, "{r}");
    assert_eq!(f["attacks_the_key_alone_could_pass"], 0, "{r}");
    // Rotated out `respond_hours` (4) after the first honest rejection.
    let detect = r["hours_to_detect"].as_f64().unwrap();
    let recover = r["hours_to_recover"].as_f64().unwrap();
    assert!(detect > 0.0 && (recover - detect - 4.0).abs() < 0.02, "{r}");
    assert_eq!(r["vault_versions"], 2, "{r}");

    // A policy where one ops approval moves anything: the stolen key alone pays the attacker
    // until the rotation, and the report counts it.
    let weak = variant(
        &w,
        "compromised-signer",
        &[
            ("proposals_per_day = 150", "proposals_per_day = 30"),
            (
                "routine: max=1000, to=acme-payroll|acme-rent|vendor-a|vendor-b, expiry=6h => 1 ops",
                "routine: max=1000, expiry=6h => 1 ops",
            ),
        ],
    );
    let r = sim(&w, &weak);
    invariants_hold(&r);
    let f = &r["funds"];
    assert!(f["to_attacker"].as_u64().unwrap() > 0, "{r}");
    assert!(
        f["attacks_the_key_alone_could_pass"].as_u64().unwrap() > 0,
        "{r}"
    );
    assert!(timeline_says(&r, "finalized to attacker-wallet"), "{r}");
}

#[test]
fn a_forked_coordinator_is_caught_by_a_split_view_and_pays_the_attacker_nothing() {
    let w = World::new();
    let file = variant(
        &w,
        "compromised-coordinator",
        &[("proposals_per_day = 150", "proposals_per_day = 30")],
    );
    let r = sim(&w, &file);
    invariants_hold(&r);
    assert!(r["funds"]["attacks"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["funds"]["to_attacker"], 0, "{r}");
    assert!(
        r["counts"]["split_view_alarms"].as_u64().unwrap() > 0,
        "{r}"
    );
    assert!(r["hours_to_detect"].as_f64().is_some(), "{r}");
    assert!(timeline_says(&r, "raised a split-view alarm"), "{r}");
}

#[test]
fn an_equivocating_witness_alone_cannot_get_a_fork_past_the_witness_quorum() {
    let w = World::new();
    let light = [
        ("days = 2", "days = 1"),
        ("proposals_per_day = 100", "proposals_per_day = 30"),
    ];
    // The attacker shows its fork two hours after forking: the honest witnesses (w2, w3) have
    // cosigned the real log past the fork point and refuse it, so its bundles carry only w1's
    // cosignature and every signer's review refuses them (2 of 3 are required).
    let file = variant(&w, "equivocating-witness", &light);
    let r = sim(&w, &file);
    invariants_hold(&r);
    let c = &r["counts"];
    assert_eq!(r["funds"]["to_attacker"], 0, "{r}");
    assert!(r["funds"]["attacks"].as_u64().unwrap() > 0, "{r}");
    assert!(c["witness_refusals"].as_u64().unwrap() > 0, "{r}");
    assert!(c["missing_cosignatures"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(c["forged_bundles_reviewed"], 0, "{r}");
    assert!(timeline_says(&r, "lacks the witness quorum"), "{r}");
    assert!(r["hours_to_detect"].as_f64().unwrap() >= 2.0, "{r}");
    // The real log goes on: its bundles carry the honest witnesses' cosignatures.
    assert!(c["finalized"].as_u64().unwrap() > 10, "{r}");
    assert_eq!(c["exports_stopped"], 0, "{r}");

    // Shown at once, before the real log moves on, the fork is what the honest witnesses
    // cosign first: the real log is then the history they refuse. They halt every vault, the
    // coordinator records the halt and stops exporting (a split view), and no payment reaches
    // the attacker: its bundles pass the reviews, and the signers' people reject its payee.
    let file = variant(
        &w,
        "equivocating-witness",
        &[
            light[0],
            light[1],
            ("first_attack_hours = 2", "first_attack_hours = 0.01"),
        ],
    );
    let r = sim(&w, &file);
    invariants_hold(&r);
    let c = &r["counts"];
    assert_eq!(r["funds"]["to_attacker"], 0, "{r}");
    assert!(c["witness_halts"].as_u64().unwrap() >= 1, "{r}");
    assert!(c["exports_stopped"].as_u64().unwrap() > 0, "{r}");
    assert!(timeline_says(&r, "halted every vault of the log"), "{r}");
    assert!(timeline_says(&r, "the coordinator's exports stop"), "{r}");
    assert_eq!(
        r["funds"]["attack_rejections"], c["forged_bundles_reviewed"],
        "{r}"
    );
}

#[test]
fn an_outage_that_outlasts_the_simulation_ends_with_it() {
    let w = World::new();
    let file = variant(
        &w,
        "signer-outage",
        &[
            ("proposals_per_day = 200", "proposals_per_day = 20"),
            ("hours = 12", "hours = 1e300"),
        ],
    );
    let r = sim(&w, &file);
    invariants_hold(&r);
    assert!(
        r["counts"]["decisions_deferred"].as_u64().unwrap() > 0,
        "{r}"
    );
}

/// A reorganization 12 blocks deep against a team that counts a payment confirmed at one
/// confirmation: payments the log called confirmed leave the chain; the coordinator's next check
/// records each reorganization and sends the transaction again, and every one confirms again.
/// Waiting for 13 confirmations, the same reorganization takes only payments not yet counted.
/// A coordinator that stops watching at the first confirmation leaves the log saying confirmed
/// for payments the chain no longer holds, and the run fails with that invariant.
#[test]
fn a_reorganization_is_recorded_and_the_payments_it_took_confirm_again() {
    let w = World::new();
    let light = ("proposals_per_day = 200", "proposals_per_day = 40");
    let deep = ("depth = 3", "depth = 12");
    let file = variant(&w, "chain-reorg", &[light, deep]);
    let r = sim(&w, &file);
    invariants_hold(&r);
    let taken = r["funds"]["confirmed_then_reorged"].as_u64().unwrap();
    assert!(taken > 0, "{r}");
    assert_eq!(r["counts"]["reorgs_recorded"], taken, "{r}");
    assert!(
        r["counts"]["rebroadcasts"].as_u64().unwrap() >= taken,
        "{r}"
    );
    assert!(
        timeline_says(&r, "the coordinator records a reorganization"),
        "{r}"
    );
    assert!(timeline_says(&r, "confirmed again"), "{r}");
    assert!(r["hours_to_detect"].as_f64().unwrap() <= 10.0 / 60.0, "{r}");
    assert!(r["hours_to_recover"].as_f64().unwrap() > 0.0, "{r}");
    assert!(
        r["metrics"]["outcomes"]["confirmed"].as_u64().unwrap() > 0,
        "{r}"
    );

    let patient = variant(
        &w,
        "chain-reorg",
        &[
            light,
            deep,
            ("confirmations = 1", "confirmations = 13"),
            ("watch_depth = 12", "watch_depth = 20"),
        ],
    );
    let r = sim(&w, &patient);
    invariants_hold(&r);
    assert_eq!(r["funds"]["confirmed_then_reorged"], 0, "{r}");
    assert_eq!(r["counts"]["reorgs_recorded"], 0, "{r}");
    assert!(r["counts"]["rebroadcasts"].as_u64().unwrap() > 0, "{r}");

    let careless = variant(
        &w,
        "chain-reorg",
        &[light, deep, ("watch_depth = 12", "watch_depth = 1")],
    );
    let out = w.airlock(&["--json", "sim", path_str(&careless)]);
    out.fails(3, "every payment the log calls confirmed is in the chain");
}

#[test]
fn bad_scenario_files_are_refused_with_what_is_wrong() {
    let w = World::new();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("days = 2", "days = 2\ncolour = \"red\"")],
            "unknown field `colour`",
        ),
        (&[("threshold = 3", "threshold = 9")], "team.threshold = 9"),
        (
            &[("signer = \"alice\"", "signer = \"mallory\"")],
            "\"mallory\" is not in team.signers",
        ),
        (
            &[("at_hours = 6", "at_hours = 600")],
            "outside the 48 simulated hours",
        ),
        (
            &[("decision_minutes = [5, 240]", "decision_minutes = [240, 5]")],
            "must be a range",
        ),
        (
            &[("\"routine: max=1000", "\"routine: max=lots")],
            "team.rules",
        ),
        (
            &[("kind = \"signer-outage\"", "kind = \"meteor\"")],
            "unknown variant `meteor`",
        ),
    ];
    for (edits, needle) in cases {
        let file = variant(&w, "signer-outage", edits);
        w.airlock(&["sim", path_str(&file)]).fails(1, needle);
    }
    let witness_cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("witness = \"w1\"", "witness = \"w7\"")],
            "witness \"w7\" is not one of the team's 3 witnesses",
        ),
        (
            &[("witness_threshold = 2", "witness_threshold = 4")],
            "team.witness_threshold = 4",
        ),
        (
            &[("first_attack_hours = 2", "first_attack_hours = -1")],
            "first_attack_hours = -1 must be more than 0",
        ),
    ];
    for (edits, needle) in witness_cases {
        let file = variant(&w, "equivocating-witness", edits);
        w.airlock(&["sim", path_str(&file)]).fails(1, needle);
    }
    let chain_cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("[chain]\n", "[chain]\ncolour = 1\n")],
            "unknown field `colour`",
        ),
        (
            &[("confirmations = 1", "confirmations = 0")],
            "chain.confirmations = 0",
        ),
        (
            &[("watch_depth = 12", "watch_depth = 0")],
            "chain.watch_depth = 0 must be at least chain.confirmations",
        ),
        (&[("depth = 3", "depth = 0")], "depth = 0 must be 1 to 1000"),
        (
            &[("at_hours = 20", "at_hours = 0.2")],
            "needs that many blocks before it",
        ),
        (
            &[(
                "[chain]\nblock_minutes = 10\nconfirmations = 1\nwatch_depth = 12\n",
                "",
            )],
            "a reorg needs a simulated chain",
        ),
    ];
    for (edits, needle) in chain_cases {
        let file = variant(&w, "chain-reorg", edits);
        w.airlock(&["sim", path_str(&file)]).fails(1, needle);
    }
    let busy = w.p("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("keep"), b"x").unwrap();
    let file = scenario_file("signer-outage");
    w.airlock(&["sim", path_str(&file), "--work", path_str(&busy)])
        .fails(1, "is not empty");
    assert_eq!(std::fs::read(busy.join("keep")).unwrap(), b"x");
}
