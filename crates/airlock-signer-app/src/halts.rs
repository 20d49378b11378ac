//! Halts handed to this signer directly (`airlock-signer halt import`), not through the
//! coordinator: a witness's HALT carried across the air gap by its operator, so a coordinator
//! that leaves a halt out of its bundles cannot make this signer approve under it.
//!
//! A held halt is kept only if it is signed by a witness of a vault registered here (the newest
//! version's set, checked by `airlock_core::halt::check_halt`, as the coordinator and the log
//! replay check it). Each review adds the held halts that name the bundle's vault to the ones
//! the bundle carries. A held halt stops being counted for a vault once this signer has
//! approved the RESUME of it under that vault (its journal says so): the coordinator's bundles
//! keep carrying the halt until that RESUME is finalized by the vault's threshold.
//!
//! Files live in `halts/<halt id>.halt`, written whole (temp, fsync, rename). This module must
//! never keep a halt it did not check, and never drop one because it cannot read it: a damaged
//! file stops every review until it is dealt with.

use std::path::PathBuf;

use airlock_core::halt::{Halt, check_halt, resume_spend};
use airlock_core::{ArtifactId, ArtifactKind, Envelope, VaultDefinition};
use serde::Serialize;

use crate::{Result, SignerError, SignerHome, io};

/// The largest halt file read (a halt's detail is at most 4,096 bytes).
const MAX_HALT_FILE: u64 = 64 * 1024;

/// What importing a halt did.
#[derive(Clone, Debug, Serialize)]
pub struct HaltHeld {
    pub id: String,
    pub witness: String,
    pub reason: String,
    pub detail: String,
    /// The registered vaults it halts (signed by a witness of each one's set).
    pub vaults: Vec<String>,
    /// False when this signer already held it.
    pub new: bool,
}

/// A held halt and where it stands here.
#[derive(Clone, Debug, Serialize)]
pub struct HeldHaltStatus {
    pub id: String,
    pub witness: String,
    pub reason: String,
    pub detail: String,
    pub issued: u64,
    /// The registered vaults it stops here (this signer has not approved its RESUME there).
    pub in_force_for: Vec<String>,
}

impl SignerHome {
    fn halts_dir(&self) -> PathBuf {
        self.dir.join("halts")
    }

    /// Checks a halt against the registered vaults and keeps it; refused (nothing written) when
    /// no registered vault's witness set signed it.
    pub fn import_halt(&self, env: &Envelope) -> Result<HaltHeld> {
        if env.kind() != Some(ArtifactKind::Halt) {
            return Err(SignerError::Refused(format!(
                "not a halt (it is a {})",
                env.kind().map(|k| k.name()).unwrap_or("unknown artifact")
            )));
        }
        let (halt, vaults) = self.halted_vaults(env)?;
        if vaults.is_empty() {
            return Err(SignerError::Refused(format!(
                "halt {} by {} is signed by no witness of a vault registered here, or names none: ignored",
                env.id().short(),
                halt.witness
            )));
        }
        let path = self.halts_dir().join(format!("{}.halt", env.id().to_hex()));
        let new = !path.exists();
        if new {
            std::fs::create_dir_all(self.halts_dir()).map_err(io)?;
            airlock_transport::write_atomic(&path, &env.to_bytes()).map_err(io)?;
        }
        Ok(HaltHeld {
            id: env.id().to_hex(),
            witness: halt.witness,
            reason: halt.reason,
            detail: halt.detail,
            vaults,
            new,
        })
    }

    /// The halt, and the registered vaults (newest versions) whose witness set signed it and
    /// which it names.
    fn halted_vaults(&self, env: &Envelope) -> Result<(Halt, Vec<String>)> {
        env.require_all_valid()?;
        let halt: Halt = env.open()?;
        let mut vaults = Vec::new();
        for id in self.vault_ids()? {
            let versions = self.vault_versions(&id)?;
            let Some((vault, _)) = versions.last() else {
                continue;
            };
            if check_halt(env, &vault.coordinator.origin, std::iter::once(vault)).is_ok() {
                vaults.push(id);
            }
        }
        Ok((halt, vaults))
    }

    /// Every held halt, as stored; a file that is not a valid halt is an error (tampering).
    fn held_halts(&self) -> Result<Vec<Envelope>> {
        let dir = self.halts_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(format!("{}: {e}", dir.display()))),
        };
        let mut held = Vec::new();
        for entry in entries {
            let path = entry.map_err(io)?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("halt") {
                continue;
            }
            let bytes = airlock_transport::read_bounded(&path, MAX_HALT_FILE).map_err(io)?;
            let env = Envelope::from_bytes(&bytes)
                .ok()
                .filter(|e| {
                    e.kind() == Some(ArtifactKind::Halt)
                        && path.file_stem().and_then(|s| s.to_str()) == Some(&e.id().to_hex())
                })
                .ok_or_else(|| {
                    SignerError::Tampered(format!(
                        "{} is not the halt its name says: restore it or remove it knowingly",
                        path.display()
                    ))
                })?;
            held.push(env);
        }
        held.sort_by_key(|e| e.id().0);
        Ok(held)
    }

    /// Whether this signer approved the RESUME of `halt` under `vault` (its journal says so).
    fn resumed_here(&self, vault: &str, halt: &ArtifactId) -> Result<bool> {
        let spend = resume_spend(halt);
        Ok(self
            .journal()?
            .entries()
            .iter()
            .any(|e| e.decision == "approve" && e.vault == vault && e.spends.contains(&spend)))
    }

    /// The held halts (encoded) that name `vault` and that this signer has not resumed there,
    /// for a review to weigh beside the bundle's own.
    pub(crate) fn held_halts_for(&self, vault: &VaultDefinition) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for env in self.held_halts()? {
            let Ok(halt) = env.open::<Halt>() else {
                continue;
            };
            if halt.applies_to(vault) && !self.resumed_here(&vault.vault_id, &env.id())? {
                out.push(env.to_bytes());
            }
        }
        Ok(out)
    }

    /// Every held halt with the registered vaults it stops here.
    pub fn held_halt_status(&self) -> Result<Vec<HeldHaltStatus>> {
        let mut out = Vec::new();
        for env in self.held_halts()? {
            let (halt, vaults) = self.halted_vaults(&env)?;
            let mut in_force_for = Vec::new();
            for vault in vaults {
                if !self.resumed_here(&vault, &env.id())? {
                    in_force_for.push(vault);
                }
            }
            out.push(HeldHaltStatus {
                id: env.id().to_hex(),
                witness: halt.witness,
                reason: halt.reason,
                detail: halt.detail,
                issued: halt.issued,
                in_force_for,
            });
        }
        Ok(out)
    }
}
