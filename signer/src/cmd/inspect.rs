//! `quince-signer inspect`: what a root file says, for people and programs.

use std::path::PathBuf;

use anyhow::Result;

use super::read_root;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The root file.
    #[arg(default_value = "root.bin")]
    root: PathBuf,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let root = read_root(&args.root)?;
    let app = root.app_id();
    let group = hex::encode(root.group_key().as_bytes());
    let vkey = root.checkpoint_verifier(&app).to_text();
    if args.json {
        let participants: Vec<_> = root
            .participants()
            .iter()
            .map(|p| serde_json::json!({ "index": p.id, "verifying_share": hex::encode(p.verifying_share) }))
            .collect();
        let v = serde_json::json!({
            "name": root.name(), "app_id": app.to_string(), "origin": app.origin(),
            "threshold": root.threshold(), "group_key": group, "verifier_key": vkey,
            "fingerprint": root.fingerprint(), "participants": participants,
        });
        println!("{v}");
    } else {
        println!("name:         {}", root.name());
        println!("app id:       {app}  (if this is the app's first root)");
        println!(
            "threshold:    {} of {}",
            root.threshold(),
            root.participants().len()
        );
        println!("group key:    {group}");
        println!("verifier key: {vkey}");
        println!("fingerprint:  {}", root.fingerprint());
    }
    Ok(())
}
