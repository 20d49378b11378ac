//! The dashboard: a page served by `airlock serve` with its assets embedded (no CDN, so it works
//! on a LAN with no internet), live updates as server-sent events, the bundle as an animated QR,
//! and sign-in by a challenge the member's CLI signs.
//!
//! Sign-in keeps no reusable secret on the server: the page asks for a challenge, the member runs
//! `airlock --server URL --member-key K login CHALLENGE` (a signed request, see [`airlock_transport::httpsig`]),
//! and the page's next poll of that challenge gets a session cookie (HttpOnly, SameSite=Strict,
//! one hour) and a CSRF token that every session write must echo in `X-CSRF-Token`. Challenges
//! are single-use and expire after five minutes. Challenges and sessions live in the database's
//! short-lived claims, so every `airlock serve` on one database shares them and a restart signs
//! nobody out.
//!
//! This module must never accept a session write without its CSRF token, never hand a session
//! to a challenge no member signed, and never load anything from outside the service.

use std::time::Duration;

use airlock_coordinator::store::{Storage, StoreError};

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

/// A session or a signed challenge as stored (`csrf` and `expires` unused for a challenge).
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    member: String,
    /// Hex.
    key: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    expires: u64,
}

impl Stored {
    fn of(session: &Session) -> String {
        serde_json::to_string(&Stored {
            member: session.member.clone(),
            key: session.key.to_hex(),
            csrf: session.csrf.clone(),
            expires: session.expires,
        })
        .expect("serializes")
    }

    fn parse(value: &str) -> Option<Session> {
        let stored: Stored = serde_json::from_str(value).ok()?;
        let key: [u8; 32] = hex::decode(&stored.key).ok()?.try_into().ok()?;
        Some(Session {
            member: stored.member,
            key: airlock_core::PublicKey(key),
            csrf: stored.csrf,
            expires: stored.expires,
        })
    }
}

fn challenge_key(code: &str) -> String {
    format!("challenge/{code}")
}

fn session_key(token: &str) -> String {
    format!("session/{}", hex::encode(digest(token)))
}

/// Challenges and sessions, kept in the database's short-lived claims, so that every process
/// serving one database knows them (a challenge shown by one may be signed through another).
/// A challenge holds "" until a member signs it, then who signed it; a session is stored under
/// the SHA-256 of its token (the token itself is only in the cookie).
pub struct Sessions;

impl Sessions {
    /// A new challenge for a page to show.
    pub fn challenge(store: &dyn Storage, now: u64) -> Result<String, StoreError> {
        let code = random_hex(16);
        store.claim(&challenge_key(&code), "", now + CHALLENGE_LIFETIME, now)?;
        Ok(code)
    }

    /// A member signed `code` (through a signed request): the page's next poll signs it in.
    /// The inner error is the refusal to show.
    pub fn sign_challenge(
        store: &dyn Storage,
        code: &str,
        member: &str,
        key: airlock_core::PublicKey,
        now: u64,
    ) -> Result<Result<(), String>, StoreError> {
        let signed = Stored::of(&Session {
            member: member.to_string(),
            key,
            csrf: String::new(),
            expires: 0,
        });
        if store.swap_claim(&challenge_key(code), "", &signed, now)? {
            return Ok(Ok(()));
        }
        Ok(Err(match store.claimed(&challenge_key(code), now)? {
            Some(_) => "this challenge was already signed".into(),
            None => "no such challenge, or it expired: ask the page for a new one".into(),
        }))
    }

    /// The page polls its challenge: once signed, it is consumed (by exactly one poll) and
    /// becomes a session (token for the cookie, session). `Ok(Ok(None))`: not signed yet.
    #[allow(clippy::type_complexity)]
    pub fn redeem(
        store: &dyn Storage,
        code: &str,
        now: u64,
    ) -> Result<Result<Option<(String, Session)>, String>, StoreError> {
        let Some(value) = store.claimed(&challenge_key(code), now)? else {
            return Ok(Err("no such challenge, or it expired".into()));
        };
        if value.is_empty() {
            return Ok(Ok(None));
        }
        if !store.release(&challenge_key(code), Some(&value))? {
            return Ok(Err("no such challenge, or it expired".into()));
        }
        let Some(by) = Stored::parse(&value) else {
            return Ok(Err("the challenge is damaged: ask for a new one".into()));
        };
        let token = random_hex(32);
        let session = Session {
            member: by.member,
            key: by.key,
            csrf: random_hex(16),
            expires: now + SESSION_LIFETIME,
        };
        store.claim(
            &session_key(&token),
            &Stored::of(&session),
            session.expires,
            now,
        )?;
        Ok(Ok(Some((token, session))))
    }

    /// The live session of a cookie's token.
    pub fn session(
        store: &dyn Storage,
        token: &str,
        now: u64,
    ) -> Result<Option<Session>, StoreError> {
        Ok(store
            .claimed(&session_key(token), now)?
            .and_then(|v| Stored::parse(&v))
            .filter(|s| s.expires > now))
    }

    /// Ends a session.
    pub fn end(store: &dyn Storage, token: &str) -> Result<(), StoreError> {
        store.release(&session_key(token), None)?;
        Ok(())
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
    use airlock_coordinator::store::SqliteStore;

    #[test]
    fn a_challenge_becomes_one_session_once_signed() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let s = &store as &dyn Storage;
        let code = Sessions::challenge(s, 100).unwrap();
        assert!(matches!(Sessions::redeem(s, &code, 101), Ok(Ok(None))));
        let key = airlock_core::PublicKey([1; 32]);
        Sessions::sign_challenge(s, &code, "olivia", key, 102)
            .unwrap()
            .unwrap();
        assert!(
            Sessions::sign_challenge(s, &code, "mallory", key, 102)
                .unwrap()
                .is_err()
        );
        let (token, session) = Sessions::redeem(s, &code, 103).unwrap().unwrap().unwrap();
        assert_eq!(session.member, "olivia");
        assert!(
            Sessions::redeem(s, &code, 104).unwrap().is_err(),
            "single use"
        );
        assert!(Sessions::session(s, &token, 105).unwrap().is_some());
        assert!(
            Sessions::session(s, &token, 103 + SESSION_LIFETIME)
                .unwrap()
                .is_none(),
            "expires"
        );
        let late = Sessions::challenge(s, 200).unwrap();
        assert!(
            Sessions::sign_challenge(s, &late, "olivia", key, 200 + CHALLENGE_LIFETIME)
                .unwrap()
                .is_err()
        );
        assert_eq!(
            cookie_token(&format!("a=b; {COOKIE}={token}")),
            Some(token.as_str())
        );
        Sessions::end(s, &token).unwrap();
        assert!(Sessions::session(s, &token, 106).unwrap().is_none());
    }
}
