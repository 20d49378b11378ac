//! The log published as files, for one machine without `airlock serve`: `airlock log publish
//! DIR` writes the same paths the service answers (`log/checkpoint`, `log/tile/…` entry bundles
//! and hash tiles, `api/v1/artifacts/<id>`, `api/v1/identity`), so a verifying witness
//! (`airlock-witness log add KEY --verify-dir DIR`), `airlock log verify --url file:///DIR`,
//! `airlock recover --from-log DIR` or any static file server read it exactly as the service.
//!
//! Publishing is incremental: full tiles and artifacts already written are kept (they never
//! change), partial tiles and the artifacts of the entries since the last checkpoint written
//! are added, and `log/checkpoint` is replaced last, so a reader never sees a checkpoint whose
//! tiles are not there yet. Every file is written whole (temp, fsync, rename). The directory is
//! remembered in the home (`log-mirror.json`), and every round of asking the witnesses
//! publishes first (`witnesses::witness_note`), so a verifying witness on the same machine
//! finds the entries of the checkpoint it is asked to cosign.
//!
//! This module must never write a checkpoint before the tiles and artifacts it covers, and
//! never publish into a directory that holds another log or a longer history of this one.

use std::path::{Path, PathBuf};

use airlock_coordinator::{Coordinator, CoordinatorError};
use airlock_core::LogRecord;
use serde::{Deserialize, Serialize};

/// The file in the coordinator's home that remembers where the log is published.
pub const MIRROR_FILE: &str = "log-mirror.json";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MirrorConfig {
    dir: PathBuf,
}

/// What one publication wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Published {
    pub dir: String,
    /// The size of the checkpoint now published, and the one before.
    pub size: u64,
    pub previous_size: u64,
    pub tiles_written: usize,
    pub artifacts_written: usize,
}

fn setup(e: impl std::fmt::Display) -> CoordinatorError {
    CoordinatorError::Setup(e.to_string())
}

/// The size and origin of the checkpoint already in `dir` (none: an empty directory).
fn published_checkpoint(dir: &Path) -> Result<Option<(String, u64)>, CoordinatorError> {
    let path = dir.join("log/checkpoint");
    if !path.exists() {
        return Ok(None);
    }
    let bytes = airlock_transport::read_bounded(&path, 64 * 1024).map_err(setup)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    let origin = lines.next().unwrap_or_default().to_owned();
    let size = lines
        .next()
        .and_then(airlock_log::witness::parse_decimal)
        .ok_or_else(|| setup(format!("{} is not a checkpoint", path.display())))?;
    Ok(Some((origin, size)))
}

/// Publishes the log up to its newest checkpoint into `dir` (created if needed) and remembers
/// `dir` in `home` for later rounds.
pub fn publish(c: &Coordinator, home: &Path, dir: &Path) -> Result<Published, CoordinatorError> {
    let dir = std::path::absolute(dir).map_err(setup)?;
    let published = c.read(|c| write_dir(c, &dir, 0))?;
    let config = serde_json::to_vec_pretty(&MirrorConfig { dir: dir.clone() }).map_err(setup)?;
    airlock_transport::write_atomic(&home.join(MIRROR_FILE), &config).map_err(setup)?;
    Ok(published)
}

/// Publishes into the directory remembered in `home`, if any, with the tiles of a tree of
/// `also_size` too (the checkpoint about to be offered to the witnesses, when the log has grown
/// past it since: a reader at that size finds its partial tiles).
pub fn publish_remembered(
    c: &Coordinator,
    home: &Path,
    also_size: u64,
) -> Result<Option<Published>, CoordinatorError> {
    let path = home.join(MIRROR_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = airlock_transport::read_bounded(&path, 64 * 1024).map_err(setup)?;
    let config: MirrorConfig = serde_json::from_slice(&bytes)
        .map_err(|e| setup(format!("{} is damaged: {e}", path.display())))?;
    Ok(Some(c.read(|c| write_dir(c, &config.dir, also_size))?))
}

fn write_dir(c: &Coordinator, dir: &Path, also_size: u64) -> Result<Published, CoordinatorError> {
    let (size, note) = c.latest_checkpoint()?;
    let also_size = also_size.min(size);
    let origin = c.origin().to_owned();
    let previous_size = match published_checkpoint(dir)? {
        None => 0,
        Some((theirs, _)) if theirs != origin => {
            return Err(CoordinatorError::Refused(format!(
                "{} holds log {theirs:?}, not {origin:?}",
                dir.display()
            )));
        }
        Some((_, theirs)) if theirs > size => {
            return Err(CoordinatorError::Refused(format!(
                "{} holds {theirs} entries of this log, more than the {size} this home has: \
                 refusing to publish a shorter history over it",
                dir.display()
            )));
        }
        Some((_, theirs)) => theirs,
    };
    let store = c.store();
    let mut tiles_written = 0;
    let tiles = [size, also_size].into_iter().flat_map(|at| {
        crate::tiles::tiles_for(at, false)
            .into_iter()
            .chain(crate::tiles::tiles_for(at, true))
    });
    for tile in tiles {
        let path = dir.join("log").join(crate::tiles::path(&tile));
        // A full tile never changes; a partial one has a path of its own width.
        if path.exists() {
            continue;
        }
        // A tile of the smaller tree is within the larger one: read under the log's size.
        let bytes = crate::tiles::read(store, &tile, size).map_err(|e| match e {
            crate::tiles::TileError::Store(e) => CoordinatorError::Store(e),
            e => CoordinatorError::Refused(e.to_string()),
        })?;
        write_file(&path, &bytes)?;
        tiles_written += 1;
    }
    let mut artifacts_written = 0;
    for index in previous_size..size {
        let record = LogRecord::from_bytes(&store.leaf(index)?)?;
        let path = dir.join("api/v1/artifacts").join(record.artifact.to_hex());
        if path.exists() {
            continue;
        }
        let stored = store.artifact(&record.artifact)?.ok_or_else(|| {
            CoordinatorError::NotFound(format!(
                "artifact {} of log entry {index}",
                record.artifact.short()
            ))
        })?;
        write_file(&path, &stored.bytes)?;
        artifacts_written += 1;
    }
    // What `GET /api/v1/identity` answers, so a reader finds the log key as it does at a service.
    let identity = serde_json::json!({
        "origin": origin,
        "identity": c.public_key().to_hex(),
        "log_key": c.log_verifier().vkey(),
    });
    let identity_path = dir.join("api/v1/identity");
    if !identity_path.exists() {
        write_file(&identity_path, identity.to_string().as_bytes())?;
    }
    write_file(&dir.join("log/checkpoint"), note.as_bytes())?;
    Ok(Published {
        dir: dir.display().to_string(),
        size,
        previous_size,
        tiles_written,
        artifacts_written,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CoordinatorError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| setup(format!("{}: {e}", parent.display())))?;
    }
    airlock_transport::write_atomic(path, bytes).map_err(setup)
}
