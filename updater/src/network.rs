//! Which network a node joins: the public libp2p DHT by default, or a
//! private one. The settings come, in this order, from command-line flags,
//! the user's network file, and the built-in defaults below.
//!
//! ```text
//! $QUINCE_CONFIG, else quince/network.json in the user's config folder
//! ($XDG_CONFIG_HOME or ~/.config on Linux, %APPDATA% on Windows,
//! ~/Library/Application Support on macOS)
//! {
//!   "network": "public" | "private",        default "public"
//!   "bootstrap": ["/dnsaddr/.../p2p/ID"],   default: the built-in list (public) or none (private)
//!   "kad_protocol": "/ipfs/kad/1.0.0",      default: by network
//!   "relays": ["/ip4/.../p2p/ID"],          relays to keep a reservation on
//!   "dht": "client" | "auto" | "server",    default: client (public), server (private)
//!   "private_addresses_reachable": false    a lab whose "public" side uses RFC 1918 addresses
//! }
//! ```
//!
//! The file is read by every program that joins the network (`quince`,
//! `quince-bootstrap`). Nothing in it is fatal: an entry that does not parse,
//! an unknown key, even a file that is not JSON, is a warning naming the
//! file and the entry, and the rest (or the defaults) is used.

use std::path::{Path, PathBuf};

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use quince_store::durable;

/// The Kademlia protocol of the public libp2p DHT (IPFS's Amino DHT).
pub const PUBLIC_KAD_PROTOCOL: &str = "/ipfs/kad/1.0.0";

/// The public DHT's bootstrap peers, as the libp2p and IPFS implementations
/// ship them: names resolved through DNS TXT records (`_dnsaddr.NAME`),
/// then the IP-literal entries, used as they are when DNS fails. The IP
/// entries are the addresses these peers had when the list was written;
/// the names follow them when they move.
pub const PUBLIC_BOOTSTRAP: &[&str] = &[
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
    "/dnsaddr/va1.bootstrap.libp2p.io/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8",
    "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
    "/ip4/104.131.131.82/udp/4001/quic-v1/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
    "/ip4/145.40.118.135/tcp/4001/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
    "/ip4/139.178.91.71/udp/4001/quic-v1/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
];

/// The largest network file read (it lists addresses; a bigger one is a mistake).
pub const MAX_FILE_BYTES: u64 = 256 * 1024;

/// The environment variable naming the network file (for tests, labs and
/// several setups on one account).
pub const CONFIG_ENV: &str = "QUINCE_CONFIG";

/// The environment variable that picks the network for one run
/// (`public` or `private`), like the `--network` flag.
pub const NETWORK_ENV: &str = "QUINCE_NETWORK";

/// Which DHT a node joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The public libp2p DHT, through the built-in bootstrap list.
    Public,
    /// A closed deployment: only the bootstrap peers given, Quince's own
    /// Kademlia protocol name unless another is given.
    Private,
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        match s {
            "public" => Ok(Kind::Public),
            "private" => Ok(Kind::Private),
            other => Err(format!("unknown network {other:?}: say public or private")),
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Public => "public",
            Kind::Private => "private",
        })
    }
}

/// How a node takes part in the DHT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhtMode {
    /// Asks but does not answer: right for nodes others cannot dial.
    Client,
    /// Client until a public address is confirmed (AutoNAT, or an address
    /// given as external), server from then on.
    Auto,
    /// Answers queries and stores records from the start.
    Server,
}

impl std::str::FromStr for DhtMode {
    type Err = String;
    fn from_str(s: &str) -> Result<DhtMode, String> {
        match s {
            "client" => Ok(DhtMode::Client),
            "auto" => Ok(DhtMode::Auto),
            "server" => Ok(DhtMode::Server),
            other => Err(format!(
                "unknown DHT mode {other:?}: say client, auto or server"
            )),
        }
    }
}

impl std::fmt::Display for DhtMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DhtMode::Client => "client",
            DhtMode::Auto => "auto",
            DhtMode::Server => "server",
        })
    }
}

/// The network a node joins, after flags, file and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// Public or private.
    pub kind: Kind,
    /// Peers to join the DHT through (each ends in `/p2p/ID`).
    pub bootstrap: Vec<Multiaddr>,
    /// Whether `bootstrap` is the built-in list (not the file's).
    pub built_in: bool,
    /// The Kademlia protocol name.
    pub kad_protocol: String,
    /// Relays to keep a reservation on.
    pub relays: Vec<Multiaddr>,
    /// How the node takes part in the DHT.
    pub dht: DhtMode,
    /// Treat RFC 1918 addresses as reachable (labs).
    pub private_addresses_reachable: bool,
}

/// One problem with the network file: reported, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why the network file could not be changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// There is no file path: no `QUINCE_CONFIG`, `XDG_CONFIG_HOME` or `HOME`.
    #[error("no place for the network file: set QUINCE_CONFIG or HOME")]
    NoPath,
    /// The file exists but is not a network file; it is left as it is.
    #[error("{path}: {reason} (fix or remove the file first)")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An address given to add is not a peer address.
    #[error("{0}")]
    BadAddress(String),
    /// Writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The network file's path: `$QUINCE_CONFIG`, else
/// `$XDG_CONFIG_HOME/quince/network.json`, else `~/.config/quince/network.json`.
pub fn default_path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(p) = var(CONFIG_ENV) {
        return Some(PathBuf::from(p));
    }
    quince_store::cli::user_dir(quince_store::cli::UserDir::Config)
        .map(|d| d.join("quince").join("network.json"))
}

/// The network file as written (every key optional).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct NetworkFile {
    /// `public` or `private`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The bootstrap list; absent: the network's default list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Vec<String>>,
    /// The Kademlia protocol name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kad_protocol: Option<String>,
    /// Relays to keep a reservation on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relays: Option<Vec<String>>,
    /// `client`, `auto` or `server`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dht: Option<String>,
    /// Treat RFC 1918 addresses as reachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_addresses_reachable: Option<bool>,
    /// Keys this version does not know (kept when the file is rewritten).
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Flags that override the file for one run.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--network`.
    pub kind: Option<Kind>,
    /// `--bootstrap` (replaces the list when not empty).
    pub bootstrap: Vec<Multiaddr>,
    /// `--kad-protocol`.
    pub kad_protocol: Option<String>,
    /// `--dht`.
    pub dht: Option<DhtMode>,
}

impl NetworkFile {
    /// Reads the file at `path`. A missing file is an empty one; a file that
    /// cannot be read or parsed is an error (see [`NetworkFile::load_lenient`]).
    pub fn load(path: &Path) -> Result<NetworkFile, FileError> {
        let unreadable = |reason: String| FileError::Unreadable {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = match read_bounded(path, MAX_FILE_BYTES) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(NetworkFile::default()),
            Err(e) => return Err(unreadable(e.to_string())),
        };
        serde_json::from_slice(&bytes).map_err(|e| unreadable(format!("not a network file: {e}")))
    }

    /// Reads the file at `path` for a run: whatever is wrong with it is a
    /// warning, and the defaults are used.
    pub fn load_lenient(path: &Path) -> (NetworkFile, Vec<Warning>) {
        match NetworkFile::load(path) {
            Ok(f) => (f, Vec::new()),
            Err(e) => (
                NetworkFile::default(),
                vec![Warning(format!("{e}; using the built-in network settings"))],
            ),
        }
    }

    /// Writes the file atomically (its folder is made if needed).
    pub fn save(&self, path: &Path) -> Result<(), FileError> {
        let io = |source| FileError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        json.push(b'\n');
        durable::write_atomic(path, &json).map_err(io)
    }

    /// The network these settings and `flags` give, with a warning for each
    /// entry that was skipped.
    pub fn resolve(&self, path: &Path, flags: &Overrides) -> (Network, Vec<Warning>) {
        let mut warnings = Vec::new();
        let file = path.display();
        for key in self.other.keys() {
            warnings.push(Warning(format!("{file}: unknown key {key:?} ignored")));
        }
        let kind = flags.kind.unwrap_or_else(|| match &self.network {
            None => Kind::Public,
            Some(text) => text.parse().unwrap_or_else(|e| {
                warnings.push(Warning(format!("{file}: {e}; using public")));
                Kind::Public
            }),
        });
        let peers = |key: &str, list: &[String], warnings: &mut Vec<Warning>| {
            let mut good = Vec::new();
            for text in list {
                match peer_address(text) {
                    Ok(a) => good.push(a),
                    Err(e) => warnings.push(Warning(format!("{file}: {key} entry skipped: {e}"))),
                }
            }
            good
        };
        let (bootstrap, built_in) = if !flags.bootstrap.is_empty() {
            (flags.bootstrap.clone(), false)
        } else {
            match (&self.bootstrap, kind) {
                (Some(list), _) => (peers("bootstrap", list, &mut warnings), false),
                (None, Kind::Public) => (built_in_bootstrap(), true),
                (None, Kind::Private) => (Vec::new(), false),
            }
        };
        let relays = peers(
            "relays",
            self.relays.as_deref().unwrap_or(&[]),
            &mut warnings,
        );
        let kad_protocol = flags
            .kad_protocol
            .clone()
            .or_else(|| {
                self.kad_protocol
                    .clone()
                    .filter(|p| valid_protocol(p, &file, &mut warnings))
            })
            .unwrap_or_else(|| match kind {
                Kind::Public => PUBLIC_KAD_PROTOCOL.to_string(),
                Kind::Private => crate::node::DEFAULT_KAD_PROTOCOL.to_string(),
            });
        let default_dht = match kind {
            Kind::Public => DhtMode::Client,
            Kind::Private => DhtMode::Server,
        };
        let dht = flags.dht.unwrap_or_else(|| match &self.dht {
            None => default_dht,
            Some(text) => text.parse().unwrap_or_else(|e| {
                warnings.push(Warning(format!("{file}: {e}; using {default_dht}")));
                default_dht
            }),
        });
        let network = Network {
            kind,
            bootstrap,
            built_in,
            kad_protocol,
            relays,
            dht,
            private_addresses_reachable: self.private_addresses_reachable.unwrap_or(false),
        };
        (network, warnings)
    }

    /// Adds peers to the bootstrap list (starting from the built-in list
    /// when the file has none); returns how many were new.
    pub fn add(&mut self, addrs: &[String]) -> Result<usize, FileError> {
        for a in addrs {
            peer_address(a).map_err(FileError::BadAddress)?;
        }
        let list = self.bootstrap.get_or_insert_with(|| {
            if self.network.as_deref() == Some("private") {
                Vec::new()
            } else {
                PUBLIC_BOOTSTRAP.iter().map(|s| s.to_string()).collect()
            }
        });
        let mut added = 0;
        for a in addrs {
            if !list.contains(a) {
                list.push(a.clone());
                added += 1;
            }
        }
        Ok(added)
    }

    /// Removes peers from the bootstrap list (all of them with `all`);
    /// returns how many were removed.
    pub fn remove(&mut self, addrs: &[String], all: bool) -> usize {
        let list = self
            .bootstrap
            .get_or_insert_with(|| PUBLIC_BOOTSTRAP.iter().map(|s| s.to_string()).collect());
        let before = list.len();
        if all {
            list.clear();
        } else {
            list.retain(|a| !addrs.contains(a));
        }
        before - list.len()
    }
}

fn valid_protocol(p: &str, file: &std::path::Display<'_>, warnings: &mut Vec<Warning>) -> bool {
    let ok = p.starts_with('/') && p.len() <= 128;
    if !ok {
        warnings.push(Warning(format!(
            "{file}: kad_protocol {p:?} is not a protocol name (it must start with '/'); using the default"
        )));
    }
    ok
}

/// The built-in public list, parsed.
pub fn built_in_bootstrap() -> Vec<Multiaddr> {
    PUBLIC_BOOTSTRAP
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// The network for a run: the file at `path` (else [`default_path`]) under
/// `flags`, with every problem found as a warning.
pub fn load(path: Option<&Path>, flags: &Overrides) -> (Network, Vec<Warning>) {
    let path = path.map(Path::to_path_buf).or_else(default_path);
    match path {
        Some(path) => {
            let (file, mut warnings) = NetworkFile::load_lenient(&path);
            let (net, more) = file.resolve(&path, flags);
            warnings.extend(more);
            (net, warnings)
        }
        None => NetworkFile::default().resolve(Path::new("(no network file)"), flags),
    }
}

impl Network {
    /// Puts these settings into `config`. The node dials `remembered` peers
    /// (from the last run) first, then the bootstrap list, then `hints`
    /// (a link's peers).
    pub fn apply(
        &self,
        config: &mut crate::NodeConfig,
        remembered: &[Multiaddr],
        hints: &[Multiaddr],
    ) {
        let mut bootstrap: Vec<Multiaddr> = Vec::new();
        for a in remembered.iter().chain(&self.bootstrap).chain(hints) {
            if !bootstrap.contains(a) {
                bootstrap.push(a.clone());
            }
        }
        config.bootstrap = bootstrap;
        config.kad_protocol = self.kad_protocol.clone();
        config.dht = self.dht;
        config.relays.extend(self.relays.iter().cloned());
        config.private_addresses_reachable |= self.private_addresses_reachable;
    }
}

/// Parses a peer address: a multiaddr ending in `/p2p/PEER_ID`.
pub fn peer_address(text: &str) -> Result<Multiaddr, String> {
    let addr: Multiaddr = text
        .parse()
        .map_err(|e| format!("{text:?} is not an address: {e}"))?;
    match addr.iter().last() {
        Some(Protocol::P2p(_)) => Ok(addr),
        _ => Err(format!("{text:?} does not end in /p2p/PEER_ID")),
    }
}

/// Reads at most `limit` bytes of `path`; a longer file is an error.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(format!("larger than {limit} bytes")));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8";

    fn resolve(json: &str, flags: &Overrides) -> (Network, Vec<Warning>) {
        let file: NetworkFile = serde_json::from_str(json).unwrap();
        file.resolve(Path::new("network.json"), flags)
    }

    #[test]
    fn the_built_in_list_parses_and_every_entry_names_its_peer() {
        assert_eq!(built_in_bootstrap().len(), PUBLIC_BOOTSTRAP.len());
        for a in PUBLIC_BOOTSTRAP {
            peer_address(a).unwrap();
        }
        assert!(PUBLIC_BOOTSTRAP.iter().any(|a| a.starts_with("/dnsaddr/")));
        assert!(PUBLIC_BOOTSTRAP.iter().any(|a| a.starts_with("/ip4/")));
    }

    #[test]
    fn no_file_means_the_public_dht_as_a_client() {
        let (net, warnings) = resolve("{}", &Overrides::default());
        assert!(warnings.is_empty());
        assert_eq!(net.kind, Kind::Public);
        assert!(net.built_in);
        assert_eq!(net.bootstrap, built_in_bootstrap());
        assert_eq!(net.kad_protocol, PUBLIC_KAD_PROTOCOL);
        assert_eq!(net.dht, DhtMode::Client);
    }

    #[test]
    fn private_has_no_built_in_peers_and_its_own_protocol() {
        let flags = Overrides {
            kind: Some(Kind::Private),
            ..Overrides::default()
        };
        let (net, _) = resolve("{}", &flags);
        assert!(net.bootstrap.is_empty());
        assert_eq!(net.kad_protocol, crate::node::DEFAULT_KAD_PROTOCOL);
        assert_eq!(net.dht, DhtMode::Server);
    }

    #[test]
    fn bad_entries_are_warnings_and_the_rest_is_used() {
        let json = format!(
            r#"{{"bootstrap": ["nonsense", "/ip4/10.0.0.1/tcp/1", "/ip4/10.0.0.1/tcp/2/p2p/{PEER}"],
                "dht": "sometimes", "colour": "red", "kad_protocol": "no-slash"}}"#
        );
        let (net, warnings) = resolve(&json, &Overrides::default());
        assert_eq!(net.bootstrap.len(), 1);
        assert_eq!(net.dht, DhtMode::Client);
        assert_eq!(net.kad_protocol, PUBLIC_KAD_PROTOCOL);
        let text: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(text.len(), 5, "{text:?}");
        assert!(text.iter().any(|w| w.contains("\"nonsense\"")), "{text:?}");
        assert!(text.iter().any(|w| w.contains("/p2p/PEER_ID")), "{text:?}");
        assert!(text.iter().any(|w| w.contains("colour")), "{text:?}");
        assert!(
            text.iter().all(|w| w.starts_with("network.json")),
            "{text:?}"
        );
    }

    #[test]
    fn a_corrupt_or_huge_file_is_a_warning_for_runs_and_an_error_for_edits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("network.json");
        std::fs::write(&path, "{ not json").unwrap();
        let (file, warnings) = NetworkFile::load_lenient(&path);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].0.contains("network.json"), "{warnings:?}");
        assert!(file.bootstrap.is_none());
        assert!(matches!(
            NetworkFile::load(&path),
            Err(FileError::Unreadable { .. })
        ));
        std::fs::write(&path, vec![b' '; MAX_FILE_BYTES as usize + 1]).unwrap();
        let err = NetworkFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");
    }

    #[test]
    fn add_starts_from_the_built_in_list_and_remove_takes_entries_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/network.json");
        let mut file = NetworkFile::load(&path).unwrap();
        let mine = format!("/dns4/seed.example/tcp/4001/p2p/{PEER}");
        assert_eq!(file.add(std::slice::from_ref(&mine)).unwrap(), 1);
        assert_eq!(file.add(std::slice::from_ref(&mine)).unwrap(), 0);
        assert!(file.add(&["/ip4/1.2.3.4/tcp/1".into()]).is_err());
        file.save(&path).unwrap();
        let file = NetworkFile::load(&path).unwrap();
        let list = file.bootstrap.clone().unwrap();
        assert_eq!(list.len(), PUBLIC_BOOTSTRAP.len() + 1);
        let mut file = file;
        assert_eq!(file.remove(&[PUBLIC_BOOTSTRAP[0].to_string()], false), 1);
        assert_eq!(file.remove(&[], true), PUBLIC_BOOTSTRAP.len());
        assert_eq!(file.bootstrap, Some(Vec::new()));
    }
}
