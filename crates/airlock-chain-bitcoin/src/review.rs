//! PSBT review: what a PSBT really does, recomputed from the signer's own registered vault.
//!
//! [`review`] trusts nothing the PSBT claims about ownership:
//! - every input must belong to the vault: its BIP-32 (or BIP-371 taproot) derivation names a
//!   vault key at `(branch, index)`, and the vault's script re-derived there must equal the
//!   spent output's script. A `non_witness_utxo` must hash to the spent txid and its output must
//!   equal the `witness_utxo` when both are present;
//! - an output is change only if it re-derives to the exact script at the PSBT's path; an output
//!   claiming a vault path whose script differs is refused; everything else is a payment;
//! - amounts, absolute fee, fee rate (sat/vB over the final size estimated from the descriptor's
//!   maximum satisfaction weight), fee as a percentage of the payments, with warnings and hard
//!   limits ([`ReviewPolicy`]); sighash types other than ALL (segwit v0) / DEFAULT or ALL
//!   (taproot) are refused unless the policy allows them (then warned about); lock time and
//!   sequence facts;
//! - every signature the PSBT already carries (partial ECDSA signatures, taproot key- and
//!   script-path signatures) must be filed under a key the input's script uses and verify over
//!   the recomputed sighash ([`crate::combine`]): a PSBT carrying one that does not is refused,
//!   naming the input and the key, so that a bad signature can never poison the approvals
//!   added to it.
//!
//! This module must never treat an output as change without re-deriving it, never accept an
//! input it could not tie to the vault, never accept a fee it could not compute, and never
//! accept a signature it has not verified.

use std::collections::BTreeSet;

use bitcoin::bip32::KeySource;
use bitcoin::psbt::{Input, Output, PsbtSighashType};
use bitcoin::secp256k1::{Secp256k1, Signing, Verification};
use bitcoin::sighash::{EcdsaSighashType, TapSighashType};
use bitcoin::{
    Address, Amount, Network, OutPoint, Psbt, ScriptBuf, Sequence, TxOut, Txid, absolute, relative,
};
use miniscript::Descriptor;

use crate::error::BtcError;
use crate::parallel::map_ranges;
use crate::vault::{BtcVault, CHANGE, RECEIVE};

/// Limits and thresholds of a review.
#[derive(Clone, Debug, PartialEq)]
pub struct ReviewPolicy {
    /// Warn above this fee rate (sat/vB).
    pub warn_fee_rate: f64,
    /// Refuse above this fee rate (sat/vB).
    pub max_fee_rate: f64,
    /// Warn when the fee exceeds this percentage of the payments.
    pub warn_fee_percent: f64,
    /// Refuse an absolute fee above this many satoshis.
    pub max_fee_sats: u64,
    /// Refuse when the fee exceeds the sum of the payments (a consolidation without payments is
    /// bounded by the other limits only).
    pub refuse_fee_above_payments: bool,
    /// Accept (with a warning) sighash types other than ALL / DEFAULT.
    pub allow_non_default_sighash: bool,
    /// Refuse segwit v0 inputs that lack `non_witness_utxo` (hardware-wallet behaviour); when
    /// false they are accepted with a warning.
    pub require_non_witness_utxo: bool,
}

impl Default for ReviewPolicy {
    fn default() -> Self {
        ReviewPolicy {
            warn_fee_rate: 100.0,
            max_fee_rate: 1_000.0,
            warn_fee_percent: 3.0,
            max_fee_sats: 5_000_000,
            refuse_fee_above_payments: true,
            allow_non_default_sighash: false,
            require_non_witness_utxo: false,
        }
    }
}

/// One input as reviewed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewedInput {
    pub outpoint: OutPoint,
    pub amount: Amount,
    /// 0 = receive branch, 1 = change branch.
    pub branch: usize,
    /// Address index within the branch.
    pub index: u32,
    pub sequence: Sequence,
    /// The sighash type requested by the PSBT, if any.
    pub sighash_type: Option<PsbtSighashType>,
    /// Whether the full previous transaction was supplied and checked.
    pub has_previous_transaction: bool,
}

/// One output as reviewed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewedOutput {
    /// Position in the transaction.
    pub vout: u32,
    /// The address on the vault's network, or `script:<hex>` / `OP_RETURN:<hex>`.
    pub destination: String,
    pub amount: Amount,
    /// `(branch, index)` for change outputs.
    pub derivation: Option<(usize, u32)>,
}

/// What the signer recomputed for one input, kept for signing and verification.
#[derive(Clone, Debug)]
pub(crate) struct InputContext {
    pub(crate) descriptor: Descriptor<bitcoin::PublicKey>,
    /// Derived public key of each vault key at this input (same order as `BtcVault::keys`).
    pub(crate) key_pubkeys: Vec<Option<bitcoin::PublicKey>>,
    pub(crate) branch: usize,
    pub(crate) index: u32,
}

/// The review of a PSBT.
#[derive(Clone, Debug)]
pub struct PsbtReview {
    pub txid: Txid,
    pub network: Network,
    pub inputs: Vec<ReviewedInput>,
    pub payments: Vec<ReviewedOutput>,
    pub change: Vec<ReviewedOutput>,
    pub total_in: Amount,
    pub total_out: Amount,
    pub fee: Amount,
    /// Estimated virtual size once signed (largest satisfaction of every input).
    pub estimated_vsize: u64,
    /// fee / estimated_vsize, sat/vB.
    pub fee_rate: f64,
    /// fee as a percentage of the payments (`None` without payments).
    pub fee_percent: Option<f64>,
    pub lock_time: absolute::LockTime,
    /// Whether any input signals replaceability (BIP-125).
    pub replaceable: bool,
    pub warnings: Vec<String>,
    pub(crate) contexts: Vec<InputContext>,
    pub(crate) spent_outputs: Vec<TxOut>,
    /// Signatures the PSBT already carried, verified, per input.
    pub(crate) signatures: Vec<usize>,
}

impl PsbtReview {
    /// The sum of the payments (outputs leaving the vault).
    pub fn payments_total(&self) -> Amount {
        self.payments.iter().map(|o| o.amount).sum()
    }

    /// The spent outputs, in input order.
    pub fn spent_outputs(&self) -> &[TxOut] {
        &self.spent_outputs
    }

    /// The signatures the PSBT already carried when it was reviewed, each verified.
    pub fn signature_report(&self) -> crate::combine::SignatureReport {
        crate::combine::SignatureReport {
            per_input: self.signatures.clone(),
        }
    }

    /// Label/value facts for display.
    pub fn details(&self) -> Vec<(String, String)> {
        let mut details = vec![
            ("unsigned txid".to_owned(), self.txid.to_string()),
            ("network".to_owned(), self.network.to_string()),
            (
                "inputs".to_owned(),
                format!("{} ({} sat)", self.inputs.len(), self.total_in.to_sat()),
            ),
            (
                "payments".to_owned(),
                format!(
                    "{} ({} sat)",
                    self.payments.len(),
                    self.payments_total().to_sat()
                ),
            ),
            (
                "change".to_owned(),
                format!(
                    "{} ({} sat)",
                    self.change.len(),
                    self.change.iter().map(|o| o.amount.to_sat()).sum::<u64>()
                ),
            ),
            ("fee".to_owned(), format!("{} sat", self.fee.to_sat())),
            (
                "fee rate".to_owned(),
                format!(
                    "{:.2} sat/vB (estimated final size {} vB)",
                    self.fee_rate, self.estimated_vsize
                ),
            ),
        ];
        if let Some(percent) = self.fee_percent {
            details.push(("fee / payments".to_owned(), format!("{percent:.2} %")));
        }
        details.push(("lock time".to_owned(), describe_lock_time(self.lock_time)));
        let carried: usize = self.signatures.iter().sum();
        if carried > 0 {
            details.push((
                "signatures already present".to_owned(),
                format!("{carried}, each verified against the key it is filed under"),
            ));
        }
        details.push((
            "replaceable (RBF)".to_owned(),
            if self.replaceable { "yes" } else { "no" }.to_owned(),
        ));
        for input in &self.inputs {
            if let Some(lock) = input.sequence.to_relative_lock_time() {
                details.push((
                    format!("input {} relative lock", input.outpoint),
                    match lock {
                        relative::LockTime::Blocks(h) => format!("{} blocks", h.value()),
                        relative::LockTime::Time(t) => {
                            format!("{} seconds", t.value() as u32 * 512)
                        }
                    },
                ));
            }
        }
        for output in &self.change {
            if let Some((branch, index)) = output.derivation {
                details.push((
                    format!("output {} returns to the vault", output.vout),
                    format!(
                        "{} at {}/{index}",
                        output.destination,
                        if branch == CHANGE {
                            "change"
                        } else {
                            "receive"
                        }
                    ),
                ));
            }
        }
        details
    }
}

fn describe_lock_time(lock: absolute::LockTime) -> String {
    match lock {
        absolute::LockTime::Blocks(h) if h.to_consensus_u32() == 0 => "none".to_owned(),
        absolute::LockTime::Blocks(h) => format!("block height {}", h.to_consensus_u32()),
        absolute::LockTime::Seconds(t) => format!("unix time {}", t.to_consensus_u32()),
    }
}

/// Renders an output script as its address on `network`, or as hex.
pub fn display_script(script: &ScriptBuf, network: Network) -> String {
    if let Ok(address) = Address::from_script(script, network) {
        return address.to_string();
    }
    if script.is_op_return() {
        return format!("OP_RETURN:{}", hex::encode(script.as_bytes()));
    }
    format!("script:{}", hex::encode(script.as_bytes()))
}

/// Every `(branch, index)` the input's or output's key sources name for a vault key, deduplicated.
fn vault_positions<'a>(
    vault: &BtcVault,
    sources: impl Iterator<Item = &'a KeySource>,
) -> Vec<(usize, u32, String)> {
    let mut seen = BTreeSet::new();
    let mut positions = Vec::new();
    for source in sources {
        if let Some((branch, index)) = vault.match_source(source)
            && seen.insert((branch, index))
        {
            positions.push((branch, index, format!("m/{}", source.1)));
        }
    }
    positions
}

fn input_sources(input: &Input) -> impl Iterator<Item = &KeySource> {
    input
        .bip32_derivation
        .values()
        .chain(input.tap_key_origins.values().map(|(_, source)| source))
}

fn output_sources(output: &Output) -> impl Iterator<Item = &KeySource> {
    output
        .bip32_derivation
        .values()
        .chain(output.tap_key_origins.values().map(|(_, source)| source))
}

/// The spent output of input `i`, checked across `witness_utxo` and `non_witness_utxo`.
fn spent_output(
    psbt: &Psbt,
    i: usize,
    policy: &ReviewPolicy,
    taproot: bool,
    missing_previous: &mut usize,
) -> Result<(TxOut, bool), BtcError> {
    let input = &psbt.inputs[i];
    let outpoint = psbt.unsigned_tx.input[i].previous_output;
    match (&input.witness_utxo, &input.non_witness_utxo) {
        (witness, Some(previous)) => {
            let txid = previous.compute_txid();
            if txid != outpoint.txid {
                return Err(BtcError::refused(format!(
                    "input {i} spends {outpoint} but its non_witness_utxo is transaction {txid}: the previous transaction does not match"
                )));
            }
            let output = previous.output.get(outpoint.vout as usize).ok_or_else(|| {
                BtcError::refused(format!(
                    "input {i} spends output {} of {txid}, which has only {} outputs",
                    outpoint.vout,
                    previous.output.len()
                ))
            })?;
            if let Some(witness) = witness
                && witness != output
            {
                return Err(BtcError::refused(format!(
                    "input {i} ({outpoint}): witness_utxo ({} sat, script {}) does not match non_witness_utxo's output ({} sat, script {}): mismatched UTXO data",
                    witness.value.to_sat(),
                    witness.script_pubkey.to_hex_string(),
                    output.value.to_sat(),
                    output.script_pubkey.to_hex_string()
                )));
            }
            Ok((output.clone(), true))
        }
        (Some(witness), None) => {
            if !taproot {
                if policy.require_non_witness_utxo {
                    return Err(BtcError::refused(format!(
                        "input {i} ({outpoint}) has no non_witness_utxo; its amount cannot be checked against the previous transaction"
                    )));
                }
                *missing_previous += 1;
            }
            Ok((witness.clone(), false))
        }
        (None, None) => Err(BtcError::refused(format!(
            "input {i} ({outpoint}) carries neither witness_utxo nor non_witness_utxo: its amount is unknown"
        ))),
    }
}

fn check_sighash(
    i: usize,
    requested: Option<PsbtSighashType>,
    taproot: bool,
    policy: &ReviewPolicy,
    warnings: &mut Vec<String>,
) -> Result<(), BtcError> {
    let Some(requested) = requested else {
        return Ok(());
    };
    let standard = if taproot {
        matches!(
            requested.taproot_hash_ty(),
            Ok(TapSighashType::Default | TapSighashType::All)
        )
    } else {
        matches!(requested.ecdsa_hash_ty(), Ok(EcdsaSighashType::All))
    };
    if standard {
        return Ok(());
    }
    if policy.allow_non_default_sighash {
        warnings.push(format!(
            "input {i} asks for sighash type {requested}: the signature will not commit to the whole transaction"
        ));
        Ok(())
    } else {
        Err(BtcError::refused(format!(
            "input {i} asks for non-default sighash type {requested}; only ALL/DEFAULT are signed (the signature would not commit to the whole transaction)"
        )))
    }
}

/// Ties input `i` to the vault: the first `(branch, index)` its derivations name whose re-derived
/// script is the spent script; checks a supplied witness script against it.
fn input_context<C: Signing>(
    vault: &BtcVault,
    psbt: &Psbt,
    i: usize,
    spent: &TxOut,
    secp: &Secp256k1<C>,
) -> Result<InputContext, BtcError> {
    let input = &psbt.inputs[i];
    let outpoint = psbt.unsigned_tx.input[i].previous_output;
    let positions = vault_positions(vault, input_sources(input));
    if positions.is_empty() {
        return Err(BtcError::refused(format!(
            "input {i} ({outpoint}) does not belong to the vault: it carries no BIP-32 derivation of any vault key"
        )));
    }
    let mut found = None;
    for (branch, index, _) in &positions {
        let (descriptor, key_pubkeys) = vault.derive_with_keys(*branch, *index, secp)?;
        if descriptor.script_pubkey() == spent.script_pubkey {
            found = Some(InputContext {
                descriptor,
                key_pubkeys,
                branch: *branch,
                index: *index,
            });
            break;
        }
    }
    let Some(context) = found else {
        let paths: Vec<_> = positions.iter().map(|p| p.2.clone()).collect();
        return Err(BtcError::refused(format!(
            "input {i} ({outpoint}) does not belong to the vault: it spends {} but the vault's script at {} is different",
            display_script(&spent.script_pubkey, vault.network()),
            paths.join(", ")
        )));
    };
    if let Some(witness_script) = &input.witness_script {
        let expected = context.descriptor.explicit_script().ok();
        if expected.as_ref() != Some(witness_script) {
            return Err(BtcError::refused(format!(
                "input {i} ({outpoint}): its witness_script is not the vault's script at that path"
            )));
        }
    }
    Ok(context)
}

/// Reviews `psbt` against `vault`. See the module docs.
pub fn review(
    vault: &BtcVault,
    psbt: &Psbt,
    policy: &ReviewPolicy,
) -> Result<PsbtReview, BtcError> {
    review_with(vault, psbt, policy, crate::secp())
}

pub(crate) fn review_with<C: Signing + Verification + Sync>(
    vault: &BtcVault,
    psbt: &Psbt,
    policy: &ReviewPolicy,
    secp: &Secp256k1<C>,
) -> Result<PsbtReview, BtcError> {
    let tx = &psbt.unsigned_tx;
    let network = vault.network();
    let taproot = vault.is_taproot();
    if tx.input.is_empty() {
        return Err(BtcError::refused("the transaction has no inputs"));
    }
    if tx.output.is_empty() {
        return Err(BtcError::refused("the transaction has no outputs"));
    }
    if psbt.inputs.len() != tx.input.len() || psbt.outputs.len() != tx.output.len() {
        return Err(BtcError::Psbt(
            "the PSBT's input/output maps do not match its transaction".into(),
        ));
    }
    let mut warnings = Vec::new();
    let mut seen_outpoints = std::collections::HashMap::with_capacity(tx.input.len());
    let mut inputs = Vec::with_capacity(tx.input.len());
    let mut contexts = Vec::with_capacity(tx.input.len());
    let mut spent_outputs = Vec::with_capacity(tx.input.len());
    let mut missing_previous = 0usize;
    let mut total_in = Amount::ZERO;
    let mut satisfaction_weight: u64 = 0;

    // Cheap checks first, in input order: duplicate outpoints and the spent outputs.
    let mut spent_with_origin = Vec::with_capacity(tx.input.len());
    for (i, txin) in tx.input.iter().enumerate() {
        let outpoint = txin.previous_output;
        if let Some(first) = seen_outpoints.insert(outpoint, i) {
            return Err(BtcError::refused(format!(
                "inputs {first} and {i} both spend {outpoint}"
            )));
        }
        spent_with_origin.push(spent_output(
            psbt,
            i,
            policy,
            taproot,
            &mut missing_previous,
        )?);
    }
    // Re-deriving every input's script from the vault: the expensive part, spread over cores.
    let derived = map_ranges(tx.input.len(), |range| {
        let mut contexts = Vec::with_capacity(range.len());
        for i in range {
            contexts.push(input_context(
                vault,
                psbt,
                i,
                &spent_with_origin[i].0,
                secp,
            )?);
        }
        Ok::<_, BtcError>(contexts)
    })?;
    for (i, ((txin, input), context)) in tx.input.iter().zip(&psbt.inputs).zip(derived).enumerate()
    {
        let (spent, has_previous) = spent_with_origin[i].clone();
        check_sighash(i, input.sighash_type, taproot, policy, &mut warnings)?;
        total_in = total_in
            .checked_add(spent.value)
            .ok_or_else(|| BtcError::refused("the input amounts overflow"))?;
        satisfaction_weight += vault.max_satisfaction_weight(context.branch).to_wu() + 1;
        inputs.push(ReviewedInput {
            outpoint: txin.previous_output,
            amount: spent.value,
            branch: context.branch,
            index: context.index,
            sequence: txin.sequence,
            sighash_type: input.sighash_type,
            has_previous_transaction: has_previous,
        });
        contexts.push(context);
        spent_outputs.push(spent);
    }
    if missing_previous > 0 {
        warnings.push(format!(
            "{missing_previous} segwit v0 input(s) carry no non_witness_utxo: their amounts are as the PSBT claims (signatures still commit to them)"
        ));
    }

    let mut payments = Vec::new();
    let mut change = Vec::new();
    let mut total_out = Amount::ZERO;
    for (vout, (txout, output)) in tx.output.iter().zip(&psbt.outputs).enumerate() {
        let vout = vout as u32;
        total_out = total_out
            .checked_add(txout.value)
            .ok_or_else(|| BtcError::refused("the output amounts overflow"))?;
        let destination = display_script(&txout.script_pubkey, network);
        let positions = vault_positions(vault, output_sources(output));
        let mut derivation = None;
        for (branch, index, _) in &positions {
            if vault.derive(*branch, *index, secp)?.script_pubkey() == txout.script_pubkey {
                derivation = Some((*branch, *index));
                break;
            }
        }
        if derivation.is_none() && !positions.is_empty() {
            // Change only if it re-derives; anything else is a payment, and a person must know
            // that this one pretends otherwise (or is another descriptor sharing our keys, as a
            // sweep to a rotated vault is).
            let paths: Vec<_> = positions.iter().map(|p| p.2.clone()).collect();
            warnings.push(format!(
                "output {vout} claims to return to the vault ({}) but pays a foreign script ({destination}): it is NOT the vault's change, it is shown as a PAYMENT of {} sat",
                paths.join(", "),
                txout.value.to_sat()
            ));
        }
        if derivation.is_none()
            && !txout.script_pubkey.is_op_return()
            && txout.value < txout.script_pubkey.minimal_non_dust()
        {
            warnings.push(format!(
                "output {vout} pays {} sat, below the dust limit: it will not relay",
                txout.value.to_sat()
            ));
        }
        let reviewed = ReviewedOutput {
            vout,
            destination,
            amount: txout.value,
            derivation,
        };
        match derivation {
            Some((RECEIVE, _)) => {
                warnings.push(format!(
                    "output {vout} returns to the vault's receive address {} (not a change address)",
                    reviewed.destination
                ));
                change.push(reviewed);
            }
            Some(_) => change.push(reviewed),
            None => payments.push(reviewed),
        }
    }

    let fee = total_in.checked_sub(total_out).ok_or_else(|| {
        BtcError::refused(format!(
            "the outputs ({} sat) exceed the inputs ({} sat)",
            total_out.to_sat(),
            total_in.to_sat()
        ))
    })?;
    // Unsigned weight (no witness) + segwit marker and flag + every input's largest witness.
    let weight = tx.weight().to_wu() + 2 + satisfaction_weight;
    let estimated_vsize = weight.div_ceil(4);
    let fee_rate = fee.to_sat() as f64 / estimated_vsize as f64;
    let payments_total: Amount = payments.iter().map(|o| o.amount).sum();
    let fee_percent = (payments_total > Amount::ZERO)
        .then(|| fee.to_sat() as f64 * 100.0 / payments_total.to_sat() as f64);

    if fee.to_sat() > policy.max_fee_sats {
        return Err(BtcError::refused(format!(
            "absurd fee: {} sat exceeds the cap of {} sat",
            fee.to_sat(),
            policy.max_fee_sats
        )));
    }
    if fee_rate > policy.max_fee_rate {
        return Err(BtcError::refused(format!(
            "absurd fee rate: {fee_rate:.1} sat/vB exceeds the cap of {} sat/vB (fee {} sat)",
            policy.max_fee_rate,
            fee.to_sat()
        )));
    }
    if policy.refuse_fee_above_payments && payments_total > Amount::ZERO && fee > payments_total {
        return Err(BtcError::refused(format!(
            "absurd fee: {} sat is more than the payments ({} sat)",
            fee.to_sat(),
            payments_total.to_sat()
        )));
    }
    if fee_rate > policy.warn_fee_rate {
        warnings.push(format!(
            "high fee rate: {fee_rate:.1} sat/vB (fee {} sat)",
            fee.to_sat()
        ));
    }
    if let Some(percent) = fee_percent
        && percent > policy.warn_fee_percent
    {
        warnings.push(format!(
            "the fee is {percent:.1} % of the payments ({} sat of {} sat)",
            fee.to_sat(),
            payments_total.to_sat()
        ));
    }
    if payments.is_empty() {
        warnings.push("no payment: every output returns to the vault (consolidation)".into());
    }
    let lock_time = tx.lock_time;
    if lock_time != absolute::LockTime::ZERO && tx.input.iter().all(|i| i.sequence == Sequence::MAX)
    {
        warnings.push(format!(
            "the lock time ({}) has no effect: every input's sequence is final",
            describe_lock_time(lock_time)
        ));
    }
    if inputs.iter().any(|i| i.sequence.is_relative_lock_time()) && tx.version.0 < 2 {
        warnings.push(
            "relative lock times need transaction version 2; this transaction is version 1".into(),
        );
    }
    let replaceable = tx.input.iter().any(|i| i.sequence.is_rbf());
    let mut review = PsbtReview {
        txid: tx.compute_txid(),
        network,
        inputs,
        payments,
        change,
        total_in,
        total_out,
        fee,
        estimated_vsize,
        fee_rate,
        fee_percent,
        lock_time,
        replaceable,
        warnings,
        contexts,
        spent_outputs,
        signatures: Vec::new(),
    };
    // Every signature the PSBT already carries must verify against this review's scripts and
    // sighashes: a bad one would poison every approval added to it.
    review.signatures =
        crate::combine::check_partial_signatures(vault, psbt, &review, policy, secp)?;
    Ok(review)
}
