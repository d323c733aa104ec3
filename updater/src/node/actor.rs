//! The node's task: it owns the libp2p swarm and everything the node knows
//! (connections, relays, reservations, NAT verdict, queries in flight), and
//! is reached only through [`Command`]s from the [`Node`](super::Node)
//! handle. One handler per behaviour: transfer requests ([`Actor::on_transfer`]),
//! Kademlia ([`Actor::on_kad`]), identify and relays ([`Actor::on_identify`]),
//! AutoNAT, DCUtR, mDNS and connections.
//!
//! Serving never blocks the loop: an incoming request is answered on a
//! blocking thread (the library reads files), at most [`SERVING_AT_ONCE`]
//! at a time and [`SERVING_QUEUE`] waiting (beyond that the answer is
//! "busy"), and the answer comes back through a channel to pass the upload
//! limits and be sent. Status lists are
//! capped ([`STATUS_CAP`]), so a node that runs for months does not grow.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
#[cfg(feature = "long-running")]
use libp2p::autonat;
use libp2p::kad::{self, RecordKey};
#[cfg(feature = "mdns")]
use libp2p::mdns;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{InboundRequestId, OutboundRequestId, ResponseChannel};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{dcutr, identify, Multiaddr, PeerId, StreamProtocol, Swarm};
use quince_protocol::root::AppId;
use quince_protocol::wire::{Request, Response};
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};

use super::guests::Guests;
use super::held::Ledger;
use super::limits::Limits;
use super::swarm::{Behaviour, BehaviourEvent};
use super::{Announced, Announcement, ConnectionInfo, NetError, NodeConfig, NodeStatus};
use crate::library::Serve;

mod dht;
use dht::Providing;
mod relays;
mod serving;
mod transfer;

/// Requests answered at once, each on a blocking thread (each answer is up
/// to one wire message); more wait their turn.
pub const SERVING_AT_ONCE: usize = 32;
/// Requests that may wait for a serving slot; beyond this they are answered
/// "busy" at once, so memory held by waiting answers stays bounded.
pub const SERVING_QUEUE: usize = 1024;
/// Most entries each status list keeps (hole punches, failures, LAN peers,
/// remembered DHT peers); the oldest go first.
pub const STATUS_CAP: usize = 64;
/// How long a failed relayed dial waits before it is tried again.
const REDIAL_AFTER: Duration = Duration::from_secs(1);
/// How many times one relayed address is dialled again.
const REDIALS: u32 = 3;
/// How many of the addresses a peer says it listens at are kept.
const PEER_ADDRESSES: usize = 8;
/// How long a relay whose reservation ended is left alone, and how often
/// the DHT is walked to meet more relays when too few are known.
const RELAY_BACKOFF: Duration = Duration::from_secs(60);
/// How many fresh relayed connections are made to retry hole punching.
const PUNCH_RETRIES: u32 = 5;

/// What the handle asks of the task.
pub(super) enum Command {
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, NetError>>,
    },
    Provide {
        app: AppId,
        reply: oneshot::Sender<Result<Announced, NetError>>,
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
    PeerAddresses {
        peer: PeerId,
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
}

/// An answer computed off the loop, on its way back to be sent.
struct Served {
    id: InboundRequestId,
    peer: PeerId,
    request: Request,
    answer: Response,
    channel: ResponseChannel<Response>,
}

/// A request in flight.
struct Pending {
    reply: oneshot::Sender<Result<Response, NetError>>,
    request: Request,
    resent: u32,
}

/// How many times a request whose connection closed before the answer is
/// sent again (over another connection, or a new one). A relay ends its
/// circuits at a data limit (128 KiB on public js and go relays), often
/// right after a hole punch made a direct connection; requests on the
/// circuit are lost with it and go again, on the direct connection.
pub const RESEND_ON_CLOSE: u32 = 2;

/// Most peers remembered as reached through a relay (then forgotten at once).
const BEHIND_RELAY_CAP: usize = 4096;

/// How long a node waits for a confirmed address (AutoNAT's verdict, an
/// external address) before it takes relay reservations anyway: a network
/// whose peers run no AutoNAT server never gives a verdict.
pub const RESERVE_UNCONFIRMED_AFTER: Duration = Duration::from_secs(15);

/// The running node: the swarm and all it knows.
pub(super) struct Actor {
    swarm: Swarm<Behaviour>,
    kad_protocol: StreamProtocol,
    library: Arc<dyn Serve>,
    limits: Limits,
    /// Answers held for peers until they read them.
    held: Ledger<InboundRequestId>,
    pushes: broadcast::Sender<Announcement>,
    serving: Arc<Semaphore>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
    served_tx: mpsc::Sender<Served>,
    served_rx: mpsc::Receiver<Served>,
    /// Requests in flight: who asked, the request (to send again if its
    /// connection closes under it) and how many times it was sent again.
    requests: HashMap<OutboundRequestId, Pending>,
    /// Announcements under way, by their provide query.
    provides: HashMap<kad::QueryId, Providing>,
    /// The closest-peers query run beside each announcement, to count the
    /// DHT nodes it goes to.
    closest_for: HashMap<kad::QueryId, kad::QueryId>,
    lookups: HashMap<kad::QueryId, (Vec<PeerId>, oneshot::Sender<Vec<PeerId>>)>,
    /// Relays this node holds (or asked for) a reservation on.
    relayed: HashSet<PeerId>,
    /// Relays to reserve on once connected to them.
    pending_relays: HashMap<PeerId, Multiaddr>,
    /// Peers that offer the relay service, with an address.
    relays_seen: HashMap<PeerId, Multiaddr>,
    connections: HashMap<ConnectionId, ConnectionInfo>,
    hole_punched: VecDeque<PeerId>,
    hole_punch_failures: VecDeque<(PeerId, String)>,
    reservations: Vec<Multiaddr>,
    reservation_failures: VecDeque<String>,
    /// Reservation listeners, with the relay each is on.
    circuit_listeners: HashMap<libp2p::core::transport::ListenerId, PeerId>,
    /// Relays given in the configuration (`--relay`): reserved on whatever
    /// the NAT status, and again after a reservation on one ends.
    configured_relays: HashMap<PeerId, Multiaddr>,
    /// Relays whose reservation ended, and when they may be asked again.
    relay_backoff: HashMap<PeerId, std::time::Instant>,
    /// When this node last looked for more relays (a DHT random walk).
    relay_search: Option<std::time::Instant>,
    private: bool,
    nat: String,
    lan_peers: VecDeque<PeerId>,
    /// DHT servers met, with up to eight direct addresses each, oldest first.
    known: VecDeque<(PeerId, Vec<Multiaddr>)>,
    /// The addresses peers said they listen at (identify), relayed ones
    /// included: up to [`PEER_ADDRESSES`] each, [`STATUS_CAP`] peers.
    listening: VecDeque<(PeerId, Vec<Multiaddr>)>,
    /// Relayed addresses to dial again shortly (see [`Actor::on_dial_error`]),
    /// and how often each was dialled again.
    redials: VecDeque<(std::time::Instant, PeerId, Multiaddr)>,
    redialed: HashMap<Multiaddr, u32>,
    /// Requests whose dial failed while a relayed address of their peer
    /// waits to be dialled again: sent again then.
    parked: Vec<(PeerId, Pending)>,
    /// Peers this node reached through a relay, with the relayed address.
    relayed_dials: HashMap<PeerId, Multiaddr>,
    /// How many times a fresh relayed connection was made to retry DCUtR.
    punch_retries: HashMap<PeerId, u32>,
    uploaded_bytes: u64,
    deferred_chunks: u64,
    busy_answers: u64,
    /// When the node started.
    started: std::time::Instant,
    /// Peers this node has had a relayed connection with: never taken as relays.
    behind_relay: HashSet<PeerId>,
    /// Peers that reached this node through a relay.
    relayed_inbound: HashSet<PeerId>,
    /// `auto` DHT mode: become a server once a direct address is confirmed.
    dht_auto: bool,
    /// Swarm events from before the node listened, handled first.
    early: Vec<SwarmEvent<BehaviourEvent>>,
    /// Peers this node exchanged app data with: its relay serves them.
    guests: Guests,
    /// The last failed dial to each peer, with its addresses and causes.
    dial_errors: VecDeque<(PeerId, String)>,
}

/// What [`super::swarm::build`] made, for the actor to run.
pub(super) struct Built {
    pub(super) swarm: Swarm<Behaviour>,
    pub(super) kad_protocol: StreamProtocol,
    /// The configured relays, to reserve on once connected and identified.
    pub(super) pending_relays: HashMap<PeerId, Multiaddr>,
    /// Swarm events from before the node listened.
    pub(super) early: Vec<SwarmEvent<BehaviourEvent>>,
    /// Shared with the relay server's reservation policy.
    pub(super) guests: Guests,
}

/// The actor for a swarm that [`super::swarm::build`] made.
pub(super) fn new(
    built: Built,
    config: &NodeConfig,
    library: Arc<dyn Serve>,
    pushes: broadcast::Sender<Announcement>,
) -> Actor {
    let Built {
        swarm,
        kad_protocol,
        pending_relays,
        early,
        guests,
    } = built;
    let (served_tx, served_rx) = mpsc::channel(SERVING_AT_ONCE);
    let configured_relays = pending_relays.clone();
    // The configured relays count as held from the start: reserved on once
    // connected and identified (see on_identify).
    let relayed = pending_relays.keys().copied().collect();
    Actor {
        swarm,
        kad_protocol,
        library,
        limits: Limits::new(config.upload_rate, config.max_peers, config.chunk_serves),
        held: Ledger::default(),
        pushes,
        serving: Arc::new(Semaphore::new(SERVING_AT_ONCE)),
        queued: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        served_tx,
        served_rx,
        requests: HashMap::new(),
        provides: HashMap::new(),
        closest_for: HashMap::new(),
        lookups: HashMap::new(),
        relayed,
        pending_relays,
        relays_seen: HashMap::new(),
        connections: HashMap::new(),
        hole_punched: VecDeque::new(),
        hole_punch_failures: VecDeque::new(),
        reservations: Vec::new(),
        reservation_failures: VecDeque::new(),
        circuit_listeners: HashMap::new(),
        configured_relays,
        relay_backoff: HashMap::new(),
        relay_search: None,
        private: false,
        nat: String::new(),
        lan_peers: VecDeque::new(),
        known: VecDeque::new(),
        listening: VecDeque::new(),
        redials: VecDeque::new(),
        redialed: HashMap::new(),
        parked: Vec::new(),
        relayed_dials: HashMap::new(),
        punch_retries: HashMap::new(),
        uploaded_bytes: 0,
        deferred_chunks: 0,
        busy_answers: 0,
        started: std::time::Instant::now(),
        behind_relay: HashSet::new(),
        relayed_inbound: HashSet::new(),
        dht_auto: config.dht == crate::network::DhtMode::Auto,
        early,
        guests,
        dial_errors: VecDeque::new(),
    }
}

impl Actor {
    /// Runs until `stop` fires or every handle is gone.
    pub(super) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let mut upgrade = tokio::time::interval(Duration::from_secs(10));
        upgrade.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut redial = tokio::time::interval(REDIAL_AFTER);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for event in std::mem::take(&mut self.early) {
            self.on_event(event);
        }
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = upgrade.tick() => {
                    self.retry_hole_punches();
                    self.reserve_if_private();
                }
                _ = redial.tick(), if !self.redials.is_empty() => self.redial_due(),
                command = commands.recv() => match command {
                    None => return,
                    Some(command) => self.on_command(command),
                },
                Some(served) = self.served_rx.recv() => self.send_answer(served),
                event = self.swarm.select_next_some() => self.on_event(event),
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .transfer
                    .send_request(&peer, request.clone());
                self.requests.insert(
                    id,
                    Pending {
                        reply,
                        request,
                        resent: 0,
                    },
                );
            }
            Command::Provide { app, reply } => {
                let key = RecordKey::new(&app.provider_key());
                // What the record will carry: the confirmed addresses. With
                // none, DHT nodes keep no usable record (js-libp2p drops it).
                let addresses: Vec<Multiaddr> = self.swarm.external_addresses().cloned().collect();
                match self.swarm.behaviour_mut().kad.start_providing(key) {
                    Ok(id) => {
                        let closest = self
                            .swarm
                            .behaviour_mut()
                            .kad
                            .get_closest_peers(app.provider_key().to_vec());
                        self.closest_for.insert(closest, id);
                        self.provides.insert(
                            id,
                            Providing {
                                reply,
                                addresses,
                                closest: None,
                                done: None,
                            },
                        );
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Setup(format!("provide: {e}"))));
                    }
                }
            }
            Command::Providers { app, reply } => {
                let key = RecordKey::new(&app.provider_key());
                let id = self.swarm.behaviour_mut().kad.get_providers(key);
                self.lookups.insert(id, (Vec::new(), reply));
            }
            Command::AddPeer { addr } => add_peer(&mut self.swarm, addr),
            Command::Announce { app, note } => {
                let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                for peer in peers {
                    let push = Request::Announce(app, note.clone());
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .transfer
                        .send_request(&peer, push);
                }
            }
            Command::Addresses { reply } => {
                let me = *self.swarm.local_peer_id();
                let mut all: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
                all.extend(self.swarm.external_addresses().cloned());
                all.sort();
                all.dedup();
                let _ = reply.send(
                    all.into_iter()
                        .map(|a| {
                            if is_relayed(&a) {
                                a
                            } else {
                                a.with(Protocol::P2p(me))
                            }
                        })
                        .collect(),
                );
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::PeerAddresses { peer, reply } => {
                let addrs = self
                    .listening
                    .iter()
                    .find(|(p, _)| *p == peer)
                    .map(|(_, a)| a.clone())
                    .unwrap_or_default();
                let _ = reply.send(addrs);
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Transfer(event)) => self.on_transfer(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => self.on_identify(peer_id, info),
            #[cfg(feature = "long-running")]
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(autonat::Event::StatusChanged {
                new,
                ..
            })) => {
                self.private = matches!(new, autonat::NatStatus::Private);
                self.nat = match new {
                    autonat::NatStatus::Public(a) => format!("public {a}"),
                    autonat::NatStatus::Private => "private".into(),
                    autonat::NatStatus::Unknown => "unknown".into(),
                };
                self.reserve_if_private();
            }
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            })) => match result {
                Ok(_) => {
                    if !self.hole_punched.contains(&remote_peer_id) {
                        push_capped(&mut self.hole_punched, remote_peer_id);
                    }
                }
                Err(e) => push_capped(
                    &mut self.hole_punch_failures,
                    (remote_peer_id, e.to_string()),
                ),
            },
            #[cfg(feature = "mdns")]
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    tracing::debug!("LAN peer {peer} at {addr} (mDNS)");
                    if !self.lan_peers.contains(&peer) {
                        push_capped(&mut self.lan_peers, peer);
                    }
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    let _ = self.swarm.dial(addr.with(Protocol::P2p(peer)));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result,
                step,
                ..
            })) => self.on_kad(id, result, step.last),
            SwarmEvent::ExternalAddrConfirmed { .. } | SwarmEvent::ExternalAddrExpired { .. }
                if self.dht_auto =>
            {
                // A relayed address does not make a DHT server: others
                // could reach it only through the relay.
                let direct = self.swarm.external_addresses().any(|a| !is_relayed(a));
                let mode = if direct {
                    kad::Mode::Server
                } else {
                    kad::Mode::Client
                };
                self.swarm.behaviour_mut().kad.set_mode(Some(mode));
            }
            SwarmEvent::NewListenAddr { address, .. }
                if is_relayed(&address) && self.reservations.len() < STATUS_CAP =>
            {
                self.reservations.push(address);
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                let Some(relay) = self.circuit_listeners.remove(&listener_id) else {
                    return;
                };
                self.reservations.retain(|a| !addresses.contains(a));
                let why = match reason {
                    Ok(()) => "connection to the relay closed".to_string(),
                    Err(e) => error_chain(&e),
                };
                push_capped(
                    &mut self.reservation_failures,
                    format!("relay reservation on {relay} ended: {why}"),
                );
                self.relay_lost(relay);
            }
            SwarmEvent::ListenerError { listener_id, error }
                if self.circuit_listeners.contains_key(&listener_id) =>
            {
                push_capped(
                    &mut self.reservation_failures,
                    format!("relay reservation: {error}"),
                );
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                if self.refuse(peer_id, connection_id) {
                    return;
                }
                let address = endpoint.get_remote_address().clone();
                let relayed = endpoint.is_relayed();
                if relayed && endpoint.is_dialer() {
                    self.relayed_dials.insert(peer_id, address.clone());
                }
                if relayed && !endpoint.is_dialer() {
                    if self.relayed_inbound.len() >= BEHIND_RELAY_CAP {
                        self.relayed_inbound.clear();
                    }
                    self.relayed_inbound.insert(peer_id);
                }
                if relayed {
                    // Never a relay for us: a NATed peer whose only
                    // confirmed address is relayed still offers the relay
                    // service (libp2p's relay counts that address as
                    // reachable), and asking it for a reservation over the
                    // relayed connection trips a libp2p assertion.
                    if self.behind_relay.len() >= BEHIND_RELAY_CAP {
                        self.behind_relay.clear();
                    }
                    self.behind_relay.insert(peer_id);
                    self.relays_seen.remove(&peer_id);
                }
                if !relayed {
                    // A direct connection (a hole punch, or a dial that
                    // worked) replaces relayed ones: requests are spread over
                    // every connection to a peer, and a relay ends its
                    // circuits at a data limit (128 KiB on public js and go
                    // relays), taking the requests on them along. Those are
                    // asked again (see fetch::scheduler::UNREACHABLE_RETRIES).
                    let relayed_ids: Vec<ConnectionId> = self
                        .connections
                        .iter()
                        .filter(|(_, c)| c.peer == peer_id && c.relayed)
                        .map(|(id, _)| *id)
                        .collect();
                    for id in relayed_ids {
                        self.swarm.close_connection(id);
                    }
                }
                self.connections.insert(
                    connection_id,
                    ConnectionInfo {
                        peer: peer_id,
                        address,
                        relayed,
                    },
                );
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                self.dial_errors.retain(|(p, _)| *p != peer);
                push_capped(&mut self.dial_errors, (peer, describe_dial_error(&error)));
                if let libp2p::swarm::DialError::Transport(errors) = &error {
                    self.on_dial_error(peer, errors);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                ..
            } => {
                self.connections.remove(&connection_id);
                self.held.release_connection(connection_id);
                if !self.swarm.is_connected(&peer_id) {
                    self.relayed_dials.remove(&peer_id);
                    self.punch_retries.remove(&peer_id);
                }
            }
            _ => {}
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus {
            connections: self.connections.values().cloned().collect(),
            hole_punched: self.hole_punched.iter().copied().collect(),
            hole_punch_failures: self.hole_punch_failures.iter().cloned().collect(),
            reservations: self.reservations.clone(),
            external_addresses: self.swarm.external_addresses().cloned().collect(),
            reservation_failures: self.reservation_failures.iter().cloned().collect(),
            nat: if self.nat.is_empty() {
                "unknown".into()
            } else {
                self.nat.clone()
            },
            lan_peers: self.lan_peers.iter().copied().collect(),
            known_peers: self
                .known
                .iter()
                .rev()
                .flat_map(|(p, addrs)| addrs.iter().map(|a| a.clone().with(Protocol::P2p(*p))))
                .collect(),
            uploaded_bytes: self.uploaded_bytes,
            deferred_chunks: self.deferred_chunks,
            busy_answers: self.busy_answers,
            held_bytes: self.held.total() as u64,
            refused_peers: self.held.refused_count(std::time::Instant::now()),
        }
    }
}

/// Appends to a status list, forgetting the oldest entry beyond [`STATUS_CAP`].
fn push_capped<T>(list: &mut VecDeque<T>, item: T) {
    if list.len() >= STATUS_CAP {
        list.pop_front();
    }
    list.push_back(item);
}

pub(super) fn add_peer(swarm: &mut Swarm<Behaviour>, addr: Multiaddr) {
    if let Some(Protocol::P2p(peer)) = addr.iter().last() {
        swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
        let _ = swarm.dial(addr);
    }
}

/// A failed dial, address by address with the cause ("Connection refused",
/// "timed out", "No route to host").
fn describe_dial_error(error: &libp2p::swarm::DialError) -> String {
    use libp2p::swarm::DialError;
    match error {
        DialError::Transport(errors) => errors
            .iter()
            .map(|(addr, e)| match e {
                libp2p::TransportError::MultiaddrNotSupported(_) => {
                    format!("{addr}: address not supported")
                }
                libp2p::TransportError::Other(e) => format!("{addr}: {}", root_cause(e)),
            })
            .collect::<Vec<_>>()
            .join("; "),
        DialError::NoAddresses => "no address known for it".into(),
        other => error_chain(other),
    }
}

/// The innermost cause of an error (TCP's "Connection refused (os error
/// 111)" under libp2p's layers, whose messages repeat their sources).
fn root_cause(error: &dyn std::error::Error) -> String {
    let mut inner = error;
    while let Some(e) = inner.source() {
        inner = e;
    }
    inner.to_string()
}

/// An error with its causes, outermost first: libp2p's relay errors say
/// "Failed to get Reservation." and keep the why in their sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

pub(super) fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| p == Protocol::P2pCircuit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_list_keeps_the_newest_entries_only() {
        let mut list = VecDeque::new();
        for i in 0..(STATUS_CAP + 10) {
            push_capped(&mut list, i);
        }
        assert_eq!(list.len(), STATUS_CAP);
        assert_eq!(list.front(), Some(&10));
        assert_eq!(list.back(), Some(&(STATUS_CAP + 9)));
    }
}
