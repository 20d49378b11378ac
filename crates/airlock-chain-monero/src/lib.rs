//! Monero for Airlock: offline wallet, view-only export, key images and offline signing (default
//! build); view-only scanning, transaction building and broadcast against monerod behind `online`.
pub mod error;
pub mod keyimages;
pub mod keys;
pub mod review;
pub mod seed;
#[cfg(feature = "online")]
pub mod tx;
pub mod wallet;
/// The chain name used in vault definitions.
pub const CHAIN: &str = "monero";
pub use review::Monero;
