//! DHT simulation (not a test): `--nodes N` real libp2p Kademlia nodes in one
//! process, over libp2p's in-memory transport (plaintext, yamux), with the Kademlia
//! settings the Quince node uses. A share of them (`--clients-pct`) run in
//! client mode, as nodes behind NATs do. Then:
//! 1. every node joins through a random earlier server and looks up its own id;
//! 2. `--lookups` server nodes each announce a provider record for a key
//!    derived the way app keys are (SHA-256 multihash);
//! 3. churn: `--churn-pct` of the nodes (not the providers) leave and as many
//!    new ones join;
//! 4. `--lookups` random live nodes (clients included) each look up one of the
//!    announced keys, stopping at the first provider found.
//!
//! Prints one JSON line: lookup success rate, requests per lookup (mean,
//! median, 95th percentile), α-parallel rounds per lookup (requests ÷ α, a
//! stand-in for hops: libp2p does not expose a lookup's path length), lookup
//! time, and resident memory per node.
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
use libp2p::kad::{self, store::MemoryStore, GetProvidersOk, QueryResult, RecordKey};
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

enum Cmd {
    Join(PeerId, Multiaddr, oneshot::Sender<()>),
    Refresh(oneshot::Sender<()>),
    Provide(RecordKey, oneshot::Sender<bool>),
    Find(RecordKey, oneshot::Sender<Lookup>),
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

fn spawn_node(index: u64, server: bool, alpha: usize, dir: Directory) -> Handle {
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
            let mut cfg = kad::Config::new(StreamProtocol::new(
                quince_updater::node::DEFAULT_KAD_PROTOCOL,
            ));
            cfg.set_query_timeout(Duration::from_secs(30));
            cfg.set_parallelism(NonZeroUsize::new(alpha).expect("alpha > 0"));
            cfg.set_periodic_bootstrap_interval(None);
            let mut kad = kad::Behaviour::with_config(peer, MemoryStore::new(peer), cfg);
            kad.set_mode(Some(if server {
                kad::Mode::Server
            } else {
                kad::Mode::Client
            }));
            kad
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(1)))
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
        let mut provides: HashMap<kad::QueryId, oneshot::Sender<bool>> = HashMap::new();
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
                        Err(_) => { let _ = reply.send(false); }
                    },
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
                            if let Some(reply) = provides.remove(&id) { let _ = reply.send(r.is_ok()); }
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

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n = arg("--nodes", 1000) as usize;
    let clients_pct = arg("--clients-pct", 20) as usize;
    let churn_pct = arg("--churn-pct", 10) as usize;
    let lookups = arg("--lookups", 500) as usize;
    let alpha = arg("--alpha", 3) as usize;
    let batch = arg("--batch", 100) as usize;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let dir: Directory = Arc::default();
    let started = Instant::now();
    let rss0 = rss_bytes();

    let mut nodes: Vec<Handle> = Vec::new();
    let mut servers: Vec<usize> = Vec::new();
    let mut live: Vec<bool> = Vec::new();
    for i in 0..n {
        // The first 20 are servers, so early joiners have someone to ask.
        let server = i < 20 || rng.below(100) >= clients_pct;
        nodes.push(spawn_node(i as u64, server, alpha, dir.clone()));
        live.push(true);
        if server {
            servers.push(i);
        }
    }
    join(&nodes, &servers[..1], 1, 1, &mut rng, &dir).await; // node 1 through node 0
    join(&nodes, &servers, 2, batch, &mut rng, &dir).await;
    // One routing-table refresh per node (libp2p's bootstrap: a lookup of its
    // own id and of a random id in each bucket), as the Quince node runs
    // every five minutes: what a network looks like after a few minutes up.
    if arg("--refresh", 1) == 1 {
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
    let joined_s = started.elapsed().as_secs_f64();
    let rss_per_node = rss_bytes().saturating_sub(rss0) / n as u64;

    // Providers: `lookups` distinct servers, each announcing its own key.
    let mut keys = Vec::new();
    let mut provider_nodes = Vec::new();
    let mut waits = Vec::new();
    while provider_nodes.len() < lookups.min(servers.len()) {
        let s = servers[rng.below(servers.len())];
        if provider_nodes.contains(&s) {
            continue;
        }
        provider_nodes.push(s);
        let key = RecordKey::new(
            &quince_protocol::root::AppId(quince_protocol::Hash::of(&(s as u64).to_be_bytes()).0)
                .provider_key(),
        );
        keys.push(key.clone());
        let (tx, rx) = oneshot::channel();
        let _ = nodes[s].tx.send(Cmd::Provide(key, tx)).await;
        waits.push(rx);
    }
    let mut provided = 0;
    for w in waits {
        provided += usize::from(w.await.unwrap_or(false));
    }

    // Churn: some nodes leave (not providers), as many new ones join.
    let leave = n * churn_pct / 100;
    let mut left = 0;
    while left < leave {
        let i = rng.below(n);
        if !live[i] || provider_nodes.contains(&i) || i < 2 {
            continue;
        }
        live[i] = false;
        nodes[i].task.abort();
        dir.write().expect("directory").remove(&nodes[i].peer);
        left += 1;
    }
    let live_servers: Vec<usize> = servers.iter().copied().filter(|s| live[*s]).collect();
    let first_new = nodes.len();
    for j in 0..leave {
        let server = rng.below(100) >= clients_pct;
        nodes.push(spawn_node((n + j) as u64, server, alpha, dir.clone()));
        live.push(true);
    }
    join(&nodes, &live_servers, first_new, batch, &mut rng, &dir).await;

    // Lookups from random live nodes, clients and newcomers included.
    let mut results = Vec::new();
    for chunk in (0..lookups).collect::<Vec<_>>().chunks(batch) {
        let mut waits = Vec::new();
        for &k in chunk {
            let from = loop {
                let i = rng.below(nodes.len());
                if live[i] {
                    break i;
                }
            };
            let (tx, rx) = oneshot::channel();
            let _ = nodes[from]
                .tx
                .send(Cmd::Find(keys[k % keys.len()].clone(), tx))
                .await;
            waits.push(rx);
        }
        for w in waits {
            if let Ok(l) = w.await {
                results.push(l);
            } else {
                results.push(Lookup {
                    found: false,
                    requests: 0,
                    millis: 0,
                });
            }
        }
    }
    let ok = results.iter().filter(|l| l.found).count();
    let mut reqs: Vec<u32> = results.iter().map(|l| l.requests).collect();
    reqs.sort_unstable();
    let mean = reqs.iter().map(|r| f64::from(*r)).sum::<f64>() / reqs.len().max(1) as f64;
    let mut ms: Vec<u32> = results.iter().map(|l| l.millis as u32).collect();
    ms.sort_unstable();
    println!(
        "{}",
        serde_json::json!({
            "nodes": n, "clients_pct": clients_pct, "churn_pct": churn_pct, "alpha": alpha,
            "join_s": joined_s, "provided": provided, "lookups": results.len(),
            "success": ok as f64 / results.len().max(1) as f64,
            "requests_mean": mean, "requests_p50": percentile(&reqs, 0.5), "requests_p95": percentile(&reqs, 0.95),
            "rounds_mean": mean / alpha as f64,
            "lookup_ms_p50": percentile(&ms, 0.5), "lookup_ms_p95": percentile(&ms, 0.95),
            "rss_per_node_kib": rss_per_node / 1024,
            "total_s": started.elapsed().as_secs_f64(),
        })
    );
    std::process::exit(0);
}
