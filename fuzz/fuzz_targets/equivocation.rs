//! Equivocation evidence (served by any peer, kept by witnesses): never
//! panics; whatever decodes re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::state::Equivocation;

fuzz_target!(|data: &[u8]| {
    if let Ok(evidence) = Equivocation::from_bytes(data) {
        assert_eq!(evidence.to_bytes(), data);
    }
});
