//! State commitments on the coordinator: at each sync, the vault's on-chain state
//! (`chains::chain_state`) is signed as an `airlock_core::commitment::StateCommitment` and
//! appended to the log (leaf kind `state`) when it differs from the vault's last commitment, so
//! witnesses can recompute it from their own nodes and compare it with what the log finalized.
//!
//! The node is read before the transaction; the commitment is made, checked against the last
//! one and appended inside it, under the vault version current at that moment; a state read at a
//! lower height than the last commitment's (two processes syncing at once) is not appended, so
//! commitments never go back in height. This module must never commit a state it did not read
//! from this home's chain source, nor append a commitment equal to the vault's last one.

use airlock_core::commitment::StateCommitment;
use airlock_core::{Artifact, ArtifactId, ArtifactKind, Envelope, UnixTime};
use serde::Serialize;

use crate::{Coordinator, CoordinatorError, Result, chains};

/// What committing a vault's state did.
#[derive(Clone, Debug, Serialize)]
pub struct StateCommitted {
    /// The commitment's artifact id (the new one, or the last one when nothing changed).
    pub id: String,
    pub vault: String,
    pub height: u64,
    pub root: String,
    pub leaves: usize,
    /// False when the state equals the vault's last commitment, or is older than it (nothing
    /// was written; the fields are the last commitment's).
    pub new: bool,
}

impl Coordinator {
    /// Reads a vault's chain state as this home sees it and commits it to the log when it
    /// changed since the vault's last commitment. `None` for a vault with no chain state here
    /// (never synced, or a chain without state).
    pub fn commit_state(
        &mut self,
        vault_id: &str,
        now: UnixTime,
    ) -> Result<Option<StateCommitted>> {
        let (def, _) = self.vault_latest(vault_id)?;
        let Some((height, block, leaves)) = chains::chain_state(&def, &self.chains)? else {
            return Ok(None);
        };
        self.transact(|c| {
            let (current, _) = c.vault_latest(vault_id)?;
            let commitment = StateCommitment::new(
                vault_id,
                current.version,
                &current.chain,
                height,
                &block,
                leaves,
                now,
            )
            .map_err(|e| CoordinatorError::Refused(format!("vault {vault_id:?}: {e}")))?;
            // Unchanged, or older than the last one (another process of this service, reading
            // another node or a lagging wallet, committed a later height first): nothing to add.
            if let Some((id, last)) = c.latest_commitment(vault_id)?
                && (last.root == commitment.root || last.height > commitment.height)
            {
                return Ok(Some(StateCommitted {
                    id: id.to_hex(),
                    vault: vault_id.to_owned(),
                    height: last.height,
                    root: hex::encode(last.root),
                    leaves: last.leaves.len(),
                    new: false,
                }));
            }
            let mut env = commitment.envelope();
            env.sign(c.identity.signing_key());
            let entry = c.entry(&env, "state", vault_id, None, None, now);
            c.append(vec![entry])?;
            Ok(Some(StateCommitted {
                id: env.id().to_hex(),
                vault: vault_id.to_owned(),
                height,
                root: hex::encode(commitment.root),
                leaves: commitment.leaves.len(),
                new: true,
            }))
        })
    }

    /// The vault's newest state commitment in the log, with its artifact id.
    pub fn latest_commitment(
        &self,
        vault_id: &str,
    ) -> Result<Option<(ArtifactId, StateCommitment)>> {
        let Some(stored) = self
            .store
            .latest_of_kind(ArtifactKind::StateCommitment.name(), vault_id)?
        else {
            return Ok(None);
        };
        let env = Envelope::from_bytes(&stored.bytes)?;
        Ok(Some((stored.id, env.open()?)))
    }
}
