//! Log entries: release records and signer-rotation records.
//!
//! Each entry is canonical UTF-8 text, one `key value` line per field in a fixed
//! order, so that an auditor can read the log's entry bundles with any tool and
//! every record has exactly one encoding. Parsing is strict: every line in its
//! place, once, with canonical numbers and hex. Whether a record may be trusted
//! is decided by `state` (inclusion in a verified checkpoint).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;

use crate::codec::{self, Decode, DecodeError, Encode, Lines};
use crate::hash::Hash;
use crate::limits::{MAX_PLATFORMS, MAX_PLATFORM_BYTES, MAX_RECORD_BYTES, MAX_VERSION_BYTES};
use crate::note;
use crate::root::{AppId, AppRoot};

const RELEASE_HEADER: &str = "quince release v1";
const ROTATION_HEADER: &str = "quince rotation v1";
/// Domain separation for the new group's signature over a rotated root.
const ROTATION_SIGNING_DOMAIN: &[u8] = b"quince root rotation v1\n";

/// A release version: `MAJOR.MINOR.PATCH`, compared numerically.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Version {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Patch number.
    pub patch: u32,
}

impl Version {
    /// A version from its three numbers.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({self})")
    }
}

impl FromStr for Version {
    type Err = DecodeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        codec::check_len("version", text.len(), MAX_VERSION_BYTES)?;
        let parts: Vec<&str> = text.split('.').collect();
        let [major, minor, patch] = parts.as_slice() else {
            return Err(DecodeError::invalid(
                "version",
                format!("`{text}` is not MAJOR.MINOR.PATCH"),
            ));
        };
        let number = |s: &str| -> Result<u32, DecodeError> {
            let n = codec::parse_decimal(s, "version")?;
            u32::try_from(n)
                .map_err(|_| DecodeError::invalid("version", format!("{n} is above 2^32")))
        };
        Ok(Version::new(number(major)?, number(minor)?, number(patch)?))
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

/// What the log says about one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    /// The app this release belongs to.
    pub app: AppId,
    /// Its version; strictly greater than every earlier release in the log.
    pub version: Version,
    /// Platforms it serves: non-empty, sorted, no duplicates.
    pub platforms: Vec<Platform>,
    /// SHA-256 of the release's canonical manifest.
    pub manifest: Hash,
    /// Total size of the release's files in bytes.
    pub size: u64,
    /// When it was made, in seconds since the Unix epoch (informational only).
    pub time: u64,
}

impl ReleaseRecord {
    /// Checks the rules that a parsed record must meet.
    pub fn check(&self) -> Result<(), DecodeError> {
        if self.platforms.is_empty() {
            return Err(DecodeError::invalid(
                "platforms",
                "a release serves at least one platform",
            ));
        }
        codec::check_len("platforms", self.platforms.len(), MAX_PLATFORMS)?;
        if self.platforms.windows(2).any(|w| w[0] >= w[1]) {
            return Err(DecodeError::non_canonical(
                "platforms",
                "must be sorted and unique",
            ));
        }
        Ok(())
    }

    /// True if this release serves `platform` (a release for `any` serves every platform).
    pub fn serves(&self, platform: &Platform) -> bool {
        self.platforms.binary_search(platform).is_ok()
            || self.platforms.iter().any(|p| p.as_str() == Platform::ANY)
    }

    fn to_text(&self) -> String {
        let platforms: Vec<&str> = self.platforms.iter().map(Platform::as_str).collect();
        format!(
            "{RELEASE_HEADER}\napp {}\nversion {}\nplatforms {}\nmanifest {}\nsize {}\ntime {}\n",
            self.app,
            self.version,
            platforms.join(" "),
            self.manifest.to_hex(),
            self.size,
            self.time
        )
    }

    fn parse_lines(mut lines: Lines<'_>) -> Result<Self, DecodeError> {
        let app = lines.field("app")?.parse()?;
        let version = lines.field("version")?.parse()?;
        let platforms = lines
            .field("platforms")?
            .split(' ')
            .map(Platform::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        let manifest = Hash::from_hex(lines.field("manifest")?, "manifest hash")?;
        let size = codec::parse_decimal(lines.field("size")?, "size")?;
        let time = codec::parse_decimal(lines.field("time")?, "time")?;
        lines.finish("release record")?;
        let record = ReleaseRecord {
            app,
            version,
            platforms,
            manifest,
            size,
            time,
        };
        record.check()?;
        Ok(record)
    }
}

/// A change of the signer set: the new root, signed by the new group key.
///
/// The old group accepts it by signing the checkpoint that contains it; see
/// `state::TrustedState::apply_rotation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationRecord {
    /// The app whose signers change (its id does not change).
    pub app: AppId,
    /// The new root.
    pub root: AppRoot,
    /// Ed25519 signature by the new group key over [`rotation_message`].
    pub root_signature: [u8; 64],
}

impl RotationRecord {
    /// True if the new group key signed this new root for this app.
    pub fn new_root_signature_is_valid(&self) -> bool {
        let message = rotation_message(&self.app, &self.root);
        note::verify_ed25519_strict(self.root.group_key(), &message, &self.root_signature)
    }

    fn to_text(&self) -> String {
        format!(
            "{ROTATION_HEADER}\napp {}\nroot {}\nroot-signature {}\n",
            self.app,
            codec::to_base64(&self.root.to_bytes()),
            codec::to_base64(&self.root_signature)
        )
    }

    fn parse_lines(mut lines: Lines<'_>) -> Result<Self, DecodeError> {
        let app = lines.field("app")?.parse()?;
        let root_bytes = codec::parse_base64(lines.field("root")?, MAX_RECORD_BYTES, "root")?;
        let root = AppRoot::from_bytes(&root_bytes)?;
        let root_signature =
            codec::parse_base64_array::<64>(lines.field("root-signature")?, "root signature")?;
        lines.finish("rotation record")?;
        Ok(RotationRecord {
            app,
            root,
            root_signature,
        })
    }
}

/// The message the new group signs to accept a rotation: domain, app id, new root.
pub fn rotation_message(app: &AppId, root: &AppRoot) -> Vec<u8> {
    let mut out = ROTATION_SIGNING_DOMAIN.to_vec();
    out.extend_from_slice(&app.0);
    out.extend_from_slice(&root.to_bytes());
    out
}

/// One entry of an app's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// A release.
    Release(ReleaseRecord),
    /// A signer rotation (boxed: it carries a whole root).
    Rotation(Box<RotationRecord>),
}

impl LogEntry {
    /// The app the entry belongs to.
    pub fn app(&self) -> &AppId {
        match self {
            LogEntry::Release(r) => &r.app,
            LogEntry::Rotation(r) => &r.app,
        }
    }

    /// The group key a rotation installs, if this entry is one.
    pub fn rotation_key(&self) -> Option<&VerifyingKey> {
        match self {
            LogEntry::Rotation(r) => Some(r.root.group_key()),
            LogEntry::Release(_) => None,
        }
    }
}

impl Encode for LogEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        let text = match self {
            LogEntry::Release(r) => r.to_text(),
            LogEntry::Rotation(r) => r.to_text(),
        };
        out.extend_from_slice(text.as_bytes());
    }
}

impl Decode for LogEntry {
    const WHAT: &'static str = "log entry";

    /// Reads the rest of the reader as one entry (entries are framed by the bundle).
    fn decode(r: &mut codec::Reader<'_>) -> Result<Self, DecodeError> {
        codec::check_len("log entry", r.remaining(), MAX_RECORD_BYTES)?;
        let bytes = r.take(r.remaining(), "log entry")?;
        let text = std::str::from_utf8(bytes)
            .map_err(|_| DecodeError::invalid("log entry", "not UTF-8"))?;
        let mut lines = Lines::new(text, MAX_RECORD_BYTES, "log entry")?;
        let header = text.split('\n').next().unwrap_or_default();
        if header == RELEASE_HEADER {
            lines.exact(RELEASE_HEADER)?;
            ReleaseRecord::parse_lines(lines).map(LogEntry::Release)
        } else if header == ROTATION_HEADER {
            lines.exact(ROTATION_HEADER)?;
            RotationRecord::parse_lines(lines).map(|r| LogEntry::Rotation(Box::new(r)))
        } else {
            Err(DecodeError::invalid(
                "log entry",
                format!(
                    "unknown entry type `{}`",
                    header.chars().take(40).collect::<String>()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::Signer as _;

    use super::*;
    use crate::root::tests::sample_root;

    pub(crate) fn sample_release(app: AppId, version: &str) -> ReleaseRecord {
        ReleaseRecord {
            app,
            version: version.parse().unwrap(),
            platforms: vec![
                "linux-aarch64".parse().unwrap(),
                "linux-x86_64".parse().unwrap(),
            ],
            manifest: Hash::of(version.as_bytes()),
            size: 123_456,
            time: 1_764_000_000,
        }
    }

    #[test]
    fn release_record_round_trips_as_readable_text() {
        let (root, _) = sample_root("Example", 1);
        let entry = LogEntry::Release(sample_release(root.app_id(), "1.2.3"));
        let bytes = entry.to_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with("quince release v1\napp "));
        assert!(text.contains("\nversion 1.2.3\nplatforms linux-aarch64 linux-x86_64\n"));
        assert_eq!(LogEntry::from_bytes(&bytes).unwrap(), entry);
    }

    #[test]
    fn rotation_record_round_trips_and_checks_the_new_group_signature() {
        let (old, _) = sample_root("Example", 1);
        let (new, new_key) = sample_root("Example", 9);
        let app = old.app_id();
        let sig = new_key.sign(&rotation_message(&app, &new));
        let record = RotationRecord {
            app,
            root: new.clone(),
            root_signature: sig.to_bytes(),
        };
        assert!(record.new_root_signature_is_valid());
        let entry = LogEntry::Rotation(Box::new(record.clone()));
        assert_eq!(LogEntry::from_bytes(&entry.to_bytes()).unwrap(), entry);

        let mut other_app = record.clone();
        other_app.app = AppId([0; 32]);
        assert!(!other_app.new_root_signature_is_valid());
    }

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

    #[test]
    fn bad_records_get_specific_errors() {
        let (root, _) = sample_root("Example", 1);
        let good =
            String::from_utf8(LogEntry::Release(sample_release(root.app_id(), "1.2.3")).to_bytes())
                .unwrap();
        let cases: Vec<(String, &str)> = vec![
            (good.replace("size 123456\n", ""), "missing line `size`"),
            (
                good.replace("size 123456\n", "size 123456\nsize 123456\n"),
                "duplicate line `size`",
            ),
            (good.replace("size 123456", "size 0123456"), "non-canonical"),
            (
                good.replace("linux-aarch64 linux-x86_64", "linux-x86_64 linux-aarch64"),
                "sorted",
            ),
            (
                good.replace("linux-aarch64 linux-x86_64", "linux-x86_64 linux-x86_64"),
                "sorted",
            ),
            (
                good.replace("linux-aarch64 linux-x86_64", "Linux"),
                "platform",
            ),
            (format!("{good}extra 1\n"), "trailing"),
            (good.trim_end().to_string(), "newline"),
            (
                good.replace("quince release v1", "quince release v2"),
                "unknown entry type",
            ),
            (
                good.replace("version 1.2.3", "version  1.2.3"),
                "non-canonical",
            ),
            (good.replacen("app ", "app X", 1), "app id"),
            (good.replace("\ntime", "\r\ntime"), "control character"),
        ];
        for (bad, expect) in cases {
            let err = LogEntry::from_bytes(bad.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{bad:?}: {err}");
        }
        let huge = vec![b'a'; MAX_RECORD_BYTES + 1];
        assert!(matches!(
            LogEntry::from_bytes(&huge),
            Err(DecodeError::TooLong { .. })
        ));
    }
}
