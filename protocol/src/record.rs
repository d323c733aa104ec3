//! Log entries: release records and signer-rotation records.
//!
//! Each entry is canonical UTF-8 text, one `key value` line per field in a fixed
//! order, so that an auditor can read the log's entry bundles with any tool and
//! every record has exactly one encoding. Parsing is strict: every line in its
//! place, once, with canonical numbers and hex. Whether a record may be trusted
//! is decided by `state` (inclusion in a verified checkpoint).

use std::str::FromStr;

use ed25519_dalek::VerifyingKey;

use crate::codec::{self, Decode, DecodeError, Encode, Lines};
use crate::hash::Hash;
use crate::limits::{MAX_PLATFORMS, MAX_RECORD_BYTES};
use crate::note;
use crate::root::{AppId, AppRoot};

mod fields;
pub use fields::{rollout_bucket, Channel, Platform, Rollout, Version};

const RELEASE_HEADER: &str = "quince release v1";
/// Releases with a channel other than stable, a rollout below 100%, or a
/// version with a pre-release or build part. Clients from before channels
/// cannot read these and skip them, so they never install a beta or a
/// release that is still rolling out.
const RELEASE_HEADER_V2: &str = "quince release v2";
const ROTATION_HEADER: &str = "quince rotation v1";
/// Domain separation for the new group's signature over a rotated root.
const ROTATION_SIGNING_DOMAIN: &[u8] = b"quince root rotation v1\n";

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
