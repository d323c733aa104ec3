//! Offline bundles: an installed app's current version written to a folder
//! (a USB stick) that installs with no network, and nothing in it trusted.
//! A bundle is for one platform: this machine's, or another one (a friend
//! on Windows gets a bundle from a Linux machine); files this machine's
//! store lacks (the other platform's) are fetched from peers by
//! [`crate::Client::share`].

use std::collections::HashSet;
use std::fs;
use std::io::Write as _;
use std::path::Path;

use quince_protocol::hash::Hash;
use quince_protocol::manifest::{ChunkRef, EntryKind, Manifest, VerifiedManifest};
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
    /// The platform the bundle installs on.
    pub platform: Platform,
    /// Chunks written.
    pub chunks: usize,
    /// Chunks of the platform's files this machine's store does not hold
    /// (another platform's files): [`Apps::share`] leaves them out, and
    /// the bundle is complete once they are in its `store/`.
    pub lacking: Vec<ChunkRef>,
    /// The release's zstd dictionaries (some of which may be `lacking`):
    /// what a fetch of the lacking chunks gets, and learns, first.
    pub dictionaries: Vec<ChunkRef>,
}

/// A file of a release, by its manifest entry: what is needed to write it
/// and check it.
#[derive(Debug, Clone)]
pub struct ReleasedFile {
    /// Its path in the release.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: Hash,
    /// Executable (mode 0755 on Unix).
    pub executable: bool,
    /// Its chunks, in order.
    pub chunks: Vec<ChunkRef>,
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

    /// The current release of `app` and its manifest (checked against the
    /// record), if the release serves `platform`.
    fn current_for(
        &self,
        app: &AppId,
        platform: &Platform,
    ) -> Result<(fetch::Release, Vec<u8>, VerifiedManifest), InstallError> {
        let record = self.current_release(app)?;
        if !record.serves(platform) {
            return Err(InstallError::NoSuchVersion {
                app: *app,
                version: record.version,
                platform: platform.clone(),
            });
        }
        let store = self.store()?;
        let bytes = store.manifest(&record.manifest)?;
        let manifest =
            Manifest::verify(&bytes, &record.manifest).map_err(|e| InstallError::State {
                path: store.dir().to_path_buf(),
                reason: format!("manifest: {e}"),
            })?;
        Ok((record, bytes, manifest))
    }

    /// Writes an offline bundle of `app`'s current version for `platform`
    /// into `folder` (which must not exist): `log/` (the verified log),
    /// `store/` (the manifest and the platform's chunks this machine
    /// holds), `link` and `README.txt`; the chunks it lacks are listed in
    /// [`Bundle::lacking`]. The receiver trusts none of it: installing from
    /// it checks everything against the app id in the link, exactly as
    /// from a peer.
    pub fn share(
        &self,
        app: &AppId,
        folder: &Path,
        platform: &Platform,
    ) -> Result<Bundle, InstallError> {
        let (record, manifest_bytes, manifest) = self.current_for(app, platform)?;
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
        bundle.put_manifest(&manifest_bytes)?;
        let mut chunks = 0;
        let mut lacking = Vec::new();
        let mut seen = HashSet::new();
        // Two rounds of one batch each (small chunks go into packs, two
        // syncs a round): the dictionaries first, which the bundle's store
        // learns before it checks the chunks compressed with them.
        let dictionaries = manifest.dictionaries();
        let files: Vec<ChunkRef> = manifest
            .chunks_for(platform)
            .skip(dictionaries.len())
            .collect();
        for (round, refs) in [dictionaries, &files[..]].into_iter().enumerate() {
            let mut batch = bundle.batch();
            for c in refs {
                if !seen.insert(c.id) {
                    continue;
                }
                if store.has(&c.id) {
                    batch.put_compressed(c, &store.compressed(&c.id)?)?;
                    chunks += 1;
                } else {
                    lacking.push(*c);
                }
            }
            batch.finish()?;
            if round == 0 {
                for d in dictionaries.iter().filter(|d| bundle.has(&d.id)) {
                    bundle.learn_dictionary(d)?;
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
            "This folder holds app {app} release {} for {platform} and everything needed\n\
             to check it. Install it with no network: run the command in INSTALL from this\n\
             folder (the app's link is {link}).\n\n\
             Nothing here is trusted: every byte is checked against the app id in the link.\n",
            record.version
        );
        fs::write(folder.join("README.txt"), text).map_err(io(folder))?;
        fs::write(folder.join("link"), format!("{link}\n")).map_err(io(folder))?;
        Ok(Bundle {
            link,
            version: record.version,
            platform: platform.clone(),
            chunks,
            lacking,
            dictionaries: manifest.dictionaries().to_vec(),
        })
    }
}

impl Apps {
    /// Adds Quince's own log to a bundle, so the installer in it can be
    /// checked (`quince verify-installer`): `folder/quince/log` (the
    /// verified log of `me`, Quince's own app) and `folder/quince/store`
    /// (the manifest of its current release). Returns the installer that
    /// release holds for `platform` (`bin/quince-bootstrap`, with `.exe`
    /// for Windows), if it has one: the one to put in the bundle, since
    /// the log covers it.
    pub fn share_self(
        &self,
        me: &AppId,
        folder: &Path,
        platform: &Platform,
    ) -> Result<Option<ReleasedFile>, InstallError> {
        let record = self.current_release(me)?;
        let dir = folder.join("quince");
        copy_tree(&self.log_dir(me), &dir.join("log"))?;
        let store = Store::open(&dir.join("store"))?;
        let bytes = self.store()?.manifest(&record.manifest)?;
        store.put_manifest(&bytes)?;
        if !record.serves(platform) {
            return Ok(None);
        }
        let manifest =
            Manifest::verify(&bytes, &record.manifest).map_err(|e| InstallError::State {
                path: dir.clone(),
                reason: format!("manifest: {e}"),
            })?;
        let name = crate::platform::quince_program_for("quince-bootstrap", platform);
        let installer = manifest
            .entries_for(platform)
            .find(|e| e.path.as_str() == name)
            .and_then(|e| match &e.kind {
                // An installer is megabytes: never in a shared chunk.
                EntryKind::File {
                    executable,
                    size,
                    sha256,
                    chunks,
                    shared_at: None,
                } => Some(ReleasedFile {
                    path: name.clone(),
                    size: *size,
                    sha256: *sha256,
                    executable: *executable,
                    chunks: chunks.clone(),
                }),
                _ => None,
            });
        Ok(installer)
    }

    /// Writes `file` to `to` from the chunks in `stores` (the first that
    /// holds each), checking its size and SHA-256; nothing is left at `to`
    /// if a check fails.
    pub fn write_released(
        &self,
        file: &ReleasedFile,
        stores: &[&Store],
        to: &Path,
    ) -> Result<(), InstallError> {
        let written = (|| {
            let mut out = fs::File::create(to).map_err(io(to))?;
            let mut hasher = quince_protocol::hash::Sha256Stream::new();
            let mut size = 0u64;
            for c in &file.chunks {
                let store = stores
                    .iter()
                    .find(|s| s.has(&c.id))
                    .ok_or(quince_store::StoreError::MissingChunk(c.id))?;
                let raw = store.chunk(c)?;
                hasher.update(&raw);
                size += raw.len() as u64;
                out.write_all(&raw).map_err(io(to))?;
            }
            out.sync_all().map_err(io(to))?;
            if size != file.size || hasher.finish() != file.sha256 {
                return Err(InstallError::State {
                    path: to.to_path_buf(),
                    reason: format!("{} does not match its release's hash", file.path),
                });
            }
            crate::platform::set_executable(to, file.executable).map_err(io(to))?;
            Ok(())
        })();
        if written.is_err() {
            let _ = fs::remove_file(to);
        }
        written
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
