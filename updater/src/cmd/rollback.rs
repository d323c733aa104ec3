//! `quince rollback`: go back to an app's previous version and pin it there.

use anyhow::Result;

use super::{client, installed_app, AppArgs};

#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    #[command(flatten)]
    app: AppArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn rollback(args: RollbackArgs) -> Result<()> {
    let client = client(&args.app.home)?;
    let app = installed_app(&client, &args.app.app)?;
    let v = client.rollback(&app)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"app": app.to_string(), "current": v.to_string(), "pinned": v.to_string()})
        );
    } else {
        println!("app {app} rolled back to {v} and pinned there (quince pin {app} none to follow releases again)");
    }
    Ok(())
}
