//! Batch decisions (issue 18, item 1): the coordinator exports many proposals as one batch, a
//! signer decides them in one session (one review screen, one unlock, one journal commit, one
//! file), and the coordinator records the whole decision batch in one transaction. Every item is
//! still checked on its own: a batch whose items together pass a rolling-window limit, or that a
//! coordinator cannot vouch for, is refused with nothing signed or recorded; a crash at any write
//! of the batch leaves all of it recorded or none.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// A treasury whose routine rule also caps what is approved per day (2,500 across proposals).
fn windowed_treasury() -> World {
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
            "routine: max=1000, window=2500/24h, to=acme-payroll|acme-rent, expiry=2h => 1 ops",
            "--rule",
            "large: => 2 ops",
        ],
        &["alice", "bob"],
        &["alice", "bob"],
    );
    w
}

fn propose_n(w: &World, n: usize, amount: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let to = format!("acme-payroll:{}", amount + i as u64);
            w.propose("treasury", &to, &[]).0
        })
        .collect()
}

fn export(w: &World, ids: &[String]) -> std::path::PathBuf {
    let out = w.fresh("batch");
    let mut args = vec!["--json", "export"];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["--out", path_str(&out)]);
    let json = w.airlock(&args).ok().json();
    assert_eq!(json["items"], ids.len(), "{json}");
    out
}

fn journal_len(w: &World, who: &str) -> usize {
    w.journal(who).as_array().map_or(0, Vec::len)
}

#[test]
fn a_batch_is_decided_in_one_session_and_recorded_whole() {
    let w = windowed_treasury();
    let ids = propose_n(&w, 6, 100);
    let batch = export(&w, &ids);

    // One review screen: totals per destination and per rule, every item checked.
    let review = w
        .signer("alice", &["--json", "review", path_str(&batch)])
        .ok()
        .json();
    assert_eq!(review["items"], 6, "{review}");
    assert_eq!(review["can_approve"], true, "{review}");
    assert_eq!(review["per_rule"][0]["name"], "routine");
    assert_eq!(review["per_rule"][0]["items"], 6);
    // 100 + 101 + … + 105
    assert_eq!(review["per_destination"][0]["amount"], "615", "{review}");
    let text = w.signer("alice", &["review", path_str(&batch)]).ok();
    assert!(
        text.stdout.contains("BATCH of 6 proposal(s)"),
        "{}",
        text.stdout
    );

    let decisions = w.fresh("decisions");
    // A wrong passphrase: refused after the review, nothing written or recorded.
    let wrong = w.fresh("wrong.pass");
    std::fs::write(&wrong, "not alice's passphrase").unwrap();
    let before = w.signer_files("alice");
    w.signer_with_passphrase(
        "alice",
        &wrong,
        &[
            "approve",
            path_str(&batch),
            "--out",
            path_str(&decisions),
            "--yes",
        ],
    )
    .fails(1, "wrong passphrase");
    assert!(!decisions.exists());
    assert_eq!(w.signer_files("alice"), before);
    let approved = w
        .signer(
            "alice",
            &[
                "--json",
                "approve",
                path_str(&batch),
                "--out",
                path_str(&decisions),
                "--yes",
            ],
        )
        .ok()
        .json();
    assert_eq!(approved["items"], 6, "{approved}");
    // With --yes and a passphrase file the keys were unlocked beside the review.
    assert_eq!(
        approved["timing_ms"]["unlock_beside_review"], true,
        "{approved}"
    );
    // One journal commit: six entries that name the batch's last entry.
    let journal = w.journal("alice");
    let entries = journal.as_array().unwrap();
    assert_eq!(entries.len(), 6);
    assert!(entries.iter().all(|e| e["batch_end"] == 6), "{journal}");
    w.signer("alice", &["journal", "verify"]).ok();

    // The coordinator records the six approvals in one submit; routine needs one ops approval.
    let submitted = w.submit(&[&decisions]).ok().json();
    assert_eq!(submitted.as_array().unwrap().len(), 6, "{submitted}");
    for id in &ids {
        assert_eq!(w.status(id)["status"], "ready", "{id}");
    }
    w.airlock(&["log", "verify"]).ok();

    // Run again (a lost file): the recorded decisions are written again, byte for byte.
    let again = w.fresh("decisions-again");
    w.signer(
        "alice",
        &[
            "approve",
            path_str(&batch),
            "--out",
            path_str(&again),
            "--yes",
        ],
    )
    .ok()
    .says("already decided");
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&decisions).unwrap()
    );
    assert_eq!(journal_len(&w, "alice"), 6);
    // Submitting the same decisions again is refused and changes nothing.
    let size = w.log_size();
    w.submit(&[&again]).fails(1, "already submitted");
    assert_eq!(w.log_size(), size);

    // `export --open` batches what is still open; `--undecided-by` leaves out what a signer
    // already decided: nothing left for alice, all six for bob.
    w.airlock(&[
        "export",
        "--open",
        "treasury",
        "--undecided-by",
        "alice",
        "--out",
        path_str(&w.fresh("none")),
    ])
    .fails(1, "that alice has not decided");
    w.airlock(&[
        "export",
        "--open",
        "treasury",
        "--undecided-by",
        "mallory",
        "--out",
        path_str(&w.fresh("none")),
    ])
    .fails(1, "not a signer");
    let open = w.fresh("open-batch");
    let out = w
        .airlock(&[
            "--json",
            "export",
            "--open",
            "treasury",
            "--undecided-by",
            "bob",
            "--out",
            path_str(&open),
        ])
        .ok()
        .json();
    assert_eq!(out["items"], 6, "{out}");
    let rejected = w.fresh("bob-rejects");
    w.signer(
        "bob",
        &[
            "reject",
            path_str(&open),
            "--reason",
            "duplicate run",
            "--out",
            path_str(&rejected),
        ],
    )
    .ok();
    // Through `airlock serve`: the decision batch goes up as its six decisions, one transaction.
    let server = Server::start(&w, &[]);
    let laptop = w.p("laptop-home");
    let accepted = run(
        &airlock_bin(),
        &[
            "--home",
            path_str(&laptop),
            "--server",
            server.url.as_str(),
            "--json",
            "submit",
            path_str(&rejected),
        ],
        w.now.get(),
        &[],
    )
    .ok()
    .json();
    assert_eq!(accepted.as_array().unwrap().len(), 6, "{accepted}");
    drop(server);
    let journal = w.journal("bob");
    assert!(
        journal
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["decision"] == "reject" && e["reason"] == "duplicate run"),
        "{journal}"
    );
    w.airlock(&["log", "verify"]).ok();
}

#[test]
fn items_are_checked_on_their_own_and_a_bad_batch_changes_nothing() {
    let w = windowed_treasury();
    // Four proposals of 900: the daily 2,500 leaves "routine" (2h expiry) to the first two and
    // "large" (2 ops) to the others.
    let ids = propose_n(&w, 4, 900);
    let rules: Vec<String> = ids
        .iter()
        .map(|id| w.status(id)["rule"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rules, ["routine", "routine", "large", "large"]);
    let batch = export(&w, &ids);
    // Three hours later the routine ones have expired by the signer's clock: the whole batch is
    // refused, naming them, and nothing is signed or recorded.
    w.set_now(T0 + 3 * 3600);
    let before = w.signer_files("alice");
    let out = w.fresh("decisions");
    let approve = [
        "approve",
        path_str(&batch),
        "--out",
        path_str(&out),
        "--yes",
    ];
    let refused = w
        .signer("alice", &approve)
        .fails(1, "batch approval refused");
    assert!(refused.stdout.contains("PROBLEMS"), "{}", refused.stdout);
    assert!(
        refused.stderr.contains("item 1") && refused.stderr.contains("expired"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("item 3"), "{}", refused.stderr);
    assert!(!out.exists());
    assert_eq!(
        w.signer_files("alice"),
        before,
        "a refused batch changed the signer"
    );
    // The same batch with a wrong passphrase (unlocked beside the review): the review's reason
    // is the answer, and still nothing changes.
    let wrong = w.fresh("wrong.pass");
    std::fs::write(&wrong, "not alice's passphrase").unwrap();
    let refused = w
        .signer_with_passphrase("alice", &wrong, &approve)
        .fails(1, "batch approval refused");
    assert!(!refused.stderr.contains("passphrase"), "{}", refused.stderr);
    assert!(!out.exists());
    assert_eq!(w.signer_files("alice"), before);

    // The coordinator will not batch a proposal twice, nor a decided-on one.
    w.airlock(&["export", &ids[2], &ids[2], "--out", path_str(&w.fresh("x"))])
        .fails(1, "named twice");
    w.airlock(&["export", &ids[0], &ids[2], "--out", path_str(&w.fresh("x"))])
        .fails(1, "only open proposals");

    // A batch altered after the coordinator signed it is refused before any review.
    let mut bytes = std::fs::read(&batch).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    let tampered = w.fresh("tampered");
    std::fs::write(&tampered, &bytes).unwrap();
    let out = w.fresh("decisions");
    let failed = w.signer(
        "alice",
        &[
            "approve",
            path_str(&tampered),
            "--out",
            path_str(&out),
            "--yes",
        ],
    );
    assert_ne!(failed.code, 0, "{failed:#?}");
    assert!(!out.exists());
    assert_eq!(w.signer_files("alice"), before);

    // The two open items are approved; a decision batch with one altered decision is refused
    // whole by the coordinator, which records none of it.
    let small = export(&w, &ids[2..]);
    let decisions = w.fresh("decisions");
    w.signer(
        "alice",
        &[
            "approve",
            path_str(&small),
            "--out",
            path_str(&decisions),
            "--yes",
        ],
    )
    .ok();
    let env = Env::read(&decisions);
    let mut payload = env.payload_cbor();
    let Cbor::A(items) = payload.get(1).clone() else {
        panic!("no decisions")
    };
    let mut second = Env::parse(items[1].bytes());
    second.sigs[0].1[0] ^= 1;
    let mut altered_items = items.clone();
    altered_items[1] = Cbor::B(second.to_bytes());
    payload.set(1, Cbor::A(altered_items));
    let mut altered = env.clone();
    altered.payload = encode(&payload);
    altered.sigs.clear();
    altered.sign_with(&w.identity_key("alice"));
    let altered_path = w.fresh("altered");
    altered.write(&altered_path);
    let size = w.log_size();
    w.submit(&[&altered_path]).fails(1, "decision 2");
    assert_eq!(
        w.log_size(),
        size,
        "a refused decision batch was recorded in part"
    );
    w.submit(&[&decisions]).ok();
    assert_eq!(w.log_size(), size + 2);
    for id in &ids[2..] {
        assert_eq!(w.status(id)["status"], "collecting");
    }
    // "large" needs both ops: bob decides the same batch, and both proposals are ready.
    let bobs = w.fresh("bob-decisions");
    w.signer(
        "bob",
        &[
            "approve",
            path_str(&small),
            "--out",
            path_str(&bobs),
            "--yes",
        ],
    )
    .ok();
    w.submit(&[&bobs]).ok();
    for id in &ids[2..] {
        assert_eq!(w.status(id)["status"], "ready");
    }
    w.airlock(&["log", "verify"]).ok();
}

fn approve_args<'a>(
    home: &'a Path,
    pass: &'a Path,
    batch: &'a Path,
    out: &'a Path,
) -> Vec<&'a str> {
    vec![
        "--home",
        path_str(home),
        "--passphrase-file",
        path_str(pass),
        "approve",
        path_str(batch),
        "--out",
        path_str(out),
        "--yes",
    ]
}

/// A batch approval killed at every write, fsync and rename it reaches: the signer is never
/// bricked, the batch is recorded whole or not at all, running it again writes a decision batch
/// the coordinator accepts whole, and nothing is decided twice.
#[test]
fn a_crash_at_any_write_of_a_batch_records_all_of_it_or_none() {
    let w = windowed_treasury();
    let home = w.signer_home("alice");
    let pass = w.pass_file("alice");
    let ids = propose_n(&w, 3, 10);
    let batch = export(&w, &ids);
    let listed = run(
        &signer_bin(),
        &approve_args(&home, &pass, &batch, &w.fresh("listed")),
        T0,
        &[("AIRLOCK_FAILPOINT", "list")],
    )
    .ok();
    let points = failpoints(&listed);
    assert!(
        points
            .iter()
            .any(|p| p.starts_with("chained-log.batch-written")),
        "{points:?}"
    );
    let mut injected = 0;
    for point in &points {
        let ids = propose_n(&w, 3, 10);
        let batch = export(&w, &ids);
        let before = journal_len(&w, "alice");
        let out = w.fresh("crash");
        let crash = run(
            &signer_bin(),
            &approve_args(&home, &pass, &batch, &out),
            T0,
            &[("AIRLOCK_FAILPOINT", point)],
        );
        assert!(crashed(&crash), "{point}: {crash:#?}");
        injected += 1;
        w.signer("alice", &["journal", "verify"]).ok();
        let after_crash = journal_len(&w, "alice");
        assert!(
            after_crash == before || after_crash == before + 3,
            "{point}: {} of the batch's 3 decisions recorded",
            after_crash - before
        );
        let again = run(
            &signer_bin(),
            &approve_args(&home, &pass, &batch, &out),
            T0,
            &[],
        );
        assert_eq!(again.code, 0, "{point}: {again:#?}");
        assert_eq!(journal_len(&w, "alice"), before + 3, "{point}");
        let submitted: Value = w.submit(&[&out]).ok().json();
        assert_eq!(submitted.as_array().unwrap().len(), 3, "{point}");
        for id in &ids {
            assert_eq!(w.status(id)["status"], "ready", "{point}: {id}");
        }
    }
    assert!(injected >= 3, "{points:?}");
    w.airlock(&["log", "verify"]).ok();
}
