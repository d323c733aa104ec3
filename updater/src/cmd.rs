//! One module per subcommand, plus what they share: the network options,
//! the home folder, app arguments and how outcomes are printed.

pub mod audit;
pub mod channel;
pub mod docs;
pub mod exit;
pub mod fetch;
pub mod install;
pub mod launcher;
pub mod lifecycle;
pub mod list;
pub mod network;
pub mod paths;
pub mod pin;
pub mod repair;
pub mod rollback;
pub mod run;
pub mod seed;
pub mod service;
pub mod share;
pub mod update;
pub mod verify;
pub mod verify_installer;
pub mod witness;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use libp2p::Multiaddr;
use quince_protocol::root::AppId;
use quince_updater::home::Home;
use quince_updater::install::Outcome;
use quince_updater::link::Link;
use quince_updater::network::{self as net_settings, Network};
use quince_updater::node::parse_addresses;
use quince_updater::NodeConfig;

#[derive(clap::Args, Debug, Clone)]
pub struct NetArgs {
    /// Address to listen on (repeat for several; default: any port, TCP and QUIC).
    #[arg(long, default_values = ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"])]
    listen: Vec<String>,
    /// Which DHT to join: the public libp2p DHT (built-in bootstrap list), or a
    /// private one (only the peers you give). Default: the network file's, else public.
    #[arg(long, env = net_settings::NETWORK_ENV, value_parser = ["public", "private"])]
    network: Option<String>,
    /// The network file (see `quince network show`).
    #[arg(long, env = net_settings::CONFIG_ENV)]
    config: Option<PathBuf>,
    /// A peer to join the DHT through, ending in /p2p/PEER_ID (repeat). Given,
    /// it replaces the network file's list and the built-in one for this run.
    #[arg(long)]
    bootstrap: Vec<String>,
    /// Quince's folder for this user: the node identity and the peers
    /// remembered from earlier runs (peers.json).
    #[arg(long, env = "QUINCE_HOME")]
    home: Option<PathBuf>,
    /// File holding this node's identity (default: HOME/identity; created on first use).
    #[arg(long)]
    identity: Option<PathBuf>,
    /// Neither use nor update the peers remembered from earlier runs.
    #[arg(long)]
    no_remember: bool,
    /// Kademlia protocol name (default: /ipfs/kad/1.0.0 on the public network,
    /// /quince/kad/1.0.0 on a private one).
    #[arg(long)]
    kad_protocol: Option<String>,
    /// How to take part in the DHT: client (ask only), auto (serve once a
    /// public address is confirmed) or server. Default: client on the public
    /// network, server on a private one.
    #[arg(long, value_parser = ["client", "auto", "server"])]
    dht: Option<String>,
    /// Seconds before a request to one peer gives up.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    timeout: u64,
    /// Never relay for peers behind NATs (by default a node relays once it
    /// knows it is reachable: an --external address or AutoNAT's verdict;
    /// peers of its apps may reserve freely, all others share 8 an hour).
    #[arg(long)]
    no_relay_server: bool,
    /// A relay to keep a reservation on, ending in /p2p/PEER_ID (repeat). Without
    /// one, a node that is not reachable picks relays among the peers it meets.
    #[arg(long)]
    relay: Vec<String>,
    /// An address this node is reachable at, e.g. a server's public address (repeat).
    #[arg(long)]
    external: Vec<String>,
    /// Do not look for peers on the local network (mDNS).
    #[arg(long)]
    no_mdns: bool,
    /// Treat private (RFC 1918) addresses as reachable when testing reachability
    /// (a LAN or a test lab whose "public" side uses private addresses).
    #[arg(long)]
    private_addresses_reachable: bool,
}

impl NetArgs {
    /// The user's Quince folder.
    pub fn home(&self) -> Result<Home> {
        Ok(Home::or_default(self.home.clone())?)
    }

    /// The network to join: flags, then the network file, then the
    /// built-in defaults; each problem with the file is printed as a warning.
    pub fn network(&self) -> Result<Network> {
        let flags = net_settings::Overrides {
            kind: self
                .network
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?,
            bootstrap: self
                .bootstrap
                .iter()
                .map(|a| net_settings::peer_address(a))
                .collect::<Result<_, _>>()
                .map_err(anyhow::Error::msg)?,
            kad_protocol: self.kad_protocol.clone(),
            dht: self
                .dht
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?,
        };
        let (net, warnings) = net_settings::load(self.config.as_deref(), &flags);
        for w in warnings {
            eprintln!("quince: warning: {w}");
        }
        Ok(net)
    }

    fn remembered(&self) -> Vec<Multiaddr> {
        let Ok(home) = self.home() else {
            return Vec::new();
        };
        if self.no_remember {
            return Vec::new();
        }
        let (cache, warning) = home.peer_cache();
        if let Some(w) = warning {
            eprintln!("quince: warning: {w}");
        }
        cache.dht
    }

    /// The client over this home folder.
    pub fn client(&self) -> Result<quince_updater::Client> {
        Ok(quince_updater::Client::open(self.home()?.dir())?)
    }

    /// Remembers the DHT peers `node` met, newest first, for the next start.
    pub async fn remember(&self, node: &quince_updater::Node) {
        let Ok(home) = self.home() else {
            return;
        };
        if self.no_remember {
            return;
        }
        if let Err(e) = home.remember_peers(&node.status().await.known_peers) {
            eprintln!("quince: could not remember peers: {e}");
        }
    }

    /// The node's settings: flags, then the network file, then the
    /// built-in list; remembered peers are dialled first (unless
    /// `--bootstrap` replaces the list).
    pub fn config(&self) -> Result<NodeConfig> {
        let parse = |v: &[String]| parse_addresses(v).map_err(anyhow::Error::from);
        let net = self.network()?;
        let home = self.home().ok();
        let remembered = if self.bootstrap.is_empty() {
            self.remembered()
        } else {
            Vec::new()
        };
        let keypair = match (&self.identity, &home) {
            (Some(path), _) => Some(quince_updater::load_or_create_identity(path)?),
            (None, Some(h)) => Some(h.identity()?),
            (None, None) => None,
        };
        let mut config = NodeConfig {
            listen: parse(&self.listen)?,
            request_timeout: Duration::from_secs(self.timeout),
            keypair,
            relay_server: !self.no_relay_server,
            relays: parse(&self.relay)?,
            external_addresses: parse(&self.external)?,
            mdns: !self.no_mdns,
            private_addresses_reachable: self.private_addresses_reachable,
            ..NodeConfig::default()
        };
        net.apply(&mut config, &remembered, &[]);
        Ok(config)
    }
}

/// Says what an announcement did: to how many DHT nodes, reachable at
/// which addresses, or that nobody can reach this node yet.
pub fn print_announced(
    app: AppId,
    result: Result<quince_updater::node::Announced, quince_updater::NetError>,
) {
    match result {
        Ok(a) if a.reachable() => println!(
            "announced app {app} to {} DHT node(s), reachable at {}",
            a.dht_nodes,
            a.addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
        ),
        Ok(a) if a.addresses.is_empty() => println!(
            "app {app} not announced yet: no address of this node is confirmed reachable (waiting for a relay reservation or a public address; peers given this node's address can still fetch)"
        ),
        Ok(_) => println!(
            "app {app} not announced: no DHT node answered (check the bootstrap list: quince network show)"
        ),
        Err(e) => println!("app {app} not announced: {e}"),
    }
}

/// Waits for Ctrl-C or SIGTERM, printing the node's connectivity as it changes
/// (hole punches, relay reservations, NAT status), then stops the node.
pub async fn until_stopped(node: &quince_updater::Node, net: &NetArgs) -> Result<()> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut seen = std::collections::HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut ticks = 0u64;
    loop {
        #[cfg(unix)]
        let terminated = term.recv();
        #[cfg(not(unix))]
        let terminated = std::future::pending::<Option<()>>();
        tokio::select! {
            r = tokio::signal::ctrl_c() => { r?; break; }
            _ = terminated => break,
            _ = tick.tick() => {
                ticks += 1;
                if ticks % 120 == 20 {
                    net.remember(node).await; // after 10 s, then every minute
                }
                let status = node.status().await;
                let mut lines: Vec<String> = status.reservations.iter().map(|a| format!("reserved relayed address {a}")).collect();
                lines.extend(status.hole_punched.iter().map(|p| format!("hole punched a direct connection with {p}")));
                lines.extend(status.hole_punch_failures.iter().map(|(p, e)| format!("hole punching with {p} failed: {e}")));
                lines.push(format!("reachability: {}", status.nat));
                for line in lines {
                    if seen.insert(line.clone()) {
                        println!("{line}");
                    }
                }
            }
        }
    }
    net.remember(node).await;
    node.shutdown().await;
    Ok(())
}

/// The node's connectivity as JSON (for `--json` outputs and the NAT lab).
pub fn status_json(status: &quince_updater::node::NodeStatus) -> serde_json::Value {
    serde_json::json!({
        "connections": status.connections.iter().map(|c| serde_json::json!({
            "peer": c.peer.to_string(), "address": c.address.to_string(), "relayed": c.relayed,
        })).collect::<Vec<_>>(),
        "hole_punched": status.hole_punched.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "hole_punch_failures": status.hole_punch_failures.iter().map(|(p, e)| serde_json::json!({"peer": p.to_string(), "error": e})).collect::<Vec<_>>(),
        "reservations": status.reservations.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "external_addresses": status.external_addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "nat": status.nat,
        "lan_peers": status.lan_peers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "uploaded_bytes": status.uploaded_bytes,
        "deferred_chunks": status.deferred_chunks,
        "busy_answers": status.busy_answers,
        "held_bytes": status.held_bytes,
        "refused_peers": status.refused_peers,
    })
}

/// An installed app, named on the command line.
#[derive(clap::Args, Debug)]
pub struct AppArgs {
    /// Quince's folder for this user.
    #[arg(long, env = "QUINCE_HOME")]
    pub home: Option<PathBuf>,
    /// The app: its name (as `quince list` shows it), its short id, its id, a unique prefix of the id (4+ hex digits), or its link.
    pub app: String,
}

/// An app id, or the app of a `quince://` link.
pub fn parse_app(text: &str) -> Result<AppId> {
    if text.starts_with(quince_updater::link::SCHEME) {
        return Ok(text.parse::<Link>()?.app);
    }
    text.parse()
        .with_context(|| format!("{text:?} is neither an app id nor a quince:// link"))
}

/// The installed app `text` names: an id, a link, a unique id prefix or a
/// name.
pub fn installed_app(client: &quince_updater::Client, text: &str) -> Result<AppId> {
    if text.starts_with(quince_updater::link::SCHEME) {
        return Ok(text.parse::<Link>()?.app);
    }
    Ok(client.apps().resolve(text)?)
}

/// The client over `--home` (or `$QUINCE_HOME`, or the default folder).
pub fn client(home: &Option<PathBuf>) -> Result<quince_updater::Client> {
    let home = Home::or_default(home.clone())?;
    Ok(quince_updater::Client::open(home.dir())?)
}

/// Whether `app`'s head is confirmed current by its witnesses (none
/// without witnesses, or if its state cannot be read).
pub fn freshness(
    apps: &quince_updater::install::Apps,
    app: &AppId,
) -> Option<quince_updater::install::Freshness> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    apps.state(app).ok().flatten()?.freshness(now)
}

/// Prints what an install or update did (one line, or JSON), and a
/// warning when its head is not confirmed current.
pub fn report(
    app: AppId,
    done: &quince_updater::client::Report,
    json: bool,
    freshness: Option<quince_updater::install::Freshness>,
) {
    let outcome = &done.outcome;
    let fetched = &done.fetched;
    if let Some(warning) = freshness.and_then(|f| f.warning()) {
        eprintln!("quince: warning: app {app}: {warning}");
    }
    // What crossed the network, for an install or update that fetched.
    let moved = (fetched.received > 0).then(|| {
        let patched = match fetched.patched_files {
            0 => String::new(),
            1 => ", 1 file as a patch".into(),
            n => format!(", {n} files as patches"),
        };
        format!(
            " (downloaded {}{patched})",
            quince_updater::client::human_bytes(fetched.received as f64)
        )
    });
    if json {
        let mut v = match outcome {
            Outcome::Installed {
                version,
                previous,
                passed_over,
            } => serde_json::json!({
                "app": app.to_string(), "outcome": "installed", "version": version.to_string(),
                "previous": previous.as_ref().map(ToString::to_string),
                "passed_over": passed_over.iter().map(|(v, why)| serde_json::json!({
                    "version": v.to_string(), "reason": why,
                })).collect::<Vec<_>>(),
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
        if let Some(f) = freshness {
            v["freshness"] = f.to_json();
        }
        v["downloaded"] = serde_json::json!({
            "bytes": fetched.received,
            "chunks": fetched.chunks_done,
            "patched_files": fetched.patched_files,
        });
        println!("{v}");
        return;
    }
    let moved = moved.unwrap_or_default();
    match outcome {
        Outcome::Installed {
            version,
            previous: Some(p),
            ..
        } => {
            println!("updated app {app} from {p} to {version}{moved}")
        }
        Outcome::Installed {
            version,
            previous: None,
            passed_over,
        } => {
            for (v, why) in passed_over {
                println!("app {app}: release {v} failed its health check ({why}); it will not be tried again");
            }
            println!("installed app {app} {version}{moved}")
        }
        Outcome::UpToDate(v) => println!("app {app} is up to date at {v}"),
        Outcome::RolledBack { refused, reason, current } => println!(
            "app {app}: release {refused} failed its health check ({reason}); rolled back to {}; it will not be tried again",
            current.as_ref().map_or("nothing".to_string(), ToString::to_string)
        ),
    }
}

/// Prints the peers a fetch left out, and why.
pub fn print_dropped(peers: &quince_updater::fetch::Peers) {
    for (p, why) in peers.dropped() {
        eprintln!("dropped peer {p}: {why}");
    }
}

/// Prints "N peer(s) for app A" to stderr as the client finds peers.
/// Prints what the client reports while it works: peers found, and the
/// fetch's progress (peers, bytes, rate, time left) as one line kept up to
/// date on a terminal, or a plain line every 5 s (and the last) otherwise.
/// [`Printer::finish`] prints what was already reported, then stops.
pub fn print_peers_found(client: &quince_updater::Client) -> Printer {
    let mut events = client.events();
    let quiet = QUIET.load(std::sync::atomic::Ordering::Relaxed);
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let handle = tokio::spawn(async move {
        let mut shown = Shown::default();
        loop {
            tokio::select! {
                biased;
                event = events.recv() => match event {
                    Ok(_) if quiet => {}
                    Ok(event) => shown.show(event),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                },
                () = stopped.notified() => {
                    while let Ok(event) = events.try_recv() {
                        if !quiet {
                            shown.show(event);
                        }
                    }
                    shown.end();
                    break;
                }
            }
        }
    });
    Printer { handle, stop }
}

/// `--quiet`: no progress lines or notes.
pub static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints a note for people (on standard error), unless `--quiet`.
pub fn note(text: &str) {
    if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("note: {text}");
    }
}

/// The task [`print_peers_found`] started.
pub struct Printer {
    handle: tokio::task::JoinHandle<()>,
    stop: std::sync::Arc<tokio::sync::Notify>,
}

impl Printer {
    /// Prints every event already sent, then stops.
    pub async fn finish(self) {
        self.stop.notify_one();
        let _ = self.handle.await;
    }
}

/// `[#########---------------]  37%`: a bar 24 cells wide.
fn bar(done: u64, total: u64) -> String {
    const WIDTH: u64 = 24;
    let part = |scale: u64| match total {
        0 => 0,
        t => (u128::from(done.min(t)) * u128::from(scale) / u128::from(t)) as u64,
    };
    let filled = part(WIDTH) as usize;
    format!(
        "[{}{}] {:>3}%",
        "#".repeat(filled),
        "-".repeat(WIDTH as usize - filled),
        part(100)
    )
}

/// What the printer has shown so far.
#[derive(Default)]
struct Shown {
    /// When the first progress report came (the rate is the transfer's,
    /// not the search for peers').
    started: Option<std::time::Instant>,
    /// When a plain line was last printed.
    printed: Option<std::time::Instant>,
    /// A terminal line that still needs its end.
    open: bool,
    /// The newest plain line not printed yet.
    last: Option<String>,
}

impl Shown {
    fn show(&mut self, event: quince_updater::Event) {
        use quince_updater::Event;
        use std::io::IsTerminal as _;
        match event {
            Event::PeersFound { app, peers } => eprintln!("{peers} peer(s) for app {app}"),
            Event::Progress { progress, .. } => {
                let began = *self.started.get_or_insert_with(std::time::Instant::now);
                let line = progress.describe(began.elapsed());
                if std::io::stderr().is_terminal() {
                    let bar = bar(progress.bytes_done, progress.bytes_total);
                    eprint!("\r{bar} {line}        ");
                    self.open = true;
                } else if self
                    .printed
                    .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(5))
                {
                    eprintln!("{line}");
                    self.printed = Some(std::time::Instant::now());
                    self.last = None;
                } else {
                    self.last = Some(line);
                }
            }
            Event::Finished { .. } => {
                self.end();
                self.printed = None;
                self.started = None;
            }
            _ => {}
        }
    }

    /// Ends the progress line (a terminal's), or prints the newest plain one.
    fn end(&mut self) {
        if self.open {
            eprintln!();
            self.open = false;
        } else if let Some(line) = self.last.take() {
            eprintln!("{line}");
        }
    }
}

/// The error for an app no peer was found for, with what to do.
pub fn explain(e: quince_updater::ClientError) -> anyhow::Error {
    match e {
        e @ quince_updater::ClientError::NoPeers { .. } => anyhow::Error::new(exit::NoPeers(
            format!("{e}: add peers to the link or --bootstrap"),
        )),
        e => e.into(),
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
