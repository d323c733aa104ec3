//! Log sync: from an app id (or a trusted state) and some peers to a
//! [`VerifiedLog`], the only way the rest of the client learns of releases.
//!
//! [`LogSync::run`] gets the app's root (checked against the app id), asks
//! every peer for its checkpoint and any proof of equivocation in one round,
//! and accepts the newest checkpoint that verifies under the root in force,
//! meets the witness policy and is consistent with the trusted state, checked
//! with tiles fetched from that peer. Entry bundles are checked against the
//! tiles, signer rotations are applied, every other offered checkpoint is
//! checked against the accepted tree (split views), and the verified log is
//! mirrored to a tlog-tiles folder so this node can serve it.
//!
//! It does not fetch manifests or chunks ([`super::release`] does).

use std::path::Path;

use futures::stream::{FuturesUnordered, StreamExt as _};
use libp2p::PeerId;
use quince_protocol::checkpoint::{Checkpoint, VerifiedCheckpoint};
use quince_protocol::codec::Decode;
use quince_protocol::cosignature::Witnesses;
use quince_protocol::merkle;
use quince_protocol::note::Note;
use quince_protocol::record::{LogEntry, ReleaseRecord};
use quince_protocol::root::{AppId, AppRoot};
use quince_protocol::state::{Advance, Equivocation, Refusal, TrustedState};
use quince_protocol::tile::{self, TileSet};
use quince_protocol::wire::Request;

mod offers;

pub use offers::{Offer, OfferStep};

use super::mirror;
use super::{FetchError, Fork, PeerFault, Peers, Source, SMALL_DEADLINE};

/// A log whose checkpoint verified under the root in force and whose every
/// entry is in that checkpoint's tree. Only [`LogSync`] (and a mirror that
/// re-verifies, [`VerifiedLog::from_mirror`]) builds one.
#[derive(Debug, Clone)]
pub struct VerifiedLog {
    state: TrustedState,
    entries: Vec<Vec<u8>>,
    decoded: Vec<Result<LogEntry, String>>,
    confirmed_at: Option<u64>,
}

/// A release record read from a [`VerifiedLog`]: its manifest hash can be
/// trusted. [`super::fetch_release`] takes nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    record: ReleaseRecord,
    index: u64,
}

impl Release {
    /// The record.
    pub fn record(&self) -> &ReleaseRecord {
        &self.record
    }

    /// Its position in the log.
    pub fn index(&self) -> u64 {
        self.index
    }
}

impl std::ops::Deref for Release {
    type Target = ReleaseRecord;
    fn deref(&self) -> &ReleaseRecord {
        &self.record
    }
}

impl VerifiedLog {
    fn new(state: TrustedState, entries: Vec<Vec<u8>>) -> VerifiedLog {
        let decoded = entries
            .iter()
            .map(|e| LogEntry::from_bytes(e).map_err(|err| err.to_string()))
            .collect();
        VerifiedLog {
            state,
            entries,
            decoded,
            confirmed_at: None,
        }
    }

    fn confirmed(mut self, at: Option<u64>) -> VerifiedLog {
        self.confirmed_at = at;
        self
    }

    /// The newest time a trusted witness cosigned this log's head, over
    /// every copy of it the peers offered (Unix seconds; `None` without
    /// witnesses or cosignatures). A head nobody confirmed lately may be a
    /// frozen view: the client's freshness check reads this.
    pub fn confirmed_at(&self) -> Option<u64> {
        self.confirmed_at
    }

    /// The verified log kept in `mirror` for `state`: its entries must give
    /// the state's signed root, or the mirror is damaged.
    pub fn from_mirror(mirror: &Path, state: TrustedState) -> Result<VerifiedLog, FetchError> {
        let entries = mirror::read_entries(mirror, state.size())?;
        let tree =
            merkle::MemoryTree::from_leaf_hashes(entries.iter().map(|e| merkle::leaf_hash(e)));
        if entries.len() as u64 != state.size() || tree.root() != state.tree_root() {
            return Err(FetchError::Mirror(format!(
                "{}: the log's entries do not match the signed checkpoint",
                mirror.display()
            )));
        }
        Ok(VerifiedLog::new(state, entries))
    }

    /// The trusted state this log was verified against.
    pub fn state(&self) -> &TrustedState {
        &self.state
    }

    /// The trusted state, taken out.
    pub fn into_state(self) -> TrustedState {
        self.state
    }

    /// Every entry, raw, in order.
    pub fn entries(&self) -> &[Vec<u8>] {
        &self.entries
    }

    /// Entries this client cannot read (a newer kind of record), with their
    /// index and why: they are in the signed tree but are not acted on.
    pub fn unreadable(&self) -> Vec<(u64, String)> {
        self.decoded
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.as_ref().err().map(|e| (i as u64, e.clone())))
            .collect()
    }

    /// Every release in log order.
    pub fn releases(&self) -> impl Iterator<Item = Release> + '_ {
        self.decoded
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match d {
                Ok(LogEntry::Release(r)) => Some(Release {
                    record: r.clone(),
                    index: i as u64,
                }),
                _ => None,
            })
    }
}

/// One sync of one app's log: what it starts from and what it accepts.
#[derive(Debug, Clone)]
pub struct LogSync<'a> {
    app: AppId,
    trusted: Option<TrustedState>,
    mirror: &'a Path,
    witnesses: Witnesses,
}

impl<'a> LogSync<'a> {
    /// A sync of `app` that mirrors the verified log into `mirror`, starting
    /// from nothing (trust on first use of the root, pinned by the app id).
    pub fn new(app: AppId, mirror: &'a Path) -> LogSync<'a> {
        LogSync {
            app,
            trusted: None,
            mirror,
            witnesses: Witnesses::default(),
        }
    }

    /// Starts from `trusted` (a smaller tree is then a rollback).
    pub fn from_state(mut self, trusted: Option<TrustedState>) -> Self {
        self.trusted = trusted;
        self
    }

    /// Accepts a new checkpoint only with `witnesses.quorum` cosignatures.
    pub fn witnesses(mut self, witnesses: Witnesses) -> Self {
        self.witnesses = witnesses;
        self
    }

    /// Brings the trusted state up to the newest checkpoint any peer can
    /// prove. Peers that misbehave are dropped from `peers` with their fault;
    /// proof of equivocation, held or found, stops the sync (and is kept in
    /// the mirror, where this node serves it on).
    pub async fn run<S: Source>(
        self,
        source: &S,
        peers: &mut Peers,
    ) -> Result<VerifiedLog, FetchError> {
        let LogSync {
            app,
            trusted,
            mirror,
            witnesses,
        } = self;
        let exhausted = |peers: &Peers, what: &str, extra: &[String]| FetchError::Exhausted {
            app,
            what: what.into(),
            details: peers.details(&|p| source.name(p), extra),
        };
        let state = match trusted {
            Some(s) => s,
            None => first_root(source, app, peers, mirror)
                .await?
                .ok_or_else(|| exhausted(peers, "the app's root", &[]))?,
        };

        // Proof of equivocation, already held or from any peer, stops everything.
        if let Some(evidence) = mirror::held_evidence(mirror, &app, state.root()) {
            return Err(FetchError::Equivocation { app, evidence });
        }
        let answers = ask_heads(source, app, peers.usable()).await;
        for (_, _, evidence) in &answers {
            if let Some(evidence) = evidence
                .as_ref()
                .ok()
                .and_then(|bytes| Equivocation::from_bytes(bytes).ok())
                .filter(|e| e.verify(&app, state.root()))
            {
                return Err(mirror::stop(mirror, app, evidence));
            }
        }

        // Newest first (and most signed first).
        let mut candidates = Vec::new();
        let mut skipped = Vec::new();
        for (peer, result, _) in answers {
            match result.and_then(|note| {
                checkpoint_size(&note)
                    .map(|size| (size, note))
                    .map_err(|e| PeerFault::bad_data("checkpoint", e))
            }) {
                Ok((size, note)) => candidates.push((size, peer, note)),
                Err(fault @ (PeerFault::Slow { .. } | PeerFault::Violation { .. })) => {
                    peers.drop_peer(peer, fault.about("checkpoint"))
                }
                Err(fault) => skipped.push(format!("{}: checkpoint: {fault}", source.name(&peer))),
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
        // Every copy's cosignatures count: a head is taken with the newest
        // cosignature of each trusted witness found on any copy of it.
        let copies: Vec<Note> = if witnesses.keys.is_empty() {
            Vec::new()
        } else {
            others.iter().filter_map(|n| Note::parse(n).ok()).collect()
        };

        // A client that was offline across signer rotations cannot check
        // the newest checkpoint (signers it does not know yet made it): it
        // first walks the checkpoints that first contained each rotation,
        // which the signers it knows made, asking the peer that offered it.
        let mut state = state;
        for (size, peer, note) in &candidates {
            if *size <= state.size() || signed_in_force(&state, note) {
                break;
            }
            let mut steps = 0;
            while !signed_in_force(&state, note) && steps < MAX_ROTATION_STEPS {
                match rotation_step(source, app, *peer, &state, mirror).await? {
                    Ok(Some(next)) => state = next,
                    Ok(None) => break,
                    Err(fault) => {
                        peers.drop_peer(*peer, fault.about("rotation checkpoint"));
                        break;
                    }
                }
                steps += 1;
            }
            if signed_in_force(&state, note) {
                break;
            }
        }

        for (size, peer, note) in candidates {
            let note = match Note::parse(&note) {
                Ok(n) if !copies.is_empty() => witnesses.merge(&n, &copies).to_bytes(),
                _ => note,
            };
            if size < state.size() {
                skipped.push(format!(
                    "{}: {}",
                    source.name(&peer),
                    PeerFault::Stale {
                        offered: size,
                        trusted: state.size()
                    }
                ));
                continue;
            }
            if size > state.size() {
                if let Some(lacking) = lacks_cosignatures(&witnesses, &note) {
                    skipped.push(format!(
                        "{}: checkpoint of size {size} {lacking}",
                        source.name(&peer)
                    ));
                    continue;
                }
            }
            let tiles = match fetch_tiles(source, app, peer, size).await {
                Ok(t) => t,
                Err(fault) => {
                    peers.drop_peer(peer, fault.about("tiles"));
                    continue;
                }
            };
            let proof = match merkle::consistency_proof(&tiles, state.size(), size) {
                Ok(p) => p,
                Err(e) => {
                    peers.drop_peer(
                        peer,
                        PeerFault::bad_data("tiles", format!("they do not give a proof: {e}")),
                    );
                    continue;
                }
            };
            let old_size = state.size();
            let next = match state.advance(&note, &proof) {
                Ok(Advance::Advanced(next)) => *next,
                Ok(Advance::Unchanged) => state.clone(),
                Err(Refusal::Equivocation(evidence)) => {
                    return Err(mirror::stop(mirror, app, *evidence))
                }
                // The signature verified (it is checked first). If the peer's tiles
                // reproduce the signed root, the bad proof means the signed tree
                // does not extend ours: a fork, not a bad peer.
                Err(Refusal::BadProof(e)) => {
                    if let Some(fork) = fork(&state, &tiles, size, &note) {
                        return Err(FetchError::Fork(Box::new(fork)));
                    }
                    peers.drop_peer(
                        peer,
                        PeerFault::bad_data("consistency proof", Refusal::BadProof(e)),
                    );
                    continue;
                }
                // Possibly signed by a group that rotated in after our state: not proof of malice.
                Err(Refusal::BadSignature(e)) => {
                    skipped.push(format!(
                        "{}: checkpoint not signed by the signers we trust: {e}",
                        source.name(&peer)
                    ));
                    continue;
                }
                Err(e) => {
                    peers.drop_peer(peer, PeerFault::bad_data("checkpoint", e));
                    continue;
                }
            };
            if let Err(e) = tiles.verify(size, &next.tree_root()) {
                peers.drop_peer(peer, PeerFault::bad_data("tiles", e));
                continue;
            }
            let entries = match fetch_entries(source, app, peer, size, &tiles).await {
                Ok(e) => e,
                Err(fault) => {
                    peers.drop_peer(peer, fault.about("entries"));
                    continue;
                }
            };
            let (next, rotated) = apply_rotations(next, &tiles, &entries, old_size, size)
                .map_err(|e| exhausted(peers, "a valid rotation", &[e.to_string()]))?;
            // Every other checkpoint offered must be a prefix of this tree.
            if let Some(evidence) = split_view(&state, &next, &tiles, &note, &others) {
                return Err(mirror::stop(mirror, app, evidence));
            }
            mirror::write_log(mirror, &tiles, size, &entries, &note)?;
            if rotated {
                mirror::write_rotation(mirror, size, &note)?;
            }
            // Peers that offered only an older checkpoint cannot serve this release.
            for (older, stale_peer) in &offered {
                if *older < size {
                    peers.drop_peer(
                        *stale_peer,
                        PeerFault::Stale {
                            offered: *older,
                            trusted: size,
                        },
                    );
                }
            }
            let confirmed = Note::parse(&note)
                .ok()
                .and_then(|n| witnesses.confirmed_at(&n));
            return Ok(VerifiedLog::new(next, entries).confirmed(confirmed));
        }
        // Nothing newer: keep what we had, if we had anything, provided some
        // peer answered at all ("up to date" after hearing from nobody
        // would be a guess).
        if state.size() > 0 && !offered.is_empty() {
            let confirmed = state
                .checkpoint()
                .and_then(|cp| witnesses.confirmed_at(&witnesses.merge(cp.note(), &copies)));
            return Ok(VerifiedLog::from_mirror(mirror, state)?.confirmed(confirmed));
        }
        Err(exhausted(peers, "a valid checkpoint", &skipped))
    }
}

/// The app's first root from the first peer that has one that hashes to
/// `app`; peers with a bad one are dropped.
async fn first_root<S: Source>(
    source: &S,
    app: AppId,
    peers: &mut Peers,
    mirror: &Path,
) -> Result<Option<TrustedState>, FetchError> {
    for peer in peers.usable().to_vec() {
        match source.ask(peer, Request::Root(app), SMALL_DEADLINE).await {
            Ok(bytes) => match AppRoot::from_bytes(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|r| TrustedState::new(app, r).map_err(|e| e.to_string()))
            {
                Ok(s) => {
                    mirror::write_root(mirror, &bytes)?;
                    return Ok(Some(s));
                }
                Err(e) => peers.drop_peer(peer, PeerFault::bad_data("root", e)),
            },
            // Not holding the app (yet) is no fault: it may serve chunks soon.
            Err(PeerFault::Missing) => {}
            Err(fault) => peers.drop_peer(peer, fault.about("root")),
        }
    }
    Ok(None)
}

type HeadAnswer = (
    PeerId,
    Result<Vec<u8>, PeerFault>,
    Result<Vec<u8>, PeerFault>,
);

/// Every peer's checkpoint and any proof of equivocation it holds, in one round.
/// The longest wait before asking a busy peer for its checkpoint again.
const BUSY_RETRY_LAST: std::time::Duration = std::time::Duration::from_secs(4);

async fn ask_heads<S: Source>(source: &S, app: AppId, peers: &[PeerId]) -> Vec<HeadAnswer> {
    peers
        .iter()
        .map(|&p| async move {
            // "Busy" means "ask again later": a peer at its limit is asked
            // again a few times (0.5 s, then 1, 2, 4 s apart) before it counts
            // as not answering; when it is the only peer, that is the fetch.
            let checkpoint = async {
                let mut wait = std::time::Duration::from_millis(500);
                loop {
                    let answer = source
                        .ask(p, Request::Checkpoint(app), SMALL_DEADLINE)
                        .await;
                    if !matches!(answer, Err(PeerFault::Busy)) || wait > BUSY_RETRY_LAST {
                        break answer;
                    }
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            };
            let (checkpoint, evidence) = futures::join!(
                checkpoint,
                source.ask(p, Request::Evidence(app), SMALL_DEADLINE)
            );
            (p, checkpoint, evidence)
        })
        .collect::<FuturesUnordered<_>>()
        .collect()
        .await
}

/// A fork, if the peer's tiles reproduce the offered signed root but their
/// first `state.size()` leaves do not give the trusted root.
fn fork(state: &TrustedState, tiles: &TileSet, size: u64, note: &[u8]) -> Option<Fork> {
    let signed_root = checkpoint_root(note)?;
    tiles.verify(size, &signed_root).ok()?;
    let prefix_root = merkle::tree_root(tiles, state.size()).ok()?;
    (prefix_root != state.tree_root()).then(|| Fork {
        app: *state.app(),
        held_size: state.size(),
        held_root: state.tree_root(),
        offered_size: size,
        prefix_root,
        offered: note.to_vec(),
    })
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
        let Ok(cp) = VerifiedCheckpoint::verify(
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

/// Most rotation checkpoints one sync walks through.
const MAX_ROTATION_STEPS: usize = 64;

/// Whether `note` is signed by the signers in force in `state`.
fn signed_in_force(state: &TrustedState, note: &[u8]) -> bool {
    let app = state.app();
    VerifiedCheckpoint::verify(note, &app.origin(), &state.root().checkpoint_verifier(app)).is_ok()
}

/// Applies every rotation entry after `old_size` in the verified tree of
/// `size` leaves to `state`; also says whether there was any.
fn apply_rotations(
    mut state: TrustedState,
    tiles: &TileSet,
    entries: &[Vec<u8>],
    old_size: u64,
    size: u64,
) -> Result<(TrustedState, bool), Refusal> {
    let mut rotated = false;
    for (i, entry) in entries.iter().enumerate().skip(old_size as usize) {
        if let Ok(LogEntry::Rotation(_)) = LogEntry::from_bytes(entry) {
            let incl = merkle::inclusion_proof(tiles, i as u64, size).map_err(Refusal::BadProof)?;
            state = state.apply_rotation(i as u64, entry, &incl)?;
            rotated = true;
        }
    }
    Ok((state, rotated))
}

/// One step through a signer rotation: `peer`'s checkpoint that first
/// contained the next rotation after `state`, checked like any new
/// checkpoint (signed by the signers in force, consistent, its tiles and
/// entries matching) and then the rotations it holds applied. `None` when
/// the peer has no such checkpoint. Witness cosignatures are not required
/// of it: witnesses cosign heads, and the head this step leads to still
/// needs them. The step is mirrored (this node then serves it on).
async fn rotation_step<S: Source>(
    source: &S,
    app: AppId,
    peer: PeerId,
    state: &TrustedState,
    mirror: &Path,
) -> Result<Result<Option<TrustedState>, PeerFault>, FetchError> {
    let bad = |reason: String| Ok(Err(PeerFault::bad_data("rotation checkpoint", reason)));
    let note = match source
        .ask(peer, Request::Rotation(app, state.size()), SMALL_DEADLINE)
        .await
    {
        Ok(note) => note,
        Err(PeerFault::Missing) => return Ok(Ok(None)),
        Err(fault) => return Ok(Err(fault)),
    };
    let size = match checkpoint_size(&note) {
        Ok(size) if size > state.size() => size,
        Ok(size) => return bad(format!("of size {size}, not above {}", state.size())),
        Err(e) => return bad(e),
    };
    let tiles = match fetch_tiles(source, app, peer, size).await {
        Ok(t) => t,
        Err(fault) => return Ok(Err(fault.about("tiles"))),
    };
    let proof = match merkle::consistency_proof(&tiles, state.size(), size) {
        Ok(p) => p,
        Err(e) => return bad(format!("its tiles give no proof: {e}")),
    };
    let next = match state.advance(&note, &proof) {
        Ok(Advance::Advanced(next)) => *next,
        Ok(Advance::Unchanged) => return bad("not above the trusted checkpoint".into()),
        Err(Refusal::Equivocation(evidence)) => return Err(mirror::stop(mirror, app, *evidence)),
        Err(e) => return bad(e.to_string()),
    };
    if let Err(e) = tiles.verify(size, &next.tree_root()) {
        return Ok(Err(PeerFault::bad_data("tiles", e)));
    }
    let entries = match fetch_entries(source, app, peer, size, &tiles).await {
        Ok(e) => e,
        Err(fault) => return Ok(Err(fault.about("entries"))),
    };
    let next = match apply_rotations(next, &tiles, &entries, state.size(), size) {
        Ok((next, true)) => next,
        Ok((_, false)) => {
            return bad(format!(
                "size {size} holds no rotation after {}",
                state.size()
            ))
        }
        Err(e) => return bad(format!("a rotation in it: {e}")),
    };
    mirror::write_log(mirror, &tiles, size, &entries, &note)?;
    mirror::write_rotation(mirror, size, &note)?;
    tracing::info!(
        "app {app}: walked through the signer rotation in the checkpoint of size {size}; new signers {}",
        next.root().fingerprint()
    );
    Ok(Ok(Some(next)))
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

/// The root a checkpoint note states (signature not checked here).
fn checkpoint_root(note: &[u8]) -> Option<quince_protocol::Hash> {
    let n = Note::parse(note).ok()?;
    Some(Checkpoint::parse(n.text()).ok()?.root)
}

fn checkpoint_size(note: &[u8]) -> Result<u64, String> {
    let n = Note::parse(note).map_err(|e| e.to_string())?;
    Ok(Checkpoint::parse(n.text()).map_err(|e| e.to_string())?.size)
}

async fn fetch_tiles<S: Source>(
    source: &S,
    app: AppId,
    peer: PeerId,
    size: u64,
) -> Result<TileSet, PeerFault> {
    let mut set = TileSet::new();
    for id in tile::tiles_for_size(size) {
        let bytes = source
            .ask(peer, Request::Tile(app, id.path()), SMALL_DEADLINE)
            .await?;
        set.insert(id, &bytes)
            .map_err(|e| PeerFault::bad_data(format!("tile {id}"), e))?;
    }
    Ok(set)
}

async fn fetch_entries<S: Source>(
    source: &S,
    app: AppId,
    peer: PeerId,
    size: u64,
    tiles: &TileSet,
) -> Result<Vec<Vec<u8>>, PeerFault> {
    let mut out = Vec::new();
    for id in tile::bundles_for_size(size) {
        let bytes = source
            .ask(peer, Request::Tile(app, id.path()), SMALL_DEADLINE)
            .await?;
        let entries = tile::decode_bundle(id, &bytes)
            .map_err(|e| PeerFault::bad_data(format!("bundle {id}"), e))?;
        tiles
            .check_bundle(id, &entries)
            .map_err(|e| PeerFault::bad_data(format!("bundle {id}"), e))?;
        out.extend(entries.into_iter().map(<[u8]>::to_vec));
    }
    Ok(out)
}
