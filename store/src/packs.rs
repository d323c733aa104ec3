//! Pack files: small chunks kept many to a file.
//!
//! One file per chunk made creating files the cost of building or installing
//! a tree of many small files, and each chunk took at least a whole disk
//! block. A batch's small chunks (compressed to at most [`PACKED_MAX`]
//! bytes) therefore go into one pack: the compressed chunks back to back,
//! then an index.
//!
//! ```text
//! "QPACK01\n"                      8 bytes
//! compressed chunks                back to back
//! index, per chunk                 address (32) | offset (u64 LE) | length (u32 LE)
//! trailer                          count (u32 LE) | "QPACKIDX"
//! ```
//!
//! A pack is written under a temporary name, made durable and renamed to
//! `packs/<BLAKE3 of its bytes>.pack`; it never changes after that, and is
//! only replaced by a smaller one when chunks are deleted. Another process
//! may add or replace packs at any time, so a reader looks at the folder
//! again when a chunk is not where it expected. Packs can come from elsewhere
//! (a friend's bundle), so an index is read with bounds, a pack whose index
//! does not hold together is ignored, and every chunk read from a pack is
//! checked against its address like any other.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use quince_protocol::limits::MAX_COMPRESSED_CHUNK_BYTES;
use quince_protocol::manifest::ChunkId;

const MAGIC: &[u8; 8] = b"QPACK01\n";
const TRAILER_MAGIC: &[u8; 8] = b"QPACKIDX";
const ENTRY_BYTES: usize = 44;
const TRAILER_BYTES: usize = 12;

/// Compressed chunks of at most this many bytes go into packs; larger ones
/// stay one file each (deleting one never rewrites a pack).
pub const PACKED_MAX: usize = 64 * 1024;
/// A batch starts a new pack once the one it writes holds this many bytes.
const PACK_TARGET: u64 = 32 << 20;
/// Most chunks one pack may index; a pack claiming more is ignored.
const PACK_MAX_ENTRIES: usize = 1 << 16;
/// Most chunks indexed from all packs together (bounds the memory a folder
/// of hostile packs can take); packs beyond it are not read.
const MAX_INDEXED: usize = 1 << 21;

/// Where a chunk is in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Byte offset of the compressed chunk.
    pub offset: u64,
    /// Its length.
    pub len: u32,
}

/// A pack's index: its chunks and where they are.
pub type Index = Vec<(ChunkId, Slot)>;

/// Reads a pack's index from a pack held in memory (what a store does
/// from a file, for the fuzzer): the chunks it lists, or why it is refused.
pub fn index_of(pack: &[u8]) -> Result<Index, String> {
    let len = pack.len() as u64;
    if pack.len() < MAGIC.len() + TRAILER_BYTES || &pack[..MAGIC.len()] != MAGIC {
        return Err("not a pack".into());
    }
    let count = count_of(len, &pack[pack.len() - TRAILER_BYTES..])?;
    let start = pack.len() - TRAILER_BYTES - count * ENTRY_BYTES;
    entries_of(len, &pack[start..pack.len() - TRAILER_BYTES])
}

/// The chunk count a trailer declares, checked against the file's length.
fn count_of(file_len: u64, trailer: &[u8]) -> Result<usize, String> {
    if trailer.len() != TRAILER_BYTES || &trailer[4..] != TRAILER_MAGIC {
        return Err("no pack index at the end".into());
    }
    let count = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]) as usize;
    if count > PACK_MAX_ENTRIES {
        return Err(format!(
            "index claims {count} chunks (at most {PACK_MAX_ENTRIES})"
        ));
    }
    let needed = (MAGIC.len() + TRAILER_BYTES + count * ENTRY_BYTES) as u64;
    if needed > file_len {
        return Err(format!(
            "index of {count} chunks does not fit in {file_len} bytes"
        ));
    }
    Ok(count)
}

/// The entries of an index whose bytes are `index` (the count checked
/// already); every chunk must lie between the magic and the index.
fn entries_of(file_len: u64, index: &[u8]) -> Result<Index, String> {
    let data_end = file_len - (index.len() + TRAILER_BYTES) as u64;
    let mut out = Vec::with_capacity(index.len() / ENTRY_BYTES);
    for e in index.chunks_exact(ENTRY_BYTES) {
        let mut id = [0u8; 32];
        id.copy_from_slice(&e[..32]);
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&e[32..40]);
        let offset = u64::from_le_bytes(offset);
        let len = u32::from_le_bytes([e[40], e[41], e[42], e[43]]);
        let end = offset.checked_add(u64::from(len));
        if offset < MAGIC.len() as u64
            || end.is_none_or(|end| end > data_end)
            || len as usize > MAX_COMPRESSED_CHUNK_BYTES
        {
            return Err(format!(
                "chunk {} at {offset}+{len} lies outside the pack's data",
                ChunkId(id)
            ));
        }
        out.push((ChunkId(id), Slot { offset, len }));
    }
    Ok(out)
}

/// Reads the index of the pack at `path`, reading only the trailer and the
/// index (bounded by [`PACK_MAX_ENTRIES`]).
fn read_index(path: &Path) -> Result<Index, String> {
    let mut file = crate::durable::open_regular(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len < (MAGIC.len() + TRAILER_BYTES) as u64 {
        return Err("not a pack".into());
    }
    let mut magic = [0u8; 8];
    file.read_exact(&mut magic).map_err(|e| e.to_string())?;
    if &magic != MAGIC {
        return Err("not a pack".into());
    }
    let mut trailer = [0u8; TRAILER_BYTES];
    file.seek(SeekFrom::Start(len - TRAILER_BYTES as u64))
        .and_then(|_| file.read_exact(&mut trailer))
        .map_err(|e| e.to_string())?;
    let count = count_of(len, &trailer)?;
    let mut index = vec![0u8; count * ENTRY_BYTES];
    file.seek(SeekFrom::Start(len - (TRAILER_BYTES + index.len()) as u64))
        .and_then(|_| file.read_exact(&mut index))
        .map_err(|e| e.to_string())?;
    entries_of(len, &index)
}

/// Reads one chunk's bytes from a pack.
pub(crate) fn read_slot(path: &Path, slot: Slot) -> io::Result<Vec<u8>> {
    read_slot_from(&mut crate::durable::open_regular(path)?, slot)
}

/// The bytes of `slot` in the open pack `file`.
pub(crate) fn read_slot_from(file: &mut File, slot: Slot) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(slot.offset))?;
    let mut out = vec![0u8; slot.len as usize];
    file.read_exact(&mut out)?;
    Ok(out)
}

/// A pack being written under a temporary name.
#[derive(Debug)]
pub(crate) struct PackWriter {
    tmp: PathBuf,
    file: io::BufWriter<File>,
    hasher: blake3::Hasher,
    index: Index,
    len: u64,
}

/// A pack written in full (not yet durable, not yet in `packs/`).
#[derive(Debug)]
pub(crate) struct Sealed {
    pub(crate) tmp: PathBuf,
    pub(crate) name: String,
    pub(crate) index: Index,
}

impl PackWriter {
    pub(crate) fn create(tmp: PathBuf) -> io::Result<PackWriter> {
        let mut w = PackWriter {
            file: io::BufWriter::with_capacity(256 * 1024, File::create(&tmp)?),
            tmp,
            hasher: blake3::Hasher::new(),
            index: Vec::new(),
            len: 0,
        };
        w.write(MAGIC)?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Appends a compressed chunk (the caller keeps the chunks of one pack distinct).
    pub(crate) fn push(&mut self, id: ChunkId, compressed: &[u8]) -> io::Result<()> {
        let slot = Slot {
            offset: self.len,
            len: compressed.len() as u32,
        };
        self.write(compressed)?;
        self.index.push((id, slot));
        Ok(())
    }

    /// Whether the pack should be sealed and another started.
    pub(crate) fn full(&self) -> bool {
        self.len >= PACK_TARGET || self.index.len() >= PACK_MAX_ENTRIES
    }

    pub(crate) fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// Chunks written so far.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Their addresses.
    pub(crate) fn ids(&self) -> impl Iterator<Item = ChunkId> + '_ {
        self.index.iter().map(|(id, _)| *id)
    }

    /// Writes the index and the trailer; the pack is named by its bytes.
    pub(crate) fn seal(mut self) -> io::Result<Sealed> {
        let index = std::mem::take(&mut self.index);
        for (id, slot) in &index {
            self.write(&id.0)?;
            self.write(&slot.offset.to_le_bytes())?;
            self.write(&slot.len.to_le_bytes())?;
        }
        self.write(&(index.len() as u32).to_le_bytes())?;
        self.write(TRAILER_MAGIC)?;
        self.file.flush()?;
        Ok(Sealed {
            name: format!("{}.pack", self.hasher.finalize().to_hex()),
            tmp: self.tmp,
            index,
        })
    }
}

/// The packs of one store as this process last saw them.
#[derive(Debug, Default)]
pub(crate) struct Packs {
    /// Each pack read, by file name.
    loaded: HashMap<Arc<str>, Index>,
    /// Where each chunk is (one of the packs holding it).
    at: HashMap<ChunkId, (Arc<str>, Slot)>,
    /// The folder's modification time, and when it was looked at.
    seen: Option<(SystemTime, SystemTime)>,
}

impl Packs {
    /// Where chunk `id` is, looking at the folder again if it is not where
    /// this process knows of.
    /// Where `id` is packed, as far as this process knows (no look at the folder).
    pub(crate) fn known(&self, dir: &Path, id: &ChunkId) -> Option<(PathBuf, Slot)> {
        self.at
            .get(id)
            .map(|(name, slot)| (dir.join(&**name), *slot))
    }

    pub(crate) fn find(&mut self, dir: &Path, id: &ChunkId) -> Option<(PathBuf, Slot)> {
        if !self.at.contains_key(id) {
            self.refresh(dir, false);
        }
        self.at
            .get(id)
            .map(|(name, slot)| (dir.join(&**name), *slot))
    }

    /// Reads the folder's listing again if it changed since the last look
    /// (or always, with `force`): new packs are indexed, vanished ones forgotten.
    pub(crate) fn refresh(&mut self, dir: &Path, force: bool) {
        let Ok(mtime) = fs::metadata(dir).and_then(|m| m.modified()) else {
            return;
        };
        let now = SystemTime::now();
        if let Some((seen, at)) = self.seen {
            // A folder changed within the same tick of a coarse clock as the
            // last look keeps its time: look again (every 50 ms at most)
            // until that tick is well past.
            let settled = at.duration_since(mtime).unwrap_or_default() > Duration::from_secs(2);
            let lately = now.duration_since(at).unwrap_or_default() < Duration::from_millis(50);
            if !force && seen == mtime && (settled || lately) {
                return;
            }
        }
        let Ok(list) = fs::read_dir(dir) else { return };
        let mut present = HashSet::new();
        for entry in list.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str().filter(|n| is_pack_name(n)) else {
                continue;
            };
            present.insert(name.to_string());
        }
        let before = self.loaded.len();
        self.loaded.retain(|name, _| present.contains(&**name));
        let forgot = self.loaded.len() != before;
        let mut indexed: usize = self.loaded.values().map(Vec::len).sum();
        let mut names: Vec<String> = present
            .into_iter()
            .filter(|n| !self.loaded.contains_key(n.as_str()))
            .collect();
        names.sort();
        for name in names {
            let Ok(index) = read_index(&dir.join(&name)) else {
                continue; // not a pack, or a damaged one: its chunks are missing
            };
            if indexed + index.len() > MAX_INDEXED {
                break;
            }
            indexed += index.len();
            self.add(Arc::from(name.as_str()), index);
        }
        if forgot {
            self.reindex();
        }
        self.seen = Some((mtime, now));
    }

    /// Knows of a pack (one this process just wrote, or found).
    pub(crate) fn add(&mut self, name: Arc<str>, index: Index) {
        for (id, slot) in &index {
            self.at.entry(*id).or_insert((name.clone(), *slot));
        }
        self.loaded.insert(name, index);
    }

    /// Forgets a pack (one this process replaced).
    pub(crate) fn forget(&mut self, name: &str) {
        if self.loaded.remove(name).is_some() {
            self.reindex();
        }
    }

    fn reindex(&mut self) {
        self.at.clear();
        for (name, index) in &self.loaded {
            for (id, slot) in index {
                self.at.entry(*id).or_insert((name.clone(), *slot));
            }
        }
    }

    /// Every packed chunk once, with its compressed size.
    pub(crate) fn all(&self) -> impl Iterator<Item = (ChunkId, u64)> + '_ {
        self.at
            .iter()
            .map(|(id, (_, slot))| (*id, u64::from(slot.len)))
    }

    /// The packs holding any of `ids`, with their indexes.
    pub(crate) fn holding(&self, ids: &HashSet<ChunkId>) -> Vec<(Arc<str>, Index)> {
        let mut out: Vec<(Arc<str>, Index)> = self
            .loaded
            .iter()
            .filter(|(_, index)| index.iter().any(|(id, _)| ids.contains(id)))
            .map(|(name, index)| (name.clone(), index.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

fn is_pack_name(name: &str) -> bool {
    name.strip_suffix(".pack")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack_of(chunks: &[(&[u8], &[u8])]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PackWriter::create(dir.path().join("p")).unwrap();
        for (i, (id, bytes)) in chunks.iter().enumerate() {
            let mut a = [i as u8; 32];
            a[..id.len()].copy_from_slice(id);
            w.push(ChunkId(a), bytes).unwrap();
        }
        let sealed = w.seal().unwrap();
        fs::read(sealed.tmp).unwrap()
    }

    /// An index reads back as written; a damaged or lying one is refused
    /// with its reason, never read past the file.
    #[test]
    fn an_index_reads_back_and_a_lying_one_is_refused() {
        let pack = pack_of(&[(b"a", b"first"), (b"b", b"second chunk")]);
        let index = index_of(&pack).unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(
            index[1].1,
            Slot {
                offset: 13,
                len: 12
            }
        );
        assert_eq!(&pack[13..25], b"second chunk");

        let n = pack.len();
        let mut count = pack.clone();
        count[n - 12] = 200; // claims 200 chunks
        assert!(index_of(&count).unwrap_err().contains("does not fit"));
        let mut huge = pack.clone();
        huge[n - 9] = 0x7f;
        assert!(index_of(&huge).unwrap_err().contains("at most"));
        let mut offset = pack.clone();
        let second = n - 12 - 44;
        offset[second + 32..second + 40].copy_from_slice(&(n as u64).to_le_bytes());
        assert!(index_of(&offset).unwrap_err().contains("outside"));
        let mut magic = pack.clone();
        magic[n - 1] ^= 1;
        assert!(index_of(&magic).is_err());
        assert!(index_of(&pack[..10]).is_err());
        assert!(index_of(b"").is_err());
    }
}
