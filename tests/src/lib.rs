//! The end-to-end harness: helpers that build real logs, keys and (later) nodes
//! in temporary homes, shared by the scenario tests in `tests/tests/` and by the
//! README's demo (`quince-demo`).

#![forbid(unsafe_code)]

pub mod ceremony;
pub mod lab;
pub mod tmux;

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
        channel: Default::default(),
        rollout: Default::default(),
        platforms: vec![platform.parse()?],
        manifest: quince_protocol::Hash::of(version.as_bytes()),
        size: 1,
        time: 0,
    })
    .to_bytes())
}

/// A binary of the workspace, from the folder of `beside` (a test's own
/// `CARGO_BIN_EXE_...`: `cargo test --workspace` builds them all there;
/// built now if missing).
pub fn workspace_bin(beside: &str, name: &str, package: &str) -> std::path::PathBuf {
    let bin = std::path::Path::new(beside).with_file_name(name);
    if !bin.exists() {
        let built = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", package])
            .status();
        assert!(built.is_ok_and(|s| s.success()), "cargo build -p {package}");
    }
    bin
}
