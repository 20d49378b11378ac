//! The errors of the signing side of the Monero crate: each names what is wrong in words a person
//! can act on. This module must never put secret material into an error message.

/// What went wrong, by kind, with a message naming the offending value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneroError {
    /// Malformed input: a seed, a key, an address, a file, a payload.
    #[error("invalid: {0}")]
    Invalid(String),
    /// Something that belongs to another wallet (an output, a key-image file, a payload).
    #[error("not this wallet's: {0}")]
    NotOurs(String),
    /// The payload does something the signer must refuse.
    #[error("refused: {0}")]
    Refused(String),
    /// The daemon answered an error, garbage, or not at all.
    #[error("monerod: {0}")]
    Daemon(String),
    /// Reading or writing a file failed.
    #[error("file: {0}")]
    File(String),
}

impl MoneroError {
    pub fn invalid(message: impl Into<String>) -> Self {
        MoneroError::Invalid(message.into())
    }
    pub fn not_ours(message: impl Into<String>) -> Self {
        MoneroError::NotOurs(message.into())
    }
    pub fn refused(message: impl Into<String>) -> Self {
        MoneroError::Refused(message.into())
    }
    pub fn daemon(message: impl Into<String>) -> Self {
        MoneroError::Daemon(message.into())
    }
}

impl From<MoneroError> for airlock_core::chain::ChainError {
    fn from(e: MoneroError) -> Self {
        airlock_core::chain::ChainError::new(crate::CHAIN, e.to_string())
    }
}

impl airlock_core::Classify for MoneroError {
    fn severity(&self) -> airlock_core::Severity {
        airlock_core::Severity::Refused
    }
}
