//! The coordinator's half of Airlock's Monero chain:
//!
//! - [`daemon`]: a blocking monerod client (bulk `get_blocks.bin`, key-image status);
//! - [`scan`]: the view-only vault scanner and its scan state (subaddresses with a lookahead,
//!   unlock rules, reorgs, key-image knowledge);
//! - [`tx`]: building unsigned transactions (fee and decoys from monerod), broadcast,
//!   confirmations;
//! - [`online_chain::MoneroOnline`]: the `ChainOnline` of `monero` vaults over all three.
//!
//! The offline modules (`keys`, `keyimages`, `review`, …) are re-exported from
//! `airlock-chain-monero`, which the signer links. This crate must never hold a spend key and is
//! never a dependency of the signer.

pub use airlock_chain_monero::{
    CHAIN, error, keyimages, keys, review, seed, subaddress, vault_spec, wallet, wallet2,
};

pub mod daemon;
pub mod online_chain;
pub mod scan;
pub mod tx;
