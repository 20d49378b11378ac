//! `cbor_differential`: Airlock's canonical CBOR decoder against an independent strict decoder,
//! the `cbor-core` crate (CBOR::Core, draft-rundgren-cbor-core: RFC 8949 deterministic encoding,
//! decoded with its default `Strictness::STRICT`).
//!
//! Checked both ways, on every input:
//! - **Airlock accepts ⇒ cbor-core accepts**, re-encodes to the same bytes, and its value,
//!   converted to Airlock's data model, is Airlock's value (encoding it with Airlock's encoder gives
//!   the input again);
//! - **cbor-core accepts, Airlock refuses ⇒ the difference is one of the intentional ones**: the
//!   item contains a floating-point number, a tag (which includes CBOR::Core's big integers, tags
//!   2/3, and date/time tags), a simple value other than `false`/`true`/`null` (`undefined` is
//!   refused too), or nests arrays/maps deeper than Airlock's 32 levels (cbor-core allows 200), or
//!   is larger than the 16 MiB artifact cap. Any other refusal is a bug in one of the two.
//!
//! Not compared: *why* each refuses non-deterministic input (both must refuse, which the
//! first check covers through the contrapositive only for the inputs Airlock accepts).

use airlock_core::cbor::{self, Limits, Value};
use cbor_core::Value as Core;

/// What in a cbor-core value Airlock's subset does not have, if anything.
fn outside_subset(v: &Core, depth: usize) -> Option<&'static str> {
    match v {
        Core::Float(_) => Some("float"),
        Core::Tag(..) => Some("tag"),
        Core::SimpleValue(_) => {
            let t = v.data_type();
            if t.is_null() || t.is_bool() {
                None
            } else {
                Some("simple value")
            }
        }
        Core::Array(items) => {
            if depth >= Limits::ARTIFACT.max_depth {
                return Some("nesting");
            }
            items.iter().find_map(|i| outside_subset(i, depth + 1))
        }
        Core::Map(entries) => {
            if depth >= Limits::ARTIFACT.max_depth {
                return Some("nesting");
            }
            entries.iter().find_map(|(k, v)| {
                outside_subset(k, depth + 1).or_else(|| outside_subset(v, depth + 1))
            })
        }
        _ => None,
    }
}

/// cbor-core's value in Airlock's data model (only called on values inside the subset).
fn to_airlock(v: &Core) -> Value {
    match v {
        Core::Unsigned(n) => Value::Unsigned(*n),
        Core::Negative(n) => Value::Negative(*n),
        Core::ByteString(b) => Value::Bytes(b.to_vec()),
        Core::TextString(s) => Value::Text(s.to_string()),
        Core::Array(items) => Value::Array(items.iter().map(to_airlock).collect()),
        Core::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| (to_airlock(k), to_airlock(v)))
                .collect(),
        ),
        Core::SimpleValue(_) if v.data_type().is_null() => Value::Null,
        Core::SimpleValue(_) => Value::Bool(v.to_bool().expect("checked: a boolean")),
        other => panic!("outside Airlock's subset: {other:?}"),
    }
}

pub fn run(data: &[u8]) {
    let ours = cbor::decode(data, Limits::ARTIFACT);
    let theirs = Core::decode(data);
    match (&ours, &theirs) {
        (Ok(value), Ok(core)) => {
            assert_eq!(core.encode(), data, "cbor-core re-encodes differently");
            assert_eq!(outside_subset(core, 0), None);
            let converted = to_airlock(core);
            assert_eq!(
                cbor::encode(&converted),
                data,
                "cbor-core's value is not Airlock's value"
            );
            assert_eq!(cbor::encode(value), data);
        }
        (Ok(_), Err(e)) => {
            panic!("Airlock accepts what the strict cbor-core decoder refuses: {e:?}")
        }
        (Err(e), Ok(core)) => {
            if data.len() <= Limits::ARTIFACT.max_len {
                assert!(
                    outside_subset(core, 0).is_some(),
                    "Airlock refuses deterministic CBOR inside its subset ({e}): {core:?}"
                );
            }
        }
        (Err(_), Err(_)) => {}
    }
}
