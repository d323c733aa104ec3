//! An app's release log on disk, in the C2SP tlog-tiles layout, that the
//! publisher appends to.
//!
//! Layout under the log folder:
//! - `root`: the app's first root (binary); the app id is its hash.
//! - `checkpoint`: the newest signed checkpoint (absent before the first release).
//! - `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`: hash tiles and entry bundles.
//! - `transcripts/<N>.json`: the FROST signing transcript of the checkpoint of
//!   size N (who signed); ignored by standard tlog tools.
//! - `rotations/<N>`: the checkpoint of size N that first contained a signer
//!   rotation, signed by the signers before it (clients that were offline
//!   across the rotation walk through it); ignored by standard tlog tools.
//! - `pending/`: an append waiting for its signature: the new tiles and bundles,
//!   and `checkpoint.body` (the text to sign), written last.
//!
//! Appending never touches the published files: new tiles are staged in
//! `pending/`; only [`LogDir::publish`], given a checkpoint signed by the group
//! key over exactly the staged body, moves them into place and then replaces
//! `checkpoint` with one atomic rename. A crash at any point leaves the
//! published checkpoint valid and every tile it needs unchanged; a staged append
//! can then be published (resumed) or abandoned. Any standard tlog-tiles reader
//! can serve or read the folder as it is.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use quince_protocol::checkpoint::{Checkpoint, CheckpointError, VerifiedCheckpoint};
use quince_protocol::codec::{self, Decode, DecodeError, Encode};
use quince_protocol::merkle::{self, MemoryTree};
use quince_protocol::record::{LogEntry, ReleaseRules};
use quince_protocol::root::{AppId, AppRoot};
use quince_protocol::tile::{self, TileError, TileSet};

use quince_store::{durable, tilefs};

const ROOT_FILE: &str = "root";
const CHECKPOINT_FILE: &str = "checkpoint";
const PENDING_DIR: &str = "pending";
const PENDING_BODY: &str = "checkpoint.body";
/// What the staged append adds, for the keyholders (see `append`).
pub const PENDING_SINCE: &str = "since.json";

/// What went wrong with a log folder.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file in the folder does not parse.
    #[error("{path}: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: DecodeError,
    },
    /// The published checkpoint does not verify or does not match the tiles.
    #[error("log at {path} is inconsistent: {detail}")]
    Inconsistent {
        /// The log folder.
        path: PathBuf,
        /// What does not match.
        detail: String,
    },
    /// A log already exists where one was to be created.
    #[error("{0} already holds a log")]
    AlreadyExists(PathBuf),
    /// An append is staged and waits for its signature (publish or abandon it first).
    #[error("an append to size {size} is waiting for its signature; publish or abandon it first")]
    PendingExists {
        /// Tree size of the staged append.
        size: u64,
    },
    /// Nothing is staged.
    #[error("no append is waiting for a signature")]
    NothingPending,
    /// An entry to append is not acceptable.
    #[error("entry refused: {0}")]
    BadEntry(String),
    /// The signed checkpoint offered for publication is not the staged one or not validly signed.
    #[error("signed checkpoint refused: {0}")]
    BadSignature(String),
}

/// An append staged in `pending/`, waiting for the group's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAppend {
    /// The checkpoint text to be signed.
    pub body: String,
    /// The tree size after the append.
    pub size: u64,
}

/// A log folder.
#[derive(Debug, Clone)]
pub struct LogDir {
    path: PathBuf,
    first_root: AppRoot,
}

impl LogDir {
    /// Creates an empty log for the app defined by `first_root`.
    pub fn create(path: &Path, first_root: &AppRoot) -> Result<LogDir, LogError> {
        if path.join(ROOT_FILE).exists() {
            return Err(LogError::AlreadyExists(path.to_path_buf()));
        }
        durable::write_atomic(&path.join(ROOT_FILE), &first_root.to_bytes())
            .map_err(io_err(path))?;
        Ok(LogDir {
            path: path.to_path_buf(),
            first_root: first_root.clone(),
        })
    }

    /// Opens an existing log and checks that its checkpoint verifies and matches its tiles.
    pub fn open(path: &Path) -> Result<LogDir, LogError> {
        let root_path = path.join(ROOT_FILE);
        let bytes = quince_store::durable::read_bounded(
            &root_path,
            quince_protocol::limits::MAX_ROOT_BYTES,
        )
        .map_err(io_err(&root_path))?;
        let first_root = AppRoot::from_bytes(&bytes).map_err(corrupt(&root_path))?;
        let log = LogDir {
            path: path.to_path_buf(),
            first_root,
        };
        log.verify()?;
        Ok(log)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The app's id.
    pub fn app(&self) -> AppId {
        self.first_root.app_id()
    }

    /// The app's first root.
    pub fn first_root(&self) -> &AppRoot {
        &self.first_root
    }

    /// The published, verified checkpoint, if any.
    pub fn checkpoint(&self) -> Result<Option<VerifiedCheckpoint>, LogError> {
        Ok(self.published()?.0)
    }

    /// Number of entries in the published log.
    pub fn size(&self) -> Result<u64, LogError> {
        Ok(self.checkpoint()?.map_or(0, |c| c.size()))
    }

    /// The published entries, in order.
    pub fn entries(&self) -> Result<Vec<Vec<u8>>, LogError> {
        Ok(self.published()?.1)
    }

    /// The root that must sign the next checkpoint: the first root, or the root of
    /// the last rotation record in the published log.
    pub fn signing_root(&self) -> Result<AppRoot, LogError> {
        Ok(latest_root(&self.first_root, &self.published()?.1))
    }

    /// Stages `entries` for appending and returns the checkpoint text to sign.
    ///
    /// Entries must parse as log entries of this app; release versions must be
    /// strictly greater than every earlier release. An incomplete staged append
    /// (crash before its body was written) is discarded first.
    pub fn append(&self, new_entries: &[Vec<u8>]) -> Result<PendingAppend, LogError> {
        if let Some(p) = self.pending()? {
            return Err(LogError::PendingExists { size: p.size });
        }
        self.abandon()?;
        let (previous, old_entries) = self.published()?;
        check_entries(&self.app(), &old_entries, new_entries)?;

        let mut tree = MemoryTree::new();
        for e in old_entries.iter().chain(new_entries) {
            tree.push_entry(e);
        }
        let old_size = old_entries.len() as u64;
        let new_size = tree.size();
        let all: Vec<&[u8]> = old_entries
            .iter()
            .chain(new_entries)
            .map(Vec::as_slice)
            .collect();

        let staged = self.path.join(PENDING_DIR);
        tilefs::write(&staged, &tree, &all, old_size, new_size).map_err(|e| match e {
            tilefs::TileFsError::Io { path, source } => LogError::Io { path, source },
            other => self.inconsistent(other.to_string()),
        })?;
        // What the keyholders are shown and check (`quince-signer sign
        // request` reads it): the last signed head, its tree's compact range
        // and the new entries.
        let compact =
            merkle::compact_range(&tree, old_size).map_err(|e| self.inconsistent(e.to_string()))?;
        let since = serde_json::json!({
            "previous": previous.map(|cp| codec::to_base64(&cp.note().to_bytes())),
            "compact": compact.iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
            "entries": new_entries.iter().map(|e| codec::to_base64(e)).collect::<Vec<_>>(),
        });
        durable::write_atomic(&staged.join(PENDING_SINCE), since.to_string().as_bytes())
            .map_err(io_err(&staged))?;
        let body = Checkpoint {
            origin: self.app().origin(),
            size: new_size,
            root: tree.root(),
            extensions: vec![],
        }
        .to_text();
        // Written last: its presence marks a complete staged append.
        durable::write_atomic(&staged.join(PENDING_BODY), body.as_bytes())
            .map_err(io_err(&staged))?;
        Ok(PendingAppend {
            body,
            size: new_size,
        })
    }

    /// The staged append, if one is complete and waiting.
    pub fn pending(&self) -> Result<Option<PendingAppend>, LogError> {
        let path = self.path.join(PENDING_DIR).join(PENDING_BODY);
        match fs::read_to_string(&path) {
            Ok(body) => {
                let cp = Checkpoint::parse(&body).map_err(corrupt(&path))?;
                Ok(Some(PendingAppend {
                    body,
                    size: cp.size,
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LogError::Io { path, source: e }),
        }
    }

    /// Publishes the staged append, given the signed checkpoint note for it.
    ///
    /// The note must sign exactly the staged body under the app's signing root.
    /// Safe to call again after a crash part-way through.
    pub fn publish(&self, signed_note: &[u8]) -> Result<VerifiedCheckpoint, LogError> {
        self.publish_inner(signed_note, None)
    }

    /// Publishes the signing transcript of the checkpoint of tree size `size`
    /// as `transcripts/<size>.json`, so auditors can tell which keyholders
    /// signed. The caller checks the transcript first.
    pub fn put_transcript(&self, size: u64, json: &[u8]) -> Result<PathBuf, LogError> {
        let path = self.path.join(tile::transcript_path(size));
        let dir = self.path.join(tile::TRANSCRIPTS_DIR);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        durable::write_atomic(&path, json).map_err(io_err(&path))?;
        Ok(path)
    }

    /// Drops a staged append; the published log is untouched.
    pub fn abandon(&self) -> Result<(), LogError> {
        let staged = self.path.join(PENDING_DIR);
        match fs::remove_dir_all(&staged) {
            Ok(()) => durable::sync_dir(&self.path).map_err(io_err(&self.path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LogError::Io {
                path: staged,
                source: e,
            }),
        }
    }

    /// Checks the published checkpoint's signature, that the tiles compute its
    /// root, and that the entry bundles match the tiles.
    pub fn verify(&self) -> Result<(), LogError> {
        let (Some(cp), entries) = self.published()? else {
            return Ok(());
        };
        let tiles = self.read_tiles(cp.size())?;
        tiles
            .verify(cp.size(), cp.root())
            .map_err(|e: TileError| self.inconsistent(e.to_string()))?;
        for id in tile::bundles_for_size(cp.size()) {
            let first = id.first_entry() as usize;
            let bundle: Vec<&[u8]> = entries[first..first + usize::from(id.width)]
                .iter()
                .map(Vec::as_slice)
                .collect();
            tiles
                .check_bundle(id, &bundle)
                .map_err(|e| self.inconsistent(e.to_string()))?;
        }
        Ok(())
    }

    /// The published tiles of a tree of `size` leaves.
    pub fn read_tiles(&self, size: u64) -> Result<TileSet, LogError> {
        tilefs::read_tiles(&self.path, size).map_err(tile_err)
    }

    /// Reads the published checkpoint and its entries once, and verifies the
    /// checkpoint's signature under the root that must have signed it.
    fn published(&self) -> Result<(Option<VerifiedCheckpoint>, Vec<Vec<u8>>), LogError> {
        let path = self.path.join(CHECKPOINT_FILE);
        let note = match quince_store::durable::read_bounded(
            &path,
            quince_protocol::limits::MAX_NOTE_BYTES,
        ) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, Vec::new())),
            Err(e) => return Err(LogError::Io { path, source: e }),
        };
        let entries = self.entries_up_to(parse_size(&note, &path)?)?;
        // The checkpoint that first contains a rotation is signed by the group
        // before it; every later one by the new group.
        let roots = root_chain(&self.first_root, &entries);
        let mut last_err = None;
        for root in roots.iter().rev().take(2) {
            let key = root.checkpoint_verifier(&self.app());
            match VerifiedCheckpoint::verify(&note, &self.app().origin(), &key) {
                Ok(cp) => return Ok((Some(cp), entries)),
                Err(e) => last_err = Some(e),
            }
        }
        Err(self.inconsistent(format!(
            "published checkpoint: {}",
            last_err.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    fn publish_inner(
        &self,
        signed_note: &[u8],
        crash_after_moves: Option<usize>,
    ) -> Result<VerifiedCheckpoint, LogError> {
        let pending = self.pending()?.ok_or(LogError::NothingPending)?;
        let key = self.signing_root()?.checkpoint_verifier(&self.app());
        let cp = VerifiedCheckpoint::verify(signed_note, &self.app().origin(), &key).map_err(
            |e| match e {
                CheckpointError::Signature(s) => {
                    LogError::BadSignature(format!("not signed by the app's signing group: {s}"))
                }
                other => LogError::BadSignature(other.to_string()),
            },
        )?;
        if cp.note().text() != pending.body {
            return Err(LogError::BadSignature(format!(
                "it signs a checkpoint of size {}, not the staged one of size {}",
                cp.size(),
                pending.size
            )));
        }
        let staged = self.path.join(PENDING_DIR);
        let files = durable::files_below(&staged.join("tile")).map_err(io_err(&staged))?;
        for (moved, rel) in files.iter().enumerate() {
            if crash_after_moves == Some(moved) {
                return Err(LogError::Io {
                    path: staged,
                    source: io::Error::other("simulated crash"),
                });
            }
            let rel = format!("tile/{rel}");
            durable::rename_durable(&staged.join(&rel), &self.path.join(&rel))
                .map_err(io_err(&self.path))?;
        }
        // The checkpoint that first contains a rotation is also kept under
        // `rotations/<size>`: clients that miss the rotation walk through it
        // (written before the checkpoint, so a crash leaves nothing missing).
        let (_, old_entries) = self.published()?;
        let all = self.entries_up_to(cp.size())?;
        if all[old_entries.len().min(all.len())..]
            .iter()
            .any(|e| matches!(LogEntry::from_bytes(e), Ok(LogEntry::Rotation(_))))
        {
            let dir = self.path.join(tile::ROTATIONS_DIR);
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            let path = self.path.join(tile::rotation_path(cp.size()));
            durable::write_atomic(&path, signed_note).map_err(io_err(&path))?;
        }
        durable::write_atomic(&self.path.join(CHECKPOINT_FILE), signed_note)
            .map_err(io_err(&self.path))?;
        self.abandon()?;
        Ok(cp)
    }

    fn entries_up_to(&self, size: u64) -> Result<Vec<Vec<u8>>, LogError> {
        tilefs::read_entries(&self.path, size).map_err(tile_err)
    }

    fn inconsistent(&self, detail: String) -> LogError {
        LogError::Inconsistent {
            path: self.path.clone(),
            detail,
        }
    }
}

/// The root in force after `entries`.
fn latest_root(first: &AppRoot, entries: &[Vec<u8>]) -> AppRoot {
    root_chain(first, entries)
        .pop()
        .unwrap_or_else(|| first.clone())
}

/// The first root followed by the root of every rotation record in `entries`.
fn root_chain(first: &AppRoot, entries: &[Vec<u8>]) -> Vec<AppRoot> {
    let mut roots = vec![first.clone()];
    for e in entries {
        if let Ok(LogEntry::Rotation(r)) = LogEntry::from_bytes(e) {
            roots.push(r.root.clone());
        }
    }
    roots
}

fn check_entries(app: &AppId, old: &[Vec<u8>], new: &[Vec<u8>]) -> Result<(), LogError> {
    if new.is_empty() {
        return Err(LogError::BadEntry("nothing to append".into()));
    }
    let mut offers = ReleaseRules::default();
    for entry in old {
        if let Ok(LogEntry::Release(r)) = LogEntry::from_bytes(entry) {
            offers.add(r);
        }
    }
    for (i, bytes) in new.iter().enumerate() {
        let entry = LogEntry::from_bytes(bytes)
            .map_err(|e| LogError::BadEntry(format!("entry {i}: {e}")))?;
        if entry.app() != app {
            return Err(LogError::BadEntry(format!(
                "entry {i} is for app {}, not {app}",
                entry.app()
            )));
        }
        if let LogEntry::Release(r) = entry {
            offers.check(&r).map_err(LogError::BadEntry)?;
            offers.add(r);
        } else if let LogEntry::Rotation(r) = &entry {
            if !r.new_root_signature_is_valid() {
                return Err(LogError::BadEntry(format!(
                    "entry {i}: rotation not signed by the new group"
                )));
            }
        }
    }
    Ok(())
}

fn parse_size(note: &[u8], path: &Path) -> Result<u64, LogError> {
    let parsed = quince_protocol::note::Note::parse(note).map_err(corrupt(path))?;
    Ok(Checkpoint::parse(parsed.text())
        .map_err(corrupt(path))?
        .size)
}

fn tile_err(e: tilefs::TileFsError) -> LogError {
    match e {
        tilefs::TileFsError::Io { path, source } => LogError::Io { path, source },
        tilefs::TileFsError::Corrupt { path, source } => LogError::Corrupt { path, source },
        other => LogError::BadEntry(other.to_string()),
    }
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path) -> impl Fn(DecodeError) -> LogError + '_ {
    move |source| LogError::Corrupt {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests;
