//! Reading and writing PSBT files: binary (BIP-174 `psbt\xff…`) or base64 text, with a size cap.
//!
//! A PSBT larger than [`MAX_PSBT_BYTES`] is refused before it is decoded, a truncated one gets an
//! error saying so, and PSBT version 2 (BIP-370) is recognised and refused with a clear message
//! (v2 input is not converted yet). This module must never panic on bad input.

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
    if let Some(version) = global_version(binary)
        && version != 0
    {
        return Err(BtcError::Psbt(format!(
            "PSBT version {version} is not supported: hand over a version 0 PSBT (BIP-174)"
        )));
    }
    Psbt::deserialize(binary).map_err(|e| {
        let message = e.to_string();
        if message.contains("end of file")
            || message.contains("UnexpectedEof")
            || message.to_lowercase().contains("eof")
        {
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

/// The PSBT_GLOBAL_VERSION value (key type 0xFB) if the global map has one; `None` when the
/// global map cannot be walked (the full parser then reports the problem).
fn global_version(binary: &[u8]) -> Option<u32> {
    let mut rest = binary.strip_prefix(MAGIC)?;
    loop {
        let (key_len, after) = compact_size(rest)?;
        if key_len == 0 {
            return Some(0);
        }
        let key_len = usize::try_from(key_len).ok()?;
        let key = after.get(..key_len)?;
        let after_key = after.get(key_len..)?;
        let (value_len, after) = compact_size(after_key)?;
        let value_len = usize::try_from(value_len).ok()?;
        let value = after.get(..value_len)?;
        rest = after.get(value_len..)?;
        if key == [0xfb] && value.len() == 4 {
            return Some(u32::from_le_bytes([value[0], value[1], value[2], value[3]]));
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
