//! Signed envelopes: how every artifact travels.
//!
//! An envelope holds a payload type, the payload's canonical CBOR bytes and Ed25519 signatures by
//! device identity keys. Signatures cover the DSSE pre-authentication encoding
//! (`"DSSEv1" SP len(type) SP type SP len(payload) SP payload`), so a signature over one kind of
//! artifact can never be replayed as another kind. The artifact's identity is the SHA-256 of that
//! same encoding: signatures can be added without changing what is identified.
//!
//! This module must never treat an unverified signature as valid, and never decode a payload
//! under a payload type other than the one the envelope names.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;

use crate::cbor::{self, Limits, Value};
use crate::fields::{Fields, FormatError, MapBuilder};
use crate::{CoreError, PublicKey};

/// Envelope format version.
pub const ENVELOPE_VERSION: u64 = 1;

/// The identity of an artifact: SHA-256 of the pre-authentication encoding of type and payload.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArtifactId(pub [u8; 32]);

impl ArtifactId {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, for people.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }

    pub fn from_hex(s: &str) -> Result<Self, CoreError> {
        let bytes = hex::decode(s.trim())
            .map_err(|_| CoreError::Invalid(format!("artifact id {s:?} is not hex")))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CoreError::Invalid(format!("artifact id {s:?} must be 64 hex digits")))?;
        Ok(ArtifactId(arr))
    }
}

impl fmt::Display for ArtifactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ArtifactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ArtifactId({})", self.short())
    }
}

/// The kinds of artifact Airlock knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    VaultDefinition,
    Proposal,
    Approval,
    Finalized,
    Event,
    Checkpoint,
    ProposalBundle,
    TransferManifest,
    AccountExport,
    ReleaseBundle,
    Halt,
    StateCommitment,
    DrillRecord,
    ProposalBatch,
    DecisionBatch,
}

impl ArtifactKind {
    pub const ALL: [ArtifactKind; 15] = [
        ArtifactKind::VaultDefinition,
        ArtifactKind::Proposal,
        ArtifactKind::Approval,
        ArtifactKind::Finalized,
        ArtifactKind::Event,
        ArtifactKind::Checkpoint,
        ArtifactKind::ProposalBundle,
        ArtifactKind::TransferManifest,
        ArtifactKind::AccountExport,
        ArtifactKind::ReleaseBundle,
        ArtifactKind::Halt,
        ArtifactKind::StateCommitment,
        ArtifactKind::DrillRecord,
        ArtifactKind::ProposalBatch,
        ArtifactKind::DecisionBatch,
    ];

    /// The DSSE payload type.
    pub fn payload_type(self) -> &'static str {
        match self {
            ArtifactKind::VaultDefinition => "application/vnd.airlock.vault+cbor",
            ArtifactKind::Proposal => "application/vnd.airlock.proposal+cbor",
            ArtifactKind::Approval => "application/vnd.airlock.approval+cbor",
            ArtifactKind::Finalized => "application/vnd.airlock.finalized+cbor",
            ArtifactKind::Event => "application/vnd.airlock.event+cbor",
            ArtifactKind::Checkpoint => "application/vnd.airlock.checkpoint+cbor",
            ArtifactKind::ProposalBundle => "application/vnd.airlock.proposal-bundle+cbor",
            ArtifactKind::TransferManifest => "application/vnd.airlock.transfer-manifest+cbor",
            ArtifactKind::AccountExport => "application/vnd.airlock.account-export+cbor",
            ArtifactKind::ReleaseBundle => "application/vnd.airlock.release-bundle+cbor",
            ArtifactKind::Halt => "application/vnd.airlock.halt+cbor",
            ArtifactKind::StateCommitment => "application/vnd.airlock.state-commitment+cbor",
            ArtifactKind::DrillRecord => "application/vnd.airlock.drill+cbor",
            ArtifactKind::ProposalBatch => "application/vnd.airlock.proposal-batch+cbor",
            ArtifactKind::DecisionBatch => "application/vnd.airlock.decision-batch+cbor",
        }
    }

    /// A short lowercase name (also the armor label, uppercased).
    pub fn name(self) -> &'static str {
        match self {
            ArtifactKind::VaultDefinition => "vault",
            ArtifactKind::Proposal => "proposal",
            ArtifactKind::Approval => "approval",
            ArtifactKind::Finalized => "finalized",
            ArtifactKind::Event => "event",
            ArtifactKind::Checkpoint => "checkpoint",
            ArtifactKind::ProposalBundle => "proposal-bundle",
            ArtifactKind::TransferManifest => "transfer-manifest",
            ArtifactKind::AccountExport => "account-export",
            ArtifactKind::ReleaseBundle => "release-bundle",
            ArtifactKind::Halt => "halt",
            ArtifactKind::StateCommitment => "state-commitment",
            ArtifactKind::DrillRecord => "drill",
            ArtifactKind::ProposalBatch => "proposal-batch",
            ArtifactKind::DecisionBatch => "decision-batch",
        }
    }

    pub fn from_payload_type(t: &str) -> Option<ArtifactKind> {
        ArtifactKind::ALL
            .into_iter()
            .find(|k| k.payload_type() == t)
    }

    pub fn from_name(name: &str) -> Option<ArtifactKind> {
        ArtifactKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A typed artifact payload.
pub trait Artifact: Sized {
    const KIND: ArtifactKind;
    fn to_value(&self) -> Value;
    fn from_value(value: Value) -> Result<Self, FormatError>;

    fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(&self.to_value())
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, CoreError> {
        let value = cbor::decode(bytes, Limits::ARTIFACT)?;
        Ok(Self::from_value(value)?)
    }

    /// Wraps the artifact in an envelope with no signatures yet.
    fn envelope(&self) -> Envelope {
        Envelope {
            payload_type: Self::KIND.payload_type().to_owned(),
            payload: self.to_bytes(),
            signatures: Vec::new(),
        }
    }
}

/// One signature in an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeSignature {
    pub key: PublicKey,
    pub signature: [u8; 64],
}

/// The outcome of checking one signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureCheck {
    pub key: PublicKey,
    pub valid: bool,
}

/// A payload with its type and signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    /// Sorted by key, one per key.
    pub signatures: Vec<EnvelopeSignature>,
}

/// DSSE pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    pub fn id(&self) -> ArtifactId {
        // The SHA-256 of `pae(payload_type, payload)`, hashed in pieces (no copy of the payload).
        let mut h = Sha256::new();
        h.update(b"DSSEv1 ");
        h.update(self.payload_type.len().to_string().as_bytes());
        h.update(b" ");
        h.update(self.payload_type.as_bytes());
        h.update(b" ");
        h.update(self.payload.len().to_string().as_bytes());
        h.update(b" ");
        h.update(&self.payload);
        ArtifactId(h.finalize().into())
    }

    pub fn kind(&self) -> Option<ArtifactKind> {
        ArtifactKind::from_payload_type(&self.payload_type)
    }

    /// Adds (or keeps) a signature by `key`. Ed25519 is deterministic, so signing twice is a no-op.
    pub fn sign(&mut self, key: &SigningKey) {
        let public = PublicKey(key.verifying_key().to_bytes());
        let signature = key.sign(&pae(&self.payload_type, &self.payload)).to_bytes();
        self.signatures.retain(|s| s.key != public);
        self.signatures.push(EnvelopeSignature {
            key: public,
            signature,
        });
        self.signatures.sort_by_key(|s| s.key.0);
    }

    /// Checks every signature.
    pub fn check_signatures(&self) -> Vec<SignatureCheck> {
        let message = pae(&self.payload_type, &self.payload);
        self.signatures
            .iter()
            .map(|s| SignatureCheck {
                key: s.key,
                valid: verify_raw(&s.key, &message, &s.signature),
            })
            .collect()
    }

    /// The keys whose signatures verify.
    pub fn valid_signers(&self) -> Vec<PublicKey> {
        self.check_signatures()
            .into_iter()
            .filter(|c| c.valid)
            .map(|c| c.key)
            .collect()
    }

    /// Refuses an envelope carrying any signature that does not verify: an artifact altered after
    /// it was signed is refused whole, even when enough other signatures are valid.
    pub fn require_all_valid(&self) -> Result<(), CoreError> {
        match self.check_signatures().into_iter().find(|c| !c.valid) {
            None => Ok(()),
            Some(bad) => Err(CoreError::BadSignature(format!(
                "the {}'s signature by {} does not verify: it was altered or damaged after signing",
                self.kind().map(|k| k.name()).unwrap_or("artifact"),
                bad.key
            ))),
        }
    }

    /// Refuses an envelope that carries a signature (valid or not) by any key outside `allowed`.
    ///
    /// The rule for every artifact Airlock accepts: it holds exactly the signatures its kind asks
    /// for (a decision: its signer's; a proposal, record or event: the coordinator's; a vault
    /// version: its own and the previous version's signers'). A valid signature by a stranger is
    /// not harmless noise to keep: it would be stored in the log as if it meant something, so the
    /// artifact is refused, naming the key, and whoever carries it must bring the original.
    pub fn require_only_signers(&self, allowed: &[PublicKey], what: &str) -> Result<(), CoreError> {
        match self.signatures.iter().find(|s| !allowed.contains(&s.key)) {
            None => Ok(()),
            Some(stranger) => Err(CoreError::BadSignature(format!(
                "{what} carries a signature by key {}, which has no role in it; refused \
                 (an artifact holds only the signatures its kind asks for: bring the original file)",
                stranger.key
            ))),
        }
    }

    /// True when `key` has a valid signature on this envelope.
    pub fn is_signed_by(&self, key: &PublicKey) -> bool {
        self.valid_signers().contains(key)
    }

    /// Requires a valid signature by `key`, else an error naming the artifact.
    pub fn require_signature(&self, key: &PublicKey, who: &str) -> Result<(), CoreError> {
        if self.is_signed_by(key) {
            return Ok(());
        }
        let kind = self.kind().map(|k| k.name()).unwrap_or("artifact");
        if self.signatures.iter().any(|s| s.key == *key) {
            Err(CoreError::BadSignature(format!(
                "the {kind}'s signature by {who} ({key}) does not verify"
            )))
        } else {
            Err(CoreError::BadSignature(format!(
                "the {kind} is not signed by {who} ({key})"
            )))
        }
    }

    /// [`Envelope::require_signature`], [`Envelope::require_all_valid`] and
    /// [`Envelope::require_only_signers`] for an artifact `key` alone signs, in that order and
    /// with their errors, verifying each signature once.
    pub fn require_sole_signer(
        &self,
        key: &PublicKey,
        who: &str,
        what: &str,
    ) -> Result<(), CoreError> {
        let checks = self.check_signatures();
        let kind = self.kind().map(|k| k.name()).unwrap_or("artifact");
        if !checks.iter().any(|c| c.valid && c.key == *key) {
            return Err(CoreError::BadSignature(
                if checks.iter().any(|c| c.key == *key) {
                    format!("the {kind}'s signature by {who} ({key}) does not verify")
                } else {
                    format!("the {kind} is not signed by {who} ({key})")
                },
            ));
        }
        if let Some(bad) = checks.iter().find(|c| !c.valid) {
            return Err(CoreError::BadSignature(format!(
                "the {kind}'s signature by {} does not verify: it was altered or damaged after signing",
                bad.key
            )));
        }
        self.require_only_signers(std::slice::from_ref(key), what)
    }

    /// Decodes the payload as `A`, refusing a different payload type.
    pub fn open<A: Artifact>(&self) -> Result<A, CoreError> {
        if self.payload_type != A::KIND.payload_type() {
            return Err(CoreError::WrongKind {
                expected: A::KIND.name().to_owned(),
                found: self
                    .kind()
                    .map(|k| k.name().to_owned())
                    .unwrap_or_else(|| format!("unknown type {:?}", self.payload_type)),
            });
        }
        A::from_bytes(&self.payload)
    }

    pub fn to_value(&self) -> Value {
        let signatures = self
            .signatures
            .iter()
            .map(|s| {
                MapBuilder::new()
                    .bytes(1, &s.key.0)
                    .bytes(2, &s.signature)
                    .build()
            })
            .collect();
        MapBuilder::new()
            .uint(0, ENVELOPE_VERSION)
            .text(1, &self.payload_type)
            .bytes(2, &self.payload)
            .array(3, signatures)
            .build()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(&self.to_value())
    }

    /// Decodes an envelope from untrusted bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope, CoreError> {
        let value = cbor::decode(bytes, Limits::ARTIFACT)?;
        let mut f = Fields::open(value, "envelope")?;
        f.version(ENVELOPE_VERSION)?;
        let payload_type = f.text(1, "payload type")?;
        let payload = f.bytes(2, "payload")?;
        let mut signatures = Vec::new();
        for (i, item) in f.array(3, "signatures")?.into_iter().enumerate() {
            // The record's name (with its index) is built only for an error.
            let read = || -> Result<EnvelopeSignature, FormatError> {
                let mut s = Fields::open(item, "envelope signature")?;
                let key = PublicKey(s.fixed::<32>(1, "public key")?);
                let signature = s.fixed::<64>(2, "signature")?;
                s.finish()?;
                Ok(EnvelopeSignature { key, signature })
            };
            signatures.push(read().map_err(|e| FormatError {
                record: format!("envelope signature {i}"),
                ..e
            })?);
        }
        f.finish()?;
        if signatures.windows(2).any(|w| w[0].key.0 >= w[1].key.0) {
            return Err(CoreError::Format(FormatError::new(
                "envelope",
                "signatures must be sorted by key with one signature per key",
            )));
        }
        Ok(Envelope {
            payload_type,
            payload,
            signatures,
        })
    }

    /// Merges the signatures of another envelope over the same payload.
    pub fn merge_signatures(&mut self, other: &Envelope) -> Result<(), CoreError> {
        if other.id() != self.id() {
            return Err(CoreError::Invalid(format!(
                "cannot merge signatures of artifact {} into artifact {}: different payloads",
                other.id().short(),
                self.id().short()
            )));
        }
        for s in &other.signatures {
            if !self.signatures.iter().any(|m| m.key == s.key) {
                self.signatures.push(s.clone());
            }
        }
        self.signatures.sort_by_key(|s| s.key.0);
        Ok(())
    }
}

/// Verifies a raw Ed25519 signature; false for an invalid key or signature.
///
/// Verdicts that a signature is valid are remembered ([`VerifiedSignatures`]): the coordinator
/// checks the same stored artifact many times (each decision re-reads its proposal, a batch is
/// checked on a snapshot and again under the write lock), and a repeated check then costs one
/// SHA-256 instead of a point decompression and a double-base multiplication.
pub fn verify_raw(key: &PublicKey, message: &[u8], signature: &[u8; 64]) -> bool {
    let memo = VerifiedSignatures::key_of(key, message, signature);
    if VERIFIED.holds(&memo) {
        return true;
    }
    let Ok(vk) = VerifyingKey::from_bytes(&key.0) else {
        return false;
    };
    let valid = vk
        .verify(message, &Signature::from_bytes(signature))
        .is_ok();
    if valid {
        VERIFIED.remember(memo);
    }
    valid
}

static VERIFIED: VerifiedSignatures = VerifiedSignatures::new();

/// Forgets every remembered valid verdict, so the next check of each signature verifies it in
/// full (benchmarks call it so that set-up work does not flatter what they measure).
pub fn forget_verified_signatures() {
    let mut seen = VERIFIED
        .seen
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *seen = None;
}

/// A bounded, process-wide memory of (key, message, signature) triples that verified.
///
/// Only valid verdicts are kept, under the SHA-256 of the length-prefixed key, signature and
/// message: finding a triple here is as hard as finding a SHA-256 collision, so a hit proves the
/// same signature over the same message verified before, with the same verifier. It must never
/// hold a verdict that a signature is invalid (nothing is saved by that and a caller could be
/// made to fill it), nor anything else. When full it is emptied at once: memory stays bounded and
/// the cost is a later re-verification, never a wrong answer.
struct VerifiedSignatures {
    seen: std::sync::Mutex<Option<std::collections::HashSet<[u8; 32]>>>,
}

impl VerifiedSignatures {
    const CAPACITY: usize = 1 << 16;

    const fn new() -> Self {
        VerifiedSignatures {
            seen: std::sync::Mutex::new(None),
        }
    }

    fn key_of(key: &PublicKey, message: &[u8], signature: &[u8; 64]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"airlock verified ed25519 signature\0");
        h.update(key.0);
        h.update(signature);
        h.update((message.len() as u64).to_be_bytes());
        h.update(message);
        h.finalize().into()
    }

    fn holds(&self, memo: &[u8; 32]) -> bool {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.as_ref().is_some_and(|s| s.contains(memo))
    }

    fn remember(&self, memo: [u8; 32]) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let set = seen.get_or_insert_with(Default::default);
        if set.len() >= Self::CAPACITY {
            set.clear();
        }
        set.insert(memo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn the_id_is_the_sha256_of_the_pae() {
        for payload in [Vec::new(), vec![7u8; 1], vec![0xab; 4096]] {
            let env = Envelope {
                payload_type: ArtifactKind::Proposal.payload_type().into(),
                payload,
                signatures: Vec::new(),
            };
            let pae = pae(&env.payload_type, &env.payload);
            assert_eq!(env.id().0, <[u8; 32]>::from(Sha256::digest(&pae)));
        }
    }

    fn sample() -> Envelope {
        Envelope {
            payload_type: ArtifactKind::Event.payload_type().into(),
            payload: cbor::encode(&Value::Unsigned(7)),
            signatures: vec![],
        }
    }

    /// `require_sole_signer` gives the verdict (and the error) of the three checks it replaces.
    #[test]
    fn the_sole_signer_check_matches_the_three_checks_it_replaces() {
        let coordinator = key(1);
        let coordinator_key = PublicKey(coordinator.verifying_key().to_bytes());
        let three = |env: &Envelope| {
            env.require_signature(&coordinator_key, "the coordinator")
                .and_then(|()| env.require_all_valid())
                .and_then(|()| env.require_only_signers(&[coordinator_key], "the event"))
                .map_err(|e| e.to_string())
        };
        let mut signed = sample();
        signed.sign(&coordinator);
        let mut damaged = signed.clone();
        damaged.signatures[0].signature[3] ^= 1;
        let mut stranger = signed.clone();
        stranger.sign(&key(2));
        let mut stranger_bad = stranger.clone();
        for s in &mut stranger_bad.signatures {
            if s.key != coordinator_key {
                s.signature[0] ^= 1;
            }
        }
        let mut only_stranger = sample();
        only_stranger.sign(&key(2));
        for env in [
            sample(),
            signed,
            damaged,
            stranger,
            stranger_bad,
            only_stranger,
        ] {
            let one = env
                .require_sole_signer(&coordinator_key, "the coordinator", "the event")
                .map_err(|e| e.to_string());
            assert_eq!(one, three(&env), "{env:?}");
        }
    }

    #[test]
    fn remembered_verdicts_never_vouch_for_another_message_key_or_signature() {
        let signer = key(9);
        let public = PublicKey(signer.verifying_key().to_bytes());
        let other = PublicKey(key(10).verifying_key().to_bytes());
        let signature = signer.sign(b"pay alice 1").to_bytes();
        // Twice: the second answer comes from the memory of valid verdicts.
        assert!(verify_raw(&public, b"pay alice 1", &signature));
        assert!(verify_raw(&public, b"pay alice 1", &signature));
        assert!(!verify_raw(&public, b"pay alice 2", &signature));
        assert!(!verify_raw(&other, b"pay alice 1", &signature));
        let mut bent = signature;
        bent[0] ^= 1;
        assert!(!verify_raw(&public, b"pay alice 1", &bent));
        // Filling the memory past its bound forgets, never errs.
        for n in 0..(VerifiedSignatures::CAPACITY as u32 + 3) {
            VERIFIED.remember(VerifiedSignatures::key_of(
                &other,
                &n.to_be_bytes(),
                &[0; 64],
            ));
        }
        assert!(verify_raw(&public, b"pay alice 1", &signature));
        assert!(!verify_raw(&public, b"pay alice 2", &signature));
    }

    #[test]
    fn pae_matches_dsse_spec_example() {
        // DSSE protocol.md example: type "http://example.com/HelloWorld", body "hello world".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn signatures_verify_and_round_trip() {
        let mut env = sample();
        env.sign(&key(2));
        env.sign(&key(1));
        env.sign(&key(2));
        assert_eq!(env.signatures.len(), 2);
        let bytes = env.to_bytes();
        let back = Envelope::from_bytes(&bytes).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.valid_signers().len(), 2);
        assert_eq!(back.id(), env.id());
    }

    #[test]
    fn signature_over_other_type_does_not_verify() {
        let mut env = sample();
        env.sign(&key(1));
        env.payload_type = ArtifactKind::Approval.payload_type().into();
        assert!(env.valid_signers().is_empty());
        let who = PublicKey(key(1).verifying_key().to_bytes());
        let err = env.require_signature(&who, "alice").unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
    }

    #[test]
    fn every_bit_flip_is_refused_or_detected() {
        let mut env = sample();
        env.sign(&key(1));
        let bytes = env.to_bytes();
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            if let Ok(decoded) = Envelope::from_bytes(&b) {
                let intact = decoded.payload_type == env.payload_type
                    && decoded.payload == env.payload
                    && decoded.valid_signers() == env.valid_signers();
                assert!(!intact, "bit {i} flipped without detection");
            }
        }
    }

    #[test]
    fn unsorted_or_duplicate_signatures_are_refused() {
        let mut env = sample();
        env.sign(&key(1));
        env.sign(&key(2));
        env.signatures.reverse();
        assert!(Envelope::from_bytes(&env.to_bytes()).is_err());
        env.signatures.reverse();
        let dup = env.signatures[0].clone();
        env.signatures.insert(0, dup);
        assert!(Envelope::from_bytes(&env.to_bytes()).is_err());
    }
}
