//! `quince share`: write an app to a folder (a USB stick) that installs
//! with no network, with a program to install it with.

use anyhow::{Context as _, Result};

use super::{client, installed_app, parse_app};

#[derive(clap::Args, Debug)]
pub struct ShareArgs {
    /// Quince's folder for this user.
    #[arg(long, env = "QUINCE_HOME")]
    home: Option<std::path::PathBuf>,
    /// The app: its name, id, unique id prefix, or link.
    app: String,
    /// A new folder (e.g. on a USB stick) to write the bundle to.
    folder: std::path::PathBuf,
    /// Quince's own app id: when Quince is installed from its own log here,
    /// the bundle carries that log, so the installer in it can be checked.
    #[arg(long, env = "QUINCE_SELF_APP")]
    self_app: Option<String>,
}

pub fn share(args: ShareArgs) -> Result<()> {
    let client = client(&args.home)?;
    let app = installed_app(&client, &args.app)?;
    let bundle = client.share(&app, &args.folder)?;
    // The receiver needs a program to install with: the bootstrap if it sits
    // next to this program, else this program.
    let me = std::env::current_exe().context("cannot find this program to copy")?;
    // Quince's own log, when Quince is installed from it here: the receiver
    // (or anyone) can then check the installer against it.
    let quince = match args
        .self_app
        .clone()
        .or(option_env!("QUINCE_SELF_APP").map(String::from))
    {
        Some(id) => {
            let id = parse_app(&id)?;
            match client.apps().state(&id)?.and_then(|s| s.current) {
                Some(_) => Some((id, client.apps().share_self(&id, &args.folder)?)),
                None => None,
            }
        }
        None => None,
    };
    // The installer the log covers first, else the one next to this program.
    let exe = std::env::consts::EXE_SUFFIX;
    let bootstrap = quince
        .as_ref()
        .and_then(|(_, released)| released.clone())
        .unwrap_or_else(|| me.with_file_name(format!("quince-bootstrap{exe}")));
    // How the receiver runs it: from a shell on Unix, from `cmd` on Windows.
    let (run, quote) = if cfg!(windows) {
        ("", '"')
    } else {
        ("./", '\'')
    };
    let link = format!("{quote}{}{quote}", bundle.link);
    let (from, name, command) = if bootstrap.is_file() {
        let name = format!("quince-bootstrap{exe}");
        let command = format!("{run}{name} {link} --from .");
        (bootstrap, name, command)
    } else {
        let name = format!("quince{exe}");
        let command = format!("{run}{name} install {link} --from .");
        (me, name, command)
    };
    let target = args.folder.join(&name);
    std::fs::copy(&from, &target).with_context(|| format!("copying {}", from.display()))?;
    std::fs::write(args.folder.join("INSTALL"), format!("{command}\n"))?;
    println!(
        "wrote app {app} {} ({} chunks) and {name} to {}; install there with: {command}",
        bundle.version,
        bundle.chunks,
        args.folder.display()
    );
    let check = match &quince {
        Some((id, _)) => {
            let check = format!("quince verify-installer {name} --self-app {id}");
            println!(
                "Quince's own signed log is in {}/quince: anyone with Quince can check {name} with: {check}",
                args.folder.display()
            );
            format!(
                "\nThe installer ({name}) is a release of Quince, app {id}; its signed log is\n\
                 in quince/. Check it first, with a Quince you already trust:\n  {check}\n\
                 or compare `sha256sum {name}` with the SHA256SUMS of Quince's releases\n\
                 (quince audit quince://{id} --export DIR).\n"
            )
        }
        None => {
            println!(
                "note: {name} cannot be checked against Quince's own log (Quince is not installed \
                 from its log here: give --self-app, or install Quince with quince-bootstrap)"
            );
            format!(
                "\nThe installer ({name}) came from whoever wrote this folder; nothing in the\n\
                 folder proves it is Quince's. Run it only if you trust them.\n"
            )
        }
    };
    let readme = args.folder.join("README.txt");
    let mut text = std::fs::read_to_string(&readme).unwrap_or_default();
    text.push_str(&check);
    std::fs::write(&readme, text)?;
    Ok(())
}
