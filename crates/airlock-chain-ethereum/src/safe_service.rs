//! The Safe Transaction Service's JSON for a multisig transaction (what Safe{Wallet} shows and
//! `GET /api/v1/multisig-transactions/{safeTxHash}/` returns): read, to turn a transaction
//! proposed in Safe{Wallet} into an Airlock proposal, and written, to hand an Airlock proposal
//! and its owners' signatures to Safe{Wallet} as confirmations.
//!
//! Reading takes `safe`, `to`, `value`, `data`, `operation`, `safeTxGas`, `baseGas`, `gasPrice`,
//! `gasToken`, `refundReceiver`, `nonce` (numbers as JSON numbers or decimal strings, as the
//! service writes them), recomputes the safeTxHash for the vault's chain and Safe and refuses the
//! file unless it equals `safeTxHash` (or `contractTransactionHash`, the propose body's name);
//! every confirmation must be an `EOA` or `ETH_SIGN` signature that recovers, over that hash, to
//! its `owner`, one of the Safe's owners. Other fields the service adds (dates, decoded data,
//! execution details) are ignored. Contract signatures and approved hashes are refused as not
//! supported.
//!
//! This module must never take a hash from the file: the hash is recomputed, and the file's
//! only checked against it.

use alloy_primitives::{B256, U256};
use serde_json::{Value, json};

use crate::address::EthAddress;
use crate::error::EthError;
use crate::payload::SafeTx;

/// Largest JSON read.
pub const MAX_SERVICE_JSON: usize = 1 << 20;

/// A verified confirmation from the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmation {
    pub owner: EthAddress,
    /// r ‖ s ‖ v as the Safe contract takes it (v 27/28 for EOA, 31/32 for eth_sign).
    pub signature: [u8; 65],
    pub signature_type: String,
}

/// A multisig transaction read from the service's JSON, hash checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceTx {
    pub safe: EthAddress,
    pub tx: SafeTx,
    pub safe_tx_hash: B256,
    pub confirmations: Vec<Confirmation>,
}

fn bad(m: impl Into<String>) -> EthError {
    EthError::Format(format!("Safe Transaction Service JSON: {}", m.into()))
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, EthError> {
    v.get(name)
        .filter(|f| !f.is_null())
        .ok_or_else(|| bad(format!("no {name:?}")))
}

fn uint(v: &Value, name: &str) -> Result<U256, EthError> {
    match field(v, name)? {
        Value::Number(n) => n
            .as_u64()
            .map(U256::from)
            .ok_or_else(|| bad(format!("{name:?} is not an unsigned integer"))),
        Value::String(s)
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() <= 78 =>
        {
            U256::from_str_radix(s, 10).map_err(|_| bad(format!("{name:?} is out of range")))
        }
        _ => Err(bad(format!("{name:?} is not a decimal number"))),
    }
}

fn address(v: &Value, name: &str) -> Result<EthAddress, EthError> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| bad(format!("{name:?} is not text")))?
        .parse()
        .map_err(|e: EthError| bad(format!("{name:?}: {e}")))
}

fn hex_bytes(text: &str, name: &str) -> Result<Vec<u8>, EthError> {
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| bad(format!("{name:?} is not 0x-prefixed hex")))?;
    hex::decode(digits).map_err(|_| bad(format!("{name:?} is not hex")))
}

/// Reads the service's JSON for the Safe at `safe` on `chain_id`, owned by `owners`.
pub fn read(
    text: &str,
    chain_id: u64,
    safe: EthAddress,
    owners: &[EthAddress],
) -> Result<ServiceTx, EthError> {
    if text.len() > MAX_SERVICE_JSON {
        return Err(bad(format!("{} bytes", text.len())));
    }
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("does not parse: {e}")))?;
    let in_file = address(&v, "safe")?;
    if in_file != safe {
        return Err(bad(format!(
            "the transaction is for Safe {in_file}, this vault's Safe is {safe}"
        )));
    }
    let operation = uint(&v, "operation")?;
    if operation > U256::from(1) {
        return Err(bad(format!(
            "operation {operation} is not 0 (call) or 1 (delegatecall)"
        )));
    }
    let data = match v.get("data") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => hex_bytes(s, "data")?,
        Some(_) => return Err(bad("\"data\" is not hex text")),
    };
    let tx = SafeTx {
        to: address(&v, "to")?,
        value: uint(&v, "value")?,
        data,
        operation: operation.to::<u8>(),
        safe_tx_gas: uint(&v, "safeTxGas")?,
        base_gas: uint(&v, "baseGas")?,
        gas_price: uint(&v, "gasPrice")?,
        gas_token: address(&v, "gasToken")?,
        refund_receiver: address(&v, "refundReceiver")?,
        nonce: uint(&v, "nonce")?,
    };
    let computed = crate::safe::safe_tx_hash(chain_id, safe, &tx);
    let stated = v
        .get("safeTxHash")
        .or_else(|| v.get("contractTransactionHash"))
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no \"safeTxHash\""))?;
    if !stated.eq_ignore_ascii_case(&computed.to_string()) {
        return Err(bad(format!(
            "the file says safeTxHash {stated}, its fields hash to {computed} on chain {chain_id}: altered, or for another chain or Safe"
        )));
    }
    let mut confirmations = Vec::new();
    let listed = match v.get("confirmations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(bad("\"confirmations\" is not a list")),
    };
    for (i, c) in listed.iter().enumerate() {
        let at = |m: String| bad(format!("confirmation {}: {m}", i + 1));
        let owner = address(c, "owner").map_err(|e| at(e.to_string()))?;
        let kind = c
            .get("signatureType")
            .and_then(Value::as_str)
            .unwrap_or("EOA")
            .to_owned();
        let text = field(c, "signature")
            .map_err(|e| at(e.to_string()))?
            .as_str()
            .ok_or_else(|| at("\"signature\" is not text".into()))?;
        let signature: [u8; 65] = hex_bytes(text, "signature")
            .map_err(|e| at(e.to_string()))?
            .try_into()
            .map_err(|_| at("the signature is not 65 bytes".into()))?;
        let signer =
            recover_confirmation(&computed, &signature, &kind).map_err(|e| at(e.to_string()))?;
        if signer != owner {
            return Err(at(format!(
                "the signature recovers to {signer}, not to the owner {owner} it is filed under"
            )));
        }
        if !owners.contains(&owner) {
            return Err(at(format!("{owner} is not an owner of Safe {safe}")));
        }
        if confirmations
            .iter()
            .any(|c: &Confirmation| c.owner == owner)
        {
            return Err(at(format!("{owner} confirms twice")));
        }
        confirmations.push(Confirmation {
            owner,
            signature,
            signature_type: kind,
        });
    }
    Ok(ServiceTx {
        safe,
        tx,
        safe_tx_hash: computed,
        confirmations,
    })
}

/// The owner a Safe signature comes from: `EOA` (v 27/28 over the safeTxHash) or `ETH_SIGN`
/// (v 31/32 over the eth_sign-prefixed safeTxHash).
fn recover_confirmation(hash: &B256, sig: &[u8; 65], kind: &str) -> Result<EthAddress, EthError> {
    let (digest, parity) = match (kind, sig[64]) {
        ("EOA", v @ (27 | 28)) => (*hash, v == 28),
        ("ETH_SIGN", v @ (31 | 32)) => (alloy_primitives::eip191_hash_message(hash), v == 32),
        ("EOA" | "ETH_SIGN", v) => {
            return Err(EthError::Signature(format!(
                "a {kind} signature with v = {v}"
            )));
        }
        (other, _) => {
            return Err(EthError::Signature(format!(
                "signature type {other:?} is not supported (EOA and ETH_SIGN are)"
            )));
        }
    };
    let s = alloy_primitives::Signature::from_bytes_and_parity(&sig[..64], parity);
    let who = s
        .recover_address_from_prehash(&digest)
        .map_err(|e| EthError::Signature(format!("the signature does not recover: {e}")))?;
    Ok(EthAddress(who))
}

/// The service's JSON for a SafeTx of `safe` with `confirmations` (owner, 65-byte EOA
/// signature), as `GET …/multisig-transactions/{safeTxHash}/` returns it; [`read`] reads it back.
pub fn write(
    chain_id: u64,
    safe: EthAddress,
    tx: &SafeTx,
    confirmations: &[(EthAddress, [u8; 65])],
    origin: &str,
) -> Value {
    let hash = crate::safe::safe_tx_hash(chain_id, safe, tx);
    json!({
        "safe": safe.to_string(),
        "to": tx.to.to_string(),
        "value": tx.value.to_string(),
        "data": if tx.data.is_empty() { Value::Null } else { format!("0x{}", hex::encode(&tx.data)).into() },
        "operation": tx.operation,
        "gasToken": tx.gas_token.to_string(),
        "safeTxGas": tx.safe_tx_gas.to_string(),
        "baseGas": tx.base_gas.to_string(),
        "gasPrice": tx.gas_price.to_string(),
        "refundReceiver": tx.refund_receiver.to_string(),
        "nonce": tx.nonce.to_string(),
        "safeTxHash": hash.to_string(),
        "contractTransactionHash": hash.to_string(),
        "origin": origin,
        "confirmations": confirmations.iter().map(|(owner, sig)| json!({
            "owner": owner.to_string(),
            "signature": format!("0x{}", hex::encode(sig)),
            "signatureType": "EOA",
        })).collect::<Vec<_>>(),
    })
}
