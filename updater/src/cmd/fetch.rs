//! `quince fetch`: one app's newest release from peers, verified and unpacked.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use libp2p::Multiaddr;
use quince_protocol::record::Platform;
use quince_protocol::root::AppId;
use quince_store::Store;
use quince_updater::fetch::{self, Peers};
use quince_updater::{Library, Node};

use super::NetArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    net: NetArgs,
    /// The app id (64 hex digits).
    #[arg(long)]
    app: String,
    /// A peer known to hold the app, ending in /p2p/PEER_ID (repeat).
    #[arg(long)]
    peer: Vec<String>,
    /// The content store to fill.
    #[arg(long, default_value = "store")]
    store: PathBuf,
    /// Where to keep the verified copy of the app's log.
    #[arg(long, default_value = "log")]
    log: PathBuf,
    /// A new folder to unpack the release into.
    #[arg(long)]
    out: PathBuf,
    /// Platform to fetch (default: this machine's).
    #[arg(long)]
    platform: Option<Platform>,
    /// Chunk requests in flight per peer.
    #[arg(long, default_value_t = 8, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=32))]
    window: usize,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
    /// After the fetch, keep running and serve the app to others.
    #[arg(long)]
    then_seed: bool,
    /// Seconds to look for peers before giving up.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    find_for: u64,
}

pub async fn run(args: Args) -> Result<()> {
    let app: AppId = args.app.parse()?;
    let platform = args.platform.clone().unwrap_or_else(Platform::current);
    let store = Store::open(&args.store)?;
    let library = Library::new(store.clone());
    let mut config = args.net.config()?;
    let direct: Vec<Multiaddr> = args
        .peer
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    config.bootstrap.extend(direct.iter().cloned());
    let node = Node::start(config, Arc::new(library.clone())).await?;
    let providers = node
        .find_peers(app, &direct, &[], Duration::from_secs(args.find_for))
        .await;
    if providers.is_empty() {
        bail!(
            "no peer holds app {app} (looked for {} s): give --peer or --bootstrap addresses",
            args.find_for
        );
    }
    eprintln!("{} peer(s) hold app {app}", providers.len());
    let mut peers = Peers::new(providers);
    let synced = fetch::sync_log(&node, app, &mut peers, None, &args.log).await?;
    let Some(record) = synced.latest_release(&platform) else {
        bail!("app {app} has no release for {platform}");
    };
    eprintln!(
        "log verified at size {}; release {} ({} bytes)",
        synced.state().size(),
        record.version,
        record.size
    );
    let manifest = fetch::fetch_release(
        &node,
        app,
        &mut peers,
        &record,
        &platform,
        &store,
        args.window,
    )
    .await?;
    let stats = quince_store::unpack(&manifest, &platform, &store, &args.out)?;
    if args.json {
        let served: serde_json::Map<String, serde_json::Value> = peers
            .served()
            .iter()
            .map(|(p, n)| (p.to_string(), (*n).into()))
            .collect();
        println!(
            "{}",
            serde_json::json!({"app": app.to_string(), "version": record.version.to_string(), "files": stats.files, "bytes": stats.bytes, "chunks_from": served, "network": super::status_json(&node.status().await)})
        );
    } else {
        println!(
            "fetched and verified {} {} ({} files, {} bytes) into {}",
            app,
            record.version,
            stats.files,
            stats.bytes,
            args.out.display()
        );
        for (p, why) in peers.dropped() {
            println!("dropped peer {p}: {why}");
        }
    }
    if args.then_seed {
        use std::io::Write as _;
        library.add_app(app, args.log.clone());
        if let Err(e) = node.provide(app).await {
            println!("DHT announcement failed: {e}");
        }
        println!("seeding app {app}; stop with Ctrl-C or SIGTERM");
        let _ = std::io::stdout().flush();
        return super::until_stopped(&node, &args.net).await;
    }
    args.net.remember(&node).await;
    node.shutdown().await;
    Ok(())
}
