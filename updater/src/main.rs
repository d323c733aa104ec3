//! `quince`: the client. Parses arguments, runs one subcommand from `cmd/`, and
//! turns its result into an exit code and one clear line on error.

#![forbid(unsafe_code)]

mod cmd;

use clap::{CommandFactory as _, Parser, Subcommand};

/// Quince: get apps from peers, verify them, and pass them on.
#[derive(Parser, Debug)]
#[command(name = "quince", version, long_about = None, after_help = cmd::exit::HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// No progress lines or notes: only results and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// More about what happens (-v: the client's steps, -vv: also libp2p's);
    /// RUST_LOG, if set, decides instead. Output never has colour (NO_COLOR
    /// is always honoured).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node that serves apps' logs and content to peers.
    Seed(cmd::seed::Args),
    /// Fetch an app's newest release from peers, verify it, and unpack it.
    Fetch(cmd::fetch::Args),
    /// Install an app from its link, health-check it, and seed it.
    Install(cmd::install::InstallArgs),
    /// Update installed apps (once, or --watch to keep following and seeding).
    Update(cmd::update::UpdateArgs),
    /// Run an installed app's current version.
    Run(cmd::run::RunArgs),
    /// Go back to an app's previous version (and pin it there).
    Rollback(cmd::rollback::RollbackArgs),
    /// Pin an app at a version, or "none" to follow releases again.
    Pin(cmd::pin::PinArgs),
    /// Show or change the release channel an app follows (stable, beta, ...).
    Channel(cmd::channel::ChannelArgs),
    /// List installed apps.
    List(cmd::list::ListArgs),
    /// Write an app to a folder (USB stick) that installs with no network,
    /// for this platform or another (--platform windows-x86_64).
    Share(cmd::share::ShareArgs),
    /// Re-hash an installed app against its signed release; name every file that differs.
    Verify(cmd::verify::VerifyArgs),
    /// Put an installed app's changed or deleted files back as signed (from
    /// the store; missing chunks from peers).
    Repair(cmd::repair::RepairArgs),
    /// Print where Quince keeps everything on this machine.
    Paths(cmd::paths::Args),
    /// An app's launcher on PATH (~/.local/bin) and its menu entry: add or remove.
    Launcher(cmd::launcher::Args),
    /// The background updater as a systemd user service: install, remove,
    /// status (and `run`, what the service runs).
    Service(cmd::service::Args),
    /// Installed apps and the background updater: versions, the service, its log.
    Status(cmd::list::ListArgs),
    /// Remove an installed app: its launcher, menu entry, versions, log and state.
    Remove(cmd::lifecycle::RemoveArgs),
    /// Delete the chunks no installed version needs; prints sizes before and after.
    Gc(cmd::lifecycle::GcArgs),
    /// Check a file (a quince-bootstrap from a shared folder) against Quince's
    /// own signed log: exit 0 only if some release lists its SHA-256.
    VerifyInstaller(cmd::verify_installer::Args),
    /// Check an app's whole release history (signatures, signers, append-only
    /// log, manifests, with --download every file); exit 0 only if all holds.
    Audit(cmd::audit::Args),
    /// Show or change which network to join: public or private, bootstrap peers.
    Network(cmd::network::Args),
    /// Print the shell completion script (bash, zsh, fish, ...), or --install it.
    Completions(cmd::docs::CompletionsArgs),
    /// Write manual pages (quince.1 and one per command) where `man` finds them.
    Man(cmd::docs::ManArgs),
    /// Follow apps' logs as a witness: cosign consistent checkpoints, publish
    /// proof of equivocation.
    Witness(cmd::witness::Args),
}

fn main() {
    // Started with no arguments for a health check (our own release being
    // checked by an older updater): prove the binary runs and stop.
    if std::env::var_os(quince_updater::install::HEALTH_ENV).is_some()
        && std::env::args_os().len() == 1
    {
        println!("quince {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    quince_store::cli::exit_on_panic();
    let cli = Cli::parse();
    // Diagnostics on stderr, quiet unless RUST_LOG asks (e.g. RUST_LOG=libp2p_dcutr=debug).
    cmd::QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    let level = match cli.verbose {
        0 => "error",
        1 => "warn,quince_updater=info,quince_store=info",
        _ => "info,quince_updater=debug,libp2p=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
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
            Command::Network(a) => cmd::network::run(a),
            Command::Fetch(a) => cmd::fetch::run(a).await,
            Command::Install(a) => cmd::install::install(a).await,
            Command::Update(a) => cmd::update::update(a).await,
            Command::Run(a) => cmd::run::run(a),
            Command::Rollback(a) => cmd::rollback::rollback(a),
            Command::Pin(a) => cmd::pin::pin(a),
            Command::Channel(a) => cmd::channel::channel(a),
            Command::List(a) => cmd::list::list(a),
            Command::Share(a) => cmd::share::share(a).await,
            Command::Verify(a) => cmd::verify::verify(a),
            Command::Repair(a) => cmd::repair::repair(a).await,
            Command::Paths(a) => cmd::paths::run(a),
            Command::Launcher(a) => cmd::launcher::run(a),
            Command::Service(a) => cmd::service::run(a).await,
            Command::Status(a) => cmd::service::overview(a),
            Command::Remove(a) => cmd::lifecycle::remove(a),
            Command::Gc(a) => cmd::lifecycle::gc(a),
            Command::VerifyInstaller(a) => cmd::verify_installer::run(a).await,
            Command::Audit(a) => cmd::audit::run(a).await,
            Command::Witness(a) => cmd::witness::run(a).await,
            Command::Completions(a) => cmd::docs::completions(a, Cli::command()),
            Command::Man(a) => cmd::docs::man(a, Cli::command()),
        }
    });
    if let Err(e) = result {
        eprintln!(
            "quince: error: {}",
            quince_store::cli::error_chain(e.as_ref())
        );
        std::process::exit(cmd::exit::code(&e));
    }
}
