//! `/metrics` in Prometheus text: what the service counted since it started (requests by
//! status class, decision uploads, refused connections, upload latency) and what the log says now
//! (proposals by state, log size, how long signers took to decide, and every `airlock metrics`
//! figure as `airlock_process_*`).
//!
//! This module must never block a request on the database: the log-derived figures are computed
//! when `/metrics` is read, on a blocking thread.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::sync::Arc;

use airlock_coordinator::Coordinator;
use airlock_coordinator::metrics::{MetricsOptions, MetricsReport};
use airlock_core::lifecycle::ProposalState;

/// Upper bounds (seconds) of the upload latency histogram.
const UPLOAD_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
/// Upper bounds (seconds) of the proposal-to-decision histogram.
const DECISION_BUCKETS: [f64; 8] = [
    60.0, 300.0, 900.0, 3600.0, 14400.0, 43200.0, 86400.0, 604800.0,
];

/// What a cached process report was computed for: log size, vault, since, minute of its time.
type ProcessKey = (u64, Option<String>, Option<u64>, u64);

#[derive(Default)]
pub struct Metrics {
    /// The newest process report (`airlock metrics`), reused while the log has not grown and
    /// the minute has not changed: the dashboard asks for it and its three charts on every
    /// refresh, and each computation reads the whole log.
    process: std::sync::Mutex<Option<(ProcessKey, Arc<MetricsReport>)>>,
    responses: [AtomicU64; 5],
    decisions_accepted: AtomicU64,
    decisions_refused: AtomicU64,
    connections_refused: AtomicU64,
    upload_buckets: [AtomicU64; UPLOAD_BUCKETS.len()],
    upload_count: AtomicU64,
    upload_micros: AtomicU64,
}

impl Metrics {
    /// The process report for `options` (whose `as_of` is the caller's time), from the cache
    /// when the log has not grown since it was computed in the same minute.
    pub fn process(
        &self,
        c: &Coordinator,
        options: MetricsOptions,
    ) -> airlock_coordinator::Result<Arc<MetricsReport>> {
        let size = c.store().log_size()?;
        let key = |size: u64, o: &MetricsOptions| -> ProcessKey {
            (size, o.vault.clone(), o.since, o.as_of.unwrap_or(0) / 60)
        };
        if let Ok(cached) = self.process.lock()
            && let Some((k, report)) = cached.as_ref()
            && *k == key(size, &options)
        {
            return Ok(Arc::clone(report));
        }
        let wanted = options.clone();
        let report = Arc::new(c.metrics(options, false)?);
        if let Ok(mut cached) = self.process.lock() {
            *cached = Some((key(report.log_size, &wanted), Arc::clone(&report)));
        }
        Ok(report)
    }

    pub fn response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub fn decision(&self, accepted: bool, took: Duration) {
        if accepted {
            self.decisions_accepted.fetch_add(1, Ordering::Relaxed);
        } else {
            self.decisions_refused.fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        for (bound, count) in UPLOAD_BUCKETS.iter().zip(&self.upload_buckets) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.upload_count.fetch_add(1, Ordering::Relaxed);
        self.upload_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// The whole exposition: counters, then the figures read from the log through `c`.
    pub fn render(&self, c: &Coordinator, now: u64) -> airlock_coordinator::Result<String> {
        let mut out = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# HELP airlock_http_responses_total Responses sent, by status class.\n");
        out.push_str("# TYPE airlock_http_responses_total counter\n");
        for (i, n) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "airlock_http_responses_total{{class=\"{}xx\"}} {}",
                i + 1,
                get(n)
            );
        }
        out.push_str("# HELP airlock_connections_refused_total Connections closed at once because the service was at its connection limit.\n");
        out.push_str("# TYPE airlock_connections_refused_total counter\n");
        let _ = writeln!(
            out,
            "airlock_connections_refused_total {}",
            get(&self.connections_refused)
        );
        out.push_str(
            "# HELP airlock_decision_uploads_total Decision uploads answered, by outcome.\n",
        );
        out.push_str("# TYPE airlock_decision_uploads_total counter\n");
        let _ = writeln!(
            out,
            "airlock_decision_uploads_total{{outcome=\"accepted\"}} {}",
            get(&self.decisions_accepted)
        );
        let _ = writeln!(
            out,
            "airlock_decision_uploads_total{{outcome=\"refused\"}} {}",
            get(&self.decisions_refused)
        );
        out.push_str("# HELP airlock_decision_upload_seconds Time from a decision upload's arrival to its committed answer.\n");
        out.push_str("# TYPE airlock_decision_upload_seconds histogram\n");
        for (bound, count) in UPLOAD_BUCKETS.iter().zip(&self.upload_buckets) {
            let _ = writeln!(
                out,
                "airlock_decision_upload_seconds_bucket{{le=\"{bound}\"}} {}",
                get(count)
            );
        }
        let count = get(&self.upload_count);
        let _ = writeln!(
            out,
            "airlock_decision_upload_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "airlock_decision_upload_seconds_sum {}",
            get(&self.upload_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "airlock_decision_upload_seconds_count {count}");

        let (size, states) = c.read(|c| Ok((c.store().log_size()?, c.proposals(None)?)))?;
        out.push_str("# HELP airlock_log_size Records in the transparency log.\n");
        out.push_str("# TYPE airlock_log_size gauge\n");
        let _ = writeln!(out, "airlock_log_size {size}");
        render_proposals(&mut out, &states, now);
        render_sync(&mut out, c, now)?;
        // The process figures `airlock metrics` computes from the log, judged now.
        let options = MetricsOptions {
            as_of: Some(now),
            ..Default::default()
        };
        out.push_str(&airlock_coordinator::metrics::prometheus(
            &*self.process(c, options)?,
        ));
        Ok(out)
    }
}

/// Per vault synced here: the chain height of its last sync and how long ago that was (the sync
/// lag an operator alerts on). Vaults never synced, or whose chain is read live, have none.
fn render_sync(out: &mut String, c: &Coordinator, now: u64) -> airlock_coordinator::Result<()> {
    let mut rows = Vec::new();
    for vault in c.vault_ids()? {
        // A vault whose local state cannot be read is left out here; its page says why.
        if let Ok(Some(synced)) = c.vault_synced(&vault) {
            rows.push((vault, synced));
        }
    }
    out.push_str("# HELP airlock_vault_synced_height The chain height of a vault's last sync.\n");
    out.push_str("# TYPE airlock_vault_synced_height gauge\n");
    for (vault, synced) in &rows {
        let _ = writeln!(
            out,
            "airlock_vault_synced_height{{vault=\"{}\"}} {}",
            escape(vault),
            synced["height"].as_u64().unwrap_or(0)
        );
    }
    out.push_str("# HELP airlock_vault_sync_age_seconds Seconds since a vault's last sync.\n");
    out.push_str("# TYPE airlock_vault_sync_age_seconds gauge\n");
    for (vault, synced) in &rows {
        if let Some(at) = synced["synced_at"].as_u64() {
            let _ = writeln!(
                out,
                "airlock_vault_sync_age_seconds{{vault=\"{}\"}} {}",
                escape(vault),
                now.saturating_sub(at)
            );
        }
    }
    Ok(())
}

fn render_proposals(out: &mut String, states: &[ProposalState], now: u64) {
    out.push_str("# HELP airlock_proposals Proposals, by vault and state.\n");
    out.push_str("# TYPE airlock_proposals gauge\n");
    let mut by_state = std::collections::BTreeMap::<(String, &str), u64>::new();
    for s in states {
        *by_state
            .entry((s.vault.vault_id.clone(), s.status(now).as_str()))
            .or_default() += 1;
    }
    for ((vault, state), n) in &by_state {
        let _ = writeln!(
            out,
            "airlock_proposals{{vault=\"{}\",state=\"{state}\"}} {n}",
            escape(vault)
        );
    }
    out.push_str("# HELP airlock_decision_latency_seconds Time from a proposal's creation to each signer's decision, from the log.\n");
    out.push_str("# TYPE airlock_decision_latency_seconds histogram\n");
    let mut buckets = [0u64; DECISION_BUCKETS.len()];
    let (mut count, mut sum) = (0u64, 0u64);
    for s in states {
        for d in &s.decisions {
            let took = d.approval.signed_at.saturating_sub(s.proposal.created);
            for (bound, n) in DECISION_BUCKETS.iter().zip(buckets.iter_mut()) {
                if took as f64 <= *bound {
                    *n += 1;
                }
            }
            count += 1;
            sum += took;
        }
    }
    for (bound, n) in DECISION_BUCKETS.iter().zip(buckets) {
        let _ = writeln!(
            out,
            "airlock_decision_latency_seconds_bucket{{le=\"{bound}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "airlock_decision_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(out, "airlock_decision_latency_seconds_sum {sum}");
    let _ = writeln!(out, "airlock_decision_latency_seconds_count {count}");
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
