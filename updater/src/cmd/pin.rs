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
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn pin(args: PinArgs) -> Result<()> {
    let client = client(&args.app.home)?;
    let app = installed_app(&client, &args.app.app)?;
    let pinned = match args.version.as_str() {
        "none" => None,
        v => Some(v.parse::<Version>()?),
    };
    client.pin(&app, pinned.as_ref())?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"app": app.to_string(), "pinned": pinned.map(|v| v.to_string())})
        );
    } else if let Some(v) = pinned {
        println!("app {app} pinned at {v} (installed at the next update)");
    } else {
        println!("app {app} follows new releases again");
    }
    Ok(())
}
