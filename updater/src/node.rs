//! The libp2p node: TCP and QUIC, noise + yamux, identify, ping, Kademlia
//! (protocol name configurable, provider keys are SHA-256 multihashes), relay
//! v2 (client always; server when asked, with limits big enough to carry a
//! release), DCUtR hole punching, AutoNAT, mDNS and the transfer protocol. It
//! runs as a task; [`Node`] is the handle the rest of the client uses to ask
//! peers for data, find providers and announce apps.
//!
//! A node behind a NAT keeps a reservation on a relay: on the relays it was
//! given, and on any connected relay once AutoNAT finds it unreachable. Its
//! relayed address is what it announces; peers that connect through it are
//! upgraded to a direct connection by DCUtR when the NATs allow.
//!
//! Every request has a timeout; every message is size-capped by the codec.
//! Incoming requests are answered from the node's [`Library`](crate::Library),
//! off the event loop and a bounded number at a time.
//!
//! This file holds the handle, the settings and the status types; the task
//! itself (one handler per behaviour) is `node/actor.rs`, the swarm it runs
//! is made in `node/swarm.rs`, and the upload limits it applies are
//! `node/limits.rs`.

mod actor;
mod guests;
mod held;
mod limits;
#[cfg(feature = "long-running")]
mod relay_server;
mod swarm;
#[cfg(windows)]
mod tcp;

pub use guests::STRANGER_RESERVATIONS_PER_HOUR;
pub use held::{
    HELD_BYTES, HELD_CEILING, PEER_HELD_ANSWERS, PEER_HELD_BYTES, REFUSE_FOR, STALLS_TO_REFUSE,
};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use libp2p::kad::{self, store::MemoryStore};
pub use libp2p::multiaddr::Protocol;
use libp2p::{identity, StreamProtocol};
use quince_protocol::root::AppId;
use quince_protocol::wire::{Request, Response};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use actor::Command;
pub use actor::{RESERVE_UNCONFIRMED_AFTER, SERVING_AT_ONCE, SERVING_QUEUE, STATUS_CAP};
pub use libp2p::{Multiaddr, PeerId};

use crate::library::Serve;
use crate::network::DhtMode;

/// Whether this build speaks QUIC (the `quic` feature).
pub const QUIC: bool = cfg!(feature = "quic");
/// Whether this build can find LAN peers with mDNS (the `mdns` feature).
pub const MDNS: bool = cfg!(feature = "mdns");

/// The Kademlia protocol name Quince's own DHT uses.
pub const DEFAULT_KAD_PROTOCOL: &str = "/quince/kad/1.0.0";

/// How a node starts.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to join the DHT through (each ending in `/p2p/<id>`).
    pub bootstrap: Vec<Multiaddr>,
    /// Kademlia protocol name (use `/ipfs/kad/1.0.0` to join the public DHT).
    pub kad_protocol: String,
    /// Timeout of one request to one peer.
    pub request_timeout: Duration,
    /// The node's identity; a new one if `None` (see [`load_or_create_identity`]).
    pub keypair: Option<identity::Keypair>,
    /// Most chunk and patch bytes per second this node uploads (answers `Busy` beyond it).
    pub upload_rate: Option<u64>,
    /// Most distinct peers served chunks in any 10-second window.
    pub max_peers: Option<usize>,
    /// Offer to relay for peers behind NATs. libp2p's relay advertises and
    /// accepts only while the node has a confirmed external address (given in
    /// `external_addresses`, or confirmed by AutoNAT), so in effect only
    /// publicly reachable nodes relay.
    pub relay_server: bool,
    /// Relays to keep a reservation on, so peers can reach this node through them.
    pub relays: Vec<Multiaddr>,
    /// Addresses this node is known to be reachable at (a public server's own
    /// address); a relay server needs at least one.
    pub external_addresses: Vec<Multiaddr>,
    /// Find peers on the local network with mDNS.
    pub mdns: bool,
    /// Let AutoNAT treat private (RFC 1918) addresses as reachable: for LANs and
    /// test labs whose "public" network uses private addresses.
    pub private_addresses_reachable: bool,
    /// How the node takes part in the DHT: a server answers queries and
    /// stores records; nodes that nobody can dial should be clients.
    pub dht: DhtMode,
    /// While a swarm fetches from this node, send one chunk at most this many
    /// times per window, answering "busy" beyond (peers then get it from those
    /// who have it). None: no cap. A publisher's `quince seed` uses
    /// [`DEFAULT_CHUNK_SERVES`]; peers pass on everything they hold.
    pub chunk_serves: Option<(u32, Duration)>,
    /// Refuse new connections while the process uses more memory than this
    /// (long-running builds only; see [`MAX_MEMORY_BYTES`]).
    pub max_memory_bytes: usize,
}

/// Providers a DHT node keeps (and returns) per app key. libp2p's default,
/// 20, hid half of a 40-peer swarm from each peer: one that needed a chunk
/// only peers outside its 20 held waited out the publisher's chunk cap
/// (BENCHMARKS.md, swarm).
pub const MAX_PROVIDERS_PER_KEY: usize = 64;

/// How long one Kademlia query (an announcement's or a lookup's) may run.
pub const KAD_QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection with nothing to do stays open. It must outlast a
/// whole announcement: libp2p-kad 0.49 counts an ADD_PROVIDER as sent when
/// it queues it, and drops it unsent if the connection to that peer closed
/// during the lookup (the pending message lives in the finished query). In
/// the DHT simulation a 1 s idle timeout left records on 11 of the 20 nodes
/// closest to a key instead of 20 (BENCHMARKS.md, DHT).
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);
const _: () = assert!(IDLE_CONNECTION_TIMEOUT.as_secs() > KAD_QUERY_TIMEOUT.as_secs());

/// How often a node announces again the apps it holds (libp2p's default:
/// 12 hours). A record lives on the 20 DHT nodes closest to the app's key;
/// as nodes leave and new ones take their place, fewer of the nodes a lookup
/// ends at hold it. The DHT simulation found every record while 41% of the
/// nodes present at the announcement remained (BENCHMARKS.md, DHT); a
/// DHT of desktop machines (IPFS, measured) loses half its peers in about
/// two hours, so one hour keeps about 70% of the holders between
/// republications.
pub const PROVIDER_REPUBLISH: Duration = Duration::from_secs(60 * 60);

/// How long a DHT node keeps a provider record it was given (libp2p's
/// default: 48 hours). DHT nodes keep the first MAX_PROVIDERS_PER_KEY
/// providers of a key and ignore newer ones until one expires, so for a
/// popular app this bounds how long a departed copy keeps a slot that a live
/// one could use, and how long lookups hand out its address. Three missed
/// republications.
pub const PROVIDER_RECORD_TTL: Duration = Duration::from_secs(3 * 60 * 60);
const _: () = assert!(PROVIDER_RECORD_TTL.as_secs() >= 3 * PROVIDER_REPUBLISH.as_secs());

/// The node's Kademlia settings (also used by the DHT simulation, so that it
/// measures these).
pub fn kad_config(protocol: StreamProtocol) -> kad::Config {
    let mut config = kad::Config::new(protocol);
    config.set_query_timeout(KAD_QUERY_TIMEOUT);
    // Room for a swarm's worth of providers in one answer (see
    // MAX_PROVIDERS_PER_KEY); ~150 bytes each.
    config.set_max_packet_size(64 * 1024);
    config.set_provider_publication_interval(Some(PROVIDER_REPUBLISH));
    config.set_provider_record_ttl(Some(PROVIDER_RECORD_TTL));
    config
}

/// The node's Kademlia record store (providers kept per key: see
/// MAX_PROVIDERS_PER_KEY).
pub fn kad_store(peer: PeerId) -> MemoryStore {
    MemoryStore::with_config(
        peer,
        libp2p::kad::store::MemoryStoreConfig {
            max_providers_per_key: MAX_PROVIDERS_PER_KEY,
            ..Default::default()
        },
    )
}

/// The chunk serve cap of `quince seed` (the publisher's node) while a swarm
/// fetches: each chunk at most twice in two minutes. Measured in BENCHMARKS.md (swarm): it keeps a
/// publisher's upload at about twice the release however many peers fetch
/// at once (a 20 s window let it climb to 3.3x for 40 peers, whose round took
/// 75 s on the bench machine).
pub const DEFAULT_CHUNK_SERVES: (u32, Duration) = (2, Duration::from_secs(120));

/// A long-running node (`quince seed`, `update --watch`) refuses new
/// connections while the process uses more memory than this (libp2p's
/// memory-connection-limits, which reads the process's memory at most every
/// 100 ms); connections already open go on. An idle node uses a few tens of
/// MiB (BENCHMARKS.md).
pub const MAX_MEMORY_BYTES: usize = 512 << 20;

/// Most connections a node keeps open at once. A node in the public DHT
/// is dialled by strangers; beyond this, new ones are refused.
pub const MAX_CONNECTIONS: u32 = 256;
/// Most connections with one peer (a direct one, a relayed one, and a few
/// being replaced).
pub const MAX_CONNECTIONS_PER_PEER: u32 = 4;
/// Most incoming connections still in their handshake.
pub const MAX_PENDING_INCOMING: u32 = 64;

/// Limits of this node's relay service: large enough to carry a release when
/// hole punching fails (libp2p's defaults, 2 minutes and 128 KiB per circuit,
/// are not).
pub const RELAY_CIRCUIT_BYTES: u64 = 1 << 30;
/// How long one relayed circuit may live.
pub const RELAY_CIRCUIT_DURATION: Duration = Duration::from_secs(60 * 60);

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: vec!["/ip4/0.0.0.0/tcp/0"
                .parse()
                .expect("a valid literal address")],
            bootstrap: Vec::new(),
            kad_protocol: DEFAULT_KAD_PROTOCOL.to_string(),
            request_timeout: Duration::from_secs(30),
            keypair: None,
            upload_rate: None,
            max_peers: None,
            relay_server: true,
            relays: Vec::new(),
            external_addresses: Vec::new(),
            mdns: false,
            private_addresses_reachable: false,
            dht: DhtMode::Server,
            chunk_serves: None,
            max_memory_bytes: MAX_MEMORY_BYTES,
        }
    }
}

/// One open connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The peer.
    pub peer: PeerId,
    /// Its address on this connection.
    pub address: Multiaddr,
    /// Whether the connection goes through a relay.
    pub relayed: bool,
}

/// What the node knows about its connectivity.
#[derive(Debug, Clone, Default)]
pub struct NodeStatus {
    /// Open connections.
    pub connections: Vec<ConnectionInfo>,
    /// Peers with which a relayed connection was upgraded to a direct one.
    pub hole_punched: Vec<PeerId>,
    /// Peers with which hole punching failed, with why.
    pub hole_punch_failures: Vec<(PeerId, String)>,
    /// Relayed addresses this node holds a reservation for.
    pub reservations: Vec<Multiaddr>,
    /// Reservations that failed or ended, with why.
    pub reservation_failures: Vec<String>,
    /// Addresses others can reach this node at, as confirmed (given as
    /// external, confirmed by AutoNAT, or relayed through a reservation):
    /// what an announcement in the DHT carries.
    pub external_addresses: Vec<Multiaddr>,
    /// AutoNAT's verdict: "public ADDRESS", "private" or "unknown".
    pub nat: String,
    /// Peers found on the local network by mDNS.
    pub lan_peers: Vec<PeerId>,
    /// Dialable addresses (ending in `/p2p/PEER`) of DHT servers this node has
    /// met: what a client remembers for its next start.
    pub known_peers: Vec<Multiaddr>,
    /// Chunk and patch bytes this node has sent to peers since it started.
    pub uploaded_bytes: u64,
    /// Chunk requests answered "busy" because the chunk had reached its
    /// serve limit (see [`NodeConfig::chunk_serves`]).
    pub deferred_chunks: u64,
    /// Requests answered "busy" because the answers held for unread
    /// streams were at their bounds (the peer's or everyone's).
    pub busy_answers: u64,
    /// Bytes of answers held now until their peers read them.
    pub held_bytes: u64,
    /// Peers refused now for leaving answers unread.
    pub refused_peers: usize,
}

/// The node identity stored at `path` (protobuf-encoded, mode 0600), created on
/// first use, so that a node keeps its peer id across restarts.
pub fn load_or_create_identity(path: &std::path::Path) -> Result<identity::Keypair, NetError> {
    let setup = |e: String| NetError::Setup(format!("{}: {e}", path.display()));
    match std::fs::read(path) {
        Ok(bytes) => {
            return identity::Keypair::from_protobuf_encoding(&bytes)
                .map_err(|e| setup(format!("not a node identity: {e}")))
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(setup(e.to_string())),
        Err(_) => {}
    }
    let key = identity::Keypair::generate_ed25519();
    let bytes = key
        .to_protobuf_encoding()
        .map_err(|e| setup(e.to_string()))?;
    quince_store::durable::write_private(path, &bytes).map_err(|e| setup(e.to_string()))?;
    Ok(key)
}

/// An address given as text that is not a multiaddr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad address {text:?}: {reason}")]
pub struct BadAddress {
    /// The text given.
    pub text: String,
    /// Why it does not parse.
    pub reason: String,
}

/// Parses addresses given as text (flags, config files), naming the first bad one.
pub fn parse_addresses<S: AsRef<str>>(list: &[S]) -> Result<Vec<Multiaddr>, BadAddress> {
    list.iter()
        .map(|a| {
            a.as_ref()
                .parse()
                .map_err(|e: libp2p::multiaddr::Error| BadAddress {
                    text: a.as_ref().to_string(),
                    reason: e.to_string(),
                })
        })
        .collect()
}

/// Why a network operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NetError {
    /// The node could not start.
    #[error("network setup: {0}")]
    Setup(String),
    /// The request to a peer failed (timeout, connection, protocol).
    #[error("request to {peer} failed: {reason}")]
    Request {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// The peer broke the protocol (an oversized or malformed answer).
    #[error("{peer} broke the protocol: {reason}")]
    Violation {
        /// The peer.
        peer: PeerId,
        /// How.
        reason: String,
    },
    /// The node has stopped.
    #[error("the network node has stopped")]
    Stopped,
}

/// What an announcement in the DHT did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// The DHT nodes closest to the app's key, which the record was sent
    /// to; 0 when the record carried no address (DHT nodes of other
    /// implementations drop such records, and nobody could dial it).
    pub dht_nodes: usize,
    /// The addresses the record carried (confirmed external addresses:
    /// public ones, or relayed ones through a reservation).
    pub addresses: Vec<Multiaddr>,
}

impl Announced {
    /// Whether anyone can find and reach this node through the record.
    pub fn reachable(&self) -> bool {
        self.dht_nodes > 0 && !self.addresses.is_empty()
    }
}

/// A checkpoint a peer pushed to us (not verified yet).
#[derive(Debug, Clone)]
pub struct Announcement {
    /// Who pushed it.
    pub peer: PeerId,
    /// For which app.
    pub app: AppId,
    /// The signed checkpoint note.
    pub note: Vec<u8>,
}

/// A handle to a running node. Cheap to clone; the node runs until
/// [`Node::shutdown`] or until every handle is dropped.
#[derive(Debug, Clone)]
pub struct Node {
    peer_id: PeerId,
    commands: mpsc::Sender<Command>,
    announcements: broadcast::Sender<Announcement>,
    stop: CancellationToken,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Node {
    /// Starts a node answering requests with `library`; returns once it listens.
    pub async fn start(config: NodeConfig, library: Arc<dyn Serve>) -> Result<Node, NetError> {
        let keypair = config
            .keypair
            .clone()
            .unwrap_or_else(identity::Keypair::generate_ed25519);
        let peer_id = keypair.public().to_peer_id();
        let (announcements, _) = broadcast::channel(64);
        let actor = swarm::build(&config, keypair, library, announcements.clone()).await?;
        let (commands, rx) = mpsc::channel(256);
        let stop = CancellationToken::new();
        let task = tokio::spawn(actor.run(rx, stop.clone()));
        Ok(Node {
            peer_id,
            commands,
            announcements,
            stop,
            task: Arc::new(Mutex::new(Some(task))),
        })
    }

    /// The node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses it listens on, each with `/p2p/<id>`.
    pub async fn addresses(&self) -> Vec<Multiaddr> {
        let (reply, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::Addresses { reply })
            .await
            .is_err()
        {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Connections, hole punches, reservations and NAT status.
    pub async fn status(&self) -> NodeStatus {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Status { reply }).await.is_err() {
            return NodeStatus::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Asks `peer` for something.
    pub async fn request(&self, peer: PeerId, request: Request) -> Result<Response, NetError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Request {
                peer,
                request,
                reply,
            })
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Announces in the DHT that this node holds `app`; says to how many
    /// DHT nodes and with which addresses.
    pub async fn provide(&self, app: AppId) -> Result<Announced, NetError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Provide { app, reply })
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Finds peers that announced `app`.
    pub async fn providers(&self, app: AppId) -> Vec<PeerId> {
        let (reply, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::Providers { app, reply })
            .await
            .is_err()
        {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Peers to ask for `app`: those in `named` (peers the user gave: a
    /// link's, `--peer`) and `cached` (peers remembered from an earlier
    /// run), as addresses ending in `/p2p/PEER`, DHT providers and LAN
    /// (mDNS) peers, looking again every half second until one is found or
    /// `within` has passed. A LAN peer that lacks the app says so when
    /// asked and is left out then.
    ///
    /// When the user named peers they are asked at once, without waiting
    /// for the DHT: a provider lookup takes seconds on the public DHT (five
    /// when its bootstrap nodes cannot be reached), and the chunk fetch
    /// keeps looking for providers and takes them in as they turn up.
    /// Remembered peers do not skip the lookup: they may have left, or be
    /// behind, and an update check must see what the DHT's peers hold.
    pub async fn find_peers(
        &self,
        app: AppId,
        named: &[Multiaddr],
        cached: &[Multiaddr],
        within: Duration,
    ) -> Vec<PeerId> {
        let ids = |addrs: &[Multiaddr]| -> Vec<PeerId> {
            addrs
                .iter()
                .filter_map(|a| match a.iter().last() {
                    Some(Protocol::P2p(p)) => Some(p),
                    _ => None,
                })
                .filter(|p| *p != self.peer_id)
                .collect()
        };
        let mut peers = ids(named);
        let skip_dht = !peers.is_empty();
        peers.extend(ids(cached));
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let providers = if skip_dht {
                Vec::new()
            } else {
                self.providers(app).await
            };
            let lan = self.status().await.lan_peers;
            tracing::debug!(
                "looking for app {app}: {} DHT providers{}, {} LAN peers",
                providers.len(),
                if skip_dht {
                    " (not looked up: peers were named)"
                } else {
                    ""
                },
                lan.len()
            );
            peers.extend(providers);
            peers.extend(lan);
            peers.retain(|p| *p != self.peer_id);
            peers.sort();
            peers.dedup();
            if !peers.is_empty() || tokio::time::Instant::now() >= deadline {
                return peers;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Peers holding `app` other than `tried` (DHT providers and LAN peers),
    /// looking again every half second until one turns up or `within` has
    /// passed: for when every peer found so far has failed.
    pub async fn find_more_peers(
        &self,
        app: AppId,
        tried: &[PeerId],
        within: Duration,
    ) -> Vec<PeerId> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let mut peers = self.providers(app).await;
            peers.extend(self.status().await.lan_peers);
            peers.retain(|p| *p != self.peer_id && !tried.contains(p));
            peers.sort();
            peers.dedup();
            if !peers.is_empty() || tokio::time::Instant::now() >= deadline {
                return peers;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The addresses `peer` said it listens at (relayed ones included),
    /// if this node has talked to it.
    pub async fn peer_addresses(&self, peer: PeerId) -> Vec<Multiaddr> {
        let (reply, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::PeerAddresses { peer, reply })
            .await
            .is_err()
        {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Adds a known peer address (from a link, a config file, the last run).
    pub async fn add_peer(&self, addr: Multiaddr) {
        let _ = self.commands.send(Command::AddPeer { addr }).await;
    }

    /// Pushes a new checkpoint of `app` to every connected peer. Call it only
    /// with a checkpoint this node verified (so junk is never amplified).
    pub async fn announce(&self, app: AppId, note: Vec<u8>) {
        let _ = self.commands.send(Command::Announce { app, note }).await;
    }

    /// Checkpoints that peers push to this node, as they arrive.
    pub fn announcements(&self) -> tokio::sync::broadcast::Receiver<Announcement> {
        self.announcements.subscribe()
    }

    /// Stops the node and waits until its task has ended (its connections
    /// and listeners are closed then). Calling it again, from any clone,
    /// returns at once.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Whether the node has been told to stop.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }
}
