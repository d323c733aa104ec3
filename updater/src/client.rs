//! [`Client`]: the one API over a user's Quince folder and node: open a
//! home, start and stop the node, install from a link or a bundle, sync
//! (check for updates), update, run, roll back, pin, share, verify, status,
//! and events for progress. The `quince`
//! CLI and the `quince-bootstrap` installer are thin shells over it, and a
//! third-party program can embed it the same way:
//!
//! ```no_run
//! # async fn demo() -> Result<(), quince_updater::ClientError> {
//! use std::time::Duration;
//! use quince_updater::{Client, NodeConfig};
//! use quince_updater::install::UpdateOptions;
//!
//! let mut client = Client::open("/tmp/quince-home".as_ref())?;
//! let mut events = client.events();
//! tokio::spawn(async move {
//!     while let Ok(event) = events.recv().await {
//!         eprintln!("{event:?}");
//!     }
//! });
//! client.start(NodeConfig::default()).await?;
//! let link = "quince://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
//!     .parse()
//!     .expect("a link");
//! let report = client
//!     .install(&link, &UpdateOptions::default(), Duration::from_secs(30))
//!     .await?;
//! println!("{:?}", report.outcome);
//! client.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! What it does not do: parse arguments, print, exit, or replace its own
//! binary (the binaries do), and it never links the packager or the signer.

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use quince_protocol::record::Version;
use quince_protocol::root::AppId;
use tokio::sync::broadcast;

use crate::fetch::{Either, Folder, PeerFault, Peers, Progress};
use crate::home::{Home, HomeError};
use crate::install::{AppState, Apps, Bundle, Difference, InstallError, Outcome, UpdateOptions};
use crate::link::Link;
use crate::node::{NetError, Node, NodeConfig};
use crate::Library;

/// How many addresses of each peer that served an app are remembered.
pub const ADDRESSES_PER_PEER: usize = 4;

/// How many of an app's remembered peers [`Client::poll`] asks.
pub const POLL_PEERS: usize = 8;

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
    /// An operation that needs the network was asked before [`Client::start`].
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

/// What a client reports while it works (subscribe with [`Client::events`]).
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

    fn of(p: &Progress) -> ProgressSnapshot {
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

/// A user's Quince: the home folder, its installed apps, and (once started)
/// a node that serves every installed app and fetches from peers.
#[derive(Debug)]
pub struct Client {
    home: Home,
    apps: Apps,
    library: Library,
    node: Option<Node>,
    /// The peers the node was started with (already dialled).
    bootstrap: Vec<Multiaddr>,
    events: broadcast::Sender<Event>,
    /// Whether apps are announced in the DHT after an install or update.
    announce: bool,
}

impl Client {
    /// Opens the Quince folder at `home` (created if needed).
    pub fn open(home: &Path) -> Result<Client, ClientError> {
        let apps = Apps::open(home)?;
        let library = Library::new(apps.store()?);
        for app in apps.installed() {
            if apps
                .log_dir(&app)
                .join(crate::fetch::CHECKPOINT_FILE)
                .exists()
            {
                library.add_app(app, apps.log_dir(&app));
            }
        }
        let (events, _) = broadcast::channel(256);
        Ok(Client {
            home: Home::new(apps.home()),
            apps,
            library,
            node: None,
            bootstrap: Vec::new(),
            announce: true,
            events,
        })
    }

    /// The home folder.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The installed apps.
    pub fn apps(&self) -> &Apps {
        &self.apps
    }

    /// What the node serves: every installed app's log and the shared store.
    pub fn library(&self) -> &Library {
        &self.library
    }

    /// Progress and outcomes as they happen.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Starts the node with `config` (its identity, if not set, is the
    /// home's), serving every installed app. Returns a handle to it.
    pub async fn start(&mut self, mut config: NodeConfig) -> Result<Node, ClientError> {
        if let Some(node) = &self.node {
            return Ok(node.clone());
        }
        if config.keypair.is_none() {
            config.keypair = Some(self.home.identity()?);
        }
        self.bootstrap = config.bootstrap.clone();
        let node = Node::start(config, Arc::new(self.library.clone())).await?;
        self.node = Some(node.clone());
        Ok(node)
    }

    /// The running node, if started.
    pub fn node(&self) -> Option<&Node> {
        self.node.as_ref()
    }

    /// Whether this client announces its apps in the DHT after installing or
    /// updating them (default: yes). A program that exits right after (a
    /// one-shot `quince install`, the bootstrap) should say no: its record
    /// would send others to a peer that is gone. The apps are served while
    /// the node runs either way.
    pub fn announce(&mut self, on: bool) {
        self.announce = on;
    }

    fn running(&self) -> Result<&Node, ClientError> {
        self.node.as_ref().ok_or(ClientError::NotStarted)
    }

    /// Saves the DHT peers the node met to the home's `peers.json`, newest first.
    pub async fn remember_peers(&self) -> Result<(), ClientError> {
        let node = self.running()?;
        let known = node.status().await.known_peers;
        Ok(self.home.remember_peers(&known)?)
    }

    /// Stops the node and waits for it.
    pub async fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await;
        }
    }

    /// Peers that hold `app`: those in `hints`, in the DHT, on the LAN.
    pub async fn find_peers(
        &self,
        app: AppId,
        hints: &[Multiaddr],
        within: Duration,
    ) -> Result<Vec<PeerId>, ClientError> {
        let node = self.running()?;
        let _ = self.events.send(Event::LookingForPeers { app });
        let found = node.find_peers(app, hints, within).await;
        if found.is_empty() {
            return Err(ClientError::NoPeers {
                app,
                looked: within,
            });
        }
        let _ = self.events.send(Event::PeersFound {
            app,
            peers: found.len(),
        });
        Ok(found)
    }

    /// Installs the app a link names (the link's version, if it gives one)
    /// from peers, health-checks it and serves it.
    pub async fn install(
        &self,
        link: &Link,
        options: &UpdateOptions,
        find_for: Duration,
    ) -> Result<Report, ClientError> {
        let node = self.running()?;
        for hint in link.peers.iter().filter(|h| !self.bootstrap.contains(h)) {
            node.add_peer(hint.clone()).await;
        }
        let options = UpdateOptions {
            version: options.version.or(link.version),
            channel: options.channel.clone().or_else(|| link.channel.clone()),
            ..options.clone()
        };
        self.update_from(link.app, &link.peers, &options, find_for)
            .await
    }

    /// Installs the app a link names from an offline bundle folder, with no
    /// network; verified against the link's app id like any peer.
    pub async fn install_from(
        &self,
        link: &Link,
        bundle: &Path,
        options: &UpdateOptions,
    ) -> Result<Report, ClientError> {
        let folder = Folder::open(bundle, link.app).map_err(InstallError::from)?;
        let mut peers = folder.peers();
        let options = UpdateOptions {
            version: options.version.or(link.version),
            channel: options.channel.clone().or_else(|| link.channel.clone()),
            ..options.clone()
        };
        let progress = options.progress.clone().unwrap_or_default();
        let options = UpdateOptions {
            progress: Some(progress.clone()),
            ..options
        };
        let outcome = self
            .apps
            .update(&Either::Folder(folder), link.app, &mut peers, &options)
            .await?;
        let _ = self.events.send(Event::Finished {
            app: link.app,
            outcome: outcome.clone(),
        });
        Ok(Report {
            outcome,
            peers,
            fetched: ProgressSnapshot::of(&progress),
        })
    }

    /// Updates an installed app (or installs it) from peers: verifies the
    /// newest log, installs the newest release not refused (or the pin),
    /// health-checks it, and serves the app and announces it in the DHT
    /// (unless told not to: [`Client::announce`]).
    pub async fn update(
        &self,
        app: AppId,
        options: &UpdateOptions,
        find_for: Duration,
    ) -> Result<Report, ClientError> {
        self.update_from(app, &[], options, find_for).await
    }

    async fn update_from(
        &self,
        app: AppId,
        hints: &[Multiaddr],
        options: &UpdateOptions,
        find_for: Duration,
    ) -> Result<Report, ClientError> {
        // Peers that served this app before are asked first: the app keeps
        // updating when every bootstrap node is gone.
        let node = self.running()?;
        let mut hints = hints.to_vec();
        for cached in self.home.app_peers(&app) {
            if !hints.contains(&cached) {
                if !self.bootstrap.contains(&cached) {
                    node.add_peer(cached.clone()).await;
                }
                hints.push(cached);
            }
        }
        let deadline = tokio::time::Instant::now() + find_for;
        let mut found = self.find_peers(app, &hints, find_for).await?;
        let mut tried: Vec<PeerId> = Vec::new();
        loop {
            tried.extend(&found);
            let result = self
                .update_from_peers(app, Peers::new(found), options)
                .await;
            // Every peer found failed (dead records in the DHT, peers that
            // left): while there is time, look for others and try them.
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let ran_out = matches!(
                &result,
                Err(ClientError::Install(InstallError::Fetch(
                    crate::fetch::FetchError::Exhausted { .. }
                )))
            );
            if !ran_out || left.is_zero() {
                return result;
            }
            let more = node.find_more_peers(app, &tried, left).await;
            if more.is_empty() {
                return result;
            }
            tracing::info!(
                "app {app}: the {} peer(s) found first failed; trying {} more",
                tried.len(),
                more.len()
            );
            let _ = self.events.send(Event::PeersFound {
                app,
                peers: more.len(),
            });
            found = more;
        }
    }

    /// Remembers, in the home's peer cache, the addresses of the peers that
    /// served verified data of `app`, and the DHT peers the node met. For
    /// each peer: the address of the connection used (a direct one first),
    /// then the relayed addresses it said it listens at. A direct address
    /// through the peer's NAT may only have worked for that one hole punch;
    /// its relayed addresses reach it next time.
    async fn remember_servers(&self, node: &Node, app: AppId, peers: &Peers) {
        use crate::node::Protocol;
        let status = node.status().await;
        let with_id = |addr: &Multiaddr, peer: PeerId| {
            if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
                addr.clone()
            } else {
                addr.clone().with(Protocol::P2p(peer))
            }
        };
        let mut addrs = Vec::new();
        for peer in peers.served().keys() {
            let mut conns: Vec<_> = status
                .connections
                .iter()
                .filter(|c| c.peer == *peer)
                .collect();
            conns.sort_by_key(|c| c.relayed);
            let mut mine: Vec<Multiaddr> = conns
                .first()
                .map(|c| with_id(&c.address, *peer))
                .into_iter()
                .collect();
            let mut said = node.peer_addresses(*peer).await;
            said.sort_by_key(|a| !a.iter().any(|p| p == Protocol::P2pCircuit));
            for addr in said {
                let addr = with_id(&addr, *peer);
                if mine.len() < ADDRESSES_PER_PEER && !mine.contains(&addr) {
                    mine.push(addr);
                }
            }
            addrs.extend(mine);
        }
        if let Err(e) = self.home.remember_app_peers(app, &addrs) {
            tracing::warn!("could not remember the peers of app {app}: {e}");
        }
        if let Err(e) = self.home.remember_peers(&status.known_peers) {
            tracing::warn!("could not remember DHT peers: {e}");
        }
    }

    /// [`Client::update`] from `peers` (found by the caller), without looking
    /// for more first (more found in the DHT are used as the fetch goes).
    pub async fn update_from_peers(
        &self,
        app: AppId,
        mut peers: Peers,
        options: &UpdateOptions,
    ) -> Result<Report, ClientError> {
        let node = self.running()?;
        let progress = options.progress.clone().unwrap_or_default();
        let options = UpdateOptions {
            progress: Some(progress.clone()),
            unannounced: options.unannounced || !self.announce,
            ..options.clone()
        };
        let ticker = self.report_progress(app, progress.clone());
        let source = Either::Node(node.clone());
        let result = self.apps.update(&source, app, &mut peers, &options).await;
        ticker.abort();
        // The last word on the fetch, even one quicker than the ticker.
        let last = ProgressSnapshot::of(&progress);
        if last.bytes_total > 0 {
            let _ = self.events.send(Event::Progress {
                app,
                progress: last,
            });
        }
        // What we hold, we serve (after an equivocation, the proof too).
        if self
            .apps
            .log_dir(&app)
            .join(crate::fetch::ROOT_FILE)
            .exists()
        {
            self.library.add_app(app, self.apps.log_dir(&app));
            if self.announce {
                let _ = node.provide(app).await;
            }
        }
        self.report_dropped(app, &peers);
        if result.is_ok() {
            self.remember_servers(node, app, &peers).await;
        }
        let outcome = result?;
        let _ = self.events.send(Event::Finished {
            app,
            outcome: outcome.clone(),
        });
        Ok(Report {
            outcome,
            peers,
            fetched: last,
        })
    }

    /// Checks for updates of an installed app: brings its trusted state and
    /// log up to the newest checkpoint peers can prove, installs nothing,
    /// and returns the verified log (see `VerifiedLog::latest_release`).
    pub async fn sync(
        &self,
        app: AppId,
        find_for: Duration,
    ) -> Result<crate::fetch::VerifiedLog, ClientError> {
        let node = self.running()?;
        let found = self.find_peers(app, &[], find_for).await?;
        let mut peers = Peers::new(found);
        let synced = self.apps.sync(node, app, &mut peers).await;
        self.report_dropped(app, &peers);
        Ok(synced?)
    }

    /// Whether `note` is a checkpoint of `app` signed with the key this
    /// client trusts for it and larger than the trusted one. A pushed
    /// checkpoint is checked so before anything is fetched for it: junk
    /// pushes cost one signature check. (A checkpoint signed with a key the
    /// client has not rotated to yet is not recognised here; the regular
    /// check picks it up.)
    pub fn is_newer(&self, app: &AppId, note: &[u8]) -> bool {
        let Some(trusted) = self
            .apps
            .state(app)
            .ok()
            .flatten()
            .and_then(|s| s.trusted().ok())
        else {
            return false;
        };
        let key = trusted.root().checkpoint_verifier(app);
        quince_protocol::checkpoint::VerifiedCheckpoint::verify(note, &app.origin(), &key)
            .is_ok_and(|c| c.size() > trusted.size())
    }

    /// Asks the peers that served `app` before (the home's peer cache, at
    /// most [`POLL_PEERS`]) for their newest checkpoint, each within
    /// `within`; true when one of them holds a newer one ([`Client::is_newer`]).
    /// One small request per peer: cheap enough to repeat every half minute,
    /// and it keeps the connections to those peers open, so their pushes
    /// reach this node the moment they publish.
    pub async fn poll(&self, app: AppId, within: Duration) -> bool {
        let Ok(node) = self.running() else {
            return false;
        };
        let connected: Vec<PeerId> = node
            .status()
            .await
            .connections
            .iter()
            .map(|c| c.peer)
            .collect();
        let mut peers: Vec<PeerId> = Vec::new();
        for addr in self.home.app_peers(&app) {
            if let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() {
                // Dialled only when not connected: a poll reuses the
                // connection it keeps open.
                if peer != node.peer_id() && !connected.contains(&peer) {
                    node.add_peer(addr.clone()).await;
                }
                if !peers.contains(&peer) && peer != node.peer_id() {
                    peers.push(peer);
                }
            }
        }
        peers.truncate(POLL_PEERS);
        let asks = peers.into_iter().map(|peer| async move {
            let request = quince_protocol::wire::Request::Checkpoint(app);
            match tokio::time::timeout(within, node.request(peer, request)).await {
                Ok(Ok(quince_protocol::wire::Response::Data(note))) => Some(note),
                _ => None,
            }
        });
        futures::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .any(|note| self.is_newer(&app, &note))
    }

    /// Sends a `PeerDropped` event for each peer the fetch left out.
    fn report_dropped(&self, app: AppId, peers: &Peers) {
        for (peer, fault) in peers.dropped() {
            let _ = self.events.send(Event::PeerDropped {
                app,
                peer: *peer,
                fault: fault.clone(),
            });
        }
    }

    /// Sends a progress event four times a second until aborted.
    fn report_progress(&self, app: AppId, progress: Arc<Progress>) -> tokio::task::JoinHandle<()> {
        let events = self.events.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let mut last = ProgressSnapshot::default();
            loop {
                tick.tick().await;
                let now = ProgressSnapshot::of(&progress);
                if now != last && now.bytes_total > 0 {
                    let _ = events.send(Event::Progress { app, progress: now });
                    last = now;
                }
            }
        })
    }

    /// The program of `app`'s current version.
    pub fn program(&self, app: &AppId) -> Result<std::path::PathBuf, ClientError> {
        Ok(self.apps.program(app)?)
    }

    /// Runs `app`'s current version with `args` and waits for it.
    pub fn run(
        &self,
        app: &AppId,
        args: &[String],
    ) -> Result<std::process::ExitStatus, ClientError> {
        let mut command = self.command(app)?;
        command
            .args(args)
            .status()
            .map_err(|source| ClientError::Run {
                program: command.get_program().into(),
                source,
            })
    }

    /// A command that starts `app`'s current version, with the environment
    /// that tells it its id, version and status file
    /// ([`crate::install::app_env`]).
    pub fn command(&self, app: &AppId) -> Result<std::process::Command, ClientError> {
        Ok(self.apps.command(app)?)
    }

    /// Goes back to `app`'s previous version and pins it there.
    pub fn rollback(&self, app: &AppId) -> Result<Version, ClientError> {
        Ok(self.apps.rollback(app)?)
    }

    /// Pins `app` at `version`, or follows new releases again (`None`).
    pub fn pin(&self, app: &AppId, version: Option<&Version>) -> Result<(), ClientError> {
        Ok(self.apps.pin(app, version)?)
    }

    /// The channel `app` follows and what it offers; with `set`, follows
    /// that channel from the next update on (see [`Apps::channel`]).
    pub fn channel(
        &self,
        app: &AppId,
        set: Option<&quince_protocol::record::Channel>,
    ) -> Result<crate::install::ChannelView, ClientError> {
        Ok(self.apps.channel(app, set)?)
    }

    /// Writes `app`'s current version for `platform` to a new folder that
    /// installs offline, with what this machine holds; the chunks it lacks
    /// (another platform's files) are in [`Bundle::lacking`], for
    /// [`Client::fetch_into`].
    pub fn share(
        &self,
        app: &AppId,
        folder: &Path,
        platform: &quince_protocol::record::Platform,
    ) -> Result<Bundle, ClientError> {
        Ok(self.apps.share(app, folder, platform)?)
    }

    /// Fetches `chunks` of `app` from its peers into the store at `store`
    /// (a bundle's, say), each checked against its address; returns the
    /// compressed bytes moved. The node must be started.
    pub async fn fetch_into(
        &self,
        app: AppId,
        chunks: Vec<quince_protocol::manifest::ChunkRef>,
        store: &Path,
        find_for: Duration,
    ) -> Result<u64, ClientError> {
        let node = self.running()?;
        let hints = self.home.app_peers(&app);
        let found = self.find_peers(app, &hints, find_for).await?;
        let mut peers = Peers::new(found);
        let store = quince_store::Store::open(store).map_err(InstallError::from)?;
        Ok(crate::fetch::fetch_chunks(
            &Either::Node(node.clone()),
            app,
            &mut peers,
            chunks,
            &store,
            8,
        )
        .await
        .map_err(InstallError::from)?)
    }

    /// Puts `app`'s current version back as signed: files that differ are
    /// rebuilt from the store, after fetching from peers any chunk it lacks
    /// (the node must be started then; it is not needed otherwise).
    pub async fn repair(
        &self,
        app: &AppId,
        find_for: Duration,
    ) -> Result<crate::install::Repaired, ClientError> {
        let needed = self.apps.repair_needs(app)?;
        if !needed.is_empty() {
            let node = self.running()?;
            let hints = self.home.app_peers(app);
            let found = self.find_peers(*app, &hints, find_for).await?;
            let mut peers = Peers::new(found);
            let store = self.apps.store()?;
            crate::fetch::fetch_chunks(
                &Either::Node(node.clone()),
                *app,
                &mut peers,
                needed,
                &store,
                8,
            )
            .await
            .map_err(InstallError::from)?;
        }
        Ok(self.apps.repair(app)?)
    }

    /// Re-hashes `app`'s installed version against its signed release.
    pub fn verify(&self, app: &AppId) -> Result<(Version, Vec<Difference>), ClientError> {
        Ok(self.apps.verify(app)?)
    }

    /// Every installed app with its recorded state.
    pub fn status(&self) -> Result<Vec<(AppId, AppState)>, ClientError> {
        let mut out = Vec::new();
        for app in self.apps.installed() {
            if let Some(state) = self.apps.state(&app)? {
                out.push((app, state));
            }
        }
        Ok(out)
    }
}
