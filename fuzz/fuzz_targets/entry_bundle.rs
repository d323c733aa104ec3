//! Entry-bundle and tile decoders: never panic; bundles re-encode identically.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::tile::{self, BundleId, TileId, TileSet};

fuzz_target!(|data: &[u8]| {
    let Some((&w, rest)) = data.split_first() else { return };
    let width = u16::from(w).max(1);
    if let Ok(entries) = tile::decode_bundle(BundleId { index: 0, width }, rest) {
        assert_eq!(tile::encode_bundle(&entries).unwrap(), rest);
    }
    let mut set = TileSet::new();
    if set.insert(TileId { level: 0, index: 0, width }, rest).is_ok() {
        let _ = set.check_bundle(BundleId { index: 0, width }, &[]);
        let _ = set.verify(u64::from(width), &quince_protocol::Hash::of(rest));
    }
});
