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
//! Incoming requests are answered from the node's [`Library`](crate::Library).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt as _;
use libp2p::kad::{self, store::MemoryStore, GetProvidersOk, QueryResult, RecordKey};
#[cfg(feature = "mdns")]
use libp2p::mdns;
pub use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{
    autonat, dcutr, identify, identity, noise, ping, relay, tcp, yamux, StreamProtocol, Swarm,
    SwarmBuilder,
};

/// Whether this build speaks QUIC (the `quic` feature).
pub const QUIC: bool = cfg!(feature = "quic");
/// Whether this build can find LAN peers with mDNS (the `mdns` feature).
pub const MDNS: bool = cfg!(feature = "mdns");

#[cfg(feature = "mdns")]
type Mdns = mdns::tokio::Behaviour;
#[cfg(not(feature = "mdns"))]
type Mdns = libp2p::swarm::dummy::Behaviour;
use quince_protocol::manifest::ChunkId;
use quince_protocol::root::AppId;
use quince_protocol::wire::{Request, Response};
use tokio::sync::{mpsc, oneshot};

pub use libp2p::{Multiaddr, PeerId};

use crate::codec::{TransferCodec, TRANSFER_PROTOCOL};
use crate::library::Serve;

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
    /// Take part in the DHT as a server (answer queries, store records). Nodes
    /// that nobody can dial should be clients.
    pub dht_server: bool,
    /// While a swarm fetches from this node, send one chunk at most this many
    /// times per window, answering "busy" beyond (peers then get it from those
    /// who have it). None: no cap. A publisher's `quince seed` uses
    /// [`DEFAULT_CHUNK_SERVES`]; peers pass on everything they hold.
    pub chunk_serves: Option<(u32, Duration)>,
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
            dht_server: true,
            chunk_serves: None,
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

/// Upload limits: a token bucket for bytes, a window of distinct peers, and
/// a cap on how often one chunk is sent within a window (initial seeding).
struct Limits {
    rate: Option<u64>,
    tokens: f64,
    last: std::time::Instant,
    max_peers: Option<usize>,
    recent: HashMap<PeerId, std::time::Instant>,
    chunk_serves: Option<(u32, Duration)>,
    /// Per chunk: the peers it was sent to in the current window.
    served: HashMap<ChunkId, (Vec<PeerId>, std::time::Instant)>,
    /// Peers that asked for chunks lately: the cap applies only to a swarm.
    askers: HashMap<PeerId, std::time::Instant>,
}

/// The chunk cap applies once this many distinct peers asked for chunks in
/// the last [`SWARM_WINDOW`]: one or two fetchers are served freely.
const SWARM_PEERS: usize = 3;
const SWARM_WINDOW: Duration = Duration::from_secs(30);

impl Limits {
    fn new(
        rate: Option<u64>,
        max_peers: Option<usize>,
        chunk_serves: Option<(u32, Duration)>,
    ) -> Limits {
        // The bucket holds at most one second of budget, so a limited node
        // never sends much faster than its rate, even in a burst.
        Limits {
            rate,
            tokens: 0.0,
            last: std::time::Instant::now(),
            max_peers,
            recent: HashMap::new(),
            chunk_serves,
            served: HashMap::new(),
            askers: HashMap::new(),
        }
    }

    /// May chunk `id` be sent to `peer` once more? While a swarm fetches
    /// from this node (several peers asking at once), a chunk that `cap` peers
    /// still connected here already got in the current window is refused
    /// ("busy"): they pass it on, so the swarm does not make every peer
    /// download it from here. A chunk whose recipients have left is sent
    /// again (users installing one after another share nothing), and one or
    /// two fetchers are never capped.
    fn admit_chunk(
        &mut self,
        peer: PeerId,
        id: ChunkId,
        connected: impl Fn(&PeerId) -> bool,
    ) -> bool {
        let Some((cap, window)) = self.chunk_serves else {
            return true;
        };
        let now = std::time::Instant::now();
        self.askers.insert(peer, now);
        if self.askers.len() >= SWARM_PEERS {
            self.askers
                .retain(|_, t| now.duration_since(*t) < SWARM_WINDOW);
        }
        let swarm = self.askers.len() >= SWARM_PEERS;
        // Serves are recorded before the swarm forms too: the first two
        // askers' copies count, or a chunk they got would go to two more
        // once the cap starts (2.09x upload for 20 peers instead of 2x).
        if self.served.len() > 100_000 {
            self.served
                .retain(|_, (_, since)| now.duration_since(*since) < window);
        }
        let entry = self.served.entry(id).or_insert((Vec::new(), now));
        if now.duration_since(entry.1) >= window {
            *entry = (Vec::new(), now);
        }
        entry.0.retain(|p| *p != peer && connected(p));
        if swarm && entry.0.len() >= cap as usize {
            return false;
        }
        entry.0.push(peer);
        true
    }

    /// May `peer` be sent `bytes` now?
    fn admit(&mut self, peer: PeerId, bytes: usize) -> bool {
        let now = std::time::Instant::now();
        if let Some(max) = self.max_peers {
            self.recent
                .retain(|_, t| now.duration_since(*t) < Duration::from_secs(10));
            if !self.recent.contains_key(&peer) && self.recent.len() >= max {
                return false;
            }
        }
        if let Some(rate) = self.rate {
            self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate as f64)
                .min(rate as f64);
            self.last = now;
            // A message larger than one second of budget goes when the bucket is full.
            let cost = (bytes as f64).min(rate as f64);
            if self.tokens < cost {
                return false;
            }
            self.tokens -= cost;
        }
        self.recent.insert(peer, now);
        true
    }
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

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<MemoryStore>,
    transfer: request_response::Behaviour<TransferCodec>,
    relay_client: relay::client::Behaviour,
    relay_server: Toggle<relay::Behaviour>,
    dcutr: dcutr::Behaviour,
    autonat: autonat::Behaviour,
    mdns: Toggle<Mdns>,
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

enum Command {
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, NetError>>,
    },
    Provide {
        app: AppId,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Providers {
        app: AppId,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    AddPeer {
        addr: Multiaddr,
    },
    Announce {
        app: AppId,
        note: Vec<u8>,
    },
    Addresses {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Status {
        reply: oneshot::Sender<NodeStatus>,
    },
    Shutdown,
}

/// A handle to a running node.
#[derive(Debug, Clone)]
pub struct Node {
    peer_id: PeerId,
    commands: mpsc::Sender<Command>,
    announcements: tokio::sync::broadcast::Sender<Announcement>,
}

impl Node {
    /// Starts a node answering requests with `library`; returns once it listens.
    pub async fn start(
        config: NodeConfig,
        library: std::sync::Arc<dyn Serve>,
    ) -> Result<Node, NetError> {
        let keypair = config
            .keypair
            .clone()
            .unwrap_or_else(identity::Keypair::generate_ed25519);
        let peer_id = keypair.public().to_peer_id();
        let kad_protocol = StreamProtocol::try_from_owned(config.kad_protocol.clone())
            .map_err(|e| NetError::Setup(format!("Kademlia protocol name: {e}")))?;
        let timeout = config.request_timeout;
        let kad_protocol_name = kad_protocol.clone();
        #[cfg(feature = "mdns")]
        let mdns = if config.mdns {
            Some(
                mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                    .map_err(|e| NetError::Setup(format!("mDNS: {e}")))?,
            )
        } else {
            None
        };
        #[cfg(not(feature = "mdns"))]
        let mdns: Option<Mdns> = None;
        let relay_server = config.relay_server.then(|| {
            let limits = relay::Config {
                max_circuit_bytes: RELAY_CIRCUIT_BYTES,
                max_circuit_duration: RELAY_CIRCUIT_DURATION,
                max_circuits: 64,
                max_circuits_per_peer: 8,
                ..relay::Config::default()
            };
            relay::Behaviour::new(peer_id, limits)
        });
        let autonat_config = autonat::Config {
            boot_delay: Duration::from_secs(2),
            retry_interval: Duration::from_secs(10),
            refresh_interval: Duration::from_secs(60),
            throttle_server_period: Duration::from_secs(5),
            only_global_ips: !config.private_addresses_reachable,
            ..autonat::Config::default()
        };
        let dht_server = config.dht_server;
        let builder = SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| NetError::Setup(e.to_string()))?;
        #[cfg(feature = "quic")]
        let builder = builder.with_quic();
        let mut swarm = builder
            // In-process connections (`/memory/N`): installing from a bundle
            // on a machine with no network at all, and tests.
            .with_other_transport(|key| {
                use libp2p::core::upgrade::Version;
                use libp2p::core::Transport as _;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                    libp2p::core::transport::MemoryTransport::default()
                        .upgrade(Version::V1)
                        .authenticate(noise::Config::new(key)?)
                        .multiplex(yamux::Config::default()),
                )
            })
            .map_err(|e| NetError::Setup(e.to_string()))?
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|e| NetError::Setup(e.to_string()))?
            .with_behaviour(|key, relay_client| {
                let mut kad = kad::Behaviour::with_config(
                    peer_id,
                    kad_store(peer_id),
                    kad_config(kad_protocol),
                );
                kad.set_mode(Some(if dht_server {
                    kad::Mode::Server
                } else {
                    kad::Mode::Client
                }));
                Behaviour {
                    relay_client,
                    relay_server: relay_server.into(),
                    dcutr: dcutr::Behaviour::new(peer_id),
                    autonat: autonat::Behaviour::new(peer_id, autonat_config),
                    mdns: mdns.into(),
                    identify: identify::Behaviour::new(identify::Config::new(
                        "/quince/id/1".into(),
                        key.public(),
                    )),
                    ping: ping::Behaviour::default(),
                    kad,
                    transfer: request_response::Behaviour::new(
                        [(TRANSFER_PROTOCOL, ProtocolSupport::Full)],
                        request_response::Config::default()
                            .with_request_timeout(timeout)
                            .with_max_concurrent_streams(256),
                    ),
                }
            })
            .map_err(|e| NetError::Setup(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
            .build();
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Setup(format!("listen on {addr}: {e}")))?;
        }
        // Wait until every listener has an address, so callers can share them.
        let mut listening = HashSet::new();
        while listening.len() < config.listen.len() {
            if let SwarmEvent::NewListenAddr { listener_id, .. } = swarm.select_next_some().await {
                listening.insert(listener_id);
            }
        }
        for addr in &config.external_addresses {
            swarm.add_external_address(addr.clone());
        }
        for addr in &config.bootstrap {
            add_peer(&mut swarm, addr.clone());
        }
        let mut relayed = HashSet::new();
        let mut pending_relays = HashMap::new();
        for relay in &config.relays {
            if let Some(Protocol::P2p(id)) = relay.iter().last() {
                // Reserve once connected and identified (see the event loop).
                swarm
                    .behaviour_mut()
                    .autonat
                    .add_server(id, Some(relay.clone()));
                add_peer(&mut swarm, relay.clone());
                pending_relays.insert(id, relay.clone());
                relayed.insert(id);
            } else {
                return Err(NetError::Setup(format!(
                    "relay address {relay} must end in /p2p/PEER_ID"
                )));
            }
        }
        if !config.bootstrap.is_empty() {
            let _ = swarm.behaviour_mut().kad.bootstrap();
        }
        let (tx, rx) = mpsc::channel(256);
        let (announcements, _) = tokio::sync::broadcast::channel(64);
        let pushes = announcements.clone();
        let state = RunState {
            relayed,
            pending_relays,
            ..RunState::default()
        };
        tokio::spawn(run(
            swarm,
            rx,
            library,
            Limits::new(config.upload_rate, config.max_peers, config.chunk_serves),
            pushes,
            state,
            kad_protocol_name,
        ));
        Ok(Node {
            peer_id,
            commands: tx,
            announcements,
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

    /// Announces in the DHT that this node holds `app`.
    pub async fn provide(&self, app: AppId) -> Result<(), NetError> {
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

    /// Peers to ask for `app`: those named in `hints` (addresses ending in
    /// `/p2p/PEER`), DHT providers and LAN (mDNS) peers, looking again every
    /// half second until one is found or `within` has passed. A LAN peer that
    /// lacks the app says so when asked and is left out then.
    pub async fn find_peers(
        &self,
        app: AppId,
        hints: &[Multiaddr],
        within: Duration,
    ) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = hints
            .iter()
            .filter_map(|a| match a.iter().last() {
                Some(Protocol::P2p(p)) => Some(p),
                _ => None,
            })
            .collect();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            peers.extend(self.providers(app).await);
            peers.extend(self.status().await.lan_peers);
            peers.retain(|p| *p != self.peer_id);
            peers.sort();
            peers.dedup();
            if !peers.is_empty() || tokio::time::Instant::now() >= deadline {
                return peers;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
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

    /// Stops the node.
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }
}

fn add_peer(swarm: &mut Swarm<Behaviour>, addr: Multiaddr) {
    if let Some(Protocol::P2p(peer)) = addr.iter().last() {
        swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
        let _ = swarm.dial(addr);
    }
}

/// Listens through `relay` (an address ending in `/p2p/RELAY`): a reservation.
fn reserve(
    swarm: &mut Swarm<Behaviour>,
    relay: Multiaddr,
) -> Option<libp2p::core::transport::ListenerId> {
    match swarm.listen_on(relay.clone().with(Protocol::P2pCircuit)) {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!("cannot reserve a slot on relay {relay}: {e}");
            None
        }
    }
}

fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| p == Protocol::P2pCircuit)
}

/// What the event loop tracks besides the swarm.
#[derive(Default)]
struct RunState {
    /// Relays this node holds (or asked for) a reservation on.
    relayed: HashSet<PeerId>,
    /// Relays to reserve on once connected to them.
    pending_relays: HashMap<PeerId, Multiaddr>,
    /// Peers that offer the relay service, with an address.
    relays_seen: HashMap<PeerId, Multiaddr>,
    connections: HashMap<ConnectionId, ConnectionInfo>,
    hole_punched: Vec<PeerId>,
    hole_punch_failures: Vec<(PeerId, String)>,
    reservations: Vec<Multiaddr>,
    reservation_failures: Vec<String>,
    circuit_listeners: HashSet<libp2p::core::transport::ListenerId>,
    private: bool,
    nat: String,
    lan_peers: Vec<PeerId>,
    known: HashMap<PeerId, Vec<Multiaddr>>,
    /// Peers this node reached through a relay, with the relayed address.
    relayed_dials: HashMap<PeerId, Multiaddr>,
    /// How many times a fresh relayed connection was made to retry DCUtR.
    punch_retries: HashMap<PeerId, u32>,
    uploaded_bytes: u64,
    deferred_chunks: u64,
}

/// How many fresh relayed connections are made to retry hole punching.
const PUNCH_RETRIES: u32 = 5;

impl RunState {
    /// For each peer reached only through a relay, open a fresh relayed
    /// connection now and then: DCUtR runs on each new relayed connection, so
    /// a hole punch that failed (timing, a busy machine) gets another chance.
    fn retry_hole_punches(&mut self, swarm: &mut Swarm<Behaviour>) {
        let direct: HashSet<PeerId> = self
            .connections
            .values()
            .filter(|c| !c.relayed)
            .map(|c| c.peer)
            .collect();
        let connected: HashSet<PeerId> = self.connections.values().map(|c| c.peer).collect();
        for (peer, addr) in &self.relayed_dials {
            if direct.contains(peer) || !connected.contains(peer) {
                continue;
            }
            let tries = self.punch_retries.entry(*peer).or_default();
            if *tries >= PUNCH_RETRIES {
                continue;
            }
            *tries += 1;
            let _ = swarm.dial(
                libp2p::swarm::dial_opts::DialOpts::peer_id(*peer)
                    .addresses(vec![addr.clone()])
                    .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
                    .build(),
            );
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus {
            connections: self.connections.values().cloned().collect(),
            hole_punched: self.hole_punched.clone(),
            hole_punch_failures: self.hole_punch_failures.clone(),
            reservations: self.reservations.clone(),
            reservation_failures: self.reservation_failures.clone(),
            nat: if self.nat.is_empty() {
                "unknown".into()
            } else {
                self.nat.clone()
            },
            lan_peers: self.lan_peers.clone(),
            known_peers: self
                .known
                .iter()
                .flat_map(|(p, addrs)| addrs.iter().map(|a| a.clone().with(Protocol::P2p(*p))))
                .collect(),
            uploaded_bytes: self.uploaded_bytes,
            deferred_chunks: self.deferred_chunks,
        }
    }

    /// Once AutoNAT says this node is unreachable, reserve on up to two relays.
    fn reserve_if_private(&mut self, swarm: &mut Swarm<Behaviour>) {
        if !self.private || self.relayed.len() >= 2 {
            return;
        }
        let candidates: Vec<(PeerId, Multiaddr)> = self
            .relays_seen
            .iter()
            .filter(|(p, _)| !self.relayed.contains(p))
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        for (peer, addr) in candidates.into_iter().take(2 - self.relayed.len()) {
            self.relayed.insert(peer);
            if let Some(id) = reserve(swarm, addr.with(Protocol::P2p(peer))) {
                self.circuit_listeners.insert(id);
            }
        }
    }
}

async fn run(
    mut swarm: Swarm<Behaviour>,
    mut commands: mpsc::Receiver<Command>,
    library: std::sync::Arc<dyn Serve>,
    mut limits: Limits,
    pushes: tokio::sync::broadcast::Sender<Announcement>,
    mut state: RunState,
    kad_protocol: StreamProtocol,
) {
    let mut requests: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, NetError>>> =
        HashMap::new();
    let mut provides: HashMap<kad::QueryId, oneshot::Sender<Result<(), NetError>>> = HashMap::new();
    let mut lookups: HashMap<kad::QueryId, (Vec<PeerId>, oneshot::Sender<Vec<PeerId>>)> =
        HashMap::new();
    let mut upgrade = tokio::time::interval(Duration::from_secs(10));
    upgrade.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = upgrade.tick() => state.retry_hole_punches(&mut swarm),
            command = commands.recv() => match command {
                None | Some(Command::Shutdown) => return,
                Some(Command::Request { peer, request, reply }) => {
                    let id = swarm.behaviour_mut().transfer.send_request(&peer, request);
                    requests.insert(id, reply);
                }
                Some(Command::Provide { app, reply }) => {
                    match swarm.behaviour_mut().kad.start_providing(RecordKey::new(&app.provider_key())) {
                        Ok(id) => { provides.insert(id, reply); }
                        Err(e) => { let _ = reply.send(Err(NetError::Setup(format!("provide: {e}")))); }
                    }
                }
                Some(Command::Providers { app, reply }) => {
                    let id = swarm.behaviour_mut().kad.get_providers(RecordKey::new(&app.provider_key()));
                    lookups.insert(id, (Vec::new(), reply));
                }
                Some(Command::AddPeer { addr }) => add_peer(&mut swarm, addr),
                Some(Command::Announce { app, note }) => {
                    let peers: Vec<PeerId> = swarm.connected_peers().copied().collect();
                    for peer in peers {
                        let _ = swarm.behaviour_mut().transfer.send_request(&peer, Request::Announce(app, note.clone()));
                    }
                }
                Some(Command::Addresses { reply }) => {
                    let me = *swarm.local_peer_id();
                    let mut all: Vec<Multiaddr> = swarm.listeners().cloned().collect();
                    all.extend(swarm.external_addresses().cloned());
                    all.sort();
                    all.dedup();
                    let _ = reply.send(all.into_iter().map(|a| if is_relayed(&a) { a } else { a.with(Protocol::P2p(me)) }).collect());
                }
                Some(Command::Status { reply }) => { let _ = reply.send(state.status()); }
            },
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(BehaviourEvent::Transfer(event)) => match event {
                    request_response::Event::Message { message, peer, .. } => match message {
                        request_response::Message::Request { request: Request::Announce(app, note), channel, .. } => {
                            let _ = pushes.send(Announcement { peer, app, note });
                            let _ = swarm.behaviour_mut().transfer.send_response(channel, Response::NotFound);
                        }
                        request_response::Message::Request { request, channel, .. } => {
                            let mut answer = library.answer(&request);
                            // Limits apply to bulk data; the log and manifests are small
                            // and needed first, so they are always answered.
                            let bulk = matches!(request, Request::Chunk(_) | Request::Blob(_));
                            if let (true, Response::Data(bytes)) = (bulk, &answer) {
                                let capped = match &request {
                                    Request::Chunk(id) => !limits.admit_chunk(peer, *id, |p| swarm.is_connected(p)),
                                    _ => false,
                                };
                                if capped {
                                    state.deferred_chunks += 1;
                                    answer = Response::Busy;
                                } else if !limits.admit(peer, bytes.len()) {
                                    answer = Response::Busy;
                                } else {
                                    state.uploaded_bytes += bytes.len() as u64;
                                }
                            }
                            let _ = swarm.behaviour_mut().transfer.send_response(channel, answer);
                        }
                        request_response::Message::Response { request_id, response } => {
                            if let Some(reply) = requests.remove(&request_id) {
                                let _ = reply.send(Ok(response));
                            }
                        }
                    },
                    request_response::Event::OutboundFailure { request_id, error, peer, .. } => {
                        if let Some(reply) = requests.remove(&request_id) {
                            let failure = match &error {
                                // Oversized or undecodable answers break the protocol.
                                request_response::OutboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                                    NetError::Violation { peer, reason: e.to_string() }
                                }
                                _ => NetError::Request { peer, reason: error.to_string() },
                            };
                            let _ = reply.send(Err(failure));
                        }
                    }
                    _ => {}
                },
                SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                    let hop = info.protocols.contains(&relay::HOP_PROTOCOL_NAME);
                    if let Some(addr) = state.pending_relays.remove(&peer_id) {
                        if let Some(id) = reserve(&mut swarm, addr) {
                            state.circuit_listeners.insert(id);
                        }
                    }
                    // Only DHT servers belong in the routing table.
                    let dht = info.protocols.contains(&kad_protocol);
                    for addr in info.listen_addrs {
                        if hop && !is_relayed(&addr) && !addr.iter().any(|p| matches!(p, Protocol::Ip4(ip) if ip.is_loopback())) {
                            state.relays_seen.entry(peer_id).or_insert_with(|| addr.clone());
                        }
                        if dht {
                            if !is_relayed(&addr) {
                                let known = state.known.entry(peer_id).or_default();
                                if !known.contains(&addr) && known.len() < 8 {
                                    known.push(addr.clone());
                                }
                            }
                            swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                        }
                    }
                    state.reserve_if_private(&mut swarm);
                }
                SwarmEvent::Behaviour(BehaviourEvent::Autonat(autonat::Event::StatusChanged { new, .. })) => {
                    state.private = matches!(new, autonat::NatStatus::Private);
                    state.nat = match new {
                        autonat::NatStatus::Public(a) => format!("public {a}"),
                        autonat::NatStatus::Private => "private".into(),
                        autonat::NatStatus::Unknown => "unknown".into(),
                    };
                    state.reserve_if_private(&mut swarm);
                }
                SwarmEvent::Behaviour(BehaviourEvent::Dcutr(dcutr::Event { remote_peer_id, result })) => match result {
                    Ok(_) => if !state.hole_punched.contains(&remote_peer_id) { state.hole_punched.push(remote_peer_id) },
                    Err(e) => state.hole_punch_failures.push((remote_peer_id, e.to_string())),
                },
                #[cfg(feature = "mdns")]
                SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                    for (peer, addr) in found {
                        if !state.lan_peers.contains(&peer) {
                            state.lan_peers.push(peer);
                        }
                        swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
                        let _ = swarm.dial(addr.with(Protocol::P2p(peer)));
                    }
                }
                SwarmEvent::NewListenAddr { address, .. } if is_relayed(&address) => {
                    state.reservations.push(address);
                }
                SwarmEvent::ListenerClosed { listener_id, addresses, reason } if state.circuit_listeners.remove(&listener_id) => {
                    state.reservations.retain(|a| !addresses.contains(a));
                    let why = match reason { Ok(()) => "closed".to_string(), Err(e) => e.to_string() };
                    state.reservation_failures.push(format!("relay reservation ended: {why}"));
                }
                SwarmEvent::ListenerError { listener_id, error } if state.circuit_listeners.contains(&listener_id) => {
                    state.reservation_failures.push(format!("relay reservation: {error}"));
                }
                SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, .. } => {
                    let address = endpoint.get_remote_address().clone();
                    let relayed = endpoint.is_relayed();
                    if relayed && endpoint.is_dialer() {
                        state.relayed_dials.insert(peer_id, address.clone());
                    }
                    state.connections.insert(connection_id, ConnectionInfo { peer: peer_id, address, relayed });
                }
                SwarmEvent::ConnectionClosed { connection_id, .. } => {
                    state.connections.remove(&connection_id);
                }
                SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed { id, result, step, .. })) => match result {
                    QueryResult::StartProviding(r) => {
                        if let Some(reply) = provides.remove(&id) {
                            let _ = reply.send(r.map(|_| ()).map_err(|e| NetError::Setup(format!("provide: {e:?}"))));
                        }
                    }
                    QueryResult::GetProviders(r) => {
                        if let Ok(GetProvidersOk::FoundProviders { providers, .. }) = r {
                            // Dial now, while the query still holds the providers'
                            // addresses (a relayed one, for a peer behind a NAT).
                            for p in &providers {
                                if p != swarm.local_peer_id() && !swarm.is_connected(p) {
                                    let _ = swarm.dial(*p);
                                }
                            }
                            if let Some((found, _)) = lookups.get_mut(&id) {
                                found.extend(providers);
                            }
                        }
                        if step.last {
                            if let Some((mut found, reply)) = lookups.remove(&id) {
                                found.sort();
                                found.dedup();
                                let _ = reply.send(found);
                            }
                        }
                    }
                    _ => {}
                },
                _ => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chunk_cap_holds_back_a_swarm_but_not_users_one_after_another() {
        let cap = (2, Duration::from_secs(120));
        let peers: Vec<PeerId> = (0..6).map(|_| PeerId::random()).collect();
        let chunk = ChunkId([7; 32]);
        let all_here = |_: &PeerId| true;

        // Without a cap, or with fewer than three askers, everything is sent.
        let mut free = Limits::new(None, None, None);
        assert!(peers.iter().all(|p| free.admit_chunk(*p, chunk, all_here)));
        let mut two = Limits::new(None, None, Some(cap));
        for _ in 0..3 {
            assert!(two.admit_chunk(peers[0], chunk, all_here));
            assert!(two.admit_chunk(peers[1], chunk, all_here));
        }

        // A swarm: two connected recipients, so the others are sent elsewhere.
        let mut swarm = Limits::new(None, None, Some(cap));
        let answers: Vec<bool> = peers
            .iter()
            .map(|p| swarm.admit_chunk(*p, chunk, all_here))
            .collect();
        // The first two askers come before the cap starts, and their copies
        // count: from the third on, everyone is sent elsewhere.
        assert_eq!(answers, [true, true, false, false, false, false]);

        // Once the recipients have left, the chunk is sent again.
        let gone = |p: &PeerId| !peers[..4].contains(p);
        assert!(swarm.admit_chunk(peers[4], chunk, gone));
        assert!(swarm.admit_chunk(peers[5], chunk, gone));
        // Another chunk is independent.
        assert!(swarm.admit_chunk(peers[5], ChunkId([8; 32]), all_here));
    }
}
