//! The witness benchmark for docs/PERFORMANCE.md: cosigning latency per checkpoint.
//!
//! Set-up (not timed): a witness home in a temporary directory trusting one log, and that log
//! (`airlock_log::MemoryLog`) grown to `--checkpoints × --every` leaves with a signed checkpoint
//! and a consistency proof every `--every` leaves. Then the checkpoints are submitted in order,
//! each an `add-checkpoint` (verify the log's signature and the proof, commit the new state with
//! `synchronous=FULL`, cosign): first straight through the library (`WitnessHome::add_checkpoint`),
//! then over HTTP to the witness's own server on a loopback port (one keep-alive connection).
//!
//! Run: `cargo run --release -p airlock-witness-app --example bench_witness -- [--checkpoints N]
//! [--every K]`.

use std::time::{Duration, Instant};

use airlock_log::witness::AddCheckpoint;
use airlock_log::{CheckpointSigner, MemoryLog, prove_consistency};
use airlock_witness_app::WitnessHome;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(what: &str, mut took: Vec<Duration>, total: Duration) {
    took.sort();
    println!(
        "{what}: {} checkpoints in {:.2} s: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        took.len(),
        total.as_secs_f64(),
        took.len() as f64 / total.as_secs_f64(),
        percentile(&took, 0.5),
        percentile(&took, 0.99),
        percentile(&took, 1.0)
    );
}

/// The requests, one per checkpoint, each from the one before.
fn requests(checkpoints: u64, every: u64, signer: &CheckpointSigner) -> Vec<Vec<u8>> {
    let mut log = MemoryLog::new();
    let mut out = Vec::new();
    let mut old = 0;
    for c in 1..=checkpoints {
        while log.size() < c * every {
            log.append(format!("entry {}", log.size()).as_bytes());
        }
        let note = signer.sign(log.size(), log.root()).expect("sign").note;
        let proof = if old == 0 {
            vec![]
        } else {
            prove_consistency(old, log.size(), &log)
                .expect("proof")
                .hashes
        };
        out.push(
            AddCheckpoint {
                old_size: old,
                proof,
                checkpoint: note,
            }
            .to_bytes(),
        );
        old = log.size();
    }
    out
}

fn main() {
    let checkpoints = arg("--checkpoints", 2000).max(1);
    let every = arg("--every", 64).max(1);
    let now = 1_767_225_600;
    let signer = CheckpointSigner::new(
        "bench.example/log",
        ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    )
    .expect("origin");
    let bodies = requests(checkpoints, every, &signer);
    eprintln!(
        "set-up: {checkpoints} checkpoints, one every {every} entries ({} entries)",
        checkpoints * every
    );

    // Straight through the library.
    let dir = tempfile::tempdir().expect("temporary directory");
    let home = WitnessHome::init(&dir.path().join("w"), "bench.example/witness").expect("init");
    home.trust_log(&signer.verifier().vkey(), None)
        .expect("trust");
    let mut conn = home.connect().expect("database");
    let mut took = Vec::new();
    let start = Instant::now();
    for body in &bodies {
        let t = Instant::now();
        home.add_checkpoint(&mut conn, body, now).expect("cosigned");
        took.push(t.elapsed());
    }
    report("library (verify, commit, cosign)", took, start.elapsed());

    // Over HTTP, to a fresh home.
    let dir = tempfile::tempdir().expect("temporary directory");
    let home = WitnessHome::init(&dir.path().join("w"), "bench.example/witness").expect("init");
    home.trust_log(&signer.verifier().vkey(), None)
        .expect("trust");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        airlock_witness_app::server::run(
            home,
            airlock_witness_app::server::ServeConfig {
                listen: "127.0.0.1:0".parse().expect("address"),
                prefix: String::new(),
                clock: || 1_767_225_600,
                watch_every: None,
                header_timeout: std::time::Duration::from_secs(10),
            },
            |addr| tx.send(addr).expect("report address"),
        )
        .expect("serve")
    });
    let addr = rx.recv().expect("server address");
    let url = format!("http://{addr}/add-checkpoint");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut took = Vec::new();
    let start = Instant::now();
    for body in &bodies {
        let t = Instant::now();
        let mut answer = agent.post(&url).send(&body[..]).expect("answer");
        let status = answer.status().as_u16();
        let text = answer.body_mut().read_to_string().expect("body");
        assert_eq!(status, 200, "{text}");
        took.push(t.elapsed());
    }
    report("HTTP (one keep-alive connection)", took, start.elapsed());
}
