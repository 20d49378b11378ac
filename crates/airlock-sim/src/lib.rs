//! `airlock sim`: a deterministic simulation of a whole team on one machine, driving the real
//! coordinator (`airlock-coordinator`, its SQLite store and log) and real signers
//! (`airlock-signer-app`: keystores, reviews, journals) on a virtual clock with seeded
//! randomness, through the failures a scenario file injects. It reports what happened, the
//! funds that moved or reached an attacker, how fast the team detected and recovered, which
//! controls fired, and checks the invariants: the log verifies, nothing was finalized without
//! its rule's approvals, no decision a signer made was lost.
//!
//! There is no model of Airlock here to drift from it: every proposal, review, decision,
//! rotation and finalization is the production code's, with the simulated time passed where the
//! CLI would pass the clock. This module must never decide anything the real code would
//! refuse, and never report an invariant as holding without checking it against the log.

#[cfg(feature = "run")]
mod engine;
pub mod scenario;

#[cfg(feature = "run")]
pub use engine::*;

pub use scenario::{ChainModel, Inject, Scenario};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario file is unusable.
    #[error("scenario: {0}")]
    Scenario(String),
    /// The simulation could not be set up or run (not a finding about the team).
    #[error("{0}")]
    Setup(String),
}

impl airlock_severity::Classify for SimError {
    fn severity(&self) -> airlock_severity::Severity {
        airlock_severity::Severity::Refused
    }
}
