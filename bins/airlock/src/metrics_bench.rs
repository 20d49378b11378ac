//! `airlock bench`'s metrics figure: `airlock metrics` over a synthetic log of a five-signer team
//! (a signed proposal, three signed decisions, the finalized record, broadcast and confirmed per
//! payment; one proposal in ten rejected by one signer), the size issue 17 names.
//!
//! It times what `metrics --quick` does once the leaves and artifacts are read: the Merkle root
//! of every leaf (checked against the checkpoint), each artifact hashed against its id, decoded,
//! and the figures computed; and, on a prefix, the full replay the default mode adds.

use std::time::Instant;

use airlock_cli_support::CliResult;
use airlock_coordinator::metrics::{MetricsBuilder, MetricsOptions, report_and_root};
use airlock_core::vault::{CoordinatorRef, parse_rule};
use airlock_core::{
    Approval, Artifact, ArtifactId, Decision, Envelope, Event, EventKind, Finalized, Intent,
    LogRecord, Proposal, PublicKey, SignerEntry, Transfer, VaultDefinition,
};
use ed25519_dalek::SigningKey;
use serde_json::json;

struct SyntheticLog {
    leaves: Vec<Vec<u8>>,
    /// Each leaf's artifact, in log order (as the store reads them for `metrics`).
    artifacts: Vec<Vec<u8>>,
    coordinator: PublicKey,
}

impl SyntheticLog {
    fn add(&mut self, kind: &str, env: &Envelope, at: u64) {
        let id = env.id();
        self.leaves.push(
            LogRecord {
                kind: kind.into(),
                artifact: id,
                vault_id: "treasury".into(),
                at,
            }
            .to_bytes(),
        );
        self.artifacts.push(env.to_bytes());
    }
}

fn signed(artifact: &impl Artifact, key: &SigningKey) -> Envelope {
    let mut env = artifact.envelope();
    env.sign(key);
    env
}

fn synthetic(entries: u64) -> CliResult<SyntheticLog> {
    let coordinator = SigningKey::from_bytes(&[200; 32]);
    let signers: Vec<SigningKey> = (1..=5u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let def = VaultDefinition {
        vault_id: "treasury".into(),
        version: 1,
        previous: None,
        chain: "none".into(),
        network: "test".into(),
        account: String::new(),
        coordinator: CoordinatorRef {
            origin: "bench.airlock/log".into(),
            key: PublicKey(coordinator.verifying_key().to_bytes()),
        },
        signers: signers
            .iter()
            .enumerate()
            .map(|(i, k)| SignerEntry {
                name: format!("signer-{i}"),
                role: "ops".into(),
                identity: PublicKey(k.verifying_key().to_bytes()),
                chain_key: String::new(),
                custody: "keystore".into(),
            })
            .collect(),
        threshold: 3,
        rules: vec![parse_rule("default: => 3 ops")?],
        created: 1_800_000_000,
        witnesses: Default::default(),
    };
    let mut vault = def.envelope();
    for k in &signers {
        vault.sign(k);
    }
    let mut log = SyntheticLog {
        leaves: Vec::with_capacity(entries as usize),
        artifacts: Vec::with_capacity(entries as usize),
        coordinator: def.coordinator.key,
    };
    let mut t = def.created;
    log.add("vault-version", &vault, t);
    // A fixed pseudo-random sequence (xorshift) for the delays.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut delay = |max: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        1 + seed % max
    };
    let mut n = 0u64;
    while (log.leaves.len() as u64) < entries {
        n += 1;
        t += delay(120);
        let proposal = Proposal {
            vault_id: "treasury".into(),
            vault_version: 1,
            vault_artifact: vault.id(),
            chain: "none".into(),
            intent: Intent {
                transfers: vec![Transfer {
                    destination: format!("payee-{}", n % 50),
                    amount: 1_000 + u128::from(n),
                    asset: String::new(),
                }],
                memo: format!("invoice {n}"),
            },
            payload: vec![0x5a; 300],
            spends: vec![format!("outpoint:{n:064}")],
            rule: "default".into(),
            created: t,
            expires: t + 86_400,
            proposer: def.coordinator.key,
            nonce: [(n % 251) as u8; 16],
        };
        let p = signed(&proposal, &coordinator);
        log.add("proposal", &p, t);
        let rejected = n.is_multiple_of(10);
        let mut approvals = Vec::new();
        let mut at = t;
        for (i, key) in signers.iter().enumerate().take(3) {
            at += delay(3_600);
            let reject = rejected && i == 2;
            let a = Approval {
                proposal: p.id(),
                vault_id: "treasury".into(),
                vault_version: 1,
                decision: if reject {
                    Decision::Reject
                } else {
                    Decision::Approve
                },
                reason: if reject {
                    "not this one".into()
                } else {
                    String::new()
                },
                chain_signature: if reject { Vec::new() } else { vec![0x30; 72] },
                signer: PublicKey(key.verifying_key().to_bytes()),
                signed_at: at,
                seen_checkpoint: airlock_core::SeenCheckpoint {
                    size: log.leaves.len() as u64,
                    root: [3; 32],
                },
                review_digest: [4; 32],
            };
            let env = signed(&a, key);
            log.add(if reject { "rejection" } else { "approval" }, &env, at);
            approvals.push(env.id());
        }
        if rejected {
            continue;
        }
        at += delay(600);
        let finalized = Finalized {
            proposal: p.id(),
            approvals,
            transaction: vec![0x02; 250],
            txid: format!("{n:064x}"),
            finalized_at: at,
        };
        log.add("finalized", &signed(&finalized, &coordinator), at);
        for kind in [EventKind::Broadcast, EventKind::Confirmed] {
            at += delay(900);
            let e = Event {
                kind,
                proposal: p.id(),
                detail: format!("{n:064x}"),
                at,
            };
            log.add(kind.as_str(), &signed(&e, &coordinator), at);
        }
    }
    log.leaves.truncate(entries as usize);
    log.artifacts.truncate(entries as usize);
    Ok(log)
}

/// Times `airlock metrics` over `entries` log entries (and the full replay over `replayed`).
pub fn metrics_figures(entries: u64, replayed: u64) -> CliResult<serde_json::Value> {
    let start = Instant::now();
    let log = synthetic(entries)?;
    let generated = start.elapsed().as_secs_f64();

    let artifact = |i: u64, _: &ArtifactId| log.artifacts.get(i as usize).map(Vec::as_slice);
    // Each part alone, then both as `metrics --quick` runs them: side by side.
    let start = Instant::now();
    let _root = airlock_log::root_of_leaves(log.leaves.iter().map(Vec::as_slice));
    let integrity = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut builder = MetricsBuilder::new(MetricsOptions::default());
    builder.push_all(&log.leaves, &artifact)?;
    let decoded = start.elapsed().as_secs_f64();
    let report = builder.finish();
    let compute = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let (quick, _root) = report_and_root(MetricsOptions::default(), &log.leaves, &artifact);
    let quick_total = start.elapsed().as_secs_f64();
    if quick? != report {
        return Err(airlock_cli_support::CliError::new(
            "the metrics differ between two runs over the same log",
        ));
    }

    let replayed = replayed.min(entries) as usize;
    let by_id: std::collections::HashMap<ArtifactId, &[u8]> = log.artifacts[..replayed]
        .iter()
        .map(|bytes| Envelope::from_bytes(bytes).map(|env| (env.id(), bytes.as_slice())))
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    airlock_coordinator::replay::replay_records(
        &log.leaves[..replayed],
        &log.coordinator,
        &mut |id| Ok(by_id.get(id).map(|bytes| bytes.to_vec())),
    )?;
    let replay = start.elapsed().as_secs_f64();
    Ok(json!({
        "entries": entries,
        "proposals": report.all.outcomes.proposals,
        "generate_s": round3(generated),
        "merkle_root_s": round3(integrity),
        "decode_s": round3(decoded),
        "report_s": round3(compute - decoded),
        "metrics_s": round3(compute),
        "quick_total_s": round3(quick_total),
        "replayed_entries": replayed,
        "replay_s": round3(replay),
        "replay_per_million_s": round3(replay * 1e6 / replayed.max(1) as f64),
    }))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
