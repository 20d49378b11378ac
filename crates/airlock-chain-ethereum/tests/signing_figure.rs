//! The figure (docs/PERFORMANCE.md): offline signing of 10,000 EIP-1559 transactions
//! against 10,000 raw recoverable signatures by libsecp256k1 (and, for comparison, k256) in the
//! same run (issue 5's target ≤ 2×; issue 18's goal 1.3×).
//! Ignored by default (timing on a shared machine); run with
//! `cargo test -p airlock-chain-ethereum --test signing_figure -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use airlock_chain_ethereum::calldata::encode_erc20_transfer;
use airlock_chain_ethereum::{Eip1559Request, EthPayload, sign_transactions};
use alloy_primitives::{U256, keccak256};
use common::*;

#[test]
#[ignore]
fn signing_10000_transactions_against_raw_signatures() {
    let n = 10_000u64;
    let k = key(KEY0);
    let bob = addr("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    let txs: Vec<Eip1559Request> = (0..n)
        .map(|i| Eip1559Request {
            nonce: i,
            max_fee_per_gas: 30_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            gas_limit: 65_000,
            to: addr("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
            value: U256::ZERO,
            input: encode_erc20_transfer(bob, U256::from(i)),
        })
        .collect();
    let hashes: Vec<_> = (0..n).map(|i| keccak256(i.to_be_bytes())).collect();
    // The floor: libsecp256k1's own recoverable signing of 10,000 hashes, and k256's beside it.
    let secret = k.secret_bytes();
    let ctx = secp256k1::Secp256k1::signing_only();
    let sk = secp256k1::SecretKey::from_slice(&secret[..]).unwrap();
    let t0 = Instant::now();
    for h in &hashes {
        let msg = secp256k1::Message::from_digest(h.0);
        std::hint::black_box(ctx.sign_ecdsa_recoverable(&msg, &sk));
    }
    let raw = t0.elapsed();
    let k256_key = k256::ecdsa::SigningKey::from_bytes((&*secret).into()).unwrap();
    let t2 = Instant::now();
    for h in &hashes {
        std::hint::black_box(k256_key.sign_prehash_recoverable(h.as_slice()).unwrap());
    }
    let k256_raw = t2.elapsed();
    let t1 = Instant::now();
    // Batches are capped at 1,000 transactions: ten payloads.
    for chunk in txs.chunks(1000) {
        let p = EthPayload::Transactions {
            chain_id: 1,
            txs: chunk.to_vec(),
        };
        std::hint::black_box(sign_transactions(&p, &k).unwrap());
    }
    let ours = t1.elapsed();
    let ratio = ours.as_secs_f64() / raw.as_secs_f64();
    println!(
        "10,000 raw libsecp256k1 signatures: {raw:?}; 10,000 raw k256 signatures: {k256_raw:?}; \
         10,000 EIP-1559 transactions: {ours:?}; ratio to libsecp256k1 {ratio:.2} (issue 18 goal: 1.3)"
    );
    assert!(
        ratio <= 2.0,
        "signing transactions costs {ratio:.2}× raw signatures"
    );
}
