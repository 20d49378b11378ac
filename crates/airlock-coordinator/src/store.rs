//! Coordinator storage: artifacts, the transparency log's leaves and stored hashes, checkpoints,
//! and the few indexes the coordinator needs to find things.
//!
//! `Storage` is the interface; `SqliteStore` (embedded, the default) implements it, and
//! [`crate::pgstore::PgStore`] implements the same trait on PostgreSQL. Every state transition is one `append` call, which commits
//! the artifacts, the log leaves, the new stored hashes and the signed checkpoint in a single
//! database transaction with synchronous commits: a crash loses nothing that was acknowledged and
//! never leaves an artifact without its log entry (or the reverse).
//!
//! This module must never decide what is valid (the coordinator and core do that), and never
//! write outside one transaction.

use std::path::Path;

use airlock_core::ArtifactId;
use airlock_log::{HashStore, LogError, LogHash};
use rusqlite::{Connection, OptionalExtension, params};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database: {}", postgres_message(.0))]
    Postgres(#[from] postgres::Error),
    #[error("log: {0}")]
    Log(#[from] LogError),
    #[error("database is inconsistent: {0}")]
    Corrupt(String),
    /// The database server cannot be reached now (try again).
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Other(String),
}

impl airlock_core::Classify for StoreError {
    fn severity(&self) -> airlock_core::Severity {
        use airlock_core::Severity;
        match self {
            StoreError::Corrupt(_) => Severity::Alarm,
            StoreError::Log(e) => airlock_core::Classify::severity(e),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Severity::Busy
            }
            StoreError::Postgres(e) if crate::pgstore::is_busy(e) => Severity::Busy,
            StoreError::Unavailable(_) => Severity::Busy,
            StoreError::Sqlite(_) | StoreError::Postgres(_) | StoreError::Other(_) => {
                Severity::Refused
            }
        }
    }
}

/// A PostgreSQL error with the server's own message (the driver's `Display` alone says only
/// "db error").
fn postgres_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// An artifact as stored, with the columns used to find it.
#[derive(Clone, Debug)]
pub struct StoredArtifact {
    pub id: ArtifactId,
    /// `ArtifactKind::name()`.
    pub kind: String,
    pub vault_id: String,
    /// For vault versions: the version number.
    pub version: Option<u64>,
    /// For approvals, finalized records and events: the proposal they concern.
    pub subject: Option<ArtifactId>,
    /// The encoded envelope.
    pub bytes: Vec<u8>,
    /// The log leaf that recorded it (set by the store).
    pub log_index: u64,
}

/// One log entry to append: the leaf bytes, and the artifact it records if not stored yet.
pub struct NewEntry {
    pub artifact: Option<StoredArtifact>,
    pub leaf: Vec<u8>,
    /// A signer's last seen checkpoint size, reported in its approval.
    pub signer_seen: Option<([u8; 32], u64)>,
}

/// What an append produced.
#[derive(Clone, Debug)]
pub struct Appended {
    pub first_index: u64,
    pub size: u64,
    pub root: LogHash,
    pub checkpoint: String,
}

/// Signs a checkpoint for (size, root), returning the signed note.
pub type CheckpointSigning<'a> = &'a dyn Fn(u64, LogHash) -> Result<String, StoreError>;

/// Collects the rows `(index, leaf)` of a range query for `start..end`, which must be every
/// index of the range in order: the first index missing is named.
pub(crate) fn contiguous_leaves<E>(
    start: u64,
    end: u64,
    rows: impl Iterator<Item = Result<(u64, Vec<u8>), E>>,
) -> Result<Vec<Vec<u8>>, StoreError>
where
    StoreError: From<E>,
{
    let mut out = Vec::with_capacity(end.saturating_sub(start).min(1 << 20) as usize);
    for row in rows {
        let (index, leaf) = row?;
        let expected = start + out.len() as u64;
        if index != expected {
            break;
        }
        out.push(leaf);
    }
    let next = start + out.len() as u64;
    if next < end {
        return Err(StoreError::Corrupt(format!("log leaf {next} is missing")));
    }
    Ok(out)
}

/// The coordinator's storage interface.
///
/// Transactions: a transition calls [`Storage::begin_write`], reads what it must validate,
/// appends, and ends with [`Storage::end`]; the write lock is held from the first read to the
/// commit, so no other writer (process or connection) can change what was validated. A reader
/// that makes several queries opens a snapshot with [`Storage::begin_read`].
pub trait Storage: Send {
    /// Opens the write transaction a transition runs in, waiting for (then holding) the
    /// database's write lock. Returns false (and does nothing) when one is already open.
    fn begin_write(&self) -> Result<bool, StoreError>;
    /// Opens a read snapshot: every read until [`Storage::end`] sees one state. Returns false
    /// (and does nothing) inside an open transaction, which already is one.
    fn begin_read(&self) -> Result<bool, StoreError>;
    /// Commits (or rolls back) the open transaction.
    fn end(&self, commit: bool) -> Result<(), StoreError>;
    /// Appends entries to the log and signs the new checkpoint, all or nothing (inside the open
    /// write transaction, or in one of its own).
    fn append(
        &mut self,
        entries: Vec<NewEntry>,
        sign: CheckpointSigning,
    ) -> Result<Appended, StoreError>;
    fn artifact(&self, id: &ArtifactId) -> Result<Option<StoredArtifact>, StoreError>;
    /// Artifacts whose id starts with the given hex prefix.
    fn artifacts_with_prefix(&self, hex_prefix: &str) -> Result<Vec<ArtifactId>, StoreError>;
    /// Artifacts of a kind about a proposal, in log order.
    fn artifacts_about(
        &self,
        subject: &ArtifactId,
        kind: &str,
    ) -> Result<Vec<StoredArtifact>, StoreError>;
    /// All artifacts of a kind (optionally in one vault), in log order.
    fn artifacts_of_kind(
        &self,
        kind: &str,
        vault_id: Option<&str>,
    ) -> Result<Vec<StoredArtifact>, StoreError>;
    /// The newest artifact of a kind in one vault (the last in log order).
    fn latest_of_kind(
        &self,
        kind: &str,
        vault_id: &str,
    ) -> Result<Option<StoredArtifact>, StoreError>;
    /// (version, artifact id) of every version of a vault, ascending.
    fn vault_versions(&self, vault_id: &str) -> Result<Vec<(u64, ArtifactId)>, StoreError>;
    fn vault_ids(&self) -> Result<Vec<String>, StoreError>;
    fn log_size(&self) -> Result<u64, StoreError>;
    fn leaf(&self, index: u64) -> Result<Vec<u8>, StoreError>;
    /// The leaves `start..end` in one query (an error names the first one missing).
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Every checkpoint as (size, note), ascending.
    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError>;
    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError>;
    /// The last checkpoint size a signer reported.
    fn signer_seen(&self, key: &[u8; 32]) -> Result<Option<u64>, StoreError>;
    /// Records that a checkpoint of this size was shipped in a bundle.
    fn note_exported(&mut self, size: u64) -> Result<(), StoreError>;
    fn exported_sizes(&self) -> Result<Vec<u64>, StoreError>;
    /// Reads stored hashes (the log's `HashStore`).
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<LogHash>, StoreError>;
    /// The service's members: (name, Ed25519 key, grants as JSON).
    fn members(&self) -> Result<Vec<(String, [u8; 32], String)>, StoreError>;
    /// Adds or replaces a member (by name; a key names one member only).
    fn put_member(&self, name: &str, key: &[u8; 32], grants: &str) -> Result<(), StoreError>;
    /// Removes a member; false when there was none of that name.
    fn remove_member(&self, name: &str) -> Result<bool, StoreError>;
    /// Records who made the log entries `first..end` (inside the transaction that appends them).
    fn record_actor(&self, first: u64, end: u64, actor: &str) -> Result<(), StoreError>;
    /// Who made the entry at `index`, when a member did through the service.
    fn actor(&self, index: u64) -> Result<Option<String>, StoreError>;

    /// A hint, inside an open transaction: the caller is about to look up the artifacts `ids`
    /// and what concerns the proposals `subjects`. A store whose every query is a network round
    /// trip reads them all at once; others may ignore it.
    fn prefetch(&self, ids: &[ArtifactId], subjects: &[ArtifactId]) -> Result<(), StoreError> {
        let _ = (ids, subjects);
        Ok(())
    }

    // Short-lived state that every process serving this database must share (request nonces,
    // sign-in challenges, sessions): keys with a value and an expiry, each call atomic on its
    // own (never inside a transition's transaction).

    /// Sets `key` to `value` until `expires` unless a live (unexpired) entry holds it; true when
    /// this call set it.
    fn claim(&self, key: &str, value: &str, expires: u64, now: u64) -> Result<bool, StoreError>;
    /// The live value of `key`.
    fn claimed(&self, key: &str, now: u64) -> Result<Option<String>, StoreError>;
    /// Replaces the live value `old` of `key` by `new`; true when this call did.
    fn swap_claim(&self, key: &str, old: &str, new: &str, now: u64) -> Result<bool, StoreError>;
    /// Removes `key` (only while it holds `value`, when given); true when this call did.
    fn release(&self, key: &str, value: Option<&str>) -> Result<bool, StoreError>;
}

/// Adapts a `Storage` to the log's `HashStore`.
pub struct StoreHashes<'a>(pub &'a dyn Storage);

impl HashStore for StoreHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<LogHash>, LogError> {
        self.0
            .read_hashes(indexes)
            .map_err(|e| LogError::Store(e.to_string()))
    }
}

/// SQLite storage in one file (WAL, synchronous=FULL). Write transactions are `BEGIN IMMEDIATE`:
/// the write lock is taken before the first read (a deferred transaction that upgrades from read
/// to write fails at once with "database is locked" instead of waiting), and a busy database is
/// waited for up to [`BUSY_WAIT`].
pub struct SqliteStore {
    conn: Connection,
}

/// How long a writer waits for another one's transaction before giving up (busy).
pub const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS artifacts (
    id BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    vault_id TEXT NOT NULL,
    version INTEGER,
    subject BLOB,
    bytes BLOB NOT NULL,
    log_index INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_subject ON artifacts(subject, kind);
CREATE INDEX IF NOT EXISTS artifacts_kind ON artifacts(kind, vault_id);
CREATE TABLE IF NOT EXISTS leaves (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS hashes (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signer_seen (signer BLOB PRIMARY KEY, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS exported (size INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS members (name TEXT PRIMARY KEY, key BLOB NOT NULL UNIQUE, grants TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS actors (log_index INTEGER PRIMARY KEY, actor TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ephemeral (k TEXT PRIMARY KEY, v TEXT NOT NULL, expires INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS ephemeral_expires ON ephemeral(expires);
";

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(BUSY_WAIT)?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore { conn })
    }

    fn row_to_artifact(row: &rusqlite::Row) -> rusqlite::Result<StoredArtifact> {
        let id: Vec<u8> = row.get(0)?;
        let subject: Option<Vec<u8>> = row.get(4)?;
        Ok(StoredArtifact {
            id: ArtifactId(to32(&id)),
            kind: row.get(1)?,
            vault_id: row.get(2)?,
            version: row.get::<_, Option<i64>>(3)?.map(|v| v as u64),
            subject: subject.map(|s| ArtifactId(to32(&s))),
            bytes: row.get(5)?,
            log_index: row.get::<_, i64>(6)? as u64,
        })
    }
}

fn to32(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    if b.len() == 32 {
        out.copy_from_slice(b);
    }
    out
}

/// Reads stored hashes through a connection (or a transaction).
fn read_hashes_with(conn: &Connection, indexes: &[u64]) -> Result<Vec<LogHash>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT hash FROM hashes WHERE idx = ?1")?;
    indexes
        .iter()
        .map(|i| {
            let h: Option<Vec<u8>> = stmt
                .query_row(params![*i as i64], |r| r.get(0))
                .optional()?;
            match h {
                Some(h) if h.len() == 32 => Ok(to32(&h)),
                _ => Err(StoreError::Corrupt(format!("stored hash {i} is missing"))),
            }
        })
        .collect()
}

struct ConnHashes<'a>(&'a Connection);

impl HashStore for ConnHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<LogHash>, LogError> {
        read_hashes_with(self.0, indexes).map_err(|e| LogError::Store(e.to_string()))
    }
}

/// Writes entries, the new stored hashes and the signed checkpoint through `conn` (a savepoint
/// of the open write transaction).
fn append_entries(
    conn: &Connection,
    entries: Vec<NewEntry>,
    sign: CheckpointSigning,
) -> Result<Appended, StoreError> {
    let mut size: u64 =
        conn.query_row("SELECT COUNT(*) FROM leaves", [], |r| r.get::<_, i64>(0))? as u64;
    let first_index = size;
    {
        let mut insert_leaf =
            conn.prepare_cached("INSERT INTO leaves (idx, leaf) VALUES (?1, ?2)")?;
        let mut insert_hash =
            conn.prepare_cached("INSERT INTO hashes (idx, hash) VALUES (?1, ?2)")?;
        let mut insert_artifact = conn.prepare_cached(
            "INSERT INTO artifacts (id, kind, vault_id, version, subject, bytes, log_index)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut seen = conn.prepare_cached(
            "INSERT INTO signer_seen (signer, size) VALUES (?1, ?2)
             ON CONFLICT(signer) DO UPDATE SET size = MAX(size, excluded.size)",
        )?;
        for entry in entries {
            if let Some(a) = &entry.artifact {
                insert_artifact.execute(params![
                    a.id.0.to_vec(),
                    a.kind,
                    a.vault_id,
                    a.version.map(|v| v as i64),
                    a.subject.map(|s| s.0.to_vec()),
                    a.bytes,
                    size as i64
                ])?;
            }
            if let Some((signer, seen_size)) = entry.signer_seen {
                seen.execute(params![signer.to_vec(), seen_size as i64])?;
            }
            let new_hashes = airlock_log::hashes_for_append(size, &entry.leaf, &ConnHashes(conn))?;
            let start = airlock_log::stored_hash_count(size);
            for (i, h) in new_hashes.iter().enumerate() {
                insert_hash.execute(params![(start + i as u64) as i64, h.to_vec()])?;
            }
            insert_leaf.execute(params![size as i64, entry.leaf])?;
            size += 1;
        }
    }
    let root = airlock_log::tree_root(size, &ConnHashes(conn))?;
    let checkpoint = sign(size, root)?;
    conn.execute(
        "INSERT OR REPLACE INTO checkpoints (size, note) VALUES (?1, ?2)",
        params![size as i64, checkpoint],
    )?;
    airlock_transport::failpoint::hit("store.appended", &size);
    Ok(Appended {
        first_index,
        size,
        root,
        checkpoint,
    })
}

impl Storage for SqliteStore {
    fn begin_write(&self) -> Result<bool, StoreError> {
        if !self.conn.is_autocommit() {
            return Ok(false);
        }
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(true)
    }

    fn begin_read(&self) -> Result<bool, StoreError> {
        if !self.conn.is_autocommit() {
            return Ok(false);
        }
        // A deferred transaction's snapshot starts at its first read.
        self.conn.execute_batch("BEGIN DEFERRED")?;
        self.conn
            .query_row("SELECT COUNT(*) FROM checkpoints", [], |r| {
                r.get::<_, i64>(0)
            })?;
        Ok(true)
    }

    fn end(&self, commit: bool) -> Result<(), StoreError> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        if commit {
            airlock_transport::failpoint::hit("store.commit", &"");
            self.conn.execute_batch("COMMIT")?;
            airlock_transport::failpoint::hit("store.committed", &"");
        } else {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    fn append(
        &mut self,
        entries: Vec<NewEntry>,
        sign: CheckpointSigning,
    ) -> Result<Appended, StoreError> {
        let own = self.begin_write()?;
        let result = (|| {
            let savepoint = self.conn.savepoint()?;
            let appended = append_entries(&savepoint, entries, sign)?;
            savepoint.commit()?;
            Ok(appended)
        })();
        if own {
            self.end(result.is_ok())?;
        }
        result
    }

    fn artifact(&self, id: &ArtifactId) -> Result<Option<StoredArtifact>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, kind, vault_id, version, subject, bytes, log_index FROM artifacts WHERE id = ?1")?
            .query_row(params![id.0.to_vec()], Self::row_to_artifact)
            .optional()?)
    }

    fn artifacts_with_prefix(&self, hex_prefix: &str) -> Result<Vec<ArtifactId>, StoreError> {
        let prefix = hex_prefix.to_ascii_lowercase();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM artifacts WHERE lower(hex(id)) LIKE ?1 || '%' ORDER BY log_index",
        )?;
        let ids = stmt
            .query_map(params![prefix], |r| r.get::<_, Vec<u8>>(0))?
            .map(|r| r.map(|b| ArtifactId(to32(&b))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ids)
    }

    fn artifacts_about(
        &self,
        subject: &ArtifactId,
        kind: &str,
    ) -> Result<Vec<StoredArtifact>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, vault_id, version, subject, bytes, log_index FROM artifacts
             WHERE subject = ?1 AND kind = ?2 ORDER BY log_index",
        )?;
        let rows = stmt
            .query_map(params![subject.0.to_vec(), kind], Self::row_to_artifact)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn artifacts_of_kind(
        &self,
        kind: &str,
        vault_id: Option<&str>,
    ) -> Result<Vec<StoredArtifact>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, vault_id, version, subject, bytes, log_index FROM artifacts
             WHERE kind = ?1 AND (?2 IS NULL OR vault_id = ?2) ORDER BY log_index",
        )?;
        let rows = stmt
            .query_map(params![kind, vault_id], Self::row_to_artifact)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn latest_of_kind(
        &self,
        kind: &str,
        vault_id: &str,
    ) -> Result<Option<StoredArtifact>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, vault_id, version, subject, bytes, log_index FROM artifacts
             WHERE kind = ?1 AND vault_id = ?2 ORDER BY log_index DESC LIMIT 1",
        )?;
        Ok(stmt
            .query_map(params![kind, vault_id], Self::row_to_artifact)?
            .next()
            .transpose()?)
    }

    fn vault_versions(&self, vault_id: &str) -> Result<Vec<(u64, ArtifactId)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT version, id FROM artifacts WHERE kind = 'vault' AND vault_id = ?1 ORDER BY version",
        )?;
        let rows = stmt
            .query_map(params![vault_id], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    ArtifactId(to32(&r.get::<_, Vec<u8>>(1)?)),
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn vault_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT vault_id FROM artifacts WHERE kind = 'vault' ORDER BY vault_id",
        )?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn log_size(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM leaves", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    fn leaf(&self, index: u64) -> Result<Vec<u8>, StoreError> {
        self.conn
            .prepare_cached("SELECT leaf FROM leaves WHERE idx = ?1")?
            .query_row(params![index as i64], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::Corrupt(format!("log leaf {index} is missing")))
    }

    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT idx, leaf FROM leaves WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
        )?;
        let rows = stmt.query_map(params![start as i64, end as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        contiguous_leaves(start, end, rows.map(|r| r.map(|(i, l)| (i as u64, l))))
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT size, note FROM checkpoints ORDER BY size")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")?
            .query_row([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })
            .optional()?)
    }

    fn signer_seen(&self, key: &[u8; 32]) -> Result<Option<u64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT size FROM signer_seen WHERE signer = ?1")?
            .query_row(params![key.to_vec()], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|s| s as u64))
    }

    fn note_exported(&mut self, size: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO exported (size) VALUES (?1)",
            params![size as i64],
        )?;
        Ok(())
    }

    fn exported_sizes(&self) -> Result<Vec<u64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT size FROM exported ORDER BY size")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, i64>(0))?
            .map(|r| r.map(|s| s as u64))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn members(&self) -> Result<Vec<(String, [u8; 32], String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, key, grants FROM members ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| {
                let key: Vec<u8> = r.get(1)?;
                Ok((r.get(0)?, to32(&key), r.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn put_member(&self, name: &str, key: &[u8; 32], grants: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO members (name, key, grants) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET key = excluded.key, grants = excluded.grants",
            params![name, key.to_vec(), grants],
        )?;
        Ok(())
    }

    fn remove_member(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM members WHERE name = ?1", params![name])?
            > 0)
    }

    fn record_actor(&self, first: u64, end: u64, actor: &str) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO actors (log_index, actor) VALUES (?1, ?2)")?;
        for i in first..end {
            stmt.execute(params![i as i64, actor])?;
        }
        Ok(())
    }

    fn actor(&self, index: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT actor FROM actors WHERE log_index = ?1",
                params![index as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<LogHash>, StoreError> {
        read_hashes_with(&self.conn, indexes)
    }

    fn claim(&self, key: &str, value: &str, expires: u64, now: u64) -> Result<bool, StoreError> {
        if rand_core::RngCore::next_u32(&mut rand_core::OsRng).is_multiple_of(64) {
            self.conn.execute(
                "DELETE FROM ephemeral WHERE expires <= ?1",
                params![now as i64],
            )?;
        }
        Ok(self.conn.execute(
            "INSERT INTO ephemeral (k, v, expires) VALUES (?1, ?2, ?3)
             ON CONFLICT(k) DO UPDATE SET v = excluded.v, expires = excluded.expires
             WHERE ephemeral.expires <= ?4",
            params![key, value, expires as i64, now as i64],
        )? == 1)
    }

    fn claimed(&self, key: &str, now: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT v FROM ephemeral WHERE k = ?1 AND expires > ?2")?
            .query_row(params![key, now as i64], |r| r.get(0))
            .optional()?)
    }

    fn swap_claim(&self, key: &str, old: &str, new: &str, now: u64) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE ephemeral SET v = ?3 WHERE k = ?1 AND v = ?2 AND expires > ?4",
            params![key, old, new, now as i64],
        )? == 1)
    }

    fn release(&self, key: &str, value: Option<&str>) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM ephemeral WHERE k = ?1 AND (?2 IS NULL OR v = ?2)",
            params![key, value],
        )? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u8) -> NewEntry {
        NewEntry {
            artifact: Some(StoredArtifact {
                id: ArtifactId([i; 32]),
                kind: "proposal".into(),
                vault_id: "v".into(),
                version: None,
                subject: None,
                bytes: vec![i],
                log_index: 0,
            }),
            leaf: vec![i; 3],
            signer_seen: None,
        }
    }

    #[test]
    fn appends_match_an_in_memory_log_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let sign: CheckpointSigning = &|size, root| Ok(format!("{size} {}", hex::encode(root)));
        let mut memory = airlock_log::MemoryLog::new();
        {
            let mut store = SqliteStore::open(&path).unwrap();
            for batch in [
                vec![entry(1)],
                vec![entry(2), entry(3), entry(4)],
                vec![entry(5)],
            ] {
                let leaves: Vec<Vec<u8>> = batch.iter().map(|e| e.leaf.clone()).collect();
                let appended = store.append(batch, sign).unwrap();
                for l in leaves {
                    memory.append(&l);
                }
                assert_eq!(appended.size, memory.size());
                assert_eq!(appended.root, memory.root());
            }
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.log_size().unwrap(), 5);
        assert_eq!(store.checkpoints().unwrap().len(), 3);
        assert_eq!(
            store.artifacts_with_prefix("0303").unwrap(),
            vec![ArtifactId([3; 32])]
        );
    }

    #[test]
    fn a_failed_append_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
        let sign: CheckpointSigning = &|_, _| Ok("note".into());
        store.append(vec![entry(1)], sign).unwrap();
        // The same artifact again violates the primary key half-way through the batch.
        let err = store.append(vec![entry(2), entry(1)], sign);
        assert!(err.is_err());
        assert_eq!(store.log_size().unwrap(), 1);
        assert!(store.artifact(&ArtifactId([2; 32])).unwrap().is_none());
        let failing: CheckpointSigning = &|_, _| Err(StoreError::Other("no key".into()));
        assert!(store.append(vec![entry(3)], failing).is_err());
        assert_eq!(store.log_size().unwrap(), 1);
    }
}
