//! The named values of a release record: its version (Semantic Versioning
//! 2.0, held inline so it stays `Copy`), the platforms it serves, the
//! channel it is offered on and its rollout share, each with a strict,
//! bounded parser.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::codec::{self, DecodeError};
use crate::hash::Hash;
use crate::limits::{MAX_CHANNEL_BYTES, MAX_PLATFORM_BYTES, MAX_VERSION_BYTES};
use crate::root::AppId;

/// The longest pre-release plus build text a [`Version`] holds inline: the
/// whole text minus the shortest core (`0.0.0`) and one separator.
const TAIL_BYTES: usize = MAX_VERSION_BYTES - 6;

/// A release version with Semantic Versioning 2.0's rules:
/// `MAJOR.MINOR.PATCH`, an optional pre-release (`-beta.2`) and optional build
/// metadata (`+linux.42`), at most [`MAX_VERSION_BYTES`] in all.
///
/// Ordering is SemVer precedence (numbers numerically; a pre-release comes
/// before its release; pre-release identifiers compared one by one, numeric
/// ones numerically and before alphanumeric ones, a shorter list first), with
/// build metadata, which precedence ignores, compared bytewise only to break
/// ties, so that the order is total and agrees with `==`.
/// [`Version::precedence`] gives SemVer's own comparison.
///
/// The text lives inline, so a version stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Patch number.
    pub patch: u32,
    /// Pre-release text, then build text, then zeros.
    tail: [u8; TAIL_BYTES],
    pre_len: u8,
    build_len: u8,
}

impl Default for Version {
    fn default() -> Self {
        Version::new(0, 0, 0)
    }
}

impl Version {
    /// A release version from its three numbers (no pre-release, no build).
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
            tail: [0; TAIL_BYTES],
            pre_len: 0,
            build_len: 0,
        }
    }

    /// The pre-release part without its `-` (`beta.2`), or "".
    pub fn pre(&self) -> &str {
        std::str::from_utf8(&self.tail[..usize::from(self.pre_len)]).unwrap_or_default()
    }

    /// The build metadata without its `+`, or "".
    pub fn build(&self) -> &str {
        let start = usize::from(self.pre_len);
        std::str::from_utf8(&self.tail[start..start + usize::from(self.build_len)])
            .unwrap_or_default()
    }

    /// True for a pre-release such as `2.0.0-rc.1`.
    pub fn is_prerelease(&self) -> bool {
        self.pre_len > 0
    }

    /// True if the version is plain `MAJOR.MINOR.PATCH` (what format-1 records hold).
    pub fn is_plain(&self) -> bool {
        self.pre_len == 0 && self.build_len == 0
    }

    /// SemVer 2.0 precedence: build metadata ignored.
    pub fn precedence(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre(), other.pre()) {
                ("", "") => Ordering::Equal,
                ("", _) => Ordering::Greater,
                (_, "") => Ordering::Less,
                (a, b) => compare_pre(a, b),
            })
    }
}

/// Compares two pre-release texts identifier by identifier (SemVer 2.0, item 11).
fn compare_pre(a: &str, b: &str) -> Ordering {
    let numeric = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        return match (left.next(), right.next()) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (numeric(x), numeric(y)) {
                    // No leading zeros: a longer number is a bigger one.
                    (true, true) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => x.cmp(y),
                };
                if order == Ordering::Equal {
                    continue;
                }
                order
            }
        };
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.precedence(other)
            .then_with(|| self.build().cmp(other.build()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if self.pre_len > 0 {
            write!(f, "-{}", self.pre())?;
        }
        if self.build_len > 0 {
            write!(f, "+{}", self.build())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({self})")
    }
}

/// Checks dot-separated identifiers of `[0-9A-Za-z-]`; numeric ones in a
/// pre-release must not have leading zeros.
fn check_identifiers(text: &str, what: &str, whole: &str) -> Result<(), DecodeError> {
    for id in text.split('.') {
        if id.is_empty() {
            return Err(DecodeError::invalid(
                "version",
                format!("`{whole}`: an empty {what} identifier"),
            ));
        }
        if let Some(c) = id.chars().find(|c| !c.is_ascii_alphanumeric() && *c != '-') {
            return Err(DecodeError::invalid(
                "version",
                format!("`{whole}`: {c:?} in the {what} (letters, digits, `-` and `.` only)"),
            ));
        }
        if what == "pre-release"
            && id.len() > 1
            && id.starts_with('0')
            && id.bytes().all(|c| c.is_ascii_digit())
        {
            return Err(DecodeError::invalid(
                "version",
                format!("`{whole}`: the number {id} in the pre-release has a leading zero"),
            ));
        }
    }
    Ok(())
}

impl FromStr for Version {
    type Err = DecodeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        codec::check_len("version", text.len(), MAX_VERSION_BYTES)?;
        let (rest, build) = match text.split_once('+') {
            Some((r, b)) => (r, Some(b)),
            None => (text, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (rest, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        let [major, minor, patch] = parts.as_slice() else {
            return Err(DecodeError::invalid(
                "version",
                format!("`{text}` is not MAJOR.MINOR.PATCH[-PRE][+BUILD]"),
            ));
        };
        let number = |s: &str| -> Result<u32, DecodeError> {
            let n = codec::parse_decimal(s, "version")?;
            u32::try_from(n)
                .map_err(|_| DecodeError::invalid("version", format!("{n} is above 2^32")))
        };
        let mut version = Version::new(number(major)?, number(minor)?, number(patch)?);
        let pre = pre.unwrap_or_default();
        let build = build.unwrap_or_default();
        if let Some(p) = rest.split_once('-').map(|(_, p)| p) {
            check_identifiers(p, "pre-release", text)?;
        }
        if text.contains('+') {
            check_identifiers(build, "build metadata", text)?;
        }
        // Both fit: the whole text is at most MAX_VERSION_BYTES.
        let tail = [pre.as_bytes(), build.as_bytes()].concat();
        version.tail[..tail.len()].copy_from_slice(&tail);
        version.pre_len = u8::try_from(pre.len()).unwrap_or(u8::MAX);
        version.build_len = u8::try_from(build.len()).unwrap_or(u8::MAX);
        Ok(version)
    }
}

/// A platform a release serves, such as `linux-x86_64`: `[a-z0-9_-]`, 1 to 32 bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Platform(String);

impl Platform {
    /// The platform name of a release that runs everywhere.
    pub const ANY: &'static str = "any";

    /// The platform this program was built for, such as `linux-x86_64`.
    pub fn current() -> Platform {
        Platform(format!(
            "{}-{}",
            std::env::consts::OS,
            std::env::consts::ARCH
        ))
    }

    /// The platform's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Platform {
    type Err = DecodeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        codec::check_len("platform", text.len(), MAX_PLATFORM_BYTES)?;
        let ok = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(DecodeError::invalid(
                "platform",
                format!("`{text}` is not [a-z0-9_-]+"),
            ));
        }
        Ok(Platform(text.to_string()))
    }
}

/// A release channel, such as `stable` or `beta`: `[a-z0-9-]`, 1 to 32 bytes.
/// A client follows one; `stable` is the default.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Channel(String);

impl Channel {
    /// The default channel's name.
    pub const STABLE: &'static str = "stable";

    /// The default channel.
    pub fn stable() -> Channel {
        Channel(Channel::STABLE.to_string())
    }

    /// True for `stable`.
    pub fn is_stable(&self) -> bool {
        self.0 == Channel::STABLE
    }

    /// The channel's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a client following `self` is offered what the log offers on
    /// `offered`: its own channel, and stable releases on every channel (a
    /// beta tester gets a newer stable release too).
    pub fn takes(&self, offered: &Channel) -> bool {
        offered == self || offered.is_stable()
    }
}

impl Default for Channel {
    fn default() -> Self {
        Channel::stable()
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Channel {
    type Err = DecodeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        codec::check_len("channel", text.len(), MAX_CHANNEL_BYTES)?;
        let ok = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(DecodeError::invalid(
                "channel",
                format!("`{text}` is not [a-z0-9-]+"),
            ));
        }
        Ok(Channel(text.to_string()))
    }
}

/// Who is offered a release on its channel: a percentage of installs, each
/// install in or out by [`Rollout::includes`]. 100 is everyone, 0 a halt.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Rollout(u8);

impl Rollout {
    /// Everyone.
    pub const FULL: Rollout = Rollout(100);
    /// No one more: the release is halted.
    pub const HALTED: Rollout = Rollout(0);

    /// `percent` of installs; `None` above 100.
    pub const fn percent(percent: u8) -> Option<Rollout> {
        if percent <= 100 {
            Some(Rollout(percent))
        } else {
            None
        }
    }

    /// The percentage.
    pub fn as_percent(self) -> u8 {
        self.0
    }

    /// True for a halt (0%).
    pub fn is_halted(self) -> bool {
        self.0 == 0
    }

    /// True for 100%.
    pub fn is_full(self) -> bool {
        self.0 == 100
    }

    /// Whether the install `install` (a random id each install keeps) is
    /// among those offered `version` of `app`: the same answer every time for
    /// the same three, independent between versions, and a raise from N% to
    /// M% keeps everyone who was in.
    pub fn includes(self, install: &[u8; 16], app: &AppId, version: &Version) -> bool {
        u32::from(self.0) * 100 > rollout_bucket(install, app, version)
    }
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout::FULL
    }
}

impl fmt::Display for Rollout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// An install's place, 0 to 9,999, in the rollout order of one release:
/// SHA-256 over a domain string, the install id, the app id and the version
/// text, first eight bytes as a big-endian number, modulo 10,000.
pub fn rollout_bucket(install: &[u8; 16], app: &AppId, version: &Version) -> u32 {
    let mut input = b"quince rollout v1\n".to_vec();
    input.extend_from_slice(install);
    input.extend_from_slice(&app.0);
    input.extend_from_slice(version.to_string().as_bytes());
    let digest = Hash::of(&input);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.0[..8]);
    (u64::from_be_bytes(first) % 10_000) as u32
}

#[cfg(test)]
mod tests {
    use rand::{Rng as _, SeedableRng as _};

    use super::*;

    #[test]
    fn versions_compare_numerically_and_parse_strictly() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert!(v("1.10.0") > v("1.9.9"));
        assert!(v("2.0.0") > v("1.99.99"));
        for bad in [
            "1.0",
            "1.0.0.0",
            "01.0.0",
            "1.0.-1",
            "1..0",
            "v1.0.0",
            "1.0.0 ",
            "4294967296.0.0",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
    }

    /// SemVer 2.0's own example order, and random versions, sorted by our
    /// precedence and by the `semver` crate's: the same order.
    #[test]
    fn precedence_agrees_with_the_semver_crate() {
        let spec = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1-0",
            "1.0.1-1",
            "1.0.1-1a",
            "1.0.1-a-b",
            "1.0.1",
            "2.0.0-9.a",
            "2.0.0-10",
            "2.0.0",
        ];
        let ours: Vec<Version> = spec.iter().map(|t| t.parse().unwrap()).collect();
        for pair in ours.windows(2) {
            assert_eq!(pair[0].precedence(&pair[1]), Ordering::Less, "{pair:?}");
            assert!(pair[0] < pair[1]);
        }
        // Every pair of these and of random versions against the crate.
        let mut rng = rand::rngs::StdRng::seed_from_u64(20);
        let ids = [
            "alpha", "beta", "rc", "0", "1", "2", "10", "11", "a-b", "x1",
        ];
        let mut texts: Vec<String> = spec.iter().map(|s| s.to_string()).collect();
        for _ in 0..300 {
            let mut t = format!(
                "{}.{}.{}",
                rng.gen_range(0..3),
                rng.gen_range(0..3),
                rng.gen_range(0..3)
            );
            if rng.gen_bool(0.7) {
                let n = rng.gen_range(1..4);
                let pre: Vec<&str> = (0..n).map(|_| ids[rng.gen_range(0..ids.len())]).collect();
                t = format!("{t}-{}", pre.join("."));
            }
            if rng.gen_bool(0.3) {
                t = format!("{t}+b{}", rng.gen_range(0..3));
            }
            texts.push(t);
        }
        for a in &texts {
            let (va, sa): (Version, semver::Version) = (a.parse().unwrap(), a.parse().unwrap());
            assert_eq!(va.to_string(), *a);
            for b in &texts {
                let (vb, sb): (Version, semver::Version) = (b.parse().unwrap(), b.parse().unwrap());
                assert_eq!(va.precedence(&vb), sa.cmp_precedence(&sb), "{a} vs {b}");
                // The total order agrees with equality.
                assert_eq!(va.cmp(&vb) == Ordering::Equal, va == vb, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn pre_releases_and_build_parts_parse_strictly() {
        let v: Version = "2.0.0-rc.1+linux.042".parse().unwrap();
        assert_eq!((v.pre(), v.build()), ("rc.1", "linux.042"));
        assert!(v.is_prerelease() && !v.is_plain());
        assert!(Version::new(1, 2, 3).is_plain());
        for bad in [
            "1.0.0-",
            "1.0.0+",
            "1.0.0-rc..1",
            "1.0.0-01",
            "1.0.0-rc_1",
            "1.0.0+build!",
            "1.0.0-é",
            &format!("1.0.0-{}", "a".repeat(43)),
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
            assert!(
                bad.parse::<semver::Version>().is_err() || bad.len() > MAX_VERSION_BYTES,
                "{bad}: the crate takes it"
            );
        }
    }
}
