//! `quince list`: the installed apps and their versions.

use anyhow::Result;

use super::client;

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Quince's folder for this user.
    #[arg(long, env = "QUINCE_HOME")]
    pub home: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn list(args: ListArgs) -> Result<()> {
    let rows = rows(&args)?;
    if args.json {
        println!("{}", serde_json::Value::Array(rows));
    }
    Ok(())
}

/// One JSON row per installed app; without `--json`, also one line each.
pub fn rows(args: &ListArgs) -> Result<Vec<serde_json::Value>> {
    let client = client(&args.home)?;
    let mut rows = Vec::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for (app, state) in client.status()? {
        let text = |v: &Option<quince_protocol::record::Version>| v.map(|v| v.to_string());
        let refused: Vec<String> = state.refused.iter().map(ToString::to_string).collect();
        let fresh = state.freshness(now);
        let info = client.apps().info(&app);
        let name = info
            .as_ref()
            .map(|i| i.name.clone())
            .or_else(|| client.apps().name(&app));
        let quince_updater::install::Offered { newest, halted } = client.apps().offered(&app);
        let channel = state
            .channel()
            .map_or_else(|e| format!("(bad: {e})"), |c| c.to_string());
        let checked = super::service::last_check(client.apps(), &app);
        rows.push(serde_json::json!({
            "app": app.to_string(), "name": name, "id": info.as_ref().map(|i| i.id.clone()),
            "current": text(&state.current), "previous": text(&state.previous), "newest": text(&newest),
            "last_check": checked.as_ref().map(|(t, r, p)| serde_json::json!({
                "time": t, "utc": quince_updater::service::utc(*t), "result": r, "peers": p,
            })),
            "channel": channel, "halted": halted,
            "pinned": text(&state.pinned), "refused": refused, "run": state.run,
            "log_size": state.trusted().map(|t| t.size()).unwrap_or(0),
            "freshness": fresh.map(|f| f.to_json()),
        }));
        if let Some(warning) = fresh.and_then(|f| f.warning()) {
            eprintln!("quince: warning: app {app}: {warning}");
        }
        if !args.json {
            println!(
                "{app}  {}  {}{}{}{}{}",
                name.as_deref().unwrap_or("(unnamed)"),
                text(&state.current).unwrap_or_else(|| "(none)".into()),
                if channel == "stable" {
                    String::new()
                } else {
                    format!("  ({channel} channel)")
                },
                match newest {
                    Some(n) if Some(n) != state.current => format!("  (newest {n})"),
                    _ => String::new(),
                },
                state
                    .pinned
                    .as_ref()
                    .map_or(String::new(), |p| format!("  pinned at {p}")),
                if state.refused.is_empty() {
                    String::new()
                } else {
                    format!("  refused {}", refused.join(", "))
                }
            );
            if halted {
                println!(
                    "    halted: the publisher stopped offering this version; an update \
                     installs the next one offered (`quince rollback` goes back now)"
                );
            }
            if let Some((time, result, peers)) = &checked {
                println!(
                    "    last check {}: {result} ({peers} peer(s))",
                    quince_updater::service::utc(*time)
                );
            }
        }
    }
    Ok(rows)
}
