//! Reading and writing PSBT files: binary (BIP-174 `psbt\xff…`) or base64 text, with a size cap.
//!
//! A PSBT larger than [`MAX_PSBT_BYTES`] is refused before it is decoded and a truncated one gets
//! an error saying so. PSBT version 2 (BIP-370) input is converted to version 0: the unsigned
//! transaction is rebuilt from the v2 per-input (previous txid, output index, sequence, required
//! lock times) and per-output (amount, script) fields, the lock time chosen as BIP-370 says, and
//! every other key-value pair is kept as is. Output is always version 0. This module must never
//! panic on bad input.

use base64::Engine as _;
use bitcoin::Psbt;

use crate::error::BtcError;

/// The largest PSBT accepted, binary size (16 MiB; a 1,000-input PSBT with full previous
/// transactions is under 1 MiB).
pub const MAX_PSBT_BYTES: usize = 16 * 1024 * 1024;

const MAGIC: &[u8] = b"psbt\xff";

/// Reads a PSBT from binary or base64 bytes (surrounding whitespace allowed for base64).
pub fn parse_psbt(bytes: &[u8]) -> Result<Psbt, BtcError> {
    if bytes.is_empty() {
        return Err(BtcError::Psbt("the PSBT is empty".into()));
    }
    let binary_limit = MAX_PSBT_BYTES;
    let base64_limit = MAX_PSBT_BYTES / 3 * 4 + 64;
    let decoded;
    let binary: &[u8] = if bytes.starts_with(MAGIC) {
        if bytes.len() > binary_limit {
            return Err(too_large(bytes.len()));
        }
        bytes
    } else {
        if bytes.len() > base64_limit {
            return Err(too_large(bytes.len() / 4 * 3));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| {
                BtcError::Psbt(
                    "not a PSBT: neither binary (psbt\\xff magic) nor base64 text".into(),
                )
            })?
            .trim();
        if !text.starts_with("cHNidP") {
            return Err(BtcError::Psbt(
                "not a PSBT: neither binary (psbt\\xff magic) nor base64 text starting with cHNidP"
                    .into(),
            ));
        }
        decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| BtcError::Psbt(format!("the base64 text is damaged or truncated: {e}")))?;
        &decoded
    };
    let converted;
    let binary = match global_version(binary)? {
        Some(0) | None => binary,
        Some(2) => {
            converted = v2_to_v0(binary)?;
            &converted[..]
        }
        Some(version) => {
            return Err(BtcError::Psbt(format!(
                "PSBT version {version} is not supported (versions 0 and 2 are)"
            )));
        }
    };
    Psbt::deserialize(binary).map_err(|e| {
        // rust-bitcoin's Display stops at "consensus encoding error"; the cause chain says more.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        let debug = format!("{e:?}");
        if debug.contains("UnexpectedEof") || message.to_lowercase().contains("end of file") {
            BtcError::Psbt(format!(
                "the PSBT is truncated ({} bytes): {message}",
                binary.len()
            ))
        } else {
            BtcError::Psbt(format!("the PSBT is malformed: {message}"))
        }
    })
}

/// The binary PSBT.
pub fn serialize_psbt(psbt: &Psbt) -> Vec<u8> {
    psbt.serialize()
}

/// The base64 text of a PSBT (as Electrum, Sparrow and Bitcoin Core exchange it).
pub fn psbt_to_base64(psbt: &Psbt) -> String {
    base64::engine::general_purpose::STANDARD.encode(psbt.serialize())
}

fn too_large(size: usize) -> BtcError {
    BtcError::Psbt(format!(
        "the PSBT is too large ({size} bytes; at most {MAX_PSBT_BYTES} bytes are accepted)"
    ))
}

/// The PSBT_GLOBAL_VERSION value (key type 0xFB) of the global map: `Ok(None)` when the map has
/// none, an error when the global map ends early (truncated) or the magic is missing.
fn global_version(binary: &[u8]) -> Result<Option<u32>, BtcError> {
    let truncated = || {
        BtcError::Psbt(format!(
            "the PSBT is truncated ({} bytes): its global map ends early",
            binary.len()
        ))
    };
    let mut rest = binary
        .strip_prefix(MAGIC)
        .ok_or_else(|| BtcError::Psbt("not a PSBT: the psbt\\xff magic is missing".into()))?;
    loop {
        let (key_len, after) = compact_size(rest).ok_or_else(truncated)?;
        if key_len == 0 {
            return Ok(None);
        }
        let key_len = usize::try_from(key_len).map_err(|_| truncated())?;
        let key = after.get(..key_len).ok_or_else(truncated)?;
        let after_key = after.get(key_len..).ok_or_else(truncated)?;
        let (value_len, after) = compact_size(after_key).ok_or_else(truncated)?;
        let value_len = usize::try_from(value_len).map_err(|_| truncated())?;
        let value = after.get(..value_len).ok_or_else(truncated)?;
        rest = after.get(value_len..).ok_or_else(truncated)?;
        if key == [0xfb] {
            let bytes: [u8; 4] = value
                .try_into()
                .map_err(|_| BtcError::Psbt("PSBT_GLOBAL_VERSION must be 4 bytes".into()))?;
            return Ok(Some(u32::from_le_bytes(bytes)));
        }
    }
}

fn compact_size(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (&first, rest) = bytes.split_first()?;
    match first {
        0xfd => Some((
            u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as u64,
            rest.get(2..)?,
        )),
        0xfe => Some((
            u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as u64,
            rest.get(4..)?,
        )),
        0xff => Some((
            u64::from_le_bytes(rest.get(..8)?.try_into().ok()?),
            rest.get(8..)?,
        )),
        n => Some((n as u64, rest)),
    }
}

/// One key-value map of a PSBT: (key type, whole key bytes, value bytes).
type RawMap<'a> = Vec<(u8, &'a [u8], &'a [u8])>;

fn v2_error(message: impl Into<String>) -> BtcError {
    BtcError::Psbt(format!("PSBT version 2: {}", message.into()))
}

/// Reads one map; `rest` advances past its separator.
fn read_map<'a>(rest: &mut &'a [u8], what: &str) -> Result<RawMap<'a>, BtcError> {
    let mut map = Vec::new();
    loop {
        let truncated = || v2_error(format!("the {what} map is truncated"));
        let (key_len, after) = compact_size(rest).ok_or_else(truncated)?;
        if key_len == 0 {
            *rest = after;
            return Ok(map);
        }
        let key_len = usize::try_from(key_len).map_err(|_| truncated())?;
        let key = after.get(..key_len).ok_or_else(truncated)?;
        let after = after.get(key_len..).ok_or_else(truncated)?;
        let (value_len, after) = compact_size(after).ok_or_else(truncated)?;
        let value_len = usize::try_from(value_len).map_err(|_| truncated())?;
        let value = after.get(..value_len).ok_or_else(truncated)?;
        *rest = after.get(value_len..).ok_or_else(truncated)?;
        let key_type = key[0];
        if key_type >= 0xfd {
            return Err(v2_error(format!(
                "multi-byte key types in the {what} map are not supported"
            )));
        }
        map.push((key_type, key, value));
    }
}

fn single<'a>(map: &RawMap<'a>, key_type: u8, what: &str) -> Result<Option<&'a [u8]>, BtcError> {
    let mut found = None;
    for (t, key, value) in map {
        if *t == key_type {
            if key.len() != 1 || found.is_some() {
                return Err(v2_error(format!("{what} is malformed or duplicated")));
            }
            found = Some(*value);
        }
    }
    Ok(found)
}

fn u32_field(map: &RawMap<'_>, key_type: u8, what: &str) -> Result<Option<u32>, BtcError> {
    match single(map, key_type, what)? {
        None => Ok(None),
        Some(v) => v
            .try_into()
            .map(|b: [u8; 4]| Some(u32::from_le_bytes(b)))
            .map_err(|_| v2_error(format!("{what} must be 4 bytes"))),
    }
}

fn count_field(map: &RawMap<'_>, key_type: u8, what: &str) -> Result<usize, BtcError> {
    let value =
        single(map, key_type, what)?.ok_or_else(|| v2_error(format!("{what} is missing")))?;
    match compact_size(value) {
        Some((n, [])) => usize::try_from(n)
            .ok()
            .filter(|&n| n <= MAX_PSBT_BYTES / 8)
            .ok_or_else(|| v2_error(format!("{what} is too large"))),
        _ => Err(v2_error(format!("{what} is malformed"))),
    }
}

fn write_compact_size(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

fn write_pair(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    write_compact_size(out, key.len() as u64);
    out.extend_from_slice(key);
    write_compact_size(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// Rewrites a BIP-370 version 2 PSBT as version 0 (see the module docs).
fn v2_to_v0(binary: &[u8]) -> Result<Vec<u8>, BtcError> {
    use bitcoin::hashes::Hash as _;
    use bitcoin::{OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};

    let mut rest = binary
        .strip_prefix(MAGIC)
        .ok_or_else(|| v2_error("bad magic"))?;
    let global = read_map(&mut rest, "global")?;
    if single(&global, 0x00, "PSBT_GLOBAL_UNSIGNED_TX")?.is_some() {
        return Err(v2_error("it must not carry PSBT_GLOBAL_UNSIGNED_TX"));
    }
    let version = u32_field(&global, 0x02, "PSBT_GLOBAL_TX_VERSION")?
        .ok_or_else(|| v2_error("PSBT_GLOBAL_TX_VERSION is missing"))?;
    let fallback = u32_field(&global, 0x03, "PSBT_GLOBAL_FALLBACK_LOCKTIME")?.unwrap_or(0);
    let input_count = count_field(&global, 0x04, "PSBT_GLOBAL_INPUT_COUNT")?;
    let output_count = count_field(&global, 0x05, "PSBT_GLOBAL_OUTPUT_COUNT")?;

    let mut inputs = Vec::with_capacity(input_count);
    let mut input_maps = Vec::with_capacity(input_count);
    let (mut any_required, mut all_time, mut all_height) = (false, true, true);
    let (mut max_time, mut max_height) = (0u32, 0u32);
    for i in 0..input_count {
        let map = read_map(&mut rest, &format!("input {i}"))?;
        let txid = single(&map, 0x0e, "PSBT_IN_PREVIOUS_TXID")?
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(|| v2_error(format!("input {i} has no valid PSBT_IN_PREVIOUS_TXID")))?;
        let vout = u32_field(&map, 0x0f, "PSBT_IN_OUTPUT_INDEX")?
            .ok_or_else(|| v2_error(format!("input {i} has no PSBT_IN_OUTPUT_INDEX")))?;
        let sequence = u32_field(&map, 0x10, "PSBT_IN_SEQUENCE")?.unwrap_or(u32::MAX);
        let time = u32_field(&map, 0x11, "PSBT_IN_REQUIRED_TIME_LOCKTIME")?;
        let height = u32_field(&map, 0x12, "PSBT_IN_REQUIRED_HEIGHT_LOCKTIME")?;
        if time.is_some() || height.is_some() {
            any_required = true;
            all_time &= time.is_some();
            all_height &= height.is_some();
            max_time = max_time.max(time.unwrap_or(0));
            max_height = max_height.max(height.unwrap_or(0));
        }
        inputs.push(TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array(txid), vout),
            script_sig: ScriptBuf::new(),
            sequence: Sequence(sequence),
            witness: Witness::new(),
        });
        input_maps.push(map);
    }
    let mut outputs = Vec::with_capacity(output_count);
    let mut output_maps = Vec::with_capacity(output_count);
    for o in 0..output_count {
        let map = read_map(&mut rest, &format!("output {o}"))?;
        let amount = single(&map, 0x03, "PSBT_OUT_AMOUNT")?
            .and_then(|v| <[u8; 8]>::try_from(v).ok())
            .map(i64::from_le_bytes)
            .filter(|a| *a >= 0)
            .ok_or_else(|| v2_error(format!("output {o} has no valid PSBT_OUT_AMOUNT")))?;
        let script = single(&map, 0x04, "PSBT_OUT_SCRIPT")?
            .ok_or_else(|| v2_error(format!("output {o} has no PSBT_OUT_SCRIPT")))?;
        outputs.push(TxOut {
            value: bitcoin::Amount::from_sat(amount as u64),
            script_pubkey: ScriptBuf::from_bytes(script.to_vec()),
        });
        output_maps.push(map);
    }
    if !rest.is_empty() {
        return Err(v2_error("unexpected bytes after the last output map"));
    }
    let lock_time = if !any_required {
        fallback
    } else if all_height {
        max_height
    } else if all_time {
        max_time
    } else {
        return Err(v2_error(
            "the inputs require incompatible lock times (some by height, others by time)",
        ));
    };
    let tx = Transaction {
        version: bitcoin::transaction::Version(version as i32),
        lock_time: bitcoin::absolute::LockTime::from_consensus(lock_time),
        input: inputs,
        output: outputs,
    };

    let mut out = Vec::with_capacity(binary.len() + 64 * (input_count + output_count));
    out.extend_from_slice(MAGIC);
    write_pair(
        &mut out,
        &[0x00],
        &bitcoin::consensus::encode::serialize(&tx),
    );
    for (t, key, value) in &global {
        if !matches!(t, 0x02..=0x06 | 0xfb) {
            write_pair(&mut out, key, value);
        }
    }
    out.push(0x00);
    for map in &input_maps {
        for (t, key, value) in map {
            if !matches!(t, 0x0e..=0x12) {
                write_pair(&mut out, key, value);
            }
        }
        out.push(0x00);
    }
    for map in &output_maps {
        for (t, key, value) in map {
            if !matches!(t, 0x03 | 0x04) {
                write_pair(&mut out, key, value);
            }
        }
        out.push(0x00);
    }
    Ok(out)
}
