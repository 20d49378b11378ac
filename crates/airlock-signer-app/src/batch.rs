//! Batch decisions: many proposals of one vault version decided in one session (one unlock, one
//! review screen, one journal commit, one output file).
//!
//! Every item of a [`ProposalBatch`] is reviewed on its own by the same code as a single bundle
//! ([`SignerHome::review_in`]): its own coordinator signature, log leaf and inclusion proof, chain
//! description, intent and policy. What the batch shares is read or checked once and kept in a
//! [`ReviewContext`]: the journal, the registered vault versions, the chain (with its derivation
//! cache), held halts, and the verdict on the batch's one checkpoint. The context also carries
//! what earlier items of the batch reserve, so two items spending the same funds, the same
//! proposal twice, or items that together pass a rolling-window limit are problems exactly as
//! they would be if the items had been decided one after another.
//!
//! The decisions are written to the journal as one commit ([`Journal::append_batch`]): after a
//! crash either all of them are recorded or none is.
//!
//! This module must never approve a batch with a problem in any item, never sign an item whose
//! own review it did not make, and never record part of a batch.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use airlock_core::PublicKey;
use airlock_core::chain::{ChainReview, Description};
use airlock_core::{
    Artifact, ArtifactId, Decision, DecisionBatch, Envelope, LogEvidence, Proposal, ProposalBatch,
    VaultDefinition,
};
use airlock_custody::IdentityKey;

use crate::journal::Journal;
use crate::logstate::LogCheck;
use crate::review::Review;
use crate::{Result, SignerError, SignerHome, chain_keys};

/// What a review reads once per session, and what the batch's earlier items reserve.
pub struct ReviewContext {
    pub(crate) journal: Journal,
    pub(crate) me: PublicKey,
    versions: BTreeMap<String, Arc<Vec<(VaultDefinition, Envelope)>>>,
    chains: BTreeMap<(String, u64), Box<dyn ChainReview>>,
    halts: BTreeMap<(String, u64), Vec<Vec<u8>>>,
    /// The full check of the batch's first item; the others are placed under its checkpoint.
    log: Option<LogCheck>,
    /// Earlier items of the batch: proposal, vault, total amount, spends.
    reserved: Vec<(ArtifactId, String, u128, Vec<String>)>,
    /// Proposal envelopes (by [`sole_signer_key`]) whose only signature, by that coordinator,
    /// a parallel pass of this batch verified.
    preverified: HashSet<[u8; 32]>,
    /// The journal's window sums, by (vault, window seconds, now).
    window_sums: BTreeMap<(String, u64, u64), u128>,
}

/// What [`ReviewContext::preverified`] holds for a proposal envelope's bytes and the coordinator
/// key its sole signature was verified against.
pub(crate) fn sole_signer_key(coordinator: &PublicKey, envelope: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(coordinator.0);
    hasher.update(envelope);
    hasher.finalize().into()
}

impl ReviewContext {
    pub(crate) fn open(home: &SignerHome) -> Result<ReviewContext> {
        Ok(ReviewContext {
            journal: home.journal()?,
            me: home.public_key()?,
            versions: BTreeMap::new(),
            chains: BTreeMap::new(),
            halts: BTreeMap::new(),
            log: None,
            reserved: Vec::new(),
            preverified: HashSet::new(),
            window_sums: BTreeMap::new(),
        })
    }

    /// Whether a parallel pass already verified that `coordinator` alone signed these bytes.
    pub(crate) fn preverified(&self, coordinator: &PublicKey, envelope: &[u8]) -> bool {
        !self.preverified.is_empty()
            && self
                .preverified
                .contains(&sole_signer_key(coordinator, envelope))
    }

    /// Decodes every item, verifies its coordinator signature and describes its payload over the
    /// machine's cores, when the vault's chain allows threads: the in-order review then finds
    /// the verdicts (kept here) and descriptions (kept by the chain) instead of recomputing
    /// them. Anything that fails here is left for the in-order review to report.
    fn prepare_in_parallel(&mut self, home: &SignerHome, batch: &ProposalBatch, vault_id: &str) {
        let threads = airlock_core::parallel::cores(8);
        if threads < 2 || batch.items.len() < PARALLEL_MIN_ITEMS {
            return;
        }
        let Ok(versions) = self.vault_versions(home, vault_id) else {
            return;
        };
        let Some((registered, _)) = versions.last() else {
            return;
        };
        let coordinator = registered.coordinator.key;
        let Ok(chain) = self.chain(home, registered) else {
            return;
        };
        let Some(chain) = chain.as_sync() else {
            return;
        };
        let verified = airlock_core::parallel::map_ranges(threads, batch.items.len(), |range| {
            Ok::<_, std::convert::Infallible>(
                range
                    .map(|i| {
                        let bytes = &batch.items[i].proposal;
                        let env = Envelope::from_bytes(bytes).ok()?;
                        env.require_sole_signer(
                            &coordinator,
                            "the vault's coordinator",
                            "the proposal",
                        )
                        .ok()?;
                        // Only what the coordinator signed is described ahead.
                        let proposal: Proposal = env.open().ok()?;
                        let _ = chain.describe(registered, &proposal);
                        Some(sole_signer_key(&coordinator, bytes))
                    })
                    .collect::<Vec<_>>(),
            )
        });
        let Ok(verified) = verified;
        self.preverified.extend(verified.into_iter().flatten());
    }

    pub(crate) fn vault_versions(
        &mut self,
        home: &SignerHome,
        vault_id: &str,
    ) -> Result<Arc<Vec<(VaultDefinition, Envelope)>>> {
        if let Some(v) = self.versions.get(vault_id) {
            return Ok(v.clone());
        }
        let v = Arc::new(home.vault_versions(vault_id)?);
        self.versions.insert(vault_id.to_owned(), v.clone());
        Ok(v)
    }

    pub(crate) fn chain(
        &mut self,
        home: &SignerHome,
        vault: &VaultDefinition,
    ) -> Result<&dyn ChainReview> {
        let key = (vault.vault_id.clone(), vault.version);
        if !self.chains.contains_key(&key) {
            let chain = home.chain_for(vault)?;
            self.chains.insert(key.clone(), chain);
        }
        Ok(self.chains[&key].as_ref())
    }

    pub(crate) fn held_halts(
        &mut self,
        home: &SignerHome,
        vault: &VaultDefinition,
    ) -> Result<Vec<Vec<u8>>> {
        let key = (vault.vault_id.clone(), vault.version);
        if let Some(h) = self.halts.get(&key) {
            return Ok(h.clone());
        }
        let h = home.held_halts_for(vault)?;
        self.halts.insert(key, h.clone());
        Ok(h)
    }

    /// The first item's evidence gets the full check (coordinator signature, witnesses,
    /// consistency with the accepted checkpoint); every later one must be under the very same
    /// checkpoint and is placed by its own leaf and inclusion proof.
    pub(crate) fn check_log(
        &mut self,
        home: &SignerHome,
        vault: &VaultDefinition,
        evidence: &LogEvidence,
        proposal_id: &ArtifactId,
        now: u64,
    ) -> Result<LogCheck> {
        match &self.log {
            None => {
                let check = home.log_state().check(vault, evidence, proposal_id, now)?;
                self.log = Some(check.clone());
                Ok(check)
            }
            Some(first) => crate::logstate::check_under(first, evidence, proposal_id),
        }
    }

    /// What this signer approved in `vault_id` within each rolling window `rule` names, before
    /// `now`, by the journal (kept for the batch: its items share `now`).
    pub(crate) fn window_sums(
        &mut self,
        vault_id: &str,
        rule: &airlock_core::Rule,
        now: u64,
    ) -> BTreeMap<u64, u128> {
        let mut sums = BTreeMap::new();
        for condition in &rule.conditions {
            if let airlock_core::Condition::WindowAmount { window_secs, .. } = condition {
                let key = (vault_id.to_owned(), *window_secs, now);
                let journal = &self.journal;
                let sum = *self
                    .window_sums
                    .entry(key)
                    .or_insert_with(|| journal.approved_in_window(vault_id, now, *window_secs));
                sums.insert(*window_secs, sum);
            }
        }
        sums
    }

    /// The total amount earlier items of the batch approve from `vault_id`.
    pub(crate) fn pending_amount(&self, vault_id: &str) -> u128 {
        self.reserved
            .iter()
            .filter(|(_, v, _, _)| v == vault_id)
            .fold(0u128, |acc, (_, _, amount, _)| acc.saturating_add(*amount))
    }

    /// Problems with earlier items of the batch: the same proposal, or the same funds.
    pub(crate) fn conflicts_in_batch(
        &self,
        proposal: &ArtifactId,
        spends: &[String],
    ) -> Vec<String> {
        let mut problems = Vec::new();
        for (n, (other, _, _, other_spends)) in self.reserved.iter().enumerate() {
            if other == proposal {
                problems.push(format!(
                    "the same proposal is item {} of this batch too",
                    n + 1
                ));
                continue;
            }
            for spend in spends {
                if other_spends.contains(spend) {
                    problems.push(format!(
                        "{spend} is also spent by item {} of this batch ({})",
                        n + 1,
                        other.short()
                    ));
                }
            }
        }
        problems
    }

    pub(crate) fn reserve(&mut self, vault_id: &str, proposal: &ArtifactId, d: &Description) {
        let amount = d
            .transfers
            .iter()
            .fold(0u128, |acc, t| acc.saturating_add(t.amount));
        self.reserved
            .push((*proposal, vault_id.to_owned(), amount, d.spends.clone()));
    }
}

/// Below this many items a batch is reviewed and signed on one thread.
pub const PARALLEL_MIN_ITEMS: usize = 16;

/// One line of a batch summary: a total per destination or per rule.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BatchTotal {
    pub name: String,
    pub asset: String,
    pub amount: u128,
    pub items: usize,
}

/// The reviews of every item of a batch, with what the person is shown for the whole.
pub struct BatchReview {
    pub reviews: Vec<Review>,
    pub vault_id: String,
    pub vault_version: u64,
    pub per_destination: Vec<BatchTotal>,
    pub per_rule: Vec<BatchTotal>,
    /// The text shown to the person: anything unusual first, then the totals.
    pub text: String,
    /// The vault's chain as the review used it: it keeps what it computed for each item (a
    /// Bitcoin review signs under the very review it showed).
    chain: Option<Box<dyn ChainReview>>,
}

impl BatchReview {
    /// Whether every item can be approved.
    pub fn can_approve(&self) -> bool {
        self.reviews.iter().all(|r| r.can_approve())
    }

    /// Every problem, as "item N (proposal): problem".
    pub fn problems(&self) -> Vec<String> {
        self.reviews
            .iter()
            .enumerate()
            .flat_map(|(n, r)| {
                r.problems
                    .iter()
                    .map(move |p| format!("item {} ({}): {p}", n + 1, r.proposal_id.short()))
            })
            .collect()
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "vault": self.vault_id,
            "version": self.vault_version,
            "items": self.reviews.len(),
            "can_approve": self.can_approve(),
            "problems": self.problems(),
            "per_destination": self.per_destination.iter().map(total_json).collect::<Vec<_>>(),
            "per_rule": self.per_rule.iter().map(total_json).collect::<Vec<_>>(),
            "reviews": self.reviews.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
        })
    }
}

fn total_json(t: &BatchTotal) -> serde_json::Value {
    serde_json::json!({
        "name": t.name,
        "asset": t.asset,
        "amount": t.amount.to_string(),
        "items": t.items,
    })
}

fn add_total(totals: &mut Vec<BatchTotal>, name: &str, asset: &str, amount: u128) {
    match totals
        .iter_mut()
        .find(|t| t.name == name && t.asset == asset)
    {
        Some(t) => {
            t.amount = t.amount.saturating_add(amount);
            t.items += 1;
        }
        None => totals.push(BatchTotal {
            name: name.to_owned(),
            asset: asset.to_owned(),
            amount,
            items: 1,
        }),
    }
}

fn render(batch: &BatchReview) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let n = batch.reviews.len();
    let _ = writeln!(
        out,
        "BATCH of {n} proposal(s) under vault {:?} v{}: every item verified on its own",
        batch.vault_id, batch.vault_version
    );
    let problems = batch.problems();
    if !problems.is_empty() {
        let _ = writeln!(
            out,
            "\nPROBLEMS ({}): the batch cannot be approved",
            problems.len()
        );
        for p in &problems {
            let _ = writeln!(out, "  ✗ {p}");
        }
    }
    let mut warnings: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in batch.reviews.iter().enumerate() {
        for w in &r.warnings {
            warnings.entry(w.as_str()).or_default().push(i + 1);
        }
    }
    if !warnings.is_empty() {
        let _ = writeln!(out, "\nWARNINGS");
        for (w, items) in &warnings {
            let shown: Vec<String> = items.iter().take(8).map(|i| i.to_string()).collect();
            let more = if items.len() > 8 {
                format!(" and {} more", items.len() - 8)
            } else {
                String::new()
            };
            let _ = writeln!(out, "  ! {w} (item {}{more})", shown.join(", "));
        }
    }
    let line = |out: &mut String, t: &BatchTotal| {
        let asset = if t.asset.is_empty() {
            String::new()
        } else {
            format!(" {}", t.asset)
        };
        let _ = writeln!(
            out,
            "  {:>24}{asset}  in {:>5} item(s)  {}",
            t.amount, t.items, t.name
        );
    };
    let _ = writeln!(out, "\nTOTALS PER DESTINATION (largest first)");
    for t in &batch.per_destination {
        line(&mut out, t);
    }
    let _ = writeln!(out, "\nITEMS PER RULE");
    for t in &batch.per_rule {
        line(&mut out, t);
    }
    if let Some(first) = batch.reviews.first() {
        let _ = writeln!(out, "\nLOG  {}", first.log.describe());
    }
    out
}

impl SignerHome {
    /// Verifies every item of a batch on its own and builds the batch review. Hard failures
    /// (forgery, an unknown vault, bad log evidence, a split view) fail the whole batch and name
    /// the item; policy problems are listed per item.
    pub fn review_batch(&self, batch: &ProposalBatch, now: u64) -> Result<BatchReview> {
        let vault: VaultDefinition = Envelope::from_bytes(&batch.vault)?.open()?;
        let mut ctx = ReviewContext::open(self)?;
        ctx.prepare_in_parallel(self, batch, &vault.vault_id);
        let mut reviews = Vec::with_capacity(batch.items.len());
        for index in 0..batch.items.len() {
            let bundle = batch
                .bundle(index, index == 0)
                .ok_or_else(|| SignerError::Refused("internal: batch item missing".into()))?;
            let review = self
                .review_in(&bundle, now, &mut ctx)
                .map_err(|e| label_item(e, index, batch.items.len()))?;
            if review.vault.vault_id != vault.vault_id || review.vault.version != vault.version {
                return Err(SignerError::Refused(format!(
                    "item {} is under vault {:?} v{}, the batch under {:?} v{}",
                    index + 1,
                    review.vault.vault_id,
                    review.vault.version,
                    vault.vault_id,
                    vault.version
                )));
            }
            reviews.push(review);
        }
        let mut per_destination = Vec::new();
        let mut per_rule = Vec::new();
        for r in &reviews {
            let mut total = 0u128;
            for t in &r.description.transfers {
                add_total(&mut per_destination, &t.destination, &t.asset, t.amount);
                total = total.saturating_add(t.amount);
            }
            add_total(&mut per_rule, &r.rule.name, "", total);
        }
        per_destination.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.name.cmp(&b.name)));
        per_rule.sort_by(|a, b| a.name.cmp(&b.name));
        let chain = ctx.chains.remove(&(vault.vault_id.clone(), vault.version));
        let mut review = BatchReview {
            reviews,
            vault_id: vault.vault_id,
            vault_version: vault.version,
            per_destination,
            per_rule,
            text: String::new(),
            chain,
        };
        review.text = render(&review);
        Ok(review)
    }

    /// Decides every item of a reviewed batch the same way and records all the decisions as one
    /// journal commit; returns the decision batch to give to the coordinator (not signed itself:
    /// each decision in it is). An approval is refused while any item lists a problem.
    pub fn decide_batch(
        &self,
        batch: &BatchReview,
        decision: Decision,
        reason: &str,
        key: &IdentityKey,
        chain_signer: Option<&chain_keys::ChainSigner>,
        now: u64,
    ) -> Result<Envelope> {
        if decision == Decision::Approve && !batch.can_approve() {
            return Err(SignerError::Refused(format!(
                "cannot approve the batch: {}",
                batch.problems().join("; ")
            )));
        }
        let first = batch
            .reviews
            .first()
            .ok_or_else(|| SignerError::Refused("the batch is empty".into()))?;
        let mut journal = self.journal()?;
        let fresh;
        let chain: Option<&dyn ChainReview> = match (decision, &batch.chain) {
            (Decision::Reject, _) => None,
            (Decision::Approve, Some(chain)) => Some(chain.as_ref()),
            (Decision::Approve, None) => {
                fresh = self.chain_for(&first.vault)?;
                Some(fresh.as_ref())
            }
        };
        let mut seen = BTreeSet::new();
        for (index, review) in batch.reviews.iter().enumerate() {
            if !seen.insert(review.proposal_id) {
                return Err(SignerError::Refused(format!(
                    "item {}: the same proposal appears twice in the batch",
                    index + 1
                )));
            }
        }
        let count = batch.reviews.len();
        let reviews = &batch.reviews;
        let one = |index: usize,
                   chain: Option<&dyn ChainReview>,
                   with: Option<chain_keys::SignWith<'_>>| {
            self.decision_for(
                &reviews[index],
                decision,
                reason,
                key,
                chain.zip(with),
                &journal,
                now,
            )
            .map_err(|e| label_item(e, index, count))
        };
        // Items are signed over the cores when the chain allows threads and the key is in this
        // process (an HSM session signs one digest at a time).
        let threads = airlock_core::parallel::cores(8);
        let made: Vec<(Envelope, crate::journal::NewJournalEntry)> =
            match (chain.map(|c| c.as_sync()), chain_signer) {
                (Some(Some(sync)), Some(chain_keys::ChainSigner::Secret(secret)))
                    if threads > 1 && count >= PARALLEL_MIN_ITEMS =>
                {
                    airlock_core::parallel::map_ranges(threads, count, |range| {
                        range
                            .map(|i| one(i, Some(sync), Some(chain_keys::SignWith::Secret(secret))))
                            .collect()
                    })?
                }
                _ => (0..count)
                    .map(|i| one(i, chain, chain_signer.map(chain_keys::ChainSigner::borrow)))
                    .collect::<Result<_>>()?,
            };
        let mut entries = Vec::with_capacity(count);
        let mut decisions = Vec::with_capacity(count);
        for (env, entry) in made {
            decisions.push(env.to_bytes());
            entries.push(entry);
        }
        journal.append_batch(entries)?;
        self.log_state().accept(&first.log)?;
        Ok(DecisionBatch { decisions }.envelope())
    }

    /// The decision batch for proposals this signer already decided (a run again after a crash or
    /// a lost output file): the recorded artifacts, byte for byte.
    pub fn recorded_batch(&self, proposals: &[ArtifactId]) -> Result<Envelope> {
        let mut decisions = Vec::with_capacity(proposals.len());
        let journal = self.journal()?;
        for p in proposals {
            let entry = journal.decision_on(&p.to_hex()).ok_or_else(|| {
                SignerError::Refused(format!("this signer has not decided on {}", p.short()))
            })?;
            decisions.push(
                hex::decode(&entry.envelope)
                    .map_err(|_| SignerError::Journal("damaged envelope".into()))?,
            );
        }
        Ok(DecisionBatch { decisions }.envelope())
    }
}

fn label_item(e: SignerError, index: usize, count: usize) -> SignerError {
    let label = |m: String| format!("item {} of {count}: {m}", index + 1);
    match e {
        SignerError::Refused(m) => SignerError::Refused(label(m)),
        SignerError::Log(m) => SignerError::Log(label(m)),
        SignerError::SplitView(m) => SignerError::SplitView(label(m)),
        SignerError::Stale(m) => SignerError::Stale(label(m)),
        other => other,
    }
}
