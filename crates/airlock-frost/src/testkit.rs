//! Whole ceremonies run in one process, for tests, figures and the simulation: every message
//! goes through its byte encoding and every secret state through its at-rest encoding, as if
//! each had crossed the gap. Nothing here is used by a signer or coordinator for real keys.

use std::collections::BTreeMap;

use airlock_custody::{KdfParams, Passphrase};
use ed25519_dalek::SigningKey;
use rand_core::{CryptoRng, RngCore};

use crate::dkg::{self, Ceremony, KeyShare, Round1State, Round2State};
use crate::nonces::{NonceStore, read_commitments};
use crate::sign::{self, InputToSign};
use crate::wire::{Message, bundle, unbundle};
use crate::{Result, Roster};

/// Sends messages across the gap: to bytes as one file and back.
pub fn cross(messages: &[Message]) -> Result<Vec<Message>> {
    unbundle(&bundle(messages))
}

/// A key generation (or a refresh of `old`) among every member of `roster`, whose identity
/// keys are `keys` in roster order.
pub fn two_rounds(
    roster: &Roster,
    keys: &[SigningKey],
    old: Option<&[KeyShare]>,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<KeyShare>> {
    let ceremony = if old.is_some() {
        Ceremony::Refresh
    } else {
        Ceremony::KeyGeneration
    };
    let mut states = Vec::new();
    let mut round1 = Vec::new();
    for key in keys {
        let (state, message) = dkg::round1(roster, key, ceremony, rng)?;
        states.push(state.to_bytes()?);
        round1.push(message);
    }
    let round1 = cross(&round1)?;
    let mut states2 = Vec::new();
    let mut round2 = Vec::new();
    for (key, state) in keys.iter().zip(&states) {
        let state = Round1State::from_bytes(state)?;
        let (state, messages) = dkg::round2(roster, key, state, &round1, ceremony, rng)?;
        states2.push(state.to_bytes()?);
        round2.extend(messages);
    }
    let round2 = cross(&round2)?;
    let mut out = Vec::new();
    for (i, (key, state)) in keys.iter().zip(&states2).enumerate() {
        let state = Round2State::from_bytes(state)?;
        let share = dkg::finish(roster, key, state, &round2, old.map(|o| &o[i]))?;
        out.push(KeyShare::from_bytes(&share.to_bytes()?)?);
    }
    Ok(out)
}

/// The index of member `m` in `shares` (and in the keys and stores given beside them).
fn index_of(shares: &[KeyShare], m: u16) -> usize {
    shares
        .iter()
        .position(|s| s.me == m)
        .expect("a share of each signer")
}

/// Each of `signers` (member numbers) makes `per_signer` nonces in its store (`stores` beside
/// `shares`). Returns each signer's handed-over commitments.
pub fn hand_over_commitments(
    shares: &[KeyShare],
    keys: &[SigningKey],
    stores: &[NonceStore],
    signers: &[u16],
    per_signer: u32,
    passphrase: &Passphrase,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<BTreeMap<u16, Vec<crate::frost::round1::SigningCommitments>>> {
    let mut out = BTreeMap::new();
    for &m in signers {
        let i = index_of(shares, m);
        let message = stores[i].generate(
            &shares[i],
            &keys[i],
            per_signer,
            passphrase,
            KdfParams::INSECURE_FAST,
            rng,
        )?;
        let message = cross(&[message])?.remove(0);
        out.insert(m, read_commitments(&shares[i].roster, &message)?);
    }
    Ok(out)
}

/// The coordinator's choice: input `k` uses each signer's `k`-th commitment from `offset`.
pub fn inputs_for(
    messages: &[[u8; 32]],
    commitments: &BTreeMap<u16, Vec<crate::frost::round1::SigningCommitments>>,
    offset: usize,
) -> Vec<InputToSign> {
    messages
        .iter()
        .enumerate()
        .map(|(k, message)| InputToSign {
            message: *message,
            path: Vec::new(),
            commitments: commitments
                .iter()
                .map(|(m, c)| (*m, c[offset + k]))
                .collect(),
        })
        .collect()
}

/// Every signer of `inputs` signs; the coordinator aggregates.
pub fn sign_all(
    shares: &[KeyShare],
    keys: &[SigningKey],
    stores: &[NonceStore],
    inputs: &[InputToSign],
    merkle_root: Option<&[u8; 32]>,
    passphrase: &Passphrase,
) -> Result<Vec<[u8; 64]>> {
    let signers: Vec<u16> = inputs[0].commitments.keys().copied().collect();
    let mut messages = Vec::new();
    for &m in &signers {
        let i = index_of(shares, m);
        messages.push(sign::sign(
            &shares[i],
            &keys[i],
            &stores[i],
            inputs,
            merkle_root,
            passphrase,
        )?);
    }
    let first = &shares[index_of(shares, signers[0])];
    let roster = &first.roster;
    let mut by_member = BTreeMap::new();
    for message in cross(&messages)? {
        by_member.insert(
            message.from,
            sign::read_shares(roster, &message, inputs.len())?,
        );
    }
    sign::aggregate(roster, &first.public, inputs, &by_member, merkle_root)
}
