//! `quince-signer roster`: the ordered list of keyholders for a key generation.

use std::path::PathBuf;

use anyhow::Result;
use quince_signer::dkg::Roster;
use quince_signer::keyholder::Card;

use super::{read_json, write_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Human name of the app.
    #[arg(long)]
    app_name: String,
    /// Signatures needed.
    #[arg(long, default_value_t = 3)]
    threshold: u16,
    /// For a signer rotation: the existing app id that the new key will sign for.
    #[arg(long)]
    rotates_app: Option<String>,
    /// Where to write the roster.
    #[arg(long, default_value = "roster.json")]
    out: PathBuf,
    /// The keyholders' card files, in participant order (1, 2, ...).
    #[arg(required = true)]
    cards: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let cards = args
        .cards
        .iter()
        .map(|p| read_json::<Card>(p))
        .collect::<Result<Vec<_>>>()?;
    let mut roster = Roster::new(&args.app_name, args.threshold, cards)?;
    if let Some(app) = &args.rotates_app {
        roster = roster.rotating(&app.parse()?);
    }
    write_json(&args.out, &roster)?;
    println!(
        "roster for {} ({} of {}) written to {}",
        roster.app_name,
        roster.threshold,
        roster.participants.len(),
        args.out.display()
    );
    for (i, c) in roster.participants.iter().enumerate() {
        println!(
            "  participant {}: {} (card {})",
            i + 1,
            c.name,
            c.fingerprint()
        );
    }
    println!(
        "roster hash: {}  (every keyholder must see the same)",
        roster.hash()
    );
    Ok(())
}
