//! The app root (who may sign an app's log) and the app id derived from it.
//!
//! A root names the FROST group public key, each participant's verifying share,
//! the threshold and a human name. Its binary encoding is canonical, and the app
//! id is a domain-separated SHA-256 of the *first* root's encoding, so it never
//! changes when the signers rotate. The log's origin line and note key name are
//! derived from the app id, so no app's checkpoint passes for another's.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;

use crate::codec::{self, Decode, DecodeError, Encode, Reader};
use crate::hash::Hash;
use crate::limits::{MAX_APP_NAME_BYTES, MAX_PARTICIPANTS, MAX_ROOT_BYTES};
use crate::note::{self, Ed25519Verifier};

/// Magic and version at the start of an encoded root.
const ROOT_MAGIC: &[u8; 8] = b"QROOT\x00\x00\x01";
/// Domain separation for the app id hash.
const APP_ID_DOMAIN: &[u8] = b"quince app id v1\n";
/// Prefix of every Quince log origin (and of the note key name).
pub const ORIGIN_PREFIX: &str = "quince.app/";

/// An app's identity: SHA-256 over its first root. Spelled as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(pub [u8; 32]);

impl AppId {
    /// The checkpoint origin (and note key name) of this app's log.
    pub fn origin(&self) -> String {
        format!("{ORIGIN_PREFIX}{self}")
    }

    /// The DHT key under which peers that hold this app announce themselves: a
    /// SHA-256 multihash (`0x12 0x20` + digest, the only key shape public libp2p
    /// DHTs accept) of a domain-separated hash of the app id, so DHT nodes never
    /// see the app id itself.
    pub fn provider_key(&self) -> [u8; 34] {
        let digest = Hash::of_parts(&[b"quince provider v1\n", &self.0]);
        let mut key = [0u8; 34];
        key[0] = 0x12;
        key[1] = 0x20;
        key[2..].copy_from_slice(&digest.0);
        key
    }

    /// The app id named by an origin line, if it is a Quince origin.
    pub fn from_origin(origin: &str) -> Result<AppId, DecodeError> {
        let hex_text = origin.strip_prefix(ORIGIN_PREFIX).ok_or_else(|| {
            DecodeError::invalid("origin", format!("`{origin}` is not a Quince log"))
        })?;
        hex_text.parse()
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppId({self})")
    }
}

impl FromStr for AppId {
    type Err = DecodeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        codec::parse_hex(text, "app id").map(AppId)
    }
}

/// One keyholder in a root: FROST identifier (1-based) and verifying share.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Participant {
    /// FROST identifier, 1..=255, unique in the root.
    pub id: u16,
    /// The participant's verifying share (an Ed25519 point, 32 bytes).
    pub verifying_share: [u8; 32],
}

impl fmt::Debug for Participant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Participant({} {})",
            self.id,
            hex::encode(&self.verifying_share[..8])
        )
    }
}

/// The set of keys allowed to sign an app's log.
#[derive(Clone, PartialEq, Eq)]
pub struct AppRoot {
    name: String,
    threshold: u8,
    group_key: VerifyingKey,
    participants: Vec<Participant>,
}

impl AppRoot {
    /// Builds a root, checking every rule a decoded root must also meet.
    pub fn new(
        name: &str,
        threshold: u8,
        group_key: [u8; 32],
        mut participants: Vec<Participant>,
    ) -> Result<AppRoot, DecodeError> {
        participants.sort_by_key(|p| p.id);
        let root = AppRoot {
            name: name.to_string(),
            threshold,
            group_key: note::verifying_key(&group_key, "group key")?,
            participants,
        };
        root.check()?;
        Ok(root)
    }

    /// Human name of the app.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Signatures needed (t of n).
    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// The group public key that signs checkpoints.
    pub fn group_key(&self) -> &VerifyingKey {
        &self.group_key
    }

    /// The keyholders, ordered by identifier.
    pub fn participants(&self) -> &[Participant] {
        &self.participants
    }

    /// The app id this root defines when it is an app's first root.
    pub fn app_id(&self) -> AppId {
        AppId(Hash::of_parts(&[APP_ID_DOMAIN, &self.to_bytes()]).0)
    }

    /// A short fingerprint of this root, for out-of-band comparison by people.
    pub fn fingerprint(&self) -> String {
        let h = Hash::of(&self.to_bytes()).to_hex();
        h[..16].to_string()
    }

    /// The note verifier for checkpoints of `app`'s log signed by this root.
    pub fn checkpoint_verifier(&self, app: &AppId) -> Ed25519Verifier {
        Ed25519Verifier::new(&app.origin(), self.group_key)
            .expect("an app origin is always a valid key name")
    }

    fn check(&self) -> Result<(), DecodeError> {
        if self.name.is_empty() || self.name.len() > MAX_APP_NAME_BYTES {
            return Err(DecodeError::invalid(
                "app name",
                format!("must be 1 to {MAX_APP_NAME_BYTES} bytes"),
            ));
        }
        codec::check_text(&self.name, "app name")?;
        if self.name.contains('\n') {
            return Err(DecodeError::invalid("app name", "contains a newline"));
        }
        codec::check_len("participants", self.participants.len(), MAX_PARTICIPANTS)?;
        let n = self.participants.len();
        if self.threshold < 2 || usize::from(self.threshold) > n {
            return Err(DecodeError::invalid(
                "threshold",
                format!(
                    "{} of {n} participants; need 2 <= threshold <= participants",
                    self.threshold
                ),
            ));
        }
        for pair in self.participants.windows(2) {
            if pair[0].id == pair[1].id {
                return Err(DecodeError::invalid(
                    "participants",
                    format!("identifier {} appears twice", pair[0].id),
                ));
            }
        }
        for p in &self.participants {
            if p.id == 0 || p.id > 255 {
                return Err(DecodeError::invalid(
                    "participant id",
                    format!("{} is not in 1..=255", p.id),
                ));
            }
            note::verifying_key(&p.verifying_share, "verifying share")?;
        }
        Ok(())
    }
}

impl fmt::Debug for AppRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AppRoot({:?}, {} of {}, group {})",
            self.name,
            self.threshold,
            self.participants.len(),
            hex::encode(self.group_key.as_bytes())
        )
    }
}

impl Encode for AppRoot {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(ROOT_MAGIC);
        codec::put_bytes_u8(out, self.name.as_bytes());
        out.push(self.threshold);
        out.extend_from_slice(self.group_key.as_bytes());
        out.push(
            u8::try_from(self.participants.len())
                .expect("participants checked against MAX_PARTICIPANTS"),
        );
        for p in &self.participants {
            out.extend_from_slice(&p.id.to_be_bytes());
            out.extend_from_slice(&p.verifying_share);
        }
    }
}

impl Decode for AppRoot {
    const WHAT: &'static str = "app root";

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        codec::check_len("app root", r.remaining(), MAX_ROOT_BYTES)?;
        if &r.array::<8>("root magic")? != ROOT_MAGIC {
            return Err(DecodeError::invalid(
                "root magic",
                "not a Quince app root (version 1)",
            ));
        }
        let name = r.str_u8(MAX_APP_NAME_BYTES, "app name")?.to_string();
        let threshold = r.u8("threshold")?;
        let group_key = r.array::<32>("group key")?;
        let count = usize::from(r.u8("participant count")?);
        codec::check_len("participants", count, MAX_PARTICIPANTS)?;
        let mut participants = Vec::with_capacity(count);
        for _ in 0..count {
            let id = r.u16("participant id")?;
            if let Some(last) = participants.last().map(|p: &Participant| p.id) {
                if id <= last {
                    return Err(DecodeError::non_canonical(
                        "participants",
                        "identifiers must be strictly ascending",
                    ));
                }
            }
            participants.push(Participant {
                id,
                verifying_share: r.array::<32>("verifying share")?,
            });
        }
        AppRoot::new(&name, threshold, group_key, participants)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;

    /// A root made of fixed single keys; fine for format tests (not a FROST group).
    pub(crate) fn sample_root(name: &str, seed: u8) -> (AppRoot, SigningKey) {
        crate::testkit::danger_single_key_root(name, seed)
    }

    #[test]
    fn root_round_trips_and_app_id_is_stable() {
        let (root, _) = sample_root("Example", 7);
        let bytes = root.to_bytes();
        let back = AppRoot::from_bytes(&bytes).unwrap();
        assert_eq!(back, root);
        assert_eq!(back.app_id(), root.app_id());
        let id = root.app_id();
        assert_eq!(id.to_string().parse::<AppId>().unwrap(), id);
        assert_eq!(AppId::from_origin(&id.origin()).unwrap(), id);
        assert_ne!(sample_root("Example", 8).0.app_id(), id);
        assert_ne!(sample_root("Other", 7).0.app_id(), id);
    }

    #[test]
    fn bad_roots_are_refused_with_reasons() {
        let (root, _) = sample_root("Example", 7);
        let good = root.to_bytes();

        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(
            AppRoot::from_bytes(&trailing),
            Err(DecodeError::TrailingBytes { .. })
        ));
        assert!(matches!(
            AppRoot::from_bytes(&good[..good.len() - 1]),
            Err(DecodeError::Truncated { .. })
        ));

        let mut magic = good.clone();
        magic[7] = 2;
        assert!(AppRoot::from_bytes(&magic)
            .unwrap_err()
            .to_string()
            .contains("version 1"));

        // threshold byte sits after magic, name length and name
        let t_at = 8 + 1 + "Example".len();
        for bad_t in [0u8, 1, 6] {
            let mut b = good.clone();
            b[t_at] = bad_t;
            assert!(AppRoot::from_bytes(&b)
                .unwrap_err()
                .to_string()
                .contains("threshold"));
        }

        let mut dup = good.clone();
        let first_id = t_at + 1 + 32 + 1;
        dup[first_id + 34 + 1] = 1; // second participant's id -> 1
        assert!(AppRoot::from_bytes(&dup)
            .unwrap_err()
            .to_string()
            .contains("ascending"));

        let mut bad_point = good.clone();
        for b in &mut bad_point[t_at + 1..t_at + 33] {
            *b = 0;
        }
        bad_point[t_at + 1] = 1; // the identity point: small order
        assert!(AppRoot::from_bytes(&bad_point)
            .unwrap_err()
            .to_string()
            .contains("group key"));

        assert!("ABCD".parse::<AppId>().is_err());
        assert!(root
            .app_id()
            .to_string()
            .to_uppercase()
            .parse::<AppId>()
            .is_err());
        assert!(AppId::from_origin("example.com/log").is_err());
    }
}
