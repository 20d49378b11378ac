//! The online coordinator: keeps vault versions, builds proposals, collects approvals and
//! rejections, finalizes, records broadcasts and confirmations, and writes every transition to
//! the transparency log with a signed checkpoint.
//!
//! The coordinator holds no spend key: its identity key signs proposals, records and log
//! checkpoints only. It trusts nothing it did not verify: vault versions are checked against the
//! previous version's threshold, decisions against the proposal's vault version, chain signature
//! material against the payload, and a signer's reported checkpoint against its own log.
//!
//! Every transition validates and appends inside one write transaction ([`Coordinator::transact`])
//! that holds the database's write lock from its first read to its commit, so no interleaving of
//! processes can append a transition that `log verify` rejects. Work that talks to a node
//! (building, finalizing, broadcasting) runs before the transaction, on a snapshot; the
//! transaction then checks again what it depends on.
//!
//! This module must never hold chain secrets, never change state outside a write transaction,
//! never validate a transition outside the transaction that appends it, and never report a
//! transition that is not in the log.

pub mod chains;
pub mod commitments;
pub mod drill;
pub mod halts;
pub mod home;
pub mod members;
pub mod metrics;
pub mod metrics_chart;
pub mod pgstore;
pub mod recover;
pub mod replay;
pub mod report;
pub mod store;
pub mod test_server;
pub mod transfer;

use std::collections::BTreeSet;
use std::path::Path;

use airlock_core::chain::BuiltPayload;
use airlock_core::lifecycle::{ProposalState, Status};
use airlock_core::vault::verify_vault_version;
use airlock_core::{
    Approval, Artifact, ArtifactId, ArtifactKind, CoreError, Decision, Envelope, Event, EventKind,
    Finalized, Intent, LogEvidence, LogRecord, Proposal, ProposalBundle, PublicKey, ReleaseBundle,
    SignerEntry, UnixTime, VaultDefinition, policy,
};
use airlock_custody::IdentityKey;
use airlock_log::{CheckpointSigner, CheckpointVerifier};
use rand_core::{OsRng, RngCore};

pub use home::CoordinatorHome;
pub use replay::LogReport;
use store::{NewEntry, Storage, StoreError, StoreHashes, StoredArtifact};

/// Checked decisions: their log entries, and each decision's id with its proposal's status once
/// they are recorded.
type PreparedDecisions = (Vec<NewEntry>, Vec<(ArtifactId, Status)>);

/// Most consistency proofs carried in one bundle.
const MAX_CONSISTENCY_PROOFS: usize = 64;

/// A coordinator failure.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Log(#[from] airlock_log::LogError),
    #[error(transparent)]
    Chain(#[from] airlock_core::chain::ChainError),
    #[error(transparent)]
    Custody(#[from] airlock_custody::CustodyError),
    #[error("{0}")]
    NotFound(String),
    /// A device reports a log state this log never had: a split view or rollback.
    #[error("SPLIT VIEW: {0}")]
    SplitView(String),
    /// The stored log fails its own verification: tampered with or damaged.
    #[error("LOG INVALID: {0}")]
    LogInvalid(String),
    #[error("{0}")]
    Refused(String),
    /// The caller (a service member) may not make this transition.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Setup(String),
}

impl airlock_core::Classify for CoordinatorError {
    /// Alarms: a split view, a log or database that contradicts itself. Everything else is refused
    /// (or busy, when another process held the database past the wait).
    fn severity(&self) -> airlock_core::Severity {
        use airlock_core::Severity;
        match self {
            CoordinatorError::SplitView(_) | CoordinatorError::LogInvalid(_) => Severity::Alarm,
            CoordinatorError::Store(e) => e.severity(),
            CoordinatorError::Log(e) => e.severity(),
            CoordinatorError::Core(e) => e.severity(),
            CoordinatorError::Chain(e) => e.severity(),
            CoordinatorError::Custody(e) => e.severity(),
            CoordinatorError::NotFound(_)
            | CoordinatorError::Refused(_)
            | CoordinatorError::Forbidden(_)
            | CoordinatorError::Setup(_) => Severity::Refused,
        }
    }
}

pub type Result<T, E = CoordinatorError> = std::result::Result<T, E>;

/// The parts of a vault version the coordinator drafts.
#[derive(Clone, Debug, Default)]
pub struct VaultDraft {
    pub vault_id: String,
    pub chain: String,
    pub network: String,
    pub account: String,
    pub signers: Vec<SignerEntry>,
    pub threshold: u32,
    pub rules: Vec<airlock_core::Rule>,
    /// Witnesses whose cosignatures bundles must carry.
    pub witnesses: airlock_core::vault::WitnessPolicy,
}

/// The coordinator service over a storage backend.
pub struct Coordinator {
    store: Box<dyn Storage>,
    identity: IdentityKey,
    log_signer: CheckpointSigner,
    chains: chains::ChainSettings,
    /// Who the transitions made now are made for (a service member), recorded beside them.
    actor: Option<String>,
    /// Where transactions are sent and confirmations read instead of the chain's node: only
    /// `airlock sim`'s simulated ledger sets it.
    network: Option<Box<dyn Network>>,
}

/// The network a finalized transaction is sent to and its confirmations read from, standing in
/// for the chain's node. `airlock sim` gives its coordinator a simulated ledger (blocks,
/// reorganizations) this way, so the real broadcast and confirmation code runs against it.
/// Nothing else sets one.
pub trait Network: Send {
    /// Sends the transaction of `proposal`.
    fn broadcast(
        &self,
        proposal: &ArtifactId,
        tx: &airlock_core::chain::FinalTransaction,
    ) -> std::result::Result<(), airlock_core::chain::ChainError>;
    /// Confirmations of the transaction of `proposal`, `None` when it is not in the chain.
    fn confirmations(
        &self,
        proposal: &ArtifactId,
        txid: &str,
    ) -> std::result::Result<Option<u64>, airlock_core::chain::ChainError>;
}

impl Coordinator {
    /// Builds a coordinator from an identity, a log origin and a store.
    pub fn new(
        identity: IdentityKey,
        origin: &str,
        store: Box<dyn Storage>,
    ) -> Result<Coordinator> {
        let log_signer = CheckpointSigner::new(origin, identity.signing_key().clone())?;
        Ok(Coordinator {
            store,
            identity,
            log_signer,
            chains: chains::ChainSettings::default(),
            actor: None,
            network: None,
        })
    }

    /// Sets how this coordinator reaches each chain's node.
    pub fn set_chains(&mut self, settings: chains::ChainSettings) {
        self.chains = settings;
    }

    /// Sends transactions to, and reads confirmations from, `network` instead of each chain's
    /// node (the simulation's ledger).
    pub fn set_network(&mut self, network: Box<dyn Network>) {
        self.network = Some(network);
    }

    /// The online chain of a vault, with this coordinator's node settings.
    pub fn chain_online(&self, name: &str) -> Result<Box<dyn airlock_core::chain::ChainOnline>> {
        chains::chain_online(name, &self.chains)
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.identity.verifying_key().to_bytes())
    }

    pub fn origin(&self) -> &str {
        self.log_signer.origin()
    }

    /// The signed-note verifier key of this coordinator's log.
    pub fn log_verifier(&self) -> CheckpointVerifier {
        self.log_signer.verifier()
    }

    pub fn store(&self) -> &dyn Storage {
        self.store.as_ref()
    }

    /// Runs a transition: `f` reads what it validates and appends, all inside one write
    /// transaction that holds the write lock; it commits only if `f` succeeds. Nested calls join
    /// the open transaction.
    pub fn transact<T>(&mut self, f: impl FnOnce(&mut Coordinator) -> Result<T>) -> Result<T> {
        let own = self.store.begin_write()?;
        let result = f(self);
        if own {
            match &result {
                Ok(_) => self.store.end(true)?,
                Err(_) => {
                    let _ = self.store.end(false);
                }
            }
        }
        result
    }

    /// Runs several reads on one consistent snapshot (or inside the open transaction).
    pub fn read<T>(&self, f: impl FnOnce(&Coordinator) -> Result<T>) -> Result<T> {
        let own = self.store.begin_read()?;
        let result = f(self);
        if own {
            let _ = self.store.end(false);
        }
        result
    }

    fn append(&mut self, entries: Vec<NewEntry>) -> Result<store::Appended> {
        let signer = &self.log_signer;
        let sign = |size: u64, root: airlock_log::LogHash| {
            signer
                .sign(size, root)
                .map(|s| s.note)
                .map_err(|e| StoreError::Other(format!("signing the checkpoint: {e}")))
        };
        let appended = self.store.append(entries, &sign)?;
        if let Some(actor) = &self.actor {
            self.store
                .record_actor(appended.first_index, appended.size, actor)?;
        }
        Ok(appended)
    }

    /// Names who the following transitions are made for (`None`: the operator of this home);
    /// each entry they append records it in the same transaction.
    pub fn set_actor(&mut self, actor: Option<String>) {
        self.actor = actor;
    }

    /// Who made the log entry at `index`, when a service member did.
    pub fn actor_of(&self, index: u64) -> Result<Option<String>> {
        Ok(self.store.actor(index)?)
    }

    fn entry(
        &self,
        env: &Envelope,
        leaf_kind: &str,
        vault_id: &str,
        version: Option<u64>,
        subject: Option<ArtifactId>,
        now: UnixTime,
    ) -> NewEntry {
        let record = LogRecord {
            kind: leaf_kind.to_owned(),
            artifact: env.id(),
            vault_id: vault_id.to_owned(),
            at: now,
        };
        NewEntry {
            artifact: Some(StoredArtifact {
                id: env.id(),
                kind: env.kind().map(|k| k.name()).unwrap_or("unknown").to_owned(),
                vault_id: vault_id.to_owned(),
                version,
                subject,
                bytes: env.to_bytes(),
                log_index: 0,
            }),
            leaf: record.to_bytes(),
            signer_seen: None,
        }
    }

    // ----- vaults -------------------------------------------------------------------------

    /// The newest version of a vault, with its envelope and id.
    pub fn vault_latest(&self, vault_id: &str) -> Result<(VaultDefinition, Envelope)> {
        let versions = self.store.vault_versions(vault_id)?;
        let (_, id) = versions.last().ok_or_else(|| {
            CoordinatorError::NotFound(format!(
                "no vault named {vault_id:?} (see `airlock vault list`)"
            ))
        })?;
        self.vault_by_id(id)
    }

    /// What this home last learned of a vault's funds by syncing, from local state only
    /// ([`chains::synced_state`]).
    pub fn vault_synced(&self, vault_id: &str) -> Result<Option<serde_json::Value>> {
        let (def, _) = self.vault_latest(vault_id)?;
        chains::synced_state(&def, &self.chains)
    }

    /// Syncs a vault's chain state from the configured node ([`chains::sync_vault`]), commits it
    /// to the log when it changed ([`Coordinator::commit_state`]) and returns what
    /// [`Coordinator::vault_synced`] shows afterwards, with a summary of the sync and the
    /// `commitment`.
    pub fn sync_vault(&mut self, vault_id: &str, now: UnixTime) -> Result<serde_json::Value> {
        let (def, _) = self.vault_latest(vault_id)?;
        let mut synced = chains::sync_vault(&def, &self.chains)?;
        synced["commitment"] = serde_json::to_value(self.commit_state(vault_id, now)?)
            .unwrap_or(serde_json::Value::Null);
        Ok(synced)
    }

    /// A specific version of a vault.
    pub fn vault_version(
        &self,
        vault_id: &str,
        version: u64,
    ) -> Result<(VaultDefinition, Envelope)> {
        let versions = self.store.vault_versions(vault_id)?;
        let (_, id) = versions
            .iter()
            .find(|(v, _)| *v == version)
            .ok_or_else(|| {
                CoordinatorError::NotFound(format!("vault {vault_id:?} has no version {version}"))
            })?;
        self.vault_by_id(id)
    }

    fn vault_by_id(&self, id: &ArtifactId) -> Result<(VaultDefinition, Envelope)> {
        let env = self.envelope(id)?;
        Ok((env.open()?, env))
    }

    pub fn vault_ids(&self) -> Result<Vec<String>> {
        Ok(self.store.vault_ids()?)
    }

    pub fn vault_history(&self, vault_id: &str) -> Result<Vec<(VaultDefinition, Envelope)>> {
        self.store
            .vault_versions(vault_id)?
            .iter()
            .map(|(_, id)| self.vault_by_id(id))
            .collect()
    }

    /// Drafts version 1 of a new vault, or the next version of an existing one (unsigned: the
    /// signers approve it by signing it).
    pub fn draft_vault(&self, draft: VaultDraft, now: UnixTime) -> Result<Envelope> {
        let existing = self.store.vault_versions(&draft.vault_id)?;
        let (version, previous) = match existing.last() {
            None => (1, None),
            Some((v, id)) => (v + 1, Some(*id)),
        };
        let def = VaultDefinition {
            vault_id: draft.vault_id,
            version,
            previous,
            chain: draft.chain,
            network: draft.network,
            account: draft.account,
            coordinator: airlock_core::vault::CoordinatorRef {
                origin: self.origin().to_owned(),
                key: self.public_key(),
            },
            signers: draft.signers,
            threshold: draft.threshold,
            rules: draft.rules,
            created: now,
            witnesses: draft.witnesses,
        };
        def.validate()?;
        chains::check_vault(&def, &self.chains)?;
        if let Some(prev_id) = previous {
            let (prev, _) = self.vault_by_id(&prev_id)?;
            if prev.chain != def.chain || prev.network != def.network {
                return Err(CoreError::Invalid(format!(
                    "vault {:?} is a {} {} vault; a new version cannot change chain or network",
                    def.vault_id, prev.chain, prev.network
                ))
                .into());
            }
        }
        Ok(def.envelope())
    }

    /// Merges signed copies of a vault draft and activates it when its signatures meet the
    /// rotation rule. Returns the definition and its id.
    pub fn submit_vault(
        &mut self,
        copies: &[Envelope],
        now: UnixTime,
    ) -> Result<(VaultDefinition, ArtifactId)> {
        // The account against its members (and a Safe against the node) as at draft time, before
        // the transaction: no node call holds the database. Every copy is of one definition.
        if let Some(first) = copies.first() {
            chains::check_vault(&first.open()?, &self.chains)?;
        }
        self.transact(|c| c.submit_vault_in_transaction(copies, now))
    }

    fn submit_vault_in_transaction(
        &mut self,
        copies: &[Envelope],
        now: UnixTime,
    ) -> Result<(VaultDefinition, ArtifactId)> {
        let first = copies
            .first()
            .ok_or_else(|| CoordinatorError::Refused("no vault definition given".into()))?;
        let mut merged = first.clone();
        for c in &copies[1..] {
            merged.merge_signatures(c)?;
        }
        let def: VaultDefinition = merged.open()?;
        if def.coordinator.key != self.public_key() || def.coordinator.origin != self.origin() {
            return Err(CoordinatorError::Refused(format!(
                "vault {:?} v{} names another coordinator ({}), not this one",
                def.vault_id, def.version, def.coordinator.origin
            )));
        }
        if self.store.artifact(&merged.id())?.is_some() {
            return Err(CoordinatorError::Refused(format!(
                "vault {:?} v{} ({}) is already active",
                def.vault_id,
                def.version,
                merged.id().short()
            )));
        }
        let existing = self.store.vault_versions(&def.vault_id)?;
        let previous = match existing.last() {
            None => None,
            Some((_, id)) => Some((self.vault_by_id(id)?.0, *id)),
        };
        let def = verify_vault_version(&merged, previous.as_ref().map(|(d, id)| (d, *id)))?;
        if let Some((previous, _)) = &previous {
            for (id, halt, bytes) in self.halts_in_force_now(previous)? {
                if airlock_core::halt::halt_signed_by(&Envelope::from_bytes(&bytes)?, &def)
                    .is_none()
                {
                    return Err(CoordinatorError::Refused(
                        airlock_core::halt::stranded_halt_refusal(previous, &id, &halt),
                    ));
                }
            }
        }
        let entry = self.entry(
            &merged,
            "vault-version",
            &def.vault_id,
            Some(def.version),
            None,
            now,
        );
        self.append(vec![entry])?;
        Ok((def, merged.id()))
    }

    // ----- proposals ----------------------------------------------------------------------

    /// Amount proposed in a vault in the last `secs` seconds by proposals that can still move
    /// funds (not rejected, not expired).
    fn window_spent(&self, vault_id: &str, now: UnixTime, secs: u64) -> Result<u128> {
        let mut total = 0u128;
        for state in self.proposals(Some(vault_id))? {
            let status = state.status(now);
            if matches!(status, Status::Rejected | Status::Expired) {
                continue;
            }
            if state.proposal.created + secs > now {
                total = total.saturating_add(state.proposal.intent.total()?);
            }
        }
        Ok(total)
    }

    /// Creates a proposal under the vault's newest version, its payload built by the vault's
    /// chain from the intent; returns its id.
    pub fn propose(
        &mut self,
        vault_id: &str,
        intent: Intent,
        expires_in: Option<u64>,
        now: UnixTime,
    ) -> Result<ArtifactId> {
        let (vault, _) = self.read(|c| c.vault_latest(vault_id))?;
        let chain = self.chain_online(&vault.chain)?;
        let intent = chain.normalize_intent(intent)?;
        let reserved = self.read(|c| c.open_spends(vault_id, now))?;
        let built = chain.build_avoiding(&vault, &intent, &reserved)?;
        self.propose_payload(vault_id, intent, built, expires_in, now)
    }

    /// What the vault's open proposals (collecting, ready, finalized or broadcast) spend: a new
    /// payload must spend none of it.
    pub fn open_spends(&self, vault_id: &str, now: UnixTime) -> Result<BTreeSet<String>> {
        Ok(self
            .proposals(Some(vault_id))?
            .iter()
            .filter(|s| {
                matches!(
                    s.status(now),
                    Status::Collecting | Status::Ready | Status::Finalized | Status::Broadcast
                )
            })
            .flat_map(|s| s.proposal.spends.clone())
            .collect())
    }

    /// Creates a proposal with a payload built elsewhere (arbitrary calls, typed data, a PSBT
    /// from another wallet). The payload goes through the same checks a signer runs: the chain
    /// describes it from the vault, the description must match the intent and the stated
    /// spends, and the chain's own checks against the node apply (e.g. next nonces).
    pub fn propose_payload(
        &mut self,
        vault_id: &str,
        intent: Intent,
        built: BuiltPayload,
        expires_in: Option<u64>,
        now: UnixTime,
    ) -> Result<ArtifactId> {
        // The node's view (e.g. next nonces) is checked first, outside the transaction; the log's
        // state (vault version, windows, open spends) inside it.
        let (vault, _) = self.read(|c| c.vault_latest(vault_id))?;
        let chain = self.chain_online(&vault.chain)?;
        chain.check_payload(&vault, &built.payload)?;
        let intent = chain.normalize_intent(intent)?;
        self.transact(|c| {
            c.propose_in_transaction(vault_id, vault.version, intent, built, expires_in, now)
        })
    }

    /// Records a proposal under `version`, the vault version its payload was built and checked
    /// for, which must still be the newest.
    fn propose_in_transaction(
        &mut self,
        vault_id: &str,
        version: u64,
        intent: Intent,
        built: BuiltPayload,
        expires_in: Option<u64>,
        now: UnixTime,
    ) -> Result<ArtifactId> {
        let (vault, vault_env) = self.vault_latest(vault_id)?;
        if vault.version != version {
            return Err(CoordinatorError::Refused(format!(
                "vault {vault_id:?} moved to v{} while the proposal was being built for v{version}; propose again",
                vault.version
            )));
        }
        let chain = self.chain_online(&vault.chain)?;
        // Precompute window sums (a closure cannot return errors).
        let mut windows = std::collections::BTreeMap::new();
        for rule in &vault.rules {
            for c in &rule.conditions {
                if let airlock_core::Condition::WindowAmount { window_secs, .. } = c {
                    windows.insert(
                        *window_secs,
                        self.window_spent(vault_id, now, *window_secs)?,
                    );
                }
            }
        }
        let spent = |secs: u64| windows.get(&secs).copied().unwrap_or(0);
        let rule = policy::select_rule(&vault, &intent, now, &spent)?;
        // Only a payload that spends something can conflict (decision-only vaults skip the scan).
        let open_spends = if built.spends.is_empty() {
            BTreeSet::new()
        } else {
            self.open_spends(vault_id, now)?
        };
        if let Some(conflict) = built.spends.iter().find(|s| open_spends.contains(*s)) {
            return Err(CoordinatorError::Refused(format!(
                "{conflict} is already spent by an open proposal"
            )));
        }
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        let expires = now.saturating_add(expires_in.unwrap_or(rule.expiry_secs));
        let proposal = Proposal {
            vault_id: vault.vault_id.clone(),
            vault_version: vault.version,
            vault_artifact: vault_env.id(),
            chain: vault.chain.clone(),
            intent,
            payload: built.payload,
            spends: built.spends,
            rule: rule.name.clone(),
            created: now,
            expires,
            proposer: self.public_key(),
            nonce,
        };
        let description = chain.describe(&vault, &proposal)?;
        airlock_core::chain::check_against_intent(&proposal.intent, &description)?;
        let (mut stated, mut computed) = (proposal.spends.clone(), description.spends.clone());
        stated.sort();
        computed.sort();
        if stated != computed {
            return Err(CoordinatorError::Refused(
                "the payload's spends differ from the ones stated for it".into(),
            ));
        }
        let mut env = proposal.envelope();
        env.sign(self.identity.signing_key());
        let entry = self.entry(&env, "proposal", vault_id, None, None, now);
        self.append(vec![entry])?;
        Ok(env.id())
    }

    /// Resolves a full id or a unique hex prefix (at least 6 digits) of an artifact.
    pub fn resolve(&self, id_or_prefix: &str) -> Result<ArtifactId> {
        let s = id_or_prefix.trim().to_ascii_lowercase();
        if s.len() == 64 {
            return Ok(ArtifactId::from_hex(&s)?);
        }
        if s.len() < 6 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CoordinatorError::NotFound(format!(
                "{id_or_prefix:?} is not an artifact id or a prefix of at least 6 hex digits"
            )));
        }
        let matches = self.store.artifacts_with_prefix(&s)?;
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(CoordinatorError::NotFound(format!(
                "no artifact id starts with {s}"
            ))),
            _ => Err(CoordinatorError::NotFound(format!(
                "{} artifacts start with {s}; give more digits",
                matches.len()
            ))),
        }
    }

    /// The envelope of a stored artifact.
    pub fn envelope(&self, id: &ArtifactId) -> Result<Envelope> {
        let stored = self
            .store
            .artifact(id)?
            .ok_or_else(|| CoordinatorError::NotFound(format!("no artifact {}", id.short())))?;
        let env = Envelope::from_bytes(&stored.bytes)?;
        if env.id() != *id {
            return Err(StoreError::Corrupt(format!(
                "artifact {} does not hash to its id",
                id.short()
            ))
            .into());
        }
        Ok(env)
    }

    fn record_time(&self, stored: &StoredArtifact) -> Result<UnixTime> {
        Ok(LogRecord::from_bytes(&self.store.leaf(stored.log_index)?)?.at)
    }

    /// Rebuilds the state of a proposal from the stored artifacts (on one snapshot).
    pub fn proposal_state(&self, id: &ArtifactId) -> Result<ProposalState> {
        self.read(|c| c.proposal_state_in_snapshot(id))
    }

    fn proposal_state_in_snapshot(&self, id: &ArtifactId) -> Result<ProposalState> {
        let stored = self
            .store
            .artifact(id)?
            .ok_or_else(|| CoordinatorError::NotFound(format!("no proposal {}", id.short())))?;
        if stored.kind != ArtifactKind::Proposal.name() {
            return Err(CoordinatorError::NotFound(format!(
                "{} is a {}, not a proposal",
                id.short(),
                stored.kind
            )));
        }
        let env = Envelope::from_bytes(&stored.bytes)?;
        let proposal: Proposal = env.open()?;
        let (vault, vault_env) = self.vault_version(&proposal.vault_id, proposal.vault_version)?;
        let mut state = ProposalState::open(&env, &vault, vault_env.id())?;
        for a in self
            .store
            .artifacts_about(id, ArtifactKind::Approval.name())?
        {
            let at = self.record_time(&a)?;
            state.add_decision(&Envelope::from_bytes(&a.bytes)?, at, vault.version)?;
        }
        for f in self
            .store
            .artifacts_about(id, ArtifactKind::Finalized.name())?
        {
            let at = self.record_time(&f)?;
            let fenv = Envelope::from_bytes(&f.bytes)?;
            state.finalize(fenv.id(), fenv.open()?, at)?;
        }
        for e in self.store.artifacts_about(id, ArtifactKind::Event.name())? {
            let at = self.record_time(&e)?;
            state.record_event(Envelope::from_bytes(&e.bytes)?.open()?, at)?;
        }
        Ok(state)
    }

    /// Every proposal (optionally of one vault), oldest first (on one snapshot).
    pub fn proposals(&self, vault_id: Option<&str>) -> Result<Vec<ProposalState>> {
        self.read(|c| {
            c.store
                .artifacts_of_kind(ArtifactKind::Proposal.name(), vault_id)?
                .iter()
                .map(|a| c.proposal_state_in_snapshot(&a.id))
                .collect()
        })
    }

    /// The bundle a signer needs to review a proposal: the signed proposal, its vault version,
    /// the inclusion proof under the newest checkpoint, and consistency proofs from every
    /// checkpoint size the vault's signers may hold (plus `extra_sizes`).
    pub fn bundle(&mut self, id: &ArtifactId, extra_sizes: &[u64]) -> Result<ProposalBundle> {
        self.transact(|c| c.bundle_in_transaction(id, extra_sizes))
    }

    fn bundle_in_transaction(
        &mut self,
        id: &ArtifactId,
        extra_sizes: &[u64],
    ) -> Result<ProposalBundle> {
        let state = self.proposal_state(id)?;
        let stored = self
            .store
            .artifact(id)?
            .ok_or_else(|| CoordinatorError::NotFound(format!("no proposal {}", id.short())))?;
        let (_, vault_env) = self.vault_version(&state.vault.vault_id, state.vault.version)?;
        let evidence = self.evidence_for(stored.log_index, &state.vault, extra_sizes)?;
        let halts = self.bundle_halts(&state.vault)?;
        Ok(ProposalBundle {
            proposal: stored.bytes,
            vault: vault_env.to_bytes(),
            evidence,
            halts,
        })
    }

    /// [`Coordinator::bundle`] as the signed artifact that crosses the gap: the coordinator's
    /// identity signs it, so a signer knows which coordinator it came from.
    pub fn export_bundle(&mut self, id: &ArtifactId, extra_sizes: &[u64]) -> Result<Envelope> {
        self.export_bundle_witnessed(id, extra_sizes, |_, _, note| Ok(note.to_owned()))
    }

    /// [`Coordinator::export_bundle`] with the bundle's checkpoint note passed through `cosign`
    /// (given this coordinator, the checkpoint's size and its note) before the bundle is signed:
    /// witnesses' cosignature lines are appended there. Signers ignore note signatures by keys
    /// they do not know, so a cosigned note is read like a plain one.
    pub fn export_bundle_witnessed(
        &mut self,
        id: &ArtifactId,
        extra_sizes: &[u64],
        mut cosign: impl FnMut(&Coordinator, u64, &str) -> Result<String>,
    ) -> Result<Envelope> {
        let mut bundle = self.bundle(id, extra_sizes)?;
        bundle.evidence.checkpoint =
            cosign(self, bundle.evidence.tree_size, &bundle.evidence.checkpoint)?;
        // A witness may halt the vault while it checks this very checkpoint (an anomaly rule
        // that fired on this proposal): the bundle is then made again, carrying the halt.
        let vault: VaultDefinition = Envelope::from_bytes(&bundle.vault)?.open()?;
        if self.read(|c| c.bundle_halts(&vault))? != bundle.halts {
            bundle = self.bundle(id, extra_sizes)?;
            bundle.evidence.checkpoint =
                cosign(self, bundle.evidence.tree_size, &bundle.evidence.checkpoint)?;
        }
        let mut env = bundle.envelope();
        env.sign(self.identity.signing_key());
        Ok(env)
    }

    /// The halts in force for a vault now, as a bundle or batch carries them (encoded, at most
    /// [`airlock_core::artifacts::MAX_BUNDLE_HALTS`]).
    fn bundle_halts(&self, vault: &VaultDefinition) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .halts_in_force_now(vault)?
            .into_iter()
            .map(|(_, _, bytes)| bytes)
            .take(airlock_core::artifacts::MAX_BUNDLE_HALTS)
            .collect())
    }

    /// Many proposals of one vault version as one batch for signers (one session, one
    /// decision file): the vault, halts, checkpoint and consistency proofs once, and for each
    /// proposal its signed envelope, log leaf and inclusion proof under that one checkpoint.
    /// Every proposal must still be open for decisions (collecting or ready), and none twice.
    pub fn proposal_batch(
        &mut self,
        ids: &[ArtifactId],
        extra_sizes: &[u64],
        now: UnixTime,
    ) -> Result<airlock_core::ProposalBatch> {
        self.transact(|c| c.proposal_batch_in_transaction(ids, extra_sizes, now))
    }

    fn proposal_batch_in_transaction(
        &mut self,
        ids: &[ArtifactId],
        extra_sizes: &[u64],
        now: UnixTime,
    ) -> Result<airlock_core::ProposalBatch> {
        if ids.is_empty() || ids.len() > airlock_core::artifacts::MAX_BATCH_ITEMS {
            return Err(CoordinatorError::Refused(format!(
                "a batch holds 1 to {} proposals ({} given)",
                airlock_core::artifacts::MAX_BATCH_ITEMS,
                ids.len()
            )));
        }
        let mut seen = BTreeSet::new();
        let mut stored_items = Vec::with_capacity(ids.len());
        let mut vault_of_batch: Option<VaultDefinition> = None;
        for id in ids {
            if !seen.insert(*id) {
                return Err(CoordinatorError::Refused(format!(
                    "proposal {} is named twice",
                    id.short()
                )));
            }
            let state = self.proposal_state(id)?;
            let status = state.status(now);
            if !matches!(status, Status::Collecting | Status::Ready) {
                return Err(CoordinatorError::Refused(format!(
                    "proposal {} is {}: only open proposals go into a batch",
                    id.short(),
                    status.as_str()
                )));
            }
            match &vault_of_batch {
                None => vault_of_batch = Some(state.vault.clone()),
                Some(v)
                    if v.vault_id != state.vault.vault_id || v.version != state.vault.version =>
                {
                    return Err(CoordinatorError::Refused(format!(
                        "proposal {} is under vault {:?} v{}, the batch's first under {:?} v{}: a batch is one vault version",
                        id.short(),
                        state.vault.vault_id,
                        state.vault.version,
                        v.vault_id,
                        v.version
                    )));
                }
                Some(_) => {}
            }
            let stored = self
                .store
                .artifact(id)?
                .ok_or_else(|| CoordinatorError::NotFound(format!("no proposal {}", id.short())))?;
            stored_items.push(stored);
        }
        let vault = vault_of_batch.expect("at least one proposal");
        let (_, vault_env) = self.vault_version(&vault.vault_id, vault.version)?;
        let shared = self.evidence_for(stored_items[0].log_index, &vault, extra_sizes)?;
        let hashes = StoreHashes(self.store.as_ref());
        let mut items = Vec::with_capacity(stored_items.len());
        for stored in stored_items {
            let inclusion =
                airlock_log::prove_inclusion(shared.tree_size, stored.log_index, &hashes)?;
            items.push(airlock_core::BatchItem {
                leaf: self.store.leaf(stored.log_index)?,
                leaf_index: stored.log_index,
                inclusion: inclusion.hashes,
                proposal: stored.bytes,
            });
        }
        let halts = self.bundle_halts(&vault)?;
        Ok(airlock_core::ProposalBatch {
            vault: vault_env.to_bytes(),
            halts,
            tree_size: shared.tree_size,
            checkpoint: shared.checkpoint,
            consistency: shared.consistency,
            items,
        })
    }

    /// [`Coordinator::proposal_batch`] as the signed artifact that crosses the gap, its
    /// checkpoint note passed through `cosign` first (as [`Coordinator::export_bundle_witnessed`]).
    pub fn export_batch_witnessed(
        &mut self,
        ids: &[ArtifactId],
        extra_sizes: &[u64],
        now: UnixTime,
        mut cosign: impl FnMut(&Coordinator, u64, &str) -> Result<String>,
    ) -> Result<Envelope> {
        let mut batch = self.proposal_batch(ids, extra_sizes, now)?;
        batch.checkpoint = cosign(self, batch.tree_size, &batch.checkpoint)?;
        // A witness may halt the vault while it checks this checkpoint: the batch is made again.
        let vault: VaultDefinition = Envelope::from_bytes(&batch.vault)?.open()?;
        if self.read(|c| c.bundle_halts(&vault))? != batch.halts {
            batch = self.proposal_batch(ids, extra_sizes, now)?;
            batch.checkpoint = cosign(self, batch.tree_size, &batch.checkpoint)?;
        }
        let mut env = batch.envelope();
        env.sign(self.identity.signing_key());
        Ok(env)
    }

    /// A C2SP tlog-witness `add-checkpoint` body for this log's checkpoint `note` of `size`,
    /// from `old_size` (the size the witness last cosigned): the consistency proof comes from
    /// this log's own tree. A witness ahead of `size` is refused here (it cannot cosign `note`).
    pub fn witness_request(&self, old_size: u64, size: u64, note: &str) -> Result<Vec<u8>> {
        if old_size > size {
            return Err(CoordinatorError::Refused(format!(
                "the witness has cosigned size {old_size}, past this checkpoint ({size})"
            )));
        }
        let proof = if old_size == 0 || old_size == size {
            Vec::new()
        } else {
            airlock_log::prove_consistency(old_size, size, &StoreHashes(self.store.as_ref()))?
                .hashes
        };
        Ok(airlock_log::witness::AddCheckpoint {
            old_size,
            proof,
            checkpoint: note.to_owned(),
        }
        .to_bytes())
    }

    /// The coordinator's own key and every signer of every vault, with a name for each, for
    /// naming signatures.
    pub fn known_keys(&self) -> Vec<(PublicKey, String)> {
        let mut out = vec![(self.public_key(), format!("coordinator {}", self.origin()))];
        for id in self.vault_ids().unwrap_or_default() {
            for (def, _) in self.vault_history(&id).unwrap_or_default() {
                for s in def.signers {
                    if !out.iter().any(|(k, _)| *k == s.identity) {
                        out.push((
                            s.identity,
                            format!("{} ({} of vault {})", s.name, s.role, def.vault_id),
                        ));
                    }
                }
            }
        }
        out
    }

    /// The bundle that tells a proposal's signers it was abandoned, so they end the reservation
    /// their approvals hold: the signed "abandoned" event with its log evidence.
    pub fn release_bundle(
        &mut self,
        id: &ArtifactId,
        extra_sizes: &[u64],
    ) -> Result<ReleaseBundle> {
        self.transact(|c| {
            let state = c.proposal_state(id)?;
            let stored = c
                .store
                .artifacts_about(id, ArtifactKind::Event.name())?
                .into_iter()
                .find(|e| {
                    Envelope::from_bytes(&e.bytes)
                        .and_then(|env| env.open::<Event>())
                        .is_ok_and(|ev| ev.kind == EventKind::Abandoned)
                })
                .ok_or_else(|| {
                    CoordinatorError::Refused(format!(
                        "proposal {} was not abandoned: record that with `airlock abandon` first",
                        id.short()
                    ))
                })?;
            let (_, vault_env) = c.vault_version(&state.vault.vault_id, state.vault.version)?;
            let evidence = c.evidence_for(stored.log_index, &state.vault, extra_sizes)?;
            Ok(ReleaseBundle {
                event: stored.bytes,
                vault: vault_env.to_bytes(),
                evidence,
            })
        })
    }

    /// Evidence for a log leaf under the newest checkpoint: the inclusion proof, and consistency
    /// proofs from every checkpoint size the vault's signers may hold (sizes shipped before,
    /// sizes they reported, plus `extra_sizes`). Records the newest size as shipped.
    fn evidence_for(
        &mut self,
        log_index: u64,
        vault: &VaultDefinition,
        extra_sizes: &[u64],
    ) -> Result<LogEvidence> {
        let (size, note) = self
            .store
            .latest_checkpoint()?
            .ok_or_else(|| StoreError::Corrupt("the log has no checkpoint".into()))?;
        let hashes = StoreHashes(self.store.as_ref());
        let inclusion = airlock_log::prove_inclusion(size, log_index, &hashes)?;
        // Proofs from every size asked for and every size a signer of the vault last reported
        // (a signer back after a busy absence must connect its own checkpoint, however many
        // bundles were exported meanwhile), then from the newest exported sizes up to the cap.
        let mut wanted: BTreeSet<u64> = extra_sizes.iter().copied().collect();
        for s in &vault.signers {
            if let Some(seen) = self.store.signer_seen(&s.identity.0)? {
                wanted.insert(seen);
            }
        }
        wanted.retain(|s| *s > 0 && *s < size);
        let mut sizes: Vec<u64> = wanted.iter().copied().collect();
        let room = MAX_CONSISTENCY_PROOFS.saturating_sub(sizes.len());
        sizes.extend(
            self.store
                .exported_sizes()?
                .into_iter()
                .filter(|s| *s > 0 && *s < size && !wanted.contains(s))
                .collect::<BTreeSet<u64>>()
                .into_iter()
                .rev()
                .take(room),
        );
        sizes.sort_unstable();
        let mut consistency = Vec::new();
        for old in sizes.into_iter().rev() {
            let proof = airlock_log::prove_consistency(old, size, &hashes)?;
            consistency.push(airlock_core::artifacts::ConsistencyFrom {
                old_size: old,
                hashes: proof.hashes,
            });
        }
        consistency.reverse();
        let evidence = LogEvidence {
            leaf: self.store.leaf(log_index)?,
            leaf_index: log_index,
            tree_size: size,
            inclusion: inclusion.hashes,
            checkpoint: note,
            consistency,
        };
        self.store.note_exported(size)?;
        Ok(evidence)
    }

    /// Checks that a checkpoint a signer reports is a state of this log.
    fn check_signer_checkpoint(&self, signer: &str, size: u64, root: &[u8; 32]) -> Result<()> {
        if size == 0 {
            return Ok(());
        }
        let current = self.store.log_size()?;
        let ours = if size <= current {
            Some(airlock_log::tree_root(
                size,
                &StoreHashes(self.store.as_ref()),
            )?)
        } else {
            None
        };
        if ours.as_ref() != Some(root) {
            return Err(CoordinatorError::SplitView(format!(
                "{signer} reports log checkpoint size {size} root {}, which is not a state of this log: \
                 the signer has seen a different history (split view) — investigate before going on",
                hex::encode(root)
            )));
        }
        Ok(())
    }

    /// Accepts an approval or rejection. Returns its id and the proposal's new status.
    pub fn submit_decision(
        &mut self,
        env: &Envelope,
        now: UnixTime,
    ) -> Result<(ArtifactId, Status)> {
        Ok(self
            .submit_decisions(std::slice::from_ref(env), now)?
            .remove(0))
    }

    /// Accepts several approvals and rejections at once: every one is checked (against the
    /// proposal, the vault version, its signature, the signer's reported checkpoint, the chain
    /// material and the others in the batch) before any is recorded, and all are recorded in one
    /// transaction. If one is refused, nothing changes.
    pub fn submit_decisions(
        &mut self,
        envs: &[Envelope],
        now: UnixTime,
    ) -> Result<Vec<(ArtifactId, Status)>> {
        if envs.is_empty() {
            return Err(CoordinatorError::Refused("no decisions given".into()));
        }
        // Chain material is verified on a snapshot first (it can be slow and need no lock), then
        // everything is checked again, with the write lock held, before it is recorded.
        self.precheck_decisions(envs, now)?;
        self.record_prechecked_decisions(envs, now)
    }

    /// The first half of [`Coordinator::submit_decisions`]: checks decisions on a snapshot,
    /// their chain signature material included, recording nothing and holding no lock.
    pub fn precheck_decisions(&self, envs: &[Envelope], now: UnixTime) -> Result<()> {
        if envs.is_empty() {
            return Err(CoordinatorError::Refused("no decisions given".into()));
        }
        self.read(|c| c.prepare_decisions(envs, now, true).map(|_| ()))
    }

    /// The second half of [`Coordinator::submit_decisions`], for decisions that passed
    /// [`Coordinator::precheck_decisions`] (on any earlier snapshot): everything is checked again
    /// inside the write transaction but their chain signature material — part of the artifact,
    /// so the precheck's verdict on it still holds — and then recorded.
    pub fn record_prechecked_decisions(
        &mut self,
        envs: &[Envelope],
        now: UnixTime,
    ) -> Result<Vec<(ArtifactId, Status)>> {
        if envs.is_empty() {
            return Err(CoordinatorError::Refused("no decisions given".into()));
        }
        self.transact(|c| {
            let (entries, outcomes) = c.prepare_decisions(envs, now, false)?;
            c.append(entries)?;
            Ok(outcomes)
        })
    }

    /// Checks a batch of decisions and builds their log entries without recording anything;
    /// returns the entries and each decision's id with its proposal's status once recorded.
    ///
    /// `verify_chain`: also verify each approval's chain signature material (the transaction
    /// re-check skips it: the material is part of the artifact, so it cannot have changed).
    fn prepare_decisions(
        &self,
        envs: &[Envelope],
        now: UnixTime,
        verify_chain: bool,
    ) -> Result<PreparedDecisions> {
        let mut states: std::collections::BTreeMap<ArtifactId, ProposalState> = Default::default();
        let mut entries = Vec::new();
        let mut touched = Vec::new();
        // What the loop looks up, read at once where the store gains by it.
        let proposals: Vec<ArtifactId> = envs
            .iter()
            .filter_map(|env| env.open::<Approval>().ok().map(|a| a.proposal))
            .collect();
        let ids: Vec<ArtifactId> = envs
            .iter()
            .map(|e| e.id())
            .chain(proposals.clone())
            .collect();
        self.store.prefetch(&ids, &proposals)?;
        for (n, env) in envs.iter().enumerate() {
            let label = |e: CoordinatorError| match e {
                e if envs.len() == 1 => e,
                CoordinatorError::SplitView(m) => CoordinatorError::SplitView(format!(
                    "decision {} of {}: {m}",
                    n + 1,
                    envs.len()
                )),
                e => {
                    CoordinatorError::Refused(format!("decision {} of {}: {e}", n + 1, envs.len()))
                }
            };
            let approval: Approval = env.open().map_err(|e| label(e.into()))?;
            if self.store.artifact(&env.id())?.is_some()
                || entries
                    .iter()
                    .any(|e: &NewEntry| e.artifact.as_ref().is_some_and(|a| a.id == env.id()))
            {
                return Err(label(CoordinatorError::Refused(format!(
                    "this {} ({}) was already submitted",
                    approval.decision.as_str(),
                    env.id().short()
                ))));
            }
            let state = match states.entry(approval.proposal) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(self.proposal_state(&approval.proposal).map_err(label)?)
                }
            };
            let (latest, _) = self.vault_latest(&state.vault.vault_id)?;
            let decided = state
                .check_decision(env, now, latest.version)
                .map_err(|e| label(e.into()))?;
            self.check_signer_checkpoint(
                &decided.signer.name,
                approval.seen_checkpoint.size,
                &approval.seen_checkpoint.root,
            )
            .map_err(label)?;
            let resume = airlock_core::halt::resume_target(&state.proposal).is_some();
            if resume && !approval.chain_signature.is_empty() {
                return Err(label(CoordinatorError::Refused(
                    "an approval of a RESUME carries no chain signature".into(),
                )));
            }
            if verify_chain && approval.decision == Decision::Approve && !resume {
                let chain = self.chain_online(&state.vault.chain)?;
                chain
                    .verify_signature(&state.vault, &state.proposal, &approval.chain_signature)
                    .map_err(|e| label(e.into()))?;
            }
            let kind = match approval.decision {
                Decision::Approve => "approval",
                Decision::Reject => "rejection",
            };
            let mut entry = self.entry(env, kind, &state.vault.vault_id, None, Some(state.id), now);
            entry.signer_seen = Some((approval.signer.0, approval.seen_checkpoint.size));
            state.add_decision(env, now, latest.version)?;
            entries.push(entry);
            // The status right after this decision, as the person submitting it expects to see.
            touched.push((env.id(), state.status(now)));
        }
        Ok((entries, touched))
    }

    /// Finalizes a ready proposal: combines the approvals' chain material into the final
    /// transaction and records it.
    pub fn finalize(&mut self, id: &ArtifactId, now: UnixTime) -> Result<(ArtifactId, Finalized)> {
        self.finalize_by(id, now, |c| c.combine_ready(id, now))
    }

    /// Finalizes a ready proposal with a transaction signed by a key holder outside Airlock's
    /// signers (a wallet2 cold wallet holding a Monero vault's key). The caller has checked
    /// `signed` against the proposal's payload with the chain's code; the record names the
    /// approvals the proposal is ready with, as any finalization does, and a halt refuses it
    /// the same way. Refused when an approval already carries the chain's signature material
    /// (then `finalize` combines it).
    pub fn finalize_with_transaction(
        &mut self,
        id: &ArtifactId,
        signed: airlock_core::chain::FinalTransaction,
        now: UnixTime,
    ) -> Result<(ArtifactId, Finalized)> {
        self.finalize_by(id, now, |c| {
            let state = c.proposal_state(id)?;
            let (materials, used) = c.ready_approvals(&state, now)?;
            if materials.iter().any(|m| !m.is_empty()) {
                return Err(CoordinatorError::Refused(format!(
                    "proposal {} carries an approval with its signed transaction: finalize it",
                    id.short()
                )));
            }
            Ok((signed.clone(), used))
        })
    }

    fn finalize_by(
        &mut self,
        id: &ArtifactId,
        now: UnixTime,
        combine: impl Fn(&Self) -> Result<(airlock_core::chain::FinalTransaction, Vec<ArtifactId>)>,
    ) -> Result<(ArtifactId, Finalized)> {
        // Combine on a snapshot (chains may consult their node), then record inside the
        // transaction only if the proposal is still ready with the same approvals.
        let (tx, used) = self.read(|c| {
            // A halt is said first (the chain would not be asked to combine under it), and
            // checked again where the record is written.
            let state = c.proposal_state_in_snapshot(id)?;
            if airlock_core::halt::resume_target(&state.proposal).is_none() {
                c.refuse_if_halted(&state.vault, "it finalizes")?;
            }
            combine(c)
        })?;
        self.transact(|c| {
            let mut state = c.proposal_state(id)?;
            // A RESUME is what lifts a halt; anything else waits for it.
            if airlock_core::halt::resume_target(&state.proposal).is_none() {
                c.refuse_if_halted(&state.vault, "it finalizes")?;
            }
            let (_, now_used) = c.ready_approvals(&state, now)?;
            if now_used != used {
                return Err(CoordinatorError::Refused(format!(
                    "proposal {} changed while it was being finalized; run finalize again",
                    id.short()
                )));
            }
            let record = Finalized {
                proposal: *id,
                approvals: used,
                transaction: tx.bytes,
                txid: tx.txid,
                finalized_at: now,
            };
            let mut env = record.envelope();
            env.sign(c.identity.signing_key());
            state.finalize(env.id(), record.clone(), now)?;
            let entry = c.entry(
                &env,
                "finalized",
                &state.vault.vault_id,
                None,
                Some(*id),
                now,
            );
            c.append(vec![entry])?;
            Ok((env.id(), record))
        })
    }

    /// The approvals a ready proposal would be finalized with; refuses any other status.
    fn ready_approvals(
        &self,
        state: &ProposalState,
        now: UnixTime,
    ) -> Result<(Vec<Vec<u8>>, Vec<ArtifactId>)> {
        let status = state.status(now);
        if matches!(
            status,
            Status::Finalized | Status::Broadcast | Status::Confirmed
        ) {
            return Err(CoordinatorError::Refused(format!(
                "proposal {} is already finalized ({status})",
                state.id.short()
            )));
        }
        if status != Status::Ready {
            let tally = state.tally();
            return Err(
                CoreError::Lifecycle(airlock_core::lifecycle::LifecycleError::NotReady {
                    status,
                    detail: if tally.missing.is_empty() {
                        "it is no longer open".into()
                    } else {
                        airlock_core::lifecycle::describe_gaps(&tally.missing)
                    },
                })
                .into(),
            );
        }
        let used = state.approvals_used();
        Ok((
            used.iter()
                .map(|d| d.approval.chain_signature.clone())
                .collect(),
            used.iter().map(|d| d.id).collect(),
        ))
    }

    /// Combines a ready proposal's approvals into its final transaction (nothing is recorded).
    fn combine_ready(
        &self,
        id: &ArtifactId,
        now: UnixTime,
    ) -> Result<(airlock_core::chain::FinalTransaction, Vec<ArtifactId>)> {
        let state = self.proposal_state(id)?;
        let (materials, used) = self.ready_approvals(&state, now)?;
        if airlock_core::halt::resume_target(&state.proposal).is_some() {
            // A RESUME moves nothing: its record is the decision itself.
            return Ok((
                airlock_core::chain::FinalTransaction {
                    bytes: Vec::new(),
                    txid: String::new(),
                },
                used,
            ));
        }
        let chain = self.chain_online(&state.vault.chain)?;
        let materials: Vec<&[u8]> = materials.iter().map(Vec::as_slice).collect();
        let tx = chain.finalize(&state.vault, &state.proposal, &materials)?;
        Ok((tx, used))
    }

    /// Broadcasts a finalized proposal's transaction through its chain and records it. An
    /// expired proposal is not broadcast: its signers' reservations have ended, so they may have
    /// approved a replacement spending the same coins. A proposal already broadcast and not
    /// confirmed (a reorganization took its block, or nodes dropped it) is sent again as signed;
    /// nothing new is recorded then and its broadcast event is returned.
    pub fn broadcast(&mut self, id: &ArtifactId, now: UnixTime) -> Result<Event> {
        let state = self.read(|c| c.proposal_state(id))?;
        if state.status(now) == Status::Broadcast
            && let (Some(event), Some((_, record))) = (&state.broadcast, &state.finalized)
        {
            self.send(&state, id, record)?;
            return Ok(event.clone());
        }
        self.broadcast_first(id, now)
    }

    fn send(&self, state: &ProposalState, id: &ArtifactId, record: &Finalized) -> Result<()> {
        let tx = airlock_core::chain::FinalTransaction {
            bytes: record.transaction.clone(),
            txid: record.txid.clone(),
        };
        match &self.network {
            Some(network) => network.broadcast(id, &tx)?,
            None => self.chain_online(&state.vault.chain)?.broadcast(&tx)?,
        }
        Ok(())
    }

    fn broadcast_first(&mut self, id: &ArtifactId, now: UnixTime) -> Result<Event> {
        let state = self.read(|c| c.proposal_state(id))?;
        let (_, record) = state.finalized.clone().ok_or_else(|| {
            CoordinatorError::Refused(format!(
                "proposal {} is {}, not finalized",
                id.short(),
                state.status(now)
            ))
        })?;
        if state.status(now) != Status::Finalized {
            return Err(CoordinatorError::Refused(format!(
                "proposal {} is already {}",
                id.short(),
                state.status(now)
            )));
        }
        if airlock_core::halt::resume_target(&state.proposal).is_some() {
            return Err(CoordinatorError::Refused(format!(
                "proposal {} is a RESUME: finalizing it lifted its halt, and there is nothing to broadcast",
                id.short()
            )));
        }
        if now >= state.proposal.expires {
            return Err(CoordinatorError::Refused(format!(
                "proposal {} expired at {} before it was broadcast; it is not broadcast now \
                 (its signers may have approved a replacement): propose it again",
                id.short(),
                airlock_core::format_time(state.proposal.expires)
            )));
        }
        self.send(&state, id, &record)?;
        self.record_event(id, EventKind::Broadcast, record.txid, now)
    }

    /// Checks a broadcast proposal's transaction in the chain: records it confirmed once it has
    /// `required` confirmations (at least 1; a team waits for its chain's finality depth).
    /// Checking a confirmed proposal again records a reorganization when its transaction is no
    /// longer in the chain (the proposal is broadcast again, to be re-sent or re-mined); an
    /// event is returned only when one is recorded.
    pub fn check_confirmation(
        &mut self,
        id: &ArtifactId,
        now: UnixTime,
        required: u64,
    ) -> Result<Option<Event>> {
        let state = self.read(|c| c.proposal_state(id))?;
        let status = state.status(now);
        if !matches!(status, Status::Broadcast | Status::Confirmed) {
            return Err(CoordinatorError::Refused(format!(
                "proposal {} is {status}, not broadcast",
                id.short(),
            )));
        }
        let txid = state
            .finalized
            .as_ref()
            .map(|(_, r)| r.txid.clone())
            .unwrap_or_default();
        let confirmations = match &self.network {
            Some(network) => network.confirmations(id, &txid)?,
            None => self
                .chain_online(&state.vault.chain)?
                .confirmations(&txid)?,
        }
        .unwrap_or(0);
        match status {
            Status::Broadcast if confirmations >= required.max(1) => Ok(Some(self.record_event(
                id,
                EventKind::Confirmed,
                format!("{confirmations} confirmation(s)"),
                now,
            )?)),
            Status::Confirmed if confirmations == 0 => Ok(Some(self.record_event(
                id,
                EventKind::Reorged,
                format!(
                    "transaction {txid} is no longer in the chain (reorganized out or replaced); it was {}",
                    state
                        .confirmed
                        .as_ref()
                        .map(|e| e.detail.as_str())
                        .unwrap_or("confirmed")
                ),
                now,
            )?)),
            _ => Ok(None),
        }
    }

    /// Records that a proposal will never be finalized (it was rejected, it expired, or the team
    /// gave it up). Signers shown this signed, logged record end the reservation of the coins,
    /// nonces or key images their approval of it held.
    pub fn abandon(&mut self, id: &ArtifactId, reason: &str, now: UnixTime) -> Result<Event> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(CoordinatorError::Refused(
                "abandoning a proposal needs a reason (--reason)".into(),
            ));
        }
        let status = self.read(|c| c.proposal_state(id))?.status(now);
        if status == Status::Abandoned {
            return Err(CoordinatorError::Refused(format!(
                "proposal {} is already abandoned; its release bundle: `airlock export {} --out FILE`",
                id.short(),
                id.to_hex()
            )));
        }
        let detail = match status {
            Status::Rejected => format!("rejected: {reason}"),
            Status::Expired => format!("expired: {reason}"),
            _ => reason.to_owned(),
        };
        self.record_event(id, EventKind::Abandoned, detail, now)
    }

    /// Records an event about a proposal: its state is read and the event checked against it
    /// inside the transaction that appends it.
    fn record_event(
        &mut self,
        id: &ArtifactId,
        kind: EventKind,
        detail: String,
        now: UnixTime,
    ) -> Result<Event> {
        self.transact(|c| {
            let mut state = c.proposal_state(id)?;
            let event = Event {
                kind,
                proposal: state.id,
                detail,
                at: now,
            };
            state.record_event(event.clone(), now)?;
            let mut env = event.envelope();
            env.sign(c.identity.signing_key());
            let entry = c.entry(
                &env,
                kind.as_str(),
                &state.vault.vault_id,
                None,
                Some(state.id),
                now,
            );
            c.append(vec![entry])?;
            Ok(event)
        })
    }

    /// The newest checkpoint (size, signed note).
    pub fn latest_checkpoint(&self) -> Result<(u64, String)> {
        self.store.latest_checkpoint()?.ok_or_else(|| {
            CoordinatorError::NotFound("the log is empty: create a vault first".into())
        })
    }

    /// Re-checks the whole log: hashes, every checkpoint signature, and every transition.
    pub fn verify_log(&self) -> Result<LogReport> {
        self.read(|c| replay::verify(c.store.as_ref(), &c.log_verifier(), &c.public_key()))
    }

    /// The process metrics of this coordinator's log, read in one snapshot. With `replay` the
    /// log is first verified in full (every signature and rule, as `verify_log`); without, only
    /// its integrity is checked: the leaves' Merkle root against the newest signed checkpoint,
    /// and every artifact against the id its leaf names.
    pub fn metrics(
        &self,
        options: metrics::MetricsOptions,
        replay: bool,
    ) -> Result<metrics::MetricsReport> {
        self.read(|c| {
            let store = c.store.as_ref();
            if replay {
                replay::verify(store, &c.log_verifier(), &c.public_key()).map_err(|e| {
                    CoordinatorError::LogInvalid(format!("log verification FAILED: {e}"))
                })?;
            }
            let size = store.log_size()?;
            let mut leaves = Vec::with_capacity(size as usize);
            for start in (0..size).step_by(LEAVES_PER_READ as usize) {
                leaves.extend(store.leaves(start, (start + LEAVES_PER_READ).min(size))?);
            }
            // Each artifact is filed under the leaf that logged it: held in log order, they are
            // read in the order the leaves are (each is still checked against its leaf's id).
            let mut by_leaf: Vec<Vec<u8>> = vec![Vec::new(); leaves.len()];
            for kind in ArtifactKind::ALL {
                for a in store.artifacts_of_kind(kind.name(), None)? {
                    if let Some(slot) = by_leaf.get_mut(a.log_index as usize) {
                        *slot = a.bytes;
                    }
                }
            }
            let (report, root) = metrics::report_and_root(options, &leaves, &|i, _| {
                by_leaf
                    .get(i as usize)
                    .filter(|bytes| !bytes.is_empty())
                    .map(Vec::as_slice)
            });
            if size > 0 {
                let (at, note) = store.latest_checkpoint()?.ok_or_else(|| {
                    CoordinatorError::LogInvalid("the log has leaves but no checkpoint".into())
                })?;
                let checkpoint = c.log_verifier().open(&note).map_err(|e| {
                    CoordinatorError::LogInvalid(format!("the checkpoint at size {at}: {e}"))
                })?;
                if checkpoint.size != size || checkpoint.root != root {
                    return Err(CoordinatorError::LogInvalid(format!(
                        "the newest signed checkpoint (size {}) does not match the log's {size} leaves",
                        checkpoint.size
                    )));
                }
            }
            report
        })
    }
}

/// Log leaves read per query when a whole log is read.
pub(crate) const LEAVES_PER_READ: u64 = 1 << 16;

/// Opens the coordinator in a home directory.
pub fn open(home: &Path) -> Result<Coordinator> {
    CoordinatorHome::open(home)?.coordinator()
}
