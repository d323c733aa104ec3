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
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use quince_protocol::record::{Platform, Version};
use quince_store::{crash, Store};

use super::{io, sync_dir, AppLock, AppState, Apps, InstallError, Outcome};
use crate::fetch::{Release, VerifiedRelease};

/// Environment variable a program sees during its health check.
pub const HEALTH_ENV: &str = "QUINCE_HEALTH_CHECK";

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
        let dir = apps.app_dir(&lock.app);
        let version = release.release().version;
        let staging = dir.staging();
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        let unpacked = staging.join(version.to_string());
        if let Err(e) = quince_store::unpack(release.manifest(), platform, store, &unpacked) {
            let _ = fs::remove_dir_all(&staging);
            return Err(e.into());
        }
        set_mode(&unpacked, 0o755)?;
        let versions = dir.versions();
        fs::create_dir_all(&versions).map_err(io(&versions))?;
        let target = dir.version(&version);
        fs::rename(&unpacked, &target).map_err(io(&target))?;
        sync_dir(&versions)?;
        crash::point("version in place");
        let _ = fs::remove_dir_all(&staging);
        Ok(Staged {
            apps,
            lock,
            state,
            version,
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
        if state.run.is_none() {
            state.run = only_program(&apps.app_dir(&lock.app).version(&version));
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
        let verdict = match &self.state.run {
            Some(run) => {
                health_check(
                    &self.apps.app_dir(&self.lock.app).version(&self.version),
                    run,
                    Duration::from_secs(self.state.health_seconds),
                )
                .await
            }
            None => Ok(()),
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

/// Removes version folders other than current and previous.
fn prune(apps: &Apps, lock: &AppLock, state: &AppState) {
    let dir = apps.app_dir(&lock.app);
    for entry in fs::read_dir(dir.versions()).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let keep = |v: &Option<Version>| v.is_some_and(|v| v.to_string() == name);
        if !keep(&state.current) && !keep(&state.previous) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

impl Unhealthy {
    /// Whether the release itself failed (its program ran and exited with
    /// an error, or is there but cannot be executed): only then is it
    /// refused for good.
    pub fn is_the_releases_fault(&self) -> bool {
        match self {
            Unhealthy::Exited { .. } => true,
            Unhealthy::DoesNotStart { missing, .. } => !missing,
            Unhealthy::BadRunCommand { .. } | Unhealthy::Lost { .. } => false,
        }
    }
}

/// Why a version failed its health check.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Unhealthy {
    /// The run command is not a safe relative path.
    #[error("run command {run:?}: {reason}")]
    BadRunCommand {
        /// The command.
        run: String,
        /// Why.
        reason: String,
    },
    /// The program could not be started.
    #[error("{program} does not start: {reason}")]
    DoesNotStart {
        /// The program.
        program: String,
        /// The OS error.
        reason: String,
        /// The program (or its interpreter) is not there: maybe a wrong
        /// `--run`, or a missing interpreter on this machine.
        missing: bool,
    },
    /// The program stopped with an error before the check's time was up.
    #[error("{program} exited with {status} after {seconds:.1} s")]
    Exited {
        /// The program, relative to the version's folder.
        program: String,
        /// How it ended.
        status: String,
        /// After how long.
        seconds: f64,
    },
    /// Waiting for the program failed.
    #[error("waiting for {program}: {reason}")]
    Lost {
        /// The program.
        program: String,
        /// Why.
        reason: String,
    },
}

/// Starts `run` (relative to `dir`) with [`HEALTH_ENV`] set; healthy if it is
/// still running after `within` (then stopped) or exits 0 before. The wait
/// runs on a blocking thread, never on the async runtime's workers.
pub async fn health_check(dir: &Path, run: &str, within: Duration) -> Result<(), Unhealthy> {
    let (dir, run) = (dir.to_path_buf(), run.to_string());
    let program = run.clone();
    tokio::task::spawn_blocking(move || health_check_blocking(&dir, &run, within))
        .await
        .unwrap_or_else(|e| {
            Err(Unhealthy::Lost {
                program,
                reason: e.to_string(),
            })
        })
}

fn health_check_blocking(dir: &Path, run: &str, within: Duration) -> Result<(), Unhealthy> {
    let rel = quince_protocol::path::RelPath::parse(run).map_err(|e| Unhealthy::BadRunCommand {
        run: run.to_string(),
        reason: e.to_string(),
    })?;
    let program = dir.join(rel.as_str());
    let mut child = Command::new(&program)
        .current_dir(dir)
        .env(HEALTH_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Unhealthy::DoesNotStart {
            program: program.display().to_string(),
            reason: e.to_string(),
            missing: e.kind() == std::io::ErrorKind::NotFound,
        })?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(Unhealthy::Exited {
                    program: rel.as_str().to_string(),
                    status: status.to_string(),
                    seconds: started.elapsed().as_secs_f64(),
                })
            }
            Ok(None) if started.elapsed() >= within => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                return Err(Unhealthy::Lost {
                    program: rel.as_str().to_string(),
                    reason: e.to_string(),
                })
            }
        }
    }
}

/// `bin/NAME` if it is the only executable file in the version's `bin/`.
fn only_program(dir: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut found = fs::read_dir(dir.join("bin"))
        .ok()?
        .flatten()
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .filter_map(|e| e.file_name().to_str().map(|n| format!("bin/{n}")));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), InstallError> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io(path))
}

#[cfg(test)]
mod tests;
