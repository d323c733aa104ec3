//! What the client API reports: its errors, its events, progress and
//! the outcome of an install or update.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use libp2p::PeerId;
use quince_protocol::root::AppId;

use crate::fetch::{PeerFault, Peers, Progress};
use crate::home::HomeError;
use crate::install::{InstallError, Outcome};
use crate::node::NetError;

/// Why a client operation failed. The installed apps and their trusted
/// state are as they were before it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The home folder or one of its files.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// Installing, updating or changing an app failed.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The node could not start.
    #[error(transparent)]
    Net(#[from] NetError),
    /// An operation that needs the network was asked before [`Client::start`](super::Client::start).
    #[error("the node is not started")]
    NotStarted,
    /// No peer that holds the app was found in time.
    #[error("no peer holds app {app} (looked for {} s)", looked.as_secs())]
    NoPeers {
        /// The app.
        app: AppId,
        /// How long it looked.
        looked: Duration,
    },
    /// The app's program did not start.
    #[error("cannot start {program}: {source}")]
    Run {
        /// The program.
        program: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What a client reports while it works (subscribe with [`Client::events`](super::Client::events)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Looking for peers that hold `app`.
    LookingForPeers {
        /// The app.
        app: AppId,
    },
    /// Peers found; the log is being verified.
    PeersFound {
        /// The app.
        app: AppId,
        /// How many.
        peers: usize,
    },
    /// The release is being fetched (about four times a second).
    Progress {
        /// The app.
        app: AppId,
        /// How far.
        progress: ProgressSnapshot,
    },
    /// A peer was left out of this fetch.
    PeerDropped {
        /// The app.
        app: AppId,
        /// The peer.
        peer: PeerId,
        /// What it did.
        fault: PeerFault,
    },
    /// An install or update of `app` ended.
    Finished {
        /// The app.
        app: AppId,
        /// How.
        outcome: Outcome,
    },
}

/// A number of bytes as people read it (1024-based units).
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// A fetch's progress at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Chunks fetched and verified.
    pub chunks_done: u64,
    /// Chunks to fetch.
    pub chunks_total: u64,
    /// Raw bytes fetched and verified.
    pub bytes_done: u64,
    /// Raw bytes to fetch.
    pub bytes_total: u64,
    /// Peers in use.
    pub peers: u64,
    /// Bytes received from peers (compressed chunks and patches).
    pub received: u64,
    /// Files rebuilt from patches.
    pub patched_files: u64,
}

impl ProgressSnapshot {
    /// The progress as one line for people, `elapsed` after the fetch
    /// began: peers, bytes done of the total, rate, time left.
    pub fn describe(&self, elapsed: std::time::Duration) -> String {
        let (done, total) = (self.bytes_done, self.bytes_total);
        let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
        let left = if done >= total && total > 0 {
            "done".to_string()
        } else if rate > 0.0 {
            format!("{:.0} s left", total.saturating_sub(done) as f64 / rate)
        } else {
            "starting".into()
        };
        format!(
            "{} peers  {} / {}  {}/s  {left}",
            self.peers,
            human_bytes(done as f64),
            human_bytes(total as f64),
            human_bytes(rate)
        )
    }

    pub(super) fn of(p: &Progress) -> ProgressSnapshot {
        ProgressSnapshot {
            chunks_done: p.chunks_done.load(Relaxed),
            chunks_total: p.chunks_total.load(Relaxed),
            bytes_done: p.bytes_done.load(Relaxed),
            bytes_total: p.bytes_total.load(Relaxed),
            peers: p.peers.load(Relaxed),
            received: p.received.load(Relaxed),
            patched_files: p.patched_files.load(Relaxed),
        }
    }
}

/// What an install or update did, and which peers it left out and why.
#[derive(Debug, Clone)]
pub struct Report {
    /// What changed.
    pub outcome: Outcome,
    /// The peers used and dropped.
    pub peers: Peers,
    /// What the fetch moved (all zero if nothing was fetched).
    pub fetched: ProgressSnapshot,
}
