//! The bootstrap's work, as a library: the `quince-bootstrap` binary parses
//! its arguments and calls [`install`]; the README's demo calls it too. It
//! is a thin layer over [`quince_updater::Client`]: it picks the settings a
//! first install needs, shows progress from the client's events, registers
//! Quince's own updater, and starts the app.

#![forbid(unsafe_code)]

/// `eprintln!` that cannot panic: with standard error closed (`2>&1 |
/// head`) the text is lost and the install goes on.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that cannot panic (see [`say!`]).
#[macro_export]
macro_rules! say_part {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::write!(::std::io::stderr(), $($arg)*);
    }};
}

/// `println!` that cannot panic: with standard output closed (`| head -0`)
/// the text is lost; the exit status still tells.
#[macro_export]
macro_rules! put {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stdout(), $($arg)*);
    }};
}

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quince_updater::fetch::Peers;
use quince_updater::install::{Outcome, UpdateOptions};
use quince_updater::link::Link;
use quince_updater::node::{parse_addresses, PeerId};
use quince_updater::{network, Client, ClientError, Event, NodeConfig};

/// Why the bootstrap did not install the app. Nothing installed before is changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// What it was asked to do cannot be done as given (no link, a bad
    /// link or address, no home folder).
    #[error("{0}")]
    Usage(String),
    /// No peer holds the app (or none answered in time).
    #[error("{0}")]
    NoPeers(String),
    /// Finding, fetching, verifying or installing failed.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The release was installed but failed its health check; nothing stays.
    #[error("release {refused} does not start ({reason}); nothing installed")]
    DoesNotStart {
        /// The release.
        refused: quince_protocol::record::Version,
        /// What the health check saw.
        reason: String,
    },
    /// The app was installed, but what followed failed.
    #[error("{done}, but {failed}")]
    After {
        /// What was done.
        done: String,
        /// What then failed.
        failed: String,
    },
}

impl BootstrapError {
    /// The exit status: 2 usage, 3 no peers, 4 a release that does not
    /// start, 1 anything else (as `quince`'s).
    pub fn exit_code(&self) -> i32 {
        match self {
            BootstrapError::Usage(_) => 2,
            BootstrapError::NoPeers(_) => 3,
            BootstrapError::DoesNotStart { .. } => 4,
            _ => 1,
        }
    }
}

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
    /// Peers to join the network through (replace the network file's list).
    pub bootstrap: Vec<String>,
    /// `public` or `private` (default: the network file's, else public).
    pub network: Option<String>,
    /// The Kademlia protocol name (default: by network).
    pub kad_protocol: Option<String>,
    /// The network file (default: `quince_updater::network::default_path`).
    pub config: Option<PathBuf>,
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
    /// Quince's own app id: installed too, its updater installed as a
    /// service (`quince service install`) and started, and put on PATH.
    pub self_app: Option<String>,
}

/// Installs Quince itself (`self_app`) from `peers` (and any others that
/// announce it) and registers its updater.
async fn register_updater(
    client: &Client,
    app: quince_protocol::root::AppId,
    self_app: &str,
    found: &[PeerId],
    home: &Path,
    net_args: &[String],
) -> Result<String, String> {
    let app_text = app.to_string();
    let me: quince_protocol::root::AppId = self_app
        .parse()
        .map_err(|e| format!("Quince's app id {self_app:?}: {e}"))?;
    let node = client.node().ok_or("the node is not started")?;
    let peers = Peers::new(
        node.providers(me)
            .await
            .into_iter()
            .chain(found.iter().copied()),
    );
    let options = UpdateOptions {
        run: Some(quince_updater::platform::quince_program("quince")),
        window: 8,
        ..UpdateOptions::default()
    };
    match client.update_from_peers(me, peers, &options).await {
        Ok(report) => match report.outcome {
            Outcome::Installed { .. } | Outcome::UpToDate(_) => {}
            Outcome::RolledBack { reason, .. } => {
                return Err(format!("Quince's own release does not run ({reason})"))
            }
        },
        Err(e) => return Err(format!("installing Quince's updater: {e}")),
    }
    let quince = client
        .apps()
        .current_dir(&me)
        .join(quince_updater::platform::quince_program("quince"));
    // The client does the rest (the bootstrap carries no service or desktop
    // code): the updater as a systemd user service (an autostart entry
    // without systemd; a Run key entry on Windows), Quince itself on PATH as
    // `quince`, the app's launcher, and on Unix completions for the user's
    // shell and the manual pages.
    let mut done = String::new();
    let me_text = me.to_string();
    // On Windows the bootstrap starts the updater itself, after its calls
    // to Quince: a process Quince started would inherit the pipes this
    // bootstrap reads Quince's answers through (Windows passes every
    // inheritable handle on) and hold them open, and reading them would
    // never end.
    let start_here = cfg!(windows);
    let service: Vec<&str> = if start_here {
        ["service", "install", "--no-start", "--", "--self-app"]
            .into_iter()
            .chain([me_text.as_str()])
            .chain(net_args.iter().map(String::as_str))
            .collect()
    } else {
        ["service", "install", "--", "--self-app", me_text.as_str()]
            .into_iter()
            .chain(net_args.iter().map(String::as_str))
            .collect()
    };
    let shell = user_shell();
    let mut calls: Vec<(Vec<&str>, &str)> = vec![
        (service, ""),
        (
            vec!["launcher", "add", me_text.as_str(), "--name", "quince"],
            "",
        ),
        (vec!["launcher", "add", &app_text], ""),
    ];
    // Manual pages and shell completions are for Unix shells.
    if cfg!(unix) {
        calls.push((vec!["man"], ""));
    }
    if let (Some(shell), true) = (shell, cfg!(unix)) {
        calls.push((vec!["completions", shell, "--install"], "completions in "));
    }
    for (args, label) in &calls {
        let out = std::process::Command::new(&quince)
            .env("QUINCE_HOME", home)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {
                for l in String::from_utf8_lossy(&o.stdout).lines() {
                    done.push_str(&format!("; {label}{l}"));
                }
            }
            Ok(o) => done.push_str(&format!(
                "; quince {} failed: {}",
                args[..2.min(args.len())].join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => done.push_str(&format!(
                "; quince {}: {e}",
                args[..2.min(args.len())].join(" ")
            )),
        }
    }
    if start_here {
        let args: Vec<String> = ["--self-app".to_string(), me_text.clone()]
            .into_iter()
            .chain(net_args.iter().cloned())
            .collect();
        match quince_updater::service::updater_command(&quince, home, &args).spawn() {
            Ok(child) => done.push_str(&format!("; updater started (process {})", child.id())),
            Err(e) => done.push_str(&format!("; starting the updater: {e}")),
        }
    }
    Ok(done.trim_start_matches("; ").to_string())
}
/// The user's shell, if `quince completions --install` knows it.
fn user_shell() -> Option<&'static str> {
    let shell = std::env::var_os("SHELL")?;
    let name = Path::new(&shell).file_name()?.to_str()?;
    ["bash", "zsh", "fish"].into_iter().find(|s| *s == name)
}

/// Prints what the client reports: peers found, then one progress line
/// (peers, bytes, rate, time left) kept up to date. `open` says whether that
/// line still needs its end (a fetch that fails sends no `Finished`).
fn show(client: &Client, open: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    let mut events = client.events();
    tokio::spawn(async move {
        let started = Instant::now();
        while let Ok(event) = events.recv().await {
            match event {
                Event::LookingForPeers { app } => {
                    say!("looking for peers that hold app {app}")
                }
                Event::PeersFound { peers, .. } => {
                    say!("{peers} peer(s) found; verifying the log")
                }
                Event::Progress { progress, .. } => {
                    say_part!("\r{}        ", progress.describe(started.elapsed()));
                    open.store(true, Relaxed);
                }
                Event::Finished { .. } if open.swap(false, Relaxed) => say!(),
                _ => {}
            }
        }
    })
}

/// Joins the network, finds peers for the link's app, installs (verifying
/// everything) and starts it. Returns the one line of success, or why not.
pub async fn install(args: Options) -> Result<String, BootstrapError> {
    let usage = BootstrapError::Usage;
    let link: Link = args
        .link
        .as_deref()
        .ok_or_else(|| usage("no link given: run quince-bootstrap quince://APP_ID".into()))?
        .parse()
        .map_err(|e| usage(format!("{e}")))?;
    let home = args
        .home
        .clone()
        .or_else(quince_updater::home::default_dir)
        .ok_or_else(|| usage("no home folder: set --home or QUINCE_HOME".into()))?;
    if let Some(run) = &args.run {
        quince_updater::install::check_run_command(run).map_err(|e| usage(e.to_string()))?;
    }
    let mut client = Client::open(&home)?;
    // The bootstrap exits once the app runs; the updater it registers
    // (`quince update --watch`) announces the app.
    client.announce(false);
    let options = UpdateOptions {
        run: args.run.clone(),
        window: 8,
        ..UpdateOptions::default()
    };
    if let Some(folder) = &args.from {
        let report = client.install_from(&link, folder, &options).await?;
        return finish(&client, link.app, report.outcome, &args, None);
    }
    let parse = |list: &[String]| parse_addresses(list).map_err(|e| usage(e.to_string()));
    let flags = network::Overrides {
        kind: args
            .network
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(usage)?,
        bootstrap: args
            .bootstrap
            .iter()
            .map(|a| network::peer_address(a))
            .collect::<Result<_, _>>()
            .map_err(usage)?,
        kad_protocol: args.kad_protocol.clone(),
        dht: None,
    };
    let (net, warnings) = network::load(args.config.as_deref(), &flags);
    for w in warnings {
        say!("warning: {w}");
    }
    let (cache, warning) = client.home().peer_cache();
    if let Some(w) = warning {
        say!("warning: {w}");
    }
    let mut config = NodeConfig {
        mdns: args.mdns,
        ..NodeConfig::default()
    };
    let remembered = if args.bootstrap.is_empty() {
        cache.dht
    } else {
        Vec::new()
    };
    net.apply(&mut config, &remembered, &link.peers);
    // The same on every build: TCP, whether or not this build has QUIC.
    config.listen = if args.listen.is_empty() {
        parse(&["/ip4/0.0.0.0/tcp/0".to_string()])?
    } else {
        parse(&args.listen)?
    };
    client.start(config).await?;
    let open_line = Arc::new(AtomicBool::new(false));
    let shower = (!args.quiet).then(|| show(&client, open_line.clone()));
    let result = client
        .install(&link, &options, Duration::from_secs(args.find_for))
        .await;
    let registered = match (&result, args.self_app.as_deref()) {
        (Ok(report), Some(me)) if me != link.app.to_string() => {
            // The updater joins the network this run joined.
            let mut net_args = Vec::new();
            if let Some(kind) = &args.network {
                net_args.extend(["--network".to_string(), kind.clone()]);
            }
            if let Some(p) = &args.kad_protocol {
                net_args.extend(["--kad-protocol".to_string(), p.clone()]);
            }
            Some(
                register_updater(
                    &client,
                    link.app,
                    me,
                    report.peers.usable(),
                    client.home().dir(),
                    &net_args,
                )
                .await,
            )
        }
        _ => None,
    };
    client.stop().await;
    if let Some(s) = shower {
        s.abort();
    }
    if open_line.load(Relaxed) {
        say!();
    }
    let outcome = match result {
        Ok(report) => report.outcome,
        Err(ClientError::NoPeers { app, looked }) => {
            return Err(BootstrapError::NoPeers(format!(
                "no peer holds app {app} (looked for {} s); ask for a link with peers in it",
                looked.as_secs()
            )))
        }
        Err(e) => return Err(e.into()),
    };
    finish(&client, link.app, outcome, &args, registered)
}

/// The final line: what was installed, whether the updater was registered,
/// and whether the app started.
fn finish(
    client: &Client,
    app: quince_protocol::root::AppId,
    outcome: Outcome,
    args: &Options,
    registered: Option<Result<String, String>>,
) -> Result<String, BootstrapError> {
    let (version, passed_over) = match outcome {
        Outcome::Installed {
            version,
            passed_over,
            ..
        } => (version, passed_over),
        Outcome::UpToDate(version) => (version, Vec::new()),
        Outcome::RolledBack {
            refused, reason, ..
        } => return Err(BootstrapError::DoesNotStart { refused, reason }),
    };
    let dir = client.apps().dir(&app).join("current");
    for (v, why) in passed_over {
        say!("release {v} does not start ({why}): passed over, and not tried again");
    }
    let mut line = format!("installed app {app} {version} into {}", dir.display());
    match registered {
        Some(Ok(done)) => line.push_str(&format!("; {done}")),
        Some(Err(failed)) => return Err(BootstrapError::After { done: line, failed }),
        None if args.self_app.is_none() && args.from.is_none() => line.push_str(
            "; no updater registered (this build names no Quince release: QUINCE_SELF_APP)",
        ),
        None => {}
    }
    if args.launch {
        match client.command(&app) {
            Ok(mut command) => match command.spawn() {
                Ok(_) => line.push_str(&format!(
                    "; started {}",
                    command.get_program().to_string_lossy()
                )),
                Err(e) => {
                    return Err(BootstrapError::After {
                        done: line,
                        failed: format!("it did not start: {e}"),
                    })
                }
            },
            Err(_) => line.push_str("; no program to start (give --run PATH)"),
        }
    }
    Ok(line)
}
