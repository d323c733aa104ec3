//! `quince-packager build`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use quince_packager::build::{build_with_options, BuildStats, Options, Source};
use quince_protocol::codec::Encode;
use quince_store::Store;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder whose files go to every platform.
    dir: Option<PathBuf>,
    /// A folder for one platform only, as PLATFORM=DIR (repeat per platform).
    #[arg(long = "platform-dir", value_name = "PLATFORM=DIR")]
    platform_dirs: Vec<String>,
    /// The content store (created if missing).
    #[arg(long, default_value = "store")]
    store: PathBuf,
    /// Where to write the manifest.
    #[arg(long, default_value = "manifest.bin")]
    out: PathBuf,
    /// zstd level for new chunks, from 1 (the fastest build) to 19 (the
    /// fewest bytes for every user to fetch). On 170 MiB of PyPI wheels
    /// (BENCHMARKS.md, "What each level costs"): level 3 builds about 30
    /// times faster than 19, and 19 makes a fresh install 17% smaller.
    #[arg(long, default_value_t = 19, value_parser = clap::value_parser!(i32).range(1..=19))]
    level: i32,
    /// Give each small file chunks of its own, as before manifest version
    /// 3. By default files under 64 KiB share chunks of a few hundred KiB,
    /// compressed together as in a tarball (a smaller store and fresh
    /// install; see BENCHMARKS.md), and the shared chunks of the releases
    /// staged from this store before are kept where at least half of their
    /// bytes are still in use, so that an update fetches about what it
    /// would with a chunk per file. Clients before manifest version 3
    /// cannot read a release with shared chunks.
    #[arg(long = "chunk-per-file", action = clap::ArgAction::SetFalse)]
    share_small_files: bool,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let mut sources = Vec::new();
    if let Some(dir) = args.dir {
        sources.push(Source {
            dir,
            platform: None,
        });
    }
    for spec in &args.platform_dirs {
        let (p, d) = spec
            .split_once('=')
            .with_context(|| format!("`{spec}` is not PLATFORM=DIR"))?;
        sources.push(Source {
            dir: PathBuf::from(d),
            platform: Some(p.parse()?),
        });
    }
    anyhow::ensure!(
        !sources.is_empty(),
        "name a folder to pack (or --platform-dir PLATFORM=DIR)"
    );
    for s in &sources {
        let meta = std::fs::metadata(&s.dir)
            .with_context(|| format!("cannot read the folder {}", s.dir.display()))?;
        anyhow::ensure!(meta.is_dir(), "{} is not a folder", s.dir.display());
    }
    // A release never names a command or icon it does not carry.
    let mut described = false;
    for s in &sources {
        described |= quince_packager::appfile::read(&s.dir)?.is_some();
    }
    if !described && !args.json {
        eprintln!(
            "note: no {} in the release: installers guess the program (bin/<only one>) and make no menu entry; write one with `quince-packager app DIR --name NAME --command PROGRAM`",
            quince_protocol::appinfo::APP_FILE
        );
    }
    let store = Store::open(&args.store)?;
    let mut shown = Shown::default();
    let options = Options {
        level: args.level,
        share_small_files: args.share_small_files,
    };
    let built = build_with_options(&sources, &store, options, &mut |s| shown.show(s));
    shown.end();
    let (manifest, stats) = built?;
    // Paths Windows cannot hold: the release is fine elsewhere, but a
    // Windows client refuses it (for files meant for every platform).
    let for_windows = manifest.entries().iter().filter(|e| {
        e.platforms.is_empty()
            || e.platforms
                .iter()
                .any(|p| p.as_str().starts_with("windows"))
    });
    let problems: Vec<String> = for_windows
        .filter_map(|e| e.path.windows_problem())
        .collect();
    if let (Some(first), false) = (problems.first(), args.json) {
        eprintln!(
            "note: {} path(s) cannot be installed on Windows ({first}{}); Windows clients will refuse this release",
            problems.len(),
            if problems.len() > 1 { ", ..." } else { "" }
        );
    }
    std::fs::write(&args.out, manifest.to_bytes())
        .with_context(|| format!("writing {}", args.out.display()))?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"manifest": args.out, "sha256": manifest.hash().to_hex(), "files": stats.files, "bytes": stats.bytes,
                "chunks": stats.chunks, "new_chunks": stats.new_chunks, "new_compressed_bytes": stats.new_compressed_bytes,
                "dictionary_bytes": stats.dictionary_bytes, "dictionary_reused": stats.dictionary_reused, "dictionaries": manifest.dictionaries().len()})
        );
    } else {
        println!(
            "packed {} files, {} bytes, in {} chunks ({} new, {} compressed bytes new)",
            stats.files, stats.bytes, stats.chunks, stats.new_chunks, stats.new_compressed_bytes
        );
        if stats.dictionary_bytes > 0 {
            println!(
                "small chunks compressed with a {} byte zstd dictionary ({})",
                stats.dictionary_bytes,
                if stats.dictionary_reused {
                    "an earlier release's, still as good as a new one"
                } else {
                    "trained on this release"
                }
            );
        }
        println!("manifest {} sha256 {}", args.out.display(), manifest.hash());
    }
    Ok(())
}

/// Progress while packing, on standard error: one line redrawn in place on
/// a terminal (at most ten times a second), else a line every 5 seconds.
#[derive(Default)]
struct Shown {
    last: Option<std::time::Instant>,
    open: bool,
}

impl Shown {
    fn show(&mut self, s: &BuildStats) {
        use std::io::IsTerminal as _;
        let tty = std::io::stderr().is_terminal();
        let every = std::time::Duration::from_millis(if tty { 100 } else { 5000 });
        if self.last.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        let line = format!(
            "packing: {} files, {:.1} MiB, {} chunks ({} new)",
            s.files,
            s.bytes as f64 / 1048576.0,
            s.chunks,
            s.new_chunks
        );
        if tty {
            eprint!("\r{line}    ");
            self.open = true;
        } else if self.last.is_some() {
            eprintln!("{line}");
        }
        self.last = Some(std::time::Instant::now());
    }

    fn end(&mut self) {
        if self.open {
            eprintln!();
        }
    }
}
