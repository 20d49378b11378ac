//! Signing in one crossing: the coordinator names, for every input, the commitments of the
//! members who sign (from the batches they handed over); each of them checks that its own are
//! its own and unused, journals them ([`NonceStore::take`]) and returns one signed message with
//! its shares for every input; the coordinator aggregates each input's shares into one BIP-340
//! signature for the taproot output key, naming any member whose share is wrong.
//!
//! The messages signed are the key-path sighashes the signer computes itself from the
//! transaction it reviewed; this module never takes a message to sign from the coordinator's
//! word. It must never compute a share before the nonce is journaled, and never return an
//! aggregate signature the threshold library did not verify.

use std::collections::BTreeMap;

use airlock_custody::Passphrase;
use ed25519_dalek::SigningKey;

use crate::derive;
use crate::dkg::{KeyShare, Reader, Writer, blame};
use crate::frost::keys::{PublicKeyPackage, Tweak as _};
use crate::frost::round1::SigningCommitments;
use crate::frost::round2::SignatureShare;
use crate::nonces::NonceStore;
use crate::wire::{Kind, Message};
use crate::{FrostError, Result, Roster, identifier, refused};

const SHARES_MAGIC: &[u8] = b"airlock-frost-shares-v1\n";

/// One input to sign: the 32-byte BIP-341 sighash, the unhardened path from the group xpub of
/// the key the input's output was made for (empty for the group key itself; see [`derive`]),
/// and each signing member's commitment for it.
#[derive(Clone, Debug)]
pub struct InputToSign {
    pub message: [u8; 32],
    pub path: Vec<u32>,
    pub commitments: BTreeMap<u16, SigningCommitments>,
}

/// `make(tweak)` once for each distinct path of `inputs` (with the path's BIP-32 tweak from the
/// group xpub, `None` for the group key itself), on all cores; returns the results and, for each
/// input, the index of its path's. A hardened step is refused before anything is made.
fn per_path<T: Send>(
    group: &crate::frost::VerifyingKey,
    inputs: &[InputToSign],
    make: impl Fn(Option<&k256::Scalar>) -> T + Sync,
) -> Result<(Vec<T>, Vec<usize>)> {
    let mut tweaks = derive::PathTweaks::new(group)?;
    let mut distinct: Vec<&[u32]> = Vec::new();
    let mut index_of: std::collections::HashMap<&[u32], usize> = std::collections::HashMap::new();
    let mut which = Vec::with_capacity(inputs.len());
    for input in inputs {
        let next = distinct.len();
        let i = *index_of.entry(input.path.as_slice()).or_insert(next);
        if i == next {
            distinct.push(&input.path);
        }
        which.push(i);
    }
    let scalars = distinct
        .iter()
        .map(|path| tweaks.tweak(path))
        .collect::<Result<Vec<_>>>()?;
    let made = airlock_core::parallel::map_ranges(
        airlock_core::parallel::cores(8),
        scalars.len(),
        |range| Ok::<_, FrostError>(range.map(|k| make(scalars[k].as_ref())).collect()),
    )?;
    Ok((made, which))
}

fn package(roster: &Roster, input: &InputToSign) -> Result<crate::frost::SigningPackage> {
    if input.commitments.len() < usize::from(roster.threshold) {
        return Err(refused(format!(
            "an input names {} signers' commitments; the group needs {}",
            input.commitments.len(),
            roster.threshold
        )));
    }
    let mut by_id = BTreeMap::new();
    for (member, c) in &input.commitments {
        roster.key(*member)?;
        by_id.insert(identifier(*member)?, *c);
    }
    Ok(crate::frost::SigningPackage::new(by_id, &input.message))
}

/// This member's shares for every input, as one signed message. The nonces are taken (and
/// journaled as spent) before any share is computed.
#[allow(clippy::too_many_arguments)]
pub fn sign(
    share: &KeyShare,
    identity: &SigningKey,
    store: &NonceStore,
    inputs: &[InputToSign],
    merkle_root: Option<&[u8; 32]>,
    passphrase: &Passphrase,
) -> Result<Message> {
    let roster = &share.roster;
    if inputs.is_empty() {
        return Err(refused("nothing to sign"));
    }
    let mut mine = Vec::with_capacity(inputs.len());
    let mut packages = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        packages.push(package(roster, input)?);
        mine.push(*input.commitments.get(&share.me).ok_or_else(|| {
            refused(format!(
                "input {i} does not name a commitment of this member ({})",
                roster.name(share.me)
            ))
        })?);
    }
    // Each input's key (derived along its path, then tweaked as BIP-341 says), once per path.
    // Computed before any nonce is taken, so a path refused here spends none.
    let (keys, which) = per_path(share.key.verifying_key(), inputs, |tweak| {
        let key = match tweak {
            None => share.key.clone(),
            Some(t) => derive::shift_key(&share.key, t),
        };
        key.tweak(merkle_root.map(|m| m.as_slice()))
    })?;
    let nonces = store.take(&mine, passphrase)?;
    // Inputs are independent: their shares are computed on the machine's cores, in order.
    let computed = airlock_core::parallel::map_ranges(
        airlock_core::parallel::cores(8),
        packages.len(),
        |range| {
            range
                .map(|k| crate::frost::round2::sign(&packages[k], &nonces[k], &keys[which[k]]))
                .collect::<std::result::Result<Vec<_>, _>>()
        },
    )?;
    let mut w = Writer::new(SHARES_MAGIC);
    for s in computed {
        w.bytes(&s.serialize());
    }
    Message::sign(
        Kind::Shares,
        roster.session(),
        share.me,
        0,
        w.0.to_vec(),
        identity,
    )
}

/// A member's shares from its message: one per input.
pub fn read_shares(
    roster: &Roster,
    message: &Message,
    inputs: usize,
) -> Result<Vec<SignatureShare>> {
    message.verify(roster, Kind::Shares, None)?;
    let out = parse_shares(&message.body, inputs).map_err(|e| FrostError::Cheater {
        member: message.from,
        name: roster.name(message.from),
        what: e.to_string(),
    })?;
    if out.len() != inputs {
        return Err(refused(format!(
            "member {} sent {} shares for {inputs} inputs",
            message.from,
            out.len()
        )));
    }
    Ok(out)
}

/// The body of a shares message (after its signature is checked): at most `inputs` shares.
pub fn parse_shares(body: &[u8], inputs: usize) -> Result<Vec<SignatureShare>> {
    let mut r = Reader::open(body, SHARES_MAGIC, "a set of signature shares")?;
    let mut out = Vec::new();
    while !r.0.is_empty() {
        if out.len() >= inputs {
            return Err(refused(format!("more shares than the {inputs} inputs")));
        }
        out.push(
            SignatureShare::deserialize(r.bytes()?)
                .map_err(|e| refused(format!("a signature share does not decode: {e}")))?,
        );
    }
    Ok(out)
}

/// Aggregates each input's shares into a BIP-340 signature (64 bytes) valid for the group key
/// tweaked as BIP-341 says (`merkle_root` of the script tree, none for a key-only output). A
/// share that does not verify names its member.
pub fn aggregate(
    roster: &Roster,
    public: &PublicKeyPackage,
    inputs: &[InputToSign],
    shares: &BTreeMap<u16, Vec<SignatureShare>>,
    merkle_root: Option<&[u8; 32]>,
) -> Result<Vec<[u8; 64]>> {
    // Each input's public package, derived along its path and tweaked, once per path.
    let (publics, which) = per_path(public.verifying_key(), inputs, |tweak| {
        let package = match tweak {
            None => public.clone(),
            Some(t) => derive::shift_public(public, t),
        };
        package.tweak(merkle_root.map(|m| m.as_slice()))
    })?;
    // Inputs are independent: aggregated on the machine's cores; the first error in input
    // order is the one reported.
    let one = |i: usize| -> Result<[u8; 64]> {
        let input = &inputs[i];
        let package = package(roster, input)?;
        let mut by_id = BTreeMap::new();
        for member in input.commitments.keys() {
            let s = shares.get(member).and_then(|s| s.get(i)).ok_or_else(|| {
                refused(format!(
                    "no share from member {member} ({}) for input {i}",
                    roster.name(*member)
                ))
            })?;
            by_id.insert(identifier(*member)?, *s);
        }
        let signature =
            crate::frost::aggregate(&package, &by_id, &publics[which[i]]).map_err(|e| {
                blame(
                    roster,
                    e,
                    &format!("its share for input {i} does not verify"),
                )
            })?;
        signature
            .serialize()?
            .as_slice()
            .try_into()
            .map_err(|_| refused("the aggregate signature is not 64 bytes"))
    };
    airlock_core::parallel::map_ranges(airlock_core::parallel::cores(8), inputs.len(), |range| {
        range.map(one).collect::<Result<Vec<_>>>()
    })
}
