//! `quince-signer sign ...`: the two signing rounds, coordinated by files.
//!
//! The coordinator (any keyholder, or the publisher) runs `request`, `package`
//! and `aggregate`; each signing keyholder runs `commit` and `respond`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use quince_protocol::codec::Encode;
use quince_protocol::record::{LogEntry, RotationRecord};
use quince_protocol::root::AppId;
use quince_signer::net::Step;
use quince_signer::progress::Busy;
use quince_signer::share::KeyShare;
use quince_signer::signing::{
    self, CommitmentMessage, MessageKind, NonceStore, PackageMessage, ShareMessage, SigningRequest,
};

use super::{expand, read_json, read_root, write_json, Context};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Coordinator: ask the keyholders to sign a checkpoint (the text to sign).
    Request {
        /// The app root.
        #[arg(long, default_value = "root.bin")]
        root: PathBuf,
        /// The checkpoint text (for example the log's pending/checkpoint.body).
        #[arg(long)]
        checkpoint: PathBuf,
        /// What the checkpoint adds (the packager's pending/since.json), shown
        /// to the keyholders and checked by them (default: since.json beside
        /// the checkpoint file, if there).
        #[arg(long)]
        since: Option<PathBuf>,
        #[arg(long, default_value = "request.json")]
        out: PathBuf,
    },
    /// Coordinator: ask the NEW keyholders to sign their new root for a rotation.
    RotationRequest {
        /// The new root (from the new keyholders' key generation).
        #[arg(long)]
        new_root: PathBuf,
        /// The app id (it does not change).
        #[arg(long)]
        app: String,
        #[arg(long, default_value = "request.json")]
        out: PathBuf,
    },
    /// Keyholder, round 1: see what you are asked to sign and commit to it.
    Commit {
        #[arg(long, default_value = "request.json")]
        request: PathBuf,
        /// Folder for your commitment file.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Agree without a prompt (you still see what you sign).
        #[arg(long)]
        yes: bool,
    },
    /// Coordinator: combine three or more commitments into the signing package.
    Package {
        #[arg(long, default_value = "root.bin")]
        root: PathBuf,
        #[arg(long, default_value = "request.json")]
        request: PathBuf,
        #[arg(long, default_value = "package.json")]
        out: PathBuf,
        /// Commitment files (or folders).
        #[arg(required = true)]
        commitments: Vec<PathBuf>,
    },
    /// Keyholder, round 2: sign the package if it is what you committed to.
    Respond {
        #[arg(long, default_value = "package.json")]
        package: PathBuf,
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Coordinator: run both rounds over the network with keyholders running `serve`.
    Online {
        #[arg(long, default_value = "root.bin")]
        root: PathBuf,
        /// The checkpoint text to sign.
        #[arg(long)]
        checkpoint: PathBuf,
        /// What the checkpoint adds (the packager's pending/since.json), shown
        /// to the keyholders and checked by them (default: since.json beside
        /// the checkpoint file, if there).
        #[arg(long)]
        since: Option<PathBuf>,
        /// A keyholder's address as `serve` printed it (repeat for each).
        #[arg(long = "peer", required = true)]
        peers: Vec<String>,
        /// The signed checkpoint note.
        #[arg(long)]
        out: PathBuf,
        /// Seconds to wait for the keyholders in each round.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Coordinator: check the shares, aggregate, verify, and write the result.
    Aggregate {
        #[arg(long, default_value = "root.bin")]
        root: PathBuf,
        #[arg(long, default_value = "package.json")]
        package: PathBuf,
        /// The signed checkpoint note (or, for a rotation, the rotation log entry).
        #[arg(long)]
        out: PathBuf,
        /// Where to save the transcript (default: OUT.transcript.json).
        #[arg(long)]
        transcript: Option<PathBuf>,
        /// Signature share files (or folders).
        #[arg(required = true)]
        shares: Vec<PathBuf>,
    },
}

/// The app a checkpoint body is for: the id in its origin line
/// (`quince.app/<id>`), since after a signer rotation the root that signs is
/// no longer the one whose hash is the app id. A body of another shape is
/// taken to be for the root's own app (and the request then says what is
/// wrong with it). Keyholders check the app against their own share.
fn app_of(root: &quince_protocol::root::AppRoot, body: &str) -> AppId {
    body.lines()
        .next()
        .and_then(|origin| origin.strip_prefix("quince.app/"))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| root.app_id())
}

pub fn run(ctx: &Context, command: Command) -> Result<()> {
    match command {
        Command::Request {
            root,
            checkpoint,
            since,
            out,
        } => {
            let root = read_root(&root)?;
            let body = std::fs::read_to_string(&checkpoint)
                .with_context(|| format!("reading {}", checkpoint.display()))?;
            let mut request = SigningRequest::checkpoint(&root, &app_of(&root, &body), &body)?;
            request.since = read_since(&checkpoint, since.as_deref())?;
            let shown = request.describe(&root)?;
            write_json(&out, &request)?;
            print!("{shown}");
            println!(
                "request {} written to {}; send it to the keyholders",
                request.id,
                out.display()
            );
        }
        Command::RotationRequest { new_root, app, out } => {
            let new_root = read_root(&new_root)?;
            let app: AppId = app.parse()?;
            let request = SigningRequest::rotation(&new_root, &app);
            write_json(&out, &request)?;
            println!(
                "rotation request {} for app {app} written to {}; send it to the NEW keyholders",
                request.id,
                out.display()
            );
        }
        Command::Commit { request, out, yes } => {
            let request: SigningRequest = read_json(&request)?;
            let vault = ctx.vault(false)?;
            let share = load_share(ctx, &vault, &request)?;
            println!("You are asked, as participant {}, to sign:", share.index());
            print!("{}", request.describe(share.root())?);
            if !yes && !confirm()? {
                bail!("not signed: you did not agree");
            }
            let (committed, message) = signing::commit(&share, &request)?;
            NonceStore::new(&ctx.home.nonces()).put(&vault, &committed)?;
            let file = out.join(format!("commit-{}.json", message.from));
            write_json(&file, &message)?;
            println!(
                "commitment written to {}; send it to the coordinator",
                file.display()
            );
        }
        Command::Package {
            root,
            request,
            out,
            commitments,
        } => {
            let root = read_root(&root)?;
            let request: SigningRequest = read_json(&request)?;
            let commitments = expand(&commitments, "commit-")?
                .iter()
                .map(|p| read_json::<CommitmentMessage>(p))
                .collect::<Result<Vec<_>>>()?;
            let package = signing::package(&root, &request, &commitments)?;
            write_json(&out, &package)?;
            let who: Vec<String> = commitments.iter().map(|c| c.from.to_string()).collect();
            println!(
                "signing package for participants {} written to {}; send it to them",
                who.join(", "),
                out.display()
            );
        }
        Command::Respond { package, out } => {
            let package: PackageMessage = read_json(&package)?;
            let vault = ctx.vault(false)?;
            let share = load_share(ctx, &vault, &package.request)?;
            let committed =
                NonceStore::new(&ctx.home.nonces()).take(&vault, &package.request.id)?;
            let reply = committed.respond(&share, &package)?;
            let file = out.join(format!("share-{}.json", reply.from));
            write_json(&file, &reply)?;
            println!(
                "signature share written to {}; send it to the coordinator",
                file.display()
            );
        }
        Command::Online {
            root,
            checkpoint,
            since,
            peers,
            out,
            timeout,
        } => {
            let root = read_root(&root)?;
            let body = std::fs::read_to_string(&checkpoint)
                .with_context(|| format!("reading {}", checkpoint.display()))?;
            let app = app_of(&root, &body);
            let mut request = SigningRequest::checkpoint(&root, &app, &body)?;
            request.since = read_since(&checkpoint, since.as_deref())?;
            let peers = peers
                .iter()
                .map(|p| p.parse())
                .collect::<Result<Vec<libp2p::Multiaddr>, _>>()?;
            let runtime = tokio::runtime::Runtime::new()?;
            let busy = Busy::without_clock("asking the keyholders");
            let show = |step: Step| show_step(&busy, step);
            let (signature, record) = runtime.block_on(quince_signer::net::coordinate(
                &root,
                &request,
                &peers,
                std::time::Duration::from_secs(timeout),
                show,
            ))?;
            drop(busy);
            quince_signer::vault::write_public(
                &out,
                &signing::signed_checkpoint(&root, &app, &body, &signature)?,
            )?;
            let transcript = PathBuf::from(format!("{}.transcript.json", out.display()));
            write_json(&transcript, &record)?;
            let who: Vec<String> = record.shares.keys().map(u16::to_string).collect();
            println!(
                "signed online by participants {}; verified under the group key",
                who.join(", ")
            );
            println!(
                "written to {}; transcript in {}",
                out.display(),
                transcript.display()
            );
        }
        Command::Aggregate {
            root,
            package,
            out,
            transcript,
            shares,
        } => {
            let root = read_root(&root)?;
            let package: PackageMessage = read_json(&package)?;
            let shares = expand(&shares, "share-")?
                .iter()
                .map(|p| read_json::<ShareMessage>(p))
                .collect::<Result<Vec<_>>>()?;
            let (signature, record) = signing::aggregate(&root, &package, &shares)?;
            let app: AppId = package.request.app.parse()?;
            let bytes = match package.request.kind {
                MessageKind::Checkpoint => {
                    let body = String::from_utf8(package.request.message()?)
                        .context("checkpoint is not text")?;
                    signing::signed_checkpoint(&root, &app, &body, &signature)?
                }
                MessageKind::Rotation => LogEntry::Rotation(Box::new(RotationRecord {
                    app,
                    root: root.clone(),
                    root_signature: signature,
                }))
                .to_bytes(),
            };
            quince_signer::vault::write_public(&out, &bytes)?;
            let transcript = transcript
                .unwrap_or_else(|| PathBuf::from(format!("{}.transcript.json", out.display())));
            write_json(&transcript, &record)?;
            let who: Vec<String> = record.shares.keys().map(u16::to_string).collect();
            println!(
                "signed by participants {}; verified under the group key",
                who.join(", ")
            );
            println!(
                "written to {}; transcript in {}",
                out.display(),
                transcript.display()
            );
        }
    }
    Ok(())
}

/// Shows an online signing's progress: the status line on a terminal, and a
/// plain line (stderr) for every answer or problem.
fn show_step(busy: &Busy, step: Step) {
    let round_name = |round: u8| {
        if round == 1 {
            "commitments"
        } else {
            "signature shares"
        }
    };
    match step {
        Step::Waiting {
            round,
            got,
            wanted,
            left,
        } => busy.set(format!(
            "round {round}: {got} of {wanted} {} in; giving up in {} s",
            round_name(round),
            left.as_secs()
        )),
        Step::Answered { round, peer } => {
            note(busy, &format!("round {round}: {peer} answered"));
        }
        Step::Problem { round, problem } => {
            note(busy, &format!("round {round}: {problem}"));
        }
    }
}

/// A line above the status line (which redraws itself below it).
fn note(busy: &Busy, line: &str) {
    if busy.is_drawn() {
        eprintln!("\r\x1b[K{line}");
    } else {
        eprintln!("{line}");
    }
}

/// What the checkpoint adds: `--since`, else `since.json` beside the
/// checkpoint file; checked now as the keyholders will check it.
fn read_since(
    checkpoint: &std::path::Path,
    given: Option<&std::path::Path>,
) -> Result<Option<quince_signer::signing::Since>> {
    let beside = checkpoint.with_file_name("since.json");
    let path = match given {
        Some(p) => p.to_path_buf(),
        None if beside.is_file() => beside,
        None => {
            eprintln!(
                "note: no since.json beside {}: keyholders will see only the tree's size and root (give --since log/pending/since.json)",
                checkpoint.display()
            );
            return Ok(None);
        }
    };
    Ok(Some(read_json(&path)?))
}

fn load_share(
    ctx: &Context,
    vault: &quince_signer::vault::Vault,
    request: &SigningRequest,
) -> Result<KeyShare> {
    let path = ctx.home.share(&request.root);
    if !path.exists() {
        bail!(
            "you hold no share of the key this request is for (root {}); refusing",
            &request.root[..16.min(request.root.len())]
        );
    }
    Ok(KeyShare::load(vault, &path)?)
}

fn confirm() -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("not signed: no terminal to confirm on; pass --yes after reading the text above");
    }
    print!("Sign this? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
