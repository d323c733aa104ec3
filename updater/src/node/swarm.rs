//! Making the libp2p swarm: transports (TCP, QUIC with the `quic` feature,
//! in-process memory for tests and simulations, DNS names resolved through
//! the system's resolver, relayed), the behaviours
//! with Quince's settings, listening, and the first dials. The running node
//! is [`super::actor`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt as _;
#[cfg(feature = "long-running")]
use libp2p::autonat;
use libp2p::kad::{self, store::MemoryStore};
#[cfg(feature = "mdns")]
use libp2p::mdns;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    connection_limits, dcutr, identify, identity, noise, relay, tcp, yamux, StreamProtocol,
    SwarmBuilder,
};
use tokio::sync::broadcast;

use super::actor::{self, add_peer, Actor};
use super::{
    kad_config, kad_store, Announcement, NetError, NodeConfig, IDLE_CONNECTION_TIMEOUT,
    MAX_CONNECTIONS, MAX_CONNECTIONS_PER_PEER, MAX_PENDING_INCOMING,
};
use crate::codec::{TransferCodec, TRANSFER_PROTOCOL};
use crate::library::Serve;
use crate::network::DhtMode;

/// The relay service and AutoNAT: what a long-running node offers others
/// and needs to learn its reachability. The bootstrap, a short-lived
/// client, is built without them (feature `long-running`).
#[cfg(feature = "long-running")]
type RelayServer = super::relay_server::RelayServer;
#[cfg(not(feature = "long-running"))]
type RelayServer = libp2p::swarm::dummy::Behaviour;
#[cfg(feature = "long-running")]
type Autonat = autonat::Behaviour;
#[cfg(not(feature = "long-running"))]
type Autonat = libp2p::swarm::dummy::Behaviour;

/// Ping keeps a long-lived connection's NAT mappings warm; a short-lived
/// client has no use for it.
#[cfg(feature = "long-running")]
type Ping = libp2p::ping::Behaviour;
#[cfg(not(feature = "long-running"))]
type Ping = libp2p::swarm::dummy::Behaviour;

/// A long-running node refuses new connections while its memory is high
/// ([`NodeConfig::max_memory_bytes`]); a one-shot client does not need it.
#[cfg(feature = "long-running")]
type MemoryLimits = libp2p::memory_connection_limits::Behaviour;
#[cfg(not(feature = "long-running"))]
type MemoryLimits = libp2p::swarm::dummy::Behaviour;

#[cfg(feature = "mdns")]
type Mdns = mdns::tokio::Behaviour;
#[cfg(not(feature = "mdns"))]
type Mdns = libp2p::swarm::dummy::Behaviour;

/// The behaviours of a Quince node, one field each.
#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    pub(super) limits: connection_limits::Behaviour,
    pub(super) memory: MemoryLimits,
    pub(super) identify: identify::Behaviour,
    pub(super) ping: Ping,
    pub(super) kad: kad::Behaviour<MemoryStore>,
    pub(super) transfer: request_response::Behaviour<TransferCodec>,
    pub(super) relay_client: relay::client::Behaviour,
    pub(super) relay_server: Toggle<RelayServer>,
    pub(super) dcutr: dcutr::Behaviour,
    pub(super) autonat: Toggle<Autonat>,
    pub(super) mdns: Toggle<Mdns>,
}

/// The system's resolver settings (`/etc/resolv.conf` on Unix). Without
/// them, a resolver that asks the loopback address: names then fail to
/// resolve (each dial of a name says so) and IP addresses still work.
fn resolver_config() -> (libp2p::dns::ResolverConfig, libp2p::dns::ResolverOpts) {
    match hickory_resolver::system_conf::read_system_conf() {
        Ok(conf) => conf,
        Err(e) => {
            tracing::warn!(
                "no DNS resolver configuration ({e}): names in addresses will not resolve"
            );
            let local = hickory_resolver::config::NameServerConfig::udp_and_tcp(
                std::net::Ipv4Addr::LOCALHOST.into(),
            );
            (
                libp2p::dns::ResolverConfig::from_parts(None, Vec::new(), vec![local]),
                libp2p::dns::ResolverOpts::default(),
            )
        }
    }
}

/// Transfer streams open at once on one connection, both ways (an honest
/// fetcher keeps eight chunk requests in flight per peer); more are dropped.
pub const TRANSFER_STREAMS: usize = 48;

/// Yamux with fewer streams per connection than its default (512): a peer
/// that opens more has its connection closed, and each stream may hold a
/// 256 KiB receive window, so this bounds what one connection buffers.
fn yamux_config() -> yamux::Config {
    let mut c = yamux::Config::default();
    c.set_max_num_streams(256);
    c
}

/// Builds the swarm, starts listening and dialling, and returns the actor
/// (not yet running) once every listener has an address.
pub(super) async fn build(
    config: &NodeConfig,
    keypair: identity::Keypair,
    library: Arc<dyn Serve>,
    pushes: broadcast::Sender<Announcement>,
) -> Result<Actor, NetError> {
    let peer_id = keypair.public().to_peer_id();
    let kad_protocol = StreamProtocol::try_from_owned(config.kad_protocol.clone())
        .map_err(|e| NetError::Setup(format!("Kademlia protocol name: {e}")))?;
    let timeout = config.request_timeout;
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
    let guests = super::guests::Guests::default();
    #[cfg(feature = "long-running")]
    let relay_server = config.relay_server.then(|| {
        let mut limits = relay::Config {
            max_circuit_bytes: super::RELAY_CIRCUIT_BYTES,
            max_circuit_duration: super::RELAY_CIRCUIT_DURATION,
            max_circuits: 64,
            max_circuits_per_peer: 8,
            ..relay::Config::default()
        };
        // Checked before libp2p's own per-peer and per-IP rates.
        limits.reservation_rate_limiters.insert(
            0,
            Box::new(super::guests::reservation_policy(
                guests.clone(),
                super::STRANGER_RESERVATIONS_PER_HOUR,
            )),
        );
        RelayServer::new(relay::Behaviour::new(peer_id, limits))
    });
    #[cfg(not(feature = "long-running"))]
    let relay_server: Option<RelayServer> = None;
    #[cfg(feature = "long-running")]
    let autonat_config = autonat::Config {
        boot_delay: std::time::Duration::from_secs(2),
        retry_interval: std::time::Duration::from_secs(10),
        refresh_interval: std::time::Duration::from_secs(60),
        throttle_server_period: std::time::Duration::from_secs(5),
        only_global_ips: !config.private_addresses_reachable,
        ..autonat::Config::default()
    };
    let dht_mode = config.dht;
    #[cfg(feature = "long-running")]
    let max_memory = config.max_memory_bytes;
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(MAX_CONNECTIONS))
        .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING));
    let kad_name = kad_protocol.clone();
    let builder = SwarmBuilder::with_existing_identity(keypair).with_tokio();
    #[cfg(not(windows))]
    let builder = builder
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux_config,
        )
        .map_err(|e| NetError::Setup(e.to_string()))?;
    #[cfg(feature = "quic")]
    let builder = builder.with_quic();
    // Windows: TCP as `with_tcp` sets it up, with a fresh-port retry for
    // dials refused the listening port (see `super::tcp`).
    #[cfg(windows)]
    let builder = builder
        .with_other_transport(|key| {
            use libp2p::core::upgrade::Version;
            use libp2p::core::Transport as _;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                super::tcp::Tcp::new(tcp::Config::default().nodelay(true))
                    .upgrade(Version::V1Lazy)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux_config()),
            )
        })
        .map_err(|e| NetError::Setup(e.to_string()))?;
    // In-process connections (`/memory/N`), for simulations (feature
    // `simulation`; the bootstrap leaves it out).
    #[cfg(feature = "simulation")]
    let builder = builder
        .with_other_transport(|key| {
            use libp2p::core::upgrade::Version;
            use libp2p::core::Transport as _;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                libp2p::core::transport::MemoryTransport::default()
                    .upgrade(Version::V1)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux_config()),
            )
        })
        .map_err(|e| NetError::Setup(e.to_string()))?;
    // Names (`/dns4`, `/dnsaddr` in bootstrap lists and links) through the
    // system's resolver. Without a usable resolver configuration, names
    // fail to resolve and IP addresses still work.
    let (dns, dns_options) = resolver_config();
    let mut swarm = builder
        .with_dns_config(dns, dns_options)
        .with_relay_client(noise::Config::new, yamux_config)
        .map_err(|e| NetError::Setup(e.to_string()))?
        .with_behaviour(|key, relay_client| {
            let mut kad =
                kad::Behaviour::with_config(peer_id, kad_store(peer_id), kad_config(kad_name));
            kad.set_mode(match dht_mode {
                DhtMode::Client => Some(kad::Mode::Client),
                DhtMode::Server => Some(kad::Mode::Server),
                // Server once a direct address is confirmed (the actor
                // switches; libp2p's own automatic mode counts relayed
                // addresses too).
                DhtMode::Auto => Some(kad::Mode::Client),
            });
            Behaviour {
                limits: connection_limits::Behaviour::new(limits),
                #[cfg(feature = "long-running")]
                memory: libp2p::memory_connection_limits::Behaviour::with_max_bytes(max_memory),
                #[cfg(not(feature = "long-running"))]
                memory: libp2p::swarm::dummy::Behaviour,
                relay_client,
                relay_server: relay_server.into(),
                dcutr: dcutr::Behaviour::new(peer_id),
                #[cfg(feature = "long-running")]
                autonat: Some(autonat::Behaviour::new(peer_id, autonat_config)).into(),
                #[cfg(not(feature = "long-running"))]
                autonat: None::<Autonat>.into(),
                mdns: mdns.into(),
                identify: identify::Behaviour::new(identify::Config::new(
                    "/quince/id/1".into(),
                    key.public(),
                )),
                #[cfg(feature = "long-running")]
                ping: libp2p::ping::Behaviour::default(),
                #[cfg(not(feature = "long-running"))]
                ping: libp2p::swarm::dummy::Behaviour,
                kad,
                transfer: request_response::Behaviour::new(
                    [(TRANSFER_PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(timeout)
                        .with_max_concurrent_streams(TRANSFER_STREAMS),
                ),
            }
        })
        .map_err(|e| NetError::Setup(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    // An address the system refuses (QUIC where UDP sockets lack what
    // quinn needs, as under Wine) leaves the node on the others; only
    // when none works does the node not start.
    let mut failed = Vec::new();
    let mut listeners = 0;
    for addr in &config.listen {
        match swarm.listen_on(addr.clone()) {
            Ok(_) => listeners += 1,
            // `TransportError::Other` prints nothing of its own.
            Err(libp2p::TransportError::Other(e)) => failed.push(format!("listen on {addr}: {e}")),
            Err(e) => failed.push(format!("listen on {addr}: {e}")),
        }
    }
    if listeners == 0 && !failed.is_empty() {
        return Err(NetError::Setup(failed.join("; ")));
    }
    for f in &failed {
        tracing::error!("{f}; going on without it");
    }
    // Wait until every listener has an address, so callers can share them.
    // Whatever else happens meanwhile (an mDNS peer found, a connection) is
    // kept for the actor: dropping it lost LAN peers found in the first
    // milliseconds, on a busy machine.
    let mut listening = HashSet::new();
    let mut early = Vec::new();
    while listening.len() < listeners {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { listener_id, .. } => {
                listening.insert(listener_id);
            }
            SwarmEvent::ListenerError { error, .. } => {
                return Err(NetError::Setup(format!("listening: {error}")))
            }
            other if early.len() < EARLY_EVENTS => early.push(other),
            _ => {}
        }
    }
    for addr in &config.external_addresses {
        swarm.add_external_address(addr.clone());
    }
    for addr in &config.bootstrap {
        add_peer(&mut swarm, addr.clone());
    }
    let mut pending_relays = HashMap::new();
    for relay in &config.relays {
        let Some(Protocol::P2p(id)) = relay.iter().last() else {
            return Err(NetError::Setup(format!(
                "relay address {relay} must end in /p2p/PEER_ID"
            )));
        };
        // Reserve once connected and identified (see on_identify).
        #[cfg(feature = "long-running")]
        if let Some(autonat) = swarm.behaviour_mut().autonat.as_mut() {
            autonat.add_server(id, Some(relay.clone()));
        }
        add_peer(&mut swarm, relay.clone());
        pending_relays.insert(id, relay.clone());
    }
    if !config.bootstrap.is_empty() {
        let _ = swarm.behaviour_mut().kad.bootstrap();
    }
    let built = actor::Built {
        swarm,
        kad_protocol,
        pending_relays,
        early,
        guests,
    };
    Ok(actor::new(built, config, library, pushes))
}

/// At most this many events from before the node listened are kept.
const EARLY_EVENTS: usize = 256;
