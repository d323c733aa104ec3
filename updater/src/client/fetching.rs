//! Installing, updating and syncing an app: from peers (found in the DHT,
//! remembered, or named in a link) or from an offline bundle, with progress
//! events and the peers that served remembered for next time.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use quince_protocol::root::AppId;

use super::{Client, ClientError, Event, ProgressSnapshot, Report, ADDRESSES_PER_PEER, POLL_PEERS};
use crate::fetch::{Either, Folder, Peers, Progress};
use crate::install::{InstallError, UpdateOptions};
use crate::link::Link;
use crate::node::Node;

impl Client {
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
        // A link without a version installs what the bundle carries (its
        // `link` file names it), not the log's newest release, which the
        // bundle may not hold (one its maker refused, or one published
        // after the maker's install).
        let carried = || {
            let text = quince_store::durable::read_bounded(&bundle.join("link"), 4096).ok()?;
            let named: Link = std::str::from_utf8(&text).ok()?.trim().parse().ok()?;
            named.version.filter(|_| named.app == link.app)
        };
        let options = UpdateOptions {
            version: options.version.or(link.version).or_else(carried),
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
        let mut cached = Vec::new();
        for addr in self.home.app_peers(&app) {
            if !hints.contains(&addr) {
                if !self.bootstrap.contains(&addr) {
                    node.add_peer(addr.clone()).await;
                }
                cached.push(addr);
            }
        }
        let deadline = tokio::time::Instant::now() + find_for;
        let mut found = self.find_peers(app, hints, &cached, find_for).await?;
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
        let found = self.find_peers(app, &[], &[], find_for).await?;
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
}
