//! Paths inside a release: the one safe, canonical spelling a manifest may use.
//!
//! A [`RelPath`] is relative, `/`-separated, NFC-normalised UTF-8 with no empty,
//! `.` or `..` component, no backslash, no control character, and bounded
//! lengths. The packer builds paths with [`RelPath::parse`] and the unpacker
//! re-checks every path the same way, so a hostile manifest cannot name a place
//! outside the folder it is unpacked into. Symlink targets get [`link_target`].

use std::fmt;

use unicode_normalization::{is_nfc, UnicodeNormalization};

use crate::codec::{self, DecodeError};
use crate::limits::{MAX_PATH_BYTES, MAX_PATH_COMPONENT_BYTES};

/// A safe relative path inside a release.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

impl RelPath {
    /// Checks `text` is a safe, canonical relative path.
    pub fn parse(text: &str) -> Result<RelPath, DecodeError> {
        codec::check_len("path", text.len(), MAX_PATH_BYTES)?;
        if text.is_empty() {
            return Err(DecodeError::invalid("path", "empty"));
        }
        if text.starts_with('/') {
            return Err(DecodeError::invalid(
                "path",
                format!("`{text}` is absolute"),
            ));
        }
        if text.chars().any(|c| c.is_control() || c == '\\') {
            return Err(DecodeError::invalid(
                "path",
                format!(
                    "`{}` has a control character or backslash",
                    text.escape_debug()
                ),
            ));
        }
        for part in text.split('/') {
            match part {
                "" => {
                    return Err(DecodeError::invalid(
                        "path",
                        format!("`{text}` has an empty component"),
                    ))
                }
                "." | ".." => {
                    return Err(DecodeError::invalid(
                        "path",
                        format!("`{text}` has a `{part}` component"),
                    ))
                }
                _ => codec::check_len("path component", part.len(), MAX_PATH_COMPONENT_BYTES)?,
            }
        }
        if !is_nfc(text) {
            return Err(DecodeError::non_canonical(
                "path",
                format!("`{text}` is not NFC-normalised"),
            ));
        }
        Ok(RelPath(text.to_string()))
    }

    /// NFC-normalises `text` (as found on a disk), then checks it.
    pub fn normalise(text: &str) -> Result<RelPath, DecodeError> {
        RelPath::parse(&text.nfc().collect::<String>())
    }

    /// The path text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The components.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The parent path, if the path has more than one component.
    pub fn parent(&self) -> Option<RelPath> {
        self.0.rsplit_once('/').map(|(p, _)| RelPath(p.to_string()))
    }

    /// True if `self` is `other` or inside it.
    pub fn is_within(&self, other: &RelPath) -> bool {
        self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    /// Why Windows cannot hold this path, if it cannot: a component that is
    /// a reserved device name (`CON`, `NUL`, `COM1`, ... also with an
    /// extension, as `con.txt`), ends in a dot or a space, or has a character
    /// Windows refuses in names (`< > : " | ? *`). Such a release installs
    /// on Linux and macOS; a Windows client refuses it with this reason.
    pub fn windows_problem(&self) -> Option<String> {
        const RESERVED: [&str; 4] = ["CON", "PRN", "AUX", "NUL"];
        for part in self.components() {
            let stem = part.split('.').next().unwrap_or(part).trim_end();
            let upper = stem.to_ascii_uppercase();
            let numbered = ["COM", "LPT"].iter().any(|p| {
                upper.strip_prefix(p).is_some_and(|n| {
                    matches!(
                        n,
                        "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"
                    )
                })
            });
            if RESERVED.contains(&upper.as_str()) || numbered {
                return Some(format!("`{part}` is a device name on Windows"));
            }
            if part.ends_with('.') || part.ends_with(' ') {
                return Some(format!(
                    "`{part}` ends in a dot or a space, which Windows drops"
                ));
            }
            if let Some(c) = part.chars().find(|c| "<>:\"|?*".contains(*c)) {
                return Some(format!(
                    "`{part}` has `{c}`, which Windows does not allow in names"
                ));
            }
        }
        None
    }

    /// A key that is equal for names that would collide on a case-insensitive
    /// file system.
    pub fn collision_key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", self.0)
    }
}

/// Checks a symlink at `link` pointing to `target`: the target must be relative
/// and, resolved from the link's folder, stay inside the release.
pub fn link_target(link: &RelPath, target: &str) -> Result<(), DecodeError> {
    codec::check_len("link target", target.len(), MAX_PATH_BYTES)?;
    if target.is_empty()
        || target.starts_with('/')
        || target.contains('\\')
        || target.chars().any(char::is_control)
    {
        return Err(DecodeError::invalid(
            "link target",
            format!("`{target}` of {link} is empty, absolute or has a backslash"),
        ));
    }
    let mut depth: Vec<&str> = link
        .parent()
        .map(|p| p.components().map(|_| "").collect())
        .unwrap_or_default();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return Err(DecodeError::invalid(
                        "link target",
                        format!("{link} -> {target} leaves the release"),
                    ));
                }
            }
            _ => depth.push(part),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_windows_cannot_hold_are_named() {
        for ok in [
            "bin/app.exe",
            "data/console.txt",
            "com10",
            "lpt",
            "a.b/c",
            "Name.app/Contents/MacOS/x",
        ] {
            assert_eq!(RelPath::parse(ok).unwrap().windows_problem(), None, "{ok}");
        }
        for (bad, why) in [
            ("CON", "device name"),
            ("data/nul.txt", "device name"),
            ("x/Com1.log", "device name"),
            ("lpt9", "device name"),
            ("aux .txt", "device name"),
            ("notes.", "dot or a space"),
            ("dir /f", "dot or a space"),
            ("a:b", "`:`"),
            ("what?", "`?`"),
            ("x/<y>", "`<`"),
        ] {
            let problem = RelPath::parse(bad).unwrap().windows_problem();
            assert!(
                problem.as_deref().is_some_and(|p| p.contains(why)),
                "{bad}: {problem:?}"
            );
        }
    }

    #[test]
    fn safe_paths_pass_and_unsafe_ones_are_named() {
        for ok in [
            "a",
            "bin/app",
            "dir/sub/file.txt",
            "ünïcødé/名前",
            "a..b",
            ".hidden",
        ] {
            assert!(RelPath::parse(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../x", "`..`"),
            ("a/../../x", "`..`"),
            ("a/./b", "`.`"),
            ("a//b", "empty component"),
            ("a/", "empty component"),
            ("a\\b", "backslash"),
            ("a\nb", "control"),
            ("e\u{301}", "NFC"),
        ] {
            let err = RelPath::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert_eq!(RelPath::normalise("e\u{301}").unwrap().as_str(), "\u{e9}");
        assert!(RelPath::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn link_targets_must_stay_inside() {
        let l = RelPath::parse("lib/libx.so").unwrap();
        assert!(link_target(&l, "libx.so.1").is_ok());
        assert!(link_target(&l, "../bin/app").is_ok());
        assert!(link_target(&l, "../../etc/passwd").is_err());
        assert!(link_target(&l, "/etc/passwd").is_err());
        let top = RelPath::parse("current").unwrap();
        assert!(link_target(&top, "..").is_err());
        assert!(link_target(&top, "bin").is_ok());
    }

    #[test]
    fn within_and_parent() {
        let a = RelPath::parse("a").unwrap();
        assert!(RelPath::parse("a/b").unwrap().is_within(&a));
        assert!(!RelPath::parse("ab").unwrap().is_within(&a));
        assert_eq!(
            RelPath::parse("a/b/c").unwrap().parent().unwrap().as_str(),
            "a/b"
        );
        assert_eq!(a.parent(), None);
    }
}
