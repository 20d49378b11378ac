//! The log as C2SP tlog-tiles: tile paths, entry bundles, and reading tiles out of the
//! coordinator's stored hashes.
//!
//! Paths are C2SP's: `tile/<L>/<N>[.p/<W>]` for hash tiles and `tile/entries/<N>[.p/<W>]` for
//! entry bundles, tile height 8, `N` in three-digit groups with `x` prefixes. The arithmetic
//! (which stored hashes a tile holds) is `tlog_tiles`' port of Go's `sumdb/tlog`, whose paths
//! carry the height (`tile/8/…`, `tile/8/data/…`); this module only translates between the two
//! spellings and refuses every non-canonical one. An entry bundle is each leaf prefixed by its
//! length as a big-endian `uint16`.
//!
//! This module only names and decodes tiles; reading them out of a store is the service's job.
//! It must never panic on any path or bundle.

pub use tlog_tiles::tile::Tile;

/// C2SP's tile height.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Levels a tree below `airlock_log::MAX_TREE_SIZE` (2^62 leaves) can have tiles at.
const MAX_LEVEL: u8 = 8;

/// Parses the part of a tile URL after `tile/` (`0/x001/234.p/7`, `entries/000`), refusing
/// anything but the one canonical spelling of a tile.
pub fn parse(rest: &str) -> Option<Tile> {
    if rest.len() > 48 {
        return None;
    }
    // `Tile::from_path` would panic on a width of 0 or a level of 64 and up: refuse those here.
    let (first, tail) = rest.split_once('/')?;
    if first != "entries" {
        let level: u8 = first.parse().ok()?;
        if level >= MAX_LEVEL || first != level.to_string() {
            return None;
        }
    }
    if let Some((_, width)) = tail.rsplit_once(".p/") {
        let width: u32 = width.parse().ok()?;
        if width == 0 || u64::from(width) >= TILE_WIDTH {
            return None;
        }
    }
    let go_path = match first {
        "entries" => format!("tile/{TILE_HEIGHT}/data/{tail}"),
        _ => format!("tile/{TILE_HEIGHT}/{rest}"),
    };
    let tile = Tile::from_path(&go_path).ok()?;
    (tile.width() > 0).then_some(tile)
}

/// The C2SP path of a tile (`tile/…`).
pub fn path(tile: &Tile) -> String {
    let go_path = tile.path();
    let rest = go_path
        .strip_prefix(&format!("tile/{TILE_HEIGHT}/"))
        .unwrap_or(&go_path);
    match rest.strip_prefix("data/") {
        Some(n) => format!("tile/entries/{n}"),
        None => format!("tile/{rest}"),
    }
}

/// The tiles (hash tiles of level 0 and up, then entry bundles) that hold a tree of `size`
/// leaves, each with its width for that size.
pub fn tiles_for(size: u64, data: bool) -> Vec<Tile> {
    let mut out = Vec::new();
    let mut level = 0u8;
    loop {
        let count = if level == 0 {
            size
        } else {
            size >> (u32::from(TILE_HEIGHT) * u32::from(level))
        };
        if count == 0 {
            break;
        }
        for n in 0..count.div_ceil(TILE_WIDTH) {
            let width = (count - n * TILE_WIDTH).min(TILE_WIDTH) as u32;
            out.push(Tile::new(TILE_HEIGHT, level, n, width, data && level == 0));
        }
        if data {
            break;
        }
        level += 1;
    }
    out
}

/// Whether `tile` lies wholly inside a tree of `size` leaves.
pub fn within(tile: &Tile, size: u64) -> bool {
    let level_bits = u32::from(TILE_HEIGHT) * u32::from(tile.level());
    let available = if level_bits >= 64 {
        0
    } else {
        size >> level_bits
    };
    tile.level_index()
        .checked_mul(TILE_WIDTH)
        .and_then(|start| start.checked_add(u64::from(tile.width())))
        .is_some_and(|end| end <= available)
}

/// Appends one entry to an entry bundle; `None` if it is longer than a bundle can carry.
pub fn push_entry(bundle: &mut Vec<u8>, entry: &[u8]) -> Option<()> {
    let len = u16::try_from(entry.len()).ok()?;
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(entry);
    Some(())
}

/// Splits an entry bundle into its entries, refusing a truncated one or trailing bytes.
pub fn decode_entries(bundle: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or("an entry bundle ends inside a length prefix")?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(format!(
                "an entry bundle ends inside entry {} ({} of {len} bytes)",
                out.len(),
                tail.len()
            ));
        }
        out.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_in_c2sp_spelling() {
        for (rest, level, n, w, data) in [
            ("0/000", 0, 0, 256, false),
            ("0/000.p/7", 0, 0, 7, false),
            ("1/x001/234", 1, 1234, 256, false),
            ("entries/x001/234.p/1", 0, 1234, 1, true),
        ] {
            let tile = parse(rest).unwrap_or_else(|| panic!("{rest} parses"));
            assert_eq!(
                (
                    tile.level(),
                    tile.level_index(),
                    tile.width(),
                    tile.is_data()
                ),
                (level, n, w, data)
            );
            assert_eq!(path(&tile), format!("tile/{rest}"));
        }
        for bad in [
            "0/0",
            "0/1234",
            "0/x000/001",
            "0/000.p/0",
            "0/000.p/256",
            "data/000",
            "8/000/",
            "-1/000",
            "0/000.p/",
            "entries/000.p/300",
            "",
        ] {
            assert!(parse(bad).is_none(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn tiles_for_a_size_cover_it_exactly() {
        let tiles = tiles_for(70_000, false);
        // Level 0: 273 full + 1 partial (112); level 1: 1 full + 1 partial (17); level 2: 1.
        assert_eq!(tiles.len(), 274 + 2 + 1);
        assert!(tiles.iter().all(|t| within(t, 70_000)));
        assert_eq!(tiles_for(70_000, true).len(), 274);
        assert!(tiles_for(0, false).is_empty());
        assert!(!within(&Tile::new(8, 0, 0, 256, false), 255));
    }

    #[test]
    fn entry_bundles_refuse_truncation() {
        assert_eq!(
            decode_entries(&[0, 2, b'h', b'i', 0, 0]).unwrap(),
            vec![b"hi".to_vec(), vec![]]
        );
        assert!(decode_entries(&[0]).is_err());
        assert!(decode_entries(&[0, 3, b'h', b'i']).is_err());
    }
}
