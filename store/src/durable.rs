//! Durable file writes, the one way Quince replaces a file: write to a
//! temporary name beside it, fsync, rename over the target, fsync the
//! folder. After a crash a file holds its old bytes or its new bytes, never
//! a mix, and a rename that returned has reached the disk.
//!
//! Used by the packager's log folder, the client's log mirror, app state,
//! witness state and node identity. The chunk store has its own variant
//! (temporary files in its `tmp/`, batched folder syncs: see [`crate::Batch`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Reads a file that anyone may have put there (a log folder, a bundle, a
/// mirror, a state file) with a bound: only a regular file is read (a
/// FIFO, socket, device or folder is refused, and the open does not block
/// on a FIFO), and a file over `max` bytes is an error (`InvalidData`)
/// without reading more than `max + 1` bytes of it.
pub fn read_bounded(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = open_regular(path)?;
    let meta = file.metadata()?;
    if meta.len() > max as u64 {
        return Err(too_large(meta.len(), max));
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    file.take(max as u64 + 1).read_to_end(&mut out)?;
    if out.len() > max {
        return Err(too_large(out.len() as u64, max));
    }
    Ok(out)
}

/// Opens a file for reading only if it is a regular one: a FIFO, socket,
/// device or folder is refused (with what it is), and the open does not
/// block on a FIFO.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    #[cfg(target_os = "macos")]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(0x0004); // O_NONBLOCK
    }
    let file = match options.open(path) {
        Ok(file) => file,
        // Windows refuses to open a folder ("access denied"): say what it is.
        Err(e) => match fs::metadata(path) {
            Ok(meta) if !meta.is_file() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("not a regular file ({})", kind_of(&meta)),
                ))
            }
            _ => return Err(e),
        },
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({})", kind_of(&meta)),
        ));
    }
    Ok(file)
}

fn too_large(len: u64, max: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{len} bytes or more, over the limit of {max}"),
    )
}

fn kind_of(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a folder"
    } else {
        "not a file"
    }
}

/// Writes `bytes` to `path` atomically and durably, creating parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, bytes, None)
}

/// [`write_atomic`] for a file only its owner may read (mode 0600 on Unix):
/// a node's identity key.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, bytes, Some(0o600))
}

fn write_with(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    let dir = parent(path);
    fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    crate::crash::point("file written, not yet renamed");
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Renames `from` to `to` (creating `to`'s parent) and makes the rename durable.
pub fn rename_durable(from: &Path, to: &Path) -> io::Result<()> {
    let dir = parent(to);
    fs::create_dir_all(dir)?;
    fs::rename(from, to)?;
    sync_dir(dir)
}

/// Fsyncs a folder so that entries created or renamed in it survive a crash.
/// (Windows cannot open a folder as a file; there the rename is left to the
/// file system's own journal.)
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(windows) {
        return Ok(());
    }
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
                // Separated by `/` on every OS, as manifests name paths.
                let parts: Option<Vec<&str>> =
                    rel.components().map(|c| c.as_os_str().to_str()).collect();
                if let Some(parts) = parts {
                    out.push(parts.join("/"));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads_refuse_fifos_devices_folders_and_large_files_without_blocking() {
        let t = std::env::temp_dir().join(format!("quince-bounded-{}", std::process::id()));
        fs::create_dir_all(&t).unwrap();
        let small = t.join("small");
        fs::write(&small, b"12345").unwrap();
        assert_eq!(read_bounded(&small, 5).unwrap(), b"12345");
        let e = read_bounded(&small, 4).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        let e = read_bounded(&t, 100).unwrap_err();
        assert!(e.to_string().contains("folder"), "{e}");
        #[cfg(unix)]
        {
            // A symlink to an endless device, and a FIFO nobody writes to.
            let zero = t.join("zero");
            let _ = fs::remove_file(&zero);
            std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
            let e = read_bounded(&zero, 100).unwrap_err();
            assert!(e.to_string().contains("device"), "{e}");
            let fifo = t.join("fifo");
            let _ = fs::remove_file(&fifo);
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            if made.is_ok_and(|s| s.success()) {
                let e = read_bounded(&fifo, 100).unwrap_err();
                assert!(e.to_string().contains("FIFO"), "{e}");
            }
        }
        fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(files_below(dir.path()).unwrap(), ["a/b/state.json"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_private_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity");
        write_private(&path, b"key").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_relative_bare_file_name_is_written_in_the_current_folder() {
        assert_eq!(parent(Path::new("checkpoint")), Path::new("."));
    }
}
