//! `airlock metrics`: the signing process's figures, computed from the log alone (this home's, or
//! a published one), as text, JSON, Prometheus text and SVG charts.

use std::path::{Path, PathBuf};

use airlock_cli_support::{CliError, CliResult, now, print_json};
use airlock_coordinator::CoordinatorHome;
use airlock_coordinator::metrics::{
    MetricsBuilder, MetricsOptions, MetricsReport, STAGES, Stats, prometheus,
};
use clap::Args;

#[derive(Args)]
pub struct MetricsArgs {
    /// Only this vault.
    #[arg(long)]
    vault: Option<String>,
    /// Only proposals recorded since: a date (2026-11-01), a Unix time, or a span back from now
    /// (30d, 12h).
    #[arg(long)]
    since: Option<String>,
    /// Judge open proposals (expired or not) at this time instead of the newest entry's: a date
    /// or a Unix time.
    #[arg(long)]
    as_of: Option<String>,
    /// Print the figures in Prometheus' text format instead.
    #[arg(long, conflicts_with = "json")]
    prometheus: bool,
    /// Also write the charts (stages.svg, outcomes.svg, signers.svg) into this directory.
    #[arg(long)]
    chart: Option<PathBuf>,
    /// Read a published log instead of this home's: a service URL or a directory written by
    /// `airlock log publish` (verified in full first).
    #[arg(long)]
    from_log: Option<String>,
    /// The published log's key (`airlock id`); this home's own when absent.
    #[arg(long, requires = "from_log")]
    log_key: Option<String>,
    /// A PEM certificate to trust for an https --from-log.
    #[arg(long, requires = "from_log")]
    ca_cert: Option<PathBuf>,
    /// Check only the log's integrity (its leaves against the newest signed checkpoint, each
    /// artifact against its id) instead of replaying every signature and rule first.
    #[arg(long, conflicts_with = "from_log")]
    quick: bool,
}

/// A time given as a date, a Unix time, or (`span_ok`) a span back from now.
fn parse_time(s: &str, what: &str, span_ok: bool) -> CliResult<u64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .map_err(|_| CliError::new(format!("{what} {s:?} is not a Unix time")));
    }
    if let Some(t) = airlock_core::parse_date(s) {
        return Ok(t);
    }
    if span_ok && let Ok(span) = airlock_core::vault::parse_duration(s) {
        return Ok(now()?.saturating_sub(span));
    }
    Err(CliError::new(format!(
        "{what} {s:?} is not a date (YYYY-MM-DD), a Unix time{}",
        if span_ok {
            ", or a span back from now (30d, 12h, 90m)"
        } else {
            ""
        }
    )))
}

pub fn run(home: &Path, json: bool, args: MetricsArgs) -> CliResult {
    let options = MetricsOptions {
        vault: args.vault.clone(),
        since: args
            .since
            .as_deref()
            .map(|s| parse_time(s, "--since", true))
            .transpose()?,
        as_of: args
            .as_of
            .as_deref()
            .map(|s| parse_time(s, "--as-of", false))
            .transpose()?,
    };
    let report = match &args.from_log {
        Some(from) => published(home, from, &args, options)?,
        None => CoordinatorHome::open(home)?
            .coordinator()?
            .metrics(options, !args.quick)?,
    };
    if let Some(vault) = &args.vault
        && report.vaults.is_empty()
        && report.all.outcomes.proposals == 0
    {
        eprintln!("note: no proposal of vault {vault:?} is in the log (in the period asked)");
    }
    if let Some(dir) = &args.chart {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::new(format!("{}: {e}", dir.display())))?;
        for (name, svg) in airlock_coordinator::metrics_chart::charts(&report)? {
            airlock_transport::write_atomic(&dir.join(name), svg.as_bytes())?;
        }
        eprintln!("charts written to {}", dir.display());
    }
    if args.prometheus {
        print!("{}", prometheus(&report));
    } else if json {
        print_json(&serde_json::to_value(&report)?);
    } else {
        print_text(&report);
    }
    Ok(())
}

/// The metrics of a published log, verified in full with its pinned key first.
fn published(
    home: &Path,
    from: &str,
    args: &MetricsArgs,
    options: MetricsOptions,
) -> CliResult<MetricsReport> {
    let log_key = match &args.log_key {
        Some(k) => k.clone(),
        None => CoordinatorHome::open(home)
            .and_then(|h| h.coordinator())
            .map(|c| c.log_verifier().vkey())
            .map_err(|e| {
                CliError::new(format!(
                    "--from-log needs the log's key: give --log-key, or run where the home is ({e})"
                ))
            })?,
    };
    let remote = airlock_service::RemoteOptions {
        url: crate::published_url(from)?,
        log_key: Some(log_key),
        ca_cert: args.ca_cert.clone(),
    };
    let verified =
        airlock_service::remote::verify_and_keep(&remote, &mut |line| eprintln!("{line}"))?;
    let mut builder = MetricsBuilder::new(options);
    builder.push_all(&verified.leaves, &|_, id| {
        verified.artifacts.get(id).map(Vec::as_slice)
    })?;
    Ok(builder.finish())
}

fn duration(s: Option<u64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7200 => format!("{:.1}m", s as f64 / 60.0),
        Some(s) if s < 172_800 => format!("{:.1}h", s as f64 / 3600.0),
        Some(s) => format!("{:.1}d", s as f64 / 86_400.0),
    }
}

fn stats_cells(s: &Stats) -> String {
    format!(
        "{:>6} {:>8} {:>8} {:>8}",
        s.count,
        duration(s.p50),
        duration(s.p90),
        duration(s.max)
    )
}

fn percent(r: Option<f64>) -> String {
    r.map(|r| format!("{:.0}%", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn print_text(r: &MetricsReport) {
    let o = &r.all.outcomes;
    println!(
        "{} log entries; as of {}{}{}",
        r.log_size,
        airlock_core::format_time(r.as_of),
        r.since
            .map(|s| format!("; since {}", airlock_core::format_time(s)))
            .unwrap_or_default(),
        r.vault
            .as_ref()
            .map(|v| format!("; vault {v}"))
            .unwrap_or_default()
    );
    let outcomes: Vec<String> = o
        .by_name()
        .iter()
        .map(|(name, n)| format!("{n} {name}"))
        .collect();
    println!("Proposals: {} ({})", o.proposals, outcomes.join(", "));
    println!(
        "Decisions: {} approvals, {} rejections; approval rate {}, rejection rate {}, expiry rate {}",
        o.approvals,
        o.rejections,
        percent(o.approval_rate),
        percent(o.rejection_rate),
        percent(o.expiry_rate)
    );
    println!();
    println!(
        "{:<28} {:>6} {:>8} {:>8} {:>8}",
        "From proposal to", "count", "p50", "p90", "max"
    );
    for stage in STAGES {
        if let Some(s) = r.all.latency.stage(stage) {
            println!("{:<28} {}", stage, stats_cells(s));
        }
    }
    if r.vaults.len() > 1 || r.rules.len() > 1 {
        println!();
        println!(
            "{:<28} {:>6} {:>8} {:>8} {:>8}   finalized/proposals",
            "Ready, per vault / rule", "count", "p50", "p90", "max"
        );
        for v in &r.vaults {
            println!(
                "{:<28} {}   {}/{}",
                format!("{} ({})", v.vault, v.chain),
                stats_cells(&v.figures.latency.ready),
                v.figures.outcomes.finalized
                    + v.figures.outcomes.broadcast
                    + v.figures.outcomes.confirmed,
                v.figures.outcomes.proposals
            );
            for rule in r.rules.iter().filter(|x| x.vault == v.vault) {
                println!(
                    "{:<28} {}",
                    format!("  rule {}", rule.rule),
                    stats_cells(&rule.figures.latency.ready)
                );
            }
        }
    }
    if !r.signers.is_empty() {
        println!();
        println!(
            "{:<28} {:>6} {:>8} {:>8} {:>8}   asked  answered  rejected",
            "Signer decisions", "count", "p50", "p90", "max"
        );
        for s in &r.signers {
            println!(
                "{:<28} {}   {:>5}  {:>8}  {:>8}",
                format!("{} ({})", s.name, &s.key[..8]),
                stats_cells(&s.latency),
                s.asked,
                percent(s.response_rate),
                s.rejected
            );
        }
    }
    let d = &r.disputes;
    println!();
    println!(
        "Disputes: {} ({} split decisions, {} re-proposed after a rejection), {} unresolved; time to resolve p50 {}, p90 {}, max {}",
        d.total,
        d.split,
        d.re_proposed,
        d.unresolved,
        duration(d.time_to_resolve.p50),
        duration(d.time_to_resolve.p90),
        duration(d.time_to_resolve.max)
    );
    let c = &r.crossings;
    println!(
        "Air-gap crossings: {} ({} to signers, {} to the coordinator), {} artifacts carried, {} decisions came by transfer{}",
        c.total,
        c.to_signers,
        c.to_coordinator,
        c.artifacts,
        c.decisions_carried,
        c.per_finalized
            .map(|p| format!("; {p:.1} per finalized proposal"))
            .unwrap_or_default()
    );
    let d = &r.drills;
    if d.total > 0 {
        println!(
            "Tabletop drills: {} ({} of {} answers matched the policy, {}); time to answer p50 {}, p90 {}, max {}",
            d.total,
            d.correct,
            d.questions,
            percent(d.correct_rate),
            duration(d.answer.p50),
            duration(d.answer.p90),
            duration(d.answer.max)
        );
    }
}
