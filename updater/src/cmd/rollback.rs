//! `quince rollback`: go back to an app's previous version and pin it there.

use anyhow::Result;

use super::{client, installed_app, AppArgs};

pub fn rollback(args: AppArgs) -> Result<()> {
    let client = client(&args.home)?;
    let app = installed_app(&client, &args.app)?;
    let v = client.rollback(&app)?;
    println!("app {app} rolled back to {v} and pinned there (quince pin {app} none to follow releases again)");
    Ok(())
}
