//! `quince install`: install an app from its link (or an offline bundle),
//! health-check it, and seed it.

use std::time::Duration;

use anyhow::{bail, Result};
use quince_protocol::cosignature::{WitnessKey, Witnesses};
use quince_updater::install::{Outcome, UpdateOptions};
use quince_updater::link::Link;

use super::{explain, freshness, print_dropped, print_peers_found, report, NetArgs};

#[derive(clap::Args, Debug)]
pub struct InstallArgs {
    #[command(flatten)]
    net: NetArgs,
    /// The app's link: quince://APP_ID, optionally ?peer=ADDR&version=X.Y.Z&channel=NAME.
    link: String,
    /// Follow this release channel (e.g. beta; default stable, or the
    /// link's `channel=`). Installs on any channel also get stable releases;
    /// change it later with `quince channel`.
    #[arg(long)]
    channel: Option<String>,
    /// The program to run and health-check, relative to the app's folder (e.g. bin/app).
    #[arg(long)]
    run: Option<String>,
    /// Seconds a new version must keep running (or exit 0 within) to be kept.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    health_seconds: Option<u64>,
    /// Seconds to look for peers before giving up.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    find_for: u64,
    /// Install from an offline bundle folder (written by `quince share`) with
    /// no network at all; checked against the link's app id like any peer.
    #[arg(long)]
    from: Option<std::path::PathBuf>,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
    /// Make no launcher on PATH and no menu entry (`quince launcher add` later).
    #[arg(long)]
    no_launcher: bool,
    /// The launcher's name (default: the release's short id, else its name).
    #[arg(long, conflicts_with = "no_launcher")]
    launcher_name: Option<String>,
    /// A witness whose cosignature new checkpoints need, as its C2SP verifier
    /// key (printed by `quince witness --print-key`; repeat). Kept for updates.
    #[arg(long)]
    witness: Vec<String>,
    /// How many of the --witness keys must have cosigned (default: all of them).
    #[arg(long)]
    witness_quorum: Option<usize>,
    /// Require a --witness cosignature on the log's head no older than this
    /// many seconds, or install nothing: protection against a peer that shows
    /// an old log (a freeze). Kept as the app's limit: later updates warn
    /// when the head is older (default limit without this: one day).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=315_360_000))]
    witness_max_age: Option<u64>,
}

/// The witness policy given on the command line, if any.
fn witness_policy(keys: &[String], quorum: Option<usize>) -> Result<Option<Witnesses>> {
    if keys.is_empty() {
        if quorum.is_some_and(|q| q > 0) {
            bail!("--witness-quorum needs --witness keys");
        }
        return Ok(None);
    }
    let keys = keys
        .iter()
        .map(|k| WitnessKey::parse(k).map_err(|e| anyhow::anyhow!("witness key {k:?}: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let quorum = quorum.unwrap_or(keys.len());
    if quorum > keys.len() {
        bail!(
            "--witness-quorum {quorum} is more than the {} witnesses given",
            keys.len()
        );
    }
    Ok(Some(Witnesses { keys, quorum }))
}

pub async fn install(args: InstallArgs) -> Result<()> {
    let link: Link = args.link.parse()?;
    if let Some(run) = &args.run {
        quince_updater::install::check_run_command(run)?;
    }
    let mut client = args.net.client()?;
    // A one-shot install exits when done: a DHT record would point at a
    // peer that is gone (`quince update --watch` and `quince seed` announce).
    client.announce(false);
    let options = UpdateOptions {
        run: args.run.clone(),
        health_seconds: args.health_seconds,
        window: 8,
        witnesses: witness_policy(&args.witness, args.witness_quorum)?,
        max_age: args.witness_max_age,
        channel: args
            .channel
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| super::exit::Usage(format!("--channel: {e}")))?,
        ..UpdateOptions::default()
    };
    if args.witness_max_age.is_some() && args.witness.is_empty() {
        bail!("--witness-max-age needs --witness keys: only witnesses' cosignatures carry a time");
    }
    let report_ = match &args.from {
        // No network at all: the folder answers like a peer, verified like one.
        Some(folder) => client.install_from(&link, folder, &options).await?,
        None => {
            let mut config = args.net.config()?;
            config.bootstrap.extend(link.peers.iter().cloned());
            client.start(config).await?;
            let printer = print_peers_found(&client);
            let result = client
                .install(&link, &options, Duration::from_secs(args.find_for))
                .await;
            if let Some(node) = client.node() {
                args.net.remember(node).await;
            }
            client.stop().await;
            printer.finish().await;
            result.map_err(explain)?
        }
    };
    print_dropped(&report_.peers);
    report(
        link.app,
        &report_,
        args.json,
        freshness(client.apps(), &link.app),
    );
    if matches!(report_.outcome, Outcome::RolledBack { current: None, .. }) {
        return Err(super::exit::Refused(format!(
            "app {} was not installed: its release failed the health check",
            link.app
        ))
        .into());
    }
    if !args.no_launcher {
        // The app is installed either way: a launcher that cannot be made is a note.
        match super::launcher::add(&client, &link.app, args.launcher_name.as_deref()) {
            Ok(created) if !args.json => super::launcher::print_created(&created),
            Ok(_) => {}
            Err(e) => super::note(&format!(
                "no launcher: {}",
                quince_store::cli::error_chain(e.as_ref())
            )),
        }
    }
    Ok(())
}
