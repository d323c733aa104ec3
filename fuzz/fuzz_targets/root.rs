//! App-root decoder: never panics; whatever decodes re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::codec::{Decode, Encode};
use quince_protocol::root::AppRoot;

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = AppRoot::from_bytes(data) {
        assert_eq!(root.to_bytes(), data);
    }
});
