//! `airlock log verify`: re-checks the whole log from its leaves up.
//!
//! It rebuilds the Merkle tree from the stored leaves and compares it with the stored hashes and
//! with every signed checkpoint, then replays every transition in order through the same core
//! rules the coordinator applied when it accepted them: each vault version against the one
//! before, each proposal against the vault version current at the time, each decision against
//! the proposal's vault version, each record against the lifecycle. A watcher with a copy of the
//! database gets the same verdict.
//!
//! This module must never repair anything: it reports the first problem with the leaf it is at.

use std::collections::BTreeMap;

use airlock_core::commitment::StateCommitment;
use airlock_core::lifecycle::ProposalState;
use airlock_core::vault::verify_vault_version;
use airlock_core::{
    Approval, ArtifactId, ArtifactKind, Decision, DeviceRole, Envelope, Event, Finalized,
    LogRecord, Proposal, PublicKey, TransferManifest, VaultDefinition,
};
use airlock_log::{CheckpointVerifier, MemoryLog};
use serde::Serialize;

use crate::store::{Storage, StoreHashes};
use crate::{CoordinatorError, Result};

/// What a verification found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LogReport {
    pub size: u64,
    pub root: String,
    pub checkpoints: usize,
    pub vault_versions: usize,
    pub proposals: usize,
    pub approvals: usize,
    pub rejections: usize,
    pub finalized: usize,
    pub events: usize,
    pub halts: usize,
    pub transfers: usize,
    pub state_commitments: usize,
    /// Tabletop drills recorded.
    pub drills: usize,
}

fn fail(index: u64, kind: &str, problem: impl std::fmt::Display) -> CoordinatorError {
    CoordinatorError::LogInvalid(format!("log leaf {index} ({kind}): {problem}"))
}

/// Verifies the log held by `store`, whose checkpoints `verifier` signs and whose records
/// `coordinator` signs.
pub fn verify(
    store: &dyn Storage,
    verifier: &CheckpointVerifier,
    coordinator: &PublicKey,
) -> Result<LogReport> {
    let size = store.log_size()?;
    let mut tree = MemoryLog::new();
    let mut leaves = Vec::with_capacity(size as usize);
    for start in (0..size).step_by(crate::LEAVES_PER_READ as usize) {
        for leaf in store.leaves(start, (start + crate::LEAVES_PER_READ).min(size))? {
            tree.append(&leaf);
            leaves.push(leaf);
        }
    }
    let stored_root = airlock_log::tree_root(size, &StoreHashes(store))?;
    if stored_root != tree.root() {
        return Err(CoordinatorError::Refused(format!(
            "the stored hashes do not match the leaves (root {} vs {})",
            hex::encode(stored_root),
            hex::encode(tree.root())
        )));
    }
    let checkpoints = store.checkpoints()?;
    for (csize, note) in &checkpoints {
        let cp = verifier
            .open(note)
            .map_err(|e| CoordinatorError::Refused(format!("checkpoint at size {csize}: {e}")))?;
        if cp.size != *csize || cp.size > size || cp.root != tree.root_at(cp.size)? {
            return Err(CoordinatorError::Refused(format!(
                "checkpoint at size {csize} does not match the log's leaves"
            )));
        }
    }
    if size > 0 && checkpoints.last().map(|(s, _)| *s) != Some(size) {
        return Err(CoordinatorError::Refused(format!(
            "the newest checkpoint does not cover all {size} leaves"
        )));
    }

    let mut report = replay_records(&leaves, coordinator, &mut |id| {
        Ok(store.artifact(id)?.map(|a| a.bytes))
    })?;
    report.root = hex::encode(tree.root());
    report.checkpoints = checkpoints.len();
    // The other direction: every stored artifact must be recorded by the leaf it points at (a
    // record cut from the log leaves its artifact behind, which `status` would still read).
    for kind in ArtifactKind::ALL {
        for a in store.artifacts_of_kind(kind.name(), None)? {
            let recorded = leaves
                .get(a.log_index as usize)
                .and_then(|leaf| LogRecord::from_bytes(leaf).ok())
                .is_some_and(|r| r.artifact == a.id);
            if !recorded {
                return Err(CoordinatorError::Refused(format!(
                    "stored {} {} is not recorded in the log (its leaf {} is missing or records something else)",
                    a.kind,
                    a.id.short(),
                    a.log_index
                )));
            }
        }
    }
    Ok(report)
}

/// Replays every transition recorded by `leaves`, in order, through the core rules the
/// coordinator applied when it accepted them; `artifact` returns the bytes of the artifact a
/// record names (from the database, or fetched from a published log; either way each is checked
/// against the id in its record). The tree and checkpoints are the caller's to check.
pub fn replay_records(
    leaves: &[Vec<u8>],
    coordinator: &PublicKey,
    artifact: &mut dyn FnMut(&ArtifactId) -> Result<Option<Vec<u8>>>,
) -> Result<LogReport> {
    let mut replayer = Replayer::new(*coordinator);
    for leaf in leaves {
        replayer.push(leaf, artifact)?;
    }
    Ok(replayer.report)
}

/// [`replay_records`] one leaf at a time, for a watcher (a witness) that follows a log as it
/// grows: it keeps every vault's versions and every proposal's state between leaves. A leaf
/// that is refused leaves the replayer as it was before it, as far as later leaves can tell
/// (nothing is recorded for it), but a caller should stop at the first refusal: the log is bad.
#[derive(Clone, Debug)]
pub struct Replayer {
    coordinator: PublicKey,
    vaults: BTreeMap<String, Vec<(VaultDefinition, ArtifactId)>>,
    proposals: BTreeMap<ArtifactId, ProposalState>,
    halts: airlock_core::halt::HaltBook,
    /// Each vault's newest state commitment.
    commitments: BTreeMap<String, StateCommitment>,
    /// The log's origin, learned from the first vault version (halts must name it).
    origin: Option<String>,
    report: LogReport,
}

impl Replayer {
    /// A replayer for a log whose records `coordinator` signs, at size 0.
    pub fn new(coordinator: PublicKey) -> Replayer {
        Replayer {
            coordinator,
            vaults: BTreeMap::new(),
            proposals: BTreeMap::new(),
            halts: Default::default(),
            commitments: BTreeMap::new(),
            origin: None,
            report: LogReport::default(),
        }
    }

    /// Leaves replayed so far.
    pub fn size(&self) -> u64 {
        self.report.size
    }

    /// What has been replayed (its `root` is left for the caller to fill).
    pub fn report(&self) -> &LogReport {
        &self.report
    }

    /// The newest version of every vault replayed so far.
    pub fn latest_vaults(&self) -> impl Iterator<Item = &VaultDefinition> {
        self.vaults
            .values()
            .filter_map(|h| h.last().map(|(d, _)| d))
    }

    /// How many proposals of a vault have been finalized so far.
    pub fn finalized_in(&self, vault_id: &str) -> usize {
        self.proposals
            .values()
            .filter(|s| s.vault.vault_id == vault_id && s.finalized.is_some())
            .count()
    }

    /// The newest state commitment of a vault replayed so far.
    pub fn latest_commitment(&self, vault_id: &str) -> Option<&StateCommitment> {
        self.commitments.get(vault_id)
    }

    /// The proposals of a vault finalized so far, in no particular order.
    pub fn finalized_proposals<'a>(
        &'a self,
        vault_id: &'a str,
    ) -> impl Iterator<Item = &'a ProposalState> + 'a {
        self.proposals
            .values()
            .filter(move |s| s.vault.vault_id == vault_id && s.finalized.is_some())
    }

    /// A proposal replayed so far, with its decisions and records.
    pub fn proposal(&self, id: &ArtifactId) -> Option<&ProposalState> {
        self.proposals.get(id)
    }

    /// Replays the next leaf.
    pub fn push(
        &mut self,
        leaf: &[u8],
        artifact: &mut dyn FnMut(&ArtifactId) -> Result<Option<Vec<u8>>>,
    ) -> Result<()> {
        let i = self.report.size;
        let coordinator = self.coordinator;
        let record = LogRecord::from_bytes(leaf).map_err(|e| fail(i, "?", e))?;
        let kind = record.kind.as_str();
        let stored = artifact(&record.artifact)?.ok_or_else(|| {
            fail(
                i,
                kind,
                format!("artifact {} is missing", record.artifact.short()),
            )
        })?;
        let env = Envelope::from_bytes(&stored).map_err(|e| fail(i, kind, e))?;
        if env.id() != record.artifact {
            return Err(fail(
                i,
                kind,
                "the stored artifact does not hash to the id in the log",
            ));
        }
        let require_coordinator = || {
            env.require_signature(&coordinator, "the coordinator")
                .and_then(|()| env.require_only_signers(&[coordinator], "the record"))
                .map_err(|e| fail(i, kind, e))
        };
        match kind {
            "vault-version" => {
                let history = self.vaults.entry(record.vault_id.clone()).or_default();
                let previous = history.last().map(|(d, id)| (d, *id));
                let def = verify_vault_version(&env, previous).map_err(|e| fail(i, kind, e))?;
                if def.vault_id != record.vault_id {
                    return Err(fail(i, kind, "the record names another vault"));
                }
                if let Some((previous, _)) = previous
                    && let Some((id, halt)) = self.halts.stranded_by(previous, &def).next()
                {
                    return Err(fail(
                        i,
                        kind,
                        airlock_core::halt::stranded_halt_refusal(previous, id, halt),
                    ));
                }
                self.origin
                    .get_or_insert_with(|| def.coordinator.origin.clone());
                history.push((def, env.id()));
                self.report.vault_versions += 1;
            }
            "proposal" => {
                require_coordinator()?;
                let p: Proposal = env.open().map_err(|e| fail(i, kind, e))?;
                let history = self.vaults.get(&p.vault_id).ok_or_else(|| {
                    fail(
                        i,
                        kind,
                        format!("vault {:?} does not exist yet", p.vault_id),
                    )
                })?;
                let (current, current_id) = history.last().ok_or_else(|| {
                    fail(i, kind, format!("vault {:?} has no version", p.vault_id))
                })?;
                if p.vault_version != current.version {
                    return Err(fail(
                        i,
                        kind,
                        format!(
                            "made under vault version {} while version {} was current",
                            p.vault_version, current.version
                        ),
                    ));
                }
                let state = ProposalState::open(&env, current, *current_id)
                    .map_err(|e| fail(i, kind, e))?;
                self.proposals.insert(env.id(), state);
                self.report.proposals += 1;
            }
            "approval" | "rejection" => {
                let a: Approval = env.open().map_err(|e| fail(i, kind, e))?;
                let expected = if kind == "approval" {
                    Decision::Approve
                } else {
                    Decision::Reject
                };
                if a.decision != expected {
                    return Err(fail(i, kind, "the record kind does not match the decision"));
                }
                let state = self.proposals.get_mut(&a.proposal).ok_or_else(|| {
                    fail(
                        i,
                        kind,
                        format!(
                            "proposal {} is not in the log before it",
                            a.proposal.short()
                        ),
                    )
                })?;
                let current = self
                    .vaults
                    .get(&state.vault.vault_id)
                    .and_then(|h| h.last())
                    .map(|(d, _)| d.version)
                    .unwrap_or(0);
                state
                    .add_decision(&env, record.at, current)
                    .map_err(|e| fail(i, kind, e))?;
                if kind == "approval" {
                    self.report.approvals += 1;
                } else {
                    self.report.rejections += 1;
                }
            }
            "finalized" => {
                require_coordinator()?;
                let f: Finalized = env.open().map_err(|e| fail(i, kind, e))?;
                let state = self
                    .proposals
                    .get_mut(&f.proposal)
                    .ok_or_else(|| fail(i, kind, "its proposal is not in the log before it"))?;
                // Nothing but a RESUME is finalized while a halt is in force for the vault.
                let resume = airlock_core::halt::resume_target(&state.proposal);
                match resume {
                    Some(target) => {
                        if self.halts.get(&target).is_none() {
                            return Err(fail(
                                i,
                                kind,
                                format!(
                                    "a RESUME of halt {}, which is not in the log",
                                    target.short()
                                ),
                            ));
                        }
                    }
                    None => {
                        let latest = self
                            .vaults
                            .get(&state.vault.vault_id)
                            .and_then(|h| h.last())
                            .map(|(d, _)| d)
                            .unwrap_or(&state.vault);
                        if let Some((id, h)) = self.halts.in_force(latest).next() {
                            return Err(fail(
                                i,
                                kind,
                                format!(
                                    "finalized while halt {} by witness {} ({}) was in force for vault {:?}",
                                    id.short(),
                                    h.witness,
                                    h.reason,
                                    state.vault.vault_id
                                ),
                            ));
                        }
                    }
                }
                state
                    .finalize(env.id(), f, record.at)
                    .map_err(|e| fail(i, kind, e))?;
                if let Some(target) = resume {
                    let vault_id = state.vault.vault_id.clone();
                    self.halts.lift(&vault_id, target);
                }
                self.report.finalized += 1;
            }
            "broadcast" | "confirmed" | "expired" | "abandoned" | "reorged" => {
                require_coordinator()?;
                let e: Event = env.open().map_err(|e| fail(i, kind, e))?;
                if e.kind.as_str() != kind {
                    return Err(fail(i, kind, "the record kind does not match the event"));
                }
                let state = self
                    .proposals
                    .get_mut(&e.proposal)
                    .ok_or_else(|| fail(i, kind, "its proposal is not in the log before it"))?;
                state
                    .record_event(e, record.at)
                    .map_err(|e| fail(i, kind, e))?;
                self.report.events += 1;
            }
            "halt" => {
                // A witness's circuit breaker: signed by a witness of the vault it names (of any
                // vault when it names every vault), as the coordinator checked when it recorded it.
                let origin = self
                    .origin
                    .clone()
                    .ok_or_else(|| fail(i, kind, "a halt before any vault"))?;
                let latest: Vec<&VaultDefinition> = self
                    .vaults
                    .values()
                    .filter_map(|h| h.last().map(|(d, _)| d))
                    .collect();
                let halt = airlock_core::halt::check_halt(&env, &origin, latest)
                    .map_err(|e| fail(i, kind, e))?;
                if halt.vault_id != record.vault_id {
                    return Err(fail(
                        i,
                        kind,
                        "the record names another vault than the halt",
                    ));
                }
                self.halts.add(&env, halt);
                self.report.halts += 1;
            }
            "state" => {
                // A state commitment: the coordinator's, for a vault of the log, under the
                // version current when it was appended and on that vault's chain.
                require_coordinator()?;
                let c: StateCommitment = env.open().map_err(|e| fail(i, kind, e))?;
                let current = self
                    .vaults
                    .get(&c.vault_id)
                    .and_then(|h| h.last())
                    .map(|(d, _)| d)
                    .ok_or_else(|| {
                        fail(
                            i,
                            kind,
                            format!("vault {:?} does not exist yet", c.vault_id),
                        )
                    })?;
                if c.vault_id != record.vault_id {
                    return Err(fail(i, kind, "the record names another vault"));
                }
                if c.vault_version != current.version || c.chain != current.chain {
                    return Err(fail(
                        i,
                        kind,
                        format!(
                            "a commitment for {} v{} while vault {:?} is {} v{}",
                            c.chain, c.vault_version, c.vault_id, current.chain, current.version
                        ),
                    ));
                }
                self.commitments.insert(c.vault_id.clone(), c);
                self.report.state_commitments += 1;
            }
            "transfer" => {
                // A crossing: the manifest this coordinator wrote, or one it accepted from a
                // signer of a vault in the log before it (or, first contact, one that carries
                // only vault drafts). Its signature must verify by the key it names.
                let m: TransferManifest = env.open().map_err(|e| fail(i, kind, e))?;
                env.require_signature(&m.origin_key, &m.origin_name)
                    .and_then(|()| env.require_only_signers(&[m.origin_key], "the manifest"))
                    .map_err(|e| fail(i, kind, e))?;
                if m.origin_key == coordinator {
                    if m.origin_role != DeviceRole::Coordinator {
                        return Err(fail(
                            i,
                            kind,
                            "the coordinator's manifest names another role",
                        ));
                    }
                } else {
                    let known = self
                        .vaults
                        .values()
                        .flatten()
                        .any(|(d, _)| d.signer(&m.origin_key).is_some());
                    let drafts_only = m
                        .entries
                        .iter()
                        .all(|e| e.kind == ArtifactKind::VaultDefinition);
                    if m.origin_role != DeviceRole::Signer || !(known || drafts_only) {
                        return Err(fail(
                            i,
                            kind,
                            format!(
                                "the transfer from {} ({}) is not from a signer of a vault in the log",
                                m.origin_name,
                                m.origin_key.short()
                            ),
                        ));
                    }
                }
                self.report.transfers += 1;
            }
            "drill" => {
                // A tabletop drill: the coordinator's record, for a vault of the log, about a
                // version that vault has had, appended after the drill finished.
                require_coordinator()?;
                let d: airlock_core::drill::DrillRecord =
                    env.open().map_err(|e| fail(i, kind, e))?;
                if d.vault_id != record.vault_id {
                    return Err(fail(i, kind, "the record names another vault"));
                }
                let versions = self.vaults.get(&d.vault_id).ok_or_else(|| {
                    fail(
                        i,
                        kind,
                        format!("vault {:?} does not exist yet", d.vault_id),
                    )
                })?;
                if !versions.iter().any(|(v, _)| v.version == d.vault_version) {
                    return Err(fail(
                        i,
                        kind,
                        format!(
                            "a drill on v{} of vault {:?}, a version it has not had",
                            d.vault_version, d.vault_id
                        ),
                    ));
                }
                if d.finished > record.at {
                    return Err(fail(i, kind, "the drill finished after it was recorded"));
                }
                self.report.drills += 1;
            }
            other => return Err(fail(i, other, "unknown record kind")),
        }
        self.report.size += 1;
        Ok(())
    }
}
