//! zstd dictionaries for small chunks.
//!
//! A release of many small files compresses badly one file at a time: each
//! chunk starts with an empty window. The packager then trains a zstd
//! dictionary on the release's small files and compresses its small chunks
//! with it. The dictionary is stored as an ordinary chunk (compressed
//! without a dictionary, addressed by the BLAKE3 of its raw bytes) and
//! named in the manifest, so it is fetched, served, bundled and kept like
//! any chunk.
//!
//! A chunk compressed with a dictionary says which in its zstd frame header
//! (the dictionary's 32-bit id). The store finds the dictionary by that id
//! in `dicts/`, one empty file per dictionary it has learnt, named
//! `<id as 8 hex>-<chunk address>-<raw size>`. Ids are not unique across
//! publishers, so every dictionary with the id is tried; the chunk's own
//! address decides which result is right, and a wrong or hostile dictionary
//! can only fail that check.

use std::collections::HashSet;
use std::fs;
use std::sync::{Arc, Mutex, MutexGuard};

use quince_protocol::limits::MAX_DICTIONARY_BYTES;
use quince_protocol::manifest::{ChunkId, ChunkRef};
use zstd::zstd_safe::DDict;

use crate::{io_err, Store, StoreError};

/// What a store knows of its dictionaries: each with its zstd id, ready
/// for decompression (a list: a store holds a few).
#[derive(Default)]
pub(crate) struct Dictionaries {
    loaded: Vec<(u32, ChunkId, Arc<DDict<'static>>)>,
}

impl std::fmt::Debug for Dictionaries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dictionaries({})", self.loaded.len())
    }
}

/// The zstd dictionary id that compressed bytes need (`None`: none).
pub fn frame_dictionary(compressed: &[u8]) -> Option<u32> {
    zstd::zstd_safe::get_dict_id_from_frame(compressed).map(|id| id.get())
}

/// The id of a zstd dictionary in its raw bytes (`None`: not a zstd
/// dictionary with an id).
pub fn dictionary_id(raw: &[u8]) -> Option<u32> {
    zstd::zstd_safe::get_dict_id_from_dict(raw).map(|id| id.get())
}

impl Store {
    fn dicts(&self) -> MutexGuard<'_, Dictionaries> {
        self.dicts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the stored chunk `dict`, a zstd dictionary, usable for the
    /// chunks compressed with it (by every process that opens this store
    /// later, too). Returns its zstd id. Refused: a chunk that is missing,
    /// corrupt, itself compressed with a dictionary, too large, or not a
    /// zstd dictionary.
    pub fn learn_dictionary(&self, dict: &ChunkRef) -> Result<u32, StoreError> {
        let refuse = |reason: &str| StoreError::CorruptChunk {
            id: dict.id,
            reason: format!("as a zstd dictionary: {reason}"),
        };
        if dict.size as usize > MAX_DICTIONARY_BYTES {
            return Err(refuse("larger than a dictionary may be"));
        }
        let compressed = self.compressed(&dict.id)?;
        if frame_dictionary(&compressed).is_some() {
            return Err(refuse("it is itself compressed with a dictionary"));
        }
        let raw = self.checked_raw(dict, &compressed)?;
        let id = dictionary_id(&raw).ok_or_else(|| refuse("no zstd dictionary header"))?;
        // The index entry is not synced: whoever fetches or builds a
        // release learns its dictionaries again, so a crash loses nothing
        // that the next fetch does not put back.
        let name = format!("{id:08x}-{}-{}", dict.id, dict.size);
        let path = self.dir().join("dicts").join(name);
        fs::File::create(&path).map_err(io_err(&path))?;
        if !self.dicts().loaded.iter().any(|(_, c, _)| *c == dict.id) {
            let ddict = DDict::try_create(&raw).ok_or_else(|| refuse("zstd cannot load it"))?;
            self.dicts().loaded.push((id, dict.id, Arc::new(ddict)));
        }
        Ok(id)
    }

    /// Every dictionary this store has learnt (from any process), as the
    /// chunks that hold them, with their zstd ids, in no particular order.
    pub fn dictionaries(&self) -> Result<Vec<(u32, ChunkRef)>, StoreError> {
        let dir = self.dir().join("dicts");
        let mut out = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            if let Some(found) = entry.file_name().to_str().and_then(parse_name) {
                out.push(found);
            }
        }
        Ok(out)
    }

    /// The dictionaries with zstd id `id` this store can use, loading any
    /// it learnt in another process. Dictionaries whose chunks are gone or
    /// damaged are left out.
    pub(crate) fn dictionaries_with_id(&self, id: u32) -> Vec<Arc<DDict<'static>>> {
        let known = |store: &Store| -> Vec<Arc<DDict<'static>>> {
            let dicts = store.dicts();
            let found = dicts.loaded.iter().filter(|(i, _, _)| *i == id);
            found.map(|(_, _, d)| d.clone()).collect()
        };
        let found = known(self);
        if !found.is_empty() {
            return found;
        }
        for (i, dict) in self.dictionaries().unwrap_or_default() {
            if i == id {
                let _ = self.learn_dictionary(&dict);
            }
        }
        known(self)
    }

    /// The dictionaries that the stored compressed forms of `chunks` need
    /// (what a manifest naming those chunks must name, so that a peer who
    /// gets them from this store can read them).
    pub fn dictionaries_needed(
        &self,
        chunks: impl IntoIterator<Item = ChunkId>,
    ) -> Result<Vec<ChunkRef>, StoreError> {
        let known = self.dictionaries()?;
        let mut ids = HashSet::new();
        let mut reader = self.reader();
        for chunk in chunks.into_iter().collect::<HashSet<_>>() {
            if let Some(id) = frame_dictionary(&reader.compressed(&chunk)?) {
                if !known.iter().any(|(k, _)| *k == id) {
                    return Err(StoreError::CorruptChunk {
                        id: chunk,
                        reason: format!(
                            "it needs zstd dictionary {id:08x}, which this store does not hold"
                        ),
                    });
                }
                ids.insert(id);
            }
        }
        let mut out: Vec<ChunkRef> = known
            .into_iter()
            .filter(|(id, _)| ids.contains(id))
            .map(|(_, d)| d)
            .collect();
        out.sort_by_key(|d| d.id);
        out.dedup_by_key(|d| d.id);
        Ok(out)
    }

    /// Forgets the dictionaries among `removed` chunks.
    pub(crate) fn forget_dictionaries(&self, removed: &HashSet<ChunkId>) -> Result<(), StoreError> {
        let dir = self.dir().join("dicts");
        for (id, dict) in self.dictionaries()? {
            if removed.contains(&dict.id) {
                let path = dir.join(format!("{id:08x}-{}-{}", dict.id, dict.size));
                crate::chunks::remove_if_there(&path)?;
                self.dicts().loaded.retain(|(_, c, _)| *c != dict.id);
            }
        }
        Ok(())
    }
}

/// `<id>-<chunk>-<size>` back to its parts.
fn parse_name(name: &str) -> Option<(u32, ChunkRef)> {
    let mut parts = name.split('-');
    let id = u32::from_str_radix(parts.next()?, 16).ok()?;
    let chunk = quince_protocol::Hash::from_hex(parts.next()?, "dictionary").ok()?;
    let size: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || size == 0 {
        return None;
    }
    Some((
        id,
        ChunkRef {
            id: ChunkId(chunk.0),
            size,
        },
    ))
}

/// Keeps the mutex type named in one place.
pub(crate) type Shared = Arc<Mutex<Dictionaries>>;
