//! BBQr, Coinkite's "Better Bitcoin QR" (public domain spec, github.com/coinkite/BBQr `BBQr.md`),
//! written here because it is a small spec with no maintained Rust crate.
//!
//! Every part is `B$` + encoding (`H` hex, `2` base32, `Z` zlib raw deflate with a 2^10 window
//! then base32) + file type letter (`P` PSBT, `T` transaction, `J` JSON, `C` CBOR, `U` UTF-8
//! text, `B` binary, `X` executable) + the number of parts and this part's index, two base-36
//! digits each, then the data. The whole file is encoded (and compressed) once and then cut; all
//! parts but the last have the same length, a multiple of 8 characters for base32 (2 for hex), so
//! each decodes to whole bytes. BBQr has no redundancy: every part is needed, and no checksum
//! (the QR code's own error correction is trusted), so a reassembled file is only as good as the
//! scan. This module must never allocate from a count or length it has not bounded first.

use crate::{Content, Decoded, Format, MAX_MESSAGE_LEN, Progress, QrError, Result, base32};

/// The fixed prefix of every BBQr part.
pub const PREFIX: &str = "B$";
/// Header length: `B$`, encoding, type, two base-36 digits of count, two of index.
pub const HEADER_LEN: usize = 8;
/// The largest number of parts base-36 `ZZ` allows.
pub const MAX_PARTS: usize = 1295;

const FILE_TYPES: &[u8] = b"PTJCUBX";

/// The BBQr file type letter for `content`.
pub fn file_type_for(content: Content) -> u8 {
    match content {
        Content::Psbt => b'P',
        Content::Transaction => b'T',
        Content::Artifact | Content::Monero(_) => b'B',
        Content::WalletText => b'U',
        Content::CryptoOutput | Content::CryptoAccount | Content::EthSignRequest => b'C',
    }
}

fn base36(n: usize) -> [u8; 2] {
    const D: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    [D[(n / 36) % 36], D[n % 36]]
}

fn parse_base36(s: &[u8]) -> Option<usize> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(usize::from(c - b'0')),
        b'A'..=b'Z' => Some(usize::from(c - b'A') + 10),
        _ => None,
    };
    Some(digit(s[0])? * 36 + digit(s[1])?)
}

/// Raw deflate with the 2^10 window BBQr requires (so Coldcard-class decoders can inflate it),
/// at maximum effort.
pub fn deflate_wbits10(data: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new_with_window_bits(flate2::Compression::best(), false, 10);
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    loop {
        let consumed = usize::try_from(c.total_in())
            .unwrap_or(data.len())
            .min(data.len());
        if out.len() == out.capacity() {
            out.reserve(out.len().max(1024));
        }
        let status = c
            .compress_vec(&data[consumed..], &mut out, flate2::FlushCompress::Finish)
            .expect("deflate of in-memory data cannot fail");
        if status == flate2::Status::StreamEnd {
            return out;
        }
    }
}

/// Inflates raw deflate, refusing output over `max` bytes (no decompression bombs).
pub fn inflate_bounded(data: &[u8], max: usize) -> Result<Vec<u8>> {
    let mut d = flate2::Decompress::new(false);
    let mut out = Vec::with_capacity(data.len().saturating_mul(3).min(max));
    loop {
        if out.len() == out.capacity() {
            if out.len() >= max {
                return Err(QrError::Absurd(format!(
                    "compressed data expands past the limit of {max} bytes"
                )));
            }
            out.reserve_exact((out.len().max(4096)).min(max - out.len()));
        }
        let before_in = d.total_in();
        let before_out = d.total_out();
        let consumed = usize::try_from(before_in).unwrap_or(usize::MAX);
        let status = d
            .decompress_vec(
                &data[consumed.min(data.len())..],
                &mut out,
                flate2::FlushDecompress::Finish,
            )
            .map_err(|e| QrError::Corrupted(format!("deflate data: {e}")))?;
        if out.len() > max {
            return Err(QrError::Absurd(format!(
                "compressed data expands past the limit of {max} bytes"
            )));
        }
        if status == flate2::Status::StreamEnd {
            if d.total_in() as usize != data.len() {
                return Err(QrError::Corrupted(
                    "bytes after the end of the deflate stream".into(),
                ));
            }
            return Ok(out);
        }
        if d.total_in() == before_in && d.total_out() == before_out && out.len() < out.capacity() {
            return Err(QrError::Corrupted("deflate stream is truncated".into()));
        }
    }
}

/// Encodes `data` as BBQr parts of at most `capacity` characters each, as a file of type
/// `file_type`. Uses `Z` when compression makes it shorter, else `2`.
pub fn encode(data: &[u8], file_type: u8, capacity: usize) -> Result<Vec<String>> {
    let compressed = deflate_wbits10(data);
    let (enc, body) = if compressed.len() < data.len() {
        (b'Z', base32::encode(&compressed))
    } else {
        (b'2', base32::encode(data))
    };
    encode_body(enc, file_type, &body, capacity)
}

/// Encodes `data` with an explicit encoding letter (`H`, `2` or `Z`).
pub fn encode_with(data: &[u8], enc: u8, file_type: u8, capacity: usize) -> Result<Vec<String>> {
    let body = match enc {
        b'H' => hex_upper(data),
        b'2' => base32::encode(data),
        b'Z' => base32::encode(&deflate_wbits10(data)),
        _ => return Err(QrError::Encode("BBQr encodings are H, 2 and Z".into())),
    };
    encode_body(enc, file_type, &body, capacity)
}

fn hex_upper(data: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        s.push(D[usize::from(b >> 4)] as char);
        s.push(D[usize::from(b & 15)] as char);
    }
    s
}

fn encode_body(enc: u8, file_type: u8, body: &str, capacity: usize) -> Result<Vec<String>> {
    let modulus = if enc == b'H' { 2 } else { 8 };
    if !FILE_TYPES.contains(&file_type) {
        return Err(QrError::Encode("unknown BBQr file type".into()));
    }
    let per_max = (capacity.saturating_sub(HEADER_LEN) / modulus) * modulus;
    if per_max == 0 {
        return Err(QrError::Encode("QR too small for BBQr".into()));
    }
    let n = body.len().div_ceil(per_max).max(1);
    if n > MAX_PARTS {
        return Err(QrError::Encode(format!(
            "{n} BBQr parts needed, over the limit of {MAX_PARTS}: use a higher density"
        )));
    }
    // Balance the parts: same length for all but the last, a multiple of the modulus.
    let per = body.len().div_ceil(n).div_ceil(modulus) * modulus;
    let n = body.len().div_ceil(per).max(1);
    let bytes = body.as_bytes();
    Ok((0..n)
        .map(|i| {
            let chunk = &bytes[(i * per).min(bytes.len())..((i + 1) * per).min(bytes.len())];
            let mut s = String::with_capacity(HEADER_LEN + chunk.len());
            s.push_str(PREFIX);
            s.push(enc as char);
            s.push(file_type as char);
            let t = base36(n);
            let x = base36(i);
            s.push(t[0] as char);
            s.push(t[1] as char);
            s.push(x[0] as char);
            s.push(x[1] as char);
            s.push_str(std::str::from_utf8(chunk).expect("ASCII"));
            s
        })
        .collect())
}

/// Reassembles BBQr parts received in any order.
#[derive(Default)]
pub struct BbqrDecoder {
    header: Option<(u8, u8, usize)>,
    parts: Vec<Option<String>>,
    seen: usize,
    body_len: Option<usize>,
}

impl BbqrDecoder {
    fn describe(enc: u8, ft: u8, total: usize) -> String {
        format!(
            "BBQr file type {} ({} encoding, {total} parts)",
            ft as char, enc as char
        )
    }

    /// Takes one part.
    pub fn receive(&mut self, text: &str) -> Result<Progress> {
        let b = text.as_bytes();
        if b.len() < HEADER_LEN || !text.starts_with(PREFIX) {
            return Err(QrError::Malformed(
                "BBQr part shorter than its header".into(),
            ));
        }
        let (enc, ft) = (b[2], b[3]);
        if !matches!(enc, b'H' | b'2' | b'Z') {
            return Err(QrError::Malformed(format!(
                "unknown BBQr encoding {:?}",
                enc as char
            )));
        }
        if !FILE_TYPES.contains(&ft) {
            return Err(QrError::Malformed(format!(
                "unknown BBQr file type {:?}",
                ft as char
            )));
        }
        let total = parse_base36(&b[4..6])
            .ok_or_else(|| QrError::Malformed("BBQr part count is not base 36".into()))?;
        let index = parse_base36(&b[6..8])
            .ok_or_else(|| QrError::Malformed("BBQr part index is not base 36".into()))?;
        if total == 0 || index >= total {
            return Err(QrError::Absurd(format!(
                "BBQr part index {index} of {total} parts"
            )));
        }
        let body = &text[HEADER_LEN..];
        let modulus = if enc == b'H' { 2 } else { 8 };
        let last = index + 1 == total;
        if body.is_empty() || (!last && !body.len().is_multiple_of(modulus)) {
            return Err(QrError::Malformed(format!(
                "BBQr part {index} has {} data characters, not whole bytes",
                body.len()
            )));
        }
        // Each part's data is checked as it is read (parts before the last are whole bytes), so a
        // damaged frame is refused now and a good copy later in the loop still counts.
        let decodes = if enc == b'H' {
            decode_hex(body).is_some()
        } else {
            base32::decode(body).is_some()
        };
        if !decodes {
            return Err(QrError::Malformed(format!(
                "BBQr part {index}: data is not {}",
                if enc == b'H' {
                    "upper-case hex"
                } else {
                    "base32"
                }
            )));
        }
        match self.header {
            None => {
                self.header = Some((enc, ft, total));
                // `total` is at most 1295 (two base-36 digits): bounded.
                self.parts = vec![None; total];
            }
            Some(h) if h != (enc, ft, total) => {
                return Err(QrError::MixedMessages {
                    first: Self::describe(h.0, h.1, h.2),
                    second: Self::describe(enc, ft, total),
                });
            }
            Some(_) => {}
        }
        if !last {
            match self.body_len {
                None => self.body_len = Some(body.len()),
                Some(l) if l != body.len() => {
                    return Err(QrError::MixedMessages {
                        first: format!("BBQr parts of {l} characters"),
                        second: format!("part {index} of {} characters", body.len()),
                    });
                }
                Some(_) => {}
            }
        }
        match &self.parts[index] {
            Some(existing) if existing != body => {
                return Err(QrError::MixedMessages {
                    first: format!("{} part {index}", Self::describe(enc, ft, total)),
                    second: format!("a different part {index}"),
                });
            }
            Some(_) => {}
            None => {
                self.parts[index] = Some(body.to_owned());
                self.seen += 1;
            }
        }
        Ok(self.progress())
    }

    /// Progress so far.
    pub fn progress(&self) -> Progress {
        let needed = self.header.map_or(0, |h| h.2);
        Progress {
            format: Format::Bbqr,
            seen: self.seen,
            needed,
            complete: needed > 0 && self.seen == needed,
        }
    }

    /// The file, once every part is in.
    pub fn finish(self) -> Result<Decoded> {
        let Some((enc, ft, total)) = self.header else {
            return Err(QrError::Incomplete("no BBQr parts".into()));
        };
        let missing: Vec<String> = self
            .parts
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_none())
            .map(|(i, _)| i.to_string())
            .collect();
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(20).map(String::as_str).collect();
            return Err(QrError::Incomplete(format!(
                "BBQr has no redundancy and {} of {total} parts are missing (index {}{})",
                missing.len(),
                shown.join(", "),
                if missing.len() > 20 { ", ..." } else { "" }
            )));
        }
        let body: String = self.parts.into_iter().flatten().collect();
        let raw = match enc {
            b'H' => decode_hex(&body)
                .ok_or_else(|| QrError::Malformed("BBQr data is not upper-case hex".into()))?,
            _ => base32::decode(&body)
                .ok_or_else(|| QrError::Malformed("BBQr data is not base32".into()))?,
        };
        let bytes = if enc == b'Z' {
            inflate_bounded(&raw, MAX_MESSAGE_LEN)?
        } else {
            raw
        };
        Ok(Decoded {
            format: Format::Bbqr,
            kind: (ft as char).to_string(),
            bytes,
        })
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    b.chunks(2)
        .map(|p| Some((nib(p[0])? << 4) | nib(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base36_round_trip() {
        for v in [0, 1, 35, 36, 250, 399, 1295] {
            let s = base36(v);
            assert_eq!(parse_base36(&s), Some(v));
        }
        assert_eq!(&base36(1295), b"ZZ");
        assert_eq!(&base36(5), b"05");
    }

    #[test]
    fn parts_are_equal_but_the_last_and_round_trip() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        for enc in [b'H', b'2', b'Z'] {
            let parts = encode_with(&data, enc, b'B', 500).unwrap();
            assert!(parts.len() > 1);
            let n = parts[0].len();
            assert!(parts[..parts.len() - 1].iter().all(|p| p.len() == n));
            assert!(parts.iter().all(|p| p.len() <= 500));
            let mut d = BbqrDecoder::default();
            for p in parts.iter().rev() {
                d.receive(p).unwrap();
            }
            assert_eq!(d.finish().unwrap().bytes, data);
        }
    }

    #[test]
    fn inflate_refuses_bombs_and_truncation() {
        let zeros = vec![0u8; 100_000];
        let c = deflate_wbits10(&zeros);
        assert_eq!(inflate_bounded(&c, 200_000).unwrap(), zeros);
        assert!(matches!(
            inflate_bounded(&c, 50_000),
            Err(QrError::Absurd(_))
        ));
        assert!(inflate_bounded(&c[..c.len() / 2], 200_000).is_err());
    }
}
