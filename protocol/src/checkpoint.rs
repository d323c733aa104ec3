//! C2SP tlog-checkpoints: the signed head of a log (origin, tree size, root
//! hash, optional extension lines), and the verified form a client may trust.
//!
//! Parsing is strict (canonical size, canonical base64, no empty lines). A
//! [`VerifiedCheckpoint`] can only be made by [`VerifiedCheckpoint::verify`],
//! which checks the origin and the signature; the trusted-state rules in `state`
//! accept nothing else.

use thiserror::Error;

use crate::codec::{self, DecodeError};
use crate::hash::Hash;
use crate::limits::{MAX_CHECKPOINT_EXTENSIONS, MAX_ORIGIN_BYTES, MAX_TREE_SIZE};
use crate::note::{Ed25519Verifier, Note, NoteError};

/// A checkpoint body, as parsed or about to be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity (for Quince: derived from the app id).
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root hash of those leaves.
    pub root: Hash,
    /// Extension lines, each non-empty (Quince writes none).
    pub extensions: Vec<String>,
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    /// The note or its body is malformed.
    #[error("malformed checkpoint: {0}")]
    Malformed(#[from] DecodeError),
    /// The checkpoint is for another log.
    #[error("checkpoint is for log `{got}`, not `{expected}`")]
    WrongOrigin {
        /// Origin we trust.
        expected: String,
        /// Origin in the checkpoint.
        got: String,
    },
    /// The signature check failed.
    #[error("checkpoint signature: {0}")]
    Signature(NoteError),
}

impl From<NoteError> for CheckpointError {
    fn from(e: NoteError) -> Self {
        match e {
            NoteError::Malformed(d) => CheckpointError::Malformed(d),
            other => CheckpointError::Signature(other),
        }
    }
}

impl Checkpoint {
    /// Parses a checkpoint body (the note text, with its final newline).
    pub fn parse(text: &str) -> Result<Checkpoint, DecodeError> {
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| DecodeError::invalid("checkpoint", "must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(DecodeError::MissingLine { key: "origin" });
        }
        codec::check_len("checkpoint origin", origin.len(), MAX_ORIGIN_BYTES)?;
        let size_text = lines
            .next()
            .ok_or(DecodeError::MissingLine { key: "tree size" })?;
        let size = codec::parse_decimal(size_text, "checkpoint tree size")?;
        if size > MAX_TREE_SIZE {
            return Err(DecodeError::TooLong {
                what: "checkpoint tree size",
                len: usize::try_from(size).unwrap_or(usize::MAX),
                max: usize::try_from(MAX_TREE_SIZE).unwrap_or(usize::MAX),
            });
        }
        let root_text = lines
            .next()
            .ok_or(DecodeError::MissingLine { key: "root hash" })?;
        let root = Hash::from_base64(root_text, "checkpoint root hash")?;
        let mut extensions = Vec::new();
        for line in lines {
            if line.is_empty() {
                return Err(DecodeError::invalid("checkpoint", "empty extension line"));
            }
            codec::check_len(
                "checkpoint extensions",
                extensions.len() + 1,
                MAX_CHECKPOINT_EXTENSIONS,
            )?;
            extensions.push(line.to_string());
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// The body as text, ready to be signed.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for line in &self.extensions {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// A checkpoint whose origin and signature have been checked against a trusted
/// key. Only [`VerifiedCheckpoint::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    note: Note,
    checkpoint: Checkpoint,
}

impl VerifiedCheckpoint {
    /// Parses a signed checkpoint note, checks that its origin is `origin`, and
    /// that it carries a valid signature by `key` (other signatures are ignored).
    pub fn verify(
        note: &[u8],
        origin: &str,
        key: &Ed25519Verifier,
    ) -> Result<Self, CheckpointError> {
        let note = Note::parse(note)?;
        let checkpoint = Checkpoint::parse(note.text())?;
        if checkpoint.origin != origin {
            return Err(CheckpointError::WrongOrigin {
                expected: origin.to_string(),
                got: checkpoint.origin,
            });
        }
        note.verify(std::slice::from_ref(key))?;
        Ok(VerifiedCheckpoint { note, checkpoint })
    }

    /// The checkpoint body.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Tree size.
    pub fn size(&self) -> u64 {
        self.checkpoint.size
    }

    /// Root hash.
    pub fn root(&self) -> &Hash {
        &self.checkpoint.root
    }

    /// The signed note, with every signature it carried (witness cosignatures too).
    pub fn note(&self) -> &Note {
        &self.note
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trips_with_and_without_extensions() {
        let mut cp = Checkpoint {
            origin: "example.com/log".into(),
            size: 12,
            root: Hash::of(b"x"),
            extensions: vec![],
        };
        assert_eq!(Checkpoint::parse(&cp.to_text()), Ok(cp.clone()));
        cp.extensions = vec!["ext one".into(), "two".into()];
        assert_eq!(Checkpoint::parse(&cp.to_text()), Ok(cp));
    }

    #[test]
    fn bad_bodies_get_specific_errors() {
        let root = Hash::of(b"x").to_base64();
        let cases = [
            (format!("log\n12\n{root}"), "newline"),
            (format!("\n12\n{root}\n"), "missing line `origin`"),
            ("log\n12\n".to_string(), "missing line `root hash`"),
            ("log\n".to_string(), "missing line `tree size`"),
            (format!("log\n012\n{root}\n"), "non-canonical"),
            (format!("log\n-1\n{root}\n"), "not a decimal"),
            (format!("log\n281474976710657\n{root}\n"), "too long"),
            ("log\n12\nAAAA\n".to_string(), "expected 32 bytes"),
            (format!("log\n12\n{root}\n\n"), "empty extension"),
            // The fuzz target's find: padding inside the root's base64.
            (
                "quince.example/app\n3\nBwcHFwcHBwc=BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n".to_string(),
                "canonical",
            ),
        ];
        for (text, expect) in cases {
            let err = Checkpoint::parse(&text).unwrap_err().to_string();
            assert!(err.contains(expect), "{text:?}: {err}");
        }
    }
}
