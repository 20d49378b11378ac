//! The witness formats (`airlock_log::witness`): `add-checkpoint` request bodies as
//! `airlock-witness` parses every POST, witness verifier keys as coordinators and policies read
//! them, and cosignature lines as signers check them.
//!
//! Invariants: nothing panics; a parsed request prints back to exactly the bytes parsed; a parsed
//! verifier key prints to a key that parses to the same verifier; a fixed witness's cosignature
//! verifies over the body it signed and over no other, and no other line is taken for it.

use airlock_log::witness::{AddCheckpoint, WitnessSigner, WitnessVerifier, note_body};

fn fixed_witness() -> WitnessSigner {
    WitnessSigner::new(
        "witness.fuzz/w1",
        ed25519_dalek::SigningKey::from_bytes(&[0x5a; 32]),
    )
    .expect("valid name")
}

pub fn run(data: &[u8]) {
    let (selector, rest) = crate::mode(data);
    match selector % 4 {
        0 => {
            if let Ok(request) = AddCheckpoint::parse(rest) {
                assert_eq!(request.to_bytes(), rest);
                assert!(request.proof.len() <= airlock_log::witness::MAX_PROOF_LINES);
            }
        }
        1 => {
            if let Ok(text) = std::str::from_utf8(rest)
                && let Ok(verifier) = WitnessVerifier::from_vkey(text)
            {
                assert_eq!(
                    WitnessVerifier::from_vkey(&verifier.vkey()).as_ref(),
                    Ok(&verifier)
                );
            }
        }
        2 => {
            // Arbitrary lines (and whole notes) never pass for the fixed witness's cosignature.
            let witness = fixed_witness().verifier();
            let text = String::from_utf8_lossy(rest);
            let (body, line) = text.split_once('\u{0}').unwrap_or((&text, ""));
            let _ = witness.verify_line(body, line);
            let _ = witness.cosigned_at(&text);
            let _ = note_body(&text);
        }
        _ => {
            // A real cosignature over fuzzed body text, at a fuzzed time: it verifies over that
            // body with that time, and not over the body with one more byte.
            let witness = fixed_witness();
            let (time, body) = rest.split_at(rest.len().min(8));
            let mut t = [0u8; 8];
            t[..time.len()].copy_from_slice(time);
            let time = u64::from_le_bytes(t) >> 1;
            let body = String::from_utf8_lossy(body);
            let line = witness.cosign(&body, time);
            let verifier = witness.verifier();
            assert_eq!(verifier.verify_line(&body, &line), Some(time));
            assert_eq!(verifier.verify_line(&format!("{body}x"), &line), None);
        }
    }
}
