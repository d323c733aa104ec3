//! Real libp2p nodes on loopback: a publisher, peers that fetch a release from
//! each other through the DHT, a late joiner after the publisher has gone, and
//! hostile peers that the honest ones route around.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use quince_protocol::codec::{Decode as _, Encode as _};
use quince_protocol::record::Platform;
use quince_protocol::root::AppId;
use quince_protocol::wire::{ChunkAnswer, ChunksAnswer, Request, Response};
use quince_store::Store;
use quince_updater::fetch::{self, PeerFault, Peers};
use quince_updater::{Library, Node, NodeConfig, Serve};

struct Published {
    app: AppId,
    log: PathBuf,
    store: PathBuf,
    source: PathBuf,
    key: ed25519_dalek::SigningKey,
}

/// Builds and publishes release `version` of a test app of about `mib` MiB.
fn publish(dir: &Path, mib: usize, version: &str, seed: u64) -> Published {
    let (root, key) = quince_protocol::testkit::danger_single_key_root("Swarm app", 11);
    let source = dir.join(format!("src-{version}"));
    std::fs::create_dir_all(source.join("bin")).unwrap();
    std::fs::write(
        source.join("bin/app"),
        quince_protocol::testkit::noise(mib * 1024 * 1024, seed),
    )
    .unwrap();
    std::fs::write(source.join("README"), format!("release {version}\n")).unwrap();
    let store_dir = dir.join("publisher-store");
    let store = Store::open(&store_dir).unwrap();
    let log_dir = dir.join("publisher-log");
    quince_packager::testkit::publish(&log_dir, &store, &root, &key, &source, version, "any");
    Published {
        app: root.app_id(),
        log: log_dir,
        store: store_dir,
        source,
        key,
    }
}

fn loopback() -> NodeConfig {
    NodeConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        request_timeout: Duration::from_secs(10),
        ..NodeConfig::default()
    }
}

async fn start_node(library: Arc<dyn Serve>, bootstrap: Vec<libp2p::Multiaddr>) -> Node {
    Node::start(
        NodeConfig {
            bootstrap,
            ..loopback()
        },
        library,
    )
    .await
    .unwrap()
}

/// A peer: its own store and log mirror, served by its own node.
struct Peer {
    node: Node,
    library: Library,
    dir: PathBuf,
}

async fn new_peer(dir: &Path, name: &str, bootstrap: Vec<libp2p::Multiaddr>) -> Peer {
    let dir = dir.join(name);
    let library = Library::new(Store::open(&dir.join("store")).unwrap());
    let node = start_node(Arc::new(library.clone()), bootstrap).await;
    Peer { node, library, dir }
}

/// Finds providers, syncs the log, fetches and unpacks the latest release,
/// then serves the app too. Returns who served it.
async fn install(peer: &Peer, app: AppId, expected_source: &Path) -> Peers {
    install_with_state(peer, app, expected_source).await.0
}

async fn install_with_state(
    peer: &Peer,
    app: AppId,
    expected_source: &Path,
) -> (Peers, quince_protocol::state::TrustedState) {
    let mut providers = Vec::new();
    for _ in 0..20 {
        providers = peer.node.providers(app).await;
        if !providers.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!providers.is_empty(), "no providers found");
    let mut peers = Peers::new(providers);
    let mirror = peer.dir.join("log");
    let synced = fetch::sync_log(&peer.node, app, &mut peers, None, &mirror)
        .await
        .unwrap();
    let platform = Platform::current();
    let record = synced.latest_release(&platform).unwrap();
    let store = peer.library.store();
    let manifest = fetch::fetch_release(&peer.node, app, &mut peers, &record, &platform, &store, 8)
        .await
        .unwrap();
    let out = peer.dir.join(format!("installed-{}", record.version));
    quince_store::unpack(&manifest, &platform, &store, &out).unwrap();
    assert_eq!(
        std::fs::read(out.join("bin/app")).unwrap(),
        std::fs::read(expected_source.join("bin/app")).unwrap()
    );
    peer.library.add_app(app, mirror);
    peer.node.provide(app).await.unwrap();
    (peers, synced.into_state())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_nodes_spread_a_20_mib_release_and_a_late_joiner_needs_no_publisher() {
    let t = tempfile::tempdir().unwrap();
    let published = publish(t.path(), 20, "1.0.0", 42);
    let lib = Library::new(Store::open(&published.store).unwrap());
    lib.add_app(published.app, published.log.clone());
    let publisher = start_node(Arc::new(lib), vec![]).await;
    publisher.provide(published.app).await.unwrap();
    let boot = publisher.addresses().await;

    // First three peers, then seven more that also find the first three.
    let mut peers = Vec::new();
    for i in 0..3 {
        let p = new_peer(t.path(), &format!("peer{i}"), boot.clone()).await;
        install(&p, published.app, &published.source).await;
        peers.push(p);
    }
    let mut wave = Vec::new();
    for i in 3..10 {
        wave.push(new_peer(t.path(), &format!("peer{i}"), boot.clone()).await);
    }
    let results = futures::future::join_all(
        wave.iter()
            .map(|p| install(p, published.app, &published.source)),
    )
    .await;
    let from_publisher: u64 = results
        .iter()
        .map(|r| r.served().get(&publisher.peer_id()).copied().unwrap_or(0))
        .sum();
    let total: u64 = results
        .iter()
        .map(|r| r.served().values().sum::<u64>())
        .sum();
    assert!(total > 0);
    assert!(from_publisher < total, "the second wave fetched from peers too, not only from the publisher ({from_publisher} of {total} chunks)");
    peers.extend(wave);

    // The publisher goes offline; a late joiner bootstraps from a peer.
    publisher.shutdown().await;
    let first_peer = peers[0].node.addresses().await;
    let late = new_peer(t.path(), "late", first_peer).await;
    let used = install(&late, published.app, &published.source).await;
    assert_eq!(
        used.served().get(&publisher.peer_id()),
        None,
        "the publisher is offline"
    );
    assert!(
        used.served().values().sum::<u64>() > 0,
        "the late joiner fetched from peers"
    );
    assert_eq!(peers.len(), 10);
}

/// A hostile peer that serves flipped chunks, an old checkpoint, or too much.
struct Hostile {
    honest: Library,
    mode: &'static str,
    old_checkpoint: Vec<u8>,
}

impl Serve for Hostile {
    fn answer(&self, request: &Request) -> Response {
        match (self.mode, request, self.honest.answer(request)) {
            ("tamper", Request::Chunk(_), Response::Data(mut bytes)) => {
                flip(&mut bytes);
                Response::Data(bytes)
            }
            // Small chunks are asked for several at once.
            ("tamper", Request::Chunks(_), Response::Data(bytes)) => {
                let mut answer = ChunksAnswer::from_bytes(&bytes).expect("own answer");
                for entry in &mut answer.0 {
                    if let ChunkAnswer::Data(bytes) = entry {
                        flip(bytes);
                    }
                }
                Response::Data(answer.to_bytes())
            }
            ("stale", Request::Checkpoint(_), _) => Response::Data(self.old_checkpoint.clone()),
            ("endless", Request::Chunk(_) | Request::Chunks(_), _) => {
                Response::Data(vec![0u8; 65 * 1024 * 1024])
            }
            (_, _, honest) => honest,
        }
    }
}

fn flip(bytes: &mut [u8]) {
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_are_dropped_and_the_download_completes_from_honest_ones() {
    let t = tempfile::tempdir().unwrap();
    let v1 = publish(t.path(), 3, "1.0.0", 7);
    let old_checkpoint = std::fs::read(v1.log.join("checkpoint")).unwrap();
    let v2 = publish(t.path(), 3, "1.1.0", 8);
    let _ = &v1.key;

    let honest = Library::new(Store::open(&v2.store).unwrap());
    honest.add_app(v2.app, v2.log.clone());
    let honest_node = start_node(Arc::new(honest.clone()), vec![]).await;
    let boot = honest_node.addresses().await;
    let mut hostile_ids = Vec::new();
    let mut hostile_nodes = Vec::new();
    // The endless peer is a bare libp2p node: a Quince node would not
    // hold an answer larger than its ledger allows.
    let endless = Hostile {
        honest: honest.clone(),
        mode: "endless",
        old_checkpoint: old_checkpoint.clone(),
    };
    let endless_addr = start_raw(
        Arc::new(endless),
        quince_updater::codec::TransferCodec::default(),
    )
    .await;
    let Some(libp2p::multiaddr::Protocol::P2p(endless_id)) = endless_addr.iter().last() else {
        panic!("no peer id in {endless_addr}");
    };
    hostile_ids.push(("endless", endless_id));
    for mode in ["tamper", "stale"] {
        let n = start_node(
            Arc::new(Hostile {
                honest: honest.clone(),
                mode,
                old_checkpoint: old_checkpoint.clone(),
            }),
            boot.clone(),
        )
        .await;
        hostile_ids.push((mode, n.peer_id()));
        hostile_nodes.push(n);
    }
    let client = new_peer(t.path(), "client", boot.clone()).await;
    for n in &hostile_nodes {
        for a in n.addresses().await {
            client.node.add_peer(a).await;
        }
    }
    client.node.add_peer(endless_addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut peers = Peers::new(
        hostile_ids
            .iter()
            .map(|(_, id)| *id)
            .chain([honest_node.peer_id()]),
    );
    let synced = fetch::sync_log(
        &client.node,
        v2.app,
        &mut peers,
        None,
        &client.dir.join("log"),
    )
    .await
    .unwrap();
    assert_eq!(
        synced.state().size(),
        2,
        "the newest checkpoint wins over the stale one"
    );
    let platform = Platform::current();
    let record = synced.latest_release(&platform).unwrap();
    assert_eq!(record.version.to_string(), "1.1.0");
    let store = client.library.store();
    let manifest = fetch::fetch_release(
        &client.node,
        v2.app,
        &mut peers,
        &record,
        &platform,
        &store,
        4,
    )
    .await
    .unwrap();
    let out = client.dir.join("installed");
    quince_store::unpack(&manifest, &platform, &store, &out).unwrap();
    assert_eq!(
        std::fs::read(out.join("bin/app")).unwrap(),
        std::fs::read(v2.source.join("bin/app")).unwrap()
    );
    let tamperer = hostile_ids.iter().find(|(m, _)| *m == "tamper").unwrap().1;
    assert!(
        peers.dropped().get(&tamperer).is_some_and(
            |why| matches!(why, PeerFault::BadData { what, .. } if what.starts_with("chunk "))
        ),
        "{:?}",
        peers.dropped()
    );
    assert!(!peers.usable().contains(&tamperer));
    // The endless peer is cut by the size cap or, if its flood is slower than
    // the stall limit, by the stall detector: either way it is dropped.
    let stale = |f: &PeerFault| matches!(f, PeerFault::Stale { .. });
    let endless = |f: &PeerFault| matches!(f, PeerFault::Violation { .. } | PeerFault::Slow { .. });
    for (mode, expected) in [
        ("stale", &stale as &dyn Fn(&PeerFault) -> bool),
        ("endless", &endless),
    ] {
        let id = hostile_ids.iter().find(|(m, _)| *m == mode).unwrap().1;
        assert!(
            peers.dropped().get(&id).is_some_and(expected),
            "{mode} peer not dropped for the expected fault: {:?}",
            peers.dropped()
        );
    }
    assert_eq!(peers.usable(), &[honest_node.peer_id()]);
}

/// The transfer protocol with one quirk: `dribble` answers honestly but
/// one byte per second; `before_chunks` speaks it as a node from before
/// `Request::Chunks` (such a request does not decode; the stream is dropped).
#[derive(Clone, Default)]
struct Quirky {
    dribble: bool,
    before_chunks: bool,
}

impl libp2p::request_response::Codec for Quirky {
    type Protocol = libp2p::StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, p: &Self::Protocol, io: &mut T) -> std::io::Result<Request>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        let request = quince_updater::codec::TransferCodec::default()
            .read_request(p, io)
            .await?;
        if self.before_chunks && matches!(request, Request::Chunks(_)) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "request kind 11",
            ));
        }
        Ok(request)
    }

    async fn read_response<T>(
        &mut self,
        p: &Self::Protocol,
        io: &mut T,
    ) -> std::io::Result<Response>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        quince_updater::codec::TransferCodec::default()
            .read_response(p, io)
            .await
    }

    async fn write_request<T>(
        &mut self,
        p: &Self::Protocol,
        io: &mut T,
        r: Request,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        quince_updater::codec::TransferCodec::default()
            .write_request(p, io, r)
            .await
    }

    async fn write_response<T>(
        &mut self,
        p: &Self::Protocol,
        io: &mut T,
        r: Response,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        if !self.dribble {
            return quince_updater::codec::TransferCodec::default()
                .write_response(p, io, r)
                .await;
        }
        use futures::AsyncWriteExt as _;
        use quince_protocol::codec::Encode as _;
        for byte in r.to_bytes() {
            io.write_all(&[byte]).await?;
            io.flush().await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        io.close().await
    }
}

async fn start_dribbler(library: Library) -> libp2p::Multiaddr {
    start_raw(
        Arc::new(library),
        Quirky {
            dribble: true,
            ..Quirky::default()
        },
    )
    .await
}

/// A bare libp2p node that speaks only the transfer protocol, answering
/// from `library` through `codec`, with none of a Quince node's bounds.
async fn start_raw<C>(library: Arc<dyn Serve>, codec: C) -> libp2p::Multiaddr
where
    C: libp2p::request_response::Codec<
            Protocol = libp2p::StreamProtocol,
            Request = Request,
            Response = Response,
        > + Clone
        + Send
        + 'static,
{
    use futures::StreamExt as _;
    use libp2p::request_response::{self, ProtocolSupport};
    use libp2p::swarm::SwarmEvent;
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                codec,
                [(
                    quince_updater::codec::TRANSFER_PROTOCOL,
                    ProtocolSupport::Full,
                )],
                request_response::Config::default().with_request_timeout(Duration::from_secs(3600)),
            )
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    let me = *swarm.local_peer_id();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) = swarm.select_next_some().await
            {
                let answer = library.answer(&request);
                let _ = swarm.behaviour_mut().send_response(channel, answer);
            }
        }
    });
    addr.with(libp2p::multiaddr::Protocol::P2p(me))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_answering_one_byte_per_second_is_dropped_and_the_fetch_completes() {
    let t = tempfile::tempdir().unwrap();
    let p = publish(t.path(), 3, "1.0.0", 31);
    let honest = Library::new(Store::open(&p.store).unwrap());
    honest.add_app(p.app, p.log.clone());
    let honest_node = start_node(Arc::new(honest.clone()), vec![]).await;
    let slow_addr = start_dribbler(honest.clone()).await;
    let slow_id = match slow_addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(id)) => id,
        _ => unreachable!(),
    };
    let client = new_peer(t.path(), "client", honest_node.addresses().await).await;
    client.node.add_peer(slow_addr).await;
    let mut peers = Peers::new([slow_id, honest_node.peer_id()]);
    let began = std::time::Instant::now();
    let synced = fetch::sync_log(
        &client.node,
        p.app,
        &mut peers,
        None,
        &client.dir.join("log"),
    )
    .await
    .unwrap();
    let platform = Platform::current();
    let record = synced.latest_release(&platform).unwrap();
    let store = client.library.store();
    // Give the slow peer chunks to stall on, even if it survived the log phase.
    if !peers.usable().contains(&slow_id) {
        peers = Peers::new([slow_id, honest_node.peer_id()]);
    }
    let manifest = fetch::fetch_release(
        &client.node,
        p.app,
        &mut peers,
        &record,
        &platform,
        &store,
        4,
    )
    .await
    .unwrap();
    let out = client.dir.join("installed");
    quince_store::unpack(&manifest, &platform, &store, &out).unwrap();
    assert_eq!(
        std::fs::read(out.join("bin/app")).unwrap(),
        std::fs::read(p.source.join("bin/app")).unwrap()
    );
    assert!(
        peers
            .dropped()
            .get(&slow_id)
            .is_some_and(|why| matches!(why, PeerFault::Slow { .. })),
        "the slow peer was not dropped: {:?}",
        peers.dropped()
    );
    assert_eq!(
        peers.served().get(&slow_id),
        None,
        "a 1 byte/s peer cannot have served a chunk"
    );
    eprintln!("completed in {:?} despite the slow peer", began.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeder_with_upload_limits_still_serves_everyone_in_turn() {
    let t = tempfile::tempdir().unwrap();
    let p = publish(t.path(), 3, "1.0.0", 99);
    let lib = Library::new(Store::open(&p.store).unwrap());
    lib.add_app(p.app, p.log.clone());
    let config = NodeConfig {
        upload_rate: Some(2 * 1024 * 1024),
        max_peers: Some(1),
        ..loopback()
    };
    let seeder = Node::start(config, Arc::new(lib)).await.unwrap();
    seeder.provide(p.app).await.unwrap();
    let boot = seeder.addresses().await;
    let a = new_peer(t.path(), "a", boot.clone()).await;
    let b = new_peer(t.path(), "b", boot.clone()).await;
    let (ra, rb) = tokio::join!(install(&a, p.app, &p.source), install(&b, p.app, &p.source));
    assert!(ra.served().values().sum::<u64>() > 0 && rb.served().values().sum::<u64>() > 0);
}

/// A node over its memory ceiling refuses new connections (the ceiling here
/// is far below any process's size); one with the default ceiling accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_over_its_memory_ceiling_refuses_new_connections() {
    let t = tempfile::tempdir().unwrap();
    let library = || Arc::new(Library::new(Store::open(&t.path().join("store")).unwrap()));
    let full = Node::start(
        NodeConfig {
            max_memory_bytes: 1 << 20,
            ..loopback()
        },
        library(),
    )
    .await
    .unwrap();
    let roomy = Node::start(loopback(), library()).await.unwrap();
    let asker = start_node(library(), Vec::new()).await;
    for node in [&full, &roomy] {
        for addr in node.addresses().await {
            asker.add_peer(addr).await;
        }
    }
    let app = AppId([7; 32]);
    let to_roomy = asker
        .request(roomy.peer_id(), Request::Checkpoint(app))
        .await;
    assert!(
        matches!(to_roomy, Ok(Response::NotFound)),
        "the roomy node answers: {to_roomy:?}"
    );
    let to_full = asker
        .request(full.peer_id(), Request::Checkpoint(app))
        .await;
    assert!(to_full.is_err(), "the full node refused: {to_full:?}");
    assert!(
        !asker
            .status()
            .await
            .connections
            .iter()
            .any(|c| c.peer == full.peer_id()),
        "no connection to the node over its ceiling"
    );
}

#[test]
fn a_node_keeps_its_identity_across_restarts() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("node/identity.key");
    let first = quince_updater::load_or_create_identity(&path).unwrap();
    let again = quince_updater::load_or_create_identity(&path).unwrap();
    assert_eq!(first.public().to_peer_id(), again.public().to_peer_id());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_release_is_pushed_to_peers_without_polling() {
    let t = tempfile::tempdir().unwrap();
    let v1 = publish(t.path(), 1, "1.0.0", 5);
    let lib = Library::new(Store::open(&v1.store).unwrap());
    lib.add_app(v1.app, v1.log.clone());
    let publisher = start_node(Arc::new(lib), vec![]).await;
    publisher.provide(v1.app).await.unwrap();
    let boot = publisher.addresses().await;
    let mut peers = Vec::new();
    for i in 0..3 {
        let p = new_peer(t.path(), &format!("p{i}"), boot.clone()).await;
        let (_, state) = install_with_state(&p, v1.app, &v1.source).await;
        let rx = p.node.announcements();
        peers.push((p, state, rx));
    }
    let v2 = publish(t.path(), 1, "1.1.0", 6);
    let note = std::fs::read(v2.log.join("checkpoint")).unwrap();
    publisher.announce(v2.app, note).await;
    let platform = Platform::current();
    for (p, state, rx) in &mut peers {
        let pushed = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("no push within 10 s")
            .unwrap();
        assert_eq!(pushed.app, v2.app);
        assert_eq!(pushed.peer, publisher.peer_id());
        // The push only says where to look; the peer verifies by syncing.
        let mut from = Peers::new([pushed.peer]);
        let synced = fetch::sync_log(
            &p.node,
            v2.app,
            &mut from,
            Some(state.clone()),
            &p.dir.join("log"),
        )
        .await
        .unwrap();
        assert_eq!(
            synced
                .latest_release(&platform)
                .unwrap()
                .version
                .to_string(),
            "1.1.0"
        );
        // A forged push changes nothing.
        let mut forged = pushed.note.clone();
        let at = forged.len() - 10;
        forged[at] ^= 1;
        assert!(synced.state().advance(&forged, &[]).is_err());
    }
}

/// The DHT names a peer that has left (its record outlives it): the install
/// does not stop at it but looks again and installs from a seeder that
/// appears a few seconds later (the hostile test found discovery giving up
/// on the first provider list, every peer in it dead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_whose_first_providers_are_dead_looks_again_and_finds_a_live_one() {
    let t = tempfile::tempdir().unwrap();
    let p = publish(t.path(), 1, "1.0.0", 51);
    let dht = start_node(
        Arc::new(Library::new(
            Store::open(&t.path().join("dht-store")).unwrap(),
        )),
        vec![],
    )
    .await;
    let boot = dht.addresses().await;
    let holder = Library::new(Store::open(&p.store).unwrap());
    holder.add_app(p.app, p.log.clone());
    // A peer that announced the app and left.
    let gone = start_node(Arc::new(holder.clone()), boot.clone()).await;
    gone.provide(p.app).await.unwrap();
    let gone_id = gone.peer_id();
    gone.shutdown().await;

    let mut client = quince_updater::Client::open(&t.path().join("user")).unwrap();
    client
        .start(NodeConfig {
            bootstrap: boot.clone(),
            ..loopback()
        })
        .await
        .unwrap();
    let link: quince_updater::link::Link = format!("quince://{}", p.app).parse().unwrap();
    let options = quince_updater::install::UpdateOptions {
        window: 8,
        ..Default::default()
    };
    let install = tokio::spawn(async move {
        let report = client
            .install(&link, &options, Duration::from_secs(30))
            .await;
        (client, report)
    });
    // A live seeder turns up after the install has met the dead one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seeder = start_node(Arc::new(holder), boot).await;
    seeder.provide(p.app).await.unwrap();
    let (mut client, report) = install.await.unwrap();
    let report = report.unwrap_or_else(|e| panic!("install failed: {e}"));
    assert!(
        matches!(
            report.outcome,
            quince_updater::install::Outcome::Installed { .. }
        ),
        "{:?}",
        report.outcome
    );
    assert!(
        report.peers.served().contains_key(&seeder.peer_id()),
        "served by {:?}",
        report.peers.served()
    );
    assert!(!report.peers.served().contains_key(&gone_id));
    client.stop().await;
}

/// A link that names a seeder is fetched from at once: the install does not
/// wait for a DHT lookup whose bootstrap node never answers (a public
/// bootstrap list seen from a network that cannot reach it, or a slow
/// public DHT). The bootstrap here takes the TCP connection and never says
/// a word, so a lookup could only end when the client gives up on it, which
/// closes the connection: it must still be open when the install is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_naming_a_seeder_installs_without_waiting_for_the_dht() {
    use std::io::Read as _;
    let t = tempfile::tempdir().unwrap();
    let p = publish(t.path(), 1, "1.0.0", 52);
    let holder = Library::new(Store::open(&p.store).unwrap());
    holder.add_app(p.app, p.log.clone());
    let seeder = start_node(Arc::new(holder), vec![]).await;
    let seeder_addr = seeder.addresses().await[0].clone();

    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_peer = libp2p::identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id();
    let silent_addr: libp2p::Multiaddr = format!(
        "/ip4/127.0.0.1/tcp/{}/p2p/{silent_peer}",
        silent.local_addr().unwrap().port()
    )
    .parse()
    .unwrap();
    let mut client = quince_updater::Client::open(&t.path().join("user")).unwrap();
    // As the bootstrap and `quince install` run it: a one-shot install
    // leaves no DHT record (an announcement would wait on the DHT too).
    client.announce(false);
    client
        .start(NodeConfig {
            bootstrap: vec![silent_addr],
            ..loopback()
        })
        .await
        .unwrap();
    // The client dials its bootstrap node as it starts.
    let (mut held, _) = silent.accept().unwrap();
    let link: quince_updater::link::Link = format!("quince://{}?peer={seeder_addr}", p.app)
        .parse()
        .unwrap();
    let options = quince_updater::install::UpdateOptions {
        window: 8,
        ..Default::default()
    };
    let report = client
        .install(&link, &options, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("install failed: {e}"));
    assert!(
        matches!(
            report.outcome,
            quince_updater::install::Outcome::Installed { .. }
        ),
        "{:?}",
        report.outcome
    );
    assert!(report.peers.served().contains_key(&seeder.peer_id()));
    // The connection to the silent bootstrap node is still open: nothing
    // gave up on it (which a lookup the install waited for would have had to).
    held.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 64];
    let still_open = loop {
        match held.read(&mut byte) {
            Ok(0) => break false,
            Ok(_) => continue, // the client's greeting
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break true,
            Err(_) => break false,
        }
    };
    assert!(
        still_open,
        "the client gave up on its bootstrap node before the install ended: it waited for the DHT"
    );
    client.stop().await;
}

/// Counts the chunk requests its library answers.
struct Counting {
    honest: Library,
    one: std::sync::atomic::AtomicUsize,
    several: std::sync::atomic::AtomicUsize,
    in_several: std::sync::atomic::AtomicUsize,
}

impl Serve for Counting {
    fn answer(&self, request: &Request) -> Response {
        use std::sync::atomic::Ordering::Relaxed;
        match request {
            Request::Chunk(_) => {
                self.one.fetch_add(1, Relaxed);
            }
            Request::Chunks(ids) => {
                self.several.fetch_add(1, Relaxed);
                self.in_several.fetch_add(ids.len(), Relaxed);
            }
            _ => {}
        }
        self.honest.answer(request)
    }
}

/// Publishes a release of `files` small files in `dir`: the source folder
/// and a library serving it.
fn small_files_release(dir: &Path, files: usize) -> (PathBuf, AppId, Library) {
    small_files_release_as(dir, files, false)
}

/// [`small_files_release`], with the files in shared chunks if `shared`.
fn small_files_release_as(dir: &Path, files: usize, shared: bool) -> (PathBuf, AppId, Library) {
    let (root, key) = quince_protocol::testkit::danger_single_key_root("Small files", 12);
    let source = dir.join("src");
    std::fs::create_dir_all(source.join("bin")).unwrap();
    std::fs::write(source.join("bin/app"), b"#!/bin/sh\n").unwrap();
    for i in 0..files {
        let text = format!("file {i}\n").repeat(1 + i * 7 % 400);
        std::fs::write(source.join(format!("f{i:04}.txt")), text).unwrap();
    }
    let store = Store::open(&dir.join("publisher-store")).unwrap();
    let log = dir.join("publisher-log");
    if shared {
        quince_packager::testkit::publish_sharing_small_files(
            &log, &store, &root, &key, &source, "1.0.0", "any",
        );
    } else {
        quince_packager::testkit::publish(&log, &store, &root, &key, &source, "1.0.0", "any");
    }
    let library = Library::new(store);
    library.add_app(root.app_id(), log);
    (source, root.app_id(), library)
}

/// Fetches `app`'s release from `seeder` alone into a fresh peer in `dir`,
/// checks its first `files` files against `source`, and returns the
/// release's distinct chunks.
async fn fetch_small_files(
    dir: &Path,
    seeder: libp2p::Multiaddr,
    app: AppId,
    source: &Path,
    files: usize,
) -> usize {
    let Some(libp2p::multiaddr::Protocol::P2p(seeder_id)) = seeder.iter().last() else {
        panic!("no peer id in {seeder}");
    };
    let client = new_peer(dir, "client", vec![]).await;
    client.node.add_peer(seeder).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut peers = Peers::new([seeder_id]);
    let synced = fetch::sync_log(&client.node, app, &mut peers, None, &client.dir.join("log"))
        .await
        .unwrap();
    let platform = Platform::current();
    let record = synced.latest_release(&platform).unwrap();
    let cstore = client.library.store();
    let manifest = fetch::fetch_release(
        &client.node,
        app,
        &mut peers,
        &record,
        &platform,
        &cstore,
        8,
    )
    .await
    .unwrap();
    let out = client.dir.join("out");
    quince_store::unpack(&manifest, &platform, &cstore, &out).unwrap();
    for i in 0..files {
        let name = format!("f{i:04}.txt");
        assert_eq!(
            std::fs::read(out.join(&name)).unwrap(),
            std::fs::read(source.join(&name)).unwrap(),
            "{name}"
        );
    }
    manifest
        .entries_for(&platform)
        .filter_map(|e| match &e.kind {
            quince_protocol::manifest::EntryKind::File { chunks, .. } => Some(chunks.iter()),
            _ => None,
        })
        .flatten()
        .map(|c| c.id)
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// A release whose 600 small files are in shared chunks (a version 3
/// manifest) is fetched from a seeder over libp2p and unpacked intact, in
/// a handful of chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_files_in_shared_chunks_install_from_a_seeder() {
    const FILES: usize = 600;
    let t = tempfile::tempdir().unwrap();
    let (source, app, library) = small_files_release_as(t.path(), FILES, true);
    let seeder = start_node(Arc::new(library), vec![]).await;
    let addr = seeder.addresses().await.remove(0);
    let chunks = fetch_small_files(t.path(), addr, app, &source, FILES).await;
    // 1 MB of files (and bin/app) in shared chunks of at least 512 KiB: two
    // (a chunk per file would be 601).
    assert!((2..=4).contains(&chunks), "{chunks} chunks");
}

/// A release of 600 small files is fetched several chunks to a request
/// (one request each made a 20,000-file install spend most of its time on
/// requests), every file arrives intact, and each chunk is asked for once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_files_come_several_to_a_request() {
    use std::sync::atomic::Ordering::Relaxed;
    const FILES: usize = 600;
    let t = tempfile::tempdir().unwrap();
    let (source, app, honest) = small_files_release(t.path(), FILES);
    let counting = Arc::new(Counting {
        honest,
        one: Default::default(),
        several: Default::default(),
        in_several: Default::default(),
    });
    let seeder = start_node(counting.clone(), vec![]).await;
    let addr = seeder.addresses().await.remove(0);
    let chunks = fetch_small_files(t.path(), addr, app, &source, FILES).await;
    let (one, several, in_several) = (
        counting.one.load(Relaxed),
        counting.several.load(Relaxed),
        counting.in_several.load(Relaxed),
    );
    assert!(chunks > FILES, "{chunks} chunks");
    assert!(
        several > 0,
        "no request asked for several chunks ({one} single ones)"
    );
    assert_eq!(one + in_several, chunks, "every chunk asked for once");
    assert!(
        one + several <= chunks / 8,
        "{} requests for {chunks} chunks",
        one + several
    );
}

/// A seeder from before `Request::Chunks` drops such a request (it cannot
/// decode it): the client asks it for the same chunks one by one, and the
/// install completes from it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeder_from_before_chunk_lists_still_serves_small_files() {
    const FILES: usize = 200;
    let t = tempfile::tempdir().unwrap();
    let (source, app, library) = small_files_release(t.path(), FILES);
    let old = start_raw(
        Arc::new(library),
        Quirky {
            before_chunks: true,
            ..Quirky::default()
        },
    )
    .await;
    let chunks = fetch_small_files(t.path(), old, app, &source, FILES).await;
    assert!(chunks > FILES, "{chunks} chunks");
}

/// A folder whose chunk requests are never answered (its log and manifest
/// are): a fetch from it waits for ever once the manifest is in.
#[derive(Clone)]
struct NoChunks(fetch::Folder);

impl fetch::Source for NoChunks {
    fn local_peer(&self) -> libp2p::PeerId {
        self.0.local_peer()
    }

    fn ask(
        &self,
        peer: libp2p::PeerId,
        request: Request,
        deadline: Duration,
    ) -> impl std::future::Future<Output = Result<Vec<u8>, PeerFault>> + Send {
        use futures::future::Either;
        match request {
            Request::Chunk(_) | Request::Chunks(_) => Either::Left(std::future::pending()),
            other => Either::Right(self.0.ask(peer, other, deadline)),
        }
    }
}

/// An update given up part way (`quince update --watch` stopped while it
/// fetches) stops the unpacking that waits for its chunks: otherwise the
/// runtime, which waits for its blocking tasks when it is dropped, would
/// never shut down.
#[test]
fn a_fetch_given_up_part_way_stops_the_unpack_waiting_for_its_chunks() {
    let t = tempfile::tempdir().unwrap();
    let published = publish(t.path(), 2, "1.0.0", 9);
    let folder =
        fetch::Folder::from_parts(&published.log, &published.store, published.app).unwrap();
    let mut peers = folder.peers();
    let source = NoChunks(folder);
    let dir = t.path().to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let given_up = runtime.block_on(async {
            let synced =
                fetch::sync_log(&source, published.app, &mut peers, None, &dir.join("log"))
                    .await
                    .unwrap();
            let platform = Platform::current();
            let record = synced.latest_release(&platform).unwrap();
            let store = Store::open(&dir.join("store")).unwrap();
            let staging = dir.join("staging");
            let fetching = fetch::fetch_release_unpacking(
                &source,
                published.app,
                &mut peers,
                &record,
                &platform,
                &store,
                8,
                None,
                &[],
                &staging,
            );
            tokio::time::timeout(Duration::from_millis(500), fetching)
                .await
                .is_err()
        });
        drop(runtime); // waits for the unpacking task
        let _ = tx.send(given_up);
    });
    let given_up = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the runtime did not shut down: the unpack still waits for chunks");
    assert!(given_up, "the fetch ended although no chunk came");
}
