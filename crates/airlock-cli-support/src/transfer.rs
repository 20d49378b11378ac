//! What both programs share for `transfer`: the device's transfer policy file
//! (`<home>/transfer.json`), checking an export target against it, writing a transfer directory
//! atomically, and reading one back for verification.
//!
//! This module must never write outside an allowed export directory, and never hand back a
//! transfer directory holding anything but regular files.

use std::path::{Path, PathBuf};

use airlock_core::cbor::Limits;
use airlock_core::transfer::{MANIFEST_FILE, MAX_ENTRIES, TransferFiles};
use airlock_core::{DeviceRole, Envelope, TransferPolicy};
pub use airlock_transport::dir::StagedDir;
use airlock_transport::dir::{read_flat_dir, resolve_within};

use crate::{CliError, CliResult};

/// The policy file's name in a home directory.
pub const POLICY_FILE: &str = "transfer.json";

/// Reads the device's transfer policy (the defaults for its role when there is no file yet).
pub fn load_policy(home: &Path, role: DeviceRole) -> CliResult<TransferPolicy> {
    let path = home.join(POLICY_FILE);
    if !path.exists() {
        return Ok(TransferPolicy::default_for(role));
    }
    let bytes = airlock_transport::read_bounded(&path, 1024 * 1024)?;
    let policy: TransferPolicy = serde_json::from_slice(&bytes)
        .map_err(|e| CliError::new(format!("{} is damaged: {e}", path.display())))?;
    policy
        .validate(role)
        .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    Ok(policy)
}

/// Writes the policy atomically after validating it.
pub fn save_policy(home: &Path, role: DeviceRole, policy: &TransferPolicy) -> CliResult {
    policy.validate(role)?;
    let json = serde_json::to_vec_pretty(policy).expect("policy serializes");
    airlock_transport::write_atomic(&home.join(POLICY_FILE), &json)?;
    Ok(())
}

/// Adds an export directory (canonicalized: it must exist). Returns the canonical path and
/// whether it was new.
pub fn allow_dir(home: &Path, role: DeviceRole, dir: &Path) -> CliResult<(PathBuf, bool)> {
    let canonical = std::fs::canonicalize(dir)
        .map_err(|e| CliError::new(format!("cannot allow {}: {e}", dir.display())))?;
    if !canonical.is_dir() {
        return Err(CliError::new(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let mut policy = load_policy(home, role)?;
    let text = canonical.display().to_string();
    let new = !policy.export_dirs.contains(&text);
    if new {
        policy.export_dirs.push(text);
        save_policy(home, role, &policy)?;
    }
    Ok((canonical, new))
}

/// Resolves `--to DIR` against the allowlist: canonical (no `..`, symlinks resolved) and under
/// an allowed export directory, else a refusal that says how to allow one.
pub fn export_target(
    home: &Path,
    policy: &TransferPolicy,
    to: &Path,
    program: &str,
) -> CliResult<PathBuf> {
    let allowed: Vec<PathBuf> = policy.export_dirs.iter().map(PathBuf::from).collect();
    match resolve_within(to, &allowed)
        .map_err(|e| CliError::new(format!("export directory: {e}")))?
    {
        Some(p) => Ok(p),
        None => Err(CliError::new(format!(
            "{} is not inside an allowed export directory ({}); allow one with `{program} --home {} transfer allow-dir DIR`",
            to.display(),
            if allowed.is_empty() {
                "none allowed yet".to_owned()
            } else {
                policy.export_dirs.join(", ")
            },
            home.display()
        ))),
    }
}

/// Writes a transfer directory `parent/dir_name`: the artifact files, then the manifest, each
/// atomically, in a hidden temporary directory renamed into place by `commit`.
pub fn stage_transfer(
    parent: &Path,
    dir_name: &str,
    files: &[(String, Vec<u8>)],
    manifest: &Envelope,
) -> CliResult<StagedDir> {
    let staged = StagedDir::new(parent, dir_name)?;
    for (name, bytes) in files {
        staged.write(name, bytes)?;
    }
    staged.write(MANIFEST_FILE, &manifest.to_bytes())?;
    Ok(staged)
}

/// Reads a transfer directory: the manifest envelope and every other file (name, bytes).
/// Refuses symlinks, subdirectories, oversized or too many files, and a missing manifest.
pub fn read_transfer(dir: &Path) -> CliResult<(Envelope, TransferFiles)> {
    let mut files = read_flat_dir(dir, MAX_ENTRIES + 1, Limits::ARTIFACT.max_len as u64)
        .map_err(|e| CliError::new(format!("transfer {}: {e}", dir.display())))?;
    let pos = files.iter().position(|(n, _)| n == MANIFEST_FILE).ok_or_else(|| {
        CliError::new(format!(
            "{} holds no {MANIFEST_FILE}: not a transfer (or an unsigned one); nothing imported",
            dir.display()
        ))
    })?;
    let (_, bytes) = files.remove(pos);
    let manifest = Envelope::from_bytes(&bytes)
        .map_err(|e| CliError::new(format!("{}/{MANIFEST_FILE}: {e}", dir.display())))?;
    Ok((manifest, files))
}

/// The file name an artifact keeps in a transfer: the source file's own name.
pub fn transfer_file_name(path: &Path) -> CliResult<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| CliError::new(format!("{} does not name a file", path.display())))
}

/// Prints what `transfer out` wrote, for a person or (`json`) a script. `recorded_in` names where
/// the crossing was recorded; `next` is the command the receiving side runs.
pub fn report_transfer_out(
    json: bool,
    dir: &std::path::Path,
    manifest: &airlock_core::TransferManifest,
    envelope: &airlock_core::Envelope,
    recorded_in: &str,
    next: &str,
) {
    if json {
        crate::print_json(&serde_json::json!({
            "direction": "out", "dir": dir, "manifest": envelope.id().to_hex(),
            "sequence": manifest.sequence, "expires": manifest.expires,
            "artifacts": manifest.entries.iter().map(|e| serde_json::json!({ "file": e.file, "kind": e.kind.name(), "id": e.artifact.to_hex() })).collect::<Vec<_>>(),
        }));
        return;
    }
    println!(
        "Transfer {} (sequence {}) written to {}",
        envelope.id().short(),
        manifest.sequence,
        dir.display()
    );
    for e in &manifest.entries {
        println!("  {:<16} {}  {}", e.kind.name(), e.artifact.short(), e.file);
    }
    println!(
        "valid until {}; recorded in {recorded_in}. On the other side: `{next} {}`",
        airlock_core::format_time(manifest.expires),
        dir.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_files_round_trip_and_refuse_widening() {
        let home = tempfile::tempdir().unwrap();
        let usb = tempfile::tempdir().unwrap();
        let p = load_policy(home.path(), DeviceRole::Signer).unwrap();
        assert!(p.export_dirs.is_empty());
        let err = export_target(home.path(), &p, usb.path(), "airlock-signer").unwrap_err();
        assert!(
            err.message.contains("transfer allow-dir"),
            "{}",
            err.message
        );
        let (canonical, new) = allow_dir(home.path(), DeviceRole::Signer, usb.path()).unwrap();
        assert!(new);
        assert!(
            !allow_dir(home.path(), DeviceRole::Signer, usb.path())
                .unwrap()
                .1
        );
        let p = load_policy(home.path(), DeviceRole::Signer).unwrap();
        assert_eq!(
            export_target(home.path(), &p, usb.path(), "x").unwrap(),
            canonical
        );
        std::fs::write(
            home.path().join(POLICY_FILE),
            r#"{"export_dirs":[],"send":["approval","proposal"],"accept":[]}"#,
        )
        .unwrap();
        let err = load_policy(home.path(), DeviceRole::Signer).unwrap_err();
        assert!(
            err.message.contains("may never send proposal"),
            "{}",
            err.message
        );
    }

    #[test]
    fn transfers_are_written_whole_and_read_back() {
        use airlock_core::{Artifact, CheckpointArtifact};
        let usb = tempfile::tempdir().unwrap();
        let manifest = CheckpointArtifact { note: "m".into() }.envelope();
        let files = vec![("a.airlock".to_owned(), b"abc".to_vec())];
        let staged = stage_transfer(usb.path(), "t-000001", &files, &manifest).unwrap();
        assert!(!usb.path().join("t-000001").exists());
        let dir = staged.commit().unwrap();
        let (m, back) = read_transfer(&dir).unwrap();
        assert_eq!(m, manifest);
        assert_eq!(back, files);
        std::fs::remove_file(dir.join(MANIFEST_FILE)).unwrap();
        assert!(
            read_transfer(&dir)
                .unwrap_err()
                .message
                .contains("no manifest.airlock")
        );
    }
}
