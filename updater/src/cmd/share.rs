//! `quince share`: write an app to a folder (a USB stick) that installs
//! with no network, with a program to install it with.

use anyhow::{Context as _, Result};

use super::{client, parse_app};

#[derive(clap::Args, Debug)]
pub struct ShareArgs {
    /// Quince's folder for this user.
    #[arg(long, env = "QUINCE_HOME")]
    home: Option<std::path::PathBuf>,
    /// The app id (or its link).
    app: String,
    /// A new folder (e.g. on a USB stick) to write the bundle to.
    folder: std::path::PathBuf,
}

pub fn share(args: ShareArgs) -> Result<()> {
    let client = client(&args.home)?;
    let app = parse_app(&args.app)?;
    let bundle = client.share(&app, &args.folder)?;
    // The receiver needs a program to install with: the bootstrap if it sits
    // next to this program, else this program.
    let me = std::env::current_exe().context("cannot find this program to copy")?;
    let bootstrap = me.with_file_name("quince-bootstrap");
    let (from, name, command) = if bootstrap.is_file() {
        (
            bootstrap,
            "quince-bootstrap",
            format!("./quince-bootstrap '{}' --from .", bundle.link),
        )
    } else {
        (
            me,
            "quince",
            format!("./quince install '{}' --from .", bundle.link),
        )
    };
    let target = args.folder.join(name);
    std::fs::copy(&from, &target).with_context(|| format!("copying {}", from.display()))?;
    std::fs::write(args.folder.join("INSTALL"), format!("{command}\n"))?;
    println!(
        "wrote app {app} {} ({} chunks) and {name} to {}; install there with: {command}",
        bundle.version,
        bundle.chunks,
        args.folder.display()
    );
    Ok(())
}
