//! `transfer_manifest`: what a device checks before it imports a transfer.
//!
//! Input: parts separated by [`crate::parts`]'s marker. Part 0 is a transfer-manifest payload
//! (CBOR); the harness wraps it in an envelope and signs it with [`crate::test_key`]`(2)`, so
//! `check_manifest` runs past the signature check (trust, roles, validity window, sequence
//! numbers). The other parts are the transfer's files, named `f0`, `f1`, … unless a part starts
//! with `name=<file name>\n`.
//!
//! Then `check_contents` runs twice: against the decoded manifest (mismatches must be refused,
//! never panic), and against a manifest rebuilt from the files with `transfer::entry_for`, which
//! must accept every file `entry_for` accepted (each an envelope of a known kind) whenever it
//! accepts the transfer at all (the role's ceiling still limits the kinds).

use airlock_core::transfer::{
    DeviceRole, ManifestExpectations, TransferPolicy, check_contents, check_manifest, entry_for,
};
use airlock_core::{Artifact, PublicKey, TransferManifest};

/// The fixed clock of the harness (2026-11-18); the seed manifests are valid at it.
pub const NOW: u64 = 1_795_000_000;

fn files(parts: &[&[u8]]) -> Vec<(String, Vec<u8>)> {
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if let Some(rest) = p.strip_prefix(b"name=")
                && let Some(nl) = rest.iter().position(|b| *b == b'\n')
            {
                return (
                    String::from_utf8_lossy(&rest[..nl]).into_owned(),
                    rest[nl + 1..].to_vec(),
                );
            }
            (format!("f{i}"), p.to_vec())
        })
        .collect()
}

pub fn run(data: &[u8]) {
    let parts = crate::parts(data, 9);
    let files = files(&parts[1..]);
    let key = crate::test_key(2);
    let origin = PublicKey(key.verifying_key().to_bytes());
    let trusted = vec![(origin, "fuzz signer".to_owned())];

    if let Ok(m) = TransferManifest::from_bytes(parts[0]) {
        assert_eq!(m.to_bytes(), parts[0], "manifest re-encodes differently");
        let _ = m.validate();
        let _ = m.artifact_ids();
        let mut env = m.envelope();
        env.sign(&key);
        for receiver in [DeviceRole::Signer, DeviceRole::Coordinator] {
            let last = |_: &PublicKey| Some(1u64);
            let expect = ManifestExpectations {
                receiver,
                trusted: &trusted,
                last_sequence: &last,
                now: NOW,
            };
            if let Ok(checked) = check_manifest(&env, &expect) {
                assert_eq!(checked, m);
                let policy = TransferPolicy::default_for(receiver);
                let _ = check_contents(&checked, &files, &policy, receiver);
            }
        }
    }

    // A manifest made from the files themselves: what entry_for accepts must pass check_contents.
    let mut entries = Vec::new();
    let mut listed = Vec::new();
    for (name, bytes) in &files {
        if let Ok((entry, env)) = entry_for(name, bytes) {
            assert_eq!(entry.artifact, env.id());
            entries.push(entry);
            listed.push((name.clone(), bytes.clone()));
        }
    }
    let names_unique = {
        let mut n: Vec<&String> = listed.iter().map(|(n, _)| n).collect();
        n.sort();
        n.windows(2).all(|w| w[0] != w[1])
    };
    if entries.is_empty() || !names_unique {
        return;
    }
    let m = TransferManifest {
        entries,
        origin_key: origin,
        origin_name: "fuzz".into(),
        origin_role: DeviceRole::Coordinator,
        destination_role: DeviceRole::Signer,
        purpose: "fuzz".into(),
        sequence: 2,
        created: NOW,
        expires: NOW + 3600,
    };
    let names: Vec<String> = airlock_core::envelope::ArtifactKind::ALL
        .iter()
        .map(|k| k.name().to_owned())
        .collect();
    let everything = TransferPolicy {
        export_dirs: Vec::new(),
        send: names.clone(),
        accept: names,
    };
    if let Ok(checked) = check_contents(&m, &listed, &everything, DeviceRole::Signer) {
        assert_eq!(checked.len(), listed.len());
    }
}
