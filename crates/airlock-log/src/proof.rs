//! Inclusion and consistency proofs (RFC 6962 §2.1.1 and §2.1.2).
//!
//! The coordinator produces proofs from its [`HashStore`] with
//! [`prove_inclusion`] and [`prove_consistency`] (tlog's `ProveRecord` and
//! `ProveTree`); anyone holding a trusted root verifies them with
//! [`verify_inclusion`] and [`verify_consistency`]. Proof hashes are in the
//! RFC 6962 order (from the leaf or old subtree upward), so proofs are
//! interchangeable with those of Certificate Transparency, Trillian and Go's
//! `sumdb/tlog`.
//!
//! Inclusion verification is on the signer's hot path, so it is the
//! allocation-free iterative algorithm of RFC 9162 §2.1.3.2 over the proof
//! slice; consistency verification is tlog's `CheckTree`.
//!
//! Verification must never read storage, allocate per hash on the inclusion
//! path, or panic: any malformed proof (wrong length, index or size out of
//! range, sizes in the wrong order, huge sizes) is an error.

use tlog_tiles::tlog::{self, Hash};

use crate::tree::{MAX_TREE_SIZE, empty_root, node_hash, with_reader};
use crate::{HashStore, LogError, LogHash};

/// No valid consistency proof for trees of at most 2^64 leaves has more
/// hashes than this; longer ones are rejected before any hashing.
const MAX_CONSISTENCY_PROOF_LEN: usize = 2 * 64;

/// A proof that leaf `leaf_index` is in the tree of `tree_size` leaves
/// (RFC 6962 "audit path").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// Index of the leaf, counted from 0.
    pub leaf_index: u64,
    /// Size of the tree whose root the proof leads to.
    pub tree_size: u64,
    /// Sibling hashes from the leaf up to the root.
    pub hashes: Vec<LogHash>,
}

/// A proof that the tree of `new_size` leaves extends the tree of `old_size`
/// leaves (RFC 6962 "consistency proof").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// Size of the older tree.
    pub old_size: u64,
    /// Size of the newer tree.
    pub new_size: u64,
    /// Subtree hashes, in RFC 6962 order.
    pub hashes: Vec<LogHash>,
}

/// Produces the proof that leaf `leaf_index` is in the tree of `tree_size`
/// leaves stored in `store`.
///
/// # Errors
///
/// [`LogError::IndexOutOfRange`] unless `leaf_index < tree_size <=
/// MAX_TREE_SIZE`; otherwise whatever the store reports.
pub fn prove_inclusion(
    tree_size: u64,
    leaf_index: u64,
    store: &dyn HashStore,
) -> Result<InclusionProof, LogError> {
    if tree_size > MAX_TREE_SIZE || leaf_index >= tree_size {
        return Err(LogError::IndexOutOfRange);
    }
    let hashes = with_reader(store, |r| tlog::prove_record(tree_size, leaf_index, r))?;
    Ok(InclusionProof {
        leaf_index,
        tree_size,
        hashes: hashes.into_iter().map(|h| h.0).collect(),
    })
}

/// Produces the proof that the tree of `new_size` leaves stored in `store`
/// extends its prefix of `old_size` leaves.
///
/// The proof is empty when `old_size` is 0 (every tree extends the empty
/// tree) or equal to `new_size`.
///
/// # Errors
///
/// [`LogError::IndexOutOfRange`] unless `old_size <= new_size <=
/// MAX_TREE_SIZE`; otherwise whatever the store reports.
pub fn prove_consistency(
    old_size: u64,
    new_size: u64,
    store: &dyn HashStore,
) -> Result<ConsistencyProof, LogError> {
    if new_size > MAX_TREE_SIZE || old_size > new_size {
        return Err(LogError::IndexOutOfRange);
    }
    let hashes = if old_size == 0 {
        Vec::new()
    } else {
        with_reader(store, |r| tlog::prove_tree(new_size, old_size, r))?
            .into_iter()
            .map(|h| h.0)
            .collect()
    };
    Ok(ConsistencyProof {
        old_size,
        new_size,
        hashes,
    })
}

/// Checks that `proof` leads from `leaf_hash` (see [`crate::leaf_hash`]) at
/// `proof.leaf_index` to `root` for a tree of `proof.tree_size` leaves.
///
/// Allocation-free; one SHA-256 compression pair per proof hash.
///
/// # Errors
///
/// [`LogError::IndexOutOfRange`] if `leaf_index >= tree_size`;
/// [`LogError::InvalidInclusionProof`] for every other mismatch, including a
/// proof with too many or too few hashes.
pub fn verify_inclusion(
    proof: &InclusionProof,
    leaf_hash: &LogHash,
    root: &LogHash,
) -> Result<(), LogError> {
    let computed =
        root_from_inclusion_proof(proof.leaf_index, proof.tree_size, leaf_hash, &proof.hashes)?;
    if computed == *root {
        Ok(())
    } else {
        Err(LogError::InvalidInclusionProof)
    }
}

/// The root implied by an inclusion proof (RFC 9162 §2.1.3.2, steps 1 to 4).
fn root_from_inclusion_proof(
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &LogHash,
    path: &[LogHash],
) -> Result<LogHash, LogError> {
    if leaf_index >= tree_size {
        return Err(LogError::IndexOutOfRange);
    }
    // `index` walks up the tree with the running hash; `last` is the index of
    // the tree's last node at the same level.
    let mut index = leaf_index;
    let mut last = tree_size - 1;
    let mut hash = *leaf_hash;
    for sibling in path {
        if last == 0 {
            // The proof has more hashes than the path to the root.
            return Err(LogError::InvalidInclusionProof);
        }
        if index & 1 == 1 || index == last {
            hash = node_hash(sibling, &hash);
            if index & 1 == 0 {
                // A left child with no right sibling at this level: it is
                // promoted unchanged until it becomes a right child.
                while index & 1 == 0 && index != 0 {
                    index >>= 1;
                    last >>= 1;
                }
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        index >>= 1;
        last >>= 1;
    }
    if last != 0 {
        // The proof stops short of the root.
        return Err(LogError::InvalidInclusionProof);
    }
    Ok(hash)
}

/// Checks that `proof` shows the tree of `proof.new_size` leaves with root
/// `new_root` extends the tree of `proof.old_size` leaves with root
/// `old_root`.
///
/// Equal sizes need an empty proof and equal roots. Old size 0 needs an empty
/// proof and `old_root` equal to [`empty_root`]; the new root is then
/// unconstrained (every tree extends the empty tree) unless the new size is
/// 0 too.
///
/// # Errors
///
/// [`LogError::InvalidConsistencyProof`] for any mismatch, including
/// `old_size > new_size` and proofs of the wrong length.
pub fn verify_consistency(
    proof: &ConsistencyProof,
    old_root: &LogHash,
    new_root: &LogHash,
) -> Result<(), LogError> {
    let ConsistencyProof {
        old_size,
        new_size,
        ref hashes,
    } = *proof;
    if old_size > new_size || hashes.len() > MAX_CONSISTENCY_PROOF_LEN {
        return Err(LogError::InvalidConsistencyProof);
    }
    if old_size == 0 {
        let empty = empty_root();
        return if hashes.is_empty() && *old_root == empty && (new_size > 0 || *new_root == empty) {
            Ok(())
        } else {
            Err(LogError::InvalidConsistencyProof)
        };
    }
    // 1 <= old_size <= new_size: tlog's precondition holds, and every
    // recursion step of CheckTree consumes a proof hash, so its depth is
    // bounded by the length check above.
    let tlog_proof: Vec<Hash> = hashes.iter().copied().map(Hash).collect();
    tlog::check_tree(
        &tlog_proof,
        new_size,
        Hash(*new_root),
        old_size,
        Hash(*old_root),
    )
    .map_err(|_| LogError::InvalidConsistencyProof)
}
