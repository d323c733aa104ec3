//! For apps that Quince installs: what version am I, is an update ready,
//! restart into it.
//!
//! Quince updates an app in the background and applies the update on the
//! app's next start: the running version's files are never touched (and never
//! deleted while it runs). An app that wants the update sooner asks this
//! crate, then restarts itself when it suits the user:
//!
//! ```no_run
//! if let Some(app) = quince_app::App::from_env() {
//!     if let Ok(Some(update)) = app.update_ready() {
//!         eprintln!("restarting into {}", update.version);
//!         let error = app.restart(&update, std::env::args_os().skip(1));
//!         eprintln!("could not restart: {error}");
//!     }
//! }
//! ```
//!
//! It reads what Quince gives every program it starts, which any language
//! can read the same way:
//!
//! - environment: `QUINCE_APP_ID` (64 hex), `QUINCE_VERSION` (the version
//!   running), `QUINCE_APP_DIR` (its folder, read-only in spirit: it is
//!   replaced by updates), `QUINCE_DATA_DIR` (a folder for the app's own data,
//!   kept across versions and by `quince remove`), `QUINCE_STATUS` (the
//!   status file);
//! - the status file: `key=value` lines, replaced in one rename whenever the
//!   app's state changes: `app`, `version` (the newest version that passed
//!   its health check), `dir` (its folder) and `program` (what to start).
//!   Unknown keys are ignored.
//!
//! An update is ready when the status file's `version` differs from
//! `QUINCE_VERSION` (after a rollback it can be an older one). To restart
//! into it, start `program` with `QUINCE_VERSION` and `QUINCE_APP_DIR` set to
//! the new version's, and exit.

#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// The status file is never larger than this; a larger one is refused.
const MAX_STATUS_BYTES: u64 = 64 * 1024;

/// A program that Quince started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    id: String,
    version: String,
    dir: PathBuf,
    data: Option<PathBuf>,
    status: PathBuf,
}

/// A version that is ready to run in place of this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Its version, such as `1.2.4`.
    pub version: String,
    /// Its folder.
    pub dir: PathBuf,
    /// The program to start.
    pub program: PathBuf,
}

/// Why the status could not be read or the restart did not happen.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading the status file or starting the program failed.
    Io(PathBuf, std::io::Error),
    /// The status file does not say what is needed.
    Status(PathBuf, String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(path, e) => write!(f, "{}: {e}", path.display()),
            Error::Status(path, why) => write!(f, "{}: {why}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

impl App {
    /// This program as Quince started it, or `None` if Quince did not
    /// (run from a build folder, say).
    pub fn from_env() -> Option<App> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Some(App {
            id: var("QUINCE_APP_ID")?.into_string().ok()?,
            version: var("QUINCE_VERSION")?.into_string().ok()?,
            dir: var("QUINCE_APP_DIR")?.into(),
            data: var("QUINCE_DATA_DIR").map(PathBuf::from),
            status: var("QUINCE_STATUS")?.into(),
        })
    }

    /// The app id (64 hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The version running, such as `1.2.3`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The running version's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder for the app's own data, kept across versions (`None`
    /// from a Quince too old to give one).
    pub fn data_dir(&self) -> Option<&Path> {
        self.data.as_deref()
    }

    /// The version to run instead of this one, if Quince has installed one
    /// (newer, or older after a rollback). Cheap: one small file read.
    pub fn update_ready(&self) -> Result<Option<Update>, Error> {
        let status = read_status(&self.status)?;
        let get = |key: &str| {
            status
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let missing = |key: &str| Error::Status(self.status.clone(), format!("no `{key}` line"));
        if get("app").as_deref() != Some(self.id.as_str()) {
            return Err(Error::Status(
                self.status.clone(),
                format!("not the status of app {}", self.id),
            ));
        }
        let Some(version) = get("version") else {
            return Ok(None);
        };
        if version == self.version {
            return Ok(None);
        }
        Ok(Some(Update {
            version,
            dir: get("dir").ok_or_else(|| missing("dir"))?.into(),
            program: get("program").ok_or_else(|| missing("program"))?.into(),
        }))
    }

    /// Replaces this process with `update`'s program, given `args`. Returns
    /// only if that failed (on Windows, after starting it, it exits).
    pub fn restart<I, S>(&self, update: &Update, args: I) -> Error
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = std::process::Command::new(&update.program);
        command
            .args(args)
            .env("QUINCE_VERSION", &update.version)
            .env("QUINCE_APP_DIR", &update.dir);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt as _;
            Error::Io(update.program.clone(), command.exec())
        }
        #[cfg(not(unix))]
        match command.spawn() {
            Ok(_) => std::process::exit(0),
            Err(e) => Error::Io(update.program.clone(), e),
        }
    }
}

/// The status file's `key=value` lines (bounded; lines without `=` skipped).
fn read_status(path: &Path) -> Result<Vec<(String, String)>, Error> {
    use std::io::Read as _;
    let io = |e| Error::Io(path.to_path_buf(), e);
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::new();
    file.take(MAX_STATUS_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_STATUS_BYTES {
        return Err(Error::Status(path.to_path_buf(), "too large".into()));
    }
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(status: &Path) -> App {
        App {
            id: "ab".repeat(32),
            version: "1.0.0".into(),
            dir: "/x/versions/1.0.0".into(),
            data: None,
            status: status.to_path_buf(),
        }
    }

    #[test]
    fn the_status_file_says_whether_another_version_is_ready() {
        let dir = std::env::temp_dir().join(format!("quince-app-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = dir.join("status");
        let a = app(&status);
        let id = "ab".repeat(32);
        std::fs::write(
            &status,
            format!(
                "app={id}\nversion=1.0.0\ndir=/x/versions/1.0.0\nprogram=/x/versions/1.0.0/bin/a\n"
            ),
        )
        .unwrap();
        assert_eq!(a.update_ready().unwrap(), None);
        std::fs::write(
            &status,
            format!(
                "app={id}\nversion=1.1.0\ndir=/x/v/1.1.0\nprogram=/x/v/1.1.0/bin/a\nnew-key=1\n"
            ),
        )
        .unwrap();
        let u = a.update_ready().unwrap().unwrap();
        assert_eq!(
            (u.version.as_str(), u.program.as_path()),
            ("1.1.0", Path::new("/x/v/1.1.0/bin/a"))
        );
        // Another app's status, or one with no program, is an error.
        std::fs::write(&status, "app=cd\nversion=1.1.0\n").unwrap();
        assert!(a
            .update_ready()
            .unwrap_err()
            .to_string()
            .contains("not the status"));
        std::fs::write(&status, format!("app={id}\nversion=1.1.0\n")).unwrap();
        assert!(a
            .update_ready()
            .unwrap_err()
            .to_string()
            .contains("no `dir`"));
        // On first install, before the health check passed: nothing ready.
        std::fs::write(&status, format!("app={id}\n")).unwrap();
        assert_eq!(a.update_ready().unwrap(), None);
        std::fs::write(&status, "x".repeat(70_000)).unwrap();
        assert!(a.update_ready().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
