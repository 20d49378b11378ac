//! Offline review and signing of an unsigned Monero transaction (the proposal payload).
//!
//! The payload is monero-wallet's `SignableTransaction` serialization, byte for byte: RingCT type,
//! the 32-byte outgoing view key (seeds the transaction's randomness), the inputs (output key, key
//! offset, amount commitment, ring of 16 with offsets), the payments (address + amount) and at
//! most one change specification, arbitrary extra data, and the fee rate. The signer parses it,
//! requires that monero-wallet reads it identically (same bytes back), and recomputes from its own
//! keys what it shows:
//!
//! - every input must be the wallet's: its output key `P` must equal `B + k·G` for the wallet's
//!   public spend key `B` and the input's key offset `k` (with the spend key, `x = b + k` and the
//!   key image `x·Hp(P)` are derived too);
//! - payments: destination address (must be on the wallet's network) and amount;
//! - change: counted as change only when it goes to this wallet — a change specification with
//!   *both* the wallet's public spend key and its secret view key (primary address or a
//!   subaddress), or a plain change address equal to the primary address or a subaddress in the
//!   look-ahead. Change carrying a foreign view key or a foreign spend key is shown as a
//!   **payment** to that address, with a warning, so that the intent check refuses it unless the
//!   proposal lists it;
//! - the fee exactly as the signed transaction will carry it (the fee rate's fee for the weight
//!   when there is change, else everything not paid out).
//!
//! Signing returns the signed transaction followed by the proved key images of its outputs to
//! the wallet's primary address (the change), so the coordinator can spend the change without
//! another key-image sync.
//!
//! This module must never sign bytes other than the ones it reviewed, and never sign when the
//! recomputed payments differ from the proposal's stated intent.

use std::collections::BTreeSet;

use airlock_core::artifacts::{Proposal, Transfer};
use airlock_core::chain::{
    ChainError, ChainReview, ChainSecret, Description, check_against_intent,
};
use airlock_core::vault::VaultDefinition;
use curve25519_dalek::Scalar as DalekScalar;
use curve25519_dalek::edwards::EdwardsPoint;
use monero_wallet::address::{MoneroAddress, SubaddressIndex};
use monero_wallet::ed25519::{Commitment, CompressedPoint, Scalar};
use monero_wallet::interface::FeeRate;
use monero_wallet::io::{read_byte, read_u32, read_u64, read_vec};
use monero_wallet::ringct::RctPrunable;
use monero_wallet::ringct::RctType;
use monero_wallet::send::SignableTransaction;
use monero_wallet::transaction::{Input, Transaction};
use monero_wallet::{OutputWithDecoys, ViewPair};
use zeroize::Zeroizing;

use crate::error::MoneroError;
use crate::keyimages::{ExportedOutput, KeyImagesFile, OutputsFile, sign_key_images};
use crate::keys::{MoneroNetwork, ViewKeys, WalletKeys, public_of};
use monero_wallet::extra::Extra;

/// The asset name used in Airlock transfers for XMR amounts (atomic units, 1 XMR = 10¹²).
/// Empty: Airlock's convention for a chain's native asset.
pub const ASSET: &str = "";

/// Subaddresses `(0, 1..=LOOKAHEAD)` recognised as the wallet's own for plain change addresses.
pub const SUBADDRESS_LOOKAHEAD: u32 = 50;

/// One payment of the reviewed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewedPayment {
    pub address: String,
    pub amount: u64,
}

/// How the change output of the transaction is specified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewedChange {
    /// No change output: everything not paid out is fee.
    None,
    /// Change to this wallet (address shown), `amount` atomic units.
    Own { address: String, amount: u64 },
    /// A "change" output that does not go to this wallet: a payment.
    Foreign {
        address: String,
        amount: u64,
        reason: String,
    },
}

/// One input, re-derived from the wallet's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewedInput {
    /// The one-time output key being spent (hex).
    pub output_key: String,
    pub amount: u64,
    /// `x·Hp(P)` (hex), when the spend key was available.
    pub key_image: Option<String>,
    pub ring_size: usize,
}

/// What the signer shows for an unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoneroReview {
    pub payments: Vec<ReviewedPayment>,
    pub change: ReviewedChange,
    pub fee: u64,
    pub fee_per_weight: u64,
    pub inputs: Vec<ReviewedInput>,
    pub input_total: u64,
    pub warnings: Vec<String>,
}

enum ParsedChange {
    AddressOnly(MoneroAddress),
    Keys {
        spend: EdwardsPoint,
        view: Zeroizing<DalekScalar>,
        subaddress: Option<SubaddressIndex>,
    },
}

enum ParsedPayment {
    Payment(MoneroAddress, u64),
    Change(ParsedChange),
}

pub(crate) struct ParsedTransaction {
    pub(crate) rct_type: RctType,
    pub(crate) inputs: Vec<OutputWithDecoys>,
    payments: Vec<ParsedPayment>,
    data: Vec<Vec<u8>>,
    fee_rate: FeeRate,
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> MoneroError + '_ {
    move |e| MoneroError::invalid(format!("unsigned transaction: {what}: {e}"))
}

fn read_address(r: &mut &[u8]) -> std::io::Result<MoneroAddress> {
    let bytes = read_vec(read_byte, Some(MoneroAddress::SIZE_UPPER_BOUND.0), r)?;
    String::from_utf8(bytes)
        .ok()
        .and_then(|s| MoneroAddress::from_str_with_unchecked_network(&s).ok())
        .ok_or_else(|| std::io::Error::other("invalid address"))
}

fn read_payment(r: &mut &[u8]) -> std::io::Result<ParsedPayment> {
    let keys = |r: &mut &[u8]| -> std::io::Result<ParsedChange> {
        let spend = CompressedPoint::read(r)?
            .decompress()
            .ok_or_else(|| std::io::Error::other("change spend key is not a point"))?
            .into();
        let view = Zeroizing::new(Scalar::read(r)?.into());
        let subaddress = SubaddressIndex::new(read_u32(r)?, read_u32(r)?);
        Ok(ParsedChange::Keys {
            spend,
            view,
            subaddress,
        })
    };
    Ok(match read_byte(r)? {
        0 => ParsedPayment::Payment(read_address(r)?, read_u64(r)?),
        1 => ParsedPayment::Change(ParsedChange::AddressOnly(read_address(r)?)),
        2 => ParsedPayment::Change(keys(r)?),
        3 => {
            return Err(std::io::Error::other(
                "guaranteed-address change is not supported",
            ));
        }
        other => {
            return Err(std::io::Error::other(format!(
                "unknown payment tag {other}"
            )));
        }
    })
}

/// Parses the payload twice — with monero-wallet's reader (which validates it) and field by
/// field here — and requires both to agree with the bytes exactly.
pub(crate) fn parse(
    payload: &[u8],
) -> Result<(SignableTransaction, ParsedTransaction), MoneroError> {
    if payload.is_empty() {
        return Err(MoneroError::invalid(
            "the proposal carries no unsigned transaction",
        ));
    }
    let stx = SignableTransaction::read(&mut &payload[..])
        .map_err(io_err("rejected by monero-wallet"))?;
    if stx.serialize() != payload {
        return Err(MoneroError::invalid(
            "unsigned transaction: trailing or non-canonical bytes",
        ));
    }
    let mut r = payload;
    let rct_type = RctType::try_from(read_byte(&mut r).map_err(io_err("RingCT type"))?)
        .map_err(|()| MoneroError::invalid("unsigned transaction: unknown RingCT type"))?;
    let _outgoing_view_key: Zeroizing<[u8; 32]> =
        Zeroizing::new(monero_wallet::io::read_bytes(&mut r).map_err(io_err("outgoing view key"))?);
    let inputs = read_vec(OutputWithDecoys::read, Some(1024), &mut r).map_err(io_err("inputs"))?;
    let payments = read_vec(read_payment, Some(16), &mut r).map_err(io_err("payments"))?;
    let data = read_vec(|r| read_vec(read_byte, Some(1024), r), Some(1024), &mut r)
        .map_err(io_err("extra data"))?;
    let fee_rate = FeeRate::read(&mut r).map_err(io_err("fee rate"))?;
    if !r.is_empty() {
        return Err(MoneroError::invalid("unsigned transaction: trailing bytes"));
    }
    Ok((
        stx,
        ParsedTransaction {
            rct_type,
            inputs,
            payments,
            data,
            fee_rate,
        },
    ))
}

fn own_subaddress(keys: &ViewKeys, address: &MoneroAddress) -> Option<u32> {
    if !address.is_subaddress() {
        return None;
    }
    let pair = keys.view_pair();
    (1..=SUBADDRESS_LOOKAHEAD).find(|i| {
        let sub = SubaddressIndex::new(0, *i).expect("index 0/i is a subaddress");
        let mine = pair.subaddress(address.network(), sub);
        mine.spend() == address.spend() && mine.view() == address.view()
    })
}

/// Reviews an unsigned transaction against the wallet's keys. With `spend` the key image of
/// every input is derived too (the signer's case); without, inputs are still checked to be the
/// wallet's via `P = B + k·G`.
pub fn review_unsigned(
    payload: &[u8],
    network: MoneroNetwork,
    keys: &ViewKeys,
    spend: Option<&WalletKeys>,
) -> Result<MoneroReview, MoneroError> {
    let (stx, parsed) = parse(payload)?;
    let mut warnings = Vec::new();

    if !matches!(parsed.rct_type, RctType::ClsagBulletproofPlus) {
        warnings.push(format!(
            "RingCT type {:?}: not the current network's (CLSAG + Bulletproofs+)",
            parsed.rct_type
        ));
    }

    // Inputs: each must be ours.
    let mut inputs = Vec::with_capacity(parsed.inputs.len());
    let mut input_total: u64 = 0;
    for (i, input) in parsed.inputs.iter().enumerate() {
        let key: EdwardsPoint = input.key().into();
        let offset: DalekScalar = input.key_offset().into();
        if keys.spend_public() + public_of(&offset) != key {
            return Err(MoneroError::not_ours(format!(
                "input {} (output key {}) is not derivable from this wallet's keys",
                i + 1,
                hex::encode(key.compress().to_bytes())
            )));
        }
        let key_image = match spend {
            Some(wallet) => Some(hex::encode(wallet.key_image(&key, &offset)?)),
            None => None,
        };
        let positions: BTreeSet<u64> = input.decoys().positions().into_iter().collect();
        if positions.len() != input.decoys().len() {
            return Err(MoneroError::refused(format!(
                "input {}: its ring repeats a member",
                i + 1
            )));
        }
        let amount = input.commitment().amount;
        input_total = input_total
            .checked_add(amount)
            .ok_or_else(|| MoneroError::invalid("unsigned transaction: input amounts overflow"))?;
        inputs.push(ReviewedInput {
            output_key: hex::encode(key.compress().to_bytes()),
            amount,
            key_image,
            ring_size: input.decoys().len(),
        });
    }

    // Payments and change.
    let address_network = network.address_network();
    let mut payments = Vec::new();
    let mut change_spec = None;
    let mut paid: u64 = 0;
    for p in &parsed.payments {
        match p {
            ParsedPayment::Payment(address, amount) => {
                if address.network() != address_network {
                    return Err(MoneroError::refused(format!(
                        "payment to {address} is for another network than {}",
                        network.name()
                    )));
                }
                if keys.is_primary(address) || own_subaddress(keys, address).is_some() {
                    warnings.push(format!(
                        "a payment of {} goes to this wallet's own address {address}",
                        format_xmr(*amount)
                    ));
                }
                paid = paid.checked_add(*amount).ok_or_else(|| {
                    MoneroError::invalid("unsigned transaction: payment amounts overflow")
                })?;
                payments.push(ReviewedPayment {
                    address: address.to_string(),
                    amount: *amount,
                });
            }
            ParsedPayment::Change(c) => change_spec = Some(c),
        }
    }
    let necessary_fee = stx.necessary_fee();
    let (fee, change) = match change_spec {
        None => {
            let fee = input_total - paid; // monero-wallet's reader checked inputs ≥ payments + fee
            if fee > necessary_fee {
                warnings.push(format!(
                    "no change output: {} above the necessary fee goes to the miner",
                    format_xmr(fee - necessary_fee)
                ));
            }
            (fee, ReviewedChange::None)
        }
        Some(spec) => {
            let amount = input_total - paid - necessary_fee;
            let change = match spec {
                ParsedChange::Keys {
                    spend,
                    view,
                    subaddress,
                } => {
                    let pair = ViewPair::new(
                        monero_wallet::ed25519::Point::from(*spend),
                        Zeroizing::new(Scalar::from(**view)),
                    )
                    .map_err(|e| MoneroError::invalid(format!("change keys: {e}")))?;
                    let address = match subaddress {
                        Some(s) => pair.subaddress(address_network, *s),
                        None => pair.legacy_address(address_network),
                    };
                    let own_spend = *spend == keys.spend_public();
                    let own_view = **view == *keys.view_scalar();
                    if own_spend && own_view {
                        if let Some(s) = subaddress
                            && (s.account() != 0 || s.address() > SUBADDRESS_LOOKAHEAD)
                        {
                            warnings.push(format!(
                                "change goes to subaddress ({}, {}), outside the look-ahead a view-only wallet scans: it may not show up until the look-ahead is widened",
                                s.account(),
                                s.address()
                            ));
                        }
                        ReviewedChange::Own {
                            address: address.to_string(),
                            amount,
                        }
                    } else {
                        let reason = match (own_spend, own_view) {
                            (true, false) => "the change carries a foreign view key",
                            (false, true) => "the change carries a foreign spend key",
                            _ => "the change goes to another wallet's keys",
                        };
                        ReviewedChange::Foreign {
                            address: address.to_string(),
                            amount,
                            reason: reason.to_owned(),
                        }
                    }
                }
                ParsedChange::AddressOnly(address) => {
                    if address.network() != address_network {
                        return Err(MoneroError::refused(format!(
                            "change address {address} is for another network than {}",
                            network.name()
                        )));
                    }
                    if keys.is_primary(address) || own_subaddress(keys, address).is_some() {
                        warnings.push(
                            "change is given as a bare address (fingerprintable transaction)"
                                .into(),
                        );
                        ReviewedChange::Own {
                            address: address.to_string(),
                            amount,
                        }
                    } else {
                        ReviewedChange::Foreign {
                            address: address.to_string(),
                            amount,
                            reason: "the change address is not this wallet's".into(),
                        }
                    }
                }
            };
            (necessary_fee, change)
        }
    };
    if let ReviewedChange::Foreign {
        address,
        amount,
        reason,
    } = &change
    {
        warnings.push(format!(
            "{reason}: the 'change' of {} to {address} is a PAYMENT",
            format_xmr(*amount)
        ));
    }
    if !parsed.data.is_empty() {
        warnings.push(format!(
            "the transaction embeds {} piece(s) of arbitrary data in its extra field",
            parsed.data.len()
        ));
    }
    if paid > 0 && fee > paid / 10 {
        warnings.push(format!(
            "high fee: {} for {} paid out",
            format_xmr(fee),
            format_xmr(paid)
        ));
    }
    Ok(MoneroReview {
        payments,
        change,
        fee,
        fee_per_weight: parsed.fee_rate.per_weight(),
        inputs,
        input_total,
        warnings,
    })
}

/// `1.5` XMR style formatting of atomic units (12 decimals, trailing zeros trimmed).
pub fn format_xmr(atomic: u64) -> String {
    let whole = atomic / 1_000_000_000_000;
    let frac = atomic % 1_000_000_000_000;
    if frac == 0 {
        return format!("{whole} XMR");
    }
    let frac = format!("{frac:012}");
    format!("{whole}.{} XMR", frac.trim_end_matches('0'))
}

impl MoneroReview {
    /// The chain-agnostic description: payments (foreign "change" included) as transfers, own
    /// change, fee, key images as spends.
    pub fn to_description(&self) -> Description {
        let transfer = |address: &str, amount: u64| Transfer {
            destination: address.to_owned(),
            amount: u128::from(amount),
            asset: ASSET.to_owned(),
        };
        let mut transfers: Vec<Transfer> = self
            .payments
            .iter()
            .map(|p| transfer(&p.address, p.amount))
            .collect();
        let mut change = Vec::new();
        match &self.change {
            ReviewedChange::None => {}
            ReviewedChange::Own { address, amount } => change.push(transfer(address, *amount)),
            ReviewedChange::Foreign {
                address, amount, ..
            } => transfers.push(transfer(address, *amount)),
        }
        Description {
            transfers,
            change,
            fee: Some(u128::from(self.fee)),
            spends: self
                .inputs
                .iter()
                .filter_map(|i| i.key_image.clone())
                .collect(),
            warnings: self.warnings.clone(),
            details: vec![
                ("inputs".into(), self.inputs.len().to_string()),
                ("input total".into(), format_xmr(self.input_total)),
                ("fee".into(), format_xmr(self.fee)),
                (
                    "fee rate".into(),
                    format!("{} atomic units per weight", self.fee_per_weight),
                ),
                (
                    "ring size".into(),
                    self.inputs
                        .first()
                        .map(|i| i.ring_size.to_string())
                        .unwrap_or_default(),
                ),
            ],
        }
    }
}

/// A signed transaction ready for `send_raw_transaction`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedMoneroTransaction {
    /// The transaction in Monero's wire serialization.
    pub bytes: Vec<u8>,
    /// The transaction hash (hex), as monerod and wallets show it.
    pub txid: String,
    /// Key images of the spent inputs (hex).
    pub key_images: Vec<String>,
    /// The signer's proved key images of the transaction's outputs back to the wallet's primary
    /// address (the change), so the vault knows them without another key-image sync.
    pub change_key_images: Option<KeyImagesFile>,
}

impl SignedMoneroTransaction {
    /// The approval's signature material: the transaction, followed by the change's key-image
    /// file when there is change.
    pub fn material(&self) -> Vec<u8> {
        let mut out = self.bytes.clone();
        if let Some(file) = &self.change_key_images {
            out.extend_from_slice(&file.to_bytes());
        }
        out
    }
}

/// The outputs of `tx` that pay the wallet's primary address: position, output key and key
/// offset `k = Hs(8·a·R || o)` (`R` the transaction key or the output's additional key).
fn primary_outputs(tx: &Transaction, view: &ViewKeys) -> Vec<(usize, [u8; 32], DalekScalar)> {
    let prefix = tx.prefix();
    let keys = Extra::read(&mut prefix.extra.as_slice())
        .ok()
        .and_then(|extra| extra.keys());
    let mut outputs = Vec::new();
    let Some((tx_keys, additional)) = keys else {
        return outputs;
    };
    for (o, output) in prefix.outputs.iter().enumerate() {
        let Some(output_key) = output.key.decompress() else {
            continue;
        };
        let output_key: EdwardsPoint = output_key.into();
        let candidates = tx_keys
            .iter()
            .chain(additional.as_ref().and_then(|keys| keys.get(o)));
        for tx_key in candidates {
            let tx_key: EdwardsPoint = (*tx_key).into();
            let derivation = (view.view_scalar() * tx_key)
                .mul_by_cofactor()
                .compress()
                .to_bytes();
            let mut preimage = Zeroizing::new(derivation.to_vec());
            let mut index = o as u64;
            loop {
                let byte = (index & 0x7f) as u8;
                index >>= 7;
                if index == 0 {
                    preimage.push(byte);
                    break;
                }
                preimage.push(byte | 0x80);
            }
            let shared: DalekScalar = Scalar::hash(preimage.as_slice()).into();
            if public_of(&shared) + view.spend_public() == output_key {
                outputs.push((o, output.key.to_bytes(), shared));
                break;
            }
        }
    }
    outputs
}

/// The outputs of `tx` that pay `wallet`'s primary address, with their key offsets.
fn outputs_to_primary(
    tx: &Transaction,
    network: MoneroNetwork,
    wallet: &WalletKeys,
) -> OutputsFile {
    OutputsFile {
        network,
        primary_address: wallet.primary_address(network).to_string(),
        outputs: primary_outputs(tx, wallet.view_keys())
            .into_iter()
            .map(|(_, output_key, shared)| ExportedOutput {
                output_key,
                key_offset: shared.to_bytes(),
                amount: 0,
            })
            .collect(),
    }
}

/// The amounts of the outputs of `tx` to the wallet's primary address, each opened with the
/// view key and checked against its commitment (an output whose amount does not open its
/// commitment is left out).
pub(crate) fn own_output_amounts(tx: &Transaction, view: &ViewKeys) -> Vec<u64> {
    let Transaction::V2 {
        proofs: Some(proofs),
        ..
    } = tx
    else {
        return Vec::new();
    };
    let mut amounts = Vec::new();
    for (o, _, shared) in primary_outputs(tx, view) {
        let (Some(monero_wallet::ringct::EncryptedAmount::Compact { amount }), Some(commitment)) = (
            proofs.base.encrypted_amounts.get(o),
            proofs.base.commitments.get(o),
        ) else {
            continue;
        };
        let mut preimage = b"amount".to_vec();
        preimage.extend_from_slice(shared.as_bytes());
        let pad = monero_wallet::primitives::keccak256(&preimage);
        let mut plain = [0u8; 8];
        for (i, byte) in plain.iter_mut().enumerate() {
            *byte = amount[i] ^ pad[i];
        }
        let value = u64::from_le_bytes(plain);
        let mut preimage = b"commitment_mask".to_vec();
        preimage.extend_from_slice(shared.as_bytes());
        let mask = Scalar::hash(preimage.as_slice());
        if Commitment::new(mask, value).commit().compress().to_bytes() == commitment.to_bytes() {
            amounts.push(value);
        }
    }
    amounts
}

/// Reviews with the spend key and signs the very bytes reviewed. Returns the review (what to
/// show) with the signed transaction.
pub fn sign_unsigned(
    payload: &[u8],
    network: MoneroNetwork,
    wallet: &WalletKeys,
) -> Result<(MoneroReview, SignedMoneroTransaction), MoneroError> {
    // The review runs on a second core while the transaction is signed (its proofs are most of
    // the time). The signature is returned only when the review passes: a payload the review
    // refuses never yields a signed transaction, it is dropped here.
    let (review, signed) = std::thread::scope(|scope| {
        let review =
            scope.spawn(|| review_unsigned(payload, network, wallet.view_keys(), Some(wallet)));
        let signed = sign_payload(payload, network, wallet);
        (review.join(), signed)
    });
    let review = review
        .map_err(|_| MoneroError::refused("the review of the transaction failed unexpectedly"))??;
    let (bytes, txid, change_key_images) = signed?;
    let key_images = review
        .inputs
        .iter()
        .filter_map(|i| i.key_image.clone())
        .collect();
    Ok((
        review,
        SignedMoneroTransaction {
            bytes,
            txid,
            key_images,
            change_key_images,
        },
    ))
}

/// Signs `payload` with monero-wallet (key images, Bulletproofs+, CLSAGs) and proves the key
/// images of its change: the signed bytes, the txid and the change's key-image file.
fn sign_payload(
    payload: &[u8],
    network: MoneroNetwork,
    wallet: &WalletKeys,
) -> Result<(Vec<u8>, String, Option<KeyImagesFile>), MoneroError> {
    let stx = SignableTransaction::read(&mut &payload[..])
        .map_err(io_err("rejected by monero-wallet"))?;
    let tx = stx
        .sign(&mut rand_core::OsRng, &wallet.spend_for_signing())
        .map_err(|e| MoneroError::refused(format!("signing failed: {e}")))?;
    let change = outputs_to_primary(&tx, network, wallet);
    let change_key_images = if change.outputs.is_empty() {
        None
    } else {
        Some(sign_key_images(
            &change,
            network,
            wallet,
            &mut rand_core::OsRng,
        )?)
    };
    Ok((tx.serialize(), hex::encode(tx.hash()), change_key_images))
}

/// Coordinator-side check of returned signature material (no secret, no network): `material`
/// must be the payload signed — the same inputs (matched by their rings), outputs, extra, fee and
/// range proof as the unsigned transaction gives for its key images — optionally followed by a
/// key-image file for the change, whose entries must be outputs of this transaction (their
/// proofs and wallet are checked by the caller, who knows the wallet). Returns the transaction
/// with its hash and key images. (The CLSAGs themselves are verified by monerod on broadcast.)
pub fn verify_signed(
    payload: &[u8],
    material: &[u8],
) -> Result<SignedMoneroTransaction, MoneroError> {
    let (stx, parsed) = parse(payload)?;
    let mut reader = material;
    let tx: Transaction = Transaction::read(&mut reader)
        .map_err(|e| MoneroError::invalid(format!("the signed transaction does not parse: {e}")))?;
    let signed = &material[..material.len() - reader.len()];
    if tx.serialize() != signed {
        return Err(MoneroError::invalid(
            "the signed transaction has non-canonical bytes",
        ));
    }
    let change_key_images = if reader.is_empty() {
        None
    } else {
        let file = KeyImagesFile::from_bytes(reader).map_err(|e| {
            MoneroError::invalid(format!(
                "the signed transaction has trailing bytes that are not a key-image file: {e}"
            ))
        })?;
        let outputs: BTreeSet<[u8; 32]> = tx
            .prefix()
            .outputs
            .iter()
            .map(|o| o.key.to_bytes())
            .collect();
        if let Some(stray) = file
            .key_images
            .iter()
            .find(|k| !outputs.contains(&k.output_key))
        {
            return Err(MoneroError::not_ours(format!(
                "the change key images name output {}, which is not in the signed transaction",
                hex::encode(stray.output_key)
            )));
        }
        Some(file)
    };
    let Transaction::V2 {
        prefix,
        proofs: Some(proofs),
    } = &tx
    else {
        return Err(MoneroError::invalid(
            "the signed transaction is not a RingCT transaction",
        ));
    };
    if prefix.inputs.len() != parsed.inputs.len() {
        return Err(MoneroError::refused(format!(
            "the signed transaction has {} inputs, the proposal {}",
            prefix.inputs.len(),
            parsed.inputs.len()
        )));
    }
    let mut key_images = Vec::with_capacity(parsed.inputs.len());
    for (i, input) in parsed.inputs.iter().enumerate() {
        let offsets = input.decoys().offsets();
        let image = prefix
            .inputs
            .iter()
            .find_map(|spent| match spent {
                Input::ToKey {
                    key_offsets,
                    key_image,
                    ..
                } if key_offsets.as_slice() == offsets => Some(*key_image),
                _ => None,
            })
            .ok_or_else(|| {
                MoneroError::refused(format!(
                    "the signed transaction does not spend input {} of the proposal (another ring)",
                    i + 1
                ))
            })?;
        key_images.push(image);
    }
    let expected = stx
        .unsigned_transaction(key_images.clone())
        .ok_or_else(|| MoneroError::invalid("key image count differs from the inputs"))?;
    let Transaction::V2 {
        prefix: expected_prefix,
        proofs: Some(expected_proofs),
    } = &expected
    else {
        return Err(MoneroError::invalid(
            "the unsigned transaction is not RingCT",
        ));
    };
    let same_range_proof = match (&proofs.prunable, &expected_proofs.prunable) {
        (RctPrunable::Clsag { bulletproof: a, .. }, RctPrunable::Clsag { bulletproof: b, .. }) => {
            a == b
        }
        _ => false,
    };
    if prefix != expected_prefix || proofs.base != expected_proofs.base || !same_range_proof {
        return Err(MoneroError::refused(
            "the signed transaction is not the proposal's transaction (outputs, extra, fee or range proof differ)",
        ));
    }
    Ok(SignedMoneroTransaction {
        bytes: signed.to_vec(),
        txid: hex::encode(tx.hash()),
        key_images: key_images
            .iter()
            .map(|k| hex::encode(k.to_bytes()))
            .collect(),
        change_key_images,
    })
}

/// Monero for Airlock's signer.
///
/// - Payload: the unsigned transaction (`tx` (feature `online`) builds it), reviewed by
///   [`review_unsigned`].
/// - `describe` recomputes payments, change, fee and inputs from the signer's own keys; the
///   vault's `account` must be this wallet's primary address and its `network` this wallet's.
///   With the spend key ([`Monero::for_signer`]) the key images are derived and must equal the
///   proposal's `spends` (when it states any); view-only ([`Monero::view_only`]) reports the
///   proposal's key images, which `sign` then checks.
/// - `sign`: [`ChainSecret`] = the 32-byte canonical secret spend key `b` (what
///   [`crate::wallet::OfflineWallet::chain_secret`] gives). It re-runs the review, refuses when
///   the payments differ from the proposal's intent, and returns the signed transaction bytes
///   (Monero wire format) — the one and only signature material (single-signer wallet).
pub struct Monero {
    network: MoneroNetwork,
    view: ViewKeys,
    spend: Option<WalletKeys>,
}

impl Monero {
    /// With the full keys: describe derives key images itself.
    pub fn for_signer(network: MoneroNetwork, keys: &WalletKeys) -> Self {
        Monero {
            network,
            view: keys.view_keys().clone(),
            spend: Some(keys.clone()),
        }
    }

    /// With view keys only (describe reports the stated key images; sign checks them).
    pub fn view_only(network: MoneroNetwork, view: ViewKeys) -> Self {
        Monero {
            network,
            view,
            spend: None,
        }
    }

    fn check_vault(&self, vault: &VaultDefinition, proposal: &Proposal) -> Result<(), MoneroError> {
        if vault.chain != crate::CHAIN || proposal.chain != crate::CHAIN {
            return Err(MoneroError::refused(format!(
                "vault chain {:?} / proposal chain {:?} is not monero",
                vault.chain, proposal.chain
            )));
        }
        let vault_network = MoneroNetwork::parse(&vault.network)?;
        if vault_network != self.network {
            return Err(MoneroError::refused(format!(
                "the vault is on {}, this wallet on {}",
                vault_network.name(),
                self.network.name()
            )));
        }
        let own = self.view.primary_address(self.network).to_string();
        // The account is the primary address, optionally followed by the vault settings of
        // `crate::vault_spec` (view key, restore height).
        let address = vault.account.split(' ').next().unwrap_or("");
        if address != own {
            return Err(MoneroError::not_ours(format!(
                "the vault's account {} is not this wallet's primary address {own}",
                vault.account
            )));
        }
        Ok(())
    }

    fn describe_with(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        spend: Option<&WalletKeys>,
    ) -> Result<Description, MoneroError> {
        self.check_vault(vault, proposal)?;
        let review = review_unsigned(&proposal.payload, self.network, &self.view, spend)?;
        let mut description = review.to_description();
        match spend {
            Some(_) => {
                if !proposal.spends.is_empty() {
                    let stated: BTreeSet<&String> = proposal.spends.iter().collect();
                    let actual: BTreeSet<&String> = description.spends.iter().collect();
                    if stated != actual {
                        return Err(MoneroError::refused(
                            "the proposal's key images (spends) are not the key images of its inputs",
                        ));
                    }
                }
            }
            None => {
                if proposal.spends.len() != review.inputs.len() {
                    return Err(MoneroError::refused(format!(
                        "the proposal states {} key images for {} inputs",
                        proposal.spends.len(),
                        review.inputs.len()
                    )));
                }
                description.spends = proposal.spends.clone();
                description.warnings.push(
                    "key images as stated by the coordinator (checked against the spend key when signing)"
                        .into(),
                );
            }
        }
        Ok(description)
    }
}

impl ChainReview for Monero {
    fn chain(&self) -> &'static str {
        crate::CHAIN
    }

    fn check_account(&self, vault: &VaultDefinition) -> Result<Vec<String>, ChainError> {
        Ok(crate::vault_spec::MoneroVault::check_members(vault)?)
    }

    fn describe(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
    ) -> Result<Description, ChainError> {
        Ok(self.describe_with(vault, proposal, self.spend.as_ref())?)
    }

    fn sign(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        secret: &ChainSecret,
    ) -> Result<Vec<u8>, ChainError> {
        let bytes: &[u8; 32] = secret.0.as_slice().try_into().map_err(|_| {
            MoneroError::invalid(format!(
                "the Monero signing secret is the 32-byte spend key, got {} bytes",
                secret.0.len()
            ))
        })?;
        let wallet = WalletKeys::from_spend_secret(bytes)?;
        if wallet.view_keys().spend_public() != self.view.spend_public()
            || *wallet.view_keys().view_scalar() != *self.view.view_scalar()
        {
            return Err(MoneroError::not_ours("this spend key is not the vault wallet's").into());
        }
        let description = self.describe_with(vault, proposal, Some(&wallet))?;
        check_against_intent(&proposal.intent, &description)
            .map_err(|e| ChainError::new(crate::CHAIN, e.to_string()))?;
        let (_, signed) = sign_unsigned(&proposal.payload, self.network, &wallet)?;
        Ok(signed.material())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_shown_in_xmr() {
        assert_eq!(format_xmr(1_500_000_000_000), "1.5 XMR");
        assert_eq!(format_xmr(2_000_000_000_000), "2 XMR");
        assert_eq!(format_xmr(1), "0.000000000001 XMR");
    }

    #[test]
    fn garbage_payloads_and_signed_transactions_are_refused_without_panicking() {
        let keys = WalletKeys::random(&mut rand_core::OsRng);
        for payload in [&[][..], &[4u8][..], &[4u8; 40][..], &[0xff; 300][..]] {
            let err = review_unsigned(
                payload,
                MoneroNetwork::Mainnet,
                keys.view_keys(),
                Some(&keys),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("unsigned transaction"), "{err}");
            assert!(verify_signed(payload, &[2, 1, 0]).is_err());
            assert!(sign_unsigned(payload, MoneroNetwork::Mainnet, &keys).is_err());
        }
    }
}
