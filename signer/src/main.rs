//! `quince-signer`: the keyholders' command-line tool. Parses arguments, runs one
//! subcommand from `cmd/`, and turns its result into an exit code and one clear
//! line on error.

#![forbid(unsafe_code)]

mod cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Hold a share of an app's signing key and sign its releases with the other
/// keyholders (FROST, any 3 of 5). Messages between keyholders are files: copy
/// them by USB stick, mail or chat; nothing here needs a network.
#[derive(Parser, Debug)]
#[command(name = "quince-signer", version, about, long_about = None)]
struct Cli {
    /// Keyholder folder (default: $XDG_DATA_HOME/quince/signer). Also QUINCE_SIGNER_HOME.
    #[arg(long, global = true, env = "QUINCE_SIGNER_HOME")]
    home: Option<PathBuf>,
    /// Read the passphrase from this file instead of QUINCE_PASSPHRASE or a prompt.
    #[arg(long, global = true)]
    passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create your keyholder identity and print your card (share it with the others).
    Init(cmd::init::Args),
    /// Put the keyholders' cards in order for a key generation.
    Roster(cmd::roster::Args),
    /// Dealerless key generation, in three steps: round1, round2, finish.
    #[command(subcommand)]
    Dkg(cmd::dkg::Command),
    /// Print the 24-word backup of one of your key shares.
    Backup(cmd::backup::BackupArgs),
    /// Rebuild a key share from its 24-word backup.
    Restore(cmd::backup::RestoreArgs),
    /// Sign a checkpoint or a rotation with the other keyholders.
    #[command(subcommand)]
    Sign(cmd::sign::Command),
    /// Answer signing requests from a coordinator over the network (libp2p).
    Serve(cmd::serve::Args),
    /// Check a signing transcript and print which keyholders signed.
    Transcript(cmd::transcript::Args),
    /// Show an app root: app id, group key, verifier key, fingerprint.
    Inspect(cmd::inspect::Args),
}

fn main() {
    quince_store::cli::exit_on_panic();
    let cli = Cli::parse();
    let ctx = cmd::Context {
        home: quince_signer::home::Home::new(cli.home),
        passphrase_file: cli.passphrase_file,
    };
    let result = match cli.command {
        Command::Init(a) => cmd::init::run(&ctx, a),
        Command::Roster(a) => cmd::roster::run(a),
        Command::Dkg(c) => cmd::dkg::run(&ctx, c),
        Command::Backup(a) => cmd::backup::backup(&ctx, a),
        Command::Restore(a) => cmd::backup::restore(&ctx, a),
        Command::Sign(c) => cmd::sign::run(&ctx, c),
        Command::Serve(a) => cmd::serve::run(&ctx, a),
        Command::Transcript(a) => cmd::transcript::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
    };
    if let Err(e) = result {
        eprintln!(
            "quince-signer: error: {}",
            quince_store::cli::error_chain(e.as_ref())
        );
        std::process::exit(1);
    }
}
