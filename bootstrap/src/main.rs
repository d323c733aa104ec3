//! `quince-bootstrap`: the end user's installer. Give it a link (or build it
//! with one: `QUINCE_APP_LINK=quince://... cargo build --profile bootstrap -p
//! quince-bootstrap`), and it joins the network, finds peers that hold the
//! app, fetches and verifies the log and the release for this machine,
//! installs it into the user's Quince home, and starts it. It shows progress as
//! it goes and ends with one line saying what happened.
//!
//! It is a thin shell over `quince_updater` with no argument-parsing or
//! progress-bar crates, to stay small (see BENCHMARKS.md for its size).

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

const USAGE: &str = "usage: quince-bootstrap [LINK] [options]

Installs the app named by LINK (quince://APP_ID[?peer=ADDR][&version=X.Y.Z])
from peers, verifies every byte against the app id, and starts it.

options:
  --run PATH         the program to start, relative to the app (default: bin/<only program>)
  --no-launch        install only
  --home DIR         Quince's folder (default: $QUINCE_HOME or ~/.local/share/quince)
  --bootstrap ADDR   a peer to join the network through (repeat)
  --listen ADDR      address to listen on (repeat; default: any port, TCP)
  --find-for SECS    how long to look for peers (default 30)
  --no-mdns          do not look for peers on the local network
  --quiet            no progress, only the final line
  --help             this text";

struct Args {
    link: Option<String>,
    run: Option<String>,
    launch: bool,
    home: Option<PathBuf>,
    bootstrap: Vec<String>,
    listen: Vec<String>,
    find_for: u64,
    mdns: bool,
    quiet: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        link: option_env!("QUINCE_APP_LINK").map(String::from),
        run: None,
        launch: true,
        home: std::env::var_os("QUINCE_HOME").map(PathBuf::from),
        bootstrap: Vec::new(),
        listen: Vec::new(),
        find_for: 30,
        mdns: true,
        quiet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--run" => args.run = Some(value("--run")?),
            "--no-launch" => args.launch = false,
            "--home" => args.home = Some(PathBuf::from(value("--home")?)),
            "--bootstrap" => args.bootstrap.push(value("--bootstrap")?),
            "--listen" => args.listen.push(value("--listen")?),
            "--find-for" => {
                args.find_for = value("--find-for")?
                    .parse()
                    .map_err(|_| "--find-for takes seconds".to_string())?
            }
            "--no-mdns" => args.mdns = false,
            "--quiet" => args.quiet = true,
            s if s.starts_with("quince://") => args.link = Some(s.to_string()),
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    Ok(args)
}

fn default_home() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("quince"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/quince"))
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

async fn install(args: Args) -> Result<String, String> {
    let link: Link = args
        .link
        .as_deref()
        .ok_or("no link given: run quince-bootstrap quince://APP_ID")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let home = args
        .home
        .clone()
        .or_else(default_home)
        .ok_or("no home folder: set --home or QUINCE_HOME")?;
    let apps = Apps::open(&home).map_err(|e| e.to_string())?;
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
    let mut found: Vec<PeerId> = link
        .peers
        .iter()
        .filter_map(|a| match a.iter().last() {
            Some(quince_updater::node::Protocol::P2p(p)) => Some(p),
            _ => None,
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(args.find_for);
    loop {
        found.extend(node.providers(app).await);
        found.extend(node.status().await.lan_peers);
        found.sort();
        found.dedup();
        if !found.is_empty() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
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
    };
    let result = apps.update(&node, app, &mut peers, &options).await;
    let _ = stop.send(true);
    if let Some(s) = shower {
        let _ = s.await;
    }
    node.shutdown().await;
    let outcome = result.map_err(|e| e.to_string())?;
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

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("quince-bootstrap: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("quince-bootstrap: cannot start: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(install(args)) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("quince-bootstrap: failed: {e}");
            std::process::exit(1);
        }
    }
}
