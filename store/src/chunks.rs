//! The chunk store: large chunks in `chunks/<2 hex>/<64 hex>.zst` files,
//! one per chunk, small ones many to a file in `packs/` (see [`crate::packs`]),
//! plus `manifests/<sha-256 hex>` and raw `blobs/<blake3 hex>` (delta patches).

use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use quince_protocol::limits::{MAX_COMPRESSED_CHUNK_BYTES, MAX_MANIFEST_BYTES};
use quince_protocol::manifest::{ChunkId, ChunkRef};
use quince_protocol::Hash;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::packs::{self, PackWriter, Packs, Sealed};
use crate::{io_err, StoreError};

/// A content-addressed store in a folder. Clones share what they know of
/// the folder's packs.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    packs: Arc<Mutex<Packs>>,
    pub(crate) dicts: crate::dicts::Shared,
    /// Batches of chunks this process made visible.
    arrived: Arc<std::sync::atomic::AtomicU64>,
}

impl Store {
    /// Opens (creating if needed) the store at `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        for sub in [
            "chunks",
            "packs",
            "manifests",
            "blobs",
            "deltas",
            "dicts",
            "tmp",
        ] {
            fs::create_dir_all(dir.join(sub)).map_err(io_err(dir))?;
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            packs: Arc::default(),
            dicts: Arc::default(),
            arrived: Arc::default(),
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
        self.checked_raw(chunk, compressed)?;
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
        // The batch skips chunks already stored by what it knows of the
        // packs: it looks at the folder once, now.
        self.packs().refresh(&self.dir.join("packs"), false);
        Batch {
            store: self,
            pending: Vec::new(),
            pack: None,
            sealed: Vec::new(),
            packed: 0,
            ids: HashSet::new(),
            #[cfg(feature = "write-back-early")]
            early: false,
        }
    }

    /// True if the chunk is stored.
    pub fn has(&self, id: &ChunkId) -> bool {
        self.has_known(id) || self.packed(id).is_some()
    }

    /// `chunks` less those stored, each once, in their order. One look for
    /// packs written elsewhere for all of them (where [`Store::has`] looks
    /// on every miss).
    pub fn lacking(&self, chunks: impl IntoIterator<Item = ChunkRef>) -> Vec<ChunkRef> {
        self.packs().refresh(&self.dir.join("packs"), false);
        let mut seen = HashSet::new();
        chunks
            .into_iter()
            .filter(|c| seen.insert(c.id) && !self.has_known(&c.id))
            .collect()
    }

    /// How many batches of chunks ([`Batch::finish`]) this process has made
    /// visible in the store (through any clone of it): what an unpack
    /// waiting for chunks watches.
    pub fn arrived(&self) -> u64 {
        self.arrived.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the chunk is in its own file or in a pack this process
    /// knows of (no look for packs written elsewhere since).
    pub(crate) fn has_known(&self, id: &ChunkId) -> bool {
        let known = self.packs().known(&self.dir.join("packs"), id);
        known.is_some_and(|(pack, _)| pack.exists()) || self.chunk_path(id).exists()
    }

    /// The stored compressed bytes (for serving to peers; they verify themselves).
    pub fn compressed(&self, id: &ChunkId) -> Result<Vec<u8>, StoreError> {
        let path = self.chunk_path(id);
        match read_capped(&path, MAX_COMPRESSED_CHUNK_BYTES).map_err(|e| missing_or(e, *id)) {
            Err(StoreError::MissingChunk(_)) => self.read_packed(id),
            other => other,
        }
    }

    /// Size of the stored compressed chunk.
    pub fn compressed_size(&self, id: &ChunkId) -> Result<u64, StoreError> {
        let path = self.chunk_path(id);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self
                .packed(id)
                .map(|(_, slot)| u64::from(slot.len))
                .ok_or(StoreError::MissingChunk(*id)),
            Err(e) => Err(StoreError::Io { path, source: e }),
        }
    }

    fn packs(&self) -> MutexGuard<'_, Packs> {
        self.packs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where chunk `id` is packed, if it is (a pack another process has
    /// replaced since this one looked is looked for again).
    fn packed(&self, id: &ChunkId) -> Option<(PathBuf, packs::Slot)> {
        let dir = self.dir.join("packs");
        let mut packs = self.packs();
        let found = packs.find(&dir, id)?;
        if found.0.exists() {
            return Some(found);
        }
        packs.refresh(&dir, true);
        packs.find(&dir, id)
    }

    /// A packed chunk's bytes. A pack replaced by another process since
    /// this one looked is looked for again once.
    fn read_packed(&self, id: &ChunkId) -> Result<Vec<u8>, StoreError> {
        for again in [false, true] {
            if again {
                self.packs().refresh(&self.dir.join("packs"), true);
            }
            let Some((path, slot)) = self.packed(id) else {
                break;
            };
            match packs::read_slot(&path, slot) {
                Ok(bytes) => return Ok(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::Io { path, source: e }),
            }
        }
        Err(StoreError::MissingChunk(*id))
    }

    /// A reader for many chunks in a row (unpacking a release): it keeps
    /// the pack it read last open.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            store: self,
            open: None,
            shared: None,
        }
    }

    /// The raw chunk, checked against its address and declared size.
    pub fn chunk(&self, chunk: &ChunkRef) -> Result<Vec<u8>, StoreError> {
        let compressed = self.compressed(&chunk.id)?;
        self.checked_raw(chunk, &compressed)
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

    /// Every chunk in the store once, with its compressed size. Files
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
        let loose: HashSet<ChunkId> = out.iter().map(|(id, _)| *id).collect();
        let mut packs = self.packs();
        packs.refresh(&self.dir.join("packs"), true);
        out.extend(packs.all().filter(|(id, _)| !loose.contains(id)));
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
        self.remove_chunks(&HashSet::from([*id]))
    }

    /// Deletes chunks (those not there are skipped). Each pack holding any
    /// of them is replaced by one without them: the new pack is durable
    /// before the old one goes, so a crash leaves a chunk in both, never in
    /// neither.
    pub fn remove_chunks(&self, ids: &HashSet<ChunkId>) -> Result<(), StoreError> {
        self.forget_dictionaries(ids)?;
        for id in ids {
            remove_if_there(&self.chunk_path(id))?;
        }
        let dir = self.dir.join("packs");
        let mut packs = self.packs();
        packs.refresh(&dir, true);
        for (name, index) in packs.holding(ids) {
            let old = dir.join(&*name);
            let keep: Vec<_> = index.iter().filter(|(id, _)| !ids.contains(id)).collect();
            if !keep.is_empty() {
                let mut from = File::open(&old).map_err(io_err(&old))?;
                let tmp = self.temp_name("pack");
                let mut writer = PackWriter::create(tmp.clone()).map_err(io_err(&tmp))?;
                for (id, slot) in keep {
                    let mut bytes = vec![0u8; slot.len as usize];
                    std::io::Seek::seek(&mut from, std::io::SeekFrom::Start(slot.offset))
                        .and_then(|_| from.read_exact(&mut bytes))
                        .map_err(io_err(&old))?;
                    writer.push(*id, &bytes).map_err(io_err(&tmp))?;
                }
                let sealed = writer.seal().map_err(io_err(&tmp))?;
                // (Windows flushes only through a handle open for writing:
                // sync_paths knows how on each system.)
                crate::sync_paths(&self.dir, std::iter::once(sealed.tmp.as_path()))?;
                let to = dir.join(&sealed.name);
                fs::rename(&sealed.tmp, &to).map_err(io_err(&to))?;
                crate::durable::sync_dir(&dir).map_err(io_err(&dir))?;
                packs.add(Arc::from(sealed.name.as_str()), sealed.index);
            }
            remove_if_there(&old)?;
            packs.forget(&name);
        }
        crate::durable::sync_dir(&dir).map_err(io_err(&dir))
    }

    /// Deletes temporary files (of writes cut short by a crash) last
    /// changed more than `age` ago; returns how many and their bytes. Only
    /// for a caller that keeps other writers out of the store meanwhile
    /// (`age` guards against one it cannot).
    pub fn remove_stale_temps(&self, age: std::time::Duration) -> Result<(usize, u64), StoreError> {
        let dir = self.dir.join("tmp");
        let now = std::time::SystemTime::now();
        let mut removed = (0, 0);
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))?.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            let old = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|d| d > age);
            if meta.is_file() && old {
                remove_if_there(&entry.path())?;
                removed.0 += 1;
                removed.1 += meta.len();
            }
        }
        Ok(removed)
    }

    /// A fresh name in `tmp/`, unique across processes and threads.
    fn temp_name(&self, what: &str) -> PathBuf {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.dir
            .join("tmp")
            .join(format!("{what}-{}-{n}", std::process::id()))
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

/// Reads chunks for one task, keeping the pack it read last open (a release
/// of 20,000 small files opened its pack 20,000 times) and the shared chunk
/// it read last (the files in one come one after another). Made by
/// [`Store::reader`]; what it reads is checked exactly like [`Store::chunk`].
#[derive(Debug)]
pub struct Reader<'s> {
    store: &'s Store,
    open: Option<(PathBuf, File)>,
    shared: Option<(ChunkId, Vec<u8>)>,
}

impl Reader<'_> {
    /// The raw chunk, checked against its address and declared size.
    pub fn chunk(&mut self, chunk: &ChunkRef) -> Result<Vec<u8>, StoreError> {
        let compressed = self.compressed(&chunk.id)?;
        self.store.checked_raw(chunk, &compressed)
    }

    /// A file's bytes, a piece at a time, to `each`: its chunks in order,
    /// or (`shared_at` set) its `size` bytes at that offset of its one
    /// chunk, which several files share (kept for the files read from it
    /// one after another; checked as [`Reader::chunk`] does, once).
    pub fn file<E: From<StoreError>>(
        &mut self,
        chunks: &[ChunkRef],
        shared_at: Option<u32>,
        size: u64,
        mut each: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let (Some(offset), [chunk]) = (shared_at, chunks) else {
            for chunk in chunks {
                each(&self.chunk(chunk)?)?;
            }
            return Ok(());
        };
        let raw = match self.shared.take() {
            Some((id, raw)) if id == chunk.id => raw,
            _ => self.chunk(chunk)?,
        };
        let (_, raw) = self.shared.insert((chunk.id, raw));
        // A verified manifest keeps the file inside the chunk.
        let piece = raw
            .get(offset as usize..)
            .and_then(|r| r.get(..usize::try_from(size).ok()?))
            .ok_or_else(|| StoreError::CorruptChunk {
                id: chunk.id,
                reason: "shorter than the manifest says".into(),
            })?;
        each(piece)
    }

    /// The stored compressed bytes, as [`Store::compressed`] gives them.
    pub fn compressed(&mut self, id: &ChunkId) -> Result<Vec<u8>, StoreError> {
        match self.known_packed(id) {
            Some(bytes) => Ok(bytes),
            None => self.store.compressed(id),
        }
    }

    /// The chunk's bytes from a pack this process knows holds it, through
    /// the open pack where it is that one; `None` if it is not known to be
    /// packed or the read failed (a pack replaced meanwhile: the store
    /// looks again).
    fn known_packed(&mut self, id: &ChunkId) -> Option<Vec<u8>> {
        let (path, slot) = self
            .store
            .packs()
            .known(&self.store.dir.join("packs"), id)?;
        if self.open.as_ref().is_none_or(|(open, _)| *open != path) {
            self.open = None;
            let file = crate::durable::open_regular(&path).ok()?;
            self.open = Some((path, file));
        }
        let (_, file) = self.open.as_mut()?;
        let read = packs::read_slot_from(file, slot);
        if read.is_err() {
            self.open = None;
        }
        read.ok()
    }
}

/// Chunk writes that become durable and visible together. Small chunks
/// go into one pack per batch (a new one every 32 MiB), large ones into
/// files of their own.
#[derive(Debug)]
pub struct Batch<'a> {
    store: &'a Store,
    pending: Vec<(PathBuf, PathBuf)>,
    pack: Option<PackWriter>,
    sealed: Vec<Sealed>,
    packed: usize,
    ids: HashSet<ChunkId>,
    /// Whether each file is handed to the disk as soon as it is written
    /// ([`Batch::write_back_early`]).
    #[cfg(feature = "write-back-early")]
    early: bool,
}

impl Batch<'_> {
    /// Starts writing each chunk file and pack to the disk as soon as it is
    /// complete (Linux; elsewhere nothing changes), so that
    /// [`Batch::finish`]'s sync finds little left to write: for a build,
    /// whose chunks are not read again soon (the pages written are let go
    /// of once on disk). Durability is unchanged: nothing is visible
    /// before `finish`, and `finish` still syncs. A build of 100 MiB spent
    /// 45 ms in that sync, 7 ms with this. (Feature `write-back-early`,
    /// which the packager turns on; the bootstrap has no use for it.)
    #[cfg(feature = "write-back-early")]
    pub fn write_back_early(&mut self) {
        self.early = true;
    }

    /// Asks the kernel to write `file` out now, without waiting for it.
    #[cfg(feature = "write-back-early")]
    fn write_back(&self, file: &fs::File) {
        #[cfg(target_os = "linux")]
        if self.early {
            // Only advice: if it fails, `finish` writes the file anyway.
            let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = file;
    }

    /// Like [`Store::put_chunk`], but durable only after [`Batch::finish`].
    pub fn put_chunk(
        &mut self,
        raw: &[u8],
        level: i32,
    ) -> Result<(ChunkId, u64, bool), StoreError> {
        let id = crate::chunk_id(raw);
        if !self.ids.contains(&id) {
            if let Ok(len) = self.store.compressed_size(&id) {
                return Ok((id, len, false));
            }
        }
        let compressed =
            crate::compress_chunk(raw, level).map_err(io_err(&self.store.chunk_path(&id)))?;
        if !self.ids.insert(id) {
            return Ok((id, compressed.len() as u64, false));
        }
        self.stage(id, &compressed)?;
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
        self.store.checked_raw(chunk, compressed)?;
        // (A copy another process stored meanwhile may be stored twice;
        // that is all.)
        if self.ids.contains(&chunk.id) || self.store.has_known(&chunk.id) {
            return Ok(false);
        }
        self.ids.insert(chunk.id);
        self.stage(chunk.id, compressed)?;
        Ok(true)
    }

    /// Whether chunk `id` is neither in the store nor in this batch. If
    /// so, it now counts as in the batch, and the caller must store it with
    /// [`Batch::put_claimed`] (for compressing chunks on other threads).
    pub fn claim(&mut self, id: &ChunkId) -> bool {
        !self.ids.contains(id) && !self.store.has_known(id) && self.ids.insert(*id)
    }

    /// Stores a chunk claimed with [`Batch::claim`], compressed on this
    /// machine (not checked again).
    pub fn put_claimed(&mut self, id: &ChunkId, compressed: &[u8]) -> Result<(), StoreError> {
        self.stage(*id, compressed)
    }

    /// Chunks written and not yet made durable.
    pub fn len(&self) -> usize {
        self.pending.len() + self.packed
    }

    /// Whether no chunk waits for [`Batch::finish`].
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes `bytes` (no sync yet): a small chunk to the batch's pack, a
    /// large one to a temporary file to be moved to its own name.
    fn stage(&mut self, id: ChunkId, bytes: &[u8]) -> Result<(), StoreError> {
        if bytes.len() <= packs::PACKED_MAX {
            if self.pack.is_none() {
                let tmp = self.store.temp_name("pack");
                self.pack = Some(PackWriter::create(tmp.clone()).map_err(io_err(&tmp))?);
            }
            if let Some(pack) = self.pack.as_mut() {
                if let Err(e) = pack.push(id, bytes) {
                    // The pack may hold part of the chunk: it is thrown
                    // away whole, and what else the batch holds is kept.
                    let tmp = pack.tmp().to_path_buf();
                    self.discard_pack();
                    return Err(io_err(&tmp)(e));
                }
                self.packed += 1;
                if pack.full() {
                    self.seal()?;
                }
            }
            return Ok(());
        }
        let tmp = self.store.temp_name("batch");
        self.write_new(&tmp, bytes)?;
        self.pending.push((tmp, self.store.chunk_path(&id)));
        Ok(())
    }

    /// Writes a chunk file (handed to the disk at once when asked for).
    fn write_new(&self, tmp: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        #[cfg(feature = "write-back-early")]
        if self.early {
            let mut file = fs::File::create(tmp).map_err(io_err(tmp))?;
            std::io::Write::write_all(&mut file, bytes).map_err(io_err(tmp))?;
            self.write_back(&file);
            return Ok(());
        }
        fs::write(tmp, bytes).map_err(io_err(tmp))
    }

    /// Finishes the pack being written (if any); one that cannot be
    /// finished is thrown away with its chunks.
    fn seal(&mut self) -> Result<(), StoreError> {
        let Some(pack) = self.pack.as_ref() else {
            return Ok(());
        };
        let tmp = pack.tmp().to_path_buf();
        let count = pack.len();
        let sealed = self.pack.take().map(PackWriter::seal);
        match sealed {
            Some(Ok(sealed)) => {
                #[cfg(feature = "write-back-early")]
                if self.early {
                    if let Ok(file) = fs::File::open(&sealed.tmp) {
                        self.write_back(&file);
                    }
                }
                self.sealed.push(sealed)
            }
            Some(Err(e)) => {
                let _ = fs::remove_file(&tmp);
                self.packed -= count;
                return Err(io_err(&tmp)(e));
            }
            None => {}
        }
        Ok(())
    }

    /// Throws away the pack being written and forgets its chunks.
    fn discard_pack(&mut self) {
        if let Some(pack) = self.pack.take() {
            let _ = fs::remove_file(pack.tmp());
            self.packed -= pack.len();
            for id in pack.ids() {
                self.ids.remove(&id);
            }
        }
    }

    /// Makes every chunk of the batch durable, then moves them into place:
    /// sync, rename all, sync again. A crash before the end leaves only
    /// temporary files, never a chunk with wrong bytes under its address.
    ///
    /// If the last pack cannot be finished (a full disk), the rest of the
    /// batch is still kept, and the error returned after.
    pub fn finish(mut self) -> Result<(), StoreError> {
        let sealing = self.seal();
        let pending = std::mem::take(&mut self.pending);
        let sealed = std::mem::take(&mut self.sealed);
        if pending.is_empty() && sealed.is_empty() {
            return sealing;
        }
        crate::sync_paths(
            &self.store.dir,
            pending
                .iter()
                .map(|(tmp, _)| tmp.as_path())
                .chain(sealed.iter().map(|s| s.tmp.as_path())),
        )?;
        for (tmp, path) in &pending {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
            }
            fs::rename(tmp, path).map_err(io_err(path))?;
        }
        let packs = self.store.dir.join("packs");
        for s in &sealed {
            let to = packs.join(&s.name);
            fs::rename(&s.tmp, &to).map_err(io_err(&to))?;
        }
        let mut dirs: std::collections::BTreeSet<&Path> =
            pending.iter().filter_map(|(_, p)| p.parent()).collect();
        if !sealed.is_empty() {
            dirs.insert(&packs);
        }
        crate::sync_paths(&self.store.dir, dirs.into_iter())?;
        let mut known = self.store.packs();
        for s in sealed {
            known.add(Arc::from(s.name.as_str()), s.index);
        }
        drop(known);
        self.store
            .arrived
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        crate::crash::point("chunk batch stored");
        sealing
    }
}

impl Drop for Batch<'_> {
    /// A batch dropped before [`Batch::finish`] (an error part way) leaves
    /// no temporary files behind.
    fn drop(&mut self) {
        let packs = self.pack.iter().map(|p| p.tmp());
        let sealed = self.sealed.iter().map(|s| s.tmp.as_path());
        let loose = self.pending.iter().map(|(tmp, _)| tmp.as_path());
        for tmp in packs.chain(sealed).chain(loose) {
            let _ = fs::remove_file(tmp);
        }
    }
}

pub(crate) fn remove_if_there(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
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
mod tests;
