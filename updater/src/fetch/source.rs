//! Where a fetch gets its bytes: [`Source`] asks one peer for one thing and
//! says what went wrong as a [`PeerFault`]. Two sources exist: the libp2p
//! [`Node`] (peers over the network, found in the DHT, on the LAN or in a
//! link) and a [`Folder`] (an offline bundle written by `quince share`, or
//! any log folder and content store on this machine, answered in-process
//! with no network and no libp2p node at all).
//!
//! A source is trusted no more than any peer: the log, manifest and chunks
//! it hands back are verified by the fetch exactly alike.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libp2p::PeerId;
use quince_protocol::root::AppId;
use quince_protocol::wire::{Request, Response};
use quince_store::Store;

use super::{FetchError, PeerFault, Peers};
use crate::library::Library;
use crate::node::{NetError, Node};

/// Something a fetch can ask peers through.
pub trait Source: Clone + Send + Sync + 'static {
    /// This node's own id: chunks are requested in an order of its own, so
    /// peers fetching together hold different chunks early and trade them.
    fn local_peer(&self) -> PeerId;

    /// Asks `peer` for `request`, giving up after `deadline`.
    fn ask(
        &self,
        peer: PeerId,
        request: Request,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<u8>, PeerFault>> + Send;

    /// Peers found since the fetch began that hold `app` (none by default).
    fn more_peers(&self, app: AppId) -> impl Future<Output = Vec<PeerId>> + Send {
        let _ = app;
        std::future::ready(Vec::new())
    }

    /// Whether what the peers hold stays as it is during a fetch (an
    /// offline bundle): then a peer lacking a chunk is not asked again.
    fn settled(&self) -> bool {
        false
    }

    /// Called once this node holds `app`'s verified log, so that others
    /// fetching it can find this node (a DHT announcement; nothing by default).
    fn holding(&self, app: AppId) {
        let _ = app;
    }

    /// How to name `peer` in an error message.
    fn name(&self, peer: &PeerId) -> String {
        peer.to_string()
    }
}

impl Source for Node {
    fn local_peer(&self) -> PeerId {
        self.peer_id()
    }

    async fn ask(
        &self,
        peer: PeerId,
        request: Request,
        deadline: Duration,
    ) -> Result<Vec<u8>, PeerFault> {
        match tokio::time::timeout(deadline, self.request(peer, request)).await {
            Err(_) => Err(PeerFault::Slow {
                detail: format!("no answer within {} s", deadline.as_secs()),
            }),
            Ok(Ok(Response::Data(bytes))) => Ok(bytes),
            Ok(Ok(Response::NotFound)) => Err(PeerFault::Missing),
            Ok(Ok(Response::Busy)) => Err(PeerFault::Busy),
            Ok(Err(NetError::Violation { reason, .. })) => Err(PeerFault::Violation { reason }),
            Ok(Err(NetError::Request { reason, .. })) => Err(PeerFault::Unreachable { reason }),
            Ok(Err(e)) => Err(PeerFault::Unreachable {
                reason: e.to_string(),
            }),
        }
    }

    async fn more_peers(&self, app: AppId) -> Vec<PeerId> {
        self.providers(app).await
    }

    fn holding(&self, app: AppId) {
        // In the background: an announcement may take a while, and the
        // fetch goes on meanwhile.
        let node = self.clone();
        tokio::spawn(async move { node.provide(app).await });
    }
}

/// An offline bundle folder (`log/` and `store/`, written by `quince
/// share`) as a source with one peer: the folder. Answers come from disk,
/// capped like a peer's; nothing in the folder is trusted.
#[derive(Debug, Clone)]
pub struct Folder {
    library: Library,
    path: PathBuf,
    peer: PeerId,
    me: PeerId,
}

impl Folder {
    /// Opens the bundle at `path` as holding `app`.
    pub fn open(path: &Path, app: AppId) -> Result<Folder, FetchError> {
        if !path.join("log/root").is_file() || !path.join("store").is_dir() {
            return Err(FetchError::NotABundle(path.to_path_buf()));
        }
        let mut folder = Folder::from_parts(&path.join("log"), &path.join("store"), app)?;
        folder.path = path.to_path_buf();
        Ok(folder)
    }

    /// A log folder and a content store kept apart (another Quince home's
    /// `apps/APP_ID/log` and `store`, or a publisher's), as a source.
    pub fn from_parts(log: &Path, store: &Path, app: AppId) -> Result<Folder, FetchError> {
        if !log.join("root").is_file() || !store.is_dir() {
            return Err(FetchError::NotABundle(log.to_path_buf()));
        }
        let library = Library::new(Store::open(store)?);
        library.add_app(app, log.to_path_buf());
        Ok(Folder {
            library,
            path: log.to_path_buf(),
            peer: PeerId::random(),
            me: PeerId::random(),
        })
    }

    /// The folder's stand-in peer id.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// The peers to fetch from: the folder alone.
    pub fn peers(&self) -> Peers {
        Peers::new([self.peer])
    }
}

impl Source for Folder {
    fn local_peer(&self) -> PeerId {
        self.me
    }

    fn settled(&self) -> bool {
        true
    }

    fn ask(
        &self,
        peer: PeerId,
        request: Request,
        _deadline: Duration,
    ) -> impl Future<Output = Result<Vec<u8>, PeerFault>> + Send {
        let answer = if peer == self.peer {
            match self.library.answer(&request) {
                Response::Data(bytes) => Ok(bytes),
                Response::NotFound => Err(PeerFault::Missing),
                Response::Busy => Err(PeerFault::Busy),
            }
        } else {
            Err(PeerFault::Unreachable {
                reason: "an offline install reaches no peers".into(),
            })
        };
        std::future::ready(answer)
    }

    fn name(&self, peer: &PeerId) -> String {
        if *peer == self.peer {
            format!("bundle {}", self.path.display())
        } else {
            peer.to_string()
        }
    }
}

/// One source or the other, so that the fetch and install code, generic over
/// [`Source`], is built once for both (the bootstrap's size).
#[derive(Clone)]
pub enum Either {
    /// Peers over the network.
    Node(Node),
    /// An offline bundle.
    Folder(Folder),
}

impl Source for Either {
    fn local_peer(&self) -> PeerId {
        match self {
            Either::Node(n) => n.local_peer(),
            Either::Folder(f) => f.local_peer(),
        }
    }

    async fn ask(
        &self,
        peer: PeerId,
        request: Request,
        deadline: Duration,
    ) -> Result<Vec<u8>, PeerFault> {
        match self {
            Either::Node(n) => n.ask(peer, request, deadline).await,
            Either::Folder(f) => f.ask(peer, request, deadline).await,
        }
    }

    async fn more_peers(&self, app: AppId) -> Vec<PeerId> {
        match self {
            Either::Node(n) => n.more_peers(app).await,
            Either::Folder(f) => f.more_peers(app).await,
        }
    }

    fn settled(&self) -> bool {
        match self {
            Either::Node(n) => n.settled(),
            Either::Folder(f) => f.settled(),
        }
    }

    fn holding(&self, app: AppId) {
        match self {
            Either::Node(n) => n.holding(app),
            Either::Folder(f) => f.holding(app),
        }
    }

    fn name(&self, peer: &PeerId) -> String {
        match self {
            Either::Node(n) => n.name(peer),
            Either::Folder(f) => f.name(peer),
        }
    }
}
