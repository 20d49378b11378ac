//! Errors of the Ethereum chain crate: each names what was refused and why, in words a person can
//! act on. An error never carries key material.

use airlock_core::chain::ChainError;

/// Everything that can go wrong while decoding, reviewing or signing an Ethereum payload.
#[derive(Debug, thiserror::Error)]
pub enum EthError {
    /// A typed address that is malformed or fails its EIP-55 checksum.
    #[error("address {address:?}: {problem}")]
    Address { address: String, problem: String },
    /// The payload bytes are not a valid version-1 Ethereum payload.
    #[error("ethereum payload: {0}")]
    Format(String),
    /// The payload is well formed but must not be signed (wrong chain, wrong Safe, delegatecall…).
    #[error("refused: {0}")]
    Refused(String),
    /// Key derivation or key bytes failed.
    #[error("key: {0}")]
    Key(String),
    /// EIP-712 typed data that cannot be parsed or hashed.
    #[error("typed data: {0}")]
    TypedData(String),
    /// A signature that is malformed, does not recover, or is not acceptable.
    #[error("signature: {0}")]
    Signature(String),
    /// An amount does not fit where it must go (e.g. above u128 for intent comparison).
    #[error("amount: {0}")]
    Amount(String),
}

impl From<airlock_core::FormatError> for EthError {
    fn from(e: airlock_core::FormatError) -> Self {
        EthError::Format(e.to_string())
    }
}

impl From<airlock_core::cbor::DecodeError> for EthError {
    fn from(e: airlock_core::cbor::DecodeError) -> Self {
        EthError::Format(e.to_string())
    }
}

impl From<EthError> for ChainError {
    fn from(e: EthError) -> Self {
        ChainError::new("ethereum", e.to_string())
    }
}

impl airlock_core::Classify for EthError {
    fn severity(&self) -> airlock_core::Severity {
        airlock_core::Severity::Refused
    }
}
