//! `quince-demo`: the README's first command. Runs, on this machine and with no
//! setup, Quince's story on loopback: five keyholders generate a key with no
//! dealer; the publisher builds release 1.0.0 and three keyholders sign it; a
//! fresh user who knows only the link installs it with the bootstrap (finding
//! the publisher through the DHT, verifying everything) and runs it; release
//! 1.1.0 is signed by three others, pushed to the user's updater, verified,
//! installed and run; a broken 1.2.0 fails its health check and is rolled back
//! by itself; rollbacks, tampering and two-keyholder signatures are refused.
//!
//! Usage: `quince-demo [--keep DIR]` (keep every folder in DIR to inspect it).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use quince_packager::build::{build, Source};
use quince_packager::{release, LogDir};
use quince_protocol::root::AppId;
use quince_signer::signing::Transcript;
use quince_store::Store;
use quince_tests::ceremony::Group;
use quince_updater::audit;
use quince_updater::fetch::Peers;
use quince_updater::install::{Apps, Outcome, UpdateOptions};
use quince_updater::node::{Multiaddr, PeerId};
use quince_updater::{Library, Node, NodeConfig};

fn main() {
    quince_store::cli::exit_on_panic();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("quince-demo: error: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("quince-demo: error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (work, _temp) = match args.as_slice() {
        [] => {
            let t = tempfile::tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
        [flag, path] if flag == "--keep" => (PathBuf::from(path), None),
        _ => bail!("usage: quince-demo [--keep DIR]"),
    };
    std::fs::create_dir_all(&work)?;

    step(
        1,
        "five keyholders generate a 3-of-5 FROST key together, with no dealer",
    );
    let group = Group::generate("Quince Demo", &["ana", "bo", "cy", "di", "ed"], 3)?;
    let root = group.root().clone();
    let app = root.app_id();
    println!("      app id      {app}");
    println!("      link        quince://{app}");
    println!("      fingerprint {}", root.fingerprint());
    println!(
        "      group key   {}",
        root.group_key()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );

    step(
        2,
        "the publisher builds release 1.0.0; keyholders 1, 3 and 5 sign it",
    );
    let publisher_dir = work.join("publisher");
    let store = Store::open(&publisher_dir.join("store"))?;
    let log = LogDir::create(&publisher_dir.join("log"), &root)?;
    let body = stage_release(&publisher_dir, &store, &log, "1.0.0", 0)?;
    print!("{}", indent(&body));
    let (note, transcript) = group.sign_checkpoint(&app, &body, &[1, 3, 5])?;
    publish(&log, &note, &transcript)?;
    println!(
        "      one Ed25519 signature; the transcript names signers {:?}",
        transcript.shares.keys().collect::<Vec<_>>()
    );

    step(
        3,
        "the publisher's node seeds it on loopback and announces it in the DHT",
    );
    let library = Library::new(store.clone());
    library.add_app(app, publisher_dir.join("log"));
    let publisher = Node::start(loopback(vec![]), Arc::new(library)).await?;
    publisher.provide(app).await?;
    let boot = publisher.addresses().await;
    println!(
        "      publisher {}",
        boot.first().map(ToString::to_string).unwrap_or_default()
    );

    step(
        4,
        "a fresh user runs the bootstrap with only the link: it finds peers, verifies and installs 1.0.0; it runs",
    );
    let user_dir = work.join("user");
    let link = format!(
        "quince://{app}?peer={}",
        boot.first().context("no address")?
    );
    println!("      $ quince-bootstrap {link}");
    let line = quince_bootstrap::install(quince_bootstrap::Options {
        link: Some(link),
        run: None,
        launch: false,
        home: Some(user_dir.clone()),
        bootstrap: Vec::new(),
        // The demo's own loopback network, not the public DHT.
        network: Some("private".into()),
        kad_protocol: None,
        config: None,
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        find_for: 10,
        mdns: false,
        quiet: true,
        self_app: None,
        from: None,
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    println!("      {line}");
    let apps = Apps::open(&user_dir)?;
    run_app(&apps, app)?;

    step(
        5,
        "the user's updater seeds the app; release 1.1.0, signed by keyholders 2, 4 and 5, is pushed to it",
    );
    let user_library = Library::new(apps.store()?);
    user_library.add_app(app, apps.log_dir(&app));
    let user = Node::start(loopback(boot.clone()), Arc::new(user_library.clone())).await?;
    user.provide(app).await?;
    let mut pushes = user.announcements();
    let old_note = std::fs::read(apps.log_dir(&app).join("checkpoint"))?;
    let body = stage_release(&publisher_dir, &store, &log, "1.1.0", 0)?;
    let (note, transcript) = group.sign_checkpoint(&app, &body, &[2, 4, 5])?;
    publish(&log, &note, &transcript)?;
    publisher.announce(app, note.clone()).await;
    let pushed = tokio::time::timeout(Duration::from_secs(20), pushes.recv())
        .await
        .context("no push arrived")??;
    println!(
        "      push received from {} (not trusted until verified)",
        pushed.peer
    );
    update(&user, &apps, app, pushed.peer).await?;
    run_app(&apps, app)?;

    step(
        6,
        "a broken release 1.2.0 (its program exits 1), signed by 1, 2 and 3, is pushed: it is rolled back by itself",
    );
    let body12 = stage_release(&publisher_dir, &store, &log, "1.2.0", 1)?;
    let (note12, transcript) = group.sign_checkpoint(&app, &body12, &[1, 2, 3])?;
    publish(&log, &note12, &transcript)?;
    publisher.announce(app, note12).await;
    let pushed = tokio::time::timeout(Duration::from_secs(20), pushes.recv())
        .await
        .context("no push arrived")??;
    match update(&user, &apps, app, pushed.peer).await? {
        Outcome::RolledBack { .. } => {}
        other => bail!("the broken release was not rolled back: {other:?}"),
    }
    run_app(&apps, app)?;
    let state = apps.state(&app)?.context("no state")?;
    println!(
        "      refused for good: {}; a later release supersedes it",
        state
            .refused
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let trusted = state.trusted().map_err(|e| anyhow::anyhow!(e))?;

    step(
        7,
        "two keyholders alone cannot sign; a rollback and a tampered head are refused",
    );
    match group.sign_checkpoint(&app, &body, &[1, 2]) {
        Ok(_) => bail!("two keyholders produced a signature"),
        Err(e) => println!("      keyholders 1 and 2 alone: {e}"),
    }
    match trusted.advance(&old_note, &[]) {
        Ok(_) => bail!("rollback accepted"),
        Err(e) => println!("      older checkpoint from a peer: {e}"),
    }
    let tampered = String::from_utf8(note)?
        .replacen("\n2\n", "\n3\n", 1)
        .into_bytes();
    match trusted.advance(&tampered, &[]) {
        Ok(_) => bail!("tampered checkpoint accepted"),
        Err(e) => println!("      tampered checkpoint: {e}"),
    }

    step(
        8,
        "an auditor re-verifies the publisher's and the user's copies of the log",
    );
    let report = audit::audit_folder(&publisher_dir.join("log"), &[], Some(&store), true)?;
    if !report.passed() {
        bail!("the audit failed:\n{}", report.to_text());
    }
    for r in &report.releases {
        let who = r.signers.as_ref().context("a transcript is missing")?;
        println!(
            "      release {}: signed by keyholders {who:?} (transcript checked share by share), {} files re-hashed",
            r.version,
            r.files_checked.unwrap_or(0)
        );
    }
    LogDir::open(&apps.log_dir(&app))?.verify()?;
    println!("      the user's copy of the log matches the signed head too; `quince audit` prints this report");
    println!(
        "      verifier key (C2SP note form): {}",
        root.checkpoint_verifier(&app).to_text()
    );

    user.shutdown().await;
    publisher.shutdown().await;
    println!();
    println!(
        "quince-demo: ok. 1.0.0 installed by the bootstrap from peers, 1.1.0 pushed and installed,"
    );
    println!("broken 1.2.0 rolled back by itself; every release signed by 3 of 5 keyholders.");
    Ok(())
}

/// The user's updater installs what the push announced, from that peer.
async fn update(user: &Node, apps: &Apps, app: AppId, from: PeerId) -> Result<Outcome> {
    let mut peers = Peers::new([from]);
    let options = UpdateOptions {
        window: 8,
        health_seconds: Some(2),
        ..UpdateOptions::default()
    };
    let outcome = apps.update(user, app, &mut peers, &options).await?;
    match &outcome {
        Outcome::Installed {
            version, previous, ..
        } => println!(
            "      verified and installed {version} (previous {} kept for rollback); health check passed",
            previous.as_ref().map_or("none".into(), ToString::to_string)
        ),
        Outcome::UpToDate(v) => println!("      already at {v}"),
        Outcome::RolledBack { refused, reason, current } => println!(
            "      {refused} failed its health check ({reason}); rolled back to {}",
            current.as_ref().map_or("none".into(), ToString::to_string)
        ),
    }
    Ok(outcome)
}

/// Runs the installed app's current version, as `quince run` does.
fn run_app(apps: &Apps, app: AppId) -> Result<()> {
    let program = apps.program(&app)?;
    let out = std::process::Command::new(&program)
        .output()
        .context("running the app")?;
    println!(
        "      $ quince run {}…  ->  {}",
        &app.to_string()[..12],
        String::from_utf8_lossy(&out.stdout).trim()
    );
    Ok(())
}

fn loopback(bootstrap: Vec<Multiaddr>) -> NodeConfig {
    NodeConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0"
            .parse()
            .expect("a valid literal address")],
        bootstrap,
        request_timeout: Duration::from_secs(10),
        ..NodeConfig::default()
    }
}

/// Builds the demo app for `version` and stages its release; returns the text to sign.
fn stage_release(
    dir: &Path,
    store: &Store,
    log: &LogDir,
    version: &str,
    exit_code: i32,
) -> Result<String> {
    let src = dir.join(format!("src-{version}"));
    std::fs::create_dir_all(src.join("bin"))?;
    let script = src.join("bin/hello");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"hello from Quince Demo {version}\"\nexit {exit_code}\n"),
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    }
    let (manifest, _) = build(
        &[Source {
            dir: src,
            platform: None,
        }],
        store,
        3,
    )?;
    let staged = release::stage(
        log,
        store,
        &manifest,
        version.parse()?,
        &["any".parse()?],
        now(),
        3,
    )?;
    Ok(staged.pending.body)
}

fn step(n: u32, what: &str) {
    println!("[{n}/8] {what}");
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      | {l}\n")).collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Publishes a signed checkpoint with its signing transcript (who signed), as
/// `quince-packager publish` does.
fn publish(log: &LogDir, note: &[u8], transcript: &Transcript) -> Result<()> {
    let cp = log.publish(note)?;
    log.put_transcript(cp.size(), &serde_json::to_vec_pretty(transcript)?)?;
    Ok(())
}
