//! Installed apps on disk: the layout ([`AppDir`]), the trusted state
//! ([`AppState`]), and the install transaction ([`Staged`] -> [`OnTrial`] ->
//! kept or rolled back), with offline bundles (`share.rs`) and verification
//! of an installed version (`verify.rs`).
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
//! The verified chain is closed: [`Apps::update`] gets a
//! [`VerifiedLog`](crate::fetch::VerifiedLog) from a source, picks a
//! [`Release`](crate::fetch::Release) from it, fetches a
//! [`VerifiedRelease`](crate::fetch::VerifiedRelease), and only that can be
//! staged; only a staged version can be switched to.
//!
//! Crash safety: a version folder appears by one rename only after it was
//! unpacked, verified and synced; `state.json` is replaced by one rename after
//! an fsync; `current` is replaced by one rename. The order is: version folder,
//! state (naming the version as on trial), symlink, health check, state
//! (trial over). [`Apps::recover`] runs first in every operation and brings the
//! symlink back in line with the state, so a crash at any point leaves an app
//! that starts, at the old or the new version, and a rerun completes.
//!
//! Fetching is [`crate::fetch`]'s job; this module never talks to peers.

mod channel;
mod health;
mod layout;
mod lifecycle;
mod names;
mod repair;
mod running;
mod share;
mod state;
mod transaction;
mod verify;

use std::fs;
use std::path::{Path, PathBuf};

use quince_protocol::cosignature::Witnesses;
use quince_protocol::record::{Channel, Platform, Version};
use quince_protocol::root::AppId;
use quince_store::{crash, durable, Store};

use crate::fetch::{self, FetchError, Peers, Source};

pub use channel::{ChannelView, Offered};
pub use health::{app_bundle, app_info, health_check, Plan, Unhealthy, EXIT_WITHIN, HEALTH_ENV};
pub use layout::AppDir;
pub use lifecycle::{Collected, Removed};
pub use repair::Repaired;
pub use running::{app_env, in_use, STATUS_FILE};
pub use share::{Bundle, ReleasedFile};
pub use state::{AppState, BadState, Freshness, DEFAULT_HEALTH_SECONDS, DEFAULT_WITNESS_MAX_AGE};
pub use transaction::{OnTrial, Staged};
pub use verify::Difference;

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
    /// No installed app, or more than one, goes by this name or id prefix.
    #[error("{}", if candidates.is_empty() {
        format!("no installed app is called {text:?} (give its name, its id or at least 4 hex digits of it; `quince list` shows them)")
    } else {
        format!("{text:?} could be any of: {candidates}; give more of the id")
    })]
    UnknownApp {
        /// What was given.
        text: String,
        /// The apps it could be, when more than one.
        candidates: String,
    },
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
    /// The head is not confirmed current within the age the install requires.
    #[error("app {app}: {reason}; nothing was installed (a peer may be showing an old log: try other peers, or allow an older head with a larger --witness-max-age)")]
    NotFresh {
        /// The app.
        app: AppId,
        /// What the freshness check found.
        reason: String,
    },
    /// The run command is not a plain relative path inside the app.
    #[error(
        "run command {run:?}: {reason} (give a path relative to the app's folder, such as bin/app)"
    )]
    BadRunCommand {
        /// The command given.
        run: String,
        /// Why it is refused.
        reason: String,
    },
}

/// The most an app's state file may hold.
const MAX_STATE_FILE_BYTES: usize = 1024 * 1024;
/// How many newer releases a fresh install passes over when they fail
/// their own health checks here (see [`Apps::update`]).
pub const FRESH_FALLBACKS: usize = 3;

pub use names::short_name_of;

/// `run` as a path inside a version folder: relative, with no `..`, no
/// absolute or empty parts (the check the health check makes).
pub fn check_run_command(run: &str) -> Result<quince_protocol::path::RelPath, InstallError> {
    quince_protocol::path::RelPath::parse(run).map_err(|e| InstallError::BadRunCommand {
        run: run.to_string(),
        reason: e.to_string(),
    })
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
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
        /// On a fresh install, newer releases that failed their own health
        /// checks here first (refused for good, newest first), with why.
        passed_over: Vec<(Version, String)>,
    },
    /// Nothing newer (or the pinned version is current already).
    UpToDate(Version),
    /// The new version failed its health check; the previous one is back.
    RolledBack {
        /// The version rolled back: refused for good, unless the failure
        /// was not its own (then `reason` says so and it is tried again).
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
    /// Do not announce the app in the DHT once its log is verified (a
    /// one-shot run that exits when done: a record would outlive it).
    pub unannounced: bool,
    /// Require the head to be cosigned by a trusted witness within this many
    /// seconds, or install nothing (and keep it as the app's freshness limit).
    pub max_age: Option<u64>,
    /// Follow this channel from now on (kept in the app's state); `None`
    /// keeps the channel it follows (stable for a new install).
    pub channel: Option<Channel>,
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
    /// A shared hold on the store: `gc` waits for it (and holds it alone).
    _store: fs::File,
    app: AppId,
}

impl Apps {
    /// The apps under `home` (created if needed). A relative `home` is made
    /// absolute against the current folder: programs run from their own
    /// version folder, and the updater's autostart entry names the home.
    pub fn open(home: &Path) -> Result<Apps, InstallError> {
        let home = std::path::absolute(home).map_err(io(home))?;
        fs::create_dir_all(home.join("apps")).map_err(io(&home))?;
        let apps = Apps { home };
        apps.finish_removals();
        Ok(apps)
    }

    /// The home folder (absolute).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The shared content store.
    pub fn store(&self) -> Result<Store, InstallError> {
        Ok(Store::open(&self.home.join("store"))?)
    }

    /// The app's folder and every path in it.
    pub fn app_dir(&self, app: &AppId) -> AppDir {
        AppDir::new(self.home.join("apps").join(app.to_string()))
    }

    /// The app's folder.
    pub fn dir(&self, app: &AppId) -> PathBuf {
        self.app_dir(app).root().to_path_buf()
    }

    /// The folder of the app's verified log.
    pub fn log_dir(&self, app: &AppId) -> PathBuf {
        self.app_dir(app).log()
    }

    /// The folder of `app`'s current version, as a path to open: `current`
    /// on Unix (a link that follows switches), the version folder its
    /// pointer names on Windows (see [`crate::platform`]).
    pub fn current_dir(&self, app: &AppId) -> PathBuf {
        crate::platform::through_pointer(&self.app_dir(app).current())
    }

    /// Takes the app's lock, waiting for another process that holds it.
    pub fn lock(&self, app: &AppId) -> Result<AppLock, InstallError> {
        let store = self.store_lock()?;
        store.lock_shared().map_err(io(&self.home))?;
        let dir = self.app_dir(app);
        fs::create_dir_all(dir.root()).map_err(io(dir.root()))?;
        let path = dir.lock_file();
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        file.lock().map_err(io(&path))?;
        Ok(AppLock {
            _file: file,
            _store: store,
            app: *app,
        })
    }

    /// The app's recorded state, if installed.
    pub fn state(&self, app: &AppId) -> Result<Option<AppState>, InstallError> {
        let path = self.app_dir(app).state_file();
        let damaged = |reason: String| InstallError::State {
            path: path.clone(),
            reason,
        };
        match quince_store::durable::read_bounded(&path, MAX_STATE_FILE_BYTES) {
            Ok(bytes) => {
                let state: AppState =
                    serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
                if state.app != app.to_string() {
                    return Err(damaged(format!("it is the state of app {}", state.app)));
                }
                state.trusted().map_err(|e| damaged(e.to_string()))?;
                Ok(Some(state))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(InstallError::Io { path, source: e }),
        }
    }

    fn save(&self, lock: &AppLock, state: &AppState) -> Result<(), InstallError> {
        let path = self.app_dir(&lock.app).state_file();
        let json = serde_json::to_vec_pretty(state).map_err(|e| InstallError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        durable::write_atomic(&path, &json).map_err(io(&path))?;
        crash::point("state replaced");
        // What running programs of the app read. The state above is what
        // counts: a status file that cannot be written (a full disk) fails
        // nothing, and the next save writes it again.
        let status = self.dir(&lock.app).join(STATUS_FILE);
        let text = running::status_text(self, &lock.app, state);
        if let Err(e) = durable::write_atomic(&status, text.as_bytes()) {
            tracing::warn!("{}: {e}", status.display());
        }
        Ok(())
    }

    /// Points `current` at `versions/VERSION` (or removes it) with one rename.
    fn point_current(&self, lock: &AppLock, version: Option<&Version>) -> Result<(), InstallError> {
        let dir = self.app_dir(&lock.app);
        let link = dir.current();
        match version {
            Some(v) => {
                let tmp = dir.current_tmp();
                crate::platform::point(&tmp, &link, &AppDir::current_target(v))
                    .map_err(io(&link))?;
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
        sync_dir(dir.root())?;
        crash::point("current switched");
        Ok(())
    }

    /// The version `current` points to.
    pub fn current_link(&self, app: &AppId) -> Option<Version> {
        let target = crate::platform::read_pointer(&self.app_dir(app).current())?;
        target.file_name()?.to_str()?.parse().ok()
    }

    /// The folder of an installed version.
    pub fn version_dir(&self, app: &AppId, version: &Version) -> PathBuf {
        self.app_dir(app).version(version)
    }

    /// Brings the app back in line with its state after a crash: `current`
    /// points at the state's current version; half-made staging and temporary
    /// files go. Returns the state (None if never installed).
    pub fn recover(&self, lock: &AppLock) -> Result<Option<AppState>, InstallError> {
        let dir = self.app_dir(&lock.app);
        let _ = fs::remove_dir_all(dir.staging());
        let _ = fs::remove_file(dir.current_tmp());
        let _ = fs::remove_file(dir.state_tmp());
        let Some(mut state) = self.state(&lock.app)? else {
            return Ok(None);
        };
        // A version the state names but whose folder is gone cannot be current.
        for slot in [&mut state.current, &mut state.previous, &mut state.trial] {
            if slot.as_ref().is_some_and(|v| !dir.version(v).is_dir()) {
                *slot = None;
            }
        }
        if self.current_link(&lock.app) != state.current {
            self.point_current(lock, state.current.as_ref())?;
        }
        Ok(Some(state))
    }

    /// Installs or updates `app` from `peers` of `source`: syncs the log,
    /// picks the release (the link's version, the pin, or the newest not
    /// refused), fetches and verifies it, stages it, switches to it and runs
    /// its health check, rolling back if it fails. A fresh install whose
    /// release fails its own health check (and was not asked for by
    /// version) goes on to the next older release offered, up to
    /// [`FRESH_FALLBACKS`] times: a new user gets the newest release that
    /// runs, as users who had the one before do.
    pub async fn update<S: Source>(
        &self,
        source: &S,
        app: AppId,
        peers: &mut Peers,
        options: &UpdateOptions,
    ) -> Result<Outcome, InstallError> {
        let mut passed_over = Vec::new();
        loop {
            let outcome = self.update_once(source, app, peers, options).await?;
            match outcome {
                Outcome::RolledBack {
                    refused,
                    reason,
                    current: None,
                } if options.version.is_none()
                    && passed_over.len() < FRESH_FALLBACKS
                    && self
                        .state(&app)?
                        .is_some_and(|s| s.pinned.is_none() && s.is_refused(&refused)) =>
                {
                    passed_over.push((refused, reason));
                }
                Outcome::Installed {
                    version, previous, ..
                } => {
                    return Ok(Outcome::Installed {
                        version,
                        previous,
                        passed_over,
                    })
                }
                other => return Ok(other),
            }
        }
    }

    async fn update_once<S: Source>(
        &self,
        source: &S,
        app: AppId,
        peers: &mut Peers,
        options: &UpdateOptions,
    ) -> Result<Outcome, InstallError> {
        if let Some(run) = &options.run {
            check_run_command(run)?;
        }
        let lock = self.lock(&app)?;
        let recovered = self.recover(&lock)?;
        // A crash during a health check leaves a version on trial: check it again.
        if let Some(state) = &recovered {
            if let Some(trial) = state.trial {
                return OnTrial::resume(self, &lock, state.clone(), trial)
                    .check()
                    .await;
            }
        }
        let synced = self
            .sync_log(
                source,
                app,
                peers,
                recovered.as_ref(),
                options.witnesses.clone(),
                !options.unannounced,
            )
            .await?;
        let same_head = recovered
            .as_ref()
            .and_then(|s| s.trusted().ok())
            .is_some_and(|t| t.size() == synced.state().size());
        let mut state = recovered.unwrap_or_else(|| AppState::new(synced.state()));
        if let Some(policy) = &options.witnesses {
            state.set_witness_policy(policy);
        }
        if options.max_age.is_some() {
            state.witness_max_age = options.max_age;
        }
        state.set_confirmed(synced.confirmed_at(), same_head);
        if let Some(max_age) = options.max_age {
            let freshness = state.freshness(unix_now()).unwrap_or(Freshness {
                confirmed_at: None,
                max_age,
                now: unix_now(),
            });
            if let Some(reason) = freshness.warning() {
                return Err(InstallError::NotFresh { app, reason });
            }
        }
        state.set_trusted(synced.state());
        if let Some(run) = &options.run {
            state.run = Some(run.clone());
            state.run_by_user = true;
        }
        if let Some(secs) = options.health_seconds {
            state.health_seconds = secs;
        }
        if let Some(channel) = &options.channel {
            state.set_channel(channel);
        }
        // The new trusted state is saved with the switch (or when there is
        // nothing to install): a failed fetch or unpack leaves state.json as it was.

        let platform = Platform::current();
        let release = match options.version.or(state.pinned) {
            Some(v) => {
                synced
                    .release(&v, &platform)
                    .ok_or_else(|| InstallError::NoSuchVersion {
                        app,
                        version: v,
                        platform: platform.clone(),
                    })?
            }
            None => {
                let channel = state.channel().map_err(|e| self.bad_state(&app, e))?;
                let install = state.install_id().map_err(|e| self.bad_state(&app, e))?;
                let newest = synced
                    .offered_to(&platform, &channel, &install)
                    .into_iter()
                    .rfind(|r| !state.is_refused(&r.version));
                match (newest, state.current) {
                    (Some(r), current) if current.is_none_or(|c| r.version > c) => r,
                    (_, Some(current)) => {
                        self.save(&lock, &state)?;
                        return Ok(Outcome::UpToDate(current));
                    }
                    (_, None) => return Err(FetchError::NoRelease { app, platform }.into()),
                }
            }
        };
        if state.current == Some(release.version) {
            self.save(&lock, &state)?;
            return Ok(Outcome::UpToDate(release.version));
        }
        let staged = if self.version_dir(&app, &release.version).is_dir() {
            Staged::existing(self, &lock, state, &release)?
        } else {
            let store = self.store()?;
            // The installed versions, whose files large changed files may be
            // patched from (a damaged or missing one is simply not used).
            #[cfg(not(feature = "patches"))]
            let held = Vec::new();
            #[cfg(feature = "patches")]
            let held: Vec<_> = [state.current, state.previous]
                .into_iter()
                .flatten()
                .filter_map(|v| synced.release(&v, &platform))
                .filter_map(|r| fetch::VerifiedRelease::from_store(r, &store).ok())
                .map(|r| r.manifest().clone())
                .collect();
            // The release is unpacked while its chunks arrive (not in the
            // bootstrap, whose size budget the unpacking task does not fit).
            #[cfg(feature = "unpack-while-fetching")]
            {
                let staging = Staged::staging(self, &lock, &release.version)?;
                let fetched = fetch::fetch_release_unpacking(
                    source,
                    app,
                    peers,
                    &release,
                    &platform,
                    &store,
                    options.window.max(1),
                    options.progress.as_deref(),
                    &held,
                    &staging,
                )
                .await;
                let unpacked = match fetched {
                    Ok((_, unpacked)) => unpacked.map(drop),
                    Err(e) => {
                        let _ = std::fs::remove_dir_all(self.app_dir(&app).staging());
                        return Err(e.into());
                    }
                };
                Staged::unpacked(self, &lock, state, &release.version, unpacked)?
            }
            #[cfg(not(feature = "unpack-while-fetching"))]
            {
                let verified = fetch::fetch_release_with(
                    source,
                    app,
                    peers,
                    &release,
                    &platform,
                    &store,
                    options.window.max(1),
                    options.progress.as_deref(),
                    &held,
                )
                .await?;
                Staged::unpack(self, &lock, state, &verified, &platform, &store)?
            }
        };
        staged.switch()?.check().await
    }

    /// Brings an installed app's trusted state and log up to the newest
    /// checkpoint `source` can prove, without installing anything: what a
    /// "check for updates" needs. Returns the verified log (its newest
    /// release may be newer than the installed one).
    pub async fn sync<S: Source>(
        &self,
        source: &S,
        app: AppId,
        peers: &mut Peers,
    ) -> Result<fetch::VerifiedLog, InstallError> {
        let lock = self.lock(&app)?;
        let mut state = self
            .recover(&lock)?
            .ok_or(InstallError::NotInstalled(app))?;
        let synced = self
            .sync_log(source, app, peers, Some(&state), None, true)
            .await?;
        let same_head = state
            .trusted()
            .is_ok_and(|t| t.size() == synced.state().size());
        state.set_confirmed(synced.confirmed_at(), same_head);
        state.set_trusted(synced.state());
        self.save(&lock, &state)?;
        Ok(synced)
    }

    /// Syncs `app`'s log mirror from `state`'s trusted head (or from nothing)
    /// under `witnesses` (or the state's policy), then says this node holds
    /// the log (in the DHT, so peers fetching the same release at the same
    /// time find each other). Saves nothing: callers save the new head with
    /// what they do next.
    /// The error for a state file whose content does not hold together.
    fn bad_state(&self, app: &AppId, e: BadState) -> InstallError {
        InstallError::State {
            path: self.app_dir(app).state_file(),
            reason: e.to_string(),
        }
    }

    async fn sync_log<S: Source>(
        &self,
        source: &S,
        app: AppId,
        peers: &mut Peers,
        state: Option<&AppState>,
        witnesses: Option<Witnesses>,
        announce: bool,
    ) -> Result<fetch::VerifiedLog, InstallError> {
        let damaged = |e: BadState| InstallError::State {
            path: self.app_dir(&app).state_file(),
            reason: e.to_string(),
        };
        let trusted = state.map(AppState::trusted).transpose().map_err(damaged)?;
        let witnesses = match (witnesses, state) {
            (Some(w), _) => w,
            (None, Some(s)) => s.witness_policy().map_err(damaged)?,
            (None, None) => Witnesses::default(),
        };
        let synced = fetch::LogSync::new(app, &self.log_dir(&app))
            .from_state(trusted)
            .witnesses(witnesses)
            .run(source, peers)
            .await?;
        if announce {
            source.holding(app);
        }
        Ok(synced)
    }

    /// Switches back to the previous version by hand and pins it, so updates
    /// do not bring the newer one back until unpinned.
    pub fn rollback(&self, app: &AppId) -> Result<Version, InstallError> {
        let lock = self.lock(app)?;
        let mut state = self
            .recover(&lock)?
            .ok_or(InstallError::NotInstalled(*app))?;
        let previous = state.previous.ok_or(InstallError::NoPrevious(*app))?;
        state.previous = state.current.take();
        state.current = Some(previous);
        state.pinned = Some(previous);
        state.trial = None;
        self.save(&lock, &state)?;
        self.point_current(&lock, Some(&previous))?;
        Ok(previous)
    }

    /// Pins `app` at `version` (installed at the next update) or unpins it.
    /// The version must be in the app's verified log for this platform.
    pub fn pin(&self, app: &AppId, version: Option<&Version>) -> Result<(), InstallError> {
        let lock = self.lock(app)?;
        let mut state = self
            .recover(&lock)?
            .ok_or(InstallError::NotInstalled(*app))?;
        if let Some(v) = version {
            let trusted = state.trusted().map_err(|e| InstallError::State {
                path: self.app_dir(app).state_file(),
                reason: e.to_string(),
            })?;
            let log = fetch::VerifiedLog::from_mirror(&self.log_dir(app), trusted)?;
            let platform = Platform::current();
            if log.release(v, &platform).is_none() {
                return Err(InstallError::NoSuchVersion {
                    app: *app,
                    version: *v,
                    platform,
                });
            }
        }
        state.pinned = version.copied();
        self.save(&lock, &state)
    }

    /// The program to run for `app`, inside its current version.
    pub fn program(&self, app: &AppId) -> Result<PathBuf, InstallError> {
        let state = self.state(app)?.ok_or(InstallError::NotInstalled(*app))?;
        let run = state.run.ok_or(InstallError::NoRunCommand(*app))?;
        let run = check_run_command(&run)?;
        Ok(self.current_dir(app).join(run.as_str()))
    }

    /// A command that starts `app`'s current version: its program inside
    /// `versions/V` (not through `current`, so an update while it runs does
    /// not move its files), with the environment of [`app_env`].
    pub fn command(&self, app: &AppId) -> Result<std::process::Command, InstallError> {
        let state = self.state(app)?.ok_or(InstallError::NotInstalled(*app))?;
        let version = state.current.ok_or(InstallError::NotInstalled(*app))?;
        let run = state.run.ok_or(InstallError::NoRunCommand(*app))?;
        let run = check_run_command(&run)?;
        let program = running::absolute(&self.app_dir(app).version(&version)).join(run.as_str());
        let data = self.data_dir(app);
        fs::create_dir_all(&data).map_err(io(&data))?;
        let mut command = std::process::Command::new(program);
        command.envs(app_env(self, app, &version));
        Ok(command)
    }
}

/// Now, in Unix seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn sync_dir(dir: &Path) -> Result<(), InstallError> {
    durable::sync_dir(dir).map_err(io(dir))
}
