//! `quince pin`: keep an app at a version, or follow releases again.

use anyhow::Result;
use quince_protocol::record::Version;

use super::{client, installed_app, AppArgs};

#[derive(clap::Args, Debug)]
pub struct PinArgs {
    #[command(flatten)]
    app: AppArgs,
    /// The version to stay at, or "none" to follow new releases again.
    version: String,
}

pub fn pin(args: PinArgs) -> Result<()> {
    let client = client(&args.app.home)?;
    let app = installed_app(&client, &args.app.app)?;
    if args.version == "none" {
        client.pin(&app, None)?;
        println!("app {app} follows new releases again");
    } else {
        let v: Version = args.version.parse()?;
        client.pin(&app, Some(&v))?;
        println!("app {app} pinned at {v} (installed at the next update)");
    }
    Ok(())
}
