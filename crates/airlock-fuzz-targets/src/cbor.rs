//! `cbor`: Airlock's canonical CBOR decoder (`airlock_core::cbor`).
//!
//! Checks, for any input:
//! - `decode` never panics, under the artifact limits and under tight ones (64 bytes, depth 3);
//! - whatever it accepts re-encodes to exactly the input bytes (the decoder accepts only what the
//!   encoder writes, so an artifact id names one byte string);
//! - the re-decoded value is equal, and accepted under tight limits implies accepted under the
//!   artifact limits with the same value;
//! - `Display` of an accepted value does not panic.

use airlock_core::cbor::{self, Limits};

/// Tight limits, to reach the size and depth checks.
const TIGHT: Limits = Limits {
    max_len: 64,
    max_depth: 3,
};

pub fn run(data: &[u8]) {
    let loose = cbor::decode(data, Limits::ARTIFACT);
    let tight = cbor::decode(data, TIGHT);
    if let Ok(v) = &tight {
        assert_eq!(
            loose.as_ref().ok(),
            Some(v),
            "accepted under tight limits, not under the artifact limits"
        );
    }
    if let Ok(value) = loose {
        let encoded = cbor::encode(&value);
        assert_eq!(encoded, data, "accepted bytes re-encode differently");
        assert_eq!(
            cbor::decode(&encoded, Limits::ARTIFACT).as_ref(),
            Ok(&value)
        );
        let _ = value.to_string();
    }
}
