//! The artifacts that cross the air gap (other than vault definitions, in `vault`): proposals,
//! approvals and rejections, finalized transaction records, lifecycle events, log checkpoints,
//! log records (the leaves of the transparency log) and the bundle a signer receives.
//!
//! Each artifact is an integer-keyed canonical CBOR map whose field 0 is its format version.
//! This module only encodes and decodes; it must never decide whether an artifact is acceptable
//! (that is `policy`, `lifecycle` and the signer's job).

use crate::cbor::Value;
use crate::envelope::{Artifact, ArtifactId, ArtifactKind};
use crate::fields::{Fields, FormatError, MapBuilder, records};
use crate::{CoreError, PublicKey};

pub const ARTIFACT_FORMAT_VERSION: u64 = 1;

fn id_value(id: &ArtifactId) -> Value {
    Value::Bytes(id.0.to_vec())
}

fn hashes_value(hashes: &[[u8; 32]]) -> Value {
    Value::Array(hashes.iter().map(|h| Value::Bytes(h.to_vec())).collect())
}

fn hashes_from(items: Vec<Value>, f: &Fields, name: &str) -> Result<Vec<[u8; 32]>, FormatError> {
    items
        .into_iter()
        .map(|v| match v {
            Value::Bytes(b) if b.len() == 32 => {
                let mut h = [0u8; 32];
                h.copy_from_slice(&b);
                Ok(h)
            }
            _ => Err(f.error(format!("{name}: every hash must be 32 bytes"))),
        })
        .collect()
}

/// One payment of a proposal's intent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub destination: String,
    /// In the chain's base unit (satoshi, wei, piconero) or the token's.
    pub amount: u128,
    /// Empty for the chain's native asset, else the token's identifier.
    pub asset: String,
}

/// What a proposal means, in plain terms: the payments it makes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intent {
    pub transfers: Vec<Transfer>,
    pub memo: String,
}

impl Intent {
    /// The sum of all transfers; an error when it overflows.
    pub fn total(&self) -> Result<u128, CoreError> {
        self.transfers
            .iter()
            .try_fold(0u128, |acc, t| acc.checked_add(t.amount))
            .ok_or_else(|| CoreError::Invalid("the amounts of the intent overflow".into()))
    }

    fn to_value(&self) -> Value {
        let transfers = self
            .transfers
            .iter()
            .map(|t| {
                MapBuilder::new()
                    .text(1, &t.destination)
                    .amount(2, t.amount)
                    .text(3, &t.asset)
                    .build()
            })
            .collect();
        MapBuilder::new()
            .array(1, transfers)
            .text(2, &self.memo)
            .build()
    }

    fn from_fields(mut f: Fields) -> Result<Intent, FormatError> {
        let mut transfers = Vec::new();
        for mut t in records(f.array(1, "transfers")?, "transfer")? {
            transfers.push(Transfer {
                destination: t.text(1, "destination")?,
                amount: t.amount(2, "amount")?,
                asset: t.text(3, "asset")?,
            });
            t.finish()?;
        }
        let memo = f.text(2, "memo")?;
        f.finish()?;
        Ok(Intent { transfers, memo })
    }
}

/// A proposal to move funds (or take any decision) under a vault version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub vault_id: String,
    pub vault_version: u64,
    /// The artifact id of that vault version.
    pub vault_artifact: ArtifactId,
    pub chain: String,
    /// The intent as the proposer states it; signers recompute it from the payload.
    pub intent: Intent,
    /// The chain payload (a PSBT, an unsigned transaction set…); empty for decision-only vaults.
    pub payload: Vec<u8>,
    /// Identifiers of what the proposal consumes (outpoints, nonces, key images): two approved
    /// proposals must never share one.
    pub spends: Vec<String>,
    /// The rule the coordinator applied.
    pub rule: String,
    pub created: u64,
    pub expires: u64,
    pub proposer: PublicKey,
    /// Random bytes that make two otherwise identical proposals distinct.
    pub nonce: [u8; 16],
}

impl Artifact for Proposal {
    const KIND: ArtifactKind = ArtifactKind::Proposal;

    fn to_value(&self) -> Value {
        MapBuilder::new()
            .uint(0, ARTIFACT_FORMAT_VERSION)
            .text(1, &self.vault_id)
            .uint(2, self.vault_version)
            .value(3, id_value(&self.vault_artifact))
            .text(4, &self.chain)
            .value(5, self.intent.to_value())
            .bytes(6, &self.payload)
            .array(
                7,
                self.spends.iter().map(|s| Value::Text(s.clone())).collect(),
            )
            .text(8, &self.rule)
            .uint(9, self.created)
            .uint(10, self.expires)
            .bytes(11, &self.proposer.0)
            .bytes(12, &self.nonce)
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "proposal")?;
        f.version(ARTIFACT_FORMAT_VERSION)?;
        let p = Proposal {
            vault_id: f.text(1, "vault id")?,
            vault_version: f.uint(2, "vault version")?,
            vault_artifact: ArtifactId(f.fixed::<32>(3, "vault artifact")?),
            chain: f.text(4, "chain")?,
            intent: Intent::from_fields(f.record_field(5, "intent")?)?,
            payload: f.bytes(6, "payload")?,
            spends: f.texts(7, "spends")?,
            rule: f.text(8, "rule")?,
            created: f.uint(9, "created")?,
            expires: f.uint(10, "expires")?,
            proposer: PublicKey(f.fixed::<32>(11, "proposer")?),
            nonce: f.fixed::<16>(12, "nonce")?,
        };
        f.finish()?;
        if p.expires <= p.created {
            return Err(FormatError::new(
                "proposal",
                "expires before it was created",
            ));
        }
        Ok(p)
    }
}

/// A signer's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

/// The last log checkpoint a signer accepted, reported back in its approvals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenCheckpoint {
    pub size: u64,
    pub root: [u8; 32],
}

/// An approval or rejection of a proposal, signed (in its envelope) by the signer's identity key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    pub proposal: ArtifactId,
    pub vault_id: String,
    pub vault_version: u64,
    pub decision: Decision,
    /// Why: required for a rejection.
    pub reason: String,
    /// Chain signature material (partial signatures…); empty for rejections and decision-only vaults.
    pub chain_signature: Vec<u8>,
    pub signer: PublicKey,
    pub signed_at: u64,
    pub seen_checkpoint: SeenCheckpoint,
    /// SHA-256 of the review the signer showed its person before deciding.
    pub review_digest: [u8; 32],
}

impl Artifact for Approval {
    const KIND: ArtifactKind = ArtifactKind::Approval;

    fn to_value(&self) -> Value {
        MapBuilder::new()
            .uint(0, ARTIFACT_FORMAT_VERSION)
            .value(1, id_value(&self.proposal))
            .text(2, &self.vault_id)
            .uint(3, self.vault_version)
            .text(4, self.decision.as_str())
            .text(5, &self.reason)
            .bytes(6, &self.chain_signature)
            .bytes(7, &self.signer.0)
            .uint(8, self.signed_at)
            .value(
                9,
                MapBuilder::new()
                    .uint(1, self.seen_checkpoint.size)
                    .bytes(2, &self.seen_checkpoint.root)
                    .build(),
            )
            .bytes(10, &self.review_digest)
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "approval")?;
        f.version(ARTIFACT_FORMAT_VERSION)?;
        let proposal = ArtifactId(f.fixed::<32>(1, "proposal")?);
        let vault_id = f.text(2, "vault id")?;
        let vault_version = f.uint(3, "vault version")?;
        let decision = match f.text(4, "decision")?.as_str() {
            "approve" => Decision::Approve,
            "reject" => Decision::Reject,
            other => {
                return Err(f.error(format!("decision {other:?} is neither approve nor reject")));
            }
        };
        let reason = f.text(5, "reason")?;
        if decision == Decision::Reject && reason.trim().is_empty() {
            return Err(f.error("a rejection must give a reason"));
        }
        let chain_signature = f.bytes(6, "chain signature")?;
        let signer = PublicKey(f.fixed::<32>(7, "signer")?);
        let signed_at = f.uint(8, "signed at")?;
        let mut c = f.record_field(9, "seen checkpoint")?;
        let seen_checkpoint = SeenCheckpoint {
            size: c.uint(1, "size")?,
            root: c.fixed::<32>(2, "root")?,
        };
        c.finish()?;
        let review_digest = f.fixed::<32>(10, "review digest")?;
        f.finish()?;
        Ok(Approval {
            proposal,
            vault_id,
            vault_version,
            decision,
            reason,
            chain_signature,
            signer,
            signed_at,
            seen_checkpoint,
            review_digest,
        })
    }
}

/// The record of a finalized transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finalized {
    pub proposal: ArtifactId,
    /// The approvals that satisfied the policy.
    pub approvals: Vec<ArtifactId>,
    /// The final transaction bytes; empty for decision-only vaults.
    pub transaction: Vec<u8>,
    /// The chain's transaction id; empty for decision-only vaults.
    pub txid: String,
    pub finalized_at: u64,
}

impl Artifact for Finalized {
    const KIND: ArtifactKind = ArtifactKind::Finalized;

    fn to_value(&self) -> Value {
        MapBuilder::new()
            .uint(0, ARTIFACT_FORMAT_VERSION)
            .value(1, id_value(&self.proposal))
            .array(2, self.approvals.iter().map(id_value).collect())
            .bytes(3, &self.transaction)
            .text(4, &self.txid)
            .uint(5, self.finalized_at)
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "finalized")?;
        f.version(ARTIFACT_FORMAT_VERSION)?;
        let proposal = ArtifactId(f.fixed::<32>(1, "proposal")?);
        let items = f.array(2, "approvals")?;
        let approvals = hashes_from(items, &f, "approvals")?
            .into_iter()
            .map(ArtifactId)
            .collect();
        let r = Finalized {
            proposal,
            approvals,
            transaction: f.bytes(3, "transaction")?,
            txid: f.text(4, "txid")?,
            finalized_at: f.uint(5, "finalized at")?,
        };
        f.finish()?;
        Ok(r)
    }
}

/// Lifecycle events recorded by the coordinator after finalization (or on expiry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Broadcast,
    Confirmed,
    Expired,
    /// The coordinator's statement that the proposal will never be finalized (rejected,
    /// expired, or given up): signers shown it end their approvals' reservations.
    Abandoned,
    /// A transaction recorded as confirmed is no longer in the chain (a reorganization took
    /// its block, or a conflicting spend replaced it): the proposal is broadcast again, not
    /// confirmed, until the chain shows it at the required depth once more.
    Reorged,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Broadcast => "broadcast",
            EventKind::Confirmed => "confirmed",
            EventKind::Expired => "expired",
            EventKind::Abandoned => "abandoned",
            EventKind::Reorged => "reorged",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        [
            EventKind::Broadcast,
            EventKind::Confirmed,
            EventKind::Expired,
            EventKind::Abandoned,
            EventKind::Reorged,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A lifecycle event about a proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub proposal: ArtifactId,
    /// E.g. the txid broadcast, or the block a confirmation was seen in.
    pub detail: String,
    pub at: u64,
}

impl Artifact for Event {
    const KIND: ArtifactKind = ArtifactKind::Event;

    fn to_value(&self) -> Value {
        MapBuilder::new()
            .uint(0, ARTIFACT_FORMAT_VERSION)
            .text(1, self.kind.as_str())
            .value(2, id_value(&self.proposal))
            .text(3, &self.detail)
            .uint(4, self.at)
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "event")?;
        f.version(ARTIFACT_FORMAT_VERSION)?;
        let kind_text = f.text(1, "kind")?;
        let kind = EventKind::parse(&kind_text)
            .ok_or_else(|| f.error(format!("unknown event kind {kind_text:?}")))?;
        let e = Event {
            kind,
            proposal: ArtifactId(f.fixed::<32>(2, "proposal")?),
            detail: f.text(3, "detail")?,
            at: f.uint(4, "at")?,
        };
        f.finish()?;
        Ok(e)
    }
}

/// A log checkpoint as a C2SP signed note, wrapped so it can travel like any artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointArtifact {
    pub note: String,
}

impl Artifact for CheckpointArtifact {
    const KIND: ArtifactKind = ArtifactKind::Checkpoint;

    fn to_value(&self) -> Value {
        MapBuilder::new()
            .uint(0, ARTIFACT_FORMAT_VERSION)
            .text(1, &self.note)
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "checkpoint")?;
        f.version(ARTIFACT_FORMAT_VERSION)?;
        let note = f.text(1, "signed note")?;
        f.finish()?;
        Ok(CheckpointArtifact { note })
    }
}

/// What a signer hands the coordinator to watch an account it holds the keys of: the chain, the
/// network, the account text a vault definition takes (for Monero the primary address, secret
/// view key and restore height) and the signer's public chain key. Signed by the signer's
/// identity key, so the coordinator can tell which device it came from and that it was not
/// altered on the way. It may carry a view key: it lets the holder see funds, never spend them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountExport {
    pub chain: String,
    pub network: String,
    pub account: String,
    pub chain_key: String,
    pub created: u64,
}

impl Artifact for AccountExport {
    const KIND: ArtifactKind = ArtifactKind::AccountExport;

    fn to_value(&self) -> Value {
        MapBuilder::new()
            .uint(0, ARTIFACT_FORMAT_VERSION)
            .text(1, &self.chain)
            .text(2, &self.network)
            .text(3, &self.account)
            .text(4, &self.chain_key)
            .uint(5, self.created)
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "account export")?;
        f.version(ARTIFACT_FORMAT_VERSION)?;
        let e = AccountExport {
            chain: f.text(1, "chain")?,
            network: f.text(2, "network")?,
            account: f.text(3, "account")?,
            chain_key: f.text(4, "chain key")?,
            created: f.uint(5, "created")?,
        };
        f.finish()?;
        Ok(e)
    }
}

/// The leaf kinds of the transparency log: every state transition, and every crossing of the
/// air gap ("transfer": a transfer manifest this coordinator wrote or accepted), and every
/// tabletop drill the team held ("drill").
pub const LEAF_KINDS: [&str; 14] = [
    "vault-version",
    "proposal",
    "approval",
    "rejection",
    "finalized",
    "broadcast",
    "confirmed",
    "expired",
    "transfer",
    "abandoned",
    "halt",
    "state",
    "drill",
    "reorged",
];

/// A leaf of the transparency log: one state transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// One of `LEAF_KINDS`.
    pub kind: String,
    /// The artifact that caused the transition (stored beside the log).
    pub artifact: ArtifactId,
    /// The vault the transition belongs to.
    pub vault_id: String,
    pub at: u64,
}

impl LogRecord {
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::cbor::encode(
            &MapBuilder::new()
                .uint(0, ARTIFACT_FORMAT_VERSION)
                .text(1, &self.kind)
                .value(2, id_value(&self.artifact))
                .text(3, &self.vault_id)
                .uint(4, self.at)
                .build(),
        )
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<LogRecord, CoreError> {
        let value = crate::cbor::decode(bytes, crate::cbor::Limits::ARTIFACT)?;
        let mut f = Fields::open(value, "log record")?;
        f.version(ARTIFACT_FORMAT_VERSION)?;
        let kind = f.text(1, "kind")?;
        if !LEAF_KINDS.contains(&kind.as_str()) {
            return Err(f.error(format!("unknown log record kind {kind:?}")).into());
        }
        let r = LogRecord {
            kind,
            artifact: ArtifactId(f.fixed::<32>(2, "artifact")?),
            vault_id: f.text(3, "vault id")?,
            at: f.uint(4, "at")?,
        };
        f.finish()?;
        Ok(r)
    }
}

/// A consistency proof from an earlier tree size to the checkpoint's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyFrom {
    pub old_size: u64,
    pub hashes: Vec<[u8; 32]>,
}

/// What proves a proposal is in the log the signer has been following.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvidence {
    /// The leaf bytes (an encoded `LogRecord`).
    pub leaf: Vec<u8>,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub inclusion: Vec<[u8; 32]>,
    /// The signed checkpoint note for `tree_size`.
    pub checkpoint: String,
    /// Consistency proofs from sizes signers were last known to hold.
    pub consistency: Vec<ConsistencyFrom>,
}

impl LogEvidence {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .bytes(1, &self.leaf)
            .uint(2, self.leaf_index)
            .uint(3, self.tree_size)
            .value(4, hashes_value(&self.inclusion))
            .text(5, &self.checkpoint)
            .value(6, consistency_value(&self.consistency))
            .build()
    }

    fn from_fields(mut f: Fields) -> Result<LogEvidence, FormatError> {
        let leaf = f.bytes(1, "leaf")?;
        let leaf_index = f.uint(2, "leaf index")?;
        let tree_size = f.uint(3, "tree size")?;
        let items = f.array(4, "inclusion proof")?;
        let inclusion = hashes_from(items, &f, "inclusion proof")?;
        let checkpoint = f.text(5, "checkpoint")?;
        let consistency = consistency_from(f.array(6, "consistency proofs")?)?;
        f.finish()?;
        Ok(LogEvidence {
            leaf,
            leaf_index,
            tree_size,
            inclusion,
            checkpoint,
            consistency,
        })
    }
}

/// What a signer receives: the signed proposal, the vault version it is under, and log evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalBundle {
    /// The proposal envelope (signed by the coordinator), encoded.
    pub proposal: Vec<u8>,
    /// The vault version envelope, encoded.
    pub vault: Vec<u8>,
    pub evidence: LogEvidence,
    /// The halts (encoded envelopes, `crate::halt::Halt`) the coordinator holds in force for
    /// the vault; absent from the encoding when there are none.
    pub halts: Vec<Vec<u8>>,
}

/// Most halts one bundle may carry.
pub const MAX_BUNDLE_HALTS: usize = 64;

impl Artifact for ProposalBundle {
    const KIND: ArtifactKind = ArtifactKind::ProposalBundle;

    fn to_value(&self) -> Value {
        let halts = (!self.halts.is_empty())
            .then(|| Value::Array(self.halts.iter().map(|h| Value::Bytes(h.clone())).collect()));
        MapBuilder::new()
            .uint(0, ARTIFACT_FORMAT_VERSION)
            .bytes(1, &self.proposal)
            .bytes(2, &self.vault)
            .value(3, self.evidence.to_value())
            .opt(4, halts)
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "proposal bundle")?;
        f.version(ARTIFACT_FORMAT_VERSION)?;
        let proposal = f.bytes(1, "proposal")?;
        let vault = f.bytes(2, "vault")?;
        let evidence = LogEvidence::from_fields(f.record_field(3, "log evidence")?)?;
        let halts = match f.take(4) {
            None => Vec::new(),
            Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_BUNDLE_HALTS => {
                items
                    .into_iter()
                    .map(|v| match v {
                        Value::Bytes(b) => Ok(b),
                        _ => Err(f.error("halts: every halt must be a byte string")),
                    })
                    .collect::<Result<_, _>>()?
            }
            Some(_) => {
                return Err(f.error(format!(
                    "halts: give 1 to {MAX_BUNDLE_HALTS} halt envelopes, or leave the field out"
                )));
            }
        };
        f.finish()?;
        Ok(ProposalBundle {
            proposal,
            vault,
            evidence,
            halts,
        })
    }
}

/// What a signer receives to end the reservation its approval of a proposal holds: the
/// coordinator's signed "abandoned" event, the vault version, and evidence that the event is in
/// the log the signer follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseBundle {
    /// The event envelope (kind "abandoned", signed by the coordinator), encoded.
    pub event: Vec<u8>,
    /// The vault version envelope the proposal is under, encoded.
    pub vault: Vec<u8>,
    /// Evidence for the event's log leaf.
    pub evidence: LogEvidence,
}

impl Artifact for ReleaseBundle {
    const KIND: ArtifactKind = ArtifactKind::ReleaseBundle;

    fn to_value(&self) -> Value {
        MapBuilder::new()
            .uint(0, ARTIFACT_FORMAT_VERSION)
            .bytes(1, &self.event)
            .bytes(2, &self.vault)
            .value(3, self.evidence.to_value())
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "release bundle")?;
        f.version(ARTIFACT_FORMAT_VERSION)?;
        let b = ReleaseBundle {
            event: f.bytes(1, "event")?,
            vault: f.bytes(2, "vault")?,
            evidence: LogEvidence::from_fields(f.record_field(3, "log evidence")?)?,
        };
        f.finish()?;
        Ok(b)
    }
}

/// Most items one proposal batch or decision batch may carry.
pub const MAX_BATCH_ITEMS: usize = 10_000;

/// One proposal of a [`ProposalBatch`] with what places it in the batch's checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchItem {
    /// The proposal envelope (signed by the coordinator), encoded.
    pub proposal: Vec<u8>,
    /// Its log leaf (an encoded `LogRecord`).
    pub leaf: Vec<u8>,
    pub leaf_index: u64,
    /// Its inclusion proof under the batch's checkpoint.
    pub inclusion: Vec<[u8; 32]>,
}

/// Many proposals of one vault version for signers to decide in one session: what a
/// [`ProposalBundle`] carries, with the vault, the halts, the checkpoint and its consistency
/// proofs given once for every item. Each item still carries its own signed proposal, log leaf
/// and inclusion proof, so each is checked on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalBatch {
    /// The vault version envelope every proposal is under, encoded.
    pub vault: Vec<u8>,
    /// The halts in force for the vault (encoded envelopes); absent when there are none.
    pub halts: Vec<Vec<u8>>,
    pub tree_size: u64,
    /// The signed checkpoint note for `tree_size`.
    pub checkpoint: String,
    /// Consistency proofs into `tree_size` from sizes signers were last known to hold.
    pub consistency: Vec<ConsistencyFrom>,
    pub items: Vec<BatchItem>,
}

impl ProposalBatch {
    /// Item `index` as the bundle a signer reviews; the consistency proofs are copied only when
    /// `with_consistency` (the checkpoint is the same for every item: one check places it).
    pub fn bundle(&self, index: usize, with_consistency: bool) -> Option<ProposalBundle> {
        let item = self.items.get(index)?;
        Some(ProposalBundle {
            proposal: item.proposal.clone(),
            vault: self.vault.clone(),
            evidence: LogEvidence {
                leaf: item.leaf.clone(),
                leaf_index: item.leaf_index,
                tree_size: self.tree_size,
                inclusion: item.inclusion.clone(),
                checkpoint: self.checkpoint.clone(),
                consistency: if with_consistency {
                    self.consistency.clone()
                } else {
                    Vec::new()
                },
            },
            halts: self.halts.clone(),
        })
    }
}

fn consistency_value(consistency: &[ConsistencyFrom]) -> Value {
    Value::Array(
        consistency
            .iter()
            .map(|c| {
                MapBuilder::new()
                    .uint(1, c.old_size)
                    .value(2, hashes_value(&c.hashes))
                    .build()
            })
            .collect(),
    )
}

fn consistency_from(items: Vec<Value>) -> Result<Vec<ConsistencyFrom>, FormatError> {
    let mut consistency = Vec::new();
    for mut c in records(items, "consistency proof")? {
        let old_size = c.uint(1, "old size")?;
        let items = c.array(2, "hashes")?;
        let hashes = hashes_from(items, &c, "hashes")?;
        c.finish()?;
        consistency.push(ConsistencyFrom { old_size, hashes });
    }
    Ok(consistency)
}

fn batch_count(f: &Fields, what: &str, n: usize) -> Result<(), FormatError> {
    if n == 0 || n > MAX_BATCH_ITEMS {
        return Err(f.error(format!(
            "{what}: give 1 to {MAX_BATCH_ITEMS} items (this batch has {n})"
        )));
    }
    Ok(())
}

fn byte_strings(items: Vec<Value>, f: &Fields, what: &str) -> Result<Vec<Vec<u8>>, FormatError> {
    items
        .into_iter()
        .map(|v| match v {
            Value::Bytes(b) => Ok(b),
            _ => Err(f.error(format!("{what}: every item must be a byte string"))),
        })
        .collect()
}

impl Artifact for ProposalBatch {
    const KIND: ArtifactKind = ArtifactKind::ProposalBatch;

    fn to_value(&self) -> Value {
        let halts = (!self.halts.is_empty())
            .then(|| Value::Array(self.halts.iter().map(|h| Value::Bytes(h.clone())).collect()));
        let items = self
            .items
            .iter()
            .map(|item| {
                MapBuilder::new()
                    .bytes(1, &item.proposal)
                    .bytes(2, &item.leaf)
                    .uint(3, item.leaf_index)
                    .value(4, hashes_value(&item.inclusion))
                    .build()
            })
            .collect();
        MapBuilder::new()
            .uint(0, ARTIFACT_FORMAT_VERSION)
            .bytes(1, &self.vault)
            .opt(2, halts)
            .uint(3, self.tree_size)
            .text(4, &self.checkpoint)
            .value(5, consistency_value(&self.consistency))
            .array(6, items)
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "proposal batch")?;
        f.version(ARTIFACT_FORMAT_VERSION)?;
        let vault = f.bytes(1, "vault")?;
        let halts = match f.take(2) {
            None => Vec::new(),
            Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_BUNDLE_HALTS => {
                byte_strings(items, &f, "halts")?
            }
            Some(_) => {
                return Err(f.error(format!(
                    "halts: give 1 to {MAX_BUNDLE_HALTS} halt envelopes, or leave the field out"
                )));
            }
        };
        let tree_size = f.uint(3, "tree size")?;
        let checkpoint = f.text(4, "checkpoint")?;
        let consistency = consistency_from(f.array(5, "consistency proofs")?)?;
        let records_in = f.array(6, "items")?;
        batch_count(&f, "items", records_in.len())?;
        let mut items = Vec::with_capacity(records_in.len());
        for mut r in records(records_in, "batch item")? {
            let proposal = r.bytes(1, "proposal")?;
            let leaf = r.bytes(2, "leaf")?;
            let leaf_index = r.uint(3, "leaf index")?;
            let inclusion = hashes_from(r.array(4, "inclusion proof")?, &r, "inclusion proof")?;
            r.finish()?;
            items.push(BatchItem {
                proposal,
                leaf,
                leaf_index,
                inclusion,
            });
        }
        f.finish()?;
        Ok(ProposalBatch {
            vault,
            halts,
            tree_size,
            checkpoint,
            consistency,
            items,
        })
    }
}

/// A signer's decisions on a [`ProposalBatch`], as one file: each decision is its own signed
/// approval (or rejection) envelope, recorded in the log on its own; the batch only carries them
/// and is not signed itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionBatch {
    /// The decision envelopes, encoded, in the batch's order.
    pub decisions: Vec<Vec<u8>>,
}

impl Artifact for DecisionBatch {
    const KIND: ArtifactKind = ArtifactKind::DecisionBatch;

    fn to_value(&self) -> Value {
        MapBuilder::new()
            .uint(0, ARTIFACT_FORMAT_VERSION)
            .array(
                1,
                self.decisions
                    .iter()
                    .map(|d| Value::Bytes(d.clone()))
                    .collect(),
            )
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "decision batch")?;
        f.version(ARTIFACT_FORMAT_VERSION)?;
        let items = f.array(1, "decisions")?;
        batch_count(&f, "decisions", items.len())?;
        let decisions = byte_strings(items, &f, "decisions")?;
        f.finish()?;
        Ok(DecisionBatch { decisions })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cbor;

    pub fn sample_proposal() -> Proposal {
        Proposal {
            vault_id: "treasury".into(),
            vault_version: 1,
            vault_artifact: ArtifactId([1; 32]),
            chain: "none".into(),
            intent: Intent {
                transfers: vec![Transfer {
                    destination: "dest-a".into(),
                    amount: 500,
                    asset: String::new(),
                }],
                memo: "rent".into(),
            },
            payload: vec![],
            spends: vec!["utxo:1".into()],
            rule: "routine".into(),
            created: 100,
            expires: 200,
            proposer: PublicKey([2; 32]),
            nonce: [3; 16],
        }
    }

    #[test]
    fn artifacts_round_trip() {
        let p = sample_proposal();
        assert_eq!(Proposal::from_bytes(&p.to_bytes()).unwrap(), p);
        let a = Approval {
            proposal: ArtifactId([4; 32]),
            vault_id: "treasury".into(),
            vault_version: 1,
            decision: Decision::Reject,
            reason: "unknown destination".into(),
            chain_signature: vec![],
            signer: PublicKey([5; 32]),
            signed_at: 150,
            seen_checkpoint: SeenCheckpoint {
                size: 3,
                root: [6; 32],
            },
            review_digest: [7; 32],
        };
        assert_eq!(Approval::from_bytes(&a.to_bytes()).unwrap(), a);
        let f = Finalized {
            proposal: ArtifactId([4; 32]),
            approvals: vec![ArtifactId([8; 32])],
            transaction: vec![1, 2],
            txid: "ab".into(),
            finalized_at: 160,
        };
        assert_eq!(Finalized::from_bytes(&f.to_bytes()).unwrap(), f);
        let r = LogRecord {
            kind: "proposal".into(),
            artifact: ArtifactId([9; 32]),
            vault_id: "treasury".into(),
            at: 100,
        };
        assert_eq!(LogRecord::from_bytes(&r.to_bytes()).unwrap(), r);
    }

    #[test]
    fn unknown_version_and_unknown_fields_are_refused() {
        let p = sample_proposal();
        let Value::Map(mut entries) = p.to_value() else {
            panic!()
        };
        entries.retain(|(k, _)| *k != Value::Unsigned(0));
        entries.push((Value::Unsigned(0), Value::Unsigned(2)));
        let err = Proposal::from_bytes(&cbor::encode(&Value::Map(entries.clone()))).unwrap_err();
        assert!(
            err.to_string().contains("unsupported format version 2"),
            "{err}"
        );
        entries.retain(|(k, _)| *k != Value::Unsigned(0));
        entries.push((Value::Unsigned(0), Value::Unsigned(1)));
        entries.push((Value::Unsigned(99), Value::Null));
        let err = Proposal::from_bytes(&cbor::encode(&Value::Map(entries))).unwrap_err();
        assert!(err.to_string().contains("unknown field(s) 99"), "{err}");
    }

    #[test]
    fn amounts_above_u64_round_trip_in_one_canonical_form() {
        use crate::fields::{amount_from_value, amount_value};
        for n in [
            0u128,
            1,
            u64::MAX as u128,
            u64::MAX as u128 + 1,
            100 * 10u128.pow(18),
            u128::MAX,
        ] {
            assert_eq!(amount_from_value(&amount_value(n)), Some(n), "{n}");
        }
        let mut p = sample_proposal();
        p.intent.transfers[0].amount = 250 * 10u128.pow(18); // 250 ETH in wei
        assert_eq!(Proposal::from_bytes(&p.to_bytes()).unwrap(), p);
        // A small amount as bytes, a leading zero byte, or 17 bytes: refused.
        for bad in [
            vec![0u8; 9],
            vec![1u8; 8],
            vec![1u8; 17],
            [0u8].iter().chain(&[1u8; 9]).copied().collect(),
        ] {
            assert_eq!(
                amount_from_value(&Value::Bytes(bad.clone())),
                None,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejection_without_reason_is_refused() {
        let a = Approval {
            proposal: ArtifactId([4; 32]),
            vault_id: "t".into(),
            vault_version: 1,
            decision: Decision::Reject,
            reason: "  ".into(),
            chain_signature: vec![],
            signer: PublicKey([5; 32]),
            signed_at: 1,
            seen_checkpoint: SeenCheckpoint {
                size: 0,
                root: [0; 32],
            },
            review_digest: [0; 32],
        };
        assert!(Approval::from_bytes(&a.to_bytes()).is_err());
    }
}
