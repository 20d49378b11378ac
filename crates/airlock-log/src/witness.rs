//! Witness formats: the C2SP tlog-witness `add-checkpoint` request body and C2SP
//! tlog-cosignature Ed25519 cosignatures (`cosignature/v1`), with witness verifier keys.
//!
//! A witness cosigns a checkpoint after checking it is consistent with the latest one it cosigned
//! for that log. The cosignature is a signed-note signature line
//! `— <witness name> base64(key ID || u64 timestamp || Ed25519 signature)` whose key ID is
//! `SHA-256(name || "\n" || 0x04 || public key)[:4]` and whose signed message is
//! `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint body. Any signed-note verifier
//! configured with the witness's key verifies it; [`WitnessVerifier`] is that verifier here.
//!
//! No crate of the Rust ecosystem implements these two formats (the `signed_note` crate knows
//! only plain Ed25519 note signatures), so they are written here, on top of `signed_note` for the
//! note itself.
//!
//! This module must never accept a cosignature it has not verified, never read a clock (callers
//! pass the time), and never panic on any input: a request body or signature line of any shape is
//! either parsed or refused with [`LogError::MalformedWitnessRequest`] /
//! [`LogError::MalformedCheckpoint`].

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::{LogError, LogHash};

/// Algorithm byte of Ed25519 `cosignature/v1` keys (C2SP tlog-cosignature).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// Most consistency proof lines an `add-checkpoint` request may carry.
pub const MAX_PROOF_LINES: usize = 63;
/// Largest `add-checkpoint` body accepted (proof lines, checkpoint and its signatures).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// The media type of a witness's 409 answer: its latest cosigned size and a newline.
pub const SIZE_MEDIA_TYPE: &str = "text/x.tlog.size";

/// An `add-checkpoint` request: the size of the checkpoint the log believes the witness last
/// cosigned, a consistency proof from it, and the new checkpoint as a signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The old size the proof starts from.
    pub old_size: u64,
    /// RFC 6962 consistency proof hashes, old size to the checkpoint's size.
    pub proof: Vec<LogHash>,
    /// The signed checkpoint note (body, blank line, signature lines).
    pub checkpoint: String,
}

fn malformed(why: impl Into<String>) -> LogError {
    LogError::MalformedWitnessRequest(why.into())
}

impl AddCheckpoint {
    /// Parses a request body: `old <size>\n`, up to 63 base64 hash lines, an empty line, then the
    /// checkpoint note. Every line must end in `\n`; decimal sizes have no leading zeros.
    ///
    /// # Errors
    ///
    /// [`LogError::MalformedWitnessRequest`] naming what is wrong.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, LogError> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(malformed(format!(
                "the body is {} bytes, more than {MAX_REQUEST_BYTES}",
                body.len()
            )));
        }
        let text = std::str::from_utf8(body).map_err(|_| malformed("the body is not UTF-8"))?;
        let (first, mut rest) = text
            .split_once('\n')
            .ok_or_else(|| malformed("no old size line"))?;
        let old = first
            .strip_prefix("old ")
            .ok_or_else(|| malformed("the first line must be \"old <size>\""))?;
        let old_size = parse_decimal(old).ok_or_else(|| {
            malformed(format!(
                "old size {old:?} is not a decimal number without leading zeros"
            ))
        })?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or_else(|| malformed("no empty line before the checkpoint"))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(malformed(format!(
                    "more than {MAX_PROOF_LINES} consistency proof lines"
                )));
            }
            proof.push(decode_hash(line).ok_or_else(|| {
                malformed(format!(
                    "consistency proof line {} is not a base64 SHA-256 hash",
                    proof.len() + 1
                ))
            })?);
        }
        if rest.is_empty() {
            return Err(malformed("no checkpoint after the empty line"));
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint: rest.to_owned(),
        })
    }

    /// The request body, as [`AddCheckpoint::parse`] reads it.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old_size);
        for h in &self.proof {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out.into_bytes()
    }
}

/// A decimal number as the witness protocol writes sizes: digits only, no sign, no leading zeros
/// (except `0` itself), at most `u64::MAX`.
#[must_use]
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn decode_hash(line: &str) -> Option<LogHash> {
    let bytes = B64.decode(line).ok()?;
    // Canonical base64 only: one spelling per hash.
    if B64.encode(&bytes) != line {
        return None;
    }
    bytes.try_into().ok()
}

/// The body of a signed note (its text up to the blank line before the signatures, with the
/// final newline), for cosigning and verifying.
///
/// # Errors
///
/// [`LogError::MalformedCheckpoint`] when the text is not a signed note.
pub fn note_body(note_text: &str) -> Result<&str, LogError> {
    let note = signed_note::Note::from_bytes(note_text.as_bytes())
        .map_err(|e| LogError::MalformedCheckpoint(format!("not a signed note: {e}")))?;
    let len = note.text().len();
    Ok(&note_text[..len])
}

fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_COSIGNATURE_V1]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

fn check_name(name: &str) -> Result<(), LogError> {
    if signed_note::is_key_name_valid(name) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(LogError::InvalidOrigin(name.to_owned()))
    }
}

fn signed_message(body: &str, time: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {time}\n{body}").into_bytes()
}

/// A witness's cosigning key under its name (a schema-less URL, e.g. `witness.example/w1`).
pub struct WitnessSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl WitnessSigner {
    /// A cosigner named `name` with `key`.
    ///
    /// # Errors
    ///
    /// [`LogError::InvalidOrigin`] for a name that cannot be a signed-note key name.
    pub fn new(name: &str, key: SigningKey) -> Result<WitnessSigner, LogError> {
        check_name(name)?;
        Ok(WitnessSigner {
            name: name.to_owned(),
            key_id: key_id(name, &key.verifying_key()),
            key,
        })
    }

    /// The witness's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public side.
    #[must_use]
    pub fn verifier(&self) -> WitnessVerifier {
        WitnessVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The cosignature line (with its newline) over a checkpoint body, made at `time` (Unix
    /// seconds, at most 2^63-1).
    #[must_use]
    pub fn cosign(&self, body: &str, time: u64) -> String {
        let time = time.min(i64::MAX as u64);
        let signature = self.key.sign(&signed_message(body, time));
        let mut raw = Vec::with_capacity(76);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&time.to_be_bytes());
        raw.extend_from_slice(&signature.to_bytes());
        format!("— {} {}\n", self.name, B64.encode(raw))
    }
}

impl fmt::Debug for WitnessSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WitnessSigner")
            .field("vkey", &self.verifier().vkey())
            .finish_non_exhaustive()
    }
}

/// A witness's public key under its name: verifies its cosignatures. As a string, the signed-note
/// verifier key `<name>+<8 hex key ID>+<base64(0x04 || public key)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl WitnessVerifier {
    /// The verifier for witness `name` with Ed25519 public key `key`.
    ///
    /// # Errors
    ///
    /// [`LogError::InvalidVerifierKey`] for an unusable name, a point that is not a key, or a
    /// weak key.
    pub fn new(name: &str, key: &[u8; 32]) -> Result<WitnessVerifier, LogError> {
        let bad = |why: &str| LogError::InvalidVerifierKey(format!("witness {name:?}: {why}"));
        check_name(name).map_err(|_| bad("not a usable key name"))?;
        let key = VerifyingKey::from_bytes(key).map_err(|_| bad("not an Ed25519 point"))?;
        if key.is_weak() {
            return Err(bad("a weak (small-order) key proves nothing"));
        }
        Ok(WitnessVerifier {
            name: name.to_owned(),
            key_id: key_id(name, &key),
            key,
        })
    }

    /// Parses a witness verifier key string.
    ///
    /// # Errors
    ///
    /// [`LogError::InvalidVerifierKey`] for anything but an Ed25519 `cosignature/v1` key whose
    /// key ID matches, and for weak keys.
    pub fn from_vkey(s: &str) -> Result<WitnessVerifier, LogError> {
        let bad = |why: &str| LogError::InvalidVerifierKey(format!("{s:?}: {why}"));
        let mut parts = s.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected <name>+<key id>+<base64 key>"));
        };
        check_name(name).map_err(|_| bad("not a usable key name"))?;
        if id.len() != 8 {
            return Err(bad("the key ID must be 8 hex digits"));
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| bad("the key ID is not hex"))?;
        let raw = B64.decode(key).map_err(|_| bad("the key is not base64"))?;
        let Some((&alg, key)) = raw.split_first() else {
            return Err(bad("empty key"));
        };
        if alg != ALG_COSIGNATURE_V1 {
            return Err(bad(&format!(
                "algorithm byte {alg:#04x}: a witness key is an Ed25519 cosignature/v1 key (0x04)"
            )));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| bad("not an Ed25519 point"))?;
        if key.is_weak() {
            return Err(bad("a weak (small-order) key proves nothing"));
        }
        let verifier = WitnessVerifier {
            name: name.to_owned(),
            key_id: key_id(name, &key),
            key,
        };
        if verifier.key_id != id {
            return Err(bad("the key ID does not match the name and key"));
        }
        Ok(verifier)
    }

    /// The verifier key string.
    #[must_use]
    pub fn vkey(&self) -> String {
        let mut raw = vec![ALG_COSIGNATURE_V1];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, B64.encode(raw))
    }

    /// The witness's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The timestamp of this witness's cosignature `line` (with or without its newline) over
    /// `body`, if the line is one and verifies; `None` for a line by another key, or one that
    /// does not verify.
    #[must_use]
    pub fn verify_line(&self, body: &str, line: &str) -> Option<u64> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let rest = line.strip_prefix("— ")?;
        let (name, sig) = rest.split_once(' ')?;
        if name != self.name {
            return None;
        }
        let raw = B64.decode(sig).ok()?;
        if raw.len() != 4 + 8 + 64 || raw[..4] != self.key_id.to_be_bytes() {
            return None;
        }
        let time = u64::from_be_bytes(raw[4..12].try_into().ok()?);
        if time > i64::MAX as u64 {
            return None;
        }
        let signature = Signature::from_bytes(raw[12..].try_into().ok()?);
        self.key
            .verify_strict(&signed_message(body, time), &signature)
            .ok()?;
        Some(time)
    }

    /// The timestamp of this witness's valid cosignature in a full signed note (checkpoint and
    /// signature lines), if it carries one.
    #[must_use]
    pub fn cosigned_at(&self, note_text: &str) -> Option<u64> {
        let body = note_body(note_text).ok()?;
        note_text[body.len()..]
            .lines()
            .find_map(|line| self.verify_line(body, line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckpointSigner, MemoryLog, prove_consistency};

    fn witness() -> WitnessSigner {
        WitnessSigner::new("witness.example/w1", SigningKey::from_bytes(&[7; 32])).unwrap()
    }

    fn checkpoint(size: u64) -> (MemoryLog, String) {
        let mut log = MemoryLog::new();
        for i in 0..size {
            log.append(format!("leaf {i}").as_bytes());
        }
        let signer =
            CheckpointSigner::new("example.com/log", SigningKey::from_bytes(&[1; 32])).unwrap();
        let note = signer.sign(log.size(), log.root()).unwrap().note;
        (log, note)
    }

    #[test]
    fn cosignatures_verify_with_their_key_only_and_carry_their_time() {
        let (_, note) = checkpoint(5);
        let w = witness();
        let body = note_body(&note).unwrap();
        assert!(body.ends_with('\n') && body.lines().count() == 3);
        let line = w.cosign(body, 1_700_000_000);
        assert!(line.starts_with("— witness.example/w1 ") && line.ends_with('\n'));
        let verifier = WitnessVerifier::from_vkey(&w.verifier().vkey()).unwrap();
        assert_eq!(verifier, w.verifier());
        assert_eq!(verifier.verify_line(body, &line), Some(1_700_000_000));
        let cosigned = format!("{note}{line}");
        assert_eq!(verifier.cosigned_at(&cosigned), Some(1_700_000_000));
        assert_eq!(verifier.cosigned_at(&note), None);
        // Another body, another witness, a changed time: nothing verifies.
        let (_, other) = checkpoint(6);
        assert_eq!(
            verifier.verify_line(note_body(&other).unwrap(), &line),
            None
        );
        let stranger = WitnessSigner::new("witness.example/w1", SigningKey::from_bytes(&[8; 32]))
            .unwrap()
            .verifier();
        assert_eq!(stranger.verify_line(body, &line), None);
        let later = w.cosign(body, 1_700_000_001);
        // The later line's key ID and time (16 base64 digits: 12 bytes) with this signature.
        let cut = "— witness.example/w1 ".len() + 16;
        assert_ne!(later[..cut], line[..cut]);
        let spliced = format!("{}{}", &later[..cut], &line[cut..]);
        assert_eq!(verifier.verify_line(body, &spliced), None);
        // A standard signed-note parser accepts the cosigned note as a note.
        assert!(signed_note::Note::from_bytes(cosigned.as_bytes()).is_ok());
    }

    #[test]
    fn verifier_keys_round_trip_and_refuse_other_algorithms() {
        let vkey = witness().verifier().vkey();
        assert!(vkey.starts_with("witness.example/w1+"));
        assert_eq!(WitnessVerifier::from_vkey(&vkey).unwrap().vkey(), vkey);
        // The log's own (0x01) key format is not a witness key.
        let log_vkey = CheckpointSigner::new("example.com/log", SigningKey::from_bytes(&[1; 32]))
            .unwrap()
            .verifier()
            .vkey();
        assert!(WitnessVerifier::from_vkey(&log_vkey).is_err());
        let wrong_id = format!(
            "witness.example/w1+00000000+{}",
            vkey.rsplit('+').next().unwrap()
        );
        assert!(WitnessVerifier::from_vkey(&wrong_id).is_err());
        for bad in ["", "a+b", "name+zzzzzzzz+AQ==", "bad name+00000000+BA=="] {
            assert!(WitnessVerifier::from_vkey(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn requests_round_trip_and_malformed_ones_are_named() {
        let (log, note) = checkpoint(9);
        let proof = prove_consistency(4, 9, &log).unwrap();
        let request = AddCheckpoint {
            old_size: 4,
            proof: proof.hashes.clone(),
            checkpoint: note.clone(),
        };
        let bytes = request.to_bytes();
        assert_eq!(AddCheckpoint::parse(&bytes).unwrap(), request);
        let first = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: note.clone(),
        };
        assert!(first.to_bytes().starts_with(b"old 0\n\n"));
        assert_eq!(AddCheckpoint::parse(&first.to_bytes()).unwrap(), first);
        let cases: &[(&[u8], &str)] = &[
            (b"", "old size line"),
            (b"old 01\n\nx", "leading zeros"),
            (b"old -1\n\nx", "decimal"),
            (b"old 18446744073709551616\n\nx", "decimal"),
            (b"new 1\n\nx", "old <size>"),
            (b"old 1\nnot base64!\n\nx", "proof line 1"),
            (b"old 1\nAAAA\n\nx", "proof line 1"),
            (b"old 1\n\n", "no checkpoint"),
            (b"old 1\n", "no empty line"),
            (b"\xff", "UTF-8"),
        ];
        for (body, needle) in cases {
            let e = AddCheckpoint::parse(body).unwrap_err().to_string();
            assert!(
                e.contains(needle),
                "{:?}: {e}",
                String::from_utf8_lossy(body)
            );
        }
        let mut long = b"old 1\n".to_vec();
        for _ in 0..64 {
            long.extend_from_slice(B64.encode([0u8; 32]).as_bytes());
            long.push(b'\n');
        }
        long.extend_from_slice(b"\nx");
        assert!(
            AddCheckpoint::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("63")
        );
    }
}
