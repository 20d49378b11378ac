//! The single error type of the transparency log.
//!
//! Every failure of this crate, whether bad input, a proof or signature that
//! does not verify, or a storage failure reported by a [`crate::HashStore`],
//! is a [`LogError`] value. Each variant has its own message so that logs
//! and operators can tell a rollback from a fork from a bad signature.
//! Nothing here may carry secret material (keys, seeds) in its message.

use thiserror::Error;

/// Everything that can go wrong in the transparency log.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LogError {
    /// An inclusion proof does not lead from the leaf hash to the root hash
    /// (wrong hashes, wrong number of hashes, wrong leaf index or tree size).
    #[error("invalid inclusion proof: it does not lead from the leaf hash to the root hash")]
    InvalidInclusionProof,

    /// A consistency proof does not link the old root to the new root.
    #[error("invalid consistency proof: it does not link the old root to the new root")]
    InvalidConsistencyProof,

    /// A checkpoint for a smaller tree than the one already accepted.
    #[error(
        "rollback: offered checkpoint has tree size {offered_size}, \
         smaller than the accepted size {accepted_size}"
    )]
    Rollback {
        /// Size of the last accepted checkpoint.
        accepted_size: u64,
        /// Size of the offered checkpoint.
        offered_size: u64,
    },

    /// A checkpoint for a smaller tree than the one already accepted, which the holder cannot
    /// place in the accepted history (no proof kept for that size). Not evidence of an attack.
    #[error(
        "stale checkpoint: offered tree size {offered_size} is older than the accepted size \
         {accepted_size}, and no proof is at hand that it is part of the same history"
    )]
    StaleCheckpoint {
        /// Size of the last accepted checkpoint.
        accepted_size: u64,
        /// Size of the offered checkpoint.
        offered_size: u64,
    },

    /// A checkpoint that cannot be an extension of the one already accepted:
    /// same size with another root, or a consistency proof that fails.
    #[error(
        "fork: offered checkpoint of tree size {offered_size} is not an extension \
         of the accepted checkpoint of tree size {accepted_size}"
    )]
    Fork {
        /// Size of the last accepted checkpoint.
        accepted_size: u64,
        /// Size of the offered checkpoint.
        offered_size: u64,
    },

    /// A larger checkpoint was offered without a consistency proof between
    /// the accepted size and the offered size.
    #[error("missing consistency proof from the accepted tree size to the offered tree size")]
    MissingConsistencyProof,

    /// Two checkpoints (or a checkpoint and its key) name different logs.
    #[error("origin mismatch: expected log {expected:?}, got {found:?}")]
    OriginMismatch {
        /// The origin that was expected.
        expected: String,
        /// The origin that was found.
        found: String,
    },

    /// The note carries a signature by the trusted key, and it is not valid
    /// for the note text (the text was altered or the signature forged).
    #[error("bad checkpoint signature: the signature by the trusted key does not verify")]
    BadCheckpointSignature,

    /// The note is signed, but not by the trusted key (name and key ID).
    #[error("checkpoint is not signed by the trusted key (only by unknown keys)")]
    UnknownCheckpointKey,

    /// The note carries no signature line at all.
    #[error("checkpoint note carries no signature")]
    MissingCheckpointSignature,

    /// The note or its checkpoint body is not well formed.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),

    /// A log origin / key name that cannot be used (empty, or containing
    /// spaces, `+` or control characters).
    #[error(
        "invalid log origin {0:?}: must be non-empty, without spaces, '+' or control characters"
    )]
    InvalidOrigin(String),

    /// A verifier key string or public key that cannot be used.
    #[error("invalid verifier key: {0}")]
    InvalidVerifierKey(String),

    /// A witness `add-checkpoint` request body that is not well formed.
    #[error("malformed add-checkpoint request: {0}")]
    MalformedWitnessRequest(String),

    /// A leaf index not below the tree size, a tree size beyond
    /// [`crate::MAX_TREE_SIZE`], an old size above a new size, or a stored
    /// hash index that the store does not hold.
    #[error("index or tree size out of range")]
    IndexOutOfRange,

    /// The hash store failed or misbehaved.
    #[error("hash store error: {0}")]
    Store(String),
}

impl airlock_severity::Classify for LogError {
    /// A rollback or fork contradicts a history this device accepted: an alarm. Everything else
    /// is a proof, a note or input that does not check out: refused.
    fn severity(&self) -> airlock_severity::Severity {
        match self {
            LogError::Rollback { .. } | LogError::Fork { .. } => airlock_severity::Severity::Alarm,
            _ => airlock_severity::Severity::Refused,
        }
    }
}
