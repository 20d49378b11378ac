//! The coordinator's half of Airlock's Monero chain: monerod RPC (transaction building, key-image
//! status, broadcast) and [`online_chain::MoneroOnline`], the `ChainOnline` of `monero` vaults
//! with their scan state.
//!
//! `tx` is the very source file of `airlock-chain-monero`'s `tx` module (feature `online` there,
//! used by that crate's regtest tests), compiled here so that the coordinator gets it without
//! the signer's graph ever containing tokio or an RPC client. The offline modules it refers to
//! (`crate::error`, `crate::keys`, `crate::keyimages`) are re-exported from the offline crate.
//!
//! This crate must never hold a spend key and is never a dependency of the signer.

pub use airlock_chain_monero::{CHAIN, error, keyimages, keys, review, vault_spec, wallet};

#[path = "../../airlock-chain-monero/src/tx.rs"]
pub mod tx;

pub mod online_chain;
