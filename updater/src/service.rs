//! The background updater as a service: a systemd user unit (Linux), or an
//! XDG autostart entry where there is no systemd; on Windows a batch file
//! that the user's Run key starts at login (no admin rights needed); and
//! the log it keeps.
//!
//! ```text
//! ~/.config/systemd/user/quince-updater.service   runs `quince service run`
//! ~/.config/autostart/quince-updater.desktop      the same, at login, without systemd
//! ~/.local/state/quince/updater.log               timestamped lines, rotated at 1 MiB (3 kept)
//! %LOCALAPPDATA%\quince\updater.cmd               Windows: runs `quince service run`,
//!                                                 started by HKCU\...\Run "Quince updater"
//! %LOCALAPPDATA%\quince\updater.log               Windows: the log
//! ```
//!
//! `quince service run` starts `quince update --watch` and writes every line
//! it prints, with a UTC timestamp, to the log and to its own output (the
//! journal, under systemd). On SIGTERM it asks the updater to stop the same
//! way, which saves what it learned of peers before exiting.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::home::xdg;

/// The unit's (and autostart entry's) file name.
pub const UNIT_NAME: &str = "quince-updater.service";
/// The log rotates when it passes this size.
pub const LOG_MAX_BYTES: u64 = 1024 * 1024;
/// Rotated logs kept (`updater.log.1` .. `.3`).
pub const LOG_KEEP: usize = 3;

/// Windows: the registry key whose values start programs at the user's login.
pub const RUN_KEY: &str = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run";
/// Windows: the value under [`RUN_KEY`] that starts the updater.
pub const RUN_VALUE: &str = "Quince updater";

/// Where the systemd user unit goes (`None` off Linux and other XDG systems).
pub fn unit_file() -> Option<PathBuf> {
    if cfg!(any(windows, target_os = "macos")) {
        return None;
    }
    xdg("XDG_CONFIG_HOME", ".config").map(|c| c.join("systemd/user").join(UNIT_NAME))
}

/// Where the XDG autostart entry goes (`None` off Linux and other XDG systems).
pub fn autostart_file() -> Option<PathBuf> {
    if cfg!(any(windows, target_os = "macos")) {
        return None;
    }
    xdg("XDG_CONFIG_HOME", ".config").map(|c| c.join("autostart/quince-updater.desktop"))
}

/// Windows: the batch file the Run key starts.
pub fn login_script() -> Option<PathBuf> {
    quince_store::cli::user_dir(quince_store::cli::UserDir::Data)
        .map(|d| d.join("quince").join("updater.cmd"))
}

/// Windows: the login batch file's text: `quince service run -- ARGS` with
/// `QUINCE_HOME` set, Quince found through its pointer each time.
pub fn login_script_text(quince: &Path, home: &Path, args: &[String]) -> String {
    let all: Vec<&str> = ["service", "run", "--"]
        .into_iter()
        .chain(args.iter().map(String::as_str))
        .collect();
    crate::platform::script::batch(&crate::platform::script::Script {
        mark: "quince updater: service run",
        about: "Started at login by the Run key; `quince service remove` deletes this file.",
        env: &[("QUINCE_HOME", home)],
        program: quince,
        args: &all,
    })
}

/// The updater started now, in the background: `quince service run --
/// ARGS` with `QUINCE_HOME` set, no input or output, and no window of its
/// own on Windows. Used where the service manager does not start it now
/// (the Run key acts at the next login).
pub fn updater_command(quince: &Path, home: &Path, args: &[String]) -> std::process::Command {
    let mut command = std::process::Command::new(quince);
    command
        .env("QUINCE_HOME", home)
        .args(["service", "run", "--"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    crate::platform::detach(&mut command);
    command
}

/// macOS: the launchd label of the updater's agent.
pub const AGENT_LABEL: &str = "org.quince.updater";

/// macOS: where the LaunchAgent goes (`None` elsewhere).
pub fn launch_agent_file() -> Option<PathBuf> {
    if !cfg!(target_os = "macos") {
        return None;
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(format!("Library/LaunchAgents/{AGENT_LABEL}.plist")))
}

/// macOS: the LaunchAgent (a property list) that has launchd run
/// `quince service run -- ARGS` with `QUINCE_HOME` set, at login and
/// again if it stops with an error.
pub fn launch_agent_text(quince: &Path, home: &Path, args: &[String]) -> String {
    let xml = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let program: String = [quince.display().to_string()]
        .into_iter()
        .chain(["service", "run", "--"].map(String::from))
        .chain(args.iter().cloned())
        .map(|a| format!("\t\t<string>{}</string>\n", xml(&a)))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <!-- quince updater: service run; `quince service remove` deletes this file -->\n\
         <plist version=\"1.0\">\n\
         <dict>\n\
         \t<key>Label</key>\n\t<string>{AGENT_LABEL}</string>\n\
         \t<key>ProgramArguments</key>\n\t<array>\n{program}\t</array>\n\
         \t<key>EnvironmentVariables</key>\n\t<dict>\n\
         \t\t<key>QUINCE_HOME</key>\n\t\t<string>{}</string>\n\
         \t</dict>\n\
         \t<key>RunAtLoad</key>\n\t<true/>\n\
         \t<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>\n\t</dict>\n\
         \t<key>ProcessType</key>\n\t<string>Background</string>\n\
         </dict>\n\
         </plist>\n",
        xml(&home.display().to_string())
    )
}

/// Where the updater's log goes: `$XDG_STATE_HOME/quince/updater.log`.
pub fn log_file() -> Option<PathBuf> {
    quince_store::cli::user_dir(quince_store::cli::UserDir::State)
        .map(|d| d.join("quince").join("updater.log"))
}

/// The systemd user unit that runs `quince service run` with `home`.
pub fn unit_text(quince: &Path, home: &Path, args: &[String]) -> String {
    let args: String = args.iter().map(|a| format!(" {}", unit_quote(a))).collect();
    format!(
        "[Unit]\n\
         Description=Quince: keeps installed apps up to date and shares them with peers\n\
         \n\
         [Service]\n\
         Type=simple\n\
         Environment={}\n\
         ExecStart={} service run{args}\n\
         Restart=on-failure\n\
         RestartSec=30\n\
         # On stop, SIGTERM: the updater saves what it knows of peers and exits.\n\
         KillSignal=SIGTERM\n\
         TimeoutStopSec=20\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        unit_quote(&format!("QUINCE_HOME={}", home.display())),
        unit_quote(&quince.display().to_string()),
    )
}

/// The autostart entry: the same command, at login.
pub fn autostart_text(quince: &Path, home: &Path, args: &[String]) -> String {
    let args: String = args.iter().map(|a| format!(" {a}")).collect();
    format!(
        "[Desktop Entry]\nType=Application\nName=Quince updater\nComment=Keeps Quince apps up to date and shares them with peers\nExec=env QUINCE_HOME={} {} service run{args}\nX-GNOME-Autostart-enabled=true\n",
        home.display(),
        quince.display()
    )
}

/// A word of a unit file's command line: double-quoted when it has
/// spaces, quotes, backslashes or `%` (written `%%`).
fn unit_quote(word: &str) -> String {
    let word = word.replace('%', "%%");
    if word
        .chars()
        .any(|c| c.is_whitespace() || "\"'\\$;".contains(c))
    {
        format!(
            "\"{}\"",
            word.replace('\\', r"\\")
                .replace('"', "\\\"")
                .replace('$', "$$")
        )
    } else {
        word
    }
}

/// An append-only log file that rotates itself.
#[derive(Debug)]
pub struct RotatingLog {
    path: PathBuf,
    file: File,
    size: u64,
}

impl RotatingLog {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> std::io::Result<RotatingLog> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingLog {
            path: path.to_path_buf(),
            file,
            size,
        })
    }

    /// Writes `line` with a UTC timestamp in front; rotates first if the
    /// file is full. Returns the line as written.
    pub fn line(&mut self, now: u64, line: &str) -> std::io::Result<String> {
        if self.size >= LOG_MAX_BYTES {
            self.rotate()?;
        }
        let text = format!("{} {line}\n", utc(now));
        self.file.write_all(text.as_bytes())?;
        self.size += text.len() as u64;
        Ok(text)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        for n in (1..LOG_KEEP).rev() {
            let _ = fs::rename(numbered(n), numbered(n + 1));
        }
        fs::rename(&self.path, numbered(1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// `2026-12-01T10:29:41Z` for Unix seconds `secs`.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_121_381), "2026-12-01T10:36:21Z");
    }

    #[test]
    fn the_log_rotates_and_keeps_three() {
        let t = std::env::temp_dir().join(format!("quince-log-{}", std::process::id()));
        let _ = fs::remove_dir_all(&t);
        let path = t.join("updater.log");
        let mut log = RotatingLog::open(&path).unwrap();
        let line = "x".repeat(100_000);
        for _ in 0..60 {
            log.line(0, &line).unwrap();
        }
        for n in 1..=LOG_KEEP {
            let rotated = PathBuf::from(format!("{}.{n}", path.display()));
            assert!(rotated.metadata().unwrap().len() >= LOG_MAX_BYTES, "{n}");
        }
        assert!(!PathBuf::from(format!("{}.{}", path.display(), LOG_KEEP + 1)).exists());
        assert!(path.metadata().unwrap().len() < LOG_MAX_BYTES);
        fs::remove_dir_all(&t).unwrap();
    }

    /// The LaunchAgent read back by Python's plistlib (an independent
    /// reader of Apple's format): every argument and the home survive
    /// spaces and XML's special characters.
    #[test]
    fn the_launch_agent_is_a_property_list_launchd_can_read() {
        let text = launch_agent_text(
            Path::new("/Users/a b/q&a/quince"),
            Path::new("/Users/a b/<home>"),
            &["--self-app".into(), "ab\"cd".into()],
        );
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(text.as_bytes())?;
                child.wait_with_output()
            })
            .expect("python3 runs");
        assert!(out.status.success(), "{text}");
        let plist: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            plist,
            serde_json::json!({
                "Label": AGENT_LABEL,
                "ProgramArguments": ["/Users/a b/q&a/quince", "service", "run", "--", "--self-app", "ab\"cd"],
                "EnvironmentVariables": {"QUINCE_HOME": "/Users/a b/<home>"},
                "RunAtLoad": true,
                "KeepAlive": {"SuccessfulExit": false},
                "ProcessType": "Background",
            })
        );
    }

    #[test]
    fn unit_words_with_spaces_are_quoted() {
        let unit = unit_text(Path::new("/a b/quince"), Path::new("/h/100%"), &[]);
        assert!(
            unit.contains("ExecStart=\"/a b/quince\" service run\n"),
            "{unit}"
        );
        assert!(
            unit.contains("Environment=QUINCE_HOME=/h/100%%\n"),
            "{unit}"
        );
    }
}
