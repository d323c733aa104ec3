//! One module per subcommand, plus the network options they share.

pub mod fetch;
pub mod seed;

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
    /// A peer to join the DHT through, ending in /p2p/PEER_ID (repeat).
    #[arg(long)]
    bootstrap: Vec<String>,
    /// File holding this node's identity (created on first use).
    #[arg(long)]
    identity: Option<PathBuf>,
    /// Kademlia protocol name (/ipfs/kad/1.0.0 joins the public libp2p DHT).
    #[arg(long, default_value = quince_updater::node::DEFAULT_KAD_PROTOCOL)]
    kad_protocol: String,
    /// Seconds before a request to one peer gives up.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Relay circuits for peers behind NATs (for a node others can reach).
    #[arg(long)]
    relay_server: bool,
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
    pub fn config(&self) -> Result<NodeConfig> {
        let parse = |v: &[String]| {
            v.iter()
                .map(|a| a.parse::<Multiaddr>())
                .collect::<Result<Vec<_>, _>>()
        };
        let mut bootstrap = parse(&self.bootstrap)?;
        bootstrap.extend(COMPILED_BOOTSTRAP.iter().filter_map(|a| a.parse().ok()));
        let keypair = match &self.identity {
            Some(path) => Some(quince_updater::load_or_create_identity(path)?),
            None => None,
        };
        Ok(NodeConfig {
            listen: parse(&self.listen)?,
            bootstrap,
            kad_protocol: self.kad_protocol.clone(),
            request_timeout: Duration::from_secs(self.timeout),
            keypair,
            relay_server: self.relay_server,
            relays: parse(&self.relay)?,
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
pub async fn until_stopped(node: &quince_updater::Node) -> Result<()> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut seen = std::collections::HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        #[cfg(unix)]
        let terminated = term.recv();
        #[cfg(not(unix))]
        let terminated = std::future::pending::<Option<()>>();
        tokio::select! {
            r = tokio::signal::ctrl_c() => { r?; break; }
            _ = terminated => break,
            _ = tick.tick() => {
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
