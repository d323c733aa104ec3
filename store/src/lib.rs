//! Client-side storage shared by the packager and the updater: the
//! content-addressed chunk store ([`Store`]) and the verified unpacker
//! ([`unpack`]). It never links the packager or the signer, so the bootstrap
//! can use it.
//!
//! Chunks are stored zstd-compressed under their BLAKE3 address (small ones
//! many to a file, in packs), written to a temporary name, fsynced, then
//! renamed: a crash never leaves a chunk whose
//! bytes do not match its address, and every read checks the address again
//! with decompression capped at the size the manifest declares.

#![forbid(unsafe_code)]

mod chunks;
mod decompress;
mod dicts;
mod patch;
mod unpack;

pub mod cli;
pub mod crash;
pub mod durable;
pub mod packs;
pub mod tilefs;

pub use chunks::{Batch, Reader, Store};
pub use decompress::{decompress_capped, DecompressError};
pub use dicts::{dictionary_id, frame_dictionary};
pub use patch::{
    apply_patch, is_segmented, make_patch, make_patch_streamed, make_segmented_patch, patch_level,
    FileRanges, Patched, StoredFile, LARGE_FILE_BYTES, LARGE_FILE_MAX_LEVEL, PATCH_MAX_BYTES,
    REFERENCE_MARGIN, SEGMENTED_FROM, SEGMENT_BYTES, SEGMENT_MAX_LEVEL,
};
pub use unpack::{unpack, unpack_arriving, Arrivals, UnpackStats};

use std::path::PathBuf;

use quince_protocol::manifest::ChunkId;
use quince_protocol::Hash;

/// What went wrong in the store or while unpacking. Whatever it is, the
/// staging folder may be half-written and is to be thrown away; nothing
/// outside it was touched.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store lacks a chunk (fetch it from a peer).
    #[error("chunk {0} is not in the store")]
    MissingChunk(ChunkId),
    /// A chunk's bytes do not match its address, or do not decompress within the declared size.
    #[error("chunk {id} is corrupt: {reason}")]
    CorruptChunk {
        /// The chunk.
        id: ChunkId,
        /// What is wrong.
        reason: String,
    },
    /// A rebuilt file does not have the hash the manifest declares.
    #[error("{path}: content hash {got} does not match the manifest's {expected}")]
    FileHashMismatch {
        /// The file.
        path: String,
        /// What the manifest says.
        expected: Hash,
        /// What was written.
        got: Hash,
    },
    /// A path would be written somewhere unsafe (outside staging, through a link, over something).
    #[error("refusing to write {path}: {reason}")]
    UnsafePath {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// An unpack waiting for chunks was stopped: they will not arrive (the
    /// fetch failed, and says why).
    #[error("unpacking stopped: the chunks it waited for will not arrive")]
    Stopped,
    /// A delta patch did not rebuild the expected file (fall back to chunks).
    #[error("patch for {path} failed: {reason}")]
    BadPatch {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// A chunk's address: the BLAKE3 hash of its raw bytes.
pub fn chunk_id(raw: &[u8]) -> ChunkId {
    ChunkId(*blake3::hash(raw).as_bytes())
}

/// A chunk compressed as the store keeps it (one zstd frame at `level`).
/// Each thread keeps its compression context for the next chunk: making
/// one took longer than compressing a small chunk. The bytes are the same
/// as with a fresh context.
pub fn compress_chunk(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    type Context = Option<(i32, zstd::bulk::Compressor<'static>)>;
    thread_local! {
        static CONTEXT: std::cell::RefCell<Context> = const { std::cell::RefCell::new(None) };
    }
    CONTEXT.with(|context| {
        let mut context = context.borrow_mut();
        if !matches!(&*context, Some((l, _)) if *l == level) {
            *context = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match context.as_mut() {
            Some((_, compressor)) => compressor.compress(raw),
            None => zstd::bulk::compress(raw, level),
        }
    })
}

/// [`compress_chunk`] with a prepared zstd dictionary (made with the level
/// to compress at). The frame names the dictionary's id, which is how the
/// store finds it again. Each thread keeps its context.
pub fn compress_chunk_with(
    raw: &[u8],
    dict: &zstd::zstd_safe::CDict<'_>,
) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static CONTEXT: std::cell::RefCell<Option<zstd::zstd_safe::CCtx<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(raw.len()));
    CONTEXT.with(|context| {
        let mut context = context.borrow_mut();
        let context = context.get_or_insert_with(zstd::zstd_safe::CCtx::create);
        context
            .compress_using_cdict(&mut out, raw, dict)
            .map_err(|code| std::io::Error::other(zstd::zstd_safe::get_error_name(code)))
    })?;
    Ok(out)
}

pub(crate) fn io_err(path: &std::path::Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes the given files and folders durable: one `syncfs` of the file system
/// holding `anchor` on Linux (much cheaper than one fsync per file), an fsync of
/// each path elsewhere.
pub(crate) fn sync_paths<'p>(
    anchor: &std::path::Path,
    paths: impl Iterator<Item = &'p std::path::Path>,
) -> Result<(), StoreError> {
    #[cfg(target_os = "linux")]
    {
        let _ = paths;
        let dir = std::fs::File::open(anchor).map_err(io_err(anchor))?;
        rustix::fs::syncfs(&dir).map_err(|e| StoreError::Io {
            path: anchor.to_path_buf(),
            source: e.into(),
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = anchor;
        for p in paths {
            if p.is_dir() {
                // (a no-op on Windows, which cannot open a folder as a file)
                durable::sync_dir(p).map_err(io_err(p))?;
                continue;
            }
            // Windows flushes only a handle opened for writing.
            std::fs::OpenOptions::new()
                .read(!cfg!(windows))
                .write(cfg!(windows))
                .open(p)
                .and_then(|f| f.sync_all())
                .map_err(io_err(p))?;
        }
        Ok(())
    }
}
