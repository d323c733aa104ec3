//! `quince-signer serve`: answer online signing requests for one key share.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::{bail, Result};
use quince_signer::net::{self, Responder};
use quince_signer::share::KeyShare;
use quince_signer::signing::root_hash;

use super::{read_root, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The root whose share answers.
    #[arg(long, default_value = "root.bin")]
    root: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "/ip4/0.0.0.0/tcp/4770")]
    listen: String,
    /// Approve every well-formed request without asking (each is still printed).
    #[arg(long)]
    yes: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<()> {
    let root = read_root(&args.root)?;
    let vault = ctx.vault(false)?;
    let path = ctx.home.share(&root_hash(&root));
    if !path.exists() {
        bail!("no share of this root in {}", ctx.home.dir().display());
    }
    let share = KeyShare::load(&vault, &path)?;
    if !args.yes && !std::io::stdin().is_terminal() {
        bail!("no terminal to approve requests on; pass --yes to approve every request after printing it");
    }
    let auto = args.yes;
    let responder = Responder::new(share, move |request, description| {
        println!("signing request {}:\n{description}", request.id);
        if auto {
            println!("approved (--yes)");
            return true;
        }
        print!("Sign this? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        matches!(line.trim(), "y" | "Y" | "yes")
    });
    let listen = args.listen.parse()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(net::serve(
        responder,
        listen,
        |addr| println!("listening on {addr}  (give this address to the coordinator)"),
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    ))?;
    Ok(())
}
