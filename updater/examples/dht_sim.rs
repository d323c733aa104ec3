//! DHT simulation (not a test; `bash bench/dht.sh`): `--nodes N` real libp2p
//! Kademlia nodes in one process, over libp2p's in-memory transport
//! (plaintext, yamux), with the Quince node's Kademlia settings
//! (`node::kad_config`, `node::kad_store`). A share of them (`--clients-pct`)
//! run in client mode, as nodes behind NATs do. Then:
//! 1. every node joins through a random earlier server and looks up its own
//!    id, `--batch` joins at a time (optionally `--refresh 1`: one routing
//!    table refresh each);
//! 2. `--lookups` server nodes each announce a provider record for its own
//!    key, derived the way app keys are (SHA-256 multihash), `--batch` at a
//!    time;
//! 3. `--lookups` lookups from random live nodes (clients and newcomers
//!    included), each stopping at the first provider found, in ten steps;
//!    before each step `--churn-pct`/10 % of the nodes (never a provider)
//!    leave and as many new ones join;
//! 4. a snapshot of every routing table and record store, on which each
//!    lookup is replayed in lockstep rounds to count its hops (libp2p reports
//!    a lookup's requests, not its path length), and which says how many of
//!    the 20 nodes closest to each key hold its record.
//!
//! Prints one JSON line: success, messages (libp2p's request count) and time
//! of announcements and lookups, replayed hops, routing-table size and
//! coverage, and resident memory per node.
//!
//! Work is kept in batches so the two cores are not saturated: under full
//! load libp2p's 10 s substream timeouts fire and the run measures the
//! machine, not the DHT. `--idle-ms` (default 5 s) is the connection idle
//! timeout; the real node's is 120 s, too much memory for 10,000 nodes in one
//! process, and it must outlast an announcement (see
//! `node::IDLE_CONNECTION_TIMEOUT`).
//!
//! What replaces identify: when a node accepts a connection, it learns the
//! dialer's listen address from a directory the simulation keeps (identify
//! would tell it the same); only server-mode nodes are in the directory, so
//! client-mode nodes never enter routing tables, as in the real node.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::core::Transport as _;
use libp2p::kad::{
    self, store::RecordStore as _, GetProvidersOk, KBucketDistance, KBucketKey, QueryResult,
    RecordKey,
};
use libp2p::swarm::SwarmEvent;
use libp2p::{identity, yamux, Multiaddr, PeerId, StreamProtocol, SwarmBuilder};
use tokio::sync::{mpsc, oneshot};

mod common;
use common::arg;

type Directory = Arc<RwLock<HashMap<PeerId, Multiaddr>>>;

/// What one lookup did.
#[derive(Debug, Clone, Copy)]
struct Lookup {
    found: bool,
    requests: u32,
    millis: u128,
}

impl Lookup {
    const FAILED: Lookup = Lookup {
        found: false,
        requests: 0,
        millis: 0,
    };
}

enum Cmd {
    Join(PeerId, Multiaddr, oneshot::Sender<()>),
    Refresh(oneshot::Sender<()>),
    Provide(RecordKey, oneshot::Sender<Lookup>),
    Find(RecordKey, oneshot::Sender<Lookup>),
    /// Diagnostics: the routing table's peers, and which of the keys this node
    /// stores a provider record for.
    Inspect(
        Arc<Vec<RecordKey>>,
        oneshot::Sender<(Vec<PeerId>, Vec<bool>, usize)>,
    ),
}

struct Handle {
    peer: PeerId,
    tx: mpsc::Sender<Cmd>,
    task: tokio::task::JoinHandle<()>,
}

/// Simple deterministic generator (no dependency needed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn spawn_node(index: u64, server: bool, alpha: usize, idle: Duration, dir: Directory) -> Handle {
    let key = identity::Keypair::generate_ed25519();
    let peer = key.public().to_peer_id();
    let mut swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(|key| {
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                MemoryTransport::default()
                    .upgrade(Version::V1)
                    // Plaintext, not noise: the subject is routing, and noise's
                    // key exchanges were most of the CPU of a 1,000-node run.
                    .authenticate(libp2p::plaintext::Config::new(key))
                    .multiplex(yamux::Config::default()),
            )
        })
        .expect("transport")
        .with_behaviour(|_| {
            // The Quince node's settings, except where the flags say otherwise.
            use quince_updater::node::{kad_config, kad_store, DEFAULT_KAD_PROTOCOL};
            let mut cfg = kad_config(StreamProtocol::new(DEFAULT_KAD_PROTOCOL));
            cfg.set_parallelism(NonZeroUsize::new(alpha).expect("alpha > 0"));
            // Refreshes are run by the simulation itself (--refresh).
            cfg.set_periodic_bootstrap_interval(None);
            let mut kad = kad::Behaviour::with_config(peer, kad_store(peer), cfg);
            kad.set_mode(Some(if server {
                kad::Mode::Server
            } else {
                kad::Mode::Client
            }));
            kad
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();
    let addr: Multiaddr = format!("/memory/{}", 1_000_000 + index)
        .parse()
        .expect("memory address");
    swarm.listen_on(addr.clone()).expect("listen");
    if server {
        // A reachable node's confirmed address (AutoNAT or --external in the
        // real node): provider records carry it. Without it, DHT nodes return a
        // provider only if it happens to be in their own routing table.
        swarm.add_external_address(addr.clone());
        dir.write().expect("directory").insert(peer, addr);
    }
    let (tx, mut rx) = mpsc::channel::<Cmd>(8);
    let task = tokio::spawn(async move {
        let mut joins: HashMap<kad::QueryId, oneshot::Sender<()>> = HashMap::new();
        let mut provides: HashMap<kad::QueryId, oneshot::Sender<Lookup>> = HashMap::new();
        let mut finds: HashMap<kad::QueryId, oneshot::Sender<Lookup>> = HashMap::new();
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => break,
                    Some(Cmd::Join(boot, addr, reply)) => {
                        swarm.behaviour_mut().add_address(&boot, addr);
                        let id = swarm.behaviour_mut().get_closest_peers(peer);
                        joins.insert(id, reply);
                    }
                    Some(Cmd::Refresh(reply)) => match swarm.behaviour_mut().bootstrap() {
                        Ok(id) => { joins.insert(id, reply); }
                        Err(_) => { let _ = reply.send(()); }
                    },
                    Some(Cmd::Provide(key, reply)) => match swarm.behaviour_mut().start_providing(key) {
                        Ok(id) => { provides.insert(id, reply); }
                        Err(_) => { let _ = reply.send(Lookup::FAILED); }
                    },
                    Some(Cmd::Inspect(keys, reply)) => {
                        let kad = swarm.behaviour_mut();
                        let table: Vec<PeerId> = kad
                            .kbuckets()
                            .flat_map(|b| b.iter().map(|e| *e.node.key.preimage()).collect::<Vec<_>>())
                            .collect();
                        let holds = keys.iter().map(|k| !kad.store_mut().providers(k).is_empty()).collect();
                        let connected = swarm.network_info().num_peers();
                        let _ = reply.send((table, holds, connected));
                    }
                    Some(Cmd::Find(key, reply)) => {
                        let id = swarm.behaviour_mut().get_providers(key);
                        finds.insert(id, reply);
                    }
                },
                event = swarm.select_next_some() => match event {
                    SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } if endpoint.is_listener() => {
                        let known = dir.read().ok().and_then(|d| d.get(&peer_id).cloned());
                        if let Some(a) = known {
                            swarm.behaviour_mut().add_address(&peer_id, a);
                        }
                    }
                    SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed { id, result, stats, step }) => match result {
                        QueryResult::GetClosestPeers(_) => {
                            if let Some(r) = joins.remove(&id) { let _ = r.send(()); }
                        }
                        QueryResult::Bootstrap(r) if r.as_ref().map_or(true, |b| b.num_remaining == 0) => {
                            if let Some(reply) = joins.remove(&id) { let _ = reply.send(()); }
                        }
                        QueryResult::StartProviding(r) => {
                            if let Some(reply) = provides.remove(&id) {
                                let _ = reply.send(Lookup {
                                    found: r.is_ok(),
                                    requests: stats.num_requests(),
                                    millis: stats.duration().unwrap_or_default().as_millis(),
                                });
                            }
                        }
                        QueryResult::GetProviders(r) => {
                            let found = matches!(&r, Ok(GetProvidersOk::FoundProviders { providers, .. }) if !providers.is_empty());
                            if found || step.last {
                                if let Some(reply) = finds.remove(&id) {
                                    let _ = reply.send(Lookup {
                                        found,
                                        requests: stats.num_requests(),
                                        millis: stats.duration().unwrap_or_default().as_millis(),
                                    });
                                }
                                if let Some(mut q) = swarm.behaviour_mut().query_mut(&id) { q.finish(); }
                            }
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
    });
    Handle { peer, tx, task }
}

/// Nodes `from..to` join through random earlier servers, `batch` at a time.
async fn join(
    nodes: &[Handle],
    servers: &[usize],
    from: usize,
    batch: usize,
    rng: &mut Rng,
    dir: &Directory,
) {
    let mut i = from;
    while i < nodes.len() {
        let mut waits = Vec::new();
        // Only servers that joined before this batch can let a node in.
        let ready: Vec<usize> = servers.iter().copied().filter(|s| *s < i).collect();
        // No more joiners at once than half the ready servers: a handful of
        // early nodes flooded by a hundred dials at once let joins fail.
        let size = batch.min((ready.len() / 2).max(1));
        for n in &nodes[i..nodes.len().min(i + size)] {
            let boot = ready[rng.below(ready.len())];
            let addr = dir.read().expect("directory")[&nodes[boot].peer].clone();
            let (tx, rx) = oneshot::channel();
            let _ = n.tx.send(Cmd::Join(nodes[boot].peer, addr, tx)).await;
            waits.push(rx);
        }
        for w in waits {
            let _ = w.await;
        }
        i += size;
    }
}

/// Indices of live server-mode nodes (those in the directory).
fn servers_now(nodes: &[Handle], live: &[bool], dir: &Directory) -> Vec<usize> {
    let d = dir.read().expect("directory");
    (0..nodes.len())
        .filter(|i| live[*i] && d.contains_key(&nodes[*i].peer))
        .collect()
}

/// Every live node's routing table, which of `keys` it holds a provider
/// record for, and how many peers it is connected to.
struct Snapshot {
    tables: HashMap<PeerId, Vec<PeerId>>,
    holds: HashMap<PeerId, Vec<bool>>,
    connected: Vec<u32>,
}

async fn snapshot(nodes: &[Handle], live: &[bool], keys: &[RecordKey]) -> Snapshot {
    let shared = Arc::new(keys.to_vec());
    let mut snap = Snapshot {
        tables: HashMap::new(),
        holds: HashMap::new(),
        connected: Vec::new(),
    };
    for (i, n) in nodes.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let (tx, rx) = oneshot::channel();
        let _ = n.tx.send(Cmd::Inspect(shared.clone(), tx)).await;
        if let Ok((t, h, c)) = rx.await {
            snap.connected.push(c as u32);
            snap.tables.insert(n.peer, t);
            snap.holds.insert(n.peer, h);
        }
    }
    snap.connected.sort_unstable();
    snap
}

/// The `k` peers of `among` closest to `target`.
fn closest(among: &[PeerId], target: &KBucketKey<Vec<u8>>, k: usize) -> Vec<PeerId> {
    let mut v: Vec<(KBucketDistance, PeerId)> = among
        .iter()
        .map(|p| (KBucketKey::from(*p).distance(target), *p))
        .collect();
    let k = k.min(v.len());
    if k < v.len() {
        v.select_nth_unstable(k);
        v.truncate(k);
    }
    v.sort_unstable();
    v.into_iter().map(|(_, p)| p).collect()
}

/// One Kademlia lookup replayed, in lockstep rounds, on the routing tables
/// the libp2p nodes built: each round asks the `alpha` closest peers not yet
/// asked among the `K` closest known; a live peer answers with the `K` peers
/// of its table closest to the target (as libp2p does), a departed one does
/// not answer. With `key`, the lookup ends at the first peer holding its
/// provider record; without, when the `K` closest known have all been asked
/// (an announcement's lookup). Returns (found, rounds, peers asked, round in
/// which the closest live peer to the target became known): rounds are the
/// lookup's hops, which libp2p's own statistics do not report.
fn replay(
    snap: &Snapshot,
    from: PeerId,
    target: &KBucketKey<Vec<u8>>,
    key: Option<usize>,
    alpha: usize,
) -> (bool, u32, u32, u32) {
    const K: usize = 20;
    #[derive(PartialEq)]
    enum State {
        New,
        Asked,
    }
    type Known = Vec<(KBucketDistance, PeerId, State, u32)>;
    let mut known: Known = Vec::new();
    let add = |known: &mut Known, peers: &[PeerId], round: u32| {
        for p in peers {
            if *p != from && !known.iter().any(|(_, q, _, _)| q == p) {
                known.push((KBucketKey::from(*p).distance(target), *p, State::New, round));
            }
        }
        known.sort_by_key(|a| a.0);
    };
    let closest_learned = |known: &Known| {
        known
            .iter()
            .find(|(_, p, _, _)| snap.tables.contains_key(p))
            .map_or(0, |e| e.3)
    };
    let mine = snap.tables.get(&from).cloned().unwrap_or_default();
    add(&mut known, &closest(&mine, target, K), 0);
    let (mut rounds, mut asked) = (0, 0);
    loop {
        let next: Vec<PeerId> = known
            .iter()
            .take(K)
            .filter(|(_, _, s, _)| *s == State::New)
            .take(alpha)
            .map(|(_, p, _, _)| *p)
            .collect();
        if next.is_empty() {
            return (key.is_none(), rounds, asked, closest_learned(&known));
        }
        rounds += 1;
        let mut found = false;
        for p in next {
            asked += 1;
            if let Some(e) = known.iter_mut().find(|(_, q, _, _)| *q == p) {
                e.2 = State::Asked;
            }
            let Some(table) = snap.tables.get(&p) else {
                continue; // departed: no answer
            };
            found |= key.is_some_and(|k| snap.holds[&p][k]);
            let answer: Vec<PeerId> = closest(table, target, K)
                .into_iter()
                .filter(|q| *q != from)
                .collect();
            add(&mut known, &answer, rounds);
        }
        if found {
            return (true, rounds, asked, closest_learned(&known));
        }
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Mean, median and 95th percentile of a sample.
fn summary(mut v: Vec<u32>) -> serde_json::Value {
    v.sort_unstable();
    let mean = v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len().max(1) as f64;
    serde_json::json!({
        "mean": (mean * 100.0).round() / 100.0,
        "p50": percentile(&v, 0.5),
        "p95": percentile(&v, 0.95),
        "max": v.last().copied().unwrap_or(0),
    })
}

/// Waits for every reply; a dropped one (its node left) counts as a failure.
async fn gather(waits: Vec<oneshot::Receiver<Lookup>>, into: &mut Vec<Lookup>) {
    for w in waits {
        into.push(w.await.unwrap_or(Lookup::FAILED));
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n = arg("--nodes", 1000) as usize;
    let clients_pct = arg("--clients-pct", 20) as usize;
    let churn_pct = arg("--churn-pct", 10) as usize;
    let lookups = arg("--lookups", 500) as usize;
    let alpha = arg("--alpha", 3) as usize;
    let batch = arg("--batch", 20) as usize;
    let idle = Duration::from_millis(arg("--idle-ms", 5000));
    let mut rng = Rng(arg("--seed", 0x9e37_79b9_7f4a_7c15) ^ n as u64);
    let dir: Directory = Arc::default();
    let started = Instant::now();
    let rss0 = rss_bytes();
    let per_node_kib = |nodes: usize| rss_bytes().saturating_sub(rss0) / nodes as u64 / 1024;

    let mut nodes: Vec<Handle> = Vec::new();
    let mut servers: Vec<usize> = Vec::new();
    let mut live: Vec<bool> = Vec::new();
    for i in 0..n {
        // The first 20 are servers, so early joiners have someone to ask.
        let server = i < 20 || rng.below(100) >= clients_pct;
        nodes.push(spawn_node(i as u64, server, alpha, idle, dir.clone()));
        live.push(true);
        if server {
            servers.push(i);
        }
    }
    let kib_spawned = per_node_kib(n);
    join(&nodes, &servers[..1], 1, 1, &mut rng, &dir).await; // node 1 through node 0
    join(&nodes, &servers, 2, batch, &mut rng, &dir).await;
    // Optionally one routing-table refresh per node (libp2p's bootstrap: a
    // lookup of its own id and of a random id in each bucket), which the
    // Quince node runs every five minutes.
    if arg("--refresh", 0) == 1 {
        for chunk in nodes.chunks(batch) {
            let mut waits = Vec::new();
            for n in chunk {
                let (tx, rx) = oneshot::channel();
                let _ = n.tx.send(Cmd::Refresh(tx)).await;
                waits.push(rx);
            }
            for w in waits {
                let _ = w.await;
            }
        }
    }
    let join_s = started.elapsed().as_secs_f64();
    // Resident memory after the join, connection buffers and what the
    // allocator keeps included.
    let kib_joined = per_node_kib(n);

    // Announcements: `lookups` distinct servers, each its own key, `batch`
    // in flight.
    let t = Instant::now();
    let mut keys = Vec::new();
    let mut provider_nodes = Vec::new();
    let mut announced = Vec::new();
    let mut waits = Vec::new();
    while provider_nodes.len() < lookups.min(servers.len()) {
        let s = servers[rng.below(servers.len())];
        if provider_nodes.contains(&s) {
            continue;
        }
        provider_nodes.push(s);
        let app =
            quince_protocol::root::AppId(quince_protocol::Hash::of(&(s as u64).to_be_bytes()).0);
        let key = RecordKey::new(&app.provider_key());
        keys.push(key.clone());
        let (tx, rx) = oneshot::channel();
        let _ = nodes[s].tx.send(Cmd::Provide(key, tx)).await;
        waits.push(rx);
        if waits.len() == batch {
            gather(std::mem::take(&mut waits), &mut announced).await;
        }
    }
    gather(waits, &mut announced).await;
    let provide_s = t.elapsed().as_secs_f64();

    // Lookups, with churn spread over them: in each of ten steps
    // `churn_pct / 10` % of the nodes leave (never a provider: a departed
    // provider's record is rightly not found) and as many new ones join,
    // then a tenth of the lookups run from random live nodes (clients and
    // newcomers included).
    let t = Instant::now();
    let mut found = Vec::new();
    let steps = 10;
    for step in 0..steps {
        let leave = n * churn_pct / 100 / steps;
        let mut left = 0;
        while left < leave {
            let i = rng.below(nodes.len());
            if !live[i] || provider_nodes.contains(&i) || i < 2 {
                continue;
            }
            live[i] = false;
            nodes[i].task.abort();
            dir.write().expect("directory").remove(&nodes[i].peer);
            left += 1;
        }
        let live_servers = servers_now(&nodes, &live, &dir);
        let first_new = nodes.len();
        for _ in 0..leave {
            let server = rng.below(100) >= clients_pct;
            let index = nodes.len() as u64;
            nodes.push(spawn_node(index, server, alpha, idle, dir.clone()));
            live.push(true);
        }
        join(&nodes, &live_servers, first_new, batch, &mut rng, &dir).await;
        let share = lookups / steps + usize::from(step < lookups % steps);
        let mut waits = Vec::new();
        for _ in 0..share {
            let from = loop {
                let i = rng.below(nodes.len());
                if live[i] {
                    break i;
                }
            };
            // Each lookup its own key in turn (replies still in flight count).
            let key = keys[(found.len() + waits.len()) % keys.len()].clone();
            let (tx, rx) = oneshot::channel();
            let _ = nodes[from].tx.send(Cmd::Find(key, tx)).await;
            waits.push(rx);
            if waits.len() == batch {
                gather(std::mem::take(&mut waits), &mut found).await;
            }
        }
        gather(waits, &mut found).await;
    }
    let lookup_s = t.elapsed().as_secs_f64();

    // The network as it stands after the run, for what libp2p does not report.
    let snap = snapshot(&nodes, &live, &keys).await;
    let server_peers: Vec<PeerId> = servers_now(&nodes, &live, &dir)
        .iter()
        .map(|s| nodes[*s].peer)
        .collect();
    // Routing-table health: share of each node's 20 truly closest live
    // servers that are in its table.
    let mut coverage = 0.0;
    for (peer, table) in &snap.tables {
        let near: Vec<PeerId> = closest(&server_peers, &KBucketKey::new(peer.to_bytes()), 21)
            .into_iter()
            .filter(|p| p != peer)
            .take(20)
            .collect();
        coverage +=
            near.iter().filter(|p| table.contains(p)).count() as f64 / near.len().max(1) as f64;
    }
    coverage /= snap.tables.len().max(1) as f64;
    // Where the records are: holders among the 20 live servers closest to each key.
    let placed: Vec<u32> = keys
        .iter()
        .enumerate()
        .map(|(k, key)| {
            closest(&server_peers, &KBucketKey::new(key.to_vec()), 20)
                .iter()
                .filter(|p| snap.holds[*p][k])
                .count() as u32
        })
        .collect();
    // Hops: every lookup and announcement replayed on the final tables.
    let live_peers: Vec<PeerId> = snap.tables.keys().copied().collect();
    let (mut hops, mut asked, mut replay_ok) = (Vec::new(), Vec::new(), 0);
    for k in 0..lookups {
        let from = live_peers[rng.below(live_peers.len())];
        let key = k % keys.len();
        let (ok, rounds, n_asked, _) = replay(
            &snap,
            from,
            &KBucketKey::new(keys[key].to_vec()),
            Some(key),
            alpha,
        );
        replay_ok += usize::from(ok);
        hops.push(rounds);
        asked.push(n_asked);
    }
    let mut announce_hops = Vec::new();
    for (k, s) in provider_nodes.iter().enumerate() {
        let target = KBucketKey::new(keys[k].to_vec());
        announce_hops.push(replay(&snap, nodes[*s].peer, &target, None, alpha).3);
    }
    let ok = found.iter().filter(|l| l.found).count();
    let announced_ok = announced.iter().filter(|l| l.found).count();
    println!(
        "{}",
        serde_json::json!({
            "nodes": n, "clients_pct": clients_pct, "churn_pct": churn_pct, "alpha": alpha,
            "batch": batch, "idle_ms": idle.as_millis(),
            "seconds": { "join": join_s, "announce": provide_s, "lookups": lookup_s,
                         "total": started.elapsed().as_secs_f64() },
            "memory_per_node_kib": { "spawned": kib_spawned, "after_join": kib_joined },
            // libp2p-kad allocates 256 buckets of 20 such entries per node.
            "routing_entry_bytes": std::mem::size_of::<KBucketKey<PeerId>>()
                + std::mem::size_of::<kad::Addresses>(),
            "announce": {
                "count": announced.len(),
                "success": announced_ok as f64 / announced.len().max(1) as f64,
                "messages": summary(announced.iter().map(|l| l.requests).collect()),
                "rounds_to_closest_replayed": summary(announce_hops),
                "holders_of_20_closest": summary(placed),
            },
            "lookup": {
                "count": found.len(),
                "success": ok as f64 / found.len().max(1) as f64,
                "messages": summary(found.iter().map(|l| l.requests).collect()),
                "ms": summary(found.iter().map(|l| l.millis as u32).collect()),
                "replayed": { "success": replay_ok as f64 / lookups.max(1) as f64,
                              "hops": summary(hops), "messages": summary(asked) },
            },
            "tables": {
                "size": summary(snap.tables.values().map(|t| t.len() as u32).collect()),
                "true_neighbour_coverage": (coverage * 1000.0).round() / 1000.0,
                "connected_at_end": summary(snap.connected.clone()),
            },
        })
    );
    std::process::exit(0);
}
