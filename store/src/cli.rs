//! What every Quince command-line program does alike.

use std::path::PathBuf;

/// An XDG base folder: `$VAR` if set and not empty, else `$HOME/fallback`
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
