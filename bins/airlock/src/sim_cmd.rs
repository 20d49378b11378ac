//! `airlock sim SCENARIO.toml`: runs a scenario through the real coordinator and signer code on
//! a virtual clock (`airlock-sim`) and prints its report; exit code 3 when an invariant broke.

use std::path::PathBuf;

use airlock_cli_support::{CliError, CliResult, print_json};
use airlock_sim::{Scenario, SimReport};
use clap::Args;

#[derive(Args)]
pub struct SimArgs {
    /// The scenario file (TOML; see scenarios/ for examples).
    scenario: PathBuf,
    /// Make the simulated homes here (an empty or new directory) and keep them; a temporary
    /// directory, removed afterwards, when absent.
    #[arg(long)]
    work: Option<PathBuf>,
}

pub fn run(json: bool, args: SimArgs) -> CliResult {
    let text = std::fs::read_to_string(&args.scenario)
        .map_err(|e| CliError::new(format!("{}: {e}", args.scenario.display())))?;
    let scenario = Scenario::parse(&text)
        .map_err(|e| CliError::new(format!("{}: {e}", args.scenario.display())))?;
    let temporary;
    let work = match &args.work {
        Some(dir) => dir.clone(),
        None => {
            temporary = tempfile::tempdir()?;
            temporary.path().join("sim")
        }
    };
    let report = airlock_sim::run(&scenario, &work, &mut |line| eprintln!("{line}"))?;
    if json {
        print_json(&serde_json::to_value(&report)?);
    } else {
        print_text(&report);
    }
    if report.invariants_hold() {
        Ok(())
    } else {
        Err(CliError::alarm(format!(
            "scenario {:?}: an invariant broke: {}",
            report.scenario,
            report
                .invariants
                .iter()
                .filter(|i| !i.holds)
                .map(|i| format!("{} ({})", i.name, i.detail))
                .collect::<Vec<_>>()
                .join("; ")
        )))
    }
}

fn print_text(r: &SimReport) {
    let c = &r.counts;
    let o = &r.metrics.all.outcomes;
    println!(
        "Scenario {:?} (seed {}): {} days, {} signers, simulated in {:.2} s ({} days/s)",
        r.scenario, r.seed, r.days, r.signers, r.wall_seconds, r.simulated_days_per_second
    );
    println!(
        "Proposals: {} made ({} refused, {} deferred by an outage); {} finalized, {} expired, {} rejected, {} abandoned, {} open",
        c.proposed,
        c.proposals_refused,
        c.proposals_deferred,
        c.finalized,
        o.expired,
        o.rejected,
        o.abandoned,
        o.collecting + o.ready
    );
    println!(
        "Decisions: {} made, {} recorded, {} refused on arrival, {} deferred by an absence, {} missed (lost device), {} approvals refused by the signer's review",
        c.decisions_made,
        c.decisions_recorded,
        c.decisions_refused,
        c.decisions_deferred,
        c.decisions_missed,
        c.approvals_refused_by_review
    );
    if c.split_view_alarms > 0 || c.forged_bundles_reviewed > 0 {
        println!(
            "Split-view alarms raised by signers' reviews: {}; bundles from a forked log that a review let through to its person: {}",
            c.split_view_alarms, c.forged_bundles_reviewed
        );
    }
    if c.witness_refusals > 0 || c.witness_halts > 0 || c.missing_cosignatures > 0 {
        println!(
            "Witnesses: {} checkpoints refused, {} halts signed and recorded; {} reviews refused a bundle without the witness quorum; {} exports stopped by a split view",
            c.witness_refusals, c.witness_halts, c.missing_cosignatures, c.exports_stopped
        );
    }
    if c.broadcast > 0 {
        println!(
            "Chain: {} transactions broadcast, {} confirmations recorded, {} reorganizations recorded, {} sent again; {} payments ({} in all) were called confirmed when a reorganization took them",
            c.broadcast,
            c.confirmations_recorded,
            c.reorgs_recorded,
            c.rebroadcasts,
            r.funds.confirmed_then_reorged,
            r.funds.amount_confirmed_then_reorged
        );
    }
    let f = &r.funds;
    println!(
        "Funds: {} paid to payees; {} finalized to the attacker ({} attacks, {} rejections by honest reviews; {} of them, {} in all, under a rule the stolen key alone meets)",
        f.paid,
        f.to_attacker,
        f.attacks,
        f.attack_rejections,
        f.attacks_the_key_alone_could_pass,
        f.at_risk_from_the_key_alone
    );
    let hours = |h: Option<f64>| h.map(|h| format!("{h} h")).unwrap_or_else(|| "-".into());
    println!(
        "Time to detect: {}; time to recover: {}; vault versions: {}",
        hours(r.hours_to_detect),
        hours(r.hours_to_recover),
        r.vault_versions
    );
    let ready = &r.metrics.all.latency.ready;
    println!(
        "Ready after: p50 {} s, p90 {} s, max {} s ({} proposals)",
        ready.p50.unwrap_or(0),
        ready.p90.unwrap_or(0),
        ready.max.unwrap_or(0),
        ready.count
    );
    if !r.timeline.is_empty() {
        println!("Timeline:");
        for h in &r.timeline {
            println!("  +{:>7.2} h  {}", h.at_hours, h.what);
        }
    }
    if !r.refusals.is_empty() {
        println!("Refusals by the real code (first of each kind):");
        for x in &r.refusals {
            println!("  {x}");
        }
    }
    println!("Invariants:");
    for i in &r.invariants {
        println!(
            "  [{}] {}: {}",
            if i.holds { "ok" } else { "BROKEN" },
            i.name,
            i.detail
        );
    }
}
