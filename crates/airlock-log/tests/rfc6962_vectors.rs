//! Published RFC 6962 Merkle tree test vectors.
//!
//! Source: github.com/transparency-dev/merkle (the Merkle library used by
//! Trillian, carrying the Certificate Transparency reference data):
//! - `testonly/constants.go`: `LeafInputs`, `NodeHashes` (every complete
//!   subtree of the eight-leaf tree, by level), `RootHashes` (sizes 0..=8),
//!   `EmptyRootHash`;
//! - `proof/verify_test.go`: `inclusionProofs` and `consistencyProofs`
//!   (in `inclusionProofs` the first field is the 1-based leaf number; the
//!   index is one less), and the corruptions of `corruptInclusionProof` /
//!   `corruptConsistencyProof` and the edge cases of `TestVerifyInclusion*`
//!   / `TestVerifyConsistency`.
//!
//! Only these facts are copied; nothing here was computed by this crate.

use airlock_log::{
    ConsistencyProof, InclusionProof, LogError, LogHash, MemoryLog, empty_root, leaf_hash,
    prove_consistency, prove_inclusion, root_of_leaves, stored_hash_count, tree_root,
    verify_consistency, verify_inclusion,
};
use tlog_tiles::tlog::stored_hash_index;

fn h(s: &str) -> LogHash {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn leaf_inputs() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| hex::decode(s).unwrap())
    .collect()
}

/// `NodeHashes()`: level, then index within the level.
fn node_hashes() -> Vec<Vec<LogHash>> {
    vec![
        vec![
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
            h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
        ],
        vec![
            h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        ],
        vec![
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
        vec![h(
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        )],
    ]
}

const EMPTY_ROOT_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// `RootHashes()`: indexed by tree size, 0..=8.
fn root_hashes() -> Vec<LogHash> {
    vec![
        h(EMPTY_ROOT_HEX),
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
        h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
        h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ]
}

/// `inclusionProofs` as (leaf index, tree size, proof).
fn inclusion_vectors() -> Vec<(u64, u64, Vec<LogHash>)> {
    vec![
        (0, 1, vec![]),
        (
            0,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            5,
            8,
            vec![
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            3,
            vec![h(
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            )],
        ),
        (
            1,
            5,
            vec![
                h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
    ]
}

/// `consistencyProofs` as (old size, new size, proof).
fn consistency_vectors() -> Vec<(u64, u64, Vec<LogHash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            5,
            vec![
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
        (
            6,
            7,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
    ]
}

/// `sha256SomeHash` of verify_test.go.
fn some_hash() -> LogHash {
    h("abacaba000000000000000000000000000000000000000000060061e00123456")
}

fn reference_log() -> MemoryLog {
    let mut log = MemoryLog::new();
    for (i, leaf) in leaf_inputs().iter().enumerate() {
        assert_eq!(log.append(leaf), i as u64);
    }
    log
}

#[test]
fn empty_root_is_sha256_of_nothing() {
    assert_eq!(empty_root(), h(EMPTY_ROOT_HEX));
    assert_eq!(MemoryLog::new().root(), h(EMPTY_ROOT_HEX));
    assert_eq!(tree_root(0, &MemoryLog::new()).unwrap(), h(EMPTY_ROOT_HEX));
}

#[test]
fn leaf_hashes_match_reference() {
    let want = &node_hashes()[0];
    for (leaf, want) in leaf_inputs().iter().zip(want) {
        assert_eq!(&leaf_hash(leaf), want, "leaf {}", hex::encode(leaf));
    }
}

#[test]
fn roots_match_reference_for_every_size() {
    let roots = root_hashes();
    let mut log = MemoryLog::new();
    assert_eq!(log.root(), roots[0]);
    for (i, leaf) in leaf_inputs().iter().enumerate() {
        log.append(leaf);
        assert_eq!(log.size(), i as u64 + 1);
        assert_eq!(log.root(), roots[i + 1], "root of size {}", i + 1);
    }
    // The same roots again, for every prefix of the full log, from the stored hashes and
    // streamed from the leaves.
    let leaves = leaf_inputs();
    for (size, want) in roots.iter().enumerate() {
        assert_eq!(&tree_root(size as u64, &log).unwrap(), want, "size {size}");
        let streamed = root_of_leaves(leaves[..size].iter().map(Vec::as_slice));
        assert_eq!(&streamed, want, "streamed, size {size}");
    }
}

#[test]
fn streamed_roots_equal_stored_roots_for_every_size_to_300() {
    let mut log = MemoryLog::new();
    let mut leaves = Vec::new();
    for i in 0u32..300 {
        assert_eq!(
            root_of_leaves(leaves.iter().map(Vec::as_slice)),
            log.root(),
            "size {i}"
        );
        let leaf = i.to_be_bytes().repeat(1 + i as usize % 3);
        log.append(&leaf);
        leaves.push(leaf);
    }
}

#[test]
fn stored_hashes_are_the_reference_subtree_hashes_in_tlog_order() {
    let log = reference_log();
    let stored = log.stored_hashes();
    let nodes = node_hashes();
    let total: usize = nodes.iter().map(Vec::len).sum();
    assert_eq!(stored.len(), total);
    assert_eq!(stored_hash_count(8), total as u64);
    for (level, hashes) in nodes.iter().enumerate() {
        for (n, want) in hashes.iter().enumerate() {
            let index = stored_hash_index(level as u8, n as u64);
            assert_eq!(&stored[index as usize], want, "level {level} node {n}");
        }
    }
}

#[test]
fn inclusion_vectors_are_produced_and_verified() {
    let log = reference_log();
    let roots = root_hashes();
    let leaves = leaf_inputs();
    for (index, size, hashes) in inclusion_vectors() {
        let want = InclusionProof {
            leaf_index: index,
            tree_size: size,
            hashes,
        };
        assert_eq!(prove_inclusion(size, index, &log).unwrap(), want);
        let leaf = leaf_hash(&leaves[index as usize]);
        verify_inclusion(&want, &leaf, &roots[size as usize]).unwrap();
    }
}

/// `corruptInclusionProof`: every probe must be rejected.
#[test]
fn corrupted_inclusion_vectors_are_rejected() {
    let roots = root_hashes();
    let leaves = leaf_inputs();
    for (index, size, hashes) in inclusion_vectors() {
        let root = roots[size as usize];
        let leaf = leaf_hash(&leaves[index as usize]);
        let proof = |leaf_index: u64, tree_size: u64, hashes: Vec<LogHash>| InclusionProof {
            leaf_index,
            tree_size,
            hashes,
        };
        let mut probes: Vec<(&str, InclusionProof, LogHash, LogHash)> = vec![
            (
                "index - 1",
                proof(index.wrapping_sub(1), size, hashes.clone()),
                leaf,
                root,
            ),
            (
                "index + 1",
                proof(index + 1, size, hashes.clone()),
                leaf,
                root,
            ),
            (
                "index ^ 2",
                proof(index ^ 2, size, hashes.clone()),
                leaf,
                root,
            ),
            (
                "size * 2",
                proof(index, size * 2, hashes.clone()),
                leaf,
                root,
            ),
            (
                "size / 2",
                proof(index, size / 2, hashes.clone()),
                leaf,
                root,
            ),
            (
                "wrong leaf",
                proof(index, size, hashes.clone()),
                leaf_hash(b"WrongLeaf"),
                root,
            ),
            (
                "empty root",
                proof(index, size, hashes.clone()),
                leaf,
                h(EMPTY_ROOT_HEX),
            ),
            (
                "random root",
                proof(index, size, hashes.clone()),
                leaf,
                some_hash(),
            ),
            (
                "trailing zero hash",
                proof(index, size, [hashes.clone(), vec![[0; 32]]].concat()),
                leaf,
                root,
            ),
            (
                "trailing root",
                proof(index, size, [hashes.clone(), vec![root]].concat()),
                leaf,
                root,
            ),
            (
                "preceding zero hash",
                proof(index, size, [vec![[0; 32]], hashes.clone()].concat()),
                leaf,
                root,
            ),
            (
                "preceding root",
                proof(index, size, [vec![root], hashes.clone()].concat()),
                leaf,
                root,
            ),
        ];
        for i in 0..hashes.len() {
            let mut wrong = hashes.clone();
            wrong[i][0] ^= 8;
            probes.push(("modified bit", proof(index, size, wrong), leaf, root));
        }
        if !hashes.is_empty() {
            let removed = hashes[..hashes.len() - 1].to_vec();
            probes.push(("removed component", proof(index, size, removed), leaf, root));
        }
        if hashes.len() > 1 {
            let inserted = [vec![hashes[0], some_hash()], hashes[1..].to_vec()].concat();
            probes.push((
                "inserted component",
                proof(index, size, inserted),
                leaf,
                root,
            ));
        }
        for (desc, p, leaf, root) in probes {
            assert!(
                verify_inclusion(&p, &leaf, &root).is_err(),
                "{desc}: accepted corrupted proof for leaf {index} of {size}"
            );
        }
    }
}

/// `TestVerifyInclusion` and `TestVerifyInclusionSingleEntry`.
#[test]
fn inclusion_edge_cases() {
    let empty = InclusionProof {
        leaf_index: 0,
        tree_size: 0,
        hashes: vec![],
    };
    for (index, size) in [(0, 0), (0, 1), (1, 0), (2, 1)] {
        let p = InclusionProof {
            leaf_index: index,
            tree_size: size,
            ..empty.clone()
        };
        assert!(verify_inclusion(&p, &some_hash(), &h(EMPTY_ROOT_HEX)).is_err());
        assert!(verify_inclusion(&p, &h(EMPTY_ROOT_HEX), &some_hash()).is_err());
    }
    assert_eq!(
        verify_inclusion(&empty, &some_hash(), &some_hash()),
        Err(LogError::IndexOutOfRange)
    );

    // A one-leaf tree: the root is the leaf hash, the proof is empty.
    let hash = leaf_hash(b"data");
    let single = InclusionProof {
        leaf_index: 0,
        tree_size: 1,
        hashes: vec![],
    };
    verify_inclusion(&single, &hash, &hash).unwrap();
    assert_eq!(
        verify_inclusion(&single, &hash, &some_hash()),
        Err(LogError::InvalidInclusionProof)
    );
    assert_eq!(
        verify_inclusion(&single, &some_hash(), &hash),
        Err(LogError::InvalidInclusionProof)
    );
}

#[test]
fn consistency_vectors_are_produced_and_verified() {
    let log = reference_log();
    let roots = root_hashes();
    for (old, new, hashes) in consistency_vectors() {
        let want = ConsistencyProof {
            old_size: old,
            new_size: new,
            hashes,
        };
        assert_eq!(prove_consistency(old, new, &log).unwrap(), want);
        verify_consistency(&want, &roots[old as usize], &roots[new as usize]).unwrap();
    }
}

/// `corruptConsistencyProof`: every probe must be rejected. Like the
/// reference test, only non-trivial proofs (non-empty) are corrupted.
#[test]
fn corrupted_consistency_vectors_are_rejected() {
    let roots = root_hashes();
    for (old, new, hashes) in consistency_vectors() {
        if hashes.is_empty() {
            continue;
        }
        let (r1, r2) = (roots[old as usize], roots[new as usize]);
        let wrong_root = leaf_hash(b"WrongRoot");
        let proof = |old_size: u64, new_size: u64, hashes: Vec<LogHash>| ConsistencyProof {
            old_size,
            new_size,
            hashes,
        };
        let mut probes: Vec<(&str, ConsistencyProof, LogHash, LogHash)> = vec![
            ("old - 1", proof(old - 1, new, hashes.clone()), r1, r2),
            ("old + 1", proof(old + 1, new, hashes.clone()), r1, r2),
            ("old ^ 2", proof(old ^ 2, new, hashes.clone()), r1, r2),
            ("new * 2", proof(old, new * 2, hashes.clone()), r1, r2),
            ("new / 2", proof(old, new / 2, hashes.clone()), r1, r2),
            (
                "wrong root1",
                proof(old, new, hashes.clone()),
                wrong_root,
                r2,
            ),
            (
                "wrong root2",
                proof(old, new, hashes.clone()),
                r1,
                wrong_root,
            ),
            ("swapped roots", proof(old, new, hashes.clone()), r2, r1),
            ("empty proof", proof(old, new, vec![]), r1, r2),
            (
                "trailing zero hash",
                proof(old, new, [hashes.clone(), vec![[0; 32]]].concat()),
                r1,
                r2,
            ),
            (
                "trailing root1",
                proof(old, new, [hashes.clone(), vec![r1]].concat()),
                r1,
                r2,
            ),
            (
                "trailing root2",
                proof(old, new, [hashes.clone(), vec![r2]].concat()),
                r1,
                r2,
            ),
            (
                "preceding zero hash",
                proof(old, new, [vec![[0; 32]], hashes.clone()].concat()),
                r1,
                r2,
            ),
            (
                "preceding root1",
                proof(old, new, [vec![r1], hashes.clone()].concat()),
                r1,
                r2,
            ),
            (
                "preceding root2",
                proof(old, new, [vec![r2], hashes.clone()].concat()),
                r1,
                r2,
            ),
            (
                "preceding proof[0]",
                proof(old, new, [vec![hashes[0]], hashes.clone()].concat()),
                r1,
                r2,
            ),
            (
                "truncated proof",
                proof(old, new, hashes[..hashes.len() - 1].to_vec()),
                r1,
                r2,
            ),
        ];
        for i in 0..hashes.len() {
            let mut wrong = hashes.clone();
            wrong[i][0] ^= 16;
            probes.push(("modified bit", proof(old, new, wrong), r1, r2));
        }
        for (desc, p, r1, r2) in probes {
            assert!(
                verify_consistency(&p, &r1, &r2).is_err(),
                "{desc}: accepted corrupted proof {old} -> {new}"
            );
        }
    }
}

/// `TestVerifyConsistency`'s table. The reference accepts any old root for
/// an old size of 0; this crate also requires it to be the empty root (the
/// only root a tree of size 0 has), so those rows use the empty root.
#[test]
fn consistency_edge_cases() {
    let root1 = leaf_hash(b"don't care 1");
    let root2 = leaf_hash(b"don't care 2");
    let empty = h(EMPTY_ROOT_HEX);
    let p = |old_size, new_size, hashes: Vec<LogHash>| ConsistencyProof {
        old_size,
        new_size,
        hashes,
    };
    let cases: Vec<(ConsistencyProof, LogHash, LogHash, bool)> = vec![
        (p(0, 0, vec![]), root1, root2, false),
        (p(1, 1, vec![]), root1, root2, false),
        // Sizes that are always consistent.
        (p(0, 0, vec![]), empty, empty, true),
        (p(0, 1, vec![]), empty, root2, true),
        (p(1, 1, vec![]), root2, root2, true),
        // Time travel to the past.
        (p(1, 0, vec![]), root1, root2, false),
        (p(2, 1, vec![]), root1, root2, false),
        // Empty proof.
        (p(1, 2, vec![]), root1, root2, false),
        // Roots don't match.
        (p(0, 0, vec![]), empty, root2, false),
        (p(1, 1, vec![]), empty, root2, false),
        // Roots match but the proof is not empty.
        (p(0, 0, vec![empty]), empty, empty, false),
        (p(0, 1, vec![empty]), empty, empty, false),
        (p(1, 1, vec![empty]), empty, empty, false),
        // Stricter than the reference: a size-0 tree has only the empty root.
        (p(0, 1, vec![]), root1, root2, false),
        (p(0, 0, vec![]), root1, root1, false),
    ];
    for (i, (proof, r1, r2, ok)) in cases.into_iter().enumerate() {
        let got = verify_consistency(&proof, &r1, &r2);
        assert_eq!(got.is_ok(), ok, "case {i}: {proof:?} -> {got:?}");
        if !ok {
            assert_eq!(got, Err(LogError::InvalidConsistencyProof), "case {i}");
        }
    }
}
