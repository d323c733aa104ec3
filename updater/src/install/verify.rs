//! `verify`: an installed version re-hashed against its signed release.

use std::fs;
use std::path::Path;

use quince_protocol::record::{Platform, Version};
use quince_protocol::root::AppId;

use super::{io, Apps, InstallError};

/// One way an installed version differs from its signed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// A file's bytes do not hash to the manifest's SHA-256.
    Modified(String),
    /// The manifest lists it; the folder lacks it (or it is of another kind).
    Missing(String),
    /// The folder holds it; the manifest does not list it.
    Extra(String),
    /// A file's executable bit differs.
    Mode(String),
    /// A symlink points elsewhere.
    Link(String),
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Modified(p) => write!(f, "modified: {p}"),
            Difference::Missing(p) => write!(f, "missing: {p}"),
            Difference::Extra(p) => write!(f, "not in the release: {p}"),
            Difference::Mode(p) => write!(f, "executable bit changed: {p}"),
            Difference::Link(p) => write!(f, "link target changed: {p}"),
        }
    }
}

impl Apps {
    /// Re-checks the installed current version of `app` against what was
    /// signed: the log mirror's entries must give the trusted checkpoint's
    /// root, the manifest must have the hash its release record names, and
    /// every file must hash to the manifest. Returns the version and every
    /// difference (empty: intact).
    pub fn verify(&self, app: &AppId) -> Result<(Version, Vec<Difference>), InstallError> {
        let damaged = |reason: String| InstallError::State {
            path: self.log_dir(app),
            reason,
        };
        let record = self.current_release(app)?;
        let bytes = self.store()?.manifest(&record.manifest)?;
        let manifest = quince_protocol::manifest::Manifest::verify(&bytes, &record.manifest)
            .map_err(|e| damaged(format!("manifest: {e}")))?;
        let dir = self.app_dir(app).version(&record.version);
        let platform = Platform::current();
        let mut out = Vec::new();
        let mut listed = std::collections::HashSet::new();
        for entry in manifest.entries_for(&platform) {
            let rel = entry.path.as_str().to_string();
            listed.insert(rel.clone());
            let path = dir.join(&rel);
            let meta = fs::symlink_metadata(&path);
            match (&entry.kind, meta) {
                (quince_protocol::manifest::EntryKind::Dir, Ok(m)) if m.is_dir() => {}
                (
                    quince_protocol::manifest::EntryKind::File {
                        executable, sha256, ..
                    },
                    Ok(m),
                ) if m.is_file() => {
                    let got = hash_file(&path)?;
                    if got != *sha256 {
                        out.push(Difference::Modified(rel));
                    } else if crate::platform::HAS_EXEC_BITS
                        && crate::platform::is_executable(&path, &m) != *executable
                    {
                        out.push(Difference::Mode(rel));
                    }
                }
                (quince_protocol::manifest::EntryKind::Symlink { target }, Ok(m))
                    if m.file_type().is_symlink() =>
                {
                    if fs::read_link(&path).ok().as_deref() != Some(Path::new(target)) {
                        out.push(Difference::Link(rel));
                    }
                }
                _ => out.push(Difference::Missing(rel)),
            }
        }
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).map_err(io(&d))?.flatten() {
                let p = e.path();
                // As the manifest writes paths, parts joined by '/' (Windows
                // joins them with backslashes: every file looked extra there).
                let rel = p
                    .strip_prefix(&dir)
                    .map(|r| {
                        r.components()
                            .map(|c| c.as_os_str().to_string_lossy())
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .unwrap_or_default();
                if !listed.contains(&rel) {
                    out.push(Difference::Extra(rel));
                } else if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(p);
                }
            }
        }
        out.sort_by_key(ToString::to_string);
        Ok((record.version, out))
    }
}

/// SHA-256 of a file, read in pieces.
fn hash_file(path: &Path) -> Result<quince_protocol::Hash, InstallError> {
    use std::io::Read as _;
    let mut f = fs::File::open(path).map_err(io(path))?;
    let mut hasher = quince_protocol::hash::Sha256Stream::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}
