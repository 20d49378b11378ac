//! Disaster recovery (issue 17, item 4): a coordinator's home lost in the middle of a payment is
//! rebuilt from its published log (`airlock log publish`, `airlock recover --from-log`) and the
//! payment finishes; a log that does not verify is refused and nothing is written; a standby
//! home is rebuilt from a running service's URL.

mod common;

use std::path::Path;

use common::*;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_home_lost_mid_payment_is_recovered_from_its_published_log_and_the_payment_finishes() {
    let w = World::new();
    w.init_coordinator();
    let alice = w.init_signer("alice");
    let bob = w.init_signer("bob");
    w.make_vault(
        &[
            "--vault",
            "treasury",
            "--signer",
            &format!("alice:ops:{alice}"),
            "--signer",
            &format!("bob:ops:{bob}"),
            "--threshold",
            "2",
            "--rule",
            "default: => 2 ops",
        ],
        &["alice", "bob"],
        &["alice", "bob"],
    );
    // Mid-payment: one of the two approvals is in.
    let (p, bundle) = w.propose("treasury", "payee:10", &[]);
    let a = w.approve("alice", &bundle);
    w.submit(&[&a]).ok();
    assert_eq!(w.status(&p)["status"], "collecting");
    let published = w.p("published");
    w.airlock(&["log", "publish", path_str(&published)]).ok();
    let before = w.airlock(&["--json", "log", "verify"]).ok().json();
    // The mirror verifies like the service would.
    let mirrored = w
        .airlock(&["--json", "log", "verify", "--url", path_str(&published)])
        .ok()
        .json();
    assert_eq!(mirrored["root"], before["root"], "{mirrored}");

    // The machine is lost; its two key files come back from their backup.
    let home = w.coordinator_home();
    let backup = w.p("backup");
    std::fs::create_dir_all(&backup).unwrap();
    for file in ["coordinator.json", "identity.key"] {
        std::fs::copy(home.join(file), backup.join(file)).unwrap();
    }
    std::fs::remove_dir_all(&home).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    for file in ["coordinator.json", "identity.key"] {
        std::fs::copy(backup.join(file), home.join(file)).unwrap();
    }

    // A copy of the log with one artifact swapped for another is refused; nothing is written.
    let tampered = w.p("tampered");
    copy_dir(&published, &tampered);
    let artifacts: Vec<_> = std::fs::read_dir(tampered.join("api/v1/artifacts"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    std::fs::copy(&artifacts[0], &artifacts[1]).unwrap();
    w.airlock(&["recover", "--from-log", path_str(&tampered)])
        .fails(3, "does not hash to the id");
    assert!(
        !home.join("airlock.db").exists(),
        "a failed recovery leaves no database behind"
    );
    w.airlock(&["recover", "--from-log", path_str(&w.p("nowhere"))])
        .fails(1, "log/checkpoint");
    assert!(!home.join("airlock.db").exists());

    let recovered = w
        .airlock(&["--json", "recover", "--from-log", path_str(&published)])
        .ok()
        .json();
    assert_eq!(recovered["checkpoint_identical"], true, "{recovered}");
    let after = w.airlock(&["--json", "log", "verify"]).ok().json();
    for field in [
        "size",
        "root",
        "vault_versions",
        "proposals",
        "approvals",
        "rejections",
        "finalized",
        "events",
        "halts",
        "transfers",
        "state_commitments",
    ] {
        assert_eq!(after[field], before[field], "{field}: {after} vs {before}");
    }
    w.airlock(&["recover", "--from-log", path_str(&published)])
        .fails(1, "already holds");

    // The payment finishes: Bob approves a fresh bundle, the coordinator finalizes.
    assert_eq!(w.status(&p)["status"], "collecting");
    let fresh = w.fresh("after-recovery.bundle");
    w.airlock(&["export", &p, "--out", path_str(&fresh)]).ok();
    let b = w.approve("bob", &fresh);
    w.submit(&[&b]).ok();
    w.airlock(&["finalize", &p]).ok();
    assert_eq!(w.status(&p)["status"], "finalized");
    let report = w.airlock(&["--json", "log", "verify"]).ok().json();
    assert_eq!(report["finalized"], 1, "{report}");
}

/// A standby machine rebuilds the coordinator's database from the running service's own tiles
/// and artifacts (`--from-log http://…`): the same log, and `airlock metrics` computed from the
/// service, from the rebuilt home and from the original home agree.
#[test]
fn a_standby_home_is_recovered_from_a_running_service_and_its_metrics_agree() {
    let w = treasury();
    let (p, bundle) = w.propose("treasury", "acme-rent:900", &[]);
    w.set_now(T0 + 600);
    let a = w.approve("alice", &bundle);
    w.submit(&[&a]).ok();
    w.set_now(T0 + 900);
    w.airlock(&["finalize", &p]).ok();
    w.propose("treasury", "vendor:5000", &[]);
    let original = w.airlock(&["--json", "log", "verify"]).ok().json();
    let server = Server::start(&w, &[]);

    let standby = w.p("standby");
    std::fs::create_dir_all(&standby).unwrap();
    for file in ["coordinator.json", "identity.key"] {
        std::fs::copy(w.coordinator_home().join(file), standby.join(file)).unwrap();
    }
    let recovered = w
        .airlock_in(&standby, &["--json", "recover", "--from-log", &server.url])
        .ok()
        .json();
    assert_eq!(recovered["size"], original["size"], "{recovered}");
    assert_eq!(recovered["checkpoint_identical"], true, "{recovered}");
    let rebuilt = w
        .airlock_in(&standby, &["--json", "log", "verify"])
        .ok()
        .json();
    assert_eq!(rebuilt["root"], original["root"]);

    let here = w.airlock(&["--json", "metrics"]).ok().json();
    let there = w.airlock_in(&standby, &["--json", "metrics"]).ok().json();
    let remote = w
        .airlock_in(&standby, &["--json", "metrics", "--from-log", &server.url])
        .ok()
        .json();
    assert_eq!(there, here);
    assert_eq!(remote, here);
    assert_eq!(here["outcomes"]["finalized"], 1, "{here}");
    assert_eq!(here["latency"]["ready"]["p50"], 600, "{here}");
    drop(server);
}
