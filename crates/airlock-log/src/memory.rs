//! [`MemoryLog`]: a whole log held in memory.
//!
//! It keeps the stored hashes in the same layout the coordinator's database
//! uses (see [`crate::tree`]), so it serves tests, benchmarks, and verifiers
//! that rebuild a log from its leaves and compare roots.
//!
//! It must never persist anything or do I/O, and it is not a substitute for
//! the coordinator's durable store: whatever it holds is lost on drop.

use crate::tree::{hashes_for_append, tree_root};
use crate::{HashStore, LogError, LogHash};

/// An in-memory log: the dense sequence of stored hashes and the leaf count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryLog {
    hashes: Vec<LogHash>,
    size: u64,
}

impl MemoryLog {
    /// An empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `leaf` and returns its leaf index.
    ///
    /// # Panics
    ///
    /// Only if the log already holds [`crate::MAX_TREE_SIZE`] leaves, which no
    /// machine has the memory for; use [`MemoryLog::try_append`] to get an
    /// error instead.
    pub fn append(&mut self, leaf: &[u8]) -> u64 {
        match self.try_append(leaf) {
            Ok(index) => index,
            Err(e) => panic!("MemoryLog::append: {e}"),
        }
    }

    /// Appends `leaf` and returns its leaf index.
    ///
    /// # Errors
    ///
    /// [`LogError::IndexOutOfRange`] if the log already holds
    /// [`crate::MAX_TREE_SIZE`] leaves.
    pub fn try_append(&mut self, leaf: &[u8]) -> Result<u64, LogError> {
        let index = self.size;
        let new = hashes_for_append(index, leaf, self)?;
        self.hashes.extend_from_slice(&new);
        self.size = index + 1;
        Ok(index)
    }

    /// The number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the whole log ([`crate::empty_root`] when empty).
    ///
    /// # Panics
    ///
    /// Never in practice: the log holds every hash this reads, by
    /// construction.
    #[must_use]
    pub fn root(&self) -> LogHash {
        // The log holds every hash `tree_root` can ask for at its own size,
        // and its size never exceeds MAX_TREE_SIZE, so this cannot fail.
        match tree_root(self.size, self) {
            Ok(root) => root,
            Err(e) => panic!("MemoryLog::root: inconsistent log: {e}"),
        }
    }

    /// The root hash of the log's first `size` leaves.
    ///
    /// # Errors
    ///
    /// [`LogError::IndexOutOfRange`] if `size` exceeds the log's size.
    pub fn root_at(&self, size: u64) -> Result<LogHash, LogError> {
        if size > self.size {
            return Err(LogError::IndexOutOfRange);
        }
        tree_root(size, self)
    }

    /// All stored hashes, in stored-index order.
    #[must_use]
    pub fn stored_hashes(&self) -> &[LogHash] {
        &self.hashes
    }
}

impl HashStore for MemoryLog {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<LogHash>, LogError> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.hashes.get(i))
                    .copied()
                    .ok_or(LogError::IndexOutOfRange)
            })
            .collect()
    }
}
