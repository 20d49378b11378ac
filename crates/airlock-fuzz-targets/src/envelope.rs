//! `envelope`: signed envelopes, every artifact kind, log records and a bundle's log evidence.
//!
//! The first byte picks what the rest is:
//! - `0x00..=0x7f`: an envelope (`Envelope::from_bytes`); an accepted one must re-encode to the
//!   input, its signatures are checked (never panicking on garbage keys), and its payload is opened
//!   as the kind its payload type names, with that artifact's own checks;
//! - `0x80..=0xef`: a bare payload of artifact kind `byte % 12` (the eleven kinds, then
//!   `LogRecord`), so the fuzzer needs no envelope around it;
//! - `0xf0..=0xff`: text for the rule and duration parsers (`vault::parse_rule`).
//!
//! Every accepted artifact must re-encode to exactly the bytes it was decoded from (one artifact,
//! one encoding, one id). Vault definitions also go through `validate` and the trust-anchor check;
//! proposal bundles through their inner envelopes, the log record in the leaf, the inclusion and
//! consistency proof verifiers and the checkpoint-note verifier (key: [`crate::test_key`]`(1)`,
//! origin [`LOG_ORIGIN`], which the seed bundles are signed with).

use airlock_core::envelope::ArtifactKind;
use airlock_core::vault::{parse_duration, parse_rule, verify_vault_anchor};
use airlock_core::{
    AccountExport, Approval, Artifact, CheckpointArtifact, Envelope, Event, Finalized, LogRecord,
    Proposal, ProposalBundle, ReleaseBundle, TransferManifest, VaultDefinition,
};
use airlock_log::{
    CheckpointVerifier, ConsistencyProof, InclusionProof, leaf_hash, verify_consistency,
    verify_inclusion,
};

/// The log origin of the harness's checkpoint key.
pub const LOG_ORIGIN: &str = "fuzz.example/log";

fn round_trip<A: Artifact + PartialEq + std::fmt::Debug>(payload: &[u8]) -> Option<A> {
    let a = A::from_bytes(payload).ok()?;
    assert_eq!(
        a.to_bytes(),
        payload,
        "{} re-encodes differently",
        A::KIND.name()
    );
    assert_eq!(A::from_bytes(&a.to_bytes()).ok().as_ref(), Some(&a));
    Some(a)
}

fn verifier() -> CheckpointVerifier {
    CheckpointVerifier::new(LOG_ORIGIN, crate::test_key(1).verifying_key()).expect("fixed verifier")
}

fn bundle_checks(b: &ProposalBundle) {
    for inner in [&b.proposal, &b.vault] {
        if let Ok(env) = Envelope::from_bytes(inner) {
            assert_eq!(&env.to_bytes(), inner);
            let _ = env.check_signatures();
            let _ = env.open::<Proposal>();
            if let Ok(v) = env.open::<VaultDefinition>() {
                let _ = v.validate();
            }
        }
    }
    for h in &b.halts {
        if let Ok(env) = Envelope::from_bytes(h) {
            let _ = airlock_core::halt::check_halt(&env, LOG_ORIGIN, std::iter::empty());
        }
    }
    let e = &b.evidence;
    if let Ok(r) = LogRecord::from_bytes(&e.leaf) {
        assert_eq!(r.to_bytes(), e.leaf);
    }
    let leaf = leaf_hash(&e.leaf);
    let checkpoint = verifier().open(&e.checkpoint).ok();
    let root = checkpoint.as_ref().map(|c| c.root).unwrap_or([0; 32]);
    let _ = verify_inclusion(
        &InclusionProof {
            leaf_index: e.leaf_index,
            tree_size: e.tree_size,
            hashes: e.inclusion.clone(),
        },
        &leaf,
        &root,
    );
    for c in &e.consistency {
        let _ = verify_consistency(
            &ConsistencyProof {
                old_size: c.old_size,
                new_size: e.tree_size,
                hashes: c.hashes.clone(),
            },
            &leaf,
            &root,
        );
    }
}

fn payload(kind: u8, payload: &[u8]) {
    match kind % 16 {
        0 => {
            if let Some(v) = round_trip::<VaultDefinition>(payload) {
                let _ = v.validate();
            }
        }
        1 => {
            if let Some(p) = round_trip::<Proposal>(payload) {
                let _ = p.intent.total();
            }
        }
        2 => {
            round_trip::<Approval>(payload);
        }
        3 => {
            round_trip::<Finalized>(payload);
        }
        4 => {
            round_trip::<Event>(payload);
        }
        5 => {
            if let Some(c) = round_trip::<CheckpointArtifact>(payload) {
                let _ = verifier().open(&c.note);
            }
        }
        6 => {
            if let Some(b) = round_trip::<ProposalBundle>(payload) {
                bundle_checks(&b);
            }
        }
        7 => {
            if let Some(m) = round_trip::<TransferManifest>(payload) {
                let _ = m.validate();
            }
        }
        8 => {
            round_trip::<AccountExport>(payload);
        }
        9 => {
            if let Some(b) = round_trip::<ReleaseBundle>(payload) {
                if let Ok(event) = Envelope::from_bytes(&b.event) {
                    let _ = event.open::<Event>();
                }
                let _ = Envelope::from_bytes(&b.vault).and_then(|v| v.open::<VaultDefinition>());
                let _ = LogRecord::from_bytes(&b.evidence.leaf);
            }
        }
        10 => {
            if let Some(h) = round_trip::<airlock_core::halt::Halt>(payload) {
                let _ = h.scope();
            }
        }
        12 => {
            if let Some(d) = round_trip::<airlock_core::drill::DrillRecord>(payload) {
                assert!(d.validate().is_ok(), "a decoded drill record is valid");
                let _ = d.correct();
            }
        }
        13 => {
            if let Some(b) = round_trip::<airlock_core::ProposalBatch>(payload) {
                assert!(!b.items.is_empty(), "a decoded batch has items");
                for i in 0..b.items.len().min(8) {
                    let bundle = b.bundle(i, i == 0).expect("an item of the batch");
                    assert_eq!(bundle.evidence.tree_size, b.tree_size);
                    bundle_checks(&bundle);
                }
            }
        }
        14 => {
            if let Some(b) = round_trip::<airlock_core::DecisionBatch>(payload) {
                for d in &b.decisions {
                    if let Ok(env) = Envelope::from_bytes(d) {
                        assert_eq!(&env.to_bytes(), d);
                        let _ = env.check_signatures();
                        let _ = env.open::<Approval>();
                    }
                }
            }
        }
        11 => {
            if let Some(c) = round_trip::<airlock_core::commitment::StateCommitment>(payload) {
                let _ = c.fact("nonce");
                let _ = airlock_core::commitment::StateDiff::between(&c, &c).describe(3);
            }
        }
        _ => {
            if let Ok(r) = LogRecord::from_bytes(payload) {
                assert_eq!(r.to_bytes(), payload, "log record re-encodes differently");
            }
        }
    }
}

fn envelope(data: &[u8]) {
    let Ok(env) = Envelope::from_bytes(data) else {
        return;
    };
    assert_eq!(env.to_bytes(), data, "envelope re-encodes differently");
    let _ = env.id();
    let _ = env.check_signatures();
    let _ = env.valid_signers();
    let Some(kind) = env.kind() else {
        return;
    };
    let index = ArtifactKind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("a known kind") as u8;
    payload(index, &env.payload);
    if kind == ArtifactKind::VaultDefinition {
        let _ = verify_vault_anchor(&env);
    }
}

pub fn run(data: &[u8]) {
    let (m, rest) = crate::mode(data);
    match m {
        0x00..=0x7f => envelope(rest),
        0x80..=0xef => payload(m - 0x80, rest),
        _ => {
            if let Ok(text) = std::str::from_utf8(rest) {
                if let Ok(rule) = parse_rule(text) {
                    let _ = airlock_core::vault::describe_rule(&rule);
                }
                let _ = parse_duration(text);
            }
        }
    }
}
