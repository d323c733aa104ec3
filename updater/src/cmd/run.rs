//! `quince run`: run an installed app's current version.

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
    let status = client.run(&app, &args.args)?;
    std::process::exit(status.code().unwrap_or(1));
}
