//! The database's own guarantee, below the home lock the CLI takes: many coordinators on one
//! database (separate connections, as separate processes or a service's workers have), racing
//! the same transitions from threads — on the SQLite file and on a real PostgreSQL server. Each
//! transition validates and appends inside one transaction holding the write lock (`BEGIN
//! IMMEDIATE`; `pg_advisory_xact_lock`), so exactly one of conflicting transitions lands, nobody
//! fails busy, and the log always verifies.

use std::sync::{Barrier, OnceLock};

use airlock_coordinator::test_server::TestPostgres;

use airlock_coordinator::{Coordinator, CoordinatorHome, VaultDraft};
use airlock_core::{
    Approval, Artifact, ArtifactId, Decision, Envelope, Intent, PublicKey, SeenCheckpoint,
    SignerEntry, Transfer,
};
use airlock_custody::IdentityKey;

const NOW: u64 = 1_767_225_600;

fn pk(k: &IdentityKey) -> PublicKey {
    PublicKey(k.verifying_key().to_bytes())
}

fn server() -> &'static TestPostgres {
    static SERVER: OnceLock<TestPostgres> = OnceLock::new();
    SERVER.get_or_init(|| TestPostgres::start().expect("a PostgreSQL test server starts"))
}

/// Runs `case` on a coordinator home on SQLite, then on one on PostgreSQL (database `name`).
fn on_both(name: &str, case: impl Fn(&std::path::Path)) {
    for postgres in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut home = CoordinatorHome::init(dir.path(), Some("test/log"), NOW).unwrap();
        if postgres {
            let url = server().create_database(name).unwrap();
            home.set_database(Some(&url)).unwrap();
        }
        case(dir.path());
    }
}

/// Vault "treasury" (alice and bob, 1 of any needed) in a new coordinator home.
fn setup(dir: &std::path::Path) -> (IdentityKey, IdentityKey) {
    let mut c = open(dir);
    let (alice, bob) = (IdentityKey::generate(), IdentityKey::generate());
    let signer = |name: &str, k: &IdentityKey| SignerEntry {
        name: name.into(),
        role: "ops".into(),
        identity: pk(k),
        chain_key: String::new(),
        custody: "keystore".into(),
    };
    let mut env = c
        .draft_vault(
            VaultDraft {
                vault_id: "treasury".into(),
                chain: "none".into(),
                network: "main".into(),
                account: String::new(),
                signers: vec![signer("alice", &alice), signer("bob", &bob)],
                threshold: 1,
                rules: vec![airlock_core::vault::parse_rule("default: => 1 any").unwrap()],
                witnesses: Default::default(),
            },
            NOW,
        )
        .unwrap();
    env.sign(alice.signing_key());
    c.submit_vault(&[env], NOW).unwrap();
    (alice, bob)
}

fn open(dir: &std::path::Path) -> Coordinator {
    CoordinatorHome::open(dir).unwrap().coordinator().unwrap()
}

fn propose(c: &mut Coordinator, amount: u128) -> ArtifactId {
    c.propose(
        "treasury",
        Intent {
            transfers: vec![Transfer {
                destination: "acme".into(),
                amount,
                asset: String::new(),
            }],
            memo: String::new(),
        },
        None,
        NOW,
    )
    .unwrap()
}

fn decision(who: &IdentityKey, proposal: ArtifactId, decision: Decision) -> Envelope {
    let a = Approval {
        proposal,
        vault_id: "treasury".into(),
        vault_version: 1,
        decision,
        reason: if decision == Decision::Reject {
            "no".into()
        } else {
            String::new()
        },
        chain_signature: vec![],
        signer: pk(who),
        signed_at: NOW,
        seen_checkpoint: SeenCheckpoint {
            size: 0,
            root: [0; 32],
        },
        review_digest: [0; 32],
    };
    let mut env = a.envelope();
    env.sign(who.signing_key());
    env
}

/// Runs `f` on `n` threads, each with its own coordinator (connection), started together.
fn race<T: Send>(
    dir: &std::path::Path,
    n: usize,
    f: impl Fn(usize, &mut Coordinator) -> T + Sync,
) -> Vec<T> {
    let barrier = Barrier::new(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, f) = (&barrier, &f);
                scope.spawn(move || {
                    let mut c = open(dir);
                    barrier.wait();
                    f(i, &mut c)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn one_of_racing_finalizations_lands() {
    on_both("finalizations", |dir| {
        let (alice, _) = setup(dir);
        for round in 0..5 {
            let p = propose(&mut open(dir), 10 + round);
            open(dir)
                .submit_decision(&decision(&alice, p, Decision::Approve), NOW)
                .unwrap();
            let results = race(dir, 4, |_, c| c.finalize(&p, NOW).map(|_| ()));
            let ok = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(ok, 1, "{results:?}");
            for e in results.iter().filter_map(|r| r.as_ref().err()) {
                assert!(e.to_string().contains("already finalized"), "{e}");
            }
            open(dir).verify_log().unwrap();
        }
    });
}

#[test]
fn one_of_an_approval_and_a_rejection_by_one_signer_lands() {
    on_both("decisions", |dir| {
        let (alice, _) = setup(dir);
        for round in 0..5 {
            let p = propose(&mut open(dir), 20 + round);
            let envs = [
                decision(&alice, p, Decision::Approve),
                decision(&alice, p, Decision::Reject),
            ];
            let results = race(dir, 2, |i, c| c.submit_decision(&envs[i], NOW));
            assert_eq!(
                results.iter().filter(|r| r.is_ok()).count(),
                1,
                "{results:?}"
            );
            let state = open(dir).proposal_state(&p).unwrap();
            assert_eq!(state.decisions.len(), 1);
            open(dir).verify_log().unwrap();
        }
    });
}

#[test]
fn racing_writers_wait_instead_of_failing_busy() {
    on_both("writers", |dir| {
        let (alice, bob) = setup(dir);
        let results = race(dir, 8, |i, c| {
            let mut done = Vec::new();
            for k in 0..25 {
                let p = c
                    .propose(
                        "treasury",
                        Intent {
                            transfers: vec![Transfer {
                                destination: "acme".into(),
                                amount: (i * 100 + k) as u128 + 1,
                                asset: String::new(),
                            }],
                            memo: String::new(),
                        },
                        None,
                        NOW,
                    )
                    .map_err(|e| format!("propose: {e}"))?;
                let who = if k % 2 == 0 { &alice } else { &bob };
                c.submit_decision(&decision(who, p, Decision::Approve), NOW)
                    .map_err(|e| format!("submit: {e}"))?;
                done.push(p);
            }
            Ok::<_, String>(done)
        });
        let c = open(dir);
        let mut total = 0;
        for r in results {
            for p in r.expect("no writer fails") {
                assert_eq!(c.proposal_state(&p).unwrap().decisions.len(), 1);
                total += 1;
            }
        }
        assert_eq!(total, 200);
        let report = c.verify_log().unwrap();
        assert_eq!(report.proposals, 200);
        assert_eq!(report.approvals, 200);
    });
}
