//! `quince network`: shows and edits the network file (which DHT to join,
//! through which bootstrap peers), like `ipfs bootstrap`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use quince_updater::network::{self, NetworkFile};

/// Show or change the network settings: which DHT, which bootstrap peers.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// The network file (default: $QUINCE_CONFIG, else $XDG_CONFIG_HOME/quince/network.json).
    #[arg(long, env = network::CONFIG_ENV, global = true)]
    config: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Print the network a node would join: the file, the bootstrap list,
    /// the Kademlia protocol, the DHT mode, and any problem with the file.
    Show {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Add bootstrap peers (addresses ending in /p2p/PEER_ID). The first
    /// change copies the built-in list into the file.
    Add {
        /// The peers.
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// Remove bootstrap peers, or all of them with --all.
    Remove {
        /// The peers, as `show` prints them.
        addresses: Vec<String>,
        /// Remove every peer (a private network's list then starts empty).
        #[arg(long, conflicts_with = "addresses")]
        all: bool,
    },
    /// Join the public libp2p DHT, or a private one (only your own peers).
    Use {
        /// public or private.
        #[arg(value_parser = ["public", "private"])]
        network: String,
    },
    /// Forget the file's bootstrap list and use the built-in one again.
    Reset,
}

pub fn run(args: Args) -> Result<()> {
    let path = args
        .config
        .or_else(network::default_path)
        .context("no place for the network file: set QUINCE_CONFIG or HOME")?;
    match args.action {
        Action::Show { json } => show(&path, json),
        Action::Add { addresses } => {
            let mut file = NetworkFile::load(&path)?;
            let added = file.add(&addresses)?;
            file.save(&path)?;
            println!("added {added} peer(s) to {}", path.display());
            Ok(())
        }
        Action::Remove { addresses, all } => {
            if addresses.is_empty() && !all {
                anyhow::bail!("name the peers to remove, or --all");
            }
            let mut file = NetworkFile::load(&path)?;
            let removed = file.remove(&addresses, all);
            file.save(&path)?;
            println!("removed {removed} peer(s) from {}", path.display());
            if removed < addresses.len() {
                eprintln!("quince: some of the addresses given were not in the list (see quince network show)");
            }
            Ok(())
        }
        Action::Use { network } => {
            let mut file = NetworkFile::load(&path)?;
            file.network = Some(network.clone());
            file.save(&path)?;
            println!(
                "joining the {network} network from now on ({})",
                path.display()
            );
            Ok(())
        }
        Action::Reset => {
            let mut file = NetworkFile::load(&path)?;
            file.bootstrap = None;
            file.save(&path)?;
            println!(
                "using the built-in bootstrap list again ({})",
                path.display()
            );
            Ok(())
        }
    }
}

fn show(path: &std::path::Path, json: bool) -> Result<()> {
    let (file, mut warnings) = NetworkFile::load_lenient(path);
    let (net, more) = file.resolve(path, &network::Overrides::default());
    warnings.extend(more);
    let source = if net.built_in {
        "built-in"
    } else {
        "network file"
    };
    if json {
        let v = serde_json::json!({
            "file": path.display().to_string(),
            "file_exists": path.exists(),
            "network": net.kind.to_string(),
            "kad_protocol": net.kad_protocol,
            "dht": net.dht.to_string(),
            "bootstrap": net.bootstrap.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "bootstrap_source": source,
            "relays": net.relays.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "private_addresses_reachable": net.private_addresses_reachable,
            "warnings": warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        println!("{v}");
        return Ok(());
    }
    let exists = if path.exists() {
        ""
    } else {
        " (not written yet: defaults)"
    };
    // One write, whose failure (a reader like `head` that stopped) is not
    // an error: `println!` panics on a closed pipe.
    let mut text = format!("file:          {}{exists}\n", path.display());
    text.push_str(&format!("network:       {}\n", net.kind));
    text.push_str(&format!("kad protocol:  {}\n", net.kad_protocol));
    text.push_str(&format!("dht mode:      {}\n", net.dht));
    text.push_str(&format!(
        "bootstrap ({source}, {} peer(s)):\n",
        net.bootstrap.len()
    ));
    for a in &net.bootstrap {
        text.push_str(&format!("  {a}\n"));
    }
    if !net.relays.is_empty() {
        text.push_str("relays:\n");
        for a in &net.relays {
            text.push_str(&format!("  {a}\n"));
        }
    }
    {
        use std::io::Write as _;
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    for w in warnings {
        eprintln!("quince: warning: {w}");
    }
    Ok(())
}
