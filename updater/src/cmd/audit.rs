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
    /// Audit a plain tlog-tiles folder (no Quince `root` file) against this
    /// C2SP verifier key (name+id+key; the checkpoint's origin is its name):
    /// the log-level checks only.
    #[arg(long)]
    key: Option<String>,
    /// Also print an RFC 6962 proof for outside verifiers (Go's tlog, any
    /// RFC 6962 library): ENTRY for that entry's inclusion in the head,
    /// OLD:NEW for the consistency of two tree sizes.
    #[arg(long, value_name = "ENTRY|OLD:NEW")]
    proof: Option<String>,
    /// Fail when this copy is behind a bigger head seen in an earlier audit
    /// (by default a copy that is behind but consistent passes, and says so).
    #[arg(long)]
    require_newest: bool,
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
            if let Some(key) = &args.key {
                return plain(&args, &log, key, home.as_deref());
            }
            bail!(
                "{} is neither a quince:// link nor a Quince log folder (no `root` file in it); \
                 for a plain tlog-tiles folder give its verifier key with --key",
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
    let memory = home.map(|h| h.join("audit").join(app.to_string()));
    let seen = memory
        .as_deref()
        .map(|m| read_seen(&m.join("seen")))
        .unwrap_or_default();
    let newest = memory.as_ref().map(|m| m.join("newest"));
    let report = audit::audit_folder_with(
        &log,
        &seen,
        newest.as_deref(),
        store.as_ref(),
        args.download,
    )?;
    if report.passed() {
        if let Some(dir) = &memory {
            remember(dir, &log, report.size)?;
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
    proof(&args, &log, report.size)?;
    if !report.passed() {
        return Err(super::exit::Refused(format!(
            "audit of app {app} failed: {} problem(s)",
            report.problems.len()
        ))
        .into());
    }
    behind(&args, report.behind, report.size)
}

/// The audit of a plain tlog-tiles folder with its verifier key.
fn plain(args: &Args, log: &Path, key: &str, home: Option<&Path>) -> Result<()> {
    let key = quince_protocol::note::Ed25519Verifier::parse(key.trim())
        .map_err(|e| anyhow::anyhow!("--key {key:?}: {e}"))?;
    let memory = home.map(|h| {
        let name = quince_protocol::Hash::of(key.to_text().as_bytes()).to_hex();
        h.join("audit").join(format!("log-{}", &name[..16]))
    });
    let seen = memory
        .as_deref()
        .map(|m| read_seen(&m.join("seen")))
        .unwrap_or_default();
    let newest = memory.as_ref().map(|m| m.join("newest"));
    let report = audit::audit_tlog_folder(log, &key, &seen, newest.as_deref())?;
    if report.passed() {
        if let Some(dir) = &memory {
            remember(dir, log, report.size)?;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.to_text());
    }
    proof(args, log, report.size)?;
    if !report.passed() {
        return Err(super::exit::Refused(format!(
            "audit of {} failed: {} problem(s)",
            log.display(),
            report.problems.len()
        ))
        .into());
    }
    behind(args, report.behind, report.size)
}

/// Prints the proof `--proof` asked for, from the folder's tiles.
fn proof(args: &Args, log: &Path, size: u64) -> Result<()> {
    let Some(spec) = &args.proof else {
        return Ok(());
    };
    let tiles = quince_store::tilefs::read_tiles(log, size)?;
    let proof = audit::Proof::make(spec, &tiles, size, |i| {
        quince_store::tilefs::read_entries(log, size)
            .ok()?
            .into_iter()
            .nth(usize::try_from(i).ok()?)
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !proof.verify() {
        bail!("the proof made from {} does not verify", log.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&proof.to_json())?);
    } else {
        print!("{}", proof.to_text());
    }
    Ok(())
}

/// `--require-newest`: a copy behind a head seen earlier fails.
fn behind(args: &Args, behind: Option<u64>, size: u64) -> Result<()> {
    match behind {
        Some(newer) if args.require_newest => bail!(
            "this copy (size {size}) is behind a checkpoint of size {newer} seen earlier \
             (consistent with it, but not the newest; --require-newest)"
        ),
        _ => Ok(()),
    }
}

async fn fetch(args: &Args, link: &Link, work: &Path) -> Result<Store> {
    let library = Library::new(Store::open(&work.join("store"))?);
    let mut config = args.net.config()?;
    config.bootstrap.extend(link.peers.iter().cloned());
    let node = Node::start(config, Arc::new(library)).await?;
    let providers = node
        .find_peers(
            link.app,
            &link.peers,
            &[],
            Duration::from_secs(args.find_for),
        )
        .await;
    if providers.is_empty() {
        node.shutdown().await;
        return Err(anyhow::Error::new(quince_updater::ClientError::NoPeers {
            app: link.app,
            looked: std::time::Duration::from_secs(args.find_for),
        })
        .context("give peers in the link or --bootstrap"));
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

/// Remembers a passed audit's head in `dir`: its checkpoint (`seen/`) and,
/// when it is the biggest so far, its hash tiles (`newest/`), which later
/// show whether a smaller copy is a prefix of it.
fn remember(dir: &Path, log: &Path, size: u64) -> Result<()> {
    let checkpoint = log.join("checkpoint");
    let note =
        quince_store::durable::read_bounded(&checkpoint, quince_protocol::limits::MAX_NOTE_BYTES)?;
    let seen = dir.join("seen");
    std::fs::create_dir_all(&seen)?;
    let name = quince_protocol::Hash::of(&note).to_hex();
    std::fs::write(seen.join(&name[..16]), &note)?;
    let newest = dir.join("newest");
    if audit::remembered(&newest).is_some_and(|(n, _)| n >= size) {
        return Ok(());
    }
    // A fresh copy, then one rename: an interrupted write leaves the old one.
    let fresh = dir.join("newest.tmp");
    let _ = std::fs::remove_dir_all(&fresh);
    for id in quince_protocol::tile::tiles_for_size(size) {
        let to = fresh.join(id.path());
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(log.join(id.path()), &to)?;
    }
    std::fs::write(fresh.join("checkpoint"), &note)?;
    let _ = std::fs::remove_dir_all(&newest);
    std::fs::rename(&fresh, &newest)?;
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
