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

use std::collections::{BTreeMap, HashMap};

use quince_protocol::limits::{CHUNK_MIN_BYTES, MAX_CHUNK_BYTES};
use quince_protocol::manifest::{ChunkRef, EntryKind};
use quince_protocol::path::RelPath;
use quince_protocol::record::Platform;
use quince_protocol::Hash;

use crate::build::{BuildError, Tally};
use crate::packer::Packer;

/// Files under this size are shared (larger ones are at least one
/// content-defined chunk of their own).
pub(crate) const SHARE_BELOW_BYTES: u64 = CHUNK_MIN_BYTES as u64;
/// A shared chunk holds at least this much before a file may end it.
pub(crate) const SHARED_MIN_BYTES: usize = 128 * 1024;
/// After that, one file in this many (by its hash) ends it.
pub(crate) const END_ONE_IN: u8 = 8;

/// A manifest key: a path, for every platform or for one.
pub(crate) type Key = (RelPath, Option<Platform>);

/// The shared chunks of one build.
#[derive(Default)]
pub(crate) struct Sharer {
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
    /// Adds a small file (1 to [`SHARE_BELOW_BYTES`] - 1 bytes) whose entry
    /// under `key` [`Sharer::finish`] completes.
    pub(crate) fn add(
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
        self.close(packer, stats)?;
        for (key, n, offset) in self.files {
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
