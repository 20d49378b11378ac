//! Exhaustive proof generation and verification on small trees, tampering,
//! agreement with tlog's own verifiers, and hostile inputs (huge sizes,
//! misbehaving stores) that must give errors, never panics.

use airlock_log::{
    ConsistencyProof, HashStore, InclusionProof, LogError, LogHash, MAX_TREE_SIZE, MemoryLog,
    empty_root, hashes_for_append, leaf_hash, prove_consistency, prove_inclusion,
    stored_hash_count, tree_root, verify_consistency, verify_inclusion,
};
use tlog_tiles::tlog::{self, Hash};

const N: u64 = 64;

fn leaf(i: u64) -> Vec<u8> {
    format!("airlock test leaf {i}").into_bytes()
}

fn log_of(n: u64) -> MemoryLog {
    let mut log = MemoryLog::new();
    for i in 0..n {
        log.append(&leaf(i));
    }
    log
}

fn to_tlog(hashes: &[LogHash]) -> Vec<Hash> {
    hashes.iter().copied().map(Hash).collect()
}

/// tlog's own verdict on an inclusion proof, for comparison.
fn tlog_accepts_inclusion(p: &InclusionProof, leaf: &LogHash, root: &LogHash) -> bool {
    p.leaf_index < p.tree_size
        && tlog::check_record(
            &to_tlog(&p.hashes),
            p.tree_size,
            Hash(*root),
            p.leaf_index,
            Hash(*leaf),
        )
        .is_ok()
}

/// Every way of corrupting the hash list of a proof: a flipped byte in each
/// hash (the byte position rotates with the hash, and every bit of byte 0 is
/// also tried), each hash removed, a hash added at each end, and adjacent
/// hashes swapped.
fn corrupted_hash_lists(hashes: &[LogHash], extra: LogHash) -> Vec<(String, Vec<LogHash>)> {
    let mut out = Vec::new();
    for k in 0..hashes.len() {
        for byte in [0, k % 32, 31] {
            let mut wrong = hashes.to_vec();
            wrong[k][byte] ^= 0x01;
            out.push((format!("flipped byte {byte} of hash {k}"), wrong));
        }
        for bit in 1..8 {
            let mut wrong = hashes.to_vec();
            wrong[k][0] ^= 1 << bit;
            out.push((format!("flipped bit {bit} of hash {k}"), wrong));
        }
        let mut removed = hashes.to_vec();
        removed.remove(k);
        out.push((format!("removed hash {k}"), removed));
        if k + 1 < hashes.len() && hashes[k] != hashes[k + 1] {
            let mut swapped = hashes.to_vec();
            swapped.swap(k, k + 1);
            out.push((format!("swapped hashes {k} and {}", k + 1), swapped));
        }
    }
    for added in [extra, [0; 32]] {
        out.push(("appended hash".into(), [hashes, &[added]].concat()));
        out.push(("prepended hash".into(), [&[added], hashes].concat()));
    }
    out
}

#[test]
fn append_hashes_follow_the_tlog_layout() {
    let mut log = MemoryLog::new();
    for size in 0..200u64 {
        assert_eq!(log.stored_hashes().len() as u64, stored_hash_count(size));
        let new = hashes_for_append(size, &leaf(size), &log).unwrap();
        // The leaf hash, then one hash per subtree the leaf completes.
        assert_eq!(new.len() as u32, 1 + size.trailing_ones());
        assert_eq!(new[0], leaf_hash(&leaf(size)));
        assert_eq!(log.append(&leaf(size)), size);
        assert_eq!(
            &log.stored_hashes()[stored_hash_count(size) as usize..],
            &new[..]
        );
        assert_eq!(
            stored_hash_count(size + 1) - stored_hash_count(size),
            new.len() as u64
        );
    }
}

#[test]
fn stored_hash_count_is_exact_or_saturates() {
    // 2n - popcount(n) hashes for n leaves: one per complete subtree.
    for n in (0..5000u64).chain([MAX_TREE_SIZE - 1, MAX_TREE_SIZE]) {
        assert_eq!(
            stored_hash_count(n),
            2 * n - u64::from(n.count_ones()),
            "{n}"
        );
    }
    assert_eq!(stored_hash_count(MAX_TREE_SIZE + 1), 1 << 63);
    assert_eq!(stored_hash_count(1 << 63), u64::MAX);
    assert_eq!(stored_hash_count((1 << 63) + 1), u64::MAX);
    assert_eq!(stored_hash_count(u64::MAX), u64::MAX);
}

/// Roots computed from the stored hashes agree with a recursive RFC 6962
/// MTH over the leaves, for every size up to N.
#[test]
fn roots_match_recursive_definition() {
    fn mth(leaves: &[Vec<u8>]) -> LogHash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaf_hash(&leaves[0]),
            n => {
                // The largest power of two smaller than n.
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                let (l, r) = (mth(&leaves[..k]), mth(&leaves[k..]));
                tlog::node_hash(Hash(l), Hash(r)).0
            }
        }
    }
    let log = log_of(N);
    let leaves: Vec<Vec<u8>> = (0..N).map(leaf).collect();
    for n in 0..=N {
        assert_eq!(
            tree_root(n, &log).unwrap(),
            mth(&leaves[..n as usize]),
            "{n}"
        );
    }
}

#[test]
fn inclusion_all_pairs_and_tampering() {
    let log = log_of(N);
    let roots: Vec<LogHash> = (0..=N).map(|n| tree_root(n, &log).unwrap()).collect();
    let leaves: Vec<LogHash> = (0..N).map(|i| leaf_hash(&leaf(i))).collect();
    for size in 1..=N {
        let root = roots[size as usize];
        for index in 0..size {
            let leaf = leaves[index as usize];
            let proof = prove_inclusion(size, index, &log).unwrap();
            assert_eq!((proof.leaf_index, proof.tree_size), (index, size));
            verify_inclusion(&proof, &leaf, &root).unwrap();
            assert!(tlog_accepts_inclusion(&proof, &leaf, &root));

            // Corrupted hash lists.
            for (desc, hashes) in corrupted_hash_lists(&proof.hashes, root) {
                let bad = InclusionProof {
                    hashes,
                    ..proof.clone()
                };
                assert!(
                    verify_inclusion(&bad, &leaf, &root).is_err(),
                    "{desc}: leaf {index} of {size}"
                );
                assert!(!tlog_accepts_inclusion(&bad, &leaf, &root));
            }

            // Wrong leaf index, in range and out of range.
            for other in (0..size + 2).chain([u64::MAX]) {
                if other == index {
                    continue;
                }
                let bad = InclusionProof {
                    leaf_index: other,
                    ..proof.clone()
                };
                let got = verify_inclusion(&bad, &leaf, &root);
                assert!(got.is_err(), "index {other} instead of {index} in {size}");
                if other >= size {
                    assert_eq!(got, Err(LogError::IndexOutOfRange));
                }
            }

            // Wrong leaf hash or root.
            for other in 0..size {
                if other != index {
                    let wrong_leaf = leaves[other as usize];
                    assert!(verify_inclusion(&proof, &wrong_leaf, &root).is_err());
                }
            }
            for other in 0..=N {
                if other != size {
                    assert!(verify_inclusion(&proof, &leaf, &roots[other as usize]).is_err());
                }
            }

            // Wrong tree size, checked against the root of that size (the
            // root a verifier would hold for it).
            for other in 0..=N + 1 {
                if other == size {
                    continue;
                }
                let bad = InclusionProof {
                    tree_size: other,
                    ..proof.clone()
                };
                let other_root = roots.get(other as usize).copied().unwrap_or([7; 32]);
                assert!(
                    verify_inclusion(&bad, &leaf, &other_root).is_err(),
                    "size {other} instead of {size} for leaf {index}"
                );
            }
            // Against the original root the size is only bound through the
            // tree shape (see the consistency test); these must not panic.
            for other in [size * 2, size / 2, size + 1, size.wrapping_sub(1), u64::MAX] {
                if other != size {
                    let bad = InclusionProof {
                        tree_size: other,
                        ..proof.clone()
                    };
                    let _ = verify_inclusion(&bad, &leaf, &root);
                }
            }
        }
        assert_eq!(
            prove_inclusion(size, size, &log),
            Err(LogError::IndexOutOfRange)
        );
    }
}

#[test]
fn consistency_all_pairs_and_tampering() {
    let log = log_of(N);
    let roots: Vec<LogHash> = (0..=N).map(|n| tree_root(n, &log).unwrap()).collect();
    for new in 0..=N {
        for old in 0..=new {
            let (r1, r2) = (roots[old as usize], roots[new as usize]);
            let proof = prove_consistency(old, new, &log).unwrap();
            assert_eq!((proof.old_size, proof.new_size), (old, new));
            verify_consistency(&proof, &r1, &r2).unwrap();
            if old > 0 {
                assert!(
                    tlog::check_tree(&to_tlog(&proof.hashes), new, Hash(r2), old, Hash(r1)).is_ok()
                );
            }
            if old == 0 || old == new {
                assert!(proof.hashes.is_empty());
            }

            // Corrupted hash lists (for empty proofs: only additions).
            for (desc, hashes) in corrupted_hash_lists(&proof.hashes, r2) {
                let bad = ConsistencyProof {
                    hashes,
                    ..proof.clone()
                };
                assert_eq!(
                    verify_consistency(&bad, &r1, &r2),
                    Err(LogError::InvalidConsistencyProof),
                    "{desc}: {old} -> {new}"
                );
            }

            // Wrong roots.
            for other in 0..=N {
                if roots[other as usize] != r1 {
                    assert!(verify_consistency(&proof, &roots[other as usize], &r2).is_err());
                }
                if roots[other as usize] != r2 && old > 0 {
                    assert!(verify_consistency(&proof, &r1, &roots[other as usize]).is_err());
                }
            }

            // Wrong sizes, against the roots a verifier would hold for them,
            // unless the honest proof for those sizes is the same proof.
            // (Against the original roots a size change can go unnoticed when
            // both sizes give the tree the same shape along the proof, e.g.
            // 1 -> 3 and 1 -> 4; RFC 6962 binds a size to its root, which is
            // why checkpoints sign both together.)
            for other_old in 0..=N {
                for other_new in [new, new + 1, new.saturating_sub(1), new * 2] {
                    if (other_old, other_new) == (old, new) {
                        continue;
                    }
                    let bad = ConsistencyProof {
                        old_size: other_old,
                        new_size: other_new,
                        hashes: proof.hashes.clone(),
                    };
                    let honest = prove_consistency(other_old, other_new, &log).ok();
                    if honest.is_some_and(|h| h.hashes == proof.hashes) {
                        continue;
                    }
                    let root_of = |n: u64| roots.get(n as usize).copied().unwrap_or([7; 32]);
                    assert!(
                        verify_consistency(&bad, &root_of(other_old), &root_of(other_new)).is_err(),
                        "{other_old} -> {other_new} with the proof for {old} -> {new}"
                    );
                }
            }
        }
    }
}

#[test]
fn prove_rejects_out_of_range_requests() {
    let log = log_of(10);
    // Leaf index not below the size, and sizes beyond what is stored.
    assert_eq!(prove_inclusion(0, 0, &log), Err(LogError::IndexOutOfRange));
    assert_eq!(prove_inclusion(5, 5, &log), Err(LogError::IndexOutOfRange));
    assert_eq!(prove_inclusion(11, 0, &log), Err(LogError::IndexOutOfRange));
    assert_eq!(
        prove_inclusion(1000, 3, &log),
        Err(LogError::IndexOutOfRange)
    );
    assert_eq!(
        prove_consistency(3, 11, &log),
        Err(LogError::IndexOutOfRange)
    );
    assert_eq!(
        prove_consistency(5, 4, &log),
        Err(LogError::IndexOutOfRange)
    );
    assert_eq!(tree_root(11, &log), Err(LogError::IndexOutOfRange));
    assert_eq!(log.root_at(11), Err(LogError::IndexOutOfRange));
    // Huge sizes.
    for size in [MAX_TREE_SIZE + 1, u64::MAX - 1, u64::MAX] {
        assert_eq!(
            prove_inclusion(size, 0, &log),
            Err(LogError::IndexOutOfRange)
        );
        assert_eq!(
            prove_inclusion(size, size - 1, &log),
            Err(LogError::IndexOutOfRange)
        );
        assert_eq!(
            prove_consistency(1, size, &log),
            Err(LogError::IndexOutOfRange)
        );
        assert_eq!(tree_root(size, &log), Err(LogError::IndexOutOfRange));
        assert_eq!(
            hashes_for_append(size, b"x", &log),
            Err(LogError::IndexOutOfRange)
        );
    }
    assert_eq!(
        hashes_for_append(MAX_TREE_SIZE, b"x", &log),
        Err(LogError::IndexOutOfRange)
    );
    // Within the bound but far beyond the store: the store says so.
    assert_eq!(
        prove_inclusion(MAX_TREE_SIZE, MAX_TREE_SIZE - 1, &log),
        Err(LogError::IndexOutOfRange)
    );
    assert_eq!(
        tree_root(MAX_TREE_SIZE, &log),
        Err(LogError::IndexOutOfRange)
    );
    assert_eq!(
        hashes_for_append(MAX_TREE_SIZE - 1, b"x", &log),
        Err(LogError::IndexOutOfRange)
    );
    // Trivial cases need no store at all.
    let empty = MemoryLog::new();
    assert!(prove_consistency(0, 0, &empty).unwrap().hashes.is_empty());
    assert!(prove_consistency(0, 5, &empty).unwrap().hashes.is_empty());
    assert_eq!(tree_root(0, &empty), Ok(empty_root()));
}

#[test]
fn verify_survives_huge_and_malformed_inputs() {
    let leaf = leaf_hash(b"x");
    let root = leaf_hash(b"y");
    let long: Vec<LogHash> = (0..10_000u32)
        .map(|i| leaf_hash(&i.to_be_bytes()))
        .collect();
    for size in [
        1,
        2,
        3,
        MAX_TREE_SIZE,
        MAX_TREE_SIZE + 1,
        u64::MAX - 1,
        u64::MAX,
    ] {
        for index in [0, 1, size / 2, size - 1, size, u64::MAX] {
            for len in [0, 1, 63, 64, 65, 10_000] {
                let p = InclusionProof {
                    leaf_index: index,
                    tree_size: size,
                    hashes: long[..len].to_vec(),
                };
                assert!(verify_inclusion(&p, &leaf, &root).is_err());
            }
        }
        for old in [0, 1, size / 2, size - 1, size, u64::MAX] {
            for len in [0, 1, 64, 128, 129, 10_000] {
                let p = ConsistencyProof {
                    old_size: old,
                    new_size: size,
                    hashes: long[..len].to_vec(),
                };
                let _ = verify_consistency(&p, &leaf, &root);
                let _ = verify_consistency(&p, &empty_root(), &root);
            }
        }
    }
    // A valid proof stays valid at huge indexes: leaf 2^63 + 5 of a tree of
    // 2^64 - 1 leaves, its path made of arbitrary sibling hashes.
    let index = (1u64 << 63) + 5;
    let size = u64::MAX;
    let mut hashes = Vec::new();
    let p = InclusionProof {
        leaf_index: index,
        tree_size: size,
        hashes: hashes.clone(),
    };
    assert_eq!(
        verify_inclusion(&p, &leaf, &leaf),
        Err(LogError::InvalidInclusionProof)
    );
    // Build the path by hand: the tree of 2^64 - 1 leaves is a complete
    // left subtree of 2^63 leaves plus a right part of 2^63 - 1 leaves. Leaf
    // 2^63 + 5 is leaf 5 of the right part, which splits into a complete
    // subtree of 2^62 leaves (62 path hashes) and the rest (one hash).
    let mut acc = leaf;
    let mut node = 5u64;
    for level in 0..62 {
        let sibling = leaf_hash(&[level as u8]);
        acc = if node & 1 == 0 {
            tlog::node_hash(Hash(acc), Hash(sibling)).0
        } else {
            tlog::node_hash(Hash(sibling), Hash(acc)).0
        };
        hashes.push(sibling);
        node >>= 1;
    }
    let rest = leaf_hash(b"rest of the right part");
    acc = tlog::node_hash(Hash(acc), Hash(rest)).0;
    hashes.push(rest);
    let left = leaf_hash(b"left half");
    hashes.push(left);
    let root = tlog::node_hash(Hash(left), Hash(acc)).0;
    let p = InclusionProof {
        leaf_index: index,
        tree_size: size,
        hashes,
    };
    assert!(tlog::check_record(&to_tlog(&p.hashes), size, Hash(root), index, Hash(leaf)).is_ok());
    verify_inclusion(&p, &leaf, &root).unwrap();
}

/// A store that answers with the wrong number of hashes, or fails.
enum BadStore {
    TooFew,
    TooMany,
    Fails,
}

impl HashStore for BadStore {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<LogHash>, LogError> {
        match self {
            BadStore::TooFew => Ok(vec![[1; 32]; indexes.len().saturating_sub(1)]),
            BadStore::TooMany => Ok(vec![[1; 32]; indexes.len() + 1]),
            BadStore::Fails => Err(LogError::Store("database is on fire".into())),
        }
    }
}

#[test]
fn misbehaving_stores_give_errors_not_panics() {
    for store in [BadStore::TooFew, BadStore::TooMany, BadStore::Fails] {
        let results = [
            hashes_for_append(7, b"x", &store).map(|_| ()),
            tree_root(7, &store).map(|_| ()),
            prove_inclusion(8, 3, &store).map(|_| ()),
            prove_consistency(3, 8, &store).map(|_| ()),
        ];
        for r in results {
            match (&store, r) {
                (BadStore::Fails, Err(e)) => {
                    assert_eq!(e, LogError::Store("database is on fire".into()));
                }
                (_, Err(LogError::Store(msg))) => assert!(msg.contains("hashes for"), "{msg}"),
                (_, other) => panic!("unexpected {other:?}"),
            }
        }
    }
}

/// A store that answers with arbitrary (wrong) hashes yields proofs that do
/// not verify, and no panic.
#[test]
fn lying_store_yields_unverifiable_proofs() {
    struct Liar;
    impl HashStore for Liar {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<LogHash>, LogError> {
            Ok(indexes
                .iter()
                .map(|i| leaf_hash(&i.to_be_bytes()))
                .collect())
        }
    }
    let log = log_of(20);
    for size in 1..=20 {
        for index in 0..size {
            let p = prove_inclusion(size, index, &Liar).unwrap();
            if !p.hashes.is_empty() {
                let root = log.root_at(size).unwrap();
                assert!(verify_inclusion(&p, &leaf_hash(&leaf(index)), &root).is_err());
            }
        }
    }
}
