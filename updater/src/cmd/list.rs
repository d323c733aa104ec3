//! `quince list`: the installed apps and their versions.

use anyhow::Result;

use super::client;

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Quince's folder for this user.
    #[arg(long, env = "QUINCE_HOME")]
    home: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn list(args: ListArgs) -> Result<()> {
    let client = client(&args.home)?;
    let mut rows = Vec::new();
    for (app, state) in client.status()? {
        let text = |v: &Option<quince_protocol::record::Version>| v.map(|v| v.to_string());
        let refused: Vec<String> = state.refused.iter().map(ToString::to_string).collect();
        rows.push(serde_json::json!({
            "app": app.to_string(), "current": text(&state.current), "previous": text(&state.previous),
            "pinned": text(&state.pinned), "refused": refused, "run": state.run,
            "log_size": state.trusted().map(|t| t.size()).unwrap_or(0),
        }));
        if !args.json {
            println!(
                "{app}  {}{}{}",
                text(&state.current).unwrap_or_else(|| "(none)".into()),
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
        }
    }
    if args.json {
        println!("{}", serde_json::Value::Array(rows));
    }
    Ok(())
}
