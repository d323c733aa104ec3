//! Checking an installer (or any file) against Quince's own signed log:
//! Quince's binaries are releases of Quince's own app, so a bootstrap a
//! friend handed over is trustworthy exactly when some release in that log
//! lists a file with its SHA-256. The log is verified from its first root
//! (whose hash is Quince's app id, the one thing a user must know) exactly
//! as any app's log is, and each manifest against its release record.

use std::path::{Path, PathBuf};

use libp2p::PeerId;
use quince_protocol::manifest::{EntryKind, Manifest};
use quince_protocol::root::AppId;
use quince_protocol::wire::Request;
use quince_protocol::Hash;
use serde_json::json;

use crate::fetch::{self, FetchError, Folder, Peers, Source};

/// What a file was found to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The release holding it.
    pub version: String,
    /// Its log entry.
    pub entry: u64,
    /// Its path in the release.
    pub path: String,
    /// The platforms the file is for (empty: all the release serves).
    pub platforms: Vec<String>,
}

/// The outcome of checking one file.
#[derive(Debug, Clone)]
pub struct InstallerCheck {
    /// The file's SHA-256.
    pub sha256: Hash,
    /// The app whose log was read (Quince's own).
    pub app: AppId,
    /// Entries in the verified log.
    pub log_size: u64,
    /// Fingerprint of the signers in force at the log's head.
    pub signers: String,
    /// Releases in the log, and how many of their manifests were at hand.
    pub releases: usize,
    /// Manifests read (each verified against its release record).
    pub manifests: usize,
    /// Every release file with this hash.
    pub matches: Vec<Match>,
}

impl InstallerCheck {
    /// JSON for programs.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "sha256": self.sha256.to_hex(), "app": self.app.to_string(), "log_size": self.log_size,
            "signers": self.signers, "releases": self.releases, "manifests_checked": self.manifests,
            "verified": !self.matches.is_empty(),
            "matches": self.matches.iter().map(|m| json!({
                "version": m.version, "entry": m.entry, "path": m.path, "platforms": m.platforms,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Where Quince's log and manifests are read from.
#[derive(Debug, Clone)]
pub struct LogAtHand {
    /// The log folder (with its `root`).
    pub log: PathBuf,
    /// A content store holding the manifests.
    pub store: PathBuf,
}

/// Checks `file` against the log of `app` at hand: verifies the log from
/// its first root (which must hash to `app`), then looks for the file's
/// SHA-256 in every release's manifest, newest first. `scratch` is an empty
/// folder for the verified copy of the log.
pub async fn check_installer(
    file: &Path,
    app: AppId,
    at: &LogAtHand,
    scratch: &Path,
) -> Result<InstallerCheck, FetchError> {
    /// The largest installer read (a bootstrap is a few MiB).
    const MAX_INSTALLER_BYTES: usize = 512 * 1024 * 1024;
    let bytes = quince_store::durable::read_bounded(file, MAX_INSTALLER_BYTES)
        .map_err(|e| FetchError::Mirror(format!("{}: {e}", file.display())))?;
    let sha256 = Hash::of(&bytes);
    let source = Folder::from_parts(&at.log, &at.store, app)?;
    let peer: PeerId = source.peer();
    let mut peers = Peers::new(vec![peer]);
    let log = fetch::sync_log(&source, app, &mut peers, None, scratch).await?;
    let mut check = InstallerCheck {
        sha256,
        app,
        log_size: log.state().size(),
        signers: log.state().root().fingerprint(),
        releases: 0,
        manifests: 0,
        matches: Vec::new(),
    };
    let releases: Vec<_> = log.releases().collect();
    check.releases = releases.len();
    for release in releases.iter().rev() {
        let Ok(manifest) = source
            .ask(
                peer,
                Request::Manifest(release.manifest),
                fetch::SMALL_DEADLINE,
            )
            .await
        else {
            continue;
        };
        let Ok(manifest) = Manifest::verify(&manifest, &release.manifest) else {
            continue;
        };
        check.manifests += 1;
        for entry in manifest.entries() {
            if let EntryKind::File { sha256: h, .. } = &entry.kind {
                if *h == sha256 {
                    check.matches.push(Match {
                        version: release.version.to_string(),
                        entry: release.index(),
                        path: entry.path.to_string(),
                        platforms: entry
                            .platforms
                            .iter()
                            .map(|p| p.as_str().to_string())
                            .collect(),
                    });
                }
            }
        }
    }
    Ok(check)
}
