//! The signed message every FROST round crosses the air gap as:
//!
//! ```text
//! "AIRLOCK-FROST/1\n" | kind u8 | session [32] | from u16 | to u16 (0: everyone) |
//! body length u32 | body | Ed25519 signature [64] by `from`'s identity
//! ```
//!
//! Integers are big-endian; the signature covers a domain string and every byte before it.
//! Decoding is total: exact lengths, a known kind, a bounded body, no trailing bytes. Whether
//! the sender is who it claims is checked against a [`Roster`] ([`Message::verify`]).
//!
//! This module must never hand out a message body before its signature and session are checked.

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _};

use crate::{Result, Roster, refused};

const MAGIC: &[u8; 16] = b"AIRLOCK-FROST/1\n";
const DOMAIN: &[u8] = b"airlock-frost-message-v1\0";
/// Largest body: a batch of 1,000 nonce commitments is ~70 kB, a 1,000-input share set ~40 kB.
pub const MAX_BODY: usize = 1 << 20;
const HEADER: usize = 16 + 1 + 32 + 2 + 2 + 4;

/// What a message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Key generation round 1: the member's commitment and proof of knowledge (public).
    DkgRound1 = 1,
    /// Key generation round 2: a secret share for one member, encrypted to it.
    DkgRound2 = 2,
    /// A batch of nonce commitments a signer hands over in advance.
    Commitments = 3,
    /// Signature shares for every input of one proposal.
    Shares = 4,
    /// Repair: a helper's delta for another helper, encrypted to it.
    RepairDelta = 5,
    /// Repair: a helper's sum of deltas for the member being repaired, encrypted to its new
    /// device.
    RepairSigma = 6,
    /// Refresh round 1 (public) and round 2 (encrypted), as key generation's.
    RefreshRound1 = 7,
    RefreshRound2 = 8,
    /// A repaired member's proof, made with its new share and signed by its new identity, that
    /// it holds the share of its number (for members who did not help the repair).
    MemberProof = 9,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        [
            Kind::DkgRound1,
            Kind::DkgRound2,
            Kind::Commitments,
            Kind::Shares,
            Kind::RepairDelta,
            Kind::RepairSigma,
            Kind::RefreshRound1,
            Kind::RefreshRound2,
            Kind::MemberProof,
        ]
        .into_iter()
        .find(|k| *k as u8 == b)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::DkgRound1 => "key generation round 1",
            Kind::DkgRound2 => "key generation round 2",
            Kind::Commitments => "nonce commitments",
            Kind::Shares => "signature shares",
            Kind::RepairDelta => "repair delta",
            Kind::RepairSigma => "repair sigma",
            Kind::RefreshRound1 => "refresh round 1",
            Kind::RefreshRound2 => "refresh round 2",
            Kind::MemberProof => "member proof",
        }
    }
}

/// One signed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub session: [u8; 32],
    pub from: u16,
    /// The one member it is for; 0 when it is for everyone.
    pub to: u16,
    pub body: Vec<u8>,
    signature: [u8; 64],
}

impl Message {
    /// Makes and signs a message.
    pub fn sign(
        kind: Kind,
        session: [u8; 32],
        from: u16,
        to: u16,
        body: Vec<u8>,
        key: &SigningKey,
    ) -> Result<Message> {
        if body.len() > MAX_BODY {
            return Err(refused(format!(
                "a {} body of {} bytes is over the {MAX_BODY}-byte limit",
                kind.name(),
                body.len()
            )));
        }
        let mut m = Message {
            kind,
            session,
            from,
            to,
            body,
            signature: [0; 64],
        };
        m.signature = key.sign(&m.signed_bytes()).to_bytes();
        Ok(m)
    }

    fn unsigned(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.body.len() + 64);
        out.extend_from_slice(MAGIC);
        out.push(self.kind as u8);
        out.extend_from_slice(&self.session);
        out.extend_from_slice(&self.from.to_be_bytes());
        out.extend_from_slice(&self.to.to_be_bytes());
        out.extend_from_slice(&(self.body.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut out = DOMAIN.to_vec();
        out.extend_from_slice(&self.unsigned());
        out
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.unsigned();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes a message; its signature is checked by [`Message::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Message> {
        if bytes.len() < HEADER + 64 {
            return Err(refused(format!(
                "a FROST message is at least {} bytes; this one is {}",
                HEADER + 64,
                bytes.len()
            )));
        }
        if &bytes[..16] != MAGIC {
            return Err(refused("not an Airlock FROST message (bad magic)"));
        }
        let kind = Kind::from_u8(bytes[16])
            .ok_or_else(|| refused(format!("unknown FROST message kind {}", bytes[16])))?;
        let session: [u8; 32] = bytes[17..49].try_into().expect("32 bytes");
        let from = u16::from_be_bytes([bytes[49], bytes[50]]);
        let to = u16::from_be_bytes([bytes[51], bytes[52]]);
        let len = u32::from_be_bytes(bytes[53..57].try_into().expect("4 bytes")) as usize;
        if len > MAX_BODY {
            return Err(refused(format!(
                "the body length {len} is over the {MAX_BODY}-byte limit"
            )));
        }
        if bytes.len() != HEADER + len + 64 {
            return Err(refused(format!(
                "the message is {} bytes; its header says {}",
                bytes.len(),
                HEADER + len + 64
            )));
        }
        let body = bytes[HEADER..HEADER + len].to_vec();
        let signature: [u8; 64] = bytes[HEADER + len..].try_into().expect("64 bytes");
        Ok(Message {
            kind,
            session,
            from,
            to,
            body,
            signature,
        })
    }

    /// Checks that the message is of `kind` and signed by `key`, whatever its session: for a
    /// coordinator that knows a member's identity from a vault definition, not the ceremony's
    /// roster (the message's `from` must still be checked against that member's number).
    pub fn verify_by(&self, key: &ed25519_dalek::VerifyingKey, kind: Kind) -> Result<()> {
        if self.kind != kind {
            return Err(refused(format!(
                "expected a {} message, got a {} message",
                kind.name(),
                self.kind.name()
            )));
        }
        key.verify(&self.signed_bytes(), &Signature::from_bytes(&self.signature))
            .map_err(|_| {
                refused(format!(
                    "the {} message from member {} is not signed by that member's identity: it was altered or forged",
                    kind.name(),
                    self.from
                ))
            })
    }

    /// Checks that the message is of `kind`, of `roster`'s session, from a member of it and
    /// signed by that member's identity, and (when `me` is given) for `me` or everyone.
    pub fn verify(&self, roster: &Roster, kind: Kind, me: Option<u16>) -> Result<()> {
        if self.kind != kind {
            return Err(refused(format!(
                "expected a {} message, got a {} message",
                kind.name(),
                self.kind.name()
            )));
        }
        if self.session != roster.session() {
            return Err(refused(format!(
                "a {} message from member {} is for another ceremony (session {}…, this one {}…)",
                kind.name(),
                self.from,
                hex::encode(&self.session[..6]),
                hex::encode(&roster.session()[..6])
            )));
        }
        let key = roster.key(self.from)?;
        key.verify(&self.signed_bytes(), &Signature::from_bytes(&self.signature))
            .map_err(|_| {
                refused(format!(
                    "the {} message from member {} ({}) is not signed by its identity: it was altered or forged",
                    kind.name(),
                    self.from,
                    roster.name(self.from)
                ))
            })?;
        if let Some(me) = me
            && self.to != 0
            && self.to != me
        {
            return Err(refused(format!(
                "the {} message from member {} is for member {} ({}), not for this member ({me})",
                kind.name(),
                self.from,
                self.to,
                roster.name(self.to)
            )));
        }
        Ok(())
    }
}

/// Writes messages as one file: a count, then each message with its length (all u32 big-endian).
pub fn bundle(messages: &[Message]) -> Vec<u8> {
    let mut out = b"AIRLOCK-FROST-SET/1\n".to_vec();
    out.extend_from_slice(&(messages.len() as u32).to_be_bytes());
    for m in messages {
        let bytes = m.to_bytes();
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

/// Reads a file of messages ([`bundle`]); at most 4,096 messages.
pub fn unbundle(bytes: &[u8]) -> Result<Vec<Message>> {
    let magic = b"AIRLOCK-FROST-SET/1\n";
    let rest = bytes
        .strip_prefix(magic.as_slice())
        .ok_or_else(|| refused("not a file of Airlock FROST messages (bad magic)"))?;
    let take = |rest: &mut &[u8]| -> Result<u32> {
        if rest.len() < 4 {
            return Err(refused("the file of FROST messages is truncated"));
        }
        let v = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes"));
        *rest = &rest[4..];
        Ok(v)
    };
    let mut rest = rest;
    let count = take(&mut rest)?;
    if count > 4096 {
        return Err(refused(format!(
            "{count} messages in one file is over the 4096 limit"
        )));
    }
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        let len = take(&mut rest)? as usize;
        if rest.len() < len {
            return Err(refused(format!(
                "message {} of the file is truncated",
                i + 1
            )));
        }
        out.push(Message::from_bytes(&rest[..len])?);
        rest = &rest[len..];
    }
    if !rest.is_empty() {
        return Err(refused(format!(
            "{} bytes follow the last message",
            rest.len()
        )));
    }
    Ok(out)
}

/// The coordinator's relay of one round: every message checked against the roster (signed by
/// its member, of this session), all of one kind, none twice; for the rounds of key generation
/// and refresh, none missing (every member's round 1; a round-2 package from every member to
/// every other). Returns the round's kind and the messages in order, ready to [`bundle`].
pub fn relay(roster: &Roster, mut messages: Vec<Message>) -> Result<(Kind, Vec<Message>)> {
    let kind = messages
        .first()
        .ok_or_else(|| refused("no messages to relay"))?
        .kind;
    let mut seen = std::collections::BTreeSet::new();
    for m in &messages {
        m.verify(roster, kind, None)?;
        if m.to != 0 && roster.key(m.to).is_err() {
            return Err(refused(format!(
                "the {} message from member {} is for member {}, who is not in the roster",
                kind.name(),
                m.from,
                m.to
            )));
        }
        if !seen.insert((m.from, m.to)) {
            return Err(refused(format!(
                "two {} messages from member {} ({}){}",
                kind.name(),
                m.from,
                roster.name(m.from),
                if m.to == 0 {
                    String::new()
                } else {
                    format!(" to member {}", m.to)
                }
            )));
        }
    }
    let expected: Vec<(u16, u16)> = match kind {
        Kind::DkgRound1 | Kind::RefreshRound1 => roster.numbers().map(|m| (m, 0)).collect(),
        Kind::DkgRound2 | Kind::RefreshRound2 => roster
            .numbers()
            .flat_map(|from| {
                roster
                    .numbers()
                    .filter(move |to| *to != from)
                    .map(move |to| (from, to))
            })
            .collect(),
        _ => Vec::new(),
    };
    let missing: Vec<String> = expected
        .iter()
        .filter(|pair| !seen.contains(pair))
        .map(|(from, to)| {
            if *to == 0 {
                format!("{} ({from})", roster.name(*from))
            } else {
                format!(
                    "{} ({from}) to {} ({to})",
                    roster.name(*from),
                    roster.name(*to)
                )
            }
        })
        .collect();
    if !missing.is_empty() {
        return Err(refused(format!(
            "the {} is incomplete; missing: {}",
            kind.name(),
            missing.join(", ")
        )));
    }
    messages.sort_by_key(|m| (m.from, m.to));
    Ok((kind, messages))
}
