//! Ethereum for Airlock, the coordinator's half: a JSON-RPC client over plain HTTP ([`rpc`]),
//! EIP-1559 transactions built from a node and broadcast, Safe reads and `execTransaction`
//! ([`online`]), Safe 1.4.1 deployment on development chains ([`deploy`]), and
//! `airlock_core::chain::ChainOnline` for Ethereum vaults ([`chain_online`]).
//!
//! A crate of its own so that no build of the signer (which links only `airlock-chain-ethereum`)
//! can contain this network code, whatever features a workspace build unifies. The offline
//! modules are re-exported so that one `use` serves the coordinator.
//!
//! This crate must never hold a vault owner's key.

pub use airlock_chain_ethereum::*;

pub mod chain_online;
pub mod deploy;
pub mod online;
pub mod rpc;
