//! The HTTP client side of the service: what `airlock --server URL …` and `airlock log verify
//! --url` use to talk to an `airlock serve` (or a mirror of its log, including a directory
//! written by `airlock log publish`, given as `file:///DIR`).
//!
//! A problem document from the service comes back as [`ClientError::Problem`] with its status,
//! kind and detail, and keeps its severity (a split view is an alarm, a busy database is busy),
//! so the CLI exits as it would have run locally.
//!
//! This module must never read a response past its size bound, and never follow a redirect to
//! another origin (redirects are not followed at all).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

/// Largest response read (an artifact is at most 1 MiB; lists of proposals can be larger).
const MAX_RESPONSE: u64 = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Setup(String),
    /// No answer (connection refused, TLS failure, timeout) or one that is not HTTP.
    #[error("{0}")]
    Unreachable(String),
    /// The service answered with a problem document (or another non-success status).
    #[error("{detail} (HTTP {status} from {url})")]
    Problem {
        status: u16,
        kind: String,
        detail: String,
        url: String,
    },
}

impl airlock_core::Classify for ClientError {
    fn severity(&self) -> airlock_core::Severity {
        use airlock_core::Severity;
        match self {
            ClientError::Problem { status: 503, .. } => Severity::Busy,
            ClientError::Problem { kind, .. }
                if kind == "split-view" || kind == "log-invalid" || kind == "alarm" =>
            {
                Severity::Alarm
            }
            _ => Severity::Refused,
        }
    }
}

/// A client of one service.
pub struct ServiceClient {
    agent: ureq::Agent,
    base: String,
    /// A log published as files (`airlock log publish DIR`, given as `file:///DIR`): GETs read
    /// the same paths from it, and nothing can be posted.
    dir: Option<std::path::PathBuf>,
    reads: std::cell::Cell<(usize, u64)>,
}

impl ServiceClient {
    /// A client of the service at `url` (`http://…` or `https://…`), trusting `ca_cert` (PEM)
    /// for TLS when given, else the Mozilla roots; or of a published log directory
    /// (`file:///DIR`), read-only.
    pub fn new(url: &str, ca_cert: Option<&Path>) -> Result<ServiceClient, ClientError> {
        let base = url.trim_end_matches('/').to_string();
        if let Some(dir) = base.strip_prefix("file://") {
            if !dir.starts_with('/') {
                return Err(ClientError::Setup(format!(
                    "{url:?}: a published directory is given as file:///ABSOLUTE/PATH"
                )));
            }
            return Ok(ServiceClient {
                agent: ureq::Agent::new_with_defaults(),
                dir: Some(dir.into()),
                base,
                reads: std::cell::Cell::new((0, 0)),
            });
        }
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Setup(format!(
                "{url:?} is not an http:// or https:// URL (nor a file:/// directory)"
            )));
        }
        let mut tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ));
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| ClientError::Setup(format!("{}: {e}", path.display())))?;
            let cert = ureq::tls::Certificate::from_pem(&pem).map_err(|e| {
                ClientError::Setup(format!("{}: not a PEM certificate: {e}", path.display()))
            })?;
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .max_redirects(0)
            .tls_config(tls.build())
            .build()
            .into();
        Ok(ServiceClient {
            agent,
            base,
            dir: None,
            reads: std::cell::Cell::new((0, 0)),
        })
    }

    /// A GET from a published directory: the file at `path` (`None` when absent).
    fn read_published(&self, dir: &Path, path: &str) -> Result<Option<Vec<u8>>, ClientError> {
        let path = path.trim_start_matches('/');
        if path.contains('?') || path.split('/').any(|part| part == "..") {
            return Ok(None);
        }
        let file = dir.join(path);
        if !file.is_file() {
            return Ok(None);
        }
        let body = airlock_transport::read_bounded(&file, MAX_RESPONSE)
            .map_err(|e| ClientError::Unreachable(format!("{}: {e}", file.display())))?;
        let (n, bytes) = self.reads.get();
        self.reads.set((n + 1, bytes + body.len() as u64));
        Ok(Some(body))
    }

    fn refuse_posts(&self) -> Result<(), ClientError> {
        match &self.dir {
            Some(dir) => Err(ClientError::Setup(format!(
                "{} is a published log directory: it can only be read",
                dir.display()
            ))),
            None => Ok(()),
        }
    }

    /// The service's base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Requests made and bytes received so far.
    pub fn reads(&self) -> (usize, u64) {
        self.reads.get()
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    fn finish(
        &self,
        method: &str,
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        missing_ok: bool,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let mut response =
            response.map_err(|e| ClientError::Unreachable(format!("{method} {url}: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| ClientError::Unreachable(format!("{method} {url}: {e}")))?;
        let (n, bytes) = self.reads.get();
        self.reads.set((n + 1, bytes + body.len() as u64));
        if status == 404 && missing_ok {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            let problem = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
            let kind = problem["type"]
                .as_str()
                .and_then(|t| t.strip_prefix("urn:airlock:problem:"))
                .unwrap_or("http")
                .to_string();
            let detail = problem["detail"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
            return Err(ClientError::Problem {
                status,
                kind,
                detail,
                url: url.to_string(),
            });
        }
        Ok(Some(body))
    }

    /// GETs `path`; `Ok(None)` for 404.
    pub fn get_optional(&self, path: &str) -> Result<Option<Vec<u8>>, ClientError> {
        if let Some(dir) = &self.dir {
            return self.read_published(dir, path);
        }
        let url = self.url(path);
        let response = self.agent.get(&url).call();
        self.finish("GET", &url, response, true)
    }

    /// GETs `path`; 404 is an error like any other problem.
    pub fn get(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        if let Some(dir) = &self.dir {
            return self
                .read_published(dir, path)?
                .ok_or_else(|| ClientError::Problem {
                    status: 404,
                    kind: "not-found".into(),
                    detail: format!("{} is not in the published directory", path),
                    url: self.url(path),
                });
        }
        let url = self.url(path);
        let response = self.agent.get(&url).call();
        Ok(self
            .finish("GET", &url, response, false)?
            .unwrap_or_default())
    }

    /// GETs `path` as JSON.
    pub fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        let body = self.get(path)?;
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Unreachable(format!("{}: not JSON: {e}", self.url(path))))
    }

    /// POSTs a JSON body signed by a member's device key (HTTP Message Signatures, see
    /// [`airlock_transport::httpsig`]), created at `now`; returns the JSON answer.
    pub fn post_signed(
        &self,
        path: &str,
        body: &Value,
        key: &ed25519_dalek::SigningKey,
        now: u64,
    ) -> Result<Value, ClientError> {
        use rand_core::RngCore;
        self.refuse_posts()?;
        let url = self.url(path);
        let path_only = url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or("/");
        let (path_only, query) = path_only.split_once('?').unwrap_or((path_only, ""));
        let mut nonce = [0u8; 16];
        rand_core::OsRng.fill_bytes(&mut nonce);
        let bytes = body.to_string().into_bytes();
        let signed = airlock_transport::httpsig::sign(
            key,
            "POST",
            path_only,
            query,
            &bytes,
            now,
            &hex::encode(nonce),
        );
        let response = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .header("content-digest", &signed.content_digest)
            .header("signature-input", &signed.signature_input)
            .header("signature", &signed.signature)
            .send(&bytes[..]);
        let answer = self
            .finish("POST", &url, response, false)?
            .unwrap_or_default();
        serde_json::from_slice(&answer)
            .map_err(|e| ClientError::Unreachable(format!("{url}: not JSON: {e}")))
    }

    /// POSTs artifacts (encoded envelopes) as a JSON batch; returns the JSON answer.
    pub fn post_artifacts(&self, path: &str, artifacts: &[Vec<u8>]) -> Result<Value, ClientError> {
        self.post_json(path, &artifacts_batch(artifacts))
    }

    /// POSTs a JSON body (unsigned: for self-authenticating uploads); returns the JSON answer.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.refuse_posts()?;
        let url = self.url(path);
        let response = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body.to_string().as_bytes());
        let body = self
            .finish("POST", &url, response, false)?
            .unwrap_or_default();
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Unreachable(format!("{url}: not JSON: {e}")))
    }
}

/// The JSON body of `POST /api/v1/transfers`: a transfer directory's signed manifest and its
/// files, base64.
pub fn transfer_upload(manifest: &[u8], files: &[(String, Vec<u8>)]) -> Value {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    serde_json::json!({
        "manifest": b64.encode(manifest),
        "files": files
            .iter()
            .map(|(name, data)| serde_json::json!({ "name": name, "data": b64.encode(data) }))
            .collect::<Vec<_>>(),
    })
}

/// The JSON batch an upload carries: `{"artifacts": ["<base64>", …]}`.
pub fn artifacts_batch(artifacts: &[Vec<u8>]) -> Value {
    use base64::Engine;
    serde_json::json!({
        "artifacts": artifacts
            .iter()
            .map(|a| base64::engine::general_purpose::STANDARD.encode(a))
            .collect::<Vec<_>>()
    })
}
