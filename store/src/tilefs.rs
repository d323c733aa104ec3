//! A log's tiles on disk, in the C2SP tlog-tiles layout (`tile/<L>/<N>[.p/<W>]`
//! and `tile/entries/<N>[.p/<W>]` under a log folder): written in one place
//! for the publisher's log folder (the packager's `LogDir`) and the client's
//! verified mirror, and read back with every file decoded and bounded.
//!
//! Nothing here verifies a tree against a signed root: callers hold the
//! checkpoint and check ([`TileSet::verify`], `TileSet::check_bundle`).

use std::path::{Path, PathBuf};

use quince_protocol::codec::DecodeError;
use quince_protocol::merkle::HashSource;
use quince_protocol::tile::{self, TileSet};

use crate::durable;

/// A tile folder could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TileFsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file does not decode as the tile or bundle its path names.
    #[error("{path}: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: DecodeError,
    },
    /// The hashes or entries given do not cover the tiles asked for.
    #[error("cannot make tile {tile}: {reason}")]
    Incomplete {
        /// The tile or bundle.
        tile: String,
        /// Why.
        reason: String,
    },
}

/// Writes, durably, the tiles and entry bundles of a tree of `size` leaves
/// that a tree of `published` leaves did not have (0: all of them), into `dir`.
/// `hashes` gives the tree's hashes; `entries` holds every entry from the first.
pub fn write<S, E>(
    dir: &Path,
    hashes: &S,
    entries: &[E],
    published: u64,
    size: u64,
) -> Result<(), TileFsError>
where
    S: HashSource + ?Sized,
    E: AsRef<[u8]>,
{
    let old = tile::tiles_for_size(published);
    for id in tile::tiles_for_size(size) {
        if old.contains(&id) {
            continue;
        }
        let data = tile::tile_data(hashes, id).map_err(|e| TileFsError::Incomplete {
            tile: id.to_string(),
            reason: e.to_string(),
        })?;
        put(dir, &id.path(), &data)?;
    }
    let old = tile::bundles_for_size(published);
    for id in tile::bundles_for_size(size) {
        if old.contains(&id) {
            continue;
        }
        let first = usize::try_from(id.first_entry()).unwrap_or(usize::MAX);
        let slice = first
            .checked_add(usize::from(id.width))
            .and_then(|end| entries.get(first..end))
            .ok_or_else(|| TileFsError::Incomplete {
                tile: id.to_string(),
                reason: format!("only {} entries given", entries.len()),
            })?;
        let bundle = tile::encode_bundle(slice).map_err(|e| TileFsError::Incomplete {
            tile: id.to_string(),
            reason: e.to_string(),
        })?;
        put(dir, &id.path(), &bundle)?;
    }
    Ok(())
}

/// The hash tiles of a tree of `size` leaves, read from `dir`.
pub fn read_tiles(dir: &Path, size: u64) -> Result<TileSet, TileFsError> {
    let mut set = TileSet::new();
    for id in tile::tiles_for_size(size) {
        let (path, bytes) = get(dir, &id.path())?;
        set.insert(id, &bytes)
            .map_err(|source| TileFsError::Corrupt { path, source })?;
    }
    Ok(set)
}

/// The first `size` entries, read from `dir`'s entry bundles.
pub fn read_entries(dir: &Path, size: u64) -> Result<Vec<Vec<u8>>, TileFsError> {
    let mut out = Vec::new();
    for id in tile::bundles_for_size(size) {
        let (path, bytes) = get(dir, &id.path())?;
        let entries = tile::decode_bundle(id, &bytes)
            .map_err(|source| TileFsError::Corrupt { path, source })?;
        out.extend(entries.into_iter().map(<[u8]>::to_vec));
    }
    Ok(out)
}

fn put(dir: &Path, rel: &str, bytes: &[u8]) -> Result<(), TileFsError> {
    let path = dir.join(rel);
    durable::write_atomic(&path, bytes).map_err(|source| TileFsError::Io { path, source })
}

fn get(dir: &Path, rel: &str) -> Result<(PathBuf, Vec<u8>), TileFsError> {
    let path = dir.join(rel);
    match durable::read_bounded(&path, quince_protocol::limits::MAX_ENTRY_BUNDLE_BYTES) {
        Ok(bytes) => Ok((path, bytes)),
        Err(source) => Err(TileFsError::Io { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quince_protocol::merkle::{leaf_hash, MemoryTree};

    fn entries(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("entry {i}\n").into_bytes())
            .collect()
    }

    #[test]
    fn written_tiles_read_back_and_verify_and_an_append_writes_only_the_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let all = entries(300);
        let tree = MemoryTree::from_leaf_hashes(all.iter().map(|e| leaf_hash(e)));
        write(dir.path(), &tree, &all[..260], 0, 260).unwrap();
        let before = durable::files_below(dir.path()).unwrap();
        write(dir.path(), &tree, &all, 260, 300).unwrap();
        let after = durable::files_below(dir.path()).unwrap();
        assert!(before.iter().all(|f| after.contains(f)));
        assert!(after.len() > before.len());
        let tiles = read_tiles(dir.path(), 300).unwrap();
        tiles.verify(300, &tree.root()).unwrap();
        assert_eq!(read_entries(dir.path(), 300).unwrap(), all);
    }

    #[test]
    fn a_damaged_or_missing_tile_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let all = entries(3);
        let tree = MemoryTree::from_leaf_hashes(all.iter().map(|e| leaf_hash(e)));
        write(dir.path(), &tree, &all, 0, 3).unwrap();
        std::fs::write(dir.path().join("tile/entries/000.p/3"), b"\x00").unwrap();
        let err = read_entries(dir.path(), 3).unwrap_err();
        assert!(matches!(err, TileFsError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("tile/entries/000.p/3"), "{err}");
        let err = read_tiles(dir.path(), 600).unwrap_err();
        assert!(matches!(err, TileFsError::Io { .. }), "{err}");
    }

    #[test]
    fn too_few_entries_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let all = entries(3);
        let tree = MemoryTree::from_leaf_hashes(all.iter().map(|e| leaf_hash(e)));
        assert!(matches!(
            write(dir.path(), &tree, &all[..1], 0, 3),
            Err(TileFsError::Incomplete { .. })
        ));
    }
}
