//! What every Quince command-line program does alike.

use std::path::PathBuf;

/// A kind of per-user folder, placed as each OS places it (see [`user_dir`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserDir {
    /// Data that stays on this machine: installed apps, the store, keys.
    Data,
    /// Settings a user may edit or carry to another machine.
    Config,
    /// Logs and other state worth keeping but not backing up.
    State,
}

/// The user's base folder of `kind` (Quince adds its own `quince` below it):
///
/// | kind   | Linux and other Unix            | Windows          | macOS                            |
/// |--------|---------------------------------|------------------|----------------------------------|
/// | Data   | `$XDG_DATA_HOME`, `~/.local/share`  | `%LOCALAPPDATA%` | `~/Library/Application Support` |
/// | Config | `$XDG_CONFIG_HOME`, `~/.config`     | `%APPDATA%`      | `~/Library/Application Support` |
/// | State  | `$XDG_STATE_HOME`, `~/.local/state` | `%LOCALAPPDATA%` | `~/Library/Logs`                 |
///
/// `None` when the variables it needs are not set.
pub fn user_dir(kind: UserDir) -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if cfg!(windows) {
        let var = match kind {
            UserDir::Data | UserDir::State => "LOCALAPPDATA",
            UserDir::Config => "APPDATA",
        };
        return set(var).map(PathBuf::from);
    }
    if cfg!(target_os = "macos") {
        let below = match kind {
            UserDir::Data | UserDir::Config => "Library/Application Support",
            UserDir::State => "Library/Logs",
        };
        return set("HOME").map(|h| PathBuf::from(h).join(below));
    }
    match kind {
        UserDir::Data => xdg("XDG_DATA_HOME", ".local/share"),
        UserDir::Config => xdg("XDG_CONFIG_HOME", ".config"),
        UserDir::State => xdg("XDG_STATE_HOME", ".local/state"),
    }
}

/// An XDG base folder (for what only the Linux desktop has, such as
/// systemd units and menu entries; Quince's own folders use [`user_dir`]): `$VAR` if set and not empty, else `$HOME/fallback`
/// (`xdg("XDG_DATA_HOME", ".local/share")`); `None` with neither.
pub fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    set(var)
        .map(PathBuf::from)
        .or_else(|| set("HOME").map(|h| PathBuf::from(h).join(fallback)))
}

/// Output piped to a program that stopped reading (`quince seed | head -3`,
/// `quince-signer inspect | true`): the next `println!` fails with a broken
/// pipe and would panic. Stop quietly instead, with the status a shell gives
/// a process killed by SIGPIPE (141), as other command-line tools do.
///
/// Any other panic stops the whole process (status 101) after printing it:
/// a panic inside a background task would otherwise end only that task and
/// leave a long-running program (`quince seed`) running without it, looking
/// healthy. A supervisor (systemd, the user) can restart a process that
/// exited.
pub fn exit_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
        std::process::exit(101);
    }));
}

/// An error and its causes on one line, `outer: cause: cause`, as
/// anyhow's `{:#}` prints them, but without a cause the message before
/// already ends with (errors such as [`crate::StoreError::Io`] name their
/// OS error in their own message too).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Io {
        path: String,
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("while {0}")]
    struct Outer(&'static str, #[source] Io);

    /// A cause already in the message is not repeated; others are added.
    #[test]
    fn a_cause_is_printed_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = Io {
            path: "src".into(),
            source: io(),
        };
        assert_eq!(error_chain(&e), "src: No such file");
        let outer = Outer("packing", e);
        assert_eq!(error_chain(&outer), "while packing: src: No such file");
        let plain = std::io::Error::other(Io {
            path: "x".into(),
            source: io(),
        });
        assert_eq!(error_chain(&plain), "x: No such file");
    }
}
