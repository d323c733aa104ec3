//! `quince launcher`: an installed app's launcher on PATH and menu entry.

use anyhow::{Context as _, Result};
use quince_protocol::root::AppId;
use quince_updater::desktop::{self, Created};
use quince_updater::Client;

use super::{client, installed_app};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Make (or refresh) the app's launcher on PATH and its menu entry.
    Add {
        /// Quince's folder for this user.
        #[arg(long, env = "QUINCE_HOME")]
        home: Option<std::path::PathBuf>,
        /// The app: its name, short id, id, unique id prefix, or link.
        app: String,
        /// The launcher's name (default: the release's short id).
        #[arg(long)]
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove the app's launchers and menu entry (only files Quince made).
    Remove {
        /// Quince's folder for this user.
        #[arg(long, env = "QUINCE_HOME")]
        home: Option<std::path::PathBuf>,
        /// The app: its name, short id, id, unique id prefix, or link.
        app: String,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.what {
        What::Add {
            home,
            app,
            name,
            json,
        } => {
            let client = client(&home)?;
            let app = installed_app(&client, &app)?;
            let created = add(&client, &app, name.as_deref())?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "app": app.to_string(), "launcher": created.launcher,
                        "entry": created.entry, "icon": created.icon, "bundle": created.bundle,
                        "warnings": created.warnings,
                    })
                );
            } else {
                print_created(&created);
            }
            Ok(())
        }
        What::Remove { home, app } => {
            let client = client(&home)?;
            let app = installed_app(&client, &app)?;
            for path in remove(&app)? {
                println!("removed {}", path.display());
            }
            Ok(())
        }
    }
}

/// Makes `app`'s launcher and menu entry, starting this `quince`.
pub fn add(client: &Client, app: &AppId, name: Option<&str>) -> Result<Created> {
    let name = desktop::launcher_name(client.apps(), app, name)?;
    let exe = std::env::current_exe().context("finding this program to start apps with")?;
    let bin = desktop::bin_dir().ok_or(desktop::DesktopError::NoFolder)?;
    let applications = desktop::applications_dir();
    Ok(desktop::create(
        desktop::Menu::HERE,
        client.apps(),
        app,
        &desktop::stable_program(&exe),
        &name,
        &bin,
        applications.as_deref(),
    )?)
}

/// Removes `app`'s launchers and menu entry.
pub fn remove(app: &AppId) -> Result<Vec<std::path::PathBuf>> {
    let Some(bin) = desktop::bin_dir() else {
        return Ok(Vec::new());
    };
    let applications = desktop::applications_dir();
    Ok(desktop::remove(app, &bin, applications.as_deref())?)
}

/// One line per file made, then the warnings.
pub fn print_created(created: &Created) {
    println!("launcher {}", created.launcher.display());
    if let Some(entry) = &created.entry {
        println!("menu entry {}", entry.display());
    }
    if let Some(bundle) = &created.bundle {
        println!("app bundle {}", bundle.display());
    }
    for w in &created.warnings {
        super::note(w);
    }
}
