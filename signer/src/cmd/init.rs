//! `quince-signer init`: a new keyholder identity and its public card.

use anyhow::{bail, Result};
use quince_signer::keyholder::Keyholder;

use super::{write_json, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Your name as the other keyholders know you.
    #[arg(long)]
    name: String,
}

pub fn run(ctx: &Context, args: Args) -> Result<()> {
    if ctx.home.identity().exists() {
        bail!(
            "{} already holds a keyholder identity",
            ctx.home.dir().display()
        );
    }
    let vault = ctx.vault(true)?;
    let keyholder = Keyholder::generate(&args.name)?;
    keyholder.save(&vault, &ctx.home.identity())?;
    let card = keyholder.card();
    write_json(&ctx.home.card(), &card)?;
    println!(
        "keyholder {} created in {}",
        card.name,
        ctx.home.dir().display()
    );
    println!(
        "card: {}  (send this file to the others)",
        ctx.home.card().display()
    );
    println!(
        "card fingerprint: {}  (compare it by voice with each keyholder)",
        card.fingerprint()
    );
    Ok(())
}
