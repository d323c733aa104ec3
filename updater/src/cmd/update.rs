//! `quince update`: update installed apps once, or `--watch`: keep seeding
//! them and install new releases as they are announced. Quince's own release
//! (`--self-app`) replaces this program's binary and restarts it.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use quince_protocol::root::AppId;
use quince_updater::install::{Apps, Outcome, UpdateOptions};

use super::{explain, freshness, parse_app, print_dropped, print_peers_found, report, NetArgs};

#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    net: NetArgs,
    /// Apps to update, by name, id or unique id prefix (default: every installed app).
    apps: Vec<String>,
    /// Keep running: seed every installed app and install new releases as they
    /// are announced (and at least every --interval seconds).
    #[arg(long)]
    watch: bool,
    /// Seconds between full checks (a DHT lookup and every peer found) when watching.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    interval: u64,
    /// Seconds between asking the peers that served an app for their newest
    /// checkpoint when watching (one small request each; it also keeps the
    /// connections open that publishers push new releases over). 0: never.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    poll: u64,
    /// Seconds to look for peers before giving up on an app.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    find_for: u64,
    /// Print each outcome as JSON.
    #[arg(long)]
    json: bool,
    /// The app id of Quince itself: when a new release of it installs and
    /// passes its health check, this program replaces its own binary with it
    /// and restarts in place (same arguments, same process id).
    #[arg(long, env = "QUINCE_SELF_APP")]
    self_app: Option<String>,
    /// When watching, start an app's new version once it is installed,
    /// unless a program still runs from its previous version (for apps that
    /// run as services). Without it, updates apply at the app's next start.
    #[arg(long)]
    launch: bool,
    /// The default now (kept so that older autostart entries still work).
    #[arg(long, hide = true, conflicts_with = "launch")]
    no_launch: bool,
}

pub async fn update(args: UpdateArgs) -> Result<()> {
    let mut client = args.net.client()?;
    // Only a watcher stays to serve what it announces.
    client.announce(args.watch);
    let pick = |apps: &Apps| -> Result<Vec<AppId>> {
        if args.apps.is_empty() {
            Ok(apps.installed())
        } else {
            args.apps
                .iter()
                .map(|a| {
                    if a.starts_with(quince_updater::link::SCHEME) {
                        parse_app(a)
                    } else {
                        Ok(apps.resolve(a)?)
                    }
                })
                .collect()
        }
    };
    if pick(client.apps())?.is_empty() {
        bail!("no apps installed; install one with: quince install quince://APP_ID");
    }
    let self_app = match args.self_app.as_deref().or(option_env!("QUINCE_SELF_APP")) {
        Some(a) => Some(parse_app(a)?),
        None => None,
    };
    // Taken now: after a self-replace, /proc/self/exe names a deleted file.
    let exe = std::env::current_exe().context("cannot find this program")?;
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let node = client.start(args.net.config()?).await?;
    let printer = print_peers_found(&client);
    if let Some(me) = self_app {
        let release = client.apps().state(&me)?.and_then(|s| s.current);
        println!(
            "quince self release {} (app {me})",
            release.map_or("not installed".to_string(), |v| v.to_string())
        );
    }
    let options = UpdateOptions {
        window: 8,
        ..UpdateOptions::default()
    };
    let mut failed = 0;
    let mut announcements = node.announcements();
    // SIGTERM (a service stopping) or Ctrl-C: save what was learned of
    // peers and exit, also in the middle of an update (which a crash at any
    // point leaves whole; the next run finishes it).
    let stop = super::stop_signal();
    tokio::pin!(stop);
    loop {
        let chosen = pick(client.apps())?;
        for app in &chosen {
            let apps = client.apps();
            let result = tokio::select! {
                r = client.update(*app, &options, Duration::from_secs(args.find_for)) => r,
                _ = &mut stop => {
                    println!("stopping: the update of app {app} is left for the next run");
                    args.net.remember(&node).await;
                    client.stop().await;
                    return Ok(());
                }
            };
            super::service::record_check(apps, app, &result);
            match result.map_err(explain) {
                Ok(done) => {
                    print_dropped(&done.peers);
                    report(*app, &done, args.json, freshness(apps, app));
                    let outcome = done.outcome;
                    if let (Outcome::Installed { previous, .. }, true) = (
                        &outcome,
                        args.watch && args.launch && Some(*app) != self_app,
                    ) {
                        // The new version passed its health check: start it,
                        // unless the old one still runs (never two side by side).
                        let old_runs = previous.is_some_and(|p| {
                            quince_updater::install::in_use(&apps.app_dir(app).version(&p))
                        });
                        match apps.command(app) {
                            Ok(_) if old_runs => println!(
                                "app {app}: the previous version still runs; the new one starts next time"
                            ),
                            Ok(mut command) => {
                                let program = command.get_program().to_string_lossy().to_string();
                                match command.stdin(std::process::Stdio::null()).spawn() {
                                    Ok(_) => println!("started {program}"),
                                    Err(e) => eprintln!("quince: could not start {program}: {e}"),
                                }
                            }
                            Err(_) => {}
                        }
                    }
                    if let (Outcome::Installed { version, .. }, true) =
                        (&outcome, Some(*app) == self_app)
                    {
                        let new = apps
                            .current_dir(app)
                            .join(quince_updater::platform::quince_program("quince"));
                        // Running from the installed Quince app itself: the
                        // switch already made the new binary current; restart it.
                        let inside = std::fs::canonicalize(&exe)
                            .ok()
                            .zip(std::fs::canonicalize(apps.dir(app)).ok())
                            .is_some_and(|(e, d)| e.starts_with(d));
                        if inside {
                            println!("quince switched itself to release {version}; restarting");
                            args.net.remember(&node).await;
                            client.stop().await;
                            return restart(&new, &argv);
                        }
                        match self_replace::self_replace(&new) {
                            Ok(()) => {
                                println!("quince replaced itself with release {version}; restarting");
                                args.net.remember(&node).await;
                                client.stop().await;
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
                    eprintln!(
                        "quince: app {app}: {}",
                        quince_store::cli::error_chain(e.as_ref())
                    );
                }
            }
        }
        if !args.watch {
            break;
        }
        // Wait for a pushed checkpoint of one of our apps, a newer one at a
        // peer that served it, or the interval.
        let wait = tokio::time::sleep(Duration::from_secs(args.interval));
        tokio::pin!(wait);
        let poll_every = Duration::from_secs(args.poll.max(1));
        let mut poll =
            tokio::time::interval_at(tokio::time::Instant::now() + poll_every, poll_every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                a = announcements.recv() => match a {
                    Ok(a) if chosen.contains(&a.app) && client.is_newer(&a.app, &a.note) => {
                        println!("app {}: peer {} pushed a newer checkpoint", a.app, a.peer);
                        break;
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(_) => break,
                },
                _ = poll.tick(), if args.poll > 0 => {
                    let mut newer = None;
                    for app in &chosen {
                        if client.poll(*app, Duration::from_secs(10)).await {
                            newer = Some(*app);
                            break;
                        }
                    }
                    if let Some(app) = newer {
                        println!("app {app}: a peer that served it holds a newer checkpoint");
                        break;
                    }
                }
                _ = &mut stop => {
                    println!("stopping");
                    args.net.remember(&node).await;
                    client.stop().await;
                    return Ok(());
                }
            }
        }
    }
    args.net.remember(&node).await;
    client.stop().await;
    printer.finish().await;
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

/// Windows has no `exec`: the new program runs as a child with the same
/// arguments and console, and this one exits with its status when it
/// ends (as a Run-key updater or a user's command sees it: one program
/// that went on with the new release). The old version's files stay in
/// use until then; nothing deletes a version that runs.
#[cfg(not(unix))]
fn restart(exe: &std::path::Path, argv: &[std::ffi::OsString]) -> Result<()> {
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let status = std::process::Command::new(exe)
        .args(argv)
        .status()
        .with_context(|| format!("restarting {} failed", exe.display()))?;
    std::process::exit(status.code().unwrap_or(1))
}
