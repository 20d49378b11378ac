//! Deterministic CBOR (RFC 8949 §4.2.1, "core deterministic encoding") for everything that crosses
//! the air gap.
//!
//! Airlock artifacts use a small subset of CBOR: unsigned and negative integers, byte and text
//! strings, arrays, maps and the simple values `false`, `true`, `null`. The encoder always writes
//! the shortest argument form and sorts map keys by their encoded bytes; the decoder accepts only
//! bytes that the encoder would write, so one value has exactly one encoding and the SHA-256 of
//! the bytes identifies it.
//!
//! Why our own codec: general CBOR crates decode permissively (non-shortest integers, unsorted or
//! duplicate map keys, indefinite lengths) and leave canonical checking to the caller; Airlock needs
//! a decoder that is *total* (never panics, never allocates more than the input can justify) and
//! strict by construction. The subset is small enough to check exhaustively in tests.
//!
//! This module must never accept floats, tags, indefinite lengths, `undefined`, duplicate keys,
//! trailing bytes or input over the caller's size cap, and must never allocate a container larger
//! than the remaining input could fill.

use std::fmt;

/// A CBOR data item of the subset Airlock uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Unsigned(u64),
    /// The negative integer `-1 - n`.
    Negative(u64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Value>),
    /// Entries in any order; the encoder sorts them canonically. Keys must be distinct.
    Map(Vec<(Value, Value)>),
    Bool(bool),
    Null,
}

impl Value {
    /// A short name of the item's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Unsigned(_) => "unsigned integer",
            Value::Negative(_) => "negative integer",
            Value::Bytes(_) => "byte string",
            Value::Text(_) => "text string",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Bool(_) => "boolean",
            Value::Null => "null",
        }
    }
}

/// Limits applied while decoding untrusted bytes.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest input accepted, checked before anything is parsed.
    pub max_len: usize,
    /// Deepest nesting of arrays and maps.
    pub max_depth: usize,
}

impl Limits {
    /// 16 MiB and 32 levels: enough for a 1,000-input PSBT or a large Monero transaction set.
    pub const ARTIFACT: Limits = Limits {
        max_len: 16 * 1024 * 1024,
        max_depth: 32,
    };
}

/// Why bytes were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("input is {len} bytes, over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("input is empty")]
    Empty,
    #[error("input is truncated at byte {offset}")]
    Truncated { offset: usize },
    #[error("non-canonical CBOR at byte {offset}: {what}")]
    NonCanonical { offset: usize, what: &'static str },
    #[error("unsupported CBOR at byte {offset}: {what}")]
    Unsupported { offset: usize, what: &'static str },
    #[error("{count} trailing bytes after the item (at byte {offset})")]
    TrailingBytes { offset: usize, count: usize },
    #[error("nesting deeper than {max} levels at byte {offset}")]
    TooDeep { offset: usize, max: usize },
    #[error("text string at byte {offset} is not valid UTF-8")]
    InvalidUtf8 { offset: usize },
}

/// Encodes a value canonically.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

fn write_head(major: u8, arg: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg <= u8::MAX as u64 {
        out.push(m | 24);
        out.push(arg as u8);
    } else if arg <= u16::MAX as u64 {
        out.push(m | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= u32::MAX as u64 {
        out.push(m | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

fn encode_into(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Unsigned(n) => write_head(0, *n, out),
        Value::Negative(n) => write_head(1, *n, out),
        Value::Bytes(b) => {
            write_head(2, b.len() as u64, out);
            out.extend_from_slice(b);
        }
        Value::Text(s) => {
            write_head(3, s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            write_head(4, items.len() as u64, out);
            for item in items {
                encode_into(item, out);
            }
        }
        Value::Map(entries) => {
            let mut encoded: Vec<(Vec<u8>, Vec<u8>)> = entries
                .iter()
                .map(|(k, v)| (encode(k), encode(v)))
                .collect();
            encoded.sort_by(|a, b| a.0.cmp(&b.0));
            write_head(5, encoded.len() as u64, out);
            for (k, v) in encoded {
                out.extend_from_slice(&k);
                out.extend_from_slice(&v);
            }
        }
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Null => out.push(0xf6),
    }
}

/// Decodes exactly one canonical item from `bytes`, refusing anything else.
pub fn decode(bytes: &[u8], limits: Limits) -> Result<Value, DecodeError> {
    if bytes.len() > limits.max_len {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: limits.max_len,
        });
    }
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let mut decoder = Decoder {
        bytes,
        pos: 0,
        max_depth: limits.max_depth,
    };
    let value = decoder.item(0)?;
    if decoder.pos != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            offset: decoder.pos,
            count: bytes.len() - decoder.pos,
        });
    }
    Ok(value)
}

struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl Decoder<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                offset: self.bytes.len(),
            });
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    /// Reads an item head; returns (major type, argument).
    fn head(&mut self) -> Result<(u8, u64, usize), DecodeError> {
        let start = self.pos;
        let initial = self.take(1)?[0];
        let major = initial >> 5;
        let info = initial & 0x1f;
        let arg = match info {
            0..=23 => info as u64,
            24 => {
                let v = self.take(1)?[0] as u64;
                if v < 24 {
                    return Err(non_canonical(
                        start,
                        "integer argument not in shortest form",
                    ));
                }
                v
            }
            25 => {
                let b = self.take(2)?;
                let v = u16::from_be_bytes([b[0], b[1]]) as u64;
                if v <= u8::MAX as u64 {
                    return Err(non_canonical(
                        start,
                        "integer argument not in shortest form",
                    ));
                }
                v
            }
            26 => {
                let b = self.take(4)?;
                let v = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64;
                if v <= u16::MAX as u64 {
                    return Err(non_canonical(
                        start,
                        "integer argument not in shortest form",
                    ));
                }
                v
            }
            27 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let v = u64::from_be_bytes(a);
                if v <= u32::MAX as u64 {
                    return Err(non_canonical(
                        start,
                        "integer argument not in shortest form",
                    ));
                }
                v
            }
            31 => {
                return Err(DecodeError::Unsupported {
                    offset: start,
                    what: "indefinite-length item",
                });
            }
            _ => {
                return Err(DecodeError::Unsupported {
                    offset: start,
                    what: "reserved additional information",
                });
            }
        };
        Ok((major, arg, start))
    }

    fn length(&self, arg: u64, start: usize) -> Result<usize, DecodeError> {
        // Every element needs at least one byte, so a count above the remaining input is a lie.
        if arg > self.remaining() as u64 {
            return Err(DecodeError::Truncated {
                offset: self.bytes.len().max(start),
            });
        }
        Ok(arg as usize)
    }

    fn item(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let (major, arg, start) = self.head()?;
        match major {
            0 => Ok(Value::Unsigned(arg)),
            1 => Ok(Value::Negative(arg)),
            2 => {
                let len = self.length(arg, start)?;
                Ok(Value::Bytes(self.take(len)?.to_vec()))
            }
            3 => {
                let len = self.length(arg, start)?;
                let raw = self.take(len)?;
                let text = std::str::from_utf8(raw)
                    .map_err(|_| DecodeError::InvalidUtf8 { offset: start })?;
                Ok(Value::Text(text.to_owned()))
            }
            4 => {
                if depth >= self.max_depth {
                    return Err(DecodeError::TooDeep {
                        offset: start,
                        max: self.max_depth,
                    });
                }
                let count = self.length(arg, start)?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.item(depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            5 => {
                if depth >= self.max_depth {
                    return Err(DecodeError::TooDeep {
                        offset: start,
                        max: self.max_depth,
                    });
                }
                // A map entry needs at least two bytes.
                let count = self.length(arg.saturating_mul(2), start)? / 2;
                let mut entries = Vec::with_capacity(count);
                let mut previous_key: Option<(usize, usize)> = None;
                for _ in 0..count {
                    let key_start = self.pos;
                    let key = self.item(depth + 1)?;
                    let key_end = self.pos;
                    if let Some((ps, pe)) = previous_key {
                        let prev = &self.bytes[ps..pe];
                        let this = &self.bytes[key_start..key_end];
                        match prev.cmp(this) {
                            std::cmp::Ordering::Less => {}
                            std::cmp::Ordering::Equal => {
                                return Err(non_canonical(key_start, "duplicate map key"));
                            }
                            std::cmp::Ordering::Greater => {
                                return Err(non_canonical(
                                    key_start,
                                    "map keys not in sorted order",
                                ));
                            }
                        }
                    }
                    previous_key = Some((key_start, key_end));
                    let value = self.item(depth + 1)?;
                    entries.push((key, value));
                }
                Ok(Value::Map(entries))
            }
            6 => Err(DecodeError::Unsupported {
                offset: start,
                what: "tagged item",
            }),
            _ => match (start, self.bytes[start] & 0x1f) {
                (_, 20) => Ok(Value::Bool(false)),
                (_, 21) => Ok(Value::Bool(true)),
                (_, 22) => Ok(Value::Null),
                (_, 25..=27) => Err(DecodeError::Unsupported {
                    offset: start,
                    what: "floating-point number",
                }),
                _ => Err(DecodeError::Unsupported {
                    offset: start,
                    what: "simple value other than false, true, null",
                }),
            },
        }
    }
}

fn non_canonical(offset: usize, what: &'static str) -> DecodeError {
    DecodeError::NonCanonical { offset, what }
}

impl fmt::Display for Value {
    /// CBOR diagnostic notation (RFC 8949 §8), for `inspect`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unsigned(n) => write!(f, "{n}"),
            Value::Negative(n) => write!(f, "{}", -1 - (*n as i128)),
            Value::Bytes(b) => write!(f, "h'{}'", hex::encode(b)),
            Value::Text(s) => write!(f, "{s:?}"),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(bytes: &[u8]) -> Result<Value, DecodeError> {
        decode(bytes, Limits::ARTIFACT)
    }

    #[test]
    fn rfc8949_appendix_a_integers_and_strings() {
        // Facts from RFC 8949 Appendix A.
        let cases: &[(Value, &str)] = &[
            (Value::Unsigned(0), "00"),
            (Value::Unsigned(23), "17"),
            (Value::Unsigned(24), "1818"),
            (Value::Unsigned(100), "1864"),
            (Value::Unsigned(1000), "1903e8"),
            (Value::Unsigned(1_000_000), "1a000f4240"),
            (Value::Unsigned(1_000_000_000_000), "1b000000e8d4a51000"),
            (Value::Unsigned(u64::MAX), "1bffffffffffffffff"),
            (Value::Negative(0), "20"),
            (Value::Negative(9), "29"),
            (Value::Negative(99), "3863"),
            (Value::Negative(999), "3903e7"),
            (Value::Bytes(vec![]), "40"),
            (Value::Bytes(vec![1, 2, 3, 4]), "4401020304"),
            (Value::Text(String::new()), "60"),
            (Value::Text("IETF".into()), "6449455446"),
            (Value::Text("\u{00fc}".into()), "62c3bc"),
            (Value::Bool(false), "f4"),
            (Value::Bool(true), "f5"),
            (Value::Null, "f6"),
            (
                Value::Array(vec![
                    Value::Unsigned(1),
                    Value::Array(vec![Value::Unsigned(2), Value::Unsigned(3)]),
                ]),
                "8201820203",
            ),
            (
                Value::Map(vec![
                    (Value::Unsigned(1), Value::Unsigned(2)),
                    (Value::Unsigned(3), Value::Unsigned(4)),
                ]),
                "a201020304",
            ),
        ];
        for (value, hex_bytes) in cases {
            let bytes = hex::decode(hex_bytes).unwrap();
            assert_eq!(encode(value), bytes, "encoding of {value}");
            assert_eq!(&d(&bytes).unwrap(), value, "decoding of {hex_bytes}");
        }
    }

    #[test]
    fn map_keys_are_sorted_by_encoded_bytes() {
        // RFC 8949 §4.2.1: 10 < 100 < -1 < "z" < "aa" in bytewise order of their encodings.
        let map = Value::Map(vec![
            (Value::Text("aa".into()), Value::Null),
            (Value::Negative(0), Value::Null),
            (Value::Unsigned(100), Value::Null),
            (Value::Text("z".into()), Value::Null),
            (Value::Unsigned(10), Value::Null),
        ]);
        let bytes = encode(&map);
        assert_eq!(hex::encode(&bytes), "a50af61864f620f6617af6626161f6");
        let Value::Map(entries) = d(&bytes).unwrap() else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0, Value::Unsigned(10));
        assert_eq!(entries[4].0, Value::Text("aa".into()));
    }

    #[test]
    fn refuses_non_canonical_forms() {
        let cases: &[(&str, &str)] = &[
            ("1817", "shortest"),       // 23 in one extra byte
            ("190017", "shortest"),     // 23 in two extra bytes
            ("1a000000ff", "shortest"), // 255 in four bytes
            ("1b00000000ffffffff", "shortest"),
            ("a203040102", "sorted"), // keys 3, 1
            ("a201020103", "duplicate"),
            ("5801ff", "shortest"), // byte string length 1 in long form
        ];
        for (hex_bytes, word) in cases {
            let err = d(&hex::decode(hex_bytes).unwrap()).unwrap_err();
            assert!(
                matches!(err, DecodeError::NonCanonical { .. }) && err.to_string().contains(word),
                "{hex_bytes}: {err}"
            );
        }
    }

    #[test]
    fn refuses_unsupported_items() {
        for hex_bytes in [
            "5fff",
            "9fff",
            "bfff",
            "c100",
            "f97c00",
            "fb3ff0000000000000",
            "f7",
            "e0",
            "1c",
            "f818",
        ] {
            let err = d(&hex::decode(hex_bytes).unwrap()).unwrap_err();
            assert!(
                matches!(err, DecodeError::Unsupported { .. }),
                "{hex_bytes}: {err}"
            );
        }
    }

    #[test]
    fn refuses_truncation_trailing_bytes_and_bad_utf8() {
        let value = Value::Map(vec![
            (Value::Unsigned(1), Value::Text("hello".into())),
            (Value::Unsigned(2), Value::Bytes(vec![9; 40])),
        ]);
        let bytes = encode(&value);
        for cut in 0..bytes.len() {
            assert!(d(&bytes[..cut]).is_err(), "prefix of {cut} bytes accepted");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(matches!(
            d(&extra),
            Err(DecodeError::TrailingBytes { count: 1, .. })
        ));
        assert!(matches!(
            d(&hex::decode("62c328").unwrap()),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
    }

    #[test]
    fn huge_declared_lengths_do_not_allocate() {
        // An array claiming 2^63 items, a byte string claiming 4 GiB, a map claiming 2^32 entries.
        for hex_bytes in ["9b8000000000000000", "5affffffff00", "bb0000000100000000"] {
            let err = d(&hex::decode(hex_bytes).unwrap()).unwrap_err();
            assert!(
                matches!(err, DecodeError::Truncated { .. }),
                "{hex_bytes}: {err}"
            );
        }
    }

    #[test]
    fn size_cap_and_depth_cap() {
        let limits = Limits {
            max_len: 4,
            max_depth: 2,
        };
        assert!(matches!(
            decode(&[0x45, 1, 2, 3, 4, 5], limits),
            Err(DecodeError::TooLarge { len: 6, max: 4 })
        ));
        assert!(matches!(
            decode(&[0x81, 0x81, 0x81, 0x00], limits),
            Err(DecodeError::TooDeep { .. })
        ));
        assert!(decode(&[0x81, 0x81, 0x00], limits).is_ok());
    }

    #[test]
    fn every_single_byte_input_is_handled() {
        for b in 0..=255u8 {
            let _ = d(&[b]);
            let _ = d(&[b, 0x00]);
            let _ = d(&[b, 0xff, 0xff]);
        }
    }
}
