//! Monero for Airlock: offline wallet, view-only export, key images and offline signing (default
//! build); view-only scanning, transaction building and broadcast against monerod behind `online`.
#[cfg(feature = "online")]
pub mod daemon;
pub mod error;
pub mod keyimages;
pub mod keys;
pub mod review;
#[cfg(feature = "online")]
pub mod scan;
pub mod seed;
pub mod subaddress;
#[cfg(feature = "online")]
pub mod tx;
pub mod vault_spec;
pub mod wallet;
/// The chain name used in vault definitions.
pub const CHAIN: &str = "monero";
pub use review::Monero;
pub use vault_spec::{MoneroVault, MoneroVaultReview};
