//! `quince-packager init | release | publish | abandon | status`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use quince_packager::{release, LogDir};
use quince_protocol::codec::Decode;
use quince_protocol::note::Note;
use quince_protocol::record::{LogEntry, Platform, ReleaseRecord, Rollout};
use quince_protocol::root::AppRoot;
use quince_protocol::transcript::{self, SignedShares};
use quince_store::Store;

use super::read_manifest;

#[derive(clap::Args, Debug)]
pub struct LogArg {
    /// The app's log folder.
    #[arg(long, default_value = "log")]
    log: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// The app root (root.bin from `quince-signer dkg finish`).
    #[arg(long, default_value = "root.bin")]
    root: PathBuf,
    #[arg(long, default_value = "log")]
    log: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct ReleaseArgs {
    #[arg(long, default_value = "log")]
    log: PathBuf,
    #[arg(long, default_value = "store")]
    store: PathBuf,
    /// The manifest from `build`.
    #[arg(long, default_value = "manifest.bin")]
    manifest: PathBuf,
    /// The release's version, MAJOR.MINOR.PATCH[-PRE][+BUILD] (SemVer 2.0),
    /// greater than the newest on its channel.
    #[arg(long)]
    version: String,
    /// Platforms served, when the build has no per-platform folders (`any` for all).
    #[arg(long = "platform")]
    platforms: Vec<String>,
    #[command(flatten)]
    offer: OfferArgs,
    /// zstd level for delta patches, from 1 to 19 (files from 32 MiB are
    /// patched by segments at level 9 at most).
    #[arg(long, default_value_t = 19, value_parser = clap::value_parser!(i32).range(1..=19))]
    level: i32,
}

/// The channel and rollout of a release record.
#[derive(clap::Args, Debug)]
pub struct OfferArgs {
    /// The channel it is offered on: `stable` (the default; installs follow
    /// it unless they chose another), `beta` or any name of [a-z0-9-]. Installs
    /// on other channels get stable releases too.
    #[arg(long, default_value = "stable")]
    channel: String,
    /// Offer it to this percentage of the channel's installs (a staged
    /// rollout; raise it later with `rollout`). Each install is in or out by
    /// its own random id, the same way every time.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    rollout: u8,
}

impl OfferArgs {
    fn offering(&self, version: &str) -> Result<release::Offering> {
        Ok(release::Offering {
            version: version
                .parse()
                .with_context(|| format!("version {version:?}"))?,
            channel: self
                .channel
                .parse()
                .with_context(|| format!("channel {:?}", self.channel))?,
            rollout: Rollout::percent(self.rollout)
                .context("a rollout is a percentage, 0 to 100")?,
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct PromoteArgs {
    #[arg(long, default_value = "log")]
    log: PathBuf,
    /// The released version to offer.
    #[arg(long)]
    version: String,
    /// The channel to offer it on (default stable), and to whom.
    #[command(flatten)]
    offer: OfferArgs,
}

#[derive(clap::Args, Debug)]
pub struct RolloutArgs {
    #[arg(long, default_value = "log")]
    log: PathBuf,
    /// The released version.
    #[arg(long)]
    version: String,
    /// The new percentage of the channel's installs (100: everyone).
    #[arg(value_parser = clap::value_parser!(u8).range(0..=100))]
    percent: u8,
    /// The channel whose rollout changes.
    #[arg(long, default_value = "stable")]
    channel: String,
}

#[derive(clap::Args, Debug)]
pub struct HaltArgs {
    #[arg(long, default_value = "log")]
    log: PathBuf,
    /// The released version to halt.
    #[arg(long)]
    version: String,
    /// The channel it is halted on.
    #[arg(long, default_value = "stable")]
    channel: String,
}

#[derive(clap::Args, Debug)]
pub struct RotateArgs {
    #[arg(long, default_value = "log")]
    log: PathBuf,
    /// The rotation log entry: `quince-signer sign aggregate --out FILE` for a
    /// `sign rotation-request`, signed by the NEW keyholders.
    #[arg(long, default_value = "rotation.entry")]
    entry: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    #[arg(long, default_value = "log")]
    log: PathBuf,
    /// The signed checkpoint (from `quince-signer sign aggregate`).
    note: PathBuf,
    /// The signing transcript to publish with it, so auditors can name the
    /// signers (default: NOTE.transcript.json when it exists).
    #[arg(long)]
    transcript: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[arg(long, default_value = "log")]
    log: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn init(args: InitArgs) -> Result<()> {
    let bytes =
        std::fs::read(&args.root).with_context(|| format!("reading {}", args.root.display()))?;
    let root = AppRoot::from_bytes(&bytes)
        .with_context(|| format!("{} is not an app root", args.root.display()))?;
    let log = LogDir::create(&args.log, &root)?;
    println!(
        "log for app \"{}\" created in {}",
        root.name(),
        args.log.display()
    );
    println!("app id: {}", log.app());
    Ok(())
}

pub fn release(args: ReleaseArgs) -> Result<()> {
    let log = LogDir::open(&args.log)?;
    let store = Store::open(&args.store)?;
    let manifest = read_manifest(&args.manifest)?;
    let platforms = args
        .platforms
        .iter()
        .map(|p| p.parse::<Platform>())
        .collect::<Result<Vec<_>, _>>()?;
    let offering = args.offer.offering(&args.version)?;
    let staged = release::stage_on(
        &log,
        &store,
        &manifest,
        &offering,
        &platforms,
        now(),
        args.level,
    )?;
    println!(
        "release {} staged as log entry {} on {} ({} patches from the previous release)",
        staged.record.version,
        staged.pending.size - 1,
        offered(&staged.record),
        staged.deltas.deltas.len()
    );
    next_steps(&args.log);
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// "beta, to 10% of its installs", "stable, to everyone", "stable: halted".
fn offered(r: &ReleaseRecord) -> String {
    if r.rollout.is_halted() {
        format!("{}: halted", r.channel)
    } else if r.rollout.is_full() {
        format!("{}, to everyone", r.channel)
    } else {
        format!("{}, to {} of its installs", r.channel, r.rollout)
    }
}

fn next_steps(log: &std::path::Path) {
    let body = log.join("pending/checkpoint.body");
    println!("checkpoint to sign: {}", body.display());
    println!(
        "next: quince-signer sign request --root root.bin --checkpoint {}",
        body.display()
    );
    println!(
        "then: quince-packager publish --log {} <signed checkpoint>",
        log.display()
    );
}

/// Stages a record that offers a released version as `offering` says.
fn stage_offer(log_path: &std::path::Path, offering: &release::Offering, what: &str) -> Result<()> {
    let log = LogDir::open(log_path)?;
    let (record, pending) = release::offer(&log, offering, now())?;
    println!(
        "{what} {} staged as log entry {}: {} (manifest {}, nothing to upload)",
        record.version,
        pending.size - 1,
        offered(&record),
        record.manifest.to_hex()
    );
    next_steps(log_path);
    Ok(())
}

pub fn promote(args: PromoteArgs) -> Result<()> {
    stage_offer(
        &args.log,
        &args.offer.offering(&args.version)?,
        "promotion of",
    )
}

pub fn rollout(args: RolloutArgs) -> Result<()> {
    let offer = OfferArgs {
        channel: args.channel,
        rollout: args.percent,
    };
    stage_offer(
        &args.log,
        &offer.offering(&args.version)?,
        "rollout step for",
    )
}

pub fn halt(args: HaltArgs) -> Result<()> {
    let offer = OfferArgs {
        channel: args.channel,
        rollout: 0,
    };
    stage_offer(&args.log, &offer.offering(&args.version)?, "halt of")
}

pub fn rotate(args: RotateArgs) -> Result<()> {
    let log = LogDir::open(&args.log)?;
    let bytes =
        quince_store::durable::read_bounded(&args.entry, quince_protocol::limits::MAX_ENTRY_BYTES)
            .with_context(|| format!("reading {}", args.entry.display()))?;
    let Ok(LogEntry::Rotation(record)) = LogEntry::from_bytes(&bytes) else {
        anyhow::bail!(
            "{} is not a rotation entry (make one with `quince-signer sign rotation-request` \
             and `sign aggregate` by the new keyholders)",
            args.entry.display()
        );
    };
    let current = log.signing_root()?;
    if record.root.group_key() == current.group_key() {
        anyhow::bail!(
            "{} rotates to the signers already in force (fingerprint {})",
            args.entry.display(),
            current.fingerprint()
        );
    }
    let pending = log.append(&[bytes])?;
    let body = args.log.join("pending/checkpoint.body");
    println!(
        "signer rotation staged as log entry {}: from signers {} to {}",
        pending.size - 1,
        current.fingerprint(),
        record.root.fingerprint()
    );
    println!("the app id and link do not change: {}", log.app());
    println!(
        "checkpoint to sign: {} (by the CURRENT keyholders, with the root they sign with today)",
        body.display()
    );
    println!(
        "next: quince-signer sign request --root root.bin --checkpoint {}",
        body.display()
    );
    println!(
        "then: quince-packager publish --log {} <signed checkpoint>; from then on the new \
         keyholders sign (quince-signer sign request --root <their new root.bin>)",
        args.log.display()
    );
    Ok(())
}

pub fn publish(args: PublishArgs) -> Result<()> {
    let log = LogDir::open(&args.log)?;
    let note =
        std::fs::read(&args.note).with_context(|| format!("reading {}", args.note.display()))?;
    // Check the transcript before publishing anything, so a bad one stops here.
    let default = PathBuf::from(format!("{}.transcript.json", args.note.display()));
    let transcript_path = args
        .transcript
        .clone()
        .or_else(|| default.exists().then_some(default));
    let transcript = match &transcript_path {
        Some(path) => {
            let json =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let shares = SignedShares::from_json(&json)
                .with_context(|| format!("{} is not a signing transcript", path.display()))?;
            let body = Note::parse(&note)
                .map(|n| n.text().as_bytes().to_vec())
                .unwrap_or_default();
            if shares.message != body {
                anyhow::bail!(
                    "{} is the transcript of another signing (its message is not this checkpoint)",
                    path.display()
                );
            }
            let signers = transcript::verify(&log.signing_root()?, &shares)
                .with_context(|| format!("transcript {}", path.display()))?;
            Some((json, signers))
        }
        None => None,
    };
    let signers_before = log.signing_root()?.fingerprint();
    let cp = log.publish(&note)?;
    println!(
        "published checkpoint of size {} for app {}",
        cp.size(),
        log.app()
    );
    let signers_after = log.signing_root()?.fingerprint();
    if signers_after != signers_before {
        println!(
            "signer rotation in force: from now on checkpoints are signed by {signers_after} \
             (clients that were offline walk through {})",
            args.log
                .join(quince_protocol::tile::rotation_path(cp.size()))
                .display()
        );
    }
    match transcript {
        Some((json, signers)) => {
            let path = log.put_transcript(cp.size(), &json)?;
            let who: Vec<String> = signers.iter().map(u16::to_string).collect();
            println!(
                "published the transcript in {} (signed by keyholders {})",
                path.display(),
                who.join(", ")
            );
        }
        None => println!(
            "no signing transcript given: auditors will see this checkpoint's signers as unknown"
        ),
    }
    Ok(())
}

pub fn abandon(args: LogArg) -> Result<()> {
    let log = LogDir::open(&args.log)?;
    log.abandon()?;
    println!("nothing is staged any more; the published log is unchanged");
    Ok(())
}

pub fn status(args: StatusArgs) -> Result<()> {
    let log = LogDir::open(&args.log)?;
    let entries = log.entries()?;
    let mut releases = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        match LogEntry::from_bytes(e)? {
            LogEntry::Release(r) => releases.push(serde_json::json!({"entry": i, "version": r.version.to_string(),
                "channel": r.channel.as_str(), "rollout": r.rollout.as_percent(),
                "manifest": r.manifest.to_hex(), "size": r.size, "platforms": r.platforms.iter().map(Platform::as_str).collect::<Vec<_>>()})),
            LogEntry::Rotation(r) => releases.push(serde_json::json!({"entry": i, "rotation": r.root.fingerprint()})),
        }
    }
    let pending = log.pending()?.map(|p| p.size);
    if args.json {
        println!(
            "{}",
            serde_json::json!({"app": log.app().to_string(), "size": entries.len(), "entries": releases, "pending_size": pending})
        );
        return Ok(());
    }
    println!("app {} — {} entries published", log.app(), entries.len());
    for r in &releases {
        println!("  {r}");
    }
    match pending {
        Some(size) => println!("staged: an append to size {size} waits for its signature"),
        None => println!("nothing staged"),
    }
    Ok(())
}
