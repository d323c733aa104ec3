//! A user's Quince folder: the installed apps (see [`crate::install`]), the
//! node's identity, the peers remembered from the last run and an optional
//! `config.json`. Only files; no network.
//!
//! ```text
//! HOME/identity     the node's key (mode 0600): the same peer id across runs
//! HOME/peers.json   DHT peers met on earlier runs, newest first (at most 64)
//! HOME/config.json  {"bootstrap": [...], "relays": [...]}: replaces the built-in list
//! HOME/apps/, HOME/store/   see crate::install
//! ```

use std::path::{Path, PathBuf};

use libp2p::{identity, Multiaddr};
use quince_store::durable;

use crate::node::{load_or_create_identity, parse_addresses, NetError};

/// How many remembered peers are kept.
pub const REMEMBER: usize = 64;

/// What is wrong with a file in the home folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HomeError {
    /// No folder was given and the platform has no default.
    #[error("no home folder: set --home or QUINCE_HOME")]
    NoHome,
    /// `config.json` cannot be read or does not parse.
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The default home folder: `$XDG_DATA_HOME/quince` or `~/.local/share/quince`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("quince"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/quince"))
}

/// `config.json`: settings that replace the built-in defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HomeConfig {
    /// Replaces the built-in bootstrap list, if given.
    pub bootstrap: Option<Vec<Multiaddr>>,
    /// Relays to keep a reservation on.
    pub relays: Vec<Multiaddr>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    bootstrap: Option<Vec<String>>,
    #[serde(default)]
    relays: Vec<String>,
}

/// One user's Quince folder.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// The folder `dir` (made when something is written).
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }

    /// `dir` if given, else the platform's default.
    pub fn or_default(dir: Option<PathBuf>) -> Result<Home, HomeError> {
        dir.or_else(default_dir)
            .map(Home::new)
            .ok_or(HomeError::NoHome)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The node's identity, created on first use.
    pub fn identity(&self) -> Result<identity::Keypair, NetError> {
        load_or_create_identity(&self.dir.join("identity"))
    }

    /// `config.json`, or the defaults if there is none.
    pub fn config(&self) -> Result<HomeConfig, HomeError> {
        let path = self.dir.join("config.json");
        let bad = |reason: String| HomeError::Config {
            path: path.clone(),
            reason,
        };
        let file: ConfigFile = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigFile::default(),
            Err(e) => return Err(bad(e.to_string())),
        };
        let parse = |list: &[String]| parse_addresses(list).map_err(|e| bad(e.to_string()));
        Ok(HomeConfig {
            bootstrap: file.bootstrap.as_deref().map(parse).transpose()?,
            relays: parse(&file.relays)?,
        })
    }

    /// The peers remembered from earlier runs (unreadable entries are skipped).
    pub fn remembered_peers(&self) -> Vec<Multiaddr> {
        std::fs::read(self.dir.join("peers.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok())
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    /// Remembers `newest` ahead of the peers already remembered, keeping
    /// [`REMEMBER`] in all.
    pub fn remember_peers(&self, newest: &[Multiaddr]) -> Result<(), HomeError> {
        let mut all: Vec<String> = newest.iter().map(ToString::to_string).collect();
        for old in self.remembered_peers() {
            let old = old.to_string();
            if !all.contains(&old) {
                all.push(old);
            }
        }
        all.truncate(REMEMBER);
        let path = self.dir.join("peers.json");
        let json = serde_json::to_vec_pretty(&all).map_err(|e| HomeError::Config {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        durable::write_atomic(&path, &json).map_err(|source| HomeError::Io { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u16) -> Multiaddr {
        format!("/ip4/10.0.0.1/tcp/{n}").parse().unwrap()
    }

    #[test]
    fn remembered_peers_keep_the_newest_first_and_at_most_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        assert!(home.remembered_peers().is_empty());
        home.remember_peers(&[addr(1), addr(2)]).unwrap();
        home.remember_peers(&[addr(3), addr(1)]).unwrap();
        assert_eq!(home.remembered_peers(), [addr(3), addr(1), addr(2)]);
        let many: Vec<Multiaddr> = (100..200).map(addr).collect();
        home.remember_peers(&many).unwrap();
        assert_eq!(home.remembered_peers().len(), REMEMBER);
        assert_eq!(home.remembered_peers()[0], addr(100));
    }

    #[test]
    fn a_config_file_with_a_bad_address_or_an_unknown_key_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        assert_eq!(home.config().unwrap(), HomeConfig::default());
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"bootstrap": ["/ip4/10.0.0.1/tcp/1"]}"#,
        )
        .unwrap();
        assert_eq!(home.config().unwrap().bootstrap, Some(vec![addr(1)]));
        for bad in [r#"{"bootstrap": ["nonsense"]}"#, r#"{"bootstrp": []}"#, "{"] {
            std::fs::write(dir.path().join("config.json"), bad).unwrap();
            let err = home.config().unwrap_err().to_string();
            assert!(err.contains("config.json"), "{err}");
        }
    }
}
