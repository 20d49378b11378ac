//! Signed requests: the subset of HTTP Message Signatures (RFC 9421) with Ed25519 that
//! `airlock serve` requires for writes that are not self-authenticating artifacts (propose, finalize,
//! broadcast, confirm, abandon), with the body bound by `Content-Digest` (RFC 9530).
//!
//! A request carries
//! `Content-Digest: sha-256=:<base64>:`,
//! `Signature-Input: airlock=("@method" "@path" "@query" "content-digest");created=<unix>;keyid="<hex key>";alg="ed25519";nonce="<random>"`
//! and `Signature: airlock=:<base64 signature>:`; the signature base is RFC 9421 §2.5's, one line
//! per covered component then `"@signature-params"`. The server accepts exactly this component
//! list, a `created` within [`MAX_SKEW`] of its clock, and a nonce it has not seen (so a
//! captured request cannot be replayed). [`verify_signature`] checks everything but the nonce
//! and names the nonce to claim: `airlock serve` claims it in its database, so a replay is
//! refused by every process serving that database, before or after a restart.
//! [`ReplayGuard`] is the in-memory claim, for one process.
//!
//! This module must never accept a signature over fewer components, a body that does not match
//! its digest, or a request it cannot attribute to one key.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// The components every signed request covers, in this order.
pub const COMPONENTS: &str = r#"("@method" "@path" "@query" "content-digest")"#;
/// Largest difference between a request's `created` and the server's clock, in seconds.
pub const MAX_SKEW: u64 = 300;
const LABEL: &str = "airlock";

/// The headers that sign a request.
pub struct SignedHeaders {
    pub content_digest: String,
    pub signature_input: String,
    pub signature: String,
}

/// `sha-256=:<base64>:` of `body`.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", B64.encode(Sha256::digest(body)))
}

fn signature_base(method: &str, path: &str, query: &str, digest: &str, params: &str) -> String {
    format!(
        "\"@method\": {method}\n\"@path\": {path}\n\"@query\": ?{query}\n\"content-digest\": {digest}\n\"@signature-params\": {params}"
    )
}

/// Signs a request (`path` without the query; `query` without its `?`).
pub fn sign(
    key: &SigningKey,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    created: u64,
    nonce: &str,
) -> SignedHeaders {
    let digest = content_digest(body);
    let keyid = hex::encode(key.verifying_key().to_bytes());
    let params = format!(
        "{COMPONENTS};created={created};keyid=\"{keyid}\";alg=\"ed25519\";nonce=\"{nonce}\""
    );
    let base = signature_base(method, path, query, &digest, &params);
    let signature = key.sign(base.as_bytes());
    SignedHeaders {
        content_digest: digest,
        signature_input: format!("{LABEL}={params}"),
        signature: format!("{LABEL}=:{}:", B64.encode(signature.to_bytes())),
    }
}

/// Why a signed request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error(
        "the request is not signed: give Content-Digest, Signature-Input and Signature (RFC 9421, Ed25519)"
    )]
    Missing,
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("the body does not match its Content-Digest")]
    DigestMismatch,
    #[error("the signature must cover {COMPONENTS}")]
    Components,
    #[error(
        "the request was signed at {created}, more than {MAX_SKEW} s from the server's clock ({now}) or before the server started"
    )]
    Stale { created: u64, now: u64 },
    #[error("this request was already made (nonce seen before): replays are refused")]
    Replayed,
    #[error("the signature does not verify")]
    BadSignature,
}

/// Parses `airlock=("…" …);created=N;keyid="…";alg="ed25519";nonce="…"`, returning the
/// parameters string (after the label) and the values.
fn parse_input(input: &str) -> Result<(String, u64, String, String), SignatureError> {
    let params = input
        .trim()
        .strip_prefix(LABEL)
        .and_then(|r| r.strip_prefix('='))
        .ok_or(SignatureError::Malformed("Signature-Input (label)"))?;
    let rest = params
        .strip_prefix(COMPONENTS)
        .ok_or(SignatureError::Components)?;
    let mut created = None;
    let mut keyid = None;
    let mut alg = None;
    let mut nonce = None;
    for item in rest.split(';').skip(1) {
        let (name, value) = item
            .split_once('=')
            .ok_or(SignatureError::Malformed("Signature-Input (parameter)"))?;
        let quoted = || {
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .filter(|v| !v.contains('"') && !v.contains('\\'))
                .map(str::to_string)
                .ok_or(SignatureError::Malformed("Signature-Input (quoted value)"))
        };
        let slot = match name {
            "created" => {
                let n = value
                    .parse::<u64>()
                    .map_err(|_| SignatureError::Malformed("Signature-Input (created)"))?;
                if created.replace(n).is_some() {
                    return Err(SignatureError::Malformed("Signature-Input (created twice)"));
                }
                continue;
            }
            "keyid" => &mut keyid,
            "alg" => &mut alg,
            "nonce" => &mut nonce,
            _ => {
                return Err(SignatureError::Malformed(
                    "Signature-Input (unknown parameter)",
                ));
            }
        };
        if slot.replace(quoted()?).is_some() {
            return Err(SignatureError::Malformed(
                "Signature-Input (repeated parameter)",
            ));
        }
    }
    if alg.as_deref() != Some("ed25519") {
        return Err(SignatureError::Malformed(
            "Signature-Input (alg must be \"ed25519\")",
        ));
    }
    let nonce = nonce.ok_or(SignatureError::Malformed("Signature-Input (nonce)"))?;
    if nonce.len() < 16 || nonce.len() > 128 {
        return Err(SignatureError::Malformed(
            "Signature-Input (nonce of 16-128 characters)",
        ));
    }
    Ok((
        params.to_string(),
        created.ok_or(SignatureError::Malformed("Signature-Input (created)"))?,
        keyid.ok_or(SignatureError::Malformed("Signature-Input (keyid)"))?,
        nonce,
    ))
}

/// The session token in a `Cookie` header (`name=<64 hex digits>`), for the dashboard.
pub fn cookie_token<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Parses a `Signature-Input` header as [`verify`] does, without checking anything else (for
/// fuzzing and diagnostics): the signature parameters, `created`, `keyid` and `nonce`.
pub fn parse_signature_input(input: &str) -> Result<(String, u64, String, String), SignatureError> {
    parse_input(input)
}

/// A request whose signature verified: its key, and the nonce to claim (`<keyid>/<nonce>`)
/// until `claim_until` (after which its `created` is outside the window anyway).
#[derive(Debug, PartialEq, Eq)]
pub struct VerifiedRequest {
    pub key: VerifyingKey,
    pub nonce: String,
    pub claim_until: u64,
}

/// Verifies a signed request, all but its nonce (the caller claims [`VerifiedRequest::nonce`]
/// once, refusing the request as [`SignatureError::Replayed`] when it was claimed before).
/// `headers` are the request's (`Content-Digest`, `Signature-Input`, `Signature`), `now` the
/// server's clock.
pub fn verify_signature(
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    headers: (Option<&str>, Option<&str>, Option<&str>),
    now: u64,
) -> Result<VerifiedRequest, SignatureError> {
    let (Some(digest), Some(input), Some(signature)) = headers else {
        return Err(SignatureError::Missing);
    };
    if digest.trim() != content_digest(body) {
        return Err(SignatureError::DigestMismatch);
    }
    let (params, created, keyid, nonce) = parse_input(input)?;
    let key_bytes: [u8; 32] = hex::decode(&keyid)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::Malformed("keyid (64 hex digits)"))?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| SignatureError::Malformed("keyid (not an Ed25519 key)"))?;
    let sig_b64 = signature
        .trim()
        .strip_prefix(LABEL)
        .and_then(|r| r.strip_prefix("=:"))
        .and_then(|r| r.strip_suffix(':'))
        .ok_or(SignatureError::Malformed("Signature"))?;
    let sig_bytes: [u8; 64] = B64
        .decode(sig_b64)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::Malformed("Signature (64 bytes, base64)"))?;
    let base = signature_base(method, path, query, digest.trim(), &params);
    key.verify(base.as_bytes(), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| SignatureError::BadSignature)?;
    if created + MAX_SKEW < now || created > now + MAX_SKEW {
        return Err(SignatureError::Stale { created, now });
    }
    Ok(VerifiedRequest {
        key,
        nonce: format!("{keyid}/{nonce}"),
        claim_until: created + MAX_SKEW + 1,
    })
}

/// Nonces remembered in one process's memory.
pub struct ReplayGuard {
    started: u64,
    seen: Mutex<HashMap<String, u64>>,
}

impl ReplayGuard {
    /// A guard for a process started at `started`: nonces are remembered in memory only, so a
    /// request signed before then (which the process before it may have seen) is refused.
    pub fn new(started: u64) -> ReplayGuard {
        ReplayGuard {
            started,
            seen: Mutex::new(HashMap::new()),
        }
    }
}

/// Verifies a signed request, its nonce claimed in `guard`; returns the signing key.
pub fn verify(
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    headers: (Option<&str>, Option<&str>, Option<&str>),
    now: u64,
    guard: &ReplayGuard,
) -> Result<VerifyingKey, SignatureError> {
    let verified = verify_signature(method, path, query, body, headers, now)?;
    let created = verified.claim_until - MAX_SKEW - 1;
    if created < guard.started {
        return Err(SignatureError::Stale { created, now });
    }
    let mut seen = guard.seen.lock().unwrap_or_else(|p| p.into_inner());
    seen.retain(|_, until| *until > now);
    if seen.insert(verified.nonce, verified.claim_until).is_some() {
        return Err(SignatureError::Replayed);
    }
    Ok(verified.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn check(
        h: &SignedHeaders,
        method: &str,
        path: &str,
        body: &[u8],
        now: u64,
        guard: &ReplayGuard,
    ) -> Result<VerifyingKey, SignatureError> {
        verify(
            method,
            path,
            "",
            body,
            (
                Some(&h.content_digest),
                Some(&h.signature_input),
                Some(&h.signature),
            ),
            now,
            guard,
        )
    }

    #[test]
    fn signed_requests_verify_once_and_only_as_signed() {
        let guard = ReplayGuard::new(1000);
        let h = sign(
            &key(),
            "POST",
            "/api/v1/x",
            "",
            b"{}",
            1000,
            "0123456789abcdef",
        );
        assert_eq!(
            check(&h, "POST", "/api/v1/x", b"{}", 1010, &guard),
            Ok(key().verifying_key())
        );
        assert_eq!(
            check(&h, "POST", "/api/v1/x", b"{}", 1010, &guard),
            Err(SignatureError::Replayed)
        );
        let h = sign(
            &key(),
            "POST",
            "/api/v1/x",
            "",
            b"{}",
            1000,
            "0123456789abcdeg",
        );
        assert_eq!(
            check(&h, "POST", "/api/v1/y", b"{}", 1010, &guard),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            check(&h, "POST", "/api/v1/x", b"{ }", 1010, &guard),
            Err(SignatureError::DigestMismatch)
        );
        assert!(matches!(
            check(&h, "POST", "/api/v1/x", b"{}", 2000, &guard),
            Err(SignatureError::Stale { .. })
        ));
        // Signed before the server started: refused even inside the skew window.
        let later = ReplayGuard::new(1400);
        assert!(matches!(
            check(&h, "POST", "/api/v1/x", b"{}", 1400, &later),
            Err(SignatureError::Stale { .. })
        ));
        let mut fewer = sign(
            &key(),
            "POST",
            "/api/v1/x",
            "",
            b"{}",
            1000,
            "0123456789abcdeh",
        );
        fewer.signature_input = fewer.signature_input.replace(" \"@query\"", "");
        assert_eq!(
            check(&fewer, "POST", "/api/v1/x", b"{}", 1010, &guard),
            Err(SignatureError::Components)
        );
    }
}
