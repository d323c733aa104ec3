//! `quince-packager`: the publisher's tool. Parses arguments, runs one
//! subcommand from `cmd/`, and turns its result into an exit code and one clear
//! line on error.

#![forbid(unsafe_code)]

mod cmd;

use clap::{Parser, Subcommand};

/// Turn a folder into a signed Quince release: build (chunks and manifest),
/// release (append to the app's log, ready to sign), publish (attach the
/// keyholders' signature). Also diff, inspect and unpack releases.
#[derive(Parser, Debug)]
#[command(name = "quince-packager", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create an app's empty log from its root (from the keyholders' key generation).
    Init(cmd::log::InitArgs),
    /// Write or check a release folder's app file (.quince/app): name,
    /// short id, command, icon, menu categories, health check.
    App(cmd::app::Args),
    /// Pack folders into the store and write the release manifest.
    Build(cmd::build::Args),
    /// Append a release for a manifest to the log; prints the checkpoint to sign.
    Release(cmd::log::ReleaseArgs),
    /// Offer a released version on another channel (a tested beta to
    /// stable): the same manifest, nothing rebuilt; prints the checkpoint to sign.
    Promote(cmd::log::PromoteArgs),
    /// Change the share of a channel's installs offered a version (a staged
    /// rollout step); prints the checkpoint to sign.
    Rollout(cmd::log::RolloutArgs),
    /// Stop offering a version on a channel (rollout 0%): new installs do
    /// not get it, no one more is updated to it, installs on it are told.
    Halt(cmd::log::HaltArgs),
    /// Append a signer rotation (the entry from `quince-signer sign aggregate`);
    /// prints the checkpoint the CURRENT keyholders sign.
    Rotate(cmd::log::RotateArgs),
    /// Attach the keyholders' signed checkpoint and publish the staged release.
    Publish(cmd::log::PublishArgs),
    /// Drop a staged release that will not be signed.
    Abandon(cmd::log::LogArg),
    /// Show the log: size, releases, anything staged.
    Status(cmd::log::StatusArgs),
    /// Compare two manifests: files added, changed, removed, and download sizes.
    Diff(cmd::inspect::DiffArgs),
    /// Show a manifest; optionally write SHA256SUMS for `sha256sum -c`.
    Inspect(cmd::inspect::InspectArgs),
    /// Write a manifest's files for one platform into a new folder (verified).
    Unpack(cmd::inspect::UnpackArgs),
}

fn main() {
    quince_store::cli::exit_on_panic();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(a) => cmd::log::init(a),
        Command::App(a) => cmd::app::run(a),
        Command::Build(a) => cmd::build::run(a),
        Command::Release(a) => cmd::log::release(a),
        Command::Rotate(a) => cmd::log::rotate(a),
        Command::Promote(a) => cmd::log::promote(a),
        Command::Rollout(a) => cmd::log::rollout(a),
        Command::Halt(a) => cmd::log::halt(a),
        Command::Publish(a) => cmd::log::publish(a),
        Command::Abandon(a) => cmd::log::abandon(a),
        Command::Status(a) => cmd::log::status(a),
        Command::Diff(a) => cmd::inspect::diff(a),
        Command::Inspect(a) => cmd::inspect::inspect(a),
        Command::Unpack(a) => cmd::inspect::unpack(a),
    };
    if let Err(e) = result {
        eprintln!(
            "quince-packager: error: {}",
            quince_store::cli::error_chain(e.as_ref())
        );
        std::process::exit(1);
    }
}
