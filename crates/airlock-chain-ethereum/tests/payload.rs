//! The payload's canonical CBOR: round trips, strict decoding (one encoding per payload), and
//! thousands of random and mutated inputs that must never panic — neither decoding nor review.

mod common;

use airlock_chain_ethereum::calldata::{encode_erc20_transfer, encode_multisend};
use airlock_chain_ethereum::{
    AccountKind, AccountRecord, Eip1559Request, EthAddress, EthPayload, EthPolicy, SafeTx,
    describe, transfers,
};
use airlock_core::cbor::{self, Value};
use alloy_primitives::U256;
use common::*;

fn samples() -> Vec<EthPayload> {
    let bob = addr("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    let token = addr("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    vec![
        EthPayload::Transactions {
            chain_id: 31337,
            txs: vec![
                Eip1559Request {
                    nonce: 0,
                    max_fee_per_gas: u128::MAX,
                    max_priority_fee_per_gas: 0,
                    gas_limit: 21_000,
                    to: bob,
                    value: U256::MAX,
                    input: vec![],
                },
                Eip1559Request {
                    nonce: 1,
                    max_fee_per_gas: 5,
                    max_priority_fee_per_gas: 5,
                    gas_limit: 60_000,
                    to: token,
                    value: U256::ZERO,
                    input: encode_erc20_transfer(bob, U256::from(3u64)),
                },
            ],
        },
        EthPayload::SafeTx {
            chain_id: 31337,
            safe: addr("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"),
            safe_version: "1.4.1".into(),
            tx: SafeTx {
                to: addr("0x9641d764fc13c8B624c04430C7356C1C7C8102e2"),
                value: U256::ZERO,
                data: encode_multisend(&[
                    (0, bob, U256::from(1u64), vec![]),
                    (0, token, U256::ZERO, encode_erc20_transfer(bob, U256::from(2u64))),
                ]),
                operation: 1,
                safe_tx_gas: U256::from(1u64),
                base_gas: U256::ZERO,
                gas_price: U256::from(256u64),
                gas_token: EthAddress::ZERO,
                refund_receiver: bob,
                nonce: U256::from(9u64),
            },
        },
        EthPayload::TypedData {
            json: r#"{"types":{"EIP712Domain":[{"name":"chainId","type":"uint256"}],"M":[{"name":"a","type":"uint8"}]},"primaryType":"M","domain":{"chainId":31337},"message":{"a":1}}"#.into(),
        },
    ]
}

#[test]
fn payloads_round_trip_canonically() {
    for p in samples() {
        let bytes = p.to_bytes().unwrap();
        let back = EthPayload::from_bytes(&bytes).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.to_bytes().unwrap(), bytes);
    }
}

fn map_of(bytes: &[u8]) -> Vec<(Value, Value)> {
    match cbor::decode(bytes, cbor::Limits::ARTIFACT).unwrap() {
        Value::Map(m) => m,
        _ => panic!(),
    }
}

fn set(m: &mut Vec<(Value, Value)>, k: u64, v: Value) {
    m.retain(|(key, _)| *key != Value::Unsigned(k));
    m.push((Value::Unsigned(k), v));
}

#[test]
fn strict_decoding_refuses_variants() {
    let good = samples()[0].to_bytes().unwrap();
    let check = |m: Vec<(Value, Value)>, needle: &str| {
        let b = cbor::encode(&Value::Map(m));
        let e = EthPayload::from_bytes(&b).unwrap_err().to_string();
        assert!(e.contains(needle), "{e:?} should mention {needle:?}");
    };
    let mut m = map_of(&good);
    set(&mut m, 0, Value::Unsigned(2));
    check(m, "format version 2");
    let mut m = map_of(&good);
    set(&mut m, 9, Value::Unsigned(1));
    check(m, "unknown field");
    let mut m = map_of(&good);
    set(&mut m, 1, Value::Text("legacy".into()));
    check(m, "unknown payload kind");
    // A non-minimal amount (leading zero byte) is a second encoding: refused.
    let mut m = map_of(&good);
    let Some((_, Value::Array(txs))) = m.iter_mut().find(|(k, _)| *k == Value::Unsigned(3)) else {
        panic!()
    };
    let Value::Map(tx0) = &mut txs[1] else {
        panic!()
    };
    set(tx0, 6, Value::Bytes(vec![0, 0]));
    check(m, "leading zero");
    // An empty input written explicitly is a second encoding: refused.
    let mut m = map_of(&good);
    let Some((_, Value::Array(txs))) = m.iter_mut().find(|(k, _)| *k == Value::Unsigned(3)) else {
        panic!()
    };
    let Value::Map(tx0) = &mut txs[0] else {
        panic!()
    };
    set(tx0, 7, Value::Bytes(vec![]));
    check(m, "absent when empty");
    // A fee above 128 bits.
    let mut m = map_of(&good);
    let Some((_, Value::Array(txs))) = m.iter_mut().find(|(k, _)| *k == Value::Unsigned(3)) else {
        panic!()
    };
    let Value::Map(tx0) = &mut txs[0] else {
        panic!()
    };
    set(tx0, 2, Value::Bytes(vec![1; 17]));
    check(m, "at most 16");
    // Operation 2.
    let safe = samples()[1].to_bytes().unwrap();
    let mut m = map_of(&safe);
    let Some((_, Value::Map(st))) = m.iter_mut().find(|(k, _)| *k == Value::Unsigned(5)) else {
        panic!()
    };
    set(st, 4, Value::Unsigned(2));
    check(m, "operation");
    // A 19-byte address.
    let mut m = map_of(&safe);
    set(&mut m, 3, Value::Bytes(vec![1; 19]));
    check(m, "20 bytes");
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_and_mutated_payloads_never_panic() {
    let account_eoa = AccountRecord {
        kind: AccountKind::Eoa {
            address: addr("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
        },
    };
    let account_safe = AccountRecord {
        kind: AccountKind::Safe {
            address: addr("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"),
            chain_id: 31337,
            version: "1.4.1".into(),
            owners: vec![],
            threshold: 1,
        },
    };
    let policy = EthPolicy {
        delegatecall_allowlist: vec![addr("0x9641d764fc13c8B624c04430C7356C1C7C8102e2")],
        expected_chain_id: 31337,
        expected_nonce: None,
    };
    let seeds: Vec<Vec<u8>> = samples().iter().map(|p| p.to_bytes().unwrap()).collect();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut decoded = 0;
    for i in 0..6000 {
        let bytes = if i % 5 == 0 {
            let n = rng.below(200);
            (0..n).map(|_| rng.next() as u8).collect::<Vec<u8>>()
        } else {
            let mut b = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(4) {
                match rng.below(4) {
                    0 => {
                        let j = rng.below(b.len());
                        b[j] = rng.next() as u8;
                    }
                    1 => {
                        let j = rng.below(b.len());
                        b[j] ^= 1 << rng.below(8);
                    }
                    2 => {
                        let cut = rng.below(b.len() + 1);
                        b.truncate(cut.max(1));
                    }
                    _ => {
                        let j = rng.below(b.len() + 1);
                        b.insert(j, rng.next() as u8);
                    }
                }
            }
            b
        };
        if let Ok(p) = EthPayload::from_bytes(&bytes) {
            decoded += 1;
            // Accepted bytes are canonical: re-encoding gives the very same bytes.
            assert_eq!(p.to_bytes().unwrap(), bytes, "case {i}");
            for acct in [&account_eoa, &account_safe] {
                if let Ok(r) = describe(&p, acct, &policy) {
                    let _ = transfers(&r);
                    let _ = r.lines();
                }
            }
        }
    }
    assert!(decoded > 0, "some mutations should still decode");
}

#[test]
fn random_calldata_never_panics() {
    let mut rng = Rng(42);
    let bob = addr("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    let seed = encode_multisend(&[
        (
            0,
            bob,
            U256::from(1u64),
            encode_erc20_transfer(bob, U256::from(1u64)),
        ),
        (1, bob, U256::ZERO, vec![]),
    ]);
    for _ in 0..4000 {
        let mut b = seed.clone();
        for _ in 0..1 + rng.below(3) {
            let j = rng.below(b.len());
            b[j] = rng.next() as u8;
        }
        let _ = airlock_chain_ethereum::calldata::decode(&b);
        let n = rng.below(300);
        let r: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        let _ = airlock_chain_ethereum::calldata::decode(&r);
    }
}
