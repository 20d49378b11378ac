//! `airlock-signer review|approve|reject BATCH`: a coordinator's proposal batch decided in one
//! session: one review screen for the whole batch (every item verified on its own), one unlock,
//! one journal commit, one decision file.
//!
//! When nobody has to be asked anything (`--yes`, a passphrase file, no HSM PIN), the keys are
//! unlocked on a second core while the batch is reviewed, for this signer's own registered copy
//! of the vault version the batch names. Nothing is signed before the review passed; a review
//! that fails drops the keys unused.

use std::path::Path;
use std::time::Instant;

use airlock_cli_support::{CliError, CliResult, confirm, now, print_json, write_envelope};
use airlock_core::{Decision, DecisionBatch, Envelope, ProposalBatch, VaultDefinition};
use airlock_signer_app::SignerHome;
use serde_json::json;

use crate::{home, signer_err};

/// The proposal batch in `env` (a file already read and signature-checked), whose own envelope
/// may carry only the signature of the coordinator its vault names.
pub(crate) fn open_batch(env: &Envelope, path: &Path) -> CliResult<ProposalBatch> {
    let batch: ProposalBatch = env.open().map_err(CliError::context(path.display()))?;
    crate::only_coordinator_signed(env, &batch.vault, path)?;
    Ok(batch)
}

pub(crate) fn review(dir: &Path, json: bool, batch: &ProposalBatch) -> CliResult {
    let h = home(dir)?;
    let review = h.review_batch(batch, now()?).map_err(signer_err)?;
    if json {
        print_json(&review.to_json());
    } else {
        print!("{}", review.text);
    }
    Ok(())
}

/// Reviews every item, shows the batch, unlocks once and records every decision as one journal
/// commit, then writes the decision batch. Run again after a crash or a lost file, a batch this
/// signer already decided whole is written again from the journal, byte for byte.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide(
    dir: &Path,
    json: bool,
    pass_file: Option<&Path>,
    batch: &ProposalBatch,
    decision: Decision,
    reason: &str,
    confirmed: bool,
    out: &Path,
    armor: bool,
    hsm_pin_file: Option<&Path>,
) -> CliResult {
    let h = home(dir)?;
    let now = now()?;
    let started = Instant::now();
    let ids = batch
        .items
        .iter()
        .map(|i| Envelope::from_bytes(&i.proposal).map(|e| e.id()))
        .collect::<Result<Vec<_>, _>>()?;
    let journal = h.journal().map_err(signer_err)?;
    let decided: Vec<_> = ids
        .iter()
        .filter_map(|id| {
            journal
                .decision_on(&id.to_hex())
                .map(|e| (id, e.decision.clone()))
        })
        .collect();
    drop(journal);
    if !decided.is_empty() {
        if decided.len() == ids.len() && decided.iter().all(|(_, d)| d == decision.as_str()) {
            let env = h.recorded_batch(&ids).map_err(signer_err)?;
            write_envelope(out, &env, armor)?;
            if json {
                print_json(
                    &json!({ "decision": decision.as_str(), "items": ids.len(), "out": out, "already_recorded": true }),
                );
            } else {
                println!(
                    "This signer already decided '{}' on all {} proposals of this batch; the recorded decisions were written again to {}",
                    decision.as_str(),
                    ids.len(),
                    out.display()
                );
            }
            return Ok(());
        }
        let shown: Vec<String> = decided
            .iter()
            .take(5)
            .map(|(id, d)| format!("{} ({d})", id.short()))
            .collect();
        return Err(CliError::new(format!(
            "this signer already decided on {} of the batch's {} proposals ({}{}): export a batch of the others",
            decided.len(),
            ids.len(),
            shown.join(", "),
            if decided.len() > 5 { ", …" } else { "" }
        )));
    }
    // A token session (an HSM PIN) is opened where it is used: never beside the review.
    let registered = if confirmed
        && hsm_pin_file.is_none()
        && airlock_cli_support::passphrase_is_given(pass_file)
    {
        registered_version(&h, &batch.vault)
    } else {
        None
    };
    std::thread::scope(|scope| -> CliResult {
        let unlocking = registered.as_ref().map(|vault| {
            let h = &h;
            scope.spawn(move || {
                let unlock_started = Instant::now();
                let unlocked = crate::unlock_to_decide(h, pass_file, decision, vault, hsm_pin_file);
                (unlocked, unlock_started.elapsed())
            })
        });
        let review = h.review_batch(batch, now).map_err(signer_err)?;
        let reviewed = started.elapsed();
        if !json {
            print!("{}", review.text);
        }
        if decision == Decision::Approve {
            if !review.can_approve() {
                return Err(CliError::new(format!(
                    "batch approval refused (nothing was signed or recorded): {}",
                    review.problems().join("; ")
                )));
            }
            confirm(
                &format!("approve all {} proposals", review.reviews.len()),
                confirmed,
            )?;
        } else if reason.trim().is_empty() {
            return Err(CliError::new("a rejection needs a reason (--reason)"));
        }
        let first = review
            .reviews
            .first()
            .ok_or_else(|| CliError::new("the batch is empty"))?;
        // The keys unlocked beside the review are used only for the version it reviewed.
        let early = match unlocking {
            Some(handle) => {
                let (unlocked, took) = handle
                    .join()
                    .map_err(|_| CliError::new("unlocking the keys failed unexpectedly"))?;
                let same = registered.as_ref().is_some_and(|v| {
                    v.vault_id == first.vault.vault_id && v.version == first.vault.version
                });
                if same { Some((unlocked?, took)) } else { None }
            }
            None => None,
        };
        let beside_review = early.is_some();
        let ((key, chain_signer), unlocked) = match early {
            Some(done) => done,
            None => {
                let unlock_started = Instant::now();
                let keys =
                    crate::unlock_to_decide(&h, pass_file, decision, &first.vault, hsm_pin_file)?;
                (keys, unlock_started.elapsed())
            }
        };
        let sign_started = Instant::now();
        let env = h
            .decide_batch(&review, decision, reason, &key, chain_signer.as_ref(), now)
            .map_err(signer_err)?;
        let signed = sign_started.elapsed();
        write_envelope(out, &env, armor)?;
        let count = env.open::<DecisionBatch>()?.decisions.len();
        let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
        // The session beyond the unlock: the whole run less the unlock when it ran beside the
        // review; else the review and the decisions.
        let beyond_unlock = if beside_review {
            started.elapsed().saturating_sub(unlocked)
        } else {
            reviewed + signed
        };
        if json {
            print_json(&json!({
                "decision": decision.as_str(), "items": count, "out": out,
                "batch": review.to_json(),
                "timing_ms": {
                    "review": ms(reviewed), "unlock": ms(unlocked),
                    "decide_and_record": ms(signed), "beyond_unlock": ms(beyond_unlock),
                    "unlock_beside_review": beside_review,
                },
            }));
        } else {
            println!(
                "Decision '{}' recorded for all {count} proposals (one journal commit). {} written to {}",
                decision.as_str(),
                env.id().short(),
                out.display()
            );
            println!(
                "review {:.1} ms, unlock {:.1} ms{}, sign and record {:.1} ms; {:.1} ms beyond the unlock",
                ms(reviewed),
                ms(unlocked),
                if beside_review {
                    " (beside the review)"
                } else {
                    ""
                },
                ms(signed),
                ms(beyond_unlock)
            );
        }
        Ok(())
    })
}

/// This signer's own registered copy of the vault version `encoded` names (same id, version and
/// artifact), if it has one.
fn registered_version(h: &SignerHome, encoded: &[u8]) -> Option<VaultDefinition> {
    let env = Envelope::from_bytes(encoded).ok()?;
    let named: VaultDefinition = env.open().ok()?;
    let id = env.id();
    h.vault_versions(&named.vault_id)
        .ok()?
        .into_iter()
        .find(|(def, registered)| def.version == named.version && registered.id() == id)
        .map(|(def, _)| def)
}
