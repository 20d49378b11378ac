//! Crossing the air gap: the signed manifest of a transfer, and which artifact kinds each kind of
//! device may send and accept.
//!
//! A transfer is a directory (on a USB stick, a shared folder…) holding artifact files and a
//! `TransferManifest` signed by the sending device's identity key. The manifest lists every file
//! (name, artifact id, kind, size, SHA-256 of the exact bytes), says who sent it (identity key,
//! name, role), for whom (destination role), why (purpose), its place in the sender's sequence
//! of transfers, and when it stops being valid. The receiving side checks all of it before it
//! imports anything ([`check_manifest`], [`check_contents`]).
//!
//! This module is pure (no files, no clock): callers pass `now`, the keys they trust and the
//! sequence numbers they recorded. It must never accept a file the manifest does not list, a kind
//! the direction does not allow, or a manifest that is not signed by a key the caller trusts.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::artifacts::ARTIFACT_FORMAT_VERSION;
use crate::cbor::Value;
use crate::envelope::{Artifact, ArtifactId, ArtifactKind, Envelope};
use crate::fields::{Fields, FormatError, MapBuilder, records};
use crate::{CoreError, PublicKey, UnixTime};

/// The files of a transfer directory, manifest excluded: (file name, exact bytes).
pub type TransferFiles = Vec<(String, Vec<u8>)>;

/// The manifest's file name inside a transfer directory.
pub const MANIFEST_FILE: &str = "manifest.airlock";
/// Most artifacts in one transfer.
pub const MAX_ENTRIES: usize = 256;
/// Longest purpose text.
pub const MAX_PURPOSE_LEN: usize = 1024;
/// Clock skew tolerated on `created`.
pub const CLOCK_SKEW_SECS: u64 = 300;

/// The two kinds of device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceRole {
    Coordinator,
    Signer,
}

impl DeviceRole {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceRole::Coordinator => "coordinator",
            DeviceRole::Signer => "signer",
        }
    }

    pub fn parse(s: &str) -> Option<DeviceRole> {
        match s {
            "coordinator" => Some(DeviceRole::Coordinator),
            "signer" => Some(DeviceRole::Signer),
            _ => None,
        }
    }

    /// The role on the other side of the gap.
    pub fn other(self) -> DeviceRole {
        match self {
            DeviceRole::Coordinator => DeviceRole::Signer,
            DeviceRole::Signer => DeviceRole::Coordinator,
        }
    }
}

impl std::fmt::Display for DeviceRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way a transfer crosses, seen from the device recording it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// This device wrote the transfer.
    Out,
    /// This device imported the transfer.
    In,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Out => "out",
            Direction::In => "in",
        }
    }
}

/// One file of a transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    pub artifact: ArtifactId,
    pub kind: ArtifactKind,
    /// The file's name in the transfer directory (see [`valid_file_name`]).
    pub file: String,
    pub size: u64,
    /// SHA-256 of the file's exact bytes (the artifact id does not cover signatures).
    pub digest: [u8; 32],
}

/// The signed list of what a transfer carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferManifest {
    pub entries: Vec<ManifestEntry>,
    /// The sending device's identity key (the manifest's envelope must be signed by it).
    pub origin_key: PublicKey,
    /// The sending device's name (a signer's name, a coordinator's log origin).
    pub origin_name: String,
    pub origin_role: DeviceRole,
    pub destination_role: DeviceRole,
    /// Why the transfer is made (required).
    pub purpose: String,
    /// Per origin device, strictly increasing from 1.
    pub sequence: u64,
    pub created: UnixTime,
    pub expires: UnixTime,
}

/// A file name allowed in a transfer: 1-100 characters of `A-Z a-z 0-9 . _ -`, not starting with
/// a dot (so no `..`, no hidden or temporary files), and not the manifest's own name.
pub fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name != MANIFEST_FILE
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// A transfer ready to be written: the signed manifest and the files, manifest excluded.
pub struct OutgoingTransfer {
    pub dir_name: String,
    pub manifest: TransferManifest,
    pub envelope: Envelope,
    pub files: Vec<(String, Vec<u8>)>,
}

impl OutgoingTransfer {
    /// Validates the manifest and signs it with the sending device's identity key.
    pub fn seal(
        manifest: TransferManifest,
        files: Vec<(String, Vec<u8>)>,
        key: &ed25519_dalek::SigningKey,
    ) -> Result<OutgoingTransfer, CoreError> {
        manifest
            .validate()
            .map_err(|p| CoreError::Invalid(format!("transfer manifest: {p}")))?;
        let mut envelope = manifest.envelope();
        envelope.sign(key);
        Ok(OutgoingTransfer {
            dir_name: bundle_dir_name(&manifest.origin_name, manifest.sequence),
            manifest,
            envelope,
            files,
        })
    }
}

/// The name of a transfer directory: `<origin name>-<sequence>` with unsafe characters replaced.
pub fn bundle_dir_name(origin_name: &str, sequence: u64) -> String {
    let safe: String = origin_name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}-{sequence:06}", safe.trim_start_matches('_'))
}

fn role_field(f: &mut Fields, key: u64, name: &str) -> Result<DeviceRole, FormatError> {
    let s = f.text(key, name)?;
    DeviceRole::parse(&s).ok_or_else(|| {
        f.error(format!(
            "field {key} ({name}) must be \"coordinator\" or \"signer\", found {s:?}"
        ))
    })
}

impl Artifact for TransferManifest {
    const KIND: ArtifactKind = ArtifactKind::TransferManifest;

    fn to_value(&self) -> Value {
        let entries = self
            .entries
            .iter()
            .map(|e| {
                MapBuilder::new()
                    .bytes(1, &e.artifact.0)
                    .text(2, e.kind.name())
                    .text(3, &e.file)
                    .uint(4, e.size)
                    .bytes(5, &e.digest)
                    .build()
            })
            .collect();
        MapBuilder::new()
            .uint(0, ARTIFACT_FORMAT_VERSION)
            .array(1, entries)
            .bytes(2, &self.origin_key.0)
            .text(3, &self.origin_name)
            .text(4, self.origin_role.as_str())
            .text(5, self.destination_role.as_str())
            .text(6, &self.purpose)
            .uint(7, self.sequence)
            .uint(8, self.created)
            .uint(9, self.expires)
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "transfer manifest")?;
        f.version(ARTIFACT_FORMAT_VERSION)?;
        let mut entries = Vec::new();
        for mut e in records(f.array(1, "entries")?, "transfer manifest entry")? {
            let artifact = ArtifactId(e.fixed::<32>(1, "artifact id")?);
            let kind_name = e.text(2, "kind")?;
            let kind = ArtifactKind::from_name(&kind_name)
                .ok_or_else(|| e.error(format!("unknown artifact kind {kind_name:?}")))?;
            let file = e.text(3, "file name")?;
            if !valid_file_name(&file) {
                return Err(e.error(format!(
                    "file name {file:?} is not allowed (1-100 characters of A-Z a-z 0-9 . _ -, not starting with '.')"
                )));
            }
            let size = e.uint(4, "size")?;
            let digest = e.fixed::<32>(5, "file digest")?;
            e.finish()?;
            entries.push(ManifestEntry {
                artifact,
                kind,
                file,
                size,
                digest,
            });
        }
        let m = TransferManifest {
            entries,
            origin_key: PublicKey(f.fixed::<32>(2, "origin key")?),
            origin_name: f.text(3, "origin name")?,
            origin_role: role_field(&mut f, 4, "origin role")?,
            destination_role: role_field(&mut f, 5, "destination role")?,
            purpose: f.text(6, "purpose")?,
            sequence: f.uint(7, "sequence")?,
            created: f.uint(8, "created")?,
            expires: f.uint(9, "expires")?,
        };
        f.finish()?;
        m.validate()
            .map_err(|problem| FormatError::new("transfer manifest", problem))?;
        Ok(m)
    }
}

impl TransferManifest {
    /// The rules every manifest follows, whoever made it.
    pub fn validate(&self) -> Result<(), String> {
        if self.entries.is_empty() {
            return Err("it lists no artifacts".into());
        }
        if self.entries.len() > MAX_ENTRIES {
            return Err(format!(
                "it lists {} artifacts, more than {MAX_ENTRIES}",
                self.entries.len()
            ));
        }
        let mut names = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for e in &self.entries {
            if !valid_file_name(&e.file) {
                return Err(format!("file name {:?} is not allowed", e.file));
            }
            if !names.insert(e.file.to_ascii_lowercase()) {
                return Err(format!("file name {:?} is listed twice", e.file));
            }
            if !ids.insert(e.artifact) {
                return Err(format!("artifact {} is listed twice", e.artifact.short()));
            }
            if e.kind == ArtifactKind::TransferManifest {
                return Err("a transfer cannot carry another transfer manifest".into());
            }
        }
        if self.purpose.trim().is_empty() {
            return Err("the purpose is empty (every transfer says why it is made)".into());
        }
        if self.purpose.len() > MAX_PURPOSE_LEN {
            return Err(format!("the purpose is over {MAX_PURPOSE_LEN} bytes"));
        }
        if self.origin_name.is_empty() || self.origin_name.len() > 128 {
            return Err("the origin name must be 1-128 bytes".into());
        }
        if self.origin_role == self.destination_role {
            return Err(format!(
                "origin and destination are both {}s: a transfer crosses the gap",
                self.origin_role
            ));
        }
        if self.sequence == 0 {
            return Err("sequence numbers start at 1".into());
        }
        if self.expires <= self.created {
            return Err("it expires before it was created".into());
        }
        Ok(())
    }

    /// The artifact ids, in manifest order.
    pub fn artifact_ids(&self) -> Vec<ArtifactId> {
        self.entries.iter().map(|e| e.artifact).collect()
    }
}

/// The entry describing `bytes` (a binary envelope) under file name `file`.
pub fn entry_for(file: &str, bytes: &[u8]) -> Result<(ManifestEntry, Envelope), CoreError> {
    if !valid_file_name(file) {
        return Err(CoreError::Invalid(format!(
            "file name {file:?} cannot travel in a transfer (use 1-100 characters of A-Z a-z 0-9 . _ -, not starting with '.'); rename it"
        )));
    }
    let env = Envelope::from_bytes(bytes)?;
    let kind = env.kind().ok_or_else(|| {
        CoreError::Invalid(format!(
            "{file}: unknown payload type {:?}; only Airlock artifacts travel",
            env.payload_type
        ))
    })?;
    Ok((
        ManifestEntry {
            artifact: env.id(),
            kind,
            file: file.to_owned(),
            size: bytes.len() as u64,
            digest: Sha256::digest(bytes).into(),
        },
        env,
    ))
}

/// Which kinds a device sends and accepts, and where it may write transfers. Stored as
/// `transfer.json` in the device's home directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferPolicy {
    /// Directories under which `transfer out` may write (canonical absolute paths).
    #[serde(default)]
    pub export_dirs: Vec<String>,
    /// Artifact kind names this device may send.
    pub send: Vec<String>,
    /// Artifact kind names this device may accept.
    pub accept: Vec<String>,
}

impl TransferPolicy {
    /// The most a device of `role` may ever send: a signer sends only its decisions and the vault
    /// drafts it signed; a coordinator sends vault definitions, proposal bundles and release
    /// bundles.
    pub fn send_ceiling(role: DeviceRole) -> &'static [ArtifactKind] {
        match role {
            DeviceRole::Signer => &[
                ArtifactKind::Approval,
                ArtifactKind::VaultDefinition,
                ArtifactKind::DecisionBatch,
            ],
            DeviceRole::Coordinator => &[
                ArtifactKind::VaultDefinition,
                ArtifactKind::ProposalBundle,
                ArtifactKind::ReleaseBundle,
                ArtifactKind::ProposalBatch,
            ],
        }
    }

    /// The most a device of `role` may ever accept: what the other side may send, minus what
    /// this side has no use for.
    pub fn accept_ceiling(role: DeviceRole) -> &'static [ArtifactKind] {
        match role {
            DeviceRole::Signer => &[
                ArtifactKind::VaultDefinition,
                ArtifactKind::ProposalBundle,
                ArtifactKind::ReleaseBundle,
                ArtifactKind::ProposalBatch,
            ],
            DeviceRole::Coordinator => &[
                ArtifactKind::Approval,
                ArtifactKind::VaultDefinition,
                ArtifactKind::DecisionBatch,
            ],
        }
    }

    /// The defaults for a fresh device: no export directory, the ceilings as allowlists.
    pub fn default_for(role: DeviceRole) -> TransferPolicy {
        let names = |kinds: &[ArtifactKind]| -> Vec<String> {
            kinds.iter().map(|k| k.name().to_owned()).collect()
        };
        TransferPolicy {
            export_dirs: Vec::new(),
            send: names(Self::send_ceiling(role)),
            accept: names(Self::accept_ceiling(role)),
        }
    }

    /// Checks that every kind named is known and within the role's ceiling.
    pub fn validate(&self, role: DeviceRole) -> Result<(), CoreError> {
        for (list, ceiling, what) in [
            (&self.send, Self::send_ceiling(role), "send"),
            (&self.accept, Self::accept_ceiling(role), "accept"),
        ] {
            for name in list {
                let kind = ArtifactKind::from_name(name).ok_or_else(|| {
                    CoreError::Invalid(format!(
                        "transfer policy: {what} lists unknown artifact kind {name:?}"
                    ))
                })?;
                if !ceiling.contains(&kind) {
                    return Err(CoreError::Invalid(format!(
                        "transfer policy: a {role} may never {what} {name} artifacts (allowed at most: {})",
                        ceiling
                            .iter()
                            .map(|k| k.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    /// Refuses a kind not on the list for `direction`.
    pub fn allow(
        &self,
        role: DeviceRole,
        direction: Direction,
        kind: ArtifactKind,
    ) -> Result<(), CoreError> {
        let (list, ceiling, verb) = match direction {
            Direction::Out => (&self.send, Self::send_ceiling(role), "send"),
            Direction::In => (&self.accept, Self::accept_ceiling(role), "accept"),
        };
        if ceiling.contains(&kind) && list.iter().any(|n| n == kind.name()) {
            Ok(())
        } else {
            Err(CoreError::Invalid(format!(
                "this {role} does not {verb} {} artifacts (its transfer policy allows: {})",
                kind.name(),
                if list.is_empty() {
                    "nothing".into()
                } else {
                    list.join(", ")
                }
            )))
        }
    }
}

/// What the receiver knows when it checks a manifest.
pub struct ManifestExpectations<'a> {
    /// This device's role: the manifest must be addressed to it, from the other role.
    pub receiver: DeviceRole,
    /// Keys this device trusts as senders, with names for messages.
    pub trusted: &'a [(PublicKey, String)],
    /// The last sequence number accepted from this manifest's origin key, if any.
    pub last_sequence: &'a dyn Fn(&PublicKey) -> Option<u64>,
    pub now: UnixTime,
}

/// Checks a manifest envelope: kind, signature by a trusted key of the other role, addressed to
/// this role, within its validity window, sequence number beyond the last one accepted.
pub fn check_manifest(
    env: &Envelope,
    expect: &ManifestExpectations,
) -> Result<TransferManifest, CoreError> {
    let m: TransferManifest = env.open()?;
    if env.signatures.is_empty() {
        return Err(CoreError::BadSignature(
            "the transfer manifest is unsigned".into(),
        ));
    }
    if m.origin_role != expect.receiver.other() {
        return Err(CoreError::Invalid(format!(
            "the transfer comes from a {}; a {} accepts transfers from a {} only",
            m.origin_role,
            expect.receiver,
            expect.receiver.other()
        )));
    }
    if m.destination_role != expect.receiver {
        return Err(CoreError::Invalid(format!(
            "the transfer is addressed to a {}, not to this {}",
            m.destination_role, expect.receiver
        )));
    }
    let Some((_, name)) = expect.trusted.iter().find(|(k, _)| *k == m.origin_key) else {
        return Err(CoreError::BadSignature(format!(
            "the transfer manifest names origin {:?} with key {}, which this {} does not know",
            m.origin_name, m.origin_key, expect.receiver
        )));
    };
    env.require_signature(&m.origin_key, name)?;
    env.require_only_signers(&[m.origin_key], "the transfer manifest")?;
    if expect.now >= m.expires {
        return Err(CoreError::Invalid(format!(
            "the transfer expired at {} (made {})",
            crate::format_time(m.expires),
            crate::format_time(m.created)
        )));
    }
    if m.created > expect.now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(CoreError::Invalid(format!(
            "the transfer is dated {}, in this device's future: check the clocks",
            crate::format_time(m.created)
        )));
    }
    if let Some(last) = (expect.last_sequence)(&m.origin_key)
        && m.sequence <= last
    {
        return Err(CoreError::Invalid(format!(
            "transfer sequence number {} from {name} is not after the last one accepted ({last}): \
             a replayed or out-of-order transfer",
            m.sequence
        )));
    }
    Ok(m)
}

/// Checks the files of a transfer against its manifest: exactly the listed files, each with the
/// listed size, digest, artifact id and kind, each kind allowed in by `policy`. Returns the
/// envelopes in manifest order.
pub fn check_contents(
    m: &TransferManifest,
    files: &[(String, Vec<u8>)],
    policy: &TransferPolicy,
    receiver: DeviceRole,
) -> Result<Vec<(ManifestEntry, Envelope)>, CoreError> {
    for (name, _) in files {
        if !m.entries.iter().any(|e| e.file == *name) {
            return Err(CoreError::Invalid(format!(
                "{name:?} is in the transfer directory but not in the manifest; refusing the whole transfer"
            )));
        }
    }
    let mut out = Vec::with_capacity(m.entries.len());
    for e in &m.entries {
        policy.allow(receiver, Direction::In, e.kind)?;
        let (_, bytes) = files.iter().find(|(n, _)| *n == e.file).ok_or_else(|| {
            CoreError::Invalid(format!(
                "{:?} is listed in the manifest but missing from the transfer",
                e.file
            ))
        })?;
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        if bytes.len() as u64 != e.size || digest != e.digest {
            return Err(CoreError::Invalid(format!(
                "{:?} does not match the manifest (size {} vs {}, SHA-256 {} vs {}): altered in transit",
                e.file,
                bytes.len(),
                e.size,
                hex::encode(&digest[..8]),
                hex::encode(&e.digest[..8])
            )));
        }
        let env = Envelope::from_bytes(bytes)
            .map_err(|err| CoreError::Invalid(format!("{:?}: {err}", e.file)))?;
        if env.id() != e.artifact {
            return Err(CoreError::Invalid(format!(
                "{:?} is artifact {}, but the manifest lists {}",
                e.file,
                env.id().short(),
                e.artifact.short()
            )));
        }
        if env.kind() != Some(e.kind) {
            return Err(CoreError::Invalid(format!(
                "{:?} is not a {} artifact as the manifest says",
                e.file,
                e.kind.name()
            )));
        }
        out.push((e.clone(), env));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CheckpointArtifact;
    use crate::cbor;
    use ed25519_dalek::SigningKey;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn pk(k: &SigningKey) -> PublicKey {
        PublicKey(k.verifying_key().to_bytes())
    }

    fn vault_file() -> (String, Vec<u8>) {
        // Any vault-kind envelope does for the contents checks.
        let env = Envelope {
            payload_type: ArtifactKind::VaultDefinition.payload_type().into(),
            payload: cbor::encode(&Value::Unsigned(1)),
            signatures: vec![],
        };
        ("treasury-v1.airlock".into(), env.to_bytes())
    }

    fn manifest(files: &[(String, Vec<u8>)], seq: u64) -> TransferManifest {
        TransferManifest {
            entries: files
                .iter()
                .map(|(n, b)| entry_for(n, b).unwrap().0)
                .collect(),
            origin_key: pk(&key(1)),
            origin_name: "example.org/log".into(),
            origin_role: DeviceRole::Coordinator,
            destination_role: DeviceRole::Signer,
            purpose: "vault v1 for registration".into(),
            sequence: seq,
            created: 1000,
            expires: 2000,
        }
    }

    fn signed(m: &TransferManifest, k: &SigningKey) -> Envelope {
        let mut env = m.envelope();
        env.sign(k);
        env
    }

    #[test]
    fn manifest_round_trips() {
        let files = vec![vault_file()];
        let m = manifest(&files, 7);
        assert_eq!(TransferManifest::from_bytes(&m.to_bytes()).unwrap(), m);
        let env = signed(&m, &key(1));
        assert_eq!(
            Envelope::from_bytes(&env.to_bytes())
                .unwrap()
                .open::<TransferManifest>()
                .unwrap(),
            m
        );
    }

    #[test]
    fn unknown_version_fields_and_kinds_are_refused() {
        let m = manifest(&[vault_file()], 1);
        let Value::Map(entries) = m.to_value() else {
            panic!()
        };
        let mut v2 = entries.clone();
        v2.retain(|(k, _)| *k != Value::Unsigned(0));
        v2.insert(0, (Value::Unsigned(0), Value::Unsigned(2)));
        let err = TransferManifest::from_bytes(&cbor::encode(&Value::Map(v2))).unwrap_err();
        assert!(
            err.to_string().contains("unsupported format version 2"),
            "{err}"
        );
        let mut extra = entries.clone();
        extra.push((Value::Unsigned(42), Value::Unsigned(0)));
        let err = TransferManifest::from_bytes(&cbor::encode(&Value::Map(extra))).unwrap_err();
        assert!(err.to_string().contains("unknown field(s) 42"), "{err}");
        let encoded = m.to_bytes();
        let needle = b"vault";
        let pos = encoded
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        let mut bad = encoded.clone();
        bad[pos..pos + 5].copy_from_slice(b"vbult");
        let err = TransferManifest::from_bytes(&bad).unwrap_err();
        assert!(err.to_string().contains("unknown artifact kind"), "{err}");
    }

    type Edit = Box<dyn Fn(&mut TransferManifest)>;

    #[test]
    fn invalid_manifests_are_refused_at_decode() {
        let base = manifest(&[vault_file()], 1);
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|m| m.purpose = "  ".into()), "purpose is empty"),
            (Box::new(|m| m.entries.clear()), "no artifacts"),
            (Box::new(|m| m.sequence = 0), "start at 1"),
            (Box::new(|m| m.expires = m.created), "expires before"),
            (
                Box::new(|m| m.destination_role = DeviceRole::Coordinator),
                "both coordinators",
            ),
            (
                Box::new(|m| m.entries[0].file = "../x".into()),
                "not allowed",
            ),
            (
                Box::new(|m| {
                    let e = m.entries[0].clone();
                    m.entries.push(e)
                }),
                "listed twice",
            ),
        ];
        for (edit, expected) in cases {
            let mut m = base.clone();
            edit(&mut m);
            let err = TransferManifest::from_bytes(&m.to_bytes()).unwrap_err();
            assert!(err.to_string().contains(expected), "{err} / {expected}");
        }
    }

    #[test]
    fn file_names_are_restricted() {
        for good in ["a.airlock", "rent.alice", "V1_x-2"] {
            assert!(valid_file_name(good), "{good}");
        }
        for bad in [
            "",
            ".hidden",
            "..",
            "a/b",
            "a\\b",
            "manifest.airlock",
            "é",
            "a b",
        ] {
            assert!(!valid_file_name(bad), "{bad}");
        }
        assert_eq!(
            bundle_dir_name("example.org/log", 3),
            "example_org_log-000003"
        );
    }

    fn expectations<'a>(
        trusted: &'a [(PublicKey, String)],
        last: &'a dyn Fn(&PublicKey) -> Option<u64>,
        now: u64,
    ) -> ManifestExpectations<'a> {
        ManifestExpectations {
            receiver: DeviceRole::Signer,
            trusted,
            last_sequence: last,
            now,
        }
    }

    #[test]
    fn manifest_checks_signature_expiry_and_sequence() {
        let m = manifest(&[vault_file()], 5);
        let trusted = vec![(pk(&key(1)), "coordinator".to_string())];
        let none = |_: &PublicKey| None;
        let env = signed(&m, &key(1));
        assert_eq!(
            check_manifest(&env, &expectations(&trusted, &none, 1500)).unwrap(),
            m
        );
        // Unsigned.
        let err = check_manifest(&m.envelope(), &expectations(&trusted, &none, 1500)).unwrap_err();
        assert!(err.to_string().contains("unsigned"), "{err}");
        // Signed by another key, which claims to be the origin.
        let err =
            check_manifest(&signed(&m, &key(2)), &expectations(&trusted, &none, 1500)).unwrap_err();
        assert!(err.to_string().contains("not signed by"), "{err}");
        // An unknown origin.
        let mut other = m.clone();
        other.origin_key = pk(&key(2));
        let err = check_manifest(
            &signed(&other, &key(2)),
            &expectations(&trusted, &none, 1500),
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not know"), "{err}");
        // Expired, and from the future.
        let err = check_manifest(&env, &expectations(&trusted, &none, 2000)).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        let err = check_manifest(&env, &expectations(&trusted, &none, 100)).unwrap_err();
        assert!(err.to_string().contains("future"), "{err}");
        // Replayed and going backwards; forwards is fine.
        for (last, ok) in [(5, false), (9, false), (4, true)] {
            let f = move |_: &PublicKey| Some(last);
            let r = check_manifest(&env, &expectations(&trusted, &f, 1500));
            assert_eq!(r.is_ok(), ok, "last {last}: {r:?}");
            if let Err(e) = r {
                assert!(e.to_string().contains("not after the last one"), "{e}");
            }
        }
        // Addressed to the wrong role.
        let mut coordinator_side = expectations(&trusted, &none, 1500);
        coordinator_side.receiver = DeviceRole::Coordinator;
        let err = check_manifest(&env, &coordinator_side).unwrap_err();
        assert!(
            err.to_string().contains("accepts transfers from a signer"),
            "{err}"
        );
        // Not a manifest at all.
        let mut cp = CheckpointArtifact { note: "x".into() }.envelope();
        cp.sign(&key(1));
        assert!(check_manifest(&cp, &expectations(&trusted, &none, 1500)).is_err());
    }

    #[test]
    fn contents_must_match_exactly() {
        let files = vec![vault_file()];
        let m = manifest(&files, 1);
        let policy = TransferPolicy::default_for(DeviceRole::Signer);
        let ok = check_contents(&m, &files, &policy, DeviceRole::Signer).unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].1.id(), m.entries[0].artifact);
        // An extra file.
        let mut extra = files.clone();
        extra.push(("notes.txt".into(), b"hi".to_vec()));
        let err = check_contents(&m, &extra, &policy, DeviceRole::Signer).unwrap_err();
        assert!(err.to_string().contains("not in the manifest"), "{err}");
        // A missing file.
        let err = check_contents(&m, &[], &policy, DeviceRole::Signer).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        // Altered bytes.
        let mut altered = files.clone();
        let last = altered[0].1.len() - 1;
        altered[0].1[last] ^= 1;
        let err = check_contents(&m, &altered, &policy, DeviceRole::Signer).unwrap_err();
        assert!(err.to_string().contains("altered in transit"), "{err}");
        // A kind the direction does not allow: the coordinator does not accept bundles… and a
        // signer does not accept approvals.
        let mut policy_no_vault = policy.clone();
        policy_no_vault.accept.retain(|k| k != "vault");
        let err = check_contents(&m, &files, &policy_no_vault, DeviceRole::Signer).unwrap_err();
        assert!(err.to_string().contains("does not accept vault"), "{err}");
    }

    #[test]
    fn policies_stay_under_the_role_ceiling() {
        let signer = TransferPolicy::default_for(DeviceRole::Signer);
        signer.validate(DeviceRole::Signer).unwrap();
        assert_eq!(signer.send, vec!["approval", "vault", "decision-batch"]);
        assert_eq!(
            signer.accept,
            vec![
                "vault",
                "proposal-bundle",
                "release-bundle",
                "proposal-batch"
            ]
        );
        let coordinator = TransferPolicy::default_for(DeviceRole::Coordinator);
        coordinator.validate(DeviceRole::Coordinator).unwrap();
        assert!(
            signer
                .allow(DeviceRole::Signer, Direction::In, ArtifactKind::Approval)
                .is_err()
        );
        assert!(
            coordinator
                .allow(
                    DeviceRole::Coordinator,
                    Direction::In,
                    ArtifactKind::ProposalBundle
                )
                .is_err()
        );
        let mut widened = signer.clone();
        widened.accept.push("approval".into());
        let err = widened.validate(DeviceRole::Signer).unwrap_err();
        assert!(
            err.to_string().contains("may never accept approval"),
            "{err}"
        );
        widened.accept = vec!["shell-script".into()];
        assert!(widened.validate(DeviceRole::Signer).is_err());
        let json = serde_json::to_string(&signer).unwrap();
        assert_eq!(
            serde_json::from_str::<TransferPolicy>(&json).unwrap(),
            signer
        );
        assert!(
            serde_json::from_str::<TransferPolicy>(r#"{"send":[],"accept":[],"x":1}"#).is_err()
        );
    }
}
