//! A group's public facts as a vault definition would list them — the group key, the threshold
//! and each member's verifying share — and the check that they are one sharing: the verifying
//! shares of any `t` members interpolate (in the exponent) to the group key, and every other
//! member's verifying share is the same polynomial's value at its number. A coordinator that
//! aggregates, or a signer that checks a vault, rebuilds the group's public key package from
//! these facts alone ([`public_package`]).
//!
//! A member's entry is written `frost:<number>:<verifying share, 33-byte compressed, hex>`
//! ([`member_chain_key`], [`parse_member_chain_key`]).
//!
//! The Lagrange coefficients are the threshold library's (`compute_lagrange_coefficient`, through
//! frost-core's `internals`); what is written here is the consistency check, which no crate offers
//! for a package read from elsewhere. This module must never return a package whose shares do not
//! all lie on one polynomial through the group key.

use std::collections::{BTreeMap, BTreeSet};

use k256::ProjectivePoint;

use crate::frost::keys::{PublicKeyPackage, VerifyingShare};
use crate::frost::{Identifier, Secp256K1Sha256TR, VerifyingKey};
use crate::{MAX_MEMBERS, Result, identifier, refused};

const PREFIX: &str = "frost:";

/// A member's entry in a vault definition: `frost:<number>:<verifying share hex>`.
pub fn member_chain_key(number: u16, share: &VerifyingShare) -> Result<String> {
    let bytes = share.serialize().map_err(|e| {
        refused(format!(
            "member {number}'s verifying share does not encode: {e}"
        ))
    })?;
    Ok(format!("{PREFIX}{number}:{}", hex::encode(bytes)))
}

/// Reads a member's entry ([`member_chain_key`]).
pub fn parse_member_chain_key(text: &str) -> Result<(u16, VerifyingShare)> {
    let rest = text.trim().strip_prefix(PREFIX).ok_or_else(|| {
        refused(format!(
            "{text:?} is not a FROST member's key (frost:<number>:<verifying share>)"
        ))
    })?;
    let (number, share) = rest.split_once(':').ok_or_else(|| {
        refused(format!(
            "{text:?}: expected frost:<number>:<verifying share>"
        ))
    })?;
    let number: u16 = number
        .parse()
        .ok()
        .filter(|n| (1..=MAX_MEMBERS).contains(n))
        .ok_or_else(|| {
            refused(format!(
                "{text:?}: the member number must be 1 to {MAX_MEMBERS}"
            ))
        })?;
    let bytes = hex::decode(share)
        .ok()
        .filter(|b| b.len() == 33)
        .ok_or_else(|| {
            refused(format!(
                "{text:?}: the verifying share is not 33 bytes of hex"
            ))
        })?;
    let share = VerifyingShare::deserialize(&bytes)
        .map_err(|e| refused(format!("{text:?}: the verifying share is not a point: {e}")))?;
    Ok((number, share))
}

/// `Σ ℓ_i(at) · V_i` over the members `set` (at `None`: zero, the group key).
fn interpolate(
    set: &BTreeSet<Identifier>,
    shares: &BTreeMap<Identifier, VerifyingShare>,
    at: Option<Identifier>,
) -> Result<ProjectivePoint> {
    let mut sum = ProjectivePoint::IDENTITY;
    for id in set {
        let coefficient =
            frost_core::compute_lagrange_coefficient::<Secp256K1Sha256TR>(set, at, *id)
                .map_err(|e| refused(format!("no Lagrange coefficient: {e}")))?;
        sum += shares[id].to_element() * coefficient;
    }
    Ok(sum)
}

/// The group's public key package from its listed facts, after checking that the members'
/// verifying shares are one `threshold`-of-n sharing of `group`. Names the first member whose
/// share is off the polynomial.
pub fn public_package(
    group: &VerifyingKey,
    threshold: u16,
    members: &[(u16, VerifyingShare)],
) -> Result<PublicKeyPackage> {
    let n = members.len();
    if threshold < 2 || usize::from(threshold) > n || n > usize::from(MAX_MEMBERS) {
        return Err(refused(format!(
            "a FROST group of {n} members with threshold {threshold}: the threshold must be 2 to the number of members (at most {MAX_MEMBERS})"
        )));
    }
    let mut shares = BTreeMap::new();
    let mut order = Vec::with_capacity(n);
    for (number, share) in members {
        let id = identifier(*number)?;
        if shares.insert(id, *share).is_some() {
            return Err(refused(format!("member number {number} is listed twice")));
        }
        order.push((*number, id));
    }
    order.sort_by_key(|(number, _)| *number);
    let base: BTreeSet<Identifier> = order
        .iter()
        .take(usize::from(threshold))
        .map(|(_, id)| *id)
        .collect();
    if interpolate(&base, &shares, None)? != group.to_element() {
        return Err(refused(format!(
            "the verifying shares of members {} do not make the group key: the listed shares are not this group's",
            order
                .iter()
                .take(usize::from(threshold))
                .map(|(n, _)| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for (number, id) in order.iter().skip(usize::from(threshold)) {
        if interpolate(&base, &shares, Some(*id))? != shares[id].to_element() {
            return Err(refused(format!(
                "member {number}'s verifying share is not on the group's polynomial: it is not a share of this group"
            )));
        }
    }
    Ok(PublicKeyPackage::new(shares, *group, Some(threshold)))
}
