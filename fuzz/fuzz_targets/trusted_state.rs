//! Stored trusted-state loader: never panics; what loads stores back identically.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::state::TrustedState;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = TrustedState::load(data) {
        assert_eq!(state.to_bytes(), data);
    }
});
