//! The trusted state of one app on a client, and the only ways it may change.
//!
//! The state holds the app id, the root in force and the newest verified
//! checkpoint. [`TrustedState::advance`] takes a candidate checkpoint and its
//! consistency proof and returns the next state or a typed [`Refusal`] that says
//! whether to try another peer or to stop trusting the log (equivocation).
//! [`TrustedState::apply_rotation`] moves to a new root. Writing the state to
//! disk (fsync, atomic rename) is the updater's job; it stores
//! [`TrustedState::to_bytes`] and re-verifies on [`TrustedState::load`].

use thiserror::Error;

use crate::checkpoint::{CheckpointError, VerifiedCheckpoint};
use crate::codec::{self, Decode, DecodeError, Encode, Reader};
use crate::hash::Hash;
use crate::limits::{MAX_NOTE_BYTES, MAX_ROOT_BYTES, MAX_STATE_BYTES};
use crate::merkle::{self, ProofError};
use crate::note::NoteError;
use crate::record::LogEntry;
use crate::root::{AppId, AppRoot};

const STATE_MAGIC: &[u8; 8] = b"QSTATE\x00\x01";

/// Why a candidate checkpoint or rotation was refused. The state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    /// Bytes that do not parse. Try another peer.
    #[error("malformed input: {0}")]
    Malformed(#[from] DecodeError),
    /// A checkpoint of another log. Try another peer.
    #[error("checkpoint is for log `{got}`, not `{expected}`")]
    WrongOrigin {
        /// Origin of this app's log.
        expected: String,
        /// Origin in the checkpoint.
        got: String,
    },
    /// Not signed by the root in force. Try another peer.
    #[error("checkpoint is not signed by the app's signers: {0}")]
    BadSignature(NoteError),
    /// Older than what we hold. Try another peer.
    #[error("rollback refused: offered tree size {offered} is below the trusted size {trusted}")]
    Rollback {
        /// Size we trust.
        trusted: u64,
        /// Size offered.
        offered: u64,
    },
    /// The proof does not verify. Try another peer.
    #[error("consistency or inclusion proof does not verify: {0}")]
    BadProof(ProofError),
    /// Two validly signed checkpoints that cannot both be true: stop updating this app.
    #[error("equivocation: the signers published two inconsistent histories (sizes {} and {})",
        .0.held_size, .0.offered_size)]
    Equivocation(Box<Equivocation>),
    /// A rotation that does not apply: wrong app, bad new-root signature, replayed.
    #[error("rotation refused: {0}")]
    Rotation(String),
    /// The first root does not define this app id.
    #[error("root does not belong to app {expected} (it defines {got})")]
    WrongRoot {
        /// The app id we were asked for.
        expected: AppId,
        /// The app id the root defines.
        got: AppId,
    },
}

impl From<CheckpointError> for Refusal {
    fn from(e: CheckpointError) -> Self {
        match e {
            CheckpointError::Malformed(d) => Refusal::Malformed(d),
            CheckpointError::WrongOrigin { expected, got } => {
                Refusal::WrongOrigin { expected, got }
            }
            CheckpointError::Signature(n) => Refusal::BadSignature(n),
        }
    }
}

/// Evidence that an app's signers signed two inconsistent checkpoints: both
/// notes as received and the proof that shows the difference (empty for two
/// checkpoints of the same size). Anyone holding the root can re-check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    /// Size of the checkpoint that was trusted.
    pub held_size: u64,
    /// Size of the checkpoint that contradicts it.
    pub offered_size: u64,
    /// The trusted signed note.
    pub held: Vec<u8>,
    /// The contradicting signed note.
    pub offered: Vec<u8>,
    /// Consistency proof from held to offered (as received).
    pub proof: Vec<Hash>,
}

impl Equivocation {
    /// Re-checks the evidence: both notes are validly signed by `root` for `app`,
    /// and they are inconsistent.
    pub fn verify(&self, app: &AppId, root: &AppRoot) -> bool {
        let key = root.checkpoint_verifier(app);
        let (Ok(a), Ok(b)) = (
            VerifiedCheckpoint::verify(&self.held, &app.origin(), &key),
            VerifiedCheckpoint::verify(&self.offered, &app.origin(), &key),
        ) else {
            return false;
        };
        let (old, new) = if a.size() <= b.size() {
            (&a, &b)
        } else {
            (&b, &a)
        };
        matches!(
            merkle::verify_consistency(old.size(), new.size(), &self.proof, old.root(), new.root()),
            Err(ProofError::Inconsistent { .. })
        )
    }
}

const EVIDENCE_MAGIC: &[u8; 8] = b"QEQUIV\x00\x01";
/// Most proof hashes in stored evidence (a consistency proof is at most 2 log2 n).
const MAX_EVIDENCE_PROOF: usize = 128;

impl Equivocation {
    /// The evidence as a file or wire message: magic, both notes, the proof.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = EVIDENCE_MAGIC.to_vec();
        for note in [&self.held, &self.offered] {
            out.extend_from_slice(&(note.len() as u32).to_be_bytes());
            out.extend_from_slice(note);
        }
        out.push(self.proof.len().min(MAX_EVIDENCE_PROOF) as u8);
        for h in self.proof.iter().take(MAX_EVIDENCE_PROOF) {
            out.extend_from_slice(&h.0);
        }
        out
    }

    /// Reads evidence written by [`Equivocation::to_bytes`]. The sizes come from
    /// the notes; nothing is trusted until [`Equivocation::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Equivocation, DecodeError> {
        let mut r = Reader::new(bytes);
        if &r.array::<8>("evidence magic")? != EVIDENCE_MAGIC {
            return Err(DecodeError::invalid(
                "evidence magic",
                "not a Quince equivocation proof (version 1)",
            ));
        }
        let held = r.bytes_u32(MAX_NOTE_BYTES, "held note")?.to_vec();
        let offered = r.bytes_u32(MAX_NOTE_BYTES, "offered note")?.to_vec();
        let n = usize::from(r.u8("proof length")?);
        if n > MAX_EVIDENCE_PROOF {
            return Err(DecodeError::invalid("proof length", format!("{n}")));
        }
        let mut proof = Vec::with_capacity(n);
        for _ in 0..n {
            proof.push(Hash(r.array::<32>("proof hash")?));
        }
        r.finish("equivocation proof")?;
        let size = |note: &[u8]| -> Result<u64, DecodeError> {
            let n = crate::note::Note::parse(note)?;
            Ok(crate::checkpoint::Checkpoint::parse(n.text())?.size)
        };
        Ok(Equivocation {
            held_size: size(&held)?,
            offered_size: size(&offered)?,
            held,
            offered,
            proof,
        })
    }
}

/// What [`TrustedState::advance`] concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advance {
    /// The candidate is the checkpoint already held (perhaps with other cosignatures).
    Unchanged,
    /// The candidate is newer and consistent: here is the new state.
    Advanced(Box<TrustedState>),
}

/// What a client trusts about one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedState {
    app: AppId,
    root: AppRoot,
    /// Log index of the rotation record that installed `root` (None: the first root).
    root_index: Option<u64>,
    checkpoint: Option<VerifiedCheckpoint>,
    /// The root that signed `checkpoint`, when a rotation since then replaced it.
    checkpoint_signer: Option<AppRoot>,
}

impl TrustedState {
    /// The starting state for `app`, given its first root (whose hash must be the id).
    pub fn new(app: AppId, first_root: AppRoot) -> Result<TrustedState, Refusal> {
        if first_root.app_id() != app {
            return Err(Refusal::WrongRoot {
                expected: app,
                got: first_root.app_id(),
            });
        }
        Ok(TrustedState {
            app,
            root: first_root,
            root_index: None,
            checkpoint: None,
            checkpoint_signer: None,
        })
    }

    /// The app.
    pub fn app(&self) -> &AppId {
        &self.app
    }

    /// The root in force.
    pub fn root(&self) -> &AppRoot {
        &self.root
    }

    /// The newest verified checkpoint, if any.
    pub fn checkpoint(&self) -> Option<&VerifiedCheckpoint> {
        self.checkpoint.as_ref()
    }

    /// Size of the trusted tree (0 before the first checkpoint).
    pub fn size(&self) -> u64 {
        self.checkpoint.as_ref().map_or(0, VerifiedCheckpoint::size)
    }

    /// Root hash of the trusted tree.
    pub fn tree_root(&self) -> Hash {
        self.checkpoint
            .as_ref()
            .map_or_else(merkle::empty_root, |c| *c.root())
    }

    /// Decides on a candidate checkpoint `note` with the consistency `proof` from
    /// the trusted size to the candidate's size.
    pub fn advance(&self, note: &[u8], proof: &[Hash]) -> Result<Advance, Refusal> {
        let key = self.root.checkpoint_verifier(&self.app);
        let candidate = VerifiedCheckpoint::verify(note, &self.app.origin(), &key)?;
        let (held_size, new_size) = (self.size(), candidate.size());
        if new_size < held_size {
            return Err(Refusal::Rollback {
                trusted: held_size,
                offered: new_size,
            });
        }
        match merkle::verify_consistency(
            held_size,
            new_size,
            proof,
            &self.tree_root(),
            candidate.root(),
        ) {
            Ok(()) if new_size == held_size => Ok(Advance::Unchanged),
            Ok(()) => {
                let mut next = self.clone();
                next.checkpoint = Some(candidate);
                next.checkpoint_signer = None;
                Ok(Advance::Advanced(Box::new(next)))
            }
            Err(ProofError::Inconsistent { .. }) => {
                let held = self
                    .checkpoint
                    .as_ref()
                    .map(|c| c.note().to_bytes())
                    .unwrap_or_default();
                Err(Refusal::Equivocation(Box::new(Equivocation {
                    held_size,
                    offered_size: new_size,
                    held,
                    offered: note.to_vec(),
                    proof: proof.to_vec(),
                })))
            }
            Err(e) => Err(Refusal::BadProof(e)),
        }
    }

    /// Moves to the root named by the rotation record `entry`, at log `index`,
    /// proven included in the trusted checkpoint (signed by the current root) by
    /// `inclusion`. The new root must be signed by its own group key, belong to
    /// this app, and come after the rotation that installed the current root.
    pub fn apply_rotation(
        &self,
        index: u64,
        entry: &[u8],
        inclusion: &[Hash],
    ) -> Result<TrustedState, Refusal> {
        let LogEntry::Rotation(record) = LogEntry::from_bytes(entry)? else {
            return Err(Refusal::Rotation(format!(
                "entry {index} is not a rotation record"
            )));
        };
        if record.app != self.app {
            return Err(Refusal::Rotation(format!(
                "entry {index} rotates app {}, not {}",
                record.app, self.app
            )));
        }
        if self.root_index.is_some_and(|current| index <= current) {
            return Err(Refusal::Rotation(format!(
                "entry {index} is not after the rotation in force (entry {})",
                self.root_index.unwrap_or_default()
            )));
        }
        merkle::verify_inclusion(
            &merkle::leaf_hash(entry),
            index,
            self.size(),
            inclusion,
            &self.tree_root(),
        )
        .map_err(Refusal::BadProof)?;
        if !record.new_root_signature_is_valid() {
            return Err(Refusal::Rotation(format!(
                "entry {index}: the new root is not signed by its own group key"
            )));
        }
        let record = *record;
        Ok(TrustedState {
            app: self.app,
            root: record.root,
            root_index: Some(index),
            checkpoint: self.checkpoint.clone(),
            checkpoint_signer: Some(
                self.checkpoint_signer
                    .clone()
                    .unwrap_or_else(|| self.root.clone()),
            ),
        })
    }

    /// Serializes the state for storage.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = STATE_MAGIC.to_vec();
        out.extend_from_slice(&self.app.0);
        codec::put_bytes_u16(&mut out, &self.root.to_bytes());
        match self.root_index {
            Some(i) => {
                out.push(1);
                out.extend_from_slice(&i.to_be_bytes());
            }
            None => out.push(0),
        }
        match &self.checkpoint_signer {
            Some(signer) => {
                out.push(1);
                codec::put_bytes_u16(&mut out, &signer.to_bytes());
            }
            None => out.push(0),
        }
        let note = self
            .checkpoint
            .as_ref()
            .map(|c| c.note().to_bytes())
            .unwrap_or_default();
        out.extend_from_slice(&(note.len() as u32).to_be_bytes());
        out.extend_from_slice(&note);
        out
    }

    /// Reads a stored state and re-verifies its checkpoint under its root.
    ///
    /// A state whose root was installed by a rotation cannot be checked against
    /// the app id alone; its integrity rests on the storage (the updater keeps it
    /// where releases cannot write).
    pub fn load(bytes: &[u8]) -> Result<TrustedState, Refusal> {
        codec::check_len("trusted state", bytes.len(), MAX_STATE_BYTES)?;
        let mut r = Reader::new(bytes);
        if &r.array::<8>("state magic")? != STATE_MAGIC {
            return Err(DecodeError::invalid(
                "state magic",
                "not a Quince trusted state (version 1)",
            )
            .into());
        }
        let app = AppId(r.array::<32>("app id")?);
        let root = AppRoot::from_bytes(r.bytes_u16(MAX_ROOT_BYTES, "root")?)?;
        let root_index = match r.u8("root index flag")? {
            0 => None,
            1 => Some(r.u64("root index")?),
            other => return Err(DecodeError::invalid("root index flag", format!("{other}")).into()),
        };
        let checkpoint_signer = match r.u8("checkpoint signer flag")? {
            0 => None,
            1 => Some(AppRoot::from_bytes(
                r.bytes_u16(MAX_ROOT_BYTES, "checkpoint signer")?,
            )?),
            other => {
                return Err(
                    DecodeError::invalid("checkpoint signer flag", format!("{other}")).into(),
                )
            }
        };
        let note = r.bytes_u32(MAX_NOTE_BYTES, "checkpoint note")?;
        r.finish("trusted state")?;
        let mut state = if root_index.is_none() {
            TrustedState::new(app, root)?
        } else {
            TrustedState {
                app,
                root,
                root_index,
                checkpoint: None,
                checkpoint_signer: None,
            }
        };
        state.checkpoint_signer = checkpoint_signer;
        if !note.is_empty() {
            let signer = state.checkpoint_signer.as_ref().unwrap_or(&state.root);
            let key = signer.checkpoint_verifier(&app);
            state.checkpoint = Some(VerifiedCheckpoint::verify(note, &app.origin(), &key)?);
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests;
