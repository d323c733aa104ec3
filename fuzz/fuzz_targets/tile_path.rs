//! Tile path parser: never panics; whatever parses prints back identically.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::tile::TilePath;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match TilePath::parse(text) {
            Ok(TilePath::Tile(t)) => assert_eq!(t.path(), text),
            Ok(TilePath::Entries(b)) => assert_eq!(b.path(), text),
            Err(_) => {}
        }
    }
});
