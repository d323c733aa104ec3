//! The bootstrap's work, as a library: the `quince-bootstrap` binary parses
//! its arguments and calls [`install`]; the README's demo calls it too.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quince_updater::fetch::{Peers, Progress};
use quince_updater::install::{Apps, Outcome, UpdateOptions};
use quince_updater::link::Link;
use quince_updater::node::{Multiaddr, PeerId};
use quince_updater::{Library, Node, NodeConfig};

/// What to install and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The app's link.
    pub link: Option<String>,
    /// The program to start, relative to the app.
    pub run: Option<String>,
    /// Start it after installing.
    pub launch: bool,
    /// Quince's folder for this user.
    pub home: Option<PathBuf>,
    /// Peers to join the network through.
    pub bootstrap: Vec<String>,
    /// Addresses to listen on.
    pub listen: Vec<String>,
    /// Seconds to look for peers.
    pub find_for: u64,
    /// Look for peers on the LAN.
    pub mdns: bool,
    /// Only the final line.
    pub quiet: bool,
    /// Install from this offline bundle folder (from `quince share`), with
    /// no network; verified against the link's app id like any peer.
    pub from: Option<PathBuf>,
    /// Quince's own app id: installed too, and its updater registered to
    /// start at login (XDG autostart) and started now.
    pub self_app: Option<String>,
}

/// Where the XDG autostart entry for the updater goes.
pub fn autostart_file() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("autostart/quince-updater.desktop"))
}

/// Installs Quince itself (`self_app`) from `peers` and registers its updater.
async fn register_updater(
    node: &Node,
    apps: &Apps,
    self_app: &str,
    found: &[PeerId],
    home: &std::path::Path,
) -> Result<String, String> {
    let me: quince_protocol::root::AppId = self_app
        .parse()
        .map_err(|e| format!("Quince's app id {self_app:?}: {e}"))?;
    let mut peers = Peers::new(
        node.providers(me)
            .await
            .into_iter()
            .chain(found.iter().copied()),
    );
    let options = UpdateOptions {
        run: Some("bin/quince".into()),
        window: 8,
        ..UpdateOptions::default()
    };
    match apps.update(node, me, &mut peers, &options).await {
        Ok(Outcome::Installed { .. } | Outcome::UpToDate(_)) => {}
        Ok(Outcome::RolledBack { reason, .. }) => {
            return Err(format!("Quince's own release does not run ({reason})"))
        }
        Err(e) => return Err(format!("installing Quince's updater: {e}")),
    }
    let quince = apps.dir(&me).join("current/bin/quince");
    let file = autostart_file().ok_or("no config folder for the autostart entry")?;
    let entry = format!(
        "[Desktop Entry]\nType=Application\nName=Quince updater\nComment=Keeps Quince apps up to date and shares them with peers\nExec=env QUINCE_HOME={} {} update --watch --self-app {me}\nX-GNOME-Autostart-enabled=true\n",
        home.display(),
        quince.display()
    );
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&file, entry).map_err(|e| format!("{}: {e}", file.display()))?;
    std::process::Command::new(&quince)
        .env("QUINCE_HOME", home)
        .args(["update", "--watch", "--self-app", &me.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the updater {}: {e}", quince.display()))?;
    Ok(format!(
        "updater registered in {} and started",
        file.display()
    ))
}

fn human(bytes: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// Prints one progress line (peers, bytes, rate, time left) until stopped.
async fn show(progress: Arc<Progress>, stop: tokio::sync::watch::Receiver<bool>) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    while !*stop.borrow() {
        tick.tick().await;
        let total = progress.bytes_total.load(Relaxed);
        if total == 0 {
            continue;
        }
        let done = progress.bytes_done.load(Relaxed);
        let secs = started.elapsed().as_secs_f64().max(0.001);
        let rate = done as f64 / secs;
        let left = if rate > 0.0 {
            format!("{:.0} s left", (total.saturating_sub(done)) as f64 / rate)
        } else {
            "starting".into()
        };
        eprint!(
            "\r{} peers  {} / {}  {}/s  {left}        ",
            progress.peers.load(Relaxed),
            human(done as f64),
            human(total as f64),
            human(rate)
        );
    }
    eprintln!();
}

/// Joins the network, finds peers for the link's app, installs (verifying
/// everything) and starts it. Returns the one line of success, or why not.
pub async fn install(args: Options) -> Result<String, String> {
    let link: Link = args
        .link
        .as_deref()
        .ok_or("no link given: run quince-bootstrap quince://APP_ID")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let home = args
        .home
        .clone()
        .or_else(quince_updater::install::default_home)
        .ok_or("no home folder: set --home or QUINCE_HOME")?;
    let apps = Apps::open(&home).map_err(|e| e.to_string())?;
    if let Some(folder) = &args.from {
        // No network at all: the folder answers like a peer and is verified like one.
        let bundle =
            quince_updater::fetch::Folder::open(folder, link.app).map_err(|e| e.to_string())?;
        let options = UpdateOptions {
            version: link.version,
            run: args.run.clone(),
            window: 8,
            ..UpdateOptions::default()
        };
        let result = apps
            .update(&bundle, link.app, &mut bundle.peers(), &options)
            .await;
        return finish(
            &apps,
            link.app,
            result.map_err(|e| e.to_string())?,
            &args,
            None,
        );
    }
    let store = apps.store().map_err(|e| e.to_string())?;
    let library = Library::new(store);
    let parse = |list: &[String]| -> Result<Vec<Multiaddr>, String> {
        list.iter()
            .map(|a| a.parse().map_err(|e| format!("bad address {a:?}: {e}")))
            .collect()
    };
    let mut bootstrap = parse(&args.bootstrap)?;
    bootstrap.extend(link.peers.iter().cloned());
    let mut config = NodeConfig {
        bootstrap,
        mdns: args.mdns,
        ..NodeConfig::default()
    };
    config.listen = if args.listen.is_empty() {
        let mut any = vec!["/ip4/0.0.0.0/tcp/0".to_string()];
        if quince_updater::node::QUIC {
            any.push("/ip4/0.0.0.0/udp/0/quic-v1".into());
        }
        parse(&any)?
    } else {
        parse(&args.listen)?
    };
    let identity = home.join("identity");
    config.keypair =
        Some(quince_updater::load_or_create_identity(&identity).map_err(|e| e.to_string())?);
    let node = Node::start(config, Arc::new(library.clone()))
        .await
        .map_err(|e| e.to_string())?;
    let app = link.app;
    if !args.quiet {
        eprintln!("looking for peers that hold app {app}");
    }
    let found = node
        .find_peers(app, &link.peers, Duration::from_secs(args.find_for))
        .await;
    if found.is_empty() {
        node.shutdown().await;
        return Err(format!(
            "no peer holds app {app} (looked for {} s); ask for a link with peers in it",
            args.find_for
        ));
    }
    if !args.quiet {
        eprintln!("{} peer(s) found; verifying the log", found.len());
    }
    let progress = Arc::new(Progress::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shower = (!args.quiet).then(|| tokio::spawn(show(progress.clone(), stopped)));
    let mut peers = Peers::new(found);
    let options = UpdateOptions {
        version: link.version,
        run: args.run.clone(),
        health_seconds: None,
        window: 8,
        progress: Some(progress),
        witnesses: None,
    };
    let found_peers = peers.usable().to_vec();
    let result = apps.update(&node, app, &mut peers, &options).await;
    let _ = stop.send(true);
    if let Some(s) = shower {
        let _ = s.await;
    }
    let registered = match (&result, args.self_app.as_deref()) {
        (Ok(_), Some(me)) if me != app.to_string() => {
            Some(register_updater(&node, &apps, me, &found_peers, &home).await)
        }
        _ => None,
    };
    node.shutdown().await;
    let outcome = result.map_err(|e| e.to_string())?;
    finish(&apps, app, outcome, &args, registered)
}

/// The final line: what was installed, whether the updater was registered,
/// and whether the app started.
fn finish(
    apps: &Apps,
    app: quince_protocol::root::AppId,
    outcome: Outcome,
    args: &Options,
    registered: Option<Result<String, String>>,
) -> Result<String, String> {
    let version = match outcome {
        Outcome::Installed { version, .. } | Outcome::UpToDate(version) => version,
        Outcome::RolledBack {
            refused, reason, ..
        } => {
            return Err(format!(
                "release {refused} does not start ({reason}); nothing installed"
            ))
        }
    };
    let dir = apps.dir(&app).join("current");
    let mut line = format!("installed app {app} {version} into {}", dir.display());
    match registered {
        Some(Ok(done)) => line.push_str(&format!("; {done}")),
        Some(Err(e)) => return Err(format!("{line}, but {e}")),
        None if args.self_app.is_none() && args.from.is_none() => line.push_str(
            "; no updater registered (this build names no Quince release: QUINCE_SELF_APP)",
        ),
        None => {}
    }
    if args.launch {
        match apps.program(&app) {
            Ok(program) => match std::process::Command::new(&program).spawn() {
                Ok(_) => line.push_str(&format!("; started {}", program.display())),
                Err(e) => return Err(format!("{line}, but it did not start: {e}")),
            },
            Err(_) => line.push_str("; no program to start (give --run PATH)"),
        }
    }
    Ok(line)
}
