//! The coordinator's state directory: identity key, configuration and database.
//!
//! Layout: `coordinator.json` (log origin, creation time, and the PostgreSQL URL when the home's
//! state lives there), `identity.key` (the coordinator's Ed25519 identity, mode 0600: it signs
//! proposals, records and checkpoints, never funds) and `airlock.db` (SQLite, the default
//! store). This module must never overwrite an existing identity.

use std::path::{Path, PathBuf};

use airlock_custody::IdentityKey;
use serde::{Deserialize, Serialize};

use crate::pgstore::PgStore;
use crate::store::{SqliteStore, Storage};
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
    /// The PostgreSQL database holding the state (`postgres://…`), when not the home's own
    /// SQLite file (set by `airlock migrate --to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
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
            database: None,
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

    /// Where the state lives: the PostgreSQL URL (password hidden), or the SQLite file.
    pub fn database_label(&self) -> String {
        match &self.config.database {
            Some(url) => crate::pgstore::redacted(url),
            None => format!("sqlite:{}", self.database_path().display()),
        }
    }

    /// Opens the home's store: its PostgreSQL database when configured, else its SQLite file.
    pub fn open_store(&self, identity: &IdentityKey) -> Result<Box<dyn Storage>> {
        Ok(match &self.config.database {
            Some(url) => Box::new(PgStore::open(
                url,
                &self.config.origin,
                &hex::encode(identity.verifying_key().to_bytes()),
            )?),
            None => Box::new(SqliteStore::open(&self.database_path())?),
        })
    }

    /// Points the home at a PostgreSQL database (or back at its SQLite file with `None`);
    /// `coordinator.json` is replaced atomically, so the home is in one state or the other.
    pub fn set_database(&mut self, url: Option<&str>) -> Result<()> {
        let mut config = self.config.clone();
        config.database = url.map(str::to_string);
        let json = serde_json::to_vec_pretty(&config).expect("config serializes");
        // Private: the URL may carry a password.
        airlock_transport::write_atomic_private(&self.dir.join(CONFIG_FILE), &json)
            .map_err(|e| CoordinatorError::Setup(e.to_string()))?;
        self.config = config;
        Ok(())
    }

    /// Moves this home's state from its SQLite file into an empty PostgreSQL database: the log
    /// is verified first, copied verbatim in one transaction, verified again on PostgreSQL and
    /// compared (size, root, every checkpoint note, members); only then does `coordinator.json`
    /// switch to the database (the commit point). Run again after an interruption, it finds the
    /// copy already there and finishes. The SQLite file is left as it was.
    pub fn migrate_to_postgres(
        &mut self,
        url: &str,
        progress: &mut dyn FnMut(&str),
    ) -> Result<crate::replay::LogReport> {
        if let Some(current) = &self.config.database {
            return Err(CoordinatorError::Setup(format!(
                "this home already keeps its state in {}",
                crate::pgstore::redacted(current)
            )));
        }
        if !crate::pgstore::is_postgres_url(url) {
            return Err(CoordinatorError::Setup(format!(
                "{url:?} is not a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE)"
            )));
        }
        let source = self.coordinator()?;
        progress("verifying the SQLite log");
        let before = source.verify_log()?;
        let source_checkpoints = source.store().checkpoints()?;
        let source_members = source.store().members()?;
        drop(source);
        let identity = self.identity()?;
        let key = hex::encode(identity.verifying_key().to_bytes());
        let mut target = PgStore::open(url, &self.config.origin, &key)?;
        let target_checkpoints = target.checkpoints()?;
        if target_checkpoints.is_empty() && target.log_size()? == 0 {
            progress(&format!(
                "copying {} records and {} checkpoints into {}",
                before.size,
                source_checkpoints.len(),
                crate::pgstore::redacted(url)
            ));
            target.import_sqlite(&self.database_path())?;
        } else if target_checkpoints != source_checkpoints {
            return Err(CoordinatorError::Setup(format!(
                "the database at {} already holds another state of this log ({} checkpoints, this home has {}): migrate into a new database",
                crate::pgstore::redacted(url),
                target_checkpoints.len(),
                source_checkpoints.len()
            )));
        } else {
            progress("the database already holds this log (an earlier migration was interrupted)");
        }
        progress("verifying the log on PostgreSQL");
        let migrated = Coordinator::new(identity, &self.config.origin, Box::new(target))?;
        let after = migrated.verify_log()?;
        let same = after.size == before.size
            && after.root == before.root
            && migrated.store().checkpoints()? == source_checkpoints
            && migrated.store().members()? == source_members;
        if !same {
            return Err(CoordinatorError::LogInvalid(format!(
                "the copy differs from the SQLite log (size {} vs {}, root {} vs {}): the home still uses SQLite",
                after.size, before.size, after.root, before.root
            )));
        }
        self.set_database(Some(url))?;
        Ok(after)
    }

    /// The coordinator service over this home's store.
    pub fn coordinator(&self) -> Result<Coordinator> {
        let identity = self.identity()?;
        let store = self.open_store(&identity)?;
        let mut c = Coordinator::new(identity, &self.config.origin, store)?;
        c.set_chains(crate::chains::ChainSettings::load(&self.dir)?);
        Ok(c)
    }
}
