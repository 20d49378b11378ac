//! The coordinator's side of a crossing: signing the manifest of what it sends, checking the
//! manifest of what it receives, and recording both in the transparency log as a `transfer` leaf
//! (the manifest is the leaf's artifact).
//!
//! The coordinator trusts a manifest only when it is signed by a signer of one of its vaults, or
//! — first contact, before the vault exists — by a signer named in a vault draft that this
//! coordinator itself sent across (its id is in one of the coordinator's own outbound manifests).
//! Decisions in an accepted transfer go through the same checks as `submit`, and are recorded in
//! the same database transaction as the transfer: all or nothing.
//!
//! This module must never record a transfer it did not fully verify, and never import part of
//! one.

use std::collections::BTreeMap;

use airlock_core::lifecycle::Status;
use airlock_core::transfer::{ManifestExpectations, check_contents, check_manifest, entry_for};
use airlock_core::{
    ArtifactId, ArtifactKind, CoreError, DeviceRole, Direction, Envelope, LogRecord,
    ProposalBundle, PublicKey, TransferManifest, TransferPolicy, UnixTime, VaultDefinition,
};

use crate::store::NewEntry;
use crate::{Coordinator, CoordinatorError, Result};

/// A transfer the coordinator recorded (either direction).
#[derive(Clone, Debug)]
pub struct TransferRecord {
    pub direction: Direction,
    pub manifest_id: ArtifactId,
    pub manifest: TransferManifest,
    /// When the coordinator recorded it.
    pub at: UnixTime,
    pub log_index: u64,
}

pub use airlock_core::transfer::OutgoingTransfer;

/// A transfer that passed every check, ready to be recorded by `commit_transfer`.
pub struct CheckedTransfer {
    /// What it brings (decision statuses as they will be once recorded).
    pub transfer: ImportedTransfer,
    entries: Vec<NewEntry>,
    log_size: u64,
}

/// What an accepted transfer brought.
pub struct ImportedTransfer {
    pub manifest_id: ArtifactId,
    pub manifest: TransferManifest,
    /// Approvals and rejections recorded: (decision id, proposal status now).
    pub decisions: Vec<(ArtifactId, Status)>,
    /// Signed vault drafts (file name, envelope), for `vault submit`.
    pub drafts: Vec<(String, Envelope)>,
}

impl Coordinator {
    /// Every transfer in the log, oldest first.
    pub fn transfers(&self) -> Result<Vec<TransferRecord>> {
        let me = self.public_key();
        self.store
            .artifacts_of_kind(ArtifactKind::TransferManifest.name(), None)?
            .into_iter()
            .map(|stored| {
                let env = Envelope::from_bytes(&stored.bytes)?;
                let manifest: TransferManifest = env.open()?;
                let at = LogRecord::from_bytes(&self.store.leaf(stored.log_index)?)?.at;
                Ok(TransferRecord {
                    direction: if manifest.origin_key == me {
                        Direction::Out
                    } else {
                        Direction::In
                    },
                    manifest_id: env.id(),
                    manifest,
                    at,
                    log_index: stored.log_index,
                })
            })
            .collect()
    }

    /// The sequence number of the next transfer this coordinator sends.
    pub fn next_transfer_sequence(&self) -> Result<u64> {
        Ok(self
            .transfers()?
            .iter()
            .filter(|t| t.direction == Direction::Out)
            .map(|t| t.manifest.sequence)
            .max()
            .unwrap_or(0)
            + 1)
    }

    /// Builds and signs the manifest of a transfer to signers. Only kinds the policy lets this
    /// coordinator send, and only its own artifacts: vault definitions naming this coordinator,
    /// bundles of proposals in its log.
    pub fn prepare_transfer(
        &self,
        files: Vec<(String, Envelope)>,
        purpose: &str,
        expires_in: u64,
        policy: &TransferPolicy,
        now: UnixTime,
    ) -> Result<OutgoingTransfer> {
        if files.is_empty() {
            return Err(CoordinatorError::Refused(
                "give one or more artifact files to transfer".into(),
            ));
        }
        let mut entries = Vec::new();
        let mut out = Vec::new();
        for (name, env) in files {
            let bytes = env.to_bytes();
            let (entry, env) = entry_for(&name, &bytes)?;
            policy
                .allow(DeviceRole::Coordinator, Direction::Out, entry.kind)
                .map_err(|e| CoordinatorError::Refused(format!("{name}: {e}")))?;
            match entry.kind {
                ArtifactKind::VaultDefinition => {
                    let def: VaultDefinition = env.open()?;
                    if def.coordinator.key != self.public_key() {
                        return Err(CoordinatorError::Refused(format!(
                            "{name}: vault {:?} v{} names another coordinator",
                            def.vault_id, def.version
                        )));
                    }
                }
                ArtifactKind::ProposalBundle => {
                    let b: ProposalBundle = env.open()?;
                    let proposal = Envelope::from_bytes(&b.proposal)?;
                    if self.store.artifact(&proposal.id())?.is_none() {
                        return Err(CoordinatorError::Refused(format!(
                            "{name}: its proposal {} is not in this coordinator's log",
                            proposal.id().short()
                        )));
                    }
                }
                _ => {}
            }
            entries.push(entry);
            out.push((name, bytes));
        }
        let sequence = self.next_transfer_sequence()?;
        let manifest = TransferManifest {
            entries,
            origin_key: self.public_key(),
            origin_name: self.origin().to_owned(),
            origin_role: DeviceRole::Coordinator,
            destination_role: DeviceRole::Signer,
            purpose: purpose.trim().to_owned(),
            sequence,
            created: now,
            expires: now.saturating_add(expires_in),
        };
        OutgoingTransfer::seal(manifest, out, self.identity.signing_key())
            .map_err(|e| CoordinatorError::Refused(e.to_string()))
    }

    /// Records a transfer this coordinator wrote (a `transfer` leaf holding the manifest).
    pub fn record_transfer_out(&mut self, t: &OutgoingTransfer, now: UnixTime) -> Result<()> {
        self.transact(|c| {
            if t.manifest.sequence != c.next_transfer_sequence()? {
                return Err(CoordinatorError::Refused(
                    "another transfer was recorded meanwhile; prepare this one again".into(),
                ));
            }
            let entry = c.entry(&t.envelope, "transfer", "", None, None, now);
            c.append(vec![entry])?;
            Ok(())
        })
    }

    /// The keys this coordinator accepts transfers from, given the files of the transfer.
    fn trusted_senders(&self, files: &[(String, Vec<u8>)]) -> Result<Vec<(PublicKey, String)>> {
        let mut trusted: Vec<(PublicKey, String)> = Vec::new();
        let mut add = |def: &VaultDefinition, how: &str| {
            for s in &def.signers {
                if !trusted.iter().any(|(k, _)| *k == s.identity) {
                    trusted.push((
                        s.identity,
                        format!("signer {} of vault {}{how}", s.name, def.vault_id),
                    ));
                }
            }
        };
        for id in self.vault_ids()? {
            for (def, _) in self.vault_history(&id)? {
                add(&def, "");
            }
        }
        // First contact: signers of a draft this coordinator sent across itself.
        let sent: Vec<ArtifactId> = self
            .transfers()?
            .into_iter()
            .filter(|t| t.direction == Direction::Out)
            .flat_map(|t| t.manifest.artifact_ids())
            .collect();
        for (_, bytes) in files {
            if let Ok(env) = Envelope::from_bytes(bytes)
                && sent.contains(&env.id())
                && let Ok(def) = env.open::<VaultDefinition>()
            {
                add(&def, " (draft)");
            }
        }
        Ok(trusted)
    }

    /// Verifies and imports a transfer from a signer: the manifest (signature by a known signer,
    /// addressed to a coordinator, not expired, sequence number after the last one accepted from
    /// that signer), the files (exactly those listed, matching their digests and ids, kinds this
    /// coordinator accepts), then the artifacts (decisions through the `submit` checks, vault
    /// drafts signed by the sender and naming this coordinator). Everything is recorded in one
    /// transaction, or nothing is.
    pub fn import_transfer(
        &mut self,
        manifest_env: &Envelope,
        files: &[(String, Vec<u8>)],
        policy: &TransferPolicy,
        now: UnixTime,
    ) -> Result<ImportedTransfer> {
        let checked = self.read(|c| c.check_transfer(manifest_env, files, policy, now))?;
        self.commit_transfer(checked)
    }

    /// Records a checked transfer (one transaction), unless the log changed since the check.
    /// The log only grows, so an unchanged size inside the write transaction means nothing the
    /// check read has changed.
    pub fn commit_transfer(&mut self, checked: CheckedTransfer) -> Result<ImportedTransfer> {
        self.transact(|c| {
            if c.store.log_size()? != checked.log_size {
                return Err(CoordinatorError::Refused(
                    "the log changed since the transfer was checked; run `transfer in` again"
                        .into(),
                ));
            }
            c.append(checked.entries)?;
            Ok(checked.transfer)
        })
    }

    /// Everything `import_transfer` checks, without recording anything.
    pub fn check_transfer(
        &self,
        manifest_env: &Envelope,
        files: &[(String, Vec<u8>)],
        policy: &TransferPolicy,
        now: UnixTime,
    ) -> Result<CheckedTransfer> {
        let trusted = self.trusted_senders(files)?;
        let mut last: BTreeMap<PublicKey, u64> = BTreeMap::new();
        for t in self.transfers()? {
            let e = last.entry(t.manifest.origin_key).or_default();
            *e = (*e).max(t.manifest.sequence);
        }
        let last_sequence = |k: &PublicKey| last.get(k).copied();
        let manifest = check_manifest(
            manifest_env,
            &ManifestExpectations {
                receiver: DeviceRole::Coordinator,
                trusted: &trusted,
                last_sequence: &last_sequence,
                now,
            },
        )?;
        if self.store.artifact(&manifest_env.id())?.is_some() {
            return Err(CoordinatorError::Refused(format!(
                "transfer {} was already imported",
                manifest_env.id().short()
            )));
        }
        let contents = check_contents(&manifest, files, policy, DeviceRole::Coordinator)?;
        let mut decisions = Vec::new();
        let mut drafts = Vec::new();
        for (entry, env) in contents {
            match entry.kind {
                ArtifactKind::Approval => decisions.push(env),
                ArtifactKind::VaultDefinition => {
                    let def: VaultDefinition = env.open()?;
                    if def.coordinator.key != self.public_key() {
                        return Err(CoordinatorError::Refused(format!(
                            "{}: vault {:?} v{} names another coordinator",
                            entry.file, def.vault_id, def.version
                        )));
                    }
                    env.require_signature(&manifest.origin_key, &manifest.origin_name)
                        .map_err(|e| CoordinatorError::Refused(format!("{}: {e}", entry.file)))?;
                    drafts.push((entry.file.clone(), env));
                }
                other => {
                    return Err(CoreError::Invalid(format!(
                        "{}: a coordinator does not import {} artifacts",
                        entry.file,
                        other.name()
                    ))
                    .into());
                }
            }
        }
        let (mut entries, outcomes) = self.prepare_decisions(&decisions, now, true)?;
        entries.push(self.entry(manifest_env, "transfer", "", None, None, now));
        Ok(CheckedTransfer {
            transfer: ImportedTransfer {
                manifest_id: manifest_env.id(),
                manifest,
                decisions: outcomes,
                drafts,
            },
            entries,
            log_size: self.store.log_size()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CoordinatorHome, VaultDraft};
    use airlock_core::{
        Approval, Artifact, Decision, Intent, SeenCheckpoint, SignerEntry, Transfer,
    };
    use airlock_custody::IdentityKey;

    const NOW: u64 = 1_767_225_600;

    fn pk(k: &IdentityKey) -> PublicKey {
        PublicKey(k.verifying_key().to_bytes())
    }

    /// A coordinator with vault "treasury" (one signer, alice) and one open proposal.
    fn setup(dir: &std::path::Path) -> (Coordinator, IdentityKey, ArtifactId) {
        let mut c = CoordinatorHome::init(dir, Some("test/log"), NOW)
            .unwrap()
            .coordinator()
            .unwrap();
        let alice = IdentityKey::generate();
        let draft = VaultDraft {
            vault_id: "treasury".into(),
            chain: "none".into(),
            network: "main".into(),
            account: String::new(),
            signers: vec![SignerEntry {
                name: "alice".into(),
                role: "ops".into(),
                identity: pk(&alice),
                chain_key: String::new(),
                custody: "keystore".into(),
            }],
            threshold: 1,
            rules: vec![airlock_core::vault::parse_rule("default: => 1 any").unwrap()],
            witnesses: Default::default(),
        };
        let mut env = c.draft_vault(draft, NOW).unwrap();
        env.sign(alice.signing_key());
        c.submit_vault(&[env], NOW).unwrap();
        let proposal = c
            .propose(
                "treasury",
                Intent {
                    transfers: vec![Transfer {
                        destination: "acme".into(),
                        amount: 5,
                        asset: String::new(),
                    }],
                    memo: String::new(),
                },
                None,
                NOW,
            )
            .unwrap();
        (c, alice, proposal)
    }

    fn approval(alice: &IdentityKey, proposal: ArtifactId) -> Envelope {
        let a = Approval {
            proposal,
            vault_id: "treasury".into(),
            vault_version: 1,
            decision: Decision::Approve,
            reason: String::new(),
            chain_signature: vec![],
            signer: pk(alice),
            signed_at: NOW,
            seen_checkpoint: SeenCheckpoint {
                size: 0,
                root: [0; 32],
            },
            review_digest: [0; 32],
        };
        let mut env = a.envelope();
        env.sign(alice.signing_key());
        env
    }

    fn from_alice(alice: &IdentityKey, files: &[(String, Vec<u8>)], sequence: u64) -> Envelope {
        let m = TransferManifest {
            entries: files
                .iter()
                .map(|(n, b)| entry_for(n, b).unwrap().0)
                .collect(),
            origin_key: pk(alice),
            origin_name: "alice".into(),
            origin_role: DeviceRole::Signer,
            destination_role: DeviceRole::Coordinator,
            purpose: "approval".into(),
            sequence,
            created: NOW,
            expires: NOW + 3600,
        };
        let mut env = m.envelope();
        env.sign(alice.signing_key());
        env
    }

    #[test]
    fn transfers_out_and_in_are_logged_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, alice, proposal) = setup(dir.path());
        let policy = TransferPolicy::default_for(DeviceRole::Coordinator);
        let (_, vault_env) = c.vault_latest("treasury").unwrap();

        // Out: the vault version; sequence numbers count up per recorded transfer.
        let t = c
            .prepare_transfer(
                vec![("v1.airlock".into(), vault_env)],
                "v1",
                3600,
                &policy,
                NOW,
            )
            .unwrap();
        assert_eq!(t.manifest.sequence, 1);
        assert!(t.envelope.is_signed_by(&c.public_key()));
        c.record_transfer_out(&t, NOW).unwrap();
        assert_eq!(c.next_transfer_sequence().unwrap(), 2);
        // Recording the same prepared transfer twice is refused.
        assert!(c.record_transfer_out(&t, NOW).is_err());

        // In: alice's approval makes the proposal ready, in the same append as the transfer.
        let files = vec![(
            "a.airlock".to_owned(),
            approval(&alice, proposal).to_bytes(),
        )];
        let manifest = from_alice(&alice, &files, 1);
        let size = c.store().log_size().unwrap();
        let got = c.import_transfer(&manifest, &files, &policy, NOW).unwrap();
        assert_eq!(got.decisions.len(), 1);
        assert_eq!(got.decisions[0].1, Status::Ready);
        assert_eq!(c.store().log_size().unwrap(), size + 2);
        let records = c.transfers().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].direction, Direction::Out);
        assert_eq!(records[1].direction, Direction::In);
        assert_eq!(records[1].manifest.purpose, "approval");
        let report = c.verify_log().unwrap();
        assert_eq!(report.transfers, 2);
        assert_eq!(report.approvals, 1);

        // The same transfer again: a replay, refused before anything changes.
        let err = c
            .import_transfer(&manifest, &files, &policy, NOW)
            .err()
            .unwrap();
        assert!(err.to_string().contains("not after the last one"), "{err}");
        assert_eq!(c.store().log_size().unwrap(), size + 2);
    }

    #[test]
    fn a_refused_transfer_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, alice, proposal) = setup(dir.path());
        let policy = TransferPolicy::default_for(DeviceRole::Coordinator);
        let size = c.store().log_size().unwrap();
        // A valid manifest whose approval names an unknown proposal: nothing is recorded, not
        // even the transfer.
        let files = vec![(
            "a.airlock".to_owned(),
            approval(&alice, ArtifactId([9; 32])).to_bytes(),
        )];
        assert!(
            c.import_transfer(&from_alice(&alice, &files, 1), &files, &policy, NOW)
                .is_err()
        );
        assert_eq!(c.store().log_size().unwrap(), size);
        // A stranger's manifest.
        let stranger = IdentityKey::generate();
        let files = vec![(
            "a.airlock".to_owned(),
            approval(&alice, proposal).to_bytes(),
        )];
        let err = c
            .import_transfer(&from_alice(&stranger, &files, 1), &files, &policy, NOW)
            .err()
            .unwrap();
        assert!(err.to_string().contains("does not know"), "{err}");
        // Expired.
        let err = c
            .import_transfer(&from_alice(&alice, &files, 1), &files, &policy, NOW + 3600)
            .err()
            .unwrap();
        assert!(err.to_string().contains("expired"), "{err}");
        // A proposal bundle is not something a coordinator accepts.
        let bundle = c.bundle(&proposal, &[]).unwrap().envelope().to_bytes();
        let files = vec![("b.airlock".to_owned(), bundle)];
        let err = c
            .import_transfer(&from_alice(&alice, &files, 1), &files, &policy, NOW)
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("does not accept proposal-bundle"),
            "{err}"
        );
        assert_eq!(c.store().log_size().unwrap(), size);
        assert!(c.transfers().unwrap().is_empty());
        // The coordinator refuses to send an artifact kind it may not send.
        let files = vec![("a.airlock".to_owned(), approval(&alice, proposal))];
        assert!(
            c.prepare_transfer(files, "x", 60, &policy, NOW)
                .err()
                .unwrap()
                .to_string()
                .contains("does not send approval")
        );
    }
}
