//! Checkpoint body parser: never panics; whatever parses re-formats identically.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::checkpoint::Checkpoint;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse(text) {
            assert_eq!(cp.to_text(), text);
        }
    }
});
