//! zstd patches between two versions of a file, as `zstd --patch-from` makes
//! them: the old file is the reference prefix, with long-distance matching and
//! a window large enough to reach all of it. Applying one is capped at the new
//! file's declared size and checked against its declared SHA-256.
//!
//! A file of [`SEGMENTED_FROM`] bytes or more is patched by segments, so
//! that neither making nor applying a patch holds either file whole: each
//! [`SEGMENT_BYTES`] of the new file is one zstd frame whose reference is
//! the stretch of the old file it most likely came from (found through the
//! chunks the two versions share), with [`REFERENCE_MARGIN`] on each side.
//! Such a patch is a small header and the frames:
//!
//! ```text
//! "QPS1" | count: u32 | count x (old_start: u64, old_len: u32, new_len: u32, frame_len: u32) | frames
//! ```
//!
//! (little-endian; the segments are the new file in order). A plain patch
//! is one zstd frame, which starts with zstd's own magic number instead.

use std::io::Read as _;

use quince_protocol::hash::Sha256Stream;
use quince_protocol::manifest::ChunkRef;
use quince_protocol::Hash;

use crate::StoreError;

/// Files at least this large (a window above 2^25 bytes) are patched at
/// level [`LARGE_FILE_MAX_LEVEL`] at most: with zstd 1.5.7, levels 16 to 19
/// (its optimal parsers) find none of the old file's matches at such windows
/// and give a patch as big as the file (measured: 100 MiB with 4 KiB
/// changed, level 19: 104,860,012 bytes; level 15: 15,311; BENCHMARKS.md).
pub const LARGE_FILE_BYTES: u64 = 32 << 20;
/// The highest level used for files of [`LARGE_FILE_BYTES`] or more.
pub const LARGE_FILE_MAX_LEVEL: i32 = 15;
/// Files above this get no patch: zstd's window (2^30 here) could not reach
/// the whole old file, and the old file is held in memory while patching.
pub const PATCH_MAX_BYTES: u64 = 1 << 30;

/// Files whose larger version has at least this many bytes are patched by
/// segments (the patches of smaller ones are one frame against the whole
/// old file, which holds both in memory: 32 MiB each at most).
pub const SEGMENTED_FROM: u64 = LARGE_FILE_BYTES;

mod segmented;
use segmented::Segments;
pub use segmented::{
    is_segmented, make_segmented_patch, REFERENCE_MARGIN, SEGMENT_BYTES, SEGMENT_MAX_LEVEL,
};

/// A file read a stretch at a time: the old version a patch refers to, or
/// the new one a patch is made of.
pub trait FileRanges {
    /// Its length in bytes.
    fn len(&self) -> u64;
    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `len` bytes from `offset` (within the file).
    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>>;
}

impl FileRanges for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        usize::try_from(offset)
            .ok()
            .and_then(|at| self.get(at..at.checked_add(len)?))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                std::io::Error::other(format!("{len} bytes at {offset} are past the end"))
            })
    }
}

impl FileRanges for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        FileRanges::read(&self.as_slice(), offset, len)
    }
}

/// A file of the store, by the chunks a manifest lists for it: a stretch
/// is read from the chunks it covers (each checked against its address).
pub struct StoredFile<'a> {
    store: &'a crate::Store,
    chunks: &'a [ChunkRef],
    /// Where each chunk starts in the file, and the file's length last.
    starts: Vec<u64>,
}

impl<'a> StoredFile<'a> {
    /// The file made of `chunks`, in order.
    pub fn new(store: &'a crate::Store, chunks: &'a [ChunkRef]) -> StoredFile<'a> {
        let mut starts = Vec::with_capacity(chunks.len() + 1);
        let mut at = 0u64;
        for c in chunks {
            starts.push(at);
            at += u64::from(c.size);
        }
        starts.push(at);
        StoredFile {
            store,
            chunks,
            starts,
        }
    }
}

impl FileRanges for StoredFile<'_> {
    fn len(&self) -> u64 {
        self.starts.last().copied().unwrap_or(0)
    }

    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let end = offset.saturating_add(len as u64);
        if end > self.len() {
            return Err(std::io::Error::other(format!(
                "{len} bytes at {offset} are past the end of a {}-byte file",
                self.len()
            )));
        }
        let mut out = Vec::with_capacity(len);
        // The last chunk starting at or before `offset`.
        let mut i = self
            .starts
            .partition_point(|s| *s <= offset)
            .saturating_sub(1);
        while (out.len() as u64) < len as u64 {
            let (Some(chunk), Some(start)) = (self.chunks.get(i), self.starts.get(i)) else {
                break;
            };
            let bytes = self.store.chunk(chunk).map_err(std::io::Error::other)?;
            let from = usize::try_from(offset.saturating_sub(*start)).unwrap_or(usize::MAX);
            let want = len - out.len();
            if let Some(piece) = bytes.get(from..) {
                out.extend_from_slice(&piece[..piece.len().min(want)]);
            }
            i += 1;
        }
        Ok(out)
    }
}

/// Compresses `new` against `old`.
pub fn make_patch(old: &[u8], new: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    make_patch_streamed(old, new.len() as u64, level, |w| w.write_all(new))
}

/// Compresses a new file of `new_len` bytes, which `write_new` writes piece
/// by piece, against `old`: only the old file is held whole in memory.
/// The level is capped for large files (see [`LARGE_FILE_BYTES`]).
pub fn make_patch_streamed(
    old: &[u8],
    new_len: u64,
    level: i32,
    write_new: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<Vec<u8>> {
    let longest = (old.len() as u64).max(new_len);
    if longest > PATCH_MAX_BYTES {
        return Err(std::io::Error::other(format!(
            "{longest} bytes is above the {PATCH_MAX_BYTES}-byte limit for patches"
        )));
    }
    let level = patch_level(level, longest);
    let mut out = Vec::new();
    let mut encoder = zstd::stream::write::Encoder::with_ref_prefix(&mut out, level, old)?;
    encoder.long_distance_matching(true)?;
    encoder.window_log(window_log(longest))?;
    encoder.include_contentsize(true)?;
    encoder.set_pledged_src_size(Some(new_len))?;
    write_new(&mut encoder)?;
    encoder.finish()?;
    Ok(out)
}

/// The zstd level a patch between files of up to `longest` bytes is made at.
pub fn patch_level(level: i32, longest: u64) -> i32 {
    if longest >= LARGE_FILE_BYTES {
        level.min(LARGE_FILE_MAX_LEVEL)
    } else {
        level
    }
}

/// Rebuilds the new file from `old` and `patch`; refuses anything but exactly
/// `size` bytes with SHA-256 `sha256`.
pub fn apply_patch(old: &[u8], patch: &[u8], size: u64, sha256: &Hash) -> Result<Vec<u8>, String> {
    let mut whole = Vec::new();
    let mut reader = patch_reader(&old, &mut whole, patch, size)?;
    let mut out = Vec::new();
    reader
        .by_ref()
        .take(size + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("does not decompress: {e}"))?;
    if out.len() as u64 != size {
        return Err(format!("rebuilds {} bytes, not {size}", out.len()));
    }
    let got = Hash::of(&out);
    if got != *sha256 {
        return Err(format!("rebuilt file hash {got} is not {sha256}"));
    }
    Ok(out)
}

/// What a patch rebuilds, read in order: a segmented patch decodes one
/// segment at a time from stretches of `old`; a plain one refers to the
/// whole old file, which is read into `whole` first.
fn patch_reader<'a>(
    old: &'a dyn FileRanges,
    whole: &'a mut Vec<u8>,
    patch: &'a [u8],
    size: u64,
) -> Result<Box<dyn std::io::Read + 'a>, String> {
    if is_segmented(patch) {
        return Ok(Box::new(Segments::new(old, patch, size)?));
    }
    // The frame must declare the file's size, and may ask for no larger a
    // window than its maker uses for these sizes: zstd sizes its buffer by
    // both, and a peer's patch could otherwise make it allocate 2 GiB (found
    // by the `patch` fuzz target).
    match zstd::zstd_safe::get_frame_content_size(patch) {
        Ok(Some(n)) if n == size => {}
        _ => {
            return Err(format!(
                "the patch does not declare the file's {size} bytes"
            ))
        }
    }
    *whole = old
        .read(0, usize::try_from(old.len()).unwrap_or(usize::MAX))
        .map_err(|e| e.to_string())?;
    let whole: &'a Vec<u8> = whole;
    let mut decoder = zstd::stream::read::Decoder::with_ref_prefix(patch, whole.as_slice())
        .map_err(|e| e.to_string())?;
    decoder
        .window_log_max(window_log(old.len().max(size)))
        .map_err(|e| e.to_string())?;
    Ok(Box::new(decoder))
}

/// A file rebuilt from a patch by [`crate::Store::put_patched`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Patched {
    /// Chunks of the file the store did not have before.
    pub new_chunks: u64,
    /// Their raw bytes.
    pub new_bytes: u64,
}

impl crate::Store {
    /// Rebuilds a file from `old` (the version the patch was made against)
    /// and `patch`, cuts it into the chunks the manifest lists for it, and
    /// stores those the store lacks, compressed at `level`. Every piece must
    /// match its chunk's address, and the whole file `size` and `sha256`;
    /// otherwise nothing is stored (the error says why, and the caller
    /// fetches the chunks instead). The new file is never held whole in
    /// memory; the old one is read whole for a plain patch, a stretch at a
    /// time for a segmented one.
    pub fn put_patched(
        &self,
        path: &str,
        old: &dyn FileRanges,
        patch: &[u8],
        file: (&[ChunkRef], u64, &Hash),
        level: i32,
    ) -> Result<Patched, StoreError> {
        let (chunks, size, sha256) = file;
        let bad = |reason: String| StoreError::BadPatch {
            path: path.to_string(),
            reason,
        };
        let listed: u64 = chunks.iter().map(|c| u64::from(c.size)).sum();
        if listed != size {
            return Err(bad(format!(
                "the manifest's chunks hold {listed} bytes, not the file's {size}"
            )));
        }
        let mut whole = Vec::new();
        let mut reader = patch_reader(old, &mut whole, patch, size)
            .map_err(bad)?
            .take(size + 1);
        let mut batch = self.batch();
        let mut hasher = Sha256Stream::default();
        let mut done = Patched::default();
        let mut piece = Vec::new();
        let mut at = 0u64;
        for chunk in chunks {
            piece.resize(chunk.size as usize, 0);
            reader
                .read_exact(&mut piece)
                .map_err(|e| bad(format!("at byte {at}: {e}")))?;
            if crate::chunk_id(&piece) != chunk.id {
                return Err(bad(format!(
                    "bytes {at}..{} do not match chunk {}",
                    at + piece.len() as u64,
                    chunk.id
                )));
            }
            hasher.update(&piece);
            at += piece.len() as u64;
            if !self.has(&chunk.id) {
                let (_, _, new) = batch.put_chunk(&piece, level)?;
                if new {
                    done.new_chunks += 1;
                    done.new_bytes += piece.len() as u64;
                }
            }
        }
        let mut more = [0u8; 1];
        if reader.read(&mut more).map_err(|e| bad(e.to_string()))? != 0 {
            return Err(bad(format!("rebuilds more than {size} bytes")));
        }
        let got = hasher.finish();
        if got != *sha256 {
            return Err(bad(format!("rebuilt file hash {got} is not {sha256}")));
        }
        batch.finish()?;
        Ok(done)
    }
}

/// log2 of the window that covers `len` bytes, within zstd's limits.
fn window_log(len: u64) -> u32 {
    let needed = u64::BITS - len.max(1).leading_zeros();
    needed.clamp(17, 30)
}

#[cfg(test)]
mod tests {
    use quince_protocol::testkit::noise;

    use super::*;

    #[test]
    fn a_patch_rebuilds_the_new_file_and_is_small() {
        let old: Vec<u8> = (0..2_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let mut new = old.clone();
        new[1_000_000..1_000_100].copy_from_slice(&[7; 100]);
        new.extend_from_slice(b"appended");
        let patch = make_patch(&old, &new, 19).unwrap();
        assert!(patch.len() < 2_000, "patch is {} bytes", patch.len());
        assert_eq!(
            apply_patch(&old, &patch, new.len() as u64, &Hash::of(&new)).unwrap(),
            new
        );
        // Against the wrong base, or with a wrong expected hash, it is refused.
        let mut wrong_base = old.clone();
        wrong_base[500_000] ^= 1;
        assert!(apply_patch(&wrong_base, &patch, new.len() as u64, &Hash::of(&new)).is_err());
        assert!(apply_patch(&old, &patch, new.len() as u64 - 1, &Hash::of(&new)).is_err());
    }

    /// A 100 MiB file with 4 KiB changed, asked for at the packager's
    /// default level 19: a patch of tens of KB, not the whole file (zstd
    /// 1.5.7's level 19 alone gives 104,860,012 bytes here), built from the
    /// new file written in 1 MiB pieces.
    #[test]
    fn a_large_file_with_a_small_change_gives_a_small_patch() {
        let old = noise(100 << 20, 7);
        let mut new = old.clone();
        let at = new.len() / 2;
        new[at..at + 4096].copy_from_slice(&noise(4096, 9));
        let patch = make_patch_streamed(&old, new.len() as u64, 19, |w| {
            new.chunks(1 << 20).try_for_each(|piece| w.write_all(piece))
        })
        .unwrap();
        assert!(patch.len() < 64 * 1024, "patch is {} bytes", patch.len());
        let rebuilt = apply_patch(&old, &patch, new.len() as u64, &Hash::of(&new)).unwrap();
        assert!(rebuilt == new);
        assert_eq!(patch_level(19, 100 << 20), LARGE_FILE_MAX_LEVEL);
        assert_eq!(patch_level(19, 1 << 20), 19);
        assert_eq!(patch_level(3, 100 << 20), 3);
        // By segments (how the packager patches a file this large), with no
        // hint: as small.
        let segmented = make_segmented_patch(&old, &new, &|_, _| None, 19).unwrap();
        assert!(
            segmented.len() < 64 * 1024,
            "patch is {} bytes",
            segmented.len()
        );
        let rebuilt = apply_patch(&old, &segmented, new.len() as u64, &Hash::of(&new)).unwrap();
        assert!(rebuilt == new);
    }

    #[test]
    fn files_beyond_the_window_get_no_patch() {
        let err = make_patch_streamed(b"old", PATCH_MAX_BYTES + 1, 3, |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("limit for patches"), "{err}");
    }

    fn chunks_of(data: &[u8], size: usize) -> Vec<ChunkRef> {
        data.chunks(size)
            .map(|c| ChunkRef {
                id: quince_protocol::manifest::ChunkId(*blake3::hash(c).as_bytes()),
                size: c.len() as u32,
            })
            .collect()
    }

    /// A patched file lands in the store as the manifest's chunks; a patch
    /// against the wrong base, or a manifest whose chunks do not match,
    /// stores nothing and leaves no temporary file.
    #[test]
    fn a_patched_file_is_stored_as_its_chunks_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path()).unwrap();
        let old = noise(3 << 20, 1);
        let mut new = old.clone();
        new[2_000_000..2_004_096].copy_from_slice(&noise(4096, 2));
        let patch = make_patch(&old, &new, 19).unwrap();
        let chunks = chunks_of(&new, 1 << 20);
        let sha = Hash::of(&new);
        let file = (chunks.as_slice(), new.len() as u64, &sha);

        let mut wrong_base = old.clone();
        wrong_base[10] ^= 1;
        let err = store
            .put_patched("bin/app", &wrong_base, &patch, file, 3)
            .unwrap_err();
        assert!(matches!(err, StoreError::BadPatch { .. }), "{err}");
        let mut shifted = chunks.clone();
        shifted.swap(0, 1);
        let err = store
            .put_patched(
                "bin/app",
                &old,
                &patch,
                (&shifted, new.len() as u64, &sha),
                3,
            )
            .unwrap_err();
        assert!(err.to_string().contains("do not match chunk"), "{err}");
        let other = Hash::of(b"other");
        let err = store
            .put_patched(
                "bin/app",
                &old,
                &patch,
                (&chunks, new.len() as u64, &other),
                3,
            )
            .unwrap_err();
        assert!(err.to_string().contains("rebuilt file hash"), "{err}");
        assert!(chunks.iter().all(|c| !store.has(&c.id)));
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );

        // The first chunk is already there: only the other three are new.
        store.put_chunk(&new[..1 << 20], 3).unwrap();
        let done = store.put_patched("bin/app", &old, &patch, file, 3).unwrap();
        assert_eq!(done.new_chunks, 2);
        assert_eq!(done.new_bytes, (new.len() - (1 << 20)) as u64);
        for (c, raw) in chunks.iter().zip(new.chunks(1 << 20)) {
            assert_eq!(store.chunk(c).unwrap(), raw);
        }
    }

    /// Chunks of `data`, `size` bytes each, put in `store`.
    fn stored(store: &crate::Store, data: &[u8], size: usize) -> Vec<ChunkRef> {
        let chunks = chunks_of(data, size);
        let mut batch = store.batch();
        for (c, piece) in chunks.iter().zip(data.chunks(size)) {
            assert_eq!(c.id, crate::chunk_id(piece));
            batch.put_chunk(piece, 1).unwrap();
        }
        batch.finish().unwrap();
        chunks
    }

    #[test]
    fn a_segmented_patch_rebuilds_a_large_file_a_stretch_at_a_time() {
        // 40 MiB: 4 KiB changed, 300 KiB of new bytes inserted further on
        // (everything after it moves), a little cut off the end.
        let old = noise(40 << 20, 11);
        let mut new = old[..(39 << 20)].to_vec();
        new[(5 << 20)..(5 << 20) + 4096].copy_from_slice(&noise(4096, 12));
        let inserted = noise(300 << 10, 13);
        let at = 20 << 20;
        new.splice(at..at, inserted.iter().copied());
        // The hint says where each stretch came from, as shared chunks would.
        let shift = |start: u64, _len: u64| -> Option<i64> {
            Some(if start >= at as u64 { -(300 << 10) } else { 0 })
        };
        let patch = make_segmented_patch(&old, &new, &shift, 19).unwrap();
        assert!(is_segmented(&patch));
        assert!(
            patch.len() < (300 << 10) + (64 << 10),
            "patch is {} bytes",
            patch.len()
        );
        // Without a hint (the same relative place), the margins still reach.
        let unhinted = make_segmented_patch(&old, &new, &|_, _| None, 19).unwrap();
        assert!(
            unhinted.len() < (300 << 10) + (64 << 10),
            "{}",
            unhinted.len()
        );
        assert_eq!(
            apply_patch(&old, &patch, new.len() as u64, &Hash::of(&new)).unwrap(),
            new
        );

        // Rebuilt into a store from the old file's chunks, read by stretches.
        let t = tempfile::tempdir().unwrap();
        let store = crate::Store::open(t.path()).unwrap();
        let old_chunks = stored(&store, &old, 1 << 20);
        let old_file = StoredFile::new(&store, &old_chunks);
        assert_eq!(
            old_file.read(3 << 19, 5 << 20).unwrap(),
            old[(3 << 19)..(13 << 19)]
        );
        let new_chunks = chunks_of(&new, 1 << 20);
        let file = (new_chunks.as_slice(), new.len() as u64, &Hash::of(&new));
        let done = store
            .put_patched("data.bin", &old_file, &patch, file, 1)
            .unwrap();
        assert!(done.new_chunks > 0);
        for (c, piece) in new_chunks.iter().zip(new.chunks(1 << 20)) {
            assert_eq!(store.chunk(c).unwrap(), piece);
        }
    }

    #[test]
    fn a_broken_segmented_patch_is_refused_with_its_reason() {
        let old = noise(3 << 20, 21);
        let mut new = old.clone();
        new[100] ^= 1;
        let patch = make_segmented_patch(&old, &new, &|_, _| Some(0), 3).unwrap();
        let size = new.len() as u64;
        let sha = Hash::of(&new);
        assert_eq!(apply_patch(&old, &patch, size, &sha).unwrap(), new);
        let refused = |p: &[u8], old: &[u8]| apply_patch(old, p, size, &sha).unwrap_err();
        // Cut short in its header, or in its frames.
        assert!(
            refused(&patch[..10], &old).contains("header"),
            "{}",
            refused(&patch[..10], &old)
        );
        let short = refused(&patch[..patch.len() - 1], &old);
        assert!(short.contains("frames take"), "{short}");
        // A segment count no file could need.
        let mut many = patch.clone();
        many[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(refused(&many, &old).contains("segments is more"));
        // A reference past the old file's end.
        let mut far = patch.clone();
        far[8..16].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(
            refused(&far, &old).contains("refers to"),
            "{}",
            refused(&far, &old)
        );
        // Against an old file that differs, or for another size.
        let mut other = old.clone();
        other[2 << 20] ^= 1;
        assert!(apply_patch(&other, &patch, size, &sha).is_err());
        assert!(apply_patch(&old, &patch, size - 1, &sha)
            .unwrap_err()
            .contains("rebuild"));
    }
}
