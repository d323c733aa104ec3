//! `quince seed`: serve apps to peers until stopped.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use quince_protocol::codec::Decode;
use quince_protocol::root::AppRoot;
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
    #[arg(long)]
    upload_rate: Option<u64>,
    /// Most peers to serve chunks to in any 10 seconds.
    #[arg(long)]
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
        match node.provide(*app).await {
            Ok(()) => println!("announced app {app} in the DHT"),
            Err(e) => println!("serving app {app} (DHT announcement failed: {e}; peers can still be given this address)"),
        }
        if let Ok(note) = std::fs::read(log.join("checkpoint")) {
            node.announce(*app, note).await;
        }
    }
    println!("seeding; stop with Ctrl-C or SIGTERM");
    super::until_stopped(&node, &args.net).await?;
    Ok(())
}
