//! Pack index reader (packs may come in a friend's bundle): never panics,
//! and every chunk it accepts lies between the pack's magic and its index.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_store::packs::index_of;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = index_of(data) {
        let index_start = data.len() - 12 - 44 * index.len();
        for (_, slot) in index {
            assert!(slot.offset >= 8);
            assert!(slot.offset + u64::from(slot.len) <= index_start as u64);
        }
    }
});
