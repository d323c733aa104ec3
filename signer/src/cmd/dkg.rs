//! `quince-signer dkg round1|round2|finish`: the dealerless key generation.
//! The secret state between steps is sealed in the keyholder's home.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use quince_protocol::codec::Encode;
use quince_signer::dkg::{
    self, Roster, Round1Message, Round1Pending, Round2Message, Round2Pending,
};
use quince_signer::signing::root_hash;

use super::{expand, read_json, write_json, Context};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Step 1: make your round-1 message; send it to every other keyholder.
    Round1 {
        /// The roster everyone agreed on.
        #[arg(long)]
        roster: PathBuf,
        /// Folder for your message.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Step 2: read everyone's round-1 messages; send each round-2 file to its recipient.
    Round2 {
        #[arg(long)]
        roster: PathBuf,
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Round-1 message files (or folders holding them).
        #[arg(required = true)]
        round1: Vec<PathBuf>,
    },
    /// Step 3: read the round-2 messages addressed to you; store your share and write the app root.
    Finish {
        #[arg(long)]
        roster: PathBuf,
        /// Where to write the app's public root.
        #[arg(long, default_value = "root.bin")]
        root_out: PathBuf,
        /// Round-2 message files (or folders); others' are ignored.
        #[arg(required = true)]
        round2: Vec<PathBuf>,
    },
}

pub fn run(ctx: &Context, command: Command) -> Result<()> {
    let vault = ctx.vault(false)?;
    let keyholder = ctx.keyholder(&vault)?;
    match command {
        Command::Round1 { roster, out } => {
            let roster: Roster = read_json(&roster)?;
            let hash = roster.hash();
            let (pending, message) = dkg::start(&roster, &keyholder)?;
            vault.seal(&ctx.home.dkg_state(&hash, 1), &pending.to_secret_bytes()?)?;
            let file = out.join(format!("round1-{}.json", pending.me()));
            write_json(&file, &message)?;
            println!(
                "participant {}: round-1 message written to {}",
                pending.me(),
                file.display()
            );
            println!("send it to every other keyholder; then run `quince-signer dkg round2` with all of them");
        }
        Command::Round2 {
            roster,
            out,
            round1,
        } => {
            let roster: Roster = read_json(&roster)?;
            let hash = roster.hash();
            let state = ctx.home.dkg_state(&hash, 1);
            let pending = Round1Pending::from_secret_bytes(
                &vault
                    .open(&state)
                    .context("no round-1 state: run `dkg round1` first")?,
            )?;
            let messages = expand(&round1, "round1-")?
                .iter()
                .map(|p| read_json::<Round1Message>(p))
                .collect::<Result<Vec<_>>>()?;
            let (pending2, outgoing) = pending.round2(&keyholder, &messages)?;
            vault.seal(&ctx.home.dkg_state(&hash, 2), &pending2.to_secret_bytes()?)?;
            std::fs::remove_file(&state).ok();
            for m in &outgoing {
                let file = out.join(format!("round2-{}-to-{}.json", m.from, m.to));
                write_json(&file, m)?;
                println!(
                    "round-2 message for participant {}: {} (encrypted to them)",
                    m.to,
                    file.display()
                );
            }
        }
        Command::Finish {
            roster,
            root_out,
            round2,
        } => {
            let roster: Roster = read_json(&roster)?;
            let hash = roster.hash();
            let state = ctx.home.dkg_state(&hash, 2);
            let pending = Round2Pending::from_secret_bytes(
                &vault
                    .open(&state)
                    .context("no round-2 state: run `dkg round2` first")?,
            )?;
            let messages = expand(&round2, "round2-")?
                .iter()
                .map(|p| read_json::<Round2Message>(p))
                .collect::<Result<Vec<_>>>()?;
            let share = pending.finish(&keyholder, &messages)?;
            let root = share.root().clone();
            share.save(&vault, &ctx.home.share(&root_hash(&root)))?;
            std::fs::remove_file(&state).ok();
            quince_signer::vault::write_public(&root_out, &root.to_bytes())?;
            let rotation = roster.rotates_app.is_some();
            if rotation {
                // A new key for an existing app: its id and link stay those
                // of the app's first root, so none is printed here.
                println!(
                    "participant {} holds a share of the NEW signing key of app \"{}\"",
                    share.index(),
                    root.name()
                );
                println!(
                    "rotates app: {}  (a rotation: the app id and link do not change)",
                    share.app_id()
                );
            } else {
                println!(
                    "participant {} holds a share of app \"{}\"",
                    share.index(),
                    root.name()
                );
                println!("app id:      {}", root.app_id());
                println!("link:        quince://{}", root.app_id());
            }
            println!(
                "fingerprint: {}  (every keyholder must see the same)",
                root.fingerprint()
            );
            println!("root:        {}", root_out.display());
            println!(
                "now write down your backup: quince-signer backup --root {}",
                root_out.display()
            );
            if rotation {
                println!(
                    "then the coordinator: quince-signer sign rotation-request --new-root {} --app {}",
                    root_out.display(),
                    share.app_id()
                );
            }
        }
    }
    Ok(())
}
