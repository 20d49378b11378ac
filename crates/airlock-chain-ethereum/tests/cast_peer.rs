//! Byte-for-byte agreement with Foundry's `cast` 1.7.1 (the peer users already trust): raw signed
//! EIP-1559 transactions (`cast mktx`, fully offline: `--chain`, `--nonce`, `--gas-limit`,
//! `--gas-price` = max fee per gas, `--priority-gas-price`), EIP-712 signatures
//! (`cast wallet sign --data`) including the SafeTx typed data, and raw-hash signatures
//! (`cast wallet sign --no-hash`) for Safe owner signatures.

mod common;

use airlock_chain_ethereum::calldata::encode_erc20_transfer;
use airlock_chain_ethereum::{
    Eip1559Request, EthPayload, SafeTx, safe, safe_tx_hash, sign_safe_tx, sign_transactions,
    sign_typed_data,
};
use alloy_primitives::U256;
use common::*;

struct Case {
    key: &'static str,
    chain_id: u64,
    tx: Eip1559Request,
}

fn cases() -> Vec<Case> {
    let bob = addr("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    let token = addr("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    vec![
        Case {
            key: KEY0,
            chain_id: 1,
            tx: Eip1559Request {
                nonce: 0,
                max_fee_per_gas: 30_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                gas_limit: 21_000,
                to: bob,
                value: U256::from(1_000_000_000_000_000_000u128),
                input: vec![],
            },
        },
        Case {
            key: KEY1,
            chain_id: 31337,
            tx: Eip1559Request {
                nonce: 7,
                max_fee_per_gas: 2_000_000_001,
                max_priority_fee_per_gas: 0,
                gas_limit: 65_000,
                to: token,
                value: U256::ZERO,
                input: encode_erc20_transfer(bob, U256::from(123_456_789u64)),
            },
        },
        Case {
            key: KEY2,
            chain_id: 11155111,
            tx: Eip1559Request {
                nonce: 1_000_000,
                max_fee_per_gas: 123_456_789_012_345,
                max_priority_fee_per_gas: 123_456_789_012_345,
                gas_limit: 30_000_000,
                to: addr("0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"),
                value: U256::from_str_radix("1234567890123456789012345678", 10).unwrap(),
                input: vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x01],
            },
        },
        Case {
            key: KEY0,
            chain_id: 10,
            tx: Eip1559Request {
                nonce: 127,
                max_fee_per_gas: 1,
                max_priority_fee_per_gas: 1,
                gas_limit: 100_000,
                to: token,
                value: U256::from(1u64),
                input: encode_erc20_transfer(
                    addr("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
                    U256::MAX,
                ),
            },
        },
    ]
}

#[test]
fn raw_transactions_match_cast_mktx() {
    for (i, c) in cases().into_iter().enumerate() {
        let payload = EthPayload::Transactions {
            chain_id: c.chain_id,
            txs: vec![c.tx.clone()],
        };
        let ours = sign_transactions(&payload, &key(c.key)).unwrap();
        let mut args = vec![
            "mktx".to_owned(),
            "--private-key".into(),
            format!("0x{}", c.key),
            "--chain".into(),
            c.chain_id.to_string(),
            "--nonce".into(),
            c.tx.nonce.to_string(),
            "--gas-limit".into(),
            c.tx.gas_limit.to_string(),
            "--gas-price".into(),
            c.tx.max_fee_per_gas.to_string(),
            "--priority-gas-price".into(),
            c.tx.max_priority_fee_per_gas.to_string(),
            "--value".into(),
            c.tx.value.to_string(),
            c.tx.to.to_string(),
        ];
        if !c.tx.input.is_empty() {
            args.push(format!("0x{}", hex::encode(&c.tx.input)));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let theirs = run_cast(&args);
        assert_eq!(
            format!("0x{}", hex::encode(&ours[0])),
            theirs,
            "case {i}: raw transaction differs from cast mktx"
        );
        assert_eq!(ours[0][0], 0x02, "EIP-2718 type 2");
    }
}

#[test]
fn a_batch_signs_each_transaction_like_cast() {
    let c = &cases()[0];
    let mut txs = Vec::new();
    for n in 5..8u64 {
        let mut t = c.tx.clone();
        t.nonce = n;
        txs.push(t);
    }
    let payload = EthPayload::Transactions { chain_id: 1, txs };
    let ours = sign_transactions(&payload, &key(KEY0)).unwrap();
    assert_eq!(ours.len(), 3);
    for (i, raw) in ours.iter().enumerate() {
        let n = (5 + i).to_string();
        let theirs = run_cast(&[
            "mktx",
            "--private-key",
            &format!("0x{KEY0}"),
            "--chain",
            "1",
            "--nonce",
            &n,
            "--gas-limit",
            "21000",
            "--gas-price",
            "30000000000",
            "--priority-gas-price",
            "1000000000",
            "--value",
            "1000000000000000000",
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        ]);
        assert_eq!(format!("0x{}", hex::encode(raw)), theirs, "nonce {n}");
    }
}

const MAIL: &str = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],"Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},"primaryType":"Mail","domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},"message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}"#;

const PERMIT: &str = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"Permit":[{"name":"owner","type":"address"},{"name":"spender","type":"address"},{"name":"value","type":"uint256"},{"name":"nonce","type":"uint256"},{"name":"deadline","type":"uint256"}]},"primaryType":"Permit","domain":{"name":"USD Coin","version":"2","chainId":31337,"verifyingContract":"0x5FbDB2315678afecb367f032d93F642f64180aa3"},"message":{"owner":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","spender":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","value":"1000000","nonce":"0","deadline":"1893456000"}}"#;

const ARRAYS: &str = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"chainId","type":"uint256"}],"Item":[{"name":"id","type":"uint256"},{"name":"tag","type":"bytes32"}],"Order":[{"name":"items","type":"Item[]"},{"name":"flags","type":"bool[2]"},{"name":"memo","type":"bytes"}]},"primaryType":"Order","domain":{"name":"Arrays","chainId":5},"message":{"items":[{"id":1,"tag":"0x0101010101010101010101010101010101010101010101010101010101010101"},{"id":"2","tag":"0x0202020202020202020202020202020202020202020202020202020202020202"}],"flags":[true,false],"memo":"0xc0ffee"}}"#;

#[test]
fn typed_data_signatures_match_cast_wallet_sign() {
    for (name, json) in [("mail", MAIL), ("permit", PERMIT), ("arrays", ARRAYS)] {
        for k in [KEY0, KEY1] {
            let ours = sign_typed_data(json, &key(k)).unwrap();
            let theirs = run_cast(&[
                "wallet",
                "sign",
                "--private-key",
                &format!("0x{k}"),
                "--data",
                json,
            ]);
            assert_eq!(
                format!("0x{}", hex::encode(ours)),
                theirs,
                "{name}: EIP-712 signature differs from cast"
            );
        }
    }
}

fn sample_safe_tx() -> SafeTx {
    SafeTx {
        to: addr("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
        value: U256::from(5u64),
        data: encode_erc20_transfer(
            addr("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            U256::from(10_000u64),
        ),
        operation: 0,
        safe_tx_gas: U256::from(1u64),
        base_gas: U256::from(2u64),
        gas_price: U256::from(3u64),
        gas_token: addr("0x0000000000000000000000000000000000000000"),
        refund_receiver: addr("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
        nonce: U256::from(42u64),
    }
}

#[test]
fn safe_owner_signatures_match_cast_over_the_safetx_typed_data() {
    let safe_addr = addr("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512");
    for chain in [1u64, 31337] {
        let tx = sample_safe_tx();
        let hash = safe_tx_hash(chain, safe_addr, &tx);
        let json = safe::typed_data_json(chain, safe_addr, &tx);
        let ours = sign_safe_tx(&hash, &key(KEY1)).unwrap();
        // cast hashes the SafeTx typed data itself: same signature ⇒ same safeTxHash.
        let theirs = run_cast(&[
            "wallet",
            "sign",
            "--private-key",
            &format!("0x{KEY1}"),
            "--data",
            &json,
        ]);
        assert_eq!(format!("0x{}", hex::encode(ours)), theirs, "chain {chain}");
        // And over the raw hash (what an owner signs when given the safeTxHash).
        let raw = run_cast(&[
            "wallet",
            "sign",
            "--private-key",
            &format!("0x{KEY1}"),
            "--no-hash",
            &hash.to_string(),
        ]);
        assert_eq!(format!("0x{}", hex::encode(ours)), raw);
    }
}
