//! C2SP tlog-tiles: tile and entry-bundle paths, tile contents, entry bundles,
//! and a [`TileSet`] that serves Merkle hashes from tiles so that proofs can be
//! computed and checked from whatever tiles a peer sent.
//!
//! A tile at level `L` holds up to 256 consecutive hashes of height `8 * L`;
//! partial tiles (`.p/<W>`) hold the right edge of a tree. Entry bundles hold the
//! entries themselves, each prefixed by a big-endian u16 length. Writing tiles to
//! disk is the packager's job; fetching them is the updater's.

use std::collections::BTreeMap;
use std::fmt;

use crate::codec::{self, DecodeError, Reader};
use crate::hash::Hash;
use crate::limits::{
    MAX_ENTRY_BUNDLE_BYTES, MAX_ENTRY_BYTES, MAX_TILE_LEVEL, MAX_TILE_PATH_BYTES, MAX_TREE_SIZE,
    TILE_HEIGHT, TILE_WIDTH,
};
use crate::merkle::{self, HashSource, ProofError};

/// A hash tile: level, index within the level, and width (256 when full).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct TileId {
    /// Tile level (hashes of height `8 * level`).
    pub level: u8,
    /// Index of the tile within its level.
    pub index: u64,
    /// Number of hashes, 1..=256.
    pub width: u16,
}

/// An entry bundle: index (same numbering as level-0 tiles) and width.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct BundleId {
    /// Index of the bundle.
    pub index: u64,
    /// Number of entries, 1..=256.
    pub width: u16,
}

/// Anything a tlog-tiles path can name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TilePath {
    /// A hash tile.
    Tile(TileId),
    /// An entry bundle.
    Entries(BundleId),
}

impl TileId {
    /// True if the tile holds all 256 hashes.
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// Its path below the log's prefix, such as `tile/0/x001/234.p/17`.
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, index_path(self.index, self.width))
    }

    /// Size in bytes of the tile's contents.
    pub fn byte_len(&self) -> usize {
        usize::from(self.width) * Hash::LEN
    }
}

impl BundleId {
    /// Its path below the log's prefix, such as `tile/entries/000.p/3`.
    pub fn path(&self) -> String {
        format!("tile/entries/{}", index_path(self.index, self.width))
    }

    /// Index of the first entry in the bundle.
    pub fn first_entry(&self) -> u64 {
        self.index * TILE_WIDTH
    }
}

impl fmt::Display for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

impl fmt::Display for BundleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

impl TilePath {
    /// Parses a path such as `tile/1/x001/002.p/5` or `tile/entries/000`, in its
    /// one canonical spelling.
    pub fn parse(path: &str) -> Result<TilePath, DecodeError> {
        codec::check_len("tile path", path.len(), MAX_TILE_PATH_BYTES)?;
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| DecodeError::invalid("tile path", "does not start with tile/"))?;
        let (kind, rest) = rest
            .split_once('/')
            .ok_or_else(|| DecodeError::invalid("tile path", "no index"))?;
        let (index, width) = parse_index_path(rest)?;
        if kind == "entries" {
            return Ok(TilePath::Entries(BundleId { index, width }));
        }
        let level = codec::parse_decimal(kind, "tile level")?;
        if level > u64::from(MAX_TILE_LEVEL) {
            return Err(DecodeError::invalid(
                "tile level",
                format!("{level} above {MAX_TILE_LEVEL}"),
            ));
        }
        Ok(TilePath::Tile(TileId {
            level: level as u8,
            index,
            width,
        }))
    }
}

/// Quince's one addition to a tlog-tiles log folder (standard tools ignore
/// it): the folder holding each checkpoint's FROST signing transcript.
pub const TRANSCRIPTS_DIR: &str = "transcripts";

/// Where, in a log folder, the signing transcript of the checkpoint of tree
/// size `size` lives.
pub fn transcript_path(size: u64) -> String {
    format!("{TRANSCRIPTS_DIR}/{size}.json")
}

/// The folder, next to the tiles, of the checkpoints that first contained
/// each signer rotation, signed by the signers in force before it (see
/// [`rotation_path`]); ignored by standard tlog tools.
pub const ROTATIONS_DIR: &str = "rotations";

/// Where, in a log folder, the checkpoint of tree size `size` that first
/// contained a signer rotation is kept. A client that was offline across a
/// rotation cannot check the newest checkpoint (the new signers made it)
/// until it has walked through this one, which its old signers made.
pub fn rotation_path(size: u64) -> String {
    format!("{ROTATIONS_DIR}/{size}")
}

/// The smallest tree size above `after` among the names in a rotations
/// folder (names that are not canonical decimals are ignored).
pub fn first_rotation_after<'a>(
    names: impl IntoIterator<Item = &'a str>,
    after: u64,
) -> Option<u64> {
    names
        .into_iter()
        .filter_map(|n| crate::codec::parse_decimal(n, "rotation").ok())
        .filter(|&size| size > after)
        .min()
}

/// Every hash tile of a tree of `size` leaves, level by level.
pub fn tiles_for_size(size: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    let mut level = 0u8;
    loop {
        let hashes = hashes_at_tile_level(size, level);
        if hashes == 0 {
            break;
        }
        out.extend(ids_for(hashes).map(|(index, width)| TileId {
            level,
            index,
            width,
        }));
        level += 1;
    }
    out
}

/// Every entry bundle of a tree of `size` leaves.
pub fn bundles_for_size(size: u64) -> Vec<BundleId> {
    ids_for(size)
        .map(|(index, width)| BundleId { index, width })
        .collect()
}

/// The tile of a tree of `size` leaves that holds the hashes needed for the
/// complete subtree at (`level`, `index`).
pub fn tile_for_node(level: u32, index: u64, size: u64) -> TileId {
    let tile_level = level / TILE_HEIGHT;
    let start = index << (level % TILE_HEIGHT);
    let tile_index = start / TILE_WIDTH;
    let hashes = hashes_at_tile_level(size, tile_level as u8);
    let width = if (tile_index + 1) * TILE_WIDTH <= hashes {
        TILE_WIDTH
    } else {
        hashes % TILE_WIDTH
    };
    TileId {
        level: tile_level as u8,
        index: tile_index,
        width: width as u16,
    }
}

/// The contents of tile `id`, read from any hash source that has them.
pub fn tile_data<S: HashSource + ?Sized>(src: &S, id: TileId) -> Result<Vec<u8>, ProofError> {
    let level = u32::from(id.level) * TILE_HEIGHT;
    let mut out = Vec::with_capacity(id.byte_len());
    for i in 0..u64::from(id.width) {
        out.extend_from_slice(&src.complete_node(level, id.index * TILE_WIDTH + i)?.0);
    }
    Ok(out)
}

/// Splits a tile's bytes into hashes; the length must match the tile's width.
pub fn decode_tile(id: TileId, bytes: &[u8]) -> Result<Vec<Hash>, DecodeError> {
    if bytes.len() != id.byte_len() {
        return Err(DecodeError::invalid(
            "tile",
            format!(
                "{} is {} bytes; expected {}",
                id.path(),
                bytes.len(),
                id.byte_len()
            ),
        ));
    }
    let mut r = Reader::new(bytes);
    let mut out = Vec::with_capacity(usize::from(id.width));
    while !r.is_empty() {
        out.push(Hash(r.array::<32>("tile hash")?));
    }
    Ok(out)
}

/// Encodes entries as an entry bundle (each prefixed by its u16 length).
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, DecodeError> {
    codec::check_len("entry bundle", entries.len(), TILE_WIDTH as usize)?;
    let mut out = Vec::new();
    for e in entries {
        codec::check_len("log entry", e.as_ref().len(), MAX_ENTRY_BYTES)?;
        codec::put_bytes_u16(&mut out, e.as_ref());
    }
    Ok(out)
}

/// Splits an entry bundle into exactly `id.width` entries.
pub fn decode_bundle(id: BundleId, bytes: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    codec::check_len("entry bundle", bytes.len(), MAX_ENTRY_BUNDLE_BYTES)?;
    let mut r = Reader::new(bytes);
    let mut out = Vec::with_capacity(usize::from(id.width));
    for _ in 0..id.width {
        out.push(r.bytes_u16(MAX_ENTRY_BYTES, "log entry")?);
    }
    r.finish("entry bundle")?;
    Ok(out)
}

/// Hash tiles gathered from anywhere, serving Merkle hashes for proofs.
///
/// Adding a tile checks only its shape. Its hashes are authenticated by what is
/// computed from them: a proof that verifies against a signed root, or
/// [`TileSet::verify`] for a whole tree.
#[derive(Debug, Clone, Default)]
pub struct TileSet {
    /// (level, index) -> hashes; the widest copy seen is kept.
    tiles: BTreeMap<(u8, u64), Vec<Hash>>,
}

impl TileSet {
    /// An empty set.
    pub fn new() -> Self {
        TileSet::default()
    }

    /// Adds a tile from its bytes.
    pub fn insert(&mut self, id: TileId, bytes: &[u8]) -> Result<(), DecodeError> {
        let hashes = decode_tile(id, bytes)?;
        let slot = self.tiles.entry((id.level, id.index)).or_default();
        if hashes.len() > slot.len() {
            *slot = hashes;
        }
        Ok(())
    }

    /// True if a tile at least as wide as `id` is held.
    pub fn has(&self, id: TileId) -> bool {
        self.tiles
            .get(&(id.level, id.index))
            .is_some_and(|h| h.len() >= usize::from(id.width))
    }

    /// Checks that the tiles describe exactly the tree of `size` leaves with `root`:
    /// every tile is present, the root computes, and every full tile hashes to its
    /// entry in the level above.
    pub fn verify(&self, size: u64, root: &Hash) -> Result<(), TileError> {
        for id in tiles_for_size(size) {
            if !self.has(id) {
                return Err(TileError::Missing(id));
            }
        }
        let computed = merkle::tree_root(self, size).map_err(TileError::Proof)?;
        if computed != *root {
            return Err(TileError::RootMismatch { size });
        }
        for id in tiles_for_size(size).into_iter().filter(TileId::is_full) {
            let hashes = &self.tiles[&(id.level, id.index)];
            let parent = self.complete_node(u32::from(id.level + 1) * TILE_HEIGHT, id.index);
            if parent.ok() != Some(subtree_root(&hashes[..TILE_WIDTH as usize])) {
                return Err(TileError::Tampered(id));
            }
        }
        Ok(())
    }

    /// Checks that the entries of a bundle hash to the level-0 hashes held here.
    pub fn check_bundle(&self, id: BundleId, entries: &[&[u8]]) -> Result<(), TileError> {
        let tile = self
            .tiles
            .get(&(0, id.index))
            .filter(|h| h.len() >= usize::from(id.width))
            .ok_or(TileError::Missing(TileId {
                level: 0,
                index: id.index,
                width: id.width,
            }))?;
        if entries.len() != usize::from(id.width) {
            return Err(TileError::BundleMismatch {
                bundle: id,
                entry: entries.len() as u64,
            });
        }
        for (i, entry) in entries.iter().enumerate() {
            if merkle::leaf_hash(entry) != tile[i] {
                return Err(TileError::BundleMismatch {
                    bundle: id,
                    entry: id.first_entry() + i as u64,
                });
            }
        }
        Ok(())
    }
}

impl HashSource for TileSet {
    fn complete_node(&self, level: u32, index: u64) -> Result<Hash, ProofError> {
        let tile_level = level / TILE_HEIGHT;
        let height = level % TILE_HEIGHT;
        let missing = ProofError::MissingNode { level, index };
        if tile_level > u32::from(MAX_TILE_LEVEL) || index > MAX_TREE_SIZE {
            return Err(missing);
        }
        let start = index << height;
        let count = 1usize << height;
        let offset = (start % TILE_WIDTH) as usize;
        let hashes = self
            .tiles
            .get(&(tile_level as u8, start / TILE_WIDTH))
            .ok_or(missing.clone())?;
        let slice = hashes.get(offset..offset + count).ok_or(missing)?;
        Ok(subtree_root(slice))
    }
}

/// Why a set of tiles or a bundle does not match a tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// A tile the tree needs is not in the set.
    #[error("tile {0} is missing")]
    Missing(TileId),
    /// The tiles compute a different root than the checkpoint's.
    #[error("tiles do not compute the checkpoint root for size {size}")]
    RootMismatch {
        /// Tree size checked.
        size: u64,
    },
    /// A full tile does not hash to its parent entry.
    #[error("tile {0} does not match the level above it")]
    Tampered(TileId),
    /// An entry does not hash to its leaf.
    #[error("entry {entry} in bundle {bundle} does not match its leaf hash")]
    BundleMismatch {
        /// The bundle.
        bundle: BundleId,
        /// Index of the first bad entry (or the entry count if the count is wrong).
        entry: u64,
    },
    /// A hash could not be computed.
    #[error("{0}")]
    Proof(ProofError),
}

/// Number of hashes at tile level `level` in a tree of `size` leaves.
fn hashes_at_tile_level(size: u64, level: u8) -> u64 {
    let shift = u32::from(level) * TILE_HEIGHT;
    if shift >= 64 {
        0
    } else {
        size >> shift
    }
}

/// (index, width) of the tiles that hold `count` hashes of one level.
fn ids_for(count: u64) -> impl Iterator<Item = (u64, u16)> {
    let full = count / TILE_WIDTH;
    let partial = count % TILE_WIDTH;
    (0..full)
        .map(|i| (i, TILE_WIDTH as u16))
        .chain((partial > 0).then_some((full, partial as u16)))
}

/// Root of a complete subtree given its 2^k bottom hashes.
fn subtree_root(hashes: &[Hash]) -> Hash {
    if hashes.len() == 1 {
        return hashes[0];
    }
    let (left, right) = hashes.split_at(hashes.len() / 2);
    merkle::node_hash(&subtree_root(left), &subtree_root(right))
}

fn index_path(index: u64, width: u16) -> String {
    let mut groups = Vec::new();
    let mut n = index;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    let mut out: Vec<String> = groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i == last {
                format!("{g:03}")
            } else {
                format!("x{g:03}")
            }
        })
        .collect();
    if u64::from(width) != TILE_WIDTH {
        if let Some(tail) = out.last_mut() {
            tail.push_str(&format!(".p/{width}"));
        }
    }
    out.join("/")
}

fn parse_index_path(text: &str) -> Result<(u64, u16), DecodeError> {
    let (groups_text, width) = match text.split_once(".p/") {
        Some((g, w)) => {
            let w = codec::parse_decimal(w, "tile width")?;
            if w == 0 || w >= TILE_WIDTH {
                return Err(DecodeError::invalid(
                    "tile width",
                    format!("{w} is not in 1..=255"),
                ));
            }
            (g, w as u16)
        }
        None => (text, TILE_WIDTH as u16),
    };
    let groups: Vec<&str> = groups_text.split('/').collect();
    let mut index: u64 = 0;
    for (i, g) in groups.iter().enumerate() {
        let is_last = i + 1 == groups.len();
        let digits = if is_last {
            *g
        } else {
            g.strip_prefix('x').ok_or_else(|| {
                DecodeError::invalid("tile index", "inner path elements must start with x")
            })?
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DecodeError::invalid(
                "tile index",
                format!("`{g}` is not a 3-digit path element"),
            ));
        }
        if i == 0 && !is_last && digits == "000" {
            return Err(DecodeError::non_canonical(
                "tile index",
                "leading x000 element",
            ));
        }
        let value: u64 = digits
            .parse()
            .map_err(|_| DecodeError::invalid("tile index", "not a number"))?;
        index = index
            .checked_mul(1000)
            .and_then(|n| n.checked_add(value))
            .filter(|n| *n <= MAX_TREE_SIZE)
            .ok_or_else(|| DecodeError::invalid("tile index", "too large"))?;
    }
    Ok((index, width))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::MemoryTree;

    fn tree(n: u64) -> MemoryTree {
        MemoryTree::from_leaf_hashes((0..n).map(|i| merkle::leaf_hash(&i.to_le_bytes())))
    }

    fn tiles_of(t: &MemoryTree) -> TileSet {
        let mut set = TileSet::new();
        for id in tiles_for_size(t.size()) {
            set.insert(id, &tile_data(t, id).unwrap()).unwrap();
        }
        set
    }

    #[test]
    fn paths_follow_the_spec_examples() {
        let id = TileId {
            level: 0,
            index: 1_234_067,
            width: 256,
        };
        assert_eq!(id.path(), "tile/0/x001/x234/067");
        let id = TileId {
            level: 1,
            index: 5,
            width: 17,
        };
        assert_eq!(id.path(), "tile/1/005.p/17");
        assert_eq!(
            BundleId {
                index: 1000,
                width: 3
            }
            .path(),
            "tile/entries/x001/000.p/3"
        );
        for p in [
            "tile/0/x001/x234/067",
            "tile/1/005.p/17",
            "tile/entries/x001/000.p/3",
            "tile/63/000",
        ] {
            let parsed = TilePath::parse(p).unwrap();
            let again = match parsed {
                TilePath::Tile(t) => t.path(),
                TilePath::Entries(b) => b.path(),
            };
            assert_eq!(again, p);
        }
        for bad in [
            "tile/0/1",
            "tile/00/000",
            "tile/64/000",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/07",
            "tiles/0/000",
            "tile/0/x1234/000",
            "tile/entries/00a",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn tiles_for_size_matches_the_spec_example() {
        // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one
        // partial level 0 tile of width 112, one full level 1 tile, one partial
        // level 1 tile of width 17, and one partial level 2 tile of width 1."
        let ids = tiles_for_size(70_000);
        let level0: Vec<_> = ids.iter().filter(|t| t.level == 0).collect();
        assert_eq!(level0.iter().filter(|t| t.is_full()).count(), 273);
        assert_eq!(level0.last().unwrap().width, 112);
        let level1: Vec<_> = ids.iter().filter(|t| t.level == 1).collect();
        assert_eq!(
            level1.iter().map(|t| t.width).collect::<Vec<_>>(),
            vec![256, 17]
        );
        let level2: Vec<_> = ids.iter().filter(|t| t.level == 2).collect();
        assert_eq!(level2.iter().map(|t| t.width).collect::<Vec<_>>(), vec![1]);
        assert_eq!(ids.len(), 277);
        // "a tree of size 256 will be represented by a full level 0 tile and a
        // partial level 1 tile of width 1."
        assert_eq!(
            tiles_for_size(256),
            vec![
                TileId {
                    level: 0,
                    index: 0,
                    width: 256
                },
                TileId {
                    level: 1,
                    index: 0,
                    width: 1
                }
            ]
        );
        assert!(tiles_for_size(0).is_empty());
    }

    #[test]
    fn proofs_from_tiles_equal_proofs_from_memory() {
        for n in [1u64, 2, 255, 256, 257, 300, 511, 512, 513, 65_536 + 300] {
            let t = tree(n);
            let set = tiles_of(&t);
            set.verify(n, &t.root()).unwrap();
            assert_eq!(merkle::tree_root(&set, n).unwrap(), t.root());
            for index in [0, n / 3, n - 1] {
                assert_eq!(
                    merkle::inclusion_proof(&set, index, n).unwrap(),
                    merkle::inclusion_proof(&t, index, n).unwrap()
                );
            }
            for old in [1, n / 2, n.saturating_sub(1)] {
                if old > 0 && old < n {
                    assert_eq!(
                        merkle::consistency_proof(&set, old, n).unwrap(),
                        merkle::consistency_proof(&t, old, n).unwrap()
                    );
                }
            }
            for level in 0..12u32 {
                let index = (n >> level).saturating_sub(1);
                if n >> level > 0 {
                    let id = tile_for_node(level, index, n);
                    assert!(set.has(id), "tile {id} for node {level}/{index} of {n}");
                }
            }
        }
    }

    #[test]
    fn a_tampered_tile_is_caught() {
        let t = tree(600);
        let mut set = tiles_of(&t);
        set.verify(600, &t.root()).unwrap();
        let id = TileId {
            level: 0,
            index: 1,
            width: 256,
        };
        let mut bytes = tile_data(&t, id).unwrap();
        bytes[100] ^= 1;
        set.tiles.remove(&(0, 1));
        set.insert(id, &bytes).unwrap();
        assert_eq!(set.verify(600, &t.root()), Err(TileError::Tampered(id)));
        let mut partial = tiles_of(&t);
        partial.tiles.get_mut(&(0, 2)).unwrap()[3].0[0] ^= 1;
        assert_eq!(
            partial.verify(600, &t.root()),
            Err(TileError::RootMismatch { size: 600 })
        );
        let mut missing = tiles_of(&t);
        missing.tiles.remove(&(1, 0));
        assert!(matches!(
            missing.verify(600, &t.root()),
            Err(TileError::Missing(_))
        ));
    }

    #[test]
    fn bundles_round_trip_and_are_checked_against_tiles() {
        let entries: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; usize::from(i) * 10]).collect();
        let id = BundleId { index: 0, width: 3 };
        let bytes = encode_bundle(&entries).unwrap();
        let back = decode_bundle(id, &bytes).unwrap();
        assert_eq!(back, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let t = MemoryTree::from_leaf_hashes(entries.iter().map(|e| merkle::leaf_hash(e)));
        let set = tiles_of(&t);
        set.check_bundle(id, &back).unwrap();
        let mut swapped = back.clone();
        swapped.swap(1, 2);
        assert!(matches!(
            set.check_bundle(id, &swapped),
            Err(TileError::BundleMismatch { entry: 1, .. })
        ));

        assert!(matches!(
            decode_bundle(BundleId { index: 0, width: 4 }, &bytes),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            decode_bundle(BundleId { index: 0, width: 2 }, &bytes),
            Err(DecodeError::TrailingBytes { .. })
        ));
        assert!(decode_tile(
            TileId {
                level: 0,
                index: 0,
                width: 2
            },
            &[0u8; 63]
        )
        .is_err());
    }
}
