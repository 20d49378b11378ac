//! The signer-side acceptance rule for successive checkpoints.

use airlock_log::{
    Advance, Checkpoint, ConsistencyProof, LogError, MemoryLog, check_advance, check_behind,
    empty_root, prove_consistency,
};

const ORIGIN: &str = "airlock.example/log";

fn log_of(n: u64, salt: &str) -> MemoryLog {
    let mut log = MemoryLog::new();
    for i in 0..n {
        log.append(format!("{salt} transition {i}").as_bytes());
    }
    log
}

fn cp(log: &MemoryLog, size: u64) -> Checkpoint {
    Checkpoint {
        origin: ORIGIN.into(),
        size,
        root: log.root_at(size).unwrap(),
    }
}

#[test]
fn first_checkpoint_is_accepted() {
    let log = log_of(10, "main");
    assert_eq!(check_advance(None, &cp(&log, 10), None), Ok(Advance::First));
    assert_eq!(check_advance(None, &cp(&log, 0), None), Ok(Advance::First));
}

#[test]
fn same_checkpoint_is_accepted() {
    let log = log_of(10, "main");
    for size in [0, 1, 10] {
        let c = cp(&log, size);
        assert_eq!(check_advance(Some(&c), &c.clone(), None), Ok(Advance::Same));
        // A proof, if any, is irrelevant for the same tree.
        let p = prove_consistency(size, size, &log).unwrap();
        assert_eq!(check_advance(Some(&c), &c, Some(&p)), Ok(Advance::Same));
    }
}

#[test]
fn forward_with_valid_proof_is_accepted() {
    let log = log_of(40, "main");
    for old in 0..=40 {
        for new in old + 1..=40 {
            let proof = prove_consistency(old, new, &log).unwrap();
            assert_eq!(
                check_advance(Some(&cp(&log, old)), &cp(&log, new), Some(&proof)),
                Ok(Advance::Forward { from: old, to: new }),
                "{old} -> {new}"
            );
        }
    }
}

#[test]
fn rollback_is_rejected() {
    let log = log_of(10, "main");
    let proof = prove_consistency(4, 10, &log).unwrap();
    for (last, next) in [(10, 4), (10, 9), (1, 0)] {
        let got = check_advance(Some(&cp(&log, last)), &cp(&log, next), Some(&proof));
        assert_eq!(
            got,
            Err(LogError::Rollback {
                accepted_size: last,
                offered_size: next
            })
        );
    }
}

#[test]
fn fork_at_same_size_is_rejected() {
    let main = log_of(10, "main");
    let fork = log_of(10, "fork");
    let got = check_advance(Some(&cp(&main, 10)), &cp(&fork, 10), None);
    assert_eq!(
        got,
        Err(LogError::Fork {
            accepted_size: 10,
            offered_size: 10
        })
    );
    // A size-0 checkpoint claiming a non-empty root is a fork of the empty tree.
    let bogus = Checkpoint {
        root: [9; 32],
        ..cp(&main, 0)
    };
    assert!(matches!(
        check_advance(Some(&cp(&main, 0)), &bogus, None),
        Err(LogError::Fork { .. })
    ));
}

#[test]
fn fork_with_bad_proof_is_rejected() {
    let main = log_of(20, "main");
    // A log that shares the first 8 transitions, then diverges.
    let mut fork = log_of(8, "main");
    for i in 8..20 {
        fork.append(format!("fork transition {i}").as_bytes());
    }
    let fork_err = |old, new| {
        Err(LogError::Fork {
            accepted_size: old,
            offered_size: new,
        })
    };
    // The fork's own (honest) proof does not link the main checkpoint to it.
    let proof = prove_consistency(12, 20, &fork).unwrap();
    assert_eq!(
        check_advance(Some(&cp(&main, 12)), &cp(&fork, 20), Some(&proof)),
        fork_err(12, 20)
    );
    // Nor does the main log's proof.
    let proof = prove_consistency(12, 20, &main).unwrap();
    assert_eq!(
        check_advance(Some(&cp(&main, 12)), &cp(&fork, 20), Some(&proof)),
        fork_err(12, 20)
    );
    // Up to the common prefix the logs agree.
    let proof = prove_consistency(8, 20, &fork).unwrap();
    assert_eq!(
        check_advance(Some(&cp(&main, 8)), &cp(&fork, 20), Some(&proof)),
        Ok(Advance::Forward { from: 8, to: 20 })
    );
    // A tampered proof.
    let mut proof = prove_consistency(12, 20, &main).unwrap();
    proof.hashes[0][0] ^= 1;
    assert_eq!(
        check_advance(Some(&cp(&main, 12)), &cp(&main, 20), Some(&proof)),
        fork_err(12, 20)
    );
    // A proof with a hash too many or too few.
    let proof = prove_consistency(12, 20, &main).unwrap();
    for hashes in [
        proof.hashes[1..].to_vec(),
        [proof.hashes.clone(), vec![[0; 32]]].concat(),
        vec![],
    ] {
        let bad = ConsistencyProof {
            hashes,
            ..proof.clone()
        };
        assert_eq!(
            check_advance(Some(&cp(&main, 12)), &cp(&main, 20), Some(&bad)),
            fork_err(12, 20)
        );
    }
    // From the empty tree, a non-empty proof is not a proof.
    let bad = ConsistencyProof {
        old_size: 0,
        new_size: 20,
        hashes: vec![[0; 32]],
    };
    assert_eq!(
        check_advance(Some(&cp(&main, 0)), &cp(&main, 20), Some(&bad)),
        fork_err(0, 20)
    );
}

#[test]
fn missing_proof_is_rejected() {
    let log = log_of(20, "main");
    let (last, next) = (cp(&log, 12), cp(&log, 20));
    assert_eq!(
        check_advance(Some(&last), &next, None),
        Err(LogError::MissingConsistencyProof)
    );
    // Valid proofs, but for other sizes.
    for (old, new) in [(11, 20), (12, 19), (0, 20), (12, 12), (20, 20)] {
        let proof = prove_consistency(old, new, &log).unwrap();
        assert_eq!(
            check_advance(Some(&last), &next, Some(&proof)),
            Err(LogError::MissingConsistencyProof),
            "proof {old} -> {new}"
        );
    }
    // Even from the empty tree a proof (empty) is required.
    let empty = Checkpoint {
        origin: ORIGIN.into(),
        size: 0,
        root: empty_root(),
    };
    assert_eq!(
        check_advance(Some(&empty), &next, None),
        Err(LogError::MissingConsistencyProof)
    );
    let proof = prove_consistency(0, 20, &log).unwrap();
    assert_eq!(
        check_advance(Some(&empty), &next, Some(&proof)),
        Ok(Advance::Forward { from: 0, to: 20 })
    );
}

#[test]
fn other_origin_is_rejected() {
    let log = log_of(10, "main");
    let last = cp(&log, 5);
    for size in [4, 5, 10] {
        let next = Checkpoint {
            origin: "other.example/log".into(),
            ..cp(&log, size)
        };
        let proof = prove_consistency(5, size.max(5), &log).unwrap();
        assert_eq!(
            check_advance(Some(&last), &next, Some(&proof)),
            Err(LogError::OriginMismatch {
                expected: ORIGIN.into(),
                found: "other.example/log".into()
            })
        );
    }
}

/// A signer following the log through many small steps ends where the log is.
#[test]
fn chain_of_advances() {
    let mut log = MemoryLog::new();
    let mut accepted: Option<Checkpoint> = None;
    for step in 0..50u64 {
        for i in 0..step % 4 {
            log.append(format!("step {step} transition {i}").as_bytes());
        }
        let next = cp(&log, log.size());
        let proof = match &accepted {
            Some(last) => Some(prove_consistency(last.size, next.size, &log).unwrap()),
            None => None,
        };
        let got = check_advance(accepted.as_ref(), &next, proof.as_ref()).unwrap();
        match (&accepted, got) {
            (None, Advance::First) => {}
            (Some(last), Advance::Same) => assert_eq!(last, &next),
            (Some(last), Advance::Forward { from, to }) => {
                assert_eq!((from, to), (last.size, next.size));
            }
            (_, other) => panic!("unexpected {other:?}"),
        }
        accepted = Some(next);
    }
    assert_eq!(accepted.unwrap().root, log.root());
}

/// An older checkpoint is placed in the accepted history by a proof kept from the accepted
/// bundle: part of it (Behind), contradicting it (Fork), or, without a proof for its size, stale.
#[test]
fn older_checkpoints_are_placed_with_a_kept_proof() {
    let main = log_of(20, "main");
    let mut fork = log_of(8, "main");
    for i in 8..20 {
        fork.append(format!("fork transition {i}").as_bytes());
    }
    let accepted = cp(&main, 20);
    let kept = prove_consistency(12, 20, &main).unwrap();
    assert_eq!(
        check_behind(&accepted, &cp(&main, 12), Some(&kept)),
        Ok(Advance::Behind {
            offered: 12,
            accepted: 20
        })
    );
    // A checkpoint of the same size from a diverged history does not fit the kept proof.
    assert_eq!(
        check_behind(&accepted, &cp(&fork, 12), Some(&kept)),
        Err(LogError::Fork {
            accepted_size: 20,
            offered_size: 12
        })
    );
    // No proof for that size (or one for other sizes): stale, not an alarm.
    let other = prove_consistency(11, 20, &main).unwrap();
    for proof in [None, Some(&other)] {
        assert_eq!(
            check_behind(&accepted, &cp(&main, 12), proof),
            Err(LogError::StaleCheckpoint {
                accepted_size: 20,
                offered_size: 12
            })
        );
    }
    // Not smaller: the forward rule decides.
    assert_eq!(check_behind(&accepted, &accepted, None), Ok(Advance::Same));
}
