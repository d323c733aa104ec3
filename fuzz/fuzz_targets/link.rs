//! App links (pasted by users, passed between people): never panic; a link
//! that parses prints as a link that parses to the same thing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_updater::link::Link;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(link) = text.parse::<Link>() {
        let again: Link = link.to_string().parse().expect("a printed link parses");
        assert_eq!(again, link);
    }
});
