//! Fetching an app from peers, trusting none of them.
//!
//! [`sync_log`] gets the app's root (checked against the app id), asks every
//! peer for its checkpoint, and accepts the newest one that verifies under the
//! root in force and is consistent with the trusted state, checked with tiles
//! fetched from that peer. Entry bundles are checked against the tiles, signer
//! rotations are applied, and the verified log is mirrored to a folder so this
//! node can serve it. [`fetch_release`] gets the manifest (checked against the
//! release record) and every missing chunk, several peers at once with a
//! window per peer; each chunk is checked against its address before it is
//! stored, and a peer that sends a bad one is dropped and not asked again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt as _};
use libp2p::PeerId;
use quince_protocol::checkpoint::Checkpoint;
use quince_protocol::codec::Decode;
pub use quince_protocol::cosignature::Witnesses;
use quince_protocol::manifest::{ChunkId, ChunkRef, EntryKind, Manifest, VerifiedManifest};
use quince_protocol::merkle;
use quince_protocol::note::Note;
use quince_protocol::record::{LogEntry, Platform, ReleaseRecord};
use quince_protocol::root::{AppId, AppRoot};
use quince_protocol::state::{Advance, Equivocation, Refusal, TrustedState};
use quince_protocol::tile::{self, TileSet};
use quince_protocol::wire::{Request, Response};
use quince_store::{Store, StoreError};

use crate::node::{NetError, Node};

/// Why a fetch did not complete. The trusted state and the store hold only
/// what was verified before the error.
#[derive(Debug, thiserror::Error)]
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
    /// Writing the log mirror failed.
    #[error("{0}")]
    Io(String),
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

/// The peers a fetch may use, and those it dropped with the reason.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    usable: Vec<PeerId>,
    dropped: HashMap<PeerId, String>,
    served: HashMap<PeerId, u64>,
}

impl Peers {
    /// Starts with `peers`.
    pub fn new(peers: impl IntoIterator<Item = PeerId>) -> Peers {
        let mut usable: Vec<PeerId> = peers.into_iter().collect();
        usable.sort();
        usable.dedup();
        Peers {
            usable,
            dropped: HashMap::new(),
            served: HashMap::new(),
        }
    }

    /// Peers not dropped.
    pub fn usable(&self) -> &[PeerId] {
        &self.usable
    }

    /// Peers dropped, with why.
    pub fn dropped(&self) -> &HashMap<PeerId, String> {
        &self.dropped
    }

    /// How many verified chunks each peer served.
    pub fn served(&self) -> &HashMap<PeerId, u64> {
        &self.served
    }

    /// Adds a peer found during the fetch, unless it is known or was dropped
    /// for misbehaving. A peer dropped only for serving an older checkpoint
    /// comes back: it is likely fetching this release too, and chunks are
    /// checked against their addresses whoever sends them.
    pub fn add(&mut self, peer: PeerId) {
        if self
            .dropped
            .get(&peer)
            .is_some_and(|why| why.starts_with(STALE))
        {
            self.dropped.remove(&peer);
        }
        if !self.dropped.contains_key(&peer) && !self.usable.contains(&peer) {
            self.usable.push(peer);
        }
    }

    /// Drops `peer` for good.
    pub fn drop_peer(&mut self, peer: PeerId, reason: String) {
        self.usable.retain(|p| *p != peer);
        self.dropped.entry(peer).or_insert(reason);
    }

    fn details(&self, extra: &[String]) -> String {
        let mut all: Vec<String> = self
            .dropped
            .iter()
            .map(|(p, r)| format!("{p}: {r}"))
            .collect();
        all.extend_from_slice(extra);
        if all.is_empty() {
            "no peers".into()
        } else {
            all.join("; ")
        }
    }
}

/// A verified log: the new trusted state and every entry it covers.
#[derive(Debug, Clone)]
pub struct SyncedLog {
    /// The trusted state after the sync.
    pub state: TrustedState,
    /// The log's entries, in order.
    pub entries: Vec<Vec<u8>>,
}

impl SyncedLog {
    /// The newest release that serves `platform`.
    pub fn latest_release(&self, platform: &Platform) -> Option<ReleaseRecord> {
        self.entries
            .iter()
            .rev()
            .find_map(|e| match LogEntry::from_bytes(e) {
                Ok(LogEntry::Release(r)) if r.serves(platform) => Some(r),
                _ => None,
            })
    }
}

/// How long a peer may take over a small request (root, checkpoint, tile).
pub const SMALL_DEADLINE: Duration = Duration::from_secs(10);
/// How long a peer may take over a manifest.
pub const MANIFEST_DEADLINE: Duration = Duration::from_secs(60);
/// A chunk request in flight longer than this (or than eight times the median
/// chunk so far, if longer) is stalled: it is asked of another peer too.
pub const STALL_AFTER: Duration = Duration::from_secs(5);
/// A peer with this many stalled chunk requests, and fewer chunks served, is dropped.
const STALL_STRIKES: u32 = 3;

/// What a peer that lacks something says.
const MISSING: &str = "does not have it";

/// Why a peer was left out of a sync: not misbehaviour, it may be catching up.
const STALE: &str = "serves an older checkpoint";

/// What a peer said that names it too slow, so callers can drop it.
const TOO_SLOW: &str = "too slow";

/// Asks one peer for something small, within [`SMALL_DEADLINE`].
pub(crate) async fn ask(node: &Node, peer: PeerId, request: Request) -> Result<Vec<u8>, String> {
    ask_within(node, peer, request, SMALL_DEADLINE).await
}

async fn ask_within(
    node: &Node,
    peer: PeerId,
    request: Request,
    deadline: Duration,
) -> Result<Vec<u8>, String> {
    match tokio::time::timeout(deadline, ask_raw(node, peer, request)).await {
        Err(_) => Err(format!(
            "{TOO_SLOW}: no answer within {} s",
            deadline.as_secs()
        )),
        Ok(r) => r.map_err(|e| match e {
            Asked::Busy => "busy".to_string(),
            Asked::Missing => MISSING.to_string(),
            Asked::Violation(why) => format!("{VIOLATION}: {why}"),
            Asked::Failed(why) => why,
        }),
    }
}

/// Why a peer gave no data: busy (ask again later), a protocol violation
/// (drop it), or anything else.
enum Asked {
    Busy,
    /// The peer does not have it (yet: a peer fetching the same release may have it soon).
    Missing,
    Violation(String),
    Failed(String),
}

/// What a peer did that names it hostile, so callers can drop it.
const VIOLATION: &str = "broke the protocol";

async fn ask_raw(node: &Node, peer: PeerId, request: Request) -> Result<Vec<u8>, Asked> {
    match node.request(peer, request).await {
        Ok(Response::Data(bytes)) => Ok(bytes),
        Ok(Response::NotFound) => Err(Asked::Missing),
        Ok(Response::Busy) => Err(Asked::Busy),
        Err(NetError::Request { reason, .. }) => Err(Asked::Failed(reason)),
        Err(NetError::Violation { reason, .. }) => Err(Asked::Violation(reason)),
        Err(e) => Err(Asked::Failed(e.to_string())),
    }
}

/// How many times one chunk may meet a busy peer before that peer counts as
/// failing it (with backoff growing to one second, about two minutes).
const BUSY_RETRIES: u32 = 150;
/// How many times a peer may say it lacks a chunk before it is not asked for
/// it again. Peers fetching the same release at the same time get chunks from
/// each other, so "not yet" is common in a swarm (about half a minute with
/// the backoff); a peer that truly lacks it is asked others first meanwhile.
const MISSING_RETRIES: u32 = 40;
/// How often a fetch looks in the DHT for more peers holding the app.
const REFRESH_PEERS: Duration = Duration::from_secs(2);

/// Brings the trusted state of `app` up to the newest checkpoint any peer can
/// prove, and mirrors the verified log into `mirror` (a tlog-tiles folder).
pub async fn sync_log(
    node: &Node,
    app: AppId,
    peers: &mut Peers,
    state: Option<TrustedState>,
    mirror: &Path,
) -> Result<SyncedLog, FetchError> {
    sync_log_with(node, app, peers, state, mirror, &Witnesses::default()).await
}

/// [`sync_log`], accepting a new checkpoint only when it carries cosignatures
/// from `witnesses.quorum` of the trusted witnesses.
///
/// Split views are looked for on every sync: proof of equivocation already in
/// `mirror`, or held by any peer (a witness publishes what it finds), stops the
/// sync; and every other checkpoint a peer offered is checked against the
/// accepted tree, so two peers given different histories expose them. Found
/// proof is written to `mirror` (served to other peers) before the error.
pub async fn sync_log_with(
    node: &Node,
    app: AppId,
    peers: &mut Peers,
    state: Option<TrustedState>,
    mirror: &Path,
    witnesses: &Witnesses,
) -> Result<SyncedLog, FetchError> {
    let exhausted = |peers: &Peers, what: &str, extra: &[String]| FetchError::Exhausted {
        app,
        what: what.into(),
        details: peers.details(extra),
    };
    let mut state = match state {
        Some(s) => s,
        None => {
            let mut found = None;
            for peer in peers.usable().to_vec() {
                match ask(node, peer, Request::Root(app)).await {
                    Ok(bytes) => match AppRoot::from_bytes(&bytes)
                        .map_err(|e| e.to_string())
                        .and_then(|r| TrustedState::new(app, r).map_err(|e| e.to_string()))
                    {
                        Ok(s) => {
                            write_file(&mirror.join("root"), &bytes)?;
                            found = Some(s);
                            break;
                        }
                        Err(e) => peers.drop_peer(peer, format!("bad root: {e}")),
                    },
                    // Not holding the app (yet) is no fault: it may serve chunks soon.
                    Err(e) if e == MISSING => {}
                    Err(e) => peers.drop_peer(peer, e),
                }
            }
            found.ok_or_else(|| exhausted(peers, "the app's root", &[]))?
        }
    };

    // Proof of equivocation, already held or from any peer, stops everything.
    if let Some(evidence) = held_evidence(mirror, &app, state.root()) {
        return Err(FetchError::Equivocation { app, evidence });
    }
    // Every peer's checkpoint and any proof it holds, asked in one round.
    let asks: FuturesUnordered<_> = peers
        .usable()
        .iter()
        .map(|&p| async move {
            let (checkpoint, evidence) = futures::join!(
                ask(node, p, Request::Checkpoint(app)),
                ask(node, p, Request::Evidence(app))
            );
            (p, checkpoint, evidence)
        })
        .collect();
    let answers = asks.collect::<Vec<_>>().await;
    for (_, _, evidence) in &answers {
        if let Some(evidence) = evidence
            .as_ref()
            .ok()
            .and_then(|bytes| Equivocation::from_bytes(bytes).ok())
            .filter(|e| e.verify(&app, state.root()))
        {
            return Err(stop(mirror, app, evidence));
        }
    }

    // Newest first (and most signed first).
    let mut candidates = Vec::new();
    let mut skipped = Vec::new();
    for (peer, result, _) in answers {
        match result.and_then(|note| checkpoint_size(&note).map(|size| (size, note))) {
            Ok((size, note)) => candidates.push((size, peer, note)),
            Err(e) if e.starts_with(TOO_SLOW) || e.starts_with(VIOLATION) => {
                peers.drop_peer(peer, format!("checkpoint: {e}"))
            }
            Err(e) => skipped.push(format!("{peer}: checkpoint: {e}")),
        }
    }
    candidates.sort_by_key(|c| {
        (
            std::cmp::Reverse(c.0),
            std::cmp::Reverse(signature_count(&c.2)),
        )
    });
    let offered: Vec<(u64, PeerId)> = candidates.iter().map(|c| (c.0, c.1)).collect();
    let others: Vec<Vec<u8>> = candidates.iter().map(|c| c.2.clone()).collect();

    for (size, peer, note) in candidates {
        if size < state.size() {
            skipped.push(format!(
                "{peer}: serves an older checkpoint ({size} < {})",
                state.size()
            ));
            continue;
        }
        if size > state.size() {
            if let Some(lacking) = lacks_cosignatures(witnesses, &note) {
                skipped.push(format!("{peer}: checkpoint of size {size} {lacking}"));
                continue;
            }
        }
        let tiles = match fetch_tiles(node, app, peer, size).await {
            Ok(t) => t,
            Err(e) => {
                peers.drop_peer(peer, format!("tiles: {e}"));
                continue;
            }
        };
        let proof = match merkle::consistency_proof(&tiles, state.size(), size) {
            Ok(p) => p,
            Err(e) => {
                peers.drop_peer(peer, format!("tiles do not give a proof: {e}"));
                continue;
            }
        };
        let old_size = state.size();
        let next = match state.advance(&note, &proof) {
            Ok(Advance::Advanced(next)) => *next,
            Ok(Advance::Unchanged) => state.clone(),
            Err(Refusal::Equivocation(evidence)) => return Err(stop(mirror, app, *evidence)),
            // The signature verified (it is checked first). If the peer's tiles
            // reproduce the signed root, the bad proof means the signed tree
            // does not extend ours: a fork, not a bad peer.
            Err(Refusal::BadProof(e)) => {
                if let Some(signed_root) = checkpoint_root(&note) {
                    if tiles.verify(size, &signed_root).is_ok() {
                        if let Ok(prefix_root) = merkle::tree_root(&tiles, state.size()) {
                            if prefix_root != state.tree_root() {
                                return Err(FetchError::Fork(Box::new(Fork {
                                    app,
                                    held_size: state.size(),
                                    held_root: state.tree_root(),
                                    offered_size: size,
                                    prefix_root,
                                    offered: note,
                                })));
                            }
                        }
                    }
                }
                peers.drop_peer(peer, Refusal::BadProof(e).to_string());
                continue;
            }
            // Possibly signed by a group that rotated in after our state: not proof of malice.
            Err(Refusal::BadSignature(e)) => {
                skipped.push(format!(
                    "{peer}: checkpoint not signed by the signers we trust: {e}"
                ));
                continue;
            }
            Err(e) => {
                peers.drop_peer(peer, e.to_string());
                continue;
            }
        };
        let root = next.tree_root();
        if let Err(e) = tiles.verify(size, &root) {
            peers.drop_peer(peer, format!("tiles: {e}"));
            continue;
        }
        let entries = match fetch_entries(node, app, peer, size, &tiles).await {
            Ok(e) => e,
            Err(e) => {
                peers.drop_peer(peer, format!("entries: {e}"));
                continue;
            }
        };
        let mut next = next;
        for (i, entry) in entries.iter().enumerate().skip(old_size as usize) {
            if let Ok(LogEntry::Rotation(_)) = LogEntry::from_bytes(entry) {
                let incl = merkle::inclusion_proof(&tiles, i as u64, size)
                    .map_err(|e| FetchError::Io(e.to_string()))?;
                next = next
                    .apply_rotation(i as u64, entry, &incl)
                    .map_err(|e| exhausted(peers, "a valid rotation", &[e.to_string()]))?;
            }
        }
        // Every other checkpoint offered must be a prefix of this tree.
        if let Some(evidence) = split_view(&state, &next, &tiles, &note, &others) {
            return Err(stop(mirror, app, evidence));
        }
        mirror_log(mirror, &tiles, size, &entries, &note)?;
        // Peers that offered only an older checkpoint cannot serve this release.
        for (older, stale_peer) in &offered {
            if *older < size {
                peers.drop_peer(*stale_peer, format!("{STALE} (size {older} < {size})"));
            }
        }
        state = next;
        return Ok(SyncedLog { state, entries });
    }
    exhausted_or_current(state, mirror, peers, app, &skipped).await
}

async fn exhausted_or_current(
    state: TrustedState,
    mirror: &Path,
    peers: &Peers,
    app: AppId,
    skipped: &[String],
) -> Result<SyncedLog, FetchError> {
    // Nothing newer: keep what we had, if we had anything.
    if state.size() > 0 {
        let entries = read_mirror_entries(mirror, state.size()).unwrap_or_default();
        return Ok(SyncedLog { state, entries });
    }
    Err(FetchError::Exhausted {
        app,
        what: "a valid checkpoint".into(),
        details: peers.details(skipped),
    })
}

/// Equivocation evidence already stored in `mirror` that still verifies.
fn held_evidence(mirror: &Path, app: &AppId, root: &AppRoot) -> Option<Box<Equivocation>> {
    let bytes = std::fs::read(mirror.join(crate::library::EVIDENCE_FILE)).ok()?;
    let evidence = Equivocation::from_bytes(&bytes).ok()?;
    evidence.verify(app, root).then(|| Box::new(evidence))
}

/// Keeps verified evidence in `mirror` (so this node serves it on) and returns
/// the error that stops updates of `app`.
fn stop(mirror: &Path, app: AppId, evidence: Equivocation) -> FetchError {
    if let Err(e) = write_file(
        &mirror.join(crate::library::EVIDENCE_FILE),
        &evidence.to_bytes(),
    ) {
        tracing::warn!("could not keep the equivocation proof: {e}");
    }
    FetchError::Equivocation {
        app,
        evidence: Box::new(evidence),
    }
}

/// Checks the checkpoints peers offered against the accepted tree (`tiles`,
/// verified against `accepted`): one signed by the signers in force that is
/// not a prefix of it is proof of a split view.
fn split_view(
    before: &TrustedState,
    after: &TrustedState,
    tiles: &TileSet,
    accepted: &[u8],
    offered: &[Vec<u8>],
) -> Option<Equivocation> {
    let app = after.app();
    let accepted_size = after.size();
    for other in offered {
        // Signed by the root that signed the accepted checkpoint.
        let Ok(cp) = quince_protocol::checkpoint::VerifiedCheckpoint::verify(
            other,
            &app.origin(),
            &before.root().checkpoint_verifier(app),
        ) else {
            continue;
        };
        if cp.size() > accepted_size {
            continue; // not provable from these tiles; a later sync sees it
        }
        let Ok(prefix) = merkle::tree_root(tiles, cp.size()) else {
            continue;
        };
        if prefix == *cp.root() {
            continue;
        }
        let proof = merkle::consistency_proof(tiles, cp.size(), accepted_size).ok()?;
        let evidence = Equivocation {
            held_size: accepted_size,
            offered_size: cp.size(),
            held: accepted.to_vec(),
            offered: other.clone(),
            proof,
        };
        if evidence.verify(app, before.root()) {
            return Some(evidence);
        }
    }
    None
}

fn signature_count(note: &[u8]) -> usize {
    Note::parse(note).map_or(0, |n| n.signatures().len())
}

/// Why `note` does not meet the witness policy, if it does not.
fn lacks_cosignatures(witnesses: &Witnesses, note: &[u8]) -> Option<String> {
    if witnesses.quorum == 0 {
        return None;
    }
    let parsed = Note::parse(note).ok()?;
    let have = witnesses.cosigned_by(&parsed).len();
    (have < witnesses.quorum).then(|| {
        format!(
            "has {have} of the {} witness cosignatures required",
            witnesses.quorum
        )
    })
}

/// A number that orders chunks (and breaks ties between peers) differently
/// on each node, the same way every time on one node.
fn spread(me: &PeerId, chunk: &[u8], peer: &[u8]) -> u64 {
    let h = quince_protocol::Hash::of_parts(&[&me.to_bytes(), chunk, peer]);
    u64::from_be_bytes([
        h.0[0], h.0[1], h.0[2], h.0[3], h.0[4], h.0[5], h.0[6], h.0[7],
    ])
}

/// The root a checkpoint note states (signature not checked here).
fn checkpoint_root(note: &[u8]) -> Option<quince_protocol::Hash> {
    let n = Note::parse(note).ok()?;
    Some(Checkpoint::parse(n.text()).ok()?.root)
}

fn checkpoint_size(note: &[u8]) -> Result<u64, String> {
    let n = Note::parse(note).map_err(|e| e.to_string())?;
    Ok(Checkpoint::parse(n.text()).map_err(|e| e.to_string())?.size)
}

async fn fetch_tiles(node: &Node, app: AppId, peer: PeerId, size: u64) -> Result<TileSet, String> {
    let mut set = TileSet::new();
    for id in tile::tiles_for_size(size) {
        let bytes = ask(node, peer, Request::Tile(app, id.path())).await?;
        set.insert(id, &bytes).map_err(|e| format!("{id}: {e}"))?;
    }
    Ok(set)
}

async fn fetch_entries(
    node: &Node,
    app: AppId,
    peer: PeerId,
    size: u64,
    tiles: &TileSet,
) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for id in tile::bundles_for_size(size) {
        let bytes = ask(node, peer, Request::Tile(app, id.path())).await?;
        let entries = tile::decode_bundle(id, &bytes).map_err(|e| format!("{id}: {e}"))?;
        tiles
            .check_bundle(id, &entries)
            .map_err(|e| e.to_string())?;
        out.extend(entries.into_iter().map(<[u8]>::to_vec));
    }
    Ok(out)
}

/// Writes the verified log as a tlog-tiles folder; the checkpoint goes last.
fn mirror_log(
    mirror: &Path,
    tiles: &TileSet,
    size: u64,
    entries: &[Vec<u8>],
    note: &[u8],
) -> Result<(), FetchError> {
    for id in tile::tiles_for_size(size) {
        let data = tile::tile_data(tiles, id).map_err(|e| FetchError::Io(e.to_string()))?;
        write_file(&mirror.join(id.path()), &data)?;
    }
    for id in tile::bundles_for_size(size) {
        let first = id.first_entry() as usize;
        let bundle = tile::encode_bundle(&entries[first..first + usize::from(id.width)])
            .map_err(|e| FetchError::Io(e.to_string()))?;
        write_file(&mirror.join(id.path()), &bundle)?;
    }
    write_file(&mirror.join("checkpoint"), note)
}

pub(crate) fn read_mirror_entries(mirror: &Path, size: u64) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for id in tile::bundles_for_size(size) {
        let bytes = std::fs::read(mirror.join(id.path())).ok()?;
        out.extend(
            tile::decode_bundle(id, &bytes)
                .ok()?
                .into_iter()
                .map(<[u8]>::to_vec),
        );
    }
    Some(out)
}

/// Writes `path` durably: a temporary file, fsync, rename.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    let io = |e: std::io::Error| FetchError::Io(format!("{}: {e}", path.display()));
    let dir = path.parent().unwrap_or(path);
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f")
    ));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
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
}

/// Gets the manifest `record` names and every chunk `platform` needs.
pub async fn fetch_release(
    node: &Node,
    app: AppId,
    peers: &mut Peers,
    record: &ReleaseRecord,
    platform: &Platform,
    store: &Store,
    window: usize,
) -> Result<VerifiedManifest, FetchError> {
    fetch_release_with(node, app, peers, record, platform, store, window, None).await
}

/// [`fetch_release`], reporting to `progress`.
#[allow(clippy::too_many_arguments)]
pub async fn fetch_release_with(
    node: &Node,
    app: AppId,
    peers: &mut Peers,
    record: &ReleaseRecord,
    platform: &Platform,
    store: &Store,
    window: usize,
    progress: Option<&Progress>,
) -> Result<VerifiedManifest, FetchError> {
    let mut manifest = None;
    for peer in peers.usable().to_vec() {
        match ask_within(
            node,
            peer,
            Request::Manifest(record.manifest),
            MANIFEST_DEADLINE,
        )
        .await
        {
            Ok(bytes) => match Manifest::verify(&bytes, &record.manifest) {
                Ok(m) => {
                    store.put_manifest(&bytes)?;
                    manifest = Some(m);
                    break;
                }
                Err(e) => peers.drop_peer(peer, format!("manifest: {e}")),
            },
            Err(e) if e.starts_with(TOO_SLOW) || e.starts_with(VIOLATION) => {
                peers.drop_peer(peer, format!("manifest: {e}"))
            }
            Err(_) => {}
        }
    }
    let manifest = manifest.ok_or_else(|| FetchError::Exhausted {
        app,
        what: "the release's manifest".into(),
        details: peers.details(&[]),
    })?;
    let mut seen = HashSet::new();
    let needed: Vec<ChunkRef> = manifest
        .entries_for(platform)
        .filter_map(|e| match &e.kind {
            EntryKind::File { chunks, .. } => Some(chunks.clone()),
            _ => None,
        })
        .flatten()
        .filter(|c| seen.insert(c.id) && !store.has(&c.id))
        .collect();
    if let Some(p) = progress {
        use std::sync::atomic::Ordering::Relaxed;
        p.chunks_total.store(needed.len() as u64, Relaxed);
        p.bytes_total
            .store(needed.iter().map(|c| u64::from(c.size)).sum(), Relaxed);
        p.peers.store(peers.usable().len() as u64, Relaxed);
    }
    fetch_chunks_with(node, app, peers, needed, store, window, progress).await?;
    Ok(manifest)
}

/// Fetches `chunks` into `store` from the usable peers, at most `window` in
/// flight per peer. Each chunk is verified before it is stored; a peer that
/// sends a bad chunk is dropped; a chunk a peer lacks goes to another peer.
/// A request that stalls (see [`STALL_AFTER`]) is also asked of another peer,
/// and a peer that keeps stalling without serving is dropped as too slow.
/// Returns once every chunk is stored, without waiting for stalled requests.
pub async fn fetch_chunks(
    node: &Node,
    app: AppId,
    peers: &mut Peers,
    chunks: Vec<ChunkRef>,
    store: &Store,
    window: usize,
) -> Result<u64, FetchError> {
    fetch_chunks_with(node, app, peers, chunks, store, window, None).await
}

/// [`fetch_chunks`], reporting to `progress`.
pub async fn fetch_chunks_with(
    node: &Node,
    app: AppId,
    peers: &mut Peers,
    chunks: Vec<ChunkRef>,
    store: &Store,
    window: usize,
    progress: Option<&Progress>,
) -> Result<u64, FetchError> {
    let mut remaining: HashSet<ChunkId> = chunks.iter().map(|c| c.id).collect();
    // Each node asks for the chunks in its own order (a hash of its id and the
    // chunk's), so peers fetching the same release at once hold different
    // chunks early and can trade them instead of all waiting on one seeder.
    let me = node.peer_id();
    let mut chunks = chunks;
    chunks.sort_by_cached_key(|c| spread(&me, &c.id.0, b""));
    let mut queue: VecDeque<ChunkRef> = chunks.into();
    let mut tried: HashMap<ChunkId, HashSet<PeerId>> = HashMap::new();
    let mut load: HashMap<PeerId, usize> = HashMap::new();
    // Per chunk and peer: answers "busy" and "do not have it (yet)".
    let mut busy: HashMap<(ChunkId, PeerId), u32> = HashMap::new();
    let mut missing: HashMap<(ChunkId, PeerId), u32> = HashMap::new();
    let mut refresh: Option<tokio::task::JoinHandle<Vec<PeerId>>> = None;
    // The first look goes out at once: a swarm starting together finds itself.
    let mut refreshed = Instant::now()
        .checked_sub(REFRESH_PEERS)
        .unwrap_or_else(Instant::now);
    // Requests in flight: when each started, and whether it was already hedged.
    let mut started: HashMap<(ChunkId, PeerId), (ChunkRef, Instant, bool)> = HashMap::new();
    let mut strikes: HashMap<PeerId, u32> = HashMap::new();
    let mut durations: Vec<Duration> = Vec::new();
    let mut in_flight = FuturesUnordered::new();
    let mut fetched = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !remaining.is_empty() {
        // Hand out work: each chunk to the least loaded peer that has not failed it.
        let mut waiting = VecDeque::new();
        while let Some(chunk) = queue.pop_front() {
            if !remaining.contains(&chunk.id) {
                continue;
            }
            let failed = tried.entry(chunk.id).or_default();
            if peers.usable().iter().all(|p| failed.contains(p)) {
                return Err(FetchError::Exhausted {
                    app,
                    what: format!("chunk {}", chunk.id),
                    details: peers.details(&[]),
                });
            }
            // Prefer peers that have not turned this chunk down, then the least
            // loaded; ties go to a peer picked by hash, so no one peer (often the
            // publisher, first in every list) gets every first request.
            let choice = peers
                .usable()
                .iter()
                .filter(|p| {
                    !failed.contains(p)
                        && !started.contains_key(&(chunk.id, **p))
                        && load.get(p).copied().unwrap_or(0) < window
                })
                .min_by_key(|p| {
                    let refusals = busy.get(&(chunk.id, **p)).copied().unwrap_or(0)
                        + missing.get(&(chunk.id, **p)).copied().unwrap_or(0);
                    (
                        refusals,
                        load.get(p).copied().unwrap_or(0),
                        spread(&me, &chunk.id.0, &p.to_bytes()),
                    )
                })
                .copied();
            match choice {
                Some(peer) => {
                    *load.entry(peer).or_default() += 1;
                    started.insert((chunk.id, peer), (chunk, Instant::now(), false));
                    let node = node.clone();
                    let backoff = busy.get(&(chunk.id, peer)).copied().unwrap_or(0)
                        + 8 * missing.get(&(chunk.id, peer)).copied().unwrap_or(0);
                    in_flight.push(async move {
                        if backoff > 0 {
                            // This peer was busy for this chunk: wait longer each time, up to 1 s.
                            let ms = (50u64 << (backoff / 8).min(5)).min(1000);
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                        }
                        let result = ask_raw(&node, peer, Request::Chunk(chunk.id)).await;
                        (peer, chunk, result)
                    });
                }
                None => waiting.push_back(chunk),
            }
        }
        queue = waiting;
        // Now and then, look for more peers holding the app (peers that
        // started fetching it after us, and announced themselves).
        if refresh.as_ref().is_some_and(|h| h.is_finished()) {
            if let Some(Some(Ok(found))) = refresh.take().map(futures::FutureExt::now_or_never) {
                for p in found {
                    if p != me {
                        peers.add(p);
                    }
                }
            }
        }
        if refresh.is_none() && refreshed.elapsed() >= REFRESH_PEERS {
            refreshed = Instant::now();
            let node = node.clone();
            refresh = Some(tokio::spawn(async move { node.providers(app).await }));
        }
        let next = tokio::select! {
            next = in_flight.next(), if !in_flight.is_empty() => next,
            _ = tick.tick() => None,
        };
        let Some((peer, chunk, result)) = next else {
            if in_flight.is_empty() && queue.is_empty() && !remaining.is_empty() {
                // Nothing in flight and nothing to hand out: every chunk left is
                // waiting for a peer; this cannot progress.
                return Err(FetchError::Exhausted {
                    app,
                    what: format!("{} chunks", remaining.len()),
                    details: peers.details(&[]),
                });
            }
            hedge_stalled(
                peers,
                &mut started,
                &mut strikes,
                &durations,
                &mut tried,
                &mut queue,
                &remaining,
            );
            continue;
        };
        if let Some(l) = load.get_mut(&peer) {
            *l = l.saturating_sub(1);
        }
        let began = started.remove(&(chunk.id, peer));
        if !remaining.contains(&chunk.id) {
            continue; // another peer already delivered it
        }
        match result {
            Ok(bytes) => match store.put_compressed(&chunk, &bytes) {
                Ok(()) => {
                    fetched += 1;
                    remaining.remove(&chunk.id);
                    if let Some(p) = progress {
                        use std::sync::atomic::Ordering::Relaxed;
                        p.chunks_done.fetch_add(1, Relaxed);
                        p.bytes_done.fetch_add(u64::from(chunk.size), Relaxed);
                        p.peers.store(peers.usable().len() as u64, Relaxed);
                    }
                    *peers.served.entry(peer).or_default() += 1;
                    if let Some((_, t, _)) = began {
                        durations.push(t.elapsed());
                    }
                }
                Err(StoreError::CorruptChunk { reason, .. }) => {
                    peers.drop_peer(peer, format!("sent a bad chunk {}: {reason}", chunk.id));
                    queue.push_back(chunk);
                }
                Err(e) => return Err(e.into()),
            },
            Err(Asked::Busy) => {
                let n = busy.entry((chunk.id, peer)).or_default();
                *n += 1;
                if *n > BUSY_RETRIES {
                    tried.entry(chunk.id).or_default().insert(peer);
                }
                queue.push_back(chunk);
            }
            Err(Asked::Violation(why)) => {
                peers.drop_peer(peer, format!("{VIOLATION}: {why}"));
                queue.push_back(chunk);
            }
            Err(Asked::Missing) => {
                let n = missing.entry((chunk.id, peer)).or_default();
                *n += 1;
                if *n > MISSING_RETRIES {
                    tried.entry(chunk.id).or_default().insert(peer);
                }
                queue.push_back(chunk);
            }
            Err(Asked::Failed(_)) => {
                tried.entry(chunk.id).or_default().insert(peer);
                queue.push_back(chunk);
            }
        }
    }
    Ok(fetched)
}

/// Asks another peer for every chunk whose request has stalled, and drops a
/// peer that keeps stalling without serving.
fn hedge_stalled(
    peers: &mut Peers,
    started: &mut HashMap<(ChunkId, PeerId), (ChunkRef, Instant, bool)>,
    strikes: &mut HashMap<PeerId, u32>,
    durations: &[Duration],
    tried: &mut HashMap<ChunkId, HashSet<PeerId>>,
    queue: &mut VecDeque<ChunkRef>,
    remaining: &HashSet<ChunkId>,
) {
    let limit = {
        let mut d = durations.to_vec();
        d.sort();
        d.get(d.len() / 2)
            .map_or(STALL_AFTER, |median| (*median * 8).max(STALL_AFTER))
    };
    let mut stalled = Vec::new();
    for ((chunk, peer), (cref, t, hedged)) in started.iter_mut() {
        if !*hedged && t.elapsed() > limit && remaining.contains(chunk) {
            // Only worth it if some other usable peer has not failed this chunk.
            let failed = tried.entry(*chunk).or_default();
            let others = peers
                .usable()
                .iter()
                .any(|p| p != peer && !failed.contains(p));
            if others {
                *hedged = true;
                failed.insert(*peer);
                stalled.push((*cref, *peer));
            }
        }
    }
    for (chunk, peer) in stalled {
        if !queue.iter().any(|c| c.id == chunk.id) {
            queue.push_back(chunk);
        }
        let n = strikes.entry(peer).or_default();
        *n += 1;
        let served = peers.served().get(&peer).copied().unwrap_or(0);
        if *n >= STALL_STRIKES && served < u64::from(*n) && peers.usable().len() > 1 {
            peers.drop_peer(
                peer,
                format!(
                    "{TOO_SLOW}: {n} chunk requests stalled for over {} s",
                    limit.as_secs()
                ),
            );
        }
    }
}
