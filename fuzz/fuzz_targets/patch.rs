//! Patch application (patches come from peers): a patch of any bytes,
//! plain or segmented, against a small old file never panics, and what it
//! rebuilds is exactly the size and hash asked for.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::Hash;

fuzz_target!(|data: &[u8]| {
    let old: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 31 >> 3) as u8).collect();
    let Some((size, patch)) = data.split_first_chunk::<2>() else {
        return;
    };
    let size = u64::from(u16::from_le_bytes(*size));
    // Any hash: a patch that decodes must still be refused unless it matches.
    let want = Hash::of(&old[..size.min(old.len() as u64) as usize]);
    if let Ok(rebuilt) = quince_store::apply_patch(&old, patch, size, &want) {
        assert_eq!(rebuilt.len() as u64, size);
        assert_eq!(Hash::of(&rebuilt), want);
    }
});
