//! `quince-packager app`: write or check a release folder's app file.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use quince_packager::appfile;
use quince_protocol::appinfo::{self, AppInfo, APP_FILE};
use quince_protocol::path::RelPath;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The release folder (the one given to `build`).
    dir: PathBuf,
    /// The name people see in menus and `quince list`.
    #[arg(long)]
    name: Option<String>,
    /// Short id: the launcher's name on PATH and a name for `quince run`
    /// ([a-z0-9][a-z0-9._-]*; default: the name, lowercased, spaces as dashes).
    #[arg(long)]
    id: Option<String>,
    /// One line about the app (the menu's tooltip).
    #[arg(long)]
    summary: Option<String>,
    /// The program to start, relative to the folder (such as bin/hello).
    #[arg(long)]
    command: Option<String>,
    /// An icon in the folder (.png, .svg or .xpm).
    #[arg(long)]
    icon: Option<String>,
    /// A freedesktop.org menu category (repeat): Utility, Network, Game, ...
    #[arg(long = "category")]
    categories: Vec<String>,
    /// How a new version proves it works: `runs SECONDS` (default `runs 3`),
    /// `exits-ok [ARGS]` (such as `exits-ok --version`), `command PROGRAM
    /// [ARGS]` (another program of the release), or `none`.
    #[arg(long)]
    health: Option<String>,
    /// Print the app file as JSON.
    #[arg(long)]
    json: bool,
}

/// With `--name` and `--command`: writes `DIR/.quince/app` after checking
/// it against the folder. With neither: checks the file that is there.
pub fn run(args: Args) -> Result<()> {
    let file = args.dir.join(APP_FILE);
    let info = match (&args.name, &args.command) {
        (None, None) => {
            anyhow::ensure!(
                args.id.is_none()
                    && args.summary.is_none()
                    && args.icon.is_none()
                    && args.categories.is_empty()
                    && args.health.is_none(),
                "writing an app file needs --name and --command"
            );
            appfile::read(&args.dir)?.with_context(|| {
                format!(
                    "{} has no app file; write one with --name NAME --command PROGRAM",
                    args.dir.display()
                )
            })?
        }
        (Some(name), Some(command)) => {
            let id = match &args.id {
                Some(id) => id.clone(),
                None => name.to_lowercase().replace(' ', "-"),
            };
            let info = AppInfo {
                name: name.clone(),
                id: appinfo::short_id(&id)
                    .with_context(|| format!("the short id {id:?} (give another with --id)"))?,
                summary: args.summary.clone(),
                command: RelPath::parse(command).context("--command")?,
                icon: args
                    .icon
                    .as_deref()
                    .map(RelPath::parse)
                    .transpose()
                    .context("--icon")?,
                categories: args.categories.clone(),
                health: args
                    .health
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .context("--health")?,
            };
            // The same strict reading every installer does.
            let info = AppInfo::parse(info.to_text().as_bytes())?;
            appfile::check(&args.dir, &info)
                .map_err(|reason| anyhow::anyhow!("{}: {reason}", args.dir.display()))?;
            let parent = file.parent().expect("APP_FILE has a folder");
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
            std::fs::write(&file, info.to_text())
                .with_context(|| format!("writing {}", file.display()))?;
            info
        }
        _ => anyhow::bail!("writing an app file needs both --name and --command"),
    };
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "file": file, "name": info.name, "id": info.id, "summary": info.summary,
                "command": info.command.as_str(), "icon": info.icon.as_ref().map(RelPath::as_str),
                "categories": info.categories,
                "health": info.health.as_ref().map_or("runs 3 (default)".to_string(), ToString::to_string),
            })
        );
    } else {
        println!("{}:", file.display());
        print!("{}", info.to_text());
    }
    Ok(())
}
