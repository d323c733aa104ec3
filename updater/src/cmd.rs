//! One module per subcommand, plus what they share: the network options,
//! the home folder, app arguments and how outcomes are printed.

pub mod audit;
pub mod fetch;
pub mod install;
pub mod list;
pub mod pin;
pub mod rollback;
pub mod run;
pub mod seed;
pub mod share;
pub mod update;
pub mod verify;
pub mod witness;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use libp2p::Multiaddr;
use quince_protocol::root::AppId;
use quince_updater::home::{Home, HomeConfig};
use quince_updater::install::Outcome;
use quince_updater::link::Link;
use quince_updater::node::parse_addresses;
use quince_updater::NodeConfig;

/// Peers compiled into this build to join the DHT through. Empty: Quince has no
/// public infrastructure yet; pass `--bootstrap` (or peers in a link).
pub const COMPILED_BOOTSTRAP: &[&str] = &[];

#[derive(clap::Args, Debug, Clone)]
pub struct NetArgs {
    /// Address to listen on (repeat for several; default: any port, TCP and QUIC).
    #[arg(long, default_values = ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"])]
    listen: Vec<String>,
    /// A peer to join the DHT through, ending in /p2p/PEER_ID (repeat). Given,
    /// it replaces the built-in list, config.json's list and remembered peers.
    #[arg(long)]
    bootstrap: Vec<String>,
    /// Quince's folder for this user: the node identity, peers remembered from
    /// the last run (peers.json) and an optional config.json.
    #[arg(long, env = "QUINCE_HOME")]
    home: Option<PathBuf>,
    /// File holding this node's identity (default: HOME/identity; created on first use).
    #[arg(long)]
    identity: Option<PathBuf>,
    /// Neither use nor update the peers remembered from earlier runs.
    #[arg(long)]
    no_remember: bool,
    /// Kademlia protocol name (/ipfs/kad/1.0.0 joins the public libp2p DHT).
    #[arg(long, default_value = quince_updater::node::DEFAULT_KAD_PROTOCOL)]
    kad_protocol: String,
    /// Seconds before a request to one peer gives up.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Never relay for peers behind NATs (by default a node relays once it
    /// knows it is reachable: an --external address or AutoNAT's verdict).
    #[arg(long)]
    no_relay_server: bool,
    /// A relay to keep a reservation on, ending in /p2p/PEER_ID (repeat). Without
    /// one, a node that AutoNAT finds unreachable picks connected relays itself.
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
    /// Take part in the DHT as a client only (for nodes others cannot dial).
    #[arg(long)]
    dht_client: bool,
}

impl NetArgs {
    /// The user's Quince folder.
    pub fn home(&self) -> Result<Home> {
        Ok(Home::or_default(self.home.clone())?)
    }

    fn remembered(&self) -> Vec<Multiaddr> {
        match self.home() {
            Ok(home) if !self.no_remember => home.remembered_peers(),
            _ => Vec::new(),
        }
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

    /// The node's settings: flags, then `config.json`, then the built-in list.
    pub fn config(&self) -> Result<NodeConfig> {
        let parse = |v: &[String]| parse_addresses(v).map_err(anyhow::Error::from);
        let home = self.home().ok();
        let file = match &home {
            Some(h) => h.config()?,
            None => HomeConfig::default(),
        };
        let bootstrap = if self.bootstrap.is_empty() {
            let mut b = match &file.bootstrap {
                Some(list) => list.clone(),
                None => parse(
                    &COMPILED_BOOTSTRAP
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>(),
                )?,
            };
            b.extend(self.remembered());
            b
        } else {
            parse(&self.bootstrap)?
        };
        let keypair = match (&self.identity, &home) {
            (Some(path), _) => Some(quince_updater::load_or_create_identity(path)?),
            (None, Some(h)) => Some(h.identity()?),
            (None, None) => None,
        };
        let mut relays = file.relays;
        relays.extend(parse(&self.relay)?);
        Ok(NodeConfig {
            listen: parse(&self.listen)?,
            bootstrap,
            kad_protocol: self.kad_protocol.clone(),
            request_timeout: Duration::from_secs(self.timeout),
            keypair,
            relay_server: !self.no_relay_server,
            relays,
            external_addresses: parse(&self.external)?,
            mdns: !self.no_mdns,
            private_addresses_reachable: self.private_addresses_reachable,
            dht_server: !self.dht_client,
            ..NodeConfig::default()
        })
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
        "nat": status.nat,
        "lan_peers": status.lan_peers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
    })
}

/// An installed app, named on the command line.
#[derive(clap::Args, Debug)]
pub struct AppArgs {
    /// Quince's folder for this user.
    #[arg(long, env = "QUINCE_HOME")]
    pub home: Option<PathBuf>,
    /// The app id (or its link).
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

/// The client over `--home` (or `$QUINCE_HOME`, or the default folder).
pub fn client(home: &Option<PathBuf>) -> Result<quince_updater::Client> {
    let home = Home::or_default(home.clone())?;
    Ok(quince_updater::Client::open(home.dir())?)
}

/// Prints what an install or update did (one line, or JSON).
pub fn report(app: AppId, outcome: &Outcome, json: bool) {
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

/// Prints the peers a fetch left out, and why.
pub fn print_dropped(peers: &quince_updater::fetch::Peers) {
    for (p, why) in peers.dropped() {
        eprintln!("dropped peer {p}: {why}");
    }
}

/// Prints "N peer(s) for app A" to stderr as the client finds peers.
pub fn print_peers_found(client: &quince_updater::Client) -> tokio::task::JoinHandle<()> {
    let mut events = client.events();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if let quince_updater::Event::PeersFound { app, peers } = event {
                eprintln!("{peers} peer(s) for app {app}");
            }
        }
    })
}

/// The error for an app no peer was found for, with what to do.
pub fn explain(e: quince_updater::ClientError) -> anyhow::Error {
    match e {
        e @ quince_updater::ClientError::NoPeers { .. } => {
            anyhow::anyhow!("{e}: add peers to the link or --bootstrap")
        }
        e => e.into(),
    }
}
