//! `repair`: an installed version whose files were changed or deleted is
//! put back as signed, file by file, from the content store (chunks that
//! are not there are fetched first: [`crate::Client::repair`]).
//!
//! Files the release does not list are left where they are (they may be
//! the user's) and reported. Each file is rebuilt beside its place, checked
//! against the manifest's SHA-256, and renamed over it: a repair cut short
//! leaves every file either as it was or as signed.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use quince_protocol::manifest::{ChunkRef, Entry, EntryKind, Manifest, VerifiedManifest};
use quince_protocol::record::{Platform, Version};
use quince_protocol::root::AppId;
use quince_store::Store;

use super::{io, Apps, Difference, InstallError};

/// What [`Apps::repair`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// The version repaired.
    pub version: Version,
    /// What was put back as signed.
    pub fixed: Vec<Difference>,
    /// Files the release does not list, left alone.
    pub extra: Vec<String>,
}

impl Apps {
    /// The current version's manifest, verified against its release record.
    pub(crate) fn current_manifest(&self, app: &AppId) -> Result<VerifiedManifest, InstallError> {
        let record = self.current_release(app)?;
        let bytes = self.store()?.manifest(&record.manifest)?;
        Manifest::verify(&bytes, &record.manifest).map_err(|e| InstallError::State {
            path: self.log_dir(app),
            reason: format!("manifest of {}: {e}", record.version),
        })
    }

    /// The chunks a repair of `app` needs that the store lacks.
    pub fn repair_needs(&self, app: &AppId) -> Result<Vec<ChunkRef>, InstallError> {
        let (_, differences) = self.verify(app)?;
        let manifest = self.current_manifest(app)?;
        let store = self.store()?;
        let mut needed: Vec<ChunkRef> = Vec::new();
        for entry in entries(&manifest, &differences) {
            if let EntryKind::File { chunks, .. } = &entry.kind {
                needed.extend(chunks.iter().filter(|c| !store.has(&c.id)));
            }
        }
        needed.sort_by_key(|c| c.id);
        needed.dedup_by_key(|c| c.id);
        // The dictionaries first: chunks compressed with one are read
        // through it.
        let mut dictionaries = store.lacking(manifest.dictionaries().iter().copied());
        needed.retain(|c| !dictionaries.contains(c));
        dictionaries.extend(needed);
        Ok(dictionaries)
    }

    /// Puts every file of `app`'s current version that differs from its
    /// signed manifest back as signed, from the store.
    pub fn repair(&self, app: &AppId) -> Result<Repaired, InstallError> {
        let _lock = self.lock(app)?;
        let (version, differences) = self.verify(app)?;
        let manifest = self.current_manifest(app)?;
        let store = self.store()?;
        let dir = self.app_dir(app).version(&version);
        for entry in entries(&manifest, &differences) {
            restore(entry, &dir, &store)?;
        }
        let (extra, fixed) = differences
            .into_iter()
            .partition::<Vec<_>, _>(|d| matches!(d, Difference::Extra(_)));
        Ok(Repaired {
            version,
            fixed,
            extra: extra
                .into_iter()
                .map(|d| match d {
                    Difference::Extra(p) => p,
                    other => other.to_string(),
                })
                .collect(),
        })
    }
}

/// The manifest's entries (for this platform) that `differences` name,
/// parents first.
fn entries<'a>(manifest: &'a VerifiedManifest, differences: &[Difference]) -> Vec<&'a Entry> {
    let wanted: std::collections::HashSet<String> = differences
        .iter()
        .filter_map(|d| match d {
            Difference::Modified(p)
            | Difference::Missing(p)
            | Difference::Mode(p)
            | Difference::Link(p) => Some(p.clone()),
            Difference::Extra(_) => None,
        })
        .collect();
    let platform = Platform::current();
    manifest
        .entries()
        .iter()
        .filter(|e| e.is_for(&platform) && wanted.contains(e.path.as_str()))
        .collect()
}

/// Makes `entry` in `dir` exactly as the manifest says.
fn restore(entry: &Entry, dir: &Path, store: &Store) -> Result<(), InstallError> {
    let path = dir.join(entry.path.as_str());
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let clear = |path: &Path| -> Result<(), InstallError> {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(io(path)),
            Ok(_) => fs::remove_file(path).map_err(io(path)),
            Err(_) => Ok(()),
        }
    };
    match &entry.kind {
        EntryKind::Dir => {
            if !path.is_dir() || fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink()) {
                clear(&path)?;
                fs::create_dir(&path).map_err(io(&path))?;
            }
        }
        EntryKind::Symlink { target } => {
            clear(&path)?;
            crate::platform::symlink(Path::new(target), &path).map_err(io(&path))?;
        }
        EntryKind::File {
            executable,
            size,
            sha256,
            chunks,
            shared_at,
        } => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let tmp = path.with_file_name(format!(".quince-repair-{name}"));
            let mut file = fs::File::create(&tmp).map_err(io(&tmp))?;
            let mut hasher = quince_protocol::hash::Sha256Stream::new();
            store.reader().file(
                chunks,
                *shared_at,
                *size,
                |raw| -> Result<(), InstallError> {
                    hasher.update(raw);
                    file.write_all(raw).map_err(io(&tmp))
                },
            )?;
            file.sync_all().map_err(io(&tmp))?;
            if hasher.finish() != *sha256 {
                let _ = fs::remove_file(&tmp);
                return Err(InstallError::State {
                    path,
                    reason: "rebuilt from the store, it does not match its signed SHA-256".into(),
                });
            }
            crate::platform::set_executable(&tmp, *executable).map_err(io(&tmp))?;
            if path.is_dir() && !path.is_symlink() {
                fs::remove_dir_all(&path).map_err(io(&path))?;
            }
            fs::rename(&tmp, &path).map_err(io(&path))?;
        }
    }
    Ok(())
}
