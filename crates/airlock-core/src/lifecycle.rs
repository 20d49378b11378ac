//! The proposal lifecycle: proposed → approvals and rejections → ready (policy met) → finalized →
//! broadcast → confirmed, or expired, or rejected (enough rejections that the policy can no longer
//! be met). A reorganization that takes a confirmed transaction out of the chain is recorded
//! ("reorged") and moves the proposal back to broadcast, the one step back the chain can force.
//!
//! `ProposalState` is a pure state machine over verified artifacts. The coordinator persists it,
//! `airlock log verify` replays it from the log, and both get the same answers. It must never
//! accept a decision it cannot attribute to exactly one signer of the proposal's vault version,
//! never count a signer twice, and never move backwards except on a recorded reorganization.

use std::fmt;

use crate::artifacts::{Approval, Decision, Event, EventKind, Finalized, Proposal};
use crate::envelope::{ArtifactId, Envelope};
use crate::vault::{Requirement, Rule, SignerEntry, VaultDefinition, fills};
use crate::{CoreError, UnixTime, policy};

/// Where a proposal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Waiting for approvals.
    Collecting,
    /// The policy is met; it can be finalized.
    Ready,
    Finalized,
    Broadcast,
    Confirmed,
    /// Not finalized before it expired.
    Expired,
    /// Enough rejections that the policy can no longer be met.
    Rejected,
    /// The coordinator recorded that it will never be finalized.
    Abandoned,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Collecting => "collecting",
            Status::Ready => "ready",
            Status::Finalized => "finalized",
            Status::Broadcast => "broadcast",
            Status::Confirmed => "confirmed",
            Status::Expired => "expired",
            Status::Rejected => "rejected",
            Status::Abandoned => "abandoned",
        }
    }

    /// True while decisions may still be added.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Collecting | Status::Ready)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a transition was refused.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("the approval is for proposal {found}, not {expected}")]
    WrongProposal { expected: String, found: String },
    #[error("the approval names vault {found}, but the proposal is under {expected}")]
    WrongVault { expected: String, found: String },
    #[error("key {key} is not a signer of vault {vault} version {version}")]
    UnknownSigner {
        key: String,
        vault: String,
        version: u64,
    },
    #[error("{signer} already decided on this proposal ({previous})")]
    Duplicate { signer: String, previous: String },
    #[error("the proposal expired at {expires} (now {now})")]
    Expired { expires: String, now: String },
    #[error("the proposal is {status}; it takes no more {what}")]
    Closed { status: Status, what: &'static str },
    #[error(
        "vault {vault} is now at version {current}; proposals under version {version} are refused"
    )]
    Superseded {
        vault: String,
        version: u64,
        current: u64,
    },
    #[error("the proposal is {status}, not ready: {detail}")]
    NotReady { status: Status, detail: String },
    #[error("{0}")]
    Other(String),
}

/// A decision that was accepted, with the signer it belongs to.
#[derive(Clone, Debug)]
pub struct Decided {
    pub id: ArtifactId,
    pub approval: Approval,
    pub signer: SignerEntry,
}

/// A requirement not yet met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub role: String,
    pub needed: u32,
    pub have: u32,
}

/// Who decided what, and what is missing.
#[derive(Clone, Debug)]
pub struct Tally {
    pub approved: Vec<String>,
    /// (signer, reason)
    pub rejected: Vec<(String, String)>,
    pub undecided: Vec<String>,
    pub missing: Vec<Gap>,
    pub satisfied: bool,
    /// False when too many rejections leave some requirement unreachable.
    pub still_possible: bool,
}

/// A proposal with everything that has happened to it.
#[derive(Clone, Debug)]
pub struct ProposalState {
    pub id: ArtifactId,
    pub proposal: Proposal,
    pub vault: VaultDefinition,
    pub rule: Rule,
    pub decisions: Vec<Decided>,
    pub finalized: Option<(ArtifactId, Finalized)>,
    pub broadcast: Option<Event>,
    pub confirmed: Option<Event>,
    /// The last time a confirmed transaction left the chain (the proposal went back to
    /// broadcast), and how many times it did.
    pub reorged: Option<Event>,
    pub reorgs: u32,
    /// The coordinator's record that it will never be finalized.
    pub abandoned: Option<Event>,
}

impl ProposalState {
    /// Opens the state of a proposal under `vault` (the version it names, with `vault_id` its
    /// artifact id). `check_policy` re-runs rule selection against `window_spent` and `now` (the
    /// coordinator does at proposal time; a log replay does not, as the clock has moved on).
    pub fn open(
        proposal_env: &Envelope,
        vault: &VaultDefinition,
        vault_artifact: ArtifactId,
    ) -> Result<ProposalState, CoreError> {
        proposal_env.require_all_valid()?;
        let proposal: Proposal = proposal_env.open()?;
        if proposal.vault_id != vault.vault_id
            || proposal.vault_version != vault.version
            || proposal.vault_artifact != vault_artifact
        {
            return Err(CoreError::Invalid(format!(
                "the proposal is under vault {:?} v{} ({}), not {:?} v{} ({})",
                proposal.vault_id,
                proposal.vault_version,
                proposal.vault_artifact.short(),
                vault.vault_id,
                vault.version,
                vault_artifact.short()
            )));
        }
        if proposal.chain != vault.chain {
            return Err(CoreError::Invalid(format!(
                "the proposal is for chain {:?}, the vault for {:?}",
                proposal.chain, vault.chain
            )));
        }
        let rule = policy::rule_named(vault, &proposal.rule)?;
        Ok(ProposalState {
            id: proposal_env.id(),
            proposal,
            vault: vault.clone(),
            rule,
            decisions: Vec::new(),
            finalized: None,
            broadcast: None,
            confirmed: None,
            reorged: None,
            reorgs: 0,
            abandoned: None,
        })
    }

    /// The current status at time `now`.
    pub fn status(&self, now: UnixTime) -> Status {
        if self.confirmed.is_some() {
            return Status::Confirmed;
        }
        if self.broadcast.is_some() {
            return Status::Broadcast;
        }
        if self.finalized.is_some() {
            return Status::Finalized;
        }
        if self.abandoned.is_some() {
            return Status::Abandoned;
        }
        let tally = self.tally();
        if !tally.still_possible {
            return Status::Rejected;
        }
        if now >= self.proposal.expires {
            return Status::Expired;
        }
        if tally.satisfied {
            Status::Ready
        } else {
            Status::Collecting
        }
    }

    fn count_approvals(&self, role: &str) -> u32 {
        self.decisions
            .iter()
            .filter(|d| d.approval.decision == Decision::Approve)
            .filter(|d| fills(role, &d.signer.role))
            .count() as u32
    }

    fn count_undecided(&self, role: &str) -> u32 {
        self.vault
            .signers
            .iter()
            .filter(|s| fills(role, &s.role))
            .filter(|s| {
                !self
                    .decisions
                    .iter()
                    .any(|d| d.signer.identity == s.identity)
            })
            .count() as u32
    }

    /// Who approved, who rejected and why, who has not decided, what is missing.
    pub fn tally(&self) -> Tally {
        let mut missing = Vec::new();
        let mut still_possible = true;
        for Requirement { role, count } in &self.rule.requirements {
            let have = self.count_approvals(role);
            if have < *count {
                missing.push(Gap {
                    role: role.clone(),
                    needed: *count,
                    have,
                });
                if have + self.count_undecided(role) < *count {
                    still_possible = false;
                }
            }
        }
        Tally {
            approved: self
                .decisions
                .iter()
                .filter(|d| d.approval.decision == Decision::Approve)
                .map(|d| d.signer.name.clone())
                .collect(),
            rejected: self
                .decisions
                .iter()
                .filter(|d| d.approval.decision == Decision::Reject)
                .map(|d| (d.signer.name.clone(), d.approval.reason.clone()))
                .collect(),
            undecided: self
                .vault
                .signers
                .iter()
                .filter(|s| {
                    !self
                        .decisions
                        .iter()
                        .any(|d| d.signer.identity == s.identity)
                })
                .map(|s| s.name.clone())
                .collect(),
            satisfied: missing.is_empty(),
            missing,
            still_possible,
        }
    }

    /// Checks an approval or rejection envelope against this proposal without recording it.
    ///
    /// `current_version` is the vault's newest version: decisions on a proposal under a
    /// superseded version are refused.
    pub fn check_decision(
        &self,
        env: &Envelope,
        now: UnixTime,
        current_version: u64,
    ) -> Result<Decided, CoreError> {
        env.require_all_valid()?;
        let approval: Approval = env.open()?;
        if approval.proposal != self.id {
            return Err(LifecycleError::WrongProposal {
                expected: self.id.short(),
                found: approval.proposal.short(),
            }
            .into());
        }
        if approval.vault_id != self.vault.vault_id || approval.vault_version != self.vault.version
        {
            return Err(LifecycleError::WrongVault {
                expected: format!("{} v{}", self.vault.vault_id, self.vault.version),
                found: format!("{} v{}", approval.vault_id, approval.vault_version),
            }
            .into());
        }
        let signer = self
            .vault
            .signer(&approval.signer)
            .cloned()
            .ok_or_else(|| LifecycleError::UnknownSigner {
                key: approval.signer.to_hex(),
                vault: self.vault.vault_id.clone(),
                version: self.vault.version,
            })?;
        env.require_signature(&approval.signer, &signer.name)?;
        env.require_only_signers(&[approval.signer], &format!("{}'s decision", signer.name))?;
        if let Some(previous) = self
            .decisions
            .iter()
            .find(|d| d.signer.identity == approval.signer)
        {
            return Err(LifecycleError::Duplicate {
                signer: signer.name,
                previous: previous.approval.decision.as_str().to_owned(),
            }
            .into());
        }
        let status = self.status(now);
        if status == Status::Expired || now >= self.proposal.expires {
            return Err(LifecycleError::Expired {
                expires: crate::format_time(self.proposal.expires),
                now: crate::format_time(now),
            }
            .into());
        }
        if !status.is_open() {
            return Err(LifecycleError::Closed {
                status,
                what: "decisions",
            }
            .into());
        }
        if current_version > self.vault.version {
            return Err(LifecycleError::Superseded {
                vault: self.vault.vault_id.clone(),
                version: self.vault.version,
                current: current_version,
            }
            .into());
        }
        Ok(Decided {
            id: env.id(),
            approval,
            signer,
        })
    }

    /// Checks and records a decision.
    pub fn add_decision(
        &mut self,
        env: &Envelope,
        now: UnixTime,
        current_version: u64,
    ) -> Result<&Decided, CoreError> {
        let decided = self.check_decision(env, now, current_version)?;
        self.decisions.push(decided);
        Ok(self.decisions.last().expect("just pushed"))
    }

    /// The approvals that satisfy the policy, in the order they arrived.
    pub fn approvals_used(&self) -> Vec<&Decided> {
        self.decisions
            .iter()
            .filter(|d| d.approval.decision == Decision::Approve)
            .collect()
    }

    /// Records finalization; the proposal must be ready and the record must name exactly the
    /// approvals it holds.
    pub fn finalize(
        &mut self,
        id: ArtifactId,
        record: Finalized,
        now: UnixTime,
    ) -> Result<(), CoreError> {
        let status = self.status(now);
        if status != Status::Ready {
            let tally = self.tally();
            let detail = if tally.missing.is_empty() {
                "it is no longer open".to_owned()
            } else {
                describe_gaps(&tally.missing)
            };
            return Err(LifecycleError::NotReady { status, detail }.into());
        }
        if record.proposal != self.id {
            return Err(LifecycleError::WrongProposal {
                expected: self.id.short(),
                found: record.proposal.short(),
            }
            .into());
        }
        for a in &record.approvals {
            if !self.approvals_used().iter().any(|d| d.id == *a) {
                return Err(CoreError::Invalid(format!(
                    "the finalized record names approval {} which this proposal does not hold",
                    a.short()
                )));
            }
        }
        self.finalized = Some((id, record));
        Ok(())
    }

    /// Records a broadcast or confirmation event, in order.
    pub fn record_event(&mut self, event: Event, now: UnixTime) -> Result<(), CoreError> {
        if event.proposal != self.id {
            return Err(LifecycleError::WrongProposal {
                expected: self.id.short(),
                found: event.proposal.short(),
            }
            .into());
        }
        let status = self.status(now);
        match (event.kind, status) {
            (EventKind::Broadcast, Status::Finalized) => self.broadcast = Some(event),
            (EventKind::Confirmed, Status::Broadcast) => self.confirmed = Some(event),
            (EventKind::Reorged, Status::Confirmed) => {
                self.confirmed = None;
                self.reorged = Some(event);
                self.reorgs += 1;
            }
            (EventKind::Expired, Status::Expired) => {}
            (
                EventKind::Abandoned,
                Status::Collecting | Status::Ready | Status::Rejected | Status::Expired,
            ) => self.abandoned = Some(event),
            (kind, status) => {
                return Err(LifecycleError::Other(format!(
                    "a {} event does not apply to a {status} proposal",
                    kind.as_str()
                ))
                .into());
            }
        }
        Ok(())
    }
}

/// "2 of ops (have 1), 1 of compliance (have 0)".
pub fn describe_gaps(gaps: &[Gap]) -> String {
    gaps.iter()
        .map(|g| format!("needs {} of {} (has {})", g.needed, g.role, g.have))
        .collect::<Vec<_>>()
        .join(", ")
}

impl crate::Classify for LifecycleError {
    fn severity(&self) -> crate::Severity {
        crate::Severity::Refused
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::PublicKey;
    use crate::artifacts::{Intent, SeenCheckpoint, Transfer};
    use crate::envelope::Artifact;
    use crate::vault::tests::{key, pk, sample_vault};

    const T0: u64 = 1_000_000;

    fn setup(rule: &str, amount: u128) -> ProposalState {
        let vault = sample_vault();
        let vault_id = vault.envelope().id();
        let proposal = Proposal {
            vault_id: vault.vault_id.clone(),
            vault_version: 1,
            vault_artifact: vault_id,
            chain: "none".into(),
            intent: Intent {
                transfers: vec![Transfer {
                    destination: "dest-a".into(),
                    amount,
                    asset: String::new(),
                }],
                memo: String::new(),
            },
            payload: vec![],
            spends: vec![],
            rule: rule.into(),
            created: T0,
            expires: T0 + 3600,
            proposer: pk(99),
            nonce: [0; 16],
        };
        let mut env = proposal.envelope();
        env.sign(&key(99));
        ProposalState::open(&env, &vault, vault_id).unwrap()
    }

    fn decision(state: &ProposalState, seed: u8, d: Decision) -> Envelope {
        let a = Approval {
            proposal: state.id,
            vault_id: "treasury".into(),
            vault_version: 1,
            decision: d,
            reason: if d == Decision::Reject {
                "no".into()
            } else {
                String::new()
            },
            chain_signature: vec![],
            signer: pk(seed),
            signed_at: T0 + 1,
            seen_checkpoint: SeenCheckpoint {
                size: 1,
                root: [0; 32],
            },
            review_digest: [0; 32],
        };
        let mut env = a.envelope();
        env.sign(&key(seed));
        env
    }

    #[test]
    fn reaches_ready_by_role_requirements() {
        let mut s = setup("default", 5000);
        assert_eq!(s.status(T0), Status::Collecting);
        s.add_decision(&decision(&s, 1, Decision::Approve), T0, 1)
            .unwrap();
        s.add_decision(&decision(&s, 2, Decision::Approve), T0, 1)
            .unwrap();
        let t = s.tally();
        assert_eq!(
            t.missing,
            vec![Gap {
                role: "compliance".into(),
                needed: 1,
                have: 0
            }]
        );
        assert_eq!(s.status(T0), Status::Collecting);
        s.add_decision(&decision(&s, 3, Decision::Approve), T0, 1)
            .unwrap();
        assert_eq!(s.status(T0), Status::Ready);
    }

    #[test]
    fn refuses_outsiders_duplicates_forgeries_late_and_superseded() {
        let mut s = setup("default", 5000);
        let err = s
            .add_decision(&decision(&s, 7, Decision::Approve), T0, 1)
            .unwrap_err();
        assert!(err.to_string().contains("not a signer"), "{err}");
        s.add_decision(&decision(&s, 1, Decision::Approve), T0, 1)
            .unwrap();
        let err = s
            .add_decision(&decision(&s, 1, Decision::Reject), T0, 1)
            .unwrap_err();
        assert!(err.to_string().contains("already decided"), "{err}");
        // Bob's approval signed by Alice's key.
        let mut forged = decision(&s, 2, Decision::Approve);
        forged.signatures.clear();
        forged.sign(&key(1));
        let err = s.add_decision(&forged, T0, 1).unwrap_err();
        assert!(err.to_string().contains("not signed by bob"), "{err}");
        let err = s
            .add_decision(&decision(&s, 2, Decision::Approve), T0 + 3600, 1)
            .unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        let err = s
            .add_decision(&decision(&s, 2, Decision::Approve), T0, 2)
            .unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
        assert_eq!(s.decisions.len(), 1);
    }

    #[test]
    fn rejected_when_policy_can_no_longer_be_met() {
        let mut s = setup("default", 5000);
        s.add_decision(&decision(&s, 3, Decision::Reject), T0, 1)
            .unwrap();
        assert_eq!(s.status(T0), Status::Rejected);
        assert_eq!(s.tally().rejected, vec![("carol".into(), "no".into())]);
        let err = s
            .add_decision(&decision(&s, 1, Decision::Approve), T0, 1)
            .unwrap_err();
        assert!(err.to_string().contains("rejected"), "{err}");
        // The routine rule (1 of 2 ops) survives one rejection.
        let mut r = setup("routine", 500);
        r.add_decision(&decision(&r, 1, Decision::Reject), T0, 1)
            .unwrap();
        assert_eq!(r.status(T0), Status::Collecting);
        r.add_decision(&decision(&r, 2, Decision::Approve), T0, 1)
            .unwrap();
        assert_eq!(r.status(T0), Status::Ready);
    }

    #[test]
    fn finalize_broadcast_confirm_in_order() {
        let mut s = setup("routine", 500);
        let id = s.id;
        let record = |ids: Vec<ArtifactId>| Finalized {
            proposal: id,
            approvals: ids,
            transaction: vec![],
            txid: String::new(),
            finalized_at: T0 + 5,
        };
        let err = s
            .finalize(ArtifactId([1; 32]), record(vec![]), T0)
            .unwrap_err();
        assert!(err.to_string().contains("needs 1 of ops"), "{err}");
        let approval = s
            .add_decision(&decision(&s, 1, Decision::Approve), T0, 1)
            .unwrap()
            .id;
        let event = |kind| Event {
            kind,
            proposal: id,
            detail: "tx".into(),
            at: T0,
        };
        assert!(s.record_event(event(EventKind::Broadcast), T0).is_err());
        s.finalize(ArtifactId([1; 32]), record(vec![approval]), T0)
            .unwrap();
        assert_eq!(s.status(T0 + 9999), Status::Finalized);
        assert!(s.record_event(event(EventKind::Confirmed), T0).is_err());
        assert!(s.record_event(event(EventKind::Reorged), T0).is_err());
        s.record_event(event(EventKind::Broadcast), T0).unwrap();
        assert!(s.record_event(event(EventKind::Reorged), T0).is_err());
        s.record_event(event(EventKind::Confirmed), T0).unwrap();
        assert_eq!(s.status(T0), Status::Confirmed);
        // A reorganization takes it back to broadcast; it confirms again later.
        s.record_event(event(EventKind::Reorged), T0).unwrap();
        assert_eq!(s.status(T0 + 9999), Status::Broadcast);
        assert_eq!(s.reorgs, 1);
        assert!(s.record_event(event(EventKind::Reorged), T0).is_err());
        s.record_event(event(EventKind::Confirmed), T0).unwrap();
        assert_eq!(s.status(T0), Status::Confirmed);
        let _ = PublicKey([0; 32]);
    }

    #[test]
    fn expires() {
        let s = setup("routine", 500);
        assert_eq!(s.status(T0 + 3599), Status::Collecting);
        assert_eq!(s.status(T0 + 3600), Status::Expired);
    }
}
