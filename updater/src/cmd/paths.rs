//! `quince paths`: where everything Quince keeps on this machine lives.

use anyhow::Result;

use quince_updater::home::Home;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Quince's folder for this user.
    #[arg(long, env = "QUINCE_HOME")]
    home: Option<std::path::PathBuf>,
    /// The network file (default: $QUINCE_CONFIG, else the XDG config folder's).
    #[arg(long, env = "QUINCE_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Prints each place, what it holds, and whether it exists yet.
pub fn run(args: Args) -> Result<()> {
    let home = Home::or_default(args.home.clone())?;
    // Absolute, as the apps' launch entries and programs see it.
    let dir = std::path::absolute(home.dir())?;
    let config = args
        .config
        .clone()
        .or_else(quince_updater::network::default_path);
    let mut places = vec![
        ("home", dir.clone(), "everything below (QUINCE_HOME)"),
        (
            "apps",
            dir.join("apps"),
            "installed apps: APP_ID/{versions,current,log,state.json}",
        ),
        (
            "store",
            dir.join("store"),
            "chunks, manifests and patches shared by every app",
        ),
        ("identity", dir.join("identity"), "this node's libp2p key"),
        (
            "peers",
            dir.join("peers.json"),
            "peers remembered from earlier runs",
        ),
        (
            "audit",
            dir.join("audit"),
            "checkpoints and tiles remembered by quince audit",
        ),
    ];
    if let Some(c) = config {
        places.push(("network", c, "the network file (quince network show)"));
    }
    use quince_updater::{desktop, service};
    let more = [
        (
            "launchers",
            desktop::bin_dir(),
            "apps' launchers (quince launcher add)",
        ),
        (
            "menu",
            desktop::applications_dir(),
            if cfg!(windows) {
                "apps' Start-menu shortcuts (NAME.lnk)"
            } else {
                "apps' menu entries (quince-ID.desktop)"
            },
        ),
        (
            "service",
            service::unit_file(),
            "the updater's systemd user unit (quince service install)",
        ),
        ("log", service::log_file(), "the updater service's log"),
    ];
    for (name, path, what) in more {
        if let Some(path) = path {
            places.push((name, path, what));
        }
    }
    if args.json {
        let v: serde_json::Map<String, serde_json::Value> = places
            .iter()
            .map(|(name, path, _)| {
                (
                    name.to_string(),
                    serde_json::json!(path.display().to_string()),
                )
            })
            .collect();
        println!("{}", serde_json::Value::Object(v));
    } else {
        for (name, path, what) in &places {
            let there = if path.exists() {
                ""
            } else {
                "  (not there yet)"
            };
            println!("{name:<10} {}  {what}{there}", path.display());
        }
    }
    Ok(())
}
