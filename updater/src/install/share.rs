//! Offline bundles: an installed app's current version written to a folder
//! (a USB stick) that installs with no network, and nothing in it trusted.

use std::fs;
use std::path::{Path, PathBuf};

use quince_protocol::record::{Platform, Version};
use quince_protocol::root::AppId;
use quince_store::Store;

use super::{io, Apps, InstallError};
use crate::fetch;

/// What `share` wrote.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The link that installs exactly this bundle's version.
    pub link: crate::link::Link,
    /// The version shared.
    pub version: Version,
    /// Chunks copied.
    pub chunks: usize,
}

impl Apps {
    /// The release record of the app's current version, from its log
    /// mirror, re-verified against the trusted checkpoint.
    pub fn current_release(&self, app: &AppId) -> Result<fetch::Release, InstallError> {
        let state = self.state(app)?.ok_or(InstallError::NotInstalled(*app))?;
        let trusted = state.trusted().map_err(|e| InstallError::State {
            path: self.app_dir(app).state_file(),
            reason: e.to_string(),
        })?;
        let current = state.current.ok_or(InstallError::NotInstalled(*app))?;
        let damaged = |reason: String| InstallError::State {
            path: self.log_dir(app),
            reason,
        };
        fetch::VerifiedLog::from_mirror(&self.log_dir(app), trusted)
            .map_err(|e| damaged(e.to_string()))?
            .releases()
            .find(|r| r.version == current)
            .ok_or_else(|| damaged(format!("release {current} is not in the log")))
    }

    /// Writes an offline bundle of `app`'s current version into `folder`
    /// (which must not exist): `log/` (the verified log), `store/` (the
    /// manifest and this platform's chunks), `link` and `README.txt`. The
    /// receiver trusts none of it: installing from it checks everything
    /// against the app id in the link, exactly as from a peer.
    pub fn share(&self, app: &AppId, folder: &Path) -> Result<Bundle, InstallError> {
        let record = self.current_release(app)?;
        if folder.exists() {
            return Err(InstallError::Io {
                path: folder.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "choose a folder that does not exist yet",
                ),
            });
        }
        fs::create_dir_all(folder).map_err(io(folder))?;
        copy_tree(&self.log_dir(app), &folder.join("log"))?;
        let store = self.store()?;
        let bundle = Store::open(&folder.join("store"))?;
        let manifest_bytes = store.manifest(&record.manifest)?;
        bundle.put_manifest(&manifest_bytes)?;
        let manifest =
            quince_protocol::manifest::Manifest::verify(&manifest_bytes, &record.manifest)
                .map_err(|e| InstallError::State {
                    path: store.dir().to_path_buf(),
                    reason: format!("manifest: {e}"),
                })?;
        let mut chunks = 0;
        let platform = Platform::current();
        for entry in manifest.entries_for(&platform) {
            if let quince_protocol::manifest::EntryKind::File { chunks: refs, .. } = &entry.kind {
                for c in refs {
                    if !bundle.has(&c.id) {
                        bundle.put_compressed(c, &store.compressed(&c.id)?)?;
                        chunks += 1;
                    }
                }
            }
        }
        // The link names the version the bundle holds: its log may list
        // newer releases (one this machine refused, say) whose files it lacks.
        let link = crate::link::Link {
            version: Some(record.version),
            ..crate::link::Link::new(*app)
        };
        let text = format!(
            "This folder holds app {app} release {} and everything needed to check it.\n\
             Install it with no network: run the command in INSTALL from this folder\n\
             (the app's link is {link}).\n\n\
             Nothing here is trusted: every byte is checked against the app id in the link.\n",
            record.version
        );
        fs::write(folder.join("README.txt"), text).map_err(io(folder))?;
        fs::write(folder.join("link"), format!("{link}\n")).map_err(io(folder))?;
        Ok(Bundle {
            link,
            version: record.version,
            chunks,
        })
    }
}

impl Apps {
    /// Adds Quince's own log to a bundle, so the installer in it can be
    /// checked (`quince verify-installer`): `folder/quince/log` (the
    /// verified log of `me`, Quince's own app) and `folder/quince/store`
    /// (the manifest of its current release). Returns the installer that
    /// release holds (`bin/quince-bootstrap`, `.exe` on Windows), if it has one: the one to
    /// put in the bundle, since the log covers it.
    pub fn share_self(&self, me: &AppId, folder: &Path) -> Result<Option<PathBuf>, InstallError> {
        let record = self.current_release(me)?;
        let dir = folder.join("quince");
        copy_tree(&self.log_dir(me), &dir.join("log"))?;
        let store = Store::open(&dir.join("store"))?;
        store.put_manifest(&self.store()?.manifest(&record.manifest)?)?;
        let installer = self
            .current_dir(me)
            .join(crate::platform::quince_program("quince-bootstrap"));
        Ok(installer.is_file().then_some(installer))
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), InstallError> {
    fs::create_dir_all(to).map_err(io(to))?;
    for entry in fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let kind = entry.file_type().map_err(io(from))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target).map_err(io(&target))?;
        }
    }
    Ok(())
}
