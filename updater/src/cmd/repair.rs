//! `quince repair`: put an installed app's changed or deleted files back
//! as signed.

use std::time::Duration;

use anyhow::Result;

use super::{explain, installed_app, NetArgs};

#[derive(clap::Args, Debug)]
pub struct RepairArgs {
    #[command(flatten)]
    net: NetArgs,
    /// The app: its name, short id, id, unique id prefix, or link.
    app: String,
    /// Seconds to look for peers, if the store lacks a chunk.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    find_for: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Rebuilds every file that `verify` finds changed or missing, from the
/// store; joins the network only if the store lacks a chunk.
pub async fn repair(args: RepairArgs) -> Result<()> {
    let mut client = args.net.client()?;
    client.announce(false);
    let app = installed_app(&client, &args.app)?;
    let needed = client.apps().repair_needs(&app)?;
    let networked = !needed.is_empty();
    if networked {
        if !args.json {
            println!(
                "{} chunk(s) are not in the store: fetching them from peers",
                needed.len()
            );
        }
        client.start(args.net.config()?).await?;
    }
    let result = client
        .repair(&app, Duration::from_secs(args.find_for))
        .await;
    if networked {
        if let Some(node) = client.node() {
            args.net.remember(node).await;
        }
        client.stop().await;
    }
    let repaired = result.map_err(explain)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "app": app.to_string(), "version": repaired.version.to_string(),
                "fixed": repaired.fixed.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "left_alone": repaired.extra, "chunks_fetched": needed.len(),
            })
        );
        return Ok(());
    }
    for d in &repaired.fixed {
        println!("repaired {d}");
    }
    for e in &repaired.extra {
        println!("left alone (not in the release; remove it yourself if it is not yours): {e}");
    }
    println!(
        "app {app} {}: {}",
        repaired.version,
        if repaired.fixed.is_empty() {
            "nothing to repair; every file matches the signed release".to_string()
        } else {
            format!("{} file(s) put back as signed", repaired.fixed.len())
        }
    );
    Ok(())
}
