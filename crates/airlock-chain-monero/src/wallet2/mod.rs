//! wallet2's own cold-signing files (monero-wallet-cli, monero-wallet-rpc, Feather): the outputs
//! export, the key-images export and the unsigned and signed transaction sets, read and written
//! byte for byte as wallet2 does.
//!
//! These let a wallet2 cold wallet sign for an Airlock vault, and an Airlock signer serve a
//! wallet2 view-only wallet. The files are encrypted and authenticated with the wallet's view
//! secret key ([`cipher`]); both sides of the gap hold that key.

pub mod blake256;
pub mod cipher;
pub mod cryptonight;
pub mod files;
pub mod txsets;
