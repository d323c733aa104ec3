//! `quince-demo`: the README's first command. Runs, on this machine and with no
//! setup, as much of Quince's story as exists: five keyholders generate a key
//! with no dealer; the publisher builds release 1.0.0 and three keyholders sign
//! it; a fresh user who knows only the app id finds the publisher through the
//! DHT on loopback, verifies everything, installs and runs the app; release
//! 1.1.0 is signed by three others, pushed to the user, verified, installed and
//! run; rollbacks, tampering and two-keyholder signatures are refused.
//!
//! Usage: `quince-demo [--keep DIR]` (keep every folder in DIR to inspect it).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use quince_packager::build::{build, Source};
use quince_packager::{release, LogDir};
use quince_protocol::record::Platform;
use quince_protocol::root::AppId;
use quince_protocol::state::TrustedState;
use quince_store::Store;
use quince_tests::ceremony::Group;
use quince_updater::fetch::{self, Peers};
use quince_updater::node::{Multiaddr, PeerId};
use quince_updater::{Library, Node, NodeConfig};

fn main() {
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
    let body = stage_release(&publisher_dir, &store, &log, "1.0.0")?;
    print!("{}", indent(&body));
    let (note, transcript) = group.sign_checkpoint(&app, &body, &[1, 3, 5])?;
    log.publish(&note)?;
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
        "a fresh user who knows only the link finds peers, verifies and installs 1.0.0",
    );
    let user_dir = work.join("user");
    let user_store = Store::open(&user_dir.join("store"))?;
    let user_library = Library::new(user_store.clone());
    let user = Node::start(loopback(boot.clone()), Arc::new(user_library.clone())).await?;
    let mut pushes = user.announcements();
    let providers = find_providers(&user, app).await?;
    println!("      {} peer(s) hold the app", providers.len());
    let state = install(&user, app, providers, None, &user_dir, &user_store).await?;
    user_library.add_app(app, user_dir.join("log"));
    user.provide(app).await?;
    println!("      the user now seeds the app too");

    step(
        5,
        "release 1.1.0, signed by keyholders 2, 4 and 5, is pushed to the user",
    );
    let body = stage_release(&publisher_dir, &store, &log, "1.1.0")?;
    let (note, _) = group.sign_checkpoint(&app, &body, &[2, 4, 5])?;
    log.publish(&note)?;
    publisher.announce(app, note.clone()).await;
    let pushed = tokio::time::timeout(Duration::from_secs(20), pushes.recv())
        .await
        .context("no push arrived")??;
    println!(
        "      push received from {} (not trusted until verified)",
        pushed.peer
    );
    let old_note = state
        .checkpoint()
        .map(|c| c.note().to_bytes())
        .unwrap_or_default();
    let state = install(
        &user,
        app,
        vec![pushed.peer],
        Some(state),
        &user_dir,
        &user_store,
    )
    .await?;

    step(
        6,
        "two keyholders alone cannot sign; a rollback and a tampered head are refused",
    );
    match group.sign_checkpoint(&app, &body, &[1, 2]) {
        Ok(_) => bail!("two keyholders produced a signature"),
        Err(e) => println!("      keyholders 1 and 2 alone: {e}"),
    }
    match state.advance(&old_note, &[]) {
        Ok(_) => bail!("rollback accepted"),
        Err(e) => println!("      older checkpoint from a peer: {e}"),
    }
    let tampered = String::from_utf8(note)?
        .replacen("\n2\n", "\n3\n", 1)
        .into_bytes();
    match state.advance(&tampered, &[]) {
        Ok(_) => bail!("tampered checkpoint accepted"),
        Err(e) => println!("      tampered checkpoint: {e}"),
    }

    step(
        7,
        "an auditor re-verifies the publisher's and the user's copies of the log",
    );
    LogDir::open(&publisher_dir.join("log"))?.verify()?;
    LogDir::open(&user_dir.join("log"))?.verify()?;
    println!("      every tile and entry matches the signed head, in both copies");
    println!(
        "      verifier key (C2SP note form): {}",
        root.checkpoint_verifier(&app).to_text()
    );

    user.shutdown().await;
    publisher.shutdown().await;
    println!();
    println!(
        "quince-demo: ok. Releases 1.0.0 and 1.1.0 signed by 3 of 5, installed from peers and run."
    );
    println!("Not built yet: rollback of a bad release, self-update, the bootstrap binary, NAT");
    println!("traversal (see the README's status section).");
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
fn stage_release(dir: &Path, store: &Store, log: &LogDir, version: &str) -> Result<String> {
    let src = dir.join(format!("src-{version}"));
    std::fs::create_dir_all(src.join("bin"))?;
    let script = src.join("bin/hello");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"hello from Quince Demo {version}\"\n"),
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

async fn find_providers(node: &Node, app: AppId) -> Result<Vec<PeerId>> {
    for _ in 0..20 {
        let found = node.providers(app).await;
        if !found.is_empty() {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("no peer found for the app")
}

/// Syncs, fetches, unpacks into `apps/<version>` and runs `bin/hello`.
async fn install(
    node: &Node,
    app: AppId,
    from: Vec<PeerId>,
    state: Option<TrustedState>,
    dir: &Path,
    store: &Store,
) -> Result<TrustedState> {
    let mut peers = Peers::new(from);
    let synced = fetch::sync_log(node, app, &mut peers, state, &dir.join("log")).await?;
    let platform = Platform::current();
    let record = synced
        .latest_release(&platform)
        .context("no release for this platform")?;
    println!(
        "      log verified at size {}: release {}",
        synced.state.size(),
        record.version
    );
    let manifest =
        fetch::fetch_release(node, app, &mut peers, &record, &platform, store, 8).await?;
    std::fs::create_dir_all(dir.join("apps"))?;
    let target = dir.join("apps").join(record.version.to_string());
    let stats = quince_store::unpack(&manifest, &platform, store, &target)?;
    println!(
        "      installed {} file(s), every byte checked, in {}",
        stats.files,
        target.display()
    );
    let out = std::process::Command::new(target.join("bin/hello"))
        .output()
        .context("running the app")?;
    println!(
        "      $ bin/hello  ->  {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    Ok(synced.state)
}

fn step(n: u32, what: &str) {
    println!("[{n}/7] {what}");
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      | {l}\n")).collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
