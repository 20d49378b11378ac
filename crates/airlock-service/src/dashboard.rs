//! The dashboard: a page served by `airlock serve` with its assets embedded (no CDN, so it works
//! on a LAN with no internet), live updates as server-sent events, the bundle as an animated QR,
//! and sign-in by a challenge the member's CLI signs.
//!
//! Sign-in keeps no reusable secret on the server: the page asks for a challenge, the member runs
//! `airlock --server URL --member-key K login CHALLENGE` (a signed request, see [`airlock_transport::httpsig`]),
//! and the page's next poll of that challenge gets a session cookie (HttpOnly, SameSite=Strict,
//! one hour) and a CSRF token that every session write must echo in `X-CSRF-Token`. Challenges
//! are single-use and expire after five minutes; sessions live in memory only (a restart signs
//! everyone out).
//!
//! This module must never accept a session write without its CSRF token, never hand a session
//! to a challenge no member signed, and never load anything from outside the service.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand_core::RngCore;
use sha2::{Digest, Sha256};

/// The page and its assets.
pub const INDEX_HTML: &str = include_str!("dashboard/index.html");
pub const APP_JS: &str = include_str!("dashboard/app.js");
pub const APP_CSS: &str = include_str!("dashboard/app.css");
/// The Content-Security-Policy of every dashboard response: nothing from elsewhere, no inline
/// script.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// How long a challenge waits for its member's signature.
pub const CHALLENGE_LIFETIME: u64 = 300;
/// How long a session lasts.
pub const SESSION_LIFETIME: u64 = 3600;
/// Most challenges pending at once (older ones are dropped first).
const MAX_CHALLENGES: usize = 10_000;
/// The session cookie's name.
pub const COOKIE: &str = "airlock_session";

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A signed-in member.
#[derive(Clone, Debug)]
pub struct Session {
    pub member: String,
    pub key: airlock_core::PublicKey,
    pub csrf: String,
    pub expires: u64,
}

#[derive(Clone)]
struct Challenge {
    expires: u64,
    /// The member who signed it (name, key), once one did.
    signed_by: Option<(String, airlock_core::PublicKey)>,
}

/// Challenges and sessions, in memory.
#[derive(Default)]
pub struct Sessions {
    challenges: Mutex<HashMap<String, Challenge>>,
    /// By the SHA-256 of the session token (the token itself is only in the cookie).
    sessions: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// A new challenge for a page to show.
    pub fn challenge(&self, now: u64) -> String {
        let code = random_hex(16);
        let mut all = self.challenges.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|_, c| c.expires > now);
        if all.len() >= MAX_CHALLENGES
            && let Some(oldest) = all
                .iter()
                .min_by_key(|(_, c)| c.expires)
                .map(|(k, _)| k.clone())
        {
            all.remove(&oldest);
        }
        all.insert(
            code.clone(),
            Challenge {
                expires: now + CHALLENGE_LIFETIME,
                signed_by: None,
            },
        );
        code
    }

    /// A member signed `code` (through a signed request): the page's next poll signs it in.
    pub fn sign_challenge(
        &self,
        code: &str,
        member: &str,
        key: airlock_core::PublicKey,
        now: u64,
    ) -> Result<(), String> {
        let mut all = self.challenges.lock().unwrap_or_else(|p| p.into_inner());
        match all.get_mut(code) {
            Some(c) if c.expires > now && c.signed_by.is_none() => {
                c.signed_by = Some((member.to_string(), key));
                Ok(())
            }
            Some(c) if c.signed_by.is_some() => Err("this challenge was already signed".into()),
            _ => Err("no such challenge, or it expired: ask the page for a new one".into()),
        }
    }

    /// The page polls its challenge: once signed, it is consumed and becomes a session
    /// (token for the cookie, session). `Ok(None)`: not signed yet.
    pub fn redeem(&self, code: &str, now: u64) -> Result<Option<(String, Session)>, String> {
        let mut all = self.challenges.lock().unwrap_or_else(|p| p.into_inner());
        let Some(challenge) = all.get(code).cloned() else {
            return Err("no such challenge, or it expired".into());
        };
        if challenge.expires <= now {
            all.remove(code);
            return Err("the challenge expired: ask for a new one".into());
        }
        let Some((member, key)) = challenge.signed_by else {
            return Ok(None);
        };
        all.remove(code);
        drop(all);
        let token = random_hex(32);
        let session = Session {
            member,
            key,
            csrf: random_hex(16),
            expires: now + SESSION_LIFETIME,
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(digest(&token), session.clone());
        Ok(Some((token, session)))
    }

    /// The live session of a cookie's token.
    pub fn session(&self, token: &str, now: u64) -> Option<Session> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .get(&digest(token))
            .filter(|s| s.expires > now)
            .cloned()
    }

    /// Ends a session.
    pub fn end(&self, token: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&digest(token));
    }
}

/// The session token in a `Cookie` header.
pub fn cookie_token(cookie_header: &str) -> Option<&str> {
    airlock_transport::httpsig::cookie_token(cookie_header, COOKIE)
}

/// The interval at which the event streams' watcher looks at the log.
pub const EVENT_POLL: Duration = Duration::from_millis(400);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_becomes_one_session_once_signed() {
        let s = Sessions::default();
        let code = s.challenge(100);
        assert!(matches!(s.redeem(&code, 101), Ok(None)));
        let key = airlock_core::PublicKey([1; 32]);
        s.sign_challenge(&code, "olivia", key, 102).unwrap();
        assert!(s.sign_challenge(&code, "mallory", key, 102).is_err());
        let (token, session) = s.redeem(&code, 103).unwrap().unwrap();
        assert_eq!(session.member, "olivia");
        assert!(s.redeem(&code, 104).is_err(), "single use");
        assert!(s.session(&token, 105).is_some());
        assert!(
            s.session(&token, 103 + SESSION_LIFETIME).is_none(),
            "expires"
        );
        let late = s.challenge(200);
        assert!(
            s.sign_challenge(&late, "olivia", key, 200 + CHALLENGE_LIFETIME)
                .is_err()
        );
        assert_eq!(
            cookie_token(&format!("a=b; {COOKIE}={token}")),
            Some(token.as_str())
        );
        s.end(&token);
        assert!(s.session(&token, 106).is_none());
    }
}
