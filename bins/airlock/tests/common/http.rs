//! HTTP helpers for the suites that drive `airlock serve`: a client that reports every status,
//! replies with their problem documents checked, and the log size a home verifies.

use std::time::Duration;

use serde_json::Value;

use super::World;

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub cache: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// A problem document with this status whose detail mentions `needle`.
    pub fn problem(&self, status: u16, needle: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.content_type, "application/problem+json");
        let v = self.json();
        assert_eq!(v["status"].as_u64(), Some(status as u64));
        assert!(
            v["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:airlock:problem:")
        );
        assert!(
            v["detail"].as_str().unwrap().contains(needle),
            "problem detail {:?} does not mention {needle:?}",
            v["detail"]
        );
        v
    }
}

pub fn reply(mut r: ureq::http::Response<ureq::Body>) -> Reply {
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let content_type = header("content-type");
    let cache = header("cache-control");
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap();
    Reply {
        status,
        content_type,
        cache,
        body,
    }
}

pub fn get(url: &str) -> Reply {
    reply(agent().get(url).call().expect("GET"))
}

pub fn post(url: &str, content_type: &str, body: &[u8]) -> Reply {
    reply(
        agent()
            .post(url)
            .header("content-type", content_type)
            .send(body)
            .expect("POST"),
    )
}

pub const ARTIFACT: &str = "application/vnd.airlock.artifact";

pub fn log_size(w: &World) -> u64 {
    w.airlock(&["--json", "log", "verify"]).ok().json()["size"]
        .as_u64()
        .unwrap()
}

/// A JSON POST carrying a signed request's headers (RFC 9421), sent as signed or replayed.
pub fn post_signed(
    url: &str,
    signed: &airlock_transport::httpsig::SignedHeaders,
    body: &[u8],
) -> Reply {
    reply(
        agent()
            .post(url)
            .header("content-type", "application/json")
            .header("content-digest", &signed.content_digest)
            .header("signature-input", &signed.signature_input)
            .header("signature", &signed.signature)
            .send(body)
            .unwrap(),
    )
}

/// A member of the service made on this world: its key file, passphrase file and signing key.
pub struct TestMember {
    pub file: std::path::PathBuf,
    pub pass: std::path::PathBuf,
    pub key: ed25519_dalek::SigningKey,
}

/// Makes a device key for `name` (passphrase "member passphrase") and adds it with `role` on
/// every vault.
pub fn add_member(w: &World, name: &str, role: &str) -> TestMember {
    let pass = w.p(&format!("{name}.pass"));
    std::fs::write(&pass, "member passphrase\n").unwrap();
    let (file, hex_key) = super::member_keygen(w, name, &pass);
    w.airlock(&["member", "add", name, "--key", &hex_key, "--role", role])
        .ok();
    let key = airlock_custody::load_encrypted_identity(
        &file,
        &airlock_custody::Passphrase::new("member passphrase".into()).unwrap(),
    )
    .unwrap()
    .signing_key()
    .clone();
    TestMember { file, pass, key }
}
