//! Proposing a payload built outside `Coordinator::propose` (arbitrary Ethereum calls, typed data,
//! a Bitcoin sweep or an imported PSBT): the intent is what the vault's chain describes the
//! payload to pay, the coordinator then runs the signer's checks (`propose_payload`), and the
//! bundle for signers is written. Shared by `airlock eth …` and `airlock btc …`.
//!
//! This module must never state an intent other than the chain's own description of the payload.

use std::path::{Path, PathBuf};

use airlock_cli_support::{CliResult, now, print_json, write_envelope};
use airlock_coordinator::CoordinatorHome;
use airlock_core::chain::{BuiltPayload, ChainReview};
use airlock_core::vault::parse_duration;
use airlock_core::{Intent, Proposal};
use clap::Args;
use serde_json::json;

/// Where a proposal goes and what it says besides its payload.
#[derive(Args)]
pub struct ProposalOut {
    /// A note for the signers.
    #[arg(long, default_value = "")]
    pub memo: String,
    /// Expiry such as 2h or 3d (default: the rule's).
    #[arg(long)]
    pub expires_in: Option<String>,
    /// Write the bundle for signers here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub armor: bool,
}

/// Proposes `built` under the newest version of `vault_id`, described by `chain`.
pub fn propose_built(
    home: &Path,
    json: bool,
    vault_id: &str,
    built: BuiltPayload,
    out: ProposalOut,
    default_memo: String,
    chain: &dyn ChainReview,
) -> CliResult {
    let mut c = CoordinatorHome::open(home)?.coordinator()?;
    let (vault, vault_env) = c.vault_latest(vault_id)?;
    let probe = Proposal {
        vault_id: vault.vault_id.clone(),
        vault_version: vault.version,
        vault_artifact: vault_env.id(),
        chain: vault.chain.clone(),
        intent: Intent::default(),
        payload: built.payload.clone(),
        spends: built.spends.clone(),
        rule: String::new(),
        created: 0,
        expires: 0,
        proposer: c.public_key(),
        nonce: [0; 16],
    };
    let description = chain.describe(&vault, &probe)?;
    let intent = Intent {
        transfers: description.transfers.clone(),
        memo: if out.memo.is_empty() {
            default_memo
        } else {
            out.memo
        },
    };
    let expires_in = out.expires_in.as_deref().map(parse_duration).transpose()?;
    let id = c.propose_payload(vault_id, intent, built, expires_in, now()?)?;
    let state = c.proposal_state(&id)?;
    if let Some(path) = &out.out {
        let (env, witnessed) = airlock_service::witnesses::export_bundle(&mut c, home, &id, &[])?;
        crate::witness_cmd::report(&witnessed);
        write_envelope(path, &env, out.armor)?;
    }
    if json {
        print_json(&json!({
            "proposal": id.to_hex(), "rule": state.rule.name, "expires": state.proposal.expires,
            "bundle": out.out,
            "payments": description.transfers.iter().map(|t| json!([t.destination, t.amount.to_string()])).collect::<Vec<_>>(),
            "fee": description.fee.map(|f| f.to_string()),
            "details": description.details.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "warnings": description.warnings,
        }));
    } else {
        println!(
            "Proposal {id} under vault {} v{}",
            vault.vault_id, vault.version
        );
        for (label, value) in &description.details {
            println!("  {label}: {value}");
        }
        for w in &description.warnings {
            println!("  WARNING: {w}");
        }
        if let Some(p) = &out.out {
            println!("bundle for signers: {}", p.display());
        }
    }
    Ok(())
}
