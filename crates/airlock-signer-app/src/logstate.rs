//! The signer's view of each coordinator's log: the last checkpoint it accepted, per log origin,
//! and the evidence it keeps when a coordinator shows it a history that contradicts that
//! checkpoint (a rollback or a fork: a split view).
//!
//! A proposal is accepted only with an inclusion proof under a checkpoint signed by the vault's
//! coordinator key that is consistent with the last accepted one. A bundle that is merely older
//! than the accepted checkpoint is checked against the consistency proofs kept from the accepted
//! bundle (`<origin>.proofs`): part of the same history, it is reviewed; contradicting it, it is a
//! fork (an alarm); if nothing kept covers its size, it is stale (export it again), not an alarm.
//!
//! This module must never accept (store) a smaller or inconsistent checkpoint, never alarm on
//! what it cannot tell from an attack, and never discard evidence.

use std::path::{Path, PathBuf};

use airlock_core::{ArtifactId, LogEvidence, LogRecord, VaultDefinition};
use airlock_log::{
    Advance, Checkpoint, CheckpointVerifier, ConsistencyProof, InclusionProof, LogError,
};
use ed25519_dalek::VerifyingKey;

use crate::SignerError;

/// What verifying log evidence established.
#[derive(Clone, Debug)]
pub struct LogCheck {
    pub checkpoint: Checkpoint,
    pub note: String,
    pub leaf_index: u64,
    pub previous: Option<Checkpoint>,
    pub advance: Advance,
    /// The bundle's consistency proofs into `checkpoint`, kept when it is accepted.
    pub consistency: Vec<airlock_core::artifacts::ConsistencyFrom>,
}

impl LogCheck {
    /// One line for people.
    pub fn describe(&self) -> String {
        let position = format!(
            "proposal is leaf {} of {} in log {:?}",
            self.leaf_index, self.checkpoint.size, self.checkpoint.origin
        );
        match &self.advance {
            Advance::First => {
                format!("{position}; first checkpoint this signer sees from this log")
            }
            Advance::Same => format!("{position}; same checkpoint as last accepted"),
            Advance::Forward { from, to } => {
                format!(
                    "{position}; consistent with the checkpoint accepted before (size {from} → {to})"
                )
            }
            Advance::Behind { offered, accepted } => {
                format!(
                    "{position}; an older checkpoint (size {offered}) of the history this signer accepted at size {accepted}"
                )
            }
        }
    }
}

/// The consistency proofs that came with the accepted checkpoint, each from an older size to it.
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptProofs {
    /// The accepted checkpoint's size the proofs lead to.
    size: u64,
    proofs: Vec<KeptProof>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KeptProof {
    old_size: u64,
    hashes: Vec<String>,
}

impl KeptProof {
    fn to_proof(&self, new_size: u64) -> Option<ConsistencyProof> {
        let hashes = self
            .hashes
            .iter()
            .map(|h| hex::decode(h).ok()?.try_into().ok())
            .collect::<Option<Vec<[u8; 32]>>>()?;
        Some(ConsistencyProof {
            old_size: self.old_size,
            new_size,
            hashes,
        })
    }
}

/// Checkpoints per log origin under `<home>/log/`.
pub struct LogState {
    dir: PathBuf,
}

fn file_name(origin: &str) -> String {
    origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl LogState {
    pub fn new(home: &Path) -> LogState {
        LogState {
            dir: home.join("log"),
        }
    }

    fn path(&self, origin: &str) -> PathBuf {
        self.dir.join(format!("{}.checkpoint", file_name(origin)))
    }

    fn proofs_path(&self, origin: &str) -> PathBuf {
        self.dir.join(format!("{}.proofs", file_name(origin)))
    }

    /// The accepted checkpoint with the consistency proofs kept from its bundle (each from an
    /// older size to the accepted size). The proofs are untrusted: every use checks one against
    /// both roots.
    ///
    /// Proofs kept for an older checkpoint (a crash between the two writes of
    /// [`LogState::accept`]) are not used. Proofs for a newer one mean an `accept` is in flight in
    /// another process (readers take no lock): the checkpoint is read again.
    fn accepted_with_proofs(
        &self,
        verifier: &CheckpointVerifier,
    ) -> Result<(Option<Checkpoint>, Vec<KeptProof>), SignerError> {
        let mut attempts = 0;
        loop {
            let accepted = self.accepted(verifier)?;
            let kept = airlock_transport::read_bounded(
                &self.proofs_path(verifier.origin()),
                4 * 1024 * 1024,
            )
            .ok()
            .and_then(|bytes| serde_json::from_slice::<KeptProofs>(&bytes).ok());
            let size = accepted.as_ref().map_or(0, |c| c.size);
            match kept {
                Some(k) if k.size > size && attempts < 20 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Some(k) if k.size == size => return Ok((accepted, k.proofs)),
                _ => return Ok((accepted, Vec::new())),
            }
        }
    }

    /// The last accepted checkpoint (note text) of a log.
    pub fn accepted_note(&self, origin: &str) -> Result<Option<String>, SignerError> {
        let path = self.path(origin);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = airlock_transport::read_bounded(&path, 64 * 1024)
            .map_err(|e| SignerError::Io(e.to_string()))?;
        Ok(Some(String::from_utf8(bytes).map_err(|_| {
            SignerError::Io(format!("{} is damaged", path.display()))
        })?))
    }

    /// The last accepted checkpoint, verified with the coordinator's key.
    pub fn accepted(
        &self,
        verifier: &CheckpointVerifier,
    ) -> Result<Option<Checkpoint>, SignerError> {
        match self.accepted_note(verifier.origin())? {
            None => Ok(None),
            Some(note) => Ok(Some(verifier.open(&note).map_err(|e| {
                SignerError::Tampered(format!(
                    "the checkpoint this signer accepted from {:?} no longer verifies ({e}): its log state was tampered with or damaged",
                    verifier.origin()
                ))
            })?)),
        }
    }

    /// Records the checkpoint of a verified bundle as accepted (after a decision was journaled),
    /// with the bundle's consistency proofs into it, kept to place older bundles later. Only a
    /// checkpoint that moved forward is recorded: checking an older bundle never moves the
    /// accepted checkpoint back. The caller holds the home lock.
    pub fn accept(&self, check: &LogCheck) -> Result<(), SignerError> {
        if !matches!(check.advance, Advance::First | Advance::Forward { .. }) {
            return Ok(());
        }
        let origin = &check.checkpoint.origin;
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| SignerError::Io(format!("{}: {e}", self.dir.display())))?;
        let kept = KeptProofs {
            size: check.checkpoint.size,
            proofs: check
                .consistency
                .iter()
                .filter(|c| c.old_size > 0 && c.old_size < check.checkpoint.size)
                .map(|c| KeptProof {
                    old_size: c.old_size,
                    hashes: c.hashes.iter().map(hex::encode).collect(),
                })
                .collect(),
        };
        // The proofs first: they are checked on use, so proofs without their checkpoint (a crash
        // in between) are only unused, never trusted.
        airlock_transport::write_atomic(
            &self.proofs_path(origin),
            &serde_json::to_vec(&kept).expect("serializes"),
        )
        .map_err(|e| SignerError::Io(e.to_string()))?;
        airlock_transport::write_atomic(&self.path(origin), check.note.as_bytes())
            .map_err(|e| SignerError::Io(e.to_string()))
    }

    /// Keeps both checkpoints of a contradiction, for people to investigate.
    fn keep_evidence(
        &self,
        origin: &str,
        accepted: &str,
        offered: &str,
        now: u64,
    ) -> Result<PathBuf, SignerError> {
        let dir = self.dir.join("evidence");
        std::fs::create_dir_all(&dir)
            .map_err(|e| SignerError::Io(format!("{}: {e}", dir.display())))?;
        let text = format!(
            "Split view or rollback detected at {}\n\n--- checkpoint accepted before ---\n{accepted}\n--- checkpoint offered ---\n{offered}",
            airlock_core::format_time(now)
        );
        // Never overwrite earlier evidence: another contradiction in the same second gets the
        // next free name; the same contradiction seen again keeps its file.
        for n in 0u32.. {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            let path = dir.join(format!("{now}-{}{suffix}.txt", file_name(origin)));
            match std::fs::read(&path) {
                Ok(existing) if existing == text.as_bytes() => return Ok(path),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    airlock_transport::write_atomic(&path, text.as_bytes())
                        .map_err(|e| SignerError::Io(e.to_string()))?;
                    return Ok(path);
                }
                Err(e) => return Err(SignerError::Io(format!("{}: {e}", path.display()))),
            }
        }
        unreachable!("the evidence directory has a free name")
    }

    /// Keeps the evidence of a contradiction and returns the alarm.
    fn split_view(
        &self,
        verifier: &CheckpointVerifier,
        e: LogError,
        offered: &str,
        now: u64,
    ) -> Result<SignerError, SignerError> {
        let accepted = self.accepted_note(verifier.origin())?.unwrap_or_default();
        let path = self.keep_evidence(verifier.origin(), &accepted, offered, now)?;
        Ok(SignerError::SplitView(format!(
            "{e}; the coordinator is showing this signer a different history. Both checkpoints are kept in {}",
            path.display()
        )))
    }

    /// Verifies the evidence that `proposal_id` is in the vault coordinator's log, consistent with
    /// what this signer accepted before. On a rollback or fork both checkpoints are kept as evidence.
    pub fn check(
        &self,
        vault: &VaultDefinition,
        evidence: &LogEvidence,
        proposal_id: &ArtifactId,
        now: u64,
    ) -> Result<LogCheck, SignerError> {
        self.check_leaf(vault, evidence, "proposal", proposal_id, now)
    }

    /// Like [`LogState::check`], for a leaf of kind `leaf_kind` recording `artifact`.
    pub fn check_leaf(
        &self,
        vault: &VaultDefinition,
        evidence: &LogEvidence,
        leaf_kind: &str,
        artifact: &ArtifactId,
        now: u64,
    ) -> Result<LogCheck, SignerError> {
        let key = VerifyingKey::from_bytes(&vault.coordinator.key.0).map_err(|_| {
            SignerError::Log("the vault's coordinator key is not a valid Ed25519 key".into())
        })?;
        let verifier = CheckpointVerifier::new(&vault.coordinator.origin, key)?;
        let checkpoint = verifier.open(&evidence.checkpoint).map_err(|e| {
            SignerError::Log(format!(
                "the checkpoint is not signed by the vault's coordinator: {e}"
            ))
        })?;
        if checkpoint.size != evidence.tree_size {
            return Err(SignerError::Log(format!(
                "the inclusion proof is for tree size {}, the checkpoint for {}",
                evidence.tree_size, checkpoint.size
            )));
        }
        check_witnesses(vault, &evidence.checkpoint)?;
        check_leaf_under(evidence, leaf_kind, artifact, &checkpoint.root)?;
        let (previous, kept) = self.accepted_with_proofs(&verifier)?;
        let checked = |checkpoint: Checkpoint, previous, advance, consistency| LogCheck {
            checkpoint,
            note: evidence.checkpoint.clone(),
            leaf_index: evidence.leaf_index,
            previous,
            advance,
            consistency,
        };
        if let Some(prev) = previous.as_ref().filter(|p| checkpoint.size < p.size) {
            let kept = kept
                .into_iter()
                .find(|k| k.old_size == checkpoint.size)
                .and_then(|k| k.to_proof(prev.size));
            return match airlock_log::check_behind(prev, &checkpoint, kept.as_ref()) {
                Ok(advance) => Ok(checked(checkpoint, previous.clone(), advance, Vec::new())),
                Err(LogError::StaleCheckpoint {
                    accepted_size,
                    offered_size,
                }) => Err(SignerError::Stale(format!(
                    "stale bundle: its log checkpoint (size {offered_size}) is older than the one this signer \
                     accepted (size {accepted_size}) and cannot be checked against it; export it again \
                     from the coordinator (`airlock export PROPOSAL`) and bring the new file"
                ))),
                Err(e) => Err(self.split_view(&verifier, e, &evidence.checkpoint, now)?),
            };
        }
        let proof = previous.as_ref().and_then(|prev| {
            evidence
                .consistency
                .iter()
                .find(|c| c.old_size == prev.size)
                .map(|c| ConsistencyProof {
                    old_size: c.old_size,
                    new_size: checkpoint.size,
                    hashes: c.hashes.clone(),
                })
        });
        match airlock_log::check_advance(previous.as_ref(), &checkpoint, proof.as_ref()) {
            Ok(advance) => Ok(checked(
                checkpoint,
                previous,
                advance,
                evidence.consistency.clone(),
            )),
            Err(e @ (LogError::Rollback { .. } | LogError::Fork { .. })) => {
                Err(self.split_view(&verifier, e, &evidence.checkpoint, now)?)
            }
            Err(LogError::MissingConsistencyProof) => Err(SignerError::Log(format!(
                "the bundle has no consistency proof from the checkpoint this signer accepted (size {}); \
                 export it again with `airlock export --since {}`",
                previous.as_ref().map(|p| p.size).unwrap_or(0),
                previous.as_ref().map(|p| p.size).unwrap_or(0)
            ))),
            Err(e) => Err(SignerError::Log(e.to_string())),
        }
    }
}

/// The evidence's leaf records `artifact` as a `leaf_kind`, and its inclusion proof leads to
/// `root`.
fn check_leaf_under(
    evidence: &LogEvidence,
    leaf_kind: &str,
    artifact: &ArtifactId,
    root: &[u8; 32],
) -> Result<(), SignerError> {
    let record = LogRecord::from_bytes(&evidence.leaf)
        .map_err(|e| SignerError::Log(format!("the log leaf is malformed: {e}")))?;
    if record.kind != leaf_kind || record.artifact != *artifact {
        return Err(SignerError::Log(format!(
            "the log leaf records a {} of artifact {}, not this {leaf_kind}",
            record.kind,
            record.artifact.short()
        )));
    }
    airlock_log::verify_inclusion(
        &InclusionProof {
            leaf_index: evidence.leaf_index,
            tree_size: evidence.tree_size,
            hashes: evidence.inclusion.clone(),
        },
        &airlock_log::leaf_hash(&evidence.leaf),
        root,
    )
    .map_err(|e| {
        SignerError::Log(format!(
            "the proposal is not in the log the checkpoint commits to: {e}"
        ))
    })
}

/// Places a proposal under a checkpoint already checked in full for another item of the same
/// batch (`first`): the evidence must carry that very checkpoint, and the proposal's own leaf
/// and inclusion proof must lead to its root. Reads and writes nothing.
pub(crate) fn check_under(
    first: &LogCheck,
    evidence: &LogEvidence,
    proposal_id: &ArtifactId,
) -> Result<LogCheck, SignerError> {
    if evidence.checkpoint != first.note || evidence.tree_size != first.checkpoint.size {
        return Err(SignerError::Log(
            "the proposal is under another checkpoint than the batch's first item".into(),
        ));
    }
    check_leaf_under(evidence, "proposal", proposal_id, &first.checkpoint.root)?;
    Ok(LogCheck {
        checkpoint: first.checkpoint.clone(),
        note: first.note.clone(),
        leaf_index: evidence.leaf_index,
        previous: first.previous.clone(),
        advance: first.advance,
        consistency: Vec::new(),
    })
}

/// Requires the vault version's witness quorum on a checkpoint note: cosignatures that verify
/// (C2SP `cosignature/v1`) by at least `threshold` distinct witnesses of the vault's set. Lines
/// by other keys, or that do not verify, count for nothing.
fn check_witnesses(vault: &VaultDefinition, note: &str) -> Result<(), SignerError> {
    let policy = &vault.witnesses;
    if policy.is_empty() {
        return Ok(());
    }
    let mut cosigned = Vec::new();
    for w in &policy.witnesses {
        let verifier = airlock_log::witness::WitnessVerifier::new(&w.name, &w.key.0)
            .map_err(|e| SignerError::Log(format!("vault {:?}: {e}", vault.vault_id)))?;
        if verifier.cosigned_at(note).is_some() {
            cosigned.push(w.name.as_str());
        }
    }
    if cosigned.len() < policy.threshold as usize {
        let missing: Vec<&str> = policy
            .witnesses
            .iter()
            .map(|w| w.name.as_str())
            .filter(|n| !cosigned.contains(n))
            .collect();
        return Err(SignerError::Log(format!(
            "the checkpoint carries valid cosignatures by {} of vault {:?}'s witnesses, and {} are required (missing: {}): \
             a checkpoint the witnesses have not seen may be a history shown only to you; ask the coordinator to export the bundle again once its witnesses cosign",
            cosigned.len(),
            vault.vault_id,
            policy.threshold,
            missing.join(", ")
        )));
    }
    Ok(())
}
