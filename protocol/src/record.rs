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
use crate::limits::{
    MAX_CHANNEL_BYTES, MAX_PLATFORMS, MAX_PLATFORM_BYTES, MAX_RECORD_BYTES, MAX_VERSION_BYTES,
};
use crate::note;
use crate::root::{AppId, AppRoot};

const RELEASE_HEADER: &str = "quince release v1";
/// Releases with a channel other than stable, a rollout below 100%, or a
/// version with a pre-release or build part. Clients from before channels
/// cannot read these and skip them, so they never install a beta or a
/// release that is still rolling out.
const RELEASE_HEADER_V2: &str = "quince release v2";
const ROTATION_HEADER: &str = "quince rotation v1";
/// Domain separation for the new group's signature over a rotated root.
const ROTATION_SIGNING_DOMAIN: &[u8] = b"quince root rotation v1\n";

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

/// What the log says about one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    /// The app this release belongs to.
    pub app: AppId,
    /// Its version. The first record of a version sets its manifest,
    /// platforms and size; later records of the same version (a promotion to
    /// another channel, a rollout step) repeat them and change only the
    /// channel, rollout and time. A new version is greater than every
    /// version already offered on its channel.
    pub version: Version,
    /// The channel it is offered on (`stable` unless said).
    pub channel: Channel,
    /// Who on that channel is offered it (100% unless said; 0% halts it).
    pub rollout: Rollout,
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

    /// True if the record is written in format 1, which clients from
    /// before channels read: stable, 100%, a plain version.
    pub fn is_format_1(&self) -> bool {
        self.channel.is_stable() && self.rollout.is_full() && self.version.is_plain()
    }

    fn to_text(&self) -> String {
        let platforms: Vec<&str> = self.platforms.iter().map(Platform::as_str).collect();
        let (header, offer) = if self.is_format_1() {
            (RELEASE_HEADER, String::new())
        } else {
            (
                RELEASE_HEADER_V2,
                format!(
                    "channel {}\nrollout {}\n",
                    self.channel,
                    self.rollout.as_percent()
                ),
            )
        };
        format!(
            "{header}\napp {}\nversion {}\n{offer}platforms {}\nmanifest {}\nsize {}\ntime {}\n",
            self.app,
            self.version,
            platforms.join(" "),
            self.manifest.to_hex(),
            self.size,
            self.time
        )
    }

    fn parse_lines(mut lines: Lines<'_>, format: u8) -> Result<Self, DecodeError> {
        let app = lines.field("app")?.parse()?;
        let version: Version = lines.field("version")?.parse()?;
        let (channel, rollout) = if format == 2 {
            let channel: Channel = lines.field("channel")?.parse()?;
            let percent = codec::parse_decimal(lines.field("rollout")?, "rollout")?;
            let rollout = u8::try_from(percent)
                .ok()
                .and_then(Rollout::percent)
                .ok_or_else(|| {
                    DecodeError::invalid("rollout", format!("{percent} is above 100"))
                })?;
            (channel, rollout)
        } else {
            (Channel::stable(), Rollout::FULL)
        };
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
            channel,
            rollout,
            platforms,
            manifest,
            size,
            time,
        };
        record.check()?;
        // One encoding per record: format 2 only for what format 1 cannot say.
        match (format, record.is_format_1()) {
            (2, true) => Err(DecodeError::non_canonical(
                "release record",
                "a stable, 100%, plain-version release is written in format 1",
            )),
            (1, false) => Err(DecodeError::invalid(
                "version",
                format!(
                    "{} has a pre-release or build part, which format 1 cannot hold",
                    record.version
                ),
            )),
            _ => Ok(record),
        }
    }
}

/// The rules release records keep across a log, applied one record at a
/// time: a version keeps its bytes (manifest, platforms, size) in every
/// record of it; a version comes to a channel only above every version
/// already there; a record of a version already on a channel changes its
/// rollout; two versions never differ only in build metadata. The packager
/// refuses a record that breaks them; an audit reports it.
#[derive(Debug, Default, Clone)]
pub struct ReleaseRules {
    /// Each version's first record.
    first: Vec<ReleaseRecord>,
    /// The newest record of each (version, channel).
    offered: Vec<ReleaseRecord>,
}

impl ReleaseRules {
    /// Takes `r` as part of the log (after [`ReleaseRules::check`]).
    pub fn add(&mut self, r: ReleaseRecord) {
        if !self.first.iter().any(|f| f.version == r.version) {
            self.first.push(r.clone());
        }
        self.offered
            .retain(|o| !(o.version == r.version && o.channel == r.channel));
        self.offered.push(r);
    }

    /// The rules a release record meets: a version keeps its bytes; a version
    /// comes to a channel only above every version already there; a record
    /// changes something.
    /// Why `r` may not follow the records added so far, if it may not.
    pub fn check(&self, r: &ReleaseRecord) -> Result<(), String> {
        if let Some(first) = self.first.iter().find(|f| f.version == r.version) {
            if (&first.manifest, &first.platforms, first.size)
                != (&r.manifest, &r.platforms, r.size)
            {
                return Err(format!(
                    "version {} was released as manifest {} ({} bytes); a later record of it \
                     (a promotion or rollout step) must name the same manifest, platforms and size",
                    r.version,
                    first.manifest.to_hex(),
                    first.size
                ));
            }
        } else if let Some(same) = self
            .first
            .iter()
            .find(|f| f.version.precedence(&r.version).is_eq())
        {
            return Err(format!(
                "version {} differs from the released {} only in build metadata, which \
                 does not order versions",
                r.version, same.version
            ));
        }
        let on_channel = self.offered.iter().filter(|o| o.channel == r.channel);
        if let Some(now) = on_channel.clone().find(|o| o.version == r.version) {
            if now.rollout == r.rollout {
                return Err(format!(
                    "version {} is already offered on {} to {}",
                    r.version, r.channel, r.rollout
                ));
            }
            return Ok(());
        }
        if let Some(newest) = on_channel.map(|o| o.version).max() {
            if r.version.precedence(&newest).is_le() {
                return Err(format!(
                    "version {} is not greater than the newest on channel {}, {newest}",
                    r.version, r.channel
                ));
            }
        }
        Ok(())
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

/// One entry of an app's log. (Releases, the common entry, are kept inline:
/// a version carries its text inline to stay `Copy`, so this variant is
/// the large one.)
#[allow(clippy::large_enum_variant)]
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
            ReleaseRecord::parse_lines(lines, 1).map(LogEntry::Release)
        } else if header == RELEASE_HEADER_V2 {
            lines.exact(RELEASE_HEADER_V2)?;
            ReleaseRecord::parse_lines(lines, 2).map(LogEntry::Release)
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
    use rand::{Rng as _, SeedableRng as _};

    use super::*;
    use crate::root::tests::sample_root;

    pub(crate) fn sample_release(app: AppId, version: &str) -> ReleaseRecord {
        ReleaseRecord {
            app,
            version: version.parse().unwrap(),
            channel: Channel::stable(),
            rollout: Rollout::FULL,
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

    #[test]
    fn channel_and_rollout_records_use_format_2_and_round_trip() {
        let (root, _) = sample_root("Example", 1);
        let mut record = sample_release(root.app_id(), "2.0.0-beta.1");
        record.channel = "beta".parse().unwrap();
        record.rollout = Rollout::percent(10).unwrap();
        let bytes = LogEntry::Release(record.clone()).to_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.starts_with("quince release v2\napp ")
                && text.contains("\nversion 2.0.0-beta.1\nchannel beta\nrollout 10\nplatforms "),
            "{text}"
        );
        assert_eq!(
            LogEntry::from_bytes(&bytes).unwrap(),
            LogEntry::Release(record.clone())
        );
        // Each part alone needs format 2; the defaults alone are format 1.
        let stable = sample_release(root.app_id(), "2.0.0");
        assert!(stable.is_format_1());
        for change in [
            |r: &mut ReleaseRecord| r.channel = "nightly".parse().unwrap(),
            |r: &mut ReleaseRecord| r.rollout = Rollout::HALTED,
            |r: &mut ReleaseRecord| r.version = "2.0.0+b1".parse().unwrap(),
        ] {
            let mut r = stable.clone();
            change(&mut r);
            let bytes = LogEntry::Release(r.clone()).to_bytes();
            assert!(bytes.starts_with(b"quince release v2\n"));
            assert_eq!(LogEntry::from_bytes(&bytes).unwrap(), LogEntry::Release(r));
        }
        for (bad, expect) in [
            (text.replace("rollout 10", "rollout 101"), "above 100"),
            (text.replace("rollout 10", "rollout 010"), "non-canonical"),
            (text.replace("channel beta", "channel Beta"), "channel"),
            (
                text.replace("channel beta", "channel stable")
                    .replace("rollout 10", "rollout 100")
                    .replace("2.0.0-beta.1", "2.0.0"),
                "format 1",
            ),
        ] {
            let err = LogEntry::from_bytes(bad.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{bad:?}: {err}");
        }
    }

    /// 10% of 200 installs, the same ones every time; raising to 50% keeps
    /// them; a halt takes no one; another version picks other installs.
    #[test]
    fn rollouts_pick_a_stable_share_of_installs() {
        let (root, _) = sample_root("Example", 1);
        let app = root.app_id();
        let v = Version::new(2, 0, 0);
        let installs: Vec<[u8; 16]> = (0u64..200)
            .map(|i| {
                let mut id = [0u8; 16];
                id.copy_from_slice(&Hash::of(&i.to_be_bytes()).0[..16]);
                id
            })
            .collect();
        let pick = |percent: u8, v: &Version| -> Vec<usize> {
            let rollout = Rollout::percent(percent).unwrap();
            (0..installs.len())
                .filter(|&i| rollout.includes(&installs[i], &app, v))
                .collect()
        };
        let ten = pick(10, &v);
        assert!((12..=28).contains(&ten.len()), "{} of 200", ten.len());
        assert_eq!(pick(10, &v), ten, "the same installs every time");
        let fifty = pick(50, &v);
        assert!((80..=120).contains(&fifty.len()), "{} of 200", fifty.len());
        assert!(
            ten.iter().all(|i| fifty.contains(i)),
            "a raise keeps everyone in"
        );
        assert!(pick(0, &v).is_empty());
        assert_eq!(pick(100, &v).len(), 200);
        let other = pick(10, &Version::new(2, 0, 1));
        assert_ne!(other, ten, "each version draws anew");
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
                good.replace("quince release v1", "quince release v3"),
                "unknown entry type",
            ),
            (
                good.replace("quince release v1", "quince release v2"),
                "missing line `channel`",
            ),
            (
                good.replace("version 1.2.3", "version 1.2.3-rc.1"),
                "format 1",
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
