//! One keyholder's FROST key share for one app: stored encrypted, backed up as
//! 24 words, restored from them.
//!
//! The 24 words (BIP39) encode only the 32-byte secret signing share. Restoring
//! also needs the app's public root and the participant's index, both public;
//! the restored share must reproduce that participant's verifying share in the
//! root, so a phrase for another share or another app is refused.

use std::fmt;
use std::path::Path;

use frost_ed25519 as frost;
use quince_protocol::codec::{Decode, Encode};
use quince_protocol::root::{AppId, AppRoot};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::dkg::identifier;
use crate::error::SignerError;
use crate::vault::Vault;

/// A keyholder's share of an app's signing key. Prints as `KeyShare(..)`.
pub struct KeyShare {
    app: AppId,
    root: AppRoot,
    index: u16,
    key: frost::keys::KeyPackage,
}

#[derive(Serialize, Deserialize)]
struct StoredShare {
    app: String,
    index: u16,
    root: String,
    key: String,
}

impl Drop for StoredShare {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl KeyShare {
    /// A share for participant `index` of `root`; checks that they belong together.
    /// The app it signs for is the one `root` defines; see [`KeyShare::for_app`].
    pub fn new(
        root: AppRoot,
        index: u16,
        key: frost::keys::KeyPackage,
    ) -> Result<KeyShare, SignerError> {
        let expected = root
            .participants()
            .iter()
            .find(|p| p.id == index)
            .ok_or(SignerError::UnknownParticipant(index))?;
        if key.verifying_share().serialize()?.as_slice() != expected.verifying_share
            || key.verifying_key().serialize()?.as_slice() != root.group_key().as_bytes()
            || *key.identifier() != identifier(index)?
            || *key.min_signers() != u16::from(root.threshold())
        {
            return Err(SignerError::Refused(format!(
                "this key share is not participant {index}'s share of app {}",
                root.app_id()
            )));
        }
        Ok(KeyShare {
            app: root.app_id(),
            root,
            index,
            key,
        })
    }

    /// The same share, signing for `app`: a key generated to replace the signers
    /// of an existing app (a rotation) signs that app's checkpoints.
    pub fn for_app(mut self, app: AppId) -> KeyShare {
        self.app = app;
        self
    }

    /// The root of this key generation (for an app's first one, it defines the app id).
    pub fn root(&self) -> &AppRoot {
        &self.root
    }

    /// The app this share signs for.
    pub fn app_id(&self) -> AppId {
        self.app
    }

    /// This keyholder's participant index.
    pub fn index(&self) -> u16 {
        self.index
    }

    pub(crate) fn key(&self) -> &frost::keys::KeyPackage {
        &self.key
    }

    /// Saves the share encrypted under the vault's passphrase (mode 0600).
    pub fn save(&self, vault: &Vault, path: &Path) -> Result<(), SignerError> {
        let stored = StoredShare {
            app: self.app_id().to_string(),
            index: self.index,
            root: hex::encode(self.root.to_bytes()),
            key: hex::encode(Zeroizing::new(self.key.serialize()?).as_slice()),
        };
        let json = Zeroizing::new(
            serde_json::to_vec(&stored).map_err(|e| SignerError::Frost(e.to_string()))?,
        );
        vault.seal(path, &json)
    }

    /// Loads a share saved by [`KeyShare::save`].
    pub fn load(vault: &Vault, path: &Path) -> Result<KeyShare, SignerError> {
        let plain = vault.open(path)?;
        let corrupt = |detail: String| SignerError::CorruptFile {
            path: path.to_path_buf(),
            detail,
        };
        let stored: StoredShare =
            serde_json::from_slice(&plain).map_err(|e| corrupt(e.to_string()))?;
        let root_bytes = hex::decode(&stored.root).map_err(|e| corrupt(e.to_string()))?;
        let root = AppRoot::from_bytes(&root_bytes).map_err(|e| corrupt(e.to_string()))?;
        let key_bytes =
            Zeroizing::new(hex::decode(&stored.key).map_err(|e| corrupt(e.to_string()))?);
        let key =
            frost::keys::KeyPackage::deserialize(&key_bytes).map_err(|e| corrupt(e.to_string()))?;
        let app = stored
            .app
            .parse()
            .map_err(|e: quince_protocol::DecodeError| corrupt(e.to_string()))?;
        Ok(KeyShare::new(root, stored.index, key)?.for_app(app))
    }

    /// The 24-word backup of the secret share. Write it on paper; never store it
    /// next to the encrypted share.
    pub fn backup_phrase(&self) -> Result<Zeroizing<String>, SignerError> {
        let secret = Zeroizing::new(self.key.signing_share().serialize());
        let mnemonic = bip39::Mnemonic::from_entropy(&secret)
            .map_err(|e| SignerError::Frost(e.to_string()))?;
        Ok(Zeroizing::new(
            mnemonic.words().collect::<Vec<_>>().join(" "),
        ))
    }

    /// Rebuilds participant `index`'s share of `root` from its 24-word backup.
    pub fn restore(root: AppRoot, index: u16, phrase: &str) -> Result<KeyShare, SignerError> {
        let normalized = Zeroizing::new(
            phrase
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase(),
        );
        let mnemonic = bip39::Mnemonic::parse_normalized(&normalized)
            .map_err(|e| SignerError::BadBackupPhrase(e.to_string()))?;
        if mnemonic.word_count() != 24 {
            return Err(SignerError::BadBackupPhrase(format!(
                "{} words; a share backup has 24",
                mnemonic.word_count()
            )));
        }
        let (entropy, len) = mnemonic.to_entropy_array();
        let entropy = Zeroizing::new(entropy);
        let signing_share = frost::keys::SigningShare::deserialize(&entropy[..len])
            .map_err(|e| SignerError::BadBackupPhrase(format!("not a share: {e}")))?;
        let verifying_share = frost::keys::VerifyingShare::from(signing_share);
        let group = frost::VerifyingKey::deserialize(root.group_key().as_bytes())?;
        let key = frost::keys::KeyPackage::new(
            identifier(index)?,
            signing_share,
            verifying_share,
            group,
            u16::from(root.threshold()),
        );
        KeyShare::new(root, index, key).map_err(|_| {
            SignerError::BadBackupPhrase(format!(
                "this phrase is not participant {index}'s share of this app"
            ))
        })
    }
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyShare(..)")
    }
}
