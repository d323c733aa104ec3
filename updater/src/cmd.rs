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
    /// Address to listen on (repeat for several).
    #[arg(long, default_value = "/ip4/0.0.0.0/tcp/0")]
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
            ..NodeConfig::default()
        })
    }
}
