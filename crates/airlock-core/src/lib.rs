//! Airlock's chain-agnostic core: canonical encoding, signed envelopes, the artifacts that cross
//! the air gap, vault policies, the proposal lifecycle and the `Chain` interface that each chain
//! crate implements.
//!
//! Everything here is pure: no files, no clock (callers pass `now`), no network, no keys at rest.
//! Both the online coordinator and the offline signer build on it, so it must never depend on
//! anything that talks to a network.

pub mod artifacts;
pub mod cbor;
pub mod chain;
pub mod commitment;
pub mod drill;
pub mod envelope;
pub mod fields;
pub mod halt;
pub mod lifecycle;
pub mod parallel;
pub mod policy;
pub mod transfer;
pub mod vault;

pub use artifacts::{
    AccountExport, Approval, BatchItem, CheckpointArtifact, Decision, DecisionBatch, Event,
    EventKind, Finalized, Intent, LogEvidence, LogRecord, Proposal, ProposalBatch, ProposalBundle,
    ReleaseBundle, SeenCheckpoint, Transfer,
};
pub use envelope::{Artifact, ArtifactId, ArtifactKind, Envelope};
pub use fields::FormatError;
pub use transfer::{DeviceRole, Direction, TransferManifest, TransferPolicy};
pub use vault::{Condition, Requirement, Rule, SignerEntry, VaultDefinition};

use std::fmt;

/// An Ed25519 public key (a device identity).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub fn from_hex(s: &str) -> Result<Self, CoreError> {
        let bytes = hex::decode(s.trim())
            .map_err(|_| CoreError::Invalid(format!("public key {s:?} is not hex")))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CoreError::Invalid(format!("public key {s:?} must be 64 hex digits")))?;
        if ed25519_dalek::VerifyingKey::from_bytes(&arr).is_err() {
            return Err(CoreError::Invalid(format!(
                "public key {s:?} is not a valid Ed25519 point"
            )));
        }
        Ok(PublicKey(arr))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// First 8 hex digits, for people.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.short())
    }
}

/// An amount for JSON output: a number up to 2^64-1 (what most JSON readers hold exactly), a
/// decimal string above that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonAmount(pub u128);

impl serde::Serialize for JsonAmount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match u64::try_from(self.0) {
            Ok(n) => s.serialize_u64(n),
            Err(_) => s.serialize_str(&self.0.to_string()),
        }
    }
}

/// Errors of the core. Each names what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("malformed artifact: {0}")]
    Decode(#[from] cbor::DecodeError),
    #[error("malformed artifact: {0}")]
    Format(#[from] FormatError),
    #[error("expected an artifact of kind {expected}, found {found}")]
    WrongKind { expected: String, found: String },
    #[error("signature check failed: {0}")]
    BadSignature(String),
    #[error("{0}")]
    Invalid(String),
    #[error("policy: {0}")]
    Policy(String),
    #[error(transparent)]
    Lifecycle(#[from] lifecycle::LifecycleError),
}

pub use airlock_severity::{Classify, Severity};

impl Classify for CoreError {
    fn severity(&self) -> Severity {
        Severity::Refused
    }
}

impl Classify for cbor::DecodeError {
    fn severity(&self) -> Severity {
        Severity::Refused
    }
}

impl Classify for FormatError {
    fn severity(&self) -> Severity {
        Severity::Refused
    }
}

/// Seconds since the Unix epoch, as the callers' clock says.
pub type UnixTime = u64;

/// Formats a Unix time as UTC `YYYY-MM-DD HH:MM:SS`.
pub fn format_time(t: UnixTime) -> String {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// The Unix time of midnight UTC at the start of a `YYYY-MM-DD` date; `None` when `s` is not
/// such a date (a month or day out of range included).
pub fn parse_date(s: &str) -> Option<UnixTime> {
    let mut parts = s.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    // Hinnant's days_from_civil, the inverse of `civil_from_days`.
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    // A day past the month's end comes back as another date.
    (civil_from_days(days) == (y, m, d)).then_some(days as UnixTime * 86_400)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_time(1_795_000_000), "2026-11-18 11:06:40 UTC");
    }

    #[test]
    fn parses_dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_date("2026-11-18"), Some(1_795_000_000 - 40_000));
        for bad in [
            "2001-02-29",
            "2026-13-01",
            "2026-04-31",
            "26-1-1x",
            "",
            "1969-12-31",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn public_keys_parse_strictly() {
        assert!(PublicKey::from_hex("zz").is_err());
        assert!(PublicKey::from_hex(&"00".repeat(31)).is_err());
        let k = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key();
        let hexed = hex::encode(k.to_bytes());
        assert_eq!(PublicKey::from_hex(&hexed).unwrap().0, k.to_bytes());
    }
}
