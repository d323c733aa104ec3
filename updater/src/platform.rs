//! What differs between operating systems, in one place: the rest of the
//! client calls these and has no `cfg` of its own for them.
//!
//! - Executable bits: Unix has them (0755 and 0644, as the manifest says);
//!   Windows has none, and a program is one by its name (`.exe`, `.cmd`,
//!   `.bat`, `.com`).
//! - The "current version" switch: on Unix `current` is a symbolic link to
//!   `versions/V`, made beside it and renamed over it (one atomic rename).
//!   Windows lets only administrators (or Developer Mode) make symbolic
//!   links, so there `current` is a small file holding `versions/V`,
//!   written beside it and renamed over it the same way (`MoveFileEx` with
//!   replace, which Windows does atomically for a file on one volume). A
//!   version that runs keeps running from its own folder either way: the
//!   switch never touches it.
//! - Symbolic links inside a release: made as such on Unix; on Windows
//!   they need the same privilege, and an install without it fails with
//!   that reason.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub mod script;
pub mod shortcut;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as os;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as os;

/// Where a release of Quince itself holds program `name` (`quince`,
/// `quince-bootstrap`): `bin/NAME`, with `.exe` on Windows.
pub fn quince_program(name: &str) -> String {
    format!("bin/{name}{}", std::env::consts::EXE_SUFFIX)
}

/// [`quince_program`] in a release for `platform` (which may not be this
/// machine's): `.exe` for Windows platforms.
pub fn quince_program_for(name: &str, platform: &quince_protocol::record::Platform) -> String {
    format!("bin/{name}{}", exe_suffix(platform))
}

/// How programs for `platform` end: `.exe` for Windows, nothing elsewhere.
pub fn exe_suffix(platform: &quince_protocol::record::Platform) -> &'static str {
    if platform.as_str().starts_with("windows") {
        ".exe"
    } else {
        ""
    }
}

/// Whether files carry executable bits the manifest's `executable` flag
/// can be checked against.
pub const HAS_EXEC_BITS: bool = cfg!(unix);

/// Marks a file executable (0755) or not (0644) where the OS has such bits.
pub fn set_executable(path: &Path, executable: bool) -> io::Result<()> {
    os::set_executable(path, executable)
}

/// Whether the file at `path` (with metadata `meta`) is a program.
pub fn is_executable(path: &Path, meta: &fs::Metadata) -> bool {
    meta.is_file() && os::is_executable(path, meta)
}

/// Makes a symbolic link at `link` to `target` (a release's link entry).
pub fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    os::symlink(target, link)
}

/// Points `link` at `target` (relative to `link`'s folder) by making the
/// pointer at `tmp` and renaming it over `link`: one atomic step.
pub fn point(tmp: &Path, link: &Path, target: &Path) -> io::Result<()> {
    match fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    os::make_pointer(target, tmp)?;
    quince_store::crash::point("new link made");
    fs::rename(tmp, link)
}

/// The folder `link` leads to, as a path the OS opens: on Unix the link
/// itself (the OS follows it, so the path keeps following switches); on
/// Windows the folder its pointer file names, or `link` if it names none.
pub fn through_pointer(link: &Path) -> PathBuf {
    if cfg!(unix) {
        return link.to_path_buf();
    }
    match (read_pointer(link), link.parent()) {
        (Some(target), Some(dir)) => dir.join(target),
        _ => link.to_path_buf(),
    }
}

/// What the pointer at `link` points to (relative to its folder), if it is one.
pub fn read_pointer(link: &Path) -> Option<PathBuf> {
    os::read_pointer(link)
}

/// Asks process `pid` to save and exit (SIGTERM on Unix). Returns false
/// where the OS has no such request for a console program (Windows): the
/// caller then ends it with [`kill`].
pub fn ask_to_stop(pid: u32) -> bool {
    os::ask_to_stop(pid)
}

/// Makes `command` start as a background program: on Windows without a
/// console window of its own; on Unix as it is (its output already goes
/// nowhere).
pub fn detach(command: &mut std::process::Command) {
    os::detach(command)
}

/// Ends process `pid` at once.
pub fn kill(pid: u32) {
    os::kill(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The switch replaces what `current` leads to in one rename, and
    /// reading it back gives the target; a path through it opens the
    /// version's files.
    #[test]
    fn a_pointer_switches_by_rename_and_reads_back() {
        let t = tempfile::tempdir().unwrap();
        let app = t.path();
        for v in ["1.0.0", "1.1.0"] {
            fs::create_dir_all(app.join("versions").join(v)).unwrap();
            fs::write(app.join("versions").join(v).join("marker"), v).unwrap();
        }
        let (link, tmp) = (app.join("current"), app.join("current.tmp"));
        assert_eq!(read_pointer(&link), None);
        for v in ["1.0.0", "1.1.0"] {
            let target = Path::new("versions").join(v);
            point(&tmp, &link, &target).unwrap();
            assert_eq!(read_pointer(&link).as_deref(), Some(target.as_path()));
            assert!(!tmp.exists());
            assert_eq!(
                fs::read_to_string(through_pointer(&link).join("marker")).unwrap(),
                v
            );
        }
    }
}
