//! Witness key parser (`--witness NAME+HASH+KEY` and app state files):
//! never panics; a key that parses prints as text that parses to the same key.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::cosignature::WitnessKey;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = WitnessKey::parse(text) {
        let again = WitnessKey::parse(&key.to_text()).expect("printed key parses");
        assert_eq!(again.to_text(), key.to_text());
    }
});
