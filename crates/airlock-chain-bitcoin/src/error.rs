//! The crate's error type: what went wrong, in words a person can act on.
//!
//! Every refusal names the input, output, key or field at fault. This module must never carry
//! secret material inside an error message.

/// Why a descriptor, PSBT, key or signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum BtcError {
    /// The vault's output descriptor (or its network) is unusable.
    #[error("descriptor: {0}")]
    Descriptor(String),
    /// The PSBT could not be read (truncated, too large, unsupported version…).
    #[error("PSBT: {0}")]
    Psbt(String),
    /// The PSBT was read but the signer refuses it (foreign input, bad fee, sighash…).
    #[error("refused: {0}")]
    Refused(String),
    /// Key material (seed, xprv, exported key) is unusable.
    #[error("key: {0}")]
    Key(String),
    /// A signature does not verify or does not belong to the vault.
    #[error("signature: {0}")]
    Signature(String),
    /// Combining or finalizing failed.
    #[error("finalize: {0}")]
    Finalize(String),
    /// A BSMS (BIP-129) record is malformed or does not match.
    #[error("BSMS: {0}")]
    Bsms(String),
    /// Another wallet's export (Coldcard file, UR registry type, Specter JSON…) is unusable.
    #[error("wallet export: {0}")]
    Device(String),
    /// An address is malformed or for another network.
    #[error("address: {0}")]
    Address(String),
}

impl BtcError {
    pub(crate) fn refused(message: impl Into<String>) -> Self {
        BtcError::Refused(message.into())
    }
}

impl From<BtcError> for airlock_core::chain::ChainError {
    fn from(e: BtcError) -> Self {
        airlock_core::chain::ChainError::new(crate::CHAIN, e.to_string())
    }
}

impl airlock_core::Classify for BtcError {
    fn severity(&self) -> airlock_core::Severity {
        airlock_core::Severity::Refused
    }
}
