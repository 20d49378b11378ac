//! `airlock drill` (issue 17, item 3): a tabletop exercise on a real vault — the policy's own
//! answers to each failure, the team's answers graded and recorded in the log, the record
//! replayed by `log verify` and counted by `airlock metrics` — and bad answers refused with
//! nothing recorded.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use serde_json::{Value, json};

fn expected(plan: &Value) -> Vec<(String, String)> {
    plan["injects"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["questions"].as_array().unwrap().clone())
        .map(|q| {
            (
                q["id"].as_str().unwrap().to_owned(),
                q["expected"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn answer_of<'a>(answers: &'a [(String, String)], id: &str) -> &'a str {
    &answers
        .iter()
        .find(|(q, _)| q == id)
        .unwrap_or_else(|| panic!("no question {id} in {answers:?}"))
        .1
}

#[test]
fn a_drill_on_the_real_vault_is_graded_by_its_policy_recorded_and_counted() {
    let w = treasury();
    w.set_now(T0);
    let plan = w.airlock(&["--json", "drill", "plan"]).ok().json();
    assert_eq!(plan["vault"], "treasury", "{plan}");
    let ids: Vec<&str> = plan["injects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    // Losing any one signer leaves "large" (2 ops, 1 compliance) unreachable: the first listed;
    // alice's ops key alone passes "routine" (1 ops); no witnesses are named.
    assert_eq!(ids, ["key-loss:alice", "stolen-key:alice", "coordinator"]);
    let policy = expected(&plan);
    assert_eq!(answer_of(&policy, "key-loss:alice/rule:routine"), "yes");
    assert_eq!(answer_of(&policy, "key-loss:alice/rule:large"), "no");
    assert_eq!(answer_of(&policy, "key-loss:alice/rotate"), "yes");
    assert_eq!(answer_of(&policy, "stolen-key:alice/rule:routine"), "yes");
    assert_eq!(answer_of(&policy, "stolen-key:alice/rule:large"), "no");
    assert_eq!(answer_of(&policy, "stolen-key:alice/change-vault"), "no");
    assert_eq!(answer_of(&policy, "coordinator/fork"), "no");
    assert_eq!(answer_of(&policy, "coordinator/new-signer"), "no");
    let sheet = w.airlock(&["drill", "plan"]).ok();
    assert!(
        sheet.stdout.contains("Controls that act"),
        "{}",
        sheet.stdout
    );

    // The team answers on paper; one answer is wrong (it thinks a stolen ops key cannot pay a
    // routine payment).
    let answers: Vec<Value> = policy
        .iter()
        .enumerate()
        .map(|(i, (id, right))| {
            let given = if id == "stolen-key:alice/rule:routine" {
                "no"
            } else {
                right.as_str()
            };
            json!({"question": id, "answer": given, "seconds": 60 * (i as u64 + 1)})
        })
        .collect();
    let file = w.p("answers.json");
    std::fs::write(
        &file,
        json!({"facilitator": "ops lead", "answers": answers}).to_string(),
    )
    .unwrap();
    let before = w.log_size();
    w.set_now(T0 + 7200);
    let run = w
        .airlock(&["--json", "drill", "run", "--answers", path_str(&file)])
        .ok()
        .json();
    let n = policy.len() as u64;
    assert_eq!(run["recorded"], true, "{run}");
    assert_eq!(run["questions"], n, "{run}");
    assert_eq!(run["correct"], n - 1, "{run}");
    assert_eq!(run["facilitator"], "ops lead", "{run}");
    let total: u64 = (1..=n).map(|i| 60 * i).sum();
    assert_eq!(run["finished"], T0 + 7200, "{run}");
    assert_eq!(run["started"], T0 + 7200 - total, "{run}");

    // One leaf more; the log replays it.
    assert_eq!(w.log_size(), before + 1);
    let verified = w.airlock(&["--json", "log", "verify"]).ok().json();
    assert_eq!(verified["drills"], 1, "{verified}");
    let listed = w.airlock(&["--json", "drill", "list"]).ok().json();
    assert_eq!(listed[0]["id"], run["id"], "{listed}");
    let inspected = w.airlock(&["drill", "list"]).ok().says(&format!(
        "{}/{} answers matched the policy",
        n - 1,
        n
    ));
    assert!(inspected.stdout.contains("ops lead"));

    // Metrics count it: answers took 60, 120, … s.
    let m = w.airlock(&["--json", "metrics"]).ok().json();
    let d = &m["drills"];
    assert_eq!(d["total"], 1, "{m}");
    assert_eq!(d["questions"], n, "{m}");
    assert_eq!(d["correct"], n - 1, "{m}");
    assert_eq!(d["answer"]["max"], 60 * n, "{m}");
    assert_eq!(d["answer"]["p50"], 60 * n.div_ceil(2), "{m}");
    assert_eq!(d["items"][0]["minutes"], total.div_ceil(60), "{m}");
    let prom = w.airlock(&["metrics", "--prometheus"]).ok();
    assert!(
        prom.stdout.contains("airlock_process_drills 1"),
        "{}",
        prom.stdout
    );
    assert!(
        prom.stdout
            .contains("airlock_process_drill_answers{result=\"wrong\"} 1"),
        "{}",
        prom.stdout
    );
    w.airlock(&["metrics"]).ok().says("Tabletop drills: 1");
}

#[test]
fn answers_typed_at_the_prompt_are_timed_and_recorded() {
    let w = treasury();
    w.set_now(T0);
    let plan = w
        .airlock(&["--json", "drill", "plan", "--inject", "key-loss:carol"])
        .ok()
        .json();
    let policy = expected(&plan);
    // Without carol (the one compliance signer) "large" cannot be approved.
    assert_eq!(answer_of(&policy, "key-loss:carol/rule:large"), "no");
    let typed: String = policy
        .iter()
        .map(|(_, a)| format!("{}\n", if a == "yes" { "Y" } else { "n" }))
        .collect();
    let mut child = Command::new(airlock_bin())
        .args([
            "--home",
            path_str(&w.coordinator_home()),
            "--json",
            "drill",
            "run",
            "--inject",
            "key-loss:carol",
            "--facilitator",
            "ciso",
        ])
        .env("AIRLOCK_NOW", (T0 + 600).to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(typed.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("carol's signing device"), "{stderr}");
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["correct"], policy.len(), "{run}");
    assert_eq!(run["facilitator"], "ciso", "{run}");
    assert_eq!(
        w.airlock(&["--json", "log", "verify"]).ok().json()["drills"],
        1
    );
}

#[test]
fn bad_drills_and_bad_answers_are_refused_and_nothing_is_recorded() {
    let w = treasury();
    w.set_now(T0);
    let before = w.log_size();
    w.airlock(&["drill", "plan", "--inject", "key-loss:mallory"])
        .fails(1, "has no signer \"mallory\"");
    w.airlock(&["drill", "plan", "--inject", "witness:w1"])
        .fails(1, "names no witness \"w1\"");
    w.airlock(&["drill", "plan", "--inject", "flood"])
        .fails(1, "is not one of key-loss:SIGNER");
    w.airlock(&["drill", "plan", "--vault", "nope"])
        .fails(1, "nope");

    let plan = w
        .airlock(&["--json", "drill", "plan", "--inject", "coordinator"])
        .ok()
        .json();
    let policy = expected(&plan);
    let write = |name: &str, v: Value| {
        let f = w.p(name);
        std::fs::write(&f, v.to_string()).unwrap();
        f
    };
    let all = |f: &dyn Fn(&str, &str) -> Value| -> Vec<Value> {
        policy.iter().map(|(id, a)| f(id, a)).collect()
    };
    let cases = [
        (
            write(
                "missing.json",
                json!({"answers": [{"question": policy[0].0, "answer": "no", "seconds": 5}]}),
            ),
            "is not answered",
        ),
        (
            write(
                "choice.json",
                json!({"answers": all(&|id, _| json!({"question": id, "answer": "perhaps", "seconds": 5}))}),
            ),
            "is not one of",
        ),
        (
            write(
                "unknown.json",
                json!({"answers": all(&|id, a| json!({"question": id, "answer": a, "seconds": 5}))
                    .into_iter()
                    .chain([json!({"question": "coordinator/other", "answer": "no", "seconds": 1})])
                    .collect::<Vec<_>>()}),
            ),
            "is not a question of this drill",
        ),
        (
            write("field.json", json!({"answers": [], "score": 10})),
            "unknown field \"score\"",
        ),
        (
            write(
                "seconds.json",
                json!({"answers": all(&|id, a| json!({"question": id, "answer": a, "seconds": -4}))}),
            ),
            "\"seconds\" must be",
        ),
    ];
    for (file, needle) in &cases {
        w.airlock(&[
            "drill",
            "run",
            "--inject",
            "coordinator",
            "--answers",
            path_str(file),
        ])
        .fails(1, needle);
    }
    // A dry run grades without recording.
    let fine = write(
        "fine.json",
        json!({"answers": all(&|id, a| json!({"question": id, "answer": a, "seconds": 5}))}),
    );
    w.airlock(&[
        "drill",
        "run",
        "--inject",
        "coordinator",
        "--answers",
        path_str(&fine),
        "--dry-run",
    ])
    .ok()
    .says("Not recorded");
    assert_eq!(w.log_size(), before, "nothing was recorded");
    w.airlock(&["drill", "list"])
        .ok()
        .says("No drill is recorded");
}
