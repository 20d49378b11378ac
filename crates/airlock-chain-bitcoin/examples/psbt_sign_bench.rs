//! Benchmark: cosigner 0 signs the shared 100- and 1,000-input 2-of-3 P2WSH PSBTs made by Electrum.
//!
//! Run from the worktree root: `cargo run --release -p airlock-chain-bitcoin --example psbt_sign_bench`
//! (`AIRLOCK_BENCH_DIR` overrides `../shared/bench/psbt-sign`, `AIRLOCK_BENCH_RUNS` the run count,
//! default 7; `AIRLOCK_BITCOIN_THREADS=1` keeps the work on one thread). Prints the median
//! wall-clock time and process CPU time (all threads, CLOCK_PROCESS_CPUTIME_ID) of each phase:
//! key unlock (seed -> master key), vault load (descriptor parse, plus loading the registration
//! derivation cache in the third run), parse, review (what `describe` shows), sign under that
//! review, serialize, and their sum from vault load to serialize.

use std::path::PathBuf;
use std::time::Duration;

use airlock_chain_bitcoin::{
    BtcVault, ReviewPolicy, SignerKey, parse_psbt, review, serialize_psbt, sign_reviewed,
    verify_partial_signatures,
};
use bitcoin::Network;
use bitcoin::hashes::{Hash, sha256};

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One measurement: wall-clock time and CPU time of the whole process (all threads).
#[derive(Clone, Copy, Default)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, other: Cost) -> Cost {
        Cost {
            wall: self.wall + other.wall,
            cpu: self.cpu + other.cpu,
        }
    }
}

/// Runs `f`, returning its result and what it cost.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Cost) {
    let cpu0 = clock(libc::CLOCK_PROCESS_CPUTIME_ID);
    let wall0 = clock(libc::CLOCK_MONOTONIC);
    let value = f();
    let cost = Cost {
        wall: clock(libc::CLOCK_MONOTONIC).saturating_sub(wall0),
        cpu: clock(libc::CLOCK_PROCESS_CPUTIME_ID).saturating_sub(cpu0),
    };
    (value, cost)
}

fn show(costs: &[Cost]) -> String {
    let wall = median(costs.iter().map(|c| c.wall).collect());
    let cpu = median(costs.iter().map(|c| c.cpu).collect());
    format!("{} wall / {} CPU", ms(wall), ms(cpu))
}

fn main() {
    let dir = std::env::var("AIRLOCK_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("../shared/bench/psbt-sign"));
    let runs: usize = std::env::var("AIRLOCK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let keys: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("keys.json")).expect("read keys.json (set AIRLOCK_BENCH_DIR)"),
    )
    .expect("keys.json");
    let origins: Vec<String> = keys["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            format!(
                "[{}/48'/1'/0'/2']{}/<0;1>/*",
                k["fp"].as_str().expect("fp"),
                k["tpub"].as_str().expect("tpub")
            )
        })
        .collect();
    let descriptor = format!("wsh(sortedmulti(2,{}))", origins.join(","));
    let plain_vault = BtcVault::parse_for(&descriptor, Network::Regtest).expect("vault");
    // Registration (done once, not timed): the derived keys of indexes 0..1000 of both branches,
    // stored beside the vault.
    let cache = plain_vault.build_derivation_cache(1000).expect("cache");
    let policy = ReviewPolicy::default();
    let seed = sha256::Hash::hash(b"seed0").to_byte_array();
    let threads = std::env::var(airlock_chain_bitcoin::parallel::THREADS_ENV)
        .unwrap_or_else(|_| "all".into());

    println!(
        "vault {} ({}), registration cache {} bytes",
        plain_vault.wallet_fingerprint(),
        plain_vault.first_receive_address().expect("address"),
        cache.len()
    );
    for (name, use_cache) in [
        ("psbt_100", false),
        ("psbt_1000", false),
        ("psbt_1000", true),
    ] {
        let text = std::fs::read(dir.join(format!("{name}.b64"))).expect("read PSBT");
        let (mut unlock, mut load, mut parse, mut reviews, mut sign, mut serialize, mut total) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        let mut vault = plain_vault.clone();
        let mut last = None;
        for _ in 0..runs {
            let (key, t) = timed(|| SignerKey::from_seed(&seed, Network::Regtest).expect("key"));
            unlock.push(t);
            let ((), t_load) = timed(|| {
                vault = BtcVault::parse_for(&descriptor, Network::Regtest).expect("vault");
                if use_cache {
                    vault.load_derivation_cache(&cache).expect("cache");
                }
            });
            load.push(t_load);
            let (mut psbt, t_parse) = timed(|| parse_psbt(&text).expect("parse"));
            let (reviewed, t_review) = timed(|| review(&vault, &psbt, &policy).expect("review"));
            assert_eq!(reviewed.inputs.len(), psbt.inputs.len());
            let ((signed, _), t_sign) =
                timed(|| sign_reviewed(&vault, &mut psbt, &reviewed, &key).expect("sign"));
            assert_eq!(signed, psbt.inputs.len());
            let (bytes, t_serialize) = timed(|| serialize_psbt(&psbt));
            parse.push(t_parse);
            reviews.push(t_review);
            sign.push(t_sign);
            serialize.push(t_serialize);
            total.push(t_load + t_parse + t_review + t_sign + t_serialize);
            last = Some((psbt, bytes));
        }
        let (psbt, bytes) = last.expect("one run");
        let verified =
            verify_partial_signatures(&vault, &psbt, &policy).expect("signatures verify");
        assert_eq!(
            verified.total(),
            psbt.inputs.len(),
            "one verified signature per input"
        );
        println!(
            "{name}{}: {} inputs, {} bytes signed PSBT, {threads} thread(s); medians of {runs} runs:\n  key unlock {}\n  vault load {}\n  parse      {}\n  review     {}\n  sign       {}\n  serialize  {}\n  total      {} (vault load to serialize)",
            if use_cache {
                " with registration cache"
            } else {
                ""
            },
            psbt.inputs.len(),
            bytes.len(),
            show(&unlock),
            show(&load),
            show(&parse),
            show(&reviews),
            show(&sign),
            show(&serialize),
            show(&total),
        );
        println!("{name}: all {} signatures verify", verified.total());
    }
}
