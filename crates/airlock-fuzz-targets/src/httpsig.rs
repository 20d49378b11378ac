//! The service's request-signature and cookie parsing (`airlock_transport::httpsig`), which
//! `airlock serve` runs on every signed write and every dashboard request, before anything else.
//!
//! Invariants: nothing panics; a request signed by `sign` verifies exactly once (the second time
//! is a replay) and never verifies under another path or body; any other header text is refused.

use airlock_transport::httpsig::{self, ReplayGuard};

pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match selector % 3 {
        0 => {
            if let Ok((params, created, keyid, nonce)) = httpsig::parse_signature_input(&text) {
                assert!(text.contains(&params));
                assert!(params.contains(&keyid) && params.contains(&nonce));
                assert!(params.contains(&created.to_string()));
            }
        }
        1 => {
            if let Some(token) = httpsig::cookie_token(&text, "airlock_session") {
                assert_eq!(token.len(), 64);
            }
        }
        _ => {
            // Headers taken from the input, in the shape a client sends: refused, or (for a
            // real signature) accepted once.
            let mut parts = text.splitn(3, '\n');
            let (input, signature) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let body = parts.next().unwrap_or("").as_bytes();
            let guard = ReplayGuard::new(1_000);
            let digest = httpsig::content_digest(body);
            let _ = httpsig::verify(
                "POST",
                "/api/v1/proposals",
                "",
                body,
                (Some(&digest), Some(input), Some(signature)),
                1_000,
                &guard,
            );
            let key = ed25519_dalek::SigningKey::from_bytes(&[selector; 32]);
            let signed = httpsig::sign(
                &key,
                "POST",
                "/api/v1/x",
                "",
                body,
                1_000,
                "fuzz-nonce-0123456789",
            );
            let headers = (
                Some(signed.content_digest.as_str()),
                Some(signed.signature_input.as_str()),
                Some(signed.signature.as_str()),
            );
            assert!(
                httpsig::verify("POST", "/api/v1/y", "", body, headers, 1_000, &guard).is_err()
            );
            assert!(httpsig::verify("POST", "/api/v1/x", "", body, headers, 1_000, &guard).is_ok());
            assert!(
                httpsig::verify("POST", "/api/v1/x", "", body, headers, 1_000, &guard).is_err()
            );
        }
    }
}
