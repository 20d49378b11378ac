//! Scenario files: a team, its load and the failures injected, as TOML a team writes for its own
//! vault. Unknown fields and impossible parameters are refused with what is wrong.
//!
//! This module must never accept a scenario it cannot run as written (a signer it does not
//! know, a failure outside the simulated time, a rule the vault would refuse).

use serde::Deserialize;

use crate::SimError;

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Seed of every random choice (arrivals, amounts, delays, rejections).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated time, in days.
    pub days: f64,
    pub team: Team,
    pub load: Load,
    /// A simulated chain the coordinator broadcasts to and reads confirmations from; without
    /// it the lifecycle ends at finalized (a decision-only vault sends nothing).
    #[serde(default)]
    pub chain: Option<ChainModel>,
    /// Failures injected, in any order.
    #[serde(default, rename = "inject")]
    pub injects: Vec<Inject>,
}

/// The simulated chain: a block every `block_minutes`; the coordinator checks its in-flight
/// transactions half a block after each block, as `airlock confirm --confirmations N` does.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainModel {
    #[serde(default = "default_block_minutes")]
    pub block_minutes: u64,
    /// Confirmations the team waits for before a payment counts as confirmed.
    #[serde(default = "default_confirmations")]
    pub confirmations: u64,
    /// The coordinator keeps re-checking a confirmed payment until it is this deep (a
    /// reorganization deeper than this goes unseen).
    #[serde(default = "default_watch_depth")]
    pub watch_depth: u64,
}

fn default_block_minutes() -> u64 {
    10
}

fn default_confirmations() -> u64 {
    1
}

fn default_watch_depth() -> u64 {
    12
}

fn default_seed() -> u64 {
    1
}

/// The vault and who signs for it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    /// `name:role`, e.g. `alice:ops`.
    pub signers: Vec<String>,
    /// Signatures of the current version's signers a new vault version needs.
    pub threshold: u32,
    /// Policy rules in `airlock vault draft --rule` syntax, tried in order.
    pub rules: Vec<String>,
    /// Independent witnesses (named w1, w2, …) that cosign the log's checkpoints; none by
    /// default.
    #[serde(default)]
    pub witnesses: u32,
    /// Cosignatures every bundle's checkpoint must carry (1 to `witnesses`; all when absent).
    #[serde(default)]
    pub witness_threshold: Option<u32>,
}

impl Team {
    /// The witnesses' names.
    pub fn witness_names(&self) -> Vec<String> {
        (1..=self.witnesses).map(|i| format!("w{i}")).collect()
    }

    /// Cosignatures a bundle needs (0 without witnesses).
    pub fn witness_threshold(&self) -> u32 {
        self.witness_threshold.unwrap_or(self.witnesses)
    }
}

/// The payments the team makes and how its signers answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub proposals_per_day: u32,
    /// Amounts are drawn uniformly from 1 to this.
    pub max_amount: u64,
    /// The team's usual payees (drawn uniformly).
    #[serde(default = "default_payees")]
    pub payees: Vec<String>,
    /// Each signer decides after a delay drawn uniformly from this range, in minutes.
    pub decision_minutes: [u64; 2],
    /// Honest rejections of ordinary payments, per thousand decisions.
    #[serde(default)]
    pub reject_per_mille: u32,
}

fn default_payees() -> Vec<String> {
    ["acme-payroll", "acme-rent", "vendor-a", "vendor-b"]
        .map(String::from)
        .to_vec()
}

/// How a team recovers from a lost key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recovery {
    /// A new vault version with a replacement signer.
    #[default]
    Rotate,
    /// The same identity restored from SLIP-39 shares; no new version.
    Slip39Restore,
}

/// A failure injected at a time (hours from the start).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Inject {
    /// A signer is unreachable for a while; it decides what is still open when it is back.
    SignerOutage {
        signer: String,
        at_hours: f64,
        hours: f64,
    },
    /// The coordinator is down: nothing is proposed, accepted or finalized until it is back;
    /// signers' decisions made meanwhile are delivered then.
    CoordinatorOutage { at_hours: f64, hours: f64 },
    /// A signer's device and key are lost; after a while the team rotates the vault to a new
    /// version with a replacement signer (the lost one's role), or, with `recovery =
    /// "slip39-restore"`, restores the signer's identity from its SLIP-39 shares (2 of 3, made
    /// when the team formed) on a new device, keeping the vault as it is.
    KeyLoss {
        signer: String,
        at_hours: f64,
        replace_after_hours: f64,
        #[serde(default)]
        recovery: Recovery,
    },
    /// An attacker holds a signer's key: it proposes payments to its own address (through a
    /// colluding requester) and approves them with the stolen key. The honest signers review
    /// each; the team rotates the key out once an honest signer has rejected an attacker payment
    /// and `respond_hours` have passed.
    CompromisedSigner {
        signer: String,
        at_hours: f64,
        attacks_per_day: u32,
        amount: u64,
        respond_hours: f64,
    },
    /// An attacker holds the coordinator's keys and forks its log: on the fork it records
    /// payments to its own address and shows signers their bundles (a split view), while the
    /// real coordinator goes on. Signers that followed the real log raise a split-view alarm.
    CompromisedCoordinator {
        at_hours: f64,
        attacks_per_day: u32,
        amount: u64,
        /// Hours from the fork to the first forged payment (a minute when absent).
        #[serde(default)]
        first_attack_hours: Option<f64>,
    },
    /// As `compromised-coordinator`, and the attacker also holds one witness's key: that
    /// witness cosigns the fork as well as the real log (it equivocates), while the honest
    /// witnesses check every checkpoint against the history they cosigned.
    EquivocatingWitness {
        witness: String,
        at_hours: f64,
        attacks_per_day: u32,
        amount: u64,
        /// Hours from the fork to the first forged payment (a minute when absent).
        #[serde(default)]
        first_attack_hours: Option<f64>,
    },
    /// The chain reorganizes: its last `depth` blocks are replaced by a longer branch without
    /// their transactions, which go back to the nodes' mempools (mined again in the next block)
    /// or, with `dropped`, are forgotten until the coordinator sends them again. Needs `[chain]`.
    Reorg {
        at_hours: f64,
        depth: u64,
        #[serde(default)]
        dropped: bool,
    },
}

impl Inject {
    pub fn at_hours(&self) -> f64 {
        match self {
            Inject::SignerOutage { at_hours, .. }
            | Inject::CoordinatorOutage { at_hours, .. }
            | Inject::KeyLoss { at_hours, .. }
            | Inject::CompromisedSigner { at_hours, .. }
            | Inject::CompromisedCoordinator { at_hours, .. }
            | Inject::EquivocatingWitness { at_hours, .. }
            | Inject::Reorg { at_hours, .. } => *at_hours,
        }
    }

    /// Hours from a fork to the attacker's first forged payment.
    pub fn first_attack_hours(&self) -> f64 {
        match self {
            Inject::CompromisedCoordinator {
                first_attack_hours, ..
            }
            | Inject::EquivocatingWitness {
                first_attack_hours, ..
            } => first_attack_hours.unwrap_or(1.0 / 60.0),
            _ => 0.0,
        }
    }

    pub fn signer(&self) -> Option<&str> {
        match self {
            Inject::SignerOutage { signer, .. }
            | Inject::KeyLoss { signer, .. }
            | Inject::CompromisedSigner { signer, .. } => Some(signer),
            Inject::CoordinatorOutage { .. }
            | Inject::CompromisedCoordinator { .. }
            | Inject::EquivocatingWitness { .. }
            | Inject::Reorg { .. } => None,
        }
    }
}

fn bad(what: impl Into<String>) -> SimError {
    SimError::Scenario(what.into())
}

impl Scenario {
    /// Parses and checks a scenario file's text.
    pub fn parse(text: &str) -> Result<Scenario, SimError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        scenario.check()?;
        Ok(scenario)
    }

    /// (name, role) of every signer, as listed.
    pub fn signers(&self) -> Vec<(String, String)> {
        self.team
            .signers
            .iter()
            .map(|s| {
                let (name, role) = s.split_once(':').unwrap_or((s, ""));
                (name.to_owned(), role.to_owned())
            })
            .collect()
    }

    fn check(&self) -> Result<(), SimError> {
        if !(self.days > 0.0 && self.days <= 366.0) {
            return Err(bad(format!(
                "days = {} must be more than 0 and at most 366",
                self.days
            )));
        }
        let signers = self.signers();
        if signers.is_empty() || signers.len() > 20 {
            return Err(bad("team.signers must list 1 to 20 signers"));
        }
        for (i, (name, role)) in signers.iter().enumerate() {
            if name.is_empty()
                || role.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(bad(format!(
                    "team.signers[{i}] = {:?} must be name:role (name of a-z, 0-9, '-')",
                    self.team.signers[i]
                )));
            }
            if signers[..i].iter().any(|(n, _)| n == name) {
                return Err(bad(format!("signer {name:?} is listed twice")));
            }
        }
        if self.team.threshold == 0 || self.team.threshold as usize > signers.len() {
            return Err(bad(format!(
                "team.threshold = {} must be between 1 and the {} signers",
                self.team.threshold,
                signers.len()
            )));
        }
        if self.team.witnesses > 16 {
            return Err(bad(format!(
                "team.witnesses = {} must be at most 16",
                self.team.witnesses
            )));
        }
        let wt = self.team.witness_threshold();
        if self.team.witnesses > 0 && !(1..=self.team.witnesses).contains(&wt) {
            return Err(bad(format!(
                "team.witness_threshold = {wt} must be between 1 and the {} witnesses",
                self.team.witnesses
            )));
        }
        if self.team.witnesses == 0 && self.team.witness_threshold.is_some_and(|t| t > 0) {
            return Err(bad("team.witness_threshold needs team.witnesses"));
        }
        if self.team.rules.is_empty() {
            return Err(bad("team.rules must hold at least one rule"));
        }
        for rule in &self.team.rules {
            airlock_core::vault::parse_rule(rule)
                .map_err(|e| bad(format!("team.rules: {rule:?}: {e}")))?;
        }
        let load = &self.load;
        if load.proposals_per_day == 0 || load.proposals_per_day > 100_000 {
            return Err(bad(format!(
                "load.proposals_per_day = {} must be 1 to 100000",
                load.proposals_per_day
            )));
        }
        if load.max_amount == 0 {
            return Err(bad("load.max_amount must be at least 1"));
        }
        if load.payees.is_empty() {
            return Err(bad("load.payees must name at least one payee"));
        }
        let [low, high] = load.decision_minutes;
        if low > high || high > 7 * 24 * 60 {
            return Err(bad(format!(
                "load.decision_minutes = [{low}, {high}] must be a range within a week"
            )));
        }
        if load.reject_per_mille > 1000 {
            return Err(bad("load.reject_per_mille must be at most 1000"));
        }
        let end = self.days * 24.0;
        let attacks = |i: usize, per_day: u32, amount: u64| {
            if per_day == 0 || per_day > 10_000 || amount == 0 {
                Err(bad(format!(
                    "inject[{i}]: attacks_per_day must be 1 to 10000 and amount at least 1"
                )))
            } else {
                Ok(())
            }
        };
        for (i, inject) in self.injects.iter().enumerate() {
            let at = inject.at_hours();
            if !(0.0..end).contains(&at) {
                return Err(bad(format!(
                    "inject[{i}]: at_hours = {at} is outside the {end} simulated hours"
                )));
            }
            if let Some(signer) = inject.signer()
                && !signers.iter().any(|(n, _)| n == signer)
            {
                return Err(bad(format!(
                    "inject[{i}]: signer {signer:?} is not in team.signers"
                )));
            }
            let positive = |what: &str, v: f64| {
                if v > 0.0 && v.is_finite() {
                    Ok(())
                } else {
                    Err(bad(format!(
                        "inject[{i}]: {what} = {v} must be more than 0"
                    )))
                }
            };
            match inject {
                Inject::SignerOutage { hours, .. } | Inject::CoordinatorOutage { hours, .. } => {
                    positive("hours", *hours)?
                }
                Inject::KeyLoss {
                    replace_after_hours,
                    ..
                } => positive("replace_after_hours", *replace_after_hours)?,
                Inject::CompromisedSigner {
                    attacks_per_day,
                    amount,
                    respond_hours,
                    ..
                } => {
                    positive("respond_hours", *respond_hours)?;
                    attacks(i, *attacks_per_day, *amount)?;
                }
                Inject::CompromisedCoordinator {
                    attacks_per_day,
                    amount,
                    ..
                } => {
                    positive("first_attack_hours", inject.first_attack_hours())?;
                    attacks(i, *attacks_per_day, *amount)?
                }
                Inject::EquivocatingWitness {
                    witness,
                    attacks_per_day,
                    amount,
                    ..
                } => {
                    if !self.team.witness_names().contains(witness) {
                        return Err(bad(format!(
                            "inject[{i}]: witness {witness:?} is not one of the team's {} witnesses (w1 … w{})",
                            self.team.witnesses, self.team.witnesses
                        )));
                    }
                    positive("first_attack_hours", inject.first_attack_hours())?;
                    attacks(i, *attacks_per_day, *amount)?
                }
                Inject::Reorg { depth, .. } => {
                    let Some(chain) = &self.chain else {
                        return Err(bad(format!(
                            "inject[{i}]: a reorg needs a simulated chain: add a [chain] table"
                        )));
                    };
                    if *depth == 0 || *depth > 1000 {
                        return Err(bad(format!(
                            "inject[{i}]: depth = {depth} must be 1 to 1000 blocks"
                        )));
                    }
                    let blocks_before = (at * 60.0 / chain.block_minutes as f64) as u64;
                    if *depth > blocks_before {
                        return Err(bad(format!(
                            "inject[{i}]: a reorg of {depth} blocks at hour {at} needs that many blocks before it ({blocks_before} by then)"
                        )));
                    }
                }
            }
        }
        if let Some(chain) = &self.chain {
            if !(1..=24 * 60).contains(&chain.block_minutes) {
                return Err(bad(format!(
                    "chain.block_minutes = {} must be 1 to 1440",
                    chain.block_minutes
                )));
            }
            if !(1..=1000).contains(&chain.confirmations) {
                return Err(bad(format!(
                    "chain.confirmations = {} must be 1 to 1000",
                    chain.confirmations
                )));
            }
            if chain.watch_depth < chain.confirmations || chain.watch_depth > 10_000 {
                return Err(bad(format!(
                    "chain.watch_depth = {} must be at least chain.confirmations ({}) and at most 10000",
                    chain.watch_depth, chain.confirmations
                )));
            }
        }
        let rotations = self
            .injects
            .iter()
            .filter(|i| matches!(i, Inject::KeyLoss { .. } | Inject::CompromisedSigner { .. }))
            .count();
        if rotations > 1 {
            return Err(bad(
                "at most one key-loss or compromised-signer inject per scenario (each ends in a vault rotation)",
            ));
        }
        let attackers = self
            .injects
            .iter()
            .filter(|i| {
                matches!(
                    i,
                    Inject::CompromisedSigner { .. }
                        | Inject::CompromisedCoordinator { .. }
                        | Inject::EquivocatingWitness { .. }
                )
            })
            .count();
        if attackers > 1 {
            return Err(bad(
                "at most one compromised-signer, compromised-coordinator or equivocating-witness inject per scenario",
            ));
        }
        Ok(())
    }
}
