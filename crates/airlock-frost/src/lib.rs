//! FROST threshold keys for Bitcoin taproot vaults, with every round crossing the air gap as a
//! signed artifact: distributed key generation (no dealer), signing in one crossing from nonce
//! commitments handed over in advance, repair of a lost member's share by `t` helpers, and
//! proactive refresh that keeps the group key and makes old shares useless.
//!
//! The threshold cryptography is the Zcash Foundation's `frost-secp256k1-tr` (FROST(secp256k1,
//! SHA-256) with BIP-340/341 taproot tweaks) and nothing of it is written here. What is written
//! here, because no crate does it: the ceremony around it for devices that never talk to each
//! other directly — the roster and session every message is bound to ([`Roster`]), the signed
//! message format ([`wire`]), encryption of the secret packages to their recipient's identity
//! (they pass through the online coordinator), the signer's nonce store whose journal makes a
//! crash waste a nonce rather than reuse one ([`nonces`]), and the checks that name what is wrong.
//!
//! This crate is offline (the signer links it): it must never open a network connection, never
//! write a secret unencrypted (key shares and nonces are sealed with the keystore's Argon2id +
//! XChaCha20-Poly1305), never release a signature share before the nonce it uses is journaled as
//! used, and never accept a message it cannot attribute to exactly one member of its session.

pub mod derive;
pub mod dkg;
pub mod group;
pub mod nonces;
pub mod repair;
pub mod seal;
pub mod sign;
pub mod testkit;
pub mod wire;

pub use frost_secp256k1_tr as frost;

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

/// Largest group this crate runs a ceremony for.
pub const MAX_MEMBERS: u16 = 64;

/// What went wrong, naming the member or message concerned. Nothing is changed when one is
/// returned.
#[derive(Debug, thiserror::Error)]
pub enum FrostError {
    /// A message or input is malformed, for another session, or from someone it should not be.
    #[error("{0}")]
    Refused(String),
    /// A member sent something that fails its check (a wrong share, a bad proof): it is named.
    #[error("member {member} ({name}) cheated: {what}")]
    Cheater {
        member: u16,
        name: String,
        what: String,
    },
    /// Members were shown different messages of one round (a coordinator's split view).
    #[error("SPLIT VIEW: {0}")]
    SplitView(String),
    /// A nonce commitment that is unknown here or was already used.
    #[error("{0}")]
    Nonce(String),
    /// The threshold library refused.
    #[error("FROST: {0}")]
    Frost(String),
    #[error(transparent)]
    Custody(#[from] airlock_custody::CustodyError),
    #[error("{0}")]
    Io(String),
}

impl airlock_severity::Classify for FrostError {
    fn severity(&self) -> airlock_severity::Severity {
        match self {
            FrostError::Cheater { .. } | FrostError::SplitView(_) => {
                airlock_severity::Severity::Alarm
            }
            FrostError::Custody(e) => e.severity(),
            _ => airlock_severity::Severity::Refused,
        }
    }
}

impl From<frost::Error> for FrostError {
    fn from(e: frost::Error) -> Self {
        FrostError::Frost(e.to_string())
    }
}

pub type Result<T, E = FrostError> = std::result::Result<T, E>;

pub(crate) fn refused(what: impl Into<String>) -> FrostError {
    FrostError::Refused(what.into())
}

/// Who takes part in one ceremony (a key generation, a refresh, a repair) and how many of
/// them a signature needs. Each member has a number, its FROST identifier, kept for the life of
/// the group (a refresh that removes a member keeps the others' numbers). The session id, a
/// hash of everything here, is in every message, so a message of another ceremony or group is
/// refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roster {
    /// What this ceremony is (e.g. "cold-vault key generation 2027-01-15"); part of the session.
    pub label: String,
    pub threshold: u16,
    /// (number, name, identity key) of each member, numbers ascending.
    pub members: Vec<(u16, String, VerifyingKey)>,
}

impl Roster {
    /// A new group: members numbered 1..=n in the order listed.
    pub fn new(label: &str, threshold: u16, members: Vec<(String, VerifyingKey)>) -> Result<Self> {
        Self::numbered(
            label,
            threshold,
            members
                .into_iter()
                .enumerate()
                .map(|(i, (name, key))| (i as u16 + 1, name, key))
                .collect(),
        )
    }

    /// A ceremony of members with their numbers (a refresh of some of a group's members, a
    /// repair with a new device in a member's place).
    pub fn numbered(
        label: &str,
        threshold: u16,
        mut members: Vec<(u16, String, VerifyingKey)>,
    ) -> Result<Self> {
        members.sort_by_key(|(number, _, _)| *number);
        let n = members.len();
        if !(2..=usize::from(MAX_MEMBERS)).contains(&n) {
            return Err(refused(format!(
                "a FROST group needs 2 to {MAX_MEMBERS} members, not {n}"
            )));
        }
        if threshold < 2 || usize::from(threshold) > n {
            return Err(refused(format!(
                "threshold {threshold} must be between 2 and the {n} members"
            )));
        }
        for (i, (number, name, key)) in members.iter().enumerate() {
            if *number == 0 || *number > MAX_MEMBERS {
                return Err(refused(format!(
                    "member number {number} must be 1 to {MAX_MEMBERS}"
                )));
            }
            if name.is_empty() || name.len() > 64 {
                return Err(refused(format!("member {number} has no usable name")));
            }
            if members[..i]
                .iter()
                .any(|(m, n, k)| m == number || n == name || k == key)
            {
                return Err(refused(format!(
                    "member {name:?} is listed twice (same number, name or identity)"
                )));
            }
        }
        if label.is_empty() || label.len() > 200 {
            return Err(refused("the ceremony needs a label of 1 to 200 bytes"));
        }
        Ok(Roster {
            label: label.to_owned(),
            threshold,
            members,
        })
    }

    pub fn size(&self) -> u16 {
        self.members.len() as u16
    }

    /// The members' numbers, ascending.
    pub fn numbers(&self) -> impl Iterator<Item = u16> + '_ {
        self.members.iter().map(|(number, _, _)| *number)
    }

    /// The session id every message of this ceremony carries.
    pub fn session(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"airlock-frost-roster-v1\0");
        h.update((self.label.len() as u32).to_be_bytes());
        h.update(self.label.as_bytes());
        h.update(self.threshold.to_be_bytes());
        h.update(self.size().to_be_bytes());
        for (number, name, key) in &self.members {
            h.update(number.to_be_bytes());
            h.update((name.len() as u32).to_be_bytes());
            h.update(name.as_bytes());
            h.update(key.as_bytes());
        }
        h.finalize().into()
    }

    /// The member number of an identity key.
    pub fn member_of(&self, key: &VerifyingKey) -> Option<u16> {
        self.members
            .iter()
            .find(|(_, _, k)| k == key)
            .map(|(number, _, _)| *number)
    }

    fn member(&self, i: u16) -> Option<&(u16, String, VerifyingKey)> {
        self.members.iter().find(|(number, _, _)| *number == i)
    }

    /// The name of member `i`, for messages.
    pub fn name(&self, i: u16) -> String {
        self.member(i)
            .map(|(_, n, _)| n.clone())
            .unwrap_or_else(|| format!("#{i}"))
    }

    /// The roster as the file the coordinator hands every member (JSON; identities as hex).
    pub fn to_json(&self) -> String {
        let file = RosterFile {
            label: self.label.clone(),
            threshold: self.threshold,
            members: self
                .members
                .iter()
                .map(|(number, name, key)| RosterMember {
                    number: *number,
                    name: name.clone(),
                    identity: hex::encode(key.as_bytes()),
                })
                .collect(),
        };
        serde_json::to_string_pretty(&file).expect("a roster encodes") + "\n"
    }

    /// The roster for a person to compare across devices: label, threshold, session, and each
    /// member's number, name and identity, one per line.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "{:?}: {}-of-{}, session {}\n",
            self.label,
            self.threshold,
            self.size(),
            hex::encode(self.session())
        );
        for (n, name, key) in &self.members {
            out.push_str(&format!("  {n}. {name} {}\n", hex::encode(key.as_bytes())));
        }
        out
    }

    /// The roster as JSON output for scripts: label, session, threshold and members.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::json!({
            "label": self.label,
            "session": hex::encode(self.session()),
            "threshold": self.threshold,
            "members": self.members.iter().map(|(n, name, key)| serde_json::json!({
                "number": n, "name": name, "identity": hex::encode(key.as_bytes()),
            })).collect::<Vec<_>>(),
        })
    }

    /// Reads a roster file ([`Roster::to_json`]), with every check of [`Roster::numbered`].
    pub fn from_json(text: &str) -> Result<Roster> {
        let file: RosterFile = serde_json::from_str(text)
            .map_err(|e| refused(format!("not a FROST roster file: {e}")))?;
        let mut members = Vec::with_capacity(file.members.len());
        for m in file.members {
            let bytes: [u8; 32] = hex::decode(m.identity.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    refused(format!(
                        "member {:?}: the identity is not 32 bytes of hex",
                        m.name
                    ))
                })?;
            let key = VerifyingKey::from_bytes(&bytes).map_err(|_| {
                refused(format!(
                    "member {:?}: the identity is not an Ed25519 public key",
                    m.name
                ))
            })?;
            members.push((m.number, m.name, key));
        }
        Roster::numbered(&file.label, file.threshold, members)
    }

    pub(crate) fn key(&self, i: u16) -> Result<&VerifyingKey> {
        self.member(i)
            .map(|(_, _, k)| k)
            .ok_or_else(|| refused(format!("there is no member {i} in this ceremony")))
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterFile {
    label: String,
    threshold: u16,
    members: Vec<RosterMember>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterMember {
    number: u16,
    name: String,
    identity: String,
}

/// The FROST identifier of member number `i`.
pub fn identifier(i: u16) -> Result<frost::Identifier> {
    frost::Identifier::try_from(i).map_err(|e| refused(format!("member {i}: {e}")))
}

/// The member number of a FROST identifier this crate made.
pub fn member_number(id: &frost::Identifier, roster: &Roster) -> Option<u16> {
    roster
        .numbers()
        .find(|i| identifier(*i).is_ok_and(|x| x == *id))
}

/// The group's BIP-340 x-only public key (the taproot internal key), hex.
pub fn group_key_hex(public: &frost::keys::PublicKeyPackage) -> Result<String> {
    let bytes = public.verifying_key().serialize()?;
    // Compressed SEC1: 0x02/0x03 then x. The ciphersuite keeps the group key with even y.
    Ok(hex::encode(&bytes[1..]))
}
