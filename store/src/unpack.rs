//! Materialises a verified manifest into a fresh staging folder.
//!
//! Every chunk is checked against its address as it is read, every file
//! against its SHA-256 when it is complete, and every path is written only
//! below the staging folder: parents are folders this function created itself
//! (checked with `symlink_metadata`, never followed), files are created with
//! `create_new`, and symlinks (whose targets the manifest already confined to
//! the release) are made last, so nothing is ever written through one.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::{self, Relaxed};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};
use std::time::Duration;

use quince_protocol::hash::Sha256Stream;
use quince_protocol::manifest::{Entry, EntryKind, VerifiedManifest};
use quince_protocol::path::RelPath;
use quince_protocol::record::Platform;

use crate::chunks::{Reader, Store};
use crate::{io_err, StoreError};

/// What an unpack wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    /// Files written.
    pub files: u64,
    /// Folders created (besides the staging folder itself).
    pub dirs: u64,
    /// Symlinks created.
    pub links: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes the entries of `manifest` for `platform` into `staging`, which must
/// not exist yet (its parent must). On error, `staging` is left for the caller
/// to delete; nothing outside it is touched.
pub fn unpack(
    manifest: &VerifiedManifest,
    platform: &Platform,
    store: &Store,
    staging: &Path,
) -> Result<UnpackStats, StoreError> {
    unpack_in(manifest, platform, store, staging, None)
}

/// Whether the chunks a [`unpack_arriving`] lacks may still arrive: shared
/// between the unpack and whatever fetches the chunks into the store.
#[derive(Debug)]
pub struct Arrivals(AtomicU8);

const ARRIVING: u8 = 0;
const DONE: u8 = 1;
const STOPPED: u8 = 2;

/// How long an unpack waiting for chunks sleeps before it looks whether
/// more arrived (a fetch makes chunks visible a batch at a time, hundreds
/// of milliseconds apart).
const LOOK_AGAIN: Duration = Duration::from_millis(5);

impl Arrivals {
    /// Chunks are arriving: an unpack waits for those it lacks.
    pub fn new() -> Arrivals {
        Arrivals(AtomicU8::new(ARRIVING))
    }

    /// Every chunk that will arrive is in the store: one still lacking is
    /// missing.
    pub fn done(&self) {
        self.0.store(DONE, Ordering::Release);
    }

    /// No more chunks will arrive (the fetch failed): the unpack stops
    /// before the next files it would write.
    pub fn stop(&self) {
        self.0.store(STOPPED, Ordering::Release);
    }
}

impl Default for Arrivals {
    fn default() -> Arrivals {
        Arrivals::new()
    }
}

/// [`unpack`], started while the chunks are still arriving in `store` (a
/// release being fetched by this process): files are written as soon as
/// all their chunks are there, so the disk's work overlaps the network's;
/// the rest are waited for until `arrivals` says they are
/// [done](Arrivals::done) (then a chunk still lacking is missing) or
/// [stopped](Arrivals::stop) (then the unpack ends with
/// [`StoreError::Stopped`]).
pub fn unpack_arriving(
    manifest: &VerifiedManifest,
    platform: &Platform,
    store: &Store,
    staging: &Path,
    arrivals: &Arrivals,
) -> Result<UnpackStats, StoreError> {
    unpack_in(manifest, platform, store, staging, Some(arrivals))
}

/// [`unpack_arriving`], or with no `arrivals` [`unpack`] (everything is
/// there: a build with only that one leaves the waiting out).
fn unpack_in(
    manifest: &VerifiedManifest,
    platform: &Platform,
    store: &Store,
    staging: &Path,
    arrivals: Option<&Arrivals>,
) -> Result<UnpackStats, StoreError> {
    let entries: Vec<&Entry> = manifest.entries_for(platform).collect();
    if cfg!(windows) {
        for entry in &entries {
            if let Some(reason) = entry.path.windows_problem() {
                return Err(StoreError::UnsafePath {
                    path: entry.path.to_string(),
                    reason,
                });
            }
        }
    }
    create_private_dir(staging)?;
    let mut stats = UnpackStats::default();
    let mut written = vec![staging.to_path_buf()];
    // Folders first, in the manifest's order (parents before children).
    // The folders this unpack made: a parent among them needs no look.
    let mut made = HashSet::new();
    for entry in entries.iter().filter(|e| matches!(e.kind, EntryKind::Dir)) {
        let target = place(staging, &entry.path, &made)?;
        fs::create_dir(&target).map_err(|e| taken_or(e, &entry.path, &target))?;
        set_mode(&target, 0o755)?;
        made.insert(entry.path.as_str().to_owned());
        written.push(target);
        stats.dirs += 1;
    }
    // Then the files, on several threads (decompressing, hashing and
    // creating files take about as long as fetching them): those whose
    // chunks are all there, then (once more have arrived) those whose
    // chunks are there now, and so on; once none will arrive, the rest.
    let mut files: Vec<&Entry> = entries
        .iter()
        .copied()
        .filter(|e| matches!(e.kind, EntryKind::File { .. }))
        .collect();
    let mut looked = None;
    while !files.is_empty() {
        // What has arrived is read before the state: after `done`, a look
        // sees every chunk that arrived.
        let arrived = arrivals.map(|_| store.arrived());
        let state = arrivals.map_or(DONE, |a| a.0.load(Ordering::Acquire));
        if state == STOPPED {
            return Err(StoreError::Stopped);
        }
        let ready: Vec<&Entry>;
        if state == ARRIVING {
            if looked == arrived {
                std::thread::sleep(LOOK_AGAIN);
                continue;
            }
            looked = arrived;
            (ready, files) = files.into_iter().partition(|e| whole(e, store));
        } else {
            ready = std::mem::take(&mut files);
        }
        let done = write_files(&ready, staging, store, &made)?;
        stats.files += done.files;
        stats.bytes += done.bytes;
        written.extend(done.written);
    }
    // Symlinks last, so that nothing is ever written through one.
    for entry in &entries {
        if let EntryKind::Symlink { target: to } = &entry.kind {
            let at = place(staging, &entry.path, &made)?;
            make_symlink(to, &at, &entry.path)?;
            stats.links += 1;
        }
    }
    // Everything must be on disk before the caller switches to it.
    crate::sync_paths(staging, written.iter().map(PathBuf::as_path))?;
    Ok(stats)
}

/// Whether every chunk of file `entry` is in `store`.
fn whole(entry: &Entry, store: &Store) -> bool {
    match &entry.kind {
        EntryKind::File { chunks, .. } => chunks.iter().all(|c| store.has_known(&c.id)),
        _ => true,
    }
}

/// Most threads writing files at once (with the `parallel-unpack` feature).
#[cfg(feature = "parallel-unpack")]
const MAX_UNPACK_THREADS: usize = 4;

/// What the file-writing threads did.
#[derive(Default)]
struct Written {
    files: u64,
    bytes: u64,
    written: Vec<PathBuf>,
}

/// Writes `files` below `staging` on up to `MAX_UNPACK_THREADS` threads (one
/// without the `parallel-unpack` feature),
/// each taking the next file in turn. On errors, the first file's (in the
/// manifest's order) is returned, and the threads stop taking files.
fn write_files(
    files: &[&Entry],
    staging: &Path,
    store: &Store,
    made: &HashSet<String>,
) -> Result<Written, StoreError> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || {
        let mut reader = store.reader();
        let mut done = Written::default();
        while !failed.load(Relaxed) {
            let i = next.fetch_add(1, Relaxed);
            let Some(entry) = files.get(i) else { break };
            if let Err(e) = write_file(entry, staging, made, &mut reader, &mut done) {
                failed.store(true, Relaxed);
                return Err((i, e));
            }
        }
        Ok(done)
    };
    #[cfg(not(feature = "parallel-unpack"))]
    let results = [work()];
    #[cfg(feature = "parallel-unpack")]
    let results: Vec<Result<Written, (usize, StoreError)>> = std::thread::scope(|scope| {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_UNPACK_THREADS)
            .min(files.len().max(1));
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err((
                        usize::MAX,
                        StoreError::Io {
                            path: staging.to_path_buf(),
                            source: std::io::Error::other("an unpacking thread panicked"),
                        },
                    ))
                })
            })
            .collect()
    });
    let mut all = Written::default();
    let mut first_error: Option<(usize, StoreError)> = None;
    for result in results {
        match result {
            Ok(done) => {
                all.files += done.files;
                all.bytes += done.bytes;
                all.written.extend(done.written);
            }
            Err((i, e)) => {
                if first_error.as_ref().is_none_or(|(j, _)| i < *j) {
                    first_error = Some((i, e));
                }
            }
        }
    }
    match first_error {
        Some((_, e)) => Err(e),
        None => Ok(all),
    }
}

/// Writes one file entry, checking each chunk against its address and the
/// whole file against its SHA-256.
fn write_file(
    entry: &Entry,
    staging: &Path,
    made: &HashSet<String>,
    reader: &mut Reader<'_>,
    done: &mut Written,
) -> Result<(), StoreError> {
    let EntryKind::File {
        executable,
        size,
        sha256,
        chunks,
        shared_at,
    } = &entry.kind
    else {
        return Ok(());
    };
    let target = place(staging, &entry.path, made)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(|e| taken_or(e, &entry.path, &target))?;
    let mut hasher = Sha256Stream::new();
    reader.file(chunks, *shared_at, *size, |raw| {
        hasher.update(raw);
        file.write_all(raw).map_err(io_err(&target))
    })?;
    let got = hasher.finish();
    if got != *sha256 {
        return Err(StoreError::FileHashMismatch {
            path: entry.path.to_string(),
            expected: *sha256,
            got,
        });
    }
    set_file_mode(&file, &target, if *executable { 0o755 } else { 0o644 })?;
    done.written.push(target);
    done.files += 1;
    done.bytes += size;
    crate::crash::point("file unpacked");
    Ok(())
}

/// The on-disk place of `path` below `root`, after checking that every parent
/// is a real folder (not a link, not a file) and the place itself is free.
/// Parents in `made` (folders this unpack created, by their path in the
/// release; nothing else can write in the private staging folder) need no look.
fn place(root: &Path, path: &RelPath, made: &HashSet<String>) -> Result<PathBuf, StoreError> {
    let parts: Vec<&str> = path.components().collect();
    if let Some((_, parent)) = path.as_str().rsplit_once('/') {
        if made.contains(parent) {
            // Only the place itself is left to check: `create_new` and
            // `create_dir` refuse one that is taken.
            let mut at = root.to_path_buf();
            at.extend(&parts);
            return Ok(at);
        }
    }
    let mut at = root.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let last = i + 1 == parts.len();
        match fs::symlink_metadata(&at) {
            Ok(meta) if last => {
                return Err(StoreError::UnsafePath {
                    path: path.to_string(),
                    reason: format!("something already exists there ({:?})", meta.file_type()),
                })
            }
            Ok(meta) if !meta.file_type().is_dir() => {
                return Err(StoreError::UnsafePath {
                    path: path.to_string(),
                    reason: format!("`{}` is not a real folder", parts[..=i].join("/")),
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && last => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::UnsafePath {
                    path: path.to_string(),
                    reason: "its folder was not created first".into(),
                })
            }
            Err(e) => {
                return Err(StoreError::Io {
                    path: at,
                    source: e,
                })
            }
        }
    }
    Ok(at)
}

/// An error creating `path` at `at`: "something already exists there" if
/// the place is taken.
fn taken_or(e: std::io::Error, path: &RelPath, at: &Path) -> StoreError {
    if e.kind() == std::io::ErrorKind::AlreadyExists {
        StoreError::UnsafePath {
            path: path.to_string(),
            reason: "something already exists there".into(),
        }
    } else {
        StoreError::Io {
            path: at.to_path_buf(),
            source: e,
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    fs::create_dir(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            StoreError::UnsafePath {
                path: dir.display().to_string(),
                reason: "the staging folder already exists".into(),
            }
        } else {
            StoreError::Io {
                path: dir.to_path_buf(),
                source: e,
            }
        }
    })?;
    set_mode(dir, 0o700)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), StoreError> {
    Ok(())
}

/// [`set_mode`] through the open file (no second look-up of its path).
#[cfg(unix)]
fn set_file_mode(file: &fs::File, path: &Path, mode: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err(path))
}

#[cfg(not(unix))]
fn set_file_mode(_file: &fs::File, _path: &Path, _mode: u32) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(unix)]
fn make_symlink(to: &str, at: &Path, path: &RelPath) -> Result<(), StoreError> {
    // `place` checked the parents when the entry was seen; check again now that
    // every file exists, then create the link without following anything.
    let parent = at.parent().unwrap_or(at);
    if fs::symlink_metadata(parent)
        .map(|m| !m.file_type().is_dir())
        .unwrap_or(true)
        || fs::symlink_metadata(at).is_ok()
    {
        return Err(StoreError::UnsafePath {
            path: path.to_string(),
            reason: "its place changed during unpacking".into(),
        });
    }
    std::os::unix::fs::symlink(to, at).map_err(io_err(at))
}

#[cfg(not(unix))]
fn make_symlink(_to: &str, _at: &Path, path: &RelPath) -> Result<(), StoreError> {
    Err(StoreError::UnsafePath {
        path: path.to_string(),
        reason: "symlinks are not supported on this platform yet".into(),
    })
}

#[cfg(test)]
mod tests {
    use quince_protocol::codec::Encode as _;
    use quince_protocol::manifest::{ChunkRef, Entry, Manifest};

    use super::*;

    /// Many files in folders: every one lands with its bytes; when several
    /// are bad, the error names the first of them in the manifest.
    #[test]
    fn many_files_unpack_and_the_first_bad_one_is_named() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("store")).unwrap();
        let dir = |path: &str| Entry {
            path: RelPath::parse(path).unwrap(),
            platforms: vec![],
            kind: EntryKind::Dir,
        };
        let file = |path: &str, bytes: &[u8], sha: Option<&[u8]>| {
            let (id, _, _) = store.put_chunk(bytes, 3).unwrap();
            Entry {
                path: RelPath::parse(path).unwrap(),
                platforms: vec![],
                kind: EntryKind::File {
                    executable: false,
                    size: bytes.len() as u64,
                    sha256: quince_protocol::Hash::of(sha.unwrap_or(bytes)),
                    chunks: vec![ChunkRef {
                        id,
                        size: bytes.len() as u32,
                    }],
                    shared_at: None,
                },
            }
        };
        let mut entries = vec![dir("a"), dir("b")];
        for i in 0..200 {
            let folder = if i % 2 == 0 { "a" } else { "b" };
            let text = format!("file {i} ").repeat(i + 1);
            entries.push(file(&format!("{folder}/f{i:03}"), text.as_bytes(), None));
        }
        entries.sort_by(|x, y| x.path.as_str().cmp(y.path.as_str()));
        let any = "any".parse().unwrap();
        let verify = |entries: Vec<Entry>| {
            let manifest = Manifest::new(vec![], entries).unwrap();
            Manifest::verify(&manifest.to_bytes(), &manifest.hash()).unwrap()
        };
        let staging = t.path().join("good");
        let stats = unpack(&verify(entries.clone()), &any, &store, &staging).unwrap();
        assert_eq!((stats.files, stats.dirs), (200, 2));
        for i in [0usize, 77, 199] {
            let folder = if i % 2 == 0 { "a" } else { "b" };
            let got = fs::read(staging.join(format!("{folder}/f{i:03}"))).unwrap();
            assert_eq!(got, format!("file {i} ").repeat(i + 1).as_bytes());
        }
        // Two files whose hash is not their bytes': the earlier one is named.
        for (i, e) in entries.iter_mut().enumerate() {
            if i == 150 || i == 180 {
                *e = file(e.path.as_str(), b"bytes", Some(b"other bytes"));
            }
        }
        let named = entries[150].path.to_string();
        for round in 0..5 {
            let staging = t.path().join(format!("bad{round}"));
            let err = unpack(&verify(entries.clone()), &any, &store, &staging).unwrap_err();
            assert!(
                matches!(&err, StoreError::FileHashMismatch { path, .. } if *path == named),
                "{err}"
            );
        }
    }

    /// An unpack started before the chunks arrive writes each file once its
    /// chunks are there, in whatever order they land (the last file's
    /// while earlier ones are still awaited), finishes once the rest
    /// arrive, reports the first chunk missing once they are done, and
    /// ends when they are stopped.
    #[test]
    fn an_unpack_writes_files_as_their_chunks_arrive() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("store")).unwrap();
        let raw: Vec<Vec<u8>> = (0..10)
            .map(|i| format!("file {i} ").repeat(100 + i).into_bytes())
            .collect();
        let refs: Vec<ChunkRef> = raw
            .iter()
            .map(|r| ChunkRef {
                id: crate::chunk_id(r),
                size: r.len() as u32,
            })
            .collect();
        let entries: Vec<Entry> = (0..10)
            .map(|i| Entry {
                path: RelPath::parse(&format!("f{i}")).unwrap(),
                platforms: vec![],
                kind: EntryKind::File {
                    executable: false,
                    size: raw[i].len() as u64,
                    sha256: quince_protocol::Hash::of(&raw[i]),
                    chunks: vec![refs[i]],
                    shared_at: None,
                },
            })
            .collect();
        let manifest = Manifest::new(vec![], entries).unwrap();
        let manifest = Manifest::verify(&manifest.to_bytes(), &manifest.hash()).unwrap();
        let arrive = |these: &[usize]| {
            let mut batch = store.batch();
            for &i in these {
                let compressed = crate::compress_chunk(&raw[i], 3).unwrap();
                batch.put_compressed(&refs[i], &compressed).unwrap();
            }
            batch.finish().unwrap();
        };
        let appears = |path: &Path| {
            let until = std::time::Instant::now() + Duration::from_secs(20);
            while !path.exists() && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            path.exists()
        };
        let any: Platform = "any".parse().unwrap();
        arrive(&[0, 1, 2, 9]);
        let staging = t.path().join("arriving");
        let arrivals = Arrivals::new();
        std::thread::scope(|s| {
            let unpacking =
                s.spawn(|| unpack_arriving(&manifest, &any, &store, &staging, &arrivals));
            assert!(
                appears(&staging.join("f9")),
                "the files whose chunks are there"
            );
            std::thread::sleep(Duration::from_millis(50));
            assert!(!unpacking.is_finished(), "it waits for the rest");
            assert!(!staging.join("f5").exists());
            arrive(&[5, 3]);
            assert!(
                appears(&staging.join("f5")),
                "more files as more chunks arrive"
            );
            arrive(&[4, 6, 7, 8]);
            arrivals.done();
            let stats = unpacking.join().unwrap().unwrap();
            assert_eq!(stats.files, 10);
        });
        for (i, r) in raw.iter().enumerate() {
            assert_eq!(&fs::read(staging.join(format!("f{i}"))).unwrap(), r);
        }

        // Done, with chunks still lacking: the first one lacking is named.
        let other = Store::open(&t.path().join("other")).unwrap();
        let arrivals = Arrivals::new();
        arrivals.done();
        let err = unpack_arriving(&manifest, &any, &other, &t.path().join("done"), &arrivals)
            .unwrap_err();
        assert!(
            matches!(err, StoreError::MissingChunk(id) if id == refs[0].id),
            "{err}"
        );

        // Stopped while waiting: the unpack ends.
        let arrivals = Arrivals::new();
        let staging = t.path().join("stopped");
        std::thread::scope(|s| {
            let unpacking =
                s.spawn(|| unpack_arriving(&manifest, &any, &other, &staging, &arrivals));
            std::thread::sleep(Duration::from_millis(50));
            assert!(!unpacking.is_finished(), "it waits for the first chunk");
            arrivals.stop();
            let err = unpacking.join().unwrap().unwrap_err();
            assert!(matches!(err, StoreError::Stopped), "{err}");
        });
    }

    /// A release holding `aux.txt` (a device name on Windows): it unpacks
    /// on Unix, and a Windows build refuses it naming the file and why,
    /// before writing anything (this test also runs under Wine in CI).
    #[test]
    fn a_name_windows_cannot_hold_is_refused_there_only() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("store")).unwrap();
        let (id, _, _) = store.put_chunk(b"data", 3).unwrap();
        let file = |path: &str| Entry {
            path: RelPath::parse(path).unwrap(),
            platforms: vec![],
            kind: EntryKind::File {
                executable: false,
                size: 4,
                sha256: quince_protocol::Hash::of(b"data"),
                chunks: vec![ChunkRef { id, size: 4 }],
                shared_at: None,
            },
        };
        let manifest = Manifest::new(vec![], vec![file("aux.txt"), file("ok.txt")]).unwrap();
        let verified = Manifest::verify(&manifest.to_bytes(), &manifest.hash()).unwrap();
        let staging = t.path().join("staging");
        let result = unpack(&verified, &"any".parse().unwrap(), &store, &staging);
        if cfg!(windows) {
            let err = result.unwrap_err();
            assert!(
                err.to_string().contains("aux.txt") && err.to_string().contains("device name"),
                "{err}"
            );
            assert!(!staging.join("ok.txt").exists());
        } else {
            result.unwrap();
            assert_eq!(fs::read(staging.join("aux.txt")).unwrap(), b"data");
        }
    }
}
