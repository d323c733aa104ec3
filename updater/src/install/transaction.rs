//! The install transaction as states, each consuming the one before:
//!
//! ```text
//! VerifiedRelease --Staged::unpack--> Staged --switch--> OnTrial --check--> Installed | RolledBack
//!   (a version already in versions/V: Staged::existing)
//! ```
//!
//! [`Staged`]: the version is unpacked, verified and in `versions/V`, not
//! current. [`OnTrial`]: `state.json` names it current and on trial and
//! `current` points at it; its health check decides. Kept: the trial is
//! over and older versions are pruned. Rolled back: the version is refused
//! for good and the previous one is current again. A crash between any two
//! steps is repaired by [`Apps::recover`](super::Apps::recover), and a
//! version left on trial is checked again ([`OnTrial::resume`]).

use std::fs;

use quince_protocol::record::{Platform, Version};
use quince_store::{crash, Store};

use super::health::{self, app_info, only_program, Plan, Unhealthy};
use super::{io, sync_dir, AppLock, AppState, Apps, InstallError, Outcome};
use crate::fetch::{Release, VerifiedRelease};

/// A version in its folder, verified, not yet current.
#[derive(Debug)]
#[must_use = "a staged version is installed only once switched to"]
pub struct Staged<'a> {
    apps: &'a Apps,
    lock: &'a AppLock,
    state: AppState,
    version: Version,
}

impl<'a> Staged<'a> {
    /// Unpacks `release` for `platform` from `store` into staging (every
    /// file checked against the manifest), then moves it to `versions/V`
    /// with one rename.
    pub fn unpack(
        apps: &'a Apps,
        lock: &'a AppLock,
        state: AppState,
        release: &VerifiedRelease,
        platform: &Platform,
        store: &Store,
    ) -> Result<Staged<'a>, InstallError> {
        let version = release.release().version;
        let staging = Staged::staging(apps, lock, &version)?;
        let unpacked = quince_store::unpack(release.manifest(), platform, store, &staging);
        Staged::unpacked(apps, lock, state, &version, unpacked.map(drop))
    }

    /// A fresh staging place for `version` (its parent emptied and made,
    /// itself not there) for an unpack; [`Staged::unpacked`] then takes it.
    pub fn staging(
        apps: &Apps,
        lock: &AppLock,
        version: &Version,
    ) -> Result<std::path::PathBuf, InstallError> {
        let staging = apps.app_dir(&lock.app).staging();
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        Ok(staging.join(version.to_string()))
    }

    /// Takes what an unpack into [`Staged::staging`] left: if `unpacked`
    /// is the unpack's success, moves it to `versions/V` with one rename;
    /// if it is its error, deletes staging and returns the error.
    pub fn unpacked(
        apps: &'a Apps,
        lock: &'a AppLock,
        state: AppState,
        version: &Version,
        unpacked: Result<(), quince_store::StoreError>,
    ) -> Result<Staged<'a>, InstallError> {
        let dir = apps.app_dir(&lock.app);
        let staging = dir.staging();
        let unpacked_dir = staging.join(version.to_string());
        if let Err(e) = unpacked {
            let _ = fs::remove_dir_all(&staging);
            return Err(e.into());
        }
        // The version's folder: readable and searchable by all (0755 on Unix).
        crate::platform::set_executable(&unpacked_dir, true).map_err(io(&unpacked_dir))?;
        let versions = dir.versions();
        fs::create_dir_all(&versions).map_err(io(&versions))?;
        let target = dir.version(version);
        fs::rename(&unpacked_dir, &target).map_err(io(&target))?;
        sync_dir(&versions)?;
        crash::point("version in place");
        let _ = fs::remove_dir_all(&staging);
        Ok(Staged {
            apps,
            lock,
            state,
            version: *version,
        })
    }

    /// `release`, already in `versions/V` (kept as the previous version, or
    /// moved there before a crash).
    pub fn existing(
        apps: &'a Apps,
        lock: &'a AppLock,
        state: AppState,
        release: &Release,
    ) -> Result<Staged<'a>, InstallError> {
        let path = apps.app_dir(&lock.app).version(&release.version);
        if !path.is_dir() {
            return Err(InstallError::Io {
                path,
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        Ok(Staged {
            apps,
            lock,
            state,
            version: release.version,
        })
    }

    /// The version staged.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Records the version as current and on trial, then points `current`
    /// at it. (In that order: a crash between the two is repaired by
    /// `recover`.)
    pub fn switch(self) -> Result<OnTrial<'a>, InstallError> {
        let Staged {
            apps,
            lock,
            mut state,
            version,
        } = self;
        if state.current != Some(version) {
            state.previous = state.current;
        }
        state.current = Some(version);
        state.trial = Some(version);
        let dir = apps.app_dir(&lock.app).version(&version);
        // The release's own command, unless the user chose one (`--run`);
        // a bad app file is the health check's to report.
        match app_info(&dir) {
            Ok(Some(info)) if !state.run_by_user => state.run = Some(info.command.to_string()),
            _ if state.run.is_none() => state.run = only_program(&dir),
            _ => {}
        }
        apps.save(lock, &state)?;
        apps.point_current(lock, Some(&version))?;
        Ok(OnTrial {
            apps,
            lock,
            state,
            version,
        })
    }
}

/// The current version, on trial until its health check passes.
#[derive(Debug)]
#[must_use = "a version on trial is kept or rolled back by its check"]
pub struct OnTrial<'a> {
    apps: &'a Apps,
    lock: &'a AppLock,
    state: AppState,
    version: Version,
}

impl<'a> OnTrial<'a> {
    /// The version a crash left on trial (`state.trial`).
    pub fn resume(
        apps: &'a Apps,
        lock: &'a AppLock,
        state: AppState,
        version: Version,
    ) -> OnTrial<'a> {
        OnTrial {
            apps,
            lock,
            state,
            version,
        }
    }

    /// Runs the health check (if the app has a program) and keeps the
    /// version or rolls it back.
    pub async fn check(self) -> Result<Outcome, InstallError> {
        let dir = self.apps.app_dir(&self.lock.app).version(&self.version);
        let verdict = match app_info(&dir) {
            Err(bad) => Err(Unhealthy::BadAppFile(bad)),
            Ok(info) => match Plan::new(info.as_ref(), &self.state) {
                Some(plan) => {
                    let env = super::running::app_env(self.apps, &self.lock.app, &self.version);
                    health::health_check(&dir, &plan, env).await
                }
                None => Ok(()),
            },
        };
        match verdict {
            Ok(()) => self.keep(),
            Err(unhealthy) if unhealthy.is_the_releases_fault() => {
                self.roll_back(unhealthy.to_string())
            }
            // Our fault or the machine's (a bad run command, a program or
            // interpreter not found, waiting failed): back to the previous
            // version, but the release is tried again next time.
            Err(unhealthy) => self.put_back(format!(
                "{unhealthy} (not the release's own failure: it is not refused, and will be tried again)"
            )),
        }
    }

    /// Ends the trial: the version stays, older ones than the previous go.
    pub fn keep(self) -> Result<Outcome, InstallError> {
        let OnTrial {
            apps,
            lock,
            mut state,
            version,
        } = self;
        state.trial = None;
        apps.save(lock, &state)?;
        prune(apps, lock, &state);
        Ok(Outcome::Installed {
            version,
            previous: state.previous,
            passed_over: Vec::new(),
        })
    }

    /// Refuses the version for good and makes the previous one current again.
    pub fn roll_back(self, reason: String) -> Result<Outcome, InstallError> {
        self.back(reason, true)
    }

    /// Makes the previous version current again without refusing this one
    /// (its failure was not its own).
    pub fn put_back(self, reason: String) -> Result<Outcome, InstallError> {
        self.back(reason, false)
    }

    fn back(self, reason: String, refuse: bool) -> Result<Outcome, InstallError> {
        let OnTrial {
            apps,
            lock,
            mut state,
            version,
        } = self;
        state.trial = None;
        if refuse && !state.is_refused(&version) {
            state.refused.push(version);
        }
        state.current = state.previous.take();
        apps.save(lock, &state)?;
        apps.point_current(lock, state.current.as_ref())?;
        Ok(Outcome::RolledBack {
            refused: version,
            reason,
            current: state.current,
        })
    }
}

/// Removes version folders other than current and previous, except one a
/// running program uses (the next prune or `gc` takes it).
fn prune(apps: &Apps, lock: &AppLock, state: &AppState) {
    let _ = super::lifecycle::prune_versions(&apps.app_dir(&lock.app), state);
}

#[cfg(test)]
mod tests;
