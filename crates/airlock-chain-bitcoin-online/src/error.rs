//! Errors of the coordinator's watch-only half. Each variant names what was wrong with the input, so a
//! person can fix it; none carries secret material.

use std::path::PathBuf;

use bdk_wallet::bitcoin::{Network, Txid};

use super::store::StoreError;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum OnlineError {
    /// The descriptor text does not parse or is not usable as a vault.
    #[error("vault descriptor rejected: {0}")]
    Descriptor(String),
    /// A watch-only vault must be built from public keys only.
    #[error(
        "vault descriptor contains private keys; a watch-only vault takes public keys ([fingerprint/path]xpub) only"
    )]
    PrivateKeyInDescriptor,
    /// A key in the descriptor, an address or the stored wallet belongs to another network.
    #[error("network mismatch: {what} is for {found}, the vault is on {expected}")]
    NetworkMismatch {
        /// What was checked (a key, an address, a stored vault).
        what: String,
        /// Network found.
        found: String,
        /// The vault's network.
        expected: Network,
    },
    /// `create` was given a path that already holds a vault.
    #[error("a vault already exists at {0}")]
    AlreadyExists(PathBuf),
    /// `open` was given a path that holds no vault.
    #[error("no vault at {0}")]
    NotFound(PathBuf),
    /// The stored vault's descriptor differs from the one given.
    #[error("the vault stored at {0} was made from a different descriptor")]
    DescriptorMismatch(PathBuf),
    /// The vault file could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A payment address does not parse.
    #[error("address {address:?} is not a valid Bitcoin address: {reason}")]
    InvalidAddress {
        /// The text given.
        address: String,
        /// Parser's reason.
        reason: String,
    },
    /// A payment address belongs to another network than the vault.
    #[error("address {address} is not valid on {expected} (the vault's network)")]
    AddressWrongNetwork {
        /// The address given.
        address: String,
        /// The vault's network.
        expected: Network,
    },
    /// A payment list was empty.
    #[error("a payment needs at least one recipient")]
    NoRecipients,
    /// An output would be below the dust limit for its script.
    #[error(
        "payment of {amount_sat} sat to {address} is dust (minimum for that address type: {minimum_sat} sat)"
    )]
    Dust {
        /// The recipient.
        address: String,
        /// Amount asked.
        amount_sat: u64,
        /// Smallest non-dust amount for the recipient's script.
        minimum_sat: u64,
    },
    /// The sum of payments overflows.
    #[error("the payment amounts add up to more than 21 million BTC")]
    AmountOverflow,
    /// Not enough funds for payments plus fee.
    #[error(
        "insufficient funds: {needed_sat} sat needed (payments and fee), {available_sat} sat available"
    )]
    InsufficientFunds {
        /// Sats needed.
        needed_sat: u64,
        /// Sats available.
        available_sat: u64,
    },
    /// The vault has nothing to sweep.
    #[error("the vault has no coins to sweep")]
    NothingToSweep,
    /// The fee rate is not a number in the accepted range.
    #[error("fee rate {given} sat/vB rejected: {reason}")]
    FeeRate {
        /// Fee rate as given.
        given: f64,
        /// Why it was refused.
        reason: String,
    },
    /// A hand-fed transaction does not decode.
    #[error("raw transaction rejected: {0}")]
    MalformedTransaction(String),
    /// A hand-fed transaction neither pays to nor spends from the vault.
    #[error("transaction {0} neither pays to nor spends from this vault")]
    UnrelatedTransaction(Txid),
    /// A transaction to be applied as broadcast is not fully signed.
    #[error("transaction {txid} is not final: input {input} has no signature data")]
    NotFinal {
        /// Its id.
        txid: Txid,
        /// First input without script_sig or witness.
        input: usize,
    },
    /// A transaction referred to by id is not known to the vault.
    #[error("transaction {0} is not known to this vault")]
    UnknownTransaction(Txid),
    /// Block data given with a transaction is unusable.
    #[error("block confirmation rejected: {0}")]
    Confirmation(String),
    /// BDK could not build the transaction for another reason.
    #[error("cannot build the transaction: {0}")]
    Build(String),
    /// A PSBT could not be finalized (missing or invalid signatures).
    #[error("cannot finalize the PSBT: {0}")]
    Finalize(String),
    /// The sync backend's configuration is wrong.
    #[error("sync source configuration rejected: {0}")]
    SyncConfig(String),
    /// The sync backend failed or answered nonsense.
    #[error("sync failed: {0}")]
    Sync(String),
}

impl airlock_core::Classify for OnlineError {
    fn severity(&self) -> airlock_core::Severity {
        airlock_core::Severity::Refused
    }
}
