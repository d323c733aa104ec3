//! Fetching a release: its manifest (checked against the verified release
//! record) and every chunk this platform needs that the store lacks, from
//! several peers at once, as the [`ChunkScheduler`] decides. Each chunk is
//! checked against its address before it is stored.

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt as _};
use quince_protocol::codec::Decode as _;
use quince_protocol::limits::{CHUNK_MIN_BYTES, MAX_CHUNK_BYTES};
use quince_protocol::manifest::{ChunkRef, Manifest, VerifiedManifest};
use quince_protocol::record::Platform;
use quince_protocol::root::AppId;
use quince_protocol::wire::{ChunkAnswer, ChunksAnswer, Request, MAX_CHUNKS_PER_REQUEST};
use quince_store::{Arrivals, Store, StoreError, UnpackStats};

use libp2p::PeerId;

use super::scheduler::{Assignment, ChunkScheduler, NoPeerFor, Outcome};
use super::{
    FetchError, PatchReport, PeerFault, Peers, Progress, Release, Source, MANIFEST_DEADLINE,
};

/// How often a fetch looks in the DHT for more peers holding the app.
const REFRESH_PEERS: Duration = Duration::from_secs(2);
/// Most chunks fetched before they are made durable together. Small
/// chunks of a batch share one pack, so the age below is what usually
/// ends a batch: at 64 chunks, installing 20,000 small files made 600
/// file-system syncs and took a minute.
const BATCH_CHUNKS: usize = 2048;
/// Longest a fetched chunk waits to be made durable (and servable to peers).
const BATCH_AGE: Duration = Duration::from_millis(500);
/// A backstop for one chunk request; the node's own request timeout
/// (30 s by default) normally ends a request first, and the scheduler
/// hedges stalled ones long before.
const CHUNK_DEADLINE: Duration = Duration::from_secs(120);

/// A release whose manifest verified against its record, with every chunk
/// this platform needs in the store. Only [`fetch_release`] builds one
/// (and [`VerifiedRelease::from_store`], which verifies the same way).
#[derive(Debug, Clone)]
pub struct VerifiedRelease {
    release: Release,
    manifest: VerifiedManifest,
    patches: PatchReport,
}

impl VerifiedRelease {
    /// The release record.
    pub fn release(&self) -> &Release {
        &self.release
    }

    /// Its verified manifest.
    pub fn manifest(&self) -> &VerifiedManifest {
        &self.manifest
    }

    /// The files that came as patches, and the patches that failed.
    pub fn patches(&self) -> &PatchReport {
        &self.patches
    }

    /// `release` built from what `store` already holds: its manifest must
    /// verify against the record (chunks are checked again on unpacking).
    pub fn from_store(release: Release, store: &Store) -> Result<VerifiedRelease, FetchError> {
        let bytes = store.manifest(&release.manifest)?;
        let manifest = Manifest::verify(&bytes, &release.manifest).map_err(|e| {
            FetchError::Mirror(format!("stored manifest of {}: {e}", release.version))
        })?;
        Ok(VerifiedRelease {
            release,
            manifest,
            patches: PatchReport::default(),
        })
    }
}

impl std::ops::Deref for VerifiedRelease {
    type Target = VerifiedManifest;
    fn deref(&self) -> &VerifiedManifest {
        &self.manifest
    }
}

/// Gets the manifest `release` names and every chunk `platform` needs.
pub async fn fetch_release<S: Source>(
    source: &S,
    app: AppId,
    peers: &mut Peers,
    release: &Release,
    platform: &Platform,
    store: &Store,
    window: usize,
) -> Result<VerifiedRelease, FetchError> {
    fetch_release_with(
        source,
        app,
        peers,
        release,
        platform,
        store,
        window,
        None,
        &[],
    )
    .await
}

/// [`fetch_release`], reporting to `progress`. `held` are releases whose
/// chunks the store holds (the installed versions): a large file that
/// changed since one of them may come as a patch against it, where that
/// is fewer bytes than its new chunks.
#[allow(clippy::too_many_arguments)]
pub async fn fetch_release_with<S: Source>(
    source: &S,
    app: AppId,
    peers: &mut Peers,
    release: &Release,
    platform: &Platform,
    store: &Store,
    window: usize,
    progress: Option<&Progress>,
    held: &[VerifiedManifest],
) -> Result<VerifiedRelease, FetchError> {
    let manifest = fetch_manifest(source, app, peers, release, store).await?;
    let patches = fetch_release_chunks(
        source, app, peers, &manifest, platform, store, window, progress, held,
    )
    .await?;
    Ok(VerifiedRelease {
        release: release.clone(),
        manifest,
        patches,
    })
}

/// [`fetch_release_with`], unpacking the release into `staging` (as
/// [`quince_store::unpack`] does: it must not exist yet) on a thread of
/// its own while the chunks arrive, so that writing files overlaps
/// fetching. Returns the release and how the unpack ended; the fetch's
/// error comes first (the unpack is then stopped, and `staging` left for
/// the caller to delete).
#[allow(clippy::too_many_arguments)]
pub async fn fetch_release_unpacking<S: Source>(
    source: &S,
    app: AppId,
    peers: &mut Peers,
    release: &Release,
    platform: &Platform,
    store: &Store,
    window: usize,
    progress: Option<&Progress>,
    held: &[VerifiedManifest],
    staging: &Path,
) -> Result<(VerifiedRelease, Result<UnpackStats, StoreError>), FetchError> {
    let manifest = fetch_manifest(source, app, peers, release, store).await?;
    let arrivals = Arc::new(Arrivals::new());
    // If this future is dropped part way (an update given up on a stop
    // signal), the unpack must not wait for chunks for ever: a runtime
    // being dropped waits for its blocking tasks.
    let _stop = StopOnDrop(arrivals.clone());
    let (m, p, s, dir, a) = (
        manifest.clone(),
        platform.clone(),
        store.clone(),
        staging.to_path_buf(),
        arrivals.clone(),
    );
    let task =
        tokio::task::spawn_blocking(move || quince_store::unpack_arriving(&m, &p, &s, &dir, &a));
    let fetched = fetch_release_chunks(
        source, app, peers, &manifest, platform, store, window, progress, held,
    )
    .await;
    if fetched.is_ok() {
        arrivals.done();
    } else {
        arrivals.stop();
    }
    let unpacked = task.await.unwrap_or_else(|_| {
        Err(StoreError::Io {
            path: staging.to_path_buf(),
            source: std::io::Error::other("the unpacking task panicked"),
        })
    });
    Ok((
        VerifiedRelease {
            release: release.clone(),
            manifest,
            patches: fetched?,
        },
        unpacked,
    ))
}

/// Stops an unpack's waiting when dropped (after it ended, a no-op).
struct StopOnDrop(Arc<Arrivals>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The manifest `release` names, from the first usable peer that has it
/// (verified against the record, and stored).
async fn fetch_manifest<S: Source>(
    source: &S,
    app: AppId,
    peers: &mut Peers,
    release: &Release,
    store: &Store,
) -> Result<VerifiedManifest, FetchError> {
    let mut manifest = None;
    let mut lacking = Vec::new();
    for peer in peers.usable().to_vec() {
        let asked = source
            .ask(peer, Request::Manifest(release.manifest), MANIFEST_DEADLINE)
            .await;
        match asked {
            Ok(bytes) => match Manifest::verify(&bytes, &release.manifest) {
                Ok(m) => {
                    store.put_manifest(&bytes)?;
                    manifest = Some(m);
                    break;
                }
                Err(e) => peers.drop_peer(peer, PeerFault::bad_data("manifest", e)),
            },
            Err(fault @ (PeerFault::Slow { .. } | PeerFault::Violation { .. })) => {
                peers.drop_peer(peer, fault.about("manifest"))
            }
            Err(fault) => lacking.push(format!("{}: manifest: {fault}", source.name(&peer))),
        }
    }
    manifest.ok_or_else(|| FetchError::Exhausted {
        app,
        what: format!("the manifest of release {}", release.version),
        details: peers.details(&|p| source.name(p), &lacking),
    })
}

/// The chunks of a release whose `manifest` is verified, dictionaries
/// first, then (with the `patches` feature) patches, then the rest.
#[allow(clippy::too_many_arguments)]
async fn fetch_release_chunks<S: Source>(
    source: &S,
    app: AppId,
    peers: &mut Peers,
    manifest: &VerifiedManifest,
    platform: &Platform,
    store: &Store,
    window: usize,
    progress: Option<&Progress>,
    held: &[VerifiedManifest],
) -> Result<PatchReport, FetchError> {
    // The dictionaries first, with everything else (for the totals).
    let missing = |store: &Store| -> Vec<ChunkRef> { store.lacking(manifest.chunks_for(platform)) };
    let needed = missing(store);
    if let Some(p) = progress {
        // On top of what a fetch before this one with the same progress
        // (a fresh install's fallback to an older release) has done.
        let bytes: u64 = needed.iter().map(|c| u64::from(c.size)).sum();
        p.chunks_total
            .store(p.chunks_done.load(Relaxed) + needed.len() as u64, Relaxed);
        p.bytes_total
            .store(p.bytes_done.load(Relaxed) + bytes, Relaxed);
        p.peers.store(peers.usable().len() as u64, Relaxed);
    }
    // Chunks compressed with a dictionary are checked through it: the
    // dictionaries are fetched, and learnt, before them. (In two rounds of
    // one call: a second call of the fetch loop costs the bootstrap's size
    // budget a second inlined copy of it.)
    let dictionaries = manifest.dictionaries();
    let (mut round, mut needed): (Vec<ChunkRef>, Vec<ChunkRef>) =
        needed.into_iter().partition(|c| dictionaries.contains(c));
    #[cfg_attr(not(feature = "patches"), allow(unused_mut))]
    let mut patches = PatchReport::default();
    for last in [false, true] {
        if last {
            for d in dictionaries {
                store.learn_dictionary(d)?;
            }
            #[cfg(not(feature = "patches"))]
            let _ = held;
            #[cfg(feature = "patches")]
            if !needed.is_empty() {
                patches = super::patches::patch_files(
                    source,
                    peers,
                    manifest,
                    platform,
                    store,
                    held,
                    |n, bytes| {
                        if let Some(p) = progress {
                            p.chunks_done.fetch_add(n, Relaxed);
                            p.bytes_done.fetch_add(bytes, Relaxed);
                            p.patched_files.fetch_add(1, Relaxed);
                        }
                    },
                )
                .await?;
                if let Some(p) = progress {
                    p.received.fetch_add(patches.bytes, Relaxed);
                }
                if patches.files > 0 {
                    needed = missing(store);
                }
            }
            round = std::mem::take(&mut needed);
        }
        if !round.is_empty() {
            fetch_chunks_with(
                source,
                app,
                peers,
                std::mem::take(&mut round),
                store,
                window,
                progress,
            )
            .await?;
        }
    }
    Ok(patches)
}

/// Fetches `chunks` into `store` as [`fetch_chunks`] does, after fetching
/// those of the release's zstd `dictionaries` that `store` lacks and making
/// all of them usable there ([`Store::learn_dictionary`]): chunks
/// compressed with one are checked through it. Dictionaries among `chunks`
/// are not asked twice. Returns how many chunks (dictionaries included)
/// were fetched.
pub async fn fetch_with_dictionaries<S: Source>(
    source: &S,
    app: AppId,
    peers: &mut Peers,
    dictionaries: &[ChunkRef],
    chunks: Vec<ChunkRef>,
    store: &Store,
    window: usize,
) -> Result<u64, FetchError> {
    let lacking = store.lacking(dictionaries.iter().copied());
    let mut fetched = 0;
    if !lacking.is_empty() {
        fetched += fetch_chunks_with(source, app, peers, lacking, store, window, None).await?;
    }
    for d in dictionaries {
        store.learn_dictionary(d)?;
    }
    let chunks = chunks
        .into_iter()
        .filter(|c| !dictionaries.contains(c))
        .collect();
    Ok(fetched + fetch_chunks_with(source, app, peers, chunks, store, window, None).await?)
}

/// Fetches `chunks` into `store` from the usable peers, at most `window` in
/// flight per peer (see [`ChunkScheduler`] for who is asked what). Returns
/// how many chunks were fetched, once every one is stored, without waiting
/// for stalled requests.
pub async fn fetch_chunks<S: Source>(
    source: &S,
    app: AppId,
    peers: &mut Peers,
    chunks: Vec<ChunkRef>,
    store: &Store,
    window: usize,
) -> Result<u64, FetchError> {
    fetch_chunks_with(source, app, peers, chunks, store, window, None).await
}

/// [`fetch_chunks`], reporting to `progress`.
pub async fn fetch_chunks_with<S: Source>(
    source: &S,
    app: AppId,
    peers: &mut Peers,
    chunks: Vec<ChunkRef>,
    store: &Store,
    window: usize,
    progress: Option<&Progress>,
) -> Result<u64, FetchError> {
    // Chunks become durable (and visible to peers asking this node) a batch
    // at a time: two syncs per batch instead of two per chunk. What was
    // verified is kept also when the fetch fails, so a retry resumes.
    let mut batch = store.batch();
    let result = fetch_into(
        source, app, peers, chunks, store, &mut batch, window, progress,
    )
    .await;
    batch.finish()?;
    result
}

#[allow(clippy::too_many_arguments)]
async fn fetch_into<'s, S: Source>(
    source: &S,
    app: AppId,
    peers: &mut Peers,
    chunks: Vec<ChunkRef>,
    store: &'s Store,
    batch: &mut quince_store::Batch<'s>,
    window: usize,
    progress: Option<&Progress>,
) -> Result<u64, FetchError> {
    let me = source.local_peer();
    let mut scheduler = ChunkScheduler::new(me, chunks, window);
    if source.settled() {
        scheduler = scheduler.missing_is_final();
    }
    let exhausted = |peers: &Peers, what: String| FetchError::Exhausted {
        app,
        what,
        details: peers.details(&|p| source.name(p), &[]),
    };
    let mut in_flight = FuturesUnordered::new();
    let mut refresh: Option<tokio::task::JoinHandle<Vec<libp2p::PeerId>>> = None;
    // The first look goes out at once: a swarm starting together finds itself.
    let mut refreshed = Instant::now()
        .checked_sub(REFRESH_PEERS)
        .unwrap_or_else(Instant::now);
    let mut fetched = 0u64;
    let mut batched = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !scheduler.is_done() {
        let work = scheduler
            .assign(peers, Instant::now())
            .map_err(|NoPeerFor(chunk)| {
                let why: Vec<String> = scheduler
                    .given_up(&chunk)
                    .into_iter()
                    .filter(|(p, _)| !peers.dropped().contains_key(p))
                    .map(|(p, why)| format!("{}: {why}", source.name(&p)))
                    .collect();
                FetchError::Exhausted {
                    app,
                    what: format!("chunk {chunk}"),
                    details: peers.details(&|p| source.name(p), &why),
                }
            })?;
        for (peer, chunks, delay) in requests(work) {
            in_flight.push(async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let answers = ask_chunks(source, peer, &chunks).await;
                (peer, chunks, answers)
            });
        }
        // Now and then, look for more peers holding the app (peers that
        // started fetching it after us, and announced themselves).
        if refresh.as_ref().is_some_and(|h| h.is_finished()) {
            if let Some(Some(Ok(found))) = refresh.take().map(futures::FutureExt::now_or_never) {
                for p in found.into_iter().filter(|p| *p != me) {
                    peers.add(p);
                }
            }
        }
        if refresh.is_none() && refreshed.elapsed() >= REFRESH_PEERS {
            refreshed = Instant::now();
            let source = source.clone();
            refresh = Some(tokio::spawn(async move { source.more_peers(app).await }));
        }
        let next = tokio::select! {
            next = in_flight.next(), if !in_flight.is_empty() => next,
            _ = tick.tick() => None,
        };
        let Some((peer, chunks, answers)) = next else {
            if scheduler.is_stuck() {
                // Nothing in flight and nothing to hand out: every chunk left
                // is waiting for a peer; this cannot progress.
                return Err(exhausted(
                    peers,
                    format!("{} chunks", scheduler.remaining()),
                ));
            }
            scheduler.hedge(peers, Instant::now());
            continue;
        };
        for (chunk, answer) in chunks.into_iter().zip(answers) {
            if let (Ok(bytes), Some(p)) = (&answer, progress) {
                p.received.fetch_add(bytes.len() as u64, Relaxed);
            }
            let outcome = if !scheduler.needs(&chunk.id) {
                Outcome::Unneeded // another peer already delivered it
            } else {
                match answer.map(|bytes| batch.put_compressed(&chunk, &bytes)) {
                    Ok(Ok(_)) => {
                        fetched += 1;
                        if let Some(p) = progress {
                            p.chunks_done.fetch_add(1, Relaxed);
                            p.bytes_done.fetch_add(u64::from(chunk.size), Relaxed);
                            p.peers.store(peers.usable().len() as u64, Relaxed);
                        }
                        Outcome::Stored
                    }
                    Ok(Err(StoreError::CorruptChunk { reason, .. })) => {
                        Outcome::Fault(PeerFault::bad_data(format!("chunk {}", chunk.id), reason))
                    }
                    Ok(Err(e)) => return Err(e.into()),
                    Err(fault) => Outcome::Fault(fault),
                }
            };
            scheduler.record(peer, chunk, outcome, peers, Instant::now());
        }
        if batch.len() >= BATCH_CHUNKS || (!batch.is_empty() && batched.elapsed() >= BATCH_AGE) {
            std::mem::replace(batch, store.batch()).finish()?;
            batched = Instant::now();
        }
    }
    if let Some(h) = refresh {
        h.abort();
    }
    Ok(fetched)
}

/// The requests to make for the scheduler's `work`: each peer's small
/// chunks due now (below [`CHUNK_MIN_BYTES`], the small files and files'
/// tails) go together, up to [`MAX_CHUNKS_PER_REQUEST`] and
/// [`MAX_CHUNK_BYTES`] of raw bytes a request; the rest one by one.
fn requests(work: Vec<Assignment>) -> Vec<(PeerId, Vec<ChunkRef>, Duration)> {
    let mut out: Vec<(PeerId, Vec<ChunkRef>, Duration)> = Vec::new();
    // Per peer: its request still taking chunks (an index into `out`), and
    // that request's raw bytes. (A few peers: a list is enough.)
    let mut open: Vec<(PeerId, usize, u64)> = Vec::new();
    for Assignment { peer, chunk, delay } in work {
        if !delay.is_zero() || chunk.size >= CHUNK_MIN_BYTES {
            out.push((peer, vec![chunk], delay));
            continue;
        }
        let size = u64::from(chunk.size);
        let slot = open.iter().position(|(p, _, _)| *p == peer);
        match slot.map(|i| &mut open[i]) {
            Some((_, at, bytes))
                if out[*at].1.len() < MAX_CHUNKS_PER_REQUEST
                    && *bytes + size <= u64::from(MAX_CHUNK_BYTES) =>
            {
                out[*at].1.push(chunk);
                *bytes += size;
            }
            other => {
                let fresh = (peer, out.len(), size);
                match other {
                    Some(entry) => *entry = fresh,
                    None => open.push(fresh),
                }
                out.push((peer, vec![chunk], delay));
            }
        }
    }
    out
}

/// Asks `peer` for `chunks`: one by one as [`Request::Chunk`], several as
/// one [`Request::Chunks`] (again one by one if the peer cannot take that).
/// One answer per chunk, in order; a failed request is the same fault for
/// each of them.
async fn ask_chunks<S: Source>(
    source: &S,
    peer: PeerId,
    chunks: &[ChunkRef],
) -> Vec<Result<Vec<u8>, PeerFault>> {
    if let [chunk] = chunks {
        return vec![
            source
                .ask(peer, Request::Chunk(chunk.id), CHUNK_DEADLINE)
                .await,
        ];
    }
    let ids = chunks.iter().map(|c| c.id).collect();
    let fault = match source.ask(peer, Request::Chunks(ids), CHUNK_DEADLINE).await {
        Ok(bytes) => match ChunksAnswer::from_bytes(&bytes) {
            Ok(answer) if answer.0.len() == chunks.len() => {
                return answer
                    .0
                    .into_iter()
                    .map(|entry| match entry {
                        ChunkAnswer::Data(bytes) => Ok(bytes),
                        ChunkAnswer::NotFound => Err(PeerFault::Missing),
                        ChunkAnswer::Busy => Err(PeerFault::Busy),
                    })
                    .collect();
            }
            Ok(answer) => PeerFault::Violation {
                reason: format!(
                    "answered {} chunks when asked for {}",
                    answer.0.len(),
                    chunks.len()
                ),
            },
            Err(e) => PeerFault::Violation {
                reason: format!("undecodable chunks answer: {e}"),
            },
        },
        // A peer from before `Chunks` cannot read the request and closes
        // the stream: the same chunks one by one work there. (From a peer
        // that is really gone they fail the same way, as before.)
        Err(PeerFault::Unreachable { .. }) => {
            return futures::future::join_all(
                chunks
                    .iter()
                    .map(|c| source.ask(peer, Request::Chunk(c.id), CHUNK_DEADLINE)),
            )
            .await;
        }
        Err(fault) => fault,
    };
    vec![Err(fault); chunks.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use quince_protocol::manifest::ChunkId;

    fn due(peer: PeerId, n: u16, size: u32, delay_ms: u64) -> Assignment {
        let mut id = [0u8; 32];
        id[..2].copy_from_slice(&n.to_be_bytes());
        Assignment {
            peer,
            chunk: ChunkRef {
                id: ChunkId(id),
                size,
            },
            delay: Duration::from_millis(delay_ms),
        }
    }

    /// Small chunks due now go to their peer together, up to 64 and 1 MiB a
    /// request; full-size and delayed ones go alone.
    #[test]
    fn small_chunks_due_now_share_a_request() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut work: Vec<Assignment> = (0..100).map(|n| due(a, n, 1000, 0)).collect();
        work.extend((100..103).map(|n| due(b, n, 1000, 0)));
        work.push(due(a, 103, CHUNK_MIN_BYTES, 0));
        work.push(due(a, 104, 1000, 50));
        // 20 chunks of 60 KiB: 17 fit in 1 MiB with b's three small ones.
        work.extend((105..125).map(|n| due(b, n, 60 * 1024, 0)));
        let out = requests(work);
        let sizes: Vec<(PeerId, usize)> = out.iter().map(|(p, c, _)| (*p, c.len())).collect();
        assert_eq!(
            sizes,
            vec![(a, 64), (a, 36), (b, 20), (a, 1), (a, 1), (b, 3)]
        );
        assert_eq!(out[4].2, Duration::from_millis(50));
        for (_, chunks, _) in &out {
            let raw: u64 = chunks.iter().map(|c| u64::from(c.size)).sum();
            assert!(chunks.len() <= MAX_CHUNKS_PER_REQUEST && raw <= u64::from(MAX_CHUNK_BYTES));
        }
        let total: usize = out.iter().map(|(_, c, _)| c.len()).sum();
        assert_eq!(total, 125);
    }
}
