//! The app file of a release folder ([`quince_protocol::appinfo`]): checked
//! against the folder it describes, so that a release never names a command
//! or icon it does not carry.

use std::path::{Path, PathBuf};

use quince_protocol::appinfo::{AppInfo, Health, APP_FILE, MAX_APP_FILE_BYTES};

/// Why an app file does not fit its folder.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct AppFileError {
    /// The app file.
    pub file: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// Reads and checks `dir`'s app file; `Ok(None)` if it has none.
pub fn read(dir: &Path) -> Result<Option<AppInfo>, AppFileError> {
    let file = dir.join(APP_FILE);
    let fail = |reason: String| AppFileError {
        file: file.clone(),
        reason,
    };
    let bytes = match std::fs::metadata(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(e.to_string())),
        Ok(m) if m.len() > MAX_APP_FILE_BYTES as u64 => {
            return Err(fail(format!(
                "{} bytes; at most {MAX_APP_FILE_BYTES}",
                m.len()
            )))
        }
        Ok(_) => std::fs::read(&file).map_err(|e| fail(e.to_string()))?,
    };
    let info = AppInfo::parse(&bytes).map_err(|e| fail(e.to_string()))?;
    check(dir, &info).map_err(fail)?;
    Ok(Some(info))
}

/// Checks that what `info` names is in `dir`: the command and a health
/// program are executable files, the icon a PNG, SVG or XPM file.
pub fn check(dir: &Path, info: &AppInfo) -> Result<(), String> {
    program(dir, info.command.as_str(), "command")?;
    if let Some(Health::Command(p, _)) = &info.health {
        program(dir, p.as_str(), "health command")?;
    }
    if let Some(icon) = &info.icon {
        let path = dir.join(icon.as_str());
        if !path.is_file() {
            return Err(format!("icon {icon}: no such file in {}", dir.display()));
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !["png", "svg", "xpm"].contains(&ext) {
            return Err(format!(
                "icon {icon}: menus show .png, .svg or .xpm icons, not .{ext}"
            ));
        }
    }
    Ok(())
}

fn program(dir: &Path, rel: &str, what: &str) -> Result<(), String> {
    let path = dir.join(rel);
    let meta = std::fs::metadata(&path)
        .map_err(|e| format!("{what} {rel}: {e} (in {})", dir.display()))?;
    if !meta.is_file() {
        return Err(format!("{what} {rel}: not a file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(format!(
                "{what} {rel}: not executable (chmod +x {})",
                path.display()
            ));
        }
    }
    Ok(())
}
