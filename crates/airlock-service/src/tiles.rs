//! Reading C2SP tiles out of the coordinator's store (the paths and bundle format are
//! `airlock_log::tiles`).
//!
//! This module must never serve a tile beyond the tree it reads under: a tile, once served,
//! never changes.

use airlock_coordinator::store::Storage;
pub use airlock_log::tiles::*;
use tlog_tiles::tlog::stored_hash_index;

/// What a tile request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    #[error("tile {0} is beyond the log's size")]
    Beyond(String),
    #[error("log entry {0} is longer than an entry bundle can carry (65535 bytes)")]
    EntryTooLong(u64),
    #[error(transparent)]
    Store(#[from] airlock_coordinator::store::StoreError),
}

/// Reads a tile's bytes out of `store`, whose log has `size` leaves.
pub fn read(store: &dyn Storage, tile: &Tile, size: u64) -> Result<Vec<u8>, TileError> {
    if !within(tile, size) {
        return Err(TileError::Beyond(path(tile)));
    }
    let start = tile.level_index() * TILE_WIDTH;
    let width = u64::from(tile.width());
    if tile.is_data() {
        let mut out = Vec::new();
        for (i, leaf) in (start..).zip(store.leaves(start, start + width)?) {
            push_entry(&mut out, &leaf).ok_or(TileError::EntryTooLong(i))?;
        }
        return Ok(out);
    }
    let level = TILE_HEIGHT * tile.level();
    let indexes: Vec<u64> = (start..start + width)
        .map(|i| stored_hash_index(level, i))
        .collect();
    let hashes = store.read_hashes(&indexes)?;
    let mut out = Vec::with_capacity(hashes.len() * 32);
    for h in hashes {
        out.extend_from_slice(&h);
    }
    Ok(out)
}
