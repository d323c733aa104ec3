//! `quince-packager diff | inspect | unpack`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use quince_packager::delta;
use quince_protocol::codec::{Decode, Encode};
use quince_protocol::manifest::{DeltaIndex, EntryKind, Manifest};
use quince_protocol::record::Platform;
use quince_store::Store;

use super::read_manifest;

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    #[arg(long, default_value = "store")]
    store: PathBuf,
    /// Only the files of this platform.
    #[arg(long)]
    platform: Option<Platform>,
    #[arg(long)]
    json: bool,
    /// The older manifest.
    old: PathBuf,
    /// The newer manifest.
    new: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Only the files of this platform.
    #[arg(long)]
    platform: Option<Platform>,
    /// Write a SHA256SUMS file that `sha256sum -c` checks against an installed copy.
    #[arg(long)]
    sha256sums: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    /// The manifest.
    manifest: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct UnpackArgs {
    #[arg(long, default_value = "store")]
    store: PathBuf,
    #[arg(long, default_value = "manifest.bin")]
    manifest: PathBuf,
    /// Platform to unpack for (default: this machine's).
    #[arg(long)]
    platform: Option<Platform>,
    /// A folder that does not exist yet.
    #[arg(long)]
    out: PathBuf,
}

pub fn diff(args: DiffArgs) -> Result<()> {
    let store = Store::open(&args.store)?;
    let (old, new) = (read_manifest(&args.old)?, read_manifest(&args.new)?);
    let deltas = match store.deltas(&new.hash())? {
        Some(bytes) => DeltaIndex::from_bytes(&bytes).context("stored delta index")?,
        None => delta::make_deltas(&store, &old, &new, 19)?,
    };
    let platform = args.platform.clone();
    let r = delta::diff(&store, &old, &new, &deltas, platform.as_ref())?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    for (label, list) in [
        ("added", &r.added),
        ("changed", &r.changed),
        ("removed", &r.removed),
    ] {
        println!("{label}: {}", list.len());
        for p in list.iter().take(50) {
            println!("  {p}");
        }
        if list.len() > 50 {
            println!("  ... and {} more", list.len() - 50);
        }
    }
    println!(
        "download for a client with the old release: {} bytes without patches, {} with",
        r.download_without_deltas, r.download_with_deltas
    );
    println!("download for a fresh install: {} bytes", r.full_download);
    Ok(())
}

pub fn inspect(args: InspectArgs) -> Result<()> {
    let m: Manifest = read_manifest(&args.manifest)?;
    let platform = args.platform.clone();
    if let Some(out) = &args.sha256sums {
        std::fs::write(out, m.sha256sums(platform.as_ref()))
            .with_context(|| format!("writing {}", out.display()))?;
    }
    let files: Vec<_> = m
        .entries()
        .iter()
        .filter(|e| platform.as_ref().is_none_or(|p| e.is_for(p)))
        .map(|e| {
            let platforms: Vec<&str> = e.platforms.iter().map(Platform::as_str).collect();
            match &e.kind {
                EntryKind::Dir => serde_json::json!({"path": e.path.as_str(), "kind": "dir", "platforms": platforms}),
                EntryKind::Symlink { target } => serde_json::json!({"path": e.path.as_str(), "kind": "symlink", "target": target, "platforms": platforms}),
                EntryKind::File { executable, size, sha256, chunks, shared_at: None } => serde_json::json!({"path": e.path.as_str(), "kind": "file",
                    "executable": executable, "size": size, "sha256": sha256.to_hex(), "chunks": chunks.len(), "platforms": platforms}),
                EntryKind::File { executable, size, sha256, chunks, shared_at: Some(offset) } => serde_json::json!({"path": e.path.as_str(), "kind": "file",
                    "executable": executable, "size": size, "sha256": sha256.to_hex(), "chunks": chunks.len(), "platforms": platforms,
                    "shared_chunk": chunks.first().map(|c| c.id.to_hex()), "offset": offset}),
            }
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({"sha256": m.hash().to_hex(), "bytes": m.to_bytes().len(), "total_size": m.total_size(),
            "platforms": m.platforms().iter().map(Platform::as_str).collect::<Vec<_>>(), "entries": files,
            "dictionaries": m.dictionaries().iter().map(|d| serde_json::json!({"chunk": d.id.to_hex(), "size": d.size})).collect::<Vec<_>>()})
        );
        return Ok(());
    }
    println!(
        "manifest sha256 {}  ({} entries, {} bytes of files)",
        m.hash(),
        m.entries().len(),
        m.total_size()
    );
    for d in m.dictionaries() {
        println!(
            "zstd dictionary {} ({} bytes): small chunks are compressed with it",
            d.id, d.size
        );
    }
    let shared: std::collections::HashSet<_> = m
        .entries()
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::File {
                chunks,
                shared_at: Some(_),
                ..
            } => Some(chunks.first().map(|c| c.id)),
            _ => None,
        })
        .collect();
    if !shared.is_empty() {
        let files = m.entries().iter().filter(|e| e.kind.is_shared()).count();
        println!(
            "{files} small files in {} shared chunks (manifest version 3)",
            shared.len()
        );
    }
    for e in m
        .entries()
        .iter()
        .filter(|e| platform.as_ref().is_none_or(|p| e.is_for(p)))
    {
        let tag = if e.platforms.is_empty() {
            String::new()
        } else {
            format!(
                "  [{}]",
                e.platforms
                    .iter()
                    .map(Platform::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        match &e.kind {
            EntryKind::Dir => println!("d          -  {}/{tag}", e.path),
            EntryKind::Symlink { target } => println!("l          -  {} -> {target}{tag}", e.path),
            EntryKind::File {
                executable,
                size,
                sha256,
                ..
            } => {
                println!(
                    "{} {size:>10}  {}  {}{tag}",
                    if *executable { "x" } else { "-" },
                    e.path,
                    &sha256.to_hex()[..16]
                );
            }
        }
    }
    if let Some(out) = &args.sha256sums {
        println!(
            "wrote {} (check an installed copy with: cd <install dir> && sha256sum -c {})",
            out.display(),
            out.display()
        );
    }
    Ok(())
}

pub fn unpack(args: UnpackArgs) -> Result<()> {
    let store = Store::open(&args.store)?;
    let bytes = read_manifest(&args.manifest)?.to_bytes();
    let verified = Manifest::verify(&bytes, &quince_protocol::Hash::of(&bytes))?;
    let platform = args.platform.clone().unwrap_or_else(Platform::current);
    let stats = quince_store::unpack(&verified, &platform, &store, &args.out)?;
    println!(
        "unpacked {} files ({} bytes), {} folders, {} links into {}",
        stats.files,
        stats.bytes,
        stats.dirs,
        stats.links,
        args.out.display()
    );
    Ok(())
}
