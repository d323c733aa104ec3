//! `quince verify`: re-hash an installed app against its signed release.

use anyhow::Result;

use super::{client, installed_app, AppArgs};

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    app: AppArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Re-hashes an installed app against its signed manifest; exit 1 if any file differs.
pub fn verify(args: VerifyArgs) -> Result<()> {
    let client = client(&args.app.home)?;
    let app = installed_app(&client, &args.app.app)?;
    let (version, differences) = client.verify(&app)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "app": app.to_string(), "version": version.to_string(), "intact": differences.is_empty(),
                "differences": differences.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        );
    } else if differences.is_empty() {
        println!("app {app} {version}: every file matches the signed release");
    } else {
        for d in &differences {
            println!("{d}");
        }
    }
    if !differences.is_empty() {
        return Err(super::exit::Refused(format!(
            "app {app} {version}: {} file(s) differ from the signed release (quince repair puts them back)",
            differences.len()
        ))
        .into());
    }
    Ok(())
}
