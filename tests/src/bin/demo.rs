//! `quince-demo`: the README's first command. Runs, on this machine and with no
//! setup, the part of Quince's story that exists today: five keyholders hold a
//! 3-of-5 key, three of them sign releases into an append-only log, and a fresh
//! client that knows only the app id verifies everything, refuses a rollback and
//! a tampered head, and follows the log to the next release.
//!
//! Usage: `quince-demo [--keep DIR]` (keep the log folder in DIR to inspect it).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use quince_packager::LogDir;
use quince_protocol::codec::{Decode, Encode};
use quince_protocol::merkle;
use quince_protocol::note::Note;
use quince_protocol::record::{LogEntry, ReleaseRecord};
use quince_protocol::root::{AppId, AppRoot};
use quince_protocol::state::{Advance, TrustedState};
use quince_protocol::Hash;
use quince_tests::ceremony::Group;

fn main() {
    if let Err(e) = run() {
        eprintln!("quince-demo: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, _temp) = match args.as_slice() {
        [] => {
            let t = tempfile::tempdir()?;
            (t.path().join("log"), Some(t))
        }
        [flag, path] if flag == "--keep" => (PathBuf::from(path), None),
        _ => bail!("usage: quince-demo [--keep DIR]"),
    };

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
        hex_string(root.group_key().as_bytes())
    );

    step(2, "the publisher appends release 1.0.0 to the app's log");
    let log = LogDir::create(&dir, &root)?;
    let pending = log.append(&[release(app, "1.0.0")])?;
    println!("      log folder  {}", dir.display());
    print!("{}", indent(&pending.body));

    step(
        3,
        "keyholders 1, 3 and 5 sign the checkpoint: one plain Ed25519 signature",
    );
    let note = sign(&group, &app, &pending.body, &[1, 3, 5])?;
    let cp = log.publish(&note)?;
    println!("      published checkpoint of size {}", cp.size());

    step(
        4,
        "a fresh client that knows only the app id verifies the log folder",
    );
    let mut client = fresh_client(&dir, app)?;
    client = follow(&client, &dir)?;
    let (index, record) = verify_latest_release(&client, &dir)?;
    println!(
        "      trusts tree size {}; release {} (entry {index}) is proven in it",
        client.size(),
        record.version
    );

    step(
        5,
        "release 1.1.0, signed this time by keyholders 2, 4 and 5",
    );
    let old_note = std::fs::read(dir.join("checkpoint"))?;
    let pending = log.append(&[release(app, "1.1.0")])?;
    log.publish(&sign(&group, &app, &pending.body, &[2, 4, 5])?)?;
    client = follow(&client, &dir)?;
    let (index, record) = verify_latest_release(&client, &dir)?;
    println!(
        "      client checked the consistency proof and now trusts size {}",
        client.size()
    );
    println!(
        "      release {} (entry {index}) is proven in the new head",
        record.version
    );

    step(
        6,
        "two keyholders alone cannot sign; a rollback and a tampered head are refused",
    );
    match group.sign_checkpoint(&app, &pending.body, &[1, 2]) {
        Ok(_) => bail!("two keyholders produced a signature"),
        Err(e) => println!("      keyholders 1 and 2 alone: {e}"),
    }
    match client.advance(&old_note, &[]) {
        Ok(_) => bail!("rollback accepted"),
        Err(e) => println!("      older checkpoint from a peer: {e}"),
    }
    // A peer changes the tree size in the signed text: same format, broken signature.
    let tampered =
        String::from_utf8(std::fs::read(dir.join("checkpoint"))?)?.replacen("\n2\n", "\n3\n", 1);
    let tampered = tampered.into_bytes();
    match client.advance(&tampered, &[]) {
        Ok(_) => bail!("tampered checkpoint accepted"),
        Err(e) => println!("      tampered checkpoint: {e}"),
    }

    step(
        7,
        "an auditor re-verifies the whole folder and checks the group key",
    );
    LogDir::open(&dir)?.verify()?;
    let verifier = root.checkpoint_verifier(&app);
    println!("      every tile and entry matches the signed head");
    println!(
        "      verifier key (C2SP note form): {}",
        verifier.to_text()
    );

    println!();
    println!("quince-demo: ok. Signed, logged and verified releases 1.0.0 and 1.1.0.");
    println!("Not built yet: the peer-to-peer network, install and update, and rollback of a");
    println!("bad release (see the README's status section).");
    Ok(())
}

fn step(n: u32, what: &str) {
    println!("[{n}/7] {what}");
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      | {l}\n")).collect()
}

fn release(app: AppId, version: &str) -> Vec<u8> {
    LogEntry::Release(ReleaseRecord {
        app,
        version: version.parse().expect("demo versions are valid"),
        platforms: vec!["linux-x86_64".parse().expect("valid platform")],
        manifest: Hash::of(format!("manifest of {version}").as_bytes()),
        size: 4096,
        time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    })
    .to_bytes()
}

/// Signs a checkpoint body with a FROST quorum and returns the signed note.
fn sign(group: &Group, app: &AppId, body: &str, signers: &[u16]) -> Result<Vec<u8>> {
    Ok(group.sign_checkpoint(app, body, signers)?.0)
}

/// A client that has only the app id: it reads the root from the folder and
/// accepts it only if its hash is the app id.
fn fresh_client(dir: &std::path::Path, app: AppId) -> Result<TrustedState> {
    let root = AppRoot::from_bytes(&std::fs::read(dir.join("root"))?)?;
    Ok(TrustedState::new(app, root)?)
}

/// Reads the folder's checkpoint and tiles like a peer would serve them, and
/// advances the client's trusted state.
fn follow(client: &TrustedState, dir: &std::path::Path) -> Result<TrustedState> {
    let note = std::fs::read(dir.join("checkpoint"))?;
    let size = quince_protocol::checkpoint::Checkpoint::parse(Note::parse(&note)?.text())?.size;
    let tiles = LogDir::open(dir)?.read_tiles(size)?;
    let proof = merkle::consistency_proof(&tiles, client.size().min(size), size)?;
    Ok(match client.advance(&note, &proof)? {
        Advance::Advanced(next) => *next,
        Advance::Unchanged => client.clone(),
    })
}

/// Finds the newest release record and verifies its inclusion in the trusted head.
fn verify_latest_release(
    client: &TrustedState,
    dir: &std::path::Path,
) -> Result<(u64, ReleaseRecord)> {
    let log = LogDir::open(dir)?;
    let entries = log.entries()?;
    let tiles = log.read_tiles(client.size())?;
    for (i, bytes) in entries.iter().enumerate().rev() {
        if let LogEntry::Release(r) = LogEntry::from_bytes(bytes)? {
            let index = i as u64;
            let proof = merkle::inclusion_proof(&tiles, index, client.size())?;
            merkle::verify_inclusion(
                &merkle::leaf_hash(bytes),
                index,
                client.size(),
                &proof,
                &client.tree_root(),
            )
            .context("release record is not in the trusted head")?;
            return Ok((index, r));
        }
    }
    bail!("the log has no release")
}
