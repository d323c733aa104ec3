//! Installed apps on disk: the layout, the trusted state, the atomic switch
//! between versions, health checks and rollback.
//!
//! ```text
//! HOME/store/                   the content store shared by every app
//! HOME/apps/APP_ID/state.json   trusted state, current/previous/trial version,
//!                               refused versions, pin, run command (fsync + rename)
//! HOME/apps/APP_ID/log/         the verified log (served to peers)
//! HOME/apps/APP_ID/versions/V/  one folder per installed version
//! HOME/apps/APP_ID/current      symlink to versions/V, switched by one rename
//! HOME/apps/APP_ID/staging/     where a version is unpacked and verified first
//! HOME/apps/APP_ID/lock         held while anything changes the app
//! ```
//!
//! Crash safety: a version folder appears by one rename only after it was
//! unpacked, verified and synced; `state.json` is replaced by one rename after
//! an fsync; `current` is replaced by one rename. The order is: version folder,
//! state (naming the version as on trial), symlink, health check, state
//! (trial over). [`Apps::recover`] runs first in every operation and brings the
//! symlink back in line with the state, so a crash at any point leaves an app
//! that starts, at the old or the new version, and a rerun completes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use quince_protocol::cosignature::{WitnessKey, Witnesses};
use quince_protocol::record::{Platform, Version};
use quince_protocol::root::AppId;
use quince_protocol::state::TrustedState;
use quince_store::{crash, durable, Store};
use serde::{Deserialize, Serialize};

use crate::fetch::{self, FetchError, Peers, Source};

/// The default home folder: `$XDG_DATA_HOME/quince` or `~/.local/share/quince`
/// (see [`crate::home`]).
pub fn default_home() -> Option<PathBuf> {
    crate::home::default_dir()
}

/// How long a new version must run (or exit 0 within) to count as healthy.
pub const DEFAULT_HEALTH_SECONDS: u64 = 3;
/// Environment variable a program sees during its health check.
pub const HEALTH_ENV: &str = "QUINCE_HEALTH_CHECK";

/// Why an install, update or switch failed. Nothing installed is changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// Fetching or verifying failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] quince_store::StoreError),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What.
        source: std::io::Error,
    },
    /// The app's state file is unreadable.
    #[error("{path}: damaged state: {reason}")]
    State {
        /// Which file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The app is not installed.
    #[error("app {0} is not installed")]
    NotInstalled(AppId),
    /// The asked-for version is not in the app's log for this platform.
    #[error("app {app} has no release {version} for {platform}")]
    NoSuchVersion {
        /// The app.
        app: AppId,
        /// The version.
        version: Version,
        /// The platform.
        platform: Platform,
    },
    /// There is nothing to roll back to.
    #[error("app {0} has no previous version to roll back to")]
    NoPrevious(AppId),
    /// No program to run is known.
    #[error("app {0} has no run command: install with --run PATH (relative to the app's folder)")]
    NoRunCommand(AppId),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What is recorded about one installed app.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AppState {
    /// The app id (hex).
    pub app: String,
    /// The trusted state (root, newest verified checkpoint), hex of its bytes.
    pub trusted: String,
    /// The version `current` points to, if any.
    pub current: Option<String>,
    /// The version before it, kept for rollback.
    pub previous: Option<String>,
    /// A version switched to whose health check has not passed yet.
    pub trial: Option<String>,
    /// Versions that failed their health check or were rolled back: never
    /// installed again automatically.
    pub refused: Vec<String>,
    /// Stay at this version.
    pub pinned: Option<String>,
    /// The program to run, relative to the version's folder.
    pub run: Option<String>,
    /// Seconds a new version must survive its health check.
    pub health_seconds: u64,
    /// Witnesses (C2SP verifier keys) whose cosignatures a new checkpoint needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<String>,
    /// How many of `witnesses` must have cosigned (0: none needed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub witness_quorum: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl AppState {
    fn new(trusted: &TrustedState) -> AppState {
        AppState {
            app: trusted.app().to_string(),
            trusted: hex(&trusted.to_bytes()),
            current: None,
            previous: None,
            trial: None,
            refused: Vec::new(),
            pinned: None,
            run: None,
            health_seconds: DEFAULT_HEALTH_SECONDS,
            witnesses: Vec::new(),
            witness_quorum: 0,
        }
    }

    /// The witness policy recorded for this app.
    pub fn witness_policy(&self) -> Result<Witnesses, String> {
        let keys = self
            .witnesses
            .iter()
            .map(|k| WitnessKey::parse(k).map_err(|e| format!("witness key {k}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Witnesses {
            keys,
            quorum: self.witness_quorum,
        })
    }

    /// The trusted state recorded.
    pub fn trusted(&self) -> Result<TrustedState, String> {
        let bytes = unhex(&self.trusted).ok_or("trusted state is not hex")?;
        TrustedState::load(&bytes).map_err(|e| e.to_string())
    }
}

/// What an update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new version was installed and passed its health check (or has no run command).
    Installed {
        /// The version now current.
        version: Version,
        /// The one before, if any.
        previous: Option<Version>,
    },
    /// Nothing newer (or the pinned version is current already).
    UpToDate(Version),
    /// The new version failed its health check; the previous one is back.
    RolledBack {
        /// The version refused.
        refused: Version,
        /// Why it failed.
        reason: String,
        /// The version current again, if any.
        current: Option<Version>,
    },
}

/// Options of an install or update.
#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    /// Install exactly this version (from a link); otherwise the newest, or the pin.
    pub version: Option<Version>,
    /// Set the run command (relative path inside the app).
    pub run: Option<String>,
    /// Set the health check's duration.
    pub health_seconds: Option<u64>,
    /// Chunk requests in flight per peer.
    pub window: usize,
    /// Where to report the fetch's progress.
    pub progress: Option<std::sync::Arc<fetch::Progress>>,
    /// Replace the app's witness policy (kept in its state for later updates).
    pub witnesses: Option<Witnesses>,
}

/// The installed apps under one home folder.
#[derive(Debug, Clone)]
pub struct Apps {
    home: PathBuf,
}

/// The app's lock, held while anything changes it.
#[derive(Debug)]
pub struct AppLock {
    _file: fs::File,
    app: AppId,
}

impl Apps {
    /// The apps under `home` (created if needed).
    pub fn open(home: &Path) -> Result<Apps, InstallError> {
        fs::create_dir_all(home.join("apps")).map_err(io(home))?;
        Ok(Apps {
            home: home.to_path_buf(),
        })
    }

    /// The shared content store.
    pub fn store(&self) -> Result<Store, InstallError> {
        Ok(Store::open(&self.home.join("store"))?)
    }

    /// The app's folder.
    pub fn dir(&self, app: &AppId) -> PathBuf {
        self.home.join("apps").join(app.to_string())
    }

    /// The folder of the app's verified log.
    pub fn log_dir(&self, app: &AppId) -> PathBuf {
        self.dir(app).join("log")
    }

    /// The installed apps.
    pub fn installed(&self) -> Vec<AppId> {
        let mut out: Vec<AppId> = fs::read_dir(self.home.join("apps"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("state.json").exists())
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        out.sort_by_key(|a| a.to_string());
        out
    }

    /// Takes the app's lock, waiting for another process that holds it.
    pub fn lock(&self, app: &AppId) -> Result<AppLock, InstallError> {
        let dir = self.dir(app);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        file.lock().map_err(io(&path))?;
        Ok(AppLock {
            _file: file,
            app: *app,
        })
    }

    /// The app's recorded state, if installed.
    pub fn state(&self, app: &AppId) -> Result<Option<AppState>, InstallError> {
        let path = self.dir(app).join("state.json");
        match fs::read(&path) {
            Ok(bytes) => {
                let state: AppState =
                    serde_json::from_slice(&bytes).map_err(|e| InstallError::State {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                if state.app != app.to_string() {
                    return Err(InstallError::State {
                        path,
                        reason: format!("it is the state of app {}", state.app),
                    });
                }
                state.trusted().map_err(|reason| InstallError::State {
                    path: path.clone(),
                    reason,
                })?;
                Ok(Some(state))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(InstallError::Io { path, source: e }),
        }
    }

    fn save(&self, lock: &AppLock, state: &AppState) -> Result<(), InstallError> {
        let path = self.dir(&lock.app).join("state.json");
        let json = serde_json::to_vec_pretty(state).map_err(|e| InstallError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        durable::write_atomic(&path, &json).map_err(io(&path))?;
        crash::point("state replaced");
        Ok(())
    }

    /// Points `current` at `versions/VERSION` (or removes it) with one rename.
    fn point_current(&self, lock: &AppLock, version: Option<&str>) -> Result<(), InstallError> {
        let dir = self.dir(&lock.app);
        let link = dir.join("current");
        match version {
            Some(v) => {
                let tmp = dir.join("current.tmp");
                let _ = fs::remove_file(&tmp);
                std::os::unix::fs::symlink(Path::new("versions").join(v), &tmp)
                    .map_err(io(&tmp))?;
                crash::point("new link made");
                fs::rename(&tmp, &link).map_err(io(&link))?;
            }
            None => match fs::remove_file(&link) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(InstallError::Io {
                        path: link,
                        source: e,
                    })
                }
            },
        }
        sync_dir(&dir)?;
        crash::point("current switched");
        Ok(())
    }

    /// The version `current` points to.
    pub fn current_link(&self, app: &AppId) -> Option<String> {
        let target = fs::read_link(self.dir(app).join("current")).ok()?;
        Some(target.file_name()?.to_str()?.to_string())
    }

    /// The folder of an installed version.
    pub fn version_dir(&self, app: &AppId, version: &str) -> PathBuf {
        self.dir(app).join("versions").join(version)
    }

    /// Brings the app back in line with its state after a crash: `current`
    /// points at the state's current version; half-made staging and temporary
    /// files go. Returns the state (None if never installed).
    pub fn recover(&self, lock: &AppLock) -> Result<Option<AppState>, InstallError> {
        let dir = self.dir(&lock.app);
        let _ = fs::remove_dir_all(dir.join("staging"));
        let _ = fs::remove_file(dir.join("current.tmp"));
        let _ = fs::remove_file(dir.join(".state.json.tmp"));
        let Some(mut state) = self.state(&lock.app)? else {
            return Ok(None);
        };
        // A version the state names but whose folder is gone cannot be current.
        for slot in [&mut state.current, &mut state.previous, &mut state.trial] {
            if slot
                .as_ref()
                .is_some_and(|v| !self.version_dir(&lock.app, v).is_dir())
            {
                *slot = None;
            }
        }
        if self.current_link(&lock.app) != state.current {
            self.point_current(lock, state.current.as_deref())?;
        }
        Ok(Some(state))
    }

    /// Installs or updates `app` from `peers`: syncs the log, picks the
    /// release (the link's version, the pin, or the newest not refused),
    /// fetches and verifies it, unpacks it into staging, switches to it and
    /// runs its health check, rolling back if it fails.
    pub async fn update<S: Source>(
        &self,
        source: &S,
        app: AppId,
        peers: &mut Peers,
        options: &UpdateOptions,
    ) -> Result<Outcome, InstallError> {
        let lock = self.lock(&app)?;
        let recovered = self.recover(&lock)?;
        // A crash during a health check leaves a version on trial: check it again.
        if let Some(state) = &recovered {
            if let Some(trial) = state.trial.clone() {
                return self.finish_trial(&lock, state.clone(), &trial).await;
            }
        }
        let trusted = match &recovered {
            Some(s) => Some(s.trusted().map_err(|reason| InstallError::State {
                path: self.dir(&app).join("state.json"),
                reason,
            })?),
            None => None,
        };
        let policy = match (&options.witnesses, &recovered) {
            (Some(w), _) => w.clone(),
            (None, Some(s)) => s.witness_policy().map_err(|reason| InstallError::State {
                path: self.dir(&app).join("state.json"),
                reason,
            })?,
            (None, None) => Witnesses::default(),
        };
        let synced = fetch::LogSync::new(app, &self.log_dir(&app))
            .from_state(trusted)
            .witnesses(policy.clone())
            .run(source, peers)
            .await?;
        // From now on this node holds the app's verified log, and soon its
        // chunks: say so (in the DHT), so peers fetching the same release at
        // the same time find each other.
        source.holding(app);
        let mut state = recovered.unwrap_or_else(|| AppState::new(synced.state()));
        if options.witnesses.is_some() {
            state.witnesses = policy.keys.iter().map(WitnessKey::to_text).collect();
            state.witness_quorum = policy.quorum;
        }
        state.trusted = hex(&synced.state().to_bytes());
        if let Some(run) = &options.run {
            state.run = Some(run.clone());
        }
        if let Some(secs) = options.health_seconds {
            state.health_seconds = secs;
        }
        // The new trusted state is saved with the switch (or when there is
        // nothing to install): a failed fetch or unpack leaves state.json as it was.

        let platform = Platform::current();
        let releases: Vec<fetch::Release> = synced.releases_for(&platform).collect();
        let wanted = options
            .version
            .or_else(|| state.pinned.as_ref().and_then(|p| p.parse().ok()));
        let record = match &wanted {
            Some(v) => releases
                .iter()
                .find(|r| r.version == *v)
                .cloned()
                .ok_or_else(|| InstallError::NoSuchVersion {
                    app,
                    version: *v,
                    platform: platform.clone(),
                })?,
            None => {
                let current: Option<Version> = state.current.as_ref().and_then(|v| v.parse().ok());
                match releases
                    .iter()
                    .rev()
                    .find(|r| !state.refused.contains(&r.version.to_string()))
                {
                    Some(r) if current.as_ref().is_none_or(|c| r.version > *c) => r.clone(),
                    _ => match current {
                        Some(c) => {
                            self.save(&lock, &state)?;
                            return Ok(Outcome::UpToDate(c));
                        }
                        None => {
                            return Err(FetchError::NoRelease { app, platform }.into());
                        }
                    },
                }
            }
        };
        let version = record.version.to_string();
        if state.current.as_deref() == Some(version.as_str()) {
            self.save(&lock, &state)?;
            return Ok(Outcome::UpToDate(record.version));
        }
        if !self.version_dir(&app, &version).is_dir() {
            let store = self.store()?;
            let release = fetch::fetch_release_with(
                source,
                app,
                peers,
                &record,
                &platform,
                &store,
                options.window.max(1),
                options.progress.as_deref(),
            )
            .await?;
            let staging = self.dir(&app).join("staging");
            let _ = fs::remove_dir_all(&staging);
            fs::create_dir_all(&staging).map_err(io(&staging))?;
            let unpacked = staging.join(&version);
            if let Err(e) = quince_store::unpack(release.manifest(), &platform, &store, &unpacked) {
                let _ = fs::remove_dir_all(&staging);
                return Err(e.into());
            }
            set_mode(&unpacked, 0o755)?;
            let versions = self.dir(&app).join("versions");
            fs::create_dir_all(&versions).map_err(io(&versions))?;
            let target = versions.join(&version);
            fs::rename(&unpacked, &target).map_err(io(&target))?;
            sync_dir(&versions)?;
            crash::point("version in place");
            let _ = fs::remove_dir_all(&staging);
        }
        // Record the switch first, then make it: a crash between the two is
        // repaired by `recover`.
        let before = state.current.clone();
        if before.as_deref() != Some(version.as_str()) {
            state.previous = before;
        }
        state.current = Some(version.clone());
        state.trial = Some(version.clone());
        if state.run.is_none() {
            state.run = only_program(&self.version_dir(&app, &version));
        }
        self.save(&lock, &state)?;
        self.point_current(&lock, Some(&version))?;
        self.finish_trial(&lock, state, &version).await
    }

    /// Runs the health check of the version on trial; keeps it or rolls back.
    async fn finish_trial(
        &self,
        lock: &AppLock,
        mut state: AppState,
        version: &str,
    ) -> Result<Outcome, InstallError> {
        let parsed: Version = version.parse().map_err(|e| InstallError::State {
            path: self.dir(&lock.app).join("state.json"),
            reason: format!("version {version}: {e}"),
        })?;
        let verdict = match &state.run {
            Some(run) => {
                health_check(
                    &self.version_dir(&lock.app, version),
                    run,
                    Duration::from_secs(state.health_seconds),
                )
                .await
            }
            None => Ok(()),
        };
        match verdict {
            Ok(()) => {
                state.trial = None;
                let previous = state.previous.as_ref().and_then(|v| v.parse().ok());
                self.save(lock, &state)?;
                self.prune(lock, &state);
                Ok(Outcome::Installed {
                    version: parsed,
                    previous,
                })
            }
            Err(reason) => {
                state.trial = None;
                if !state.refused.contains(&version.to_string()) {
                    state.refused.push(version.to_string());
                }
                state.current = state.previous.take();
                self.save(lock, &state)?;
                self.point_current(lock, state.current.as_deref())?;
                Ok(Outcome::RolledBack {
                    refused: parsed,
                    reason,
                    current: state.current.as_ref().and_then(|v| v.parse().ok()),
                })
            }
        }
    }

    /// Removes version folders other than current and previous.
    fn prune(&self, lock: &AppLock, state: &AppState) {
        let versions = self.dir(&lock.app).join("versions");
        for entry in fs::read_dir(&versions).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if Some(&name) != state.current.as_ref() && Some(&name) != state.previous.as_ref() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Switches back to the previous version by hand and pins it, so updates
    /// do not bring the newer one back until unpinned.
    pub fn rollback(&self, app: &AppId) -> Result<Version, InstallError> {
        let lock = self.lock(app)?;
        let mut state = self
            .recover(&lock)?
            .ok_or(InstallError::NotInstalled(*app))?;
        let previous = state
            .previous
            .clone()
            .ok_or(InstallError::NoPrevious(*app))?;
        state.previous = state.current.take();
        state.current = Some(previous.clone());
        state.pinned = Some(previous.clone());
        state.trial = None;
        self.save(&lock, &state)?;
        self.point_current(&lock, Some(&previous))?;
        previous.parse().map_err(|e| InstallError::State {
            path: self.dir(app).join("state.json"),
            reason: format!("version {previous}: {e}"),
        })
    }

    /// Pins `app` at `version` (installed at the next update) or unpins it.
    pub fn pin(&self, app: &AppId, version: Option<&Version>) -> Result<(), InstallError> {
        let lock = self.lock(app)?;
        let mut state = self
            .recover(&lock)?
            .ok_or(InstallError::NotInstalled(*app))?;
        state.pinned = version.map(ToString::to_string);
        self.save(&lock, &state)
    }

    /// The program to run for `app`, inside its current version.
    pub fn program(&self, app: &AppId) -> Result<PathBuf, InstallError> {
        let state = self.state(app)?.ok_or(InstallError::NotInstalled(*app))?;
        let run = state.run.ok_or(InstallError::NoRunCommand(*app))?;
        Ok(self.dir(app).join("current").join(run))
    }
}

/// Starts `run` (relative to `dir`) with [`HEALTH_ENV`] set; healthy if it is
/// still running after `within` (then stopped) or exits 0 before. The wait
/// runs on a blocking thread, never on the async runtime's workers.
pub async fn health_check(dir: &Path, run: &str, within: Duration) -> Result<(), String> {
    let (dir, run) = (dir.to_path_buf(), run.to_string());
    tokio::task::spawn_blocking(move || health_check_blocking(&dir, &run, within))
        .await
        .unwrap_or_else(|e| Err(format!("health check did not finish: {e}")))
}

fn health_check_blocking(dir: &Path, run: &str, within: Duration) -> Result<(), String> {
    let rel = quince_protocol::path::RelPath::parse(run)
        .map_err(|e| format!("run command {run:?}: {e}"))?;
    let program = dir.join(rel.as_str());
    let mut child = Command::new(&program)
        .current_dir(dir)
        .env(HEALTH_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{} does not start: {e}", program.display()))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(format!(
                    "{} exited with {status} after {:.1} s",
                    rel.as_str(),
                    started.elapsed().as_secs_f64()
                ))
            }
            Ok(None) if started.elapsed() >= within => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for {}: {e}", rel.as_str())),
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

fn sync_dir(dir: &Path) -> Result<(), InstallError> {
    durable::sync_dir(dir).map_err(io(dir))
}

/// What `share` wrote.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The version shared.
    pub version: Version,
    /// Chunks copied.
    pub chunks: usize,
}

impl Apps {
    /// The release record of the app's current version, from its log
    /// mirror, re-verified against the trusted checkpoint.
    pub fn current_release(&self, app: &AppId) -> Result<fetch::Release, InstallError> {
        let state = self.state(app)?.ok_or(InstallError::NotInstalled(*app))?;
        let trusted = state.trusted().map_err(|reason| InstallError::State {
            path: self.dir(app).join("state.json"),
            reason,
        })?;
        let current = state.current.ok_or(InstallError::NotInstalled(*app))?;
        let damaged = |reason: String| InstallError::State {
            path: self.log_dir(app),
            reason,
        };
        fetch::VerifiedLog::from_mirror(&self.log_dir(app), trusted)
            .map_err(|e| damaged(e.to_string()))?
            .releases()
            .find(|r| r.version.to_string() == current)
            .ok_or_else(|| damaged(format!("release {current} is not in the log")))
    }

    /// Writes an offline bundle of `app`'s current version into `folder`
    /// (which must not exist): `log/` (the verified log), `store/` (the
    /// manifest and this platform's chunks), `link` and `README.txt`. The
    /// receiver trusts none of it: installing from it checks everything
    /// against the app id in the link, exactly as from a peer.
    pub fn share(&self, app: &AppId, folder: &Path) -> Result<Bundle, InstallError> {
        let record = self.current_release(app)?;
        if folder.exists() {
            return Err(InstallError::Io {
                path: folder.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "choose a folder that does not exist yet",
                ),
            });
        }
        fs::create_dir_all(folder).map_err(io(folder))?;
        copy_tree(&self.log_dir(app), &folder.join("log"))?;
        let store = self.store()?;
        let bundle = Store::open(&folder.join("store"))?;
        let manifest_bytes = store.manifest(&record.manifest)?;
        bundle.put_manifest(&manifest_bytes)?;
        let manifest =
            quince_protocol::manifest::Manifest::verify(&manifest_bytes, &record.manifest)
                .map_err(|e| InstallError::State {
                    path: store.dir().to_path_buf(),
                    reason: format!("manifest: {e}"),
                })?;
        let mut chunks = 0;
        let platform = Platform::current();
        for entry in manifest.entries_for(&platform) {
            if let quince_protocol::manifest::EntryKind::File { chunks: refs, .. } = &entry.kind {
                for c in refs {
                    if !bundle.has(&c.id) {
                        bundle.put_compressed(c, &store.compressed(&c.id)?)?;
                        chunks += 1;
                    }
                }
            }
        }
        let link = crate::link::Link::new(*app);
        let text = format!(
            "This folder holds app {app} release {} and everything needed to check it.\n\
             Install it with no network: run the command in INSTALL from this folder\n\
             (the app's link is {link}).\n\n\
             Nothing here is trusted: every byte is checked against the app id in the link.\n",
            record.version
        );
        fs::write(folder.join("README.txt"), text).map_err(io(folder))?;
        fs::write(folder.join("link"), format!("{link}\n")).map_err(io(folder))?;
        Ok(Bundle {
            version: record.version,
            chunks,
        })
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), InstallError> {
    fs::create_dir_all(to).map_err(io(to))?;
    for entry in fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let kind = entry.file_type().map_err(io(from))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target).map_err(io(&target))?;
        }
    }
    Ok(())
}

/// One way an installed version differs from its signed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// A file's bytes do not hash to the manifest's SHA-256.
    Modified(String),
    /// The manifest lists it; the folder lacks it (or it is of another kind).
    Missing(String),
    /// The folder holds it; the manifest does not list it.
    Extra(String),
    /// A file's executable bit differs.
    Mode(String),
    /// A symlink points elsewhere.
    Link(String),
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Modified(p) => write!(f, "modified: {p}"),
            Difference::Missing(p) => write!(f, "missing: {p}"),
            Difference::Extra(p) => write!(f, "not in the release: {p}"),
            Difference::Mode(p) => write!(f, "executable bit changed: {p}"),
            Difference::Link(p) => write!(f, "link target changed: {p}"),
        }
    }
}

impl Apps {
    /// Re-checks the installed current version of `app` against what was
    /// signed: the log mirror's entries must give the trusted checkpoint's
    /// root, the manifest must have the hash its release record names, and
    /// every file must hash to the manifest. Returns the version and every
    /// difference (empty: intact).
    pub fn verify(&self, app: &AppId) -> Result<(Version, Vec<Difference>), InstallError> {
        use std::os::unix::fs::PermissionsExt as _;
        let damaged = |reason: String| InstallError::State {
            path: self.log_dir(app),
            reason,
        };
        let record = self.current_release(app)?;
        let bytes = self.store()?.manifest(&record.manifest)?;
        let manifest = quince_protocol::manifest::Manifest::verify(&bytes, &record.manifest)
            .map_err(|e| damaged(format!("manifest: {e}")))?;
        let dir = self.version_dir(app, &record.version.to_string());
        let platform = Platform::current();
        let mut out = Vec::new();
        let mut listed = std::collections::HashSet::new();
        for entry in manifest.entries_for(&platform) {
            let rel = entry.path.as_str().to_string();
            listed.insert(rel.clone());
            let path = dir.join(&rel);
            let meta = fs::symlink_metadata(&path);
            match (&entry.kind, meta) {
                (quince_protocol::manifest::EntryKind::Dir, Ok(m)) if m.is_dir() => {}
                (
                    quince_protocol::manifest::EntryKind::File {
                        executable, sha256, ..
                    },
                    Ok(m),
                ) if m.is_file() => {
                    let got = hash_file(&path)?;
                    if got != *sha256 {
                        out.push(Difference::Modified(rel));
                    } else if (m.permissions().mode() & 0o111 != 0) != *executable {
                        out.push(Difference::Mode(rel));
                    }
                }
                (quince_protocol::manifest::EntryKind::Symlink { target }, Ok(m))
                    if m.file_type().is_symlink() =>
                {
                    if fs::read_link(&path).ok().as_deref() != Some(Path::new(target)) {
                        out.push(Difference::Link(rel));
                    }
                }
                _ => out.push(Difference::Missing(rel)),
            }
        }
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).map_err(io(&d))?.flatten() {
                let p = e.path();
                let rel = p
                    .strip_prefix(&dir)
                    .map(|r| r.to_string_lossy().to_string())
                    .unwrap_or_default();
                if !listed.contains(&rel) {
                    out.push(Difference::Extra(rel));
                } else if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(p);
                }
            }
        }
        out.sort_by_key(ToString::to_string);
        Ok((record.version, out))
    }
}

/// SHA-256 of a file, read in pieces.
fn hash_file(path: &Path) -> Result<quince_protocol::Hash, InstallError> {
    use std::io::Read as _;
    let mut f = fs::File::open(path).map_err(io(path))?;
    let mut hasher = quince_protocol::hash::Sha256Stream::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}
