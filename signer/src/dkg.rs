//! Dealerless key generation (FROST DKG, RFC 9591's companion protocol) among
//! the keyholders of a [`Roster`], with messages that travel as files or pasted
//! text, so air-gapped keyholders can take part.
//!
//! The ceremony is three state types, each consumed by the next step:
//! [`start`] gives [`Round1Pending`] and a broadcast [`Round1Message`];
//! [`Round1Pending::round2`] takes everyone's round-1 messages and gives
//! [`Round2Pending`] and one encrypted [`Round2Message`] per other keyholder;
//! [`Round2Pending::finish`] takes the round-2 messages addressed to us and
//! gives our [`KeyShare`] and the app's public root.
//!
//! Every message is signed by its sender's card key. Round-2 messages are
//! encrypted to their recipient (age X25519) and carry a hash of the full set of
//! round-1 messages their sender used: if any two keyholders saw different
//! round-1 sets (a sender equivocated in round 1), finishing fails and names who.

use std::collections::BTreeMap;

use frost_ed25519 as frost;
use frost_ed25519::keys::dkg;
use quince_protocol::root::{AppRoot, Participant};
use quince_protocol::Hash;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::SignerError;
use crate::keyholder::{verify_from, Card, Keyholder};
use crate::share::KeyShare;

const ROUND1_DOMAIN: &str = "quince dkg round1 v1\n";
const ROUND2_DOMAIN: &str = "quince dkg round2 v1\n";

/// Who takes part in a key generation, in index order, and for which app.
/// Every keyholder must use the same roster; its hash ties every message to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// Human name of the app the key is for.
    pub app_name: String,
    /// Signatures needed.
    pub threshold: u16,
    /// The keyholders; participant `i` is `participants[i - 1]`.
    pub participants: Vec<Card>,
    /// For a signer rotation: the existing app (hex id) the new key will sign for.
    /// Absent for an app's first key, whose root defines a new app id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotates_app: Option<String>,
}

impl Roster {
    /// A roster; checks the cards, the threshold and that no card appears twice.
    pub fn new(
        app_name: &str,
        threshold: u16,
        participants: Vec<Card>,
    ) -> Result<Roster, SignerError> {
        let roster = Roster {
            app_name: app_name.to_string(),
            threshold,
            participants,
            rotates_app: None,
        };
        roster.check()?;
        Ok(roster)
    }

    /// The same roster, for a new key that replaces the signers of `app`.
    pub fn rotating(mut self, app: &quince_protocol::root::AppId) -> Roster {
        self.rotates_app = Some(app.to_string());
        self
    }

    /// Checks a roster read from a file.
    pub fn check(&self) -> Result<(), SignerError> {
        if let Some(app) = &self.rotates_app {
            app.parse::<quince_protocol::root::AppId>()
                .map_err(|e| SignerError::Malformed {
                    what: "roster",
                    detail: format!("rotates_app: {e}"),
                })?;
        }
        let n = self.participants.len();
        if self.threshold < 2 || usize::from(self.threshold) > n || n > 32 {
            return Err(SignerError::Malformed {
                what: "roster",
                detail: format!(
                    "threshold {} of {n} participants; need 2 <= threshold <= participants <= 32",
                    self.threshold
                ),
            });
        }
        for (i, card) in self.participants.iter().enumerate() {
            card.check()?;
            if self.participants[..i]
                .iter()
                .any(|c| c.auth_key == card.auth_key || c.age_recipient == card.age_recipient)
            {
                return Err(SignerError::Duplicate(i as u16 + 1));
            }
        }
        Ok(())
    }

    /// Hash of the roster, hex.
    pub fn hash(&self) -> String {
        Hash::of(&serde_json::to_vec(self).unwrap_or_default()).to_hex()
    }

    /// The index of `card` in the roster.
    pub fn index_of(&self, card: &Card) -> Result<u16, SignerError> {
        self.participants
            .iter()
            .position(|c| c == card)
            .map(|i| i as u16 + 1)
            .ok_or_else(|| {
                SignerError::Refused(format!("your card ({}) is not in this roster", card.name))
            })
    }

    fn card(&self, index: u16) -> Result<&Card, SignerError> {
        usize::from(index)
            .checked_sub(1)
            .and_then(|i| self.participants.get(i))
            .ok_or(SignerError::UnknownParticipant(index))
    }

    fn size(&self) -> u16 {
        self.participants.len() as u16
    }
}

/// A round-1 message, broadcast to every keyholder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round1Message {
    /// Hash of the roster.
    pub roster: String,
    /// Sender's index.
    pub from: u16,
    /// The FROST round-1 package (hex).
    pub package: String,
    /// Sender's signature (hex) over domain, roster, sender and package.
    pub signature: String,
}

/// A round-2 message for one recipient, encrypted to them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round2Message {
    /// Hash of the roster.
    pub roster: String,
    /// Sender's index.
    pub from: u16,
    /// Recipient's index.
    pub to: u16,
    /// age-armored ciphertext of the signed inner message.
    pub ciphertext: String,
}

/// What is inside a round-2 message's encryption.
#[derive(Serialize, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
struct Round2Inner {
    roster: String,
    from: u16,
    to: u16,
    /// Hash of the set of round-1 messages the sender used.
    round1_set: String,
    /// The FROST round-2 package (hex): secret to the recipient.
    package: String,
    signature: String,
}

/// After round 1: our secret round-1 state, waiting for everyone's round-1 messages.
pub struct Round1Pending {
    roster: Roster,
    me: u16,
    own_package: Vec<u8>,
    secret: dkg::round1::SecretPackage,
}

/// After round 2: our secret round-2 state, waiting for the messages addressed to us.
pub struct Round2Pending {
    roster: Roster,
    me: u16,
    round1_set: String,
    round1: BTreeMap<frost::Identifier, dkg::round1::Package>,
    secret: dkg::round2::SecretPackage,
}

/// Starts a key generation: our round-1 state and the message to broadcast.
pub fn start(
    roster: &Roster,
    keyholder: &Keyholder,
) -> Result<(Round1Pending, Round1Message), SignerError> {
    roster.check()?;
    let me = roster.index_of(&keyholder.card())?;
    let (secret, package) = dkg::part1(
        identifier(me)?,
        roster.size(),
        roster.threshold,
        rand::rngs::OsRng,
    )?;
    let package = package.serialize()?;
    let roster_hash = roster.hash();
    let signature = keyholder.sign(&round1_signed_bytes(&roster_hash, me, &package));
    let message = Round1Message {
        roster: roster_hash,
        from: me,
        package: hex::encode(&package),
        signature: hex::encode(signature),
    };
    Ok((
        Round1Pending {
            roster: roster.clone(),
            me,
            own_package: package,
            secret,
        },
        message,
    ))
}

impl Round1Pending {
    /// Our index in the roster.
    pub fn me(&self) -> u16 {
        self.me
    }

    /// Takes every participant's round-1 message (ours may be included) and makes
    /// one encrypted round-2 message for each other participant.
    pub fn round2(
        self,
        keyholder: &Keyholder,
        messages: &[Round1Message],
    ) -> Result<(Round2Pending, Vec<Round2Message>), SignerError> {
        let roster_hash = self.roster.hash();
        let mut packages: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
        packages.insert(self.me, self.own_package.clone());
        for m in messages {
            if m.roster != roster_hash {
                return Err(wrong_roster("round-1 message", &m.roster, &roster_hash));
            }
            let card = self.roster.card(m.from)?;
            let package = hex::decode(&m.package)
                .map_err(|e| SignerError::malformed("round-1 message")(e.to_string()))?;
            if !verify_from(
                card,
                &round1_signed_bytes(&roster_hash, m.from, &package),
                &m.signature,
            ) {
                return Err(SignerError::BadAuthentication {
                    participant: m.from,
                });
            }
            if m.from == self.me {
                if package != self.own_package {
                    return Err(SignerError::Refused(
                        "a round-1 message signed with our key is not the one we made".into(),
                    ));
                }
                continue;
            }
            if packages.insert(m.from, package).is_some() {
                return Err(SignerError::Duplicate(m.from));
            }
        }
        if packages.len() != self.roster.participants.len() {
            return Err(SignerError::TooFew {
                what: "round-1 messages",
                got: packages.len(),
                needed: self.roster.participants.len(),
            });
        }
        let round1_set = set_hash(&packages);
        let mut round1 = BTreeMap::new();
        for (&from, bytes) in packages.iter().filter(|(from, _)| **from != self.me) {
            let package =
                dkg::round1::Package::deserialize(bytes).map_err(|e| SignerError::Malformed {
                    what: "round-1 package",
                    detail: format!("from {from}: {e}"),
                })?;
            round1.insert(identifier(from)?, package);
        }
        let (secret, outgoing) =
            dkg::part2(self.secret, &round1).map_err(|e| blame(e, "round 1"))?;
        let mut out = Vec::new();
        for (id, package) in outgoing {
            let to = index_of(&self.roster, &id)?;
            let package = Zeroizing::new(hex::encode(package.serialize()?));
            let signed = round2_signed_bytes(&roster_hash, self.me, to, &round1_set, &package);
            let inner = Round2Inner {
                roster: roster_hash.clone(),
                from: self.me,
                to,
                round1_set: round1_set.clone(),
                package: package.to_string(),
                signature: hex::encode(keyholder.sign(&signed)),
            };
            let plain = Zeroizing::new(
                serde_json::to_vec(&inner).map_err(|e| SignerError::Frost(e.to_string()))?,
            );
            let recipient = self.roster.card(to)?.recipient()?;
            let ciphertext = age::encrypt_and_armor(&recipient, &plain)
                .map_err(|e| SignerError::Frost(format!("encrypting to participant {to}: {e}")))?;
            out.push(Round2Message {
                roster: roster_hash.clone(),
                from: self.me,
                to,
                ciphertext,
            });
        }
        Ok((
            Round2Pending {
                roster: self.roster,
                me: self.me,
                round1_set,
                round1,
                secret,
            },
            out,
        ))
    }

    /// The state as bytes, to be sealed in the keyholder's vault between runs.
    pub fn to_secret_bytes(&self) -> Result<Zeroizing<Vec<u8>>, SignerError> {
        let stored = StoredRound1 {
            roster: self.roster.clone(),
            me: self.me,
            own_package: hex::encode(&self.own_package),
            secret: hex::encode(self.secret.serialize()?),
        };
        Ok(Zeroizing::new(
            serde_json::to_vec(&stored).map_err(|e| SignerError::Frost(e.to_string()))?,
        ))
    }

    /// Reads the state written by [`Round1Pending::to_secret_bytes`].
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Round1Pending, SignerError> {
        let bad = SignerError::malformed("saved round-1 state");
        let stored: StoredRound1 = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let secret = Zeroizing::new(hex::decode(&stored.secret).map_err(|e| bad(e.to_string()))?);
        Ok(Round1Pending {
            roster: stored.roster.clone(),
            me: stored.me,
            own_package: hex::decode(&stored.own_package).map_err(|e| bad(e.to_string()))?,
            secret: dkg::round1::SecretPackage::deserialize(&secret)
                .map_err(|e| bad(e.to_string()))?,
        })
    }
}

impl Round2Pending {
    /// Our index in the roster.
    pub fn me(&self) -> u16 {
        self.me
    }

    /// Takes the round-2 messages (those addressed to others are ignored) and
    /// finishes: our key share, and the app's public root.
    pub fn finish(
        self,
        keyholder: &Keyholder,
        messages: &[Round2Message],
    ) -> Result<KeyShare, SignerError> {
        let roster_hash = self.roster.hash();
        let mut received = BTreeMap::new();
        for m in messages.iter().filter(|m| m.to == self.me) {
            if m.roster != roster_hash {
                return Err(wrong_roster("round-2 message", &m.roster, &roster_hash));
            }
            let card = self.roster.card(m.from)?;
            let plain = keyholder.decrypt(&m.ciphertext)?;
            let inner: Round2Inner =
                serde_json::from_slice(&plain).map_err(|e| SignerError::Malformed {
                    what: "round-2 message",
                    detail: e.to_string(),
                })?;
            let signed = round2_signed_bytes(
                &inner.roster,
                inner.from,
                inner.to,
                &inner.round1_set,
                &inner.package,
            );
            if inner.from != m.from
                || inner.to != self.me
                || inner.roster != roster_hash
                || !verify_from(card, &signed, &inner.signature)
            {
                return Err(SignerError::BadAuthentication {
                    participant: m.from,
                });
            }
            if inner.round1_set != self.round1_set {
                return Err(SignerError::BroadcastMismatch {
                    participant: m.from,
                });
            }
            let bytes = Zeroizing::new(
                hex::decode(&inner.package)
                    .map_err(|e| SignerError::malformed("round-2 package")(e.to_string()))?,
            );
            let package =
                dkg::round2::Package::deserialize(&bytes).map_err(|e| SignerError::Malformed {
                    what: "round-2 package",
                    detail: format!("from {}: {e}", m.from),
                })?;
            if received.insert(identifier(m.from)?, package).is_some() {
                return Err(SignerError::Duplicate(m.from));
            }
        }
        let needed = self.roster.participants.len() - 1;
        if received.len() != needed {
            return Err(SignerError::TooFew {
                what: "round-2 messages for us",
                got: received.len(),
                needed,
            });
        }
        let (key, public) =
            dkg::part3(&self.secret, &self.round1, &received).map_err(|e| blame(e, "round 2"))?;
        let root = root_from(&self.roster, &public)?;
        let share = KeyShare::new(root, self.me, key)?;
        Ok(match &self.roster.rotates_app {
            Some(app) => share.for_app(app.parse().map_err(|e| SignerError::Malformed {
                what: "roster",
                detail: format!("{e}"),
            })?),
            None => share,
        })
    }

    /// The state as bytes, to be sealed in the keyholder's vault between runs.
    pub fn to_secret_bytes(&self) -> Result<Zeroizing<Vec<u8>>, SignerError> {
        let mut round1 = BTreeMap::new();
        for (id, p) in &self.round1 {
            round1.insert(index_of(&self.roster, id)?, hex::encode(p.serialize()?));
        }
        let stored = StoredRound2 {
            roster: self.roster.clone(),
            me: self.me,
            round1_set: self.round1_set.clone(),
            round1,
            secret: hex::encode(self.secret.serialize()?),
        };
        Ok(Zeroizing::new(
            serde_json::to_vec(&stored).map_err(|e| SignerError::Frost(e.to_string()))?,
        ))
    }

    /// Reads the state written by [`Round2Pending::to_secret_bytes`].
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Round2Pending, SignerError> {
        let bad = SignerError::malformed("saved round-2 state");
        let stored: StoredRound2 = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let mut round1 = BTreeMap::new();
        for (index, p) in &stored.round1 {
            let bytes = hex::decode(p).map_err(|e| bad(e.to_string()))?;
            round1.insert(
                identifier(*index)?,
                dkg::round1::Package::deserialize(&bytes).map_err(|e| bad(e.to_string()))?,
            );
        }
        let secret = Zeroizing::new(hex::decode(&stored.secret).map_err(|e| bad(e.to_string()))?);
        Ok(Round2Pending {
            roster: stored.roster.clone(),
            me: stored.me,
            round1_set: stored.round1_set.clone(),
            round1,
            secret: dkg::round2::SecretPackage::deserialize(&secret)
                .map_err(|e| bad(e.to_string()))?,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct StoredRound1 {
    roster: Roster,
    me: u16,
    own_package: String,
    secret: String,
}

#[derive(Serialize, Deserialize)]
struct StoredRound2 {
    roster: Roster,
    me: u16,
    round1_set: String,
    round1: BTreeMap<u16, String>,
    secret: String,
}

impl Drop for StoredRound1 {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

impl Drop for StoredRound2 {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

/// The FROST identifier of roster index `index` (1-based).
pub fn identifier(index: u16) -> Result<frost::Identifier, SignerError> {
    Ok(quince_protocol::transcript::identifier(index)?)
}

fn index_of(roster: &Roster, id: &frost::Identifier) -> Result<u16, SignerError> {
    (1..=roster.size())
        .find(|i| identifier(*i).ok().as_ref() == Some(id))
        .ok_or_else(|| SignerError::Frost("identifier outside the roster".into()))
}

/// The public root that the DKG produced, with participants in roster order.
fn root_from(
    roster: &Roster,
    public: &frost::keys::PublicKeyPackage,
) -> Result<AppRoot, SignerError> {
    let group: [u8; 32] = public
        .verifying_key()
        .serialize()?
        .try_into()
        .map_err(|_| SignerError::Frost("group key is not 32 bytes".into()))?;
    let mut participants = Vec::new();
    for index in 1..=roster.size() {
        let share = public
            .verifying_shares()
            .get(&identifier(index)?)
            .ok_or_else(|| {
                SignerError::Frost(format!("no verifying share for participant {index}"))
            })?;
        let verifying_share: [u8; 32] = share
            .serialize()?
            .try_into()
            .map_err(|_| SignerError::Frost("verifying share is not 32 bytes".into()))?;
        participants.push(Participant {
            id: index,
            verifying_share,
        });
    }
    let threshold = u8::try_from(roster.threshold)
        .map_err(|_| SignerError::Frost("threshold too large".into()))?;
    AppRoot::new(&roster.app_name, threshold, group, participants)
        .map_err(|e| SignerError::Frost(format!("the key generation gave an invalid root: {e}")))
}

fn set_hash(packages: &BTreeMap<u16, Vec<u8>>) -> String {
    let mut bytes = Vec::new();
    for (from, p) in packages {
        bytes.extend_from_slice(&from.to_be_bytes());
        bytes.extend_from_slice(&(p.len() as u32).to_be_bytes());
        bytes.extend_from_slice(p);
    }
    Hash::of(&bytes).to_hex()
}

fn round1_signed_bytes(roster: &str, from: u16, package: &[u8]) -> Vec<u8> {
    format!(
        "{ROUND1_DOMAIN}{roster}\n{from}\n{}\n",
        hex::encode(package)
    )
    .into_bytes()
}

fn round2_signed_bytes(
    roster: &str,
    from: u16,
    to: u16,
    round1_set: &str,
    package_hex: &str,
) -> Vec<u8> {
    format!("{ROUND2_DOMAIN}{roster}\n{from}\n{to}\n{round1_set}\n{package_hex}\n").into_bytes()
}

fn wrong_roster(what: &'static str, got: &str, expected: &str) -> SignerError {
    SignerError::WrongSession {
        what,
        other: format!("roster {}", &got[..got.len().min(16)]),
        expected: format!("roster {}", &expected[..expected.len().min(16)]),
    }
}

/// Turns FROST's culprit identifiers into a message that names participants.
fn blame(e: frost::Error, round: &str) -> SignerError {
    let culprits = e.culprits();
    if culprits.is_empty() {
        SignerError::Frost(format!("{round}: {e}"))
    } else {
        SignerError::Frost(format!("{round}: {e} (from participant(s) {culprits:?})"))
    }
}

impl std::fmt::Debug for Round1Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Round1Pending(participant {})", self.me)
    }
}

impl std::fmt::Debug for Round2Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Round2Pending(participant {})", self.me)
    }
}
