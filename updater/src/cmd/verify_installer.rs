//! `quince verify-installer`: is this file (a `quince-bootstrap` a friend
//! handed over, or any Quince binary) one that Quince's keyholders released?

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use quince_protocol::root::AppId;
use quince_updater::audit::{check_installer, LogAtHand};

use super::{client, parse_app};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The file to check (e.g. ./quince-bootstrap from a shared folder).
    file: PathBuf,
    /// Quince's own app id: the log is checked against it, so take it from
    /// somewhere you trust (Quince's README, its web site, a friend you
    /// trust), not from the folder the file came in.
    #[arg(long, env = "QUINCE_SELF_APP")]
    self_app: Option<String>,
    /// Where Quince's log is: a folder written by `quince share` (its
    /// `quince/` part), or a folder holding `log/` and `store/`. Default:
    /// the file's own folder if `quince share` wrote it, else the Quince
    /// installed in this home.
    #[arg(long)]
    from: Option<PathBuf>,
    /// Quince's folder for this user.
    #[arg(long, env = "QUINCE_HOME")]
    home: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args) -> Result<()> {
    let Some(app) = args
        .self_app
        .clone()
        .or(option_env!("QUINCE_SELF_APP").map(String::from))
    else {
        bail!(
            "which log? give Quince's own app id with --self-app (or QUINCE_SELF_APP); \
             this build names none"
        );
    };
    let app = parse_app(&app)?;
    let at = log_at_hand(&args, &app)?;
    // The verified copy of the log goes to a scratch folder, removed after.
    let scratch =
        std::env::temp_dir().join(format!("quince-verify-installer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let check = check_installer(&args.file, app, &at, &scratch).await;
    let _ = std::fs::remove_dir_all(&scratch);
    let check = check.with_context(|| format!("Quince's log in {}", at.log.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&check.to_json())?);
    } else {
        println!("{}: sha256 {}", args.file.display(), check.sha256.to_hex());
        for m in &check.matches {
            let platforms = if m.platforms.is_empty() {
                String::new()
            } else {
                format!(" for {}", m.platforms.join(", "))
            };
            println!(
                "  is {}{platforms} of Quince release {} (log entry {}), in Quince's log of {} entries signed by its keyholders (signers {})",
                m.path, m.version, m.entry, check.log_size, check.signers
            );
        }
    }
    if check.matches.is_empty() {
        return Err(super::exit::Refused(format!(
            "{} is NOT a file of any release in Quince's signed log (app {app}: {} releases, {} of their manifests at hand); do not run it",
            args.file.display(),
            check.releases,
            check.manifests
        ))
        .into());
    }
    if !args.json {
        println!("verified: this file is what Quince's keyholders released");
    }
    Ok(())
}

/// Quince's log and manifests: `--from`, the file's folder, or this home.
fn log_at_hand(args: &Args, app: &AppId) -> Result<LogAtHand> {
    let parts = |dir: &Path| -> Option<LogAtHand> {
        for base in [dir.join("quince"), dir.to_path_buf()] {
            if base.join("log/root").is_file() && base.join("store").is_dir() {
                return Some(LogAtHand {
                    log: base.join("log"),
                    store: base.join("store"),
                });
            }
        }
        None
    };
    if let Some(from) = &args.from {
        return parts(from).with_context(|| {
            format!(
                "{} holds no Quince log (expected quince/log and quince/store, or log and store)",
                from.display()
            )
        });
    }
    let beside = args.file.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    if let Some(found) = beside.and_then(parts) {
        return Ok(found);
    }
    let client = client(&args.home)?;
    let apps = client.apps();
    if apps.state(app)?.is_some() {
        return Ok(LogAtHand {
            log: apps.log_dir(app),
            store: apps.store()?.dir().to_path_buf(),
        });
    }
    bail!(
        "no copy of Quince's log at hand: give a folder written by `quince share` with --from, \
         or install Quince first (quince install quince://{app})"
    )
}
