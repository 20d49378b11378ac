//! `frost_messages`: what crosses the gap in a FROST ceremony (`airlock_frost`): signed
//! messages and files of them, the bodies of commitment and share messages, and the at-rest
//! encodings of key shares and round states.
//!
//! The first byte picks the decoder (byte % 8): 0 a message (re-encodes to the same bytes, and
//! is checked against a fixed roster of test keys without panicking), 1 a file of messages (the
//! same, then the coordinator's relay checks of them), 2 a commitments body, 3 a shares body,
//! 4 a key share (re-encodes to bytes that decode to the same share), 5 a round-1 or round-2
//! state, 6 a roster file (re-encodes to a file that reads back to the same roster), 7 a
//! derivation path from a group xpub (u32 steps, big-endian; hardened steps refused), 8 members'
//! listed verifying shares (`frost:<n>:<share>`, one per line; each read back re-encodes to the
//! same text, and the check that they are one sharing of the group key G never panics).

use airlock_frost::Roster;
use airlock_frost::dkg::{KeyShare, Round1State, Round2State};
use airlock_frost::wire::{Kind, Message, bundle, unbundle};
use ed25519_dalek::SigningKey;

/// secp256k1's generator, compressed.
pub const GENERATOR: [u8; 33] = [
    0x02, 0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0, 0x62, 0x95, 0xce, 0x87, 0x0b,
    0x07, 0x02, 0x9b, 0xfc, 0xdb, 0x2d, 0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16, 0xf8, 0x17,
    0x98,
];

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
    match m % 9 {
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
                if let Ok((_, relayed)) = airlock_frost::wire::relay(&roster(), messages) {
                    assert!(!relayed.is_empty());
                }
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
        5 => {
            let _ = Round1State::from_bytes(rest);
            let _ = Round2State::from_bytes(rest);
        }
        6 => {
            if let Ok(text) = std::str::from_utf8(rest)
                && let Ok(roster) = Roster::from_json(text)
            {
                let again = Roster::from_json(&roster.to_json()).expect("own roster file");
                assert_eq!(again, roster);
                assert_eq!(again.session(), roster.session());
            }
        }
        8 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let mut members = Vec::new();
            for line in text.lines().take(70) {
                if let Ok((n, share)) = airlock_frost::group::parse_member_chain_key(line) {
                    let again = airlock_frost::group::member_chain_key(n, &share).expect("encodes");
                    assert_eq!(
                        airlock_frost::group::parse_member_chain_key(&again).expect("own"),
                        (n, share)
                    );
                    members.push((n, share));
                }
            }
            let group =
                airlock_frost::frost::VerifyingKey::deserialize(&GENERATOR).expect("the generator");
            for t in [2u16, 3] {
                let _ = airlock_frost::group::public_package(&group, t, &members);
            }
        }
        _ => {
            let path: Vec<u32> = rest
                .chunks_exact(4)
                .take(16)
                .map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes")))
                .collect();
            // The generator as a group key: any point does.
            let group =
                airlock_frost::frost::VerifyingKey::deserialize(&GENERATOR).expect("the generator");
            match airlock_frost::derive::internal_key(&group, &path) {
                Ok(_) => assert!(path.iter().all(|s| *s < 0x8000_0000)),
                Err(_) => assert!(path.iter().any(|s| *s >= 0x8000_0000)),
            }
        }
    }
}
