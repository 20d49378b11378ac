//! Checking partial signatures, combining PSBTs, finalizing through miniscript and extracting.
//!
//! `check_partial_signatures` checks every signature a PSBT carries, and every
//! [review](crate::review::review) runs it: the key must be one the input's script uses (one of
//! the vault's keys re-derived at that input; for taproot, a key of a leaf of the vault's tree, or
//! the output key when the internal key is spendable), the sighash type must be one the review
//! accepts, and the signature must verify over the recomputed sighash; an error names the input
//! and the key and says whether the signature "does not verify" or "is filed under a key this
//! input does not use". [`verify_partial_signatures`] reviews and counts them. [`combine`] refuses
//! a PSBT of a different unsigned transaction and verifies each PSBT before merging it (inputs a
//! peer already finalized get the coordinator's fields back, their final witnesses must use
//! sighash ALL); [`finalize`] verifies, fills scripts the PSBT lacks (witness/redeem script,
//! taproot tree) from the vault, then lets miniscript build the witnesses (`finalize_mut`), runs
//! miniscript's interpreter over every final witness (also those a peer built) and extracts the
//! transaction.
//!
//! This code holds no secrets and makes no network calls; the coordinator uses it before
//! broadcasting. It must never accept a signature it has not verified.

use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::{Message, Secp256k1, Verification};
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::{Psbt, Transaction};
use miniscript::psbt::PsbtExt;
use miniscript::{Descriptor, ForEachKey};

use crate::error::BtcError;
use crate::parallel::map_ranges;
use crate::review::{InputContext, PsbtReview, ReviewPolicy, review_with};
use crate::sign::tap_leaves;
use crate::vault::BtcVault;

/// Counts of verified signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureReport {
    /// Verified signatures per input.
    pub per_input: Vec<usize>,
}

impl SignatureReport {
    pub fn total(&self) -> usize {
        self.per_input.iter().sum()
    }
}

/// Whether a PSBT input carries a final scriptSig or witness (a peer such as Electrum finalized it).
fn is_final(input: &bitcoin::psbt::Input) -> bool {
    input.final_script_witness.is_some() || input.final_script_sig.is_some()
}

/// A peer that finalizes an input clears its other fields, as BIP-174 asks (Electrum does). For
/// each such input of `other`, the fields of the same input of `base` (the coordinator's PSBT of
/// the same unsigned transaction) are restored, so that the input can be reviewed against the
/// vault again; the final scriptSig/witness itself is checked by [`finalize`]. Signatures in a
/// final witness must use sighash ALL (or taproot's DEFAULT), as partial signatures must.
fn restore_finalized_inputs(
    base: &Psbt,
    other: &mut Psbt,
    policy: &ReviewPolicy,
) -> Result<(), BtcError> {
    for (i, (theirs, ours)) in other.inputs.iter_mut().zip(&base.inputs).enumerate() {
        if !is_final(theirs) {
            continue;
        }
        if !policy.allow_non_default_sighash
            && let Some(witness) = &theirs.final_script_witness
        {
            for element in witness.iter() {
                let ecdsa_all = bitcoin::ecdsa::Signature::from_slice(element)
                    .map(|s| s.sighash_type == bitcoin::EcdsaSighashType::All);
                let schnorr_default = match element.len() {
                    64 => Some(true),
                    65 => Some(element[64] == bitcoin::TapSighashType::All as u8),
                    _ => None,
                };
                let bad = matches!(ecdsa_all, Ok(false))
                    || (ecdsa_all.is_err() && schnorr_default == Some(false));
                if bad {
                    return Err(BtcError::Signature(format!(
                        "input {i}: a signature in the final witness does not use sighash ALL"
                    )));
                }
            }
        }
        let final_script_sig = theirs.final_script_sig.take();
        let final_script_witness = theirs.final_script_witness.take();
        *theirs = ours.clone();
        theirs.partial_sigs.clear();
        theirs.tap_key_sig = None;
        theirs.tap_script_sigs.clear();
        theirs.final_script_sig = final_script_sig;
        theirs.final_script_witness = final_script_witness;
    }
    Ok(())
}

/// Verifies every partial signature in `psbt` (see the module docs): a [`review`] of the PSBT,
/// which runs [`check_partial_signatures`], and the count of signatures per input.
///
/// [`review`]: crate::review::review
pub fn verify_partial_signatures(
    vault: &BtcVault,
    psbt: &Psbt,
    policy: &ReviewPolicy,
) -> Result<SignatureReport, BtcError> {
    let review = review_with(vault, psbt, policy, crate::secp())?;
    Ok(review.signature_report())
}

/// The vault key (with its full origin `[fingerprint/path]`) whose derived key at this input is
/// `matches`, for error messages.
fn origin_of(
    vault: &BtcVault,
    context: &InputContext,
    matches: impl Fn(&bitcoin::PublicKey) -> bool,
) -> String {
    context
        .key_pubkeys
        .iter()
        .position(|k| k.as_ref().is_some_and(&matches))
        .and_then(|position| vault.keys().get(position))
        .map(|k| {
            format!(
                " [{}/{}]",
                k.fingerprint,
                k.full_path(context.branch, context.index)
            )
        })
        .unwrap_or_default()
}

/// Checks every signature a PSBT already carries, against the input's re-derived script (from
/// `review`, which must be of this PSBT) and the recomputed sighash: each ECDSA `partial_sigs`
/// entry of a segwit v0 input, the taproot `tap_key_sig` (against the output key) and every
/// `tap_script_sigs` entry (against its leaf of the vault's tree). A signature must be filed under
/// a key the input's script uses, use sighash ALL (taproot: DEFAULT or ALL) unless the policy
/// allows others, and verify. Errors name the input and the key, and say whether the signature
/// "does not verify" or "is filed under a key this input does not use". Returns the verified
/// signatures per input. Inputs are spread over the cores as the review's derivations are.
///
/// [`crate::review::review`] runs this on every PSBT it reviews, so every path a PSBT enters by
/// (import, the signer's review of a proposal or a plain PSBT, the coordinator's verification of
/// an approval, combine, finalize) refuses a PSBT carrying a signature that does not verify.
pub(crate) fn check_partial_signatures<C: Verification + Sync>(
    vault: &BtcVault,
    psbt: &Psbt,
    review: &PsbtReview,
    policy: &ReviewPolicy,
    secp: &Secp256k1<C>,
) -> Result<Vec<usize>, BtcError> {
    let carries_signatures = |input: &bitcoin::psbt::Input| {
        !input.partial_sigs.is_empty()
            || input.tap_key_sig.is_some()
            || !input.tap_script_sigs.is_empty()
    };
    if !psbt.inputs.iter().any(carries_signatures) {
        return Ok(vec![0; review.contexts.len()]);
    }
    let prevouts = Prevouts::All(&review.spent_outputs);
    map_ranges(review.contexts.len(), |range| {
        let mut cache = SighashCache::new(&psbt.unsigned_tx);
        let mut counts = Vec::with_capacity(range.len());
        for i in range {
            let context = &review.contexts[i];
            let input = &psbt.inputs[i];
            if !carries_signatures(input) {
                counts.push(0);
                continue;
            }
            counts.push(check_input(
                vault, input, i, context, review, &prevouts, &mut cache, policy, secp,
            )?);
        }
        Ok::<_, BtcError>(counts)
    })
}

#[allow(clippy::too_many_arguments)]
fn check_input<C: Verification>(
    vault: &BtcVault,
    input: &bitcoin::psbt::Input,
    i: usize,
    context: &InputContext,
    review: &PsbtReview,
    prevouts: &Prevouts<'_, bitcoin::TxOut>,
    cache: &mut SighashCache<&Transaction>,
    policy: &ReviewPolicy,
    secp: &Secp256k1<C>,
) -> Result<usize, BtcError> {
    let mut count = 0;
    if !input.partial_sigs.is_empty() {
        let mut script_keys = Vec::new();
        context.descriptor.for_each_key(|k| {
            script_keys.push(*k);
            true
        });
        let code = context.descriptor.script_code().map_err(|e| {
            BtcError::Signature(format!(
                "input {i} carries ECDSA partial signatures but is not a segwit v0 input: {e}"
            ))
        })?;
        for (pubkey, signature) in &input.partial_sigs {
            if !script_keys.contains(pubkey) {
                return Err(BtcError::Signature(format!(
                    "input {i}: a partial signature is filed under key {pubkey}, a key this input does not use (its script is the vault's at {})",
                    branch_path(context)
                )));
            }
            let origin = origin_of(vault, context, |k| k == pubkey);
            if signature.sighash_type != bitcoin::EcdsaSighashType::All
                && !policy.allow_non_default_sighash
            {
                return Err(BtcError::Signature(format!(
                    "input {i}: the partial signature filed under key {pubkey}{origin} uses sighash {}; only ALL is accepted",
                    signature.sighash_type
                )));
            }
            let sighash = cache
                .p2wsh_signature_hash(
                    i,
                    &code,
                    review.spent_outputs[i].value,
                    signature.sighash_type,
                )
                .map_err(|e| BtcError::Signature(format!("input {i}: sighash: {e}")))?;
            let message = Message::from_digest(sighash.to_byte_array());
            secp.verify_ecdsa(&message, &signature.signature, &pubkey.inner)
                .map_err(|_| {
                    BtcError::Signature(format!(
                        "input {i}: the partial signature filed under key {pubkey}{origin} does not verify"
                    ))
                })?;
            count += 1;
        }
    }
    if input.tap_key_sig.is_none() && input.tap_script_sigs.is_empty() {
        return Ok(count);
    }
    let Descriptor::Tr(tr) = &context.descriptor else {
        return Err(BtcError::Signature(format!(
            "input {i} carries taproot signatures but is not a taproot input"
        )));
    };
    let check_type = |t: bitcoin::TapSighashType, key: &str| {
        if matches!(
            t,
            bitcoin::TapSighashType::Default | bitcoin::TapSighashType::All
        ) || policy.allow_non_default_sighash
        {
            Ok(())
        } else {
            Err(BtcError::Signature(format!(
                "input {i}: the taproot signature filed under key {key} uses sighash {t}; only DEFAULT/ALL are accepted"
            )))
        }
    };
    if let Some(signature) = &input.tap_key_sig {
        let output_key = tr.spend_info().output_key().to_x_only_public_key();
        let internal = tr.internal_key().inner.x_only_public_key().0;
        if internal.serialize() == crate::vault::NUMS_INTERNAL_KEY {
            return Err(BtcError::Signature(format!(
                "input {i}: a key-path signature is filed under output key {output_key}, a key this input does not use (its internal key is the unspendable NUMS point: script paths only)"
            )));
        }
        check_type(signature.sighash_type, &output_key.to_string())?;
        let sighash = cache
            .taproot_key_spend_signature_hash(i, prevouts, signature.sighash_type)
            .map_err(|e| BtcError::Signature(format!("input {i}: sighash: {e}")))?;
        let message = Message::from_digest(sighash.to_byte_array());
        secp.verify_schnorr(&signature.signature, &message, &output_key)
            .map_err(|_| {
                let origin = origin_of(vault, context, |k| {
                    k.inner.x_only_public_key().0 == internal
                });
                BtcError::Signature(format!(
                    "input {i}: the key-path signature filed under output key {output_key} (internal key {internal}{origin}) does not verify"
                ))
            })?;
        count += 1;
    }
    if !input.tap_script_sigs.is_empty() {
        let leaves = tap_leaves(&context.descriptor);
        for ((xonly, leaf), signature) in &input.tap_script_sigs {
            let Some((_, keys)) = leaves.iter().find(|(l, _)| l == leaf) else {
                return Err(BtcError::Signature(format!(
                    "input {i}: a script-path signature is filed under key {xonly} for leaf {leaf}, which is not a leaf of the vault's script tree at {}: a key this input does not use",
                    branch_path(context)
                )));
            };
            if !keys.contains(xonly) {
                return Err(BtcError::Signature(format!(
                    "input {i}: a script-path signature is filed under key {xonly}, a key this input does not use (not in leaf {leaf})"
                )));
            }
            let origin = origin_of(vault, context, |k| k.inner.x_only_public_key().0 == *xonly);
            check_type(signature.sighash_type, &format!("{xonly}{origin}"))?;
            let sighash = cache
                .taproot_script_spend_signature_hash(i, prevouts, *leaf, signature.sighash_type)
                .map_err(|e| BtcError::Signature(format!("input {i}: sighash: {e}")))?;
            let message = Message::from_digest(sighash.to_byte_array());
            secp.verify_schnorr(&signature.signature, &message, xonly)
                .map_err(|_| {
                    BtcError::Signature(format!(
                        "input {i}: the script-path signature filed under key {xonly}{origin} (leaf {leaf}) does not verify"
                    ))
                })?;
            count += 1;
        }
    }
    Ok(count)
}

/// `receive/N` or `change/N`: where an input sits in the vault.
fn branch_path(context: &InputContext) -> String {
    format!(
        "{}/{}",
        if context.branch == crate::vault::CHANGE {
            "change"
        } else {
            "receive"
        },
        context.index
    )
}

/// Merges signed copies of one PSBT after verifying each. The first PSBT is the base; every
/// other must be of the same unsigned transaction.
pub fn combine(
    vault: &BtcVault,
    psbts: Vec<Psbt>,
    policy: &ReviewPolicy,
) -> Result<Psbt, BtcError> {
    let mut iter = psbts.into_iter();
    let mut base = iter
        .next()
        .ok_or_else(|| BtcError::Finalize("no PSBT to combine".into()))?;
    verify_partial_signatures(vault, &base, policy)?;
    let txid = base.unsigned_tx.compute_txid();
    for (n, mut other) in iter.enumerate() {
        let other_txid = other.unsigned_tx.compute_txid();
        if other_txid != txid || other.unsigned_tx != base.unsigned_tx {
            return Err(BtcError::Finalize(format!(
                "PSBT {} is of a different unsigned transaction ({other_txid}, expected {txid}): refusing to combine",
                n + 1
            )));
        }
        restore_finalized_inputs(&base, &mut other, policy)
            .map_err(|e| BtcError::Signature(format!("PSBT {}: {e}", n + 1)))?;
        verify_partial_signatures(vault, &other, policy)
            .map_err(|e| BtcError::Signature(format!("PSBT {}: {e}", n + 1)))?;
        base.combine(other)
            .map_err(|e| BtcError::Finalize(format!("cannot combine PSBT {}: {e}", n + 1)))?;
    }
    Ok(base)
}

/// Verifies, finalizes through miniscript and extracts the transaction. The PSBT is finalized in
/// place (its final witnesses are set).
pub fn finalize(
    vault: &BtcVault,
    psbt: &mut Psbt,
    policy: &ReviewPolicy,
) -> Result<Transaction, BtcError> {
    let secp = Secp256k1::new();
    // The review verifies every signature the PSBT carries.
    let review = review_with(vault, psbt, policy, &secp)?;
    // Scripts a finalizer needs but the PSBT may lack, filled from the vault (never trusted from it).
    for (i, context) in review.contexts.iter().enumerate() {
        let input = &psbt.inputs[i];
        let missing = match &context.descriptor {
            Descriptor::Tr(_) => input.tap_internal_key.is_none(),
            Descriptor::Wsh(_) => input.witness_script.is_none(),
            Descriptor::Sh(_) => input.redeem_script.is_none(),
            _ => false,
        };
        if missing {
            let definite = vault.definite_descriptor(context.branch, context.index)?;
            psbt.update_input_with_descriptor(i, &definite)
                .map_err(|e| {
                    BtcError::Finalize(format!("input {i}: cannot fill its scripts: {e}"))
                })?;
        }
    }
    psbt.finalize_mut(&secp).map_err(|errors| {
        BtcError::Finalize(format!(
            "cannot finalize: {}",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    // finalize_mut keeps inputs a peer finalized as they are: run miniscript's interpreter over
    // every input's final scriptSig and witness against the spent outputs.
    miniscript::psbt::interpreter_check(psbt, &secp).map_err(|e| {
        BtcError::Finalize(format!("a final witness does not satisfy its script: {e}"))
    })?;
    Ok(psbt.clone().extract_tx_unchecked_fee_rate())
}
