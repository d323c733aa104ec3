//! Decompressing a chunk: capped at its declared size (a bomb is cut off
//! one byte past it), through the zstd dictionary its frame names if any,
//! and checked against its address.

use quince_protocol::manifest::ChunkRef;

use crate::{Store, StoreError};

impl Store {
    /// Decompresses a chunk (capped at its declared size, with the
    /// dictionary its frame names, if any) and checks it against its
    /// address.
    pub(crate) fn checked_raw(
        &self,
        chunk: &ChunkRef,
        compressed: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let corrupt = |reason: String| StoreError::CorruptChunk {
            id: chunk.id,
            reason,
        };
        let mismatch = || corrupt("content does not match its address".into());
        let size = chunk.size as usize;
        let Some(dict) = crate::dicts::frame_dictionary(compressed) else {
            let raw = decompress_capped(compressed, size).map_err(|e| corrupt(e.to_string()))?;
            return match crate::chunk_id(&raw) == chunk.id {
                true => Ok(raw),
                false => Err(mismatch()),
            };
        };
        let candidates = self.dictionaries_with_id(dict);
        if candidates.is_empty() {
            return Err(corrupt(format!(
                "it needs zstd dictionary {dict:08x}, which this store does not hold"
            )));
        }
        let mut why = mismatch();
        for ddict in candidates {
            match decompress_with(compressed, size, Some(&ddict)) {
                Ok(raw) if crate::chunk_id(&raw) == chunk.id => return Ok(raw),
                Ok(_) => why = mismatch(),
                Err(e) => why = corrupt(e.to_string()),
            }
        }
        Err(why)
    }
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
/// Each thread keeps its decompression context for the next chunk.
pub fn decompress_capped(compressed: &[u8], raw_size: usize) -> Result<Vec<u8>, DecompressError> {
    decompress_with(compressed, raw_size, None)
}

/// [`decompress_capped`] with a dictionary.
fn decompress_with(
    compressed: &[u8],
    raw_size: usize,
    dict: Option<&zstd::zstd_safe::DDict<'_>>,
) -> Result<Vec<u8>, DecompressError> {
    thread_local! {
        static CONTEXT: std::cell::RefCell<Option<zstd::zstd_safe::DCtx<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    // One byte of room more than declared: a frame that fills it is too big.
    let mut out = vec![0u8; raw_size + 1];
    let result = CONTEXT.with(|context| {
        let mut context = context.borrow_mut();
        let context = context.get_or_insert_with(zstd::zstd_safe::DCtx::create);
        let done = match dict {
            Some(dict) => context.decompress_using_ddict(&mut out[..], compressed, dict),
            None => context.decompress(&mut out[..], compressed),
        };
        done.map_err(zstd::zstd_safe::get_error_name)
    });
    let too_big = DecompressError::WrongSize {
        got: raw_size + 1,
        more: true,
        declared: raw_size,
    };
    match result {
        Ok(n) if n == raw_size => {
            out.truncate(n);
            Ok(out)
        }
        Ok(n) if n > raw_size => Err(too_big),
        Ok(n) => Err(DecompressError::WrongSize {
            got: n,
            more: false,
            declared: raw_size,
        }),
        // Out of room: the frame's header says so (or it lies, and it is
        // refused as malformed all the same).
        Err(e) => match zstd::zstd_safe::get_frame_content_size(compressed) {
            Ok(Some(n)) if n > raw_size as u64 => Err(too_big),
            _ => Err(DecompressError::Malformed(e.to_string())),
        },
    }
}
