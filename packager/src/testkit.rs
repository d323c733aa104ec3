//! For other crates' tests only (feature `test-fixtures`): publish a release
//! of a folder into a log, signed by a single test key instead of a FROST
//! group, in one call.

use std::path::Path;

use quince_protocol::manifest::Manifest;
use quince_protocol::note::Note;
use quince_protocol::root::AppRoot;
use quince_store::Store;

use crate::build::{build_with_options, Options, Source};
use crate::{release, LogDir};

/// Builds `src` into `store`, appends release `version` for `platform` to
/// the log at `log_dir` (created if missing, for `root`), signs the new head
/// with `key` and publishes it. Returns the signed checkpoint note and the
/// manifest. Panics on any error: test code.
pub fn publish(
    log_dir: &Path,
    store: &Store,
    root: &AppRoot,
    key: &ed25519_dalek::SigningKey,
    src: &Path,
    version: &str,
    platform: &str,
) -> (Vec<u8>, Manifest) {
    #[allow(clippy::expect_used)]
    let offering = release::Offering::stable(version.parse().expect("version"));
    publish_on(log_dir, store, root, key, src, &offering, platform)
}

/// Like [`publish`], offered as `offering` says (a channel, a rollout).
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub fn publish_on(
    log_dir: &Path,
    store: &Store,
    root: &AppRoot,
    key: &ed25519_dalek::SigningKey,
    src: &Path,
    offering: &release::Offering,
    platform: &str,
) -> (Vec<u8>, Manifest) {
    publish_sources(
        log_dir,
        store,
        root,
        key,
        &[(src, None)],
        offering,
        &[platform],
    )
}

/// Like [`publish`], its files under 64 KiB in shared chunks
/// (what `quince-packager build` does by default).
#[allow(clippy::expect_used)]
pub fn publish_sharing_small_files(
    log_dir: &Path,
    store: &Store,
    root: &AppRoot,
    key: &ed25519_dalek::SigningKey,
    src: &Path,
    version: &str,
    platform: &str,
) -> (Vec<u8>, Manifest) {
    let offering = release::Offering::stable(version.parse().expect("version"));
    let options = Options {
        level: 1,
        share_small_files: true,
    };
    publish_built(
        log_dir,
        store,
        root,
        key,
        &[(src, None)],
        &offering,
        &[platform],
        options,
    )
}

/// Like [`publish_on`], for a release of several folders, each for every
/// platform (`None`) or for one (`Some("windows-x86_64")`), serving
/// `platforms`.
pub fn publish_sources(
    log_dir: &Path,
    store: &Store,
    root: &AppRoot,
    key: &ed25519_dalek::SigningKey,
    sources: &[(&Path, Option<&str>)],
    offering: &release::Offering,
    platforms: &[&str],
) -> (Vec<u8>, Manifest) {
    publish_built(
        log_dir,
        store,
        root,
        key,
        sources,
        offering,
        platforms,
        Options::level(1),
    )
}

#[allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_arguments)]
fn publish_built(
    log_dir: &Path,
    store: &Store,
    root: &AppRoot,
    key: &ed25519_dalek::SigningKey,
    sources: &[(&Path, Option<&str>)],
    offering: &release::Offering,
    platforms: &[&str],
    options: Options,
) -> (Vec<u8>, Manifest) {
    let sources: Vec<Source> = sources
        .iter()
        .map(|(dir, platform)| Source {
            dir: dir.to_path_buf(),
            platform: platform.map(|p| p.parse().expect("platform")),
        })
        .collect();
    let (manifest, _) = build_with_options(&sources, store, options, &mut |_| {}).expect("build");
    let log = if log_dir.join("root").exists() {
        LogDir::open(log_dir).expect("open log")
    } else {
        LogDir::create(log_dir, root).expect("create log")
    };
    let staged = release::stage_on(
        &log,
        store,
        &manifest,
        offering,
        &platforms
            .iter()
            .map(|p| p.parse().expect("platform"))
            .collect::<Vec<_>>(),
        0,
        1,
    )
    .expect("stage");
    let mut note = Note::unsigned(&staged.pending.body).expect("note");
    note.sign_ed25519(&root.app_id().origin(), key)
        .expect("sign");
    log.publish(&note.to_bytes()).expect("publish");
    (note.to_bytes(), manifest)
}

/// Writes an app source folder at `dir` whose `bin/app` is the executable
/// shell script `script`. Panics on any error: test code.
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub fn script_app(dir: &Path, script: &str) {
    std::fs::create_dir_all(dir.join("bin")).expect("bin folder");
    std::fs::write(dir.join("bin/app"), script).expect("bin/app");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir.join("bin/app"), std::fs::Permissions::from_mode(0o755))
            .expect("mode of bin/app");
    }
}
