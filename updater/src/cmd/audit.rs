//! `quince audit`: check an app's whole release history, trusting nobody.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use quince_protocol::codec::Decode;
use quince_protocol::manifest::Manifest;
use quince_protocol::Hash;

use quince_store::Store;
use quince_updater::audit::{self, Report};
use quince_updater::fetch::Peers;
use quince_updater::link::Link;
use quince_updater::{Library, Node};

use super::NetArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    net: NetArgs,
    /// A link (quince://APP...) to fetch the log from peers, or a log folder.
    target: String,
    /// Content store with the releases' manifests and chunks (folder audits;
    /// default: the `store` folder next to the log folder, if there is one).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Also fetch (or read) every chunk and re-hash every file of every release.
    #[arg(long)]
    download: bool,
    /// Write what standard tools need into this folder: the verifier key, the
    /// group key, the checkpoint, and each release's SHA256SUMS.
    #[arg(long)]
    export: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Seconds to look for peers (link audits).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    find_for: u64,
}

pub async fn run(args: Args) -> Result<()> {
    let home = args.net.home().ok().map(|h| h.dir().to_path_buf());
    let (log, store) = if args.target.starts_with("quince://") {
        let link: Link = args.target.parse()?;
        let work = home
            .as_ref()
            .context("no Quince folder: set --home or QUINCE_HOME")?
            .join("audit")
            .join(link.app.to_string());
        // A fresh fetch each time: the audit trusts nothing it fetched before
        // except the checkpoints it remembers (below).
        let _ = std::fs::remove_dir_all(work.join("log"));
        let store = fetch(&args, &link, &work).await?;
        (work.join("log"), Some(store))
    } else {
        let log = PathBuf::from(&args.target);
        if !log.join("root").is_file() {
            bail!(
                "{} is neither a quince:// link nor a log folder (no `root` file in it)",
                args.target
            );
        }
        let store = match &args.store {
            Some(s) => Some(Store::open(s)?),
            None => {
                let beside = log.parent().map(|p| p.join("store"));
                match beside {
                    Some(s) if s.join("manifests").is_dir() => Some(Store::open(&s)?),
                    _ => None,
                }
            }
        };
        (log, store)
    };
    let app = quince_protocol::root::AppRoot::from_bytes(&quince_store::durable::read_bounded(
        &log.join("root"),
        quince_protocol::limits::MAX_ROOT_BYTES,
    )?)?
    .app_id();
    let memory = home.map(|h| h.join("audit").join(app.to_string()).join("seen"));
    let seen = memory.as_deref().map(read_seen).unwrap_or_default();
    let report = audit::audit_folder(&log, &seen, store.as_ref(), args.download)?;
    if report.passed() {
        if let Some(dir) = &memory {
            remember(dir, &log.join("checkpoint"))?;
        }
    }
    if let Some(dir) = &args.export {
        export(dir, &report, &log, store.as_ref())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.to_text());
        if let Some(dir) = &args.export {
            println!("exported for standard tools into {}", dir.display());
        }
    }
    if !report.passed() {
        bail!(
            "audit of app {app} failed: {} problem(s)",
            report.problems.len()
        );
    }
    Ok(())
}

async fn fetch(args: &Args, link: &Link, work: &Path) -> Result<Store> {
    let library = Library::new(Store::open(&work.join("store"))?);
    let mut config = args.net.config()?;
    config.bootstrap.extend(link.peers.iter().cloned());
    let node = Node::start(config, Arc::new(library)).await?;
    let providers = node
        .find_peers(link.app, &link.peers, Duration::from_secs(args.find_for))
        .await;
    if providers.is_empty() {
        node.shutdown().await;
        bail!(
            "no peer holds app {} (looked for {} s): give peers in the link or --bootstrap",
            link.app,
            args.find_for
        );
    }
    eprintln!(
        "{} peer(s) hold app {}; fetching its log",
        providers.len(),
        link.app
    );
    let mut peers = Peers::new(providers);
    let result = audit::fetch_for_audit(&node, link.app, &mut peers, work, args.download).await;
    args.net.remember(&node).await;
    node.shutdown().await;
    Ok(result?)
}

/// Checkpoints this auditor verified in earlier runs (each must still be a
/// prefix of the log: a publisher cannot quietly rewrite history).
fn read_seen(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            quince_store::durable::read_bounded(&e.path(), quince_protocol::limits::MAX_NOTE_BYTES)
                .ok()
        })
        .collect()
}

fn remember(dir: &Path, checkpoint: &Path) -> Result<()> {
    let note =
        quince_store::durable::read_bounded(checkpoint, quince_protocol::limits::MAX_NOTE_BYTES)?;
    std::fs::create_dir_all(dir)?;
    let name = quince_protocol::Hash::of(&note).to_hex();
    std::fs::write(dir.join(&name[..16]), note)?;
    Ok(())
}

fn export(dir: &Path, report: &Report, log: &Path, store: Option<&Store>) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join("verifier-key"),
        format!("{}\n", report.verifier_key),
    )?;
    std::fs::write(
        dir.join("group-key.hex"),
        format!("{}\n", report.group_key_hex),
    )?;
    std::fs::copy(log.join("checkpoint"), dir.join("checkpoint"))?;
    for r in &report.releases {
        let Ok(hash) = Hash::from_hex(&r.manifest, "manifest hash") else {
            continue;
        };
        let Some(bytes) = store.and_then(|s| s.manifest(&hash).ok()) else {
            continue;
        };
        let Ok(m) = Manifest::verify(&bytes, &hash) else {
            continue;
        };
        let m = m.manifest();
        let out = dir.join(&r.version);
        std::fs::create_dir_all(&out)?;
        if m.platforms().len() <= 1 {
            std::fs::write(out.join("SHA256SUMS"), m.sha256sums(None))?;
        } else {
            for p in m.platforms() {
                std::fs::write(
                    out.join(format!("SHA256SUMS.{}", p.as_str())),
                    m.sha256sums(Some(p)),
                )?;
            }
        }
    }
    Ok(())
}
