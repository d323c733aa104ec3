//! `quince run`: run an installed app's current version.

#[cfg(not(unix))]
use anyhow::Context as _;
use anyhow::Result;

use super::{client, installed_app, AppArgs};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    app: AppArgs,
    /// Arguments for the app.
    #[arg(last = true)]
    args: Vec<String>,
}

pub fn run(args: RunArgs) -> Result<()> {
    let client = client(&args.app.home)?;
    let app = installed_app(&client, &args.app.app)?;
    let mut command = client.command(&app)?;
    command.args(&args.args);
    // The app takes this process's place: signals, exit status and the
    // terminal are its own, and nothing of Quince stays in memory.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let error = command.exec();
        anyhow::bail!(
            "starting {}: {error}",
            command.get_program().to_string_lossy()
        );
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .with_context(|| format!("starting {}", command.get_program().to_string_lossy()))?;
        std::process::exit(status.code().unwrap_or(1));
    }
}
