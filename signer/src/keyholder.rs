//! A keyholder's long-term identity for ceremonies: an age X25519 key, so that
//! others can encrypt round-2 key-generation messages to them, and an Ed25519
//! key that authenticates every message they send. The public half is a
//! [`Card`] that keyholders exchange (and compare fingerprints of) before a key
//! generation. The FROST share itself lives in `share`.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::SignerError;
use crate::vault::Vault;

/// A keyholder's public card: who they are and how to reach them securely.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// A human name, for messages and transcripts.
    pub name: String,
    /// age X25519 recipient (`age1...`) that round-2 messages are encrypted to.
    pub age_recipient: String,
    /// Ed25519 key (hex) that signs this keyholder's messages.
    pub auth_key: String,
}

impl Card {
    /// Short fingerprint to compare by voice or chat before trusting a card.
    pub fn fingerprint(&self) -> String {
        let h = quince_protocol::Hash::of(
            format!("{}\n{}\n{}", self.name, self.age_recipient, self.auth_key).as_bytes(),
        );
        h.to_hex()[..16].to_string()
    }

    /// Checks that the card's keys parse.
    pub fn check(&self) -> Result<(), SignerError> {
        self.recipient()?;
        self.verifying_key()?;
        if self.name.is_empty() || self.name.len() > 64 || self.name.chars().any(char::is_control) {
            return Err(SignerError::Malformed {
                what: "card",
                detail: "name must be 1 to 64 printable characters".into(),
            });
        }
        Ok(())
    }

    pub(crate) fn recipient(&self) -> Result<age::x25519::Recipient, SignerError> {
        age::x25519::Recipient::from_str(&self.age_recipient).map_err(|e| SignerError::Malformed {
            what: "card",
            detail: format!("age recipient: {e}"),
        })
    }

    pub(crate) fn verifying_key(&self) -> Result<VerifyingKey, SignerError> {
        let bytes: [u8; 32] = hex::decode(&self.auth_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SignerError::Malformed {
                what: "card",
                detail: "auth key is not 32 hex bytes".into(),
            })?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| SignerError::Malformed {
            what: "card",
            detail: "auth key is not an Ed25519 key".into(),
        })
    }
}

/// A keyholder's secret identity. Prints as `Keyholder(name)`.
pub struct Keyholder {
    name: String,
    age: age::x25519::Identity,
    auth: SigningKey,
}

#[derive(Serialize, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
struct StoredIdentity {
    name: String,
    age: String,
    auth: String,
}

impl Keyholder {
    /// A fresh identity.
    pub fn generate(name: &str) -> Result<Keyholder, SignerError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut_slice());
        let keyholder = Keyholder {
            name: name.to_string(),
            age: age::x25519::Identity::generate(),
            auth: SigningKey::from_bytes(&seed),
        };
        keyholder.card().check()?;
        Ok(keyholder)
    }

    /// The public card.
    pub fn card(&self) -> Card {
        Card {
            name: self.name.clone(),
            age_recipient: self.age.to_public().to_string(),
            auth_key: hex::encode(self.auth.verifying_key().as_bytes()),
        }
    }

    /// Name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Saves the identity encrypted under the vault's passphrase.
    pub fn save(&self, vault: &Vault, path: &Path) -> Result<(), SignerError> {
        use age::secrecy::ExposeSecret;
        let stored = StoredIdentity {
            name: self.name.clone(),
            age: self.age.to_string().expose_secret().to_string(),
            auth: hex::encode(self.auth.to_bytes()),
        };
        let json = Zeroizing::new(
            serde_json::to_vec(&stored).map_err(|e| SignerError::Frost(e.to_string()))?,
        );
        vault.seal(path, &json)
    }

    /// Loads an identity saved by [`Keyholder::save`].
    pub fn load(vault: &Vault, path: &Path) -> Result<Keyholder, SignerError> {
        let plain = vault.open(path)?;
        let corrupt = |detail: String| SignerError::CorruptFile {
            path: path.to_path_buf(),
            detail,
        };
        let stored: StoredIdentity =
            serde_json::from_slice(&plain).map_err(|e| corrupt(e.to_string()))?;
        let age =
            age::x25519::Identity::from_str(&stored.age).map_err(|e| corrupt(e.to_string()))?;
        let seed: Zeroizing<Vec<u8>> =
            Zeroizing::new(hex::decode(&stored.auth).map_err(|e| corrupt(e.to_string()))?);
        let seed: &[u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("auth key is not 32 bytes".into()))?;
        Ok(Keyholder {
            name: stored.name.clone(),
            age,
            auth: SigningKey::from_bytes(seed),
        })
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.auth.sign(message).to_bytes()
    }

    pub(crate) fn decrypt(&self, armored: &str) -> Result<Zeroizing<Vec<u8>>, SignerError> {
        age::decrypt(&self.age, armored.as_bytes())
            .map(Zeroizing::new)
            .map_err(|e| SignerError::Malformed {
                what: "round-2 message",
                detail: format!("cannot decrypt: {e}"),
            })
    }
}

impl fmt::Debug for Keyholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keyholder({})", self.name)
    }
}

/// Verifies a message signature by a card's auth key (strict RFC 8032).
pub(crate) fn verify_from(card: &Card, message: &[u8], signature_hex: &str) -> bool {
    let Ok(key) = card.verifying_key() else {
        return false;
    };
    let Some(sig): Option<[u8; 64]> = hex::decode(signature_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
    else {
        return false;
    };
    quince_protocol::note::verify_ed25519_strict(&key, message, &sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::Passphrase;

    #[test]
    fn identity_round_trips_through_the_vault_and_never_prints_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::danger_fast_for_tests(Passphrase::new("pw".into()));
        let k = Keyholder::generate("alice").unwrap();
        k.save(&vault, &dir.path().join("id.age")).unwrap();
        let back = Keyholder::load(&vault, &dir.path().join("id.age")).unwrap();
        assert_eq!(back.card(), k.card());
        assert_eq!(format!("{back:?}"), "Keyholder(alice)");
        let sig = k.sign(b"m");
        assert!(verify_from(&k.card(), b"m", &hex::encode(sig)));
        assert!(!verify_from(&k.card(), b"n", &hex::encode(sig)));
    }
}
