//! Moving artifacts across the air gap as (animated) QR codes.
//!
//! This crate is linked into the offline signer: it must never depend on anything that talks to a
//! network, and it never interprets what it carries (an artifact, a PSBT): it moves bytes. Everything
//! read from a QR code is hostile until reassembled and checked, so decoders refuse absurd sizes and
//! part counts **before** allocating, cap a message at [`MAX_MESSAGE_LEN`] (16 MiB), refuse frames
//! of two different messages mixed together (naming both), refuse corrupted parts, and never
//! panic on input.
//!
//! Three encodings, each in its own module:
//!
//! * [`ur_codec`] — BC-UR (BCR-2020-005/-006) through the `ur` crate: `ur:bytes` for Airlock
//!   artifacts, `ur:crypto-psbt` for PSBTs (the newer `ur:psbt` name is read too). Single-part
//!   when the payload fits one frame; otherwise the fountain encoder, which after the first cycle
//!   of fragments emits fresh mixed parts. For interoperability with wallets.
//! * [`bbqr`] — Coinkite's BBQr (`B$` header, hex / base32 / zlib+base32, file type letter,
//!   base-36 part numbers) for PSBTs and transactions, so Sparrow, Coldcard, Keystone and
//!   SeedSigner users can scan them. **Written here** (a small spec, no maintained Rust crate);
//!   compression uses zlib through `flate2` with the window limited to 2^10 as the spec requires.
//! * [`airlock_rq`] — Airlock-to-Airlock: zlib-compressed payload cut into RaptorQ (RFC 6330,
//!   `raptorq` crate) source and repair symbols; every frame carries a header (message id = first
//!   bytes of the SHA-256 of the message, lengths, symbol size, symbol id) and a CRC32, so any
//!   k(1+ε) frames decode, in any order, and mixed or corrupted frames are refused. **Ours**: the
//!   frame format; the erasure code is the crate's.
//!
//! Frames are always text in the QR *alphanumeric* character set (upper case UR, base32), which
//! every scanner (including `zbarimg`) returns unmangled; [`render`] draws them (terminal half
//! blocks, PNG, animated GIF, self-contained HTML) and [`scan`] reads QR codes back from PNG/GIF
//! files with `rqrr`. [`Decoder`] detects the format from the first frame and reports progress.
//! [`cli`] holds the `qr show` / `qr read` commands both binaries offer.
//!
//! What is ours and what is borrowed: QR encoding (`qrcode`), QR decoding (`rqrr`), PNG (`png`),
//! GIF (`gif`), UR and its fountain code (`ur`), RaptorQ (`raptorq`), deflate (`flate2`), CRC32
//! (`crc32fast`) are borrowed. BBQr, base32, the Airlock frame format, the density table and the
//! hostile-input checks around the borrowed decoders are ours.

pub mod airlock_rq;
pub mod base32;
pub mod bbqr;
pub mod cli;
pub mod render;
pub mod scan;
pub mod ur_codec;

use std::fmt;

/// The largest message any decoder here reassembles (the artifact cap of the rest of Airlock).
pub const MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;

/// The longest single frame text accepted (a version 40 QR holds at most 4296 alphanumeric
/// characters; anything much longer did not come from a QR code).
pub const MAX_FRAME_TEXT: usize = 8 * 1024;

/// Why encoding or decoding failed. Messages never contain payload bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QrError {
    /// Frames of two different messages were given together.
    #[error("QR frames from two different messages are mixed: {first} and {second}")]
    MixedMessages {
        /// The message the first frames belong to.
        first: String,
        /// The other message.
        second: String,
    },
    /// A frame failed its integrity check (CRC or inner checksum).
    #[error("corrupted QR part: {0}")]
    Corrupted(String),
    /// A frame announces sizes or counts no honest encoder produces.
    #[error("refusing QR part: {0}")]
    Absurd(String),
    /// A frame is not in any of the supported formats, or is malformed.
    #[error("not a supported QR part: {0}")]
    Malformed(String),
    /// Not all parts were received.
    #[error("incomplete: {0}")]
    Incomplete(String),
    /// The payload does not fit the chosen encoding or density.
    #[error("cannot encode: {0}")]
    Encode(String),
    /// An image could not be read or holds no QR code.
    #[error("{0}")]
    Image(String),
    /// A file or directory could not be read or written.
    #[error("{0}")]
    Io(String),
    /// A frame read from `file` was refused.
    #[error("{file}: {error}")]
    InFile {
        /// The image file.
        file: String,
        /// Why its frame was refused.
        error: Box<QrError>,
    },
}

impl QrError {
    /// The error itself, without the file it was found in.
    pub fn root(&self) -> &QrError {
        match self {
            QrError::InFile { error, .. } => error.root(),
            e => e,
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = QrError> = std::result::Result<T, E>;

/// The frame formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// BC-UR (`ur:type/...`).
    Ur,
    /// BBQr (`B$...`).
    Bbqr,
    /// Airlock frames with RaptorQ symbols (`AIRLOCK1/...`).
    AirlockRq,
}

impl Format {
    /// A short name for messages and `--json`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Ur => "ur",
            Format::Bbqr => "bbqr",
            Format::AirlockRq => "airlock",
        }
    }

    /// Which format a frame's text is in, from its prefix; `None` if none.
    pub fn detect(text: &str) -> Option<Format> {
        let b = text.as_bytes();
        if b.len() >= 3 && b[..3].eq_ignore_ascii_case(b"ur:") {
            Some(Format::Ur)
        } else if b.starts_with(bbqr::PREFIX.as_bytes()) {
            Some(Format::Bbqr)
        } else if b.starts_with(airlock_rq::PREFIX.as_bytes()) {
            Some(Format::AirlockRq)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of content is being sent; chooses the UR type and the BBQr file type letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// An Airlock artifact (UR type `bytes`, BBQr type `B`).
    Artifact,
    /// A binary PSBT (UR type `crypto-psbt`, BBQr type `P`).
    Psbt,
    /// A raw Bitcoin transaction (UR type `bytes`, BBQr type `T`).
    Transaction,
    /// A wallet setup file as text, e.g. a Coldcard multisig file (UR type `bytes`, BBQr type
    /// `U`), for devices that register a vault from a scanned file.
    WalletText,
    /// A BCR-2020-010 output descriptor: the data is already its CBOR item, written as UR type
    /// `crypto-output` without a byte-string wrapper (BBQr type `C`).
    CryptoOutput,
    /// A BCR-2020-015 account (a signer's keys for another coordinator): its CBOR item, written
    /// as UR type `crypto-account` without a byte-string wrapper (BBQr type `C`).
    CryptoAccount,
    /// An EIP-4527 request for a QR signer (Keystone): the data is its CBOR item, written as
    /// UR type `eth-sign-request` without a byte-string wrapper (BBQr type `C`).
    EthSignRequest,
    /// A wallet2 file (monero-wallet-cli, Feather) for Feather's cold-signing QR flow: written
    /// as Feather's UR type (`xmr-output`, `xmr-keyimage`, `xmr-txunsigned`, `xmr-txsigned`), a
    /// CBOR byte string holding the file (BBQr type `B`).
    Monero(MoneroFile),
}

/// Which wallet2 file a [`Content::Monero`] is, told by its magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneroFile {
    Outputs,
    KeyImages,
    UnsignedTx,
    SignedTx,
}

impl MoneroFile {
    /// The file kind by wallet2's magic text (any format version byte after it).
    pub fn detect(bytes: &[u8]) -> Option<MoneroFile> {
        [
            (&b"Monero output export"[..], MoneroFile::Outputs),
            (b"Monero key image export", MoneroFile::KeyImages),
            (b"Monero unsigned tx set", MoneroFile::UnsignedTx),
            (b"Monero signed tx set", MoneroFile::SignedTx),
        ]
        .into_iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, kind)| kind)
    }

    /// Feather's UR type for the file.
    pub fn ur_type(self) -> &'static str {
        match self {
            MoneroFile::Outputs => "xmr-output",
            MoneroFile::KeyImages => "xmr-keyimage",
            MoneroFile::UnsignedTx => "xmr-txunsigned",
            MoneroFile::SignedTx => "xmr-txsigned",
        }
    }
}

/// QR density: the QR version and error-correction level every frame of an animation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Density {
    /// Version 12, level M: easy to scan from a phone at a distance.
    Low,
    /// Version 20, level M.
    Medium,
    /// Version 30, level L.
    High,
    /// Version 40, level L: the most data per frame (4296 alphanumeric characters).
    Max,
}

impl Density {
    /// All densities, lowest first.
    pub const ALL: [Density; 4] = [Density::Low, Density::Medium, Density::High, Density::Max];

    /// Parses `low|medium|high|max`.
    pub fn parse(s: &str) -> Option<Density> {
        match s {
            "low" => Some(Density::Low),
            "medium" => Some(Density::Medium),
            "high" => Some(Density::High),
            "max" => Some(Density::Max),
            _ => None,
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Density::Low => "low",
            Density::Medium => "medium",
            Density::High => "high",
            Density::Max => "max",
        }
    }

    /// QR version (1..=40).
    pub fn version(self) -> i16 {
        match self {
            Density::Low => 12,
            Density::Medium => 20,
            Density::High => 30,
            Density::Max => 40,
        }
    }

    /// Error-correction level.
    pub fn ec_level(self) -> qrcode::EcLevel {
        match self {
            Density::Low | Density::Medium => qrcode::EcLevel::M,
            Density::High | Density::Max => qrcode::EcLevel::L,
        }
    }

    /// How many alphanumeric characters one frame holds at this density.
    pub fn alnum_capacity(self) -> usize {
        alnum_capacity(self.version(), self.ec_level())
    }
}

/// How many QR alphanumeric-mode characters fit a QR code of `version` at `ec`.
pub fn alnum_capacity(version: i16, ec: qrcode::EcLevel) -> usize {
    let bits = qrcode::bits::Bits::new(qrcode::Version::Normal(version));
    let Ok(max_bits) = bits.max_len(ec) else {
        return 0;
    };
    let count_bits = match version {
        1..=9 => 9,
        10..=26 => 11,
        _ => 13,
    };
    let avail = max_bits.saturating_sub(4 + count_bits);
    // 11 bits per pair of characters, 6 for a final odd one.
    let pairs = avail / 11;
    pairs * 2 + usize::from(avail % 11 >= 6)
}

/// Which encoding to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Airlock-RaptorQ for artifacts, `crypto-psbt` UR for PSBTs.
    Auto,
    /// BC-UR.
    Ur,
    /// BBQr (zlib when it helps).
    Bbqr,
    /// Airlock-RaptorQ.
    Airlock,
}

impl Encoding {
    /// Parses `auto|ur|bbqr|airlock`.
    pub fn parse(s: &str) -> Option<Encoding> {
        match s {
            "auto" => Some(Encoding::Auto),
            "ur" => Some(Encoding::Ur),
            "bbqr" => Some(Encoding::Bbqr),
            "airlock" => Some(Encoding::Airlock),
            _ => None,
        }
    }

    /// The concrete format for `content` (resolving `Auto`).
    pub fn format_for(self, content: Content) -> Format {
        match (self, content) {
            (Encoding::Ur, _) => Format::Ur,
            (Encoding::Bbqr, _) => Format::Bbqr,
            (Encoding::Airlock, _) => Format::AirlockRq,
            (Encoding::Auto, Content::Psbt | Content::Monero(_)) => Format::Ur,
            (Encoding::Auto, _) => Format::AirlockRq,
        }
    }
}

/// If `bytes` is a PSBT — binary (`psbt\xff`) or base64 text of one — returns the binary PSBT.
pub fn detect_psbt(bytes: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    const MAGIC: &[u8] = b"psbt\xff";
    if bytes.starts_with(MAGIC) {
        return Some(bytes.to_vec());
    }
    // Base64 of "psbt\xff" begins with "cHNidP8".
    let text = std::str::from_utf8(bytes).ok()?.trim();
    if !text.starts_with("cHNidP8") {
        return None;
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bin = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()?;
    bin.starts_with(MAGIC).then_some(bin)
}

/// An encoded message: its frames' texts, in order, and how many of them one full cycle needs.
#[derive(Debug, Clone)]
pub struct Frames {
    /// The format.
    pub format: Format,
    /// Frame texts (alphanumeric QR charset).
    pub texts: Vec<String>,
    /// Frames a lossless receiver needs (1 for a single static QR).
    pub needed: usize,
    /// The density the frames were cut for.
    pub density: Density,
}

/// An infinite stream of frames for live display (terminal, benchmarks): UR and Airlock-RaptorQ
/// keep producing fresh fountain / repair frames; BBQr cycles its parts.
pub enum FrameStream {
    /// BC-UR fountain.
    Ur(ur_codec::UrStream),
    /// BBQr parts, cycled.
    Bbqr {
        /// The parts.
        parts: Vec<String>,
        /// Next index.
        next: usize,
    },
    /// RaptorQ symbols.
    Airlock(airlock_rq::RqStream),
    /// Frame texts made elsewhere (a device request or export written one frame per line),
    /// cycled as they are.
    Given {
        /// The frames.
        parts: Vec<String>,
        /// Next index.
        next: usize,
    },
}

impl FrameStream {
    /// Starts a stream for `data`.
    pub fn new(data: &[u8], format: Format, content: Content, density: Density) -> Result<Self> {
        check_len(data)?;
        let cap = density.alnum_capacity();
        Ok(match format {
            Format::Ur => FrameStream::Ur(ur_codec::UrStream::new(data, content, cap)?),
            Format::Bbqr => FrameStream::Bbqr {
                parts: bbqr::encode(data, bbqr::file_type_for(content), cap)?,
                next: 0,
            },
            Format::AirlockRq => FrameStream::Airlock(airlock_rq::RqStream::new(data, cap)?),
        })
    }

    /// Frames one lossless cycle needs.
    pub fn needed(&self) -> usize {
        match self {
            FrameStream::Ur(s) => s.needed(),
            FrameStream::Bbqr { parts, .. } | FrameStream::Given { parts, .. } => parts.len(),
            FrameStream::Airlock(s) => s.needed(),
        }
    }

    /// The next frame's text.
    pub fn next_frame(&mut self) -> Result<String> {
        match self {
            FrameStream::Ur(s) => s.next_frame(),
            FrameStream::Bbqr { parts, next } | FrameStream::Given { parts, next } => {
                let t = parts[*next % parts.len()].clone();
                *next += 1;
                Ok(t)
            }
            FrameStream::Airlock(s) => Ok(s.next_frame()),
        }
    }
}

fn check_len(data: &[u8]) -> Result<()> {
    if data.is_empty() {
        return Err(QrError::Encode("the message is empty".into()));
    }
    if data.len() > MAX_MESSAGE_LEN {
        return Err(QrError::Encode(format!(
            "the message is {} bytes, over the limit of {MAX_MESSAGE_LEN}",
            data.len()
        )));
    }
    Ok(())
}

/// Encodes `data` into the frames of one animation loop: a single static frame when it fits,
/// else one full cycle plus, for the fountain formats, as many fresh fountain/repair frames again
/// (so a receiver that missed frames need not wait a whole loop).
pub fn encode(data: &[u8], format: Format, content: Content, density: Density) -> Result<Frames> {
    let mut stream = FrameStream::new(data, format, content, density)?;
    let needed = stream.needed();
    let count = match format {
        Format::Bbqr => needed,
        _ if needed == 1 => 1,
        _ => needed * 2,
    };
    let texts = (0..count)
        .map(|_| stream.next_frame())
        .collect::<Result<Vec<_>>>()?;
    Ok(Frames {
        format,
        texts,
        needed,
        density,
    })
}

/// Progress of a decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The format being decoded.
    pub format: Format,
    /// Distinct useful parts received so far.
    pub seen: usize,
    /// Parts needed (an estimate for fountain codes: the number of source fragments).
    pub needed: usize,
    /// Whether the message is complete.
    pub complete: bool,
}

/// What a reassembled message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The format it came in.
    pub format: Format,
    /// The UR type (`bytes`, `crypto-psbt`, `psbt`, or a registry type such as `crypto-output`,
    /// whose bytes are then its CBOR item), BBQr file type letter, or `airlock`.
    pub kind: String,
    /// The reassembled bytes.
    pub bytes: Vec<u8>,
}

enum Inner {
    Empty,
    Ur(ur_codec::UrDecoder),
    Bbqr(bbqr::BbqrDecoder),
    Airlock(airlock_rq::RqDecoder),
}

/// Reassembles a message from frame texts in any order, detecting the format from the first one.
pub struct Decoder {
    inner: Inner,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        Decoder {
            inner: Inner::Empty,
        }
    }

    /// Feeds one frame's text. Errors on malformed, corrupted, absurd or mixed frames; duplicates
    /// are accepted and ignored; frames after completion are checked and ignored.
    pub fn receive(&mut self, text: &str) -> Result<Progress> {
        if text.len() > MAX_FRAME_TEXT {
            return Err(QrError::Absurd(format!(
                "a frame of {} characters (a QR code holds at most 4296)",
                text.len()
            )));
        }
        let text = text.trim();
        let format = Format::detect(text).ok_or_else(|| {
            QrError::Malformed(
                "the QR code is not BC-UR (ur:...), BBQr (B$...) or Airlock (AIRLOCK1/...)".into(),
            )
        })?;
        if let Inner::Empty = self.inner {
            self.inner = match format {
                Format::Ur => Inner::Ur(ur_codec::UrDecoder::default()),
                Format::Bbqr => Inner::Bbqr(bbqr::BbqrDecoder::default()),
                Format::AirlockRq => Inner::Airlock(airlock_rq::RqDecoder::default()),
            };
        }
        let current = self.format().expect("set above");
        if current != format {
            return Err(QrError::MixedMessages {
                first: format!("a {current} message"),
                second: format!("a {format} frame"),
            });
        }
        match &mut self.inner {
            Inner::Ur(d) => d.receive(text),
            Inner::Bbqr(d) => d.receive(text),
            Inner::Airlock(d) => d.receive(text),
            Inner::Empty => unreachable!("set above"),
        }
    }

    /// The format, once a frame was received.
    pub fn format(&self) -> Option<Format> {
        match self.inner {
            Inner::Empty => None,
            Inner::Ur(_) => Some(Format::Ur),
            Inner::Bbqr(_) => Some(Format::Bbqr),
            Inner::Airlock(_) => Some(Format::AirlockRq),
        }
    }

    /// Current progress (`None` before the first frame).
    pub fn progress(&self) -> Option<Progress> {
        match &self.inner {
            Inner::Empty => None,
            Inner::Ur(d) => Some(d.progress()),
            Inner::Bbqr(d) => Some(d.progress()),
            Inner::Airlock(d) => Some(d.progress()),
        }
    }

    /// The reassembled message, or an error saying what is missing.
    pub fn finish(self) -> Result<Decoded> {
        match self.inner {
            Inner::Empty => Err(QrError::Incomplete("no QR frames were read".into())),
            Inner::Ur(d) => d.finish(),
            Inner::Bbqr(d) => d.finish(),
            Inner::Airlock(d) => d.finish(),
        }
    }
}

/// Decodes frame texts (in any order) into the message.
pub fn decode_texts<S: AsRef<str>>(texts: &[S]) -> Result<Decoded> {
    let mut d = Decoder::new();
    for t in texts {
        let p = d.receive(t.as_ref())?;
        if p.complete {
            break;
        }
    }
    d.finish()
}

impl airlock_severity::Classify for QrError {
    fn severity(&self) -> airlock_severity::Severity {
        airlock_severity::Severity::Refused
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_matches_the_qr_tables() {
        // ISO/IEC 18004 table 7 (alphanumeric): 40-L 4296, 30-L 2520, 27-L 2132, 1-L 25.
        assert_eq!(alnum_capacity(40, qrcode::EcLevel::L), 4296);
        assert_eq!(alnum_capacity(30, qrcode::EcLevel::L), 2520);
        assert_eq!(alnum_capacity(27, qrcode::EcLevel::L), 2132);
        assert_eq!(alnum_capacity(1, qrcode::EcLevel::L), 25);
        for d in Density::ALL {
            let cap = d.alnum_capacity();
            let fits = "A".repeat(cap);
            let over = "A".repeat(cap + 1);
            let v = qrcode::Version::Normal(d.version());
            assert!(qrcode::QrCode::with_version(fits.as_bytes(), v, d.ec_level()).is_ok());
            assert!(qrcode::QrCode::with_version(over.as_bytes(), v, d.ec_level()).is_err());
        }
    }

    #[test]
    fn hostile_frame_texts_give_errors_not_panics() {
        let mut r = SplitMix64(7);
        let alphabet: Vec<char> = "AB$Z2HPU0159:/-éur€ \u{0}".chars().collect();
        for prefix in [
            "",
            "UR:BYTES/",
            "ur:bytes/1-3/",
            "ur:crypto-psbt/",
            "B$",
            "B$ZP",
            "B$2B01",
            "AIRLOCK1/",
        ] {
            for len in [0usize, 1, 5, 9, 40, 200] {
                for _ in 0..50 {
                    let mut t = prefix.to_owned();
                    for _ in 0..len {
                        t.push(alphabet[(r.next_u64() % alphabet.len() as u64) as usize]);
                    }
                    let mut d = Decoder::new();
                    let _ = d.receive(&t);
                    let _ = d.receive(&t);
                    let _ = d.finish();
                }
            }
        }
    }

    #[test]
    fn psbt_detection_binary_and_base64() {
        let bin = b"psbt\xff\x01\x00".to_vec();
        assert_eq!(detect_psbt(&bin), Some(bin.clone()));
        assert_eq!(detect_psbt(b"cHNidP8BAA==\n"), Some(bin));
        assert_eq!(detect_psbt(b"\xa4\x00\x01"), None);
        assert_eq!(detect_psbt(b"cHNidP8!!"), None);
    }
}

/// A small deterministic generator (SplitMix64) for loss simulations and tests.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How many frames a sender must show until a receiver that misses each frame with probability
/// `loss` (seeded) has the message: the frames are generated live (fresh fountain / repair frames
/// after the first cycle) and fed as text, without imaging. Gives up after 50 cycles.
pub fn frames_until_decoded(
    data: &[u8],
    format: Format,
    content: Content,
    density: Density,
    loss: f64,
    seed: u64,
) -> Result<usize> {
    let mut stream = FrameStream::new(data, format, content, density)?;
    let limit = stream.needed().saturating_mul(50).max(50);
    let mut rng = SplitMix64(seed);
    let mut decoder = Decoder::new();
    for shown in 1..=limit {
        let frame = stream.next_frame()?;
        if rng.next_f64() < loss {
            continue;
        }
        if decoder.receive(&frame)?.complete {
            let out = decoder.finish()?;
            if out.bytes != data {
                return Err(QrError::Corrupted("decoded message differs".into()));
            }
            return Ok(shown);
        }
    }
    Err(QrError::Incomplete(format!(
        "not decoded after {limit} frames"
    )))
}
