//! The chunk store: `chunks/<2 hex>/<64 hex>.zst` files, one per chunk, plus
//! `manifests/<sha-256 hex>` and raw `blobs/<blake3 hex>` (delta patches).

use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use quince_protocol::limits::{MAX_COMPRESSED_CHUNK_BYTES, MAX_MANIFEST_BYTES};
use quince_protocol::manifest::{ChunkId, ChunkRef};
use quince_protocol::Hash;

use crate::{io_err, StoreError};

/// A content-addressed store in a folder.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store at `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        for sub in ["chunks", "manifests", "blobs", "deltas", "tmp"] {
            fs::create_dir_all(dir.join(sub)).map_err(io_err(dir))?;
        }
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Compresses and stores `raw` (if not there yet); returns its address, the
    /// compressed size, and whether it was new to the store.
    pub fn put_chunk(&self, raw: &[u8], level: i32) -> Result<(ChunkId, u64, bool), StoreError> {
        let id = crate::chunk_id(raw);
        let path = self.chunk_path(&id);
        if let Ok(meta) = fs::metadata(&path) {
            return Ok((id, meta.len(), false));
        }
        let compressed = crate::compress_chunk(raw, level).map_err(io_err(&path))?;
        self.write_atomic(&path, &compressed)?;
        Ok((id, compressed.len() as u64, true))
    }

    /// Stores a compressed chunk received from elsewhere, after checking that it
    /// decompresses to exactly `raw_size` bytes with the right address.
    pub fn put_compressed(&self, chunk: &ChunkRef, compressed: &[u8]) -> Result<(), StoreError> {
        if compressed.len() > MAX_COMPRESSED_CHUNK_BYTES {
            return Err(StoreError::CorruptChunk {
                id: chunk.id,
                reason: format!("{} compressed bytes", compressed.len()),
            });
        }
        checked_raw(chunk, compressed)?;
        let path = self.chunk_path(&chunk.id);
        if !path.exists() {
            self.write_atomic(&path, compressed)?;
            crate::crash::point("chunk stored");
        }
        Ok(())
    }

    /// Starts a batch of chunk writes made durable together by
    /// [`Batch::finish`]: two file-system syncs for the whole batch instead of
    /// one per chunk. Until `finish`, nothing of the batch is visible in the store.
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            store: self,
            pending: Vec::new(),
            ids: std::collections::HashSet::new(),
        }
    }

    /// True if the chunk is stored.
    pub fn has(&self, id: &ChunkId) -> bool {
        self.chunk_path(id).exists()
    }

    /// The stored compressed bytes (for serving to peers; they verify themselves).
    pub fn compressed(&self, id: &ChunkId) -> Result<Vec<u8>, StoreError> {
        let path = self.chunk_path(id);
        read_capped(&path, MAX_COMPRESSED_CHUNK_BYTES).map_err(|e| missing_or(e, *id))
    }

    /// Size of the stored compressed chunk.
    pub fn compressed_size(&self, id: &ChunkId) -> Result<u64, StoreError> {
        fs::metadata(self.chunk_path(id))
            .map(|m| m.len())
            .map_err(|e| {
                missing_or(
                    StoreError::Io {
                        path: self.chunk_path(id),
                        source: e,
                    },
                    *id,
                )
            })
    }

    /// The raw chunk, checked against its address and declared size.
    pub fn chunk(&self, chunk: &ChunkRef) -> Result<Vec<u8>, StoreError> {
        let compressed = self.compressed(&chunk.id)?;
        let raw = checked_raw(chunk, &compressed)?;
        Ok(raw)
    }

    /// Stores a manifest under its SHA-256.
    pub fn put_manifest(&self, bytes: &[u8]) -> Result<Hash, StoreError> {
        let hash = Hash::of(bytes);
        let path = self.dir.join("manifests").join(hash.to_hex());
        if !path.exists() {
            self.write_atomic(&path, bytes)?;
        }
        Ok(hash)
    }

    /// A stored manifest's bytes (the caller verifies them against a record).
    pub fn manifest(&self, hash: &Hash) -> Result<Vec<u8>, StoreError> {
        read_capped(
            &self.dir.join("manifests").join(hash.to_hex()),
            MAX_MANIFEST_BYTES,
        )
    }

    /// Stores the delta index that leads to the release with manifest `manifest`.
    pub fn put_deltas(&self, manifest: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
        self.write_atomic(&self.dir.join("deltas").join(manifest.to_hex()), bytes)
    }

    /// The delta index leading to the release with manifest `manifest`, if any.
    pub fn deltas(&self, manifest: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.dir.join("deltas").join(manifest.to_hex());
        if !path.exists() {
            return Ok(None);
        }
        read_capped(&path, MAX_MANIFEST_BYTES).map(Some)
    }

    /// Stores a raw blob (a delta patch) under its BLAKE3 address.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<ChunkId, StoreError> {
        let id = crate::chunk_id(bytes);
        let path = self.dir.join("blobs").join(id.to_hex());
        if !path.exists() {
            self.write_atomic(&path, bytes)?;
        }
        Ok(id)
    }

    /// A blob, checked against its address, at most `max` bytes.
    pub fn blob(&self, id: &ChunkId, max: usize) -> Result<Vec<u8>, StoreError> {
        let bytes = read_capped(&self.dir.join("blobs").join(id.to_hex()), max)
            .map_err(|e| missing_or(e, *id))?;
        if crate::chunk_id(&bytes) != *id {
            return Err(StoreError::CorruptChunk {
                id: *id,
                reason: "blob does not match its address".into(),
            });
        }
        Ok(bytes)
    }

    /// Every chunk in the store, with its compressed size on disk. Files
    /// whose names are not chunk addresses are left out.
    pub fn chunks(&self) -> Result<Vec<(ChunkId, u64)>, StoreError> {
        let root = self.dir.join("chunks");
        let mut out = Vec::new();
        for dir in fs::read_dir(&root).map_err(io_err(&root))? {
            let dir = dir.map_err(io_err(&root))?;
            if dir.file_type().map_err(io_err(&root))?.is_dir() {
                let found = self.named(&dir.path(), ".zst")?;
                out.extend(found.into_iter().map(|(h, len)| (ChunkId(h.0), len)));
            }
        }
        Ok(out)
    }

    /// Every patch in the store (`blobs/`), with its size.
    pub fn blobs(&self) -> Result<Vec<(ChunkId, u64)>, StoreError> {
        Ok(self
            .named(&self.dir.join("blobs"), "")?
            .into_iter()
            .map(|(h, len)| (ChunkId(h.0), len))
            .collect())
    }

    /// Deletes a patch (nothing if it is not there).
    pub fn remove_blob(&self, id: &ChunkId) -> Result<(), StoreError> {
        remove_if_there(&self.dir.join("blobs").join(id.to_hex()))
    }

    /// The manifests the store holds a delta index for.
    pub fn delta_indexes(&self) -> Result<Vec<Hash>, StoreError> {
        Ok(self
            .named(&self.dir.join("deltas"), "")?
            .into_iter()
            .map(|(h, _)| h)
            .collect())
    }

    /// Deletes the delta index leading to `manifest` (nothing if none).
    pub fn remove_deltas(&self, manifest: &Hash) -> Result<(), StoreError> {
        remove_if_there(&self.dir.join("deltas").join(manifest.to_hex()))
    }

    /// Files in `dir` named `<64 hex><suffix>`, with their sizes.
    fn named(&self, dir: &Path, suffix: &str) -> Result<Vec<(Hash, u64)>, StoreError> {
        let mut out = Vec::new();
        for file in fs::read_dir(dir).map_err(io_err(dir))? {
            let file = file.map_err(io_err(dir))?;
            let name = file.file_name();
            let Some(hash) = name
                .to_str()
                .and_then(|n| n.strip_suffix(suffix))
                .and_then(|hex| Hash::from_hex(hex, "name").ok())
            else {
                continue;
            };
            let len = file.metadata().map_err(io_err(&file.path()))?.len();
            out.push((hash, len));
        }
        Ok(out)
    }

    /// Deletes a chunk (nothing if it is not there).
    pub fn remove_chunk(&self, id: &ChunkId) -> Result<(), StoreError> {
        remove_if_there(&self.chunk_path(id))
    }

    fn chunk_path(&self, id: &ChunkId) -> PathBuf {
        let hex = id.to_hex();
        self.dir
            .join("chunks")
            .join(&hex[..2])
            .join(format!("{hex}.zst"))
    }

    /// Write to `tmp/`, fsync, rename into place, fsync the folder.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let dir = path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let tmp = self.dir.join("tmp").join(format!(
            "{}.{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("x"),
            std::process::id()
        ));
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(bytes).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, path).map_err(io_err(path))?;
        crate::durable::sync_dir(dir).map_err(io_err(dir))
    }
}

/// Chunk writes that become durable and visible together.
#[derive(Debug)]
pub struct Batch<'a> {
    store: &'a Store,
    pending: Vec<(PathBuf, PathBuf)>,
    ids: std::collections::HashSet<ChunkId>,
}

impl Batch<'_> {
    /// Like [`Store::put_chunk`], but durable only after [`Batch::finish`].
    pub fn put_chunk(
        &mut self,
        raw: &[u8],
        level: i32,
    ) -> Result<(ChunkId, u64, bool), StoreError> {
        let id = crate::chunk_id(raw);
        let path = self.store.chunk_path(&id);
        if let Ok(meta) = fs::metadata(&path) {
            return Ok((id, meta.len(), false));
        }
        let compressed = crate::compress_chunk(raw, level).map_err(io_err(&path))?;
        if !self.ids.insert(id) {
            return Ok((id, compressed.len() as u64, false));
        }
        self.stage(&compressed, path)?;
        Ok((id, compressed.len() as u64, true))
    }

    /// Like [`Store::put_compressed`] (the same checks), but durable only
    /// after [`Batch::finish`]. Returns whether the chunk was new.
    pub fn put_compressed(
        &mut self,
        chunk: &ChunkRef,
        compressed: &[u8],
    ) -> Result<bool, StoreError> {
        if compressed.len() > MAX_COMPRESSED_CHUNK_BYTES {
            return Err(StoreError::CorruptChunk {
                id: chunk.id,
                reason: format!("{} compressed bytes", compressed.len()),
            });
        }
        checked_raw(chunk, compressed)?;
        let path = self.store.chunk_path(&chunk.id);
        if self.ids.contains(&chunk.id) || path.exists() {
            return Ok(false);
        }
        self.ids.insert(chunk.id);
        self.stage(compressed, path)?;
        Ok(true)
    }

    /// Whether chunk `id` is neither in the store nor in this batch. If
    /// so, it now counts as in the batch, and the caller must store it with
    /// [`Batch::put_claimed`] (for compressing chunks on other threads).
    pub fn claim(&mut self, id: &ChunkId) -> bool {
        !self.store.chunk_path(id).exists() && self.ids.insert(*id)
    }

    /// Stores a chunk claimed with [`Batch::claim`], compressed on this
    /// machine (not checked again).
    pub fn put_claimed(&mut self, id: &ChunkId, compressed: &[u8]) -> Result<(), StoreError> {
        let path = self.store.chunk_path(id);
        self.stage(compressed, path)
    }

    /// Chunks written and not yet made durable.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no chunk waits for [`Batch::finish`].
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Writes `bytes` to a temporary file (no sync) to be moved to `path`.
    fn stage(&mut self, bytes: &[u8], path: PathBuf) -> Result<(), StoreError> {
        // Unique in the process: several batches may fill one store at once.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self
            .store
            .dir
            .join("tmp")
            .join(format!("batch-{}-{n}", std::process::id()));
        fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
        self.pending.push((tmp, path));
        Ok(())
    }

    /// Makes every chunk of the batch durable, then moves them into place:
    /// sync, rename all, sync again. A crash before the end leaves only
    /// temporary files, never a chunk with wrong bytes under its address.
    pub fn finish(mut self) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            return Ok(());
        }
        crate::sync_paths(
            &self.store.dir,
            pending.iter().map(|(tmp, _)| tmp.as_path()),
        )?;
        for (tmp, path) in &pending {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
            }
            fs::rename(tmp, path).map_err(io_err(path))?;
        }
        let dirs: std::collections::BTreeSet<&Path> =
            pending.iter().filter_map(|(_, p)| p.parent()).collect();
        crate::sync_paths(&self.store.dir, dirs.into_iter())?;
        crate::crash::point("chunk batch stored");
        Ok(())
    }
}

impl Drop for Batch<'_> {
    /// A batch dropped before [`Batch::finish`] (an error part way) leaves
    /// no temporary files behind.
    fn drop(&mut self) {
        for (tmp, _) in &self.pending {
            let _ = fs::remove_file(tmp);
        }
    }
}

fn remove_if_there(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Decompresses a chunk (capped at its declared size) and checks it against
/// its address.
fn checked_raw(chunk: &ChunkRef, compressed: &[u8]) -> Result<Vec<u8>, StoreError> {
    let corrupt = |reason: String| StoreError::CorruptChunk {
        id: chunk.id,
        reason,
    };
    let raw =
        decompress_capped(compressed, chunk.size as usize).map_err(|e| corrupt(e.to_string()))?;
    if crate::chunk_id(&raw) != chunk.id {
        return Err(corrupt("content does not match its address".into()));
    }
    Ok(raw)
}

/// Why compressed bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecompressError {
    /// Not a zstd frame, or a damaged one.
    #[error("does not decompress: {0}")]
    Malformed(String),
    /// It decompresses to another size than declared (a bomb is cut off at
    /// one byte more than declared).
    #[error("decompresses to {got}{} bytes, not the declared {declared}", if *.more { "+" } else { "" })]
    WrongSize {
        /// Bytes it gave (up to the cap).
        got: usize,
        /// Whether it would have given more.
        more: bool,
        /// Bytes declared.
        declared: usize,
    },
}

/// Decompresses a zstd frame, refusing more than `raw_size` bytes or fewer.
pub fn decompress_capped(compressed: &[u8], raw_size: usize) -> Result<Vec<u8>, DecompressError> {
    let decoder = zstd::stream::read::Decoder::new(compressed)
        .map_err(|e| DecompressError::Malformed(e.to_string()))?;
    let mut out = Vec::with_capacity(raw_size);
    decoder
        .take(raw_size as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecompressError::Malformed(e.to_string()))?;
    if out.len() != raw_size {
        return Err(DecompressError::WrongSize {
            got: out.len(),
            more: out.len() > raw_size,
            declared: raw_size,
        });
    }
    Ok(out)
}

fn read_capped(path: &Path, max: usize) -> Result<Vec<u8>, StoreError> {
    crate::durable::read_bounded(path, max).map_err(io_err(path))
}

fn missing_or(e: StoreError, id: ChunkId) -> StoreError {
    match e {
        StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            StoreError::MissingChunk(id)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fetched chunks in a batch are checked like single ones, invisible
    /// until the batch finishes, and a batch dropped part way leaves no
    /// temporary file.
    #[test]
    fn a_batch_of_received_chunks_is_checked_and_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let chunk = |raw: &[u8]| {
            let c = ChunkRef {
                id: ChunkId(*blake3::hash(raw).as_bytes()),
                size: raw.len() as u32,
            };
            (c, zstd::bulk::compress(raw, 3).unwrap())
        };
        let (a, a_bytes) = chunk(b"first chunk");
        let (b, b_bytes) = chunk(b"second chunk");
        let mut batch = store.batch();
        assert!(batch.put_compressed(&a, &a_bytes).unwrap());
        assert!(
            !batch.put_compressed(&a, &a_bytes).unwrap(),
            "counted twice"
        );
        let err = batch.put_compressed(&b, &a_bytes).unwrap_err();
        assert!(matches!(err, StoreError::CorruptChunk { .. }), "{err}");
        assert_eq!(batch.len(), 1);
        drop(batch);
        assert!(!store.has(&a.id));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);

        let mut batch = store.batch();
        batch.put_compressed(&a, &a_bytes).unwrap();
        batch.put_compressed(&b, &b_bytes).unwrap();
        assert!(!store.has(&a.id) && !store.has(&b.id));
        batch.finish().unwrap();
        assert_eq!(store.chunk(&b).unwrap(), b"second chunk");
        assert!(
            !store.batch().put_compressed(&a, &a_bytes).unwrap(),
            "already stored"
        );
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn chunks_round_trip_and_corruption_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let raw = b"hello quince ".repeat(1000);
        let mut batch = store.batch();
        let (bid, _, _) = batch.put_chunk(b"batched", 3).unwrap();
        assert!(!store.has(&bid), "a batch is invisible until it finishes");
        batch.finish().unwrap();
        assert_eq!(
            store.chunk(&ChunkRef { id: bid, size: 7 }).unwrap(),
            b"batched"
        );
        let (id, _, new) = store.put_chunk(&raw, 3).unwrap();
        assert!(new);
        assert!(!store.put_chunk(&raw, 3).unwrap().2);
        let r = ChunkRef {
            id,
            size: raw.len() as u32,
        };
        assert_eq!(store.chunk(&r).unwrap(), raw);
        // Declared size smaller than the real content: the cap refuses it.
        let err = store.chunk(&ChunkRef { id, size: 10 }).unwrap_err();
        assert!(err.to_string().contains("declared 10"), "{err}");
        // Bytes on disk replaced by another valid frame: the address check refuses it.
        let other = zstd::bulk::compress(&b"x".repeat(raw.len()), 3).unwrap();
        fs::write(store.chunk_path(&id), &other).unwrap();
        let err = store.chunk(&r).unwrap_err();
        assert!(
            err.to_string().contains("does not match its address"),
            "{err}"
        );
        assert!(matches!(
            store.chunk(&ChunkRef {
                id: ChunkId([9; 32]),
                size: 1
            }),
            Err(StoreError::MissingChunk(_))
        ));
        // A received chunk that does not match is never stored.
        let bad = ChunkRef {
            id: ChunkId([8; 32]),
            size: raw.len() as u32,
        };
        assert!(store.put_compressed(&bad, &other).is_err());
        assert!(!store.has(&bad.id));
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_declared_size() {
        let bomb = zstd::bulk::compress(&vec![0u8; 50 * 1024 * 1024], 19).unwrap();
        assert!(bomb.len() < 10_000);
        let err = decompress_capped(&bomb, 1024).unwrap_err();
        assert_eq!(
            err,
            DecompressError::WrongSize {
                got: 1025,
                more: true,
                declared: 1024
            }
        );
        assert!(
            err.to_string()
                .contains("1025+ bytes, not the declared 1024"),
            "{err}"
        );
    }
}
