//! What the signer shows a person before they decide, recomputed from the signer's own data.
//!
//! The review is built from the signer's registered vault version, its own chain description of
//! the payload, its own policy evaluation (with its own journal for amount windows) and its own
//! log state. The proposal's stated intent is shown only next to what the signer computed, and any
//! difference blocks approval. The digest of the exact text shown goes into the approval, so what
//! a person saw is on record.
//!
//! This module must never present coordinator-supplied text as fact, and never let an approval
//! through while a problem is listed.

use airlock_core::chain::Description;
use airlock_core::vault::describe_rule;
use airlock_core::{ArtifactId, JsonAmount, Proposal, Rule, VaultDefinition, format_time};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::logstate::LogCheck;

/// A verified proposal, ready for a person's decision.
#[derive(Clone, Debug)]
pub struct Review {
    pub proposal_id: ArtifactId,
    pub proposal: Proposal,
    pub vault: VaultDefinition,
    pub description: Description,
    pub rule: Rule,
    pub log: LogCheck,
    /// Things that block approval (a rejection is still possible).
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    /// The text shown to the person.
    pub text: String,
    pub digest: [u8; 32],
}

/// The review for scripts (`--json`).
#[derive(Serialize)]
pub struct ReviewJson<'a> {
    pub proposal: String,
    pub vault: &'a str,
    pub vault_version: u64,
    pub chain: &'a str,
    pub network: &'a str,
    pub rule: &'a str,
    pub payments: Vec<(String, JsonAmount, String)>,
    pub change: Vec<(String, JsonAmount)>,
    pub fee: Option<JsonAmount>,
    /// Chain facts as label/value pairs (e.g. a Safe's safeTxHash), exactly as shown.
    pub details: &'a [(String, String)],
    pub spends: &'a [String],
    pub memo: &'a str,
    pub created: u64,
    pub expires: u64,
    pub log: String,
    pub warnings: &'a [String],
    pub problems: &'a [String],
    pub can_approve: bool,
    pub review_digest: String,
}

impl Review {
    pub fn can_approve(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn to_json(&self) -> ReviewJson<'_> {
        ReviewJson {
            proposal: self.proposal_id.to_hex(),
            vault: &self.vault.vault_id,
            vault_version: self.vault.version,
            chain: &self.vault.chain,
            network: &self.vault.network,
            rule: &self.rule.name,
            payments: self
                .description
                .transfers
                .iter()
                .map(|t| (t.destination.clone(), JsonAmount(t.amount), t.asset.clone()))
                .collect(),
            change: self
                .description
                .change
                .iter()
                .map(|t| (t.destination.clone(), JsonAmount(t.amount)))
                .collect(),
            fee: self.description.fee.map(JsonAmount),
            details: &self.description.details,
            spends: &self.description.spends,
            memo: &self.proposal.intent.memo,
            created: self.proposal.created,
            expires: self.proposal.expires,
            log: self.log.describe(),
            warnings: &self.warnings,
            problems: &self.problems,
            can_approve: self.can_approve(),
            review_digest: hex::encode(self.digest),
        }
    }
}

/// Renders the review text and its digest from the review's own fields.
pub fn render(review: &Review) -> (String, [u8; 32]) {
    let Review {
        proposal_id,
        proposal,
        vault,
        description,
        rule,
        log,
        warnings,
        problems,
        ..
    } = review;
    let mut t = String::new();
    let line = |t: &mut String, s: String| {
        t.push_str(&s);
        t.push('\n');
    };
    line(&mut t, format!("PROPOSAL {}", proposal_id));
    line(
        &mut t,
        format!(
            "  vault {} version {} — chain {} ({})",
            vault.vault_id, vault.version, vault.chain, vault.network
        ),
    );
    line(
        &mut t,
        format!(
            "  proposed by coordinator {} at {}; expires {}",
            vault.coordinator.origin,
            format_time(proposal.created),
            format_time(proposal.expires)
        ),
    );
    line(
        &mut t,
        "PAYMENTS (recomputed by this signer from the payload)".into(),
    );
    if description.transfers.is_empty() {
        line(&mut t, "  (none)".into());
    }
    for tr in &description.transfers {
        let asset = if tr.asset.is_empty() {
            String::new()
        } else {
            format!(" {}", tr.asset)
        };
        line(
            &mut t,
            format!("  {}{} -> {}", tr.amount, asset, tr.destination),
        );
    }
    if !description.change.is_empty() {
        line(
            &mut t,
            "CHANGE (back to this vault, re-derived from its keys)".into(),
        );
        for c in &description.change {
            line(&mut t, format!("  {} -> {}", c.amount, c.destination));
        }
    }
    if let Some(fee) = description.fee {
        line(&mut t, format!("FEE {fee}"));
    }
    for (label, value) in &description.details {
        line(&mut t, format!("{}: {value}", label.to_uppercase()));
    }
    if !description.spends.is_empty() {
        line(&mut t, format!("SPENDS {}", description.spends.join(", ")));
    }
    if !proposal.intent.memo.is_empty() {
        line(
            &mut t,
            format!("MEMO (from the proposer) {:?}", proposal.intent.memo),
        );
    }
    line(&mut t, format!("POLICY rule {}", describe_rule(rule)));
    line(&mut t, format!("LOG {}", log.describe()));
    if !warnings.is_empty() {
        line(&mut t, "WARNINGS".into());
        for w in warnings {
            line(&mut t, format!("  ! {w}"));
        }
    }
    if problems.is_empty() {
        line(
            &mut t,
            "RESULT all checks passed; this signer may approve".into(),
        );
    } else {
        line(&mut t, "PROBLEMS (approval refused; you may reject)".into());
        for p in problems {
            line(&mut t, format!("  x {p}"));
        }
    }
    let digest: [u8; 32] = Sha256::digest(t.as_bytes()).into();
    (t, digest)
}
