//! `state.json`: what is recorded about one installed app. Written only by
//! [`super::Apps`] (fsync and rename), in the app's folder, where no
//! release's files are ever written.

use quince_protocol::cosignature::{WitnessKey, Witnesses};
use quince_protocol::record::Version;
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
    /// The program to run, relative to the version's folder.
    pub run: Option<String>,
    /// Seconds a new version must survive its health check.
    pub health_seconds: u64,
    /// Witnesses (C2SP verifier keys) whose cosignatures a new checkpoint needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<String>,
    /// How many of `witnesses` must have cosigned (0: none needed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub witness_quorum: usize,
}

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
            health_seconds: DEFAULT_HEALTH_SECONDS,
            witnesses: Vec::new(),
            witness_quorum: 0,
        }
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

    /// Records `trusted` as the trusted state.
    pub fn set_trusted(&mut self, trusted: &TrustedState) {
        self.trusted = hex::encode(trusted.to_bytes());
    }

    /// Whether `version` failed before (never installed again by itself).
    pub fn is_refused(&self, version: &Version) -> bool {
        self.refused.contains(version)
    }
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
}
