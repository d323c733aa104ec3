//! `quince share`: write an app to a folder (a USB stick) that installs
//! with no network, with a program to install it with; for this machine's
//! platform or another one (a friend on Windows, from a Linux machine).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use quince_protocol::record::Platform;
use quince_protocol::root::AppId;
use quince_updater::install::ReleasedFile;

use super::{explain, installed_app, parse_app, NetArgs};

#[derive(clap::Args, Debug)]
pub struct ShareArgs {
    #[command(flatten)]
    net: NetArgs,
    /// The app: its name, id, unique id prefix, or link.
    app: String,
    /// A new folder (e.g. on a USB stick) to write the bundle to.
    folder: PathBuf,
    /// The platform the bundle is for, e.g. windows-x86_64, macos-aarch64,
    /// linux-x86_64 (default: this machine's). Files this machine does not
    /// hold (another platform's) are fetched from the app's peers.
    #[arg(long)]
    platform: Option<Platform>,
    /// The installer to put in the bundle, for its platform (default: the
    /// one in Quince's own release for that platform, if Quince is
    /// installed from its log here; else, for this machine's platform, the
    /// one next to this program).
    #[arg(long)]
    installer: Option<PathBuf>,
    /// Quince's own app id: when Quince is installed from its own log here,
    /// the bundle carries that log, so the installer in it can be checked.
    #[arg(long, env = "QUINCE_SELF_APP")]
    self_app: Option<String>,
    /// Seconds to look for peers, if files must be fetched.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    find_for: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The installer a bundle gets, and where it comes from.
enum Installer {
    /// A file on this machine (given, or next to this program).
    Copy(PathBuf),
    /// A file of Quince's own release, written from its chunks.
    Released(ReleasedFile),
    /// None: the receiver brings their own.
    Missing,
}

pub async fn share(args: ShareArgs) -> Result<()> {
    if args.folder.exists() {
        bail!(
            "{} exists: choose a folder that does not exist yet",
            args.folder.display()
        );
    }
    let platform = args.platform.clone().unwrap_or_else(Platform::current);
    if let Some(file) = &args.installer {
        if !file.is_file() {
            bail!("--installer {}: no such file", file.display());
        }
    }
    let mut client = args.net.client()?;
    client.announce(false);
    let app = installed_app(&client, &args.app)?;
    let result = write(&args, &mut client, app, &platform).await;
    if let Some(node) = client.node() {
        args.net.remember(node).await;
        client.stop().await;
    }
    if result.is_err() {
        // Half a bundle is worse than none: the folder was made here.
        let _ = std::fs::remove_dir_all(&args.folder);
    }
    result
}

async fn write(
    args: &ShareArgs,
    client: &mut quince_updater::Client,
    app: AppId,
    platform: &Platform,
) -> Result<()> {
    let find_for = Duration::from_secs(args.find_for);
    let bundle = client.share(&app, &args.folder, platform)?;
    // Quince's own log, when Quince is installed from it here: the receiver
    // (or anyone) can then check the installer against it.
    let me = match args
        .self_app
        .clone()
        .or(option_env!("QUINCE_SELF_APP").map(String::from))
    {
        Some(id) => {
            let id = parse_app(&id)?;
            match client.apps().state(&id)?.and_then(|s| s.current) {
                Some(_) => Some((id, client.apps().share_self(&id, &args.folder, platform)?)),
                None => None,
            }
        }
        None => None,
    };
    let this = std::env::current_exe().context("cannot find this program")?;
    let native = *platform == Platform::current();
    let exe = quince_updater::platform::exe_suffix(platform);
    let installer = match (&args.installer, &me) {
        (Some(file), _) => Installer::Copy(file.clone()),
        (None, Some((_, Some(released)))) => Installer::Released(released.clone()),
        (None, _) if native => {
            // The bootstrap if it sits next to this program, else this program.
            let bootstrap = this.with_file_name(format!("quince-bootstrap{exe}"));
            Installer::Copy(if bootstrap.is_file() {
                bootstrap
            } else {
                this.clone()
            })
        }
        (None, _) => Installer::Missing,
    };

    // What this machine lacks: the other platform's files, fetched from peers.
    let store = client.apps().store()?;
    let self_lacking: Vec<_> = match &installer {
        Installer::Released(file) => file
            .chunks
            .iter()
            .filter(|c| !store.has(&c.id))
            .copied()
            .collect(),
        _ => Vec::new(),
    };
    let mut installer_fetched = 0;
    if !bundle.lacking.is_empty() || !self_lacking.is_empty() {
        if !args.json {
            println!(
                "this machine holds {} of the {} chunk(s) for {platform}: fetching {} from peers",
                bundle.chunks,
                bundle.chunks + bundle.lacking.len(),
                bundle.lacking.len() + self_lacking.len()
            );
        }
        client.start(args.net.config()?).await?;
        if !bundle.lacking.is_empty() {
            client
                .fetch_into(
                    app,
                    &bundle.dictionaries,
                    bundle.lacking.clone(),
                    &args.folder.join("store"),
                    find_for,
                )
                .await
                .map_err(explain)
                .with_context(|| format!("fetching app {app}'s files for {platform}"))?;
        }
        if let (false, Some((id, _))) = (self_lacking.is_empty(), &me) {
            installer_fetched = client
                .fetch_into(
                    *id,
                    &[],
                    self_lacking,
                    &args.folder.join("quince/store"),
                    find_for,
                )
                .await
                .map_err(explain)
                .with_context(|| format!("fetching Quince's installer for {platform}"))?;
        }
    }

    // The installer, and how the receiver runs it: from a shell on Unix,
    // from `cmd` on Windows.
    let (run, quote) = if exe.is_empty() {
        ("./", '\'')
    } else {
        ("", '"')
    };
    let link = format!("{quote}{}{quote}", bundle.link);
    let name = match &installer {
        Installer::Copy(from) => {
            let name = if from == &this && args.installer.is_none() {
                format!("quince{exe}")
            } else {
                format!("quince-bootstrap{exe}")
            };
            let to = args.folder.join(&name);
            std::fs::copy(from, &to).with_context(|| format!("copying {}", from.display()))?;
            Some(name)
        }
        Installer::Released(file) => {
            let name = format!("quince-bootstrap{exe}");
            let quince_store = quince_store::Store::open(&args.folder.join("quince/store"))?;
            client.apps().write_released(
                file,
                &[&store, &quince_store],
                &args.folder.join(&name),
            )?;
            Some(name)
        }
        Installer::Missing => None,
    };
    let command = match &name {
        Some(n) if n.starts_with("quince-bootstrap") => format!("{run}{n} {link} --from ."),
        Some(n) => format!("{run}{n} install {link} --from ."),
        None => format!("{run}quince-bootstrap{exe} {link} --from ."),
    };
    std::fs::write(args.folder.join("INSTALL"), format!("{command}\n"))?;
    let readme = args.folder.join("README.txt");
    let mut text = std::fs::read_to_string(&readme).unwrap_or_default();
    text.push_str(&installer_text(
        &name,
        me.as_ref().map(|(id, _)| id),
        platform,
    ));
    std::fs::write(&readme, text)?;

    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "app": app.to_string(), "version": bundle.version.to_string(),
                "platform": platform.to_string(), "folder": args.folder,
                "chunks": bundle.chunks + bundle.lacking.len(),
                "chunks_fetched": bundle.lacking.len(), "installer_chunks_fetched": installer_fetched,
                "installer": name, "install": command,
                "installer_checkable": me.is_some() && name.is_some(),
            })
        );
        return Ok(());
    }
    let what = match &name {
        Some(n) => format!(" and {n}"),
        None => String::new(),
    };
    println!(
        "wrote app {app} {} for {platform} ({} chunk{}){what} to {}; install there with: {command}",
        bundle.version,
        bundle.chunks + bundle.lacking.len(),
        if bundle.chunks + bundle.lacking.len() == 1 {
            ""
        } else {
            "s"
        },
        args.folder.display()
    );
    match (&name, &me) {
        (None, _) => println!(
            "note: the bundle has no installer for {platform} (give one with --installer, or \
             install Quince from its own log here): the receiver needs quince-bootstrap{exe} \
             for {platform} from a source they trust"
        ),
        (Some(n), Some((id, _))) => println!(
            "Quince's own signed log is in {}/quince: anyone with Quince can check {n} with: \
             quince verify-installer {n} --self-app {id}",
            args.folder.display()
        ),
        (Some(n), None) => println!(
            "note: {n} cannot be checked against Quince's own log (Quince is not installed \
             from its log here: give --self-app, or install Quince with quince-bootstrap)"
        ),
    }
    Ok(())
}

/// What the bundle's README says about its installer.
fn installer_text(name: &Option<String>, me: Option<&AppId>, platform: &Platform) -> String {
    match (name, me) {
        (None, _) => format!(
            "\nThis folder has no installer: get quince-bootstrap for {platform} from a\n\
             source you trust, put it here and run the command in INSTALL.\n"
        ),
        (Some(name), Some(id)) => {
            let check = format!("quince verify-installer {name} --self-app {id}");
            format!(
                "\nThe installer ({name}) is a release of Quince, app {id}; its signed log is\n\
                 in quince/. Check it first, with a Quince you already trust:\n  {check}\n\
                 or compare `sha256sum {name}` with the SHA256SUMS of Quince's releases\n\
                 (quince audit quince://{id} --export DIR).\n"
            )
        }
        (Some(name), None) => format!(
            "\nThe installer ({name}) came from whoever wrote this folder; nothing in the\n\
             folder proves it is Quince's. Run it only if you trust them.\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_says_where_the_installer_comes_from() {
        let windows: Platform = "windows-x86_64".parse().unwrap();
        let none = installer_text(&None, None, &windows);
        assert!(
            none.contains("no installer") && none.contains("windows-x86_64"),
            "{none}"
        );
        let id = AppId([3; 32]);
        let checked = installer_text(&Some("quince-bootstrap.exe".into()), Some(&id), &windows);
        assert!(
            checked.contains("quince verify-installer quince-bootstrap.exe --self-app"),
            "{checked}"
        );
        let unchecked = installer_text(&Some("quince.exe".into()), None, &windows);
        assert!(
            unchecked.contains("Run it only if you trust them"),
            "{unchecked}"
        );
    }
}
