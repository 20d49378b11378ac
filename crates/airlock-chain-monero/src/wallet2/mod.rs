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

/// A wallet2 file as bytes: the file itself, or the hex text monero-wallet-rpc returns for it
/// (`outputs_data_hex`, `unsigned_txset`, `signed_txset`); `None` when it is neither.
pub fn file_bytes(raw: &[u8], magic: &[u8]) -> Option<Vec<u8>> {
    if raw.starts_with(magic) {
        return Some(raw.to_vec());
    }
    let text = std::str::from_utf8(raw).ok()?.trim();
    let bytes = hex::decode(text).ok()?;
    bytes.starts_with(magic).then_some(bytes)
}
