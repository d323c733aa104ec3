//! Threshold signing: a coordinator's [`SigningRequest`], each keyholder's
//! commitment (round 1) and signature share (round 2), and the coordinator's
//! aggregation into one Ed25519 signature plus a [`Transcript`] that shows which
//! keyholders signed.
//!
//! Keyholders never sign what they were not shown: the request carries the exact
//! message, the keyholder checks it is a checkpoint (or rotation) of their own
//! app when committing, and refuses a signing package whose message differs.
//! Nonces are used once: [`Committed`] is consumed by [`Committed::respond`],
//! and the on-disk [`NonceStore`] deletes them and leaves a marker before the
//! share is returned. Anyone can check a transcript with [`verify_transcript`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use frost_ed25519 as frost;
use quince_protocol::checkpoint::Checkpoint;
use quince_protocol::note::{self, Note, NoteSignature};
use quince_protocol::root::{AppId, AppRoot};
use quince_protocol::transcript;
use quince_protocol::Hash;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::dkg::identifier;
use crate::error::SignerError;
use crate::share::KeyShare;
use crate::vault::Vault;

/// What a signing is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// A checkpoint body of the app's log.
    Checkpoint,
    /// A new root for a signer rotation, signed by the new group.
    Rotation,
}

/// The coordinator's request: exactly what the keyholders are asked to sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningRequest {
    /// Random id of this signing; nonces are tied to it.
    pub id: String,
    /// The app.
    pub app: String,
    /// SHA-256 (hex) of the encoded root whose keyholders sign.
    pub root: String,
    /// What the message is.
    pub kind: MessageKind,
    /// The exact bytes to sign, base64.
    pub message: String,
    /// What the checkpoint adds to the last signed one, so that keyholders
    /// see the releases they sign (checked against the checkpoint's root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
}

/// What a new checkpoint adds to the last signed one: that checkpoint (a
/// signed note, base64; none for a log's first), the compact range of its
/// tree (hex hashes, see `merkle::compact_range`) and the new entries
/// (base64). The packager writes it beside the checkpoint body
/// (`pending/since.json`); a keyholder checks that the previous checkpoint
/// is the group's and that its tree plus these entries is exactly the tree
/// being signed, then sees each entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Since {
    /// The last signed checkpoint note, base64.
    pub previous: Option<String>,
    /// Its tree's compact range, hex.
    pub compact: Vec<String>,
    /// The entries appended since, base64.
    pub entries: Vec<String>,
}

/// The most entries a request may list.
const MAX_SINCE_ENTRIES: usize = 10_000;

/// A keyholder's round-1 answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitmentMessage {
    /// The request id.
    pub request: String,
    /// Root hash of the key share used (another key generation gives another hash).
    pub root: String,
    /// The keyholder's index.
    pub from: u16,
    /// FROST signing commitments, hex.
    pub commitments: String,
}

/// The coordinator's signing package, sent to the keyholders who committed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMessage {
    /// The request it answers.
    pub request: SigningRequest,
    /// FROST signing package (commitments and message), hex.
    pub package: String,
}

/// A keyholder's round-2 answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareMessage {
    /// The request id.
    pub request: String,
    /// The keyholder's index.
    pub from: u16,
    /// FROST signature share, hex.
    pub share: String,
}

/// The record of one signing: enough for anyone holding the root to check which
/// keyholders signed and that the signature is theirs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    /// The request (with the message).
    pub request: SigningRequest,
    /// FROST signing package, hex (all commitments and the message).
    pub package: String,
    /// Signature share of each signer, hex, by index.
    pub shares: BTreeMap<u16, String>,
    /// The aggregated Ed25519 signature, hex.
    pub signature: String,
}

impl SigningRequest {
    /// A request to sign a checkpoint body of `root`'s app.
    pub fn checkpoint(
        root: &AppRoot,
        app: &AppId,
        body: &str,
    ) -> Result<SigningRequest, SignerError> {
        let request = SigningRequest::new(root, app, MessageKind::Checkpoint, body.as_bytes());
        request.describe(root)?;
        Ok(request)
    }

    /// A request to sign a rotation to `new_root` (asked of the new root's keyholders).
    pub fn rotation(new_root: &AppRoot, app: &AppId) -> SigningRequest {
        let message = quince_protocol::record::rotation_message(app, new_root);
        SigningRequest::new(new_root, app, MessageKind::Rotation, &message)
    }

    fn new(root: &AppRoot, app: &AppId, kind: MessageKind, message: &[u8]) -> SigningRequest {
        let mut id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        SigningRequest {
            id: hex::encode(id),
            app: app.to_string(),
            root: root_hash(root),
            kind,
            message: quince_protocol::codec::to_base64(message),
            since: None,
        }
    }

    /// The message bytes.
    pub fn message(&self) -> Result<Vec<u8>, SignerError> {
        quince_protocol::codec::parse_base64(
            &self.message,
            quince_protocol::limits::MAX_NOTE_BYTES,
            "message",
        )
        .map_err(|e| SignerError::Malformed {
            what: "signing request",
            detail: e.to_string(),
        })
    }

    /// What a keyholder is shown before committing; also checks the message is
    /// well formed for its kind and belongs to the request's app, and that
    /// the entries it lists (if any) are what the checkpoint adds to the
    /// last one `root`'s group signed.
    pub fn describe(&self, root: &AppRoot) -> Result<String, SignerError> {
        let app: AppId = self.app.parse().map_err(|e| SignerError::Malformed {
            what: "signing request",
            detail: format!("app: {e}"),
        })?;
        let message = self.message()?;
        match self.kind {
            MessageKind::Checkpoint => {
                let text = std::str::from_utf8(&message)
                    .map_err(|_| SignerError::Refused("the checkpoint is not UTF-8 text".into()))?;
                let cp = Checkpoint::parse(text)
                    .map_err(|e| SignerError::Refused(format!("not a checkpoint: {e}")))?;
                if cp.origin != app.origin() {
                    return Err(SignerError::Refused(format!(
                        "the checkpoint is for log {}, not this app's",
                        cp.origin
                    )));
                }
                let mut out = format!(
                    "checkpoint of app {app}\n  tree size {}\n  root hash {}\n",
                    cp.size,
                    cp.root.to_base64()
                );
                match &self.since {
                    Some(since) => out.push_str(&describe_since(since, root, &app, &cp)?),
                    None => out.push_str(
                        "  NOTE: no list of the entries added came with this request: you cannot see what this tree holds\n",
                    ),
                }
                Ok(out)
            }
            MessageKind::Rotation => Ok(format!(
                "signer rotation of app {app} to a new root (message {} bytes)\n",
                message.len()
            )),
        }
    }
}

/// The lines that show what `since` adds, after checking it makes `cp`.
fn describe_since(
    since: &Since,
    root: &AppRoot,
    app: &AppId,
    cp: &Checkpoint,
) -> Result<String, SignerError> {
    use quince_protocol::codec::{self, Decode as _};
    use quince_protocol::limits::{MAX_NOTE_BYTES, MAX_RECORD_BYTES};
    use quince_protocol::record::LogEntry;
    let refuse = |why: String| {
        SignerError::Refused(format!(
            "{why}; refuse to sign, and ask the coordinator why"
        ))
    };
    if since.entries.len() > MAX_SINCE_ENTRIES || since.compact.len() > 64 {
        return Err(refuse("the request lists too many entries".into()));
    }
    let mut out = String::new();
    let (old_size, old_root) = match &since.previous {
        None => (0, quince_protocol::merkle::empty_root()),
        Some(b64) => {
            let bytes = codec::parse_base64(b64, MAX_NOTE_BYTES, "previous checkpoint")
                .map_err(|e| refuse(e.to_string()))?;
            let verifier = root.checkpoint_verifier(app);
            match quince_protocol::checkpoint::VerifiedCheckpoint::verify(
                &bytes,
                &app.origin(),
                &verifier,
            ) {
                Ok(prev) => {
                    out.push_str(&format!(
                        "  since the last checkpoint your group signed (tree size {}), it adds:\n",
                        prev.size()
                    ));
                    (prev.size(), *prev.root())
                }
                Err(e) => {
                    // Once, right after a rotation, the previous head is the
                    // old group's: say so, and check the rest against it.
                    let note = Note::parse(&bytes).map_err(|e| refuse(e.to_string()))?;
                    let prev = Checkpoint::parse(note.text()).map_err(|e| refuse(e.to_string()))?;
                    out.push_str(&format!(
                        "  WARNING: the previous checkpoint (tree size {}) is not signed by your group ({e}); expected only right after a signer rotation. It adds:\n",
                        prev.size
                    ));
                    (prev.size, prev.root)
                }
            }
        }
    };
    let compact = since
        .compact
        .iter()
        .map(|h| Hash::from_hex(h, "compact range").map_err(|e| refuse(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let entries = since
        .entries
        .iter()
        .map(|e| {
            codec::parse_base64(e, MAX_RECORD_BYTES, "entry").map_err(|e| refuse(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let leaves: Vec<Hash> = entries
        .iter()
        .map(|e| quince_protocol::merkle::leaf_hash(e))
        .collect();
    let grown = quince_protocol::merkle::root_after(&compact, old_size, &leaves);
    let fits = grown.is_some_and(|(old, new)| old == old_root && new == cp.root)
        && old_size + entries.len() as u64 == cp.size;
    if !fits {
        return Err(refuse(format!(
            "the {} entries sent with this request do not make the checkpoint's tree from the previous one",
            entries.len()
        )));
    }
    for bytes in &entries {
        match LogEntry::from_bytes(bytes).map_err(|e| refuse(format!("an entry: {e}")))? {
            LogEntry::Release(r) => {
                let platforms: Vec<&str> = r.platforms.iter().map(|p| p.as_str()).collect();
                out.push_str(&format!(
                    "  + release {} for {}, {} bytes, manifest sha256 {}\n",
                    r.version,
                    platforms.join(" "),
                    r.size,
                    r.manifest.to_hex()
                ));
                out.push_str(&match r.rollout.as_percent() {
                    0 => format!(
                        "    HALTED on channel {}: offered to no one more\n",
                        r.channel
                    ),
                    100 => format!("    offered on channel {} to everyone\n", r.channel),
                    n => format!(
                        "    offered on channel {} to {n}% of its installs (a staged rollout)\n",
                        r.channel
                    ),
                });
            }
            LogEntry::Rotation(r) => out.push_str(&format!(
                "  + signer rotation: a new root, group key {}\n",
                hex::encode(r.root.group_key().as_bytes())
            )),
        }
    }
    if entries.is_empty() {
        out.push_str("  (nothing: the same tree signed again)\n");
    }
    Ok(out)
}

pub use quince_protocol::transcript::root_hash;

/// A keyholder's secret state between round 1 and round 2. Prints as `Committed(..)`.
pub struct Committed {
    request: String,
    message: Hash,
    commitments: frost::round1::SigningCommitments,
    nonces: frost::round1::SigningNonces,
}

impl fmt::Debug for Committed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Committed({})", self.request)
    }
}

/// Round 1 for a keyholder: checks the request against the share, then makes
/// fresh nonces and the commitment to send back.
pub fn commit(
    share: &KeyShare,
    request: &SigningRequest,
) -> Result<(Committed, CommitmentMessage), SignerError> {
    check_request_for(share, request)?;
    request.describe(share.root())?;
    let (nonces, commitments) =
        frost::round1::commit(share.key().signing_share(), &mut rand::rngs::OsRng);
    let message = CommitmentMessage {
        request: request.id.clone(),
        root: root_hash(share.root()),
        from: share.index(),
        commitments: hex::encode(commitments.serialize()?),
    };
    let committed = Committed {
        request: request.id.clone(),
        message: Hash::of(&request.message()?),
        commitments,
        nonces,
    };
    Ok((committed, message))
}

impl Committed {
    /// The request id.
    pub fn request(&self) -> &str {
        &self.request
    }

    /// Round 2 for a keyholder: checks that the package asks to sign exactly the
    /// message committed to, with our own commitment, then makes the share. The
    /// nonces are consumed.
    pub fn respond(
        self,
        share: &KeyShare,
        package: &PackageMessage,
    ) -> Result<ShareMessage, SignerError> {
        if package.request.id != self.request {
            return Err(SignerError::WrongSession {
                what: "signing package",
                other: format!("request {}", package.request.id),
                expected: format!("request {}", self.request),
            });
        }
        check_request_for(share, &package.request)?;
        let signing_package = decode_package(&package.package)?;
        if Hash::of(signing_package.message()) != self.message
            || Hash::of(&package.request.message()?) != self.message
        {
            return Err(SignerError::MessageChanged);
        }
        match signing_package
            .signing_commitments()
            .get(&identifier(share.index())?)
        {
            Some(c) if *c == self.commitments => {}
            _ => {
                return Err(SignerError::Refused(
                    "the signing package does not hold the commitment we made".into(),
                ))
            }
        }
        if signing_package.signing_commitments().len() < usize::from(share.root().threshold()) {
            return Err(SignerError::TooFew {
                what: "commitments",
                got: signing_package.signing_commitments().len(),
                needed: usize::from(share.root().threshold()),
            });
        }
        let sig_share = frost::round2::sign(&signing_package, &self.nonces, share.key())?;
        Ok(ShareMessage {
            request: self.request.clone(),
            from: share.index(),
            share: hex::encode(sig_share.serialize()),
        })
    }

    fn to_secret_bytes(&self) -> Result<Zeroizing<Vec<u8>>, SignerError> {
        let stored = StoredNonces {
            request: self.request.clone(),
            message: self.message.to_hex(),
            commitments: hex::encode(self.commitments.serialize()?),
            nonces: hex::encode(Zeroizing::new(self.nonces.serialize()?).as_slice()),
        };
        Ok(Zeroizing::new(
            serde_json::to_vec(&stored).map_err(|e| SignerError::Frost(e.to_string()))?,
        ))
    }

    fn from_secret_bytes(bytes: &[u8]) -> Result<Committed, SignerError> {
        let bad = SignerError::malformed("saved nonces");
        let stored: StoredNonces = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let nonces = Zeroizing::new(hex::decode(&stored.nonces).map_err(|e| bad(e.to_string()))?);
        let commitments = hex::decode(&stored.commitments).map_err(|e| bad(e.to_string()))?;
        Ok(Committed {
            request: stored.request.clone(),
            message: Hash::from_hex(&stored.message, "message hash")
                .map_err(|e| bad(e.to_string()))?,
            commitments: frost::round1::SigningCommitments::deserialize(&commitments)
                .map_err(|e| bad(e.to_string()))?,
            nonces: frost::round1::SigningNonces::deserialize(&nonces)
                .map_err(|e| bad(e.to_string()))?,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct StoredNonces {
    request: String,
    message: String,
    commitments: String,
    nonces: String,
}

impl Drop for StoredNonces {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.nonces);
    }
}

/// Where a keyholder keeps nonces between the two rounds: one sealed file per
/// request, removed (and replaced by a `.used` marker) when taken.
#[derive(Debug, Clone)]
pub struct NonceStore {
    dir: PathBuf,
}

impl NonceStore {
    /// A store in `dir`.
    pub fn new(dir: &Path) -> NonceStore {
        NonceStore {
            dir: dir.to_path_buf(),
        }
    }

    /// Seals the nonces of a commitment.
    pub fn put(&self, vault: &Vault, committed: &Committed) -> Result<(), SignerError> {
        if self.used_marker(&committed.request).exists() || self.path(&committed.request).exists() {
            return Err(SignerError::NonceReused {
                request: committed.request.clone(),
            });
        }
        vault.seal(
            &self.path(&committed.request),
            &committed.to_secret_bytes()?,
        )
    }

    /// Takes the nonces of request `id` out of the store, once.
    pub fn take(&self, vault: &Vault, id: &str) -> Result<Committed, SignerError> {
        let path = self.path(id);
        if self.used_marker(id).exists() || !path.exists() {
            return Err(SignerError::NonceReused {
                request: id.to_string(),
            });
        }
        let committed = Committed::from_secret_bytes(&vault.open(&path)?)?;
        // Mark as used before anything can sign with them.
        crate::vault::write_private(&self.used_marker(id), b"")?;
        std::fs::remove_file(&path).map_err(SignerError::io(&path))?;
        Ok(committed)
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{}.nonces.age", sanitize(id)))
    }

    fn used_marker(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{}.used", sanitize(id)))
    }
}

/// Coordinator: builds the signing package from the commitments received.
pub fn package(
    root: &AppRoot,
    request: &SigningRequest,
    commitments: &[CommitmentMessage],
) -> Result<PackageMessage, SignerError> {
    let expected_root = root_hash(root);
    if request.root != expected_root {
        return Err(SignerError::WrongSession {
            what: "signing request",
            other: format!("root {}", short(&request.root)),
            expected: format!("root {}", short(&expected_root)),
        });
    }
    let mut map = BTreeMap::new();
    for c in commitments {
        if c.request != request.id {
            return Err(SignerError::WrongSession {
                what: "commitment",
                other: format!("request {} (participant {})", c.request, c.from),
                expected: format!("request {}", request.id),
            });
        }
        if c.root != expected_root {
            return Err(SignerError::WrongSession {
                what: "commitment",
                other: format!(
                    "another key generation or app (participant {}, root {})",
                    c.from,
                    short(&c.root)
                ),
                expected: format!("root {}", short(&expected_root)),
            });
        }
        participant(root, c.from)?;
        let bytes = hex::decode(&c.commitments)
            .map_err(|e| SignerError::malformed("commitment")(e.to_string()))?;
        let commitment = frost::round1::SigningCommitments::deserialize(&bytes).map_err(|e| {
            SignerError::Malformed {
                what: "commitment",
                detail: format!("participant {}: {e}", c.from),
            }
        })?;
        if map.insert(identifier(c.from)?, commitment).is_some() {
            return Err(SignerError::Duplicate(c.from));
        }
    }
    let needed = usize::from(root.threshold());
    if map.len() < needed {
        return Err(SignerError::TooFew {
            what: "commitments",
            got: map.len(),
            needed,
        });
    }
    let signing_package = frost::SigningPackage::new(map, &request.message()?);
    Ok(PackageMessage {
        request: request.clone(),
        package: hex::encode(signing_package.serialize()?),
    })
}

/// Coordinator: checks every share against its keyholder's verifying share,
/// aggregates, and checks the result with ed25519-dalek (strict) under the
/// group key before returning it.
pub fn aggregate(
    root: &AppRoot,
    package: &PackageMessage,
    shares: &[ShareMessage],
) -> Result<([u8; 64], Transcript), SignerError> {
    let signing_package = decode_package(&package.package)?;
    if Hash::of(signing_package.message()) != Hash::of(&package.request.message()?) {
        return Err(SignerError::MessageChanged);
    }
    let public = public_key_package(root)?;
    let mut map = BTreeMap::new();
    let mut transcript_shares = BTreeMap::new();
    for s in shares {
        if s.request != package.request.id {
            return Err(SignerError::WrongSession {
                what: "signature share",
                other: format!("request {} (participant {})", s.request, s.from),
                expected: format!("request {}", package.request.id),
            });
        }
        participant(root, s.from)?;
        let id = identifier(s.from)?;
        if !signing_package.signing_commitments().contains_key(&id) {
            return Err(SignerError::Refused(format!(
                "participant {} sent a share but made no commitment in this package",
                s.from
            )));
        }
        let bytes = hex::decode(&s.share).map_err(|_| SignerError::BadSignatureShare {
            participant: s.from,
        })?;
        let share = frost::round2::SignatureShare::deserialize(&bytes).map_err(|_| {
            SignerError::BadSignatureShare {
                participant: s.from,
            }
        })?;
        let verifying_share = public
            .verifying_shares()
            .get(&id)
            .ok_or(SignerError::UnknownParticipant(s.from))?;
        frost_core::verify_signature_share::<frost::Ed25519Sha512>(
            id,
            verifying_share,
            &share,
            &signing_package,
            public.verifying_key(),
        )
        .map_err(|_| SignerError::BadSignatureShare {
            participant: s.from,
        })?;
        if map.insert(id, share).is_some() {
            return Err(SignerError::Duplicate(s.from));
        }
        transcript_shares.insert(s.from, s.share.clone());
    }
    let committed = signing_package.signing_commitments().len();
    if map.len() != committed || map.len() < usize::from(root.threshold()) {
        return Err(SignerError::TooFew {
            what: "signature shares",
            got: map.len(),
            needed: committed.max(usize::from(root.threshold())),
        });
    }
    let signature = frost::aggregate(&signing_package, &map, &public).map_err(|e| {
        match e.culprits().first() {
            Some(c) => SignerError::BadSignatureShare {
                participant: index_from_identifier(root, c),
            },
            None => SignerError::Frost(e.to_string()),
        }
    })?;
    let signature: [u8; 64] = signature
        .serialize()?
        .try_into()
        .map_err(|_| SignerError::Frost("signature is not 64 bytes".into()))?;
    if !note::verify_ed25519_strict(root.group_key(), signing_package.message(), &signature) {
        return Err(SignerError::AggregateInvalid);
    }
    let transcript = Transcript {
        request: package.request.clone(),
        package: package.package.clone(),
        shares: transcript_shares,
        signature: hex::encode(signature),
    };
    Ok((signature, transcript))
}

/// The signed checkpoint note: the body and one note signature by the group key.
pub fn signed_checkpoint(
    root: &AppRoot,
    app: &AppId,
    body: &str,
    signature: &[u8; 64],
) -> Result<Vec<u8>, SignerError> {
    let verifier = root.checkpoint_verifier(app);
    let mut note = Note::unsigned(body).map_err(|e| SignerError::Refused(e.to_string()))?;
    note.add_signature(
        NoteSignature::new(&app.origin(), verifier.key_id(), signature.to_vec())
            .map_err(|e| SignerError::Frost(e.to_string()))?,
    )
    .map_err(|e| SignerError::Frost(e.to_string()))?;
    Ok(note.to_bytes())
}

/// Checks a transcript against a root: every share verifies against its
/// keyholder's verifying share, there are at least threshold of them, and the
/// signature verifies under the group key. Returns who signed.
pub fn verify_transcript(root: &AppRoot, transcript: &Transcript) -> Result<Vec<u16>, SignerError> {
    let malformed = SignerError::malformed("transcript");
    let mut shares = BTreeMap::new();
    for (index, hex_share) in &transcript.shares {
        let bytes = hex::decode(hex_share).map_err(|_| SignerError::BadSignatureShare {
            participant: *index,
        })?;
        shares.insert(*index, bytes);
    }
    let parts = transcript::SignedShares {
        root_hash: transcript.request.root.clone(),
        message: transcript.request.message()?,
        package: hex::decode(&transcript.package).map_err(|e| malformed(e.to_string()))?,
        shares,
        signature: hex::decode(&transcript.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(SignerError::AggregateInvalid)?,
    };
    Ok(transcript::verify(root, &parts)?)
}

fn check_request_for(share: &KeyShare, request: &SigningRequest) -> Result<(), SignerError> {
    if request.app != share.app_id().to_string() {
        return Err(SignerError::WrongSession {
            what: "signing request",
            other: format!("app {}", short(&request.app)),
            expected: format!("app {}", short(&share.app_id().to_string())),
        });
    }
    let ours = root_hash(share.root());
    if request.root != ours {
        return Err(SignerError::WrongSession {
            what: "signing request",
            other: format!("another key generation (root {})", short(&request.root)),
            expected: format!("root {}", short(&ours)),
        });
    }
    Ok(())
}

fn participant(root: &AppRoot, index: u16) -> Result<(), SignerError> {
    if root.participants().iter().any(|p| p.id == index) {
        Ok(())
    } else {
        Err(SignerError::UnknownParticipant(index))
    }
}

fn public_key_package(root: &AppRoot) -> Result<frost::keys::PublicKeyPackage, SignerError> {
    Ok(transcript::public_key_package(root)?)
}

fn decode_package(hex_text: &str) -> Result<frost::SigningPackage, SignerError> {
    let bytes = hex::decode(hex_text)
        .map_err(|e| SignerError::malformed("signing package")(e.to_string()))?;
    frost::SigningPackage::deserialize(&bytes)
        .map_err(|e| SignerError::malformed("signing package")(e.to_string()))
}

fn index_from_identifier(root: &AppRoot, id: &frost::Identifier) -> u16 {
    root.participants()
        .iter()
        .map(|p| p.id)
        .find(|i| identifier(*i).ok().as_ref() == Some(id))
        .unwrap_or(0)
}

fn sanitize(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_hexdigit)
        .take(64)
        .collect()
}

fn short(hex_text: &str) -> &str {
    &hex_text[..hex_text.len().min(16)]
}

#[cfg(test)]
mod tests;
