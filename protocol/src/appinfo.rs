//! The app file: what a release says about running itself.
//!
//! A publisher puts it in the release at [`APP_FILE`] (`quince-packager app`
//! writes and checks it). It travels like any other file of the release, so
//! the manifest's hash, and through it the signed log, binds it: a peer cannot
//! change the name, the command or the health check without the release
//! failing verification. It is text, one `key value` line per field in a
//! fixed order (the same rules as log entries):
//!
//! ```text
//! quince app v1
//! name Hello World
//! id hello
//! summary Says hello
//! command bin/hello
//! icon share/hello.png
//! categories Utility;Network
//! health exits-ok --version
//! ```
//!
//! `name`, `id` and `command` are required; the rest may be left out.

use std::fmt;
use std::str::FromStr;

use crate::codec::{self, DecodeError, Lines};
use crate::path::RelPath;

/// Where the app file sits in a release.
pub const APP_FILE: &str = ".quince/app";
/// The largest app file accepted.
pub const MAX_APP_FILE_BYTES: usize = 4096;
/// Longest display name or summary, in bytes.
pub const MAX_NAME_BYTES: usize = 80;
/// Longest short id.
pub const MAX_SHORT_ID_BYTES: usize = 32;
/// Most categories.
pub const MAX_CATEGORIES: usize = 8;
/// Most arguments of a health-check command.
pub const MAX_HEALTH_ARGS: usize = 8;
/// Longest wait a `runs` health check may ask for, in seconds.
pub const MAX_HEALTH_SECONDS: u64 = 60;

const HEADER: &str = "quince app v1";

/// How a new version proves it works before it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The command keeps running for this many seconds (or exits 0 sooner).
    Runs(u64),
    /// The command, given these arguments (such as `--version`), exits 0.
    ExitsOk(Vec<String>),
    /// Another program of the release, with arguments, exits 0.
    Command(RelPath, Vec<String>),
    /// No check: the version is kept as soon as it is in place (the
    /// publisher gives up automatic rollback).
    None,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Runs(s) => write!(f, "runs {s}"),
            Health::ExitsOk(args) => {
                f.write_str("exits-ok")?;
                args.iter().try_for_each(|a| write!(f, " {a}"))
            }
            Health::Command(p, args) => {
                write!(f, "command {p}")?;
                args.iter().try_for_each(|a| write!(f, " {a}"))
            }
            Health::None => f.write_str("none"),
        }
    }
}

impl FromStr for Health {
    type Err = DecodeError;

    fn from_str(text: &str) -> Result<Self, DecodeError> {
        let mut words = text.split(' ');
        let mode = words.next().unwrap_or("");
        let args: Vec<String> = words.map(String::from).collect();
        if args.iter().any(String::is_empty) {
            return Err(DecodeError::non_canonical(
                "health",
                "one space between words",
            ));
        }
        codec::check_len("health arguments", args.len(), MAX_HEALTH_ARGS)?;
        let bad = |why: String| Err(DecodeError::invalid("health", why));
        match (mode, args.as_slice()) {
            ("runs", [secs]) => {
                let secs = codec::parse_decimal(secs, "health seconds")?;
                if secs == 0 || secs > MAX_HEALTH_SECONDS {
                    return bad(format!(
                        "runs {secs}: give 1 to {MAX_HEALTH_SECONDS} seconds"
                    ));
                }
                Ok(Health::Runs(secs))
            }
            ("runs", _) => bad("`runs` takes one number of seconds".into()),
            ("exits-ok", _) => Ok(Health::ExitsOk(args)),
            ("command", [program, rest @ ..]) => {
                Ok(Health::Command(RelPath::parse(program)?, rest.to_vec()))
            }
            ("command", []) => bad("`command` needs a program of the release".into()),
            ("none", []) => Ok(Health::None),
            _ => bad(format!(
                "`{mode}` is not runs SECONDS, exits-ok [ARGS], command PROGRAM [ARGS] or none"
            )),
        }
    }
}

/// What the app file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInfo {
    /// The name people see (menus, `quince list`).
    pub name: String,
    /// The short id: the launcher's file name and a name for the CLI
    /// (`[a-z0-9][a-z0-9._-]*`, at most 32 bytes).
    pub id: String,
    /// One line about the app.
    pub summary: Option<String>,
    /// The program to start, relative to the release.
    pub command: RelPath,
    /// An icon (PNG or SVG) in the release.
    pub icon: Option<RelPath>,
    /// freedesktop.org menu categories, such as `Utility`.
    pub categories: Vec<String>,
    /// The health check; `None` means the installer's default (runs 3 s).
    pub health: Option<Health>,
}

impl AppInfo {
    /// Parses an app file strictly.
    pub fn parse(bytes: &[u8]) -> Result<AppInfo, DecodeError> {
        codec::check_len("app file", bytes.len(), MAX_APP_FILE_BYTES)?;
        let text = std::str::from_utf8(bytes)
            .map_err(|_| DecodeError::invalid("app file", "not UTF-8"))?;
        let mut lines = Lines::new(text, MAX_APP_FILE_BYTES, "app file")?;
        lines.exact(HEADER)?;
        let name = display_text(lines.field("name")?, "name")?;
        let id = short_id(lines.field("id")?)?;
        let summary = match lines.repeated("summary", 1)?.first() {
            Some(s) => Some(display_text(s, "summary")?),
            None => None,
        };
        let command = RelPath::parse(lines.field("command")?)?;
        let icon = match lines.repeated("icon", 1)?.first() {
            Some(p) => Some(RelPath::parse(p)?),
            None => None,
        };
        let categories = match lines.repeated("categories", 1)?.first() {
            Some(c) => categories(c)?,
            None => Vec::new(),
        };
        let health = match lines.repeated("health", 1)?.first() {
            Some(h) => Some(h.parse()?),
            None => None,
        };
        lines.finish("app file")?;
        Ok(AppInfo {
            name,
            id,
            summary,
            command,
            icon,
            categories,
            health,
        })
    }

    /// The canonical text ([`AppInfo::parse`] reads it back unchanged).
    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\nname {}\nid {}\n", self.name, self.id);
        if let Some(s) = &self.summary {
            out.push_str(&format!("summary {s}\n"));
        }
        out.push_str(&format!("command {}\n", self.command));
        if let Some(i) = &self.icon {
            out.push_str(&format!("icon {i}\n"));
        }
        if !self.categories.is_empty() {
            out.push_str(&format!("categories {}\n", self.categories.join(";")));
        }
        if let Some(h) = &self.health {
            out.push_str(&format!("health {h}\n"));
        }
        out
    }
}

/// Checks a short id: `[a-z0-9][a-z0-9._-]*`, 1 to 32 bytes.
pub fn short_id(text: &str) -> Result<String, DecodeError> {
    codec::check_len("id", text.len(), MAX_SHORT_ID_BYTES)?;
    let ok = text
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && text.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if !ok {
        return Err(DecodeError::invalid(
            "id",
            format!("`{text}` is not [a-z0-9][a-z0-9._-]*"),
        ));
    }
    Ok(text.to_string())
}

fn display_text(text: &str, what: &'static str) -> Result<String, DecodeError> {
    codec::check_len(what, text.len(), MAX_NAME_BYTES)?;
    if text.chars().any(char::is_control) {
        return Err(DecodeError::invalid(what, "has a control character"));
    }
    Ok(text.to_string())
}

fn categories(text: &str) -> Result<Vec<String>, DecodeError> {
    let list: Vec<String> = text.split(';').map(String::from).collect();
    codec::check_len("categories", list.len(), MAX_CATEGORIES)?;
    for c in &list {
        let ok = !c.is_empty()
            && c.len() <= 40
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(DecodeError::invalid(
                "categories",
                format!("`{c}` is not a category name ([A-Za-z0-9-], separated by `;`)"),
            ));
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "quince app v1\nname Hello World\nid hello\nsummary Says hello\ncommand bin/hello\nicon share/hello.png\ncategories Utility;Network\nhealth exits-ok --version\n";

    #[test]
    fn a_full_file_reads_back_to_the_same_text() {
        let info = AppInfo::parse(FULL.as_bytes()).unwrap();
        assert_eq!(info.name, "Hello World");
        assert_eq!(info.id, "hello");
        assert_eq!(info.command.as_str(), "bin/hello");
        assert_eq!(info.categories, ["Utility", "Network"]);
        assert_eq!(info.health, Some(Health::ExitsOk(vec!["--version".into()])));
        assert_eq!(info.to_text(), FULL);
    }

    #[test]
    fn the_optional_lines_may_be_left_out() {
        let text = "quince app v1\nname Tool\nid tool\ncommand tool\n";
        let info = AppInfo::parse(text.as_bytes()).unwrap();
        assert_eq!(
            (&info.icon, &info.health, &info.summary),
            (&None, &None, &None)
        );
        assert_eq!(info.to_text(), text);
    }

    #[test]
    fn every_health_mode_reads_back() {
        for h in [
            "runs 5",
            "exits-ok",
            "exits-ok --version",
            "command bin/check --quick",
            "none",
        ] {
            let parsed: Health = h.parse().unwrap();
            assert_eq!(parsed.to_string(), h);
        }
    }

    #[test]
    fn bad_files_are_refused_with_the_cause() {
        let cases = [
            ("quince app v2\nname A\nid a\ncommand a\n", "quince app v1"),
            ("quince app v1\nname A\nid A\ncommand a\n", "[a-z0-9]"),
            ("quince app v1\nname A\nid a\ncommand /bin/sh\n", "absolute"),
            ("quince app v1\nname A\nid a\ncommand ../x\n", ".."),
            (
                "quince app v1\nname A\nid a\ncommand a\nhealth runs 0\n",
                "1 to 60",
            ),
            (
                "quince app v1\nname A\nid a\ncommand a\nhealth runs 99999\n",
                "1 to 60",
            ),
            (
                "quince app v1\nname A\nid a\ncommand a\nhealth reboot\n",
                "is not runs",
            ),
            (
                "quince app v1\nname A\nid a\ncommand a\nhealth command\n",
                "needs a program",
            ),
            (
                "quince app v1\nname A\nid a\ncommand a\ncategories Util ity\n",
                "category",
            ),
            (
                "quince app v1\nname A\nid a\ncommand a\nicon x\nicon y\n",
                "icon",
            ),
            ("quince app v1\nid a\nname A\ncommand a\n", "name"),
            ("quince app v1\nname A\tB\nid a\ncommand a\n", "control"),
            ("quince app v1\nname A\nid a\ncommand a", "newline"),
            (
                "quince app v1\nname A\nid a\ncommand a\nextra line\n",
                "app file",
            ),
        ];
        for (text, cause) in cases {
            let err = AppInfo::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(cause), "{text:?}: {err}");
        }
        let big = format!("quince app v1\nname {}\n", "x".repeat(MAX_APP_FILE_BYTES));
        assert!(AppInfo::parse(big.as_bytes()).is_err());
    }
}
