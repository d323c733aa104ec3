//! Updating changed files by patch instead of by chunk. The publisher's
//! packager makes a zstd patch (`--patch-from` style) for each large file
//! that changed since the previous release, and lists them in the release's
//! delta index. A node that holds an earlier version of such a file (the
//! patch's `from` hash, in a release whose chunks it still stores) may fetch
//! the patch, rebuild the file, and store it as the manifest's chunks, each
//! checked against its address, the whole file against its SHA-256.
//!
//! Nothing here is trusted: the index is not signed and any peer may serve
//! it or a patch. A patch that does not rebuild the file costs its own bytes
//! and nothing else; its chunks are then fetched like any others.
//!
//! A patch is used only when it is cheaper than the chunks it replaces. The
//! manifest gives chunk sizes before compression only, so the compressed
//! cost of a file's missing chunks is estimated from how well the old
//! version of the same file compressed in this node's store.
//!
//! A node that used a patch keeps it, and an index of the patches it
//! verified, so that it serves them to the next peers like chunks.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use libp2p::PeerId;
use quince_protocol::codec::{Decode as _, Encode as _};
use quince_protocol::limits::MAX_PATCH_BYTES;
use quince_protocol::manifest::{
    ChunkId, ChunkRef, Delta, DeltaIndex, EntryKind, VerifiedManifest,
};
use quince_protocol::record::Platform;
use quince_protocol::Hash;
use quince_store::{Store, StoreError};

use super::{PatchReport, PeerFault, Peers, Source, MANIFEST_DEADLINE};

/// How long one peer may take over one patch.
const PATCH_DEADLINE: Duration = Duration::from_secs(120);
/// The zstd level chunks rebuilt from a patch are stored at: fast, since
/// the file was just rebuilt on the user's machine while they wait.
const LOCAL_LEVEL: i32 = 3;

/// A file of the new release that a patch could rebuild.
struct Plan<'a> {
    path: String,
    chunks: &'a [ChunkRef],
    size: u64,
    sha256: Hash,
    delta: Delta,
    /// The earlier version the patch applies to, as stored chunks.
    from: &'a [ChunkRef],
}

/// Rebuilds by patch every file of `manifest` (for `platform`) for which
/// that is cheaper than fetching its missing chunks, given the releases in
/// `held` (whose chunks the store holds). What is not patched is left for
/// the chunk fetch. Faults of peers are recorded in `peers`; only a failure
/// to write the store is an error. `done` is called with the raw bytes of
/// each file's chunks produced.
pub(super) async fn patch_files<S: Source>(
    source: &S,
    peers: &mut Peers,
    manifest: &VerifiedManifest,
    platform: &Platform,
    store: &Store,
    held: &[VerifiedManifest],
    mut done: impl FnMut(u64, u64),
) -> Result<PatchReport, StoreError> {
    let mut report = PatchReport::default();
    // Files in the held releases whose chunks are all stored, by hash.
    let mut old_files: HashMap<Hash, &[ChunkRef]> = HashMap::new();
    for m in held {
        for e in m.entries() {
            // A shared file's chunk holds other files too: no patch base.
            if let EntryKind::File {
                sha256,
                chunks,
                shared_at: None,
                ..
            } = &e.kind
            {
                if !chunks.is_empty() && chunks.iter().all(|c| store.has(&c.id)) {
                    old_files.insert(*sha256, chunks.as_slice());
                }
            }
        }
    }
    let changed: Vec<_> = manifest
        .entries_for(platform)
        .filter_map(|e| match &e.kind {
            EntryKind::File {
                size,
                sha256,
                chunks,
                shared_at: None,
                ..
            } if chunks.iter().any(|c| !store.has(&c.id)) => {
                Some((e.path.to_string(), *size, *sha256, chunks.as_slice()))
            }
            _ => None,
        })
        .collect();
    if old_files.is_empty() || changed.is_empty() {
        return Ok(report);
    }
    let Some(index) = delta_index(source, peers, manifest.hash()).await else {
        return Ok(report);
    };
    let mut best: HashMap<(&str, Hash), &Delta> = HashMap::new();
    for d in &index.deltas {
        if !old_files.contains_key(&d.from) {
            continue;
        }
        let key = (d.path.as_str(), d.to);
        if best.get(&key).is_none_or(|b| d.patch_size < b.patch_size) {
            best.insert(key, d);
        }
    }
    let mut plans: Vec<Plan<'_>> = changed
        .iter()
        .filter_map(|(path, size, sha256, chunks)| {
            let delta = best.get(&(path.as_str(), *sha256))?;
            Some(Plan {
                path: path.clone(),
                chunks,
                size: *size,
                sha256: *sha256,
                delta: (*delta).clone(),
                from: old_files[&delta.from],
            })
        })
        .collect();
    // Chunks that files without a patch need are fetched anyway: a patch
    // saves only the others.
    let fetched_anyway: HashSet<ChunkId> = changed
        .iter()
        .filter(|(path, _, sha256, _)| !best.contains_key(&(path.as_str(), *sha256)))
        .flat_map(|(_, _, _, chunks)| chunks.iter().map(|c| c.id))
        .collect();
    plans.retain(|plan| {
        let saved = estimated_cost(store, plan, &fetched_anyway);
        plan.delta.patch_size < saved
    });
    let me = source.local_peer();
    let mut verified = Vec::new();
    for plan in plans {
        let Some(patch) = fetch_patch(source, peers, me, &plan.delta, &mut report).await else {
            continue;
        };
        let (rebuilt, patch) = {
            let store = store.clone();
            let (path, from, chunks) =
                (plan.path.clone(), plan.from.to_vec(), plan.chunks.to_vec());
            let (size, sha256) = (plan.size, plan.sha256);
            tokio::task::spawn_blocking(move || {
                // The old version as the store holds it, read whole for a
                // plain patch, a stretch at a time for a segmented one.
                let old = quince_store::StoredFile::new(&store, &from);
                let file = (chunks.as_slice(), size, &sha256);
                (
                    store.put_patched(&path, &old, &patch, file, LOCAL_LEVEL),
                    patch,
                )
            })
            .await
            .map_err(|e| StoreError::BadPatch {
                path: plan.path.clone(),
                reason: format!("the rebuilding task failed: {e}"),
            })?
        };
        match rebuilt {
            Ok(patched) => {
                store.put_blob(&patch)?;
                report.files += 1;
                report.chunks += patched.new_chunks;
                report.chunk_bytes += patched.new_bytes;
                done(patched.new_chunks, patched.new_bytes);
                verified.push(plan.delta);
            }
            Err(StoreError::BadPatch { path, reason }) => {
                report.failed.push(format!("{path}: {reason}"))
            }
            Err(e) => return Err(e),
        }
    }
    if !verified.is_empty() && store.deltas(manifest.hash())?.is_none() {
        verified.sort_by(|a, b| (&a.path, a.to).cmp(&(&b.path, b.to)));
        let index = DeltaIndex { deltas: verified };
        store.put_deltas(manifest.hash(), &index.to_bytes())?;
    }
    Ok(report)
}

/// The release's delta index from the first peer that has one. An index
/// that does not decode is that peer's fault; none at all means no patches.
async fn delta_index<S: Source>(
    source: &S,
    peers: &mut Peers,
    manifest: &Hash,
) -> Option<DeltaIndex> {
    for peer in peers.usable().to_vec() {
        let asked = source
            .ask(
                peer,
                quince_protocol::wire::Request::Deltas(*manifest),
                MANIFEST_DEADLINE,
            )
            .await;
        match asked {
            Ok(bytes) => match DeltaIndex::from_bytes(&bytes) {
                Ok(index) => return Some(index),
                Err(e) => peers.drop_peer(peer, PeerFault::bad_data("delta index", e)),
            },
            Err(fault) => {
                peers.judge(peer, &fault.about("delta index"));
            }
        }
    }
    None
}

/// One patch, from the first peer (in an order of this node's own, so that
/// nodes updating together ask different peers first) that sends bytes
/// matching its address and size.
async fn fetch_patch<S: Source>(
    source: &S,
    peers: &mut Peers,
    me: PeerId,
    delta: &Delta,
    report: &mut PatchReport,
) -> Option<Vec<u8>> {
    if delta.patch_size > MAX_PATCH_BYTES {
        return None;
    }
    let mut order = peers.usable().to_vec();
    order.sort_by_cached_key(|p| super::scheduler::spread(&me, &delta.patch.0, &p.to_bytes()));
    for peer in order {
        let asked = source
            .ask(
                peer,
                quince_protocol::wire::Request::Blob(delta.patch),
                PATCH_DEADLINE,
            )
            .await;
        match asked {
            Ok(bytes) => {
                report.bytes += bytes.len() as u64;
                if blake3::hash(&bytes).as_bytes() != &delta.patch.0 {
                    peers.drop_peer(
                        peer,
                        PeerFault::bad_data(
                            format!("patch {}", delta.patch),
                            "does not match its address",
                        ),
                    );
                    continue;
                }
                // The right bytes, but not the size the (unsigned) index
                // gave: the index lied, not this peer. Not worth it.
                if bytes.len() as u64 != delta.patch_size {
                    report.failed.push(format!(
                        "{}: patch {} is {} bytes, not the {} its index said",
                        delta.path,
                        delta.patch,
                        bytes.len(),
                        delta.patch_size
                    ));
                    return None;
                }
                return Some(bytes);
            }
            Err(fault) => {
                peers.judge(peer, &fault.about("patch"));
            }
        }
    }
    report.failed.push(format!(
        "{}: no peer could provide patch {}",
        delta.path, delta.patch
    ));
    None
}

/// The compressed bytes a plan's patch would save: the file's missing
/// chunks that nothing else fetches, at the compression ratio the old
/// version of the file has in this store.
fn estimated_cost(store: &Store, plan: &Plan<'_>, fetched_anyway: &HashSet<ChunkId>) -> u64 {
    let mut seen = HashSet::new();
    let raw: u64 = plan
        .chunks
        .iter()
        .filter(|c| seen.insert(c.id) && !fetched_anyway.contains(&c.id) && !store.has(&c.id))
        .map(|c| u64::from(c.size))
        .sum();
    let old_raw: u64 = plan.from.iter().map(|c| u64::from(c.size)).sum();
    let old_compressed: u64 = plan
        .from
        .iter()
        .map(|c| store.compressed_size(&c.id).unwrap_or(u64::from(c.size)))
        .sum();
    if old_raw == 0 {
        return raw;
    }
    (u128::from(raw) * u128::from(old_compressed) / u128::from(old_raw)) as u64
}
