//! Windows: no mode bits, programs by extension, pointer files instead of
//! symbolic links for the version switch.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Longest pointer file read (a relative path such as `versions/1.2.0-rc.1`).
const MAX_POINTER_BYTES: usize = 512;

pub(super) fn set_executable(_path: &Path, _executable: bool) -> io::Result<()> {
    Ok(())
}

pub(super) fn is_executable(path: &Path, _meta: &fs::Metadata) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["exe", "cmd", "bat", "com"].contains(&e.to_ascii_lowercase().as_str()))
}

pub(super) fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::windows::fs::symlink_file(target, link).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "the release holds a symbolic link, which Windows lets only administrators or Developer Mode make: {e}"
            ),
        )
    })
}

pub(super) fn make_pointer(target: &Path, at: &Path) -> io::Result<()> {
    let text = target.to_str().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the version path is not UTF-8")
    })?;
    let mut f = fs::File::create(at)?;
    // Ended by a line break: batch files read it with `set /p`, and Wine's
    // cmd drops the last character of a line with none.
    f.write_all(format!("{}\r\n", text.replace('\\', "/")).as_bytes())?;
    f.sync_all()
}

pub(super) fn read_pointer(link: &Path) -> Option<PathBuf> {
    let bytes = quince_store::durable::read_bounded(link, MAX_POINTER_BYTES).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    Some(PathBuf::from(text.trim()))
}

pub(super) fn ask_to_stop(_pid: u32) -> bool {
    false
}

pub(super) fn kill(pid: u32) {
    let _ = std::process::Command::new("taskkill")
        .args(["/F", "/PID", &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

pub(super) fn detach(command: &mut std::process::Command) {
    use std::os::windows::process::CommandExt as _;
    /// Process creation flag: no console window.
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    command.creation_flags(CREATE_NO_WINDOW);
}
