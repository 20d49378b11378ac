//! The service benchmark for docs/PERFORMANCE.md: sustained decision uploads over HTTP by many
//! concurrent clients, each durably appended to the log, then tile reads.
//!
//! Set-up (not timed): a coordinator home with a decision-only vault of four signers (rule: one
//! approval), N proposals, and N approvals made by the real signer library (review, journal,
//! decision), one per proposal. Then `airlock_service` serves the home on a free loopback port
//! and C client threads (blocking HTTP/1.1 keep-alive, one connection each) upload the approvals
//! as fast as they are answered; every 201 is a committed, fsynced log append. Then the same
//! clients read tiles (full and partial hash tiles, entry bundles) for a fixed count.
//!
//! Backends: the home's SQLite file (default), or with `--postgres` a PostgreSQL server the
//! benchmark starts itself (`initdb` into a temporary directory, `synchronous_commit=on`,
//! `fsync=on`). `--servers 2` runs two service instances over the one database, each with its
//! own runtime, pool, decision writer and connections (in this process; their only shared state
//! is the database), and the clients alternate between them.
//!
//! Run: `cargo run --release -p airlock-service --example bench_service -- [--decisions N]
//! [--clients C] [--tile-reads R] [--postgres] [--servers 1|2] [--witness] [--json]`.
//!
//! `--witness`: then a verifying witness (`airlock_witness_app`) meets the served log for the
//! first time: it fetches every entry from the tiles and every artifact by id, replays every
//! transition with the coordinator's rules and cosigns (entries per second).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_coordinator::{CoordinatorHome, VaultDraft};
use airlock_core::{Decision, Intent, ProposalBundle, SignerEntry, Transfer};
use airlock_custody::{KdfParams, Passphrase};
use airlock_signer_app::SignerHome;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let decisions = arg("--decisions", 2000);
    let clients = arg("--clients", 64).max(1);
    let tile_reads = arg("--tile-reads", 100_000);
    let json = std::env::args().any(|a| a == "--json");
    let postgres = std::env::args().any(|a| a == "--postgres");
    let servers = arg("--servers", 1).clamp(1, 8);
    let witness = std::env::args().any(|a| a == "--witness");
    let dir = tempfile::tempdir().expect("temporary directory");
    let now = 1_767_225_600u64;
    // SAFETY of the environment: set before any thread starts; the service reads the clock
    // through the CLI's rule (AIRLOCK_NOW) so set-up and serving agree.
    unsafe { std::env::set_var("AIRLOCK_NOW", now.to_string()) };

    eprintln!("set-up: coordinator, 4 signers, {decisions} proposals and approvals…");
    let setup = Instant::now();
    let home = dir.path().join("coordinator");
    let mut created = CoordinatorHome::init(&home, Some("bench.airlock/log"), now).expect("init");
    let pg = postgres.then(|| {
        airlock_coordinator::test_server::TestPostgres::start().expect("PostgreSQL starts")
    });
    if let Some(pg) = &pg {
        pg.create_database("bench").expect("database");
        // Through the Unix socket, as a service on the database's machine would connect.
        let url = if std::env::args().any(|a| a == "--tcp") {
            pg.url("bench")
        } else {
            pg.socket_url("bench")
        };
        created.set_database(Some(&url)).expect("use PostgreSQL");
    }
    let mut c = CoordinatorHome::open(&home)
        .and_then(|h| h.coordinator())
        .expect("coordinator");
    let pass = Passphrase::new("bench passphrase".into()).expect("passphrase");
    let mut signers = Vec::new();
    for i in 0..4 {
        let name = format!("signer{i}");
        let h = SignerHome::init(
            &dir.path().join(&name),
            &name,
            &pass,
            KdfParams::INSECURE_FAST,
            now,
        )
        .expect("signer init");
        let key = h.unlock(&pass).expect("unlock");
        signers.push((name, h, key));
    }
    let draft = VaultDraft {
        vault_id: "bench".into(),
        chain: "none".into(),
        network: "main".into(),
        account: String::new(),
        signers: signers
            .iter()
            .map(|(name, h, _)| SignerEntry {
                name: name.clone(),
                role: "ops".into(),
                identity: h.public_key().expect("key"),
                chain_key: String::new(),
                custody: "keystore".into(),
            })
            .collect(),
        threshold: 1,
        rules: vec![airlock_core::vault::parse_rule("all: => 1 ops").expect("rule")],
        witnesses: Default::default(),
    };
    let draft = c.draft_vault(draft, now).expect("draft");
    let mut signed = draft.clone();
    signed.sign(signers[0].2.signing_key());
    c.submit_vault(&[signed], now).expect("submit vault");
    let (_, active) = c.vault_latest("bench").expect("vault");
    for (_, h, _) in &signers {
        h.register_vault(&active).expect("register");
    }
    let mut ids = Vec::with_capacity(decisions);
    for i in 0..decisions {
        let intent = Intent {
            transfers: vec![Transfer {
                destination: format!("payee-{i}"),
                amount: 1 + i as u128,
                asset: String::new(),
            }],
            memo: String::new(),
        };
        ids.push(c.propose("bench", intent, None, now).expect("propose"));
    }
    let mut uploads = Vec::with_capacity(decisions);
    for (i, id) in ids.iter().enumerate() {
        let (_, h, key) = &signers[i % signers.len()];
        let bundle: ProposalBundle = c
            .export_bundle(id, &[])
            .expect("bundle")
            .open()
            .expect("open");
        let review = h.review(&bundle, now).expect("review");
        let env = h
            .decide(&review, Decision::Approve, "", key, None, now)
            .expect("decide");
        uploads.push(env.to_bytes());
    }
    drop(c);
    // Set-up verified the proposals (the signers reviewed them): the service must verify every
    // signature it meets again, as a server that did not make them would.
    airlock_core::envelope::forget_verified_signatures();
    eprintln!("set-up took {:.1} s", setup.elapsed().as_secs_f64());

    let mut running = Vec::new();
    let mut bases = Vec::new();
    for _ in 0..servers {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let config = airlock_service::ServeConfig {
            home: home.clone(),
            listen: "127.0.0.1:0".parse().expect("address"),
            allow_remote: false,
            tls: None,
            limits: airlock_service::Limits::default(),
            sync_every: None,
            witness_every: None,
        };
        let server = std::thread::spawn(move || {
            airlock_service::run_until(config, |addr| addr_tx.send(addr).expect("send"), async {
                let _ = stop_rx.await;
            })
            .expect("serve")
        });
        bases.push(format!("http://{}", addr_rx.recv().expect("address")));
        running.push((server, stop_tx));
    }
    let base = bases[0].clone();

    // Decision uploads.
    let queue = Arc::new(Mutex::new(uploads));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(decisions)));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|i| {
            let (queue, latencies, failures) = (queue.clone(), latencies.clone(), failures.clone());
            let url = format!("{}/api/v1/decisions", bases[i % bases.len()]);
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut mine = Vec::new();
                loop {
                    let Some(body) = queue.lock().expect("queue").pop() else {
                        break;
                    };
                    let t = Instant::now();
                    let status = agent
                        .post(&url)
                        .header("content-type", "application/vnd.airlock.artifact")
                        .send(&body[..])
                        .map(|mut r| {
                            let _ = r.body_mut().read_to_vec();
                            r.status().as_u16()
                        })
                        .unwrap_or(0);
                    mine.push(t.elapsed());
                    if status != 201 {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies.lock().expect("latencies").extend(mine);
            })
        })
        .collect();
    for w in workers {
        w.join().expect("client");
    }
    let upload_secs = started.elapsed().as_secs_f64();
    let mut lat = latencies.lock().expect("latencies").clone();
    lat.sort();
    let failed = failures.load(Ordering::Relaxed);

    // Tile reads: every tile of the log, round-robin.
    let health: serde_json::Value = serde_json::from_slice(
        &ureq::get(&format!("{base}/healthz"))
            .call()
            .expect("healthz")
            .body_mut()
            .read_to_vec()
            .expect("healthz body"),
    )
    .expect("healthz JSON");
    let size = health["log_size"].as_u64().expect("log size");
    let paths: Vec<String> = airlock_log::tiles::tiles_for(size, false)
        .into_iter()
        .chain(airlock_log::tiles::tiles_for(size, true))
        .map(|t| format!("{base}/log/{}", airlock_log::tiles::path(&t)))
        .collect();
    let paths = Arc::new(paths);
    let next = Arc::new(AtomicUsize::new(0));
    let tile_failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let readers: Vec<_> = (0..clients)
        .map(|_| {
            let (paths, next, tile_failures) = (paths.clone(), next.clone(), tile_failures.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= tile_reads {
                        break;
                    }
                    let ok = agent
                        .get(&paths[i % paths.len()])
                        .call()
                        .map(|mut r| {
                            let _ = r.body_mut().read_to_vec();
                            r.status().as_u16() == 200
                        })
                        .unwrap_or(false);
                    if !ok {
                        tile_failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for r in readers {
        r.join().expect("reader");
    }
    let tile_secs = started.elapsed().as_secs_f64();

    // A verifying witness meeting this log for the first time: every entry fetched from the
    // published tiles, each artifact fetched by id, every transition replayed, then cosigned.
    let witness_figures = witness.then(|| {
        airlock_core::envelope::forget_verified_signatures();
        let whome = airlock_witness_app::WitnessHome::init(
            &dir.path().join("witness"),
            "bench.example/witness",
        )
        .expect("witness home");
        let log_key = airlock_coordinator::CoordinatorHome::open(&home)
            .and_then(|h| h.coordinator())
            .expect("coordinator")
            .log_verifier()
            .vkey();
        whome
            .trust_log(&log_key, Some(&base))
            .expect("trust the log");
        let note = ureq::get(&format!("{base}/log/checkpoint"))
            .call()
            .expect("checkpoint")
            .body_mut()
            .read_to_string()
            .expect("checkpoint text");
        let body = airlock_log::witness::AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: note,
        }
        .to_bytes();
        let mut conn = whome.connect().expect("witness database");
        let started = Instant::now();
        let cosigned = whome
            .add_checkpoint(&mut conn, &body, now)
            .expect("the witness cosigns a valid log");
        (cosigned.size, started.elapsed().as_secs_f64())
    });
    for (server, stop) in running {
        let _ = stop.send(());
        server.join().expect("server");
    }
    drop(pg);

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let figures = serde_json::json!({
        "backend": if postgres {
            "postgresql (synchronous_commit=on, fsync=on)"
        } else {
            "sqlite (synchronous=FULL)"
        },
        "servers": servers,
        "clients": clients,
        "decisions": decisions,
        "decision_failures": failed,
        "decisions_per_second": (decisions - failed) as f64 / upload_secs,
        "decision_p50_ms": percentile(&lat, 0.50),
        "decision_p99_ms": percentile(&lat, 0.99),
        "decision_max_ms": percentile(&lat, 1.0),
        "tile_reads": tile_reads,
        "tile_failures": tile_failures.load(Ordering::Relaxed),
        "tile_reads_per_second": tile_reads as f64 / tile_secs,
        "tiles_distinct": paths.len(),
        "loadavg": load.trim(),
        "witness_entries": witness_figures.map(|(n, _)| n),
        "witness_entries_per_second": witness_figures.map(|(n, secs)| n as f64 / secs),
    });
    if json {
        println!("{figures:#}");
    } else {
        println!(
            "backend: {}, {servers} service instance(s)",
            figures["backend"]
        );
        println!(
            "decision uploads: {} by {} clients in {:.2} s: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} failed",
            decisions,
            clients,
            upload_secs,
            figures["decisions_per_second"].as_f64().unwrap_or(0.0),
            figures["decision_p50_ms"].as_f64().unwrap_or(0.0),
            figures["decision_p99_ms"].as_f64().unwrap_or(0.0),
            figures["decision_max_ms"].as_f64().unwrap_or(0.0),
            failed
        );
        println!(
            "tile reads: {} ({} distinct tiles) in {:.2} s: {:.0}/s, {} failed",
            tile_reads,
            paths.len(),
            tile_secs,
            figures["tile_reads_per_second"].as_f64().unwrap_or(0.0),
            tile_failures.load(Ordering::Relaxed)
        );
        if let Some((entries, secs)) = witness_figures {
            println!(
                "verifying witness: {entries} entries fetched, replayed and cosigned in {secs:.2} s: {:.0} entries/s",
                entries as f64 / secs
            );
        }
        println!("load average at the end: {}", load.trim());
    }
}
