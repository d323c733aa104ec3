//! Unix: mode bits, symbolic links.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

pub(super) fn set_executable(path: &Path, executable: bool) -> io::Result<()> {
    let mode = if executable { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

pub(super) fn is_executable(_path: &Path, meta: &fs::Metadata) -> bool {
    meta.permissions().mode() & 0o111 != 0
}

pub(super) fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

pub(super) fn make_pointer(target: &Path, at: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

pub(super) fn read_pointer(link: &Path) -> Option<PathBuf> {
    fs::read_link(link).ok()
}

fn pid(pid: u32) -> Option<rustix::process::Pid> {
    rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)
}

pub(super) fn ask_to_stop(p: u32) -> bool {
    pid(p).is_some_and(|p| rustix::process::kill_process(p, rustix::process::Signal::TERM).is_ok())
}

pub(super) fn kill(p: u32) {
    if let Some(p) = pid(p) {
        let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
    }
}

pub(super) fn detach(_command: &mut std::process::Command) {}
