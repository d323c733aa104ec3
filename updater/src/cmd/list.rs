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
        rows.push(serde_json::json!({
            "app": app.to_string(), "current": state.current, "previous": state.previous,
            "pinned": state.pinned, "refused": state.refused, "run": state.run,
            "log_size": state.trusted().map(|t| t.size()).unwrap_or(0),
        }));
        if !args.json {
            println!(
                "{app}  {}{}{}",
                state.current.as_deref().unwrap_or("(none)"),
                state
                    .pinned
                    .as_ref()
                    .map_or(String::new(), |p| format!("  pinned at {p}")),
                if state.refused.is_empty() {
                    String::new()
                } else {
                    format!("  refused {}", state.refused.join(", "))
                }
            );
        }
    }
    if args.json {
        println!("{}", serde_json::Value::Array(rows));
    }
    Ok(())
}
