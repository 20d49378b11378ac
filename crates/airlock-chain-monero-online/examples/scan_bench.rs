//! View-only scan benchmark: Airlock's scanner against wallet2 (`monero-wallet-rpc`), side by
//! side in one run against the same monerod, on the fixed regtest chain of
//! `../shared/bench/monero-scan` (60,206 outputs; the wallet owns 1,550 worth 39.33596 XMR).
//!
//! ```sh
//! cargo run --release -p airlock-chain-monero --features online --example scan_bench -- --repeats 5
//! ```
//!
//! Both scanners start from height 0 with their subaddress tables (50 × 200) built outside the
//! timed window: Airlock's `ViewScanner::new`, wallet2's `generate_from_keys`. The timed part is
//! a full sync (Airlock: `ViewScanner::sync` into a fresh state; wallet2: one `refresh` RPC).
//! Runs alternate (Airlock, wallet2, Airlock, …) after one untimed warm-up of each, so both see
//! the same page cache. Every process started here is killed (by pid) before exit.

#[path = "../tests/scan_support/mod.rs"]
mod support;

use std::time::Instant;

use airlock_chain_monero::subaddress::Lookahead;
use airlock_chain_monero_online::daemon::DaemonClient;
use airlock_chain_monero_online::scan::{ScanKeys, ScanState, SyncOptions, ViewScanner};
use serde_json::json;

struct Args {
    repeats: usize,
    wallet2_repeats: usize,
    batch: u64,
}

fn parse_args() -> Args {
    let mut args = Args {
        repeats: 5,
        wallet2_repeats: 3,
        batch: SyncOptions::default().blocks_per_batch,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> u64 {
            it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                eprintln!("{name} needs a number");
                std::process::exit(2)
            })
        };
        match flag.as_str() {
            "--repeats" => args.repeats = value("--repeats").max(1) as usize,
            "--wallet2-repeats" => args.wallet2_repeats = value("--wallet2-repeats") as usize,
            "--batch" => args.batch = value("--batch").max(1),
            other => {
                eprintln!(
                    "unknown argument {other}; use --repeats N --wallet2-repeats M --batch BLOCKS"
                );
                std::process::exit(2)
            }
        }
    }
    args
}

/// CPU seconds (user + system, all threads) a process has used so far.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the name: state(0) ... utime(11) stime(12); the kernel's tick is 100 Hz.
    (ticks(11) + ticks(12)) / 100.0
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args = parse_args();
    let wallet = support::bench_wallet();
    let work = support::unpack_bench_chain();
    let logs = work.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    let daemon = support::Monerod::start(&work.path().join("chain"), &logs);
    let client = DaemonClient::connect(&daemon.url()).expect("connect to monerod");
    let daemon_pid = daemon.proc.child.id().to_string();
    let height = client.height().expect("height");
    assert_eq!(height, wallet.expected_height, "the bench chain's height");
    println!(
        "monerod on 127.0.0.1:{} with the bench chain: {height} blocks",
        daemon.rpc_port
    );

    let keys = ScanKeys::new(&wallet.address, &wallet.view_key).expect("bench keys");
    let started = Instant::now();
    let scanner = ViewScanner::new(keys, Lookahead::default());
    println!(
        "Airlock subaddress table: {} entries built in {:.3} s (outside the timed window)",
        scanner.table().len(),
        started.elapsed().as_secs_f64()
    );
    let options = SyncOptions {
        blocks_per_batch: args.batch,
        ..SyncOptions::default()
    };

    let airlock_run = |timed: bool| -> f64 {
        // A fresh scanner (a fresh 50 x 200 table, as wallet2's generate_from_keys builds) per
        // run, outside the timed window; the scan grows it past used addresses as it goes.
        let keys = ScanKeys::new(&wallet.address, &wallet.view_key).expect("bench keys");
        let mut scanner = ViewScanner::new(keys, Lookahead::default());
        let mut state = ScanState::new(scanner.keys(), 0, Lookahead::default());
        let (cpu0, daemon0) = (cpu_seconds("self"), cpu_seconds(&daemon_pid));
        let t = Instant::now();
        let report = scanner
            .sync(&mut state, &client, options)
            .expect("Airlock sync");
        let seconds = t.elapsed().as_secs_f64();
        let (cpu, daemon_cpu) = (
            cpu_seconds("self") - cpu0,
            cpu_seconds(&daemon_pid) - daemon0,
        );
        let balance = state.balance();
        assert_eq!(
            report.new_outputs, wallet.expected_outputs,
            "Airlock found a different number of outputs"
        );
        assert_eq!(
            balance.total, wallet.expected_amount,
            "Airlock found a different amount"
        );
        if timed {
            println!(
                "  Airlock : {seconds:.3} s wall, {cpu:.2} s CPU (monerod {daemon_cpu:.2} s)  ({} outputs, {}.{:012} XMR, {} blocks)",
                report.new_outputs,
                balance.total / 1_000_000_000_000,
                balance.total % 1_000_000_000_000,
                report.blocks_scanned
            );
        }
        seconds
    };

    let wallet2_run = |round: usize, timed: bool| -> f64 {
        let wallet_dir = work.path().join(format!("wallet2-{round}"));
        let rpc = support::WalletRpc::start(daemon.rpc_port, &wallet_dir, &logs);
        support::wallet2_view_only(&rpc, "view", &wallet.address, &wallet.view_key, 0);
        let wallet_pid = rpc.proc.child.id().to_string();
        let (cpu0, daemon0) = (cpu_seconds(&wallet_pid), cpu_seconds(&daemon_pid));
        let t = Instant::now();
        let result = rpc.call("refresh", json!({"start_height": 0}));
        let seconds = t.elapsed().as_secs_f64();
        let (cpu, daemon_cpu) = (
            cpu_seconds(&wallet_pid) - cpu0,
            cpu_seconds(&daemon_pid) - daemon0,
        );
        let incoming = support::wallet2_incoming(&rpc);
        assert_eq!(
            incoming.len(),
            wallet.expected_outputs,
            "wallet2 found a different number of outputs: {result}"
        );
        if timed {
            println!(
                "  wallet2 : {seconds:.3} s wall, {cpu:.2} s CPU (monerod {daemon_cpu:.2} s)  ({} outputs, {} blocks fetched)",
                incoming.len(),
                result["blocks_fetched"]
            );
        }
        drop(rpc);
        seconds
    };

    println!("warm-up (untimed): one run of each");
    airlock_run(false);
    if args.wallet2_repeats > 0 {
        wallet2_run(0, false);
    }
    let mut airlock = Vec::new();
    let mut wallet2 = Vec::new();
    for round in 0..args.repeats.max(args.wallet2_repeats) {
        println!("round {}", round + 1);
        if round < args.repeats {
            airlock.push(airlock_run(true));
        }
        if round < args.wallet2_repeats {
            wallet2.push(wallet2_run(round + 1, true));
        }
    }
    drop(client);
    drop(daemon);

    let outputs_total = 60_206.0;
    let a = median(&airlock);
    println!();
    println!(
        "chain: {height} blocks, 60,206 outputs; wallet owns {} outputs",
        wallet.expected_outputs
    );
    println!(
        "Airlock view-only scan from 0: median {a:.3} s over {} runs (min {:.3}, max {:.3}) = {:.0} outputs/s, {:.0} blocks/s",
        airlock.len(),
        airlock.iter().copied().fold(f64::INFINITY, f64::min),
        airlock.iter().copied().fold(0.0, f64::max),
        outputs_total / a,
        height as f64 / a
    );
    if !wallet2.is_empty() {
        let w = median(&wallet2);
        println!(
            "wallet2 (monero-wallet-rpc) refresh from 0: median {w:.3} s over {} runs (min {:.3}, max {:.3}) = {:.0} outputs/s",
            wallet2.len(),
            wallet2.iter().copied().fold(f64::INFINITY, f64::min),
            wallet2.iter().copied().fold(0.0, f64::max),
            outputs_total / w
        );
        println!(
            "ratio wallet2 / Airlock: {:.2}x (target >= 2x, Airlock <= 0.78 s)",
            w / a
        );
    }
}
