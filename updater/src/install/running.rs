//! What a running app sees of Quince, and what Quince sees of it.
//!
//! A program started by Quince (`quince run`, a launcher, the bootstrap, a
//! health check) gets these environment variables:
//!
//! ```text
//! QUINCE_APP_ID    the app id (64 hex)
//! QUINCE_VERSION   the version it runs (1.2.3)
//! QUINCE_APP_DIR   that version's folder (absolute)
//! QUINCE_STATUS    the app's status file (absolute; see below)
//! QUINCE_DATA_DIR  a folder for the app's own data, kept across versions
//!                  (`quince remove` keeps it; `--purge` deletes it)
//! ```
//!
//! The status file (`HOME/apps/APP_ID/status`) is rewritten, by one rename,
//! every time the app's state changes. It is `key=value` lines (values are
//! not quoted: read them with `sed -n 's/^version=//p'`, not with `.`), and
//! other keys may be added later:
//!
//! ```text
//! app=<64 hex>
//! version=1.2.4                          the newest version that passed its health check
//! dir=/home/u/.../versions/1.2.4         its folder
//! program=/home/u/.../versions/1.2.4/bin/hello   what to start for it
//! ```
//!
//! An update is ready when `version` differs from `QUINCE_VERSION`; the app
//! restarts into it by starting `program` (with `QUINCE_VERSION` and
//! `QUINCE_APP_DIR` set to the new ones), as the `quince-app` crate does.
//!
//! A version folder that a running process uses is never pruned: on Linux
//! [`in_use`] finds processes whose executable lies in the folder or whose
//! environment names it in `QUINCE_APP_DIR` (children inherit it).

use std::path::{Path, PathBuf};

use quince_protocol::record::Version;
use quince_protocol::root::AppId;

use super::{AppState, Apps};

/// The status file's name, in the app's folder.
pub const STATUS_FILE: &str = "status";

/// The environment of a program of `app` at `version`.
pub fn app_env(apps: &Apps, app: &AppId, version: &Version) -> Vec<(&'static str, String)> {
    let dir = absolute(&apps.app_dir(app).version(version));
    let status = absolute(&apps.dir(app).join(STATUS_FILE));
    let data = absolute(&apps.data_dir(app));
    vec![
        ("QUINCE_DATA_DIR", data.display().to_string()),
        ("QUINCE_APP_ID", app.to_string()),
        ("QUINCE_VERSION", version.to_string()),
        ("QUINCE_APP_DIR", dir.display().to_string()),
        ("QUINCE_STATUS", status.display().to_string()),
    ]
}

/// The status file's text for `state`.
pub(super) fn status_text(apps: &Apps, app: &AppId, state: &AppState) -> String {
    let mut out = format!("app={app}\n");
    let healthy = match state.trial {
        Some(_) => state.previous,
        None => state.current,
    };
    if let Some(v) = healthy {
        out.push_str(&format!("version={v}\n"));
        let dir = absolute(&apps.app_dir(app).version(&v));
        out.push_str(&format!("dir={}\n", dir.display()));
        if let Some(run) = &state.run {
            out.push_str(&format!("program={}\n", dir.join(run).display()));
        }
    }
    out
}

pub(super) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// True if a process on this machine runs from `dir` (its executable is
/// inside it) or was started for it (`QUINCE_APP_DIR` names it). Only
/// Linux can tell; elsewhere this says false, and removing a folder in use
/// fails there instead (Windows) or leaves the running program its open files.
pub fn in_use(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        let dir = absolute(dir);
        let mut wanted = b"QUINCE_APP_DIR=".to_vec();
        wanted.extend_from_slice(dir.as_os_str().as_encoded_bytes());
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return false;
        };
        for p in procs.flatten() {
            let path = p.path();
            if std::fs::read_link(path.join("exe")).is_ok_and(|exe| exe.starts_with(&dir)) {
                return true;
            }
            // Another user's processes cannot be read, and need not be.
            if let Ok(env) = quince_store::durable::read_bounded(&path.join("environ"), 1 << 20) {
                if env.split(|b| *b == 0).any(|var| var == wanted.as_slice()) {
                    return true;
                }
            }
        }
        false
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        false
    }
}
