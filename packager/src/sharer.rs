//! Small files gathered into shared chunks: compressed alone, a file of a
//! few KiB costs a third more than inside a tarball (zstd has nothing to
//! match it against); gathered a few hundred KiB at a time, in the walk's
//! order (a folder's files together), they compress about as well as in
//! one.
//!
//! A shared chunk ends after a file whose SHA-256 starts with a byte that
//! is a multiple of [`END_ONE_IN`], once it holds [`SHARED_MIN_BYTES`];
//! so where it ends depends on the files, not on where they sit, and a
//! file added or changed in one release changes only the chunk it is in
//! (the next ones end where they did). A chunk never grows past
//! [`MAX_CHUNK_BYTES`]. A file whose bytes are already in a shared chunk
//! of this build points at them instead of adding them again.
//!
//! Shared chunks of earlier releases (the manifests in the store) are kept
//! where this release still has at least half of their bytes: their files
//! point into them, so a client updating from such a release fetches only
//! the chunks of the small files that are new or changed (and of those
//! whose old chunk fell under half), not every chunk a changed file ended.
//! The price is the bytes of removed or changed files left in kept chunks,
//! under half of each, which a fresh install still downloads.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use quince_protocol::codec::Decode as _;
use quince_protocol::limits::{CHUNK_MIN_BYTES, MAX_CHUNK_BYTES};
use quince_protocol::manifest::{ChunkId, ChunkRef, EntryKind, Manifest};
use quince_protocol::path::RelPath;
use quince_protocol::record::Platform;
use quince_protocol::Hash;

use crate::build::{io, BuildError, Tally};
use crate::packer::Packer;

/// Files under this size are shared (larger ones are at least one
/// content-defined chunk of their own).
pub(crate) const SHARE_BELOW_BYTES: u64 = CHUNK_MIN_BYTES as u64;
/// A shared chunk holds at least this much before a file may end it. On
/// the PyPI wheels (5,471 small files) the small files took 1.11x their
/// bytes in one solid zstd -3 stream with 128 KiB, 1.05x with 512 KiB,
/// 1.03x with 1 MiB (estimated with python-zstandard); an update between
/// two of their releases fetched fewer bytes with 512 KiB than with 128.
pub(crate) const SHARED_MIN_BYTES: usize = 512 * 1024;
/// After that, one file in this many (by its hash) ends it.
pub(crate) const END_ONE_IN: u8 = 8;
/// A build looks for earlier shared chunks in this many of the newest
/// manifests in its store: a chunk kept from an older release is named
/// again by every release that kept it, so a chain of releases loses
/// nothing, and a store of hundreds of releases is not read whole.
pub(crate) const EARLIER_MANIFESTS: usize = 16;

/// A manifest key: a path, for every platform or for one.
pub(crate) type Key = (RelPath, Option<Platform>);

/// A file in an earlier shared chunk: its SHA-256, offset and size.
type Piece = (Hash, u32, u64);

/// The shared chunks of earlier releases whose manifests are in the store.
#[derive(Default)]
pub(crate) struct Earlier {
    /// Each chunk's distinct files.
    chunks: BTreeMap<ChunkId, (ChunkRef, Vec<Piece>)>,
    /// The SHA-256 of every file in one of them.
    files: HashSet<Hash>,
}

impl Earlier {
    /// Reads the newest [`EARLIER_MANIFESTS`] manifests in `store` (the
    /// releases staged from it) for shared chunks the store still holds.
    /// A manifest that cannot be read is passed over: this only saves
    /// bytes.
    pub(crate) fn from_store(store: &quince_store::Store) -> Earlier {
        let mut earlier = Earlier::default();
        let Ok(dir) = std::fs::read_dir(store.dir().join("manifests")) else {
            return earlier;
        };
        let mut named: Vec<(std::time::SystemTime, PathBuf)> = dir
            .filter_map(|e| {
                let e = e.ok()?;
                Some((e.metadata().ok()?.modified().ok()?, e.path()))
            })
            .collect();
        named.sort_by(|a, b| b.cmp(a));
        named.truncate(EARLIER_MANIFESTS);
        for (_, path) in named {
            let Some(m) = std::fs::read(&path)
                .ok()
                .and_then(|b| Manifest::from_bytes(&b).ok())
            else {
                continue;
            };
            for e in m.entries() {
                if let EntryKind::File {
                    size,
                    sha256,
                    chunks,
                    shared_at: Some(offset),
                    ..
                } = &e.kind
                {
                    let Some(chunk) = chunks.first() else {
                        continue;
                    };
                    let (_, files) = earlier
                        .chunks
                        .entry(chunk.id)
                        .or_insert_with(|| (*chunk, Vec::new()));
                    files.push((*sha256, *offset, *size));
                }
            }
        }
        earlier.chunks.retain(|id, _| store.has(id));
        for (_, files) in earlier.chunks.values_mut() {
            // Each content once (a chunk is in many manifests, a content
            // may be in it at more than one path).
            files.sort_by_key(|f| (f.0 .0, f.1));
            files.dedup_by_key(|f| f.0);
            earlier.files.extend(files.iter().map(|f| f.0));
        }
        earlier
    }
}

/// The shared chunks of one build.
#[derive(Default)]
pub(crate) struct Sharer {
    /// Earlier releases' shared chunks, which may be kept.
    earlier: Earlier,
    /// Files in one of them, decided at the end: key, SHA-256, path on disk.
    waiting: Vec<(Key, Hash, PathBuf)>,
    /// The chunk being filled.
    open: Vec<u8>,
    /// The contents in it: SHA-256 -> offset.
    in_open: HashMap<Hash, u32>,
    /// The contents in a closed chunk: SHA-256 -> (chunk number, offset).
    in_closed: HashMap<Hash, (usize, u32)>,
    /// The closed chunks, by number.
    closed: Vec<ChunkRef>,
    /// Each shared file: its key, chunk number and offset.
    files: Vec<(Key, usize, u32)>,
}

impl Sharer {
    /// A sharer that may keep the shared chunks of `earlier` releases.
    pub(crate) fn new(earlier: Earlier) -> Sharer {
        Sharer {
            earlier,
            ..Sharer::default()
        }
    }

    /// Adds a small file (1 to [`SHARE_BELOW_BYTES`] - 1 bytes), read from
    /// `on_disk`, whose entry under `key` [`Sharer::finish`] completes.
    pub(crate) fn add(
        &mut self,
        key: Key,
        data: Vec<u8>,
        sha256: Hash,
        on_disk: &Path,
        packer: &mut Packer<'_, '_>,
        stats: &mut Tally<'_>,
    ) -> Result<(), BuildError> {
        if self.earlier.files.contains(&sha256) {
            // In an earlier shared chunk: kept there, or read again at the
            // end (not held meanwhile: there may be many).
            self.waiting.push((key, sha256, on_disk.to_path_buf()));
            return Ok(());
        }
        self.pack(key, data, sha256, packer, stats)
    }

    /// Puts a file's bytes into the open chunk (or points at a copy).
    fn pack(
        &mut self,
        key: Key,
        data: Vec<u8>,
        sha256: Hash,
        packer: &mut Packer<'_, '_>,
        stats: &mut Tally<'_>,
    ) -> Result<(), BuildError> {
        if let Some(&(n, offset)) = self.in_closed.get(&sha256) {
            self.files.push((key, n, offset));
            return Ok(());
        }
        if let Some(&offset) = self.in_open.get(&sha256) {
            self.files.push((key, self.closed.len(), offset));
            return Ok(());
        }
        if self.open.len() + data.len() > MAX_CHUNK_BYTES as usize {
            self.close(packer, stats)?;
        }
        let offset = self.open.len() as u32;
        self.open.extend_from_slice(&data);
        self.in_open.insert(sha256, offset);
        self.files.push((key, self.closed.len(), offset));
        if self.open.len() >= SHARED_MIN_BYTES && sha256.0[0].is_multiple_of(END_ONE_IN) {
            self.close(packer, stats)?;
        }
        Ok(())
    }

    /// Stores the open chunk (if any).
    fn close(
        &mut self,
        packer: &mut Packer<'_, '_>,
        stats: &mut Tally<'_>,
    ) -> Result<(), BuildError> {
        if self.open.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.open);
        let size = data.len() as u32;
        let n = self.closed.len();
        let id = packer.put(data, stats)?;
        stats.stats.chunks += 1;
        self.closed.push(ChunkRef { id, size });
        for (sha, offset) in self.in_open.drain() {
            self.in_closed.insert(sha, (n, offset));
        }
        Ok(())
    }

    /// Stores the last chunk and fills in the chunk of every shared file's
    /// entry. A file that is all of its chunk (the only one in it) gets an
    /// ordinary entry.
    pub(crate) fn finish(
        mut self,
        packer: &mut Packer<'_, '_>,
        stats: &mut Tally<'_>,
        entries: &mut BTreeMap<Key, EntryKind>,
    ) -> Result<(), BuildError> {
        self.keep_or_repack(packer, stats)?;
        self.close(packer, stats)?;
        for (key, n, offset) in std::mem::take(&mut self.files) {
            let chunk = self.closed[n];
            if let Some(EntryKind::File {
                size,
                chunks,
                shared_at,
                ..
            }) = entries.get_mut(&key)
            {
                *chunks = vec![chunk];
                *shared_at = (*size < u64::from(chunk.size)).then_some(offset);
            }
        }
        Ok(())
    }
}

impl Sharer {
    /// Keeps each earlier shared chunk that holds at least half its bytes
    /// in files of this release (most kept bytes first), points those
    /// files into it, and packs the other waiting files anew, read again.
    fn keep_or_repack(
        &mut self,
        packer: &mut Packer<'_, '_>,
        stats: &mut Tally<'_>,
    ) -> Result<(), BuildError> {
        // The open chunk is numbered before the kept ones.
        self.close(packer, stats)?;
        let present: HashSet<Hash> = self.waiting.iter().map(|w| w.1).collect();
        let mut ranked: Vec<(u64, ChunkId)> = self
            .earlier
            .chunks
            .iter()
            .filter_map(|(id, (chunk, files))| {
                let kept: u64 = files
                    .iter()
                    .filter(|f| present.contains(&f.0))
                    .map(|f| f.2)
                    .sum();
                (2 * kept >= u64::from(chunk.size)).then_some((kept, *id))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut placed: HashMap<Hash, (usize, u32)> = HashMap::new();
        for (_, id) in ranked {
            let (chunk, files) = &self.earlier.chunks[&id];
            let n = self.closed.len();
            self.closed.push(*chunk);
            stats.stats.chunks += 1;
            for (sha, offset, _) in files {
                placed.entry(*sha).or_insert((n, *offset));
            }
        }
        for (key, sha256, on_disk) in std::mem::take(&mut self.waiting) {
            if let Some(&(n, offset)) = placed.get(&sha256) {
                self.files.push((key, n, offset));
                continue;
            }
            let data = std::fs::read(&on_disk).map_err(io(&on_disk))?;
            if quince_protocol::Hash::of(&data) != sha256 {
                return Err(BuildError::Changed(on_disk));
            }
            self.pack(key, data, sha256, packer, stats)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quince_protocol::codec::Encode as _;
    use quince_protocol::manifest::Entry;
    use std::collections::BTreeSet;
    use std::time::{Duration, SystemTime};

    /// A store of more releases than [`EARLIER_MANIFESTS`]: a build reads
    /// the newest of them (by when they were staged), and each file of a
    /// chunk once however many manifests name it.
    #[test]
    fn earlier_chunks_come_from_the_newest_manifests_only() {
        let t = tempfile::tempdir().unwrap();
        let store = quince_store::Store::open(t.path()).unwrap();
        let n = EARLIER_MANIFESTS + 4;
        let mut ids = Vec::new();
        // Staged newest first, so that names and times disagree.
        for i in (0..n).rev() {
            let mut bytes = vec![b'x'; 300];
            bytes.extend(format!("release {i}; ").repeat(30).bytes());
            let (id, ..) = store.put_chunk(&bytes, 3).unwrap();
            let half = bytes.len() / 2;
            let file = |name: &str, offset: usize| Entry {
                path: RelPath::parse(name).unwrap(),
                platforms: vec![],
                kind: EntryKind::File {
                    executable: false,
                    size: half as u64,
                    sha256: Hash::of(&bytes[offset..offset + half]),
                    chunks: vec![ChunkRef {
                        id,
                        size: bytes.len() as u32,
                    }],
                    shared_at: Some(offset as u32),
                },
            };
            for copy in ["a", "b"] {
                let m = Manifest::new(vec![], vec![file(copy, 0), file("c", half)]).unwrap();
                let hash = store.put_manifest(&m.to_bytes()).unwrap();
                let staged = std::fs::File::options()
                    .write(true)
                    .open(t.path().join("manifests").join(hash.to_hex()))
                    .unwrap();
                let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + i as u64);
                staged.set_modified(when).unwrap();
            }
            ids.push((i, id));
        }
        let earlier = Earlier::from_store(&store);
        let read: BTreeSet<ChunkId> = earlier.chunks.keys().copied().collect();
        let newest: BTreeSet<ChunkId> = ids
            .iter()
            .filter(|(i, _)| *i >= n - EARLIER_MANIFESTS / 2)
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(read, newest, "two manifests a release");
        for (_, files) in earlier.chunks.values() {
            assert_eq!(files.len(), 2, "{files:?}");
        }
        assert_eq!(earlier.files.len(), EARLIER_MANIFESTS);
    }
}
