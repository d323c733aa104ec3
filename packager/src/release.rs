//! The publisher's release step: a built manifest becomes a release record,
//! appended to the app's log and staged for signing. Publishing the signed
//! checkpoint is `LogDir::publish`; abandoning is `LogDir::abandon`.

use quince_protocol::codec::{Decode, Encode};
use quince_protocol::manifest::{DeltaIndex, Manifest};
use quince_protocol::record::{LogEntry, Platform, ReleaseRecord, Version};
use quince_store::Store;

use crate::logdir::{LogDir, LogError, PendingAppend};

/// What went wrong staging a release.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The log refused (version not greater, pending append, I/O...).
    #[error(transparent)]
    Log(#[from] LogError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] quince_store::StoreError),
    /// The platforms do not make sense for this manifest.
    #[error("{0}")]
    Platforms(String),
}

/// A staged release: the record and the checkpoint text to sign.
#[derive(Debug, Clone)]
pub struct StagedRelease {
    /// The release record appended (not yet published).
    pub record: ReleaseRecord,
    /// The checkpoint text to sign, and the size it names.
    pub pending: PendingAppend,
    /// Patches from the previous release, if one was in the store.
    pub deltas: DeltaIndex,
}

/// Stages `manifest` as release `version`. `platforms` is needed only when
/// the manifest has no per-platform entries (use `any` for a release that runs
/// everywhere). Patches from the previous release are made when its manifest is
/// in `store`.
pub fn stage(
    log: &LogDir,
    store: &Store,
    manifest: &Manifest,
    version: Version,
    platforms: &[Platform],
    time: u64,
    level: i32,
) -> Result<StagedRelease, ReleaseError> {
    let platforms: Vec<Platform> = match (manifest.platforms().is_empty(), platforms.is_empty()) {
        (false, true) => manifest.platforms().to_vec(),
        (false, false) if platforms == manifest.platforms() => platforms.to_vec(),
        (false, false) => {
            return Err(ReleaseError::Platforms(format!(
                "the manifest is built for {:?}; do not name other platforms",
                manifest
                    .platforms()
                    .iter()
                    .map(Platform::as_str)
                    .collect::<Vec<_>>()
            )))
        }
        (true, true) => {
            return Err(ReleaseError::Platforms(
                "name the platforms this release serves (or `any`)".into(),
            ))
        }
        (true, false) => {
            let mut p = platforms.to_vec();
            p.sort();
            p.dedup();
            p
        }
    };
    let manifest_bytes = manifest.to_bytes();
    let hash = store.put_manifest(&manifest_bytes)?;
    let deltas = match previous_manifest(log, store)? {
        Some(old) => crate::delta::make_deltas(store, &old, manifest, level)?,
        None => DeltaIndex::default(),
    };
    let record = ReleaseRecord {
        app: log.app(),
        version,
        platforms,
        manifest: hash,
        size: manifest.total_size(),
        time,
    };
    let pending = log.append(&[LogEntry::Release(record.clone()).to_bytes()])?;
    Ok(StagedRelease {
        record,
        pending,
        deltas,
    })
}

/// The newest published release record.
pub fn latest_release(log: &LogDir) -> Result<Option<ReleaseRecord>, LogError> {
    Ok(log
        .entries()?
        .iter()
        .rev()
        .find_map(|e| match LogEntry::from_bytes(e) {
            Ok(LogEntry::Release(r)) => Some(r),
            _ => None,
        }))
}

/// The manifest of the newest published release, if the store has it.
pub fn previous_manifest(log: &LogDir, store: &Store) -> Result<Option<Manifest>, ReleaseError> {
    let Some(record) = latest_release(log)? else {
        return Ok(None);
    };
    match store.manifest(&record.manifest) {
        Ok(bytes) => Ok(Manifest::verify(&bytes, &record.manifest)
            .ok()
            .map(|v| v.manifest().clone())),
        Err(_) => Ok(None),
    }
}
