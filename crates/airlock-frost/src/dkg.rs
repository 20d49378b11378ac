//! Key generation without a dealer (FROST's Pedersen DKG), and proactive refresh (the same two
//! rounds over a zero secret), as signed messages relayed by the coordinator.
//!
//! Round 1: each member publishes its commitment and proof of knowledge. Round 2: from everyone
//! else's round 1, each member makes one secret share per other member, encrypted to it. Finish:
//! from the round-2 shares addressed to it, each member derives its key package and the group's
//! public key package; every member shows the same group key. Refresh ends with a new key
//! package for the same group key; shares from before no longer combine with the new ones.
//!
//! This module must never accept a round message of another session, a duplicate, one addressed
//! to someone else, or a set that lacks a member; and never return a key share that the
//! threshold library did not verify.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::frost::keys::dkg::{round1, round2};
use crate::frost::keys::{KeyPackage, PublicKeyPackage};
use crate::wire::{Kind, Message};
use crate::{FrostError, Result, Roster, identifier, member_number, refused, seal};

/// Which two-round ceremony.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ceremony {
    KeyGeneration,
    Refresh,
}

impl Ceremony {
    fn kinds(self) -> (Kind, Kind) {
        match self {
            Ceremony::KeyGeneration => (Kind::DkgRound1, Kind::DkgRound2),
            Ceremony::Refresh => (Kind::RefreshRound1, Kind::RefreshRound2),
        }
    }
}

/// A member's secret state between round 1 and round 2 (seal it: [`Round1State::to_bytes`]).
pub struct Round1State {
    pub me: u16,
    secret: round1::SecretPackage,
}

/// A member's secret state between round 2 and the end.
pub struct Round2State {
    pub me: u16,
    secret: round2::SecretPackage,
    round1: BTreeMap<crate::frost::Identifier, round1::Package>,
    /// The hash of the round-1 messages this member answered ([`round1_transcript`]).
    transcript: [u8; 32],
}

/// SHA-256 over every member's round-1 message, in member order: what each round-2 message
/// carries in clear (under its sender's signature), so that a member whose round-1 set differs
/// from another's — a coordinator relaying different messages to different members — is
/// found at the end, before any share is kept, instead of ending with another group key.
fn round1_transcript(roster: &Roster, me: u16, messages: &[Message]) -> Result<[u8; 32]> {
    let mut ordered: Vec<&Message> = messages.iter().collect();
    ordered.sort_by_key(|m| m.from);
    if !ordered.iter().any(|m| m.from == me) {
        return Err(refused(
            "the round-1 set lacks this member's own message: the relay must hold every member's",
        ));
    }
    let mut h = Sha256::new();
    h.update(b"airlock-frost-round1-transcript-v1\0");
    h.update(roster.session());
    for m in ordered {
        let bytes = m.to_bytes();
        h.update((bytes.len() as u32).to_be_bytes());
        h.update(&bytes);
    }
    Ok(h.finalize().into())
}

/// A member's key share: its key package, the group's public key package, and the roster.
#[derive(Clone)]
pub struct KeyShare {
    pub roster: Roster,
    pub me: u16,
    pub key: KeyPackage,
    pub public: PublicKeyPackage,
}

impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyShare {{ member: {}, group: {}, secret: <redacted> }}",
            self.me,
            self.group_key_hex().unwrap_or_default()
        )
    }
}

fn me_in(roster: &Roster, key: &SigningKey) -> Result<u16> {
    roster
        .member_of(&key.verifying_key())
        .ok_or_else(|| refused("this identity is not a member of the ceremony's roster"))
}

/// Names the culprits of a threshold-library error, when it has any.
pub(crate) fn blame(roster: &Roster, e: crate::frost::Error, what: &str) -> FrostError {
    match e.culprits().first().and_then(|c| member_number(c, roster)) {
        Some(member) => FrostError::Cheater {
            member,
            name: roster.name(member),
            what: format!("{what}: {e}"),
        },
        None => FrostError::Frost(format!("{what}: {e}")),
    }
}

/// Round 1: the member's secret state and its public round-1 message.
pub fn round1(
    roster: &Roster,
    identity: &SigningKey,
    ceremony: Ceremony,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Round1State, Message)> {
    let me = me_in(roster, identity)?;
    let id = identifier(me)?;
    let (secret, package) = match ceremony {
        Ceremony::KeyGeneration => {
            crate::frost::keys::dkg::part1(id, roster.size(), roster.threshold, &mut *rng)?
        }
        Ceremony::Refresh => crate::frost::keys::refresh::refresh_dkg_part1(
            id,
            roster.size(),
            roster.threshold,
            &mut *rng,
        )?,
    };
    let message = Message::sign(
        ceremony.kinds().0,
        roster.session(),
        me,
        0,
        package.serialize()?,
        identity,
    )?;
    Ok((Round1State { me, secret }, message))
}

/// Every other member's round-1 package, checked: one message from each, of this session.
fn round1_packages(
    roster: &Roster,
    me: u16,
    kind: Kind,
    messages: &[Message],
) -> Result<BTreeMap<crate::frost::Identifier, round1::Package>> {
    let mut out = BTreeMap::new();
    for m in messages {
        m.verify(roster, kind, None)?;
        if m.from == me {
            continue;
        }
        let package = round1::Package::deserialize(&m.body).map_err(|e| FrostError::Cheater {
            member: m.from,
            name: roster.name(m.from),
            what: format!("its {} package does not decode: {e}", kind.name()),
        })?;
        if out.insert(identifier(m.from)?, package).is_some() {
            return Err(refused(format!(
                "two {} messages from member {} ({})",
                kind.name(),
                m.from,
                roster.name(m.from)
            )));
        }
    }
    let missing: Vec<String> = roster
        .numbers()
        .filter(|i| *i != me)
        .filter(|i| identifier(*i).is_ok_and(|id| !out.contains_key(&id)))
        .map(|i| format!("{i} ({})", roster.name(i)))
        .collect();
    if !missing.is_empty() {
        return Err(refused(format!(
            "{} from member(s) {} missing",
            kind.name(),
            missing.join(", ")
        )));
    }
    Ok(out)
}

/// Round 2: from every member's round-1 message, one encrypted share per other member.
pub fn round2(
    roster: &Roster,
    identity: &SigningKey,
    state: Round1State,
    round1_messages: &[Message],
    ceremony: Ceremony,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Round2State, Vec<Message>)> {
    let me = me_in(roster, identity)?;
    if me != state.me {
        return Err(refused("the round-1 state is another member's"));
    }
    let (kind1, kind2) = ceremony.kinds();
    let packages = round1_packages(roster, me, kind1, round1_messages)?;
    let transcript = round1_transcript(roster, me, round1_messages)?;
    let (secret, shares) = match ceremony {
        Ceremony::KeyGeneration => crate::frost::keys::dkg::part2(state.secret, &packages),
        Ceremony::Refresh => {
            crate::frost::keys::refresh::refresh_dkg_part2(state.secret, &packages)
        }
    }
    .map_err(|e| blame(roster, e, "a round-1 proof of knowledge does not verify"))?;
    let mut out = Vec::new();
    for (id, share) in shares {
        let to = member_number(&id, roster)
            .ok_or_else(|| refused("the library made a share for a stranger"))?;
        let plain = Zeroizing::new(share.serialize()?);
        let mut body = transcript.to_vec();
        body.extend(seal::encrypt_to(identity, roster.key(to)?, &plain, rng)?);
        out.push(Message::sign(
            kind2,
            roster.session(),
            me,
            to,
            body,
            identity,
        )?);
    }
    Ok((
        Round2State {
            me,
            secret,
            round1: packages,
            transcript,
        },
        out,
    ))
}

/// The end: this member's key share from the round-2 messages addressed to it (others in
/// `round2_messages` are skipped). A refresh needs the member's current share.
pub fn finish(
    roster: &Roster,
    identity: &SigningKey,
    state: Round2State,
    round2_messages: &[Message],
    refresh_of: Option<&KeyShare>,
) -> Result<KeyShare> {
    let me = me_in(roster, identity)?;
    if me != state.me {
        return Err(refused("the round-2 state is another member's"));
    }
    let ceremony = if refresh_of.is_some() {
        Ceremony::Refresh
    } else {
        Ceremony::KeyGeneration
    };
    let kind2 = ceremony.kinds().1;
    let mut packages = BTreeMap::new();
    for m in round2_messages {
        m.verify(roster, kind2, None)?;
        if m.to != me {
            continue;
        }
        if m.from == me {
            return Err(refused("a round-2 message from this member to itself"));
        }
        if m.body.len() < 32 {
            return Err(refused(format!(
                "the {} message from member {} is truncated",
                kind2.name(),
                m.from
            )));
        }
        if m.body[..32] != state.transcript {
            return Err(FrostError::SplitView(format!(
                "member {} ({}) answered other round-1 messages than this member did: the coordinator relayed different round-1 sets to different members; nothing is kept",
                m.from,
                roster.name(m.from)
            )));
        }
        let plain = seal::decrypt_from(identity, roster.key(m.from)?, &m.body[32..])?;
        let package = round2::Package::deserialize(&plain).map_err(|e| FrostError::Cheater {
            member: m.from,
            name: roster.name(m.from),
            what: format!("its {} package does not decode: {e}", kind2.name()),
        })?;
        if packages.insert(identifier(m.from)?, package).is_some() {
            return Err(refused(format!(
                "two {} messages from member {} ({}) for this member",
                kind2.name(),
                m.from,
                roster.name(m.from)
            )));
        }
    }
    if packages.len() + 1 != usize::from(roster.size()) {
        return Err(refused(format!(
            "{} of the {} {} shares for this member are here",
            packages.len(),
            roster.size() - 1,
            kind2.name()
        )));
    }
    let (key, public) = match refresh_of {
        None => crate::frost::keys::dkg::part3(&state.secret, &state.round1, &packages),
        Some(old) => {
            // A refresh keeps the threshold and some or all of the members, each with its number
            // and identity; leaving one out removes it from the group.
            let kept = roster.members.iter().all(|m| old.roster.members.contains(m));
            if !kept || old.me != me || old.roster.threshold != roster.threshold {
                return Err(refused(
                    "a refresh keeps the group's threshold and members (some may be left out): this share is of another group or member",
                ));
            }
            crate::frost::keys::refresh::refresh_dkg_shares(
                &state.secret,
                &state.round1,
                &packages,
                old.public.clone(),
                old.key.clone(),
            )
        }
    }
    .map_err(|e| {
        blame(
            roster,
            e,
            "a secret share does not match its sender's commitment",
        )
    })?;
    if let Some(old) = refresh_of
        && old.public.verifying_key() != public.verifying_key()
    {
        return Err(refused(
            "the refresh changed the group key; nothing is kept",
        ));
    }
    Ok(KeyShare {
        roster: roster.clone(),
        me,
        key,
        public,
    })
}

// ----- at-rest encodings ----------------------------------------------------------------------

pub(crate) struct Writer(pub Zeroizing<Vec<u8>>);

impl Writer {
    pub fn new(magic: &[u8]) -> Self {
        Writer(Zeroizing::new(magic.to_vec()))
    }
    pub fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
    }
}

pub(crate) struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    pub fn open(bytes: &'a [u8], magic: &[u8], what: &str) -> Result<Self> {
        bytes
            .strip_prefix(magic)
            .map(Reader)
            .ok_or_else(|| refused(format!("not {what}")))
    }
    pub fn u16(&mut self) -> Result<u16> {
        if self.0.len() < 2 {
            return Err(refused("truncated state"));
        }
        let v = u16::from_be_bytes([self.0[0], self.0[1]]);
        self.0 = &self.0[2..];
        Ok(v)
    }
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        if self.0.len() < 4 {
            return Err(refused("truncated state"));
        }
        let n = u32::from_be_bytes(self.0[..4].try_into().expect("4 bytes")) as usize;
        if self.0.len() < 4 + n {
            return Err(refused("truncated state"));
        }
        let out = &self.0[4..4 + n];
        self.0 = &self.0[4 + n..];
        Ok(out)
    }
    pub fn end(&self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(refused("trailing bytes after the state"))
        }
    }
}

fn write_roster(w: &mut Writer, roster: &Roster) {
    w.bytes(roster.label.as_bytes());
    w.u16(roster.threshold);
    w.u16(roster.size());
    for (number, name, key) in &roster.members {
        w.u16(*number);
        w.bytes(name.as_bytes());
        w.bytes(key.as_bytes());
    }
}

fn read_roster(r: &mut Reader) -> Result<Roster> {
    let label = String::from_utf8(r.bytes()?.to_vec()).map_err(|_| refused("bad label"))?;
    let threshold = r.u16()?;
    let n = r.u16()?;
    let mut members = Vec::new();
    for _ in 0..n.min(crate::MAX_MEMBERS) {
        let number = r.u16()?;
        let name = String::from_utf8(r.bytes()?.to_vec()).map_err(|_| refused("bad name"))?;
        let key: [u8; 32] = r
            .bytes()?
            .try_into()
            .map_err(|_| refused("bad identity key"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
            .map_err(|_| refused("bad identity key"))?;
        members.push((number, name, key));
    }
    Roster::numbered(&label, threshold, members)
}

const KEY_MAGIC: &[u8] = b"airlock-frost-key-share-v1\n";
const ROUND1_MAGIC: &[u8] = b"airlock-frost-round1-state-v1\n";
const ROUND2_MAGIC: &[u8] = b"airlock-frost-round2-state-v2\n";

impl KeyShare {
    /// The plain encoding (seal it before it touches a disk).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let mut w = Writer::new(KEY_MAGIC);
        write_roster(&mut w, &self.roster);
        w.u16(self.me);
        w.bytes(&Zeroizing::new(self.key.serialize()?));
        w.bytes(&self.public.serialize()?);
        Ok(w.0)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<KeyShare> {
        let mut r = Reader::open(bytes, KEY_MAGIC, "a FROST key share")?;
        let roster = read_roster(&mut r)?;
        let me = r.u16()?;
        let key = KeyPackage::deserialize(r.bytes()?)?;
        let public = PublicKeyPackage::deserialize(r.bytes()?)?;
        r.end()?;
        if key.identifier() != &identifier(me)? {
            return Err(refused("the key share's identifier is not its member's"));
        }
        Ok(KeyShare {
            roster,
            me,
            key,
            public,
        })
    }

    /// The group's x-only key (the taproot internal key), hex.
    pub fn group_key_hex(&self) -> Result<String> {
        crate::group_key_hex(&self.public)
    }
}

impl Round1State {
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let mut w = Writer::new(ROUND1_MAGIC);
        w.u16(self.me);
        w.bytes(&Zeroizing::new(self.secret.serialize()?));
        Ok(w.0)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Round1State> {
        let mut r = Reader::open(bytes, ROUND1_MAGIC, "a FROST round-1 state")?;
        let me = r.u16()?;
        let secret = round1::SecretPackage::deserialize(r.bytes()?)?;
        r.end()?;
        Ok(Round1State { me, secret })
    }
}

impl Round2State {
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let mut w = Writer::new(ROUND2_MAGIC);
        w.u16(self.me);
        w.bytes(&Zeroizing::new(self.secret.serialize()?));
        w.u16(self.round1.len() as u16);
        for (id, package) in &self.round1 {
            w.bytes(&id.serialize());
            w.bytes(&package.serialize()?);
        }
        w.bytes(&self.transcript);
        Ok(w.0)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Round2State> {
        let mut r = Reader::open(bytes, ROUND2_MAGIC, "a FROST round-2 state")?;
        let me = r.u16()?;
        let secret = round2::SecretPackage::deserialize(r.bytes()?)?;
        let n = r.u16()?;
        let mut round1 = BTreeMap::new();
        for _ in 0..n.min(crate::MAX_MEMBERS) {
            let id = crate::frost::Identifier::deserialize(r.bytes()?)?;
            round1.insert(id, round1::Package::deserialize(r.bytes()?)?);
        }
        let transcript = r
            .bytes()?
            .try_into()
            .map_err(|_| refused("a FROST round-2 state's transcript is not 32 bytes"))?;
        r.end()?;
        Ok(Round2State {
            me,
            secret,
            round1,
            transcript,
        })
    }
}
