//! Checking a FROST signing transcript: which keyholders signed a checkpoint.
//!
//! FROST gives one ordinary Ed25519 signature, which says the group signed but
//! not who. The coordinator keeps the signing package (every signer's
//! commitments and the message) and each signer's signature share; anyone
//! holding the app's root can check each share against that keyholder's
//! verifying share and so name the signers. The signer crate writes transcripts;
//! the packager publishes them next to the log; auditors check them with
//! [`verify`]. Behind the `frost` feature, so the bootstrap does not carry it.

use std::collections::BTreeMap;

use frost_ed25519 as frost;
use thiserror::Error;

use crate::codec::Encode;
use crate::hash::Hash;
use crate::note;
use crate::root::AppRoot;

/// The parts of a transcript that the check needs, already decoded from text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedShares {
    /// SHA-256 (hex) of the encoded root the request named.
    pub root_hash: String,
    /// The message the keyholders were asked to sign.
    pub message: Vec<u8>,
    /// The serialized FROST signing package.
    pub package: Vec<u8>,
    /// Each signer's serialized signature share, by keyholder index.
    pub shares: BTreeMap<u16, Vec<u8>>,
    /// The aggregated Ed25519 signature.
    pub signature: [u8; 64],
}

/// Largest transcript file read (a few kilobytes in practice).
pub const MAX_TRANSCRIPT_BYTES: usize = 256 * 1024;

impl SignedShares {
    /// Reads the JSON transcript that `quince-signer sign aggregate` writes
    /// (`request.root`, `request.message`, `package`, `shares`, `signature`).
    pub fn from_json(bytes: &[u8]) -> Result<SignedShares, TranscriptError> {
        let bad = |what: &str| TranscriptError::Malformed(what.to_string());
        if bytes.len() > MAX_TRANSCRIPT_BYTES {
            return Err(bad("larger than a transcript can be"));
        }
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| TranscriptError::Malformed(e.to_string()))?;
        let text = |v: &serde_json::Value, what: &str| -> Result<String, TranscriptError> {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(&format!("{what} is missing or not a string")))
        };
        let hex_field = |v: &serde_json::Value, what: &str| -> Result<Vec<u8>, TranscriptError> {
            hex::decode(text(v, what)?).map_err(|_| bad(&format!("{what} is not hex")))
        };
        let message = crate::codec::parse_base64(
            &text(&v["request"]["message"], "request.message")?,
            crate::limits::MAX_NOTE_BYTES,
            "message",
        )
        .map_err(|e| TranscriptError::Malformed(e.to_string()))?;
        let mut shares = BTreeMap::new();
        for (k, share) in v["shares"]
            .as_object()
            .ok_or_else(|| bad("shares is missing"))?
        {
            let index: u16 = k
                .parse()
                .map_err(|_| bad("a share index is not a number"))?;
            shares.insert(index, hex_field(share, "share")?);
        }
        Ok(SignedShares {
            root_hash: text(&v["request"]["root"], "request.root")?,
            message,
            package: hex_field(&v["package"], "package")?,
            shares,
            signature: hex_field(&v["signature"], "signature")?
                .try_into()
                .map_err(|_| bad("signature is not 64 bytes"))?,
        })
    }
}

/// Why a transcript does not show a valid threshold signing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TranscriptError {
    /// The transcript is for another key generation.
    #[error("transcript is for root {got}, not {expected}")]
    WrongRoot {
        /// Root hash in the transcript.
        got: String,
        /// Root hash of the app's root.
        expected: String,
    },
    /// A field does not decode.
    #[error("malformed transcript: {0}")]
    Malformed(String),
    /// The signing package signs another message than the request.
    #[error("the signing package's message differs from the request's")]
    MessageChanged,
    /// An index that is not one of the root's keyholders.
    #[error("participant {0} is not one of the app's keyholders")]
    UnknownParticipant(u16),
    /// A share that does not verify against its keyholder's verifying share.
    #[error("signature share of participant {0} does not verify")]
    BadShare(u16),
    /// Fewer shares than the threshold.
    #[error("only {got} signature shares, {needed} needed")]
    TooFew {
        /// Shares present.
        got: usize,
        /// The threshold.
        needed: usize,
    },
    /// The aggregate is not a valid signature under the group key.
    #[error("the aggregated signature does not verify under the group key")]
    AggregateInvalid,
}

/// Hash (hex) of a root's encoding, naming one key generation.
pub fn root_hash(root: &AppRoot) -> String {
    Hash::of(&root.to_bytes()).to_hex()
}

/// FROST's identifier of keyholder `index`.
pub fn identifier(index: u16) -> Result<frost::Identifier, TranscriptError> {
    frost::Identifier::try_from(index).map_err(|_| TranscriptError::UnknownParticipant(index))
}

/// The root's public keys in FROST's form.
pub fn public_key_package(
    root: &AppRoot,
) -> Result<frost::keys::PublicKeyPackage, TranscriptError> {
    let bad = |e: frost::Error| TranscriptError::Malformed(format!("root keys: {e}"));
    let mut shares = BTreeMap::new();
    for p in root.participants() {
        shares.insert(
            identifier(p.id)?,
            frost::keys::VerifyingShare::deserialize(&p.verifying_share).map_err(bad)?,
        );
    }
    let group = frost::VerifyingKey::deserialize(root.group_key().as_bytes()).map_err(bad)?;
    Ok(frost::keys::PublicKeyPackage::new(
        shares,
        group,
        Some(u16::from(root.threshold())),
    ))
}

/// Checks a transcript against `root`: every share verifies against its
/// keyholder's verifying share, there are at least threshold of them, and the
/// aggregate verifies under the group key (strict RFC 8032). Returns who signed.
pub fn verify(root: &AppRoot, t: &SignedShares) -> Result<Vec<u16>, TranscriptError> {
    let expected = root_hash(root);
    if t.root_hash != expected {
        return Err(TranscriptError::WrongRoot {
            got: t.root_hash.clone(),
            expected,
        });
    }
    let package = frost::SigningPackage::deserialize(&t.package)
        .map_err(|e| TranscriptError::Malformed(format!("signing package: {e}")))?;
    if package.message() != t.message.as_slice() {
        return Err(TranscriptError::MessageChanged);
    }
    let public = public_key_package(root)?;
    for (&index, bytes) in &t.shares {
        if !root.participants().iter().any(|p| p.id == index) {
            return Err(TranscriptError::UnknownParticipant(index));
        }
        let id = identifier(index)?;
        let share = frost::round2::SignatureShare::deserialize(bytes)
            .map_err(|_| TranscriptError::BadShare(index))?;
        let vs = public
            .verifying_shares()
            .get(&id)
            .ok_or(TranscriptError::UnknownParticipant(index))?;
        frost_core::verify_signature_share::<frost::Ed25519Sha512>(
            id,
            vs,
            &share,
            &package,
            public.verifying_key(),
        )
        .map_err(|_| TranscriptError::BadShare(index))?;
    }
    let needed = usize::from(root.threshold());
    if t.shares.len() < needed {
        return Err(TranscriptError::TooFew {
            got: t.shares.len(),
            needed,
        });
    }
    if !note::verify_ed25519_strict(root.group_key(), package.message(), &t.signature) {
        return Err(TranscriptError::AggregateInvalid);
    }
    Ok(t.shares.keys().copied().collect())
}
