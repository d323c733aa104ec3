//! Manifest and delta-index decoders: never panic; whatever decodes re-encodes identically.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::codec::{Decode, Encode};
use quince_protocol::manifest::{DeltaIndex, Manifest};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::from_bytes(data) {
        assert_eq!(m.to_bytes(), data);
    }
    if let Ok(d) = DeltaIndex::from_bytes(data) {
        assert_eq!(d.to_bytes(), data);
    }
});
