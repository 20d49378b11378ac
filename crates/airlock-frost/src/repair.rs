//! Repair of a lost member's share (FROST's repairable threshold scheme): `t` helpers, none of
//! whom learns anything of the lost share, give the lost member's new device a key package for
//! its old identifier, so the group key, the vault's address and the other shares stay as they
//! are. No device ever holds the group secret.
//!
//! Crossing 1: each helper makes one delta per helper (itself included) and sends each to its
//! helper, encrypted ([`Kind::RepairDelta`]). Crossing 2: each helper sums the deltas addressed
//! to it into a sigma and sends it to the new device, encrypted ([`Kind::RepairSigma`]), with the
//! group's public key package beside it (the new device has nothing of the group yet). The new
//! device combines the sigmas, with the public key package every helper sent — they must all
//! send the same one, so a coordinator cannot give it another group's. The roster of a repair lists
//! the helpers' identities and the new device's identity in the lost member's place.
//!
//! This module must never run with fewer than the threshold of helpers, accept a delta or sigma
//! from someone who is not a helper of this repair, or return a key package that does not match
//! the group's verifying share for the lost member.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::dkg::{KeyShare, Reader, Writer};
use crate::frost::keys::PublicKeyPackage;
use crate::frost::keys::repairable::{Delta, Sigma};
use crate::wire::{Kind, Message};
use crate::{Result, Roster, identifier, refused, seal};

fn check_helpers(roster: &Roster, helpers: &[u16], lost: u16) -> Result<()> {
    if helpers.len() < usize::from(roster.threshold) {
        return Err(refused(format!(
            "a repair needs {} helpers (the threshold); {} named",
            roster.threshold,
            helpers.len()
        )));
    }
    for (i, h) in helpers.iter().enumerate() {
        roster.key(*h)?;
        if *h == lost {
            return Err(refused("the lost member cannot help repair itself"));
        }
        if helpers[..i].contains(h) {
            return Err(refused(format!("helper {h} is named twice")));
        }
    }
    roster.key(lost)?;
    Ok(())
}

/// Crossing 1, on helper `share.me`: one encrypted delta for each helper.
pub fn deltas(
    roster: &Roster,
    share: &KeyShare,
    identity: &SigningKey,
    helpers: &[u16],
    lost: u16,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<Message>> {
    check_helpers(roster, helpers, lost)?;
    if !helpers.contains(&share.me) {
        return Err(refused("this member is not one of the repair's helpers"));
    }
    if roster.key(share.me)? != &identity.verifying_key() {
        return Err(refused("this identity is not the helper the roster lists"));
    }
    let ids = helpers
        .iter()
        .map(|h| identifier(*h))
        .collect::<Result<Vec<_>>>()?;
    let deltas = crate::frost::keys::repairable::repair_share_part1::<
        crate::frost::Secp256K1Sha256TR,
        _,
    >(&ids, &share.key, rng, identifier(lost)?)?;
    let mut out = Vec::new();
    for h in helpers {
        let delta = deltas
            .get(&identifier(*h)?)
            .ok_or_else(|| refused("the library made no delta for a helper"))?;
        let plain = Zeroizing::new(delta.serialize());
        let body = seal::encrypt_to(identity, roster.key(*h)?, &plain, rng)?;
        out.push(Message::sign(
            Kind::RepairDelta,
            roster.session(),
            share.me,
            *h,
            body,
            identity,
        )?);
    }
    Ok(out)
}

const SIGMA_MAGIC: &[u8] = b"airlock-frost-sigma-v1\n";

/// Crossing 2, on helper `me`: the sum of the deltas addressed to it and the group's public key
/// package, encrypted to the new device (the roster's member `lost`).
#[allow(clippy::too_many_arguments)]
pub fn sigma(
    roster: &Roster,
    identity: &SigningKey,
    public: &PublicKeyPackage,
    helpers: &[u16],
    lost: u16,
    messages: &[Message],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Message> {
    check_helpers(roster, helpers, lost)?;
    let me = roster
        .member_of(&identity.verifying_key())
        .filter(|m| helpers.contains(m))
        .ok_or_else(|| refused("this identity is not one of the repair's helpers"))?;
    let mut got = BTreeMap::new();
    for m in messages {
        m.verify(roster, Kind::RepairDelta, None)?;
        if m.to != me {
            continue;
        }
        if !helpers.contains(&m.from) {
            return Err(refused(format!(
                "a repair delta from member {} ({}), who is not a helper",
                m.from,
                roster.name(m.from)
            )));
        }
        let plain = seal::decrypt_from(identity, roster.key(m.from)?, &m.body)?;
        let delta = Delta::deserialize(&plain)?;
        if got.insert(m.from, delta).is_some() {
            return Err(refused(format!("two repair deltas from member {}", m.from)));
        }
    }
    if got.len() != helpers.len() {
        return Err(refused(format!(
            "{} of the {} helpers' deltas for this helper are here",
            got.len(),
            helpers.len()
        )));
    }
    let deltas: Vec<Delta> = got.into_values().collect();
    let sigma = crate::frost::keys::repairable::repair_share_part2(&deltas);
    let mut w = Writer::new(SIGMA_MAGIC);
    w.bytes(&sigma.serialize());
    w.bytes(&public.serialize()?);
    let plain = Zeroizing::new(w.0.to_vec());
    let body = seal::encrypt_to(identity, roster.key(lost)?, &plain, rng)?;
    Message::sign(
        Kind::RepairSigma,
        roster.session(),
        me,
        lost,
        body,
        identity,
    )
}

/// The one public key package every helper sent, or an error naming who sent which group.
fn agreed_public_package(
    roster: &Roster,
    packages: Vec<(u16, PublicKeyPackage)>,
) -> Result<PublicKeyPackage> {
    let mut groups: Vec<(PublicKeyPackage, Vec<String>)> = Vec::new();
    for (from, package) in packages {
        let who = format!("{} ({from})", roster.name(from));
        match groups.iter_mut().find(|(p, _)| *p == package) {
            Some((_, names)) => names.push(who),
            None => groups.push((package, vec![who])),
        }
    }
    match groups.len() {
        0 => Err(refused("no repair sigma for this member")),
        1 => Ok(groups.remove(0).0),
        _ => Err(refused(format!(
            "the helpers do not agree on the group's public key package: {}",
            groups
                .iter()
                .map(|(p, names)| format!(
                    "{} sent group {}",
                    names.join(", "),
                    crate::group_key_hex(p).unwrap_or_else(|_| "?".into())
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
    }
}

/// On the new device (the roster's member `lost`): its key package from the helpers' sigmas,
/// checked against the group's verifying share for it in the public key package every helper
/// sent (they must agree).
pub fn combine(
    roster: &Roster,
    identity: &SigningKey,
    helpers: &[u16],
    lost: u16,
    messages: &[Message],
) -> Result<KeyShare> {
    check_helpers(roster, helpers, lost)?;
    if roster.member_of(&identity.verifying_key()) != Some(lost) {
        return Err(refused(
            "this identity is not the repaired member's new device in the roster",
        ));
    }
    let mut got = BTreeMap::new();
    let mut packages: Vec<(u16, PublicKeyPackage)> = Vec::new();
    for m in messages {
        m.verify(roster, Kind::RepairSigma, Some(lost))?;
        if !helpers.contains(&m.from) {
            return Err(refused(format!(
                "a repair sigma from member {} ({}), who is not a helper",
                m.from,
                roster.name(m.from)
            )));
        }
        let plain = seal::decrypt_from(identity, roster.key(m.from)?, &m.body)?;
        let mut r = Reader::open(&plain, SIGMA_MAGIC, "a repair sigma")?;
        let sigma = Sigma::deserialize(r.bytes()?)?;
        let package = PublicKeyPackage::deserialize(r.bytes()?)?;
        r.end()?;
        packages.push((m.from, package));
        if got.insert(m.from, sigma).is_some() {
            return Err(refused(format!("two repair sigmas from member {}", m.from)));
        }
    }
    if got.len() != helpers.len() {
        return Err(refused(format!(
            "{} of the {} helpers' sigmas are here",
            got.len(),
            helpers.len()
        )));
    }
    let public = agreed_public_package(roster, packages)?;
    if public.min_signers() != Some(roster.threshold) {
        return Err(refused(format!(
            "the helpers' group needs {:?} signers; this repair's roster says {}",
            public.min_signers(),
            roster.threshold
        )));
    }
    let sigmas: Vec<Sigma> = got.into_values().collect();
    let key =
        crate::frost::keys::repairable::repair_share_part3(&sigmas, identifier(lost)?, &public)?;
    let expected = public.verifying_shares().get(&identifier(lost)?);
    if expected != Some(key.verifying_share()) {
        return Err(refused(
            "the repaired share does not match the group's verifying share for this member: a helper sent a wrong sigma",
        ));
    }
    Ok(KeyShare {
        roster: roster.clone(),
        me: lost,
        key,
        public,
    })
}

const PROOF_DOMAIN: &[u8] = b"airlock-frost-member-proof-v1\0";

fn proof_message(roster: &Roster, member: u16) -> Result<Vec<u8>> {
    let mut m = PROOF_DOMAIN.to_vec();
    m.extend_from_slice(&roster.session());
    m.extend_from_slice(&member.to_be_bytes());
    m.extend_from_slice(roster.key(member)?.as_bytes());
    Ok(m)
}

/// On a repaired member's new device: a Schnorr signature with its new share over the repair's
/// session, its number and its new identity, in a message signed by that identity. Members who
/// did not help the repair check it ([`check_membership`]) before they list the new device in
/// the lost member's place.
pub fn prove_membership(
    share: &KeyShare,
    identity: &SigningKey,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Message> {
    if share.roster.key(share.me)? != &identity.verifying_key() {
        return Err(refused(
            "this identity is not the member the share's roster lists",
        ));
    }
    let key = crate::frost::SigningKey::from_scalar(share.key.signing_share().to_scalar())
        .map_err(|e| refused(format!("the share is not a signing key: {e}")))?;
    let signature = key.sign(rng, &proof_message(&share.roster, share.me)?);
    Message::sign(
        Kind::MemberProof,
        share.roster.session(),
        share.me,
        0,
        signature.serialize()?,
        identity,
    )
}

/// Checks a repaired member's proof against the group's verifying share for `member`: signed
/// by the identity `roster` lists for it, for this roster's session, with the share of its number.
pub fn check_membership(
    roster: &Roster,
    public: &PublicKeyPackage,
    member: u16,
    message: &Message,
) -> Result<()> {
    message.verify(roster, Kind::MemberProof, None)?;
    if message.from != member {
        return Err(refused(format!(
            "the proof is member {}'s, not the repaired member {member}'s",
            message.from
        )));
    }
    let share = public
        .verifying_shares()
        .get(&identifier(member)?)
        .ok_or_else(|| refused(format!("the group has no member {member}")))?;
    let signature = crate::frost::Signature::deserialize(&message.body)
        .map_err(|e| refused(format!("the proof's signature does not decode: {e}")))?;
    crate::frost::VerifyingKey::new(share.to_element())
        .verify(&proof_message(roster, member)?, &signature)
        .map_err(|_| {
            refused(format!(
                "the proof does not verify with the group's verifying share for member {member}: the new device does not hold that member's share"
            ))
        })
}
