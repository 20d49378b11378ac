//! Circuit breakers: the HALT a witness signs when it sees something wrong with a log (an invalid
//! transition, a split view, an anomaly rule firing, an unexplained on-chain movement, or its
//! operator's judgement), and the RESUME that lifts it.
//!
//! A HALT is an artifact signed by one witness's Ed25519 cosigning key (the key a vault version
//! names in its witness set). It names the log (its origin) and one vault, or every vault of that
//! log. Once in the log it is in force for a vault until a RESUME proposal for it, under that
//! vault, is approved by the vault's signer threshold (`VaultDefinition::threshold`, the quorum
//! that changes the vault) and finalized. While it is in force signers refuse to approve and the
//! coordinator finalizes nothing else for the vault.
//!
//! A RESUME is an ordinary proposal (so it is reviewed, approved, logged and replayed like one)
//! with a fixed shape: no payload, no transfers, the reserved rule [`RESUME_RULE`] and exactly
//! one spend, `halt:<halt id hex>`. [`HaltBook`] is the bookkeeping both the log replay and the
//! signer use to decide which halts are in force.
//!
//! This module only encodes, decodes and recognizes; it must never decide on its own that a halt
//! is lifted (only a finalized RESUME does that) or accept a halt whose signer it did not check.

use std::collections::{BTreeMap, BTreeSet};

use crate::artifacts::Proposal;
use crate::cbor::Value;
use crate::envelope::{Artifact, ArtifactId, ArtifactKind, Envelope};
use crate::fields::{Fields, FormatError, MapBuilder};
use crate::vault::{VaultDefinition, WitnessKey};

/// The reserved rule name of RESUME proposals (rule names written by people cannot start with `@`).
pub const RESUME_RULE: &str = "@resume";
/// The prefix of a RESUME proposal's only spend.
pub const RESUME_SPEND_PREFIX: &str = "halt:";

/// Why a witness halted.
pub const HALT_REASONS: &[&str] = &[
    "invalid-transition",
    "split-view",
    "anomaly",
    "chain",
    "manual",
];

/// A witness's signed order to stop approving and finalizing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Halt {
    /// The log (its origin line) whose vaults stop.
    pub log_origin: String,
    /// The vault that stops; empty: every vault of the log.
    pub vault_id: String,
    /// One of [`HALT_REASONS`].
    pub reason: String,
    /// What the witness saw, in words a person can act on.
    pub detail: String,
    /// The log size the witness had checked when it halted.
    pub log_size: u64,
    pub issued: u64,
    /// The witness's signed-note name (the signature is what counts; the name is for people).
    pub witness: String,
    pub nonce: [u8; 16],
}

impl Halt {
    /// Whether this halt stops `vault` (same log, the vault or every vault).
    pub fn applies_to(&self, vault: &VaultDefinition) -> bool {
        self.log_origin == vault.coordinator.origin
            && (self.vault_id.is_empty() || self.vault_id == vault.vault_id)
    }

    pub fn scope(&self) -> &str {
        if self.vault_id.is_empty() {
            "every vault"
        } else {
            &self.vault_id
        }
    }
}

impl Artifact for Halt {
    const KIND: ArtifactKind = ArtifactKind::Halt;

    fn to_value(&self) -> Value {
        MapBuilder::new()
            .uint(0, crate::artifacts::ARTIFACT_FORMAT_VERSION)
            .text(1, &self.log_origin)
            .text(2, &self.vault_id)
            .text(3, &self.reason)
            .text(4, &self.detail)
            .uint(5, self.log_size)
            .uint(6, self.issued)
            .text(7, &self.witness)
            .bytes(8, &self.nonce)
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "halt")?;
        f.version(crate::artifacts::ARTIFACT_FORMAT_VERSION)?;
        let h = Halt {
            log_origin: f.text(1, "log origin")?,
            vault_id: f.text_or_empty(2, "vault id")?,
            reason: f.text(3, "reason")?,
            detail: f.text_or_empty(4, "detail")?,
            log_size: f.uint(5, "log size")?,
            issued: f.uint(6, "issued")?,
            witness: f.text(7, "witness")?,
            nonce: f.fixed::<16>(8, "nonce")?,
        };
        if !HALT_REASONS.contains(&h.reason.as_str()) {
            return Err(f.error(format!(
                "unknown halt reason {:?} (known: {})",
                h.reason,
                HALT_REASONS.join(", ")
            )));
        }
        if h.detail.len() > 4096 {
            return Err(f.error("the detail is longer than 4096 bytes"));
        }
        f.finish()?;
        Ok(h)
    }
}

/// The witness of `vault`'s set whose valid signature `env` carries, if any.
pub fn halt_signed_by<'a>(env: &Envelope, vault: &'a VaultDefinition) -> Option<&'a WitnessKey> {
    vault
        .witnesses
        .witnesses
        .iter()
        .find(|w| env.require_signature(&w.key, &w.name).is_ok())
}

/// Opens a halt envelope for the log `log_origin` whose vaults (each one's newest version) are
/// `vaults`: every signature on it must be valid, it must name this log, and one of its signers
/// must be a witness of the vault it names (of any vault, when it names every vault). A halt by
/// a key outside those witness sets is refused here: it is reported, never obeyed.
pub fn check_halt<'a>(
    env: &Envelope,
    log_origin: &str,
    vaults: impl IntoIterator<Item = &'a VaultDefinition>,
) -> Result<Halt, crate::CoreError> {
    env.require_all_valid()?;
    let halt: Halt = env.open()?;
    if halt.log_origin != log_origin {
        return Err(crate::CoreError::Invalid(format!(
            "the halt is for log {:?}, not {log_origin:?}",
            halt.log_origin
        )));
    }
    let mut in_scope = 0;
    for vault in vaults {
        if !halt.applies_to(vault) {
            continue;
        }
        in_scope += 1;
        if halt_signed_by(env, vault).is_some() {
            return Ok(halt);
        }
    }
    Err(crate::CoreError::Invalid(if in_scope == 0 {
        format!(
            "the halt names vault {:?}, which this log does not hold",
            halt.vault_id
        )
    } else {
        format!(
            "the halt for {} (signed as {:?}) is signed by no witness of that vault's witness set: ignored",
            halt.scope(),
            halt.witness
        )
    }))
}

/// The halt a RESUME proposal lifts, when `proposal` has a RESUME's shape.
pub fn resume_target(proposal: &Proposal) -> Option<ArtifactId> {
    if proposal.rule != RESUME_RULE
        || !proposal.payload.is_empty()
        || !proposal.intent.transfers.is_empty()
    {
        return None;
    }
    match proposal.spends.as_slice() {
        [only] => ArtifactId::from_hex(only.strip_prefix(RESUME_SPEND_PREFIX)?).ok(),
        _ => None,
    }
}

/// The spend that names `halt` in a RESUME proposal.
pub fn resume_spend(halt: &ArtifactId) -> String {
    format!("{RESUME_SPEND_PREFIX}{}", halt.to_hex())
}

/// Which halts are in force for which vault, as a log's records establish them: a halt is added
/// when its record is replayed and lifted for one vault when a RESUME naming it is finalized.
#[derive(Clone, Debug, Default)]
pub struct HaltBook {
    /// Each halt with the keys whose valid signatures it carries.
    halts: BTreeMap<ArtifactId, (Halt, Vec<crate::PublicKey>)>,
    /// (vault, halt) pairs lifted by a finalized RESUME.
    lifted: BTreeSet<(String, ArtifactId)>,
}

impl HaltBook {
    /// Adds a checked halt ([`check_halt`]) from its envelope.
    pub fn add(&mut self, env: &Envelope, halt: Halt) {
        self.halts.insert(env.id(), (halt, env.valid_signers()));
    }

    pub fn get(&self, id: &ArtifactId) -> Option<&Halt> {
        self.halts.get(id).map(|(h, _)| h)
    }

    /// Records that `vault_id`'s signers lifted `halt` (their finalized RESUME).
    pub fn lift(&mut self, vault_id: &str, halt: ArtifactId) {
        self.lifted.insert((vault_id.to_owned(), halt));
    }

    /// The halts in force for `vault` (its newest version), in id order: those that name it (or
    /// every vault), signed by a witness of its set, and not lifted by its signers.
    pub fn in_force<'a>(
        &'a self,
        vault: &'a VaultDefinition,
    ) -> impl Iterator<Item = (&'a ArtifactId, &'a Halt)> + 'a {
        self.halts
            .iter()
            .filter(move |(id, (h, signers))| {
                h.applies_to(vault)
                    && vault
                        .witnesses
                        .witnesses
                        .iter()
                        .any(|w| signers.contains(&w.key))
                    && !self.lifted.contains(&(vault.vault_id.clone(), **id))
            })
            .map(|(id, (h, _))| (id, h))
    }
}

impl HaltBook {
    /// The halts in force for `previous` that a new version `next` would leave signed by no
    /// witness of its set: a rotation must not lift a halt by dropping the witness that signed
    /// it (only a finalized RESUME lifts one).
    pub fn stranded_by<'a>(
        &'a self,
        previous: &'a VaultDefinition,
        next: &'a VaultDefinition,
    ) -> impl Iterator<Item = (&'a ArtifactId, &'a Halt)> + 'a {
        self.in_force(previous).filter(move |(id, _)| {
            let signers = &self.halts[*id].1;
            !next
                .witnesses
                .witnesses
                .iter()
                .any(|w| signers.contains(&w.key))
        })
    }
}

/// Why a new vault version may not drop the witness of halt `id` in force for it.
pub fn stranded_halt_refusal(vault: &VaultDefinition, id: &ArtifactId, halt: &Halt) -> String {
    format!(
        "vault {:?} is halted by witness {} (halt {}, {}): a new version cannot drop that witness while the halt is in force; its signers lift it with a RESUME first",
        vault.vault_id,
        halt.witness,
        id.short(),
        halt.reason
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor;

    fn sample() -> Halt {
        Halt {
            log_origin: "test.airlock/log".into(),
            vault_id: "treasury".into(),
            reason: "anomaly".into(),
            detail: "3 proposals in an hour".into(),
            log_size: 7,
            issued: 1_700_000_000,
            witness: "witness.test/w1".into(),
            nonce: [9; 16],
        }
    }

    #[test]
    fn a_halt_round_trips_and_refuses_unknown_reasons() {
        let h = sample();
        let bytes = cbor::encode(&h.to_value());
        let back = Halt::from_value(cbor::decode(&bytes, cbor::Limits::ARTIFACT).unwrap()).unwrap();
        assert_eq!(back, h);
        let mut bad = h.clone();
        bad.reason = "bored".into();
        let bytes = cbor::encode(&bad.to_value());
        let err = Halt::from_value(cbor::decode(&bytes, cbor::Limits::ARTIFACT).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown halt reason \"bored\""), "{err}");
    }

    #[test]
    fn only_a_resume_shaped_proposal_names_a_halt() {
        let id = ArtifactId([5; 32]);
        let mut p = crate::artifacts::tests::sample_proposal();
        p.rule = RESUME_RULE.into();
        p.payload.clear();
        p.intent.transfers.clear();
        p.spends = vec![resume_spend(&id)];
        assert_eq!(resume_target(&p), Some(id));
        let mut with_payment = p.clone();
        with_payment.intent.transfers = crate::artifacts::tests::sample_proposal().intent.transfers;
        assert_eq!(resume_target(&with_payment), None);
        let mut other_rule = p.clone();
        other_rule.rule = "default".into();
        assert_eq!(resume_target(&other_rule), None);
        let mut two = p;
        two.spends.push(resume_spend(&ArtifactId([6; 32])));
        assert_eq!(resume_target(&two), None);
    }
}
