//! A user's Quince folder: the installed apps (see [`crate::install`]), the
//! node's identity and the peers remembered from earlier runs. Only files;
//! no network. (Which network to join is the user's network file:
//! [`crate::network`].)
//!
//! ```text
//! HOME/identity     the node's key (mode 0600): the same peer id across runs
//! HOME/peers.json   {"dht": [...], "apps": {"APP_ID": [...]}}: DHT peers met
//!                   and, per app, peers that served verified data; newest first
//! HOME/apps/, HOME/store/   see crate::install
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use libp2p::{identity, Multiaddr};
use quince_protocol::root::AppId;
use quince_store::durable;

use crate::node::{load_or_create_identity, NetError};

/// How many remembered DHT peers are kept.
pub const REMEMBER: usize = 64;
/// How many peers are kept per app.
pub const REMEMBER_PER_APP: usize = 16;
/// How many apps' peers are kept.
pub const REMEMBER_APPS: usize = 256;
/// The largest peer cache read.
pub const MAX_PEERS_FILE: u64 = 1024 * 1024;

/// What is wrong with a file in the home folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HomeError {
    /// No folder was given and the platform has no default.
    #[error("no home folder: set --home or QUINCE_HOME")]
    NoHome,
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

pub use quince_store::cli::xdg;

/// The default home folder: `quince` in the user's data folder
/// ([`quince_store::cli::user_dir`]): `$XDG_DATA_HOME/quince` or
/// `~/.local/share/quince` on Linux, `%LOCALAPPDATA%\quince` on Windows,
/// `~/Library/Application Support/quince` on macOS.
pub fn default_dir() -> Option<PathBuf> {
    quince_store::cli::user_dir(quince_store::cli::UserDir::Data).map(|d| d.join("quince"))
}

/// `peers.json`: the peer cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerCache {
    /// DHT peers met, newest first.
    pub dht: Vec<Multiaddr>,
    /// Per app, peers that served verified data, newest first.
    pub apps: BTreeMap<AppId, Vec<Multiaddr>>,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct PeersFile {
    #[serde(default)]
    dht: Vec<String>,
    #[serde(default)]
    apps: BTreeMap<String, Vec<String>>,
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

    /// The peer cache, and a warning if it was there but unreadable (it
    /// is then treated as empty and rewritten on the next save).
    pub fn peer_cache(&self) -> (PeerCache, Option<String>) {
        let path = self.dir.join("peers.json");
        let bytes = match crate::network::read_bounded(&path, MAX_PEERS_FILE) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (PeerCache::default(), None)
            }
            Err(e) => {
                return (
                    PeerCache::default(),
                    Some(format!("{}: {e}; ignored", path.display())),
                )
            }
        };
        // The first format was a bare list of DHT peers.
        let file = serde_json::from_slice::<PeersFile>(&bytes).or_else(|_| {
            serde_json::from_slice::<Vec<String>>(&bytes).map(|dht| PeersFile {
                dht,
                ..PeersFile::default()
            })
        });
        let file = match file {
            Ok(f) => f,
            Err(e) => {
                let warning = format!("{}: not a peer cache ({e}); ignored", path.display());
                return (PeerCache::default(), Some(warning));
            }
        };
        let addrs = |list: &[String]| -> Vec<Multiaddr> {
            list.iter().filter_map(|a| a.parse().ok()).collect()
        };
        let apps = file
            .apps
            .iter()
            .filter_map(|(app, list)| Some((app.parse().ok()?, addrs(list))))
            .collect();
        (
            PeerCache {
                dht: addrs(&file.dht),
                apps,
            },
            None,
        )
    }

    /// The DHT peers remembered from earlier runs.
    pub fn remembered_peers(&self) -> Vec<Multiaddr> {
        self.peer_cache().0.dht
    }

    /// Peers that served verified data of `app` before.
    pub fn app_peers(&self, app: &AppId) -> Vec<Multiaddr> {
        self.peer_cache().0.apps.remove(app).unwrap_or_default()
    }

    /// Remembers `newest` DHT peers ahead of those already remembered,
    /// keeping [`REMEMBER`] in all.
    pub fn remember_peers(&self, newest: &[Multiaddr]) -> Result<(), HomeError> {
        let (mut cache, _) = self.peer_cache();
        cache.dht = merge(newest, &cache.dht, REMEMBER);
        self.save_peer_cache(&cache)
    }

    /// Remembers peers that served verified data of `app`, newest first.
    pub fn remember_app_peers(&self, app: AppId, newest: &[Multiaddr]) -> Result<(), HomeError> {
        if newest.is_empty() {
            return Ok(());
        }
        let (mut cache, _) = self.peer_cache();
        let old = cache.apps.remove(&app).unwrap_or_default();
        if cache.apps.len() >= REMEMBER_APPS {
            if let Some(first) = cache.apps.keys().next().copied() {
                cache.apps.remove(&first);
            }
        }
        cache
            .apps
            .insert(app, merge(newest, &old, REMEMBER_PER_APP));
        self.save_peer_cache(&cache)
    }

    fn save_peer_cache(&self, cache: &PeerCache) -> Result<(), HomeError> {
        let text = |l: &[Multiaddr]| l.iter().map(ToString::to_string).collect::<Vec<_>>();
        let file = PeersFile {
            dht: text(&cache.dht),
            apps: cache
                .apps
                .iter()
                .map(|(app, l)| (app.to_string(), text(l)))
                .collect(),
        };
        let path = self.dir.join("peers.json");
        let io = |source| HomeError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let json = serde_json::to_vec_pretty(&file).map_err(|e| io(std::io::Error::other(e)))?;
        durable::write_atomic(&path, &json).map_err(io)
    }
}

/// `newest` then the rest of `old`, without repeats, at most `cap`.
fn merge(newest: &[Multiaddr], old: &[Multiaddr], cap: usize) -> Vec<Multiaddr> {
    let mut all: Vec<Multiaddr> = Vec::new();
    for a in newest.iter().chain(old) {
        if !all.contains(a) {
            all.push(a.clone());
        }
    }
    all.truncate(cap);
    all
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
    fn app_peers_are_kept_per_app_and_a_corrupt_cache_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let app = AppId([7; 32]);
        home.remember_peers(&[addr(1)]).unwrap();
        home.remember_app_peers(app, &[addr(2)]).unwrap();
        home.remember_app_peers(app, &[addr(3), addr(2)]).unwrap();
        assert_eq!(home.app_peers(&app), [addr(3), addr(2)]);
        assert_eq!(home.app_peers(&AppId([8; 32])), Vec::<Multiaddr>::new());
        assert_eq!(home.remembered_peers(), [addr(1)]);
        std::fs::write(dir.path().join("peers.json"), "[\"/ip4/10.0.0.1/tcp/9\", 5").unwrap();
        let (cache, warning) = home.peer_cache();
        assert_eq!(cache, PeerCache::default());
        assert!(warning.unwrap().contains("peers.json"));
        // Saving again replaces the corrupt file.
        home.remember_peers(&[addr(4)]).unwrap();
        assert_eq!(home.remembered_peers(), [addr(4)]);
        // The first format, a bare list, is still read.
        std::fs::write(dir.path().join("peers.json"), "[\"/ip4/10.0.0.1/tcp/5\"]").unwrap();
        assert_eq!(home.remembered_peers(), [addr(5)]);
    }
}
