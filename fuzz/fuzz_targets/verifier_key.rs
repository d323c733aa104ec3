//! Verifier-key text parser: never panics; whatever parses prints back identically.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::note::Ed25519Verifier;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(v) = Ed25519Verifier::parse(text) {
            assert_eq!(v.to_text(), text);
        }
    }
});
