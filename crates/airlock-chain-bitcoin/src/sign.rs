//! Signing a reviewed PSBT with this signer's key.
//!
//! [`sign_psbt`] re-runs the [review](mod@crate::review) (nothing is signed that the review did not
//! recompute), then for every input whose derivation names this signer's key at the reviewed
//! `(branch, index)`:
//! - segwit v0: BIP-143 sighash from one shared `SighashCache`, ECDSA with RFC 6979 nonces and
//!   low-R grinding (`sign_ecdsa_low_r`, as Bitcoin Core, Electrum and BDK: byte-identical
//!   signatures), stored in `partial_sigs`;
//! - taproot: BIP-341 sighash over all spent outputs, BIP-340 Schnorr; key path
//!   (`tap_key_sig`, tweaked with the merkle root) when this key is the internal key, script
//!   path (`tap_script_sigs`) for every leaf that contains this key.
//!
//! Child keys come from branch keys derived once per call (one HMAC and one scalar addition per
//! input); public keys come from the review's derivation, so signing costs one signature per
//! input and no quadratic work. Large PSBTs are signed over all cores ([`crate::parallel`]);
//! each range of inputs shares one `SighashCache`.
//!
//! This module must never sign an input the review did not tie to the vault, never sign with a
//! key that is not the vault's, and never sign a sighash type the review refused.

use bitcoin::hashes::Hash as _;
use bitcoin::key::{Keypair, TapTweak};
use bitcoin::secp256k1::{All, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::taproot::{LeafVersion, TapLeafHash};
use bitcoin::{Psbt, XOnlyPublicKey, ecdsa, taproot};
use miniscript::{Descriptor, ForEachKey};

use crate::error::BtcError;
use crate::keys::{BranchSigner, SignerKey};
use crate::parallel::map_ranges;
use crate::review::{InputContext, PsbtReview, ReviewPolicy, review_with};
use crate::vault::BtcVault;

/// What a signing call did.
#[derive(Clone, Debug)]
pub struct SignReport {
    /// The review the signatures were made under.
    pub review: PsbtReview,
    /// Inputs that received at least one new signature.
    pub signed_inputs: usize,
    /// Signatures added (an input may get several for taproot script paths).
    pub signatures: usize,
}

/// Reviews and signs `psbt` in place with `key`. Fails if the key signs nothing.
pub fn sign_psbt(
    vault: &BtcVault,
    psbt: &mut Psbt,
    key: &SignerKey,
    policy: &ReviewPolicy,
) -> Result<SignReport, BtcError> {
    let secp = crate::secp();
    let review = review_with(vault, psbt, policy, secp)?;
    let (signed_inputs, signatures) = sign_reviewed_with(vault, psbt, &review, key, secp)?;
    Ok(SignReport {
        review,
        signed_inputs,
        signatures,
    })
}

/// Signs `psbt` under a review made earlier of the same PSBT (the one shown to the person), so
/// that it is not recomputed. The review must be of this unsigned transaction; sighash types and
/// spent outputs are taken from the review, not from `psbt`. Returns (inputs signed, signatures).
pub fn sign_reviewed(
    vault: &BtcVault,
    psbt: &mut Psbt,
    review: &PsbtReview,
    key: &SignerKey,
) -> Result<(usize, usize), BtcError> {
    sign_reviewed_with(vault, psbt, review, key, crate::secp())
}

/// This signer's branch keys for one vault, derived once (the account derivation, its check
/// against the vault's xpub, and both branch keys cost several elliptic-curve multiplications),
/// for signing many PSBTs of that vault ([`sign_reviewed_prepared`]). The keys are erased when it
/// is dropped.
pub struct PreparedSigner {
    mine: Vec<(usize, BranchSigner)>,
    /// The vault's keys at those positions, as prepared (a vault with other keys is refused).
    prepared_for: Vec<crate::vault::VaultKey>,
}

impl PreparedSigner {
    /// Derives `key`'s branch keys for every position of `vault` that names its fingerprint;
    /// fails when none does, or when one names it with another key.
    pub fn new(vault: &BtcVault, key: &SignerKey) -> Result<PreparedSigner, BtcError> {
        let mine: Vec<(usize, BranchSigner)> = vault
            .keys()
            .iter()
            .enumerate()
            .filter(|(_, k)| k.fingerprint == key.fingerprint())
            .map(|(position, k)| key.branch_signer(k).map(|s| (position, s)))
            .collect::<Result<_, _>>()?;
        if mine.is_empty() {
            return Err(BtcError::Key(format!(
                "this signer's key (fingerprint {}) is not a key of the vault",
                key.fingerprint()
            )));
        }
        let prepared_for = mine
            .iter()
            .map(|(position, _)| vault.keys()[*position].clone())
            .collect();
        Ok(PreparedSigner { mine, prepared_for })
    }
}

/// [`sign_reviewed`] with branch keys derived beforehand for this vault.
pub fn sign_reviewed_prepared(
    vault: &BtcVault,
    psbt: &mut Psbt,
    review: &PsbtReview,
    prepared: &PreparedSigner,
) -> Result<(usize, usize), BtcError> {
    check_review_matches(vault, psbt, review)?;
    sign_prepared(vault, psbt, review, prepared, crate::secp())
}

fn sign_reviewed_with(
    vault: &BtcVault,
    psbt: &mut Psbt,
    review: &PsbtReview,
    key: &SignerKey,
    secp: &Secp256k1<All>,
) -> Result<(usize, usize), BtcError> {
    check_review_matches(vault, psbt, review)?;
    sign_prepared(vault, psbt, review, &PreparedSigner::new(vault, key)?, secp)
}

fn check_review_matches(
    vault: &BtcVault,
    psbt: &Psbt,
    review: &PsbtReview,
) -> Result<(), BtcError> {
    if review.txid != psbt.unsigned_tx.compute_txid()
        || review.contexts.len() != psbt.inputs.len()
        || review.network != vault.network()
    {
        return Err(BtcError::refused(
            "the review is of another transaction or vault: review this PSBT first",
        ));
    }
    Ok(())
}

/// Signs with `prepared`; its callers have checked that `review` is of this PSBT and vault.
fn sign_prepared(
    vault: &BtcVault,
    psbt: &mut Psbt,
    review: &PsbtReview,
    prepared: &PreparedSigner,
    secp: &Secp256k1<All>,
) -> Result<(usize, usize), BtcError> {
    let mine = &prepared.mine;
    if mine
        .iter()
        .zip(&prepared.prepared_for)
        .any(|((position, _), key)| vault.keys().get(*position) != Some(key))
    {
        return Err(BtcError::Key(
            "the prepared keys are of another vault: prepare them for this one".into(),
        ));
    }
    let (signed_inputs, signatures) = if vault.is_taproot() {
        sign_taproot(vault, psbt, review, mine, secp)?
    } else {
        sign_segwit_v0(vault, psbt, review, mine, secp)?
    };
    if signatures == 0 {
        return Err(BtcError::Key(format!(
            "no input names this signer's key (fingerprint {}) in its derivations: nothing signed",
            prepared
                .prepared_for
                .first()
                .map(|k| k.fingerprint.to_string())
                .unwrap_or_default()
        )));
    }
    Ok((signed_inputs, signatures))
}

/// Whether the input's own derivation data names `vault_key_position`'s key at the reviewed
/// position with the derived public key. A derivation naming this key with another public key
/// is refused.
fn input_names_key(
    vault: &BtcVault,
    psbt: &Psbt,
    i: usize,
    context: &InputContext,
    position: usize,
) -> Result<Option<bitcoin::PublicKey>, BtcError> {
    let vault_key = &vault.keys()[position];
    let Some(derived) = context.key_pubkeys.get(position).copied().flatten() else {
        return Ok(None);
    };
    let expected_path = vault_key.full_path(context.branch, context.index);
    let input = &psbt.inputs[i];
    let mut named = false;
    for (pubkey, (fingerprint, path)) in &input.bip32_derivation {
        if *fingerprint == vault_key.fingerprint && *path == expected_path {
            if *pubkey != derived.inner {
                return Err(BtcError::refused(format!(
                    "input {i}: the derivation for [{fingerprint}/{path}] names public key {pubkey}, which is not the key at that path"
                )));
            }
            named = true;
        }
    }
    for (xonly, (_, (fingerprint, path))) in &input.tap_key_origins {
        if *fingerprint == vault_key.fingerprint && *path == expected_path {
            if *xonly != derived.inner.x_only_public_key().0 {
                return Err(BtcError::refused(format!(
                    "input {i}: the taproot derivation for [{fingerprint}/{path}] names key {xonly}, which is not the key at that path"
                )));
            }
            named = true;
        }
    }
    Ok(named.then_some(derived))
}

fn sign_segwit_v0(
    vault: &BtcVault,
    psbt: &mut Psbt,
    review: &PsbtReview,
    mine: &[(usize, BranchSigner)],
    secp: &Secp256k1<All>,
) -> Result<(usize, usize), BtcError> {
    let shared: &Psbt = psbt;
    // Signatures per input, computed over the cores; each range has its own SighashCache (the
    // BIP-143 midstates are computed once per range).
    let per_input = map_ranges(review.contexts.len(), |range| {
        let mut cache = SighashCache::new(&shared.unsigned_tx);
        let mut out = Vec::with_capacity(range.len());
        for i in range {
            let context = &review.contexts[i];
            let sighash_type = match review.inputs[i].sighash_type {
                Some(t) => t
                    .ecdsa_hash_ty()
                    .map_err(|e| BtcError::refused(format!("input {i}: {e}")))?,
                None => EcdsaSighashType::All,
            };
            let mut made = Vec::new();
            let mut script_code = None;
            for (position, branch_signer) in mine {
                let Some(pubkey) = input_names_key(vault, shared, i, context, *position)? else {
                    continue;
                };
                if script_code.is_none() {
                    script_code = Some(context.descriptor.script_code().map_err(|e| {
                        BtcError::refused(format!("input {i}: no script code: {e}"))
                    })?);
                }
                let code = script_code
                    .as_ref()
                    .ok_or_else(|| BtcError::refused("no script code"))?;
                let sighash = cache
                    .p2wsh_signature_hash(i, code, review.spent_outputs[i].value, sighash_type)
                    .map_err(|e| BtcError::refused(format!("input {i}: sighash: {e}")))?;
                let mut secret = branch_signer.child(context.branch, context.index)?;
                let message = Message::from_digest(sighash.to_byte_array());
                let signature = secp.sign_ecdsa_low_r(&message, &secret);
                secret.non_secure_erase();
                made.push((
                    pubkey,
                    ecdsa::Signature {
                        signature,
                        sighash_type,
                    },
                ));
            }
            out.push(made);
        }
        Ok::<_, BtcError>(out)
    })?;
    let mut signed_inputs = 0;
    let mut signatures = 0;
    for (input, made) in psbt.inputs.iter_mut().zip(per_input) {
        signed_inputs += usize::from(!made.is_empty());
        signatures += made.len();
        input.partial_sigs.extend(made);
    }
    Ok((signed_inputs, signatures))
}

/// The leaves of a derived taproot descriptor: (leaf hash, keys in the leaf).
pub(crate) fn tap_leaves(
    descriptor: &Descriptor<bitcoin::PublicKey>,
) -> Vec<(TapLeafHash, Vec<XOnlyPublicKey>)> {
    let Descriptor::Tr(tr) = descriptor else {
        return Vec::new();
    };
    tr.iter_scripts()
        .map(|(_, ms)| {
            let script = ms.encode();
            let leaf = TapLeafHash::from_script(&script, LeafVersion::TapScript);
            let mut keys = Vec::new();
            ms.for_each_key(|k| {
                keys.push(k.inner.x_only_public_key().0);
                true
            });
            (leaf, keys)
        })
        .collect()
}

fn sign_taproot(
    vault: &BtcVault,
    psbt: &mut Psbt,
    review: &PsbtReview,
    mine: &[(usize, BranchSigner)],
    secp: &Secp256k1<All>,
) -> Result<(usize, usize), BtcError> {
    let tx = psbt.unsigned_tx.clone();
    let mut cache = SighashCache::new(&tx);
    let prevouts = Prevouts::All(&review.spent_outputs);
    let mut signed_inputs = 0;
    let mut signatures = 0;
    for (i, context) in review.contexts.iter().enumerate() {
        let Descriptor::Tr(tr) = &context.descriptor else {
            return Err(BtcError::refused(format!(
                "input {i} is not a taproot input"
            )));
        };
        let sighash_type = match review.inputs[i].sighash_type {
            Some(t) => t
                .taproot_hash_ty()
                .map_err(|e| BtcError::refused(format!("input {i}: {e}")))?,
            None => TapSighashType::Default,
        };
        let spend_info = tr.spend_info();
        let internal = tr.internal_key().inner.x_only_public_key().0;
        let leaves = tap_leaves(&context.descriptor);
        let mut signed_here = false;
        for (position, branch_signer) in mine {
            let Some(pubkey) = input_names_key(vault, psbt, i, context, *position)? else {
                continue;
            };
            let xonly = pubkey.inner.x_only_public_key().0;
            let mut secret: SecretKey = branch_signer.child(context.branch, context.index)?;
            let mut keypair = Keypair::from_secret_key(secp, &secret);
            secret.non_secure_erase();
            if xonly == internal {
                let sighash = cache
                    .taproot_key_spend_signature_hash(i, &prevouts, sighash_type)
                    .map_err(|e| BtcError::refused(format!("input {i}: sighash: {e}")))?;
                let tweaked = keypair.tap_tweak(secp, spend_info.merkle_root());
                let message = Message::from_digest(sighash.to_byte_array());
                let signature = secp.sign_schnorr(&message, &tweaked.to_keypair());
                psbt.inputs[i].tap_key_sig = Some(taproot::Signature {
                    signature,
                    sighash_type,
                });
                signatures += 1;
                signed_here = true;
            }
            for (leaf, keys) in &leaves {
                if !keys.contains(&xonly) {
                    continue;
                }
                let sighash = cache
                    .taproot_script_spend_signature_hash(i, &prevouts, *leaf, sighash_type)
                    .map_err(|e| BtcError::refused(format!("input {i}: sighash: {e}")))?;
                let message = Message::from_digest(sighash.to_byte_array());
                let signature = secp.sign_schnorr(&message, &keypair);
                psbt.inputs[i].tap_script_sigs.insert(
                    (xonly, *leaf),
                    taproot::Signature {
                        signature,
                        sighash_type,
                    },
                );
                signatures += 1;
                signed_here = true;
            }
            keypair.non_secure_erase();
        }
        signed_inputs += usize::from(signed_here);
    }
    Ok((signed_inputs, signatures))
}
