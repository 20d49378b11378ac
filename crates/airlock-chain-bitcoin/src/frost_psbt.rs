//! A FROST group's spend as a PSBT: the coordinator names each input's signing commitments in
//! the PSBT's proprietary fields, each signer computes every input's key-path sighash and key
//! path **from the PSBT itself**, and the aggregated BIP-340 signatures go back into the PSBT as
//! `tap_key_sig` and final witnesses.
//!
//! Proprietary field (BIP-174): prefix `airlock`, subtype [`COMMITMENT_SUBTYPE`], key data the
//! member's number (u16 big-endian), value the member's FROST signing commitments (the threshold
//! library's encoding). The inputs' keys are the group xpub's children: each input's
//! `tap_key_origins` entry for its `tap_internal_key` must carry the group's fingerprint and an
//! unhardened path, the key derived along that path must be the internal key, and the spent
//! output must be the key-path-only taproot output of that key (no script tree): an input the
//! group cannot sign, or one whose amount or script the PSBT misstates, is refused before any
//! nonce is spent.
//!
//! This module must never give a signer a message it did not compute from the transaction and
//! every spent output, never accept a commitment it cannot decode or attribute to a member, and
//! never write a signature the group key does not verify.

use std::collections::BTreeMap;

use airlock_frost::derive;
use airlock_frost::frost::VerifyingKey;
use airlock_frost::frost::round1::SigningCommitments;
use airlock_frost::sign::InputToSign;
use bitcoin::hashes::Hash;
use bitcoin::psbt::raw::ProprietaryKey;
use bitcoin::secp256k1::{Message, Secp256k1, XOnlyPublicKey, schnorr};
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::{NetworkKind, Psbt, ScriptBuf, TapSighashType, TxOut, Witness, taproot};

use crate::error::BtcError;

/// The proprietary prefix of Airlock's PSBT fields.
pub const PROPRIETARY_PREFIX: &[u8] = b"airlock";
/// The subtype of a FROST signing commitment.
pub const COMMITMENT_SUBTYPE: u8 = 0xf0;

fn commitment_key(member: u16) -> ProprietaryKey {
    ProprietaryKey {
        prefix: PROPRIETARY_PREFIX.to_vec(),
        subtype: COMMITMENT_SUBTYPE,
        key: member.to_be_bytes().to_vec(),
    }
}

/// Writes each input's chosen commitments (one map per input, member → commitments) into the
/// PSBT, replacing any named before.
pub fn attach_commitments(
    psbt: &mut Psbt,
    commitments: &[BTreeMap<u16, SigningCommitments>],
) -> Result<(), BtcError> {
    if commitments.len() != psbt.inputs.len() {
        return Err(BtcError::refused(format!(
            "{} commitment sets for {} inputs",
            commitments.len(),
            psbt.inputs.len()
        )));
    }
    for (input, chosen) in psbt.inputs.iter_mut().zip(commitments) {
        input
            .proprietary
            .retain(|k, _| !(k.prefix == PROPRIETARY_PREFIX && k.subtype == COMMITMENT_SUBTYPE));
        for (member, c) in chosen {
            let bytes = c.serialize().map_err(|e| {
                BtcError::refused(format!("member {member}'s commitment does not encode: {e}"))
            })?;
            input.proprietary.insert(commitment_key(*member), bytes);
        }
    }
    Ok(())
}

/// Each input's commitments as the PSBT names them (member → commitments).
pub fn read_commitments(psbt: &Psbt) -> Result<Vec<BTreeMap<u16, SigningCommitments>>, BtcError> {
    let mut out = Vec::with_capacity(psbt.inputs.len());
    for (i, input) in psbt.inputs.iter().enumerate() {
        let mut chosen = BTreeMap::new();
        for (k, v) in &input.proprietary {
            if k.prefix != PROPRIETARY_PREFIX || k.subtype != COMMITMENT_SUBTYPE {
                continue;
            }
            let member: [u8; 2] = k.key.as_slice().try_into().map_err(|_| {
                BtcError::Psbt(format!(
                    "input {i}: a FROST commitment field's key is not a member number"
                ))
            })?;
            let member = u16::from_be_bytes(member);
            let c = SigningCommitments::deserialize(v).map_err(|e| {
                BtcError::Psbt(format!(
                    "input {i}: member {member}'s FROST commitment does not decode: {e}"
                ))
            })?;
            chosen.insert(member, c);
        }
        out.push(chosen);
    }
    Ok(out)
}

/// Every spent output, from the inputs' `witness_utxo` (a taproot sighash commits to all).
fn spent_outputs(psbt: &Psbt) -> Result<Vec<TxOut>, BtcError> {
    psbt.inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            input.witness_utxo.clone().ok_or_else(|| {
                BtcError::refused(format!(
                    "input {i} has no witness_utxo: a taproot signature commits to every spent output"
                ))
            })
        })
        .collect()
}

/// What the group signs for each input, computed from the PSBT alone: the key-path sighash
/// (over every spent output), the input's path from the group xpub, and the commitments the
/// PSBT names. Refuses an input the group's key does not spend by key path.
pub fn inputs_to_sign(psbt: &Psbt, group: &VerifyingKey) -> Result<Vec<InputToSign>, BtcError> {
    let xpub = derive::group_xpub(group, NetworkKind::Test)
        .map_err(|e| BtcError::refused(e.to_string()))?;
    let fingerprint = xpub.fingerprint();
    let spent = spent_outputs(psbt)?;
    let commitments = read_commitments(psbt)?;
    let secp = Secp256k1::verification_only();
    let mut tweaks =
        derive::PathTweaks::new(group).map_err(|e| BtcError::refused(e.to_string()))?;
    let mut cache = SighashCache::new(&psbt.unsigned_tx);
    let mut out = Vec::with_capacity(psbt.inputs.len());
    for (i, (input, chosen)) in psbt.inputs.iter().zip(commitments).enumerate() {
        let internal = input
            .tap_internal_key
            .ok_or_else(|| BtcError::refused(format!("input {i} has no taproot internal key")))?;
        let (leaves, (fp, path)) = input.tap_key_origins.get(&internal).ok_or_else(|| {
            BtcError::refused(format!(
                "input {i}: its internal key has no origin (the group's fingerprint {fingerprint} and a path)"
            ))
        })?;
        if *fp != fingerprint || !leaves.is_empty() {
            return Err(BtcError::refused(format!(
                "input {i}: its internal key is not this group's (origin {fp}, the group's is {fingerprint})"
            )));
        }
        let path: Vec<u32> = path.into_iter().map(|c| u32::from(*c)).collect();
        if path.iter().any(|s| *s >= 0x8000_0000) {
            return Err(BtcError::refused(format!(
                "input {i}: a hardened step in its path; a FROST group derives unhardened steps only"
            )));
        }
        let derived = tweaks
            .internal_key(&path)
            .map_err(|e| BtcError::refused(format!("input {i}: {e}")))?;
        if derived != internal.serialize() {
            return Err(BtcError::refused(format!(
                "input {i}: the group's key at its path is not its internal key"
            )));
        }
        let expected = ScriptBuf::new_p2tr(&secp, internal, None);
        if spent[i].script_pubkey != expected {
            return Err(BtcError::refused(format!(
                "input {i}: the output it spends is not the key-path taproot output of the group's key at its path"
            )));
        }
        if !input.tap_scripts.is_empty() || input.tap_merkle_root.is_some() {
            return Err(BtcError::refused(format!(
                "input {i}: a script tree is named; a FROST vault spends by key path only"
            )));
        }
        match input.sighash_type {
            None => {}
            Some(t) if t.taproot_hash_ty() == Ok(TapSighashType::Default) => {}
            Some(t) => {
                return Err(BtcError::refused(format!(
                    "input {i}: sighash type {t} is refused; a FROST vault signs SIGHASH_DEFAULT only"
                )));
            }
        }
        let message = cache
            .taproot_key_spend_signature_hash(i, &Prevouts::All(&spent), TapSighashType::Default)
            .map_err(|e| BtcError::refused(format!("input {i}: no sighash: {e}")))?
            .to_byte_array();
        out.push(InputToSign {
            message,
            path,
            commitments: chosen,
        });
    }
    Ok(out)
}

/// Writes the aggregated signatures as each input's `tap_key_sig` and final witness, after
/// checking each against its input's output key (libsecp256k1).
pub fn finalize_with_signatures(
    psbt: &mut Psbt,
    group: &VerifyingKey,
    signatures: &[[u8; 64]],
) -> Result<(), BtcError> {
    let inputs = inputs_to_sign(psbt, group)?;
    if signatures.len() != inputs.len() {
        return Err(BtcError::Finalize(format!(
            "{} signatures for {} inputs",
            signatures.len(),
            inputs.len()
        )));
    }
    let secp = Secp256k1::verification_only();
    for (i, ((input, to_sign), sig)) in psbt
        .inputs
        .iter_mut()
        .zip(&inputs)
        .zip(signatures)
        .enumerate()
    {
        let internal: XOnlyPublicKey = input.tap_internal_key.expect("checked above");
        let (output, _) = bitcoin::key::TapTweak::tap_tweak(internal, &secp, None);
        let signature = schnorr::Signature::from_slice(sig)
            .map_err(|e| BtcError::Signature(format!("input {i}: {e}")))?;
        secp.verify_schnorr(
            &signature,
            &Message::from_digest(to_sign.message),
            &output.to_x_only_public_key(),
        )
        .map_err(|_| {
            BtcError::Signature(format!(
                "input {i}: the aggregate signature does not verify for the input's output key"
            ))
        })?;
        let signature = taproot::Signature {
            signature,
            sighash_type: TapSighashType::Default,
        };
        input.tap_key_sig = Some(signature);
        input.final_script_witness = Some(Witness::p2tr_key_spend(&signature));
    }
    Ok(())
}
