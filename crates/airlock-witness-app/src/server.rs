//! The witness over HTTP: C2SP tlog-witness `POST <prefix>/add-checkpoint`, plus `GET
//! <prefix>/logs` (what the witness trusts and last cosigned, JSON) and `GET /healthz`.
//!
//! Status codes are the protocol's: 200 with cosignature lines, 400 for a malformed body or an
//! old size above the checkpoint's, 403 when no signature by the log's trusted key verifies, 404
//! for an unknown log, 409 (`text/x.tlog.size`: the latest cosigned size) when the old size is not
//! the latest or a same-size checkpoint has another root, 422 for a consistency proof that does
//! not verify; 413 for a body over the bound, 408 for a request that takes over 30 s. Each
//! request's check-and-update runs on a blocking thread in one database transaction
//! ([`WitnessHome::add_checkpoint`]). Connections are served as the service serves them
//! (`airlock_service::accept_connections`): at most [`MAX_CONNECTIONS`] at once, and a client that
//! does not send its headers within the header timeout is cut off.
//!
//! This module must never answer 200 before the transaction committed, and never run database
//! work on the async threads.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use airlock_log::witness::{MAX_REQUEST_BYTES, SIZE_MEDIA_TYPE};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::{Refusal, WitnessError, WitnessHome};

/// Longest a request may take, body included.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Most connections open at once; further ones are closed at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Longest a graceful stop waits for requests in flight.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Where and how the witness listens.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// The submission prefix, e.g. `""` (then `/add-checkpoint`) or `/witness`.
    pub prefix: String,
    /// The clock (Unix seconds) cosignatures are timestamped with.
    pub clock: fn() -> u64,
    /// Poll the witness's own chain nodes this often ([`WitnessHome::watch_chains`]).
    pub watch_every: Option<std::time::Duration>,
    /// Longest a client may take to send a request's headers.
    pub header_timeout: std::time::Duration,
}

struct Shared {
    home: WitnessHome,
    /// One connection, one request at a time in this process (other processes on the same
    /// home are kept in order by SQLite's write lock).
    conn: Mutex<rusqlite::Connection>,
    clock: fn() -> u64,
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn answer(outcome: Result<crate::Cosigned, WitnessError>) -> Response {
    const PLAIN: &str = "text/plain; charset=utf-8";
    match outcome {
        Ok(c) => text(StatusCode::OK, PLAIN, c.cosignatures),
        Err(WitnessError::Refused(r)) => {
            let status = match &r {
                Refusal::Malformed(_) | Refusal::OldAfterNew { .. } => StatusCode::BAD_REQUEST,
                Refusal::UnknownLog(_) => StatusCode::NOT_FOUND,
                Refusal::NotSigned { .. } => StatusCode::FORBIDDEN,
                Refusal::BadProof { .. } | Refusal::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                Refusal::Unverifiable(_) => StatusCode::SERVICE_UNAVAILABLE,
                Refusal::Conflict { latest, why } => {
                    tracing::warn!(%why, "add-checkpoint conflict");
                    return text(StatusCode::CONFLICT, SIZE_MEDIA_TYPE, format!("{latest}\n"));
                }
            };
            text(status, PLAIN, format!("{r}\n"))
        }
        Err(e) => {
            tracing::error!(error = %e, "add-checkpoint failed");
            let status = match airlock_severity::Classify::severity(&e) {
                airlock_severity::Severity::Busy => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            text(status, PLAIN, format!("{e}\n"))
        }
    }
}

async fn add_checkpoint(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let outcome = tokio::task::spawn_blocking(move || {
        let mut conn = shared.conn.lock().unwrap_or_else(|p| p.into_inner());
        shared
            .home
            .add_checkpoint(&mut conn, &body, (shared.clock)())
    })
    .await
    .unwrap_or_else(|e| Err(WitnessError::Setup(format!("the request failed: {e}"))));
    if let Ok(c) = &outcome {
        tracing::info!(origin = %c.origin, size = c.size, "cosigned");
    }
    answer(outcome)
}

async fn logs(State(shared): State<Arc<Shared>>) -> Response {
    let listed = tokio::task::spawn_blocking(move || shared.home.logs()).await;
    match listed {
        Ok(Ok(logs)) => text(
            StatusCode::OK,
            "application/json",
            serde_json::to_string(&logs).expect("states serialize"),
        ),
        Ok(Err(e)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            format!("{e}\n"),
        ),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            format!("{e}\n"),
        ),
    }
}

/// The witness's routes over `home`.
pub fn router(home: WitnessHome, prefix: &str, clock: fn() -> u64) -> Result<Router, WitnessError> {
    Ok(build(home, prefix, clock)?.0)
}

fn build(
    home: WitnessHome,
    prefix: &str,
    clock: fn() -> u64,
) -> Result<(Router, Arc<Shared>), WitnessError> {
    let conn = home.connect()?;
    let shared = Arc::new(Shared {
        home,
        conn: Mutex::new(conn),
        clock,
    });
    let state = Arc::clone(&shared);
    let prefix = prefix.trim_end_matches('/');
    let router = Router::new()
        .route(&format!("{prefix}/add-checkpoint"), post(add_checkpoint))
        .route(&format!("{prefix}/logs"), get(logs))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        // A client that drips its body is cut off (408) instead of holding a connection.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state);
    Ok((router, shared))
}

/// Polls the chains every `every` until the process stops (inside the runtime).
fn watch_periodically(shared: Arc<Shared>, every: std::time::Duration) {
    tokio::spawn(async move {
        loop {
            let polled = {
                let shared = Arc::clone(&shared);
                tokio::task::spawn_blocking(move || shared.home.watch_chains((shared.clock)()))
                    .await
            };
            match polled {
                Ok(Ok(p)) if p.halts > 0 => tracing::warn!(halts = p.halts, "chain watch halted"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "chain watch failed"),
                Err(e) => tracing::warn!(error = %e, "chain watch failed"),
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// Serves until SIGTERM or Ctrl-C (requests in flight finish); `ready` hears the bound address.
pub fn run(
    home: WitnessHome,
    config: ServeConfig,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), WitnessError> {
    let (app, shared) = build(home, &config.prefix, config.clock)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("airlock-witness")
        .build()
        .map_err(|e| WitnessError::Setup(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| WitnessError::Setup(format!("cannot listen on {}: {e}", config.listen)))?;
        let local = listener
            .local_addr()
            .map_err(|e| WitnessError::Setup(format!("cannot read the bound address: {e}")))?;
        ready(local);
        if let Some(every) = config.watch_every {
            watch_periodically(shared, every);
        }
        let graceful = airlock_service::accept_connections(
            listener,
            None,
            app,
            config.header_timeout,
            MAX_CONNECTIONS,
            || {},
            airlock_service::shutdown_signal(),
        )
        .await;
        // Requests in flight finish (each is one transaction), within a bound.
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
        Ok(())
    })
}
