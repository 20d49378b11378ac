//! BC-UR (Blockchain Commons BCR-2020-005 Uniform Resources, BCR-2020-006 registry) through the
//! `ur` crate, for interoperability with wallets.
//!
//! Airlock artifacts and raw transactions travel as `ur:bytes`, PSBTs as `ur:crypto-psbt`,
//! wallet2's files as Feather's `ur:xmr-output|xmr-keyimage|xmr-txunsigned|xmr-txsigned`; on
//! reading, those, and the newer `psbt` name, are accepted (each is a CBOR byte string holding
//! the file). A payload that fits one frame is a single-part UR; otherwise the
//! crate's fountain encoder emits the fragments once and then fresh mixed parts, forever. Frames
//! are upper case so the QR code uses alphanumeric mode.
//!
//! The `ur` crate trusts the numbers inside a part (a mixed part with a huge fragment count makes
//! it allocate that many weights), so every part is checked here first: its sequence numbers,
//! fragment count, message length (at most [`crate::MAX_MESSAGE_LEN`]) and that the count matches
//! the length and fragment size. This module must never hand an unchecked part to the crate.

use std::collections::BTreeSet;

use crate::{Content, Decoded, Format, MAX_MESSAGE_LEN, Progress, QrError, Result};

/// UR types read whose CBOR is a byte string holding the file.
pub const ACCEPTED_TYPES: &[&str] = &[
    "bytes",
    "crypto-psbt",
    "psbt",
    "xmr-output",
    "xmr-keyimage",
    "xmr-txunsigned",
    "xmr-txsigned",
];

/// Registry types read (keys and descriptors from hardware wallets): their bytes are the CBOR
/// item itself, for `airlock_chain_bitcoin::devices` or `airlock_chain_ethereum::eip4527` to
/// interpret.
pub const REGISTRY_TYPES: &[&str] = &[
    "crypto-output",
    "crypto-account",
    "crypto-hdkey",
    "eth-sign-request",
    "eth-signature",
];

fn is_registry_type(ty: &str) -> bool {
    REGISTRY_TYPES.contains(&ty)
}

/// Most fragments a message may be cut into.
pub const MAX_FRAGMENTS: usize = 1 << 16;

/// The UR type written for `content`.
pub fn ur_type_for(content: Content) -> &'static str {
    match content {
        Content::Psbt => "crypto-psbt",
        Content::Artifact | Content::Transaction | Content::WalletText => "bytes",
        Content::CryptoOutput => "crypto-output",
        Content::CryptoAccount => "crypto-account",
        Content::EthSignRequest => "eth-sign-request",
        Content::Monero(file) => file.ur_type(),
    }
}

/// CBOR byte string (major type 2) holding `data`.
pub fn cbor_bytes(data: &[u8]) -> Vec<u8> {
    let n = data.len();
    let mut out = Vec::with_capacity(n + 9);
    if n < 24 {
        out.push(0x40 | n as u8);
    } else if n < 0x100 {
        out.extend([0x58, n as u8]);
    } else if n < 0x1_0000 {
        out.push(0x59);
        out.extend((n as u16).to_be_bytes());
    } else {
        out.push(0x5a);
        out.extend((n as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Reads a CBOR unsigned integer or byte-string head at `pos`: (major type, argument).
fn cbor_head(b: &[u8], pos: &mut usize) -> Option<(u8, u64)> {
    let first = *b.get(*pos)?;
    *pos += 1;
    let major = first >> 5;
    let info = first & 31;
    let n = match info {
        0..=23 => u64::from(info),
        24..=27 => {
            let len = 1usize << (info - 24);
            let bytes = b.get(*pos..*pos + len)?;
            *pos += len;
            bytes.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x))
        }
        _ => return None,
    };
    Some((major, n))
}

/// The content of a CBOR byte string that is exactly `b`.
pub fn cbor_unwrap_bytes(b: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    let (major, n) = cbor_head(b, &mut pos)?;
    (major == 2 && (b.len() - pos) as u64 == n).then(|| &b[pos..])
}

/// A live UR frame source.
pub struct UrStream {
    single: Option<String>,
    encoder: Option<ur::Encoder<'static>>,
    capacity: usize,
}

impl UrStream {
    /// Starts a stream for `data` with frames of at most `capacity` characters.
    pub fn new(data: &[u8], content: Content, capacity: usize) -> Result<Self> {
        let ty = ur_type_for(content);
        let cbor = if is_registry_type(ty) {
            data.to_vec()
        } else {
            cbor_bytes(data)
        };
        let single = ur::ur::try_encode(&cbor, &ur::Type::Custom(ty))
            .map_err(|e| QrError::Encode(e.to_string()))?
            .to_ascii_uppercase();
        if single.len() <= capacity {
            return Ok(UrStream {
                single: Some(single),
                encoder: None,
                capacity,
            });
        }
        // Budget: "ur:" + type + "/" + up to 15 characters of "seq-count/" + bytewords (2
        // characters per byte) of the part's CBOR (≤ 24 bytes of header) and its CRC32.
        let overhead = 4 + ty.len() + 15 + 2 * (24 + 4);
        let max_fragment = capacity.saturating_sub(overhead) / 2;
        if max_fragment < 10 {
            return Err(QrError::Encode("QR too small for UR".into()));
        }
        let encoder = ur::Encoder::new(&cbor, max_fragment, ty)
            .map_err(|e| QrError::Encode(e.to_string()))?;
        if encoder.fragment_count() > MAX_FRAGMENTS {
            return Err(QrError::Encode(format!(
                "{} UR fragments needed, over the limit of {MAX_FRAGMENTS}: use a higher density",
                encoder.fragment_count()
            )));
        }
        Ok(UrStream {
            single: None,
            encoder: Some(encoder),
            capacity,
        })
    }

    /// Frames one lossless cycle needs.
    pub fn needed(&self) -> usize {
        self.encoder.as_ref().map_or(1, |e| e.fragment_count())
    }

    /// The next frame.
    pub fn next_frame(&mut self) -> Result<String> {
        let s = match (&self.single, &mut self.encoder) {
            (Some(s), _) => s.clone(),
            (None, Some(e)) => e
                .next_part()
                .map_err(|e| QrError::Encode(e.to_string()))?
                .to_ascii_uppercase(),
            (None, None) => unreachable!("one of them is set"),
        };
        if s.len() > self.capacity {
            return Err(QrError::Encode(format!(
                "UR part of {} characters does not fit {} characters",
                s.len(),
                self.capacity
            )));
        }
        Ok(s)
    }
}

#[derive(Clone, PartialEq, Eq)]
struct UrMeta {
    ty: String,
    count: usize,
    message_len: usize,
    checksum: u32,
}

impl UrMeta {
    fn describe(&self) -> String {
        format!(
            "UR {} message (CRC32 {:08x}, {} bytes, {} fragments)",
            self.ty, self.checksum, self.message_len, self.count
        )
    }
}

/// Reassembles URs (single-part or fountain parts) in any order.
#[derive(Default)]
pub struct UrDecoder {
    meta: Option<UrMeta>,
    single: Option<(String, Vec<u8>)>,
    inner: ur::Decoder,
    seen: BTreeSet<u64>,
}

fn ur_err(e: ur::ur::Error) -> QrError {
    let s = e.to_string();
    if s.to_ascii_lowercase().contains("checksum") {
        QrError::Corrupted(format!("UR part: {s}"))
    } else {
        QrError::Malformed(format!("UR part: {s}"))
    }
}

impl UrDecoder {
    /// Takes one UR.
    pub fn receive(&mut self, text: &str) -> Result<Progress> {
        let lower = text.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("ur:")
            .ok_or_else(|| QrError::Malformed("not a UR".into()))?;
        let (ty, rest) = rest
            .split_once('/')
            .ok_or_else(|| QrError::Malformed("UR without a type".into()))?;
        if !ACCEPTED_TYPES.contains(&ty) && !is_registry_type(ty) {
            return Err(QrError::Malformed(format!(
                "UR type {ty:?} is not one of {}, {}",
                ACCEPTED_TYPES.join(", "),
                REGISTRY_TYPES.join(", ")
            )));
        }
        match rest.split_once('/') {
            None => self.receive_single(ty, rest),
            Some((indices, body)) => self.receive_part(&lower, ty, indices, body),
        }
    }

    fn receive_single(&mut self, ty: &str, body: &str) -> Result<Progress> {
        let cbor = ur::bytewords::decode(body, ur::bytewords::Style::Minimal)
            .map_err(|e| QrError::Corrupted(format!("single-part UR: {e}")))?;
        let data = if is_registry_type(ty) {
            &cbor[..]
        } else {
            cbor_unwrap_bytes(&cbor).ok_or_else(|| {
                QrError::Malformed(format!("UR {ty} does not hold a CBOR byte string"))
            })?
        };
        if data.len() > MAX_MESSAGE_LEN {
            return Err(QrError::Absurd("UR message over the size limit".into()));
        }
        if let Some(m) = &self.meta {
            return Err(QrError::MixedMessages {
                first: m.describe(),
                second: format!("a single-part UR {ty}"),
            });
        }
        match &self.single {
            Some((t, d)) if t != ty || d != data => {
                return Err(QrError::MixedMessages {
                    first: format!("a single-part UR {t} of {} bytes", d.len()),
                    second: format!("a single-part UR {ty} of {} bytes", data.len()),
                });
            }
            Some(_) => {}
            None => self.single = Some((ty.to_owned(), data.to_vec())),
        }
        Ok(self.progress())
    }

    fn receive_part(
        &mut self,
        full: &str,
        ty: &str,
        indices: &str,
        body: &str,
    ) -> Result<Progress> {
        let (seq, count) = indices
            .split_once('-')
            .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
            .ok_or_else(|| QrError::Malformed(format!("UR part numbers {indices:?}")))?;
        if seq == 0 || count == 0 || count > MAX_FRAGMENTS as u64 {
            return Err(QrError::Absurd(format!(
                "UR part {seq} of {count} fragments (at most {MAX_FRAGMENTS})"
            )));
        }
        let cbor = ur::bytewords::decode(body, ur::bytewords::Style::Minimal)
            .map_err(|e| QrError::Corrupted(format!("UR part {seq}: {e}")))?;
        // [seq, count, message length, checksum, fragment]
        let mut pos = 0;
        let bad = || QrError::Malformed(format!("UR part {seq} is not a fountain part"));
        if cbor_head(&cbor, &mut pos) != Some((4, 5)) {
            return Err(bad());
        }
        let mut uint = || match cbor_head(&cbor, &mut pos) {
            Some((0, n)) => Ok(n),
            _ => Err(bad()),
        };
        let (pseq, pcount, mlen, checksum) = (uint()?, uint()?, uint()?, uint()?);
        let frag = match cbor_head(&cbor, &mut pos) {
            Some((2, n)) if (cbor.len() - pos) as u64 == n => n,
            _ => return Err(bad()),
        };
        if pseq != seq || pcount != count {
            return Err(QrError::Malformed(format!(
                "UR part {seq}-{count} carries part {pseq}-{pcount}"
            )));
        }
        if mlen == 0 || mlen > (MAX_MESSAGE_LEN + 9) as u64 || frag == 0 {
            return Err(QrError::Absurd(format!(
                "UR message of {mlen} bytes in fragments of {frag} (limit {MAX_MESSAGE_LEN})"
            )));
        }
        if mlen.div_ceil(frag) != count || checksum > u64::from(u32::MAX) {
            return Err(QrError::Absurd(format!(
                "UR part says {count} fragments of {frag} bytes for a {mlen}-byte message"
            )));
        }
        let meta = UrMeta {
            ty: ty.to_owned(),
            count: count as usize,
            message_len: mlen as usize,
            checksum: checksum as u32,
        };
        if let Some((t, d)) = &self.single {
            return Err(QrError::MixedMessages {
                first: format!("a single-part UR {t} of {} bytes", d.len()),
                second: meta.describe(),
            });
        }
        match &self.meta {
            Some(m) if *m != meta => {
                return Err(QrError::MixedMessages {
                    first: m.describe(),
                    second: meta.describe(),
                });
            }
            Some(_) => {}
            None => self.meta = Some(meta),
        }
        if self.inner.complete() {
            self.seen.insert(seq);
            return Ok(self.progress());
        }
        self.inner.receive(full).map_err(ur_err)?;
        self.seen.insert(seq);
        Ok(self.progress())
    }

    /// Progress so far.
    pub fn progress(&self) -> Progress {
        if self.single.is_some() {
            return Progress {
                format: Format::Ur,
                seen: 1,
                needed: 1,
                complete: true,
            };
        }
        Progress {
            format: Format::Ur,
            seen: self.seen.len(),
            needed: self.meta.as_ref().map_or(0, |m| m.count),
            complete: self.inner.complete(),
        }
    }

    /// The message, once complete.
    pub fn finish(self) -> Result<Decoded> {
        if let Some((ty, bytes)) = self.single {
            return Ok(Decoded {
                format: Format::Ur,
                kind: ty,
                bytes,
            });
        }
        let Some(meta) = self.meta else {
            return Err(QrError::Incomplete("no UR parts".into()));
        };
        let Some(cbor) = self.inner.message().map_err(ur_err)? else {
            let resolved = self.inner.resolved_fragment_count().unwrap_or(0);
            return Err(QrError::Incomplete(format!(
                "{} is missing fragments: {resolved} of {} resolved from {} parts; scan more frames",
                meta.describe(),
                meta.count,
                self.seen.len()
            )));
        };
        let bytes = if is_registry_type(&meta.ty) {
            cbor
        } else {
            cbor_unwrap_bytes(&cbor)
                .ok_or_else(|| {
                    QrError::Malformed(format!("UR {} does not hold a CBOR byte string", meta.ty))
                })?
                .to_vec()
        };
        Ok(Decoded {
            format: Format::Ur,
            kind: meta.ty,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbor_bytes_round_trip() {
        for n in [0usize, 23, 24, 255, 256, 65535, 65536] {
            let d = vec![7u8; n];
            let c = cbor_bytes(&d);
            assert_eq!(cbor_unwrap_bytes(&c), Some(&d[..]));
        }
        assert_eq!(cbor_unwrap_bytes(&[0x43, 1, 2]), None);
        assert_eq!(cbor_unwrap_bytes(&[0x01]), None);
    }
}
