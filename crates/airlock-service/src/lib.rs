//! `airlock serve`: the coordinator as one long-running service a team shares over HTTP, and the
//! client side of its published log.
//!
//! The service is a thin shell over `airlock-coordinator`: every request that changes state runs
//! one coordinator transition (its own write transaction, validated inside it), and every
//! artifact it accepts authenticates itself (a decision is signed by its signer, a vault version
//! by its signers), so whoever carries the file may upload it. The log is published as C2SP
//! tlog-tiles ([`tiles`]); [`remote`] verifies such a log from its tiles and artifacts alone.
//!
//! Writes that are not self-authenticating artifacts (propose, finalize, broadcast, confirm,
//! abandon) are HTTP Message Signatures ([`airlock_transport::httpsig`]) by a member's device key, checked against
//! the member's role on the vault, and each appended entry records the member.
//!
//! This module must never accept a state change that is neither a self-authenticating artifact
//! nor a signed request by a member holding the role,
//! never listen beyond loopback in plain HTTP unless told so explicitly, never answer an error
//! with anything but an RFC 9457 problem document, and never keep a request's body beyond its
//! limit.

mod api;
pub mod client;
pub mod dashboard;
mod metrics;
pub mod mirror;
mod pool;
pub mod problem;
pub mod remote;
pub mod tiles;
pub mod witnesses;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use airlock_core::{Classify, Severity};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use api::transfers_json;
pub use client::{ClientError, ServiceClient};
pub use remote::{RemoteError, RemoteOptions, RemoteReport, verify_remote};

/// A failure to start or run the service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Coordinator(#[from] airlock_coordinator::CoordinatorError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl Classify for ServiceError {
    fn severity(&self) -> Severity {
        match self {
            ServiceError::Coordinator(e) => e.severity(),
            ServiceError::Setup(_) | ServiceError::Io { .. } => Severity::Refused,
        }
    }
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServiceError {
    let context = context.into();
    move |source| ServiceError::Io { context, source }
}

/// A certificate chain and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What one client may make the service hold.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body (an artifact is at most 1 MiB; a JSON batch of them a little more).
    pub max_body: usize,
    /// Longest a request may take, body included, before it is answered 408.
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers (slow-drip clients are cut off),
    /// and to finish a TLS handshake.
    pub header_timeout: Duration,
    /// Most connections open at once; further ones are closed at once.
    pub max_connections: usize,
    /// Longest graceful shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Signed requests and session writes per member key per second (0: no limit)…
    pub member_rate: u32,
    /// …and in a burst.
    pub member_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_connections: 2048,
            shutdown_grace: Duration::from_secs(30),
            member_rate: 20,
            member_burst: 100,
        }
    }
}

/// How `airlock serve` runs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The coordinator's home (its SQLite database, identity and settings).
    pub home: PathBuf,
    pub listen: SocketAddr,
    /// Plain HTTP beyond loopback must be asked for explicitly.
    pub allow_remote: bool,
    pub tls: Option<TlsFiles>,
    pub limits: Limits,
    /// Sync every vault whose chain keeps synced state (Bitcoin, Monero) this often, from the
    /// home's configured nodes (None: only when an operator asks, `POST /api/v1/vaults/{id}/sync`).
    pub sync_every: Option<Duration>,
    /// Ask the registered witnesses to cosign the newest checkpoint this often (None: only
    /// when a bundle leaves).
    pub witness_every: Option<Duration>,
}

/// Refuses plain HTTP on a non-loopback address unless `allow_remote`: decisions are
/// self-authenticating, but what people read (pending proposals, the dashboard) must not be
/// served in clear to a network by accident.
pub fn check_listen(config: &ServeConfig) -> Result<(), ServiceError> {
    if config.tls.is_none() && !config.listen.ip().is_loopback() && !config.allow_remote {
        return Err(ServiceError::Setup(format!(
            "refusing to serve plain HTTP on {}: give --tls-cert and --tls-key, listen on loopback \
             (127.0.0.1 or [::1]), or pass --allow-remote to accept that explicitly",
            config.listen
        )));
    }
    Ok(())
}

fn tls_acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, ServiceError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            ServiceError::Setup(format!(
                "{}: not a PEM certificate chain: {e}",
                files.cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(ServiceError::Setup(format!(
            "{}: no certificate in it",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        ServiceError::Setup(format!(
            "{}: not a PEM private key: {e}",
            files.key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| ServiceError::Setup(format!("TLS certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Runs the service until SIGTERM or SIGINT, then shuts down gracefully: it stops accepting,
/// lets requests in flight finish (up to [`Limits::shutdown_grace`]) and returns. `ready` is
/// called with the bound address once the service accepts connections.
pub fn run(config: ServeConfig, ready: impl FnOnce(SocketAddr)) -> Result<(), ServiceError> {
    run_until(config, ready, shutdown_signal())
}

/// [`run`], stopping gracefully when `shutdown` completes instead of on a signal (benchmarks
/// and embedding).
pub fn run_until(
    config: ServeConfig,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServiceError> {
    check_listen(&config)?;
    let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
    let state = api::AppState::open(&config.home, config.limits.clone(), tls.is_some())?;
    // The pool outlives the runtime: its database connections (PostgreSQL's client runs its own
    // runtime) must be closed outside any async context.
    let pool = Arc::clone(&state.pool);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("airlock-serve")
        .build()
        .map_err(io_error("cannot start the async runtime"))?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(io_error(format!("cannot listen on {}", config.listen)))?;
        let local = listener
            .local_addr()
            .map_err(io_error("cannot read the bound address"))?;
        ready(local);
        serve_until(listener, tls, state, &config, shutdown).await;
        Ok::<(), ServiceError>(())
    })?;
    drop(runtime);
    drop(pool);
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C (SIGINT): the signal a supervisor or a person stops a
/// long-running Airlock process with.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn serve_until(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: api::AppState,
    config: &ServeConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let limits = &config.limits;
    let app = api::router(state.clone());
    state.watch_log();
    if let Some(every) = config.witness_every {
        api::witness_periodically(&state, every);
    }
    if let Some(every) = config.sync_every {
        api::sync_periodically(&state, every);
    }
    let metrics = Arc::clone(&state.metrics);
    let graceful = accept_connections(
        listener,
        tls,
        app,
        limits.header_timeout,
        limits.max_connections,
        move || metrics.connection_refused(),
        shutdown,
    )
    .await;
    state.stop_streams();
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("shutdown grace period over; closing the remaining connections")
        }
    }
    state.shutdown();
}

/// Accepts connections on `listener` until `shutdown` resolves, and serves each with `app`
/// through hyper (HTTP/1.1): at most `max_connections` at once (one over is closed at once and
/// `refused` is told), headers (and a TLS handshake, with `tls`) within `header_timeout` or the
/// connection is cut (slow-drip clients hold nothing for long). Returns what tracks the
/// connections still open, for a graceful shutdown. `airlock serve` and `airlock-witness serve`
/// both serve this way.
pub async fn accept_connections(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: axum::Router,
    header_timeout: Duration,
    max_connections: usize,
    refused: impl Fn() + Send + 'static,
    shutdown: impl std::future::Future<Output = ()>,
) -> hyper_util::server::graceful::GracefulShutdown {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(max_connections));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, most likely: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refused();
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            match tls {
                None => {
                    let conn = http.serve_connection(TokioIo::new(tcp), service);
                    let _ = watcher.watch(conn).await;
                }
                Some(acceptor) => {
                    match tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let conn = http.serve_connection(TokioIo::new(stream), service);
                            let _ = watcher.watch(conn).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    graceful
}

/// Sets up structured logs on stderr (`AIRLOCK_LOG`, e.g. `info` or `airlock_service=debug`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
