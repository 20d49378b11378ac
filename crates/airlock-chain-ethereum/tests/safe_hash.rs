//! safeTxHash, domain separator and struct hash: published vectors (facts from public tools'
//! documentation and tests) and agreement with Safe's own SDK (`@safe-global/protocol-kit`).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use airlock_chain_ethereum::calldata::{encode_erc20_transfer, encode_multisend};
use airlock_chain_ethereum::{SafeTx, safe};
use alloy_primitives::{B256, U256};
use common::*;

fn b256(s: &str) -> B256 {
    s.to_lowercase().parse().unwrap()
}

fn zero() -> airlock_chain_ethereum::EthAddress {
    airlock_chain_ethereum::EthAddress::ZERO
}

fn plain(to: &str, value: u64, data: &str, nonce: u64) -> SafeTx {
    SafeTx {
        to: addr(to),
        value: U256::from(value),
        data: hex::decode(data.trim_start_matches("0x")).unwrap(),
        operation: 0,
        safe_tx_gas: U256::ZERO,
        base_gas: U256::ZERO,
        gas_price: U256::ZERO,
        gas_token: zero(),
        refund_receiver: zero(),
        nonce: U256::from(nonce),
    }
}

/// Published in the README of safe-tx-hashes-util (pcaversaccio): an `addOwnerWithThreshold`
/// on Arbitrum, Safe 0x111C…2177, nonce 234.
#[test]
fn published_vector_arbitrum_add_owner() {
    let safe_addr = addr("0x111CEEee040739fD91D29C34C33E6B3E112F2177");
    let tx = plain(
        "0x111CEEee040739fD91D29C34C33E6B3E112F2177",
        0,
        "0x0d582f130000000000000000000000000c75fa5a5f1c0997e3eea425cfa13184ed0ec9e50000000000000000000000000000000000000000000000000000000000000003",
        234,
    );
    let h = safe::hashes(42161, safe_addr, &tx);
    assert_eq!(
        h.domain_separator,
        b256("0x1CF7F9B1EFE3BC47FE02FD27C649FEA19E79D66040683A1C86C7490C80BF7291")
    );
    assert_eq!(
        h.struct_hash,
        b256("0xD9109EA63C50ECD3B80B6B27ED5C5A9FD3D546C2169DFB69BFA7BA24CD14C7A5")
    );
    assert_eq!(
        h.safe_tx_hash,
        b256("0x0cb7250b8becd7069223c54e2839feaed4cee156363fbfe5dd0a48e75c4e25b3")
    );
}

/// Same README, the "interactive" example: value 1000, delegatecall, gasPrice 50, gasToken WETH,
/// refundReceiver set — every field of the struct takes part in the hash.
#[test]
fn published_vector_every_field_set() {
    let safe_addr = addr("0x111CEEee040739fD91D29C34C33E6B3E112F2177");
    let mut tx = plain(
        "0x111CEEee040739fD91D29C34C33E6B3E112F2177",
        1000,
        "0x0d582f130000000000000000000000000c75fa5a5f1c0997e3eea425cfa13184ed0ec9e50000000000000000000000000000000000000000000000000000000000000003",
        234,
    );
    tx.operation = 1;
    tx.gas_price = U256::from(50u64);
    tx.gas_token = addr("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2");
    tx.refund_receiver = addr("0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045");
    let h = safe::hashes(42161, safe_addr, &tx);
    assert_eq!(
        h.struct_hash,
        b256("0xC7E826933DA60E6AC3E2246ED0563A26A920A65BEAA9089D784AC96234141BB3")
    );
    assert_eq!(
        h.safe_tx_hash,
        b256("0xc818fceb1cace51c1a4039c4c66fc73d95eccc298104c9c52debac604b9f4e04")
    );
}

/// Published in morpho-org/safe-tx-hash's test: an ERC-20 transfer on Base (8453), nonce 11.
#[test]
fn published_vector_base_erc20_transfer() {
    let safe_addr = addr("0xcBa28b38103307Ec8dA98377ffF9816C164f9AFa");
    let tx = plain(
        "0xBAa5CC21fd487B8Fcc2F632f3F4E8D37262a0842",
        0,
        "0xa9059cbb000000000000000000000000f057afeec22e220f47ad4220871364e9e828b2e900000000000000000000000000000000000000000001a784379d99db42000000",
        11,
    );
    let h = safe::hashes(8453, safe_addr, &tx);
    assert_eq!(
        h.domain_separator,
        b256("0x837b1eb3bcc66a4b6bd9f0d8c876e31648b46ac2e66e4080ee93e97e51074cb9")
    );
    assert_eq!(
        h.struct_hash,
        b256("0x18100568166f32d42c2c1d01c907dabc9bec58334a125da2a2a43742764183cd")
    );
    assert_eq!(
        h.safe_tx_hash,
        b256("0x1bf99e3cf2d2272960c8a02ca4163459ad240de7995bec237a886b84968a077c")
    );
}

fn protocol_kit_hashes(cases: &[(u64, &str, &SafeTx)]) -> Vec<String> {
    let kit = protocol_kit();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/safe_tx_hash.cjs");
    let mut input = String::new();
    for (chain, safe_addr, tx) in cases {
        let line = serde_json::json!({
            "safe": addr(safe_addr).to_string(),
            "version": "1.4.1",
            "chainId": chain.to_string(),
            "tx": {
                "to": tx.to.to_string(),
                "value": tx.value.to_string(),
                "data": format!("0x{}", hex::encode(&tx.data)),
                "operation": tx.operation,
                "safeTxGas": tx.safe_tx_gas.to_string(),
                "baseGas": tx.base_gas.to_string(),
                "gasPrice": tx.gas_price.to_string(),
                "gasToken": tx.gas_token.to_string(),
                "refundReceiver": tx.refund_receiver.to_string(),
                "nonce": tx.nonce.to::<u64>(),
            }
        });
        input.push_str(&line.to_string());
        input.push('\n');
    }
    let mut child = Command::new("node")
        .arg(&script)
        .arg(&kit)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be on PATH to run Safe's protocol-kit");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "protocol-kit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn safe_tx_hash_matches_safe_protocol_kit() {
    let token = addr("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    let bob = addr("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    let eth = plain(
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        1_000_000,
        "0x",
        0,
    );
    let mut erc20 = plain("0x5FbDB2315678afecb367f032d93F642f64180aa3", 0, "0x", 7);
    erc20.data = encode_erc20_transfer(bob, U256::from(10u64).pow(U256::from(24)));
    let mut batch = plain("0x9641d764fc13c8B624c04430C7356C1C7C8102e2", 0, "0x", 3);
    batch.operation = 1;
    batch.data = encode_multisend(&[
        (0, bob, U256::from(1u64), vec![]),
        (
            0,
            token,
            U256::ZERO,
            encode_erc20_transfer(bob, U256::from(5u64)),
        ),
    ]);
    let mut refund = plain(
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        1,
        "0xdeadbeef",
        99,
    );
    refund.safe_tx_gas = U256::from(50_000u64);
    refund.base_gas = U256::from(21_000u64);
    refund.gas_price = U256::from(1_000_000_000u64);
    refund.gas_token = token;
    refund.refund_receiver = addr("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    let cases: Vec<(u64, &str, &SafeTx)> = vec![
        (31337, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", &eth),
        (1, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", &erc20),
        (
            11155111,
            "0xcBa28b38103307Ec8dA98377ffF9816C164f9AFa",
            &batch,
        ),
        (8453, "0x111CEEee040739fD91D29C34C33E6B3E112F2177", &refund),
    ];
    let theirs = protocol_kit_hashes(&cases);
    assert_eq!(theirs.len(), cases.len());
    for ((chain, s, tx), t) in cases.iter().zip(&theirs) {
        let ours = safe::safe_tx_hash(*chain, addr(s), tx);
        assert_eq!(&ours.to_string(), t, "chain {chain}, Safe {s}");
    }
}
