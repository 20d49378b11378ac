//! The simulation itself (feature `run`, on by default): the real coordinator and signers on a
//! virtual clock. Without the feature the crate is only the scenario format (what the fuzz
//! target builds).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use airlock_coordinator::metrics::{MetricsOptions, MetricsReport};
use airlock_coordinator::{Coordinator, CoordinatorHome, VaultDraft};
use airlock_core::lifecycle::Status;
use airlock_core::{
    ArtifactId, Decision, Envelope, Intent, PublicKey, SignerEntry, Transfer, VaultDefinition,
};
use airlock_custody::{IdentityKey, KdfParams, Passphrase};
use airlock_signer_app::SignerHome;
use airlock_witness_app::WitnessHome;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::Serialize;

use crate::SimError;
use crate::scenario::{ChainModel, Inject, Recovery, Scenario};

/// The simulated clock starts here (2027-01-15 08:00 UTC), so runs are reproducible.
pub const START: u64 = 1_800_000_000;
/// The simulated vault.
const VAULT: &str = "team";
/// Where the attacker of a compromised-signer scenario wants the money.
pub const ATTACKER: &str = "attacker-wallet";

fn setup(e: impl std::fmt::Display) -> SimError {
    SimError::Setup(e.to_string())
}

/// A control that fired, or a failure injected, at a simulated time.
#[derive(Clone, Debug, Serialize)]
pub struct Happening {
    /// Hours from the start.
    pub at_hours: f64,
    pub what: String,
}

/// An invariant checked at the end.
#[derive(Clone, Debug, Serialize)]
pub struct Invariant {
    pub name: String,
    pub holds: bool,
    pub detail: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub proposed: u64,
    /// Proposals the coordinator refused (no rule applies…), with the first reasons.
    pub proposals_refused: u64,
    /// Proposals made later than asked because the coordinator was down.
    pub proposals_deferred: u64,
    pub decisions_made: u64,
    pub decisions_recorded: u64,
    /// Decisions the coordinator refused when they arrived (the proposal had expired…).
    pub decisions_refused: u64,
    /// Decisions made later than they would have been because the signer was away.
    pub decisions_deferred: u64,
    /// Decisions a lost device could not make.
    pub decisions_missed: u64,
    /// Approvals a signer's review would not allow (expired, superseded…).
    pub approvals_refused_by_review: u64,
    pub finalized: u64,
    /// Open proposals abandoned when the vault was rotated.
    pub abandoned_by_rotation: u64,
    /// Reviews that refused a bundle because the coordinator showed a different history.
    pub split_view_alarms: u64,
    /// Bundles from a forked log that a signer's review accepted (and its person then judged).
    pub forged_bundles_reviewed: u64,
    /// Reviews that refused a bundle for lack of the vault's witness quorum.
    pub missing_cosignatures: u64,
    /// Checkpoints a witness refused to cosign (a split view, or behind what it cosigned).
    pub witness_refusals: u64,
    /// Halts the witnesses signed (each recorded by the coordinator).
    pub witness_halts: u64,
    /// Bundle exports the coordinator stopped because a witness holds another history.
    pub exports_stopped: u64,
    /// With a simulated chain: transactions broadcast, confirmations recorded (at the team's
    /// depth), reorganizations the coordinator recorded, and transactions it sent again.
    pub broadcast: u64,
    pub confirmations_recorded: u64,
    pub reorgs_recorded: u64,
    pub rebroadcasts: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Funds {
    /// Paid to the team's payees (finalized).
    pub paid: u128,
    /// Finalized to the attacker.
    pub to_attacker: u128,
    /// Attacker payments proposed, and the rejections the honest signers' reviews gave them.
    pub attacks: u64,
    pub attack_rejections: u64,
    /// Attacker payments whose rule the stolen key alone would meet (what the policy still
    /// lets through), and their total.
    pub attacks_the_key_alone_could_pass: u64,
    pub at_risk_from_the_key_alone: u128,
    /// Payments the log called confirmed when a reorganization took them out of the chain,
    /// and their total (what a team acting on "confirmed" had at risk).
    pub confirmed_then_reorged: u64,
    pub amount_confirmed_then_reorged: u128,
}

/// What a run found.
#[derive(Clone, Debug, Serialize)]
pub struct SimReport {
    pub scenario: String,
    pub seed: u64,
    pub days: f64,
    pub signers: usize,
    pub counts: Counts,
    pub funds: Funds,
    /// Hours from a compromise to the first honest rejection of an attacker payment (or the
    /// first alarm), or from a reorganization to the coordinator's record of it.
    pub hours_to_detect: Option<f64>,
    /// Hours from the key loss or compromise to the rotated vault version, or from a
    /// reorganization to the confirmation again of every payment it took.
    pub hours_to_recover: Option<f64>,
    pub vault_versions: u64,
    pub timeline: Vec<Happening>,
    pub invariants: Vec<Invariant>,
    /// `airlock metrics` over the simulated log, judged at the end.
    pub metrics: MetricsReport,
    pub wall_seconds: f64,
    pub simulated_days_per_second: f64,
    /// The first reasons of refusals, as the real code gave them.
    pub refusals: Vec<String>,
}

impl SimReport {
    pub fn invariants_hold(&self) -> bool {
        self.invariants.iter().all(|i| i.holds)
    }
}

/// A witness of the simulated vault: the real witness code in its own home.
struct SimWitness {
    /// Short name (w1, w2, …).
    name: String,
    home: WitnessHome,
    /// An equivocating witness's second state, copied at the compromise: the same key, used
    /// for the attacker's fork.
    fork_home: Option<WitnessHome>,
}

struct Member {
    name: String,
    role: String,
    home: SignerHome,
    key: IdentityKey,
    lost: bool,
    compromised: bool,
    /// SLIP-39 shares of its identity (2 of 3), when the team made a backup of it.
    backup: Option<Vec<zeroize::Zeroizing<String>>>,
}

impl Member {
    fn identity(&self) -> PublicKey {
        PublicKey(self.key.verifying_key().to_bytes())
    }
}

enum Event {
    Propose {
        attacker: bool,
    },
    Decide {
        proposal: ArtifactId,
        member: usize,
    },
    Deliver,
    Lose {
        member: usize,
    },
    Compromise {
        member: usize,
    },
    Rotate {
        member: usize,
        reason: &'static str,
    },
    /// The lost member's identity is restored from its SLIP-39 shares on a new device.
    Restore {
        member: usize,
    },
    Fork,
    ForgedPropose,
    ReviewForged {
        bundle: usize,
        member: usize,
    },
    /// The simulated chain mines a block.
    Block,
    /// The coordinator checks its in-flight transactions (`airlock confirm`).
    Poll,
    Reorg {
        depth: u64,
        dropped: bool,
    },
}

/// The simulated chain: blocks of the proposals' transactions (named by proposal) and a
/// mempool. A model of the network, not of Airlock: the coordinator's real broadcast and
/// confirmation code reads it through [`airlock_coordinator::Network`].
#[derive(Default)]
struct Ledger {
    blocks: Vec<Vec<ArtifactId>>,
    mempool: Vec<ArtifactId>,
}

impl Ledger {
    fn confirmations(&self, id: &ArtifactId) -> Option<u64> {
        let height = self.blocks.len();
        self.blocks
            .iter()
            .rposition(|b| b.contains(id))
            .map(|at| (height - at) as u64)
    }

    fn mine(&mut self) {
        let txs = std::mem::take(&mut self.mempool);
        self.blocks.push(txs);
    }

    /// Replaces the last `depth` blocks by `depth + 1` empty ones; returns the transactions
    /// they held (back in the mempool unless `dropped`).
    fn reorg(&mut self, depth: u64, dropped: bool) -> Vec<ArtifactId> {
        let keep = self.blocks.len().saturating_sub(depth as usize);
        let out: Vec<ArtifactId> = self.blocks.drain(keep..).flatten().collect();
        for _ in 0..=depth {
            self.blocks.push(Vec::new());
        }
        if !dropped {
            self.mempool.extend(out.iter().copied());
        }
        out
    }
}

struct SimNetwork(Arc<Mutex<Ledger>>);

impl airlock_coordinator::Network for SimNetwork {
    fn broadcast(
        &self,
        proposal: &ArtifactId,
        _tx: &airlock_core::chain::FinalTransaction,
    ) -> Result<(), airlock_core::chain::ChainError> {
        let mut ledger = self.0.lock().expect("one thread");
        if ledger.confirmations(proposal).is_none() && !ledger.mempool.contains(proposal) {
            ledger.mempool.push(*proposal);
        }
        Ok(())
    }

    fn confirmations(
        &self,
        proposal: &ArtifactId,
        _txid: &str,
    ) -> Result<Option<u64>, airlock_core::chain::ChainError> {
        Ok(self.0.lock().expect("one thread").confirmations(proposal))
    }
}

struct Proposed {
    attacker: bool,
    amount: u128,
    /// The bundle as exported when it was made (what a signer holds while the coordinator is
    /// down); none when the export was stopped.
    bundle: Option<airlock_core::ProposalBundle>,
}

struct Sim<'a> {
    scenario: &'a Scenario,
    work: &'a Path,
    rng: ChaCha8Rng,
    end: u64,
    c: Coordinator,
    /// The attacker's copy of the coordinator, from its fork on.
    fork: Option<Coordinator>,
    forged: Vec<airlock_core::ProposalBundle>,
    members: Vec<Member>,
    witnesses: Vec<SimWitness>,
    /// Halts already taken from the witnesses to the coordinator (witness, halt id).
    halts_delivered: Vec<(usize, String)>,
    /// When a witness first told the real coordinator it holds another history (exports stop).
    export_stopped: Option<u64>,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: Vec<Option<Event>>,
    /// (member, or None for the coordinator; from; until).
    outages: Vec<(Option<usize>, u64, u64)>,
    proposals: HashMap<ArtifactId, Proposed>,
    /// Decisions made while the coordinator was down, delivered when it is back.
    held: Vec<Envelope>,
    /// Every decision made, and whether its fate is known (recorded or refused).
    made: Vec<(ArtifactId, bool)>,
    counts: Counts,
    funds: Funds,
    timeline: Vec<Happening>,
    refusals: Vec<String>,
    compromised_at: Option<u64>,
    incident_at: Option<u64>,
    detected_at: Option<u64>,
    recovered_at: Option<u64>,
    /// The simulated chain, when the scenario has one.
    ledger: Option<Arc<Mutex<Ledger>>>,
    /// Transactions the coordinator watches: (proposal, when last sent).
    in_flight: Vec<(ArtifactId, u64)>,
    /// When the first reorganization took a transaction recorded as confirmed.
    reorged_at: Option<u64>,
    /// Reorganized payments not yet confirmed again.
    reorged_pending: Vec<ArtifactId>,
}

/// The amount an attacker of the scenario asks for.
fn attack_amount(injects: &[Inject]) -> u64 {
    injects
        .iter()
        .find_map(|i| match i {
            Inject::CompromisedSigner { amount, .. }
            | Inject::CompromisedCoordinator { amount, .. }
            | Inject::EquivocatingWitness { amount, .. } => Some(*amount),
            _ => None,
        })
        .unwrap_or(1)
}

fn hours(t: u64) -> f64 {
    ((t.saturating_sub(START)) as f64 / 3600.0 * 100.0).round() / 100.0
}

impl Sim<'_> {
    fn at(&mut self, t: u64, event: Event) {
        let seq = self.events.len() as u64;
        self.events.push(Some(event));
        self.queue.push(Reverse((t, seq)));
    }

    fn note(&mut self, t: u64, what: String) {
        self.timeline.push(Happening {
            at_hours: hours(t),
            what,
        });
    }

    fn refused(&mut self, what: String) {
        if self.refusals.len() < 20 && !self.refusals.contains(&what) {
            self.refusals.push(what);
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    /// The end of an outage of `who` (None: the coordinator) at `t`, if one is on.
    fn away_until(&self, who: Option<usize>, t: u64) -> Option<u64> {
        self.outages
            .iter()
            .filter(|(w, from, until)| *w == who && *from <= t && t < *until)
            .map(|(_, _, until)| *until)
            .max()
    }

    fn make_member(&mut self, name: &str, role: &str, t: u64) -> Result<usize, SimError> {
        let pass = Passphrase::new(format!("simulated passphrase of {name}")).map_err(setup)?;
        let home = SignerHome::init(
            &self.work.join("signers").join(name),
            name,
            &pass,
            KdfParams::INSECURE_FAST,
            t,
        )
        .map_err(setup)?;
        let key = home.unlock(&pass).map_err(setup)?;
        self.members.push(Member {
            name: name.to_owned(),
            role: role.to_owned(),
            home,
            key,
            lost: false,
            compromised: false,
            backup: None,
        });
        Ok(self.members.len() - 1)
    }

    fn current_vault(&self) -> Result<VaultDefinition, SimError> {
        Ok(self.c.vault_latest(VAULT).map_err(setup)?.0)
    }

    fn member_of(&self, identity: &PublicKey) -> Option<usize> {
        self.members.iter().position(|m| m.identity() == *identity)
    }

    /// Drafts a version listing `listed`, signed by `signing` (current signers) and every
    /// listed member, activates it, and has every member register every version it lacks.
    fn new_version(
        &mut self,
        listed: &[usize],
        signing: &[usize],
        t: u64,
    ) -> Result<VaultDefinition, SimError> {
        let rules = self
            .scenario
            .team
            .rules
            .iter()
            .map(|r| airlock_core::vault::parse_rule(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(setup)?;
        let draft = VaultDraft {
            vault_id: VAULT.into(),
            chain: "none".into(),
            network: "main".into(),
            account: String::new(),
            signers: listed
                .iter()
                .map(|&m| SignerEntry {
                    name: self.members[m].name.clone(),
                    role: self.members[m].role.clone(),
                    identity: self.members[m].identity(),
                    chain_key: String::new(),
                    custody: "keystore".into(),
                })
                .collect(),
            threshold: self.scenario.team.threshold,
            rules,
            witnesses: self.witness_policy()?,
        };
        let env = self.c.draft_vault(draft, t).map_err(setup)?;
        let mut copies = Vec::new();
        let mut signers: Vec<usize> = signing.to_vec();
        signers.extend(listed.iter().filter(|m| !signing.contains(m)));
        for m in signers {
            let member = &self.members[m];
            member.home.review_vault_draft(&env).map_err(setup)?;
            let mut signed = env.clone();
            signed.sign(member.key.signing_key());
            copies.push(signed);
        }
        let (def, _) = self.c.submit_vault(&copies, t).map_err(setup)?;
        // Every member still holding its device registers each version that lists it (a new
        // member starts at the first version that names it).
        let history = self.c.vault_history(VAULT).map_err(setup)?;
        for member in self.members.iter().filter(|m| !m.lost) {
            let me = member.identity();
            let known = member.home.vault_versions(VAULT).map_err(setup)?;
            for (version_def, version) in &history {
                if version_def.signer(&me).is_none()
                    || known.iter().any(|(_, e)| e.id() == version.id())
                {
                    continue;
                }
                member.home.register_vault(version).map_err(setup)?;
            }
        }
        Ok(def)
    }

    fn witness_policy(&self) -> Result<airlock_core::vault::WitnessPolicy, SimError> {
        let mut witnesses = Vec::new();
        for w in &self.witnesses {
            let v =
                airlock_log::witness::WitnessVerifier::from_vkey(&w.home.vkey()).map_err(setup)?;
            witnesses.push(airlock_core::vault::WitnessKey {
                name: v.name().to_owned(),
                key: PublicKey(v.public_key()),
            });
        }
        Ok(airlock_core::vault::WitnessPolicy {
            threshold: if witnesses.is_empty() {
                0
            } else {
                self.scenario.team.witness_threshold()
            },
            witnesses,
        })
    }

    /// The witnesses' cosignatures on a checkpoint `note` of `size`, from the real log or (when
    /// `fork`) the attacker's: each witness is sent a C2SP add-checkpoint request from the size it
    /// last cosigned, as a coordinator sends it, and checks it with its own code. Refusals are
    /// counted; a witness's halts reach the coordinator (as `airlock serve` receives them).
    fn cosign(
        &mut self,
        t: u64,
        fork: bool,
        size: u64,
        note: &str,
    ) -> Result<Option<String>, SimError> {
        let mut out = note.to_owned();
        for i in 0..self.witnesses.len() {
            let origin = self.c.origin().to_owned();
            let w = &self.witnesses[i];
            let home = match (&w.fork_home, fork) {
                (Some(copy), true) => copy,
                _ => &w.home,
            };
            let coordinator = match (&self.fork, fork) {
                (Some(f), true) => f,
                _ => &self.c,
            };
            let old = home
                .log(&origin)
                .map_err(setup)?
                .map(|l| l.size)
                .unwrap_or(0);
            // (the answer, whether the refusal says the histories differ)
            let answer = match coordinator.witness_request(old, size, note) {
                Err(e) => Err((e.to_string(), false)),
                Ok(body) => {
                    let mut conn = home.connect().map_err(setup)?;
                    home.add_checkpoint(&mut conn, &body, t).map_err(|e| {
                        let split = matches!(
                            e,
                            airlock_witness_app::WitnessError::Refused(
                                airlock_witness_app::Refusal::Conflict { .. }
                                    | airlock_witness_app::Refusal::BadProof { .. }
                            )
                        );
                        (e.to_string(), split)
                    })
                }
            };
            let name = w.name.clone();
            let mut split_view = None;
            match answer {
                Ok(cosigned) => out.push_str(&cosigned.cosignatures),
                Err((e, split)) => {
                    self.counts.witness_refusals += 1;
                    self.refused(format!(
                        "witness {name} refused to cosign {} checkpoint: {e}",
                        if fork { "the fork's" } else { "the log's" }
                    ));
                    if split && !fork {
                        split_view = Some(format!("witness {name}: {e}"));
                    }
                }
            }
            self.deliver_halts(t, i)?;
            // As `airlock serve` does: a witness that holds another history for this log stops
            // the export (an alarm for the team to investigate), so no bundle leaves.
            if let Some(why) = split_view {
                if self.export_stopped.is_none() {
                    self.export_stopped = Some(t);
                    self.note(t, format!("the coordinator's exports stop: {why}"));
                }
                return Ok(None);
            }
        }
        Ok(Some(out))
    }

    /// Takes a witness's new halts to the coordinator, which records them.
    fn deliver_halts(&mut self, t: u64, i: usize) -> Result<(), SimError> {
        let records = self.witnesses[i].home.halts().map_err(setup)?;
        for record in records {
            if self.halts_delivered.contains(&(i, record.id.clone())) {
                continue;
            }
            self.halts_delivered.push((i, record.id.clone()));
            self.counts.witness_halts += 1;
            let env = self.witnesses[i]
                .home
                .halt_envelope(&record.id)
                .map_err(setup)?;
            let name = self.witnesses[i].name.clone();
            if self.detected_at.is_none() && self.compromised_at.is_some() {
                self.detected_at = Some(t);
            }
            if let Err(e) = self.c.record_halt(&env, t) {
                self.refused(format!(
                    "the coordinator refused witness {name}'s halt: {e}"
                ));
            }
            // The first halt of each witness goes on the timeline; the rest are counted.
            if self.halts_delivered.iter().filter(|(w, _)| *w == i).count() > 1 {
                continue;
            }
            self.note(
                t,
                format!(
                    "witness {name} halted {} ({}): {}",
                    if record.vault.is_empty() {
                        "every vault of the log".to_owned()
                    } else {
                        format!("vault {}", record.vault)
                    },
                    record.reason,
                    record.detail
                ),
            );
        }
        Ok(())
    }

    /// A proposal's bundle from the real coordinator, with its witnesses' cosignatures; none
    /// once a witness has reported a split view (the export stops, as `airlock serve`'s does).
    fn real_bundle(
        &mut self,
        t: u64,
        proposal: &ArtifactId,
        extra: &[u64],
    ) -> Result<Option<airlock_core::ProposalBundle>, SimError> {
        if self.export_stopped.is_some() {
            self.counts.exports_stopped += 1;
            return Ok(None);
        }
        let mut bundle = self.c.bundle(proposal, extra).map_err(setup)?;
        if !self.witnesses.is_empty() {
            let size = bundle.evidence.tree_size;
            match self.cosign(t, false, size, &bundle.evidence.checkpoint)? {
                Some(note) => bundle.evidence.checkpoint = note,
                None => {
                    self.counts.exports_stopped += 1;
                    return Ok(None);
                }
            }
        }
        Ok(Some(bundle))
    }

    fn propose(&mut self, t: u64, attacker: bool) -> Result<(), SimError> {
        if let Some(back) = self.away_until(None, t) {
            self.counts.proposals_deferred += 1;
            let when = back + 1 + self.below(60);
            self.at(when, Event::Propose { attacker });
            return Ok(());
        }
        let (destination, amount) = match (attacker, &self.scenario.injects[..]) {
            (true, injects) => {
                let amount = attack_amount(injects);
                (ATTACKER.to_owned(), u128::from(amount))
            }
            (false, _) => {
                let payees = &self.scenario.load.payees;
                let payee = payees[self.below(payees.len() as u64) as usize].clone();
                (
                    payee,
                    u128::from(1 + self.below(self.scenario.load.max_amount)),
                )
            }
        };
        let intent = Intent {
            transfers: vec![Transfer {
                destination,
                amount,
                asset: String::new(),
            }],
            memo: String::new(),
        };
        let id = match self.c.propose(VAULT, intent, None, t) {
            Ok(id) => id,
            Err(e) => {
                self.counts.proposals_refused += 1;
                self.refused(format!("proposal refused: {e}"));
                return Ok(());
            }
        };
        self.counts.proposed += 1;
        if attacker {
            self.funds.attacks += 1;
            // The rule the coordinator chose for it: can the stolen key alone meet it?
            let state = self.c.proposal_state(&id).map_err(setup)?;
            let roles: Vec<&str> = self
                .members
                .iter()
                .filter(|m| m.compromised)
                .map(|m| m.role.as_str())
                .collect();
            if state.rule.met_by(&roles) {
                self.funds.attacks_the_key_alone_could_pass += 1;
                self.funds.at_risk_from_the_key_alone += amount;
            }
        }
        let bundle = self.real_bundle(t, &id, &[])?;
        self.proposals.insert(
            id,
            Proposed {
                attacker,
                amount,
                bundle,
            },
        );
        let vault = self.current_vault()?;
        let [low, high] = self.scenario.load.decision_minutes;
        for entry in &vault.signers {
            let Some(m) = self.member_of(&entry.identity) else {
                continue;
            };
            // The attacker approves its own payments at once with the stolen key.
            let delay = if attacker && self.members[m].compromised {
                60
            } else {
                (low + self.below(high - low + 1)) * 60
            };
            self.at(
                t + delay,
                Event::Decide {
                    proposal: id,
                    member: m,
                },
            );
        }
        Ok(())
    }

    fn decide(&mut self, t: u64, proposal: ArtifactId, m: usize) -> Result<(), SimError> {
        let Some(attacker) = self.proposals.get(&proposal).map(|p| p.attacker) else {
            return Ok(());
        };
        let stolen = attacker && self.members[m].compromised;
        if self.members[m].lost && !stolen {
            self.counts.decisions_missed += 1;
            return Ok(());
        }
        if !stolen && let Some(back) = self.away_until(Some(m), t) {
            self.counts.decisions_deferred += 1;
            let when = back + 60 + self.below(600);
            self.at(
                when,
                Event::Decide {
                    proposal,
                    member: m,
                },
            );
            return Ok(());
        }
        let coordinator_up = self.away_until(None, t).is_none();
        let bundle = if coordinator_up {
            // A signer fetches the proposal's current bundle; a closed proposal is not decided.
            let status = self.c.proposal_state(&proposal).map_err(setup)?.status(t);
            if !matches!(status, Status::Collecting | Status::Ready) {
                return Ok(());
            }
            let mut bundle = self.c.bundle(&proposal, &[]).map_err(setup)?;
            let mut extra = Vec::new();
            // As a signer's refusal asks: export again with a proof from the checkpoint this
            // signer accepted, when the bundle has none (the coordinator did not know it).
            let accepted = self.members[m]
                .home
                .log_state()
                .accepted(&self.c.log_verifier())
                .ok()
                .flatten();
            if let Some(accepted) = accepted
                && accepted.size < bundle.evidence.tree_size
                && !bundle
                    .evidence
                    .consistency
                    .iter()
                    .any(|p| p.old_size == accepted.size)
            {
                extra.push(accepted.size);
            }
            if !extra.is_empty() || !self.witnesses.is_empty() {
                match self.real_bundle(t, &proposal, &extra)? {
                    Some(b) => bundle = b,
                    None => return Ok(()),
                }
            }
            bundle
        } else {
            match self.proposals[&proposal].bundle.clone() {
                Some(b) => b,
                None => return Ok(()),
            }
        };
        let member = &self.members[m];
        let review = match member.home.review(&bundle, t) {
            Ok(r) => r,
            Err(e) => {
                let name = member.name.clone();
                self.review_failed(t, &name, false, e);
                return Ok(());
            }
        };
        let payee = review
            .proposal
            .intent
            .transfers
            .iter()
            .any(|x| x.destination == ATTACKER);
        let (decision, reason) = if stolen {
            (Decision::Approve, String::new())
        } else if payee {
            (
                Decision::Reject,
                format!("{ATTACKER} is not one of our payees"),
            )
        } else if self.below(1000) < u64::from(self.scenario.load.reject_per_mille) {
            (Decision::Reject, "not expected this week".to_owned())
        } else {
            (Decision::Approve, String::new())
        };
        if decision == Decision::Approve && !review.can_approve() {
            self.counts.approvals_refused_by_review += 1;
            let problems = review.problems.join("; ");
            self.refused(format!(
                "{}'s review did not allow an approval: {problems}",
                self.members[m].name
            ));
            return Ok(());
        }
        let member = &self.members[m];
        let env = match member
            .home
            .decide(&review, decision, &reason, &member.key, None, t)
        {
            Ok(env) => env,
            Err(e) => {
                self.refused(format!("{}'s decision failed: {e}", member.name));
                return Ok(());
            }
        };
        self.counts.decisions_made += 1;
        self.made.push((env.id(), false));
        if payee && !stolen {
            self.funds.attack_rejections += 1;
            if self.detected_at.is_none() {
                self.detected_at = Some(t);
                let name = self.members[m].name.clone();
                self.note(
                    t,
                    format!("{name} rejected a payment to {ATTACKER}: the compromise is detected"),
                );
                if let Some((victim, respond)) =
                    self.scenario.injects.iter().find_map(|i| match i {
                        Inject::CompromisedSigner {
                            signer,
                            respond_hours,
                            ..
                        } => Some((signer.clone(), *respond_hours)),
                        _ => None,
                    })
                    && let Some(victim) = self.members.iter().position(|x| x.name == victim)
                {
                    self.at(
                        t.saturating_add((respond * 3600.0) as u64),
                        Event::Rotate {
                            member: victim,
                            reason: "its key was compromised",
                        },
                    );
                }
            }
        }
        if coordinator_up {
            self.submit(t, env)
        } else {
            self.held.push(env);
            Ok(())
        }
    }

    /// A review that refused a bundle: a split view is an alarm (the first one detects the
    /// compromise); anything else is a refusal by the real code.
    fn review_failed(
        &mut self,
        t: u64,
        name: &str,
        forged: bool,
        e: airlock_signer_app::SignerError,
    ) {
        let text = e.to_string();
        if text.contains("valid cosignatures by") {
            self.counts.missing_cosignatures += 1;
            if forged && self.detected_at.is_none() {
                self.detected_at = Some(t);
                self.note(
                    t,
                    format!(
                        "{name}'s review refused a bundle of the fork: it lacks the witness quorum (only the equivocating witness cosigned it)"
                    ),
                );
            }
        }
        if matches!(e, airlock_signer_app::SignerError::SplitView(_)) {
            self.counts.split_view_alarms += 1;
            if self.detected_at.is_none() && self.compromised_at.is_some() {
                self.detected_at = Some(t);
                self.note(
                    t,
                    format!("{name}'s review raised a split-view alarm: the fork is detected"),
                );
            }
        } else {
            self.refused(format!("{name}'s review failed: {e}"));
        }
    }

    /// The attacker forks the coordinator: a copy of its home (database and keys) as it is now.
    fn fork(&mut self, t: u64) -> Result<(), SimError> {
        let from = self.work.join("coordinator");
        let to = self.work.join("coordinator-fork");
        std::fs::create_dir_all(&to).map_err(setup)?;
        for entry in std::fs::read_dir(&from).map_err(setup)? {
            let entry = entry.map_err(setup)?;
            if entry.path().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).map_err(setup)?;
            }
        }
        self.fork = Some(
            CoordinatorHome::open(&to)
                .and_then(|h| h.coordinator())
                .map_err(setup)?,
        );
        // An equivocating witness: the attacker runs a second copy of it (same key) for the fork.
        let equivocating = self.scenario.injects.iter().find_map(|i| match i {
            Inject::EquivocatingWitness { witness, .. } => Some(witness.clone()),
            _ => None,
        });
        if let Some(name) = equivocating
            && let Some(w) = self.witnesses.iter_mut().find(|w| w.name == name)
        {
            let from = self.work.join("witnesses").join(&name);
            let to = self.work.join("witnesses").join(format!("{name}-fork"));
            std::fs::create_dir_all(&to).map_err(setup)?;
            for entry in std::fs::read_dir(&from).map_err(setup)? {
                let entry = entry.map_err(setup)?;
                if entry.path().is_file() {
                    std::fs::copy(entry.path(), to.join(entry.file_name())).map_err(setup)?;
                }
            }
            w.fork_home = Some(WitnessHome::open(&to).map_err(setup)?);
            self.note(
                t,
                format!(
                    "the attacker also holds witness {name}'s key: {name} cosigns the fork too"
                ),
            );
        }
        self.compromised_at = Some(t);
        self.incident_at.get_or_insert(t);
        self.note(
            t,
            "an attacker holds the coordinator's keys and forks its log".into(),
        );
        Ok(())
    }

    /// The attacker records a payment to itself on its fork and shows it to every signer.
    fn forged_propose(&mut self, t: u64) -> Result<(), SimError> {
        let intent = Intent {
            transfers: vec![Transfer {
                destination: ATTACKER.into(),
                amount: u128::from(attack_amount(&self.scenario.injects)),
                asset: String::new(),
            }],
            memo: String::new(),
        };
        let Some(fork) = self.fork.as_mut() else {
            return Ok(());
        };
        let Ok(id) = fork.propose(VAULT, intent, None, t) else {
            return Ok(());
        };
        let mut bundle = fork.bundle(&id, &[]).map_err(setup)?;
        if !self.witnesses.is_empty() {
            let size = bundle.evidence.tree_size;
            if let Some(note) = self.cosign(t, true, size, &bundle.evidence.checkpoint)? {
                bundle.evidence.checkpoint = note;
            }
        }
        self.funds.attacks += 1;
        self.forged.push(bundle);
        let index = self.forged.len() - 1;
        let [low, high] = self.scenario.load.decision_minutes;
        for m in 0..self.members.len() {
            if self.members[m].lost {
                continue;
            }
            let delay = (low + self.below(high - low + 1)) * 60;
            self.at(
                t + delay,
                Event::ReviewForged {
                    bundle: index,
                    member: m,
                },
            );
        }
        Ok(())
    }

    /// A signer reviews a bundle from the fork: its review refuses it (split view), or, when
    /// the signer has followed nothing past the fork, its person rejects the unknown payee.
    fn review_forged(&mut self, t: u64, bundle: usize, m: usize) -> Result<(), SimError> {
        let member = &self.members[m];
        let name = member.name.clone();
        match member.home.review(&self.forged[bundle], t) {
            Err(e) => self.review_failed(t, &name, true, e),
            Ok(review) => {
                self.counts.forged_bundles_reviewed += 1;
                let reason = format!("{ATTACKER} is not one of our payees");
                if member
                    .home
                    .decide(&review, Decision::Reject, &reason, &member.key, None, t)
                    .is_ok()
                {
                    self.funds.attack_rejections += 1;
                }
            }
        }
        Ok(())
    }

    fn submit(&mut self, t: u64, env: Envelope) -> Result<(), SimError> {
        let id = env.id();
        match self.c.submit_decision(&env, t) {
            Ok((_, status)) => {
                self.counts.decisions_recorded += 1;
                self.settle(id);
                if status == Status::Ready {
                    let approval: airlock_core::Approval = env.open().map_err(setup)?;
                    self.finalize(t, approval.proposal)?;
                }
            }
            Err(e) => {
                self.counts.decisions_refused += 1;
                self.settle(id);
                self.refused(format!("decision refused by the coordinator: {e}"));
            }
        }
        Ok(())
    }

    fn settle(&mut self, id: ArtifactId) {
        if let Some(entry) = self.made.iter_mut().find(|(d, _)| *d == id) {
            entry.1 = true;
        }
    }

    fn finalize(&mut self, t: u64, proposal: ArtifactId) -> Result<(), SimError> {
        match self.c.finalize(&proposal, t) {
            Ok(_) => {
                self.counts.finalized += 1;
                if self.ledger.is_some() {
                    match self.c.broadcast(&proposal, t) {
                        Ok(_) => {
                            self.counts.broadcast += 1;
                            self.in_flight.push((proposal, t));
                        }
                        Err(e) => self.refused(format!("broadcast refused: {e}")),
                    }
                }
                let info = &self.proposals[&proposal];
                if info.attacker {
                    self.funds.to_attacker += info.amount;
                    let amount = info.amount;
                    self.note(t, format!("{amount} finalized to {ATTACKER}"));
                } else {
                    self.funds.paid += info.amount;
                }
            }
            Err(e) => self.refused(format!("finalize refused: {e}")),
        }
        Ok(())
    }

    /// The team's SLIP-39 backup of a member's identity, made when the team forms: 2 of 3
    /// shares (kept by other people), with the real SLIP-39 code.
    fn back_up(&mut self, m: usize) -> Result<(), SimError> {
        let member = &mut self.members[m];
        let mut shares = airlock_custody::slip39::split(
            member.key.secret().as_slice(),
            "",
            1,
            &[(2, 3)],
            true,
            0,
            &mut self.rng,
        )
        .map_err(setup)?;
        member.backup = Some(shares.remove(0));
        Ok(())
    }

    /// A lost member's identity restored from two of its three SLIP-39 shares on a new device
    /// (`airlock-signer init --restore-identity`): the same key, so the vault stays as it is;
    /// the new home registers every version that lists it and, holding none of the lost
    /// device's decisions, refuses proposals made before now.
    fn restore(&mut self, t: u64, m: usize) -> Result<(), SimError> {
        let name = self.members[m].name.clone();
        let Some(shares) = self.members[m].backup.as_ref() else {
            return Ok(());
        };
        let secret =
            airlock_custody::slip39::combine(&[&shares[2], &shares[0]], "").map_err(setup)?;
        let secret: &[u8; 32] = secret
            .as_slice()
            .try_into()
            .map_err(|_| setup("the identity backup is not 32 bytes"))?;
        let key = IdentityKey::from_secret_bytes(secret);
        if key.verifying_key() != self.members[m].key.verifying_key() {
            return Err(setup("the SLIP-39 shares hold another identity"));
        }
        let pass = Passphrase::new(format!("restored passphrase of {name}")).map_err(setup)?;
        let home = SignerHome::restore(
            &self.work.join("signers").join(format!("{name}-restored")),
            &name,
            key,
            &pass,
            KdfParams::INSECURE_FAST,
            t,
        )
        .map_err(setup)?;
        let me = self.members[m].identity();
        for (def, version) in self.c.vault_history(VAULT).map_err(setup)? {
            if def.signer(&me).is_some() {
                home.register_vault(&version).map_err(setup)?;
            }
        }
        let member = &mut self.members[m];
        member.key = home.unlock(&pass).map_err(setup)?;
        member.home = home;
        member.lost = false;
        self.recovered_at = Some(t);
        self.note(
            t,
            format!(
                "{name}'s identity restored from 2 of 3 SLIP-39 shares on a new device: no rotation; proposals made before now are refused by the restored signer's review"
            ),
        );
        Ok(())
    }

    fn rotate(&mut self, t: u64, m: usize, reason: &str) -> Result<(), SimError> {
        let vault = self.current_vault()?;
        if vault.signer(&self.members[m].identity()).is_none() {
            return Ok(());
        }
        let old = self.members[m].name.clone();
        let role = self.members[m].role.clone();
        let replacement = self.make_member(&format!("{old}-2"), &role, t)?;
        let mut listed: Vec<usize> = vault
            .signers
            .iter()
            .filter_map(|s| self.member_of(&s.identity))
            .filter(|x| *x != m)
            .collect();
        let signing: Vec<usize> = listed
            .iter()
            .copied()
            .filter(|x| !self.members[*x].lost)
            .collect();
        listed.push(replacement);
        match self.new_version(&listed, &signing, t) {
            Ok(def) => {
                self.recovered_at = Some(t);
                self.note(
                    t,
                    format!(
                        "vault rotated to v{}: {old} ({reason}) replaced by {old}-2",
                        def.version
                    ),
                );
                // Proposals under the old version can no longer be decided: abandoned, so the
                // signers' reservations end; the requesters propose them again.
                for state in self.c.proposals(Some(VAULT)).map_err(setup)? {
                    if state.vault.version < def.version
                        && matches!(state.status(t), Status::Collecting | Status::Ready)
                        && self
                            .c
                            .abandon(&state.id, "the vault was rotated", t)
                            .is_ok()
                    {
                        self.counts.abandoned_by_rotation += 1;
                        let attacker = self.proposals.get(&state.id).is_some_and(|p| p.attacker);
                        if !attacker {
                            let when = t + 60 + self.below(600);
                            self.at(when, Event::Propose { attacker: false });
                        }
                    }
                }
            }
            Err(e) => {
                self.note(t, format!("rotating {old} out failed: {e}"));
                self.refused(format!("rotation refused: {e}"));
            }
        }
        Ok(())
    }

    fn step(&mut self, t: u64, event: Event) -> Result<(), SimError> {
        match event {
            Event::Propose { attacker } => self.propose(t, attacker),
            Event::Decide { proposal, member } => self.decide(t, proposal, member),
            Event::Deliver => {
                let held = std::mem::take(&mut self.held);
                if !held.is_empty() {
                    self.note(
                        t,
                        format!(
                            "the coordinator is back: {} decisions made meanwhile delivered",
                            held.len()
                        ),
                    );
                }
                for env in held {
                    self.submit(t, env)?;
                }
                // Proposals that became ready while it was down are finalized now.
                for state in self.c.proposals(Some(VAULT)).map_err(setup)? {
                    if state.status(t) == Status::Ready {
                        self.finalize(t, state.id)?;
                    }
                }
                Ok(())
            }
            Event::Lose { member } => {
                self.members[member].lost = true;
                self.incident_at.get_or_insert(t);
                let name = self.members[member].name.clone();
                self.note(t, format!("{name}'s device and key are lost"));
                Ok(())
            }
            Event::Compromise { member } => {
                self.members[member].compromised = true;
                self.compromised_at = Some(t);
                self.incident_at.get_or_insert(t);
                let name = self.members[member].name.clone();
                self.note(t, format!("an attacker holds {name}'s key"));
                Ok(())
            }
            Event::Rotate { member, reason } => self.rotate(t, member, reason),
            Event::Restore { member } => self.restore(t, member),
            Event::Fork => self.fork(t),
            Event::ForgedPropose => self.forged_propose(t),
            Event::ReviewForged { bundle, member } => self.review_forged(t, bundle, member),
            Event::Block => {
                if let Some(ledger) = &self.ledger {
                    ledger.lock().expect("one thread").mine();
                }
                Ok(())
            }
            Event::Poll => {
                if self.away_until(None, t).is_none() {
                    self.poll(t)?;
                }
                Ok(())
            }
            Event::Reorg { depth, dropped } => self.reorg(t, depth, dropped),
        }
    }

    fn chain_model(&self) -> Option<&ChainModel> {
        self.scenario.chain.as_ref()
    }

    fn reorg(&mut self, t: u64, depth: u64, dropped: bool) -> Result<(), SimError> {
        let Some(ledger) = self.ledger.clone() else {
            return Ok(());
        };
        let out = ledger.lock().expect("one thread").reorg(depth, dropped);
        // What the log says of them now: the payments it calls confirmed are at risk.
        let mut confirmed = 0;
        for id in &out {
            let state = self.c.proposal_state(id).map_err(setup)?;
            if state.status(t) == Status::Confirmed {
                confirmed += 1;
                self.funds.confirmed_then_reorged += 1;
                self.funds.amount_confirmed_then_reorged +=
                    self.proposals.get(id).map_or(0, |p| p.amount);
            }
        }
        if confirmed > 0 {
            self.reorged_at.get_or_insert(t);
        }
        self.incident_at.get_or_insert(t);
        self.note(
            t,
            format!(
                "the chain reorganizes {depth} block(s): {} transaction(s) leave it ({confirmed} recorded as confirmed), {}",
                out.len(),
                if dropped {
                    "and the nodes forget them"
                } else {
                    "back to the mempool"
                }
            ),
        );
        Ok(())
    }

    /// The coordinator's check of its in-flight transactions: `check_confirmation` at the
    /// team's depth for each; a reorganization it records is answered by sending the
    /// transaction again; one still unseen three blocks after it was sent is sent again.
    fn poll(&mut self, t: u64) -> Result<(), SimError> {
        let Some(model) = self.chain_model().cloned() else {
            return Ok(());
        };
        let Some(ledger) = self.ledger.clone() else {
            return Ok(());
        };
        let block = model.block_minutes * 60;
        let mut keep = Vec::new();
        for (id, sent) in std::mem::take(&mut self.in_flight) {
            match self.c.check_confirmation(&id, t, model.confirmations) {
                Ok(Some(event)) if event.kind == airlock_core::EventKind::Reorged => {
                    self.counts.reorgs_recorded += 1;
                    if self.counts.reorgs_recorded == 1 {
                        self.detected_at.get_or_insert(t);
                        self.note(
                            t,
                            format!(
                                "the coordinator records a reorganization of {} (confirmed, now out of the chain) and sends it again",
                                id.short()
                            ),
                        );
                    }
                    self.reorged_pending.push(id);
                    self.send_again(t, &id)?;
                    keep.push((id, t));
                }
                Ok(Some(_)) => {
                    self.counts.confirmations_recorded += 1;
                    let before = self.reorged_pending.len();
                    self.reorged_pending.retain(|p| *p != id);
                    if before > 0 && self.reorged_pending.is_empty() {
                        self.recovered_at = Some(t);
                        self.note(
                            t,
                            "every payment the reorganization took is confirmed again".into(),
                        );
                    }
                    keep.push((id, sent));
                }
                Ok(None) => {
                    let depth = ledger.lock().expect("one thread").confirmations(&id);
                    let state = self.c.proposal_state(&id).map_err(setup)?;
                    match (state.status(t), depth) {
                        // Deep enough that the coordinator stops watching it.
                        (Status::Confirmed, Some(d)) if d >= model.watch_depth => {}
                        (Status::Broadcast, None) if t >= sent + 3 * block => {
                            self.send_again(t, &id)?;
                            keep.push((id, t));
                        }
                        _ => keep.push((id, sent)),
                    }
                }
                Err(e) => self.refused(format!("confirmation check refused: {e}")),
            }
        }
        self.in_flight = keep;
        Ok(())
    }

    fn send_again(&mut self, t: u64, id: &ArtifactId) -> Result<(), SimError> {
        match self.c.broadcast(id, t) {
            Ok(_) => self.counts.rebroadcasts += 1,
            Err(e) => self.refused(format!("sending again refused: {e}")),
        }
        Ok(())
    }

    fn invariants(&self) -> Result<Vec<Invariant>, SimError> {
        let mut out = Vec::new();
        let verified = self.c.verify_log();
        out.push(Invariant {
            name: "the log verifies".into(),
            holds: verified.is_ok(),
            detail: match &verified {
                Ok(r) => format!("{} entries, root {}", r.size, r.root),
                Err(e) => e.to_string(),
            },
        });
        let states = self.c.proposals(Some(VAULT)).map_err(setup)?;
        let unapproved: Vec<String> = states
            .iter()
            .filter(|s| s.finalized.is_some() && !s.tally().satisfied)
            .map(|s| s.id.short())
            .collect();
        out.push(Invariant {
            name: "nothing finalized without its rule's approvals".into(),
            holds: unapproved.is_empty(),
            detail: format!(
                "{} finalized; without approvals: {}",
                states.iter().filter(|s| s.finalized.is_some()).count(),
                if unapproved.is_empty() {
                    "none".to_owned()
                } else {
                    unapproved.join(", ")
                }
            ),
        });
        let mut lost = Vec::new();
        for (id, settled) in &self.made {
            let in_log = self.c.store().artifact(id).map_err(setup)?.is_some();
            let held = self.held.iter().any(|e| e.id() == *id);
            if !(in_log || *settled || held) {
                lost.push(id.short());
            }
        }
        out.push(Invariant {
            name: "no decision lost".into(),
            holds: lost.is_empty(),
            detail: format!(
                "{} made: {} recorded, {} refused with a reason, {} still held{}",
                self.made.len(),
                self.counts.decisions_recorded,
                self.counts.decisions_refused,
                self.held.len(),
                if lost.is_empty() {
                    String::new()
                } else {
                    format!("; lost: {}", lost.join(", "))
                }
            ),
        });
        if let Some(ledger) = &self.ledger {
            let ledger = ledger.lock().expect("one thread");
            let wrong: Vec<String> = states
                .iter()
                .filter(|s| s.status(self.end) == Status::Confirmed)
                .filter(|s| ledger.confirmations(&s.id).is_none())
                .map(|s| s.id.short())
                .collect();
            let confirmed = states
                .iter()
                .filter(|s| s.status(self.end) == Status::Confirmed)
                .count();
            out.push(Invariant {
                name: "every payment the log calls confirmed is in the chain".into(),
                holds: wrong.is_empty(),
                detail: if wrong.is_empty() {
                    format!(
                        "{confirmed} confirmed, {} reorganization(s) recorded",
                        self.counts.reorgs_recorded
                    )
                } else {
                    format!("not in the chain: {}", wrong.join(", "))
                },
            });
        }
        let mut journals = Vec::new();
        for m in &self.members {
            match m.home.journal() {
                Ok(j) => {
                    let mut seen = std::collections::HashSet::new();
                    if let Some(e) = j.entries().iter().find(|e| !seen.insert(&e.proposal)) {
                        journals.push(format!("{} decided {} twice", m.name, e.proposal));
                    }
                }
                Err(e) => journals.push(format!("{}: {e}", m.name)),
            }
        }
        out.push(Invariant {
            name: "every signer's journal verifies, one decision per proposal".into(),
            holds: journals.is_empty(),
            detail: if journals.is_empty() {
                format!("{} journals", self.members.len())
            } else {
                journals.join("; ")
            },
        });
        Ok(out)
    }
}

/// Runs `scenario` in `work` (an empty or new directory: the coordinator's and every signer's
/// home are made there); `progress` hears each simulated day.
pub fn run(
    scenario: &Scenario,
    work: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<SimReport, SimError> {
    if work.exists() && std::fs::read_dir(work).map_err(setup)?.next().is_some() {
        return Err(SimError::Setup(format!(
            "{} is not empty: the simulation makes its homes in an empty directory",
            work.display()
        )));
    }
    let started = Instant::now();
    let end = START + (scenario.days * 86_400.0) as u64;
    let coordinator =
        CoordinatorHome::init(&work.join("coordinator"), Some("sim.airlock/log"), START)
            .and_then(|h| h.coordinator())
            .map_err(setup)?;
    let mut sim = Sim {
        scenario,
        work,
        rng: ChaCha8Rng::seed_from_u64(scenario.seed),
        end,
        c: coordinator,
        fork: None,
        forged: Vec::new(),
        members: Vec::new(),
        witnesses: Vec::new(),
        halts_delivered: Vec::new(),
        export_stopped: None,
        queue: BinaryHeap::new(),
        events: Vec::new(),
        outages: Vec::new(),
        proposals: HashMap::new(),
        held: Vec::new(),
        made: Vec::new(),
        counts: Counts::default(),
        funds: Funds::default(),
        timeline: Vec::new(),
        refusals: Vec::new(),
        compromised_at: None,
        incident_at: None,
        detected_at: None,
        recovered_at: None,
        ledger: None,
        in_flight: Vec::new(),
        reorged_at: None,
        reorged_pending: Vec::new(),
    };
    if let Some(chain) = &scenario.chain {
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        sim.c.set_network(Box::new(SimNetwork(ledger.clone())));
        sim.ledger = Some(ledger);
        let every = chain.block_minutes * 60;
        let mut b = START + every;
        while b < end {
            sim.at(b, Event::Block);
            sim.at(b + every / 2, Event::Poll);
            b += every;
        }
    }
    for (name, role) in scenario.signers() {
        sim.make_member(&name, &role, START)?;
    }
    let vkey = sim.c.log_verifier().vkey();
    for name in scenario.team.witness_names() {
        let dir = work.join("witnesses").join(&name);
        std::fs::create_dir_all(&dir).map_err(setup)?;
        let home = WitnessHome::init(&dir, &format!("sim.witness/{name}")).map_err(setup)?;
        home.trust_log(&vkey, None).map_err(setup)?;
        sim.witnesses.push(SimWitness {
            name,
            home,
            fork_home: None,
        });
    }
    let everyone: Vec<usize> = (0..sim.members.len()).collect();
    sim.new_version(&everyone, &everyone, START)?;

    // The load: arrivals spread around the mean interval.
    let interval = 86_400.0 / f64::from(scenario.load.proposals_per_day);
    let mut t = START as f64;
    loop {
        let jitter = 0.5 + (sim.rng.next_u64() % 1000) as f64 / 1000.0;
        t += interval * jitter;
        if t >= end as f64 {
            break;
        }
        sim.at(t as u64, Event::Propose { attacker: false });
    }
    for inject in &scenario.injects {
        let at = START + (inject.at_hours() * 3600.0) as u64;
        let member = inject
            .signer()
            .and_then(|s| sim.members.iter().position(|m| m.name == s));
        match inject {
            Inject::SignerOutage { hours: h, .. } => {
                let until = at.saturating_add((h * 3600.0) as u64).min(end);
                sim.outages.push((member, at, until));
                let name = inject.signer().unwrap_or_default();
                sim.note(at, format!("{name} is unreachable for {h} h"));
            }
            Inject::CoordinatorOutage { hours: h, .. } => {
                let until = at.saturating_add((h * 3600.0) as u64).min(end);
                sim.outages.push((None, at, until));
                sim.note(at, format!("the coordinator is down for {h} h"));
                sim.at(until, Event::Deliver);
            }
            Inject::KeyLoss {
                replace_after_hours,
                recovery,
                ..
            } => {
                let m = member.expect("checked signer");
                sim.at(at, Event::Lose { member: m });
                let when = at.saturating_add((replace_after_hours * 3600.0) as u64);
                match recovery {
                    Recovery::Rotate => sim.at(
                        when,
                        Event::Rotate {
                            member: m,
                            reason: "its key was lost",
                        },
                    ),
                    Recovery::Slip39Restore => {
                        sim.back_up(m)?;
                        sim.at(when, Event::Restore { member: m });
                    }
                }
            }
            Inject::CompromisedSigner {
                attacks_per_day, ..
            } => {
                let m = member.expect("checked signer");
                sim.at(at, Event::Compromise { member: m });
                let every = 86_400 / u64::from(*attacks_per_day).max(1);
                let mut a = at + 60;
                while a < end {
                    sim.at(a, Event::Propose { attacker: true });
                    a += every.max(1);
                }
            }
            Inject::CompromisedCoordinator {
                attacks_per_day, ..
            }
            | Inject::EquivocatingWitness {
                attacks_per_day, ..
            } => {
                sim.at(at, Event::Fork);
                let every = 86_400 / u64::from(*attacks_per_day).max(1);
                let mut a = at.saturating_add((inject.first_attack_hours() * 3600.0) as u64);
                while a < end {
                    sim.at(a, Event::ForgedPropose);
                    a += every.max(1);
                }
            }
            // Scheduled once the chain's blocks are (below).
            Inject::Reorg { .. } => {}
        }
    }

    for inject in &scenario.injects {
        if let Inject::Reorg { depth, dropped, .. } = inject {
            let at = START + (inject.at_hours() * 3600.0) as u64;
            sim.at(
                at,
                Event::Reorg {
                    depth: *depth,
                    dropped: *dropped,
                },
            );
        }
    }
    let mut day = 0;
    while let Some(Reverse((t, seq))) = sim.queue.pop() {
        if t >= sim.end {
            break;
        }
        let event = sim.events[seq as usize]
            .take()
            .expect("each event runs once");
        let today = (t - START) / 86_400;
        if today > day {
            day = today;
            progress(&format!(
                "day {day}: {} proposed, {} finalized",
                sim.counts.proposed, sim.counts.finalized
            ));
        }
        sim.step(t, event)?;
    }
    // Decisions held at the end stay held (the coordinator was still down). The coordinator
    // checks its in-flight transactions once more before the chain is judged.
    if sim.ledger.is_some() && sim.away_until(None, end).is_none() {
        sim.poll(end)?;
    }
    let invariants = sim.invariants()?;
    let metrics = sim
        .c
        .metrics(
            MetricsOptions {
                as_of: Some(end),
                ..Default::default()
            },
            false,
        )
        .map_err(setup)?;
    let wall = started.elapsed().as_secs_f64();
    let since = |at: Option<u64>, from: Option<u64>| match (at, from) {
        (Some(a), Some(f)) => Some(((a.saturating_sub(f)) as f64 / 3600.0 * 100.0).round() / 100.0),
        _ => None,
    };
    sim.timeline
        .sort_by(|a, b| a.at_hours.total_cmp(&b.at_hours));
    Ok(SimReport {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        days: scenario.days,
        signers: scenario.team.signers.len(),
        hours_to_detect: since(sim.detected_at, sim.compromised_at.or(sim.reorged_at)),
        hours_to_recover: since(sim.recovered_at, sim.incident_at),
        vault_versions: sim.c.vault_history(VAULT).map_err(setup)?.len() as u64,
        counts: sim.counts,
        funds: sim.funds,
        timeline: sim.timeline,
        invariants,
        metrics,
        wall_seconds: (wall * 1000.0).round() / 1000.0,
        simulated_days_per_second: ((scenario.days / wall.max(1e-9)) * 1000.0).round() / 1000.0,
        refusals: sim.refusals,
    })
}
