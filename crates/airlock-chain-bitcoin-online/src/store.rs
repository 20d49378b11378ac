//! Durable storage of a watch-only vault's wallet state in one SQLite file.
//!
//! BDK describes every change to a wallet as a [`ChangeSet`]; this store keeps the merged change set
//! as JSON in a single row and replaces it inside one SQLite transaction (rollback journal,
//! `synchronous=FULL`), so a crash leaves either the old or the new state, never a mix.
//! The store holds public data only (public descriptors, transactions, chain checkpoints); it must never
//! be handed a private key.
//!
//! Why not BDK's own `rusqlite` feature: it pins rusqlite 0.31, whose `libsqlite3-sys` cannot live in
//! one build with the workspace's rusqlite 0.37 (both link `sqlite3`).

use std::path::Path;

use bdk_wallet::chain::Merge;
use bdk_wallet::{ChangeSet, WalletPersister};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// Schema version written into the file; bumped if the layout ever changes.
const SCHEMA_VERSION: i64 = 1;

/// Errors from the vault store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation (I/O error, locked or corrupt file).
    #[error("vault store database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The stored change set does not decode (damaged file or foreign data).
    #[error("vault store holds an unreadable wallet record: {0}")]
    Corrupt(String),
    /// The file was written by a newer Airlock with a different layout.
    #[error(
        "vault store schema version {found} is not supported (this build reads version {SCHEMA_VERSION})"
    )]
    UnsupportedSchema {
        /// Version found in the file.
        found: i64,
    },
}

/// A SQLite-backed [`WalletPersister`] holding one wallet's merged [`ChangeSet`].
#[derive(Debug)]
pub struct SqliteVaultStore {
    connection: Connection,
}

impl SqliteVaultStore {
    /// Opens (or creates) the store file at `path` and makes sure its tables exist.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        let store = Self { connection };
        store.ensure_schema()?;
        Ok(store)
    }

    fn ensure_schema(&self) -> Result<(), StoreError> {
        self.connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS airlock_store_meta (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 schema_version INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS airlock_wallet_changeset (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 changeset_json TEXT NOT NULL
             );
             INSERT OR IGNORE INTO airlock_store_meta (id, schema_version) VALUES (1, 1);",
        )?;
        let found: i64 = self.connection.query_row(
            "SELECT schema_version FROM airlock_store_meta WHERE id = 1",
            [],
            |row| row.get(0),
        )?;
        if found != SCHEMA_VERSION {
            return Err(StoreError::UnsupportedSchema { found });
        }
        Ok(())
    }

    /// Whether the store already holds a wallet (a non-empty change set).
    pub fn holds_wallet(&self) -> Result<bool, StoreError> {
        Ok(!read_changeset(&self.connection)?.is_empty())
    }
}

fn read_changeset(connection: &Connection) -> Result<ChangeSet, StoreError> {
    let json: Option<String> = connection
        .query_row(
            "SELECT changeset_json FROM airlock_wallet_changeset WHERE id = 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    match json {
        None => Ok(ChangeSet::default()),
        Some(json) => {
            serde_json::from_str(&json).map_err(|error| StoreError::Corrupt(error.to_string()))
        }
    }
}

impl WalletPersister for SqliteVaultStore {
    type Error = StoreError;

    fn initialize(store: &mut Self) -> Result<ChangeSet, Self::Error> {
        store.ensure_schema()?;
        read_changeset(&store.connection)
    }

    fn persist(store: &mut Self, changeset: &ChangeSet) -> Result<(), Self::Error> {
        if changeset.is_empty() {
            return Ok(());
        }
        // IMMEDIATE: take the write lock before reading, so two writers cannot interleave their
        // read-merge-write cycles.
        let transaction = store
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut merged = read_changeset(&transaction)?;
        merged.merge(changeset.clone());
        let json = serde_json::to_string(&merged)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        transaction.execute(
            "INSERT INTO airlock_wallet_changeset (id, changeset_json) VALUES (1, ?1)
             ON CONFLICT(id) DO UPDATE SET changeset_json = excluded.changeset_json",
            [json],
        )?;
        transaction.commit()?;
        Ok(())
    }
}
