//! One module per subcommand, plus the network options they share.

pub mod audit;
pub mod fetch;
pub mod install;
pub mod seed;
pub mod witness;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use libp2p::Multiaddr;
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

/// `HOME/config.json`: settings that replace the built-in defaults (flags
/// replace both).
#[derive(serde::Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// Replaces the built-in bootstrap list.
    bootstrap: Option<Vec<String>>,
    /// Relays to keep a reservation on.
    #[serde(default)]
    relays: Vec<String>,
}

/// How many remembered peers are kept.
const REMEMBER: usize = 64;

impl NetArgs {
    /// The user's Quince folder, if any.
    pub fn home(&self) -> Option<PathBuf> {
        self.home
            .clone()
            .or_else(quince_updater::install::default_home)
    }

    fn remembered(&self) -> Vec<Multiaddr> {
        let Some(home) = self.home().filter(|_| !self.no_remember) else {
            return Vec::new();
        };
        std::fs::read(home.join("peers.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok())
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    /// Remembers the DHT peers `node` met, newest first, for the next start.
    pub async fn remember(&self, node: &quince_updater::Node) {
        let Some(home) = self.home().filter(|_| !self.no_remember) else {
            return;
        };
        let mut all: Vec<String> = node
            .status()
            .await
            .known_peers
            .iter()
            .map(|a| a.to_string())
            .collect();
        for old in self.remembered() {
            let old = old.to_string();
            if !all.contains(&old) {
                all.push(old);
            }
        }
        all.truncate(REMEMBER);
        let Ok(json) = serde_json::to_vec_pretty(&all) else {
            return;
        };
        let tmp = home.join("peers.json.tmp");
        let written = std::fs::create_dir_all(&home)
            .and_then(|()| std::fs::write(&tmp, json))
            .and_then(|()| std::fs::rename(&tmp, home.join("peers.json")));
        if let Err(e) = written {
            eprintln!(
                "quince: could not remember peers in {}: {e}",
                home.display()
            );
        }
    }

    pub fn config(&self) -> Result<NodeConfig> {
        let parse = |v: &[String]| {
            v.iter()
                .map(|a| {
                    a.parse::<Multiaddr>()
                        .map_err(|e| anyhow::anyhow!("bad address {a:?}: {e}"))
                })
                .collect::<Result<Vec<_>>>()
        };
        let home = self.home();
        let file: ConfigFile = match home.as_ref().map(|h| h.join("config.json")) {
            Some(path) if path.exists() => serde_json::from_slice(&std::fs::read(&path)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            _ => ConfigFile::default(),
        };
        let bootstrap = if self.bootstrap.is_empty() {
            let mut b = match &file.bootstrap {
                Some(list) => parse(list)?,
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
        let identity = self
            .identity
            .clone()
            .or_else(|| home.as_ref().map(|h| h.join("identity")));
        let keypair = match identity {
            Some(path) => Some(quince_updater::load_or_create_identity(&path)?),
            None => None,
        };
        let mut relays = parse(&file.relays)?;
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
