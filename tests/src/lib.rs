//! The end-to-end harness: helpers that build real logs, keys and (later) nodes
//! in temporary homes, shared by the scenario tests in `tests/tests/` and by the
//! README's demo (`quince-demo`).

#![forbid(unsafe_code)]

pub mod ceremony;
pub mod lab;

/// The bytes of a release record for `app` with a made-up manifest hash (the
/// hash of the version text): log entries for tests about the log itself.
pub fn release_entry(
    app: quince_protocol::root::AppId,
    version: &str,
    platform: &str,
) -> anyhow::Result<Vec<u8>> {
    use quince_protocol::codec::Encode as _;
    use quince_protocol::record::{LogEntry, ReleaseRecord};
    Ok(LogEntry::Release(ReleaseRecord {
        app,
        version: version.parse()?,
        platforms: vec![platform.parse()?],
        manifest: quince_protocol::Hash::of(version.as_bytes()),
        size: 1,
        time: 0,
    })
    .to_bytes())
}
