//! Benchmark helper (not a test): a publisher and `--peers N` peers, each a
//! real libp2p node on loopback with its own store and install folder, all
//! following one app. The publisher publishes a `--mib` MiB release; every
//! peer finds the others through the DHT, installs it (sync, fetch, verify,
//! unpack, atomic switch) and serves what it holds. Then a small update
//! (`--change-mib` MiB of the file rewritten) is published and pushed, and
//! every peer installs that too.
//!
//! Prints one JSON line: for the release and the update, the bytes the
//! publisher uploaded, the bytes that had to move (the release's compressed
//! chunks, or the update's new ones), their ratio, and the seconds until the
//! first and the last peer had it installed. `bench/swarm.sh` runs it for
//! several N and writes the table in BENCHMARKS.md.
//!
//! How the load spreads, with no coordinator: each peer announces itself in
//! the DHT as soon as it has the verified log, looks for more peers every two
//! seconds while it fetches, and asks for chunks in its
//! own order (a hash of its id), from peers that have not turned that chunk
//! down, least loaded first; "not yet" answers are retried later. The
//! publisher sends each chunk at most `--serves` times per 20 s (0: no cap)
//! and answers "busy" beyond, so the peers that got a chunk pass it on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quince_packager::testkit;
use quince_protocol::manifest::{EntryKind, Manifest};
use quince_protocol::root::AppId;
use quince_store::Store;
use quince_updater::fetch::Peers;
use quince_updater::install::{Apps, Outcome, UpdateOptions};
use quince_updater::{Library, Node, NodeConfig};

mod common;
use common::arg;

fn config(bootstrap: Vec<quince_updater::node::Multiaddr>, serves: u64) -> NodeConfig {
    NodeConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("literal")],
        bootstrap,
        request_timeout: Duration::from_secs(60),
        relay_server: false,
        chunk_serves: (serves > 0)
            .then_some((serves as u32, quince_updater::node::DEFAULT_CHUNK_SERVES.1)),
        ..NodeConfig::default()
    }
}

/// Compressed bytes of the chunks in `new` that are not in `old`.
fn moved_bytes(store: &Store, new: &Manifest, old: Option<&Manifest>) -> u64 {
    let ids = |m: &Manifest| -> std::collections::HashSet<_> {
        m.entries()
            .iter()
            .flat_map(|e| match &e.kind {
                EntryKind::File { chunks, .. } => chunks.iter().map(|c| c.id).collect(),
                _ => Vec::new(),
            })
            .collect()
    };
    let before = old.map(ids).unwrap_or_default();
    ids(new)
        .difference(&before)
        .map(|id| store.compressed_size(id).expect("stored chunk"))
        .sum()
}

struct Peer {
    node: Node,
    apps: Apps,
    library: Library,
}

/// Every peer installs the newest release at once; returns (first, last) seconds.
async fn round(peers: &[Peer], app: AppId, started: Instant) -> (f64, f64) {
    let tasks: Vec<_> = peers
        .iter()
        .map(|p| {
            let (node, apps, library) = (p.node.clone(), p.apps.clone(), p.library.clone());
            tokio::spawn(async move {
                let found = node
                    .find_peers(app, &[], &[], Duration::from_secs(30))
                    .await;
                let mut peers = Peers::new(found);
                let options = UpdateOptions {
                    window: 8,
                    ..UpdateOptions::default()
                };
                let outcome = apps
                    .update(&node, app, &mut peers, &options)
                    .await
                    .expect("update");
                assert!(matches!(outcome, Outcome::Installed { .. }), "{outcome:?}");
                library.add_app(app, apps.log_dir(&app));
                if std::env::var_os("SWARM_DEBUG").is_some() {
                    eprintln!(
                        "{:.2}s peers {} served-by {:?} dropped {:?}",
                        started.elapsed().as_secs_f64(),
                        peers.usable().len(),
                        peers.served().values().collect::<Vec<_>>(),
                        peers.dropped()
                    );
                }
                started.elapsed().as_secs_f64()
            })
        })
        .collect();
    let mut times = Vec::new();
    for t in tasks {
        times.push(t.await.expect("peer task"));
    }
    let first = times.iter().copied().fold(f64::MAX, f64::min);
    let last = times.iter().copied().fold(0.0, f64::max);
    (first, last)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n = arg("--peers", 10) as usize;
    let mib = arg("--mib", 50) as usize;
    let change_mib = arg("--change-mib", 4) as usize;
    let serves = arg(
        "--serves",
        u64::from(quince_updater::node::DEFAULT_CHUNK_SERVES.0),
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let (root, key) = quince_protocol::testkit::danger_single_key_root("Swarm bench", 6);
    let app = root.app_id();

    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("src");
    let mut payload = quince_protocol::testkit::noise(mib * 1024 * 1024, 0x5eed);
    std::fs::write(src.join("payload"), &payload).expect("payload");
    let store = Store::open(&dir.join("publisher/store")).expect("store");
    let log = dir.join("publisher/log");
    let publish = |version: &str| testkit::publish(&log, &store, &root, &key, &src, version, "any");
    let (_, v1) = publish("1.0.0");
    let release_bytes = moved_bytes(&store, &v1, None);

    let library = Library::new(store.clone());
    library.add_app(app, dir.join("publisher/log"));
    let publisher = Node::start(config(Vec::new(), serves), Arc::new(library))
        .await
        .expect("publisher");
    publisher.provide(app).await.expect("provide");
    let boot = publisher.addresses().await;
    let mut peers = Vec::new();
    for i in 0..n {
        let apps = Apps::open(&dir.join(format!("peer{i}"))).expect("apps");
        let library = Library::new(apps.store().expect("store"));
        // Peers have no cap (the default): they pass on all they hold.
        let node = Node::start(config(boot.clone(), 0), Arc::new(library.clone()))
            .await
            .expect("peer");
        peers.push(Peer {
            node,
            apps,
            library,
        });
    }
    // Let the DHT settle (every peer has joined through the publisher), then
    // announce again: a record put while the publisher was alone sits on the
    // publisher only, not on the nodes now closest to the key.
    tokio::time::sleep(Duration::from_secs(2)).await;
    publisher.provide(app).await.expect("provide");

    let up0 = publisher.status().await.uploaded_bytes;
    let (first1, last1) = round(&peers, app, Instant::now()).await;
    let up1 = publisher.status().await.uploaded_bytes - up0;

    // A small update: `change_mib` MiB rewritten in four places.
    let quarter = change_mib * 1024 * 1024 / 4;
    for k in 0..4 {
        let at = k * payload.len() / 4 + 4096;
        let fresh = quince_protocol::testkit::noise(quarter, 0xc0ffee + k as u64);
        payload[at..at + quarter].copy_from_slice(&fresh);
    }
    std::fs::write(src.join("payload"), &payload).expect("payload");
    let (note, v2) = publish("1.1.0");
    let update_bytes = moved_bytes(&store, &v2, Some(&v1));
    publisher.announce(app, note).await;
    let up1b = publisher.status().await.uploaded_bytes;
    let (first2, last2) = round(&peers, app, Instant::now()).await;
    let up2 = publisher.status().await.uploaded_bytes - up1b;

    let mut peer_upload = 0;
    for p in &peers {
        peer_upload += p.node.status().await.uploaded_bytes;
    }
    println!(
        "{}",
        serde_json::json!({
            "peers": n,
            "serves": serves,
            "release": {"bytes": release_bytes, "publisher_uploaded": up1,
                "ratio": up1 as f64 / release_bytes as f64, "first_s": first1, "last_s": last1},
            "update": {"bytes": update_bytes, "publisher_uploaded": up2,
                "ratio": up2 as f64 / update_bytes.max(1) as f64, "first_s": first2, "last_s": last2},
            "peers_uploaded": peer_upload,
        })
    );
    for p in peers {
        p.node.shutdown().await;
    }
    publisher.shutdown().await;
}
