//! `quince`: the client. Parses arguments, runs one subcommand from `cmd/`, and
//! turns its result into an exit code and one clear line on error.

#![forbid(unsafe_code)]

mod cmd;

use clap::{Parser, Subcommand};

/// Quince: get apps from peers, verify them, and pass them on.
#[derive(Parser, Debug)]
#[command(name = "quince", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node that serves apps' logs and content to peers.
    Seed(cmd::seed::Args),
    /// Fetch an app's newest release from peers, verify it, and unpack it.
    Fetch(cmd::fetch::Args),
}

fn main() {
    let cli = Cli::parse();
    // Diagnostics on stderr, quiet unless RUST_LOG asks (e.g. RUST_LOG=libp2p_dcutr=debug).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("quince: error: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Seed(a) => cmd::seed::run(a).await,
            Command::Fetch(a) => cmd::fetch::run(a).await,
        }
    });
    if let Err(e) = result {
        eprintln!("quince: error: {e:#}");
        std::process::exit(1);
    }
}
