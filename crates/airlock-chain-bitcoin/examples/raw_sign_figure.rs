//! The pure signing cost of N decisions, for the batch benchmark (`scripts/bench-batch.sh`): N
//! low-R ECDSA signatures by libsecp256k1 over distinct digests (what each Bitcoin input needs,
//! grinding as Bitcoin Core and Electrum do) plus N Ed25519 signatures over 300-byte messages
//! (the identity signature each decision carries), on one thread. Prints the median of 5 runs.
//!
//! `cargo run --release -p airlock-chain-bitcoin --example raw_sign_figure -- 1000`

use std::time::{Duration, Instant};

use bitcoin::hashes::{Hash, sha256};
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use ed25519_dalek::{Signer, SigningKey};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let secp = Secp256k1::new();
    let secret =
        SecretKey::from_slice(&sha256::Hash::hash(b"figure").to_byte_array()).expect("a valid key");
    let identity = SigningKey::from_bytes(&[7; 32]);
    let digests: Vec<Message> = (0..n as u64)
        .map(|i| Message::from_digest(sha256::Hash::hash(&i.to_le_bytes()).to_byte_array()))
        .collect();
    let messages: Vec<Vec<u8>> = (0..n as u64)
        .map(|i| {
            let mut m = i.to_le_bytes().repeat(38);
            m.truncate(300);
            m
        })
        .collect();
    let mut ecdsa = Vec::new();
    let mut ed = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        for d in &digests {
            std::hint::black_box(secp.sign_ecdsa_low_r(d, &secret));
        }
        ecdsa.push(start.elapsed());
        let start = Instant::now();
        for m in &messages {
            std::hint::black_box(identity.sign(m));
        }
        ed.push(start.elapsed());
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3
    };
    let (e, d) = (median(ecdsa), median(ed));
    println!(
        "pure signing cost of {n} decisions (one thread): {e:.1} ms low-R ECDSA + {d:.1} ms Ed25519 = {:.1} ms",
        e + d
    );
}
