//! The client's copy of a verified log (a tlog-tiles folder that this node
//! serves to peers): written only after verification, checkpoint last, and
//! the place where found proof of equivocation is kept and served on.

use std::path::Path;

use quince_protocol::root::{AppId, AppRoot};
use quince_protocol::state::Equivocation;
use quince_protocol::tile::TileSet;
use quince_store::{durable, tilefs};

use super::FetchError;
use crate::library::EVIDENCE_FILE;

/// The app's first root, whose hash is the app id.
pub const ROOT_FILE: &str = "root";
/// The newest verified checkpoint.
pub const CHECKPOINT_FILE: &str = "checkpoint";

/// Writes a file of the mirror durably.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    durable::write_atomic(path, bytes)
        .map_err(|e| FetchError::Mirror(format!("{}: {e}", path.display())))
}

pub(super) fn write_root(mirror: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    write_file(&mirror.join(ROOT_FILE), bytes)
}

/// Writes the verified log as a tlog-tiles folder; the checkpoint goes last.
pub(super) fn write_log(
    mirror: &Path,
    tiles: &TileSet,
    size: u64,
    entries: &[Vec<u8>],
    note: &[u8],
) -> Result<(), FetchError> {
    tilefs::write(mirror, tiles, entries, 0, size).map_err(tile_err)?;
    write_file(&mirror.join(CHECKPOINT_FILE), note)
}

/// Keeps `note`, the checkpoint of tree size `size` that first contained a
/// signer rotation (signed by the signers before it), where peers that
/// missed the rotation ask for it.
pub(super) fn write_rotation(mirror: &Path, size: u64, note: &[u8]) -> Result<(), FetchError> {
    let dir = mirror.join(quince_protocol::tile::ROTATIONS_DIR);
    std::fs::create_dir_all(&dir)
        .map_err(|e| FetchError::Mirror(format!("{}: {e}", dir.display())))?;
    write_file(
        &mirror.join(quince_protocol::tile::rotation_path(size)),
        note,
    )
}

/// The first `size` entries kept in `mirror`.
pub(crate) fn read_entries(mirror: &Path, size: u64) -> Result<Vec<Vec<u8>>, FetchError> {
    tilefs::read_entries(mirror, size).map_err(tile_err)
}

fn tile_err(e: tilefs::TileFsError) -> FetchError {
    FetchError::Mirror(e.to_string())
}

/// Equivocation evidence already stored in `mirror` that still verifies.
pub(super) fn held_evidence(
    mirror: &Path,
    app: &AppId,
    root: &AppRoot,
) -> Option<Box<Equivocation>> {
    let bytes = std::fs::read(mirror.join(EVIDENCE_FILE)).ok()?;
    let evidence = Equivocation::from_bytes(&bytes).ok()?;
    evidence.verify(app, root).then(|| Box::new(evidence))
}

/// Keeps verified evidence in `mirror` (so this node serves it on) and returns
/// the error that stops updates of `app`.
pub(super) fn stop(mirror: &Path, app: AppId, evidence: Equivocation) -> FetchError {
    if let Err(e) = write_file(&mirror.join(EVIDENCE_FILE), &evidence.to_bytes()) {
        tracing::warn!("could not keep the equivocation proof: {e}");
    }
    FetchError::Equivocation {
        app,
        evidence: Box::new(evidence),
    }
}
