//! `quince channel`: which release channel an app follows, and a change of it.

use anyhow::Result;
use quince_protocol::record::Channel;

use super::{client, installed_app, AppArgs};

#[derive(clap::Args, Debug)]
pub struct ChannelArgs {
    #[command(flatten)]
    app: AppArgs,
    /// Follow this channel from the next update on (stable, beta, or any
    /// channel the publisher names). Without it: show the channel.
    channel: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn channel(args: ChannelArgs) -> Result<()> {
    let set: Option<Channel> = args
        .channel
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| super::exit::Usage(format!("channel: {e}")))?;
    let client = client(&args.app.home)?;
    let app = installed_app(&client, &args.app.app)?;
    let view = client.channel(&app, set.as_ref())?;
    if args.json {
        let channels: serde_json::Map<String, serde_json::Value> = view
            .channels
            .iter()
            .map(|(c, v)| (c.to_string(), v.to_string().into()))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "app": app.to_string(),
                "channel": view.channel.as_str(),
                "current": view.current.map(|v| v.to_string()),
                "newest": view.newest.map(|v| v.to_string()),
                "channels": channels,
            })
        );
        return Ok(());
    }
    let known: Vec<String> = view
        .channels
        .iter()
        .map(|(c, v)| format!("{c} ({v})"))
        .collect();
    let verb = if set.is_some() {
        "now follows"
    } else {
        "follows"
    };
    println!("app {app} {verb} channel {}", view.channel);
    match (view.current, view.newest) {
        (Some(current), Some(newest)) if newest > current => println!(
            "the next update installs {newest} (installed: {current}; `quince update` to do it now)"
        ),
        (Some(current), Some(newest)) if newest < current => println!(
            "{current} stays installed until {} offers a newer release (its newest for you: {newest}); updates never go back",
            view.channel
        ),
        (Some(current), None) => println!(
            "{current} stays installed: {} offers nothing newer for you yet",
            view.channel
        ),
        (Some(current), _) => println!("{current} is installed, the newest it offers you"),
        (None, _) => {}
    }
    if known.is_empty() {
        println!("channels in its log (as last synced): none");
    } else {
        println!("channels in its log (as last synced): {}", known.join(", "));
    }
    if !view.channels.iter().any(|(c, _)| *c == view.channel) && !view.channel.is_stable() {
        super::note(&format!(
            "the log has no release on {} yet; stable releases still come",
            view.channel
        ));
    }
    Ok(())
}
