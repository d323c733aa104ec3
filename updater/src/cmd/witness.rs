//! `quince witness`: follow apps' logs, cosign consistent checkpoints, and
//! publish proof when an app's signers equivocate.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use quince_store::Store;
use quince_updater::fetch::{FetchError, Peers};
use quince_updater::link::Link;
use quince_updater::witness::{Witness, Witnessed};
use quince_updater::{Library, Node};

use super::NetArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    net: NetArgs,
    /// Links of the apps to witness (quince://APP..., repeat).
    links: Vec<String>,
    /// This witness's cosigner name (default: derived from its key).
    #[arg(long)]
    name: Option<String>,
    /// Print this witness's public key (C2SP verifier key, for clients'
    /// `--witness`) and stop.
    #[arg(long)]
    print_key: bool,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    interval: u64,
    /// One round, then stop (exit 1 if any app equivocated or could not be checked).
    #[arg(long)]
    once: bool,
    /// Seconds to look for peers of each app per round.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    find_for: u64,
}

pub async fn run(args: Args) -> Result<()> {
    let home = args
        .net
        .home()
        .context("no Quince folder: set --home or QUINCE_HOME")?
        .dir()
        .to_path_buf();
    let witness = Witness::open(&home.join("witness"), args.name.as_deref())?;
    if args.print_key {
        println!("{}", witness.public_key().to_text());
        return Ok(());
    }
    let links: Vec<Link> = args
        .links
        .iter()
        .map(|l| l.parse().map_err(anyhow::Error::from))
        .collect::<Result<_>>()?;
    if links.is_empty() {
        anyhow::bail!("name at least one app link to witness");
    }
    let library = Library::new(Store::open(&home.join("witness").join("store"))?);
    let mut config = args.net.config()?;
    for l in &links {
        config.bootstrap.extend(l.peers.iter().cloned());
    }
    let node = Node::start(config, Arc::new(library.clone())).await?;
    for addr in node.addresses().await {
        println!("listening on {addr}");
    }
    println!("witness key {}", witness.public_key().to_text());
    loop {
        let mut failed = 0;
        for link in &links {
            let app = link.app;
            let found = node
                .find_peers(app, &link.peers, &[], Duration::from_secs(args.find_for))
                .await;
            let mut peers = Peers::new(found);
            match witness.check(&node, &library, app, &mut peers).await {
                Ok(Witnessed::Cosigned { size, note }) => {
                    println!("app {app}: checkpoint of size {size} is consistent; cosigned");
                    let _ = node.provide(app).await;
                    node.announce(app, note).await;
                }
                Err(e @ FetchError::Equivocation { .. }) => {
                    failed += 1;
                    let _ = node.provide(app).await;
                    println!(
                        "app {app}: {e}; the proof is in {} and served to every peer that asks",
                        witness
                            .log_dir(&app)
                            .join(quince_updater::library::EVIDENCE_FILE)
                            .display()
                    );
                }
                Err(e) => {
                    failed += 1;
                    println!("app {app}: not checked this round: {e}");
                }
            }
        }
        if args.once {
            args.net.remember(&node).await;
            node.shutdown().await;
            if failed > 0 {
                anyhow::bail!("{failed} app(s) not cosigned");
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(args.interval)).await;
    }
}
