//! `airlock metrics` (issue 17, item 1): figures computed from the real log a real team made —
//! proposals approved, rejected, re-proposed and left to expire by real signers — checked
//! against the times the test set; the same figures from a published copy of the log; and a
//! log that does not verify refused with the alarm exit code.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// Four proposals at known times (seconds after T0):
/// - P1 routine, alice approves at +600, finalized at +900;
/// - P2 large at +1000: alice approves at +1300, bob rejects at +2200 (the rule can no longer
///   be met: rejected; a split decision);
/// - P3 the same payment again at +3000: alice +100, bob +200, carol +300 (ready at +3300),
///   finalized at +3400 (carol's approval carried in a transfer directory; a re-proposal after a rejection, resolved 1200 s after it began);
/// - P4 routine at +4000, no decision (it expires at +4000 + 2h).
fn team_history() -> World {
    let w = treasury();
    let at = |secs: u64| w.set_now(T0 + secs);
    let decide = |who: &str, bundle: &Path, secs: u64| {
        at(secs);
        let a = w.approve(who, bundle);
        w.submit(&[&a]).ok();
    };
    at(0);
    let (p1, b1) = w.propose("treasury", "acme-rent:900", &[]);
    decide("alice", &b1, 600);
    at(900);
    w.airlock(&["finalize", &p1]).ok();

    at(1000);
    let (p2, b2) = w.propose("treasury", "vendor:5000", &[]);
    decide("alice", &b2, 1300);
    at(2200);
    let r = w.reject("bob", &b2, "unknown vendor");
    w.submit(&[&r]).ok();
    assert_eq!(w.status(&p2)["status"], "rejected");

    at(3000);
    let (p3, b3) = w.propose("treasury", "vendor:5000", &[]);
    decide("alice", &b3, 3100);
    decide("bob", &b3, 3200);
    // Carol's approval crosses the gap in a signed transfer directory.
    at(3300);
    let approval = w.approve("carol", &b3);
    let dir = w.transfer_out("carol", &approval, "approval of the vendor payment");
    w.airlock(&["transfer", "in", path_str(&dir)]).ok();
    at(3400);
    w.airlock(&["finalize", &p3]).ok();

    at(4000);
    w.propose("treasury", "acme-payroll:100", &[]);
    w
}

fn stats(v: &Value) -> (u64, u64, u64, u64) {
    (
        v["count"].as_u64().unwrap(),
        v["p50"].as_u64().unwrap(),
        v["p90"].as_u64().unwrap(),
        v["max"].as_u64().unwrap(),
    )
}

#[test]
fn metrics_from_a_real_log_match_the_times_the_team_acted_at() {
    let w = team_history();
    let m = w.airlock(&["--json", "metrics"]).ok().json();
    assert_eq!(m["as_of"], T0 + 4000, "{m}");
    assert_eq!(m["log_size"], 14, "{m}");
    let o = &m["outcomes"];
    assert_eq!(o["proposals"], 4, "{m}");
    assert_eq!(o["finalized"], 2, "{m}");
    assert_eq!(o["rejected"], 1, "{m}");
    assert_eq!(o["collecting"], 1, "{m}");
    assert_eq!(o["expired"], 0, "{m}");
    assert_eq!(o["approvals"], 5, "{m}");
    assert_eq!(o["rejections"], 1, "{m}");
    let l = &m["latency"];
    assert_eq!(stats(&l["decision"]), (6, 300, 1200, 1200), "{m}");
    assert_eq!(stats(&l["ready"]), (2, 300, 600, 600), "{m}");
    assert_eq!(stats(&l["finalized"]), (2, 400, 900, 900), "{m}");
    assert_eq!(l["broadcast"]["count"], 0);

    // Per rule: routine met in 600 s (P1), large in 300 s (P3).
    let rules = m["rules"].as_array().unwrap();
    let rule = |name: &str| rules.iter().find(|r| r["rule"] == name).unwrap();
    assert_eq!(
        stats(&rule("routine")["latency"]["ready"]),
        (1, 600, 600, 600)
    );
    assert_eq!(
        stats(&rule("large")["latency"]["ready"]),
        (1, 300, 300, 300)
    );
    assert_eq!(rule("large")["outcomes"]["proposals"], 2);

    // Per signer: every signer was asked all four.
    let signers = m["signers"].as_array().unwrap();
    let signer = |name: &str| signers.iter().find(|s| s["name"] == name).unwrap();
    assert_eq!(signer("alice")["asked"], 4);
    assert_eq!(signer("alice")["decided"], 3);
    assert_eq!(stats(&signer("alice")["latency"]), (3, 300, 600, 600));
    assert_eq!(signer("bob")["decided"], 2);
    assert_eq!(signer("bob")["rejected"], 1);
    assert_eq!(stats(&signer("bob")["latency"]), (2, 200, 1200, 1200));
    assert_eq!(signer("carol")["response_rate"], 0.25);

    // Disputes: P2's split decision (settled when it was rejected) and its re-proposal (settled
    // when P3 was finalized, 1200 s after bob's rejection).
    let d = &m["disputes"];
    assert_eq!(d["total"], 2, "{d}");
    assert_eq!(d["split"], 1);
    assert_eq!(d["re_proposed"], 1);
    assert_eq!(d["unresolved"], 0);
    assert_eq!(stats(&d["time_to_resolve"]), (2, 0, 1200, 1200));
    let re = d["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "re-proposed")
        .unwrap();
    assert_eq!(re["started"], T0 + 2200);
    assert_eq!(re["resolved"], T0 + 3400);

    // One crossing: carol's transfer, which carried one decision.
    let c = &m["crossings"];
    assert_eq!(c["total"], 1, "{c}");
    assert_eq!(c["to_coordinator"], 1, "{c}");
    assert_eq!(c["decisions_carried"], 1, "{c}");
    assert_eq!(c["per_finalized"], 0.5, "{c}");
    assert_eq!(c["devices"][0]["name"], "carol", "{c}");

    // Judged three hours later, P4 has expired: one of the four closed proposals.
    let later = (T0 + 4000 + 3 * HOUR).to_string();
    let m = w
        .airlock(&["--json", "metrics", "--as-of", &later])
        .ok()
        .json();
    assert_eq!(m["outcomes"]["expired"], 1, "{m}");
    assert_eq!(m["outcomes"]["collecting"], 0, "{m}");
    assert_eq!(m["outcomes"]["expiry_rate"], 0.25, "{m}");

    // --since keeps the proposals recorded from then on; --vault another vault keeps none.
    let since = (T0 + 2500).to_string();
    let m = w
        .airlock(&["--json", "metrics", "--since", &since])
        .ok()
        .json();
    assert_eq!(m["outcomes"]["proposals"], 2, "{m}");
    assert_eq!(m["disputes"]["total"], 0, "{m}");
    let m = w
        .airlock(&["--json", "metrics", "--vault", "nope"])
        .ok()
        .json();
    assert_eq!(m["outcomes"]["proposals"], 0, "{m}");

    // The text report, Prometheus text and the charts.
    let text = w.airlock(&["metrics"]).ok().stdout;
    assert!(text.contains("Proposals: 4 (1 collecting"), "{text}");
    assert!(text.contains("Disputes: 2 (1 split"), "{text}");
    let prom = w.airlock(&["metrics", "--prometheus"]).ok().stdout;
    for line in [
        "airlock_process_proposals{vault=\"treasury\",outcome=\"finalized\"} 2",
        "airlock_process_stage_seconds{vault=\"treasury\",stage=\"ready\",quantile=\"0.5\"} 300",
        "airlock_process_stage_seconds_count{vault=\"treasury\",stage=\"decision\"} 6",
        "airlock_process_disputes{kind=\"re-proposed\"} 1",
        "airlock_process_dispute_resolve_seconds_sum 1200",
        "# TYPE airlock_process_signer_decision_seconds summary",
    ] {
        assert!(
            prom.lines().any(|l| l == line),
            "missing {line:?} in\n{prom}"
        );
    }
    let charts = w.p("charts");
    w.airlock(&["metrics", "--quick", "--chart", path_str(&charts)])
        .ok();
    for name in ["stages.svg", "outcomes.svg", "signers.svg"] {
        let svg = std::fs::read_to_string(charts.join(name)).unwrap();
        assert!(svg.starts_with("<svg"), "{name}: {svg:.80}");
        assert!(svg.contains("</svg>"), "{name}");
    }
    let signers_svg = std::fs::read_to_string(charts.join("signers.svg")).unwrap();
    assert!(signers_svg.contains("carol (25%)"), "{signers_svg:.2000}");
}

#[test]
fn metrics_of_a_published_log_are_the_same_and_a_bad_log_is_refused() {
    let w = team_history();
    let local = w.airlock(&["--json", "metrics"]).ok().json();
    let published = w.p("published");
    w.airlock(&["log", "publish", path_str(&published)]).ok();
    let remote = w
        .airlock(&["--json", "metrics", "--from-log", path_str(&published)])
        .ok()
        .json();
    assert_eq!(remote, local);

    // Without this home, the log key must be given; a wrong one is refused.
    let elsewhere = w.p("elsewhere");
    let other = w.airlock_in(&elsewhere, &["metrics", "--from-log", path_str(&published)]);
    other.fails(1, "--log-key");
    let key = w.airlock(&["--json", "id"]).ok().json()["log_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let remote = w
        .airlock_in(
            &elsewhere,
            &[
                "--json",
                "metrics",
                "--from-log",
                path_str(&published),
                "--log-key",
                &key,
            ],
        )
        .ok()
        .json();
    assert_eq!(remote, local);

    // A flipped bit in a leaf of the home's database: the alarm, with and without --quick.
    let conn = rusqlite::Connection::open(w.coordinator_home().join("airlock.db")).unwrap();
    let mut leaf: Vec<u8> = conn
        .query_row("SELECT leaf FROM leaves WHERE idx = 2", [], |r| r.get(0))
        .unwrap();
    leaf[5] ^= 0x04;
    conn.execute("UPDATE leaves SET leaf = ?1 WHERE idx = 2", [&leaf])
        .unwrap();
    drop(conn);
    w.airlock(&["metrics"]).fails(3, "log verification FAILED");
    w.airlock(&["metrics", "--quick"])
        .fails(3, "does not match the log's");

    // Bad arguments name what is wrong.
    w.airlock(&["metrics", "--since", "last tuesday"])
        .fails(1, "--since \"last tuesday\" is not a date");
}
