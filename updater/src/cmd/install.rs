//! `quince install`, `update`, `run`, `rollback`, `pin`, `list`: installed apps
//! in the home folder (see `quince_updater::install`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use quince_protocol::cosignature::{WitnessKey, Witnesses};
use quince_protocol::record::Version;
use quince_protocol::root::AppId;
use quince_updater::fetch::Peers;
use quince_updater::install::{Apps, Outcome, UpdateOptions};
use quince_updater::link::Link;
use quince_updater::{Library, Node};

use super::NetArgs;

#[derive(clap::Args, Debug)]
pub struct InstallArgs {
    #[command(flatten)]
    net: NetArgs,
    /// The app's link: quince://APP_ID, optionally ?peer=ADDR&version=X.Y.Z.
    link: String,
    /// The program to run and health-check, relative to the app's folder (e.g. bin/app).
    #[arg(long)]
    run: Option<String>,
    /// Seconds a new version must keep running (or exit 0 within) to be kept.
    #[arg(long)]
    health_seconds: Option<u64>,
    /// Seconds to look for peers before giving up.
    #[arg(long, default_value_t = 20)]
    find_for: u64,
    /// Install from an offline bundle folder (written by `quince share`) with
    /// no network at all; checked against the link's app id like any peer.
    #[arg(long)]
    from: Option<std::path::PathBuf>,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
    /// A witness whose cosignature new checkpoints need, as its C2SP verifier
    /// key (printed by `quince witness --print-key`; repeat). Kept for updates.
    #[arg(long)]
    witness: Vec<String>,
    /// How many of the --witness keys must have cosigned (default: all of them).
    #[arg(long)]
    witness_quorum: Option<usize>,
}

/// The witness policy given on the command line, if any.
fn witness_policy(keys: &[String], quorum: Option<usize>) -> Result<Option<Witnesses>> {
    if keys.is_empty() {
        if quorum.is_some_and(|q| q > 0) {
            bail!("--witness-quorum needs --witness keys");
        }
        return Ok(None);
    }
    let keys = keys
        .iter()
        .map(|k| WitnessKey::parse(k).map_err(|e| anyhow::anyhow!("witness key {k:?}: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let quorum = quorum.unwrap_or(keys.len());
    if quorum > keys.len() {
        bail!(
            "--witness-quorum {quorum} is more than the {} witnesses given",
            keys.len()
        );
    }
    Ok(Some(Witnesses { keys, quorum }))
}

#[derive(clap::Args, Debug)]
pub struct ShareArgs {
    /// Quince's folder for this user.
    #[arg(long, env = "QUINCE_HOME")]
    home: Option<std::path::PathBuf>,
    /// The app id (or its link).
    app: String,
    /// A new folder (e.g. on a USB stick) to write the bundle to.
    folder: std::path::PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    net: NetArgs,
    /// Apps to update (default: every installed app).
    apps: Vec<String>,
    /// Keep running: seed every installed app and install new releases as they
    /// are announced (and at least every --interval seconds).
    #[arg(long)]
    watch: bool,
    /// Seconds between checks when watching.
    #[arg(long, default_value_t = 300)]
    interval: u64,
    /// Seconds to look for peers before giving up on an app.
    #[arg(long, default_value_t = 20)]
    find_for: u64,
    /// Print each outcome as JSON.
    #[arg(long)]
    json: bool,
    /// The app id of Quince itself: when a new release of it installs and
    /// passes its health check, this program replaces its own binary with it
    /// and restarts in place (same arguments, same process id).
    #[arg(long, env = "QUINCE_SELF_APP")]
    self_app: Option<String>,
    /// When watching, do not start an app's new version after installing it.
    #[arg(long)]
    no_launch: bool,
}

#[derive(clap::Args, Debug)]
pub struct AppArgs {
    /// Quince's folder for this user.
    #[arg(long, env = "QUINCE_HOME")]
    home: Option<std::path::PathBuf>,
    /// The app id (or its link).
    app: String,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    app: AppArgs,
    /// Arguments for the app.
    #[arg(last = true)]
    args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct PinArgs {
    #[command(flatten)]
    app: AppArgs,
    /// The version to stay at, or "none" to follow new releases again.
    version: String,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Quince's folder for this user.
    #[arg(long, env = "QUINCE_HOME")]
    home: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_app(text: &str) -> Result<AppId> {
    if text.starts_with(quince_updater::link::SCHEME) {
        return Ok(text.parse::<Link>()?.app);
    }
    text.parse()
        .with_context(|| format!("{text:?} is neither an app id nor a quince:// link"))
}

fn home_of(home: &Option<std::path::PathBuf>) -> Result<std::path::PathBuf> {
    home.clone()
        .or_else(quince_updater::install::default_home)
        .context("no home folder: set --home or QUINCE_HOME")
}

/// A node serving every installed app from the home folder.
async fn start(net: &NetArgs, apps: &Apps, hints: &[libp2p::Multiaddr]) -> Result<(Node, Library)> {
    let library = Library::new(apps.store()?);
    for app in apps.installed() {
        if apps.log_dir(&app).join("checkpoint").exists() {
            library.add_app(app, apps.log_dir(&app));
        }
    }
    let mut config = net.config()?;
    config.bootstrap.extend(hints.iter().cloned());
    let node = Node::start(config, Arc::new(library.clone())).await?;
    Ok((node, library))
}

fn report(app: AppId, outcome: &Outcome, json: bool) {
    if json {
        let v = match outcome {
            Outcome::Installed { version, previous } => serde_json::json!({
                "app": app.to_string(), "outcome": "installed", "version": version.to_string(),
                "previous": previous.as_ref().map(ToString::to_string),
            }),
            Outcome::UpToDate(v) => serde_json::json!({
                "app": app.to_string(), "outcome": "up-to-date", "version": v.to_string(),
            }),
            Outcome::RolledBack {
                refused,
                reason,
                current,
            } => serde_json::json!({
                "app": app.to_string(), "outcome": "rolled-back", "refused": refused.to_string(),
                "reason": reason, "version": current.as_ref().map(ToString::to_string),
            }),
        };
        println!("{v}");
        return;
    }
    match outcome {
        Outcome::Installed { version, previous: Some(p) } => {
            println!("updated app {app} from {p} to {version}")
        }
        Outcome::Installed { version, previous: None } => {
            println!("installed app {app} {version}")
        }
        Outcome::UpToDate(v) => println!("app {app} is up to date at {v}"),
        Outcome::RolledBack { refused, reason, current } => println!(
            "app {app}: release {refused} failed its health check ({reason}); rolled back to {}; it will not be tried again",
            current.as_ref().map_or("nothing".to_string(), ToString::to_string)
        ),
    }
}

async fn update_one(
    node: &Node,
    library: &Library,
    apps: &Apps,
    app: AppId,
    hints: &[libp2p::Multiaddr],
    options: &UpdateOptions,
    find_for: u64,
) -> Result<Outcome> {
    let found = node
        .find_peers(app, hints, Duration::from_secs(find_for))
        .await;
    if found.is_empty() {
        bail!("no peer holds app {app} (looked for {find_for} s): add peers to the link or --bootstrap");
    }
    eprintln!("{} peer(s) for app {app}", found.len());
    let mut peers = Peers::new(found);
    let outcome = apps.update(node, app, &mut peers, options).await;
    // What we hold, we serve (after an equivocation, the proof too).
    if apps.log_dir(&app).join("root").exists() {
        library.add_app(app, apps.log_dir(&app));
        let _ = node.provide(app).await;
    }
    let outcome = outcome?;
    for (p, why) in peers.dropped() {
        eprintln!("dropped peer {p}: {why}");
    }
    Ok(outcome)
}

pub async fn install(args: InstallArgs) -> Result<()> {
    let link: Link = args.link.parse()?;
    let apps = Apps::open(&home_of(&args.net.home)?)?;
    let options = UpdateOptions {
        version: link.version,
        run: args.run.clone(),
        health_seconds: args.health_seconds,
        window: 8,
        progress: None,
        witnesses: witness_policy(&args.witness, args.witness_quorum)?,
    };
    let result = match &args.from {
        Some(folder) => {
            // No network at all: the folder answers like a peer and is
            // verified like one.
            let bundle = quince_updater::fetch::Folder::open(folder, link.app)?;
            apps.update(&bundle, link.app, &mut bundle.peers(), &options)
                .await
                .map_err(anyhow::Error::from)
        }
        None => {
            let (node, library) = start(&args.net, &apps, &link.peers).await?;
            let result = update_one(
                &node,
                &library,
                &apps,
                link.app,
                &link.peers,
                &options,
                args.find_for,
            )
            .await;
            args.net.remember(&node).await;
            node.shutdown().await;
            result
        }
    };
    let outcome = result?;
    report(link.app, &outcome, args.json);
    if matches!(outcome, Outcome::RolledBack { current: None, .. }) {
        bail!(
            "app {} was not installed: its release failed the health check",
            link.app
        );
    }
    Ok(())
}

pub async fn update(args: UpdateArgs) -> Result<()> {
    let apps = Apps::open(&home_of(&args.net.home)?)?;
    let pick = |apps: &Apps| -> Result<Vec<AppId>> {
        if args.apps.is_empty() {
            Ok(apps.installed())
        } else {
            args.apps.iter().map(|a| parse_app(a)).collect()
        }
    };
    if pick(&apps)?.is_empty() {
        bail!("no apps installed; install one with: quince install quince://APP_ID");
    }
    let self_app = match args.self_app.as_deref().or(option_env!("QUINCE_SELF_APP")) {
        Some(a) => Some(parse_app(a)?),
        None => None,
    };
    // Taken now: after a self-replace, /proc/self/exe names a deleted file.
    let exe = std::env::current_exe().context("cannot find this program")?;
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let (node, library) = start(&args.net, &apps, &[]).await?;
    if let Some(me) = self_app {
        let release = apps.state(&me)?.and_then(|s| s.current);
        println!(
            "quince self release {} (app {me})",
            release.as_deref().unwrap_or("not installed")
        );
    }
    let options = UpdateOptions {
        window: 8,
        ..UpdateOptions::default()
    };
    let mut failed = 0;
    let mut announcements = node.announcements();
    loop {
        let chosen = pick(&apps)?;
        for app in &chosen {
            match update_one(&node, &library, &apps, *app, &[], &options, args.find_for).await {
                Ok(outcome) => {
                    report(*app, &outcome, args.json);
                    if let (Outcome::Installed { .. }, true) = (
                        &outcome,
                        args.watch && !args.no_launch && Some(*app) != self_app,
                    ) {
                        // The new version passed its health check: start it.
                        if let Ok(program) = apps.program(app) {
                            match std::process::Command::new(&program)
                                .stdin(std::process::Stdio::null())
                                .spawn()
                            {
                                Ok(_) => println!("started {}", program.display()),
                                Err(e) => {
                                    eprintln!("quince: could not start {}: {e}", program.display())
                                }
                            }
                        }
                    }
                    if let (Outcome::Installed { version, .. }, true) =
                        (&outcome, Some(*app) == self_app)
                    {
                        let new = apps.dir(app).join("current/bin/quince");
                        // Running from the installed Quince app itself: the
                        // switch already made the new binary current; restart it.
                        let inside = std::fs::canonicalize(&exe)
                            .ok()
                            .zip(std::fs::canonicalize(apps.dir(app)).ok())
                            .is_some_and(|(e, d)| e.starts_with(d));
                        if inside {
                            println!("quince switched itself to release {version}; restarting");
                            args.net.remember(&node).await;
                            node.shutdown().await;
                            return restart(&new, &argv);
                        }
                        match self_replace::self_replace(&new) {
                            Ok(()) => {
                                println!("quince replaced itself with release {version}; restarting");
                                args.net.remember(&node).await;
                                node.shutdown().await;
                                return restart(&exe, &argv);
                            }
                            Err(e) => eprintln!(
                                "quince: could not replace itself with release {version}: {e}; the running version stays"
                            ),
                        }
                    }
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("quince: app {app}: {e:#}");
                }
            }
        }
        if !args.watch {
            break;
        }
        // Wait for a pushed checkpoint of one of our apps, or the interval.
        let wait = tokio::time::sleep(Duration::from_secs(args.interval));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                a = announcements.recv() => match a {
                    Ok(a) if chosen.contains(&a.app) => break,
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(_) => break,
                },
                r = tokio::signal::ctrl_c() => { r?; args.net.remember(&node).await; node.shutdown().await; return Ok(()); }
            }
        }
    }
    args.net.remember(&node).await;
    node.shutdown().await;
    if failed > 0 {
        bail!("{failed} app(s) could not be updated");
    }
    Ok(())
}

/// Replaces this process with a fresh run of `exe` (the new binary now at that path).
#[cfg(unix)]
fn restart(exe: &std::path::Path, argv: &[std::ffi::OsString]) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::process::CommandExt as _;
    let _ = std::io::stdout().flush();
    let err = std::process::Command::new(exe).args(argv).exec();
    bail!("restarting {} failed: {err}", exe.display())
}

#[cfg(not(unix))]
fn restart(exe: &std::path::Path, _argv: &[std::ffi::OsString]) -> Result<()> {
    println!("restart {} to run the new release", exe.display());
    Ok(())
}

pub fn run(args: RunArgs) -> Result<()> {
    let apps = Apps::open(&home_of(&args.app.home)?)?;
    let app = parse_app(&args.app.app)?;
    let program = apps.program(&app)?;
    let status = std::process::Command::new(&program)
        .args(&args.args)
        .status()
        .with_context(|| format!("cannot start {}", program.display()))?;
    std::process::exit(status.code().unwrap_or(1));
}

pub fn rollback(args: AppArgs) -> Result<()> {
    let apps = Apps::open(&home_of(&args.home)?)?;
    let app = parse_app(&args.app)?;
    let v = apps.rollback(&app)?;
    println!("app {app} rolled back to {v} and pinned there (quince pin {app} none to follow releases again)");
    Ok(())
}

pub fn pin(args: PinArgs) -> Result<()> {
    let apps = Apps::open(&home_of(&args.app.home)?)?;
    let app = parse_app(&args.app.app)?;
    if args.version == "none" {
        apps.pin(&app, None)?;
        println!("app {app} follows new releases again");
    } else {
        let v: Version = args.version.parse()?;
        apps.pin(&app, Some(&v))?;
        println!("app {app} pinned at {v} (installed at the next update)");
    }
    Ok(())
}

pub fn list(args: ListArgs) -> Result<()> {
    let apps = Apps::open(&home_of(&args.home)?)?;
    let mut rows = Vec::new();
    for app in apps.installed() {
        let Some(state) = apps.state(&app)? else {
            continue;
        };
        rows.push(serde_json::json!({
            "app": app.to_string(), "current": state.current, "previous": state.previous,
            "pinned": state.pinned, "refused": state.refused, "run": state.run,
            "log_size": state.trusted().map(|t| t.size()).unwrap_or(0),
        }));
        if !args.json {
            println!(
                "{app}  {}{}{}",
                state.current.as_deref().unwrap_or("(none)"),
                state
                    .pinned
                    .as_ref()
                    .map_or(String::new(), |p| format!("  pinned at {p}")),
                if state.refused.is_empty() {
                    String::new()
                } else {
                    format!("  refused {}", state.refused.join(", "))
                }
            );
        }
    }
    if args.json {
        println!("{}", serde_json::Value::Array(rows));
    }
    Ok(())
}

pub fn share(args: ShareArgs) -> Result<()> {
    let apps = Apps::open(&home_of(&args.home)?)?;
    let app = parse_app(&args.app)?;
    let bundle = apps.share(&app, &args.folder)?;
    // The receiver needs a program to install with: the bootstrap if it sits
    // next to this program, else this program.
    let me = std::env::current_exe().context("cannot find this program to copy")?;
    let bootstrap = me.with_file_name("quince-bootstrap");
    let (from, name, command) = if bootstrap.is_file() {
        (
            bootstrap,
            "quince-bootstrap",
            format!("./quince-bootstrap quince://{app} --from ."),
        )
    } else {
        (
            me,
            "quince",
            format!("./quince install quince://{app} --from ."),
        )
    };
    let target = args.folder.join(name);
    std::fs::copy(&from, &target).with_context(|| format!("copying {}", from.display()))?;
    std::fs::write(args.folder.join("INSTALL"), format!("{command}\n"))?;
    println!(
        "wrote app {app} {} ({} chunks) and {name} to {}; install there with: {command}",
        bundle.version,
        bundle.chunks,
        args.folder.display()
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    app: AppArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Re-hashes an installed app against its signed manifest; exit 1 if any file differs.
pub fn verify(args: VerifyArgs) -> Result<()> {
    let apps = Apps::open(&home_of(&args.app.home)?)?;
    let app = parse_app(&args.app.app)?;
    let (version, differences) = apps.verify(&app)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "app": app.to_string(), "version": version.to_string(), "intact": differences.is_empty(),
                "differences": differences.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        );
    } else if differences.is_empty() {
        println!("app {app} {version}: every file matches the signed release");
    } else {
        for d in &differences {
            println!("{d}");
        }
    }
    if !differences.is_empty() {
        bail!(
            "app {app} {version}: {} file(s) differ from the signed release",
            differences.len()
        );
    }
    Ok(())
}
