//! An app's end, and the store's cleanup: `remove` takes an app away (its
//! versions, log and state) and `gc` deletes the chunks no installed version
//! needs. Both leave nothing half done that the next run cannot finish.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use quince_protocol::codec::Decode as _;
use quince_protocol::manifest::{DeltaIndex, Manifest};
use quince_protocol::record::{Platform, Version};
use quince_protocol::root::AppId;

use super::{io, Apps, InstallError};
use crate::fetch;

/// Where a removed app's folder goes before it is deleted: once renamed, the
/// app is no longer installed; a deletion cut short is finished by the next
/// [`Apps::open`].
const REMOVED_PREFIX: &str = ".removed-";

/// What `remove` did.
#[derive(Debug, Clone)]
pub struct Removed {
    /// The app's name, if its log said.
    pub name: Option<String>,
    /// The version that was current.
    pub version: Option<Version>,
    /// Bytes freed from the app's folder (its chunks stay until `gc`).
    pub bytes: u64,
    /// The app's own data folder (`QUINCE_DATA_DIR`): kept, unless purged.
    pub data: Option<(std::path::PathBuf, bool)>,
}

/// What `gc` did.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    /// Chunks in the store before, and their bytes on disk.
    pub chunks_before: usize,
    /// Bytes of chunks before.
    pub bytes_before: u64,
    /// Chunks deleted.
    pub chunks_deleted: usize,
    /// Bytes deleted.
    pub bytes_deleted: u64,
    /// Folders of removed apps whose deletion had been cut short, finished now.
    pub leftovers: usize,
    /// Version folders deleted: neither current, previous nor on trial, and
    /// not in use by a running program.
    pub versions_deleted: Vec<(AppId, Version)>,
    /// Their bytes.
    pub version_bytes_deleted: u64,
    /// Old version folders kept because a running program uses them.
    pub versions_in_use: Vec<(AppId, Version)>,
    /// Patches deleted: none leads to a kept version.
    pub patches_deleted: usize,
    /// Their bytes.
    pub patch_bytes_deleted: u64,
    /// Bytes of temporary files left in the store by writes a crash cut
    /// short (more than an hour old), deleted.
    pub temp_bytes_deleted: u64,
}

/// What a version folder is renamed to before it is deleted.
const GOING: &str = ".going-";

/// Deletes `app`'s version folders other than current, previous and trial,
/// except those a running program uses. Returns (deleted with their bytes,
/// kept because in use).
///
/// A folder is first renamed out of the way, then deleted: where the OS
/// refuses to rename a folder holding a running program or an open file
/// (Windows; Linux is asked through [`super::in_use`] instead), the
/// version is kept whole, where deleting it file by file would have taken
/// whatever its running program had not opened. (Wine allows the rename,
/// so that refusal is not tested here.) A deletion cut short is finished
/// the next time.
pub(super) fn prune_versions(
    dir: &super::AppDir,
    state: &super::AppState,
) -> (Vec<(Version, u64)>, Vec<Version>) {
    let (mut deleted, mut in_use) = (Vec::new(), Vec::new());
    for entry in fs::read_dir(dir.versions()).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(GOING) {
            let _ = fs::remove_dir_all(entry.path());
            continue;
        }
        let keep = [state.current, state.previous, state.trial]
            .iter()
            .flatten()
            .any(|v| v.to_string() == name);
        let Ok(version) = name.parse::<Version>() else {
            continue;
        };
        if keep {
            continue;
        }
        if super::in_use(&entry.path()) {
            in_use.push(version);
            continue;
        }
        let going = dir.versions().join(format!("{GOING}{name}"));
        if fs::rename(entry.path(), &going).is_err() {
            in_use.push(version);
            continue;
        }
        let bytes = size_of(&going);
        if fs::remove_dir_all(&going).is_ok() {
            deleted.push((version, bytes));
        }
    }
    (deleted, in_use)
}

impl Apps {
    /// The lock file every change to an app holds shared, and `gc` alone.
    pub(super) fn store_lock(&self) -> Result<fs::File, InstallError> {
        let path = self.home.join("store.lock");
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))
    }

    /// The app's own data folder, kept across versions: `HOME/data/APP_ID`
    /// (`QUINCE_DATA_DIR` for its programs).
    pub fn data_dir(&self, app: &AppId) -> std::path::PathBuf {
        self.home.join("data").join(app.to_string())
    }

    /// Removes `app`: its versions, its log and its state, and with `purge`
    /// its data folder ([`Apps::data_dir`], kept otherwise). Its chunks stay in
    /// the shared store (other apps may share them) until [`Apps::gc`].
    pub fn remove(&self, app: &AppId, purge: bool) -> Result<Removed, InstallError> {
        let lock = self.lock(app)?;
        let state = self
            .recover(&lock)?
            .ok_or(InstallError::NotInstalled(*app))?;
        let name = self.name(app);
        let dir = self.app_dir(app);
        let bytes = size_of(dir.root());
        let gone = self
            .home
            .join("apps")
            .join(format!("{REMOVED_PREFIX}{app}-{}", std::process::id()));
        // One rename takes the app away; the deletion after it may be cut
        // short and is finished later.
        fs::rename(dir.root(), &gone).map_err(io(dir.root()))?;
        super::sync_dir(&self.home.join("apps"))?;
        drop(lock);
        let _ = fs::remove_dir_all(&gone);
        let data_dir = self.data_dir(app);
        let data = if data_dir.exists() {
            if purge {
                fs::remove_dir_all(&data_dir).map_err(io(&data_dir))?;
            }
            Some((data_dir, purge))
        } else {
            None
        };
        Ok(Removed {
            name,
            version: state.current,
            bytes,
            data,
        })
    }

    /// Deletes the folders of removed apps that a cut-short `remove` left;
    /// returns how many.
    pub(super) fn finish_removals(&self) -> usize {
        let mut done = 0;
        for entry in fs::read_dir(self.home.join("apps"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(REMOVED_PREFIX)
                && fs::remove_dir_all(entry.path()).is_ok()
            {
                done += 1;
            }
        }
        done
    }

    /// Deletes every chunk that no kept version (current, previous, or on
    /// trial) of any installed app needs. Waits for installs and updates in
    /// progress and keeps new ones out while it runs. If any app's needs
    /// cannot be read (a damaged log or a missing manifest), nothing is
    /// deleted.
    pub fn gc(&self) -> Result<Collected, InstallError> {
        let lock = self.store_lock()?;
        lock.lock().map_err(io(&self.home))?;
        let mut collected = Collected {
            leftovers: self.finish_removals(),
            ..Collected::default()
        };
        let store = self.store()?;
        let platform = Platform::current();
        let mut needed = HashSet::new();
        let mut kept_manifests = HashSet::new();
        for app in self.installed() {
            let state = self.state(&app)?.ok_or(InstallError::NotInstalled(app))?;
            // Holding the store alone, no app is changing: its spare versions go.
            let (deleted, in_use) = prune_versions(&self.app_dir(&app), &state);
            for (version, bytes) in deleted {
                collected.versions_deleted.push((app, version));
                collected.version_bytes_deleted += bytes;
            }
            collected
                .versions_in_use
                .extend(in_use.into_iter().map(|v| (app, v)));
            let trusted = state.trusted().map_err(|e| InstallError::State {
                path: self.app_dir(&app).state_file(),
                reason: e.to_string(),
            })?;
            let log = fetch::VerifiedLog::from_mirror(&self.log_dir(&app), trusted)?;
            for version in [state.current, state.previous, state.trial]
                .into_iter()
                .flatten()
            {
                let Some(release) = log.release(&version, &platform) else {
                    return Err(InstallError::State {
                        path: self.log_dir(&app),
                        reason: format!("release {version} of the installed versions is not in the log: nothing deleted"),
                    });
                };
                kept_manifests.insert(release.manifest);
                let bytes = store.manifest(&release.manifest)?;
                let manifest = Manifest::verify(&bytes, &release.manifest).map_err(|e| {
                    InstallError::State {
                        path: store.dir().to_path_buf(),
                        reason: format!("manifest of {version}: {e}: nothing deleted"),
                    }
                })?;
                // (Its dictionaries too: chunks compressed with one are
                // read through it.)
                needed.extend(manifest.all_chunks().map(|c| c.id));
            }
        }
        let mut unneeded = HashSet::new();
        for (id, len) in store.chunks()? {
            collected.chunks_before += 1;
            collected.bytes_before += len;
            if !needed.contains(&id) {
                unneeded.insert(id);
                collected.chunks_deleted += 1;
                collected.bytes_deleted += len;
            }
        }
        store.remove_chunks(&unneeded)?;
        collected.temp_bytes_deleted = store
            .remove_stale_temps(std::time::Duration::from_secs(3600))?
            .1;
        // Patches are kept while they lead to a kept version (this node
        // serves them to peers updating to it); the rest go.
        let mut patches = HashSet::new();
        for manifest in store.delta_indexes()? {
            if !kept_manifests.contains(&manifest) {
                store.remove_deltas(&manifest)?;
                continue;
            }
            let index = store
                .deltas(&manifest)?
                .and_then(|bytes| DeltaIndex::from_bytes(&bytes).ok());
            match index {
                Some(index) => patches.extend(index.deltas.iter().map(|d| d.patch)),
                None => store.remove_deltas(&manifest)?,
            }
        }
        for (id, len) in store.blobs()? {
            if !patches.contains(&id) {
                store.remove_blob(&id)?;
                collected.patches_deleted += 1;
                collected.patch_bytes_deleted += len;
            }
        }
        Ok(collected)
    }
}

/// Bytes of the files below `dir` (symbolic links not followed).
fn size_of(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}
