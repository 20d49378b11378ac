//! Disaster recovery: rebuilding a lost coordinator database from its published log
//! (`airlock recover --from-log URL|DIR`; issue 17, item 4).
//!
//! The log (entries and the artifacts they name) is first verified in full by the caller
//! (`airlock_service::remote::verify_and_keep`: the signed checkpoint by this home's own log key,
//! the entries against its root, every transition replayed). [`Coordinator::restore_log`] then
//! writes it into this home's empty database in one transaction, each artifact filed as the
//! coordinator filed it when it was appended (its vault, version, the proposal it concerns, the
//! checkpoint size a signer reported), and signs the checkpoint of the whole, which is the
//! published one (Ed25519 signatures are deterministic). What the log does not hold is not
//! restored: intermediate checkpoints, service members and who made each entry, sizes exported,
//! and chain state (synced again afterwards).
//!
//! This module must never write into a database that holds entries, and never write part of a
//! log: all of it commits, or nothing.

use std::collections::HashMap;

use airlock_core::{Approval, ArtifactId, Envelope, Event, Finalized, LogRecord, VaultDefinition};

use crate::store::{NewEntry, StoredArtifact};
use crate::{Coordinator, CoordinatorError, Result};

impl Coordinator {
    /// Writes a verified log into this (empty) database: `leaves` in order, each with the
    /// artifact it names from `artifacts`. Returns the size and the checkpoint note signed for
    /// it.
    pub fn restore_log(
        &mut self,
        leaves: &[Vec<u8>],
        artifacts: &HashMap<ArtifactId, Vec<u8>>,
    ) -> Result<(u64, String)> {
        self.transact(|c| {
            let held = c.store.log_size()?;
            if held != 0 {
                return Err(CoordinatorError::Refused(format!(
                    "this home's database already holds {held} log entries: recover only into an empty one"
                )));
            }
            let mut entries = Vec::with_capacity(leaves.len());
            for (index, leaf) in leaves.iter().enumerate() {
                entries.push(filed(index, leaf, artifacts)?);
            }
            if entries.is_empty() {
                return Err(CoordinatorError::Refused("the published log is empty".into()));
            }
            c.append(entries)?;
            c.latest_checkpoint()
        })
    }
}

/// A leaf with its artifact, filed as the coordinator files it when it appends the transition.
fn filed(index: usize, leaf: &[u8], artifacts: &HashMap<ArtifactId, Vec<u8>>) -> Result<NewEntry> {
    let record = LogRecord::from_bytes(leaf)?;
    let bytes = artifacts.get(&record.artifact).ok_or_else(|| {
        CoordinatorError::NotFound(format!(
            "log entry {index} names artifact {}, which was not read",
            record.artifact.short()
        ))
    })?;
    let env = Envelope::from_bytes(bytes)?;
    let (version, subject, signer_seen) = match record.kind.as_str() {
        "vault-version" => (Some(env.open::<VaultDefinition>()?.version), None, None),
        "approval" | "rejection" => {
            let a: Approval = env.open()?;
            (
                None,
                Some(a.proposal),
                Some((a.signer.0, a.seen_checkpoint.size)),
            )
        }
        "finalized" => (None, Some(env.open::<Finalized>()?.proposal), None),
        "broadcast" | "confirmed" | "expired" | "abandoned" | "reorged" => {
            (None, Some(env.open::<Event>()?.proposal), None)
        }
        _ => (None, None, None),
    };
    Ok(NewEntry {
        artifact: Some(StoredArtifact {
            id: record.artifact,
            kind: env.kind().map(|k| k.name()).unwrap_or("unknown").to_owned(),
            vault_id: record.vault_id.clone(),
            version,
            subject,
            bytes: bytes.clone(),
            log_index: 0,
        }),
        leaf: leaf.to_vec(),
        signer_seen,
    })
}
