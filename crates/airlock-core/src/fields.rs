//! Integer-keyed CBOR maps as records: a builder for encoding and a strict reader for decoding.
//!
//! Every artifact is a map with small unsigned integer keys. The reader hands out each field
//! once, names the record and field in every error, and refuses unknown keys when it is finished,
//! so a field added by a newer format version is never silently dropped.
//!
//! This module must never panic on a value of the wrong shape and never accept a key twice.

use crate::cbor::Value;

/// A record that could not be read: which record, which field, what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{record}: {problem}")]
pub struct FormatError {
    pub record: String,
    pub problem: String,
}

impl FormatError {
    pub fn new(record: impl Into<String>, problem: impl Into<String>) -> Self {
        FormatError {
            record: record.into(),
            problem: problem.into(),
        }
    }
}

/// Builds an integer-keyed map. Keys must be added at most once (checked in debug builds).
#[derive(Default)]
pub struct MapBuilder {
    entries: Vec<(Value, Value)>,
}

impl MapBuilder {
    pub fn new() -> Self {
        MapBuilder::default()
    }

    pub fn value(mut self, key: u64, value: Value) -> Self {
        debug_assert!(
            !self.entries.iter().any(|(k, _)| *k == Value::Unsigned(key)),
            "key {key} added twice"
        );
        self.entries.push((Value::Unsigned(key), value));
        self
    }

    pub fn uint(self, key: u64, n: u64) -> Self {
        self.value(key, Value::Unsigned(n))
    }

    pub fn text(self, key: u64, s: &str) -> Self {
        self.value(key, Value::Text(s.to_owned()))
    }

    pub fn bytes(self, key: u64, b: &[u8]) -> Self {
        self.value(key, Value::Bytes(b.to_vec()))
    }

    /// An amount: an unsigned integer up to 2^64-1, above that a big-endian byte string of 9 to
    /// 16 bytes without leading zeros (so each amount has exactly one encoding).
    pub fn amount(self, key: u64, n: u128) -> Self {
        self.value(key, amount_value(n))
    }

    pub fn bool(self, key: u64, b: bool) -> Self {
        self.value(key, Value::Bool(b))
    }

    pub fn array(self, key: u64, items: Vec<Value>) -> Self {
        self.value(key, Value::Array(items))
    }

    /// Adds the field only when present (absent fields are omitted, never `null`).
    pub fn opt(self, key: u64, value: Option<Value>) -> Self {
        match value {
            Some(v) => self.value(key, v),
            None => self,
        }
    }

    pub fn build(self) -> Value {
        Value::Map(self.entries)
    }
}

/// Reads the fields of an integer-keyed map.
pub struct Fields {
    /// A static name for top-level records (no allocation per record read), built for nested ones.
    record: std::borrow::Cow<'static, str>,
    /// The map's entries as decoded. Every key is an unsigned integer when opened; a field
    /// taken leaves `Null` for its key and value (no second copy of the map is made).
    entries: Vec<(Value, Value)>,
}

impl Fields {
    /// Opens `value` as the record named `record` (used in error messages).
    pub fn open(
        value: Value,
        record: impl Into<std::borrow::Cow<'static, str>>,
    ) -> Result<Fields, FormatError> {
        let record = record.into();
        let Value::Map(entries) = value else {
            return Err(FormatError::new(
                record.into_owned(),
                format!("expected a map, found a {}", value.type_name()),
            ));
        };
        if let Some((other, _)) = entries
            .iter()
            .find(|(k, _)| !matches!(k, Value::Unsigned(_)))
        {
            return Err(FormatError::new(
                record.into_owned(),
                format!(
                    "field key must be an unsigned integer, found a {}",
                    other.type_name()
                ),
            ));
        }
        Ok(Fields { record, entries })
    }

    pub fn record(&self) -> &str {
        &self.record
    }

    pub fn error(&self, problem: impl Into<String>) -> FormatError {
        FormatError::new(self.record.clone().into_owned(), problem)
    }

    /// Takes field `key` if present.
    pub fn take(&mut self, key: u64) -> Option<Value> {
        self.entries
            .iter_mut()
            .find(|(k, _)| matches!(k, Value::Unsigned(n) if *n == key))
            .map(|(k, v)| {
                *k = Value::Null;
                std::mem::replace(v, Value::Null)
            })
    }

    fn required(&mut self, key: u64, name: &str) -> Result<Value, FormatError> {
        self.take(key)
            .ok_or_else(|| self.error(format!("missing field {key} ({name})")))
    }

    fn wrong(&self, key: u64, name: &str, expected: &str, found: &Value) -> FormatError {
        self.error(format!(
            "field {key} ({name}) must be a {expected}, found a {}",
            found.type_name()
        ))
    }

    pub fn uint(&mut self, key: u64, name: &str) -> Result<u64, FormatError> {
        match self.required(key, name)? {
            Value::Unsigned(n) => Ok(n),
            other => Err(self.wrong(key, name, "unsigned integer", &other)),
        }
    }

    /// An amount written by `MapBuilder::amount`.
    pub fn amount(&mut self, key: u64, name: &str) -> Result<u128, FormatError> {
        let v = self.required(key, name)?;
        amount_from_value(&v).ok_or_else(|| {
            self.error(format!(
                "field {key} ({name}) must be an amount (an unsigned integer, or 9-16 big-endian bytes without leading zeros above 2^64-1)"
            ))
        })
    }

    pub fn opt_uint(&mut self, key: u64, name: &str) -> Result<Option<u64>, FormatError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Unsigned(n)) => Ok(Some(n)),
            Some(other) => Err(self.wrong(key, name, "unsigned integer", &other)),
        }
    }

    pub fn text(&mut self, key: u64, name: &str) -> Result<String, FormatError> {
        match self.required(key, name)? {
            Value::Text(s) => Ok(s),
            other => Err(self.wrong(key, name, "text string", &other)),
        }
    }

    /// A text field that may be absent (read as empty).
    pub fn text_or_empty(&mut self, key: u64, name: &str) -> Result<String, FormatError> {
        match self.take(key) {
            None => Ok(String::new()),
            Some(Value::Text(s)) => Ok(s),
            Some(other) => Err(self.wrong(key, name, "text string", &other)),
        }
    }

    pub fn bytes(&mut self, key: u64, name: &str) -> Result<Vec<u8>, FormatError> {
        match self.required(key, name)? {
            Value::Bytes(b) => Ok(b),
            other => Err(self.wrong(key, name, "byte string", &other)),
        }
    }

    pub fn bytes_or_empty(&mut self, key: u64, name: &str) -> Result<Vec<u8>, FormatError> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::Bytes(b)) => Ok(b),
            Some(other) => Err(self.wrong(key, name, "byte string", &other)),
        }
    }

    /// A byte string of exactly `N` bytes.
    pub fn fixed<const N: usize>(&mut self, key: u64, name: &str) -> Result<[u8; N], FormatError> {
        let b = self.bytes(key, name)?;
        <[u8; N]>::try_from(b.as_slice()).map_err(|_| {
            self.error(format!(
                "field {key} ({name}) must be {N} bytes, found {}",
                b.len()
            ))
        })
    }

    pub fn opt_fixed<const N: usize>(
        &mut self,
        key: u64,
        name: &str,
    ) -> Result<Option<[u8; N]>, FormatError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bytes(b)) => <[u8; N]>::try_from(b.as_slice()).map(Some).map_err(|_| {
                self.error(format!(
                    "field {key} ({name}) must be {N} bytes, found {}",
                    b.len()
                ))
            }),
            Some(other) => Err(self.wrong(key, name, "byte string", &other)),
        }
    }

    pub fn bool(&mut self, key: u64, name: &str) -> Result<bool, FormatError> {
        match self.required(key, name)? {
            Value::Bool(b) => Ok(b),
            other => Err(self.wrong(key, name, "boolean", &other)),
        }
    }

    pub fn array(&mut self, key: u64, name: &str) -> Result<Vec<Value>, FormatError> {
        match self.required(key, name)? {
            Value::Array(items) => Ok(items),
            other => Err(self.wrong(key, name, "array", &other)),
        }
    }

    pub fn array_or_empty(&mut self, key: u64, name: &str) -> Result<Vec<Value>, FormatError> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong(key, name, "array", &other)),
        }
    }

    /// An array of text strings (required, like every field its encoder always writes: an
    /// absent one would give a second encoding of the same record).
    pub fn texts(&mut self, key: u64, name: &str) -> Result<Vec<String>, FormatError> {
        let items = self.array(key, name)?;
        items
            .into_iter()
            .map(|v| match v {
                Value::Text(s) => Ok(s),
                other => Err(self.wrong(key, name, "array of text strings", &other)),
            })
            .collect()
    }

    /// A nested record.
    pub fn record_field(&mut self, key: u64, name: &str) -> Result<Fields, FormatError> {
        let v = self.required(key, name)?;
        Fields::open(v, format!("{} field {key} ({name})", self.record))
    }

    /// A nested record that may be absent.
    pub fn opt_record_field(
        &mut self,
        key: u64,
        name: &str,
    ) -> Result<Option<Fields>, FormatError> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => Fields::open(v, format!("{} field {key} ({name})", self.record)).map(Some),
        }
    }

    /// Checks the record's format version (field 0).
    pub fn version(&mut self, supported: u64) -> Result<(), FormatError> {
        let v = self.uint(0, "format version")?;
        if v != supported {
            return Err(self.error(format!(
                "unsupported format version {v} (this build reads version {supported})"
            )));
        }
        Ok(())
    }

    /// Finishes reading: any field not taken is an unknown field and refused.
    pub fn finish(self) -> Result<(), FormatError> {
        let unknown: Vec<String> = self
            .entries
            .iter()
            .filter_map(|(k, _)| match k {
                Value::Unsigned(n) => Some(n.to_string()),
                _ => None,
            })
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(FormatError::new(
                self.record,
                format!("unknown field(s) {}", unknown.join(", ")),
            ))
        }
    }
}

/// The canonical CBOR form of an amount.
pub fn amount_value(n: u128) -> Value {
    match u64::try_from(n) {
        Ok(small) => Value::Unsigned(small),
        Err(_) => {
            let bytes = n.to_be_bytes();
            let first = bytes.iter().position(|b| *b != 0).unwrap_or(15);
            Value::Bytes(bytes[first..].to_vec())
        }
    }
}

/// Reads an amount, refusing any non-canonical form.
pub fn amount_from_value(v: &Value) -> Option<u128> {
    match v {
        Value::Unsigned(n) => Some(*n as u128),
        Value::Bytes(b) if (9..=16).contains(&b.len()) && b[0] != 0 => {
            let mut buf = [0u8; 16];
            buf[16 - b.len()..].copy_from_slice(b);
            Some(u128::from_be_bytes(buf))
        }
        _ => None,
    }
}

/// Reads each element of an array as a nested record.
pub fn records(items: Vec<Value>, record: &str) -> Result<Vec<Fields>, FormatError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| Fields::open(v, format!("{record}[{i}]")))
        .collect()
}
