//! Throughput checks, ignored by default (they are only meaningful in a
//! release build on an idle core):
//!
//! `cargo test -p airlock-log --release --test perf -- --ignored --nocapture`
//!
//! Targets: at least 200,000 depth-20 inclusion verifications per second,
//! and at least 5,000 appends per second (the coordinator's durable appends;
//! here the hashing part alone, which must be a small fraction of that).

use std::hint::black_box;
use std::time::Instant;

use airlock_log::{
    MemoryLog, hashes_for_append, leaf_hash, prove_inclusion, tree_root, verify_inclusion,
};

#[test]
#[ignore = "throughput measurement; run in release"]
fn verify_inclusion_depth_20_throughput() {
    let size = 1u64 << 20;
    let mut log = MemoryLog::new();
    for i in 0..size {
        log.append(&i.to_be_bytes());
    }
    let root = log.root();
    let proofs: Vec<_> = (0..1024u64)
        .map(|k| {
            let index = (k * 1021) % size;
            let proof = prove_inclusion(size, index, &log).unwrap();
            assert_eq!(proof.hashes.len(), 20);
            (proof, leaf_hash(&index.to_be_bytes()))
        })
        .collect();

    let rounds = 500;
    let start = Instant::now();
    for _ in 0..rounds {
        for (proof, leaf) in &proofs {
            verify_inclusion(black_box(proof), black_box(leaf), black_box(&root)).unwrap();
        }
    }
    let per_second = (rounds * proofs.len()) as f64 / start.elapsed().as_secs_f64();
    println!("verify_inclusion, depth 20: {per_second:.0} verifications/s");
    assert!(per_second >= 200_000.0, "{per_second:.0}/s");
}

#[test]
#[ignore = "throughput measurement; run in release"]
fn append_throughput() {
    let mut log = MemoryLog::new();
    let n = 200_000u64;
    let start = Instant::now();
    for i in 0..n {
        let leaf = i.to_be_bytes();
        let new = hashes_for_append(log.size(), black_box(&leaf), &log).unwrap();
        black_box(&new);
        log.append(&leaf);
    }
    // Each leaf is hashed twice above (once for the measurement, once by
    // `append`), so this is a lower bound.
    let per_second = n as f64 / start.elapsed().as_secs_f64();
    let root_start = Instant::now();
    for size in (1..=n).step_by(97) {
        black_box(tree_root(size, &log).unwrap());
    }
    let roots_per_second = (n / 97) as f64 / root_start.elapsed().as_secs_f64();
    println!("hashes_for_append + append: {per_second:.0}/s; tree_root: {roots_per_second:.0}/s");
    assert!(per_second >= 50_000.0, "{per_second:.0}/s");
}
