//! PostgreSQL storage: the same [`Storage`] as the embedded SQLite store, for a team whose
//! coordinator service runs as several processes (or on several machines) over one database.
//!
//! Transactions: a transition runs in one `READ COMMITTED` transaction that first takes a
//! transaction-scoped advisory lock (`pg_advisory_xact_lock`), so writers — from any process —
//! run one after another and every statement after the lock sees everything committed before
//! it: the transitions are serial, which is stronger than `SERIALIZABLE` needs to be, and no
//! writer ever has to be retried. Snapshots for multi-query reads are `REPEATABLE READ READ
//! ONLY` and never wait for a writer. Commits are synchronous (`synchronous_commit = on`): an
//! acknowledged transition survives a crash of the database or of the service.
//!
//! Every query is a round trip, so what a transaction reads is remembered until it ends (or
//! appends): inside one transaction nobody else can change what it read — writers hold the
//! advisory lock, snapshots see one state — so the memory is exact, and a batch of decisions
//! costs a handful of queries ([`Storage::prefetch`]) instead of a dozen per decision.
//!
//! A database serves one log: the first coordinator to open it records its log origin and key
//! in `airlock_meta`, and any other is refused, so two homes with different keys can never
//! interleave checkpoints in one table.
//!
//! This module must never decide what is valid (the coordinator does), never write outside one
//! transaction, and never append without holding the advisory lock.

use std::cell::{Cell, RefCell, RefMut};
use std::collections::HashMap;

use airlock_core::ArtifactId;
use airlock_log::{HashStore, LogError, LogHash};
use postgres::error::SqlState;
use postgres::{Client, NoTls, Statement};

use crate::store::{Appended, CheckpointSigning, NewEntry, Storage, StoreError, StoredArtifact};

/// The advisory lock every write transaction takes (an arbitrary constant: "airlock\0").
const WRITE_LOCK: i64 = 0x6169_726c_6f63_6b00;
/// The advisory lock the schema is created under (concurrent `CREATE TABLE IF NOT EXISTS`
/// can otherwise collide).
const SCHEMA_LOCK: i64 = 0x6169_726c_6f63_6b01;
/// How long a writer waits for another's transaction before giving up (busy).
const LOCK_TIMEOUT: &str = "60s";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS airlock_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS artifacts (
    id BYTEA PRIMARY KEY,
    kind TEXT NOT NULL,
    vault_id TEXT NOT NULL,
    version BIGINT,
    subject BYTEA,
    bytes BYTEA NOT NULL,
    log_index BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_subject ON artifacts(subject, kind);
CREATE INDEX IF NOT EXISTS artifacts_kind ON artifacts(kind, vault_id);
CREATE TABLE IF NOT EXISTS leaves (idx BIGINT PRIMARY KEY, leaf BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS hashes (idx BIGINT PRIMARY KEY, hash BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signer_seen (signer BYTEA PRIMARY KEY, size BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS exported (size BIGINT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS members (name TEXT PRIMARY KEY, key BYTEA NOT NULL UNIQUE, grants TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS actors (log_index BIGINT PRIMARY KEY, actor TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ephemeral (k TEXT PRIMARY KEY, v TEXT NOT NULL, expires BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS ephemeral_expires ON ephemeral(expires);
";

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Storage in a PostgreSQL database (one connection; the service keeps a pool of stores).
pub struct PgStore {
    url: String,
    client: RefCell<Client>,
    statements: RefCell<HashMap<&'static str, Statement>>,
    in_transaction: Cell<bool>,
    /// What the open transaction read (empty outside transactions).
    read: RefCell<TransactionReads>,
}

/// Reads remembered within one transaction, until it ends or appends.
#[derive(Default)]
struct TransactionReads {
    artifacts: HashMap<ArtifactId, Option<StoredArtifact>>,
    /// Every artifact about a subject, in log order.
    about: HashMap<ArtifactId, Vec<StoredArtifact>>,
    vault_versions: HashMap<String, Vec<(u64, ArtifactId)>>,
    log_size: Option<u64>,
    leaves: HashMap<u64, Vec<u8>>,
    hashes: HashMap<u64, LogHash>,
}

fn connect(url: &str) -> Result<Client, StoreError> {
    let mut client = Client::connect(url, NoTls).map_err(|e| {
        let message = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        };
        let message = format!(
            "cannot connect to PostgreSQL at {}: {message}",
            redacted(url)
        );
        // The server answered and refused (no such database, authentication): not transient.
        if e.as_db_error().is_some() {
            StoreError::Other(message)
        } else {
            StoreError::Unavailable(message)
        }
    })?;
    client.batch_execute(&format!(
        "SET synchronous_commit = on; SET lock_timeout = '{LOCK_TIMEOUT}'; SET default_transaction_isolation = 'read committed'"
    ))?;
    Ok(client)
}

impl PgStore {
    /// Connects to the database at `url`, creating the schema if needed, and binds it to the log
    /// `origin` signed by `log_key` (refusing a database that holds another log).
    pub fn open(url: &str, origin: &str, log_key: &str) -> Result<PgStore, StoreError> {
        if !is_postgres_url(url) {
            return Err(StoreError::Other(format!(
                "{url:?} is not a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE)"
            )));
        }
        let mut client = connect(url)?;
        // The schema and the binding are checked once per process and database.
        static CHECKED: std::sync::Mutex<Vec<(String, String, String)>> =
            std::sync::Mutex::new(Vec::new());
        let binding = (url.to_string(), origin.to_string(), log_key.to_string());
        let checked = CHECKED
            .lock()
            .map(|c| c.contains(&binding))
            .unwrap_or(false);
        if checked {
            return Ok(PgStore {
                url: url.to_string(),
                client: RefCell::new(client),
                statements: RefCell::new(HashMap::new()),
                in_transaction: Cell::new(false),
                read: RefCell::default(),
            });
        }
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
        tx.batch_execute(SCHEMA)?;
        for (key, value) in [("origin", origin), ("log_key", log_key)] {
            tx.execute(
                "INSERT INTO airlock_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &value],
            )?;
            let stored: String = tx
                .query_one("SELECT value FROM airlock_meta WHERE key = $1", &[&key])?
                .get(0);
            if stored != value {
                return Err(StoreError::Other(format!(
                    "the database at {} holds another log ({key} {stored:?}, not {value:?}): one database serves one coordinator",
                    redacted(url)
                )));
            }
        }
        tx.commit()?;
        if let Ok(mut c) = CHECKED.lock() {
            c.push(binding);
        }
        Ok(PgStore {
            url: url.to_string(),
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            in_transaction: Cell::new(false),
            read: RefCell::default(),
        })
    }

    /// Forgets what the transaction read (at its start and end, and when it appends).
    fn forget_reads(&self) {
        *self.read.borrow_mut() = TransactionReads::default();
    }

    /// The remembered answer, or `fetch`'s (remembered when inside a transaction).
    fn remembered<K: std::hash::Hash + Eq + Clone, V: Clone>(
        &self,
        table: impl Fn(&mut TransactionReads) -> &mut HashMap<K, V>,
        key: &K,
        fetch: impl FnOnce() -> Result<V, StoreError>,
    ) -> Result<V, StoreError> {
        if let Some(v) = table(&mut self.read.borrow_mut()).get(key) {
            return Ok(v.clone());
        }
        let v = fetch()?;
        if self.in_transaction.get() {
            table(&mut self.read.borrow_mut()).insert(key.clone(), v.clone());
        }
        Ok(v)
    }

    /// The connection, reconnected first if it was lost between transactions.
    fn client(&self) -> Result<RefMut<'_, Client>, StoreError> {
        let mut client = self.client.borrow_mut();
        if client.is_closed() && !self.in_transaction.get() {
            *client = connect(&self.url)?;
            self.statements.borrow_mut().clear();
        }
        Ok(client)
    }

    /// A prepared statement, prepared once per connection.
    fn statement(&self, client: &mut Client, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let prepared = client.prepare(sql)?;
        self.statements.borrow_mut().insert(sql, prepared.clone());
        Ok(prepared)
    }

    fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, StoreError> {
        let mut client = self.client()?;
        let statement = self.statement(&mut client, sql)?;
        Ok(client.query(&statement, params)?)
    }

    fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let mut client = self.client()?;
        let statement = self.statement(&mut client, sql)?;
        Ok(client.execute(&statement, params)?)
    }

    fn artifacts(
        &self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<StoredArtifact>, StoreError> {
        self.query(sql, params)?
            .iter()
            .map(row_to_artifact)
            .collect()
    }

    /// Appends inside the open write transaction (the caller holds the advisory lock).
    fn append_locked(
        &self,
        entries: Vec<NewEntry>,
        sign: CheckpointSigning,
    ) -> Result<Appended, StoreError> {
        let first_index: i64 = self
            .query("SELECT COALESCE(MAX(idx) + 1, 0) FROM leaves", &[])?
            .first()
            .map(|r| r.get(0))
            .unwrap_or(0);
        let first_index = first_index as u64;
        let hashes = PendingHashes {
            store: self,
            start: airlock_log::stored_hash_count(first_index),
            pending: RefCell::new(Vec::new()),
        };
        let mut size = first_index;
        let (mut leaf_idx, mut leaves) = (Vec::new(), Vec::new());
        let mut artifacts = ArtifactColumns::default();
        let mut seen: HashMap<Vec<u8>, i64> = HashMap::new();
        for entry in entries {
            if let Some(a) = entry.artifact {
                artifacts.push(a, size);
            }
            if let Some((signer, seen_size)) = entry.signer_seen {
                let at = seen.entry(signer.to_vec()).or_insert(seen_size as i64);
                *at = (*at).max(seen_size as i64);
            }
            let new_hashes = airlock_log::hashes_for_append(size, &entry.leaf, &hashes)?;
            hashes.pending.borrow_mut().extend(new_hashes);
            leaf_idx.push(size as i64);
            leaves.push(entry.leaf);
            size += 1;
        }
        let root = airlock_log::tree_root(size, &hashes)?;
        let checkpoint = sign(size, root)?;
        let pending = hashes.pending.into_inner();
        let hash_idx: Vec<i64> = (0..pending.len() as u64)
            .map(|i| (hashes.start + i) as i64)
            .collect();
        let hash_bytes: Vec<Vec<u8>> = pending.iter().map(|h| h.to_vec()).collect();
        self.execute(
            "INSERT INTO artifacts (id, kind, vault_id, version, subject, bytes, log_index)
             SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bigint[])",
            &[
                &artifacts.id,
                &artifacts.kind,
                &artifacts.vault_id,
                &artifacts.version,
                &artifacts.subject,
                &artifacts.bytes,
                &artifacts.log_index,
            ],
        )?;
        self.execute(
            "INSERT INTO hashes (idx, hash) SELECT * FROM UNNEST($1::bigint[], $2::bytea[])",
            &[&hash_idx, &hash_bytes],
        )?;
        self.execute(
            "INSERT INTO leaves (idx, leaf) SELECT * FROM UNNEST($1::bigint[], $2::bytea[])",
            &[&leaf_idx, &leaves],
        )?;
        if !seen.is_empty() {
            let (signers, sizes): (Vec<Vec<u8>>, Vec<i64>) = seen.into_iter().unzip();
            self.execute(
                "INSERT INTO signer_seen (signer, size) SELECT * FROM UNNEST($1::bytea[], $2::bigint[])
                 ON CONFLICT (signer) DO UPDATE SET size = GREATEST(signer_seen.size, excluded.size)",
                &[&signers, &sizes],
            )?;
        }
        self.execute(
            "INSERT INTO checkpoints (size, note) VALUES ($1, $2)
             ON CONFLICT (size) DO UPDATE SET note = excluded.note",
            &[&(size as i64), &checkpoint],
        )?;
        airlock_transport::failpoint::hit("store.appended", &size);
        Ok(Appended {
            first_index,
            size,
            root,
            checkpoint,
        })
    }

    /// Copies every table of a SQLite store into this (empty) database, verbatim, in one
    /// transaction: the same leaves, stored hashes, checkpoint notes, artifacts, members and
    /// actors. Nothing is re-signed, so the log is the same log. Returns the log size copied.
    pub fn import_sqlite(&mut self, sqlite: &std::path::Path) -> Result<u64, StoreError> {
        let source = rusqlite::Connection::open_with_flags(
            sqlite,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        // One snapshot of the source.
        source.execute_batch("BEGIN")?;
        assert!(self.begin_write()?, "import runs outside any transaction");
        let copied = (|| {
            if self.log_size()? != 0 || !self.members()?.is_empty() {
                return Err(StoreError::Other(format!(
                    "the database at {} is not empty: migrate into a new database",
                    redacted(&self.url)
                )));
            }
            let mut client = self.client()?;
            let mut copy = |select: &str, insert: &str, columns: usize| -> Result<(), StoreError> {
                let mut stmt = source.prepare(select)?;
                let mut rows = stmt.query([])?;
                let insert = client.prepare(insert)?;
                while let Some(row) = rows.next()? {
                    let values: Vec<SqlValue> = (0..columns)
                        .map(|i| SqlValue::from_sqlite(row.get_ref(i)?))
                        .collect::<Result<_, rusqlite::Error>>()?;
                    let params: Vec<&(dyn postgres::types::ToSql + Sync)> = values
                        .iter()
                        .zip(insert.params())
                        .map(|(v, ty)| v.as_param(ty))
                        .collect();
                    client.execute(&insert, &params)?;
                }
                Ok(())
            };
            copy(
                "SELECT id, kind, vault_id, version, subject, bytes, log_index FROM artifacts ORDER BY log_index",
                "INSERT INTO artifacts (id, kind, vault_id, version, subject, bytes, log_index) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                7,
            )?;
            copy(
                "SELECT idx, leaf FROM leaves ORDER BY idx",
                "INSERT INTO leaves (idx, leaf) VALUES ($1, $2)",
                2,
            )?;
            copy(
                "SELECT idx, hash FROM hashes ORDER BY idx",
                "INSERT INTO hashes (idx, hash) VALUES ($1, $2)",
                2,
            )?;
            copy(
                "SELECT size, note FROM checkpoints ORDER BY size",
                "INSERT INTO checkpoints (size, note) VALUES ($1, $2)",
                2,
            )?;
            copy(
                "SELECT signer, size FROM signer_seen",
                "INSERT INTO signer_seen (signer, size) VALUES ($1, $2)",
                2,
            )?;
            copy(
                "SELECT size FROM exported",
                "INSERT INTO exported (size) VALUES ($1)",
                1,
            )?;
            copy(
                "SELECT name, key, grants FROM members",
                "INSERT INTO members (name, key, grants) VALUES ($1, $2, $3)",
                3,
            )?;
            copy(
                "SELECT log_index, actor FROM actors",
                "INSERT INTO actors (log_index, actor) VALUES ($1, $2)",
                2,
            )?;
            drop(client);
            self.log_size()
        })();
        self.end(copied.is_ok())?;
        copied
    }

    fn read_hashes_from_db(&self, indexes: &[u64]) -> Result<Vec<LogHash>, StoreError> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<i64> = indexes.iter().map(|i| *i as i64).collect();
        let found: HashMap<i64, Vec<u8>> = self
            .query(
                "SELECT idx, hash FROM hashes WHERE idx = ANY($1)",
                &[&wanted],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        indexes
            .iter()
            .map(|i| match found.get(&(*i as i64)) {
                Some(h) if h.len() == 32 => Ok(to32(h)),
                _ => Err(StoreError::Corrupt(format!("stored hash {i} is missing"))),
            })
            .collect()
    }
}

/// One SQLite value on its way into a PostgreSQL column (integers, text, blobs, NULL).
enum SqlValue {
    Null,
    Integer(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl SqlValue {
    fn from_sqlite(v: rusqlite::types::ValueRef) -> Result<SqlValue, rusqlite::Error> {
        use rusqlite::types::ValueRef;
        Ok(match v {
            ValueRef::Null => SqlValue::Null,
            ValueRef::Integer(i) => SqlValue::Integer(i),
            ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
            ValueRef::Real(_) => {
                return Err(rusqlite::Error::InvalidColumnType(
                    0,
                    "real".into(),
                    rusqlite::types::Type::Real,
                ));
            }
        })
    }

    /// The value as a parameter of a column of type `ty` (which a NULL needs: PostgreSQL checks
    /// the Rust type even of a NULL).
    fn as_param(&self, ty: &postgres::types::Type) -> &(dyn postgres::types::ToSql + Sync) {
        static NULL_BLOB: Option<Vec<u8>> = None;
        static NULL_INTEGER: Option<i64> = None;
        static NULL_TEXT: Option<String> = None;
        match self {
            SqlValue::Null if *ty == postgres::types::Type::BYTEA => &NULL_BLOB,
            SqlValue::Null if *ty == postgres::types::Type::TEXT => &NULL_TEXT,
            SqlValue::Null => &NULL_INTEGER,
            SqlValue::Integer(i) => i,
            SqlValue::Text(t) => t,
            SqlValue::Blob(b) => b,
        }
    }
}

/// Columns of the artifacts one append inserts (one `UNNEST` insert for the whole batch).
#[derive(Default)]
struct ArtifactColumns {
    id: Vec<Vec<u8>>,
    kind: Vec<String>,
    vault_id: Vec<String>,
    version: Vec<Option<i64>>,
    subject: Vec<Option<Vec<u8>>>,
    bytes: Vec<Vec<u8>>,
    log_index: Vec<i64>,
}

impl ArtifactColumns {
    fn push(&mut self, a: StoredArtifact, log_index: u64) {
        self.id.push(a.id.0.to_vec());
        self.kind.push(a.kind);
        self.vault_id.push(a.vault_id);
        self.version.push(a.version.map(|v| v as i64));
        self.subject.push(a.subject.map(|s| s.0.to_vec()));
        self.bytes.push(a.bytes);
        self.log_index.push(log_index as i64);
    }
}

/// The stored hashes as an append sees them: the database's, then the ones computed so far in
/// this append (written together at its end).
struct PendingHashes<'a> {
    store: &'a PgStore,
    start: u64,
    pending: RefCell<Vec<LogHash>>,
}

impl HashStore for PendingHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<LogHash>, LogError> {
        let stored: Vec<u64> = indexes
            .iter()
            .copied()
            .filter(|i| *i < self.start)
            .collect();
        let mut from_db = self
            .store
            .read_hashes_from_db(&stored)
            .map_err(|e| LogError::Store(e.to_string()))?
            .into_iter();
        let pending = self.pending.borrow();
        indexes
            .iter()
            .map(|i| {
                if *i < self.start {
                    from_db
                        .next()
                        .ok_or_else(|| LogError::Store(format!("stored hash {i} is missing")))
                } else {
                    pending
                        .get((*i - self.start) as usize)
                        .copied()
                        .ok_or(LogError::IndexOutOfRange)
                }
            })
            .collect()
    }
}

fn to32(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    if b.len() == 32 {
        out.copy_from_slice(b);
    }
    out
}

fn row_to_artifact(row: &postgres::Row) -> Result<StoredArtifact, StoreError> {
    let id: Vec<u8> = row.try_get(0)?;
    let subject: Option<Vec<u8>> = row.try_get(4)?;
    Ok(StoredArtifact {
        id: ArtifactId(to32(&id)),
        kind: row.try_get(1)?,
        vault_id: row.try_get(2)?,
        version: row.try_get::<_, Option<i64>>(3)?.map(|v| v as u64),
        subject: subject.map(|s| ArtifactId(to32(&s))),
        bytes: row.try_get(5)?,
        log_index: row.try_get::<_, i64>(6)? as u64,
    })
}

/// Whether a PostgreSQL error means "try again later" (a lock wait ran out, a lost connection).
pub(crate) fn is_busy(e: &postgres::Error) -> bool {
    e.is_closed()
        || matches!(
            e.code(),
            Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::QUERY_CANCELED
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        )
}

impl Storage for PgStore {
    fn begin_write(&self) -> Result<bool, StoreError> {
        if self.in_transaction.get() {
            return Ok(false);
        }
        let mut client = self.client()?;
        client.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED")?;
        self.forget_reads();
        self.in_transaction.set(true);
        let lock = self.statement(&mut client, "SELECT pg_advisory_xact_lock($1)");
        let locked = lock.and_then(|s| Ok(client.execute(&s, &[&WRITE_LOCK])?));
        if let Err(e) = locked {
            drop(client);
            let _ = self.end(false);
            return Err(e);
        }
        Ok(true)
    }

    fn begin_read(&self) -> Result<bool, StoreError> {
        if self.in_transaction.get() {
            return Ok(false);
        }
        let mut client = self.client()?;
        // The snapshot is taken by the first statement after BEGIN.
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1")?;
        self.forget_reads();
        self.in_transaction.set(true);
        Ok(true)
    }

    fn end(&self, commit: bool) -> Result<(), StoreError> {
        if !self.in_transaction.get() {
            return Ok(());
        }
        let mut client = self.client.borrow_mut();
        self.in_transaction.set(false);
        self.forget_reads();
        if commit {
            airlock_transport::failpoint::hit("store.commit", &"");
            client.batch_execute("COMMIT")?;
            airlock_transport::failpoint::hit("store.committed", &"");
        } else if !client.is_closed() {
            client.batch_execute("ROLLBACK")?;
        }
        Ok(())
    }

    fn append(
        &mut self,
        entries: Vec<NewEntry>,
        sign: CheckpointSigning,
    ) -> Result<Appended, StoreError> {
        let own = self.begin_write()?;
        self.forget_reads();
        let result = if own {
            self.append_locked(entries, sign)
        } else {
            // Inside a caller's transaction: all or nothing within it.
            self.client()?.batch_execute("SAVEPOINT airlock_append")?;
            let result = self.append_locked(entries, sign);
            let end = if result.is_ok() {
                "RELEASE SAVEPOINT airlock_append"
            } else {
                "ROLLBACK TO SAVEPOINT airlock_append"
            };
            self.client()?.batch_execute(end)?;
            result
        };
        self.forget_reads();
        if own {
            self.end(result.is_ok())?;
        }
        result
    }

    fn prefetch(&self, ids: &[ArtifactId], subjects: &[ArtifactId]) -> Result<(), StoreError> {
        if !self.in_transaction.get() {
            return Ok(());
        }
        let wanted: Vec<&[u8]> = ids
            .iter()
            .filter(|id| !self.read.borrow().artifacts.contains_key(id))
            .map(|id| id.0.as_slice())
            .collect();
        if !wanted.is_empty() {
            let found = self.artifacts(
                "SELECT id, kind, vault_id, version, subject, bytes, log_index FROM artifacts WHERE id = ANY($1)",
                &[&wanted],
            )?;
            let mut read = self.read.borrow_mut();
            for id in &wanted {
                read.artifacts.insert(ArtifactId(to32(id)), None);
            }
            for a in found {
                read.artifacts.insert(a.id, Some(a));
            }
        }
        let wanted: Vec<&[u8]> = subjects
            .iter()
            .filter(|id| !self.read.borrow().about.contains_key(id))
            .map(|id| id.0.as_slice())
            .collect();
        if !wanted.is_empty() {
            let found = self.artifacts(
                "SELECT id, kind, vault_id, version, subject, bytes, log_index FROM artifacts
                 WHERE subject = ANY($1) ORDER BY log_index",
                &[&wanted],
            )?;
            let mut read = self.read.borrow_mut();
            for id in &wanted {
                read.about.insert(ArtifactId(to32(id)), Vec::new());
            }
            for a in found {
                if let Some(subject) = a.subject {
                    read.about.entry(subject).or_default().push(a);
                }
            }
        }
        Ok(())
    }

    fn artifact(&self, id: &ArtifactId) -> Result<Option<StoredArtifact>, StoreError> {
        self.remembered(|r| &mut r.artifacts, id, || {
            Ok(self
                .artifacts(
                    "SELECT id, kind, vault_id, version, subject, bytes, log_index FROM artifacts WHERE id = $1",
                    &[&id.0.as_slice()],
                )?
                .pop())
        })
    }

    fn artifacts_with_prefix(&self, hex_prefix: &str) -> Result<Vec<ArtifactId>, StoreError> {
        let prefix: String = hex_prefix
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .collect();
        Ok(self
            .query(
                "SELECT id FROM artifacts WHERE encode(id, 'hex') LIKE $1 || '%' ORDER BY log_index",
                &[&prefix],
            )?
            .iter()
            .map(|r| ArtifactId(to32(&r.get::<_, Vec<u8>>(0))))
            .collect())
    }

    fn artifacts_about(
        &self,
        subject: &ArtifactId,
        kind: &str,
    ) -> Result<Vec<StoredArtifact>, StoreError> {
        if let Some(all) = self.read.borrow().about.get(subject) {
            return Ok(all.iter().filter(|a| a.kind == kind).cloned().collect());
        }
        self.artifacts(
            "SELECT id, kind, vault_id, version, subject, bytes, log_index FROM artifacts
             WHERE subject = $1 AND kind = $2 ORDER BY log_index",
            &[&subject.0.as_slice(), &kind],
        )
    }

    fn artifacts_of_kind(
        &self,
        kind: &str,
        vault_id: Option<&str>,
    ) -> Result<Vec<StoredArtifact>, StoreError> {
        self.artifacts(
            "SELECT id, kind, vault_id, version, subject, bytes, log_index FROM artifacts
             WHERE kind = $1 AND ($2::text IS NULL OR vault_id = $2) ORDER BY log_index",
            &[&kind, &vault_id],
        )
    }

    fn latest_of_kind(
        &self,
        kind: &str,
        vault_id: &str,
    ) -> Result<Option<StoredArtifact>, StoreError> {
        Ok(self
            .artifacts(
                "SELECT id, kind, vault_id, version, subject, bytes, log_index FROM artifacts
                 WHERE kind = $1 AND vault_id = $2 ORDER BY log_index DESC LIMIT 1",
                &[&kind, &vault_id],
            )?
            .pop())
    }

    fn vault_versions(&self, vault_id: &str) -> Result<Vec<(u64, ArtifactId)>, StoreError> {
        self.remembered(|r| &mut r.vault_versions, &vault_id.to_string(), || {
            Ok(self
                .query(
                    "SELECT version, id FROM artifacts WHERE kind = 'vault' AND vault_id = $1 ORDER BY version",
                    &[&vault_id],
                )?
                .iter()
                .map(|r| {
                    (
                        r.get::<_, i64>(0) as u64,
                        ArtifactId(to32(&r.get::<_, Vec<u8>>(1))),
                    )
                })
                .collect())
        })
    }

    fn vault_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .query(
                "SELECT DISTINCT vault_id FROM artifacts WHERE kind = 'vault' ORDER BY vault_id",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn log_size(&self) -> Result<u64, StoreError> {
        if let Some(size) = self.read.borrow().log_size {
            return Ok(size);
        }
        let size: i64 = self
            .query("SELECT COALESCE(MAX(idx) + 1, 0) FROM leaves", &[])?
            .first()
            .map(|r| r.get(0))
            .unwrap_or(0);
        if self.in_transaction.get() {
            self.read.borrow_mut().log_size = Some(size as u64);
        }
        Ok(size as u64)
    }

    fn leaf(&self, index: u64) -> Result<Vec<u8>, StoreError> {
        self.remembered(
            |r| &mut r.leaves,
            &index,
            || {
                self.query("SELECT leaf FROM leaves WHERE idx = $1", &[&(index as i64)])?
                    .first()
                    .map(|r| r.get(0))
                    .ok_or_else(|| StoreError::Corrupt(format!("log leaf {index} is missing")))
            },
        )
    }

    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = self.query(
            "SELECT idx, leaf FROM leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx",
            &[&(start as i64), &(end as i64)],
        )?;
        crate::store::contiguous_leaves(
            start,
            end,
            rows.iter()
                .map(|r| Ok::<_, StoreError>((r.get::<_, i64>(0) as u64, r.get(1)))),
        )
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        Ok(self
            .query("SELECT size, note FROM checkpoints ORDER BY size", &[])?
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect())
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        Ok(self
            .query(
                "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                &[],
            )?
            .first()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1))))
    }

    fn signer_seen(&self, key: &[u8; 32]) -> Result<Option<u64>, StoreError> {
        Ok(self
            .query(
                "SELECT size FROM signer_seen WHERE signer = $1",
                &[&key.as_slice()],
            )?
            .first()
            .map(|r| r.get::<_, i64>(0) as u64))
    }

    fn note_exported(&mut self, size: u64) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO exported (size) VALUES ($1) ON CONFLICT (size) DO NOTHING",
            &[&(size as i64)],
        )?;
        Ok(())
    }

    fn exported_sizes(&self) -> Result<Vec<u64>, StoreError> {
        Ok(self
            .query("SELECT size FROM exported ORDER BY size", &[])?
            .iter()
            .map(|r| r.get::<_, i64>(0) as u64)
            .collect())
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<LogHash>, StoreError> {
        let missing: Vec<u64> = {
            let read = self.read.borrow();
            indexes
                .iter()
                .copied()
                .filter(|i| !read.hashes.contains_key(i))
                .collect()
        };
        let fetched = self.read_hashes_from_db(&missing)?;
        if !self.in_transaction.get() {
            let mut fetched = fetched.into_iter();
            let cached = self.read.borrow();
            return indexes
                .iter()
                .map(|i| match cached.hashes.get(i) {
                    Some(h) => Ok(*h),
                    None => fetched
                        .next()
                        .ok_or_else(|| StoreError::Corrupt(format!("stored hash {i} is missing"))),
                })
                .collect();
        }
        let mut read = self.read.borrow_mut();
        read.hashes.extend(missing.into_iter().zip(fetched));
        Ok(indexes.iter().map(|i| read.hashes[i]).collect())
    }

    fn members(&self) -> Result<Vec<(String, [u8; 32], String)>, StoreError> {
        Ok(self
            .query("SELECT name, key, grants FROM members ORDER BY name", &[])?
            .iter()
            .map(|r| (r.get(0), to32(&r.get::<_, Vec<u8>>(1)), r.get(2)))
            .collect())
    }

    fn put_member(&self, name: &str, key: &[u8; 32], grants: &str) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO members (name, key, grants) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET key = excluded.key, grants = excluded.grants",
            &[&name, &key.as_slice(), &grants],
        )?;
        Ok(())
    }

    fn remove_member(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.execute("DELETE FROM members WHERE name = $1", &[&name])? > 0)
    }

    fn record_actor(&self, first: u64, end: u64, actor: &str) -> Result<(), StoreError> {
        let indexes: Vec<i64> = (first..end).map(|i| i as i64).collect();
        self.execute(
            "INSERT INTO actors (log_index, actor) SELECT i, $2 FROM UNNEST($1::bigint[]) AS i",
            &[&indexes, &actor],
        )?;
        Ok(())
    }

    fn actor(&self, index: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .query(
                "SELECT actor FROM actors WHERE log_index = $1",
                &[&(index as i64)],
            )?
            .first()
            .map(|r| r.get(0)))
    }

    fn claim(&self, key: &str, value: &str, expires: u64, now: u64) -> Result<bool, StoreError> {
        if rand_core::RngCore::next_u32(&mut rand_core::OsRng).is_multiple_of(64) {
            self.execute(
                "DELETE FROM ephemeral WHERE expires <= $1",
                &[&(now as i64)],
            )?;
        }
        Ok(self.execute(
            "INSERT INTO ephemeral (k, v, expires) VALUES ($1, $2, $3)
             ON CONFLICT (k) DO UPDATE SET v = excluded.v, expires = excluded.expires
             WHERE ephemeral.expires <= $4",
            &[&key, &value, &(expires as i64), &(now as i64)],
        )? == 1)
    }

    fn claimed(&self, key: &str, now: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .query(
                "SELECT v FROM ephemeral WHERE k = $1 AND expires > $2",
                &[&key, &(now as i64)],
            )?
            .first()
            .map(|r| r.get(0)))
    }

    fn swap_claim(&self, key: &str, old: &str, new: &str, now: u64) -> Result<bool, StoreError> {
        Ok(self.execute(
            "UPDATE ephemeral SET v = $3 WHERE k = $1 AND v = $2 AND expires > $4",
            &[&key, &old, &new, &(now as i64)],
        )? == 1)
    }

    fn release(&self, key: &str, value: Option<&str>) -> Result<bool, StoreError> {
        Ok(self.execute(
            "DELETE FROM ephemeral WHERE k = $1 AND ($2::text IS NULL OR v = $2)",
            &[&key, &value],
        )? == 1)
    }
}
