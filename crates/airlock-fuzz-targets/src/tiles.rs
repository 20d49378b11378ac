//! The log's C2SP tile names and entry bundles (`airlock_log::tiles`), as `airlock serve` parses
//! every `/log/tile/…` request and `airlock log verify --url` decodes every entry bundle.
//!
//! Invariants: parsing never panics; a parsed path prints back to exactly what was parsed; an
//! entry bundle that decodes re-encodes to the same bytes; a tile of a tree lies within it.

use airlock_log::tiles;

pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            if let Ok(text) = std::str::from_utf8(rest)
                && let Some(tile) = tiles::parse(text)
            {
                assert_eq!(tiles::path(&tile), format!("tile/{text}"));
                assert!(tile.width() >= 1 && u64::from(tile.width()) <= tiles::TILE_WIDTH);
            }
        }
        1 => {
            if let Ok(entries) = tiles::decode_entries(rest) {
                let mut again = Vec::new();
                for e in &entries {
                    tiles::push_entry(&mut again, e).expect("a decoded entry fits a bundle");
                }
                assert_eq!(again, rest);
            }
        }
        _ => {
            let mut size = [0u8; 8];
            let n = rest.len().min(8);
            size[..n].copy_from_slice(&rest[..n]);
            // Up to 2^18 leaves (about a thousand tiles) keeps each run short; the arithmetic is
            // the same at every size below 2^62.
            let size = u64::from_le_bytes(size) % (1 << 18);
            let tiles = tiles::tiles_for(size, selector & 0x80 != 0);
            for t in &tiles {
                assert!(tiles::within(t, size));
                assert_eq!(tiles::parse(&tiles::path(t)["tile/".len()..]), Some(*t));
            }
        }
    }
}
