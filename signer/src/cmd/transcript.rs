//! `quince-signer transcript`: which keyholders signed, checked share by share.

use std::path::PathBuf;

use anyhow::Result;
use quince_signer::signing::{self, Transcript};

use super::{read_json, read_root};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The root the signature is under.
    #[arg(long, default_value = "root.bin")]
    root: PathBuf,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// The transcript file.
    transcript: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let root = read_root(&args.root)?;
    let transcript: Transcript = read_json(&args.transcript)?;
    let signers = signing::verify_transcript(&root, &transcript)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "valid": true, "signers": signers, "request": transcript.request.id })
        );
    } else {
        let who: Vec<String> = signers.iter().map(u16::to_string).collect();
        println!(
            "valid: signed by participants {} of {}",
            who.join(", "),
            root.participants().len()
        );
    }
    Ok(())
}
