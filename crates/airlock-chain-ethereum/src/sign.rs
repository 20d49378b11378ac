//! Signing: raw EIP-1559 transactions (EIP-2718 envelope, type 0x02), Safe owner signatures over
//! the safeTxHash (r ‖ s ‖ v with v = 27/28, what `execTransaction` expects from an EOA owner),
//! EIP-712 typed data; and combining Safe owner signatures in the order Safe requires.
//!
//! Callers must sign only a payload they described with [`crate::describe`] and showed; every
//! function here re-validates the payload and recomputes every hash itself.
//!
//! This module must never sign a hash handed over by the coordinator without recomputing it.

use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{B256, Bytes, Signature, TxKind};

use crate::address::EthAddress;
use crate::error::EthError;
use crate::keys::EthKey;
use crate::payload::{Eip1559Request, EthPayload};
use crate::typed;

pub(crate) fn tx_of(chain_id: u64, r: &Eip1559Request) -> TxEip1559 {
    TxEip1559 {
        chain_id,
        nonce: r.nonce,
        gas_limit: r.gas_limit,
        max_fee_per_gas: r.max_fee_per_gas,
        max_priority_fee_per_gas: r.max_priority_fee_per_gas,
        to: TxKind::Call(r.to.0),
        value: r.value,
        access_list: Default::default(),
        input: Bytes::copy_from_slice(&r.input),
    }
}

/// The signing hash of each transaction of a `Transactions` payload (keccak256 of 0x02 ‖ rlp).
pub fn transaction_hashes(payload: &EthPayload) -> Result<Vec<B256>, EthError> {
    payload.validate()?;
    let EthPayload::Transactions { chain_id, txs } = payload else {
        return Err(EthError::Refused(format!(
            "a {} payload has no transactions to sign",
            payload.kind()
        )));
    };
    Ok(txs
        .iter()
        .map(|r| tx_of(*chain_id, r).signature_hash())
        .collect())
}

/// Signs every transaction of a `Transactions` payload; returns the raw signed transactions
/// (`0x02 ‖ rlp([chain_id, nonce, …, y_parity, r, s])`), ready for `eth_sendRawTransaction`.
pub fn sign_transactions(payload: &EthPayload, key: &EthKey) -> Result<Vec<Vec<u8>>, EthError> {
    sign_transactions_with(payload, &|h| key.sign_hash(h))
}

/// Signs a 32-byte hash: an in-process key, or a key in a token.
pub type HashSignFn<'a> = dyn Fn(&B256) -> Result<Signature, EthError> + 'a;

/// [`sign_transactions`] with any hash signer.
pub fn sign_transactions_with(
    payload: &EthPayload,
    sign: &HashSignFn<'_>,
) -> Result<Vec<Vec<u8>>, EthError> {
    payload.validate()?;
    let EthPayload::Transactions { chain_id, txs } = payload else {
        return Err(EthError::Refused(format!(
            "a {} payload has no transactions to sign",
            payload.kind()
        )));
    };
    txs.iter()
        .map(|r| {
            let tx = tx_of(*chain_id, r);
            let sig = sign(&tx.signature_hash())?;
            Ok(tx.into_signed(sig).encoded_2718())
        })
        .collect()
}

/// The transaction hash (txid) of a raw signed transaction.
pub fn raw_tx_hash(raw: &[u8]) -> B256 {
    alloy_primitives::keccak256(raw)
}

/// Signs a safeTxHash as a Safe owner: 65 bytes r ‖ s ‖ v, v = 27 or 28.
pub fn sign_safe_tx(safe_tx_hash: &B256, key: &EthKey) -> Result<[u8; 65], EthError> {
    Ok(key.sign_hash(safe_tx_hash)?.as_bytes())
}

/// Signs EIP-712 typed data (the hash is recomputed from the JSON): 65 bytes r ‖ s ‖ v (27/28),
/// the `eth_signTypedData_v4` form.
pub fn sign_typed_data(json: &str, key: &EthKey) -> Result<[u8; 65], EthError> {
    let (_, hash) = typed::parse(json)?;
    Ok(key.sign_hash(&hash)?.as_bytes())
}

/// Recovers the signer of a 65-byte r ‖ s ‖ v signature (v = 27/28) over `hash`; refuses high-S.
pub fn recover(hash: &B256, sig: &[u8; 65]) -> Result<EthAddress, EthError> {
    let v = sig[64];
    if v != 27 && v != 28 {
        return Err(EthError::Signature(format!(
            "v is {v}; an owner's ECDSA signature has v = 27 or 28"
        )));
    }
    let s = Signature::from_raw_array(sig)
        .map_err(|e| EthError::Signature(format!("malformed signature: {e}")))?;
    if s.normalize_s().is_some() {
        return Err(EthError::Signature(
            "high-S signature (malleable) refused".into(),
        ));
    }
    s.recover_address_from_prehash(hash)
        .map(EthAddress)
        .map_err(|e| EthError::Signature(format!("does not recover: {e}")))
}

/// Checks each owner signature over `hash`, refuses non-owners and two signatures by the same
/// owner, orders them by owner address ascending (as Safe's `checkSignatures` requires) and
/// concatenates them: the `signatures` argument of `execTransaction`.
pub fn combine_safe_signatures(
    hash: &B256,
    sigs: &[[u8; 65]],
    owners: &[EthAddress],
) -> Result<Vec<u8>, EthError> {
    if sigs.is_empty() {
        return Err(EthError::Signature("no signatures to combine".into()));
    }
    let mut by_owner: Vec<(EthAddress, [u8; 65])> = Vec::with_capacity(sigs.len());
    for (i, sig) in sigs.iter().enumerate() {
        let who = recover(hash, sig).map_err(|e| match e {
            EthError::Signature(m) => EthError::Signature(format!("signature {i}: {m}")),
            other => other,
        })?;
        if !owners.contains(&who) {
            return Err(EthError::Signature(format!(
                "signature {i} is by {who}, who is not an owner of this Safe"
            )));
        }
        if by_owner.iter().any(|(o, _)| *o == who) {
            return Err(EthError::Signature(format!(
                "signature {i} is a second signature by owner {who}"
            )));
        }
        by_owner.push((who, *sig));
    }
    by_owner.sort_by_key(|(owner, _)| *owner);
    Ok(by_owner
        .iter()
        .flat_map(|(_, s)| s.iter().copied())
        .collect())
}

/// What a signer produces for a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EthSignature {
    /// Raw signed EIP-1559 transactions, in nonce order.
    Transactions(Vec<Vec<u8>>),
    /// A Safe owner's signature over the safeTxHash computed here.
    SafeTx {
        safe_tx_hash: B256,
        signature: [u8; 65],
    },
    /// A signature over the EIP-712 hash computed here.
    TypedData { hash: B256, signature: [u8; 65] },
}

/// The safe entry point for a signer: reviews the payload again against the signer's own record
/// and policy (every refusal of [`crate::describe`] applies), checks that `key` is the account
/// (EOA) or one of the Safe's owners, and only then signs. Returns the review that was signed so
/// the caller can be sure it matches what it showed.
pub fn sign_payload(
    payload: &EthPayload,
    account: &crate::review::AccountRecord,
    policy: &crate::review::EthPolicy,
    key: &EthKey,
) -> Result<(crate::review::EthReview, EthSignature), EthError> {
    sign_payload_with(payload, account, policy, key.address(), &|h| {
        key.sign_hash(h)
    })
}

/// [`sign_payload`] for a key held elsewhere (an HSM): `me` is its address, `sign` signs hashes.
/// Every signature is checked to recover to `me` before it is returned.
pub fn sign_payload_with(
    payload: &EthPayload,
    account: &crate::review::AccountRecord,
    policy: &crate::review::EthPolicy,
    me: EthAddress,
    sign: &HashSignFn<'_>,
) -> Result<(crate::review::EthReview, EthSignature), EthError> {
    use crate::review::{AccountKind, ReviewKind};
    let review = crate::review::describe(payload, account, policy)?;
    match &account.kind {
        AccountKind::Eoa { address } if *address != me => {
            return Err(EthError::Refused(format!(
                "this key is {me}, but the vault's account is {address}"
            )));
        }
        AccountKind::Safe {
            owners, address, ..
        } if !owners.contains(&me) => {
            return Err(EthError::Refused(format!(
                "this key ({me}) is not an owner of Safe {address}"
            )));
        }
        _ => {}
    }
    let checked = |hash: &B256| -> Result<Signature, EthError> {
        let sig = sign(hash)?;
        let who = sig
            .recover_address_from_prehash(hash)
            .map_err(|e| EthError::Signature(format!("the signature does not recover: {e}")))?;
        if who != me.0 {
            return Err(EthError::Signature(format!(
                "the signature recovers to {}, not to the signer's key {me}",
                EthAddress(who)
            )));
        }
        Ok(sig)
    };
    let owner_sig = |hash: &B256| -> Result<[u8; 65], EthError> { Ok(checked(hash)?.as_bytes()) };
    let sig = match (&review.kind, payload) {
        (ReviewKind::Transactions { .. }, _) => {
            EthSignature::Transactions(sign_transactions_with(payload, &checked)?)
        }
        (ReviewKind::Safe(s), _) => EthSignature::SafeTx {
            safe_tx_hash: s.safe_tx_hash,
            signature: owner_sig(&s.safe_tx_hash)?,
        },
        (ReviewKind::TypedData(t), EthPayload::TypedData { json }) => {
            let (_, hash) = typed::parse(json)?;
            if hash != t.hash {
                return Err(EthError::Refused("review and payload hashes differ".into()));
            }
            EthSignature::TypedData {
                hash,
                signature: owner_sig(&hash)?,
            }
        }
        (ReviewKind::TypedData(_), _) => {
            return Err(EthError::Refused("review and payload kinds differ".into()));
        }
    };
    Ok((review, sig))
}
