//! The offline signer's rule for accepting a newer checkpoint.
//!
//! The signer remembers the last checkpoint it accepted. A new one is
//! accepted only if it is the same tree, or a larger tree proven (by a
//! consistency proof) to extend the accepted one. Anything else is a
//! rollback, a fork or a missing proof, and must stop the signer.
//!
//! This module decides only; it must never store the accepted checkpoint
//! (the caller persists it, after [`check_advance`] succeeds) and never
//! accept a larger tree without a verified consistency proof. Signatures are
//! checked earlier, by [`crate::CheckpointVerifier::open`].

use crate::{Checkpoint, ConsistencyProof, LogError, verify_consistency};

/// How an accepted checkpoint relates to the last one accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advance {
    /// There was no earlier checkpoint: trust on first use.
    First,
    /// The same tree as the last accepted checkpoint.
    Same,
    /// A larger tree, proven to extend the last accepted one.
    Forward {
        /// Size of the last accepted checkpoint.
        from: u64,
        /// Size of the newly accepted checkpoint.
        to: u64,
    },
    /// A smaller tree, proven (by a consistency proof the signer kept) to be a prefix of the
    /// accepted one: an older bundle of the same history. It is checked, never accepted.
    Behind {
        /// Size of the offered checkpoint.
        offered: u64,
        /// Size of the last accepted checkpoint.
        accepted: u64,
    },
}

/// Decides whether `next` may replace `last` (the last accepted checkpoint),
/// given a consistency proof from `last.size` to `next.size` when the tree
/// grew.
///
/// # Errors
///
/// - [`LogError::OriginMismatch`]: the checkpoints are of different logs;
/// - [`LogError::Rollback`]: `next` is smaller than `last`;
/// - [`LogError::Fork`]: same size with a different root, or the given
///   consistency proof does not link the two roots;
/// - [`LogError::MissingConsistencyProof`]: `next` is larger and no proof
///   was given, or the proof given is for other sizes.
pub fn check_advance(
    last: Option<&Checkpoint>,
    next: &Checkpoint,
    proof: Option<&ConsistencyProof>,
) -> Result<Advance, LogError> {
    let Some(last) = last else {
        return Ok(Advance::First);
    };
    if last.origin != next.origin {
        return Err(LogError::OriginMismatch {
            expected: last.origin.clone(),
            found: next.origin.clone(),
        });
    }
    let fork = || LogError::Fork {
        accepted_size: last.size,
        offered_size: next.size,
    };
    if next.size < last.size {
        return Err(LogError::Rollback {
            accepted_size: last.size,
            offered_size: next.size,
        });
    }
    if next.size == last.size {
        return if next.root == last.root {
            Ok(Advance::Same)
        } else {
            Err(fork())
        };
    }
    match proof {
        Some(p) if p.old_size == last.size && p.new_size == next.size => {
            verify_consistency(p, &last.root, &next.root).map_err(|_| fork())?;
            Ok(Advance::Forward {
                from: last.size,
                to: next.size,
            })
        }
        _ => Err(LogError::MissingConsistencyProof),
    }
}

/// Decides what an offered checkpoint smaller than `last` (the last accepted checkpoint) is,
/// given a consistency proof from `next.size` to `last.size` that the caller kept (checked
/// against both roots here, so it may come from anywhere).
///
/// # Errors
///
/// - [`LogError::OriginMismatch`]: the checkpoints are of different logs;
/// - [`LogError::StaleCheckpoint`]: no proof for these sizes; the offered checkpoint cannot be
///   placed, which is not evidence of anything: ask for a fresh one;
/// - [`LogError::Fork`]: the proof shows the offered root is not the accepted tree's prefix of
///   that size (the log's key signed two histories).
///
/// A `next` that is not smaller than `last` is left to [`check_advance`].
pub fn check_behind(
    last: &Checkpoint,
    next: &Checkpoint,
    proof: Option<&ConsistencyProof>,
) -> Result<Advance, LogError> {
    if last.origin != next.origin {
        return Err(LogError::OriginMismatch {
            expected: last.origin.clone(),
            found: next.origin.clone(),
        });
    }
    if next.size >= last.size {
        return check_advance(Some(last), next, None);
    }
    match proof {
        Some(p) if p.old_size == next.size && p.new_size == last.size => {
            verify_consistency(p, &next.root, &last.root).map_err(|_| LogError::Fork {
                accepted_size: last.size,
                offered_size: next.size,
            })?;
            Ok(Advance::Behind {
                offered: next.size,
                accepted: last.size,
            })
        }
        _ => Err(LogError::StaleCheckpoint {
            accepted_size: last.size,
            offered_size: next.size,
        }),
    }
}
