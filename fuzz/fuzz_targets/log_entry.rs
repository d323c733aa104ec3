//! Release and rotation record parser: never panics; canonical round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::codec::{Decode, Encode};
use quince_protocol::record::LogEntry;

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = LogEntry::from_bytes(data) {
        assert_eq!(entry.to_bytes(), data);
    }
});
