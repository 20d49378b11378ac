//! The offline signer: its state directory (encrypted identity, registered vaults, log state,
//! journal), vault registration, proposal review and decisions.
//!
//! The signer trusts only its own keys, the vault versions it registered (version 1 signed by a
//! threshold of its members, each later version by a threshold of the previous one), its own
//! journal and the last log checkpoint it accepted. Everything it shows is recomputed from those.
//!
//! This crate is compiled into `airlock-signer` and must never depend on networking or database
//! crates (a test in `bins/airlock-signer` enforces it). It must never sign what it did not show,
//! and never write a decision that is not first in the journal.

pub mod batch;
pub mod chain_keys;
pub mod frost_groups;
pub mod halts;
pub mod journal;
pub mod logstate;
pub mod review;
pub mod transfers;

use std::path::{Path, PathBuf};

use airlock_core::chain::{ChainReview, DecisionOnly, check_against_intent};
use airlock_core::vault::{verify_vault_anchor, verify_vault_version};
use airlock_core::{
    Approval, Artifact, ArtifactId, CoreError, Decision, Envelope, Proposal, ProposalBundle,
    PublicKey, SeenCheckpoint, VaultDefinition, policy,
};
use airlock_custody::{IdentityKey, KdfParams, Passphrase};
use serde::{Deserialize, Serialize};

pub use journal::{Journal, JournalEntry};
pub use logstate::LogState;
pub use review::Review;

/// A signer failure. Each names what is wrong; none carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Custody(#[from] airlock_custody::CustodyError),
    #[error(transparent)]
    Chain(#[from] airlock_core::chain::ChainError),
    #[error(transparent)]
    Frost(#[from] airlock_frost::FrostError),
    #[error("log: {0}")]
    Log(String),
    #[error("SPLIT VIEW: {0}")]
    SplitView(String),
    /// A bundle older than what this signer accepted, which it cannot place: export it again.
    #[error("{0}")]
    Stale(String),
    #[error("journal: {0}")]
    Journal(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Setup(String),
    #[error("refused: {0}")]
    Refused(String),
    /// The signer's own state (registered vaults, identity) was changed behind its back.
    #[error("{0}")]
    Tampered(String),
}

impl airlock_core::Classify for SignerError {
    /// Alarms: a split view, a tampered journal or signer state. Everything else is refused.
    fn severity(&self) -> airlock_core::Severity {
        use airlock_core::Severity;
        match self {
            SignerError::SplitView(_) | SignerError::Journal(_) | SignerError::Tampered(_) => {
                Severity::Alarm
            }
            SignerError::Core(e) => e.severity(),
            SignerError::Custody(e) => e.severity(),
            SignerError::Chain(e) => e.severity(),
            SignerError::Frost(e) => e.severity(),
            SignerError::Log(_)
            | SignerError::Stale(_)
            | SignerError::Io(_)
            | SignerError::Setup(_)
            | SignerError::Refused(_) => Severity::Refused,
        }
    }
}

impl From<airlock_log::LogError> for SignerError {
    fn from(e: airlock_log::LogError) -> Self {
        SignerError::Log(e.to_string())
    }
}

pub type Result<T, E = SignerError> = std::result::Result<T, E>;

const CONFIG_FILE: &str = "signer.json";
pub(crate) const IDENTITY_FILE: &str = "identity.key";
const VAULTS_DIR: &str = "vaults";
/// Clock skew tolerated between coordinator and signer.
const CLOCK_SKEW_SECS: u64 = 300;

/// What `signer.json` holds (public facts only).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignerConfig {
    pub name: String,
    /// The identity public key, hex.
    pub identity: String,
    pub created: u64,
    /// When the identity was restored from a backup (SLIP-39 shares) rather than made here:
    /// this home holds none of the decisions the lost device made, so it approves no proposal
    /// made before then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<u64>,
}

/// The review chain for a vault's chain.
pub fn chain_review(name: &str) -> Result<Box<dyn ChainReview>> {
    match name {
        DecisionOnly::NAME => Ok(Box::new(DecisionOnly)),
        airlock_chain_ethereum::CHAIN => Ok(Box::new(airlock_chain_ethereum::Ethereum)),
        airlock_chain_bitcoin::CHAIN => Ok(Box::new(airlock_chain_bitcoin::Bitcoin::default())),
        airlock_chain_monero::CHAIN => Ok(Box::new(airlock_chain_monero::MoneroVaultReview)),
        other => Err(SignerError::Setup(format!(
            "chain {other:?} is not available in this signer build (available: {})",
            [
                DecisionOnly::NAME,
                airlock_chain_ethereum::CHAIN,
                airlock_chain_bitcoin::CHAIN
            ]
            .join(", ")
        ))),
    }
}

/// Indexes of each branch whose keys a Bitcoin vault's registration derives once and keeps beside
/// the vault, so that reviews need no elliptic-curve work for addresses below it.
pub const BITCOIN_CACHE_INDEXES: u32 = 2048;

/// Facts about a vault's chain account a person compares across devices (wallet fingerprint,
/// first receive address, chain id…), computed here from the definition.
pub fn chain_summary(def: &VaultDefinition) -> Vec<(String, String)> {
    match def.chain.as_str() {
        airlock_chain_bitcoin::CHAIN => match airlock_chain_bitcoin::Bitcoin::vault(def) {
            Ok(v) => vec![
                ("wallet fingerprint".into(), v.wallet_fingerprint()),
                (
                    "policy".into(),
                    format!("{} {}", v.kind(), v.policy_summary()),
                ),
                (
                    "first receive address".into(),
                    v.first_receive_address()
                        .map(|a| a.to_string())
                        .unwrap_or_else(|e| format!("({e})")),
                ),
            ],
            Err(e) => vec![("account".into(), format!("UNUSABLE: {e}"))],
        },
        airlock_chain_ethereum::CHAIN => match airlock_chain_ethereum::EthVault::from_vault(def) {
            Ok(v) => vec![
                ("address".into(), v.address().to_string()),
                ("chain id".into(), v.chain_id.to_string()),
            ],
            Err(e) => vec![("account".into(), format!("UNUSABLE: {e}"))],
        },
        _ => Vec::new(),
    }
}

/// A signer's state directory.
pub struct SignerHome {
    pub dir: PathBuf,
    pub config: SignerConfig,
}

/// A vault draft as this signer sees it.
pub struct VaultDraftReview {
    pub definition: VaultDefinition,
    pub previous: Option<VaultDefinition>,
    pub text: String,
}

pub(crate) fn io<E: std::fmt::Display>(e: E) -> SignerError {
    SignerError::Io(e.to_string())
}

impl SignerHome {
    /// Creates a signer home with a new identity key encrypted under `passphrase`.
    pub fn init(
        dir: &Path,
        name: &str,
        passphrase: &Passphrase,
        params: KdfParams,
        now: u64,
    ) -> Result<SignerHome> {
        Self::create(
            dir,
            name,
            IdentityKey::generate(),
            passphrase,
            params,
            now,
            None,
        )
    }

    /// Creates a signer home for an identity restored from a backup (a lost device's): the
    /// same key, encrypted under `passphrase`, and an empty journal. The lost device's
    /// decisions are not here, so this home refuses to approve any proposal made before `now`
    /// (the team proposes those again) and warns that its window limits count only approvals
    /// made since.
    pub fn restore(
        dir: &Path,
        name: &str,
        key: IdentityKey,
        passphrase: &Passphrase,
        params: KdfParams,
        now: u64,
    ) -> Result<SignerHome> {
        Self::create(dir, name, key, passphrase, params, now, Some(now))
    }

    fn create(
        dir: &Path,
        name: &str,
        key: IdentityKey,
        passphrase: &Passphrase,
        params: KdfParams,
        now: u64,
        restored: Option<u64>,
    ) -> Result<SignerHome> {
        if dir.join(CONFIG_FILE).exists() {
            return Err(SignerError::Setup(format!(
                "{} already holds a signer; refusing to overwrite it",
                dir.display()
            )));
        }
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(SignerError::Setup(format!(
                "signer name {name:?} must be 1-64 characters of a-z, 0-9, '-', '_'"
            )));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| SignerError::Setup(format!("cannot create {}: {e}", dir.display())))?;
        // `signer.json` is written last: it is init's commit point. An identity without it was
        // left by an interrupted init and never used (nothing opens a home without it); it is
        // kept aside as `identity.key.interrupted-<time>`, never deleted.
        let leftover = dir.join(IDENTITY_FILE);
        if leftover.exists() {
            std::fs::rename(
                &leftover,
                dir.join(format!("{IDENTITY_FILE}.interrupted-{now}")),
            )
            .map_err(io)?;
        }
        airlock_custody::save_encrypted_identity(
            &dir.join(IDENTITY_FILE),
            &key,
            passphrase,
            params,
        )?;
        let config = SignerConfig {
            name: name.to_owned(),
            identity: hex::encode(key.verifying_key().to_bytes()),
            created: now,
            restored,
        };
        airlock_transport::write_atomic(
            &dir.join(CONFIG_FILE),
            &serde_json::to_vec_pretty(&config).expect("serializes"),
        )
        .map_err(io)?;
        Ok(SignerHome {
            dir: dir.to_owned(),
            config,
        })
    }

    /// Opens an existing signer home.
    pub fn open(dir: &Path) -> Result<SignerHome> {
        let path = dir.join(CONFIG_FILE);
        let bytes = airlock_transport::read_bounded(&path, 64 * 1024).map_err(|_| {
            SignerError::Setup(format!(
                "no signer in {} (run `airlock-signer init --home {}` first)",
                dir.display(),
                dir.display()
            ))
        })?;
        let config: SignerConfig = serde_json::from_slice(&bytes)
            .map_err(|e| SignerError::Setup(format!("{} is damaged: {e}", path.display())))?;
        Ok(SignerHome {
            dir: dir.to_owned(),
            config,
        })
    }

    pub fn public_key(&self) -> Result<PublicKey> {
        Ok(PublicKey::from_hex(&self.config.identity)?)
    }

    /// Decrypts the identity key.
    pub fn unlock(&self, passphrase: &Passphrase) -> Result<IdentityKey> {
        let key =
            airlock_custody::load_encrypted_identity(&self.dir.join(IDENTITY_FILE), passphrase)?;
        if key.verifying_key().to_bytes() != self.public_key()?.0 {
            return Err(SignerError::Tampered(
                "the identity key does not match signer.json; the home directory was tampered with"
                    .into(),
            ));
        }
        Ok(key)
    }

    pub fn journal(&self) -> Result<Journal> {
        Journal::open(&self.dir)
    }

    pub fn log_state(&self) -> LogState {
        LogState::new(&self.dir)
    }

    // ----- vaults -------------------------------------------------------------------------

    fn vault_dir(&self, vault_id: &str) -> PathBuf {
        self.dir.join(VAULTS_DIR).join(vault_id)
    }

    /// Registered versions of a vault, ascending.
    pub fn vault_versions(&self, vault_id: &str) -> Result<Vec<(VaultDefinition, Envelope)>> {
        let dir = self.vault_dir(vault_id);
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let mut numbers: Vec<u64> = std::fs::read_dir(&dir)
            .map_err(io)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_prefix('v')?.strip_suffix(".airlock")?.parse().ok())
            .collect();
        numbers.sort_unstable();
        let mut out: Vec<(VaultDefinition, Envelope)> = Vec::new();
        for version in numbers {
            let path = dir.join(format!("v{version}.airlock"));
            let bytes = airlock_transport::read_bounded(
                &path,
                airlock_core::cbor::Limits::ARTIFACT.max_len as u64,
            )
            .map_err(io)?;
            let env = Envelope::from_bytes(&bytes)?;
            let def: VaultDefinition = env.open()?;
            let follows = out.last().is_none_or(|(p, pe)| {
                def.version == p.version + 1 && def.previous == Some(pe.id())
            });
            if def.vault_id != vault_id || def.version != version || !follows {
                return Err(SignerError::Tampered(format!(
                    "{} does not continue the registered history of vault {vault_id:?}; the signer's state was tampered with",
                    path.display()
                )));
            }
            out.push((def, env));
        }
        Ok(out)
    }

    pub fn vault_latest(&self, vault_id: &str) -> Result<Option<(VaultDefinition, Envelope)>> {
        Ok(self.vault_versions(vault_id)?.pop())
    }

    pub fn vault_ids(&self) -> Result<Vec<String>> {
        let dir = self.dir.join(VAULTS_DIR);
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = std::fs::read_dir(&dir)
            .map_err(io)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Checks a vault draft before this signer signs it: well formed, this signer is in it (or,
    /// for a new version, in the previous one), and a new version follows the registered one.
    pub fn review_vault_draft(&self, env: &Envelope) -> Result<VaultDraftReview> {
        let def: VaultDefinition = env.open()?;
        def.validate()?;
        let me = self.public_key()?;
        let latest = self.vault_latest(&def.vault_id)?;
        let previous = match (&latest, def.version) {
            (None, 1) => None,
            // A signer added by this version has no history to check it against: it may sign
            // (attesting that it holds its key and accepts the policy); the previous version's
            // threshold is checked by the coordinator, by `log verify` and by every old signer.
            (None, v) if def.signer(&me).is_some() => {
                let _ = v;
                None
            }
            (None, v) => {
                return Err(SignerError::Refused(format!(
                    "vault {:?} v{v} follows a version this signer has not registered, and does not list this signer",
                    def.vault_id
                )));
            }
            (Some((reg, reg_env)), v) => {
                if v != reg.version + 1 || def.previous != Some(reg_env.id()) {
                    return Err(SignerError::Refused(format!(
                        "vault {:?} v{v} does not follow the registered v{} ({})",
                        def.vault_id,
                        reg.version,
                        reg_env.id().short()
                    )));
                }
                Some(reg.clone())
            }
        };
        let member_now = def.signer(&me).is_some();
        let member_before = previous.as_ref().is_some_and(|p| p.signer(&me).is_some());
        if !member_now && !member_before {
            return Err(SignerError::Refused(format!(
                "this signer ({}) is not a signer of vault {:?} v{}",
                me.short(),
                def.vault_id,
                def.version
            )));
        }
        // The account's keys are exactly the members', and this signer's listed key is its own.
        self.check_vault_keys(&def)?;
        let mut text = describe_vault(&def, previous.as_ref(), &me);
        text.push_str(&self.unlisted_key_note(&def)?);
        if previous.is_none() && def.version > 1 {
            text.push_str(&format!(
                "NOTE this signer joins at version {}: it has no registered history of this vault, so compare this draft's id with another signer's device before signing\n",
                def.version
            ));
        }
        Ok(VaultDraftReview {
            definition: def,
            previous,
            text,
        })
    }

    /// Registers a vault version whose signatures meet the rotation rule.
    pub fn register_vault(&self, env: &Envelope) -> Result<VaultDefinition> {
        let def: VaultDefinition = env.open()?;
        let latest = self.vault_latest(&def.vault_id)?;
        if let Some((reg, reg_env)) = &latest {
            if reg_env.id() == env.id() {
                return Err(SignerError::Refused(format!(
                    "vault {:?} v{} is already registered",
                    def.vault_id, def.version
                )));
            }
            if def.version <= reg.version {
                return Err(SignerError::Refused(format!(
                    "vault {:?} is registered at v{}; v{} would roll it back",
                    def.vault_id, reg.version, def.version
                )));
            }
        }
        let def = match &latest {
            Some((prev, prev_env)) => {
                if def.version != prev.version + 1 {
                    return Err(SignerError::Refused(format!(
                        "vault {:?} is registered at v{}; register v{} before v{}",
                        def.vault_id,
                        prev.version,
                        prev.version + 1,
                        def.version
                    )));
                }
                verify_vault_version(env, Some((prev, prev_env.id())))?
            }
            // First registration: the trust anchor. It must name this signer.
            None => {
                let def = if def.version == 1 {
                    verify_vault_version(env, None)?
                } else {
                    verify_vault_anchor(env)?
                };
                if def.signer(&self.public_key()?).is_none() {
                    return Err(SignerError::Refused(format!(
                        "this signer is not a signer of vault {:?} v{}; it registers only vaults it belongs to",
                        def.vault_id, def.version
                    )));
                }
                def
            }
        };
        self.check_vault_keys(&def)?;
        let dir = self.vault_dir(&def.vault_id);
        std::fs::create_dir_all(&dir).map_err(io)?;
        // Chain facts derived once at registration (written first: a vault file without its
        // cache still works, a cache without its vault is never read).
        if def.chain == airlock_chain_bitcoin::CHAIN {
            let cache = airlock_chain_bitcoin::Bitcoin::vault(&def)
                .and_then(|v| v.build_derivation_cache(BITCOIN_CACHE_INDEXES))
                .map_err(|e| SignerError::Refused(format!("vault {:?}: {e}", def.vault_id)))?;
            airlock_transport::write_atomic(&self.bitcoin_cache_path(&def), &cache).map_err(io)?;
        }
        airlock_transport::write_atomic(
            &dir.join(format!("v{}.airlock", def.version)),
            &env.to_bytes(),
        )
        .map_err(io)?;
        Ok(def)
    }

    /// Where a Bitcoin vault version's registration derivation cache is kept.
    pub fn bitcoin_cache_path(&self, def: &VaultDefinition) -> PathBuf {
        self.vault_dir(&def.vault_id)
            .join(format!("v{}.bitcoin-keys", def.version))
    }

    /// The review chain of a registered vault, with what its registration derived.
    pub fn chain_for(&self, vault: &VaultDefinition) -> Result<Box<dyn ChainReview>> {
        if vault.chain == airlock_chain_bitcoin::CHAIN {
            let mut chain = airlock_chain_bitcoin::Bitcoin::default();
            let path = self.bitcoin_cache_path(vault);
            if let Ok(cache) = airlock_transport::read_bounded(&path, 64 * 1024 * 1024) {
                chain.add_derivation_cache(vault, cache).map_err(|e| {
                    SignerError::Setup(format!(
                        "{} does not match vault {:?} v{}: {e}",
                        path.display(),
                        vault.vault_id,
                        vault.version
                    ))
                })?;
            }
            return Ok(Box::new(chain));
        }
        chain_review(&vault.chain)
    }

    // ----- proposals ----------------------------------------------------------------------

    /// Verifies a proposal bundle and builds the review. Hard failures (forgery, unknown vault,
    /// bad log evidence, split view) are errors; policy problems are listed in the review.
    pub fn review(&self, bundle: &ProposalBundle, now: u64) -> Result<Review> {
        self.review_in(bundle, now, &mut batch::ReviewContext::open(self)?)
    }

    /// [`SignerHome::review`] with what a batch reads once (journal, vault versions, chains,
    /// held halts, the checkpoint's verdict) and what its earlier items reserve in `ctx`.
    pub(crate) fn review_in(
        &self,
        bundle: &ProposalBundle,
        now: u64,
        ctx: &mut batch::ReviewContext,
    ) -> Result<Review> {
        let proposal_env = Envelope::from_bytes(&bundle.proposal)?;
        let proposal: Proposal = proposal_env.open()?;
        let proposal_id = proposal_env.id();
        let versions = ctx.vault_versions(self, &proposal.vault_id)?;
        let Some((latest, _)) = versions.last() else {
            return Err(SignerError::Refused(format!(
                "vault {:?} is not registered on this signer",
                proposal.vault_id
            )));
        };
        if proposal.vault_version > latest.version {
            return Err(SignerError::Refused(format!(
                "the proposal is under vault {:?} v{}, which is not registered here (latest v{}): \
                 register it first with `airlock-signer vault register`",
                proposal.vault_id, proposal.vault_version, latest.version
            )));
        }
        if proposal.vault_version < latest.version {
            return Err(SignerError::Refused(format!(
                "the proposal is under vault {:?} v{}, superseded by v{}",
                proposal.vault_id, proposal.vault_version, latest.version
            )));
        }
        let (vault, vault_env) = versions.last().expect("checked above");
        if proposal.vault_artifact != vault_env.id()
            || Envelope::from_bytes(&bundle.vault)?.id() != vault_env.id()
        {
            return Err(SignerError::Refused(format!(
                "the proposal names a vault {:?} v{} that differs from the one registered here ({})",
                proposal.vault_id,
                proposal.vault_version,
                vault_env.id().short()
            )));
        }
        if !ctx.preverified(&vault.coordinator.key, &bundle.proposal) {
            proposal_env.require_sole_signer(
                &vault.coordinator.key,
                "the vault's coordinator",
                "the proposal",
            )?;
        }
        if proposal.proposer != vault.coordinator.key {
            return Err(SignerError::Refused(
                "the proposer is not the vault's coordinator".into(),
            ));
        }
        if proposal.chain != vault.chain {
            return Err(SignerError::Refused(format!(
                "the proposal is for chain {:?}, the vault is {:?}",
                proposal.chain, vault.chain
            )));
        }
        let log = ctx.check_log(self, vault, &bundle.evidence, &proposal_id, now)?;
        let chain = ctx.chain(self, vault)?;
        let resume = airlock_core::halt::resume_target(&proposal);
        let description = match resume {
            // A RESUME moves nothing: what it does is lift the halt it names.
            Some(_) => airlock_core::chain::Description {
                spends: proposal.spends.clone(),
                ..Default::default()
            },
            None => chain.describe(vault, &proposal)?,
        };

        let mut problems = Vec::new();
        let mut warnings = description.warnings.clone();
        // The halts the bundle carries, and those handed to this signer directly.
        let mut halts = bundle.halts.clone();
        for held in ctx.held_halts(self, vault)? {
            if !halts.contains(&held) {
                halts.push(held);
            }
        }
        check_halts(vault, &halts, resume, &mut problems, &mut warnings);
        if let Err(e) = check_against_intent(&proposal.intent, &description) {
            problems.push(e.to_string());
        }
        let mut declared: Vec<String> = proposal.spends.clone();
        let mut computed = description.spends.clone();
        declared.sort();
        computed.sort();
        if declared != computed {
            problems.push("the proposal's list of spent funds differs from the payload's".into());
        }
        if now >= proposal.expires {
            problems.push(format!(
                "the proposal expired at {}",
                airlock_core::format_time(proposal.expires)
            ));
        }
        if proposal.created > now + CLOCK_SKEW_SECS {
            warnings.push(format!(
                "the proposal is dated {}, in this signer's future: check this machine's clock",
                airlock_core::format_time(proposal.created)
            ));
        }
        if vault.signer(&ctx.me).is_none() {
            problems.push(format!(
                "this signer is not a signer of vault {:?} v{}",
                vault.vault_id, vault.version
            ));
        }
        let rule = policy::rule_named(vault, &proposal.rule)?;
        // The journal's sums for the rule's windows (read once per batch), plus what earlier
        // items of the batch approve.
        let windows = ctx.window_sums(&vault.vault_id, &rule, now);
        let pending = ctx.pending_amount(&vault.vault_id);
        let spent = |secs: u64| {
            windows
                .get(&secs)
                .copied()
                .unwrap_or(0)
                .saturating_add(pending)
        };
        let journal = &ctx.journal;
        let stated = airlock_core::Intent {
            transfers: description.transfers.clone(),
            memo: proposal.intent.memo.clone(),
        };
        if let Err(why) = policy::check_conditions(&rule, &stated, now, &spent) {
            problems.push(format!(
                "the coordinator applied rule {:?}, but {why}",
                rule.name
            ));
        }
        if let Some(restored) = self.config.restored {
            if proposal.created < restored {
                problems.push(format!(
                    "this signer was restored from a backup at {}, after this proposal was made ({}): \
                     the lost device may have decided it or approved what conflicts with it; \
                     ask the coordinator to propose it again",
                    airlock_core::format_time(restored),
                    airlock_core::format_time(proposal.created)
                ));
            }
            if let Some(longest) = windows.keys().max()
                && now < restored.saturating_add(*longest)
            {
                warnings.push(format!(
                    "this signer was restored from a backup at {}: its limits over time windows \
                     count only the approvals made since then (the coordinator's count is whole)",
                    airlock_core::format_time(restored)
                ));
            }
        }
        if let Some(previous) = journal.decision_on(&proposal_id.to_hex()) {
            problems.push(format!(
                "this signer already decided on this proposal ({} at {})",
                previous.decision,
                airlock_core::format_time(previous.at)
            ));
        }
        problems.extend(ctx.conflicts_in_batch(&proposal_id, &description.spends));
        for conflict in journal.approvals_spending(&proposal_id.to_hex(), &description.spends, now)
        {
            let earlier = &conflict.approval.proposal[..12.min(conflict.approval.proposal.len())];
            let at = airlock_core::format_time(conflict.approval.at);
            match &conflict.ended {
                None => problems.push(format!(
                    "{} is already spent by proposal {earlier} that this signer approved at {at}",
                    conflict.spend
                )),
                Some(why) => warnings.push(format!(
                    "REPLACES proposal {earlier} that this signer approved at {at} ({why}): both spend {}. \
                     A released signature does not expire on chain, so only one of the two can ever confirm",
                    conflict.spend
                )),
            }
        }
        let vault = vault.clone();
        ctx.reserve(&vault.vault_id, &proposal_id, &description);
        let mut review = Review {
            proposal_id,
            proposal,
            vault,
            description,
            rule,
            log,
            problems,
            warnings,
            text: String::new(),
            digest: [0; 32],
        };
        (review.text, review.digest) = review::render(&review);
        Ok(review)
    }

    /// Makes the decision artifact: journal first (fsynced), then the accepted checkpoint.
    /// Approval is refused while the review lists a problem; a rejection needs a reason.
    pub fn decide(
        &self,
        review: &Review,
        decision: Decision,
        reason: &str,
        key: &IdentityKey,
        chain_signer: Option<&chain_keys::ChainSigner>,
        now: u64,
    ) -> Result<Envelope> {
        let mut journal = self.journal()?;
        let chain = match decision {
            Decision::Approve => Some(self.chain_for(&review.vault)?),
            Decision::Reject => None,
        };
        let (env, entry) = self.decision_for(
            review,
            decision,
            reason,
            key,
            chain
                .as_deref()
                .zip(chain_signer.map(chain_keys::ChainSigner::borrow)),
            &journal,
            now,
        )?;
        journal.append(entry)?;
        self.log_state().accept(&review.log)?;
        Ok(env)
    }

    /// Checks a decision against the journal and makes its signed artifact and journal entry,
    /// recording nothing. `chain`: the vault's chain with this signer's unlocked chain key, for
    /// an approval that needs a chain signature.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn decision_for(
        &self,
        review: &Review,
        decision: Decision,
        reason: &str,
        key: &IdentityKey,
        chain: Option<(&dyn ChainReview, chain_keys::SignWith<'_>)>,
        journal: &journal::Journal,
        now: u64,
    ) -> Result<(Envelope, journal::NewJournalEntry)> {
        if decision == Decision::Approve && !review.can_approve() {
            return Err(SignerError::Refused(format!(
                "cannot approve: {}",
                review.problems.join("; ")
            )));
        }
        if decision == Decision::Reject && reason.trim().is_empty() {
            return Err(SignerError::Refused(
                "a rejection needs a reason (--reason)".into(),
            ));
        }
        if let Some(previous) = journal.decision_on(&review.proposal_id.to_hex()) {
            return Err(SignerError::Refused(format!(
                "this signer already decided on this proposal ({})",
                previous.decision
            )));
        }
        if decision == Decision::Approve
            && let Some((entry, spend)) = journal.conflicting_approval(
                &review.proposal_id.to_hex(),
                &review.description.spends,
                now,
            )
        {
            return Err(SignerError::Refused(format!(
                "{spend} is already spent by proposal {} that this signer approved",
                entry.proposal
            )));
        }
        let me = PublicKey(key.verifying_key().to_bytes());
        if review.vault.signer(&me).is_none() {
            return Err(SignerError::Refused(format!(
                "this signer is not a signer of vault {:?} v{}",
                review.vault.vault_id, review.vault.version
            )));
        }
        let resume = airlock_core::halt::resume_target(&review.proposal).is_some();
        let chain_signature = match decision {
            // A RESUME is decided by the identity signature alone.
            Decision::Approve if resume => Vec::new(),
            Decision::Approve => {
                let listed = review
                    .vault
                    .signer(&me)
                    .is_some_and(|s| !s.chain_key.is_empty());
                match (listed, chain) {
                    // A member without a key of this account approves without a chain signature.
                    (false, _) => Vec::new(),
                    (true, Some((chain, chain_keys::SignWith::Secret(secret)))) => {
                        chain.sign(&review.vault, &review.proposal, secret)?
                    }
                    (true, Some((chain, chain_keys::SignWith::Hsm(hsm)))) => {
                        chain.sign_external(&review.vault, &review.proposal, hsm)?
                    }
                    (true, Some((chain, chain_keys::SignWith::Device(device)))) => {
                        chain.sign_external(&review.vault, &review.proposal, device)?
                    }
                    (true, Some((_, chain_keys::SignWith::Frost(frost)))) => {
                        frost.sign(&review.proposal, key.signing_key())?
                    }
                    (true, None) => {
                        return Err(SignerError::Setup(format!(
                            "vault {:?} lists a {} key for this signer; unlock it to approve",
                            review.vault.vault_id, review.vault.chain
                        )));
                    }
                }
            }
            Decision::Reject => Vec::new(),
        };
        let approval = Approval {
            proposal: review.proposal_id,
            vault_id: review.vault.vault_id.clone(),
            vault_version: review.vault.version,
            decision,
            reason: reason.trim().to_owned(),
            chain_signature,
            signer: me,
            signed_at: now,
            // The newest checkpoint this signer holds (an older bundle's is behind it).
            seen_checkpoint: match (&review.log.advance, &review.log.previous) {
                (airlock_log::Advance::Behind { .. }, Some(accepted)) => SeenCheckpoint {
                    size: accepted.size,
                    root: accepted.root,
                },
                _ => SeenCheckpoint {
                    size: review.log.checkpoint.size,
                    root: review.log.checkpoint.root,
                },
            },
            review_digest: review.digest,
        };
        let mut env = approval.envelope();
        env.sign(key.signing_key());
        let amount = review
            .description
            .transfers
            .iter()
            .fold(0u128, |acc, t| acc.saturating_add(t.amount));
        let entry = journal::NewJournalEntry {
            at: now,
            proposal: review.proposal_id.to_hex(),
            approval: env.id().to_hex(),
            vault: review.vault.vault_id.clone(),
            version: review.vault.version,
            decision: decision.as_str().to_owned(),
            amount,
            spends: review.description.spends.clone(),
            reason: approval.reason.clone(),
            envelope: env.to_bytes(),
            expires: review.proposal.expires,
        };
        Ok((env, entry))
    }

    /// Ends the reservation this signer's approval of a proposal holds, on the coordinator's
    /// signed, logged record that the proposal was abandoned (checked like a proposal bundle:
    /// the registered vault's coordinator signed it, and it is in the log this signer follows).
    /// Returns the proposal released, and whether it was released before (nothing written then).
    /// The caller holds the home lock.
    pub fn release(&self, bundle: &airlock_core::ReleaseBundle, now: u64) -> Result<Released> {
        let event_env = Envelope::from_bytes(&bundle.event)?;
        let event: airlock_core::Event = event_env.open()?;
        if event.kind != airlock_core::EventKind::Abandoned {
            return Err(SignerError::Refused(format!(
                "the record is a {} event, not an abandoned proposal",
                event.kind.as_str()
            )));
        }
        let proposal = event.proposal.to_hex();
        let journal = self.journal()?;
        let Some(approval) = journal
            .decision_on(&proposal)
            .filter(|e| e.decision == journal::APPROVE)
            .cloned()
        else {
            return Err(SignerError::Refused(format!(
                "this signer did not approve proposal {}: there is nothing to release",
                event.proposal.short()
            )));
        };
        let versions = self.vault_versions(&approval.vault)?;
        let Some((vault, vault_env)) = versions.iter().find(|(v, _)| v.version == approval.version)
        else {
            return Err(SignerError::Refused(format!(
                "vault {:?} v{} of the approval is not registered here",
                approval.vault, approval.version
            )));
        };
        if Envelope::from_bytes(&bundle.vault)?.id() != vault_env.id() {
            return Err(SignerError::Refused(format!(
                "the record names a vault that differs from the registered {:?} v{} ({})",
                vault.vault_id,
                vault.version,
                vault_env.id().short()
            )));
        }
        event_env.require_signature(&vault.coordinator.key, "the vault's coordinator")?;
        event_env.require_only_signers(&[vault.coordinator.key], "an abandoned-proposal record")?;
        let log = self.log_state().check_leaf(
            vault,
            &bundle.evidence,
            "abandoned",
            &event_env.id(),
            now,
        )?;
        if let Some(earlier) = journal.release_of(&proposal) {
            return Ok(Released {
                proposal: event.proposal,
                detail: event.detail,
                already_at: Some(earlier.at),
            });
        }
        let mut journal = journal;
        journal.append(journal::NewJournalEntry {
            at: now,
            proposal: proposal.clone(),
            approval: event_env.id().to_hex(),
            vault: vault.vault_id.clone(),
            version: vault.version,
            decision: journal::RELEASE.to_owned(),
            amount: 0,
            spends: approval.spends.clone(),
            reason: event.detail.clone(),
            envelope: event_env.to_bytes(),
            expires: 0,
        })?;
        self.log_state().accept(&log)?;
        Ok(Released {
            proposal: event.proposal,
            detail: event.detail,
            already_at: None,
        })
    }

    /// Reads the decision artifact this signer issued for a proposal back from the journal.
    pub fn decision_artifact(&self, proposal: &ArtifactId) -> Result<Envelope> {
        let journal = self.journal()?;
        let entry = journal.decision_on(&proposal.to_hex()).ok_or_else(|| {
            SignerError::Refused(format!(
                "this signer has not decided on {}",
                proposal.short()
            ))
        })?;
        let bytes = hex::decode(&entry.envelope)
            .map_err(|_| SignerError::Journal("damaged envelope".into()))?;
        Ok(Envelope::from_bytes(&bytes)?)
    }
}

/// What [`SignerHome::release`] did.
#[derive(Clone, Debug)]
pub struct Released {
    pub proposal: ArtifactId,
    /// The coordinator's reason.
    pub detail: String,
    /// When it had been released already (nothing was written this time).
    pub already_at: Option<u64>,
}

/// Describes a vault version for a person, marking this signer and what changed.
pub fn describe_vault(
    def: &VaultDefinition,
    previous: Option<&VaultDefinition>,
    me: &PublicKey,
) -> String {
    let mut t = format!(
        "VAULT {} version {} — chain {} ({})\n  coordinator {} key {}\n",
        def.vault_id,
        def.version,
        def.chain,
        def.network,
        def.coordinator.origin,
        def.coordinator.key
    );
    if !def.account.is_empty() {
        t.push_str(&format!("  account {}\n", def.account));
    }
    for (label, value) in chain_summary(def) {
        t.push_str(&format!("  {label} {value}\n"));
    }
    match chain_keys::check_vault_account(def) {
        Ok(warnings) => {
            for w in warnings {
                t.push_str(&format!("WARNING {w}\n"));
            }
        }
        Err(e) => t.push_str(&format!("WARNING {e}\n")),
    }
    t.push_str(&format!(
        "SIGNERS (vault changes need {} of {})\n",
        def.threshold,
        def.signers.len()
    ));
    for s in &def.signers {
        let marker = if s.identity == *me {
            "  <- this signer"
        } else {
            ""
        };
        let new = match previous {
            Some(p) if p.signer(&s.identity).is_none() => "  [NEW]",
            _ => "",
        };
        t.push_str(&format!(
            "  {:<12} role {:<12} key {} ({}){new}{marker}\n",
            s.name, s.role, s.identity, s.custody
        ));
        if !s.chain_key.is_empty() {
            t.push_str(&format!("  {:<12} chain key {}\n", "", s.chain_key));
        }
    }
    if let Some(p) = previous {
        for s in p
            .signers
            .iter()
            .filter(|s| def.signer(&s.identity).is_none())
        {
            t.push_str(&format!(
                "  {:<12} REMOVED (key {})\n",
                s.name,
                s.identity.short()
            ));
        }
    }
    t.push_str("RULES (first match applies)\n");
    for r in &def.rules {
        t.push_str(&format!("  {}\n", airlock_core::vault::describe_rule(r)));
    }
    let was = previous.map(|p| &p.witnesses);
    if !def.witnesses.is_empty() {
        t.push_str(&format!(
            "WITNESSES (every bundle's checkpoint needs cosignatures by {} of {})\n",
            def.witnesses.threshold,
            def.witnesses.witnesses.len()
        ));
        for w in &def.witnesses.witnesses {
            let new = match was {
                Some(p) if !p.witnesses.contains(w) => "  [NEW]",
                _ => "",
            };
            t.push_str(&format!("  {} key {}{new}\n", w.name, w.key));
        }
    } else if was.is_some_and(|p| !p.is_empty()) {
        t.push_str("WITNESSES REMOVED: bundles will no longer need witness cosignatures\n");
    }
    t
}

/// The halts a bundle carries, against the registered `vault`: one signed by a witness of the
/// vault's set is a problem (no approval while it is in force), except on a RESUME, which lifts
/// its own halt (described) whatever other halts are in force (listed); one signed by anybody
/// else is reported and ignored. A RESUME whose halt the bundle does not carry, signed by the
/// vault's witness set, is a problem.
fn check_halts(
    vault: &VaultDefinition,
    halts: &[Vec<u8>],
    resume: Option<ArtifactId>,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) {
    let mut resumed = None;
    for bytes in halts {
        let env = match Envelope::from_bytes(bytes) {
            Ok(env) => env,
            Err(e) => {
                problems.push(format!("the bundle carries a damaged halt: {e}"));
                continue;
            }
        };
        let halt = match airlock_core::halt::check_halt(
            &env,
            &vault.coordinator.origin,
            std::iter::once(vault),
        ) {
            Ok(halt) => halt,
            Err(e) => {
                warnings.push(format!("ignored halt {}: {e}", env.id().short()));
                continue;
            }
        };
        let said = format!(
            "witness {} halted {} at {} ({}: {}) [halt {}]",
            halt.witness,
            halt.scope(),
            airlock_core::format_time(halt.issued),
            halt.reason,
            halt.detail,
            env.id().short()
        );
        if resume == Some(env.id()) {
            resumed = Some(said);
        } else if resume.is_some() {
            // Each halt is lifted by its own RESUME: the others do not block this one.
            warnings.push(format!(
                "another HALT stays in force after this RESUME: {said}"
            ));
        } else {
            problems.push(format!(
                "HALT in force: {said}; no approval until the vault's signers approve a RESUME"
            ));
        }
    }
    match (resume, resumed) {
        (Some(_), Some(said)) => warnings.push(format!(
            "RESUME: approving lifts this halt for vault {:?} once {} of its signers approve: {said}",
            vault.vault_id, vault.threshold
        )),
        (Some(target), None) => problems.push(format!(
            "the RESUME names halt {}, which the bundle does not carry signed by a witness of vault {:?}",
            target.short(),
            vault.vault_id
        )),
        (None, _) => {}
    }
}

/// Checks a decision made by `identity` for the bundle id it names (used by tests and inspect).
pub fn decision_matches(env: &Envelope, proposal: &ArtifactId) -> Result<bool> {
    let a: Approval = env.open()?;
    Ok(a.proposal == *proposal)
}
