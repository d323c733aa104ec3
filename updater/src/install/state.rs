//! `state.json`: what is recorded about one installed app. Written only by
//! [`super::Apps`] (fsync and rename), in the app's folder, where no
//! release's files are ever written.

use quince_protocol::cosignature::{WitnessKey, Witnesses};
use quince_protocol::record::{Channel, Version};
use quince_protocol::state::TrustedState;
use serde::{Deserialize, Serialize};

/// How many seconds a new version must run (or exit 0 within) to count as healthy.
pub const DEFAULT_HEALTH_SECONDS: u64 = 3;

/// What is recorded about one installed app. Versions are typed; in the
/// file they are written as text (`"1.2.3"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AppState {
    /// The app id (hex).
    pub app: String,
    /// The trusted state (root, newest verified checkpoint), hex of its bytes.
    pub trusted: String,
    /// The version `current` points to, if any.
    #[serde(with = "one")]
    pub current: Option<Version>,
    /// The version before it, kept for rollback.
    #[serde(with = "one")]
    pub previous: Option<Version>,
    /// A version switched to whose health check has not passed yet.
    #[serde(with = "one")]
    pub trial: Option<Version>,
    /// Versions that failed their health check or were rolled back: never
    /// installed again automatically.
    #[serde(with = "many")]
    pub refused: Vec<Version>,
    /// Stay at this version.
    #[serde(with = "one")]
    pub pinned: Option<Version>,
    /// The program to run, relative to the version's folder: the user's
    /// `--run` if given, else the release's `command` (its app file), else
    /// the only program in `bin/`.
    pub run: Option<String>,
    /// The user chose `run` (`--run`): it wins over the release's command.
    #[serde(default, skip_serializing_if = "is_false")]
    pub run_by_user: bool,
    /// Seconds a new version must survive its health check.
    pub health_seconds: u64,
    /// Witnesses (C2SP verifier keys) whose cosignatures a new checkpoint needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<String>,
    /// How many of `witnesses` must have cosigned (0: none needed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub witness_quorum: usize,
    /// Seconds after which a head no witness has cosigned since counts as
    /// unconfirmed (a warning; default [`DEFAULT_WITNESS_MAX_AGE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_max_age: Option<u64>,
    /// The newest time (Unix seconds) a trusted witness cosigned the
    /// trusted head, over every copy of it seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_confirmed_at: Option<u64>,
    /// The channel this install follows (absent: stable). The user's
    /// choice alone: nothing a peer sends changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// This install's rollout id (32 hex digits, random, made once): whether
    /// it is among a staged release's N% follows from it. Files from before
    /// channels get one on their next save.
    #[serde(default = "new_install_id")]
    pub install_id: String,
}

/// A fresh random rollout id (from the OS; if it cannot give one, the
/// clock and process id, which still spread installs apart).
fn new_install_id() -> String {
    let mut id = [0u8; 16];
    if getrandom::getrandom(&mut id).is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = format!("{now} {}", std::process::id());
        id.copy_from_slice(&quince_protocol::Hash::of(seed.as_bytes()).0[..16]);
    }
    hex::encode(id)
}

/// Seconds after which a head with no newer witness cosignature counts as
/// unconfirmed, unless the install said otherwise: a day (witnesses that
/// follow a log cosign its head again far more often).
pub const DEFAULT_WITNESS_MAX_AGE: u64 = 24 * 3600;

/// A state file whose content does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadState(pub String);

impl AppState {
    /// The state of an app first seen at `trusted`.
    pub fn new(trusted: &TrustedState) -> AppState {
        AppState {
            app: trusted.app().to_string(),
            trusted: hex::encode(trusted.to_bytes()),
            current: None,
            previous: None,
            trial: None,
            refused: Vec::new(),
            pinned: None,
            run: None,
            run_by_user: false,
            health_seconds: DEFAULT_HEALTH_SECONDS,
            witnesses: Vec::new(),
            witness_quorum: 0,
            witness_max_age: None,
            head_confirmed_at: None,
            channel: None,
            install_id: new_install_id(),
        }
    }

    /// The channel followed.
    pub fn channel(&self) -> Result<Channel, BadState> {
        match &self.channel {
            None => Ok(Channel::stable()),
            Some(c) => c
                .parse()
                .map_err(|e| BadState(format!("channel {c:?}: {e}"))),
        }
    }

    /// Follows `channel` from the next update on.
    pub fn set_channel(&mut self, channel: &Channel) {
        self.channel = (!channel.is_stable()).then(|| channel.to_string());
    }

    /// The rollout id.
    pub fn install_id(&self) -> Result<[u8; 16], BadState> {
        let mut id = [0u8; 16];
        hex::decode_to_slice(&self.install_id, &mut id).map_err(|_| {
            BadState(format!(
                "install id {:?} is not 32 hex digits",
                self.install_id
            ))
        })?;
        Ok(id)
    }

    /// The witness policy recorded for this app.
    pub fn witness_policy(&self) -> Result<Witnesses, BadState> {
        let keys = self
            .witnesses
            .iter()
            .map(|k| WitnessKey::parse(k).map_err(|e| BadState(format!("witness key {k}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Witnesses {
            keys,
            quorum: self.witness_quorum,
        })
    }

    /// Records `policy` for later updates.
    pub fn set_witness_policy(&mut self, policy: &Witnesses) {
        self.witnesses = policy.keys.iter().map(WitnessKey::to_text).collect();
        self.witness_quorum = policy.quorum;
    }

    /// The trusted state recorded.
    pub fn trusted(&self) -> Result<TrustedState, BadState> {
        let bytes =
            hex::decode(&self.trusted).map_err(|_| BadState("trusted state is not hex".into()))?;
        TrustedState::load(&bytes).map_err(|e| BadState(e.to_string()))
    }

    /// Whether this app's head is confirmed current by its witnesses, at
    /// `now` (Unix seconds); `None` when it has no witnesses.
    pub fn freshness(&self, now: u64) -> Option<Freshness> {
        (!self.witnesses.is_empty()).then(|| Freshness {
            confirmed_at: self.head_confirmed_at,
            max_age: self.witness_max_age.unwrap_or(DEFAULT_WITNESS_MAX_AGE),
            now,
        })
    }

    /// Records the witnesses' newest cosignature time on the head just
    /// synced (`same_head`: the head did not change, so an earlier
    /// confirmation of it still counts).
    pub fn set_confirmed(&mut self, at: Option<u64>, same_head: bool) {
        self.head_confirmed_at = if same_head {
            self.head_confirmed_at.max(at)
        } else {
            at
        };
    }

    /// Records `trusted` as the trusted state.
    pub fn set_trusted(&mut self, trusted: &TrustedState) {
        self.trusted = hex::encode(trusted.to_bytes());
    }

    /// Whether `version` failed before (never installed again by itself).
    pub fn is_refused(&self, version: &Version) -> bool {
        self.refused.contains(version)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// An optional version, as text.
mod one {
    use quince_protocol::record::Version;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Version>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Version>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A list of versions, as text.
mod many {
    use quince_protocol::record::Version;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Version], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(ToString::to_string))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Version>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_written_as_text_and_a_bad_one_is_refused() {
        let json = r#"{"app":"00","trusted":"00","current":"1.2.0","previous":null,"trial":null,
            "refused":["1.3.0"],"pinned":null,"run":"bin/app","health_seconds":3}"#;
        let state: AppState = serde_json::from_str(json).unwrap();
        assert_eq!(state.current, Some("1.2.0".parse().unwrap()));
        assert!(state.is_refused(&"1.3.0".parse().unwrap()));
        let again = serde_json::to_string(&state).unwrap();
        assert!(again.contains(r#""current":"1.2.0""#), "{again}");
        assert!(again.contains(r#""refused":["1.3.0"]"#), "{again}");
        let bad = json.replace("1.2.0", "one point two");
        assert!(serde_json::from_str::<AppState>(&bad).is_err());
    }

    /// A state file from before channels follows stable and draws its
    /// rollout id once: the id written is the id read back.
    #[test]
    fn old_state_files_follow_stable_and_get_a_rollout_id_that_sticks() {
        let json = r#"{"app":"00","trusted":"00","current":"1.2.0","previous":null,"trial":null,
            "refused":[],"pinned":null,"run":"bin/app","health_seconds":3}"#;
        let mut state: AppState = serde_json::from_str(json).unwrap();
        assert!(state.channel().unwrap().is_stable());
        let id = state.install_id().unwrap();
        let other: AppState = serde_json::from_str(json).unwrap();
        assert_ne!(other.install_id().unwrap(), id, "drawn at random");
        let saved = serde_json::to_string(&state).unwrap();
        assert!(!saved.contains("channel"), "stable is not written: {saved}");
        let again: AppState = serde_json::from_str(&saved).unwrap();
        assert_eq!(again.install_id().unwrap(), id);

        state.set_channel(&"beta".parse().unwrap());
        let saved = serde_json::to_string(&state).unwrap();
        assert!(saved.contains(r#""channel":"beta""#), "{saved}");
        let mut bad: AppState = serde_json::from_str(&saved).unwrap();
        bad.channel = Some("Beta!".into());
        assert!(bad.channel().is_err());
        bad.install_id = "xyz".into();
        assert!(bad.install_id().is_err());
    }
}

/// Whether an app's head is known to be current: the newest witness
/// cosignature on it against the age allowed. A client cut off from the
/// world (or fed an old head by every peer it meets) sees valid
/// checkpoints but no recent cosignature: this is how it notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// The newest trusted cosignature on the head (Unix seconds).
    pub confirmed_at: Option<u64>,
    /// The age allowed, in seconds.
    pub max_age: u64,
    /// When this was asked.
    pub now: u64,
}

impl Freshness {
    /// Seconds since the newest cosignature (0 if it is in the future).
    pub fn age(&self) -> Option<u64> {
        self.confirmed_at.map(|t| self.now.saturating_sub(t))
    }

    /// Whether a witness cosigned the head within the age allowed.
    pub fn current(&self) -> bool {
        self.age().is_some_and(|a| a <= self.max_age)
    }

    /// What to tell the user when the head is not confirmed current.
    pub fn warning(&self) -> Option<String> {
        if self.current() {
            return None;
        }
        Some(match self.age() {
            Some(age) => format!(
                "cannot confirm that this is the newest release log: the newest witness \
                 cosignature on its head is {} old (allowed: {})",
                span(age),
                span(self.max_age)
            ),
            None => "cannot confirm that this is the newest release log: no witness has \
                     cosigned its head"
                .to_string(),
        })
    }

    /// The JSON form (for `--json` outputs).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "confirmed_at": self.confirmed_at, "age_seconds": self.age(),
            "max_age_seconds": self.max_age, "current": self.current(),
        })
    }
}

/// A number of seconds as people say it.
fn span(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} seconds"),
        s if s < 7200 => format!("{} minutes", s / 60),
        s if s < 2 * 86_400 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}
