//! Verifying a published log from its tiles: what `airlock log verify --url` does.
//!
//! It reads the signed checkpoint and checks it with the log key (pinned by the caller, or, if
//! not, the key the service names, which is reported as unpinned), reads every entry bundle,
//! rebuilds the tree from the entries and compares its root with the checkpoint's, reads the
//! hash tiles through `tlog_tiles`' verifying reader (so the served hash tiles are proven
//! against the same root), then replays every transition through the coordinator's own rules,
//! fetching each artifact a record names by its id (content-addressed: its bytes must hash to
//! the id). A mirror of the tiles and artifacts verifies the same way.
//!
//! This module must never trust anything the server says that it has not checked against the
//! signed checkpoint, and never read a response past a size bound.

use std::path::PathBuf;

use airlock_coordinator::LogReport;
use airlock_core::{ArtifactId, PublicKey};
use airlock_log::{CheckpointVerifier, MemoryLog};
use tlog_tiles::tile::{Tile, TileHashReader, TileReader};
use tlog_tiles::tlog::{self, Hash, HashReader, stored_hash_index};

use crate::client::{ClientError, ServiceClient};
use crate::tiles;

/// Where the log is and how to trust it.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// The service's base URL (`http://127.0.0.1:8320`, `https://airlock.example`).
    pub url: String,
    /// The log's verifier key (`airlock id` prints it); when absent, the key the service names
    /// is used and the report says it was not pinned.
    pub log_key: Option<String>,
    /// A PEM certificate to trust for `https` (a self-signed service certificate).
    pub ca_cert: Option<PathBuf>,
}

/// What a remote verification found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RemoteReport {
    #[serde(flatten)]
    pub log: LogReport,
    pub url: String,
    pub log_key: String,
    /// Whether the log key was given by the caller rather than taken from the service.
    pub key_pinned: bool,
    /// HTTP requests made (checkpoint, tiles, artifacts).
    pub requests: usize,
    pub artifacts_read: usize,
    pub bytes_read: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The service could not be reached or answered something unusable.
    #[error("{0}")]
    Fetch(String),
    /// What the service serves contradicts its own signed checkpoint or the log's rules.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Setup(String),
}

impl From<ClientError> for RemoteError {
    fn from(e: ClientError) -> RemoteError {
        match e {
            ClientError::Setup(m) => RemoteError::Setup(m),
            other => RemoteError::Fetch(other.to_string()),
        }
    }
}

impl airlock_core::Classify for RemoteError {
    fn severity(&self) -> airlock_core::Severity {
        match self {
            RemoteError::Invalid(_) => airlock_core::Severity::Alarm,
            RemoteError::Fetch(_) | RemoteError::Setup(_) => airlock_core::Severity::Refused,
        }
    }
}

/// Fetches hash tiles for `tlog_tiles`' verifying reader.
struct HashTiles<'a> {
    client: &'a ServiceClient,
    count: std::cell::Cell<usize>,
}

impl TileReader for HashTiles<'_> {
    fn height(&self) -> u8 {
        tiles::TILE_HEIGHT
    }

    fn read_tiles(&self, wanted: &[Tile]) -> Result<Vec<Vec<u8>>, tlog::Error> {
        wanted
            .iter()
            .map(|t| {
                self.count.set(self.count.get() + 1);
                self.client
                    .get_optional(&format!("log/{}", tiles::path(t)))
                    .ok()
                    .flatten()
                    .ok_or(tlog::Error::InvalidTile)
            })
            .collect()
    }

    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

/// Verifies the log published at `options.url`; `progress` hears what it is doing.
pub fn verify_remote(
    options: &RemoteOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<RemoteReport, RemoteError> {
    Ok(verify_and_keep(options, progress)?.report)
}

/// A published log that verified, with everything read: the signed checkpoint note, every
/// entry and every artifact the entries name (what `airlock recover` rebuilds a database from).
pub struct VerifiedLog {
    pub report: RemoteReport,
    pub checkpoint: String,
    pub leaves: Vec<Vec<u8>>,
    pub artifacts: std::collections::HashMap<ArtifactId, Vec<u8>>,
}

/// [`verify_remote`], keeping what it read.
pub fn verify_and_keep(
    options: &RemoteOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<VerifiedLog, RemoteError> {
    let client = ServiceClient::new(&options.url, options.ca_cert.as_deref())?;
    let (log_key, key_pinned) = match &options.log_key {
        Some(k) => (k.trim().to_string(), true),
        None => {
            let identity: serde_json::Value =
                serde_json::from_slice(&client.get("api/v1/identity")?).map_err(|e| {
                    RemoteError::Fetch(format!("the service's identity is not JSON: {e}"))
                })?;
            let key = identity["log_key"]
                .as_str()
                .ok_or_else(|| RemoteError::Fetch("the service names no log key".into()))?;
            progress(&format!(
                "warning: trusting the log key the service names ({key}); pass --log-key to pin the one `airlock id` printed"
            ));
            (key.to_string(), false)
        }
    };
    let verifier = CheckpointVerifier::from_vkey(&log_key)
        .map_err(|e| RemoteError::Setup(format!("log key {log_key:?}: {e}")))?;
    let note = String::from_utf8(client.get("log/checkpoint")?)
        .map_err(|_| RemoteError::Invalid("the checkpoint is not UTF-8".into()))?;
    let checkpoint = verifier
        .open(&note)
        .map_err(|e| RemoteError::Invalid(format!("the checkpoint does not verify: {e}")))?;
    let size = checkpoint.size;
    progress(&format!(
        "checkpoint: {} records, root {}",
        size,
        hex::encode(checkpoint.root)
    ));

    // Entries, checked against the signed root.
    let mut leaves = Vec::with_capacity(size as usize);
    let mut tree = MemoryLog::new();
    for tile in tiles::tiles_for(size, true) {
        let bundle = client.get(&format!("log/{}", tiles::path(&tile)))?;
        let entries = tiles::decode_entries(&bundle)
            .map_err(|e| RemoteError::Invalid(format!("{}: {e}", tiles::path(&tile))))?;
        if entries.len() != tile.width() as usize {
            return Err(RemoteError::Invalid(format!(
                "{} holds {} entries, not {}",
                tiles::path(&tile),
                entries.len(),
                tile.width()
            )));
        }
        for entry in entries {
            tree.append(&entry);
            leaves.push(entry);
        }
    }
    if tree.root() != checkpoint.root {
        return Err(RemoteError::Invalid(format!(
            "the entries hash to root {}, but the signed checkpoint says {}",
            hex::encode(tree.root()),
            hex::encode(checkpoint.root)
        )));
    }
    progress(&format!("entries: {} match the signed root", leaves.len()));

    // Hash tiles, proven against the same root by tlog's verifying reader.
    let hash_tiles = HashTiles {
        client: &client,
        count: std::cell::Cell::new(0),
    };
    if size > 0 {
        let reader = TileHashReader::new(size, Hash(checkpoint.root), &hash_tiles);
        let indexes: Vec<u64> = (0..size).map(|i| stored_hash_index(0, i)).collect();
        let hashes = reader.read_hashes(&indexes).map_err(|e| {
            RemoteError::Invalid(format!(
                "the hash tiles do not prove out against the signed root: {e:?}"
            ))
        })?;
        for (i, (hash, leaf)) in hashes.iter().zip(&leaves).enumerate() {
            if hash.0 != airlock_log::leaf_hash(leaf) {
                return Err(RemoteError::Invalid(format!(
                    "hash tile entry {i} does not match entry {i}"
                )));
            }
        }
    }
    progress(&format!(
        "hash tiles: {} read, consistent with the entries",
        hash_tiles.count.get()
    ));

    // Every transition, replayed with the coordinator's rules.
    let coordinator = PublicKey(verifier.public_key().to_bytes());
    let mut artifacts_read = 0usize;
    let mut fetch_failed = None;
    let mut artifacts = std::collections::HashMap::new();
    let mut fetch = |id: &ArtifactId| -> airlock_coordinator::Result<Option<Vec<u8>>> {
        artifacts_read += 1;
        let got = client
            .get_optional(&format!("api/v1/artifacts/{}", id.to_hex()))
            .map_err(|e| {
                let message = e.to_string();
                fetch_failed = Some(e);
                airlock_coordinator::CoordinatorError::NotFound(message)
            })?;
        if let Some(bytes) = &got {
            artifacts.insert(*id, bytes.clone());
        }
        Ok(got)
    };
    let replayed = airlock_coordinator::replay::replay_records(&leaves, &coordinator, &mut fetch);
    // A network failure is not a verdict on the log.
    if let Some(e) = fetch_failed {
        return Err(e.into());
    }
    let mut log =
        replayed.map_err(|e| RemoteError::Invalid(format!("log verification FAILED: {e}")))?;
    log.root = hex::encode(tree.root());
    log.checkpoints = 1;
    let (requests, bytes_read) = client.reads();
    Ok(VerifiedLog {
        report: RemoteReport {
            log,
            url: client.base().to_string(),
            log_key,
            key_pinned,
            requests,
            artifacts_read,
            bytes_read,
        },
        checkpoint: note,
        leaves,
        artifacts,
    })
}
