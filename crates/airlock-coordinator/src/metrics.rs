//! `airlock metrics`: how the signing process performs, computed from the log alone.
//!
//! Every figure comes from the log's leaves (kind, vault, time) and the artifacts they name, so
//! anyone holding the log — a published mirror, a witness, an auditor — recomputes the same
//! figures: time from a proposal to each decision, to "ready" (the approval that met its rule), to
//! finalized, broadcast and confirmed, as p50 / p90 / max per vault, per rule and per signer;
//! approval, rejection and expiry rates; disputes and the time to resolve them; each signer's
//! responsiveness; and the crossings of the air gap. Times are the coordinator's record times
//! (the `at` of each leaf); "now" is the newest leaf's time unless the caller names one, so the
//! figures do not depend on when they are computed.
//!
//! This module must never verify the log (the caller does: `replay::verify`, or a published
//! log's verification), never read a clock or storage, and never hold more than one small
//! record per proposal, decision and crossing.

use std::collections::{BTreeMap, HashMap};

use airlock_core::artifacts::LEAF_KINDS;
use airlock_core::vault::ANY_ROLE;
use airlock_core::{
    Approval, ArtifactId, Decision, DeviceRole, Envelope, Event, Finalized, LogRecord, Proposal,
    PublicKey, Requirement, TransferManifest, VaultDefinition,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{CoordinatorError, Result};

/// Which part of the log to measure.
#[derive(Clone, Debug, Default)]
pub struct MetricsOptions {
    /// Only this vault.
    pub vault: Option<String>,
    /// Only proposals (and crossings) recorded at or after this time.
    pub since: Option<u64>,
    /// The time open proposals are judged at (expired or not); the newest leaf's when absent.
    pub as_of: Option<u64>,
}

/// p50 / p90 / max of a set of durations, in seconds (nearest rank).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    pub count: u64,
    pub p50: Option<u64>,
    pub p90: Option<u64>,
    pub max: Option<u64>,
    pub sum: u64,
}

impl Stats {
    /// Nearest-rank percentiles by selection (linear time) rather than a full sort.
    pub fn of(mut samples: Vec<u64>) -> Stats {
        let n = samples.len();
        let sum = samples.iter().sum();
        if n == 0 {
            return Stats {
                count: 0,
                p50: None,
                p90: None,
                max: None,
                sum,
            };
        }
        let rank = |q: f64| ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        let (k50, k90) = (rank(0.5), rank(0.9));
        let (below, p90, above) = samples.select_nth_unstable(k90);
        let p90 = *p90;
        let max = above.iter().copied().max().unwrap_or(p90);
        let p50 = if k50 == k90 {
            p90
        } else {
            *below.select_nth_unstable(k50).1
        };
        Stats {
            count: n as u64,
            p50: Some(p50),
            p90: Some(p90),
            max: Some(max),
            sum,
        }
    }
}

/// The stages of a proposal measured from its proposal record.
pub const STAGES: [&str; 5] = ["decision", "ready", "finalized", "broadcast", "confirmed"];

/// Latency from the proposal to each stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latencies {
    /// To each decision (approval or rejection) recorded.
    pub decision: Stats,
    /// To the approval that met the rule.
    pub ready: Stats,
    pub finalized: Stats,
    pub broadcast: Stats,
    pub confirmed: Stats,
}

impl Latencies {
    pub fn stage(&self, name: &str) -> Option<&Stats> {
        Some(match name {
            "decision" => &self.decision,
            "ready" => &self.ready,
            "finalized" => &self.finalized,
            "broadcast" => &self.broadcast,
            "confirmed" => &self.confirmed,
            _ => return None,
        })
    }
}

/// Where the proposals ended (or stand, as of the report's time).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Outcomes {
    pub proposals: u64,
    /// Still collecting decisions.
    pub collecting: u64,
    /// Approved by its rule, not finalized yet.
    pub ready: u64,
    /// Finalized, not (yet) broadcast.
    pub finalized: u64,
    pub broadcast: u64,
    pub confirmed: u64,
    /// Rejected: the rule can no longer be met.
    pub rejected: u64,
    /// Past its expiry without being finalized.
    pub expired: u64,
    /// Given up by the coordinator's record (before it expired).
    pub abandoned: u64,
    pub approvals: u64,
    pub rejections: u64,
    /// approvals / decisions.
    pub approval_rate: Option<f64>,
    /// rejections / decisions.
    pub rejection_rate: Option<f64>,
    /// expired / proposals that are closed (not collecting or ready).
    pub expiry_rate: Option<f64>,
}

impl Outcomes {
    /// Where the proposals stand, by name, in the order every output lists them.
    pub fn by_name(&self) -> [(&'static str, u64); 8] {
        [
            ("collecting", self.collecting),
            ("ready", self.ready),
            ("finalized", self.finalized),
            ("broadcast", self.broadcast),
            ("confirmed", self.confirmed),
            ("rejected", self.rejected),
            ("expired", self.expired),
            ("abandoned", self.abandoned),
        ]
    }
}

/// The figures of one group of proposals (a vault, a rule of a vault, or all).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GroupMetrics {
    pub outcomes: Outcomes,
    pub latency: Latencies,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VaultMetrics {
    pub vault: String,
    pub chain: String,
    #[serde(flatten)]
    pub figures: GroupMetrics,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleMetrics {
    pub vault: String,
    pub rule: String,
    #[serde(flatten)]
    pub figures: GroupMetrics,
}

/// One signer's responsiveness.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SignerMetrics {
    /// Its name in the newest vault version that lists it.
    pub name: String,
    pub key: String,
    /// Proposals it was a signer of.
    pub asked: u64,
    /// Of those, the ones it decided.
    pub decided: u64,
    pub approved: u64,
    pub rejected: u64,
    /// decided / asked.
    pub response_rate: Option<f64>,
    /// From the proposal to its decision.
    pub latency: Stats,
}

/// A proposal on which the team disagreed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dispute {
    pub vault: String,
    pub proposal: String,
    /// "split" (approvals and rejections on one proposal) or "re-proposed" (rejected, then the
    /// same payments proposed again).
    pub kind: String,
    /// The first decision that disagreed (split), or the first rejection (re-proposed).
    pub started: u64,
    /// When the question was settled: the proposal (for re-proposed: the last proposal of the
    /// same payments) finalized, abandoned, rejected for good or expired.
    pub resolved: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Disputes {
    pub total: u64,
    pub split: u64,
    pub re_proposed: u64,
    pub unresolved: u64,
    pub time_to_resolve: Stats,
    pub items: Vec<Dispute>,
}

/// One device's crossings of the air gap.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceCrossings {
    pub name: String,
    pub role: String,
    pub crossings: u64,
    pub artifacts: u64,
}

/// The crossings of the air gap recorded in the log (transfer manifests).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Crossings {
    pub total: u64,
    /// Written by the coordinator for signers.
    pub to_signers: u64,
    /// Written by signers, accepted by the coordinator.
    pub to_coordinator: u64,
    pub artifacts: u64,
    /// Decisions in the log that came in by a transfer.
    pub decisions_carried: u64,
    /// Crossings per finalized proposal (all crossings over finalized proposals).
    pub per_finalized: Option<f64>,
    pub devices: Vec<DeviceCrossings>,
}

/// One tabletop drill recorded in the log (`airlock drill`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrillSummary {
    pub vault: String,
    pub vault_version: u64,
    pub facilitator: String,
    /// When it was recorded.
    pub at: u64,
    pub minutes: u64,
    pub questions: u64,
    pub correct: u64,
}

/// The tabletop drills in the log: how often the team rehearses, how well and how fast it
/// answers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Drills {
    pub total: u64,
    pub questions: u64,
    pub correct: u64,
    pub correct_rate: Option<f64>,
    /// Seconds the team took per answer.
    pub answer: Stats,
    /// Newest first.
    pub items: Vec<DrillSummary>,
}

/// Everything `airlock metrics` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricsReport {
    /// Leaves read.
    pub log_size: u64,
    /// The time open proposals were judged at.
    pub as_of: u64,
    pub since: Option<u64>,
    pub vault: Option<String>,
    #[serde(flatten)]
    pub all: GroupMetrics,
    pub vaults: Vec<VaultMetrics>,
    pub rules: Vec<RuleMetrics>,
    pub signers: Vec<SignerMetrics>,
    pub disputes: Disputes,
    pub crossings: Crossings,
    pub drills: Drills,
}

/// A vault version, as the figures need it.
struct VersionInfo {
    vault: String,
    /// (identity, role) of its signers.
    signers: Vec<(PublicKey, String)>,
    /// (rule name, requirements).
    rules: Vec<(String, Vec<Requirement>)>,
}

/// What is kept of a proposal.
struct Tracked {
    /// Index into `MetricsBuilder::versions`.
    version: usize,
    /// Index into that version's rules.
    rule: usize,
    at: u64,
    expires: u64,
    /// SHA-256 of its payments (destination, amount, asset of each).
    payments: [u8; 32],
    /// (signer, approve, at), in log order, one per signer.
    decisions: Vec<(PublicKey, bool, u64)>,
    ready: Option<u64>,
    /// When the rule could no longer be met.
    rejected: Option<u64>,
    finalized: Option<u64>,
    broadcast: Option<u64>,
    confirmed: Option<u64>,
    abandoned: Option<u64>,
    included: bool,
}

impl Tracked {
    fn count(&self, info: &VersionInfo, role: &str, approve: Option<bool>) -> u32 {
        let of_role = |key: &PublicKey| {
            role == ANY_ROLE || info.signers.iter().any(|(k, r)| k == key && r == role)
        };
        match approve {
            Some(wanted) => self
                .decisions
                .iter()
                .filter(|(k, a, _)| *a == wanted && of_role(k))
                .count() as u32,
            // Undecided signers of the role.
            None => info
                .signers
                .iter()
                .filter(|(k, r)| {
                    (role == ANY_ROLE || r == role) && !self.decisions.iter().any(|(d, ..)| d == k)
                })
                .count() as u32,
        }
    }

    /// (the rule is met, it still can be).
    fn progress(&self, info: &VersionInfo) -> (bool, bool) {
        let mut met = true;
        let mut possible = true;
        for Requirement { role, count } in &info.rules[self.rule].1 {
            let have = self.count(info, role, Some(true));
            if have < *count {
                met = false;
                if have + self.count(info, role, None) < *count {
                    possible = false;
                }
            }
        }
        (met, possible)
    }

    /// The end of the proposal's life, if it has ended by `as_of`.
    fn ended(&self, as_of: u64) -> Option<u64> {
        self.finalized
            .or(self.abandoned)
            .or(self.rejected)
            .or((as_of >= self.expires).then_some(self.expires))
    }
}

struct Manifest {
    to_signers: bool,
    name: String,
    role: &'static str,
    entries: Vec<ArtifactId>,
}

/// A hasher for keys that already are uniform hashes (artifact ids): their first eight bytes.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }

    fn write_usize(&mut self, _: usize) {}
}

type IdMap<V> = HashMap<ArtifactId, V, std::hash::BuildHasherDefault<IdHasher>>;

/// What the figures need of one leaf's artifact, decoded (on any thread) before it is applied
/// (in log order).
enum Opened {
    Vault(VaultDefinition),
    Proposal {
        id: ArtifactId,
        vault: String,
        version: u64,
        rule: String,
        expires: u64,
        payments: [u8; 32],
    },
    Decision {
        id: ArtifactId,
        proposal: ArtifactId,
        signer: PublicKey,
        approve: bool,
    },
    Finalized(ArtifactId),
    Event(ArtifactId),
    Transfer(Manifest),
    Drill(DrillSummary, Vec<u64>),
    Other,
}

/// Opens the artifact of leaf `i`; `id` is the envelope's id, already checked against the leaf.
fn open_artifact(i: u64, kind: &str, id: ArtifactId, env: &Envelope) -> Result<Opened> {
    let fail = |e: airlock_core::CoreError| bad(i, kind, e);
    Ok(match kind {
        "vault-version" => Opened::Vault(env.open().map_err(fail)?),
        "proposal" => {
            let p: Proposal = env.open().map_err(fail)?;
            let mut payments = Sha256::new();
            for t in &p.intent.transfers {
                for part in [t.destination.as_bytes(), t.asset.as_bytes()] {
                    payments.update((part.len() as u64).to_be_bytes());
                    payments.update(part);
                }
                payments.update(t.amount.to_be_bytes());
            }
            Opened::Proposal {
                id,
                vault: p.vault_id,
                version: p.vault_version,
                rule: p.rule,
                expires: p.expires,
                payments: payments.finalize().into(),
            }
        }
        "approval" | "rejection" => {
            let a: Approval = env.open().map_err(fail)?;
            Opened::Decision {
                id,
                proposal: a.proposal,
                signer: a.signer,
                approve: a.decision == Decision::Approve,
            }
        }
        "finalized" => Opened::Finalized(env.open::<Finalized>().map_err(fail)?.proposal),
        "broadcast" | "confirmed" | "expired" | "abandoned" | "reorged" => {
            Opened::Event(env.open::<Event>().map_err(fail)?.proposal)
        }
        "transfer" => {
            let m: TransferManifest = env.open().map_err(fail)?;
            Opened::Transfer(Manifest {
                to_signers: m.origin_role == DeviceRole::Coordinator,
                name: m.origin_name,
                role: match m.origin_role {
                    DeviceRole::Coordinator => "coordinator",
                    _ => "signer",
                },
                entries: m.entries.iter().map(|e| e.artifact).collect(),
            })
        }
        "drill" => {
            let d: airlock_core::drill::DrillRecord = env.open().map_err(fail)?;
            Opened::Drill(
                DrillSummary {
                    minutes: (d.finished - d.started).div_ceil(60),
                    questions: d.answers.len() as u64,
                    correct: d.correct() as u64,
                    facilitator: d.facilitator,
                    vault: d.vault_id,
                    vault_version: d.vault_version,
                    at: 0,
                },
                d.answers.iter().map(|a| a.seconds).collect(),
            )
        }
        // Halts and state commitments are the witnesses' and the chain's, not the team's
        // process.
        _ => Opened::Other,
    })
}

/// A leaf ready to apply: its time, kind and what its artifact says. Nothing in it but a
/// proposal's or a crossing's names is on the heap, so decoding threads hand it over cheaply.
struct Decoded {
    at: u64,
    kind: &'static str,
    opened: Opened,
}

fn decoded(record: &LogRecord, opened: Opened) -> Decoded {
    Decoded {
        at: record.at,
        // The record decoder admits only these kinds.
        kind: LEAF_KINDS
            .iter()
            .copied()
            .find(|k| *k == record.kind)
            .unwrap_or("?"),
        opened,
    }
}

/// Decodes leaf `i`, fetches the artifact it names, checks it against the id in the record.
fn open_leaf<'m>(
    i: u64,
    leaf: &[u8],
    artifact: &dyn Fn(u64, &ArtifactId) -> Option<&'m [u8]>,
) -> Result<Decoded> {
    let record = LogRecord::from_bytes(leaf).map_err(|e| bad(i, "?", e))?;
    let bytes = artifact(i, &record.artifact).ok_or_else(|| {
        bad(
            i,
            &record.kind,
            format!("artifact {} is missing", record.artifact.short()),
        )
    })?;
    let env = Envelope::from_bytes(bytes).map_err(|e| bad(i, &record.kind, e))?;
    let id = env.id();
    if id != record.artifact {
        return Err(bad(
            i,
            &record.kind,
            "the artifact does not hash to the id in the log",
        ));
    }
    let opened = open_artifact(i, &record.kind, id, &env)?;
    Ok(decoded(&record, opened))
}

/// Computes the report of `leaves` (as [`MetricsBuilder::push_all`] reads them) and, on another
/// thread meanwhile, the leaves' Merkle root. The caller must check that root against a signed
/// checkpoint before it looks at the report (or its error: a leaf that does not decode in a log
/// whose root is wrong is a tampered log first).
pub fn report_and_root<'m>(
    options: MetricsOptions,
    leaves: &[Vec<u8>],
    artifact: &(dyn Fn(u64, &ArtifactId) -> Option<&'m [u8]> + Sync),
) -> (Result<MetricsReport>, airlock_log::LogHash) {
    std::thread::scope(|scope| {
        let root = scope.spawn(|| airlock_log::root_of_leaves(leaves.iter().map(Vec::as_slice)));
        let mut builder = MetricsBuilder::new(options);
        let report = builder
            .push_all(leaves, artifact)
            .map(|()| builder.finish());
        let root = root.join().expect("the Merkle root thread panicked");
        (report, root)
    })
}

/// Reads a log leaf by leaf and computes its [`MetricsReport`].
pub struct MetricsBuilder {
    options: MetricsOptions,
    size: u64,
    newest: u64,
    /// Every vault version, and where it is in `versions`.
    version_index: HashMap<(String, u64), usize>,
    versions: Vec<VersionInfo>,
    chains: BTreeMap<String, String>,
    /// Newest name of every signer key.
    names: HashMap<PublicKey, String>,
    proposals: IdMap<Tracked>,
    order: Vec<ArtifactId>,
    /// Each logged decision's proposal.
    decision_of: IdMap<ArtifactId>,
    manifests: Vec<Manifest>,
    drills: Vec<(DrillSummary, Vec<u64>)>,
}

fn bad(index: u64, kind: &str, problem: impl std::fmt::Display) -> CoordinatorError {
    CoordinatorError::LogInvalid(format!("log leaf {index} ({kind}): {problem}"))
}

/// Leaves decoded per round of [`MetricsBuilder::push_all`].
const ROUND: usize = 1 << 14;

impl MetricsBuilder {
    pub fn new(options: MetricsOptions) -> MetricsBuilder {
        MetricsBuilder {
            options,
            size: 0,
            newest: 0,
            version_index: HashMap::new(),
            versions: Vec::new(),
            chains: BTreeMap::new(),
            names: HashMap::new(),
            proposals: IdMap::default(),
            order: Vec::new(),
            decision_of: IdMap::default(),
            drills: Vec::new(),
            manifests: Vec::new(),
        }
    }

    fn wanted(&self, vault: &str, at: u64) -> bool {
        self.options.vault.as_deref().is_none_or(|v| v == vault)
            && self.options.since.is_none_or(|s| at >= s)
    }

    /// Takes many leaves, with `artifact` returning the bytes of the artifact a record names,
    /// given the leaf's log index and that id (a store that files each artifact under the leaf
    /// that logged it reads them in log order; each is checked to hash to the id): rounds of leaves are decoded on every core
    /// while the round before is applied, in log order (the first bad leaf in log order is the
    /// error).
    pub fn push_all<'m>(
        &mut self,
        leaves: &[Vec<u8>],
        artifact: &(dyn Fn(u64, &ArtifactId) -> Option<&'m [u8]> + Sync),
    ) -> Result<()> {
        type Round = Vec<Result<Decoded>>;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8);
        let first = self.size;
        let rounds: Vec<&[Vec<u8>]> = leaves.chunks(ROUND).collect();
        std::thread::scope(|s| -> Result<()> {
            let spawn = |k: usize| -> Vec<std::thread::ScopedJoinHandle<'_, Round>> {
                let round = rounds[k];
                let part = round.len().div_ceil(threads).max(1);
                round
                    .chunks(part)
                    .enumerate()
                    .map(|(j, chunk)| {
                        let base = first + (k * ROUND + j * part) as u64;
                        s.spawn(move || {
                            let mut out = Vec::with_capacity(chunk.len());
                            for (n, leaf) in chunk.iter().enumerate() {
                                let item = open_leaf(base + n as u64, leaf, artifact);
                                let failed = item.is_err();
                                out.push(item);
                                if failed {
                                    break;
                                }
                            }
                            out
                        })
                    })
                    .collect()
            };
            let mut next = (!rounds.is_empty()).then(|| spawn(0));
            for k in 0..rounds.len() {
                let current = next.take().unwrap_or_default();
                if k + 1 < rounds.len() {
                    next = Some(spawn(k + 1));
                }
                for handle in current {
                    let round = handle.join().expect("a metrics decoding thread panicked");
                    for leaf in round {
                        self.apply(leaf?)?;
                    }
                }
            }
            Ok(())
        })
    }

    fn apply(&mut self, leaf: Decoded) -> Result<()> {
        let Decoded { at, kind, opened } = leaf;
        let i = self.size;
        self.size += 1;
        self.newest = self.newest.max(at);
        let missing = || bad(i, kind, "its proposal is not in the log before it");
        match opened {
            Opened::Vault(def) => {
                for s in &def.signers {
                    self.names.insert(s.identity, s.name.clone());
                }
                self.chains.insert(def.vault_id.clone(), def.chain.clone());
                self.version_index
                    .insert((def.vault_id.clone(), def.version), self.versions.len());
                self.versions.push(VersionInfo {
                    signers: def
                        .signers
                        .iter()
                        .map(|s| (s.identity, s.role.clone()))
                        .collect(),
                    rules: def
                        .rules
                        .iter()
                        .map(|r| (r.name.clone(), r.requirements.clone()))
                        .collect(),
                    vault: def.vault_id,
                });
            }
            Opened::Proposal {
                id,
                vault,
                version,
                rule,
                expires,
                payments,
            } => {
                let index = *self
                    .version_index
                    .get(&(vault, version))
                    .ok_or_else(|| bad(i, kind, "its vault version is not in the log before it"))?;
                let info = &self.versions[index];
                let rule = info
                    .rules
                    .iter()
                    .position(|(name, _)| *name == rule)
                    .ok_or_else(|| bad(i, kind, format!("the vault has no rule {rule:?}")))?;
                let included = self.wanted(&info.vault, at);
                self.proposals.insert(
                    id,
                    Tracked {
                        version: index,
                        rule,
                        at,
                        expires,
                        payments,
                        decisions: Vec::new(),
                        ready: None,
                        rejected: None,
                        finalized: None,
                        broadcast: None,
                        confirmed: None,
                        abandoned: None,
                        included,
                    },
                );
                self.order.push(id);
            }
            Opened::Decision {
                id,
                proposal,
                signer,
                approve,
            } => {
                let t = self.proposals.get_mut(&proposal).ok_or_else(missing)?;
                if !t.decisions.iter().any(|(k, ..)| *k == signer) {
                    t.decisions.push((signer, approve, at));
                    let (met, possible) = t.progress(&self.versions[t.version]);
                    if met && t.ready.is_none() {
                        t.ready = Some(at);
                    }
                    if !possible && t.rejected.is_none() && t.ready.is_none() {
                        t.rejected = Some(at);
                    }
                }
                self.decision_of.insert(id, proposal);
            }
            Opened::Finalized(proposal) => {
                let t = self.proposals.get_mut(&proposal).ok_or_else(missing)?;
                t.finalized.get_or_insert(at);
            }
            Opened::Event(proposal) => {
                let t = self.proposals.get_mut(&proposal).ok_or_else(missing)?;
                let slot = match kind {
                    "broadcast" => &mut t.broadcast,
                    // A reorganization took the confirmed transaction out of the chain: the time
                    // to confirmed is the time to the confirmation that stands.
                    "reorged" => {
                        t.confirmed = None;
                        return Ok(());
                    }
                    "confirmed" => &mut t.confirmed,
                    "abandoned" => &mut t.abandoned,
                    // An expiry is judged from the proposal's own expiry time.
                    _ => return Ok(()),
                };
                slot.get_or_insert(at);
            }
            Opened::Transfer(m) => {
                if self.options.since.is_none_or(|s| at >= s) {
                    self.manifests.push(m);
                }
            }
            Opened::Drill(mut summary, seconds) => {
                if self.wanted(&summary.vault, at) {
                    summary.at = at;
                    self.drills.push((summary, seconds));
                }
            }
            Opened::Other => {}
        }
        Ok(())
    }

    fn vault_of(&self, t: &Tracked) -> &str {
        &self.versions[t.version].vault
    }

    fn rule_of(&self, t: &Tracked) -> &str {
        &self.versions[t.version].rules[t.rule].0
    }

    /// The figures of everything pushed so far.
    pub fn finish(&self) -> MetricsReport {
        let as_of = self.options.as_of.unwrap_or(self.newest);
        let included: Vec<(&ArtifactId, &Tracked)> = self
            .order
            .iter()
            .filter_map(|id| self.proposals.get(id).map(|t| (id, t)))
            .filter(|(_, t)| t.included)
            .collect();

        let mut vaults: BTreeMap<&str, Vec<&Tracked>> = BTreeMap::new();
        let mut rules: BTreeMap<(&str, &str), Vec<&Tracked>> = BTreeMap::new();
        for (_, t) in &included {
            vaults.entry(self.vault_of(t)).or_default().push(t);
            rules
                .entry((self.vault_of(t), self.rule_of(t)))
                .or_default()
                .push(t);
        }
        let all: Vec<&Tracked> = included.iter().map(|(_, t)| *t).collect();

        // The groups, the signers and the disputes are independent: each on its own thread.
        std::thread::scope(|scope| {
            let figures_of_all = scope.spawn(|| group(&all, as_of));
            let per_vault = scope.spawn(|| {
                vaults
                    .iter()
                    .map(|(vault, ts)| VaultMetrics {
                        vault: vault.to_string(),
                        chain: self.chains.get(*vault).cloned().unwrap_or_default(),
                        figures: group(ts, as_of),
                    })
                    .collect()
            });
            let per_rule = scope.spawn(|| {
                rules
                    .iter()
                    .map(|((vault, rule), ts)| RuleMetrics {
                        vault: vault.to_string(),
                        rule: rule.to_string(),
                        figures: group(ts, as_of),
                    })
                    .collect()
            });
            let disputes = scope.spawn(|| self.disputes(&included, as_of));
            let signers = self.signers(&all);
            let crossings = self.crossings(&all);
            let joined = "a metrics thread panicked";
            MetricsReport {
                log_size: self.size,
                as_of,
                since: self.options.since,
                vault: self.options.vault.clone(),
                all: figures_of_all.join().expect(joined),
                vaults: per_vault.join().expect(joined),
                rules: per_rule.join().expect(joined),
                signers,
                disputes: disputes.join().expect(joined),
                crossings,
                drills: self.drills(),
            }
        })
    }

    fn signers(&self, all: &[&Tracked]) -> Vec<SignerMetrics> {
        let mut signers: BTreeMap<PublicKey, (u64, Vec<(bool, u64)>)> = BTreeMap::new();
        for t in all {
            for (key, _) in &self.versions[t.version].signers {
                let entry = signers.entry(*key).or_default();
                entry.0 += 1;
                if let Some((_, approve, at)) = t.decisions.iter().find(|(k, ..)| k == key) {
                    entry.1.push((*approve, at.saturating_sub(t.at)));
                }
            }
        }
        signers
            .into_iter()
            .map(|(key, (asked, decided))| SignerMetrics {
                name: self.names.get(&key).cloned().unwrap_or_default(),
                key: hex::encode(key.0),
                asked,
                decided: decided.len() as u64,
                approved: decided.iter().filter(|(a, _)| *a).count() as u64,
                rejected: decided.iter().filter(|(a, _)| !*a).count() as u64,
                response_rate: ratio(decided.len() as u64, asked),
                latency: Stats::of(decided.iter().map(|(_, d)| *d).collect()),
            })
            .collect()
    }

    fn drills(&self) -> Drills {
        let questions: u64 = self.drills.iter().map(|(d, _)| d.questions).sum();
        let correct: u64 = self.drills.iter().map(|(d, _)| d.correct).sum();
        Drills {
            total: self.drills.len() as u64,
            questions,
            correct,
            correct_rate: ratio(correct, questions),
            answer: Stats::of(
                self.drills
                    .iter()
                    .flat_map(|(_, s)| s.iter().copied())
                    .collect(),
            ),
            items: self.drills.iter().rev().map(|(d, _)| d.clone()).collect(),
        }
    }

    fn disputes(&self, included: &[(&ArtifactId, &Tracked)], as_of: u64) -> Disputes {
        let mut items = Vec::new();
        // Split decisions: the first decision that disagrees with one before it.
        for (id, t) in included {
            let first = t.decisions.first().map(|d| d.1);
            if let Some(started) = t
                .decisions
                .iter()
                .find(|(_, approve, _)| Some(*approve) != first)
                .map(|d| d.2)
            {
                items.push(Dispute {
                    vault: self.vault_of(t).to_string(),
                    proposal: id.to_hex(),
                    kind: "split".into(),
                    started,
                    resolved: t.ended(as_of),
                });
            }
        }
        // Rejected, then the same payments proposed again: one dispute per series, from the
        // first rejection to the end of the series' last proposal.
        type Series<'a> = Vec<(&'a ArtifactId, &'a Tracked)>;
        let mut series: HashMap<(usize, [u8; 32]), Series> = HashMap::new();
        let mut firsts = Vec::new();
        for (id, t) in included {
            let key = (t.version, t.payments);
            let list = series.entry(key).or_default();
            if list.is_empty() {
                firsts.push(key);
            }
            list.push((id, t));
        }
        for key in firsts {
            let proposals = &series[&key];
            let Some(pos) = proposals
                .iter()
                .position(|(_, t)| t.decisions.iter().any(|(_, approve, _)| !approve))
            else {
                continue;
            };
            if pos + 1 >= proposals.len() {
                continue;
            }
            let (id, first) = proposals[pos];
            let (_, last) = proposals[proposals.len() - 1];
            items.push(Dispute {
                vault: self.vault_of(first).to_string(),
                proposal: id.to_hex(),
                kind: "re-proposed".into(),
                started: first
                    .decisions
                    .iter()
                    .find(|(_, approve, _)| !approve)
                    .map(|d| d.2)
                    .unwrap_or(first.at),
                resolved: last.ended(as_of),
            });
        }
        items.sort_by(|a, b| (a.started, &a.proposal).cmp(&(b.started, &b.proposal)));
        Disputes {
            total: items.len() as u64,
            split: items.iter().filter(|d| d.kind == "split").count() as u64,
            re_proposed: items.iter().filter(|d| d.kind == "re-proposed").count() as u64,
            unresolved: items.iter().filter(|d| d.resolved.is_none()).count() as u64,
            time_to_resolve: Stats::of(
                items
                    .iter()
                    .filter_map(|d| d.resolved.map(|r| r.saturating_sub(d.started)))
                    .collect(),
            ),
            items,
        }
    }

    fn crossings(&self, all: &[&Tracked]) -> Crossings {
        let vault = self.options.vault.as_deref();
        let mut devices: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
        let mut out = Crossings::default();
        for m in &self.manifests {
            // With --vault, a crossing counts when it carried something of that vault.
            let of_vault = |id: &ArtifactId| {
                self.decision_of
                    .get(id)
                    .or(Some(id))
                    .and_then(|p| self.proposals.get(p))
                    .is_some_and(|t| Some(self.vault_of(t)) == vault)
            };
            if vault.is_some() && !m.entries.iter().any(of_vault) {
                continue;
            }
            out.total += 1;
            if m.to_signers {
                out.to_signers += 1;
            } else {
                out.to_coordinator += 1;
            }
            out.artifacts += m.entries.len() as u64;
            out.decisions_carried += m
                .entries
                .iter()
                .filter(|id| self.decision_of.contains_key(id))
                .count() as u64;
            let d = devices.entry((&m.name, m.role)).or_default();
            d.0 += 1;
            d.1 += m.entries.len() as u64;
        }
        let finalized = all.iter().filter(|t| t.finalized.is_some()).count() as u64;
        out.per_finalized = (finalized > 0).then(|| out.total as f64 / finalized as f64);
        out.devices = devices
            .into_iter()
            .map(|((name, role), (crossings, artifacts))| DeviceCrossings {
                name: name.to_string(),
                role: role.to_string(),
                crossings,
                artifacts,
            })
            .collect();
        out
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn group(proposals: &[&Tracked], as_of: u64) -> GroupMetrics {
    let mut o = Outcomes {
        proposals: proposals.len() as u64,
        ..Outcomes::default()
    };
    let mut lat: [Vec<u64>; 5] = Default::default();
    for t in proposals {
        let since = |at: Option<u64>| at.map(|a| a.saturating_sub(t.at));
        for (_, approve, at) in &t.decisions {
            lat[0].push(at.saturating_sub(t.at));
            if *approve {
                o.approvals += 1;
            } else {
                o.rejections += 1;
            }
        }
        for (slot, at) in lat[1..].iter_mut().zip([
            since(t.ready),
            since(t.finalized),
            since(t.broadcast),
            since(t.confirmed),
        ]) {
            slot.extend(at);
        }
        let outcome = if t.confirmed.is_some() {
            &mut o.confirmed
        } else if t.broadcast.is_some() {
            &mut o.broadcast
        } else if t.finalized.is_some() {
            &mut o.finalized
        } else if t.abandoned.is_some_and(|a| a < t.expires) {
            &mut o.abandoned
        } else if t.rejected.is_some() {
            &mut o.rejected
        } else if as_of >= t.expires || t.abandoned.is_some() {
            &mut o.expired
        } else if t.ready.is_some() {
            &mut o.ready
        } else {
            &mut o.collecting
        };
        *outcome += 1;
    }
    let decisions = o.approvals + o.rejections;
    o.approval_rate = ratio(o.approvals, decisions);
    o.rejection_rate = ratio(o.rejections, decisions);
    o.expiry_rate = ratio(o.expired, o.proposals - o.collecting - o.ready);
    let [decision, ready, finalized, broadcast, confirmed] = lat.map(Stats::of);
    GroupMetrics {
        outcomes: o,
        latency: Latencies {
            decision,
            ready,
            finalized,
            broadcast,
            confirmed,
        },
    }
}

/// The report in Prometheus' text exposition format (gauges and summaries; times in seconds).
pub fn prometheus(report: &MetricsReport) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, lines: Vec<(String, String)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, value) in lines {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    let vaults: Vec<(&str, &GroupMetrics)> = report
        .vaults
        .iter()
        .map(|v| (v.vault.as_str(), &v.figures))
        .collect();
    let mut lines = Vec::new();
    for (vault, g) in &vaults {
        for (name, value) in g.outcomes.by_name() {
            lines.push((
                labels(&[("vault", vault), ("outcome", name)]),
                value.to_string(),
            ));
        }
    }
    family(
        "airlock_process_proposals",
        "gauge",
        "Proposals in the log by vault and where they stand.",
        lines,
    );
    let mut lines = Vec::new();
    for (vault, g) in &vaults {
        for (decision, value) in [
            ("approve", g.outcomes.approvals),
            ("reject", g.outcomes.rejections),
        ] {
            lines.push((
                labels(&[("vault", vault), ("decision", decision)]),
                value.to_string(),
            ));
        }
    }
    family(
        "airlock_process_decisions",
        "gauge",
        "Signer decisions in the log by vault.",
        lines,
    );
    let mut lines = Vec::new();
    for (vault, g) in &vaults {
        for stage in STAGES {
            if let Some(s) = g.latency.stage(stage) {
                summary_lines(&mut lines, &[("vault", vault), ("stage", stage)], s);
            }
        }
    }
    family(
        "airlock_process_stage_seconds",
        "summary",
        "Time from a proposal to each stage, by vault.",
        lines,
    );
    let mut lines = Vec::new();
    for r in &report.rules {
        summary_lines(
            &mut lines,
            &[("vault", &r.vault), ("rule", &r.rule)],
            &r.figures.latency.ready,
        );
    }
    family(
        "airlock_process_rule_ready_seconds",
        "summary",
        "Time from a proposal to meeting its rule, by vault and rule.",
        lines,
    );
    let mut lines = Vec::new();
    for s in &report.signers {
        summary_lines(
            &mut lines,
            &[("signer", &s.name), ("key", &s.key)],
            &s.latency,
        );
    }
    family(
        "airlock_process_signer_decision_seconds",
        "summary",
        "Time from a proposal to each signer's decision.",
        lines,
    );
    family(
        "airlock_process_signer_response_ratio",
        "gauge",
        "Proposals a signer decided over those it was asked.",
        report
            .signers
            .iter()
            .filter_map(|s| {
                s.response_rate.map(|r| {
                    (
                        labels(&[("signer", &s.name), ("key", &s.key)]),
                        format!("{r}"),
                    )
                })
            })
            .collect(),
    );
    let d = &report.disputes;
    family(
        "airlock_process_disputes",
        "gauge",
        "Disputed proposals by kind, and those not resolved yet.",
        vec![
            (labels(&[("kind", "split")]), d.split.to_string()),
            (
                labels(&[("kind", "re-proposed")]),
                d.re_proposed.to_string(),
            ),
            (labels(&[("kind", "unresolved")]), d.unresolved.to_string()),
        ],
    );
    let mut lines = Vec::new();
    summary_lines(&mut lines, &[], &d.time_to_resolve);
    family(
        "airlock_process_dispute_resolve_seconds",
        "summary",
        "Time from a dispute's start to its resolution.",
        lines,
    );
    let c = &report.crossings;
    family(
        "airlock_process_gap_crossings",
        "gauge",
        "Crossings of the air gap recorded in the log, by direction.",
        vec![
            (
                labels(&[("direction", "to-signers")]),
                c.to_signers.to_string(),
            ),
            (
                labels(&[("direction", "to-coordinator")]),
                c.to_coordinator.to_string(),
            ),
        ],
    );
    let d = &report.drills;
    family(
        "airlock_process_drills",
        "gauge",
        "Tabletop drills recorded in the log.",
        vec![(String::new(), d.total.to_string())],
    );
    family(
        "airlock_process_drill_answers",
        "gauge",
        "Drill answers, by whether they matched the vault's policy.",
        vec![
            (labels(&[("result", "correct")]), d.correct.to_string()),
            (
                labels(&[("result", "wrong")]),
                (d.questions - d.correct).to_string(),
            ),
        ],
    );
    let mut lines = Vec::new();
    summary_lines(&mut lines, &[], &d.answer);
    family(
        "airlock_process_drill_answer_seconds",
        "summary",
        "Time the team took to answer a drill question.",
        lines,
    );
    out
}

fn summary_lines(lines: &mut Vec<(String, String)>, base: &[(&str, &str)], s: &Stats) {
    for (q, v) in [("0.5", s.p50), ("0.9", s.p90), ("1", s.max)] {
        if let Some(v) = v {
            let mut l = base.to_vec();
            l.push(("quantile", q));
            lines.push((labels(&l), v.to_string()));
        }
    }
    let name_suffix = |suffix: &str, value: u64| (format!("{suffix}{}", labels(base)), value);
    for (labels, value) in [name_suffix("_sum", s.sum), name_suffix("_count", s.count)] {
        lines.push((labels, value.to_string()));
    }
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let escaped = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{escaped}\"")
        })
        .collect();
    format!("{{{}}}", body.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = Stats::of(vec![300, 100, 1200, 200, 600, 300]);
        assert_eq!(
            (s.count, s.p50, s.p90, s.max, s.sum),
            (6, Some(300), Some(1200), Some(1200), 2700)
        );
        let one = Stats::of(vec![7]);
        assert_eq!((one.p50, one.p90, one.max), (Some(7), Some(7), Some(7)));
        let none = Stats::of(Vec::new());
        assert_eq!((none.count, none.p50, none.max), (0, None, None));
    }

    #[test]
    fn selected_percentiles_equal_those_of_a_sorted_copy() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for n in 1..300usize {
            let samples: Vec<u64> = (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed % 50
                })
                .collect();
            let mut sorted = samples.clone();
            sorted.sort_unstable();
            let at = |q: f64| sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
            let s = Stats::of(samples);
            assert_eq!(
                (s.p50, s.p90, s.max, s.sum),
                (
                    Some(at(0.5)),
                    Some(at(0.9)),
                    sorted.last().copied(),
                    sorted.iter().sum()
                ),
                "{n} samples"
            );
        }
    }

    #[test]
    fn prometheus_labels_are_escaped() {
        assert_eq!(
            labels(&[("vault", "a\"b\\c\nd"), ("rule", "r")]),
            "{vault=\"a\\\"b\\\\c\\nd\",rule=\"r\"}"
        );
        assert_eq!(labels(&[]), "");
    }

    #[test]
    fn a_leaf_whose_artifact_is_missing_or_altered_is_refused() {
        let env = airlock_core::Event {
            kind: airlock_core::EventKind::Broadcast,
            proposal: ArtifactId([1; 32]),
            detail: String::new(),
            at: 5,
        };
        let env = airlock_core::Artifact::envelope(&env);
        let leaf = LogRecord {
            kind: "broadcast".into(),
            artifact: ArtifactId([9; 32]),
            vault_id: "v".into(),
            at: 5,
        }
        .to_bytes();
        let mut b = MetricsBuilder::new(MetricsOptions::default());
        let e = b
            .push_all(std::slice::from_ref(&leaf), &|_, _| None)
            .unwrap_err();
        assert!(
            e.to_string().contains("log leaf 0 (broadcast): artifact"),
            "{e}"
        );
        let bytes = env.to_bytes();
        let e = b.push_all(&[leaf], &|_, _| Some(&bytes)).unwrap_err();
        assert!(e.to_string().contains("does not hash to the id"), "{e}");
        let e = b
            .push_all(&[b"not cbor".to_vec()], &|_, _| None)
            .unwrap_err();
        assert!(e.to_string().contains("log leaf 0"), "{e}");
    }
}
