//! A witness: follows apps' logs, checks every new checkpoint is consistent
//! with the last one it saw, and cosigns it (C2SP tlog-cosignature).
//!
//! The witness keeps, per app, its trusted state and a mirror of the log whose
//! checkpoint carries its cosignature; it serves that mirror like any peer, so
//! cosignatures travel with the checkpoint to whoever fetches from it (and on
//! from them). When two validly signed checkpoints disagree, whether it saw them
//! at different times or from different peers at once, it keeps the pair as
//! proof of equivocation in the mirror, serves it to anyone who asks, and stops
//! cosigning that app.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use quince_protocol::cosignature::{self, WitnessKey};
use quince_protocol::note::Note;
use quince_protocol::root::AppId;
use quince_protocol::state::TrustedState;

use crate::fetch::{self, FetchError, Peers};
use crate::library::{Library, EVIDENCE_FILE};
use crate::node::{NetError, Node};

/// A witness's key and its folder.
#[derive(Debug)]
pub struct Witness {
    dir: PathBuf,
    name: String,
    key: SigningKey,
}

/// What one round for one app did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Witnessed {
    /// The newest checkpoint (of this size) is consistent and now cosigned.
    Cosigned {
        /// Its tree size.
        size: u64,
        /// The cosigned note, to announce.
        note: Vec<u8>,
    },
}

impl Witness {
    /// The witness whose key and state live in `dir` (the key is made on
    /// first use). `name` is its cosigner name; by default one derived from
    /// its key.
    pub fn open(dir: &Path, name: Option<&str>) -> Result<Witness, NetError> {
        let keypair = crate::node::load_or_create_identity(&dir.join("key"))?;
        let ed = keypair
            .try_into_ed25519()
            .map_err(|e| NetError::Setup(format!("witness key: {e}")))?;
        let seed: [u8; 32] = ed
            .secret()
            .as_ref()
            .try_into()
            .map_err(|_| NetError::Setup("witness key is not an Ed25519 seed".into()))?;
        let key = SigningKey::from_bytes(&seed);
        let name = match name {
            Some(n) => n.to_string(),
            None => format!(
                "witness.quince/{}",
                &hex::encode(key.verifying_key().as_bytes())[..16]
            ),
        };
        WitnessKey::new(&name, key.verifying_key())
            .map_err(|e| NetError::Setup(format!("witness name {name:?}: {e}")))?;
        Ok(Witness {
            dir: dir.to_path_buf(),
            name,
            key,
        })
    }

    /// The public key clients configure (`--witness`).
    pub fn public_key(&self) -> WitnessKey {
        WitnessKey::new(&self.name, self.key.verifying_key())
            .unwrap_or_else(|_| unreachable!("checked in open"))
    }

    /// The mirror of `app`'s log this witness serves.
    pub fn log_dir(&self, app: &AppId) -> PathBuf {
        self.dir.join(app.to_string()).join("log")
    }

    /// One round for `app`: sync from `peers` (checking every offered
    /// checkpoint against the accepted one), then cosign the accepted head and
    /// serve it through `library`. On equivocation the proof is kept and
    /// served, and the error returned.
    pub async fn check(
        &self,
        node: &Node,
        library: &Library,
        app: AppId,
        peers: &mut Peers,
    ) -> Result<Witnessed, FetchError> {
        let dir = self.dir.join(app.to_string());
        let log = self.log_dir(&app);
        let state_path = dir.join("state");
        let state = match std::fs::read(&state_path) {
            Ok(bytes) => Some(
                TrustedState::load(&bytes)
                    .map_err(|e| FetchError::Mirror(format!("{}: {e}", state_path.display())))?,
            ),
            Err(_) => None,
        };
        let synced = fetch::sync_log(node, app, peers, state, &log).await;
        // Serve the mirror either way: on equivocation it holds the proof.
        if log.join("root").exists() {
            library.add_app(app, log.clone());
        }
        let synced = synced?;
        fetch::write_file(&state_path, &synced.state().to_bytes())?;
        let note_path = log.join("checkpoint");
        let bytes = std::fs::read(&note_path).map_err(|e| FetchError::Mirror(e.to_string()))?;
        let mut note = Note::parse(&bytes).map_err(|e| FetchError::Mirror(e.to_string()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        cosignature::cosign(&mut note, &self.name, &self.key, now)
            .map_err(|e| FetchError::Mirror(e.to_string()))?;
        let cosigned = note.to_bytes();
        fetch::write_file(&note_path, &cosigned)?;
        Ok(Witnessed::Cosigned {
            size: synced.state().size(),
            note: cosigned,
        })
    }

    /// The proof of equivocation this witness holds for `app`, if any.
    pub fn evidence(&self, app: &AppId) -> Option<Vec<u8>> {
        std::fs::read(self.log_dir(app).join(EVIDENCE_FILE)).ok()
    }
}
