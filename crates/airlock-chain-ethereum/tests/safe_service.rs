//! The Safe Transaction Service's JSON (`safe_service`): written and read back, confirmations of
//! both signature types Safe{Wallet} stores (EOA, ETH_SIGN) verified, and every altered file
//! refused naming the field. The protocol-kit comparison and the end-to-end flow (import,
//! approve, execute on anvil, export) are in `bins/airlock/tests/eth_cli.rs`.

mod common;

use airlock_chain_ethereum::safe_service::{read, write};
use airlock_chain_ethereum::{EthAddress, EthKey, SafeTx, safe_tx_hash};
use alloy_primitives::U256;
use common::{addr, key};

const OWNER_1: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const OWNER_2: &str = "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
const STRANGER: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const SAFE: &str = "0x2b5f3ba1a2b2c6f4f0a2d3bd7f5d1d1b6e5a4c3b";

fn tx() -> SafeTx {
    let zero = addr("0x0000000000000000000000000000000000000000");
    SafeTx {
        to: addr("0x00000000000000000000000000000000000A11cE"),
        value: U256::from(10u64.pow(18)),
        data: vec![0xde, 0xad],
        operation: 0,
        safe_tx_gas: U256::ZERO,
        base_gas: U256::ZERO,
        gas_price: U256::ZERO,
        gas_token: zero,
        refund_receiver: zero,
        nonce: U256::from(12),
    }
}

fn owners() -> Vec<EthAddress> {
    vec![key(OWNER_1).address(), key(OWNER_2).address()]
}

fn confirmation(k: &EthKey) -> (EthAddress, [u8; 65]) {
    let hash = safe_tx_hash(1, addr(SAFE), &tx());
    (k.address(), k.sign_hash(&hash).unwrap().as_bytes())
}

#[test]
fn written_json_reads_back_with_its_confirmations() {
    let written = write(1, addr(SAFE), &tx(), &[confirmation(&key(OWNER_1))], "test");
    let back = read(&written.to_string(), 1, addr(SAFE), &owners()).unwrap();
    assert_eq!(back.tx, tx());
    assert_eq!(back.safe_tx_hash, safe_tx_hash(1, addr(SAFE), &tx()));
    assert_eq!(back.confirmations.len(), 1);
    assert_eq!(back.confirmations[0].owner, key(OWNER_1).address());
    // Numbers as JSON numbers, as some service versions write them; the propose body's hash name.
    let mut v = written.clone();
    v["nonce"] = 12.into();
    v["operation"] = 0.into();
    v.as_object_mut().unwrap().remove("safeTxHash");
    assert!(read(&v.to_string(), 1, addr(SAFE), &owners()).is_ok());
}

#[test]
fn an_eth_sign_confirmation_is_verified_over_the_prefixed_hash() {
    let hash = safe_tx_hash(1, addr(SAFE), &tx());
    let prefixed = alloy_primitives::eip191_hash_message(hash);
    let mut sig = key(OWNER_2).sign_hash(&prefixed).unwrap().as_bytes();
    sig[64] += 4; // Safe's eth_sign marker: v = 31/32
    let mut v = write(1, addr(SAFE), &tx(), &[], "test");
    v["confirmations"] = serde_json::json!([{
        "owner": key(OWNER_2).address().to_string(),
        "signature": format!("0x{}", hex::encode(sig)),
        "signatureType": "ETH_SIGN",
    }]);
    let back = read(&v.to_string(), 1, addr(SAFE), &owners()).unwrap();
    assert_eq!(back.confirmations[0].signature_type, "ETH_SIGN");
}

#[test]
fn altered_files_are_refused_naming_the_problem() {
    let good = write(1, addr(SAFE), &tx(), &[confirmation(&key(OWNER_1))], "test");
    let refused = |v: serde_json::Value, chain: u64, needle: &str| {
        let e = read(&v.to_string(), chain, addr(SAFE), &owners())
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{e} lacks {needle:?}");
    };
    refused(good.clone(), 5, "its fields hash to");
    let mut v = good.clone();
    v["data"] = "0xbeef".into();
    refused(v, 1, "its fields hash to");
    let mut v = good.clone();
    v["operation"] = 2.into();
    refused(v, 1, "operation 2");
    let mut v = good.clone();
    v["value"] = "-1".into();
    refused(v, 1, "\"value\" is not a decimal number");
    let mut v = good.clone();
    v["to"] = "0x00000000000000000000000000000000000a11cE".into();
    refused(v, 1, "\"to\"");
    let mut v = good.clone();
    v["confirmations"][0]["owner"] = key(OWNER_2).address().to_string().into();
    refused(v, 1, "not to the owner");
    let mut v = good.clone();
    v["confirmations"] = serde_json::json!([
        {"owner": key(STRANGER).address().to_string(), "signature": format!("0x{}", hex::encode(confirmation(&key(STRANGER)).1))}
    ]);
    refused(v, 1, "is not an owner of Safe");
    let mut v = good.clone();
    let c = v["confirmations"][0].clone();
    v["confirmations"] = serde_json::json!([c.clone(), c]);
    refused(v, 1, "confirms twice");
    let mut v = good.clone();
    v["confirmations"][0]["signature"] = "0x1234".into();
    refused(v, 1, "not 65 bytes");
    let mut v = good.clone();
    v["confirmations"][0]["signatureType"] = "APPROVED_HASH".into();
    refused(v, 1, "not supported");
    let text = good.to_string();
    let e = read(&text[..text.len() / 2], 1, addr(SAFE), &owners())
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not parse"), "{e}");
    let e = read(
        &text,
        1,
        addr("0x00000000000000000000000000000000000A11cE"),
        &owners(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("this vault's Safe is"), "{e}");
}
