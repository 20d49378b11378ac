//! `eth_interop`: what other Ethereum tools hand Airlock: EIP-4527 `eth-sign-request` and
//! `eth-signature` CBOR (`airlock_chain_ethereum::eip4527`) and the Safe Transaction Service's
//! multisig-transaction JSON (`airlock_chain_ethereum::safe_service`).
//!
//! The first byte picks the decoder (byte % 3): 0 a request, 1 a device signature (whatever
//! decodes must encode to bytes that decode to the same value), 2 the service JSON for a fixed
//! Safe and owners (what is accepted must hash to its stated safeTxHash, and written back read
//! back the same).

use airlock_chain_ethereum::eip4527::{DeviceSignature, SignRequest};
use airlock_chain_ethereum::safe_service;

/// The Safe and owners the service JSON is read for (the seeds' own).
pub const SAFE: &str = "0x2b5f3ba1a2b2c6f4f0a2d3bd7f5d1d1b6e5a4c3b";
pub const OWNERS: [&str; 2] = [
    "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
    "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
];

pub fn run(data: &[u8]) {
    let (m, rest) = crate::mode(data);
    match m % 3 {
        0 => {
            if let Ok(request) = SignRequest::from_cbor(rest) {
                let again = SignRequest::from_cbor(&request.to_cbor()).expect("own request");
                assert_eq!(again, request);
            }
        }
        1 => {
            if let Ok(signature) = DeviceSignature::from_cbor(rest) {
                let again =
                    DeviceSignature::from_cbor(&signature.to_cbor()).expect("own signature");
                assert_eq!(again, signature);
            }
        }
        _ => {
            let safe = SAFE.parse().expect("safe");
            let owners: Vec<_> = OWNERS.iter().map(|o| o.parse().expect("owner")).collect();
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(read) = safe_service::read(text, 31337, safe, &owners) {
                let confirmations: Vec<_> = read
                    .confirmations
                    .iter()
                    .filter(|c| c.signature_type == "EOA")
                    .map(|c| (c.owner, c.signature))
                    .collect();
                let written = safe_service::write(31337, safe, &read.tx, &confirmations, "fuzz");
                let back = safe_service::read(&written.to_string(), 31337, safe, &owners)
                    .expect("own service JSON");
                assert_eq!(back.tx, read.tx);
                assert_eq!(back.safe_tx_hash, read.safe_tx_hash);
                assert_eq!(back.confirmations.len(), confirmations.len());
            }
        }
    }
}
