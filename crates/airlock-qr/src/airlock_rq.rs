//! Airlock-to-Airlock frames: compressed payload + RaptorQ (RFC 6330) symbols, one per QR code.
//!
//! The message is compressed (raw deflate, zlib's algorithm without its header: the SHA-256 id
//! replaces zlib's Adler-32; kept only when smaller) and encoded as a single RaptorQ
//! source block (`raptorq` crate) of `k` symbols. Frames show the `k` source symbols first, then
//! repair symbols with fresh ids forever; a receiver recovers the message from any `k` (rarely
//! `k + 1` or `k + 2`) distinct frames, in any order — unlike BC-UR's LT fountain, which needs far
//! more frames once some are lost.
//!
//! A frame is `AIRLOCK1/` followed by the base32 (QR alphanumeric mode) of:
//!
//! ```text
//! flags u8 (bit 0: payload is deflate-compressed; other bits zero)
//! message id [8]   first 8 bytes of SHA-256 of the original (uncompressed) message
//! length u32       original message length (at most 16 MiB)
//! transfer u32     payload length F after compression (= length when not compressed)
//! symbol size u16  T
//! symbol id u24    RaptorQ encoding symbol id (source block 0)
//! symbol [T]
//! crc32 u32        CRC-32 (IEEE) of everything above
//! ```
//!
//! The decoder checks the CRC before reading any field, checks every size before allocating,
//! refuses frames whose header differs from the first frame's (a mixed message, naming both ids),
//! and checks the SHA-256 prefix of the reassembled message. It must never panic on input, never
//! allocate more than the (bounded) declared sizes and never return bytes whose id does not match.

use std::collections::BTreeSet;
use std::io::Write as _;

use raptorq::{EncodingPacket, ObjectTransmissionInformation, PayloadId, SourceBlockEncoder};
use sha2::{Digest, Sha256};

use crate::{Decoded, Format, MAX_MESSAGE_LEN, Progress, QrError, Result, base32, bbqr};

/// Prefix of every Airlock frame (also the format and its version).
pub const PREFIX: &str = "AIRLOCK1/";
/// Header bytes before the symbol.
pub const HEADER_LEN: usize = 22;
/// Bytes of a frame besides the symbol (header + CRC).
pub const OVERHEAD: usize = HEADER_LEN + 4;
/// RFC 6330's largest source block (K'max).
pub const MAX_SYMBOLS: usize = 56403;
/// Largest symbol size accepted (a version 40 QR holds about 2680 bytes this way).
pub const MAX_SYMBOL_SIZE: usize = 4096;
const MAX_ESI: u32 = (1 << 24) - 1;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Header {
    flags: u8,
    id: [u8; 8],
    length: u32,
    transfer: u32,
    symbol_size: u16,
}

impl Header {
    fn describe(&self) -> String {
        format!("Airlock message {} ({} bytes)", hex8(&self.id), self.length)
    }

    fn symbols(&self) -> usize {
        (self.transfer as usize).div_ceil(usize::from(self.symbol_size))
    }

    fn oti(&self) -> ObjectTransmissionInformation {
        ObjectTransmissionInformation::new(u64::from(self.transfer), self.symbol_size, 1, 1, 1)
    }
}

fn hex8(id: &[u8; 8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The symbol size that fits frames of `capacity` characters.
pub fn symbol_size_for(capacity: usize) -> usize {
    let bytes = capacity.saturating_sub(PREFIX.len()) * 5 / 8;
    bytes.saturating_sub(OVERHEAD).min(MAX_SYMBOL_SIZE)
}

fn frame_text(h: &Header, esi: u32, symbol: &[u8]) -> String {
    let mut bin = Vec::with_capacity(OVERHEAD + symbol.len());
    bin.push(h.flags);
    bin.extend_from_slice(&h.id);
    bin.extend(h.length.to_be_bytes());
    bin.extend(h.transfer.to_be_bytes());
    bin.extend(h.symbol_size.to_be_bytes());
    bin.extend(&esi.to_be_bytes()[1..]);
    bin.extend_from_slice(symbol);
    let crc = crc32fast::hash(&bin);
    bin.extend(crc.to_be_bytes());
    let mut s = String::with_capacity(PREFIX.len() + base32::encoded_len(bin.len()));
    s.push_str(PREFIX);
    s.push_str(&base32::encode(&bin));
    s
}

/// A live source of Airlock frames: the source symbols, then repair symbols forever.
pub struct RqStream {
    header: Header,
    source: Vec<EncodingPacket>,
    encoder: SourceBlockEncoder,
    next: usize,
    repair: u32,
}

impl RqStream {
    /// Starts a stream for `data` with frames of at most `capacity` characters.
    pub fn new(data: &[u8], capacity: usize) -> Result<Self> {
        if data.is_empty() || data.len() > MAX_MESSAGE_LEN {
            return Err(QrError::Encode(format!(
                "message of {} bytes (1 to {MAX_MESSAGE_LEN})",
                data.len()
            )));
        }
        let compressed = {
            let mut enc =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            enc.write_all(data).expect("Vec write");
            enc.finish().expect("Vec write")
        };
        let (flags, payload) = if compressed.len() < data.len() {
            (1u8, compressed)
        } else {
            (0u8, data.to_vec())
        };
        let t_max = symbol_size_for(capacity);
        if t_max < 16 {
            return Err(QrError::Encode("QR too small for Airlock frames".into()));
        }
        let t = t_max.min(payload.len());
        let k = payload.len().div_ceil(t);
        if k > MAX_SYMBOLS {
            return Err(QrError::Encode(format!(
                "{k} RaptorQ symbols needed, over the limit of {MAX_SYMBOLS}: use a higher density"
            )));
        }
        let digest = Sha256::digest(data);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        let header = Header {
            flags,
            id,
            length: data.len() as u32,
            transfer: payload.len() as u32,
            symbol_size: t as u16,
        };
        let encoder = raptorq::Encoder::new(&payload, header.oti());
        let block = encoder.get_block_encoders()[0].clone();
        let source = block.source_packets();
        Ok(RqStream {
            header,
            source,
            encoder: block,
            next: 0,
            repair: 0,
        })
    }

    /// Frames one lossless cycle needs (the number of source symbols).
    pub fn needed(&self) -> usize {
        self.source.len()
    }

    /// The message id (hex of the first 8 bytes of its SHA-256).
    pub fn message_id(&self) -> String {
        hex8(&self.header.id)
    }

    /// The next frame: source symbols first, then fresh repair symbols.
    pub fn next_frame(&mut self) -> String {
        if self.next < self.source.len() {
            let p = &self.source[self.next];
            self.next += 1;
            return frame_text(&self.header, p.payload_id().encoding_symbol_id(), p.data());
        }
        let p = loop {
            let p = self.encoder.repair_packets(self.repair, 1).remove(0);
            self.repair += 1;
            if p.payload_id().encoding_symbol_id() <= MAX_ESI {
                break p;
            }
            self.repair = 0;
        };
        frame_text(&self.header, p.payload_id().encoding_symbol_id(), p.data())
    }
}

/// Reassembles Airlock frames in any order.
#[derive(Default)]
pub struct RqDecoder {
    header: Option<Header>,
    decoder: Option<raptorq::Decoder>,
    seen: BTreeSet<u32>,
    payload: Option<Vec<u8>>,
}

impl RqDecoder {
    /// Takes one frame.
    pub fn receive(&mut self, text: &str) -> Result<Progress> {
        let body = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| QrError::Malformed("not an Airlock frame".into()))?;
        let bin = base32::decode(body)
            .ok_or_else(|| QrError::Corrupted("Airlock frame is not base32".into()))?;
        if bin.len() <= OVERHEAD {
            return Err(QrError::Corrupted(format!(
                "Airlock frame of {} bytes is shorter than its header",
                bin.len()
            )));
        }
        let (content, crc) = bin.split_at(bin.len() - 4);
        if crc32fast::hash(content).to_be_bytes() != crc {
            return Err(QrError::Corrupted("Airlock frame fails its CRC32".into()));
        }
        let be32 =
            |r: std::ops::Range<usize>| u32::from_be_bytes(content[r].try_into().expect("4 bytes"));
        let mut id = [0u8; 8];
        id.copy_from_slice(&content[1..9]);
        let h = Header {
            flags: content[0],
            id,
            length: be32(9..13),
            transfer: be32(13..17),
            symbol_size: u16::from_be_bytes([content[17], content[18]]),
        };
        let esi = u32::from_be_bytes([0, content[19], content[20], content[21]]);
        let symbol = &content[HEADER_LEN..];
        validate(&h, symbol.len())?;
        match &self.header {
            Some(first) if *first != h => {
                return Err(QrError::MixedMessages {
                    first: first.describe(),
                    second: h.describe(),
                });
            }
            Some(_) => {}
            None => {
                self.header = Some(h);
                self.decoder = Some(raptorq::Decoder::new(h.oti()));
            }
        }
        if self.payload.is_none() && self.seen.insert(esi) {
            let packet = EncodingPacket::new(PayloadId::new(0, esi), symbol.to_vec());
            if let Some(d) = self.decoder.as_mut() {
                self.payload = d.decode(packet);
            }
        } else {
            self.seen.insert(esi);
        }
        Ok(self.progress())
    }

    /// Progress so far.
    pub fn progress(&self) -> Progress {
        Progress {
            format: Format::AirlockRq,
            seen: self.seen.len(),
            needed: self.header.map_or(0, |h| h.symbols()),
            complete: self.payload.is_some(),
        }
    }

    /// The message, once enough frames were received.
    pub fn finish(self) -> Result<Decoded> {
        let Some(h) = self.header else {
            return Err(QrError::Incomplete("no Airlock frames".into()));
        };
        let Some(payload) = self.payload else {
            return Err(QrError::Incomplete(format!(
                "{}: {} distinct frames of the {} needed; scan more frames",
                h.describe(),
                self.seen.len(),
                h.symbols()
            )));
        };
        let bytes = if h.flags & 1 == 1 {
            bbqr::inflate_bounded(&payload, h.length as usize)?
        } else {
            payload
        };
        let digest = Sha256::digest(&bytes);
        if bytes.len() != h.length as usize || digest[..8] != h.id {
            return Err(QrError::Corrupted(format!(
                "the reassembled message does not match {}",
                h.describe()
            )));
        }
        Ok(Decoded {
            format: Format::AirlockRq,
            kind: "airlock".into(),
            bytes,
        })
    }
}

/// Refuses headers no encoder of this format writes, before anything is allocated.
fn validate(h: &Header, symbol_len: usize) -> Result<()> {
    let absurd = |m: String| Err(QrError::Absurd(format!("Airlock frame: {m}")));
    if h.flags > 1 {
        return absurd(format!("unknown flags {:#04x}", h.flags));
    }
    let (len, f, t) = (
        h.length as usize,
        h.transfer as usize,
        usize::from(h.symbol_size),
    );
    if len == 0 || len > MAX_MESSAGE_LEN {
        return absurd(format!(
            "message length {len} (1 to {MAX_MESSAGE_LEN} bytes)"
        ));
    }
    if (h.flags == 0 && f != len) || (h.flags == 1 && (f == 0 || f >= len)) {
        return absurd(format!("payload length {f} for a {len}-byte message"));
    }
    if t == 0 || t > MAX_SYMBOL_SIZE || t > f {
        return absurd(format!("symbol size {t} for a {f}-byte payload"));
    }
    if h.symbols() > MAX_SYMBOLS {
        return absurd(format!("{} symbols (at most {MAX_SYMBOLS})", h.symbols()));
    }
    if symbol_len != t {
        return Err(QrError::Corrupted(format!(
            "Airlock frame carries {symbol_len} symbol bytes, its header says {t}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn any_k_frames_decode() {
        let data = message(20_000);
        let mut s = RqStream::new(&data, 1000).unwrap();
        let k = s.needed();
        assert!(k > 10);
        let frames: Vec<String> = (0..3 * k).map(|_| s.next_frame()).collect();
        // Every other frame, then source-free: only repair frames.
        for pick in [
            frames.iter().step_by(2).take(k + 2).collect::<Vec<_>>(),
            frames[k..].iter().take(k + 2).collect(),
        ] {
            let mut d = RqDecoder::default();
            for f in pick {
                d.receive(f).unwrap();
            }
            assert_eq!(d.finish().unwrap().bytes, data);
        }
    }

    #[test]
    fn corrupted_and_mixed_frames_are_refused() {
        let a = RqStream::new(&message(5000), 800).unwrap().next_frame();
        let b = RqStream::new(&message(5001), 800).unwrap().next_frame();
        let mut d = RqDecoder::default();
        d.receive(&a).unwrap();
        let e = d.receive(&b).unwrap_err();
        assert!(matches!(e, QrError::MixedMessages { .. }), "{e}");
        let mut bad = a.clone().into_bytes();
        let i = PREFIX.len() + 40;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        let e = RqDecoder::default()
            .receive(std::str::from_utf8(&bad).unwrap())
            .unwrap_err();
        assert!(matches!(e, QrError::Corrupted(_)), "{e}");
    }

    #[test]
    fn absurd_headers_are_refused_before_allocation() {
        let h = Header {
            flags: 0,
            id: [0; 8],
            length: u32::MAX,
            transfer: u32::MAX,
            symbol_size: 16,
        };
        let f = frame_text(&h, 0, &[0u8; 16]);
        assert!(matches!(
            RqDecoder::default().receive(&f),
            Err(QrError::Absurd(_))
        ));
        let h = Header {
            length: 16_000_000,
            transfer: 16_000_000,
            symbol_size: 16,
            ..h
        };
        let f = frame_text(&h, 0, &[0u8; 16]);
        assert!(matches!(
            RqDecoder::default().receive(&f),
            Err(QrError::Absurd(_))
        ));
    }
}
