//! `qr_frames`: animated-QR frame texts and their reassembly (`airlock_qr`): BC-UR (through the
//! `ur` crate, behind Airlock's own checks), BBQr and Airlock-RaptorQ, plus the base32 and the
//! bounded-inflate helpers they use.
//!
//! Two modes, by the first byte:
//! - `0x00..=0xef` — **hostile frames**: the rest is frame texts, one per line (at most 64), fed
//!   to one `Decoder` as `qr read` does (and each also to a fresh decoder), then `finish`. Nothing
//!   may panic or allocate for an absurd part count or size; a decoder that reports `complete`
//!   must not then call the message incomplete, and BBQr frames (no checksum) must have their
//!   data's syntax checked when read, not only when the message is put together.
//! - `0xf0..=0xff` — **round trip**: the rest (at most 3,000 bytes) is a message, encoded with the
//!   format and density chosen by the low bits, at the lowest density when that makes several
//!   frames; the frames are then dropped and reordered as the next input bytes say (a loss pattern
//!   that keeps at least the frames a lossless receiver needs plus the fountain frames), and the
//!   reassembled message must be the original, byte for byte, whenever the decoder says it is
//!   complete; with no frame lost it must always be complete.

use airlock_qr::{
    Content, Decoder, Density, Format, QrError, base32, bbqr, decode_texts, encode, ur_codec,
};

fn hostile(rest: &[u8]) {
    let text = String::from_utf8_lossy(rest);
    let mut d = Decoder::new();
    let mut complete = false;
    for line in text.split('\n').take(64) {
        let _ = Decoder::new().receive(line);
        if let Ok(p) = d.receive(line) {
            complete = p.complete;
        }
        let _ = d.progress();
    }
    let format = d.format();
    let finished = d.finish();
    if complete && let Err(e) = &finished {
        // A complete message may still be refused as a whole (a UR payload that is not a CBOR
        // byte string, BBQr deflate data that does not inflate: no per-frame check can see
        // that), but never as incomplete, and a BBQr frame's syntax is checked when it is read.
        assert!(
            !matches!(e, QrError::Incomplete(_)),
            "complete, yet finish says incomplete: {e}"
        );
        assert!(
            !(format == Some(Format::Bbqr) && matches!(e, QrError::Malformed(_))),
            "a malformed BBQr frame was accepted and refused only at the end: {e}"
        );
    }
    // Helpers on the raw input.
    if let Some(b) = base32::decode(&text) {
        assert_eq!(base32::encode(&b), text, "base32 decoding is not canonical");
    }
    if let Ok(out) = bbqr::inflate_bounded(rest, 1 << 16) {
        assert!(out.len() <= 1 << 16);
    }
    let _ = ur_codec::cbor_unwrap_bytes(rest);
}

fn round_trip(selector: u8, rest: &[u8]) {
    let (msg, losses) = rest.split_at(rest.len().min(3000));
    if msg.is_empty() {
        return;
    }
    let format = [Format::Ur, Format::Bbqr, Format::AirlockRq][selector as usize % 3];
    let density = Density::ALL[(selector as usize / 3) % Density::ALL.len()];
    let content = if selector & 8 == 0 {
        Content::Artifact
    } else {
        Content::Psbt
    };
    let Ok(frames) = encode(msg, format, content, density) else {
        return;
    };
    // No loss, in order: always complete and exact.
    let decoded = decode_texts(&frames.texts).expect("lossless frames decode");
    assert_eq!(decoded.bytes, msg, "reassembled message differs");
    // Drop and reorder frames as the loss bytes say.
    let mut order: Vec<usize> = (0..frames.texts.len()).collect();
    for (i, b) in losses.iter().enumerate().take(order.len()) {
        let j = *b as usize % order.len();
        order.swap(i, j);
    }
    let keep: Vec<&String> = order
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            losses
                .get(frames.texts.len() + i)
                .is_none_or(|b| b % 4 != 0)
        })
        .map(|(_, &k)| &frames.texts[k])
        .collect();
    let mut d = Decoder::new();
    let mut complete = false;
    for t in keep {
        let p = d.receive(t).expect("an encoder's frame is accepted");
        complete = p.complete;
        if complete {
            break;
        }
    }
    if complete {
        let out = d.finish().expect("complete decoder finishes");
        assert_eq!(out.bytes, msg, "reassembled message differs after losses");
    }
}

pub fn run(data: &[u8]) {
    let (m, rest) = crate::mode(data);
    if m >= 0xf0 {
        round_trip(m, rest);
    } else {
        hostile(rest);
    }
}
