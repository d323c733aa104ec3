//! `quince-signer backup` and `restore`: a key share as 24 words and back.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{bail, Result};
use quince_signer::share::KeyShare;
use quince_signer::signing::root_hash;
use zeroize::Zeroizing;

use super::{read_root, Context};

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The app root whose share to back up.
    #[arg(long, default_value = "root.bin")]
    root: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The app root (public; any keyholder or the publisher has it).
    #[arg(long, default_value = "root.bin")]
    root: PathBuf,
    /// The app the share signs for, if the root came from a signer rotation
    /// (default: the app the root itself defines).
    #[arg(long)]
    app: Option<String>,
    /// Your participant number.
    #[arg(long)]
    index: u16,
    /// File holding the 24 words; without it they are read from standard input.
    #[arg(long)]
    words_file: Option<PathBuf>,
}

pub fn backup(ctx: &Context, args: BackupArgs) -> Result<()> {
    let root = read_root(&args.root)?;
    let vault = ctx.vault(false)?;
    let path = ctx.home.share(&root_hash(&root));
    if !path.exists() {
        bail!("no share of this root in {}", ctx.home.dir().display());
    }
    let share = KeyShare::load(&vault, &path)?;
    eprintln!(
        "Write these 24 words on paper, in order. Anyone with them and two other shares can sign."
    );
    println!("{}", share.backup_phrase()?.as_str());
    Ok(())
}

pub fn restore(ctx: &Context, args: RestoreArgs) -> Result<()> {
    let root = read_root(&args.root)?;
    let words = Zeroizing::new(match &args.words_file {
        Some(p) => std::fs::read_to_string(p)?,
        None => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        }
    });
    let mut share = KeyShare::restore(root, args.index, &words)?;
    if let Some(app) = &args.app {
        share = share.for_app(app.parse()?);
    }
    let vault = ctx.vault(true)?;
    let path = ctx.home.share(&root_hash(share.root()));
    if path.exists() {
        bail!(
            "a share of this root is already stored at {}",
            path.display()
        );
    }
    share.save(&vault, &path)?;
    println!(
        "restored participant {}'s share of app {}",
        share.index(),
        share.app_id()
    );
    Ok(())
}
