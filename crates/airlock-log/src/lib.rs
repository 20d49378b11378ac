//! `airlock-log`: the transparency log of Airlock.
//!
//! Every state transition of the system is a leaf of an append-only
//! [RFC 6962](https://www.rfc-editor.org/rfc/rfc6962) Merkle tree. The online
//! coordinator appends leaves and produces inclusion and consistency proofs;
//! the offline signer verifies them and only ever accepts checkpoints that
//! extend the last one it accepted (see [`check_advance`]). Checkpoints are
//! [C2SP tlog-checkpoint](https://c2sp.org/tlog-checkpoint) bodies carried as
//! [C2SP signed notes](https://c2sp.org/signed-note) signed with the
//! coordinator's Ed25519 key.
//!
//! The tree arithmetic is Go's `sumdb/tlog` (through the `tlog_tiles` crate),
//! and the note format is `signed_note`; this crate adapts them to Airlock's
//! types, bounds every input, and adds the signer-side acceptance rules.
//!
//! Layout:
//! - [`tree`]: hashing, the [`HashStore`] abstraction, appends and roots;
//! - [`proof`]: inclusion and consistency proofs, produced and verified;
//! - [`memory`]: [`MemoryLog`], an in-memory [`HashStore`];
//! - [`checkpoint`]: signed checkpoints;
//! - [`advance`]: the rule for moving from one accepted checkpoint to the next;
//! - [`tiles`]: the log's C2SP tlog-tiles names and entry bundles;
//! - [`witness`]: C2SP tlog-witness requests and tlog-cosignature cosignatures.
//!
//! This crate must never do I/O, open a network connection, read a clock or
//! embed a storage engine: storage is reached only through [`HashStore`],
//! which the coordinator implements on its database. It must never panic on any
//! input: malformed proofs, out-of-range indexes, huge sizes and malformed
//! notes are all reported as [`LogError`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod advance;
pub mod checkpoint;
pub mod error;
pub mod memory;
pub mod proof;
pub mod tiles;
pub mod tree;
pub mod witness;

pub use advance::{Advance, check_advance, check_behind};
pub use checkpoint::{Checkpoint, CheckpointSigner, CheckpointVerifier, SignedCheckpoint};
pub use error::LogError;
pub use memory::MemoryLog;
pub use proof::{
    ConsistencyProof, InclusionProof, prove_consistency, prove_inclusion, verify_consistency,
    verify_inclusion,
};
pub use tree::{
    HashStore, MAX_TREE_SIZE, empty_root, hashes_for_append, leaf_hash, root_of_leaves,
    stored_hash_count, tree_root,
};

/// Length in bytes of every hash in the log (SHA-256).
pub const HASH_LEN: usize = 32;

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
pub type LogHash = [u8; HASH_LEN];
