//! `quince remove` and `quince gc`: an app's end, and the store's cleanup.

use anyhow::Result;

use super::{client, installed_app};

#[derive(clap::Args, Debug)]
pub struct RemoveArgs {
    /// Quince's folder for this user.
    #[arg(long, env = "QUINCE_HOME")]
    home: Option<std::path::PathBuf>,
    /// The app: its name, id, unique id prefix, or link.
    app: String,
    /// Also delete the app's own data (QUINCE_DATA_DIR), kept otherwise.
    #[arg(long)]
    purge: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Removes an app: its versions, log and state (one rename, then the
/// deletion; a deletion cut short is finished by the next run).
pub fn remove(args: RemoveArgs) -> Result<()> {
    let client = client(&args.home)?;
    let app = installed_app(&client, &args.app)?;
    // The launchers first: none is left pointing at an app that is gone.
    let unlinked = super::launcher::remove(&app)?;
    let removed = client.apps().remove(&app, args.purge)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "app": app.to_string(), "name": removed.name,
                "version": removed.version.map(|v| v.to_string()), "bytes_freed": removed.bytes,
                "launchers_removed": unlinked,
                "data": removed.data.as_ref().map(|(d, purged)| serde_json::json!({"folder": d, "deleted": purged})),
            })
        );
    } else {
        for path in &unlinked {
            println!("removed {}", path.display());
        }
        println!(
            "removed app {app}{} ({}; {} freed); its chunks stay in the shared store until `quince gc`",
            removed.name.map(|n| format!(" \"{n}\"")).unwrap_or_default(),
            removed
                .version
                .map_or("no version installed".to_string(), |v| format!("was at {v}")),
            megabytes(removed.bytes)
        );
        match &removed.data {
            Some((dir, true)) => println!("deleted its data {}", dir.display()),
            Some((dir, false)) => println!(
                "kept its data {} (quince remove --purge deletes it)",
                dir.display()
            ),
            None => {}
        }
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct GcArgs {
    /// Quince's folder for this user.
    #[arg(long, env = "QUINCE_HOME")]
    home: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Deletes the chunks no installed version needs.
pub fn gc(args: GcArgs) -> Result<()> {
    let client = client(&args.home)?;
    let c = client.apps().gc()?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "chunks_before": c.chunks_before, "bytes_before": c.bytes_before,
                "chunks_deleted": c.chunks_deleted, "bytes_deleted": c.bytes_deleted,
                "bytes_after": c.bytes_before - c.bytes_deleted,
                "removals_finished": c.leftovers,
                "versions_deleted": c.versions_deleted.iter().map(|(a, v)| format!("{a} {v}")).collect::<Vec<_>>(),
                "version_bytes_deleted": c.version_bytes_deleted,
                "versions_in_use": c.versions_in_use.iter().map(|(a, v)| format!("{a} {v}")).collect::<Vec<_>>(),
                "patches_deleted": c.patches_deleted, "patch_bytes_deleted": c.patch_bytes_deleted,
                "temp_bytes_deleted": c.temp_bytes_deleted,
            })
        );
    } else {
        println!(
            "store: {} chunks, {} before; deleted {} chunks no installed version needs ({}); {} now",
            c.chunks_before,
            megabytes(c.bytes_before),
            c.chunks_deleted,
            megabytes(c.bytes_deleted),
            megabytes(c.bytes_before - c.bytes_deleted)
        );
        if !c.versions_deleted.is_empty() {
            println!(
                "deleted {} old version folder(s) ({})",
                c.versions_deleted.len(),
                megabytes(c.version_bytes_deleted)
            );
        }
        if c.patches_deleted > 0 {
            println!(
                "deleted {} patch(es) to versions no longer kept ({})",
                c.patches_deleted,
                megabytes(c.patch_bytes_deleted)
            );
        }
        for (app, version) in &c.versions_in_use {
            println!("kept {app} {version}: a running program uses it (gc again after it exits)");
        }
        if c.leftovers > 0 {
            println!("finished deleting {} removed app folder(s)", c.leftovers);
        }
        if c.temp_bytes_deleted > 0 {
            println!(
                "deleted temporary files of writes cut short ({})",
                megabytes(c.temp_bytes_deleted)
            );
        }
    }
    Ok(())
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
