//! The publisher's release step: a built manifest becomes a release record,
//! appended to the app's log and staged for signing. Publishing the signed
//! checkpoint is `LogDir::publish`; abandoning is `LogDir::abandon`.

use quince_protocol::codec::{Decode, Encode};
use quince_protocol::manifest::{DeltaIndex, Manifest};
use quince_protocol::record::{Channel, LogEntry, Platform, ReleaseRecord, Rollout, Version};
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

/// Which version, on which channel, to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offering {
    /// The version.
    pub version: Version,
    /// The channel (stable unless said).
    pub channel: Channel,
    /// The share of that channel's installs offered it (100% unless said).
    pub rollout: Rollout,
}

impl Offering {
    /// `version` to everyone on stable.
    pub fn stable(version: Version) -> Offering {
        Offering {
            version,
            channel: Channel::stable(),
            rollout: Rollout::FULL,
        }
    }
}

/// Stages `manifest` as release `version` on stable, to everyone; see [`stage_on`].
pub fn stage(
    log: &LogDir,
    store: &Store,
    manifest: &Manifest,
    version: Version,
    platforms: &[Platform],
    time: u64,
    level: i32,
) -> Result<StagedRelease, ReleaseError> {
    stage_on(
        log,
        store,
        manifest,
        &Offering::stable(version),
        platforms,
        time,
        level,
    )
}

/// Stages `manifest` as a new version, offered as `offering` says.
/// `platforms` is needed only when the manifest has no per-platform entries
/// (use `any` for a release that runs everywhere). Patches from the previous
/// release are made when its manifest is in `store`.
pub fn stage_on(
    log: &LogDir,
    store: &Store,
    manifest: &Manifest,
    offering: &Offering,
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
    // A version already in the log is not released again: a new build needs
    // a new version, and the same bytes on another channel are a promotion.
    let released = log.entries()?.iter().any(|e| {
        matches!(LogEntry::from_bytes(e), Ok(LogEntry::Release(r)) if r.version == offering.version)
    });
    if released {
        return Err(LogError::BadEntry(format!(
            "version {} is already released; a new build needs a version greater than the \
             newest on its channel (the same release on another channel, or to more \
             installs: `quince-packager promote` or `rollout`)",
            offering.version
        ))
        .into());
    }
    let manifest_bytes = manifest.to_bytes();
    let hash = store.put_manifest(&manifest_bytes)?;
    let deltas = match previous_manifest(log, store)? {
        Some(old) => crate::delta::make_deltas(store, &old, manifest, level)?,
        None => DeltaIndex::default(),
    };
    let record = ReleaseRecord {
        app: log.app(),
        version: offering.version,
        channel: offering.channel.clone(),
        rollout: offering.rollout,
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

/// Stages a record that offers an already released version anew: on
/// another channel (a promotion: the same manifest, so the bytes stable users
/// get are the bytes testers ran) or to another share of a channel (a
/// rollout step; 0% halts it). Nothing is built or uploaded.
pub fn offer(
    log: &LogDir,
    offering: &Offering,
    time: u64,
) -> Result<(ReleaseRecord, PendingAppend), ReleaseError> {
    let first = log
        .entries()?
        .iter()
        .find_map(|e| match LogEntry::from_bytes(e) {
            Ok(LogEntry::Release(r)) if r.version == offering.version => Some(r),
            _ => None,
        })
        .ok_or_else(|| {
            LogError::BadEntry(format!(
                "version {} is not in the published log (release it first)",
                offering.version
            ))
        })?;
    let record = ReleaseRecord {
        channel: offering.channel.clone(),
        rollout: offering.rollout,
        time,
        ..first
    };
    let pending = log.append(&[LogEntry::Release(record.clone()).to_bytes()])?;
    Ok((record, pending))
}

/// The published release record with the greatest version (on any channel).
pub fn latest_release(log: &LogDir) -> Result<Option<ReleaseRecord>, LogError> {
    Ok(log
        .entries()?
        .iter()
        .filter_map(|e| match LogEntry::from_bytes(e) {
            Ok(LogEntry::Release(r)) => Some(r),
            _ => None,
        })
        .max_by(|a, b| a.version.cmp(&b.version)))
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
