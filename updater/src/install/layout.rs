//! Where an installed app's files are: every path under `HOME/apps/APP_ID/`
//! is spelled here and nowhere else.

use std::path::{Path, PathBuf};

use quince_protocol::record::Version;

/// One app's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDir {
    root: PathBuf,
}

impl AppDir {
    /// The app folder at `root` (`HOME/apps/APP_ID`).
    pub fn new(root: PathBuf) -> AppDir {
        AppDir { root }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `state.json`: the trusted state and the versions (see [`super::AppState`]).
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// The temporary name `state.json` is written under before its rename.
    pub fn state_tmp(&self) -> PathBuf {
        self.root.join(".state.json.tmp")
    }

    /// `log/`: the verified log, served to peers.
    pub fn log(&self) -> PathBuf {
        self.root.join("log")
    }

    /// `versions/`: one folder per installed version.
    pub fn versions(&self) -> PathBuf {
        self.root.join("versions")
    }

    /// `versions/V`.
    pub fn version(&self, version: &Version) -> PathBuf {
        self.versions().join(version.to_string())
    }

    /// `current`: the symlink to `versions/V`, switched by one rename.
    pub fn current(&self) -> PathBuf {
        self.root.join("current")
    }

    /// Where the next `current` link is made before its rename.
    pub fn current_tmp(&self) -> PathBuf {
        self.root.join("current.tmp")
    }

    /// What `current` points to, relative to the app folder.
    pub fn current_target(version: &Version) -> PathBuf {
        Path::new("versions").join(version.to_string())
    }

    /// `staging/`: where a version is unpacked and verified first.
    pub fn staging(&self) -> PathBuf {
        self.root.join("staging")
    }

    /// `lock`: held while anything changes the app.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("lock")
    }
}
