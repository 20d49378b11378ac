//! The HTTP surface: `/api/v1` (vaults, proposals, bundles, decisions, artifacts), the log as
//! C2SP tiles under `/log`, `/healthz`, `/metrics` and `/openapi.json`.
//!
//! Every write here is a self-authenticating artifact (a decision signed by its signer, a vault
//! version signed by its signers) handed to one coordinator transition; the artifact's own
//! signatures decide, not who sent it. Every error is a problem document.
//!
//! This module must never run coordinator work on the async threads (it goes to blocking
//! threads), never read a request body past the limit, and never serve a tile beyond the tree.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_cli_support::inspect::envelope_json;
use airlock_coordinator::{Coordinator, CoordinatorError};
use airlock_core::{Approval, ArtifactId, ArtifactKind, Envelope, EventKind};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::request_id::{MakeRequestId, RequestId};

use airlock_coordinator::members::Role;

use crate::Limits;
use crate::metrics::Metrics;
use crate::pool::{Pool, now};
use crate::problem::Problem;
use crate::tiles;

/// The media type of an Airlock artifact in its binary encoding.
pub const ARTIFACT_MEDIA_TYPE: &str = "application/vnd.airlock.artifact";
/// Most artifacts in one JSON batch upload.
const MAX_BATCH: usize = 1000;
/// Most tiles kept in memory (a full hash tile is 8 KiB).
const TILE_CACHE: usize = 4096;
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const OPENAPI: &str = include_str!("openapi.json");

#[derive(Clone)]
pub struct AppState {
    pub pool: Arc<Pool>,
    pub metrics: Arc<Metrics>,
    tiles: Arc<Mutex<HashMap<String, Bytes>>>,
    identity: Arc<Value>,
    limits: Arc<Limits>,
    limiter: Arc<RateLimiter>,
    /// Set when the service stops: event streams end so connections can close.
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// The log's size, polled once for every open event stream together.
    log_size: Arc<tokio::sync::watch::Sender<u64>>,
    /// The newest checkpoint note with the witnesses' cosignatures (size, note), served at
    /// `/log/checkpoint` while it is the latest.
    cosigned: Arc<Mutex<Option<(u64, String)>>>,
    tls: bool,
}

impl AppState {
    pub fn open(home: &Path, limits: Limits, tls: bool) -> Result<AppState, CoordinatorError> {
        let pool = Pool::open(home)?;
        let identity = pool.with(|c| {
            Ok(json!({
                "origin": c.origin(),
                "identity": c.public_key().to_hex(),
                "log_key": c.log_verifier().vkey(),
            }))
        })?;
        Ok(AppState {
            pool,
            metrics: Arc::new(Metrics::default()),
            tiles: Arc::new(Mutex::new(HashMap::new())),
            identity: Arc::new(identity),
            limiter: Arc::new(RateLimiter::new(limits.member_rate, limits.member_burst)),
            limits: Arc::new(limits),
            stopping: Arc::new(tokio::sync::watch::channel(false).0),
            log_size: Arc::new(tokio::sync::watch::channel(0).0),
            cosigned: Arc::new(Mutex::new(None)),
            tls,
        })
    }

    /// Watches the log's size for the event streams: one query per interval, made only while
    /// a stream is open (call once, inside the runtime).
    pub fn watch_log(&self) {
        let state = self.clone();
        tokio::spawn(async move {
            let mut stopping = state.stopping.subscribe();
            while !*stopping.borrow() {
                if state.log_size.receiver_count() > 0
                    && let Ok(size) =
                        blocking(&state, |pool| pool.with(|c| Ok(c.store().log_size()?))).await
                {
                    state.log_size.send_if_modified(|current| {
                        let changed = *current != size;
                        *current = size;
                        changed
                    });
                }
                tokio::select! {
                    _ = tokio::time::sleep(crate::dashboard::EVENT_POLL) => {}
                    _ = stopping.changed() => {}
                }
            }
        });
    }

    /// Ends the event streams (called when the service stops accepting connections).
    pub fn stop_streams(&self) {
        self.stopping.send_replace(true);
    }

    pub fn shutdown(&self) {
        self.pool.close();
    }
}

/// Runs coordinator work on a blocking thread.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Pool) -> Result<T, CoordinatorError> + Send + 'static,
) -> Result<T, Problem> {
    let pool = Arc::clone(&state.pool);
    tokio::task::spawn_blocking(move || f(&pool))
        .await
        .map_err(|e| Problem::internal(format!("the request's worker failed: {e}")))?
        .map_err(Problem::from)
}

/// Request ids: a process-wide counter, sent back as `x-request-id` and put on every log line.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:x}-{n}", std::process::id()))
            .ok()
            .map(RequestId::new)
    }
}

pub fn router(state: AppState) -> Router {
    use tower_http::ServiceBuilderExt;
    let limits = Arc::clone(&state.limits);
    let api = Router::new()
        .route("/", get(dashboard_page))
        .route("/assets/app.js", get(dashboard_js))
        .route("/assets/app.css", get(dashboard_css))
        .route("/api/v1/events", get(events))
        .route("/api/v1/log/entries", get(log_entries))
        .route("/api/v1/proposals/{id}/qr.gif", get(proposal_qr))
        .route("/api/v1/session", get(session_info).delete(sign_out))
        .route("/api/v1/session/challenge", post(new_challenge))
        .route("/api/v1/session/challenge/{code}", get(poll_challenge))
        .route("/api/v1/session/sign", post(sign_challenge))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/api/v1/identity", get(identity))
        .route("/api/v1/vaults", get(vaults).post(submit_vault))
        .route("/api/v1/vaults/{vault}", get(vault))
        .route("/api/v1/vaults/{vault}/sync", post(sync_vault))
        .route("/api/v1/proposals", get(proposals).post(propose))
        .route("/api/v1/proposals/{id}", get(proposal))
        .route("/api/v1/proposals/{id}/{action}", post(proposal_action))
        .route("/api/v1/members", get(members))
        .route("/api/v1/halts", get(halts).post(record_halt))
        .route("/api/v1/witnesses", get(witnesses))
        .route("/api/v1/metrics", get(process_metrics))
        .route("/api/v1/metrics/charts/{name}", get(metrics_chart))
        .route("/api/v1/transfers", get(transfers).post(upload_transfer))
        .route("/api/v1/proposals/{id}/bundle", get(bundle))
        .route("/api/v1/decisions", post(decisions))
        .route("/api/v1/artifacts/{id}", get(artifact))
        .route("/api/v1/log/artifacts", get(log_artifacts))
        .route("/log/checkpoint", get(checkpoint))
        .route("/log/tile/{*path}", get(tile))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_responses,
        ))
        .with_state(state);
    let layers = tower::ServiceBuilder::new()
        .set_x_request_id(Counter::default())
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |request: &axum::http::Request<_>| {
                    let id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", id, method = %request.method(), path = %request.uri().path())
                },
            ),
        )
        .propagate_x_request_id()
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ));
    api.layer(layers)
}

async fn count_responses(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    state.metrics.response(response.status().as_u16());
    response
}

async fn not_found() -> Problem {
    Problem::not_found("no such resource (the API is under /api/v1; see /openapi.json)")
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this resource does not take that method (see /openapi.json)",
    )
}

async fn health(State(state): State<AppState>) -> Result<Response, Problem> {
    let size = blocking(&state, |pool| pool.with(|c| Ok(c.store().log_size()?))).await?;
    let now = now().map_err(Problem::from)?;
    Ok(axum::Json(json!({ "status": "ok", "log_size": size, "now": now })).into_response())
}

async fn metrics(State(state): State<AppState>) -> Result<Response, Problem> {
    let metrics = Arc::clone(&state.metrics);
    let now = now().map_err(Problem::from)?;
    let text = blocking(&state, move |pool| pool.with(|c| metrics.render(c, now))).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}

async fn identity(State(state): State<AppState>) -> Response {
    axum::Json(state.identity.as_ref().clone()).into_response()
}

async fn vaults(State(state): State<AppState>) -> Result<Response, Problem> {
    let rows = blocking(&state, |pool| {
        pool.with(|c| {
            c.read(|c| {
                let mut rows = Vec::new();
                for id in c.vault_ids()? {
                    let (def, env) = c.vault_latest(&id)?;
                    rows.push(airlock_coordinator::report::vault_row(&def, &env));
                }
                Ok(rows)
            })
        })
    })
    .await?;
    Ok(axum::Json(json!(rows)).into_response())
}

#[derive(Deserialize)]
struct MetricsQuery {
    vault: Option<String>,
    since: Option<u64>,
}

impl MetricsQuery {
    fn options(self) -> Result<airlock_coordinator::metrics::MetricsOptions, Problem> {
        Ok(airlock_coordinator::metrics::MetricsOptions {
            vault: self.vault,
            since: self.since,
            as_of: Some(now().map_err(Problem::from)?),
        })
    }
}

/// The process metrics of the log (`airlock metrics --quick`: the service's own database, its
/// integrity checked against the newest signed checkpoint), judged at the service's time.
async fn process_metrics(
    State(state): State<AppState>,
    Q(q): Q<MetricsQuery>,
) -> Result<Response, Problem> {
    let options = q.options()?;
    let report = blocking(&state, move |pool| pool.with(|c| c.metrics(options, false))).await?;
    Ok(axum::Json(report).into_response())
}

/// One chart of the process metrics, as SVG.
async fn metrics_chart(
    State(state): State<AppState>,
    P(name): P<String>,
    Q(q): Q<MetricsQuery>,
) -> Result<Response, Problem> {
    use airlock_coordinator::metrics_chart::{CHART_NAMES, charts};
    if !CHART_NAMES.contains(&name.as_str()) {
        return Err(Problem::not_found(format!(
            "no chart {name:?} (there are {})",
            CHART_NAMES.join(", ")
        )));
    }
    let options = q.options()?;
    let metrics = Arc::clone(&state.metrics);
    let svg = blocking(&state, move |pool| {
        pool.with(|c| {
            let report = metrics.process(c, options)?;
            Ok(charts(&report)?
                .into_iter()
                .find(|(n, _)| *n == name)
                .map(|(_, svg)| svg)
                .unwrap_or_default())
        })
    })
    .await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        svg,
    )
        .into_response())
}

#[derive(Deserialize)]
struct VersionQuery {
    version: Option<u64>,
}

async fn vault(
    State(state): State<AppState>,
    P(vault): P<String>,
    Q(q): Q<VersionQuery>,
) -> Result<Response, Problem> {
    let body = blocking(&state, move |pool| {
        pool.with(|c| {
            c.read(|c| {
                let (def, env) = match q.version {
                    Some(v) => c.vault_version(&vault, v)?,
                    None => c.vault_latest(&vault)?,
                };
                let history = c
                    .vault_history(&vault)?
                    .iter()
                    .map(|(d, e)| json!({ "version": d.version, "id": e.id().to_hex(), "created": d.created }))
                    .collect::<Vec<_>>();
                Ok(json!({
                    "vault": def.vault_id,
                    "version": def.version,
                    "id": env.id().to_hex(),
                    "definition": envelope_json(&env, &c.known_keys()),
                    "versions": history,
                    // The home's last sync (local state; null when never synced or read live).
                    "synced": c.vault_synced(&def.vault_id)?,
                    // The newest state commitment in the log (null before the first).
                    "state": c.latest_commitment(&def.vault_id)?.map(|(id, s)| json!({
                        "id": id.to_hex(), "height": s.height, "block": s.block,
                        "root": hex::encode(s.root), "leaves": s.leaves.len(),
                        "created": s.created,
                    })),
                }))
            })
        })
    })
    .await?;
    Ok(axum::Json(body).into_response())
}

/// Syncs a vault's chain state from the home's node now (an operator of the vault, signed):
/// what `airlock btc sync` / `airlock xmr sync` / `airlock eth sync` do, which the home's lock
/// keeps out while the service runs. The state is committed to the log when it changed; the
/// answer is the vault's `synced` state after it, with the `commitment`.
async fn sync_vault(
    State(state): State<AppState>,
    P(vault): P<String>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|r| body_problem(r, state.limits.max_body))?;
    let key = authenticate(&state, &method, &uri, &headers, &body).await?;
    if !body.is_empty() {
        // The vault is in the path: nothing else may be asked for.
        let _: SyncRequest = json_body(&headers, &body)?;
    }
    let answer = blocking(&state, move |pool| {
        let member = pool.with(|c| authorize(c, &key, Role::Operator, &vault))?;
        let synced = pool.sync_vault(&vault)?;
        tracing::info!(vault = %vault, member = %member.name, "vault synced");
        Ok(json!({ "vault": vault, "synced": synced, "by": member.name }))
    })
    .await?;
    Ok(axum::Json(answer).into_response())
}

/// Asks the home's witnesses to cosign the newest checkpoint every `every` (when it moved),
/// until the service stops: verifying witnesses replay the new entries within one round (so
/// their anomaly rules and halts act without waiting for a bundle export), and
/// `/log/checkpoint` serves the cosigned note. A split view is logged as an alarm and the
/// checkpoint is served without that witness's cosignature (call once, inside the runtime).
pub fn witness_periodically(state: &AppState, every: Duration) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut stopping = state.stopping.subscribe();
        while !*stopping.borrow() {
            let cosigned = Arc::clone(&state.cosigned);
            let round = blocking(&state, move |pool| {
                let home = pool.home().to_path_buf();
                pool.with(|c| {
                    let (size, note) = c.latest_checkpoint()?;
                    let witnesses = crate::witnesses::load(&home)?;
                    let (note, outcomes) = crate::witnesses::cosign(c, &home, &witnesses, size, &note)?;
                    for o in &outcomes {
                        if o.split_view {
                            tracing::error!(witness = %o.witness, error = ?o.error, "SPLIT VIEW reported by a witness");
                        } else if let Some(e) = &o.error {
                            tracing::warn!(witness = %o.witness, error = %e, "no cosignature");
                        }
                    }
                    *cosigned.lock().unwrap_or_else(|p| p.into_inner()) = Some((size, note));
                    Ok(())
                })
            })
            .await;
            if let Err(e) = round {
                tracing::warn!(error = %e.detail, "periodic cosigning failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopping.changed() => {}
            }
        }
    });
}

/// A sync request's body, when there is one: an empty JSON object.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncRequest {}

/// Syncs (and commits the state of) every vault with chain state, every `every`, until the service stops;
/// a failure is logged and retried at the next round (call once, inside the runtime).
pub fn sync_periodically(state: &AppState, every: Duration) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut stopping = state.stopping.subscribe();
        while !*stopping.borrow() {
            let round = blocking(&state, |pool| {
                let vaults = pool.with(|c| {
                    let mut out = Vec::new();
                    for id in c.vault_ids()? {
                        let (def, _) = c.vault_latest(&id)?;
                        if airlock_coordinator::chains::commits_state(&def) {
                            out.push(id);
                        }
                    }
                    Ok(out)
                })?;
                for vault in vaults {
                    match pool.sync_vault(&vault) {
                        Ok(synced) => tracing::info!(vault = %vault, height = %synced["height"], "vault synced"),
                        Err(e) => tracing::warn!(vault = %vault, error = %e, "vault sync failed"),
                    }
                }
                Ok(())
            })
            .await;
            if let Err(e) = round {
                tracing::warn!(error = %e.detail, "periodic sync could not list the vaults");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopping.changed() => {}
            }
        }
    });
}

#[derive(Deserialize)]
struct VaultQuery {
    vault: Option<String>,
}

async fn proposals(
    State(state): State<AppState>,
    Q(q): Q<VaultQuery>,
) -> Result<Response, Problem> {
    let now = now().map_err(Problem::from)?;
    let rows = blocking(&state, move |pool| {
        pool.with(|c| {
            Ok(c.proposals(q.vault.as_deref())?
                .iter()
                .map(|s| airlock_coordinator::report::proposal_json(s, now))
                .collect::<Vec<_>>())
        })
    })
    .await?;
    Ok(axum::Json(json!(rows)).into_response())
}

async fn proposal(State(state): State<AppState>, P(id): P<String>) -> Result<Response, Problem> {
    let now = now().map_err(Problem::from)?;
    let body = blocking(&state, move |pool| {
        pool.with(|c| {
            let id = resolve_kind(c, &id, ArtifactKind::Proposal)?;
            Ok(airlock_coordinator::report::proposal_json(
                &c.proposal_state(&id)?,
                now,
            ))
        })
    })
    .await?;
    Ok(axum::Json(body).into_response())
}

/// Resolves an id or prefix, refusing one that names an artifact of another kind.
fn resolve_kind(
    c: &Coordinator,
    id_or_prefix: &str,
    kind: ArtifactKind,
) -> Result<ArtifactId, CoordinatorError> {
    let id = c.resolve(id_or_prefix)?;
    let stored = c
        .store()
        .artifact(&id)?
        .ok_or_else(|| CoordinatorError::NotFound(format!("no {} {}", kind.name(), id.short())))?;
    if stored.kind != kind.name() {
        return Err(CoordinatorError::NotFound(format!(
            "{} is a {}, not a {}",
            id.short(),
            stored.kind,
            kind.name()
        )));
    }
    Ok(id)
}

#[derive(Deserialize)]
struct BundleQuery {
    /// `armor=true`: ASCII armor instead of the binary encoding.
    #[serde(default)]
    armor: bool,
}

async fn bundle(
    State(state): State<AppState>,
    P(id): P<String>,
    Q(q): Q<BundleQuery>,
) -> Result<Response, Problem> {
    let env = blocking(&state, move |pool| export_witnessed(pool, &id)).await?;
    Ok(artifact_response(&env, q.armor, "no-store"))
}

/// A proposal's bundle with the home's witnesses' cosignatures on its checkpoint. Not behind
/// the write gate: the bundle's own transaction is short, and the witnesses are asked outside it
/// (a slow witness must not hold up this process's other writes).
fn export_witnessed(pool: &Pool, id: &str) -> Result<Envelope, CoordinatorError> {
    let home = pool.home().to_path_buf();
    pool.with(|c| {
        let id = resolve_kind(c, id, ArtifactKind::Proposal)?;
        let (env, outcomes) = crate::witnesses::export_bundle(c, &home, &id, &[])?;
        for o in outcomes.iter().filter(|o| o.error.is_some()) {
            tracing::warn!(witness = %o.witness, error = ?o.error, "no cosignature");
        }
        Ok(env)
    })
}

fn artifact_response(env: &Envelope, armor: bool, cache: &'static str) -> Response {
    let name = env.kind().map(|k| k.name()).unwrap_or("artifact");
    let disposition = format!(
        "attachment; filename=\"{name}-{}.airlock{}\"",
        env.id().short(),
        if armor { ".asc" } else { "" }
    );
    let (media, body) = if armor {
        (
            "text/plain; charset=utf-8",
            airlock_transport::armor(&name.to_ascii_uppercase(), &env.to_bytes()).into_bytes(),
        )
    } else {
        (ARTIFACT_MEDIA_TYPE, env.to_bytes())
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

async fn artifact(State(state): State<AppState>, P(id): P<String>) -> Result<Response, Problem> {
    let id = ArtifactId::from_hex(&id)
        .map_err(|e| Problem::bad_request(format!("artifact ids are 64 hex digits: {e}")))?;
    let bytes = blocking(&state, move |pool| {
        pool.with(|c| {
            c.store()
                .artifact(&id)?
                .map(|a| a.bytes)
                .ok_or_else(|| CoordinatorError::NotFound(format!("no artifact {}", id.short())))
        })
    })
    .await?;
    // Content-addressed: the bytes of an id never change.
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(ARTIFACT_MEDIA_TYPE),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeQuery {
    start: u64,
    count: u64,
}

/// The artifacts the log's leaves `start .. start + count` name (at most one tile's width), in
/// leaf order, as a C2SP entry bundle (each a big-endian u16 length and the bytes); an artifact
/// over 65,535 bytes is sent empty, for the reader to fetch by id. What a verifying witness
/// fetches instead of one request per entry; immutable, as the log only grows.
async fn log_artifacts(
    State(state): State<AppState>,
    Q(q): Q<RangeQuery>,
) -> Result<Response, Problem> {
    let width = airlock_log::tiles::TILE_WIDTH;
    if !(1..=width).contains(&q.count) {
        return Err(Problem::bad_request(format!(
            "count {}: give 1 to {width}",
            q.count
        )));
    }
    let bundle = blocking(&state, move |pool| {
        pool.with(|c| {
            c.read(|c| {
                let size = c.store().log_size()?;
                let end = q
                    .start
                    .checked_add(q.count)
                    .filter(|end| *end <= size)
                    .ok_or_else(|| {
                        CoordinatorError::NotFound(format!(
                            "the log holds {size} entries: leaves {} to {} are not all there",
                            q.start,
                            q.start.saturating_add(q.count)
                        ))
                    })?;
                let mut bundle = Vec::new();
                for i in q.start..end {
                    let record = airlock_core::LogRecord::from_bytes(&c.store().leaf(i)?)?;
                    let bytes = c
                        .store()
                        .artifact(&record.artifact)?
                        .map(|a| a.bytes)
                        .unwrap_or_default();
                    if airlock_log::tiles::push_entry(&mut bundle, &bytes).is_none() {
                        airlock_log::tiles::push_entry(&mut bundle, &[]).expect("empty fits");
                    }
                }
                Ok(bundle)
            })
        })
    })
    .await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
        ],
        bundle,
    )
        .into_response())
}

/// Decodes the artifacts of an upload: one binary artifact, one ASCII-armored artifact, or a
/// JSON batch `{"artifacts": ["<base64>", …]}`. Every signature each carries must verify.
fn decode_upload(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Envelope>, Problem> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .ok_or_else(|| {
            Problem::unsupported_media(format!(
                "give a Content-Type: {ARTIFACT_MEDIA_TYPE} (binary), text/plain (armored) or application/json (a batch)"
            ))
        })?;
    let raw: Vec<Vec<u8>> = match media.as_str() {
        ARTIFACT_MEDIA_TYPE | "application/octet-stream" => vec![body.to_vec()],
        "text/plain" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| Problem::bad_request("armored text is not UTF-8"))?;
            vec![
                airlock_transport::dearmor(text)
                    .map_err(|e| Problem::bad_request(format!("armored artifact: {e}")))?
                    .1,
            ]
        }
        "application/json" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Batch {
                artifacts: Vec<String>,
            }
            let batch: Batch = serde_json::from_slice(body).map_err(|e| {
                Problem::bad_request(format!(
                    "expected {{\"artifacts\": [\"<base64>\", …]}}: {e}"
                ))
            })?;
            if batch.artifacts.is_empty() || batch.artifacts.len() > MAX_BATCH {
                return Err(Problem::bad_request(format!(
                    "a batch carries 1 to {MAX_BATCH} artifacts, not {}",
                    batch.artifacts.len()
                )));
            }
            batch
                .artifacts
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .map_err(|e| Problem::bad_request(format!("artifact {i}: not base64: {e}")))
                })
                .collect::<Result<_, _>>()?
        }
        other => {
            return Err(Problem::unsupported_media(format!(
                "{other:?} is not accepted here: give {ARTIFACT_MEDIA_TYPE} (binary), text/plain (armored) or application/json (a batch)"
            )));
        }
    };
    raw.iter()
        .enumerate()
        .map(|(i, bytes)| {
            let env = Envelope::from_bytes(bytes)
                .map_err(|e| Problem::bad_request(format!("artifact {i}: {e}")))?;
            if let Some(bad) = env.check_signatures().into_iter().find(|c| !c.valid) {
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad-signature",
                    "A signature does not verify",
                    format!(
                        "artifact {i}: the signature by key {} does not verify: it was altered or damaged after it was signed",
                        bad.key
                    ),
                ));
            }
            Ok(env)
        })
        .collect()
}

fn body_problem(rejection: BytesRejection, max_body: usize) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "The request body is too large",
            format!("bodies are limited to {max_body} bytes"),
        )
    } else {
        Problem::bad_request(format!("cannot read the request body: {rejection}"))
    }
}

async fn decisions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let started = Instant::now();
    let body = body.map_err(|r| body_problem(r, state.limits.max_body))?;
    let envelopes = decode_upload(&headers, &body)?;
    let mut opened = Vec::with_capacity(envelopes.len());
    for (i, env) in envelopes.iter().enumerate() {
        if !matches!(env.kind(), Some(ArtifactKind::Approval)) {
            return Err(Problem::bad_request(format!(
                "artifact {i} is a {}, not an approval or rejection",
                env.kind().map(|k| k.name()).unwrap_or("unknown kind")
            )));
        }
        let approval: Approval = env
            .open()
            .map_err(|e| Problem::bad_request(format!("artifact {i}: {e}")))?;
        opened.push(approval);
    }
    // One decision at a time through the group-commit writer; a batch upload is one transaction.
    let outcomes = if envelopes.len() == 1 {
        let env = envelopes.into_iter().next().expect("one");
        let outcome = state.pool.submit_decision(env).await;
        state.metrics.decision(outcome.is_ok(), started.elapsed());
        vec![outcome.map_err(|e| {
            if e.to_string() == crate::pool::SHUTTING_DOWN {
                Problem {
                    retry_after: Some(5),
                    ..Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "The service cannot take decisions now",
                        e.to_string(),
                    )
                }
            } else {
                Problem::from(e)
            }
        })?]
    } else {
        let outcome = blocking(&state, move |pool| {
            pool.write(|c| c.submit_decisions(&envelopes, now()?))
        })
        .await;
        state.metrics.decision(outcome.is_ok(), started.elapsed());
        outcome?
    };
    let rows: Vec<Value> = opened
        .iter()
        .zip(outcomes)
        .map(|(a, (id, status))| {
            json!({ "id": id.to_hex(), "proposal": a.proposal.to_hex(), "decision": a.decision.as_str(), "status": status.as_str() })
        })
        .collect();
    let mut response = (StatusCode::CREATED, axum::Json(json!(rows))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn submit_vault(
    State(state): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|r| body_problem(r, state.limits.max_body))?;
    let copies = decode_upload(&headers, &body)?;
    let mut vault_id = None;
    for (i, env) in copies.iter().enumerate() {
        let def: airlock_core::VaultDefinition = match env.kind() {
            Some(ArtifactKind::VaultDefinition) => env
                .open()
                .map_err(|e| Problem::bad_request(format!("artifact {i}: {e}")))?,
            _ => {
                return Err(Problem::bad_request(format!(
                    "artifact {i} is not a vault definition"
                )));
            }
        };
        if vault_id.get_or_insert_with(|| def.vault_id.clone()) != &def.vault_id {
            return Err(Problem::bad_request("the copies are of different vaults"));
        }
    }
    let vault_id = vault_id.unwrap_or_default();
    // A new version of a vault is authorized by the previous version's signers (its own
    // signatures); a new vault has no previous version, so it takes an operator of the service.
    let signed = headers.contains_key("signature-input")
        || headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::dashboard::cookie_token)
            .is_some();
    let caller = if signed {
        Some(authenticate(&state, &method, &uri, &headers, &body).await?)
    } else {
        None
    };
    let (def, id) = blocking(&state, move |pool| {
        pool.write_as(
            |c| {
                if !c.vault_ids()?.contains(&vault_id) {
                    let key = caller.ok_or_else(|| {
                        CoordinatorError::Forbidden(format!(
                            "vault {vault_id} does not exist yet: creating a vault takes a signed request by an operator of the service"
                        ))
                    })?;
                    return Ok(authorize(c, &key, Role::Operator, &vault_id)?.name);
                }
                // Anyone may carry a version its signers signed; record the member if known.
                Ok(match caller {
                    Some(key) => c.member_by_key(&key)?.map(|m| m.name).unwrap_or_default(),
                    None => String::new(),
                })
            },
            |c, _| c.submit_vault(&copies, now()?),
        )
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "vault": def.vault_id, "version": def.version, "id": id.to_hex() })),
    )
        .into_response())
}

async fn checkpoint(State(state): State<AppState>) -> Result<Response, Problem> {
    let (size, mut note) = blocking(&state, |pool| pool.with(|c| c.latest_checkpoint())).await?;
    // The witnesses' cosignatures, while the note they cosigned is still the newest.
    if let Some((cosigned_size, cosigned)) = state
        .cosigned
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        && *cosigned_size == size
        && cosigned.starts_with(note.trim_end_matches('\n'))
    {
        note = cosigned.clone();
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        note,
    )
        .into_response())
}

async fn tile(State(state): State<AppState>, P(rest): P<String>) -> Result<Response, Problem> {
    let tile = tiles::parse(&rest)
        .ok_or_else(|| Problem::not_found(format!("tile/{rest} is not a C2SP tile path")))?;
    let key = tiles::path(&tile);
    let cached = state
        .tiles
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .cloned();
    let data = match cached {
        Some(data) => data,
        None => {
            let data = blocking(&state, move |pool| {
                pool.with(|c| {
                    c.read(|c| {
                        let size = c.store().log_size()?;
                        tiles::read(c.store(), &tile, size).map_err(|e| match e {
                            tiles::TileError::Store(e) => CoordinatorError::Store(e),
                            tiles::TileError::Beyond(p) => {
                                CoordinatorError::NotFound(format!("{p} is beyond the log's size"))
                            }
                            e => CoordinatorError::Refused(e.to_string()),
                        })
                    })
                })
            })
            .await?;
            let data = Bytes::from(data);
            let mut cache = state.tiles.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= TILE_CACHE {
                cache.clear();
            }
            cache.insert(key, data.clone());
            data
        }
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
        ],
        data,
    )
        .into_response())
}

/// Checks a signed request (or a dashboard session with its CSRF token) and finds its key; the
/// member and role are checked by the caller once it knows the vault. A signed request's nonce
/// is claimed in the database, so a replay is refused by every process serving it.
async fn authenticate(
    state: &AppState,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<airlock_core::PublicKey, Problem> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = now().map_err(Problem::from)?;
    if header("signature-input").is_none()
        && let Some(token) = header("cookie").and_then(crate::dashboard::cookie_token)
    {
        let key = session_key(state, token, header("x-csrf-token"), now).await?;
        state.limiter.check(&key)?;
        return Ok(key);
    }
    let refused = |e: airlock_transport::httpsig::SignatureError| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "The request is not signed by a member's key",
            e.to_string(),
        )
    };
    let verified = airlock_transport::httpsig::verify_signature(
        method.as_str(),
        uri.path(),
        uri.query().unwrap_or(""),
        body,
        (
            header("content-digest"),
            header("signature-input"),
            header("signature"),
        ),
        now,
    )
    .map_err(refused)?;
    let key = airlock_core::PublicKey(verified.key.to_bytes());
    // Rate-limited before the claim, so a flood of signed requests costs no database writes.
    state.limiter.check(&key)?;
    let nonce = format!("nonce/{}", verified.nonce);
    let until = verified.claim_until;
    let fresh = blocking(state, move |pool| {
        pool.with(|c| Ok(c.store().claim(&nonce, "", until, now)?))
    })
    .await?;
    if !fresh {
        return Err(refused(
            airlock_transport::httpsig::SignatureError::Replayed,
        ));
    }
    Ok(key)
}

/// The member behind `key`, holding `role` on `vault`.
fn authorize(
    c: &Coordinator,
    key: &airlock_core::PublicKey,
    role: Role,
    vault: &str,
) -> Result<airlock_coordinator::members::Member, CoordinatorError> {
    let member = c.member_by_key(key)?.ok_or_else(|| {
        CoordinatorError::Forbidden(format!(
            "key {} is not a member of this service",
            key.to_hex()
        ))
    })?;
    if !member.may(role, vault) {
        return Err(CoordinatorError::Forbidden(format!(
            "member {} is not a {} of vault {vault}",
            member.name,
            role.as_str()
        )));
    }
    Ok(member)
}

fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Problem> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if media.split(';').next().unwrap_or("").trim() != "application/json" {
        return Err(Problem::unsupported_media(format!(
            "{media:?}: this resource takes application/json"
        )));
    }
    serde_json::from_slice(body).map_err(|e| Problem::bad_request(format!("the JSON body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProposeRequest {
    vault: String,
    transfers: Vec<TransferRequest>,
    #[serde(default)]
    memo: String,
    /// Seconds; the rule's expiry when absent.
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferRequest {
    destination: String,
    /// Base units, as a number or a decimal string (amounts beyond 2^53).
    amount: Value,
    #[serde(default)]
    asset: String,
}

async fn propose(
    State(state): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|r| body_problem(r, state.limits.max_body))?;
    let key = authenticate(&state, &method, &uri, &headers, &body).await?;
    let request: ProposeRequest = json_body(&headers, &body)?;
    let mut transfers = Vec::new();
    for (i, t) in request.transfers.into_iter().enumerate() {
        let amount = match &t.amount {
            Value::Number(n) => n.as_u64().map(u128::from),
            Value::String(s) => s.parse::<u128>().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            Problem::bad_request(format!(
                "transfer {i}: amount must be a whole number of base units"
            ))
        })?;
        transfers.push(airlock_core::Transfer {
            destination: t.destination,
            amount,
            asset: t.asset,
        });
    }
    let now = now().map_err(Problem::from)?;
    let answer = blocking(&state, move |pool| {
        let vault = request.vault.clone();
        pool.write_as(
            |c| Ok(authorize(c, &key, Role::Proposer, &vault)?.name),
            |c, member| {
                let id = c.propose(
                    &request.vault,
                    airlock_core::Intent {
                        transfers,
                        memo: request.memo,
                    },
                    request.expires_in,
                    now,
                )?;
                let state = c.proposal_state(&id)?;
                let mut row = airlock_coordinator::report::proposal_json(&state, now);
                row["proposed_by"] = json!(member);
                Ok(row)
            },
        )
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActionRequest {
    /// Why (abandon only).
    reason: Option<String>,
    /// Confirmations needed before a proposal is recorded confirmed (confirm only; 1 when
    /// absent).
    confirmations: Option<u64>,
}

async fn proposal_action(
    State(state): State<AppState>,
    P((id, action)): P<(String, String)>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    if !matches!(
        action.as_str(),
        "finalize" | "broadcast" | "confirm" | "abandon"
    ) {
        return Err(Problem::not_found(format!(
            "no action {action:?}: finalize, broadcast, confirm or abandon"
        )));
    }
    let body = body.map_err(|r| body_problem(r, state.limits.max_body))?;
    let key = authenticate(&state, &method, &uri, &headers, &body).await?;
    let request: ActionRequest = if body.is_empty() {
        ActionRequest::default()
    } else {
        json_body(&headers, &body)?
    };
    if action == "abandon" && request.reason.as_deref().unwrap_or("").trim().is_empty() {
        return Err(Problem::bad_request(
            "abandoning needs a reason: {\"reason\": \"…\"}",
        ));
    }
    let now = now().map_err(Problem::from)?;
    let answer = blocking(&state, move |pool| {
        let id = pool.with(|c| resolve_kind(c, &id, ArtifactKind::Proposal))?;
        pool.write_as(
            |c| {
                let vault = c.proposal_state(&id)?.vault.vault_id;
                Ok(authorize(c, &key, Role::Operator, &vault)?.name)
            },
            |c, member| {
                let detail = match action.as_str() {
                    "finalize" => {
                        let (record, f) = c.finalize(&id, now)?;
                        json!({ "finalized": record.to_hex(), "txid": f.txid })
                    }
                    "broadcast" => json!({ "broadcast": c.broadcast(&id, now)?.detail }),
                    "confirm" => {
                        let required = request.confirmations.unwrap_or(1);
                        let event = c.check_confirmation(&id, now, required)?;
                        let of = |kind: EventKind| {
                            event
                                .as_ref()
                                .filter(|e| e.kind == kind)
                                .map(|e| e.detail.clone())
                        };
                        json!({ "confirmed": of(EventKind::Confirmed), "reorged": of(EventKind::Reorged) })
                    }
                    _ => {
                        let reason = request.reason.unwrap_or_default();
                        json!({ "abandoned": c.abandon(&id, &reason, now)?.detail })
                    }
                };
                let mut row =
                    airlock_coordinator::report::proposal_json(&c.proposal_state(&id)?, now);
                row["action"] = json!(action);
                row["result"] = detail;
                row["by"] = json!(member);
                Ok(row)
            },
        )
    })
    .await?;
    Ok(axum::Json(answer).into_response())
}

/// Every transfer in the log (both directions), oldest first.
async fn transfers(State(state): State<AppState>) -> Result<Response, Problem> {
    let records = blocking(&state, |pool| pool.with(|c| c.transfers())).await?;
    Ok(axum::Json(transfers_json(&records)).into_response())
}

/// Transfer records as `GET /api/v1/transfers` and `airlock transfer log --json` print them.
pub fn transfers_json(records: &[airlock_coordinator::transfer::TransferRecord]) -> Value {
    json!(
        records
            .iter()
            .map(|t| airlock_cli_support::inspect::transfer_record_json(
                t.direction.as_str(),
                t.at,
                t.log_index,
                &t.manifest_id,
                &t.manifest,
            ))
            .collect::<Vec<_>>()
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferUpload {
    /// The signed manifest (`manifest.airlock`), base64.
    manifest: String,
    files: Vec<TransferFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferFile {
    name: String,
    /// Base64.
    data: String,
}

/// A signer's transfer (what `airlock transfer in DIR` imports), uploaded as JSON: the manifest
/// is signed by the sender, so whoever carries it may upload it. Checked and recorded all or
/// nothing, under the home's transfer policy.
async fn upload_transfer(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    use base64::Engine;
    let body = body.map_err(|r| body_problem(r, state.limits.max_body))?;
    let upload: TransferUpload = json_body(&headers, &body)?;
    let decode = |what: &str, data: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| Problem::bad_request(format!("{what}: not base64 ({e})")))
    };
    let manifest = Envelope::from_bytes(&decode("manifest", &upload.manifest)?)
        .map_err(|e| Problem::bad_request(format!("manifest: {e}")))?;
    let mut files = Vec::with_capacity(upload.files.len());
    for f in &upload.files {
        files.push((
            f.name.clone(),
            decode(&format!("file {:?}", f.name), &f.data)?,
        ));
    }
    let imported = blocking(&state, move |pool| {
        let policy = airlock_cli_support::transfer::load_policy(
            pool.home(),
            airlock_core::transfer::DeviceRole::Coordinator,
        )
        .map_err(|e| CoordinatorError::Setup(e.message))?;
        pool.write(|c| {
            let checked = c.check_transfer(&manifest, &files, &policy, now()?)?;
            if !checked.transfer.drafts.is_empty() {
                return Err(CoordinatorError::Refused(
                    "this transfer carries signed vault drafts, which go to the coordinator's inbox: import it with `airlock transfer in` on the service's host".into(),
                ));
            }
            c.commit_transfer(checked)
        })
    })
    .await?;
    let m = &imported.manifest;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "direction": "in",
            "manifest": imported.manifest_id.to_hex(),
            "origin": m.origin_name,
            "origin_key": m.origin_key.to_hex(),
            "sequence": m.sequence,
            "purpose": m.purpose,
            "decisions": imported.decisions.iter().map(|(id, s)| json!({ "id": id.to_hex(), "status": s.as_str() })).collect::<Vec<_>>(),
        })),
    )
        .into_response())
}

/// Every recorded halt and where it stands (`?vault=` for one vault's).
async fn halts(
    State(state): State<AppState>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, Problem> {
    let vault = query.get("vault").cloned();
    let rows = blocking(&state, move |pool| {
        pool.with(|c| c.halts(vault.as_deref(), now()?))
    })
    .await?;
    Ok(axum::Json(json!(rows)).into_response())
}

/// The registered witnesses: what each last answered (the largest size it cosigned, the last
/// error or split view), the vaults whose witness set names it, and the halts it signed.
async fn witnesses(State(state): State<AppState>) -> Result<Response, Problem> {
    let rows = blocking(&state, move |pool| {
        let home = pool.home().to_path_buf();
        pool.with(|c| crate::witnesses::overview(c, &home))
    })
    .await?;
    Ok(axum::Json(json!(rows)).into_response())
}

/// A witness delivers a HALT it signed. The halt authenticates itself (a witness of the vault it
/// names signed it, checked as the log replay checks it); any other is refused (422) and
/// nothing is recorded. Recording one already in the log changes nothing (200).
async fn record_halt(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|r| body_problem(r, state.limits.max_body))?;
    let copies = decode_upload(&headers, &body)?;
    let [env] = copies.as_slice() else {
        return Err(Problem::bad_request("give one halt"));
    };
    if env.kind() != Some(ArtifactKind::Halt) {
        return Err(Problem::bad_request("the artifact is not a halt"));
    }
    let env = env.clone();
    let recorded = blocking(&state, move |pool| {
        pool.write(|c| c.record_halt(&env, now()?))
    })
    .await?;
    if recorded.new {
        tracing::warn!(halt = %recorded.id, vault = %recorded.vault, reason = %recorded.reason, witness = %recorded.witness, "HALT recorded");
    }
    let status = if recorded.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(json!(recorded))).into_response())
}

async fn members(State(state): State<AppState>) -> Result<Response, Problem> {
    let rows = blocking(&state, |pool| {
        pool.with(|c| Ok(c.members()?.iter().map(|m| m.to_json()).collect::<Vec<_>>()))
    })
    .await?;
    Ok(axum::Json(json!(rows)).into_response())
}

fn unauthenticated(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "The request is not signed by a member's key",
        detail,
    )
}

/// A dashboard session's key, if the session is live and the CSRF token matches.
async fn session_key(
    state: &AppState,
    token: &str,
    csrf: Option<&str>,
    now: u64,
) -> Result<airlock_core::PublicKey, Problem> {
    let token = token.to_string();
    let session = blocking(state, move |pool| {
        pool.with(|c| Ok(crate::dashboard::Sessions::session(c.store(), &token, now)?))
    })
    .await?
    .ok_or_else(|| unauthenticated("the session expired or does not exist: sign in again"))?;
    if csrf != Some(session.csrf.as_str()) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "The request lacks the session's CSRF token",
            "session writes must carry the X-CSRF-Token the session was given",
        ));
    }
    Ok(session.key)
}

fn page(body: &'static str, media: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(media)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(crate::dashboard::CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

async fn dashboard_page() -> Response {
    page(crate::dashboard::INDEX_HTML, "text/html; charset=utf-8")
}

async fn dashboard_js() -> Response {
    page(crate::dashboard::APP_JS, "text/javascript; charset=utf-8")
}

async fn dashboard_css() -> Response {
    page(crate::dashboard::APP_CSS, "text/css; charset=utf-8")
}

/// Server-sent events: `log` with the log's size now, then whenever it grows.
async fn events(State(state): State<AppState>) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let event = |size: u64| {
        Ok::<_, std::convert::Infallible>(
            Event::default()
                .event("log")
                .data(json!({ "size": size }).to_string()),
        )
    };
    let sizes = state.log_size.subscribe();
    let stopping = state.stopping.subscribe();
    let stream = futures_util::stream::unfold(
        (state, sizes, stopping, true),
        move |(state, mut sizes, mut stopping, first)| async move {
            if *stopping.borrow() {
                return None;
            }
            if first {
                let size = blocking(&state, |pool| pool.with(|c| Ok(c.store().log_size()?)))
                    .await
                    .ok()?;
                sizes.borrow_and_update();
                return Some((event(size), (state, sizes, stopping, false)));
            }
            tokio::select! {
                changed = sizes.changed() => {
                    changed.ok()?;
                    let size = *sizes.borrow_and_update();
                    Some((event(size), (state, sizes, stopping, false)))
                }
                _ = stopping.changed() => None,
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[derive(Deserialize)]
struct EntriesQuery {
    from: Option<u64>,
    limit: Option<u64>,
}

/// Log records with who made them, newest first by default (`from` = first index).
async fn log_entries(
    State(state): State<AppState>,
    Q(q): Q<EntriesQuery>,
) -> Result<Response, Problem> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_request(format!(
            "limit {limit}: give 1 to 1000 records"
        )));
    }
    let rows = blocking(&state, move |pool| {
        pool.with(|c| {
            c.read(|c| {
                let size = c.store().log_size()?;
                let from = q.from.unwrap_or(size.saturating_sub(limit)).min(size);
                let mut rows = Vec::new();
                for i in from..(from + limit).min(size) {
                    let r = airlock_core::LogRecord::from_bytes(&c.store().leaf(i)?)?;
                    rows.push(json!({ "index": i, "kind": r.kind, "artifact": r.artifact.to_hex(), "vault": r.vault_id, "at": r.at, "by": c.actor_of(i)? }));
                }
                Ok(json!({ "size": size, "entries": rows }))
            })
        })
    })
    .await?;
    Ok(axum::Json(rows).into_response())
}

/// The bundle as an animated QR (BC-UR `bytes`, medium density) a signer's camera reads.
async fn proposal_qr(State(state): State<AppState>, P(id): P<String>) -> Result<Response, Problem> {
    let env = blocking(&state, move |pool| export_witnessed(pool, &id)).await?;
    let gif = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        use airlock_qr::{Content, Density, Encoding};
        let density = Density::Medium;
        let format = Encoding::Ur.format_for(Content::Artifact);
        let frames = airlock_qr::encode(&env.to_bytes(), format, Content::Artifact, density)
            .map_err(|e| e.to_string())?;
        let single = frames.texts.len() == 1;
        let matrices = frames
            .texts
            .iter()
            .map(|t| airlock_qr::render::qr(t, density, single))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let scale = airlock_qr::render::default_scale(&matrices[0]);
        airlock_qr::render::gif(&matrices, scale, 5.0).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| Problem::internal(format!("the QR worker failed: {e}")))?
    .map_err(|e| Problem::internal(format!("cannot draw the QR code: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        gif,
    )
        .into_response())
}

/// A sign-in challenge for the dashboard to show.
async fn new_challenge(State(state): State<AppState>) -> Result<Response, Problem> {
    let now = now().map_err(Problem::from)?;
    // Anyone may ask for a challenge: one bucket for all of them bounds the rows they make.
    state.limiter.check(&airlock_core::PublicKey([0; 32]))?;
    let code = blocking(&state, move |pool| {
        pool.with(|c| Ok(crate::dashboard::Sessions::challenge(c.store(), now)?))
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(json!({
            "challenge": code,
            "expires": now + crate::dashboard::CHALLENGE_LIFETIME,
            "command": format!("airlock --server URL --member-key KEY login {code}"),
        })),
    )
        .into_response())
}

/// The page polls its challenge; once a member signed it, the answer signs the page in.
async fn poll_challenge(
    State(state): State<AppState>,
    P(code): P<String>,
) -> Result<Response, Problem> {
    let now = now().map_err(Problem::from)?;
    let redeemed = blocking(&state, move |pool| {
        pool.with(|c| Ok(crate::dashboard::Sessions::redeem(c.store(), &code, now)?))
    })
    .await?;
    match redeemed {
        Err(e) => Err(Problem::not_found(e)),
        Ok(None) => Ok((
            StatusCode::ACCEPTED,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            axum::Json(json!({ "signed": false })),
        )
            .into_response()),
        Ok(Some((token, session))) => {
            let cookie = format!(
                "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
                crate::dashboard::COOKIE,
                crate::dashboard::SESSION_LIFETIME,
                if state.tls { "; Secure" } else { "" }
            );
            let mut response = axum::Json(json!({
                "signed": true,
                "member": session.member,
                "csrf": session.csrf,
                "expires": session.expires,
            }))
            .into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                headers.insert(header::SET_COOKIE, v);
            }
            Ok(response)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignChallenge {
    challenge: String,
}

/// A member's CLI signs a challenge (`airlock --server URL --member-key K login CODE`).
async fn sign_challenge(
    State(state): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|r| body_problem(r, state.limits.max_body))?;
    if headers.get("signature-input").is_none() {
        return Err(unauthenticated(
            "signing in takes a signed request from the member's CLI, not a session",
        ));
    }
    let key = authenticate(&state, &method, &uri, &headers, &body).await?;
    let request: SignChallenge = json_body(&headers, &body)?;
    let member = blocking(&state, move |pool| {
        pool.with(|c| {
            c.member_by_key(&key)?.ok_or_else(|| {
                CoordinatorError::Forbidden(format!(
                    "key {} is not a member of this service",
                    key.to_hex()
                ))
            })
        })
    })
    .await?;
    let now = now().map_err(Problem::from)?;
    let name = member.name.clone();
    blocking(&state, move |pool| {
        pool.with(|c| {
            Ok(crate::dashboard::Sessions::sign_challenge(
                c.store(),
                &request.challenge,
                &member.name,
                member.key,
                now,
            )?)
        })
    })
    .await?
    .map_err(Problem::not_found)?;
    let member = name;
    Ok(axum::Json(json!({ "signed_in": member })).into_response())
}

/// The signed-in member, with its roles and the CSRF token its writes carry.
async fn session_info(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let now = now().map_err(Problem::from)?;
    let token = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::dashboard::cookie_token)
        .ok_or_else(|| unauthenticated("not signed in"))?
        .to_string();
    let session = blocking(&state, move |pool| {
        pool.with(|c| Ok(crate::dashboard::Sessions::session(c.store(), &token, now)?))
    })
    .await?
    .ok_or_else(|| unauthenticated("not signed in"))?;
    let key = session.key;
    let member = blocking(&state, move |pool| pool.with(|c| c.member_by_key(&key))).await?;
    let Some(member) = member else {
        return Err(unauthenticated("the member was removed: sign in again"));
    };
    let mut body = member.to_json();
    body["csrf"] = json!(session.csrf);
    body["expires"] = json!(session.expires);
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(body),
    )
        .into_response())
}

async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let now = now().map_err(Problem::from)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let token = header("cookie")
        .and_then(crate::dashboard::cookie_token)
        .ok_or_else(|| unauthenticated("not signed in"))?;
    session_key(&state, token, header("x-csrf-token"), now).await?;
    let token = token.to_string();
    blocking(&state, move |pool| {
        pool.with(|c| Ok(crate::dashboard::Sessions::end(c.store(), &token)?))
    })
    .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        crate::dashboard::COOKIE
    )) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// Per-identity rate limits on signed requests and session writes: a token bucket per member
/// key, so one member (or one stolen key) cannot crowd out the others.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<[u8; 32], (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn check(&self, key: &airlock_core::PublicKey) -> Result<(), Problem> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs() < 60);
        }
        let (tokens, at) = buckets.entry(key.0).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens < 1.0 {
            return Err(Problem {
                retry_after: Some(1),
                ..Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "Too many requests from this member",
                    format!(
                        "member key {} made more than {} requests in a burst ({}/s sustained): wait a moment",
                        key.short(),
                        self.burst,
                        self.per_second
                    ),
                )
            });
        }
        *tokens -= 1.0;
        Ok(())
    }
}

/// `Query`, with a problem document for a query string that does not parse.
struct Q<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Q<T> {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Q(t))
            .map_err(|e| Problem::bad_request(format!("the query string: {}", e.body_text())))
    }
}

/// `Path`, with a problem document for path parameters that do not parse.
struct P<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for P<T> {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        UrlPath::<T>::from_request_parts(parts, state)
            .await
            .map(|UrlPath(t)| P(t))
            .map_err(|e| Problem::bad_request(format!("the path: {}", e.body_text())))
    }
}
