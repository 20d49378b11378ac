//! Airlock's fuzz targets, one module per decoder family.
//!
//! Each module has `run(data: &[u8])`: the body of the libFuzzer target of the same name
//! (`fuzz_targets/<name>.rs`, built by `cargo fuzz`), and the function that
//! `tests/replay_seeds.rs` calls on every committed seed with the stable toolchain. A target
//! fails by panicking: a decoder that panics, or an invariant checked with `assert!` (a
//! decode→encode round trip that changes the bytes, a differential disagreement, a reassembly
//! that returns something other than what was encoded).
//!
//! | target | decoders |
//! |---|---|
//! | [`cbor`] | `airlock_core::cbor::decode` (canonical CBOR) under two limit sets |
//! | [`cbor_differential`] | the same, against the `cbor-core` crate's strict CBOR::Core decoder |
//! | [`envelope`] | envelopes, every artifact kind, log records, bundle evidence |
//! | [`transfer_manifest`] | transfer manifests and the checks of a transfer's contents |
//! | [`armor`] | ASCII armor (`airlock_transport::dearmor`) |
//! | [`psbt`] | PSBT import (binary/base64, v0 and v2) and the signer's review against vaults |
//! | [`btc_vault`] | descriptor vaults, BSMS records, the registration derivation cache |
//! | [`device_exports`] | Coldcard, Specter and Sparrow files, UR `crypto-output` / `crypto-account` / `crypto-hdkey` |
//! | [`qr_frames`] | BC-UR, BBQr and Airlock-RaptorQ frames and reassembly, base32, bounded inflate |
//! | [`slip39`] | SLIP-39 shares and recovery |
//! | [`keystore`] | Airlock's keystore files and Ethereum keystore v3 JSON |
//! | [`httpsig`] | `airlock serve`'s signed-request headers (RFC 9421 subset) and session cookies |
//! | [`tiles`] | C2SP tile paths and entry bundles of the published log |
//! | [`witness`] | C2SP tlog-witness `add-checkpoint` bodies, witness verifier keys, cosignature lines |
//! | [`journal`] | the signer's decision and transfer journals against their head files |
//! | [`monero_blocks_bin`] | monerod `get_blocks.bin` answers (epee portable storage) |
//! | [`monero_files`] | outputs / key-image files, unsigned and signed transactions, seeds, Feather JSON, vault accounts |
//! | [`eth_interop`] | EIP-4527 `eth-sign-request` / `eth-signature` CBOR, Safe Transaction Service JSON |
//! | [`frost_messages`] | FROST ceremony messages, files of them, commitment and share bodies, sealed-state encodings |
//! | [`eth_payload`] | Ethereum payloads, calldata, EIP-712 typed data, signature material, vault accounts |
//! | [`sim_scenario`] | `airlock sim` scenario files (TOML and their checks) |
//! | [`drill_answers`] | `airlock drill run --answers` files (JSON and their checks) |
//!
//! Inputs that need a signature to get past the first check (a transfer manifest, a signed
//! checkpoint) are signed by the harness with fixed test keys, so the fuzzer explores what comes
//! after the signature check instead of stopping at it.

pub mod armor;
pub mod btc_vault;
pub mod cbor;
pub mod cbor_differential;
pub mod device_exports;
pub mod drill_answers;
pub mod envelope;
pub mod eth_interop;
pub mod eth_payload;
pub mod frost_messages;
pub mod httpsig;
pub mod journal;
pub mod keystore;
pub mod monero_blocks_bin;
pub mod monero_files;
pub mod psbt;
pub mod qr_frames;
pub mod sim_scenario;
pub mod slip39;
pub mod tiles;
pub mod transfer_manifest;
pub mod witness;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target: name and body (for the replay test and the seed generator).
pub const TARGETS: &[(&str, Target)] = &[
    ("armor", armor::run),
    ("btc_vault", btc_vault::run),
    ("cbor", cbor::run),
    ("cbor_differential", cbor_differential::run),
    ("device_exports", device_exports::run),
    ("drill_answers", drill_answers::run),
    ("envelope", envelope::run),
    ("eth_payload", eth_payload::run),
    ("eth_interop", eth_interop::run),
    ("frost_messages", frost_messages::run),
    ("httpsig", httpsig::run),
    ("journal", journal::run),
    ("keystore", keystore::run),
    ("monero_blocks_bin", monero_blocks_bin::run),
    ("monero_files", monero_files::run),
    ("psbt", psbt::run),
    ("qr_frames", qr_frames::run),
    ("sim_scenario", sim_scenario::run),
    ("slip39", slip39::run),
    ("tiles", tiles::run),
    ("transfer_manifest", transfer_manifest::run),
    ("witness", witness::run),
];

/// Splits `data` into its first byte (a mode selector) and the rest.
pub fn mode(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((m, rest)) => (*m, rest),
        None => (0, data),
    }
}

/// Splits `data` into parts separated by the 4-byte marker `"\0|\0|"`: several files or frames in
/// one input. At most `max` parts (the rest is the last part).
pub fn parts(data: &[u8], max: usize) -> Vec<&[u8]> {
    const SEP: &[u8] = b"\0|\0|";
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() + 1 < max {
        match rest.windows(SEP.len()).position(|w| w == SEP) {
            Some(at) => {
                out.push(&rest[..at]);
                rest = &rest[at + SEP.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

/// Joins parts with the marker [`parts`] splits on (for the seed generator).
pub fn join_parts(items: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\0|\0|");
        }
        out.extend_from_slice(p);
    }
    out
}

/// A fixed Ed25519 key for the harness (never a real key).
pub fn test_key(n: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[n; 32])
}
