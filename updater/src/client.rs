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
use std::sync::Arc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use quince_protocol::record::Version;
use quince_protocol::root::AppId;
use tokio::sync::broadcast;

use crate::fetch::{Either, Peers};
use crate::home::Home;
use crate::install::{AppState, Apps, Bundle, Difference, InstallError};
use crate::node::{Node, NodeConfig};
use crate::Library;

mod events;
mod fetching;

pub use events::{human_bytes, ClientError, Event, ProgressSnapshot, Report};

/// How many addresses of each peer that served an app are remembered.
pub const ADDRESSES_PER_PEER: usize = 4;

/// How many of an app's remembered peers [`Client::poll`] asks.
pub const POLL_PEERS: usize = 8;

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

    /// Peers that hold `app`: those the user `named` (a link's), those
    /// `cached` from earlier runs, in the DHT, on the LAN (see
    /// [`Node::find_peers`](crate::node::Node::find_peers): named peers are
    /// asked without waiting for the DHT).
    pub async fn find_peers(
        &self,
        app: AppId,
        named: &[Multiaddr],
        cached: &[Multiaddr],
        within: Duration,
    ) -> Result<Vec<PeerId>, ClientError> {
        let node = self.running()?;
        let _ = self.events.send(Event::LookingForPeers { app });
        let found = node.find_peers(app, named, cached, within).await;
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
    /// (a bundle's, say), each checked against its address; returns how
    /// many chunks it fetched. The node must be started. `dictionaries`
    /// (the release's, from its manifest) are fetched and learnt first,
    /// where the store lacks them; those among `chunks` are not asked twice.
    pub async fn fetch_into(
        &self,
        app: AppId,
        dictionaries: &[quince_protocol::manifest::ChunkRef],
        chunks: Vec<quince_protocol::manifest::ChunkRef>,
        store: &Path,
        find_for: Duration,
    ) -> Result<u64, ClientError> {
        let node = self.running()?;
        let hints = self.home.app_peers(&app);
        let found = self.find_peers(app, &[], &hints, find_for).await?;
        let mut peers = Peers::new(found);
        let store = quince_store::Store::open(store).map_err(InstallError::from)?;
        Ok(crate::fetch::fetch_with_dictionaries(
            &Either::Node(node.clone()),
            app,
            &mut peers,
            dictionaries,
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
            let found = self.find_peers(*app, &[], &hints, find_for).await?;
            let mut peers = Peers::new(found);
            let store = self.apps.store()?;
            let manifest = self.apps.current_manifest(app)?;
            crate::fetch::fetch_with_dictionaries(
                &Either::Node(node.clone()),
                *app,
                &mut peers,
                manifest.dictionaries(),
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
