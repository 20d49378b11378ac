//! `frost_messages`: what crosses the gap in a FROST ceremony (`airlock_frost`): signed
//! messages and files of them, the bodies of commitment and share messages, and the at-rest
//! encodings of key shares and round states.
//!
//! The first byte picks the decoder (byte % 6): 0 a message (re-encodes to the same bytes, and
//! is checked against a fixed roster of test keys without panicking), 1 a file of messages (the
//! same), 2 a commitments body, 3 a shares body, 4 a key share (re-encodes to bytes that decode
//! to the same share), 5 a round-1 or round-2 state.

use airlock_frost::Roster;
use airlock_frost::dkg::{KeyShare, Round1State, Round2State};
use airlock_frost::wire::{Kind, Message, bundle, unbundle};
use ed25519_dalek::SigningKey;

/// The fixed roster the seeds' messages are signed for: test keys 1, 2, 3.
pub fn roster() -> Roster {
    Roster::new(
        "fuzz key generation",
        2,
        (1u8..=3)
            .map(|i| {
                (
                    format!("member-{i}"),
                    SigningKey::from_bytes(&[i; 32]).verifying_key(),
                )
            })
            .collect(),
    )
    .expect("roster")
}

pub fn run(data: &[u8]) {
    let (m, rest) = crate::mode(data);
    match m % 6 {
        0 => {
            if let Ok(message) = Message::from_bytes(rest) {
                assert_eq!(message.to_bytes(), rest);
                let roster = roster();
                for kind in [Kind::DkgRound1, Kind::Commitments, Kind::Shares] {
                    let _ = message.verify(&roster, kind, Some(1));
                }
            }
        }
        1 => {
            if let Ok(messages) = unbundle(rest) {
                assert_eq!(bundle(&messages), rest);
            }
        }
        2 => {
            let _ = airlock_frost::nonces::parse_commitments(rest);
        }
        3 => {
            let _ = airlock_frost::sign::parse_shares(rest, 1000);
        }
        4 => {
            if let Ok(share) = KeyShare::from_bytes(rest) {
                let again = KeyShare::from_bytes(&share.to_bytes().expect("encodes")).expect("own");
                assert_eq!(again.me, share.me);
                assert_eq!(again.key, share.key);
                assert_eq!(again.public, share.public);
                assert_eq!(again.roster, share.roster);
            }
        }
        _ => {
            let _ = Round1State::from_bytes(rest);
            let _ = Round2State::from_bytes(rest);
        }
    }
}
