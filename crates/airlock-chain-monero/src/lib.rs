//! Monero for Airlock, the offline half the signer links: wallet (seeds, keys), view-only export,
//! subaddress derivation, key images, review and signing. Scanning, building and broadcasting
//! against monerod live in `airlock-chain-monero-online`.
//!
//! This crate must never contain network code: the signer links it.
pub mod error;
pub mod keyimages;
pub mod keys;
pub mod review;
pub mod seed;
pub mod subaddress;
pub mod vault_spec;
pub mod wallet;
pub mod wallet2;
/// The chain name used in vault definitions.
pub const CHAIN: &str = "monero";
pub use review::Monero;
pub use vault_spec::{MoneroVault, MoneroVaultReview};
