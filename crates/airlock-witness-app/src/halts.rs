//! The witness's circuit breakers: the HALTs it signs (`airlock_core::halt::Halt`, an envelope
//! signed with its cosigning key) when its verifying replay finds an invalid transition, when a
//! coordinator shows it a split view, when one of its anomaly rules fires, or when its operator
//! decides; where they are kept (`halts` in `witness.db`, written in the same transaction as the
//! checkpoint state they were found with) and how they reach the coordinator (`POST
//! /api/v1/halts` on the followed service, retried until recorded or refused).
//!
//! Anomaly rules (`airlock-witness rules set`, stored in `witness.db` so a running witness picks
//! them up at its next request) look at every proposal the replay accepts: more than N proposals
//! in a vault within an hour; a payment to a destination the vault never proposed to before,
//! above an amount; more than a limit proposed out of every vault of one chain within a window.
//!
//! Each halt has a cause (what was seen, e.g. the leaf index that fired a rule) and the same
//! cause never yields a second halt, so a witness that replays a log again after a restart does
//! not halt twice for one event. This module must never sign a halt for a log it does not trust,
//! and never drop one that was not delivered.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use airlock_core::halt::Halt;
use airlock_core::{Artifact, Envelope};
use rand_core::{OsRng, RngCore};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{Result, WitnessError, WitnessHome};

/// The anomaly rules; each is off when absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyRules {
    /// Most proposals one vault may make within an hour.
    pub max_proposals_per_hour: Option<u32>,
    /// A payment above this amount (base units) to a destination the vault never proposed to.
    pub first_destination_above: Option<u128>,
    /// Most that may be proposed out of every vault of one chain within the window.
    pub outflow: Option<Outflow>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outflow {
    pub limit: u128,
    pub window_secs: u64,
}

impl AnomalyRules {
    pub fn is_empty(&self) -> bool {
        *self == AnomalyRules::default()
    }
}

/// What the replay has seen so far that the rules need (kept with the follower).
#[derive(Clone, Debug, Default)]
pub struct AnomalyState {
    /// Per vault: the times of its recent proposals.
    recent: BTreeMap<String, VecDeque<u64>>,
    /// Per vault: every destination proposed to.
    destinations: BTreeMap<String, BTreeSet<String>>,
    /// Per chain: (time, amount) of recent proposals.
    outflow: BTreeMap<String, VecDeque<(u64, u128)>>,
}

/// A rule that fired: the vault to halt, why, and the cause that keeps it from firing twice.
#[derive(Clone, Debug)]
pub struct Anomaly {
    pub vault_id: String,
    pub detail: String,
    pub cause: String,
}

impl AnomalyState {
    /// Looks at one accepted proposal (leaf `index`, recorded at `at`) under `rules`.
    pub fn observe(
        &mut self,
        rules: &AnomalyRules,
        index: u64,
        at: u64,
        proposal: &airlock_core::Proposal,
    ) -> Vec<Anomaly> {
        let mut fired = Vec::new();
        let vault = proposal.vault_id.clone();
        let total = proposal.intent.total().unwrap_or(u128::MAX);
        let recent = self.recent.entry(vault.clone()).or_default();
        recent.push_back(at);
        while recent.front().is_some_and(|t| t + 3600 <= at) {
            recent.pop_front();
        }
        if let Some(max) = rules.max_proposals_per_hour
            && recent.len() > max as usize
        {
            fired.push(Anomaly {
                vault_id: vault.clone(),
                detail: format!(
                    "{} proposals in vault {vault:?} within an hour (the rule allows {max}); the last is leaf {index}",
                    recent.len()
                ),
                cause: format!("proposals-per-hour:{index}"),
            });
        }
        let known = self.destinations.entry(vault.clone()).or_default();
        for t in &proposal.intent.transfers {
            let first = known.insert(t.destination.clone());
            if let Some(above) = rules.first_destination_above
                && first
                && t.amount > above
            {
                fired.push(Anomaly {
                    vault_id: vault.clone(),
                    detail: format!(
                        "first payment of vault {vault:?} to {} is {} (the rule allows {above} to a new destination); leaf {index}",
                        t.destination, t.amount
                    ),
                    cause: format!("first-destination:{index}:{}", t.destination),
                });
            }
        }
        let window = self.outflow.entry(proposal.chain.clone()).or_default();
        window.push_back((at, total));
        if let Some(rule) = &rules.outflow {
            while window
                .front()
                .is_some_and(|(t, _)| t.saturating_add(rule.window_secs) <= at)
            {
                window.pop_front();
            }
            let sum = window
                .iter()
                .fold(0u128, |acc, (_, amount)| acc.saturating_add(*amount));
            if sum > rule.limit {
                fired.push(Anomaly {
                    vault_id: vault,
                    detail: format!(
                        "{sum} proposed out of the {} vaults within {}s (the rule allows {}); leaf {index}",
                        proposal.chain, rule.window_secs, rule.limit
                    ),
                    cause: format!("outflow:{index}"),
                });
            }
        }
        fired
    }
}

/// A halt this witness signed.
#[derive(Clone, Debug, Serialize)]
pub struct HaltRecord {
    pub id: String,
    pub origin: String,
    /// Empty: every vault of the log.
    pub vault: String,
    pub reason: String,
    pub detail: String,
    pub issued: u64,
    pub log_size: u64,
    /// "" until delivered; then "recorded" or the coordinator's refusal.
    pub delivery: String,
    /// The signed envelope, base64.
    pub envelope: String,
}

pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS halts (
        id BLOB PRIMARY KEY,
        origin TEXT NOT NULL,
        vault TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        issued INTEGER NOT NULL,
        log_size INTEGER NOT NULL,
        cause TEXT NOT NULL,
        envelope BLOB NOT NULL,
        delivery TEXT NOT NULL DEFAULT '',
        UNIQUE (origin, cause)
    ) STRICT;
    CREATE TABLE IF NOT EXISTS settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;";

/// What a new halt says.
pub struct NewHalt<'a> {
    pub origin: &'a str,
    pub vault_id: &'a str,
    pub reason: &'a str,
    pub detail: &'a str,
    pub log_size: u64,
    /// What was seen; a cause already halted for returns that halt instead of a new one.
    pub cause: &'a str,
}

impl WitnessHome {
    /// The anomaly rules in force.
    pub fn rules(&self, conn: &Connection) -> Result<AnomalyRules> {
        let stored: Option<String> = conn
            .query_row(
                "SELECT value FROM settings WHERE name = 'anomaly_rules'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match stored {
            None => Ok(AnomalyRules::default()),
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| WitnessError::Setup(format!("the stored anomaly rules: {e}"))),
        }
    }

    /// Replaces the anomaly rules (a running witness applies them from its next request).
    pub fn set_rules(&self, rules: &AnomalyRules) -> Result<()> {
        if let Some(o) = &rules.outflow
            && (o.window_secs == 0 || o.limit == 0)
        {
            return Err(WitnessError::Setup(
                "--outflow: give LIMIT/SECONDS, both above zero".into(),
            ));
        }
        if rules.max_proposals_per_hour == Some(0) {
            return Err(WitnessError::Setup(
                "--max-proposals-per-hour must be at least 1".into(),
            ));
        }
        let conn = self.connect()?;
        conn.execute(
            "INSERT INTO settings (name, value) VALUES ('anomaly_rules', ?1)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [serde_json::to_string(rules).expect("rules serialize")],
        )?;
        Ok(())
    }

    /// Signs and stores a halt on `conn` (inside the caller's transaction when it has one);
    /// returns the envelope, or the one already signed for the same cause.
    pub fn issue_halt(&self, conn: &Connection, new: NewHalt<'_>, now: u64) -> Result<Envelope> {
        let known: Option<String> = conn
            .query_row(
                "SELECT origin FROM logs WHERE origin = ?1",
                [new.origin],
                |r| r.get(0),
            )
            .optional()?;
        if known.is_none() {
            return Err(WitnessError::Setup(format!(
                "this witness does not trust a log {:?} (see `airlock-witness log list`)",
                new.origin
            )));
        }
        let existing: Option<Vec<u8>> = conn
            .query_row(
                "SELECT envelope FROM halts WHERE origin = ?1 AND cause = ?2",
                params![new.origin, new.cause],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(bytes) = existing {
            return Envelope::from_bytes(&bytes)
                .map_err(|e| WitnessError::Setup(format!("a stored halt is damaged: {e}")));
        }
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        let halt = Halt {
            log_origin: new.origin.to_owned(),
            vault_id: new.vault_id.to_owned(),
            reason: new.reason.to_owned(),
            detail: new.detail.chars().take(2000).collect(),
            log_size: new.log_size,
            issued: now,
            witness: self.name().to_owned(),
            nonce,
        };
        let mut env = halt.envelope();
        env.sign(self.identity.signing_key());
        // Another process may have halted for the same cause meanwhile: its halt stands.
        let inserted = conn.execute(
            "INSERT INTO halts (id, origin, vault, reason, detail, issued, log_size, cause, envelope)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (origin, cause) DO NOTHING",
            params![
                env.id().0.to_vec(),
                halt.log_origin,
                halt.vault_id,
                halt.reason,
                halt.detail,
                now.min(i64::MAX as u64) as i64,
                new.log_size.min(i64::MAX as u64) as i64,
                new.cause,
                env.to_bytes()
            ],
        )?;
        if inserted == 0 {
            let bytes: Vec<u8> = conn.query_row(
                "SELECT envelope FROM halts WHERE origin = ?1 AND cause = ?2",
                params![new.origin, new.cause],
                |r| r.get(0),
            )?;
            return Envelope::from_bytes(&bytes)
                .map_err(|e| WitnessError::Setup(format!("a stored halt is damaged: {e}")));
        }
        tracing::warn!(origin = %halt.log_origin, vault = %halt.scope(), reason = %halt.reason, detail = %halt.detail, "HALT issued");
        Ok(env)
    }

    /// Every halt this witness signed, oldest first.
    pub fn halts(&self) -> Result<Vec<HaltRecord>> {
        let conn = self.connect()?;
        let mut stmt = conn.prepare(
            "SELECT id, origin, vault, reason, detail, issued, log_size, delivery, envelope
             FROM halts ORDER BY issued, rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            use base64::Engine;
            Ok(HaltRecord {
                id: hex::encode(r.get::<_, Vec<u8>>(0)?),
                origin: r.get(1)?,
                vault: r.get(2)?,
                reason: r.get(3)?,
                detail: r.get(4)?,
                issued: r.get::<_, i64>(5)?.max(0) as u64,
                log_size: r.get::<_, i64>(6)?.max(0) as u64,
                delivery: r.get(7)?,
                envelope: base64::engine::general_purpose::STANDARD.encode(r.get::<_, Vec<u8>>(8)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sends every undelivered halt of `origin` to the service at `url` (`POST
    /// /api/v1/halts`); a halt the service records or refuses is marked so, one it cannot be
    /// reached for stays pending for the next attempt. Returns how many were delivered.
    /// A halt this witness signed, by its id or a unique hex prefix of it (six digits or more),
    /// to carry to a coordinator (`airlock halt import`) or a signer (`airlock-signer halt
    /// import`).
    pub fn halt_envelope(&self, prefix: &str) -> Result<Envelope> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if prefix.len() < 6 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(WitnessError::Setup(format!(
                "{prefix:?}: give a halt id, or six hex digits or more of one (`airlock-witness halt list`)"
            )));
        }
        let conn = self.connect()?;
        let found: Vec<(Vec<u8>, Vec<u8>)> = conn
            .prepare("SELECT id, envelope FROM halts")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<std::result::Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|(id, _)| hex::encode(id).starts_with(&prefix))
            .collect();
        match found.as_slice() {
            [(_, envelope)] => Envelope::from_bytes(envelope)
                .map_err(|e| WitnessError::Setup(format!("the stored halt is damaged: {e}"))),
            [] => Err(WitnessError::Setup(format!(
                "this witness signed no halt {prefix}…"
            ))),
            _ => Err(WitnessError::Setup(format!(
                "{prefix} names {} halts: give more digits",
                found.len()
            ))),
        }
    }

    pub fn deliver_halts(&self, origin: &str, url: &str) -> Result<usize> {
        if url.starts_with("file://") {
            // A log followed from its published directory has no service to deliver to: the
            // operator carries the halt (`airlock-witness halt export`).
            return Ok(0);
        }
        let conn = self.connect()?;
        let pending: Vec<(Vec<u8>, Vec<u8>)> = conn
            .prepare("SELECT id, envelope FROM halts WHERE origin = ?1 AND delivery = ''")?
            .query_map([origin], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        if pending.is_empty() {
            return Ok(0);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .build()
            .into();
        let target = format!("{}/api/v1/halts", url.trim_end_matches('/'));
        let mut delivered = 0;
        for (id, envelope) in pending {
            let outcome = agent
                .post(&target)
                .header("content-type", "application/octet-stream")
                .send(&envelope[..]);
            let delivery = match outcome {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let text = response
                        .body_mut()
                        .with_config()
                        .limit(64 * 1024)
                        .read_to_string()
                        .unwrap_or_default();
                    match status {
                        200 | 201 => "recorded".to_owned(),
                        400..=499 => format!("refused ({status}): {}", text.trim()),
                        _ => {
                            tracing::warn!(%target, status, "halt not delivered; will retry");
                            continue;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(%target, error = %e, "halt not delivered; will retry");
                    continue;
                }
            };
            conn.execute(
                "UPDATE halts SET delivery = ?2 WHERE id = ?1",
                params![id, delivery],
            )?;
            delivered += 1;
        }
        Ok(delivered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::{Intent, Transfer};

    fn proposal(vault: &str, dest: &str, amount: u128) -> airlock_core::Proposal {
        airlock_core::Proposal {
            vault_id: vault.into(),
            vault_version: 1,
            vault_artifact: airlock_core::ArtifactId([0; 32]),
            chain: "none".into(),
            intent: Intent {
                transfers: vec![Transfer {
                    destination: dest.into(),
                    amount,
                    asset: String::new(),
                }],
                memo: String::new(),
            },
            payload: Vec::new(),
            spends: Vec::new(),
            rule: "default".into(),
            created: 0,
            expires: 1,
            proposer: airlock_core::PublicKey([0; 32]),
            nonce: [0; 16],
        }
    }

    #[test]
    fn each_rule_fires_only_past_its_bound() {
        let rules = AnomalyRules {
            max_proposals_per_hour: Some(2),
            first_destination_above: Some(100),
            outflow: Some(Outflow {
                limit: 1000,
                window_secs: 600,
            }),
        };
        let mut s = AnomalyState::default();
        assert!(s.observe(&rules, 0, 0, &proposal("a", "x", 100)).is_empty());
        // The same destination again is not new; a second proposal is within the hour's two.
        assert!(
            s.observe(&rules, 1, 10, &proposal("a", "x", 500))
                .is_empty()
        );
        let third = s.observe(&rules, 2, 20, &proposal("b", "y", 101));
        assert_eq!(third.len(), 1, "{third:?}");
        assert!(third[0].cause.starts_with("first-destination:2"));
        let fourth = s.observe(&rules, 3, 30, &proposal("a", "x", 1));
        assert_eq!(fourth.len(), 1, "{fourth:?}");
        assert!(fourth[0].cause.starts_with("proposals-per-hour:3"));
        // Past the window the outflow starts again; a large one in the window fires.
        let mut s = AnomalyState::default();
        assert!(s.observe(&rules, 0, 0, &proposal("a", "x", 90)).is_empty());
        assert!(
            s.observe(&rules, 1, 700, &proposal("a", "x", 95))
                .is_empty()
        );
        let big = s.observe(&rules, 2, 701, &proposal("c", "x", 95));
        assert!(
            big.iter().all(|a| !a.cause.starts_with("outflow")),
            "{big:?}"
        );
        let over = s.observe(&rules, 3, 702, &proposal("c", "x", 900));
        assert!(over.iter().any(|a| a.cause == "outflow:3"), "{over:?}");
    }
}
