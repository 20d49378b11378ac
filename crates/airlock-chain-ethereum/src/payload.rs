//! The payload an Airlock proposal carries for Ethereum, in canonical CBOR (format version 1).
//!
//! Layout (integer-keyed maps, read strictly: unknown fields, missing fields, wrong types and
//! non-minimal integers are refused):
//!
//! | key | `EthPayload` |
//! |---|---|
//! | 0 | format version (1) |
//! | 1 | kind: `"transactions"`, `"safe-tx"` or `"typed-data"` |
//! | 2 | chain id (transactions, safe-tx) or the typed-data JSON text (typed-data) |
//! | 3 | transactions: array of `Eip1559Request`; safe-tx: the Safe address (20 bytes) |
//! | 4 | safe-tx: the Safe version text (`"1.4.1"` or `"1.3.0"`) |
//! | 5 | safe-tx: the `SafeTx` record |
//!
//! `Eip1559Request`: 1 nonce, 2 max fee per gas, 3 max priority fee per gas, 4 gas limit, 5 to
//! (20 bytes), 6 value, 7 input (bytes, may be absent when empty). `SafeTx`: 1 to, 2 value, 3 data,
//! 4 operation (0 call, 1 delegatecall), 5 safeTxGas, 6 baseGas, 7 gasPrice, 8 gasToken,
//! 9 refundReceiver, 10 nonce. Amounts above 64 bits (value, fees, Safe gas fields, Safe nonce)
//! are minimal big-endian byte strings (zero is the empty string; a leading zero byte is refused).
//!
//! A batch of transactions must be non-empty and have consecutive nonces. Contract creation (no
//! `to`) is not a payload kind.
//!
//! This module must never accept two encodings of the same payload, and never panic on any bytes.

use airlock_core::cbor::{self, Limits, Value};
use airlock_core::fields::{Fields, MapBuilder, records};
use alloy_primitives::U256;

use crate::address::EthAddress;
use crate::error::EthError;

/// The payload format version this build reads and writes.
pub const PAYLOAD_FORMAT_VERSION: u64 = 1;

/// The most transactions one payload may carry.
pub const MAX_BATCH: usize = 1000;

/// Safe versions whose EIP-712 domain is `{chainId, verifyingContract}` and whose SafeTx type is
/// the one in [`crate::safe`].
pub const SUPPORTED_SAFE_VERSIONS: &[&str] = &["1.4.1", "1.3.0"];

/// An unsigned EIP-1559 transaction (empty access list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eip1559Request {
    pub nonce: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    pub gas_limit: u64,
    pub to: EthAddress,
    pub value: U256,
    pub input: Vec<u8>,
}

/// A Safe transaction's fields, exactly as the Safe contract hashes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafeTx {
    pub to: EthAddress,
    pub value: U256,
    pub data: Vec<u8>,
    /// 0 = call, 1 = delegatecall.
    pub operation: u8,
    pub safe_tx_gas: U256,
    pub base_gas: U256,
    pub gas_price: U256,
    pub gas_token: EthAddress,
    pub refund_receiver: EthAddress,
    pub nonce: U256,
}

/// What an Airlock proposal carries for Ethereum.
// One payload per proposal, never in a hot collection: plain fields keep construction and
// matching simple for both halves of the crate.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EthPayload {
    /// Transactions sent by an externally owned account, consecutive nonces.
    Transactions {
        chain_id: u64,
        txs: Vec<Eip1559Request>,
    },
    /// A transaction of a Safe multisig, signed by its owners over the EIP-712 safeTxHash.
    SafeTx {
        chain_id: u64,
        safe: EthAddress,
        safe_version: String,
        tx: SafeTx,
    },
    /// A generic EIP-712 message (the JSON of `eth_signTypedData_v4`).
    TypedData { json: String },
}

fn big(n: &U256) -> Value {
    let b = n.to_be_bytes::<32>();
    let first = b.iter().position(|&x| x != 0).unwrap_or(32);
    Value::Bytes(b[first..].to_vec())
}

fn read_big(f: &mut Fields, key: u64, name: &str, max_bytes: usize) -> Result<U256, EthError> {
    let b = f.bytes(key, name)?;
    if b.len() > max_bytes {
        return Err(EthError::Format(format!(
            "{}: field {key} ({name}) is {} bytes, at most {max_bytes} allowed",
            f.record(),
            b.len()
        )));
    }
    if b.first() == Some(&0) {
        return Err(EthError::Format(format!(
            "{}: field {key} ({name}) has a leading zero byte (non-minimal integer)",
            f.record()
        )));
    }
    Ok(U256::from_be_slice(&b))
}

fn read_u128(f: &mut Fields, key: u64, name: &str) -> Result<u128, EthError> {
    let v = read_big(f, key, name, 16)?;
    Ok(v.to::<u128>())
}

fn read_addr(f: &mut Fields, key: u64, name: &str) -> Result<EthAddress, EthError> {
    Ok(EthAddress::from_bytes(f.fixed::<20>(key, name)?))
}

impl Eip1559Request {
    fn to_value(&self) -> Value {
        let mut m = MapBuilder::new()
            .uint(1, self.nonce)
            .value(2, big(&U256::from(self.max_fee_per_gas)))
            .value(3, big(&U256::from(self.max_priority_fee_per_gas)))
            .uint(4, self.gas_limit)
            .bytes(5, &self.to.bytes())
            .value(6, big(&self.value));
        if !self.input.is_empty() {
            m = m.bytes(7, &self.input);
        }
        m.build()
    }

    fn from_fields(mut f: Fields) -> Result<Self, EthError> {
        let tx = Eip1559Request {
            nonce: f.uint(1, "nonce")?,
            max_fee_per_gas: read_u128(&mut f, 2, "max fee per gas")?,
            max_priority_fee_per_gas: read_u128(&mut f, 3, "max priority fee per gas")?,
            gas_limit: f.uint(4, "gas limit")?,
            to: read_addr(&mut f, 5, "to")?,
            value: read_big(&mut f, 6, "value", 32)?,
            input: {
                let present = f.take(7);
                match present {
                    None => Vec::new(),
                    Some(Value::Bytes(b)) if !b.is_empty() => b,
                    Some(Value::Bytes(_)) => {
                        return Err(EthError::Format(format!(
                            "{}: field 7 (input) must be absent when empty",
                            f.record()
                        )));
                    }
                    Some(other) => {
                        return Err(EthError::Format(format!(
                            "{}: field 7 (input) must be a byte string, found a {}",
                            f.record(),
                            other.type_name()
                        )));
                    }
                }
            },
        };
        f.finish()?;
        Ok(tx)
    }
}

impl SafeTx {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .bytes(1, &self.to.bytes())
            .value(2, big(&self.value))
            .bytes(3, &self.data)
            .uint(4, u64::from(self.operation))
            .value(5, big(&self.safe_tx_gas))
            .value(6, big(&self.base_gas))
            .value(7, big(&self.gas_price))
            .bytes(8, &self.gas_token.bytes())
            .bytes(9, &self.refund_receiver.bytes())
            .value(10, big(&self.nonce))
            .build()
    }

    fn from_fields(mut f: Fields) -> Result<Self, EthError> {
        let to = read_addr(&mut f, 1, "to")?;
        let value = read_big(&mut f, 2, "value", 32)?;
        let data = f.bytes(3, "data")?;
        let operation = f.uint(4, "operation")?;
        if operation > 1 {
            return Err(EthError::Format(format!(
                "{}: operation must be 0 (call) or 1 (delegatecall), found {operation}",
                f.record()
            )));
        }
        let tx = SafeTx {
            to,
            value,
            data,
            operation: operation as u8,
            safe_tx_gas: read_big(&mut f, 5, "safeTxGas", 32)?,
            base_gas: read_big(&mut f, 6, "baseGas", 32)?,
            gas_price: read_big(&mut f, 7, "gasPrice", 32)?,
            gas_token: read_addr(&mut f, 8, "gasToken")?,
            refund_receiver: read_addr(&mut f, 9, "refundReceiver")?,
            nonce: read_big(&mut f, 10, "nonce", 32)?,
        };
        f.finish()?;
        Ok(tx)
    }
}

impl EthPayload {
    /// The payload kind's name as encoded.
    pub fn kind(&self) -> &'static str {
        match self {
            EthPayload::Transactions { .. } => "transactions",
            EthPayload::SafeTx { .. } => "safe-tx",
            EthPayload::TypedData { .. } => "typed-data",
        }
    }

    /// Structural checks that do not need the account record: a non-empty batch of at most
    /// [`MAX_BATCH`] transactions with consecutive nonces, priority fee not above the max fee, a
    /// supported Safe version. Run by `from_bytes`, `to_bytes`'s callers and every signing function.
    pub fn validate(&self) -> Result<(), EthError> {
        match self {
            EthPayload::Transactions { txs, .. } => {
                if txs.is_empty() {
                    return Err(EthError::Format("a transaction batch is empty".into()));
                }
                if txs.len() > MAX_BATCH {
                    return Err(EthError::Format(format!(
                        "a batch holds at most {MAX_BATCH} transactions, found {}",
                        txs.len()
                    )));
                }
                for (i, pair) in txs.windows(2).enumerate() {
                    if pair[0].nonce.checked_add(1) != Some(pair[1].nonce) {
                        return Err(EthError::Format(format!(
                            "nonces must be consecutive: transaction {} has nonce {}, \
                             transaction {} has nonce {}",
                            i,
                            pair[0].nonce,
                            i + 1,
                            pair[1].nonce
                        )));
                    }
                }
                for (i, tx) in txs.iter().enumerate() {
                    if tx.max_priority_fee_per_gas > tx.max_fee_per_gas {
                        return Err(EthError::Format(format!(
                            "transaction {i}: max priority fee per gas {} is above the max fee \
                             per gas {}",
                            tx.max_priority_fee_per_gas, tx.max_fee_per_gas
                        )));
                    }
                }
                Ok(())
            }
            EthPayload::SafeTx {
                safe_version, tx, ..
            } => {
                if !SUPPORTED_SAFE_VERSIONS.contains(&safe_version.as_str()) {
                    return Err(EthError::Format(format!(
                        "Safe version {safe_version:?} is not supported (supported: {})",
                        SUPPORTED_SAFE_VERSIONS.join(", ")
                    )));
                }
                if tx.operation > 1 {
                    return Err(EthError::Format(format!(
                        "operation must be 0 (call) or 1 (delegatecall), found {}",
                        tx.operation
                    )));
                }
                Ok(())
            }
            EthPayload::TypedData { json } => {
                if json.is_empty() {
                    return Err(EthError::Format("typed data JSON is empty".into()));
                }
                Ok(())
            }
        }
    }

    /// The canonical CBOR value.
    pub fn to_value(&self) -> Value {
        let m = MapBuilder::new()
            .uint(0, PAYLOAD_FORMAT_VERSION)
            .text(1, self.kind());
        match self {
            EthPayload::Transactions { chain_id, txs } => m
                .uint(2, *chain_id)
                .array(3, txs.iter().map(Eip1559Request::to_value).collect())
                .build(),
            EthPayload::SafeTx {
                chain_id,
                safe,
                safe_version,
                tx,
            } => m
                .uint(2, *chain_id)
                .bytes(3, &safe.bytes())
                .text(4, safe_version)
                .value(5, tx.to_value())
                .build(),
            EthPayload::TypedData { json } => m.text(2, json).build(),
        }
    }

    /// The canonical bytes (what `Proposal::payload` holds). Refuses an invalid payload.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EthError> {
        self.validate()?;
        Ok(cbor::encode(&self.to_value()))
    }

    /// Decodes and validates payload bytes; never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<EthPayload, EthError> {
        let value = cbor::decode(bytes, Limits::ARTIFACT)?;
        let p = Self::from_value(value)?;
        p.validate()?;
        Ok(p)
    }

    fn from_value(value: Value) -> Result<EthPayload, EthError> {
        let mut f = Fields::open(value, "ethereum payload")?;
        f.version(PAYLOAD_FORMAT_VERSION)?;
        let kind = f.text(1, "kind")?;
        let p = match kind.as_str() {
            "transactions" => {
                let chain_id = f.uint(2, "chain id")?;
                let items = f.array(3, "transactions")?;
                if items.len() > MAX_BATCH {
                    return Err(EthError::Format(format!(
                        "a batch holds at most {MAX_BATCH} transactions, found {}",
                        items.len()
                    )));
                }
                let txs = records(items, "transaction")?
                    .into_iter()
                    .map(Eip1559Request::from_fields)
                    .collect::<Result<Vec<_>, _>>()?;
                EthPayload::Transactions { chain_id, txs }
            }
            "safe-tx" => EthPayload::SafeTx {
                chain_id: f.uint(2, "chain id")?,
                safe: read_addr(&mut f, 3, "safe")?,
                safe_version: f.text(4, "safe version")?,
                tx: SafeTx::from_fields(f.record_field(5, "safe tx")?)?,
            },
            "typed-data" => EthPayload::TypedData {
                json: f.text(2, "typed data json")?,
            },
            other => {
                return Err(EthError::Format(format!(
                    "unknown payload kind {other:?} (expected transactions, safe-tx or typed-data)"
                )));
            }
        };
        f.finish()?;
        Ok(p)
    }
}
