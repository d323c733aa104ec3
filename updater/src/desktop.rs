//! Making an installed app feel installed: a launcher on the user's PATH
//! and, on Linux, a freedesktop.org menu entry.
//!
//! ```text
//! ~/.local/bin/ID                              sh script: exec quince run APP_ID -- "$@"
//! ~/.local/share/applications/quince-ID.desktop  the menu entry (only for releases
//!                                              with an app file), icon from the release
//! %LOCALAPPDATA%\quince\bin\ID.cmd             on Windows: a batch file that starts
//!                                              quince run APP_ID through Quince's pointer
//! %APPDATA%\Microsoft\Windows\Start Menu\Programs\NAME.lnk
//!                                              on Windows: the Start-menu shortcut (only for
//!                                              releases with an app file), starting ID.cmd
//! ```
//!
//! (`crate::platform::script` writes the launchers, `crate::platform::shortcut`
//! the shortcuts.) A shortcut starts the launcher, which reads the app's
//! `current` pointer each time, so it follows updates and rollbacks
//! unchanged; it shows a console window while the app runs (a batch file
//! is a console program), and Windows' default icon for batch files. On
//! macOS a release's app bundle is linked into `~/Applications`.
//!
//! `ID` is the short id from the release's app file (else the signed name,
//! lowercased). Both files carry the app id (`quince launcher: app ID` in a
//! comment, `X-Quince-App=ID`), and Quince only ever replaces or removes a
//! file that carries it: a user's own `~/.local/bin/hello` is never overwritten.

use std::path::{Path, PathBuf};

use quince_protocol::appinfo;
use quince_protocol::root::AppId;

use crate::home::xdg;
use crate::install::Apps;
use crate::platform::{script, shortcut};

const LAUNCHER_MARK: &str = "quince launcher: app ";
const ENTRY_MARK: &str = "X-Quince-App=";
/// Launchers and entries larger than this are not Quince's.
const MAX_OURS: usize = 16 * 1024;

/// Where launchers go: `$QUINCE_BIN_DIR`, else `$XDG_BIN_HOME` or
/// `~/.local/bin` (Unix), `%LOCALAPPDATA%\quince\bin` (Windows).
pub fn bin_dir() -> Option<PathBuf> {
    let set = std::env::var_os("QUINCE_BIN_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    if cfg!(windows) {
        return set.or_else(|| {
            quince_store::cli::user_dir(quince_store::cli::UserDir::Data)
                .map(|d| d.join("quince").join("bin"))
        });
    }
    set.or_else(|| xdg("XDG_BIN_HOME", ".local/bin"))
}

/// Where menu entries go: `$XDG_DATA_HOME/applications`, else
/// `~/.local/share/applications`; on Windows the user's Start-menu
/// programs folder (`%APPDATA%\Microsoft\Windows\Start Menu\Programs`);
/// `None` on macOS, whose apps are bundles (see [`bundles_dir`]).
pub fn applications_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        return quince_store::cli::user_dir(quince_store::cli::UserDir::Config)
            .map(|d| d.join(r"Microsoft\Windows\Start Menu\Programs"));
    }
    if cfg!(target_os = "macos") {
        return None;
    }
    xdg("XDG_DATA_HOME", ".local/share").map(|d| d.join("applications"))
}

/// The kind of menu entry an OS takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Menu {
    /// A freedesktop.org desktop entry, `quince-ID.desktop`.
    Desktop,
    /// A Windows Start-menu shortcut, `NAME.lnk`.
    StartMenu,
}

impl Menu {
    /// This OS's kind.
    pub const HERE: Menu = if cfg!(windows) {
        Menu::StartMenu
    } else {
        Menu::Desktop
    };
}

/// macOS: where links to installed app bundles go, `~/Applications`
/// (Finder, Launchpad and Spotlight look there); `None` elsewhere.
pub fn bundles_dir() -> Option<PathBuf> {
    if !cfg!(target_os = "macos") {
        return None;
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join("Applications"))
}

/// Links `folder/NAME.app` to `app`'s `current/NAME.app`, if its release
/// holds one app bundle: the link follows every update and rollback. A
/// bundle of that name that is not such a link is left alone.
pub fn link_bundle(
    apps: &Apps,
    app: &AppId,
    folder: &Path,
) -> Result<Option<PathBuf>, DesktopError> {
    let current = std::path::absolute(apps.app_dir(app).current()).map_err(io(folder))?;
    let Some(name) = crate::install::app_bundle(&current) else {
        return Ok(None);
    };
    let link = folder.join(&name);
    let target = current.join(&name);
    match std::fs::symlink_metadata(&link) {
        Ok(m)
            if m.file_type().is_symlink()
                && std::fs::read_link(&link).ok() == Some(target.clone()) =>
        {
            return Ok(Some(link))
        }
        Ok(_) => return Err(DesktopError::Taken(link)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&link)(e)),
    }
    std::fs::create_dir_all(folder).map_err(io(folder))?;
    crate::platform::symlink(&target, &link).map_err(io(&link))?;
    Ok(Some(link))
}

/// Why a launcher or menu entry was not made or removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DesktopError {
    /// A file of that name exists and is not Quince's for this app.
    #[error("{0} exists and is not Quince's launcher for this app: left alone (choose another name with --name)")]
    Taken(PathBuf),
    /// No `HOME` (or XDG folder) to put it in.
    #[error("no folder for launchers: set HOME or QUINCE_BIN_DIR")]
    NoFolder,
    /// The name cannot be a launcher's file name.
    #[error("launcher name {name:?}: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The app is not installed, or has no program to start.
    #[error("{0}")]
    App(String),
    /// Writing or removing failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What [`create`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The launcher script.
    pub launcher: PathBuf,
    /// The menu entry, if the release has an app file.
    pub entry: Option<PathBuf>,
    /// The icon the entry shows, if the release names one that is there.
    pub icon: Option<PathBuf>,
    /// macOS: the link in `~/Applications` to the release's app bundle.
    pub bundle: Option<PathBuf>,
    /// Warnings: the icon is missing, the launcher folder is not on PATH.
    pub warnings: Vec<String>,
}

/// The program launchers start: `exe`, with a path through an app's
/// `versions/V/` rewritten through its `current` link, so that launchers
/// keep working when Quince updates itself.
pub fn stable_program(exe: &Path) -> PathBuf {
    for ancestor in exe.ancestors() {
        let (Some(versions), Some(app)) =
            (ancestor.parent(), ancestor.parent().and_then(Path::parent))
        else {
            continue;
        };
        let in_apps = app
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "apps");
        if versions.file_name().is_some_and(|n| n == "versions") && in_apps {
            if let Ok(rest) = exe.strip_prefix(ancestor) {
                return app.join("current").join(rest);
            }
        }
    }
    exe.to_path_buf()
}

/// The launcher name for `app`: `name` if given, else its app file's short
/// id, else its signed name lowercased with spaces as dashes.
pub fn launcher_name(apps: &Apps, app: &AppId, name: Option<&str>) -> Result<String, DesktopError> {
    let chosen = match name {
        Some(n) => n.to_string(),
        None => match apps.info(app) {
            Some(info) => info.id,
            None => apps
                .name(app)
                .map(|n| crate::install::short_name_of(&n))
                .ok_or_else(|| DesktopError::App(format!("app {app} is not installed")))?,
        },
    };
    appinfo::short_id(&chosen).map_err(|e| DesktopError::BadName {
        name: chosen.clone(),
        reason: e.to_string(),
    })
}

/// Makes (or refreshes) `app`'s launcher named `name` in `bin`, starting
/// `quince` (`quince run APP_ID`), and its menu entry of kind `menu`
/// ([`Menu::HERE`] but in tests) in `applications` (where the OS has such
/// entries).
pub fn create(
    menu: Menu,
    apps: &Apps,
    app: &AppId,
    quince: &Path,
    name: &str,
    bin: &Path,
    applications: Option<&Path>,
) -> Result<Created, DesktopError> {
    let state = apps
        .state(app)
        .map_err(|e| DesktopError::App(e.to_string()))?
        .ok_or_else(|| DesktopError::App(format!("app {app} is not installed")))?;
    if state.run.is_none() {
        return Err(DesktopError::App(format!(
            "app {app} has no program to start (its release has no app file; install with --run PATH)"
        )));
    }
    let quince = std::path::absolute(quince).map_err(io(quince))?;
    let launcher = bin.join(script::file_name(name));
    let mark = format!("{LAUNCHER_MARK}{app}");
    let app_text = app.to_string();
    let text = script::text(&script::Script {
        mark: &mark,
        about: "Starts the app's newest healthy version; `quince remove` deletes this file.",
        env: &[],
        program: &quince,
        args: &["run", &app_text, "--"],
    });
    write_ours(&launcher, &[&mark], text.as_bytes(), 0o755)?;
    let mut created = Created {
        launcher,
        entry: None,
        icon: None,
        bundle: None,
        warnings: Vec::new(),
    };
    let on_path =
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d == bin));
    if !on_path {
        created.warnings.push(format!(
            "{} is not on your PATH: add it (for example in ~/.profile) to start {name} by name",
            bin.display()
        ));
    }
    if let Some(folder) = bundles_dir() {
        created.bundle = link_bundle(apps, app, &folder)?;
    }
    let (Some(info), Some(applications)) = (apps.info(app), applications) else {
        return Ok(created);
    };
    if menu == Menu::StartMenu {
        let file = start_menu_entry(app, &info, name, &created.launcher, applications)?;
        created.entry = Some(file);
        return Ok(created);
    }
    let current = std::path::absolute(apps.app_dir(app).current()).map_err(io(bin))?;
    let icon = match &info.icon {
        Some(rel) if current.join(rel.as_str()).is_file() => Some(current.join(rel.as_str())),
        Some(rel) => {
            created.warnings.push(format!(
                "the release names icon {rel}, which it does not carry: the menu entry has none"
            ));
            None
        }
        None => None,
    };
    let mut entry = format!(
        "[Desktop Entry]\nType=Application\nVersion=1.4\nName={}\n",
        desktop_escape(&info.name)
    );
    if let Some(s) = &info.summary {
        entry.push_str(&format!("Comment={}\n", desktop_escape(s)));
    }
    entry.push_str(&format!(
        "Exec={} run {app}\nTerminal=false\n",
        exec_quote(&quince.display().to_string())
    ));
    if let Some(icon) = &icon {
        entry.push_str(&format!(
            "Icon={}\n",
            desktop_escape(&icon.display().to_string())
        ));
    }
    if !info.categories.is_empty() {
        entry.push_str(&format!("Categories={};\n", info.categories.join(";")));
    }
    entry.push_str(&format!("{ENTRY_MARK}{app}\n"));
    let file = applications.join(format!("quince-{name}.desktop"));
    write_ours(
        &file,
        &[&format!("{ENTRY_MARK}{app}")],
        entry.as_bytes(),
        0o644,
    )?;
    created.entry = Some(file);
    created.icon = icon;
    Ok(created)
}

/// Writes the Start-menu shortcut for `app` (named after the release's
/// app name where Windows can hold that as a file name, else `name`) to
/// start `launcher`; removes this app's shortcuts of other names (the app
/// was renamed). Returns the shortcut's path.
fn start_menu_entry(
    app: &AppId,
    info: &appinfo::AppInfo,
    name: &str,
    launcher: &Path,
    folder: &Path,
) -> Result<PathBuf, DesktopError> {
    let file_name = format!("{}.lnk", info.name);
    let fits = quince_protocol::path::RelPath::parse(&file_name)
        .is_ok_and(|p| p.components().count() == 1 && p.windows_problem().is_none());
    let file = folder.join(if fits {
        file_name
    } else {
        format!("{name}.lnk")
    });
    let mark = format!("{LAUNCHER_MARK}{app}");
    let launcher = std::path::absolute(launcher).map_err(io(launcher))?;
    let target = launcher.display().to_string();
    let working_dir = std::env::var("USERPROFILE")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| launcher.parent().unwrap_or(&launcher).display().to_string());
    let about = info.summary.as_deref().unwrap_or(&info.name);
    let bytes = shortcut::encode(&shortcut::Shortcut {
        target: &target,
        working_dir: &working_dir,
        description: &format!("{about} ({mark})"),
    })
    .map_err(|e| DesktopError::App(e.to_string()))?;
    write_ours(&file, &[&mark], &bytes, 0o644)?;
    for other in ours_in(folder, &[&mark]) {
        if other != file {
            std::fs::remove_file(&other).map_err(io(&other))?;
        }
    }
    Ok(file)
}

/// Removes every launcher in `bin` and menu entry in `applications` that
/// is Quince's for `app`; returns what it removed.
pub fn remove(
    app: &AppId,
    bin: &Path,
    applications: Option<&Path>,
) -> Result<Vec<PathBuf>, DesktopError> {
    let mut removed = Vec::new();
    if let Some(folder) = bundles_dir() {
        removed.extend(unlink_bundles(app, &folder)?);
    }
    let launcher = format!("{LAUNCHER_MARK}{app}");
    let entry = format!("{ENTRY_MARK}{app}");
    let launchers = [(bin, vec![launcher.as_str()])];
    // Desktop entries carry the entry mark; Start-menu shortcuts the
    // launcher's.
    let entries = applications.map(|a| (a, vec![entry.as_str(), launcher.as_str()]));
    for (dir, marks) in launchers.into_iter().chain(entries) {
        for path in ours_in(dir, &marks) {
            std::fs::remove_file(&path).map_err(io(&path))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// The files in `dir` that carry one of `marks` (none if it cannot be read).
fn ours_in(dir: &Path, marks: &[&str]) -> Vec<PathBuf> {
    let Ok(items) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    items
        .flatten()
        .map(|item| item.path())
        .filter(|path| is_ours(path, marks))
        .collect()
}
/// Removes the links in `folder` that lead into `app`'s folder
/// (`apps/APP_ID/...`); returns them.
pub fn unlink_bundles(app: &AppId, folder: &Path) -> Result<Vec<PathBuf>, DesktopError> {
    let mut removed = Vec::new();
    let Ok(items) = std::fs::read_dir(folder) else {
        return Ok(removed);
    };
    let id = app.to_string();
    for item in items.flatten() {
        let path = item.path();
        let ours = std::fs::read_link(&path).is_ok_and(|t| {
            let parts: Vec<_> = t.components().map(|c| c.as_os_str().to_owned()).collect();
            parts
                .windows(2)
                .any(|w| w[0] == "apps" && w[1] == id.as_str())
        });
        if ours {
            std::fs::remove_file(&path).map_err(io(&path))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// True if `path` is a small regular file that carries one of `marks`: a
/// line of its own (alone, or as a comment: `# mark` in a sh script, `rem
/// mark` in a batch file), or in a shell link's text.
fn is_ours(path: &Path, marks: &[&str]) -> bool {
    let Ok(bytes) = quince_store::durable::read_bounded(path, MAX_OURS) else {
        return false;
    };
    match std::str::from_utf8(&bytes) {
        Ok(text) => text.lines().any(|l| {
            let l = l.strip_prefix("# ").or(l.strip_prefix("rem ")).unwrap_or(l);
            marks.contains(&l)
        }),
        Err(_) => marks.iter().any(|m| shortcut::is_shortcut_with(&bytes, m)),
    }
}

/// Writes `bytes` to `path` unless something that is not ours (by one of
/// `marks`) is there.
fn write_ours(path: &Path, marks: &[&str], bytes: &[u8], mode: u32) -> Result<(), DesktopError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) if !is_ours(path, marks) => return Err(DesktopError::Taken(path.to_path_buf())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e)),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    quince_store::durable::write_atomic(path, bytes).map_err(io(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(())
}

/// A desktop entry string value: backslash, newline, tab and CR escaped.
fn desktop_escape(text: &str) -> String {
    text.replace('\\', r"\\")
        .replace('\n', r"\n")
        .replace('\t', r"\t")
        .replace('\r', r"\r")
}

/// One argument of an `Exec` key: double-quoted when it has a reserved
/// character, with `"`, `` ` ``, `$` and `\` escaped, then escaped again
/// as a string value (the spec's two levels).
fn exec_quote(arg: &str) -> String {
    let reserved = |c: char| " \t\n\"'\\><~|&;$*?#()`%".contains(c);
    let quoted = if arg.chars().any(reserved) {
        let mut q = String::from("\"");
        for c in arg.chars() {
            if matches!(c, '"' | '`' | '$' | '\\') {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    } else {
        arg.to_string()
    };
    desktop_escape(&quoted).replace('%', "%%")
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DesktopError + '_ {
    move |source| DesktopError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_inside_an_apps_version_is_reached_through_current() {
        let exe = Path::new("/h/quince/apps/abcd/versions/1.2.3/bin/quince");
        assert_eq!(
            stable_program(exe),
            Path::new("/h/quince/apps/abcd/current/bin/quince")
        );
        let dev = Path::new("/src/target/debug/quince");
        assert_eq!(stable_program(dev), dev);
    }

    #[test]
    fn quoting_survives_spaces_quotes_and_dollars() {
        assert_eq!(exec_quote("/usr/bin/q"), "/usr/bin/q");
        assert_eq!(exec_quote("/a b/$x"), r#""/a b/\\$x""#);
        assert_eq!(exec_quote("/100%"), r#""/100%%""#);
    }
}
