//! `quince seed`: serve apps to peers until stopped.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use quince_protocol::codec::Decode;
use quince_protocol::root::{AppId, AppRoot};
use quince_store::Store;
use quince_updater::{Library, Node};

use super::NetArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    net: NetArgs,
    /// An app's log folder to serve (repeat for several apps; none for a node
    /// that only helps others: a bootstrap node or relay).
    #[arg(long = "log")]
    logs: Vec<PathBuf>,
    /// The content store holding the apps' manifests and chunks.
    #[arg(long, default_value = "store")]
    store: PathBuf,
    /// Most chunk bytes per second to upload.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    upload_rate: Option<u64>,
    /// Most peers to serve chunks to in any 10 seconds.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    max_peers: Option<usize>,
    /// While three or more peers fetch at once, send each chunk to at most
    /// this many peers that are still connected (per two minutes): they pass
    /// it on to the others; 0: no cap.
    #[arg(long, default_value_t = quince_updater::node::DEFAULT_CHUNK_SERVES.0)]
    chunk_serves: u32,
}

pub async fn run(args: Args) -> Result<()> {
    let library = Library::new(Store::open(&args.store)?);
    let mut apps = Vec::new();
    for log in &args.logs {
        let root = std::fs::read(log.join("root"))
            .with_context(|| format!("{} is not a log folder", log.display()))?;
        let app = AppRoot::from_bytes(&root)?.app_id();
        library.add_app(app, log.clone());
        apps.push((app, log.clone()));
    }
    let mut config = args.net.config()?;
    config.upload_rate = args.upload_rate;
    config.max_peers = args.max_peers;
    config.chunk_serves = (args.chunk_serves > 0).then_some((
        args.chunk_serves,
        quince_updater::node::DEFAULT_CHUNK_SERVES.1,
    ));
    let node = Node::start(config, Arc::new(library)).await?;
    for addr in node.addresses().await {
        println!("listening on {addr}");
    }
    for (app, log) in &apps {
        super::print_announced(*app, node.provide(*app).await);
        if let Ok(note) = std::fs::read(log.join("checkpoint")) {
            node.announce(*app, note).await;
        }
    }
    tokio::spawn(follow(node.clone(), apps.clone()));
    println!("seeding; stop with Ctrl-C or SIGTERM");
    super::until_stopped(&node, &args.net).await?;
    Ok(())
}

/// While seeding: announces again whenever the addresses others can reach
/// this node at change (a relay reservation taken, an address confirmed),
/// and pushes each newly published checkpoint to connected peers at once
/// (checked against the app's root first, so nothing unsigned is passed on).
async fn follow(node: Node, apps: Vec<(AppId, PathBuf)>) {
    let mut reachable_at: Vec<quince_updater::node::Multiaddr> = Vec::new();
    let mut notes: std::collections::HashMap<AppId, Vec<u8>> = apps
        .iter()
        .filter_map(|(app, log)| Some((*app, std::fs::read(log.join("checkpoint")).ok()?)))
        .collect();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        if node.is_stopped() {
            return;
        }
        let mut now = node.status().await.external_addresses;
        now.sort();
        let moved = now != reachable_at;
        reachable_at = now;
        for (app, log) in &apps {
            let Ok(note) = quince_updater::network::read_bounded(
                &log.join("checkpoint"),
                quince_protocol::wire::MAX_ANNOUNCED_NOTE_BYTES as u64,
            ) else {
                continue;
            };
            let fresh = notes.get(app) != Some(&note);
            if fresh {
                let Ok(root) = std::fs::read(log.join("root"))
                    .map_err(|e| e.to_string())
                    .and_then(|b| AppRoot::from_bytes(&b).map_err(|e| e.to_string()))
                else {
                    continue;
                };
                if let Err(e) = quince_protocol::checkpoint::VerifiedCheckpoint::verify(
                    &note,
                    &app.origin(),
                    &root.checkpoint_verifier(app),
                ) {
                    eprintln!("quince: new checkpoint of app {app} not passed on: {e}");
                    notes.insert(*app, note);
                    continue;
                }
                let peers = node.status().await.connections.len();
                node.announce(*app, note.clone()).await;
                println!("new checkpoint of app {app}: pushed to {peers} connected peer(s)");
                notes.insert(*app, note);
            }
            if moved || fresh {
                super::print_announced(*app, node.provide(*app).await);
            }
        }
    }
}
