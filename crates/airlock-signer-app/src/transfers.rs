//! The signer's side of a crossing: what it sends (only its own decisions and the vault drafts
//! it signed), what it accepts (vault definitions and proposal bundles from the coordinator of a
//! vault it registered), and the transfer journal recording both directions.
//!
//! The transfer journal (`transfers.log` + `transfers.head`) is a second hash-chained file on the
//! same mechanism as the decision journal; it also holds the last sequence number accepted from
//! each coordinator and the signer's own outbound sequence. Accepted artifacts are copied to
//! `<home>/inbox/<transfer>/` for the person to review (`vault sign`, `vault register`,
//! `review`/`approve`); nothing is signed or registered by a transfer itself.
//!
//! This module must never import part of a transfer, never accept a manifest from a key it does
//! not know, and never send an artifact this signer did not issue or sign.

use std::collections::BTreeMap;
use std::path::PathBuf;

use airlock_core::cbor::{self, Value};
use airlock_core::fields::MapBuilder;
use airlock_core::transfer::{
    ManifestExpectations, bundle_dir_name, check_contents, check_manifest, entry_for,
};
use airlock_core::{
    Approval, ArtifactKind, DeviceRole, Direction, Envelope, PublicKey, TransferManifest,
    TransferPolicy, VaultDefinition,
};
use airlock_custody::IdentityKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::journal::{ChainedEntry, ChainedLog};
use crate::{Result, SignerError, SignerHome};

const TRANSFER_LOG: &str = "transfers.log";
const TRANSFER_HEAD: &str = "transfers.head";
/// Where accepted transfers are copied.
pub const INBOX_DIR: &str = "inbox";

/// One crossing in the transfer journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferEntry {
    pub seq: u64,
    pub prev: String,
    /// When this signer recorded it.
    pub at: u64,
    /// "out" or "in".
    pub direction: String,
    pub origin_name: String,
    /// The origin's identity key, hex.
    pub origin_key: String,
    pub origin_role: String,
    pub destination_role: String,
    pub purpose: String,
    /// The manifest's sequence number.
    pub sequence: u64,
    /// The manifest's artifact id, hex.
    pub manifest: String,
    /// The artifacts carried: ids (hex) and kinds, in manifest order.
    pub artifacts: Vec<String>,
    pub kinds: Vec<String>,
    /// Where the transfer was written (out) or copied to (in).
    pub location: String,
    /// The signed manifest envelope, hex.
    pub envelope: String,
    pub hash: String,
}

impl ChainedEntry for TransferEntry {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn prev(&self) -> &str {
        &self.prev
    }
    fn hash(&self) -> &str {
        &self.hash
    }
    fn compute_hash(&self) -> String {
        let texts = |v: &[String]| Value::Array(v.iter().map(|s| Value::Text(s.clone())).collect());
        let value = MapBuilder::new()
            .uint(1, self.seq)
            .text(2, &self.prev)
            .uint(3, self.at)
            .text(4, &self.direction)
            .text(5, &self.origin_name)
            .text(6, &self.origin_key)
            .text(7, &self.origin_role)
            .text(8, &self.destination_role)
            .text(9, &self.purpose)
            .uint(10, self.sequence)
            .text(11, &self.manifest)
            .value(12, texts(&self.artifacts))
            .value(13, texts(&self.kinds))
            .text(14, &self.location)
            .text(15, &self.envelope)
            .build();
        hex::encode(Sha256::digest(cbor::encode(&value)))
    }
    fn link(&mut self, seq: u64, prev: String, hash: String) {
        self.seq = seq;
        self.prev = prev;
        self.hash = hash;
    }
}

fn entry_of(
    direction: Direction,
    m: &TransferManifest,
    env: &Envelope,
    location: &str,
    now: u64,
) -> TransferEntry {
    TransferEntry {
        seq: 0,
        prev: String::new(),
        at: now,
        direction: direction.as_str().to_owned(),
        origin_name: m.origin_name.clone(),
        origin_key: m.origin_key.to_hex(),
        origin_role: m.origin_role.as_str().to_owned(),
        destination_role: m.destination_role.as_str().to_owned(),
        purpose: m.purpose.clone(),
        sequence: m.sequence,
        manifest: env.id().to_hex(),
        artifacts: m.entries.iter().map(|e| e.artifact.to_hex()).collect(),
        kinds: m.entries.iter().map(|e| e.kind.name().to_owned()).collect(),
        location: location.to_owned(),
        envelope: hex::encode(env.to_bytes()),
        hash: String::new(),
    }
}

pub use airlock_core::transfer::OutgoingTransfer;

/// What an accepted transfer brought.
pub struct ImportedTransfer {
    pub manifest: TransferManifest,
    pub manifest_id: airlock_core::ArtifactId,
    /// Where the artifacts were copied.
    pub inbox: PathBuf,
    /// (file name, kind) of each artifact, in manifest order.
    pub files: Vec<(String, ArtifactKind)>,
    /// True when the sender was known only from the vault definitions it carried (first contact).
    pub first_contact: bool,
}

impl SignerHome {
    /// Opens and verifies the transfer journal.
    pub fn transfer_journal(&self) -> Result<ChainedLog<TransferEntry>> {
        ChainedLog::open(&self.dir, TRANSFER_LOG, TRANSFER_HEAD, "transfer journal")
    }

    /// The sequence number of the next transfer this signer sends.
    pub fn next_transfer_sequence(&self) -> Result<u64> {
        Ok(self
            .transfer_journal()?
            .entries()
            .iter()
            .filter(|e| e.direction == "out")
            .map(|e| e.sequence)
            .max()
            .unwrap_or(0)
            + 1)
    }

    /// Builds and signs the manifest of a transfer to the coordinator: only kinds the policy lets
    /// this signer send, and only approvals and rejections from its own journal and vault drafts
    /// it signed.
    pub fn prepare_transfer(
        &self,
        files: Vec<(String, Envelope)>,
        purpose: &str,
        expires_in: u64,
        policy: &TransferPolicy,
        key: &IdentityKey,
        now: u64,
    ) -> Result<OutgoingTransfer> {
        if files.is_empty() {
            return Err(SignerError::Refused(
                "give one or more artifact files to transfer".into(),
            ));
        }
        let me = PublicKey(key.verifying_key().to_bytes());
        let journal = self.journal()?;
        let mut entries = Vec::new();
        let mut out = Vec::new();
        for (name, env) in files {
            let bytes = env.to_bytes();
            let (entry, env) = entry_for(&name, &bytes)?;
            policy
                .allow(DeviceRole::Signer, Direction::Out, entry.kind)
                .map_err(|e| SignerError::Refused(format!("{name}: {e}")))?;
            match entry.kind {
                ArtifactKind::Approval => {
                    let a: Approval = env.open()?;
                    let id = env.id().to_hex();
                    if a.signer != me || !journal.entries().iter().any(|e| e.approval == id) {
                        return Err(SignerError::Refused(format!(
                            "{name}: this {} is not in this signer's journal; a signer sends only its own decisions",
                            a.decision.as_str()
                        )));
                    }
                    env.require_signature(&me, "this signer")?;
                }
                ArtifactKind::VaultDefinition => {
                    env.require_signature(&me, "this signer").map_err(|e| {
                        SignerError::Refused(format!(
                            "{name}: {e}; sign the draft first (`airlock-signer vault sign`)"
                        ))
                    })?;
                }
                _ => {}
            }
            entries.push(entry);
            out.push((name, bytes));
        }
        let sequence = self.next_transfer_sequence()?;
        let manifest = TransferManifest {
            entries,
            origin_key: me,
            origin_name: self.config.name.clone(),
            origin_role: DeviceRole::Signer,
            destination_role: DeviceRole::Coordinator,
            purpose: purpose.trim().to_owned(),
            sequence,
            created: now,
            expires: now.saturating_add(expires_in),
        };
        OutgoingTransfer::seal(manifest, out, key.signing_key())
            .map_err(|e| SignerError::Refused(e.to_string()))
    }

    /// Records a transfer this signer wrote.
    pub fn record_transfer_out(
        &self,
        t: &OutgoingTransfer,
        location: &str,
        now: u64,
    ) -> Result<()> {
        if t.manifest.sequence != self.next_transfer_sequence()? {
            return Err(SignerError::Refused(
                "another transfer was recorded meanwhile; prepare this one again".into(),
            ));
        }
        self.transfer_journal()?.append(entry_of(
            Direction::Out,
            &t.manifest,
            &t.envelope,
            location,
            now,
        ))?;
        Ok(())
    }

    /// The coordinator keys this signer accepts transfers from, and whether the sender of this
    /// manifest is known only from the vault definitions it carries (first contact: every file
    /// is a vault definition listing this signer and naming the manifest's origin as coordinator).
    fn trusted_senders(
        &self,
        manifest_env: &Envelope,
        files: &[(String, Vec<u8>)],
    ) -> Result<(Vec<(PublicKey, String)>, bool)> {
        let mut trusted: Vec<(PublicKey, String)> = Vec::new();
        for id in self.vault_ids()? {
            for (def, _) in self.vault_versions(&id)? {
                if !trusted.iter().any(|(k, _)| *k == def.coordinator.key) {
                    trusted.push((
                        def.coordinator.key,
                        format!("coordinator {}", def.coordinator.origin),
                    ));
                }
            }
        }
        let Ok(claimed) = manifest_env.open::<TransferManifest>() else {
            return Ok((trusted, false));
        };
        if trusted.iter().any(|(k, _)| *k == claimed.origin_key) {
            return Ok((trusted, false));
        }
        let me = self.public_key()?;
        let introduces = !files.is_empty()
            && files.iter().all(|(_, bytes)| {
                Envelope::from_bytes(bytes)
                    .ok()
                    .and_then(|env| env.open::<VaultDefinition>().ok())
                    .is_some_and(|def| {
                        def.coordinator.key == claimed.origin_key && def.signer(&me).is_some()
                    })
            });
        if introduces {
            trusted.push((
                claimed.origin_key,
                format!("coordinator {} (first contact)", claimed.origin_name),
            ));
        }
        Ok((trusted, introduces))
    }

    /// Verifies a transfer from the coordinator and copies its artifacts to the inbox: the
    /// manifest (signature by a known coordinator, addressed to a signer, not expired, sequence
    /// number after the last one accepted from it), the files (exactly those listed, matching
    /// their digests and ids, kinds this signer accepts). Nothing is copied or recorded unless
    /// every check passes.
    pub fn import_transfer(
        &self,
        manifest_env: &Envelope,
        files: &[(String, Vec<u8>)],
        policy: &TransferPolicy,
        now: u64,
    ) -> Result<ImportedTransfer> {
        let mut journal = self.transfer_journal()?;
        let (trusted, first_contact) = self.trusted_senders(manifest_env, files)?;
        let mut last: BTreeMap<String, u64> = BTreeMap::new();
        for e in journal.entries().iter().filter(|e| e.direction == "in") {
            let v = last.entry(e.origin_key.clone()).or_default();
            *v = (*v).max(e.sequence);
        }
        let last_sequence = |k: &PublicKey| last.get(&k.to_hex()).copied();
        let manifest = check_manifest(
            manifest_env,
            &ManifestExpectations {
                receiver: DeviceRole::Signer,
                trusted: &trusted,
                last_sequence: &last_sequence,
                now,
            },
        )?;
        let manifest_id = manifest_env.id().to_hex();
        if journal.entries().iter().any(|e| e.manifest == manifest_id) {
            return Err(SignerError::Refused(format!(
                "transfer {} was already imported",
                &manifest_id[..12]
            )));
        }
        let contents = check_contents(&manifest, files, policy, DeviceRole::Signer)?;
        let inbox_root = self.dir.join(INBOX_DIR);
        std::fs::create_dir_all(&inbox_root)
            .map_err(|e| SignerError::Io(format!("{}: {e}", inbox_root.display())))?;
        let staged = airlock_transport::dir::StagedDir::new(
            &inbox_root,
            &bundle_dir_name(&manifest.origin_name, manifest.sequence),
        )
        .map_err(|e| SignerError::Io(e.to_string()))?;
        for (entry, env) in &contents {
            staged
                .write(&entry.file, &env.to_bytes())
                .map_err(|e| SignerError::Io(e.to_string()))?;
        }
        staged
            .write(
                airlock_core::transfer::MANIFEST_FILE,
                &manifest_env.to_bytes(),
            )
            .map_err(|e| SignerError::Io(e.to_string()))?;
        let inbox = staged
            .commit()
            .map_err(|e| SignerError::Io(e.to_string()))?;
        // The record of the crossing; without it the inbox copy is taken back.
        if let Err(e) = journal.append(entry_of(
            Direction::In,
            &manifest,
            manifest_env,
            &inbox.display().to_string(),
            now,
        )) {
            let _ = std::fs::remove_dir_all(&inbox);
            return Err(e);
        }
        Ok(ImportedTransfer {
            manifest_id: manifest_env.id(),
            files: manifest
                .entries
                .iter()
                .map(|e| (e.file.clone(), e.kind))
                .collect(),
            manifest,
            inbox,
            first_contact,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::Artifact;
    use airlock_core::transfer::TransferFiles;
    use airlock_core::vault::{CoordinatorRef, parse_rule};
    use airlock_core::{SignerEntry, TransferManifest};
    use airlock_custody::{KdfParams, Passphrase};

    const NOW: u64 = 1_767_225_600;

    fn pk(k: &IdentityKey) -> PublicKey {
        PublicKey(k.verifying_key().to_bytes())
    }

    fn setup(dir: &std::path::Path) -> (SignerHome, IdentityKey, IdentityKey) {
        let pass = Passphrase::new("pass".into()).unwrap();
        let h = SignerHome::init(dir, "alice", &pass, KdfParams::INSECURE_FAST, NOW).unwrap();
        let key = h.unlock(&pass).unwrap();
        (h, key, IdentityKey::generate())
    }

    fn vault(alice: &IdentityKey, coordinator: &IdentityKey) -> Envelope {
        let def = VaultDefinition {
            vault_id: "treasury".into(),
            version: 1,
            previous: None,
            chain: "none".into(),
            network: "main".into(),
            account: String::new(),
            coordinator: CoordinatorRef {
                origin: "test/log".into(),
                key: pk(coordinator),
            },
            signers: vec![SignerEntry {
                name: "alice".into(),
                role: "ops".into(),
                identity: pk(alice),
                chain_key: String::new(),
                custody: "keystore".into(),
            }],
            threshold: 1,
            rules: vec![parse_rule("default: => 1 any").unwrap()],
            created: NOW,
            witnesses: Default::default(),
        };
        let mut env = def.envelope();
        env.sign(alice.signing_key());
        env
    }

    fn manifest(from: &IdentityKey, files: &TransferFiles, sequence: u64) -> Envelope {
        let m = TransferManifest {
            entries: files
                .iter()
                .map(|(n, b)| entry_for(n, b).unwrap().0)
                .collect(),
            origin_key: pk(from),
            origin_name: "test/log".into(),
            origin_role: DeviceRole::Coordinator,
            destination_role: DeviceRole::Signer,
            purpose: "vault v1".into(),
            sequence,
            created: NOW,
            expires: NOW + 3600,
        };
        let mut env = m.envelope();
        env.sign(from.signing_key());
        env
    }

    fn inbox(h: &SignerHome) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(h.dir.join(INBOX_DIR))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn imports_are_verified_journaled_and_never_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let (h, alice, coordinator) = setup(dir.path());
        let policy = TransferPolicy::default_for(DeviceRole::Signer);
        let files = vec![(
            "v1.airlock".to_owned(),
            vault(&alice, &coordinator).to_bytes(),
        )];

        // A stranger cannot introduce itself with a vault naming another coordinator.
        let stranger = IdentityKey::generate();
        let err = h
            .import_transfer(&manifest(&stranger, &files, 1), &files, &policy, NOW)
            .err()
            .unwrap();
        assert!(err.to_string().contains("does not know"), "{err}");
        assert!(inbox(&h).is_empty());

        // The vault's own coordinator, first contact.
        let m1 = manifest(&coordinator, &files, 1);
        let got = h.import_transfer(&m1, &files, &policy, NOW).unwrap();
        assert!(got.first_contact);
        assert_eq!(inbox(&h), ["test_log-000001"]);
        assert!(got.inbox.join("v1.airlock").is_file());
        assert!(got.inbox.join("manifest.airlock").is_file());
        let journal = h.transfer_journal().unwrap();
        assert_eq!(journal.entries().len(), 1);
        let e = &journal.entries()[0];
        assert_eq!((e.direction.as_str(), e.sequence), ("in", 1));
        assert_eq!(e.manifest, m1.id().to_hex());
        assert_eq!(e.purpose, "vault v1");

        // Replayed: refused, nothing changes.
        let err = h.import_transfer(&m1, &files, &policy, NOW).err().unwrap();
        assert!(err.to_string().contains("not after the last one"), "{err}");
        assert_eq!(h.transfer_journal().unwrap().entries().len(), 1);
        assert_eq!(inbox(&h).len(), 1);

        // Registered, the coordinator is known; an approval is not a kind a signer accepts.
        h.register_vault(&vault(&alice, &coordinator)).unwrap();
        let approval = airlock_core::CheckpointArtifact { note: "x".into() }.envelope();
        let files = vec![("c.airlock".to_owned(), approval.to_bytes())];
        let err = h
            .import_transfer(&manifest(&coordinator, &files, 2), &files, &policy, NOW)
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("does not accept checkpoint"),
            "{err}"
        );
        assert_eq!(h.transfer_journal().unwrap().entries().len(), 1);
        assert_eq!(inbox(&h).len(), 1);
    }

    #[test]
    fn a_signer_sends_only_what_it_issued() {
        let dir = tempfile::tempdir().unwrap();
        let (h, alice, coordinator) = setup(dir.path());
        let policy = TransferPolicy::default_for(DeviceRole::Signer);
        // An unsigned draft: refused (sign it first).
        let mut unsigned = vault(&alice, &coordinator);
        unsigned.signatures.clear();
        let err = h
            .prepare_transfer(
                vec![("d.airlock".into(), unsigned)],
                "draft",
                3600,
                &policy,
                &alice,
                NOW,
            )
            .err()
            .unwrap();
        assert!(err.to_string().contains("sign the draft first"), "{err}");
        // An approval this signer never journaled.
        let fake = airlock_core::Approval {
            proposal: airlock_core::ArtifactId([1; 32]),
            vault_id: "treasury".into(),
            vault_version: 1,
            decision: airlock_core::Decision::Approve,
            reason: String::new(),
            chain_signature: vec![],
            signer: pk(&alice),
            signed_at: NOW,
            seen_checkpoint: airlock_core::SeenCheckpoint {
                size: 0,
                root: [0; 32],
            },
            review_digest: [0; 32],
        };
        let mut env = fake.envelope();
        env.sign(alice.signing_key());
        let err = h
            .prepare_transfer(
                vec![("a.airlock".into(), env)],
                "a",
                3600,
                &policy,
                &alice,
                NOW,
            )
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("not in this signer's journal"),
            "{err}"
        );
        // The signed draft goes; the sequence advances once recorded.
        let t = h
            .prepare_transfer(
                vec![("d.airlock".into(), vault(&alice, &coordinator))],
                "signed draft",
                3600,
                &policy,
                &alice,
                NOW,
            )
            .unwrap();
        assert_eq!(t.manifest.sequence, 1);
        assert_eq!(t.manifest.destination_role, DeviceRole::Coordinator);
        assert!(t.envelope.is_signed_by(&pk(&alice)));
        h.record_transfer_out(&t, "usb/alice-000001", NOW).unwrap();
        assert_eq!(h.next_transfer_sequence().unwrap(), 2);
        assert!(h.record_transfer_out(&t, "again", NOW).is_err());

        // The transfer journal is chained like the decision journal: an edit is caught.
        let path = h.dir.join(TRANSFER_LOG);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("signed draft", "signed graft")).unwrap();
        let err = h.transfer_journal().err().unwrap();
        assert!(matches!(err, SignerError::Journal(_)), "{err}");
        assert!(err.to_string().contains("transfer journal"), "{err}");
    }
}
