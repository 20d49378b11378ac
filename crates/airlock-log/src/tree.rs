//! Hashing and storage layout of the Merkle tree.
//!
//! Leaves and interior nodes are hashed as in RFC 6962 §2.1. The hashes of
//! all complete subtrees are kept in one dense sequence, indexed as Go's
//! `sumdb/tlog` `StoredHashIndex` does (Crosby & Wallach's post-order
//! layout): appending leaf `n` adds, at consecutive indexes starting at
//! [`stored_hash_count`]`(n)`, the leaf hash followed by the hash of every
//! subtree that the leaf completes. The arithmetic is `tlog_tiles::tlog`;
//! this module only bounds its inputs and connects it to a [`HashStore`].
//!
//! This module must never do I/O itself: stored hashes are read only through
//! the [`HashStore`] the caller supplies, and writing them is the caller's
//! job. It must never panic, whatever the sizes or the store returns.

use std::cell::Cell;

use tlog_tiles::tlog::{self, Hash, HashReader};

use crate::{LogError, LogHash};

/// The largest tree size this crate accepts: 2^62 leaves.
///
/// The stored hash index arithmetic of `sumdb/tlog` needs about twice the
/// tree size, so it fits in a `u64` only below this bound. No real log gets
/// anywhere near it; sizes above it are rejected with
/// [`LogError::IndexOutOfRange`] rather than overflowing.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// Read access to the stored hashes of a log, indexed as tlog's
/// `stored_hash_index`.
///
/// The coordinator implements this on its database; [`crate::MemoryLog`]
/// implements it in memory.
pub trait HashStore {
    /// Returns the hashes at the given stored hash indexes, in the same order
    /// and exactly as many as requested.
    ///
    /// # Errors
    ///
    /// An index the store does not hold should be reported as
    /// [`LogError::IndexOutOfRange`]; a failure of the storage itself as
    /// [`LogError::Store`]. Returning the wrong number of hashes is also
    /// caught by the callers and reported as [`LogError::Store`].
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<LogHash>, LogError>;
}

/// The RFC 6962 leaf hash: `SHA-256(0x00 || leaf)`.
#[must_use]
pub fn leaf_hash(leaf: &[u8]) -> LogHash {
    tlog::record_hash(leaf).0
}

/// The root hash of the empty tree: `SHA-256("")`.
#[must_use]
pub fn empty_root() -> LogHash {
    tlog::EMPTY_HASH.0
}

/// The RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
#[inline]
pub(crate) fn node_hash(left: &LogHash, right: &LogHash) -> LogHash {
    tlog::node_hash(Hash(*left), Hash(*right)).0
}

/// The RFC 6962 root of `leaves`, computed as they stream past: only the root of each complete
/// subtree so far is held (one per set bit of the count), and nothing is stored. For a reader
/// that checks a whole log against its checkpoint without serving proofs from it.
#[must_use]
pub fn root_of_leaves<'a>(leaves: impl IntoIterator<Item = &'a [u8]>) -> LogHash {
    // The complete subtrees, largest (leftmost) first.
    let mut subtrees: Vec<LogHash> = Vec::with_capacity(64);
    for (count, leaf) in (0u64..).zip(leaves) {
        let mut hash = leaf_hash(leaf);
        // Each trailing one bit of the count is a subtree of the new one's size to merge with.
        let mut merges = count.trailing_ones();
        while merges > 0 {
            let Some(left) = subtrees.pop() else { break };
            hash = node_hash(&left, &hash);
            merges -= 1;
        }
        subtrees.push(hash);
    }
    // MTH(D[0:n]) = node(largest subtree, MTH(the rest)): fold from the smallest subtree.
    let Some(mut root) = subtrees.pop() else {
        return empty_root();
    };
    while let Some(left) = subtrees.pop() {
        root = node_hash(&left, &root);
    }
    root
}

/// The number of hashes stored for a tree of `size` leaves, which is also the
/// stored index at which the hashes for appending leaf number `size` start.
///
/// Exact for every size whose count fits in a `u64` (sizes up to 2^63);
/// beyond that it saturates at `u64::MAX`.
#[must_use]
pub fn stored_hash_count(size: u64) -> u64 {
    if size <= MAX_TREE_SIZE {
        tlog::stored_hash_count(size)
    } else {
        // Every level l holds floor(size / 2^l) complete subtrees, and the sum
        // over all levels is 2 * size - popcount(size).
        let count = 2 * u128::from(size) - u128::from(size.count_ones());
        u64::try_from(count).unwrap_or(u64::MAX)
    }
}

/// The hashes to append to the store when adding `leaf` as leaf number
/// `size`, in order, to be written at consecutive stored indexes starting at
/// [`stored_hash_count`]`(size)`: the leaf hash, then the root of each
/// complete subtree the new leaf finishes (on average just under two hashes).
///
/// Reads at most `log2(size)` earlier hashes from `store`, in one call.
///
/// # Errors
///
/// [`LogError::IndexOutOfRange`] if the resulting tree would exceed
/// [`MAX_TREE_SIZE`]; otherwise whatever the store reports.
pub fn hashes_for_append(
    size: u64,
    leaf: &[u8],
    store: &dyn HashStore,
) -> Result<Vec<LogHash>, LogError> {
    if size >= MAX_TREE_SIZE {
        return Err(LogError::IndexOutOfRange);
    }
    let hashes = with_reader(store, |r| tlog::stored_hashes(size, leaf, r))?;
    Ok(hashes.into_iter().map(|h| h.0).collect())
}

/// The root hash of the tree made of the first `size` leaves of the log in
/// `store`; [`empty_root`] for size 0 (without reading the store).
///
/// Reads at most `1 + log2(size)` hashes, in one call.
///
/// # Errors
///
/// [`LogError::IndexOutOfRange`] if `size` exceeds [`MAX_TREE_SIZE`];
/// otherwise whatever the store reports (typically
/// [`LogError::IndexOutOfRange`] if the log is smaller than `size`).
pub fn tree_root(size: u64, store: &dyn HashStore) -> Result<LogHash, LogError> {
    if size > MAX_TREE_SIZE {
        return Err(LogError::IndexOutOfRange);
    }
    with_reader(store, |r| tlog::tree_hash(size, r)).map(|h| h.0)
}

/// Adapts a [`HashStore`] to tlog's [`HashReader`].
///
/// tlog's functions panic if a reader returns the wrong number of hashes, and
/// its error type cannot carry ours; so the adapter checks the count, and
/// keeps the store's own error aside to hand it back unchanged.
pub(crate) struct StoreReader<'a> {
    store: &'a dyn HashStore,
    failure: Cell<Option<LogError>>,
}

impl HashReader for StoreReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog::Error> {
        let failure = match self.store.read_hashes(indexes) {
            Ok(hashes) if hashes.len() == indexes.len() => {
                return Ok(hashes.into_iter().map(Hash).collect());
            }
            Ok(hashes) => LogError::Store(format!(
                "store returned {} hashes for {} indexes",
                hashes.len(),
                indexes.len()
            )),
            Err(e) => e,
        };
        self.failure.set(Some(failure));
        Err(tlog::Error::IndexesNotInTree)
    }
}

/// Runs a tlog computation against `store`, translating its errors.
///
/// Callers must have checked tlog's input conditions (sizes within
/// [`MAX_TREE_SIZE`], indexes within sizes) beforehand, so that the only
/// errors left are the store's.
pub(crate) fn with_reader<T>(
    store: &dyn HashStore,
    f: impl FnOnce(&StoreReader<'_>) -> Result<T, tlog::Error>,
) -> Result<T, LogError> {
    let reader = StoreReader {
        store,
        failure: Cell::new(None),
    };
    f(&reader).map_err(|e| {
        reader
            .failure
            .take()
            .unwrap_or_else(|| LogError::Store(format!("tlog: {e}")))
    })
}
