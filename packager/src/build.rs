//! Directory to release: walks one or more source folders, refuses anything
//! that cannot be installed safely, cuts every file into content-defined
//! chunks (FastCDC, pinned version), stores them zstd-compressed, and returns
//! the canonical manifest.
//!
//! The walk is sorted and ignores mtimes, owners and creation order, so the
//! same tree gives the same manifest bytes on any machine. A file that changes
//! while it is read is refused, as are device files, sockets, FIFOs, hard
//! links, symlinks that leave the tree, names that are not UTF-8 and names
//! that collide after NFC normalisation.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use quince_protocol::hash::Sha256Stream;
use quince_protocol::limits::{CHUNK_AVG_BYTES, CHUNK_MIN_BYTES, MAX_CHUNK_BYTES};
use quince_protocol::manifest::{ChunkRef, Entry, EntryKind, Manifest};
use quince_protocol::path::{self, RelPath};
use quince_protocol::record::Platform;
use quince_store::Store;

use crate::packer::Packer;
use crate::sharer::{Key, Sharer, SHARE_BELOW_BYTES};

/// A folder to pack, for every platform or for one.
#[derive(Debug, Clone)]
pub struct Source {
    /// The folder.
    pub dir: PathBuf,
    /// `None`: its files are for every platform.
    pub platform: Option<Platform>,
}

/// What a build did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Files packed.
    pub files: u64,
    /// Raw bytes of all files.
    pub bytes: u64,
    /// Chunks referenced (with repeats).
    pub chunks: u64,
    /// Chunks that were new to the store.
    pub new_chunks: u64,
    /// Compressed bytes of the new chunks.
    pub new_compressed_bytes: u64,
    /// Raw bytes of the zstd dictionary trained for the release's small
    /// chunks (0: none paid for itself).
    pub dictionary_bytes: u64,
    /// Whether that dictionary is an earlier release's, found in the store
    /// and still about as good as a new one.
    pub dictionary_reused: bool,
}

/// The totals as the build goes, and whom to tell.
pub(crate) struct Tally<'a> {
    pub(crate) stats: BuildStats,
    progress: &'a mut dyn FnMut(&BuildStats),
    /// Bytes at the last report.
    reported: u64,
}

impl Tally<'_> {
    fn tick(&mut self, file_done: bool) {
        if file_done || self.stats.bytes - self.reported >= 16 << 20 {
            self.reported = self.stats.bytes;
            (self.progress)(&self.stats);
        }
    }
}

/// Why a tree cannot be packed. Nothing was added to the log; chunks already
/// written to the store are harmless (content-addressed, unreferenced).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A file or folder could not be read, or the store could not be written.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Something in the tree cannot be installed safely.
    #[error("refusing {path}: {reason}")]
    Unsafe {
        /// Where.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file changed while it was being packed.
    #[error("{0} changed while it was being packed; pack again when the tree is still")]
    Changed(PathBuf),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] quince_store::StoreError),
}

/// How to build a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The zstd level of new chunks (1 fast .. 19 small).
    pub level: i32,
    /// Gather files under 64 KiB into shared chunks (see
    /// [`EntryKind::File::shared_at`]): a smaller store and fresh install
    /// for releases of many small files, keeping the shared chunks of
    /// earlier releases whose manifests are in the store where at least
    /// half of their bytes are still in use (so that updates stay small).
    /// Clients older than manifest version 3 cannot read such a release.
    /// `quince-packager build` does this unless told `--chunk-per-file`.
    pub share_small_files: bool,
}

impl Options {
    /// At `level`, each file in chunks of its own.
    pub fn level(level: i32) -> Options {
        Options {
            level,
            share_small_files: false,
        }
    }
}

/// Packs `sources` into `store` and returns the manifest.
pub fn build(
    sources: &[Source],
    store: &Store,
    level: i32,
) -> Result<(Manifest, BuildStats), BuildError> {
    build_with(sources, store, level, &mut |_| {})
}

/// [`build`], calling `progress` with the totals so far after every file
/// and every 16 MiB of a large one.
pub fn build_with(
    sources: &[Source],
    store: &Store,
    level: i32,
    progress: &mut dyn FnMut(&BuildStats),
) -> Result<(Manifest, BuildStats), BuildError> {
    build_with_options(sources, store, Options::level(level), progress)
}

/// [`build_with`], as `options` say.
pub fn build_with_options(
    sources: &[Source],
    store: &Store,
    options: Options,
    progress: &mut dyn FnMut(&BuildStats),
) -> Result<(Manifest, BuildStats), BuildError> {
    build_tuned(sources, store, options, progress, Tuning::default())
}

/// How long the walk may run ahead of the dictionary; tests make it wait.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    /// See [`crate::packer::HOLD_BYTES`].
    hold_bytes: usize,
    /// A pause before training (tests: the dictionary comes late).
    train_after: std::time::Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            hold_bytes: crate::packer::HOLD_BYTES,
            train_after: std::time::Duration::ZERO,
        }
    }
}

fn build_tuned(
    sources: &[Source],
    store: &Store,
    options: Options,
    progress: &mut dyn FnMut(&BuildStats),
    tuning: Tuning,
) -> Result<(Manifest, BuildStats), BuildError> {
    let level = options.level;
    let mut stats = Tally {
        stats: BuildStats::default(),
        progress,
        reported: 0,
    };
    // (path, platform) -> entry; folders seen in several sources are merged.
    let mut entries: BTreeMap<(RelPath, Option<Platform>), EntryKind> = BTreeMap::new();
    let mut dirs: BTreeMap<RelPath, Vec<Option<Platform>>> = BTreeMap::new();
    // The dictionary for the small chunks, once trained: set by the walking
    // thread before it hands any small chunk over, read by the others.
    let dictionary: OnceLock<Option<crate::dict::Dictionary>> = OnceLock::new();
    let mut trained = None;
    // One thread trains the dictionary while this one reads, cuts and
    // hashes and the others compress the chunks that do not use it.
    std::thread::scope(|scope| -> Result<(), BuildError> {
        // Shared chunks are large enough to need no dictionary.
        let trainer = scope.spawn(move || {
            std::thread::sleep(tuning.train_after);
            if options.share_small_files {
                None
            } else {
                crate::dict::train(sources, level, store)
            }
        });
        let mut batch = store.batch();
        batch.write_back_early();
        let mut packer =
            Packer::start(scope, batch, level, &dictionary, trainer, tuning.hold_bytes);
        let mut sharer = options
            .share_small_files
            .then(|| Sharer::new(crate::sharer::Earlier::from_store(store)));
        for source in sources {
            let meta = fs::symlink_metadata(&source.dir).map_err(io(&source.dir))?;
            if !meta.is_dir() {
                return Err(BuildError::Unsafe {
                    path: source.dir.clone(),
                    reason: "not a folder".into(),
                });
            }
            walk(
                &source.dir,
                None,
                &source.platform,
                &mut packer,
                &mut sharer,
                &mut entries,
                &mut dirs,
                &mut stats,
            )?;
        }
        if let Some(sharer) = sharer {
            sharer.finish(&mut packer, &mut stats, &mut entries)?;
        }
        // Only a complete build's chunks become visible, in one durable step.
        trained = packer.finish(&mut stats)?;
        Ok(())
    })?;
    let platforms: Vec<Platform> = {
        let mut ps: Vec<Platform> = sources.iter().filter_map(|s| s.platform.clone()).collect();
        ps.sort();
        ps.dedup();
        ps
    };
    let mut out = Vec::new();
    for (path, owners) in dirs {
        let tags = if owners.iter().any(Option::is_none) {
            vec![]
        } else {
            let mut t: Vec<Platform> = owners.into_iter().flatten().collect();
            t.sort();
            t.dedup();
            t
        };
        out.push(Entry {
            path,
            platforms: tags,
            kind: EntryKind::Dir,
        });
    }
    for ((path, platform), kind) in entries {
        out.push(Entry {
            path,
            platforms: platform.into_iter().collect(),
            kind,
        });
    }
    let unsafe_manifest = |e: quince_protocol::codec::DecodeError| BuildError::Unsafe {
        path: PathBuf::from("."),
        reason: e.to_string(),
    };
    let manifest = Manifest::new(platforms, out).map_err(unsafe_manifest)?;
    if let Some(dict) = &trained {
        store.learn_dictionary(dict)?;
    }
    // The dictionaries the stored small chunks need: this build's, and
    // those of chunks an earlier build stored (a peer who fetches them
    // from this store must be able to read them).
    let small = manifest
        .all_chunks()
        .filter(|c| (c.size as usize) < crate::dict::DICT_CHUNK_BYTES)
        .map(|c| c.id);
    let dictionaries = store.dictionaries_needed(small)?;
    if dictionaries.len() > quince_protocol::limits::MAX_DICTIONARIES {
        return Err(BuildError::Unsafe {
            path: store.dir().to_path_buf(),
            reason: format!(
                "this release's chunks are stored compressed with {} zstd dictionaries, more than a manifest may name ({}); build it into a fresh store",
                dictionaries.len(),
                quince_protocol::limits::MAX_DICTIONARIES
            ),
        });
    }
    let manifest = manifest
        .with_dictionaries(dictionaries)
        .map_err(unsafe_manifest)?;
    Ok((manifest, stats.stats))
}

#[allow(clippy::too_many_arguments)]
fn walk(
    root: &Path,
    rel: Option<&RelPath>,
    platform: &Option<Platform>,
    packer: &mut Packer<'_, '_>,
    sharer: &mut Option<Sharer>,
    entries: &mut BTreeMap<Key, EntryKind>,
    dirs: &mut BTreeMap<RelPath, Vec<Option<Platform>>>,
    stats: &mut Tally<'_>,
) -> Result<(), BuildError> {
    let dir = rel.map_or_else(|| root.to_path_buf(), |r| root.join(r.as_str()));
    let mut children: Vec<(RelPath, PathBuf)> = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for item in fs::read_dir(&dir).map_err(io(&dir))? {
        let item = item.map_err(io(&dir))?;
        let on_disk = item.path();
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            return Err(BuildError::Unsafe {
                path: on_disk,
                reason: "the name is not UTF-8".into(),
            });
        };
        let joined = match rel {
            Some(r) => format!("{r}/{name}"),
            None => name.to_string(),
        };
        let path = RelPath::normalise(&joined).map_err(|e| BuildError::Unsafe {
            path: on_disk.clone(),
            reason: e.to_string(),
        })?;
        let key = path.collision_key();
        if let Some(other) = seen.insert(key, name.to_string()) {
            return Err(BuildError::Unsafe {
                path: on_disk,
                reason: format!("its name collides with `{other}` after normalisation (Unicode NFC or letter case)"),
            });
        }
        children.push((path, on_disk));
    }
    children.sort();
    for (path, on_disk) in children {
        let meta = fs::symlink_metadata(&on_disk).map_err(io(&on_disk))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            dirs.entry(path.clone()).or_default().push(platform.clone());
            walk(
                root,
                Some(&path),
                platform,
                packer,
                sharer,
                entries,
                dirs,
                stats,
            )?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&on_disk).map_err(io(&on_disk))?;
            let Some(target) = target.to_str() else {
                return Err(BuildError::Unsafe {
                    path: on_disk,
                    reason: "the link target is not UTF-8".into(),
                });
            };
            path::link_target(&path, target).map_err(|e| BuildError::Unsafe {
                path: on_disk.clone(),
                reason: e.to_string(),
            })?;
            insert(
                entries,
                path,
                platform,
                EntryKind::Symlink {
                    target: target.to_string(),
                },
                &on_disk,
            )?;
        } else if ft.is_file() {
            if nlink(&meta) > 1 {
                return Err(BuildError::Unsafe {
                    path: on_disk,
                    reason: "it is a hard link (has several names); copy it instead".into(),
                });
            }
            match sharer {
                Some(sharer) if (1..SHARE_BELOW_BYTES).contains(&meta.len()) => {
                    let (kind, data, sha256) = read_small(&on_disk, &meta, stats)?;
                    insert(entries, path.clone(), platform, kind, &on_disk)?;
                    let key = (path, platform.clone());
                    sharer.add(key, data, sha256, &on_disk, packer, stats)?;
                }
                _ => {
                    let kind = pack_file(&on_disk, &meta, packer, stats)?;
                    insert(entries, path, platform, kind, &on_disk)?;
                }
            }
        } else {
            return Err(BuildError::Unsafe {
                path: on_disk,
                reason: "device files, sockets and FIFOs cannot be installed".into(),
            });
        }
    }
    Ok(())
}

fn insert(
    entries: &mut BTreeMap<Key, EntryKind>,
    path: RelPath,
    platform: &Option<Platform>,
    kind: EntryKind,
    on_disk: &Path,
) -> Result<(), BuildError> {
    if entries.insert((path, platform.clone()), kind).is_some() {
        return Err(BuildError::Unsafe {
            path: on_disk.to_path_buf(),
            reason: "the same path comes from two sources".into(),
        });
    }
    Ok(())
}

fn pack_file(
    path: &Path,
    before: &fs::Metadata,
    packer: &mut Packer<'_, '_>,
    stats: &mut Tally<'_>,
) -> Result<EntryKind, BuildError> {
    let mut file = File::open(path).map_err(io(path))?;
    let mut hasher = Sha256Stream::new();
    let mut chunks = Vec::new();
    let mut size = 0u64;
    let mut add = |data: Vec<u8>, packer: &mut Packer<'_, '_>, stats: &mut Tally<'_>| {
        let length = data.len();
        hasher.update(&data);
        let id = packer.put(data, stats)?;
        stats.stats.chunks += 1;
        stats.stats.bytes += length as u64;
        stats.tick(false);
        size += length as u64;
        chunks.push(ChunkRef {
            id,
            size: length as u32,
        });
        Ok::<(), BuildError>(())
    };
    if before.len() <= u64::from(MAX_CHUNK_BYTES) {
        // A small file is read whole and cut in memory (the same cut
        // points): the streaming cutter fills and moves a buffer of the
        // largest chunk's size for every file, which dominated building
        // many small files.
        let data = read_whole(&mut file, path, before)?;
        let cuts: Vec<(usize, usize)> =
            fastcdc::v2020::FastCDC::new(&data, CHUNK_MIN_BYTES, CHUNK_AVG_BYTES, MAX_CHUNK_BYTES)
                .map(|c| (c.offset, c.length))
                .collect();
        if let [(0, _)] = cuts[..] {
            add(data, packer, stats)?;
        } else {
            for (offset, length) in cuts {
                add(data[offset..offset + length].to_vec(), packer, stats)?;
            }
        }
    } else {
        for chunk in
            fastcdc::v2020::StreamCDC::new(file, CHUNK_MIN_BYTES, CHUNK_AVG_BYTES, MAX_CHUNK_BYTES)
        {
            let chunk = chunk.map_err(|e| BuildError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other(format!("{e:?}")),
            })?;
            add(chunk.data, packer, stats)?;
        }
    }
    unchanged(path, before, size)?;
    stats.stats.files += 1;
    stats.tick(true);
    Ok(EntryKind::File {
        executable: is_executable(before),
        size,
        sha256: hasher.finish(),
        chunks,
        shared_at: None,
    })
}

/// A small file for a shared chunk: its entry (the chunk still to be
/// filled in), its bytes and their SHA-256.
fn read_small(
    path: &Path,
    before: &fs::Metadata,
    stats: &mut Tally<'_>,
) -> Result<(EntryKind, Vec<u8>, quince_protocol::Hash), BuildError> {
    let mut file = File::open(path).map_err(io(path))?;
    let data = read_whole(&mut file, path, before)?;
    unchanged(path, before, data.len() as u64)?;
    stats.stats.files += 1;
    stats.stats.bytes += data.len() as u64;
    stats.tick(true);
    let sha256 = quince_protocol::Hash::of(&data);
    let kind = EntryKind::File {
        executable: is_executable(before),
        size: data.len() as u64,
        sha256,
        chunks: Vec::new(),
        shared_at: None,
    };
    Ok((kind, data, sha256))
}

/// A file's bytes, read whole, one byte past the size it had (so that a
/// file that grew shows it).
fn read_whole(file: &mut File, path: &Path, before: &fs::Metadata) -> Result<Vec<u8>, BuildError> {
    let mut data = Vec::with_capacity(before.len() as usize + 1);
    std::io::Read::read_to_end(&mut std::io::Read::take(file, before.len() + 1), &mut data)
        .map_err(io(path))?;
    Ok(data)
}

/// Refuses a file that changed while it was read: its size or mtime now
/// differ from `before`, or `read` bytes were read of it.
fn unchanged(path: &Path, before: &fs::Metadata, read: u64) -> Result<(), BuildError> {
    let after = fs::symlink_metadata(path).map_err(io(path))?;
    if after.len() != before.len()
        || after.len() != read
        || after.modified().ok() != before.modified().ok()
    {
        return Err(BuildError::Changed(path.to_path_buf()));
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

#[cfg(unix)]
fn nlink(meta: &fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.nlink()
}

#[cfg(not(unix))]
fn nlink(_meta: &fs::Metadata) -> u64 {
    1
}

pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use quince_protocol::codec::Encode as _;

    use super::*;

    fn tree(dir: &Path) {
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::create_dir_all(dir.join("data")).unwrap();
        let big = quince_protocol::testkit::noise(3 << 20, 5);
        fs::write(dir.join("bin/big"), &big).unwrap();
        // The same bytes twice: one chunk set, stored once.
        fs::write(dir.join("data/copy"), &big[..1 << 20]).unwrap();
        for i in 0..50 {
            fs::write(
                dir.join(format!("data/{i:02}")),
                format!("small {i}").repeat(i + 1),
            )
            .unwrap();
        }
    }

    fn stored(store: &Store) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for (id, _) in store.chunks().unwrap() {
            out.insert(id.to_hex(), store.compressed(&id).unwrap());
        }
        out
    }

    /// Compressing on several threads changes nothing: the same tree gives
    /// the same manifest and the same stored bytes in two stores, the
    /// totals match the store, and building again adds nothing.
    /// `len` bytes of deterministic noise (xorshift), which compresses
    /// to nothing and has no cut points but by size.
    pub(crate) fn noise(len: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Cutting a small file in memory gives the streaming cutter's chunks.
    #[test]
    fn small_files_cut_in_memory_as_when_streamed() {
        let noise = noise(MAX_CHUNK_BYTES as usize);
        for len in [0, 1, 65_535, 65_536, 65_537, 300_000, 900_000, noise.len()] {
            let data = &noise[..len];
            let in_memory: Vec<(usize, usize)> = fastcdc::v2020::FastCDC::new(
                data,
                CHUNK_MIN_BYTES,
                CHUNK_AVG_BYTES,
                MAX_CHUNK_BYTES,
            )
            .map(|c| (c.offset, c.length))
            .collect();
            let streamed: Vec<(usize, usize)> = fastcdc::v2020::StreamCDC::new(
                data,
                CHUNK_MIN_BYTES,
                CHUNK_AVG_BYTES,
                MAX_CHUNK_BYTES,
            )
            .map(|c| c.unwrap())
            .map(|c| (c.offset as usize, c.length))
            .collect();
            assert_eq!(in_memory, streamed, "{len} bytes");
            if len > 600_000 {
                assert!(in_memory.len() > 1, "{len} bytes in one chunk");
            }
        }
    }

    /// Every file under `dir` (a store), by path below it.
    fn files(dir: &Path, under: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for item in fs::read_dir(dir).unwrap() {
            let path = item.unwrap().path();
            if path.is_dir() {
                files(&path, under, out);
            } else {
                let rel = path.strip_prefix(under).unwrap().to_path_buf();
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }

    /// The walk runs ahead of the dictionary's training, holding back the
    /// small chunks that need it: however late the dictionary comes, and
    /// whether the walk had to stop and wait for it, the manifest and
    /// every file of the store (how the chunks are packed included) are
    /// the same bytes.
    #[test]
    fn a_build_is_the_same_bytes_however_late_the_dictionary_comes() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        // Large chunks before and after the small ones.
        fs::create_dir_all(src.join("bin")).unwrap();
        fs::write(src.join("bin/big"), noise(3 << 20)).unwrap();
        crate::dict::tests::similar_files(&src.join("text"), 500, 0, 0);
        fs::write(src.join("text/zz-large"), noise(2 << 20)).unwrap();
        let sources = [Source {
            dir: src,
            platform: None,
        }];
        let late = std::time::Duration::from_millis(300);
        let tunings = [
            Tuning::default(),
            // Late: every small chunk waits for it.
            Tuning {
                hold_bytes: crate::packer::HOLD_BYTES,
                train_after: late,
            },
            // Late, and the walk stops at the first held group.
            Tuning {
                hold_bytes: 1,
                train_after: late,
            },
        ];
        let mut seen = Vec::new();
        for (i, tuning) in tunings.into_iter().enumerate() {
            let dir = t.path().join(format!("store{i}"));
            let store = Store::open(&dir).unwrap();
            let (m, stats) =
                build_tuned(&sources, &store, Options::level(3), &mut |_| {}, tuning).unwrap();
            assert!(stats.dictionary_bytes > 0, "{stats:?}");
            assert_eq!(m.dictionaries().len(), 1);
            for c in m.all_chunks() {
                store.chunk(&c).unwrap();
            }
            let mut all = BTreeMap::new();
            files(&dir, &dir, &mut all);
            assert!(
                all.keys().any(|p| p.starts_with("packs")),
                "{:?}",
                all.keys()
            );
            seen.push((m.to_bytes(), all));
        }
        assert!(seen[0] == seen[1], "a late dictionary changed the store");
        assert!(seen[0] == seen[2], "a walk that waited changed the store");
    }

    #[test]
    fn a_build_is_the_same_bytes_however_many_threads_compress() {
        let t = tempfile::tempdir().unwrap();
        tree(&t.path().join("src"));
        let sources = [Source {
            dir: t.path().join("src"),
            platform: None,
        }];
        let a = Store::open(&t.path().join("a")).unwrap();
        let b = Store::open(&t.path().join("b")).unwrap();
        let (ma, sa) = build(&sources, &a, 3).unwrap();
        let (mb, _) = build(&sources, &b, 3).unwrap();
        assert_eq!(ma.to_bytes(), mb.to_bytes());
        let (ca, cb) = (stored(&a), stored(&b));
        assert_eq!(ca, cb);
        assert_eq!(sa.new_chunks, ca.len() as u64);
        assert!(sa.chunks > sa.new_chunks, "the copy shares chunks: {sa:?}");
        assert_eq!(
            sa.new_compressed_bytes,
            ca.values().map(|v| v.len() as u64).sum::<u64>()
        );
        for e in ma.entries() {
            if let EntryKind::File { chunks, .. } = &e.kind {
                for c in chunks {
                    a.chunk(c).unwrap(); // decompresses to its address
                }
            }
        }
        let (_, again) = build(&sources, &a, 3).unwrap();
        assert_eq!((again.new_chunks, again.new_compressed_bytes), (0, 0));
        assert_eq!(fs::read_dir(t.path().join("a/tmp")).unwrap().count(), 0);
    }
}
