//! Durable file writes: write to a temporary name, fsync, rename, fsync the
//! directory. After a crash a file is either its old content or its new
//! content, never a mix.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically and durably, creating parent directories.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Renames `from` to `to` (creating `to`'s parent) and makes the rename durable.
pub fn rename_durable(from: &Path, to: &Path) -> io::Result<()> {
    let dir = to.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir)?;
    fs::rename(from, to)?;
    sync_dir(dir)
}

/// Fsyncs a directory so that entries created or renamed in it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Every regular file below `dir`, as paths relative to it, sorted.
pub fn files_below(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                if let Some(rel) = rel.to_str() {
                    out.push(rel.to_string());
                }
            }
        }
    }
    out.sort();
    Ok(out)
}
