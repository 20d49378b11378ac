//! Circuit breakers on the coordinator: recording a witness's HALT in the log, knowing which
//! halts are in force for a vault (carried in every later bundle, obeyed by `finalize`), and
//! proposing the RESUME that the vault's signers approve to lift one.
//!
//! A halt is accepted from a witness of the vault it names (any vault's, when it names every
//! vault), checked by `airlock_core::halt::check_halt` exactly as the log replay checks it; any
//! other is refused with the reason, never recorded. Once recorded, a halt stays in force for a
//! vault until a RESUME for it under that vault is finalized.
//!
//! This module must never lift a halt except by a finalized RESUME, and never record a halt it
//! has not checked.

use airlock_core::halt::{
    Halt, RESUME_RULE, check_halt, halt_signed_by, resume_spend, resume_target,
};
use airlock_core::{
    Artifact, ArtifactId, ArtifactKind, Envelope, Intent, Proposal, UnixTime, VaultDefinition,
};
use rand_core::{OsRng, RngCore};
use serde::Serialize;

use crate::{Coordinator, CoordinatorError, Result};

/// A recorded halt and where it stands.
#[derive(Clone, Debug, Serialize)]
pub struct HaltStatus {
    pub id: String,
    /// The vault it names; empty: every vault.
    pub vault: String,
    pub reason: String,
    pub detail: String,
    pub witness: String,
    pub issued: u64,
    pub log_size: u64,
    /// The vaults for which it is in force (lifted for the others by a finalized RESUME).
    pub in_force_for: Vec<String>,
    /// RESUME proposals made for it, with their status.
    pub resumes: Vec<(String, String)>,
}

/// What recording a halt did.
#[derive(Clone, Debug, Serialize)]
pub struct HaltRecorded {
    pub id: String,
    pub vault: String,
    pub reason: String,
    pub witness: String,
    /// False when the log already held this halt (nothing was written).
    pub new: bool,
}

impl Coordinator {
    /// Every vault's newest version, in the current snapshot.
    fn latest_vaults(&self) -> Result<Vec<VaultDefinition>> {
        self.store
            .vault_ids()?
            .iter()
            .map(|id| self.vault_latest(id).map(|(d, _)| d))
            .collect()
    }

    /// Records a witness's halt in the log (idempotent: a halt already recorded changes nothing).
    /// A halt that is not for this log, or not signed by a witness of the vault it names, is
    /// refused with the reason.
    pub fn record_halt(&mut self, env: &Envelope, now: UnixTime) -> Result<HaltRecorded> {
        self.transact(|c| {
            let halt = check_halt(env, c.origin(), &c.latest_vaults()?).map_err(|e| {
                CoordinatorError::Refused(format!("halt {}: {e}", env.id().short()))
            })?;
            let recorded = HaltRecorded {
                id: env.id().to_hex(),
                vault: halt.vault_id.clone(),
                reason: halt.reason.clone(),
                witness: halt.witness.clone(),
                new: c.store.artifact(&env.id())?.is_none(),
            };
            if recorded.new {
                let entry = c.entry(env, "halt", &halt.vault_id, None, None, now);
                c.append(vec![entry])?;
            }
            Ok(recorded)
        })
    }

    /// The halts in force for `vault` (its id and origin), oldest first, with their envelopes;
    /// on the current snapshot or transaction.
    pub(crate) fn halts_in_force_now(
        &self,
        vault: &VaultDefinition,
    ) -> Result<Vec<(ArtifactId, Halt, Vec<u8>)>> {
        let mut halts = Vec::new();
        for stored in self
            .store
            .artifacts_of_kind(ArtifactKind::Halt.name(), None)?
        {
            let env = Envelope::from_bytes(&stored.bytes)?;
            let halt: Halt = env.open()?;
            if halt.applies_to(vault) && halt_signed_by(&env, vault).is_some() {
                halts.push((stored.id, halt, stored.bytes));
            }
        }
        // The vault's proposals are read only when some halt names it (the usual case is none).
        if !halts.is_empty() {
            let mut lifted = std::collections::BTreeSet::new();
            for p in self.resumes_of(&vault.vault_id)? {
                if p.finalized.is_some()
                    && let Some(target) = resume_target(&p.proposal)
                {
                    lifted.insert(target);
                }
            }
            halts.retain(|(id, _, _)| !lifted.contains(id));
        }
        Ok(halts)
    }

    /// The RESUME proposals of a vault.
    fn resumes_of(&self, vault_id: &str) -> Result<Vec<airlock_core::lifecycle::ProposalState>> {
        let mut out = Vec::new();
        for a in self
            .store
            .artifacts_of_kind(ArtifactKind::Proposal.name(), Some(vault_id))?
        {
            let p: Proposal = Envelope::from_bytes(&a.bytes)?.open()?;
            if resume_target(&p).is_some() {
                out.push(self.proposal_state_in_snapshot(&a.id)?);
            }
        }
        Ok(out)
    }

    /// Refuses when a halt is in force for `vault` (its newest version's witness set decides;
    /// inside the caller's transaction).
    pub(crate) fn refuse_if_halted(&self, vault: &VaultDefinition, what: &str) -> Result<()> {
        let (vault, _) = self.vault_latest(&vault.vault_id)?;
        let vault = &vault;
        let halts = self.halts_in_force_now(vault)?;
        if let Some((id, halt, _)) = halts.first() {
            return Err(CoordinatorError::Refused(format!(
                "vault {:?} is halted: witness {} halted {} ({}: {}) in halt {}{}; {what} nothing until its signers approve a RESUME (`airlock halt resume {}`)",
                vault.vault_id,
                halt.witness,
                halt.scope(),
                halt.reason,
                halt.detail,
                id.short(),
                if halts.len() > 1 {
                    format!(" and {} more", halts.len() - 1)
                } else {
                    String::new()
                },
                id.short()
            )));
        }
        Ok(())
    }

    /// Every recorded halt (optionally only those naming `vault_id` or every vault), oldest
    /// first, with where each stands.
    pub fn halts(&self, vault_id: Option<&str>, now: UnixTime) -> Result<Vec<HaltStatus>> {
        self.read(|c| {
            let vaults = c.latest_vaults()?;
            let mut out = Vec::new();
            for stored in c.store.artifacts_of_kind(ArtifactKind::Halt.name(), None)? {
                let halt: Halt = Envelope::from_bytes(&stored.bytes)?.open()?;
                if let Some(v) = vault_id
                    && !(halt.vault_id.is_empty() || halt.vault_id == v)
                {
                    continue;
                }
                let mut in_force_for = Vec::new();
                let mut resumes = Vec::new();
                for vault in vaults.iter().filter(|v| halt.applies_to(v)) {
                    if c.halts_in_force_now(vault)?
                        .iter()
                        .any(|(id, _, _)| *id == stored.id)
                    {
                        in_force_for.push(vault.vault_id.clone());
                    }
                    for p in c.resumes_of(&vault.vault_id)? {
                        if resume_target(&p.proposal) == Some(stored.id) {
                            resumes.push((p.id.to_hex(), p.status(now).to_string()));
                        }
                    }
                }
                out.push(HaltStatus {
                    id: stored.id.to_hex(),
                    vault: halt.vault_id,
                    reason: halt.reason,
                    detail: halt.detail,
                    witness: halt.witness,
                    issued: halt.issued,
                    log_size: halt.log_size,
                    in_force_for,
                    resumes,
                });
            }
            Ok(out)
        })
    }

    /// Proposes to lift `halt` for `vault_id`: a RESUME proposal its signers review offline and
    /// approve with the vault's threshold; finalized, the halt is lifted for that vault.
    pub fn propose_resume(
        &mut self,
        vault_id: &str,
        halt: &ArtifactId,
        memo: &str,
        now: UnixTime,
    ) -> Result<ArtifactId> {
        self.transact(|c| {
            let (vault, vault_env) = c.vault_latest(vault_id)?;
            let in_force = c.halts_in_force_now(&vault)?;
            let Some((_, target, _)) = in_force.iter().find(|(id, _, _)| id == halt) else {
                return Err(CoordinatorError::Refused(format!(
                    "halt {} is not in force for vault {vault_id:?} (see `airlock halt list`)",
                    halt.short()
                )));
            };
            let spend = resume_spend(halt);
            if let Some(open) = c
                .resumes_of(vault_id)?
                .iter()
                .find(|p| p.proposal.spends.contains(&spend) && p.status(now).is_open())
            {
                return Err(CoordinatorError::Refused(format!(
                    "RESUME proposal {} for halt {} is still open ({})",
                    open.id.short(),
                    halt.short(),
                    open.status(now)
                )));
            }
            let rule = airlock_core::policy::rule_named(&vault, RESUME_RULE)?;
            let mut nonce = [0u8; 16];
            OsRng.fill_bytes(&mut nonce);
            let proposal = Proposal {
                vault_id: vault.vault_id.clone(),
                vault_version: vault.version,
                vault_artifact: vault_env.id(),
                chain: vault.chain.clone(),
                intent: Intent {
                    transfers: Vec::new(),
                    memo: if memo.trim().is_empty() {
                        format!(
                            "RESUME: lift halt {} ({}: {})",
                            halt.short(),
                            target.reason,
                            target.detail
                        )
                    } else {
                        memo.trim().to_owned()
                    },
                },
                payload: Vec::new(),
                spends: vec![spend],
                rule: rule.name.clone(),
                created: now,
                expires: now.saturating_add(rule.expiry_secs),
                proposer: c.public_key(),
                nonce,
            };
            let mut env = proposal.envelope();
            env.sign(c.identity.signing_key());
            let entry = c.entry(&env, "proposal", vault_id, None, None, now);
            c.append(vec![entry])?;
            Ok(env.id())
        })
    }
}
