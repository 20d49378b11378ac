//! `airlock bench`: figures for docs/PERFORMANCE.md, measured on this machine.
//!
//! Durable log appends through the real SQLite store (synchronous commits, batched), inclusion-
//! and consistency-proof verifications at depth 20, and artifact decoding. Run it from a release
//! build (`cargo run --release -p airlock -- bench`); it only prints, and writes nothing but a
//! temporary database that it removes.

use std::time::Instant;

use airlock_cli_support::{CliResult, print_json};
use airlock_coordinator::store::{NewEntry, SqliteStore, Storage, StoreError};
use airlock_core::{Artifact, ArtifactId, Envelope, Intent, Proposal, PublicKey, Transfer};
use airlock_log::{ConsistencyProof, InclusionProof, MemoryLog};
use clap::Args;
use serde_json::json;

#[derive(Args)]
pub struct BenchArgs {
    /// Log leaves to append durably.
    #[arg(long, default_value_t = 20_000)]
    appends: u64,
    /// Leaves per database transaction.
    #[arg(long, default_value_t = 100)]
    batch: u64,
    /// Inclusion-proof verifications to time.
    #[arg(long, default_value_t = 1_000_000)]
    verifications: u64,
    /// Artifact decodes to time.
    #[arg(long, default_value_t = 100_000)]
    decodes: u64,
    /// Log entries to compute `airlock metrics` over.
    #[arg(long, default_value_t = 1_000_000)]
    metrics_entries: u64,
    /// Of those, entries to replay in full (signatures and rules), as `metrics` without --quick.
    #[arg(long, default_value_t = 100_000)]
    replay_entries: u64,
}

fn rate(n: u64, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

fn durable_appends(total: u64, batch: u64) -> CliResult<(f64, f64)> {
    let dir = std::env::temp_dir().join(format!("airlock-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = (|| -> CliResult<(f64, f64)> {
        let mut store = SqliteStore::open(&dir.join("bench.db"))?;
        let sign = |size: u64, root: [u8; 32]| -> Result<String, StoreError> {
            Ok(format!("{size} {}", hex::encode(root)))
        };
        let leaf = |i: u64| NewEntry {
            artifact: None,
            leaf: i.to_be_bytes().repeat(8),
            signer_seen: None,
        };
        let start = Instant::now();
        let mut i = 0;
        while i < total {
            let n = batch.min(total - i);
            store.append((i..i + n).map(leaf).collect(), &sign)?;
            i += n;
        }
        let batched = rate(total, start.elapsed().as_secs_f64());
        let singles = 200;
        let start = Instant::now();
        for j in 0..singles {
            store.append(vec![leaf(total + j)], &sign)?;
        }
        Ok((batched, rate(singles, start.elapsed().as_secs_f64())))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn proofs(verifications: u64) -> CliResult<serde_json::Value> {
    let size = 1u64 << 20;
    let mut log = MemoryLog::new();
    for i in 0..size {
        log.append(&i.to_be_bytes());
    }
    let root = log.root();
    let indexes: Vec<u64> = (0..1024u64).map(|i| (i * 1_000_003) % size).collect();
    let proofs: Vec<(InclusionProof, [u8; 32])> = indexes
        .iter()
        .map(|i| {
            Ok((
                airlock_log::prove_inclusion(size, *i, &log)?,
                airlock_log::leaf_hash(&i.to_be_bytes()),
            ))
        })
        .collect::<Result<_, airlock_log::LogError>>()?;
    let depth = proofs[0].0.hashes.len();
    let verify_all = |n: u64| -> Result<(), airlock_log::LogError> {
        for k in 0..n {
            let (p, h) = &proofs[(k % proofs.len() as u64) as usize];
            airlock_log::verify_inclusion(p, h, &root)?;
        }
        Ok(())
    };
    let start = Instant::now();
    verify_all(verifications)?;
    let one_core = rate(verifications, start.elapsed().as_secs_f64());
    let start = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| s.spawn(|| verify_all(verifications / 2)))
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("bench thread"))
    })?;
    let two_cores = rate(verifications, start.elapsed().as_secs_f64());

    let old = size - 12_345;
    let cproof: ConsistencyProof = airlock_log::prove_consistency(old, size, &log)?;
    let old_root = log.root_at(old)?;
    let n = verifications / 4;
    let start = Instant::now();
    for _ in 0..n {
        airlock_log::verify_consistency(&cproof, &old_root, &root)?;
    }
    let consistency = rate(n, start.elapsed().as_secs_f64());
    Ok(json!({
        "tree_size": size,
        "inclusion_proof_depth": depth,
        "inclusion_verifications_per_s_1_core": one_core.round() as u64,
        "inclusion_verifications_per_s_2_cores": two_cores.round() as u64,
        "consistency_proof_hashes": cproof.hashes.len(),
        "consistency_verifications_per_s_1_core": consistency.round() as u64,
    }))
}

fn decoding(decodes: u64) -> CliResult<serde_json::Value> {
    let proposal = Proposal {
        vault_id: "treasury".into(),
        vault_version: 3,
        vault_artifact: ArtifactId([7; 32]),
        chain: "none".into(),
        intent: Intent {
            transfers: (0..10)
                .map(|i| Transfer {
                    destination: format!("destination-{i:04}-xxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
                    amount: 1_000_000 + i,
                    asset: String::new(),
                })
                .collect(),
            memo: "quarterly payments".into(),
        },
        payload: vec![0xab; 2048],
        spends: (0..10).map(|i| format!("outpoint:{i:064}")).collect(),
        rule: "default".into(),
        created: 1_800_000_000,
        expires: 1_800_086_400,
        proposer: PublicKey([1; 32]),
        nonce: [2; 16],
    };
    let mut env = proposal.envelope();
    env.sign(&ed25519_dalek::SigningKey::from_bytes(&[9; 32]));
    let bytes = env.to_bytes();
    let start = Instant::now();
    for _ in 0..decodes {
        let e = Envelope::from_bytes(&bytes)?;
        let _p: Proposal = e.open()?;
    }
    let secs = start.elapsed().as_secs_f64();
    let n = decodes / 10;
    let start = Instant::now();
    for _ in 0..n {
        if env.valid_signers().len() != 1 {
            return Err("signature check failed".into());
        }
    }
    let verify = rate(n, start.elapsed().as_secs_f64());
    Ok(json!({
        "artifact_bytes": bytes.len(),
        "decodes_per_s": rate(decodes, secs).round() as u64,
        "decode_mib_per_s": (rate(decodes, secs) * bytes.len() as f64 / 1_048_576.0).round() as u64,
        "signature_checks_per_s": verify.round() as u64,
    }))
}

/// A state commitment of `utxos` Bitcoin UTXOs: made (sorted, Merkle root) and signed, then
/// decoded with its root re-checked, as the coordinator and every replay do.
fn commitments(utxos: u64) -> CliResult<serde_json::Value> {
    use airlock_core::commitment::StateCommitment;
    let leaves: Vec<String> = (0..utxos)
        .map(|i| {
            format!(
                "utxo {:064x}:{} {} 0020{:064x}",
                i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                i % 4,
                10_000 + i,
                i
            )
        })
        .collect();
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let start = Instant::now();
    let c = StateCommitment::new("treasury", 3, "bitcoin", 900_000, "", leaves, 1_800_000_000)?;
    let mut env = c.envelope();
    env.sign(&key);
    let bytes = env.to_bytes();
    let make = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let back: StateCommitment = Envelope::from_bytes(&bytes)?.open()?;
    let open = start.elapsed().as_secs_f64();
    if back.root != c.root {
        return Err("the commitment did not decode to its root".into());
    }
    Ok(json!({
        "utxos": utxos,
        "bytes": bytes.len(),
        "make_and_sign_ms": (make * 1000.0 * 10.0).round() / 10.0,
        "decode_and_check_ms": (open * 1000.0 * 10.0).round() / 10.0,
    }))
}

pub fn run(args: BenchArgs, json_out: bool) -> CliResult {
    if cfg!(debug_assertions) && !json_out {
        eprintln!(
            "note: this is a debug build of airlock; run `cargo run --release -p airlock -- bench` for real figures"
        );
    }
    let (batched, single) = durable_appends(args.appends, args.batch)?;
    let proof = proofs(args.verifications)?;
    let decode = decoding(args.decodes)?;
    let state = commitments(50_000)?;
    if !json_out {
        eprintln!(
            "generating a signed log of {} entries for the metrics figure…",
            args.metrics_entries
        );
    }
    let metrics = crate::metrics_bench::metrics_figures(args.metrics_entries, args.replay_entries)?;
    let report = json!({
        "durable_appends": {
            "leaves": args.appends,
            "batch": args.batch,
            "appends_per_s_batched": batched.round() as u64,
            "appends_per_s_one_per_transaction": single.round() as u64,
            "sqlite": "WAL, synchronous=FULL",
        },
        "proofs": proof,
        "artifacts": decode,
        "state_commitment": state,
        "metrics": metrics,
    });
    if json_out {
        print_json(&report);
    } else {
        println!("durable log appends (SQLite WAL, synchronous=FULL)");
        println!(
            "  batches of {:>5}: {:>10.0} appends/s",
            args.batch, batched
        );
        println!("  one per commit  : {:>10.0} appends/s", single);
        println!("proof verification (tree of {} leaves)", proof["tree_size"]);
        println!(
            "  inclusion, depth {}: {} /s on 1 core, {} /s on 2 cores",
            proof["inclusion_proof_depth"],
            proof["inclusion_verifications_per_s_1_core"],
            proof["inclusion_verifications_per_s_2_cores"]
        );
        println!(
            "  consistency ({} hashes): {} /s on 1 core",
            proof["consistency_proof_hashes"], proof["consistency_verifications_per_s_1_core"]
        );
        println!(
            "artifact decoding ({}-byte signed proposal envelope)",
            decode["artifact_bytes"]
        );
        println!(
            "  {} decodes/s ({} MiB/s), {} signature checks/s",
            decode["decodes_per_s"], decode["decode_mib_per_s"], decode["signature_checks_per_s"]
        );
        println!(
            "state commitment of {} UTXOs ({} bytes)",
            state["utxos"], state["bytes"]
        );
        println!(
            "  made and signed in {} ms, decoded with its root re-checked in {} ms",
            state["make_and_sign_ms"], state["decode_and_check_ms"]
        );
        println!(
            "airlock metrics over {} log entries ({} proposals)",
            metrics["entries"], metrics["proposals"]
        );
        println!(
            "  --quick: {} s (alone: Merkle root {} s; figures {} s = decoding {} s + report {} s)",
            metrics["quick_total_s"],
            metrics["merkle_root_s"],
            metrics["metrics_s"],
            metrics["decode_s"],
            metrics["report_s"]
        );
        println!(
            "  full replay (the default adds it): {} s for {} entries, {} s per million",
            metrics["replay_s"], metrics["replayed_entries"], metrics["replay_per_million_s"]
        );
    }
    Ok(())
}
