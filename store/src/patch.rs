//! zstd patches between two versions of a file, as `zstd --patch-from` makes
//! them: the old file is the reference prefix, with long-distance matching and
//! a window large enough to reach all of it. Applying one is capped at the new
//! file's declared size and checked against its declared SHA-256.

use std::io::{Read as _, Write as _};

use quince_protocol::Hash;

/// Compresses `new` against `old`.
pub fn make_patch(old: &[u8], new: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = zstd::stream::write::Encoder::with_ref_prefix(&mut out, level, old)?;
    encoder.long_distance_matching(true)?;
    encoder.window_log(window_log(old.len().max(new.len())))?;
    encoder.include_contentsize(true)?;
    encoder.set_pledged_src_size(Some(new.len() as u64))?;
    encoder.write_all(new)?;
    encoder.finish()?;
    Ok(out)
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
fn window_log(len: usize) -> u32 {
    let needed = usize::BITS - len.max(1).leading_zeros();
    needed.clamp(17, 30)
}

#[cfg(test)]
mod tests {
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
}
