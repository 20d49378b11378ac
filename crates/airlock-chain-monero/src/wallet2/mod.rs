//! wallet2's own export files (monero-wallet-cli, monero-wallet-rpc, Feather): the outputs
//! export and the key-images export, read and written byte for byte as wallet2 does.
//!
//! These let a wallet2 cold wallet sign for an Airlock vault, and an Airlock signer serve a
//! wallet2 view-only wallet. The files are encrypted and authenticated with the wallet's view
//! secret key ([`cipher`]); both sides of the gap hold that key.

pub mod blake256;
pub mod cipher;
pub mod cryptonight;
pub mod files;
