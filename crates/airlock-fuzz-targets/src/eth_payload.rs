//! `eth_payload`: what an Ethereum signer decodes (`airlock_chain_ethereum`).
//!
//! The first byte picks the decoder (`byte % 4`):
//! - 0: a proposal payload (`EthPayload::from_bytes`: EIP-1559 batches, SafeTx, typed data); an
//!   accepted payload must re-encode to the input, and is then described as the signer shows it
//!   (`review::describe`, transfers, the chain-agnostic description, spends) for an EOA vault
//!   and a 2-of-3 Safe vault whose delegatecall allowlist holds the MultiSendCallOnly address;
//! - 1: calldata (`calldata::decode`: ERC-20, Safe owner management, nested MultiSend);
//! - 2: EIP-712 typed-data JSON (`typed::review`);
//! - 3: approval material (`decode_transactions_material`, `decode_signature_material`) and, as
//!   text, a vault's `network\naccount` lines (`EthVault::parse`) with the harness owners.

use std::sync::OnceLock;

use airlock_chain_ethereum::chain::{
    decode_signature_material, decode_transactions_material, description_of, spends_of,
};
use airlock_chain_ethereum::review::{describe, transfers};
use airlock_chain_ethereum::{EthPayload, EthVault, calldata, typed};

/// Owners of the harness vaults.
pub const OWNERS: [&str; 3] = [
    "0x1111111111111111111111111111111111111111",
    "0x2222222222222222222222222222222222222222",
    "0x3333333333333333333333333333333333333333",
];
/// The harness Safe.
pub const SAFE: &str = "0x5afe5afe5afe5afe5afe5afe5afe5afe5afe5afe";
/// Safe 1.4.1's MultiSendCallOnly (the allowlisted delegatecall target).
pub const MULTISEND: &str = "0x9641d764fc13c8b624c04430c7356c1c7c8102e2";

fn vaults() -> &'static [EthVault] {
    static V: OnceLock<Vec<EthVault>> = OnceLock::new();
    V.get_or_init(|| {
        vec![
            EthVault::parse("anvil", &format!("eoa:{}", OWNERS[0]), &OWNERS[..1]).expect("eoa"),
            EthVault::parse(
                "anvil",
                &format!(
                    "safe:{SAFE} threshold=2 version=1.4.1 multisend={MULTISEND} delegatecall={MULTISEND}"
                ),
                &OWNERS,
            )
            .expect("safe"),
        ]
    })
}

fn payload(bytes: &[u8]) {
    let Ok(p) = EthPayload::from_bytes(bytes) else {
        return;
    };
    assert_eq!(
        p.to_bytes().expect("an accepted payload encodes"),
        bytes,
        "payload re-encodes differently"
    );
    let _ = p.kind();
    for v in vaults() {
        if let Ok(r) = describe(&p, &v.account, &v.policy) {
            let _ = transfers(&r);
            let _ = description_of(v, &r);
            let _ = spends_of(v, &r);
            let _ = r.lines();
        }
    }
}

pub fn run(data: &[u8]) {
    let (m, rest) = crate::mode(data);
    match m % 4 {
        0 => payload(rest),
        1 => {
            let _ = calldata::decode(rest);
        }
        2 => {
            if let Ok(t) = std::str::from_utf8(rest) {
                let _ = typed::review(t);
            }
        }
        _ => {
            let _ = decode_transactions_material(rest);
            let _ = decode_signature_material(rest);
            if let Ok(t) = std::str::from_utf8(rest) {
                let (network, account) = t.split_once('\n').unwrap_or(("anvil", t));
                let _ = EthVault::parse(network, account, &OWNERS);
                let _ = EthVault::parse(network, account, &OWNERS[..1]);
            }
        }
    }
}
