//! Between two releases: which files changed, what a client would download,
//! and zstd patches (`--patch-from` style) for large changed files, kept only
//! when smaller than the new chunks they replace. From
//! [`quince_store::SEGMENTED_FROM`] bytes a patch is made by segments, each
//! against the stretch of the old file that the chunks both versions share
//! place it in, so that patch making holds neither file whole.

use std::collections::{BTreeMap, HashMap, HashSet};

use quince_protocol::manifest::{ChunkId, ChunkRef, Delta, DeltaIndex, EntryKind, Manifest};
use quince_protocol::path::RelPath;
use quince_protocol::record::Platform;
use quince_protocol::Hash;
use quince_store::{Store, StoreError, StoredFile};
use serde::Serialize;

/// Files at least this large get a patch attempt.
pub const DELTA_MIN_BYTES: u64 = 1024 * 1024;

/// What changed from one release to the next, and what it costs to download.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    /// Paths only in the new release.
    pub added: Vec<String>,
    /// Paths whose content or mode changed.
    pub changed: Vec<String>,
    /// Paths only in the old release.
    pub removed: Vec<String>,
    /// Compressed bytes of the new chunks a client holding the old release fetches.
    pub download_without_deltas: u64,
    /// The same when patches replace the chunks of the files they cover.
    pub download_with_deltas: u64,
    /// Compressed bytes of the whole new release (a fresh install).
    pub full_download: u64,
}

type Key = (RelPath, Vec<Platform>);

fn files(
    m: &Manifest,
    platform: Option<&Platform>,
) -> BTreeMap<Key, (Hash, bool, u64, Vec<ChunkRef>)> {
    m.entries()
        .iter()
        .filter(|e| platform.is_none_or(|p| e.is_for(p)))
        .filter_map(|e| match &e.kind {
            EntryKind::File {
                executable,
                size,
                sha256,
                chunks,
                ..
            } => Some((
                (e.path.clone(), e.platforms.clone()),
                (*sha256, *executable, *size, chunks.clone()),
            )),
            _ => None,
        })
        .collect()
}

/// Makes patches for the large files that changed from `old` to `new`, keeps
/// those smaller than the new chunks they would replace, stores them, and
/// returns the index (also stored next to the new manifest).
pub fn make_deltas(
    store: &Store,
    old: &Manifest,
    new: &Manifest,
    level: i32,
) -> Result<DeltaIndex, StoreError> {
    let before = files(old, None);
    let after = files(new, None);
    let old_chunks: HashSet<ChunkId> = before
        .values()
        .flat_map(|f| f.3.iter().map(|c| c.id))
        .collect();
    // A file inside a shared chunk is not its chunk's bytes: no patch base.
    let shared_before: HashSet<Key> = old
        .entries()
        .iter()
        .filter(|e| e.kind.is_shared())
        .map(|e| (e.path.clone(), e.platforms.clone()))
        .collect();
    let mut deltas = Vec::new();
    for (key, (sha, _, size, chunks)) in &after {
        let Some((old_sha, _, old_size, old_file_chunks)) = before.get(key) else {
            continue;
        };
        if shared_before.contains(key) {
            continue;
        }
        if old_sha == sha
            || *size < DELTA_MIN_BYTES
            || *old_size == 0
            || (*size).max(*old_size) > quince_store::PATCH_MAX_BYTES
        {
            continue;
        }
        let new_cost: u64 = chunks
            .iter()
            .filter(|c| !old_chunks.contains(&c.id))
            .map(|c| store.compressed_size(&c.id))
            .collect::<Result<Vec<_>, _>>()?
            .iter()
            .sum();
        let patch = if (*size).max(*old_size) >= quince_store::SEGMENTED_FROM {
            // Large: a segment at a time, each against the stretch of the
            // old file its shared chunks came from.
            let shift = shifts(old_file_chunks, chunks);
            quince_store::make_segmented_patch(
                &StoredFile::new(store, old_file_chunks),
                &StoredFile::new(store, chunks),
                &|start, len| shift.within(start, len),
                level,
            )
        } else {
            // The old file whole (zstd's reference); the new one a chunk at a time.
            let old_bytes = assemble(store, old_file_chunks)?;
            quince_store::make_patch_streamed(&old_bytes, *size, level, |w| {
                for c in chunks {
                    let bytes = store.chunk(c).map_err(std::io::Error::other)?;
                    w.write_all(&bytes)?;
                }
                Ok(())
            })
        }
        .map_err(|e| StoreError::BadPatch {
            path: key.0.to_string(),
            reason: e.to_string(),
        })?;
        if (patch.len() as u64) < new_cost {
            let id = store.put_blob(&patch)?;
            deltas.push(Delta {
                path: key.0.clone(),
                from: *old_sha,
                to: *sha,
                patch: id,
                patch_size: patch.len() as u64,
            });
        }
    }
    deltas.sort_by(|a, b| (&a.path, a.to).cmp(&(&b.path, b.to)));
    deltas.dedup_by(|a, b| a.path == b.path && a.to == b.to);
    let index = DeltaIndex { deltas };
    store.put_deltas(
        &new.hash(),
        &quince_protocol::codec::Encode::to_bytes(&index),
    )?;
    Ok(index)
}

/// Compares two releases (for one platform, or all) and prices the update.
pub fn diff(
    store: &Store,
    old: &Manifest,
    new: &Manifest,
    deltas: &DeltaIndex,
    platform: Option<&Platform>,
) -> Result<DiffReport, StoreError> {
    let before = files(old, platform);
    let after = files(new, platform);
    let mut report = DiffReport::default();
    let by_path = |m: &BTreeMap<Key, (Hash, bool, u64, Vec<ChunkRef>)>| -> BTreeMap<String, Vec<(Hash, bool)>> {
        let mut out: BTreeMap<String, Vec<(Hash, bool)>> = BTreeMap::new();
        for ((p, _), (h, x, _, _)) in m {
            out.entry(p.to_string()).or_default().push((*h, *x));
        }
        out
    };
    let (b, a) = (by_path(&before), by_path(&after));
    for (p, v) in &a {
        match b.get(p) {
            None => report.added.push(p.clone()),
            Some(old) if old != v => report.changed.push(p.clone()),
            Some(_) => {}
        }
    }
    report.removed = b.keys().filter(|p| !a.contains_key(*p)).cloned().collect();

    let old_chunks: HashSet<ChunkId> = before
        .values()
        .flat_map(|f| f.3.iter().map(|c| c.id))
        .collect();
    let mut all: HashSet<ChunkId> = HashSet::new();
    let mut plain: HashSet<ChunkId> = HashSet::new();
    let mut patched: HashSet<ChunkId> = HashSet::new();
    let mut patch_bytes = 0u64;
    let mut used_patches: HashSet<ChunkId> = HashSet::new();
    for ((path, _), (sha, _, _, chunks)) in &after {
        all.extend(chunks.iter().map(|c| c.id));
        let new_ids = chunks
            .iter()
            .map(|c| c.id)
            .filter(|id| !old_chunks.contains(id));
        let delta = deltas
            .deltas
            .iter()
            .find(|d| &d.path == path && d.to == *sha);
        match delta {
            Some(d) if before.values().any(|f| f.0 == d.from) => {
                patched.extend(new_ids);
                if used_patches.insert(d.patch) {
                    patch_bytes += d.patch_size;
                }
            }
            _ => plain.extend(new_ids),
        }
    }
    // The new release's dictionaries: every install gets them, an update
    // those the old release did not name.
    all.extend(new.dictionaries().iter().map(|d| d.id));
    plain.extend(
        new.dictionaries()
            .iter()
            .filter(|d| !old.dictionaries().contains(d))
            .map(|d| d.id),
    );
    let size = |ids: &HashSet<ChunkId>| -> Result<u64, StoreError> {
        ids.iter().map(|id| store.compressed_size(id)).sum()
    };
    let unpatched_only: HashSet<ChunkId> = plain.clone();
    let mut without: HashSet<ChunkId> = plain;
    without.extend(patched);
    report.download_without_deltas = size(&without)?;
    report.download_with_deltas = size(&unpatched_only)? + patch_bytes;
    report.full_download = size(&all)?;
    Ok(report)
}

/// For each chunk of the new file that the old one holds too: where it
/// starts in the new file, and how far its place in the old file is from
/// there.
struct Shifts(Vec<(u64, i64)>);

fn shifts(old: &[ChunkRef], new: &[ChunkRef]) -> Shifts {
    let mut at = 0u64;
    let mut old_at: HashMap<ChunkId, u64> = HashMap::new();
    for c in old {
        old_at.entry(c.id).or_insert(at);
        at += u64::from(c.size);
    }
    let mut out = Vec::new();
    let mut at = 0u64;
    for c in new {
        if let Some(o) = old_at.get(&c.id) {
            out.push((at, *o as i64 - at as i64));
        }
        at += u64::from(c.size);
    }
    Shifts(out)
}

impl Shifts {
    /// The median shift of the shared chunks that start in `start..start +
    /// len`, if any do.
    fn within(&self, start: u64, len: u64) -> Option<i64> {
        let from = self.0.partition_point(|(at, _)| *at < start);
        let to = self.0.partition_point(|(at, _)| *at < start + len);
        let mut found: Vec<i64> = self.0.get(from..to)?.iter().map(|(_, s)| *s).collect();
        found.sort_unstable();
        found.get(found.len() / 2).copied()
    }
}

fn assemble(store: &Store, chunks: &[ChunkRef]) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    for c in chunks {
        out.extend_from_slice(&store.chunk(c)?);
    }
    Ok(out)
}
