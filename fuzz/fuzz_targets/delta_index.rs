//! The delta index of a release (patches offered by a peer): never panics;
//! whatever decodes re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::codec::{Decode, Encode};
use quince_protocol::manifest::DeltaIndex;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = DeltaIndex::from_bytes(data) {
        assert_eq!(index.to_bytes(), data);
    }
});
