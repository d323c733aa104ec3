//! The signer's errors: one enum for the library boundary, each variant naming
//! what failed and who caused it, so a keyholder knows what to do next.

use std::path::PathBuf;

/// Everything that can stop a key generation, a backup or a signing.
/// Whatever the error, nothing was signed and no share was changed.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The passphrase does not open this file.
    #[error("wrong passphrase for {0}")]
    WrongPassphrase(PathBuf),
    /// A secret file is damaged (its encryption's integrity check failed, or its
    /// content does not parse).
    #[error("{path} is corrupted: {detail}")]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A message from another keyholder or the coordinator does not parse.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which message.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A message's signature is not from the keyholder the roster names.
    #[error(
        "message claims to be from participant {participant} but its signature does not verify"
    )]
    BadAuthentication {
        /// The claimed sender.
        participant: u16,
    },
    /// A message belongs to another key generation, another app or another signing.
    #[error("{what} belongs to {other}, not to {expected}")]
    WrongSession {
        /// Which message.
        what: &'static str,
        /// What it belongs to.
        other: String,
        /// What was expected.
        expected: String,
    },
    /// A participant saw a different set of round-1 messages: round 1 was not a broadcast.
    #[error("participant {participant} saw a different set of round-1 messages than we did; stop and redo the key generation")]
    BroadcastMismatch {
        /// The participant whose view differs.
        participant: u16,
    },
    /// Too few participants for the threshold.
    #[error("{got} participants sent {what}; {needed} are needed")]
    TooFew {
        /// What was counted.
        what: &'static str,
        /// How many came.
        got: usize,
        /// How many are needed.
        needed: usize,
    },
    /// The same participant appears twice.
    #[error("participant {0} appears twice")]
    Duplicate(u16),
    /// A participant not in the roster or root.
    #[error("participant {0} is not one of this app's keyholders")]
    UnknownParticipant(u16),
    /// The signing package asks to sign something other than what the keyholder was shown.
    #[error("the signing package is for a different message than the one you committed to; refusing to sign")]
    MessageChanged,
    /// The nonces for this signing were already used (or never made here).
    #[error("commitment {request} was already used or was not made on this machine; refusing to sign twice with one nonce")]
    NonceReused {
        /// The signing request id.
        request: String,
    },
    /// A signature share does not verify against its participant's verifying share.
    #[error("signature share from participant {participant} does not verify")]
    BadSignatureShare {
        /// The participant whose share failed.
        participant: u16,
    },
    /// A 24-word backup phrase is not valid.
    #[error("backup phrase is not valid: {0}")]
    BadBackupPhrase(String),
    /// No usable passphrase (none given, an empty one, two that differ).
    #[error("passphrase: {0}")]
    Passphrase(String),
    /// The request to sign is not acceptable (wrong app, not a checkpoint).
    #[error("refusing to sign: {0}")]
    Refused(String),
    /// The FROST library refused (key generation or signing).
    #[error("FROST: {0}")]
    Frost(String),
    /// The aggregated signature did not verify under the group key (should not happen).
    #[error("the aggregated signature does not verify under the group key")]
    AggregateInvalid,
}

impl SignerError {
    pub(crate) fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> SignerError + '_ {
        move |source| SignerError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn malformed(what: &'static str) -> impl Fn(String) -> SignerError {
        move |detail| SignerError::Malformed { what, detail }
    }
}

impl From<frost_ed25519::Error> for SignerError {
    fn from(e: frost_ed25519::Error) -> Self {
        SignerError::Frost(e.to_string())
    }
}

impl From<quince_protocol::transcript::TranscriptError> for SignerError {
    fn from(e: quince_protocol::transcript::TranscriptError) -> Self {
        use quince_protocol::transcript::TranscriptError as T;
        match e {
            T::WrongRoot { got, expected } => SignerError::WrongSession {
                what: "transcript",
                other: format!("root {}", &got[..got.len().min(16)]),
                expected: format!("root {}", &expected[..expected.len().min(16)]),
            },
            T::Malformed(detail) => SignerError::Malformed {
                what: "transcript",
                detail,
            },
            T::MessageChanged => SignerError::MessageChanged,
            T::UnknownParticipant(i) => SignerError::UnknownParticipant(i),
            T::BadShare(participant) => SignerError::BadSignatureShare { participant },
            T::TooFew { got, needed } => SignerError::TooFew {
                what: "signature shares in the transcript",
                got,
                needed,
            },
            T::AggregateInvalid => SignerError::AggregateInvalid,
        }
    }
}
