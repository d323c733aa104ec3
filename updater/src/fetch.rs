//! Fetching an app from peers, trusting none of them. The seams:
//!
//! - [`Source`] (`source.rs`): where bytes come from: the libp2p [`Node`](crate::Node)
//!   or an offline bundle [`Folder`]; each answer is bytes or a [`PeerFault`].
//! - [`Peers`] and [`PeerFault`] (`peers.rs`): who may be asked, and what each
//!   did wrong. A fault moves work to another peer; only a [`FetchError`]
//!   refuses a release or stops an app.
//! - [`LogSync`] (`log.rs`): from an app id or trusted state to a
//!   [`VerifiedLog`], mirrored to a tlog-tiles folder (`mirror.rs`) that
//!   this node serves.
//! - [`ChunkScheduler`] (`scheduler.rs`): pure rules for which peer is asked
//!   for which chunk, backoff, hedging of stalled requests.
//! - [`fetch_release`] (`release.rs`): from a verified [`Release`] to a
//!   [`VerifiedRelease`] whose chunks are in the store, driving the scheduler;
//!   large changed files come as patches against a held release where that
//!   is cheaper (`patches.rs`, [`PatchReport`]).
//!
//! Installing what was fetched is [`crate::install`]'s job.

mod log;
mod mirror;
#[cfg(feature = "patches")]
mod patches;
mod peers;
mod release;
pub mod scheduler;
mod source;

use std::path::Path;
use std::time::Duration;

use quince_protocol::record::Platform;
use quince_protocol::root::AppId;
use quince_protocol::state::{Equivocation, TrustedState};
use quince_store::StoreError;

pub use log::{LogSync, Offer, OfferStep, Release, VerifiedLog};
pub(crate) use mirror::write_file;
pub use mirror::{CHECKPOINT_FILE, ROOT_FILE};
pub use peers::{PeerFault, Peers};
pub use quince_protocol::cosignature::Witnesses;
pub use release::{
    fetch_chunks, fetch_chunks_with, fetch_release, fetch_release_unpacking, fetch_release_with,
    fetch_with_dictionaries, VerifiedRelease,
};
pub use scheduler::{ChunkScheduler, STALL_AFTER};
pub use source::{Either, Folder, Source};

/// How long a peer may take over a small request (root, checkpoint, tile).
pub const SMALL_DEADLINE: Duration = Duration::from_secs(10);
/// How long a peer may take over a manifest.
pub const MANIFEST_DEADLINE: Duration = Duration::from_secs(60);

/// Why a fetch did not complete. The trusted state and the store hold only
/// what was verified before the error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No usable peer is left.
    #[error("no peer could provide {what} for app {app}: {details}")]
    Exhausted {
        /// The app.
        app: AppId,
        /// What was missing.
        what: String,
        /// What each peer did wrong.
        details: String,
    },
    /// The app's signers published two inconsistent histories: updates stop.
    #[error("equivocation: app {app}'s signers published two inconsistent checkpoints; updating is stopped")]
    Equivocation {
        /// The app.
        app: AppId,
        /// The evidence.
        evidence: Box<Equivocation>,
    },
    /// A validly signed checkpoint whose tree does not extend the trusted one:
    /// the app's signers published a fork. Updates stop.
    #[error("{0}")]
    Fork(Box<Fork>),
    /// The log has no release for this platform.
    #[error("app {app} has no release for {platform}")]
    NoRelease {
        /// The app.
        app: AppId,
        /// The platform.
        platform: Platform,
    },
    /// Writing locally failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log mirror could not be written, or a kept one is damaged.
    #[error("log mirror: {0}")]
    Mirror(String),
    /// The folder is not an offline bundle.
    #[error("{0} is not a Quince bundle (no log/root or store/)")]
    NotABundle(std::path::PathBuf),
}

/// Evidence of a fork: a signed checkpoint whose first `held_size` entries
/// (per tiles that reproduce its signed root) differ from the trusted tree.
#[derive(Debug, thiserror::Error)]
#[error("equivocation (fork): app {app}'s signers signed a checkpoint of size {offered_size} whose first {held_size} entries have root {prefix_root}, not the trusted {held_root}; updating is stopped")]
pub struct Fork {
    /// The app.
    pub app: AppId,
    /// The trusted size.
    pub held_size: u64,
    /// The trusted root.
    pub held_root: quince_protocol::Hash,
    /// The offered checkpoint's size.
    pub offered_size: u64,
    /// Root of the offered tree's first `held_size` entries.
    pub prefix_root: quince_protocol::Hash,
    /// The offered signed note.
    pub offered: Vec<u8>,
}

/// What patching did in one fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchReport {
    /// Files rebuilt from a patch.
    pub files: u64,
    /// Patch bytes received (including patches that failed).
    pub bytes: u64,
    /// Raw bytes of the chunks the patches produced.
    pub chunk_bytes: u64,
    /// Chunks the patches produced.
    pub chunks: u64,
    /// Patches that were tried and did not work, and why (their files were
    /// fetched as chunks).
    pub failed: Vec<String>,
}

/// How far a fetch has got, updated as it goes (for progress displays).
#[derive(Debug, Default)]
pub struct Progress {
    /// Chunks to fetch.
    pub chunks_total: std::sync::atomic::AtomicU64,
    /// Chunks fetched and verified.
    pub chunks_done: std::sync::atomic::AtomicU64,
    /// Raw bytes to fetch.
    pub bytes_total: std::sync::atomic::AtomicU64,
    /// Raw bytes fetched and verified.
    pub bytes_done: std::sync::atomic::AtomicU64,
    /// Peers in use.
    pub peers: std::sync::atomic::AtomicU64,
    /// Bytes received from peers: compressed chunks and patches, including
    /// any that failed verification.
    pub received: std::sync::atomic::AtomicU64,
    /// Files rebuilt from patches instead of fetched as chunks.
    pub patched_files: std::sync::atomic::AtomicU64,
}

/// Brings the trusted state of `app` up to the newest checkpoint any peer can
/// prove, and mirrors the verified log into `mirror` (a tlog-tiles folder).
/// Shorthand for [`LogSync`].
pub async fn sync_log<S: Source>(
    source: &S,
    app: AppId,
    peers: &mut Peers,
    state: Option<TrustedState>,
    mirror: &Path,
) -> Result<VerifiedLog, FetchError> {
    LogSync::new(app, mirror)
        .from_state(state)
        .run(source, peers)
        .await
}

/// [`sync_log`], accepting a new checkpoint only when it carries cosignatures
/// from `witnesses.quorum` of the trusted witnesses.
pub async fn sync_log_with<S: Source>(
    source: &S,
    app: AppId,
    peers: &mut Peers,
    state: Option<TrustedState>,
    mirror: &Path,
    witnesses: &Witnesses,
) -> Result<VerifiedLog, FetchError> {
    LogSync::new(app, mirror)
        .from_state(state)
        .witnesses(witnesses.clone())
        .run(source, peers)
        .await
}

/// Asks one peer for something small, within [`SMALL_DEADLINE`].
pub async fn ask<S: Source>(
    source: &S,
    peer: libp2p::PeerId,
    request: quince_protocol::wire::Request,
) -> Result<Vec<u8>, PeerFault> {
    source.ask(peer, request, SMALL_DEADLINE).await
}
