//! Bitcoin for Airlock: descriptor vaults, PSBT review and signing offline (default build); watch-only
//! sync, PSBT building, finalization and broadcast behind the `online` feature.

pub mod chain;
pub mod combine;
pub mod encoding;
pub mod error;
pub mod keys;
pub mod review;
pub mod sign;
pub mod vault;

#[cfg(feature = "online")]
pub mod online;

/// The chain name in vault definitions.
pub const CHAIN: &str = "bitcoin";

pub use chain::{Bitcoin, NATIVE_ASSET, to_description};
pub use combine::{SignatureReport, combine, finalize, verify_partial_signatures};
pub use encoding::{MAX_PSBT_BYTES, parse_psbt, psbt_to_base64, serialize_psbt};
pub use error::BtcError;
pub use keys::{SignerKey, SingleKeyScript};
pub use review::{PsbtReview, ReviewPolicy, ReviewedInput, ReviewedOutput, review};
pub use sign::{SignReport, sign_psbt, sign_reviewed};
pub use vault::{BtcVault, CHANGE, RECEIVE, VaultKey, VaultKind, parse_address, parse_network};
