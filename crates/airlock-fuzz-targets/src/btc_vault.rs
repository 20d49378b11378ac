//! `btc_vault`: what a Bitcoin vault is read from: descriptor text, BIP-129 (BSMS) descriptor
//! records, and the registration derivation cache a signer keeps beside a vault.
//!
//! The first byte picks the decoder:
//! - `0..=79`: descriptor text for network `bitcoin`/`testnet`/`signet`/`regtest` (byte % 4); an
//!   accepted vault's canonical text must parse again to the same descriptor, wallet fingerprint
//!   and first addresses, and its BSMS record must import back to the same vault;
//! - `80..=159`: a BSMS record (regtest), with the same checks on what it accepts;
//! - `160..=207`: a derivation cache for each harness vault ([`crate::psbt::vaults`]), as read;
//! - `208..=255`: the same with the trailing SHA-256 recomputed by the harness, so the fuzzer
//!   gets past the checksum to the header, size and key checks.

use airlock_chain_bitcoin::bitcoin::Network;
use airlock_chain_bitcoin::bitcoin::hashes::{Hash, sha256};
use airlock_chain_bitcoin::{BtcVault, export_descriptor_record, import_descriptor_record};

const NETWORKS: [Network; 4] = [
    Network::Bitcoin,
    Network::Testnet,
    Network::Signet,
    Network::Regtest,
];

fn check_vault(v: &BtcVault) {
    let text = v.descriptor_text();
    let again = BtcVault::parse_for(&text, v.network())
        .unwrap_or_else(|e| panic!("canonical text {text:?} does not parse again: {e}"));
    assert_eq!(again.descriptor_text(), text);
    assert_eq!(again.wallet_fingerprint(), v.wallet_fingerprint());
    let _ = v.branch_descriptors();
    let _ = v.policy_summary();
    let first = v.first_receive_address().ok();
    assert_eq!(again.first_receive_address().ok(), first);
    let _ = v.first_change_address();
    if let Ok(record) = export_descriptor_record(v) {
        let back = import_descriptor_record(&record, v.network())
            .unwrap_or_else(|e| panic!("own BSMS record refused: {e}\n{record}"));
        assert_eq!(back.descriptor_text(), text);
    }
}

pub fn run(data: &[u8]) {
    let (m, rest) = crate::mode(data);
    match m {
        0..=79 => {
            if let Ok(text) = std::str::from_utf8(rest)
                && let Ok(v) = BtcVault::parse_for(text, NETWORKS[m as usize % 4])
            {
                check_vault(&v);
            }
        }
        80..=159 => {
            if let Ok(text) = std::str::from_utf8(rest)
                && let Ok(v) = import_descriptor_record(text, Network::Regtest)
            {
                check_vault(&v);
            }
        }
        _ => {
            let mut bytes = rest.to_vec();
            if m >= 208 {
                let digest = sha256::Hash::hash(&bytes).to_byte_array();
                bytes.extend_from_slice(&digest);
            }
            for vault in crate::psbt::vaults() {
                let mut v = vault.clone();
                if v.load_derivation_cache(&bytes).is_ok() {
                    let _ = v.script_pubkey(0, 0);
                    let _ = v.script_pubkey(1, 7);
                }
            }
        }
    }
}
