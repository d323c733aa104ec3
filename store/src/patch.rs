//! zstd patches between two versions of a file, as `zstd --patch-from` makes
//! them: the old file is the reference prefix, with long-distance matching and
//! a window large enough to reach all of it. Applying one is capped at the new
//! file's declared size and checked against its declared SHA-256.

use std::io::Read as _;

use quince_protocol::Hash;

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
    let mut decoder =
        zstd::stream::read::Decoder::with_ref_prefix(patch, old).map_err(|e| e.to_string())?;
    decoder.window_log_max(31).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    decoder
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
    }

    #[test]
    fn files_beyond_the_window_get_no_patch() {
        let err = make_patch_streamed(b"old", PATCH_MAX_BYTES + 1, 3, |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("limit for patches"), "{err}");
    }
}
