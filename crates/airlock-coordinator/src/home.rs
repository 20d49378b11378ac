//! The coordinator's state directory: identity key, configuration and database.
//!
//! Layout: `coordinator.json` (log origin, creation time), `identity.key` (the coordinator's
//! Ed25519 identity, mode 0600: it signs proposals, records and checkpoints, never funds) and
//! `airlock.db` (SQLite). This module must never overwrite an existing identity.

use std::path::{Path, PathBuf};

use airlock_custody::IdentityKey;
use serde::{Deserialize, Serialize};

use crate::store::SqliteStore;
use crate::{Coordinator, CoordinatorError, Result};

const CONFIG_FILE: &str = "coordinator.json";
const IDENTITY_FILE: &str = "identity.key";
const DATABASE_FILE: &str = "airlock.db";

/// What `coordinator.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CoordinatorConfig {
    /// The log's origin line and checkpoint key name.
    pub origin: String,
    pub created: u64,
}

/// An initialized coordinator directory.
pub struct CoordinatorHome {
    pub dir: PathBuf,
    pub config: CoordinatorConfig,
}

/// Moves `dir/file` (left by an interrupted init) to `dir/file.interrupted-<now>`.
pub fn set_aside_interrupted(dir: &Path, file: &str, now: u64) -> std::io::Result<()> {
    let path = dir.join(file);
    if path.exists() {
        std::fs::rename(&path, dir.join(format!("{file}.interrupted-{now}")))?;
    }
    Ok(())
}

fn valid_origin(origin: &str) -> bool {
    !origin.is_empty()
        && origin.len() <= 128
        && origin.chars().all(|c| c.is_ascii_graphic() && c != '+')
}

impl CoordinatorHome {
    /// Creates a coordinator home with a new identity. Refuses a directory that already holds one.
    pub fn init(dir: &Path, origin: Option<&str>, now: u64) -> Result<CoordinatorHome> {
        if dir.join(CONFIG_FILE).exists() {
            return Err(CoordinatorError::Setup(format!(
                "{} already holds a coordinator; refusing to overwrite it",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            CoordinatorError::Setup(format!("cannot create {}: {e}", dir.display()))
        })?;
        // `coordinator.json` is written last: it is init's commit point. An identity without it
        // was left by an interrupted init and never used (nothing opens a home without its
        // configuration); it is kept aside, never deleted.
        set_aside_interrupted(dir, IDENTITY_FILE, now)
            .map_err(|e| CoordinatorError::Setup(e.to_string()))?;
        let identity = IdentityKey::generate();
        let origin = match origin {
            Some(o) => o.to_owned(),
            None => format!(
                "airlock-coordinator-{}",
                hex::encode(&identity.verifying_key().to_bytes()[..4])
            ),
        };
        if !valid_origin(&origin) {
            return Err(CoordinatorError::Setup(format!(
                "log origin {origin:?} must be 1-128 printable characters without spaces or '+'"
            )));
        }
        airlock_custody::save_plain_identity(&dir.join(IDENTITY_FILE), &identity)?;
        let config = CoordinatorConfig {
            origin,
            created: now,
        };
        let json = serde_json::to_vec_pretty(&config).expect("config serializes");
        airlock_transport::write_atomic(&dir.join(CONFIG_FILE), &json)
            .map_err(|e| CoordinatorError::Setup(e.to_string()))?;
        SqliteStore::open(&dir.join(DATABASE_FILE))?;
        Ok(CoordinatorHome {
            dir: dir.to_owned(),
            config,
        })
    }

    /// Opens an existing coordinator home.
    pub fn open(dir: &Path) -> Result<CoordinatorHome> {
        let path = dir.join(CONFIG_FILE);
        let bytes = airlock_transport::read_bounded(&path, 64 * 1024).map_err(|_| {
            CoordinatorError::Setup(format!(
                "no coordinator in {} (run `airlock init --home {}` first)",
                dir.display(),
                dir.display()
            ))
        })?;
        let config: CoordinatorConfig = serde_json::from_slice(&bytes)
            .map_err(|e| CoordinatorError::Setup(format!("{} is damaged: {e}", path.display())))?;
        Ok(CoordinatorHome {
            dir: dir.to_owned(),
            config,
        })
    }

    pub fn identity(&self) -> Result<IdentityKey> {
        Ok(airlock_custody::load_plain_identity(
            &self.dir.join(IDENTITY_FILE),
        )?)
    }

    pub fn database_path(&self) -> PathBuf {
        self.dir.join(DATABASE_FILE)
    }

    /// The coordinator service over this home's SQLite database.
    pub fn coordinator(&self) -> Result<Coordinator> {
        let store = SqliteStore::open(&self.database_path())?;
        let mut c = Coordinator::new(self.identity()?, &self.config.origin, Box::new(store))?;
        c.set_chains(crate::chains::ChainSettings::load(&self.dir)?);
        Ok(c)
    }
}
