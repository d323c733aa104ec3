//! Signing-transcript reader (`transcripts/N.json` in an untrusted log
//! folder, read by `quince audit`): never panics on any bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::transcript::SignedShares;

fuzz_target!(|data: &[u8]| {
    let _ = SignedShares::from_json(data);
});
