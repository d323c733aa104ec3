//! Secrets at rest: every secret file of a keyholder (identity, key share, DKG
//! state, signing nonces) is encrypted under the keyholder's passphrase with
//! age's scrypt recipient (a memory-hard KDF), written with mode 0600 by an
//! atomic rename, and held in memory only in zeroizing buffers.

use std::fmt;
use std::fs;
use std::path::Path;

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use crate::error::SignerError;

/// A keyholder's passphrase. Never printed; wiped from memory on drop.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase.
    pub fn new(text: String) -> Self {
        Passphrase(Zeroizing::new(text))
    }

    /// Whether it is empty (protects nothing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn secret(&self) -> SecretString {
        SecretString::from(self.0.as_str().to_owned())
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

/// Opens and seals a keyholder's secret files.
#[derive(Debug)]
pub struct Vault {
    passphrase: Passphrase,
    /// scrypt cost as log2(N); `None` uses age's default (about one second).
    work_factor: Option<u8>,
    /// Show a status line on a terminal while scrypt runs.
    show_progress: bool,
}

impl Vault {
    /// A vault using age's default scrypt cost.
    pub fn new(passphrase: Passphrase) -> Self {
        Vault {
            passphrase,
            work_factor: None,
            show_progress: false,
        }
    }

    /// Shows "unlocking ..." / "sealing ..." on a terminal (stderr) while
    /// scrypt works, which takes about a second per file.
    pub fn with_progress(mut self) -> Self {
        self.show_progress = true;
        self
    }

    fn busy(&self, what: &str, path: &Path) -> Option<crate::progress::Busy> {
        self.show_progress.then(|| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            crate::progress::Busy::start(format!("{what} {name} (scrypt)"))
        })
    }

    /// TEST ONLY: a vault with a cheap scrypt cost, so that tests run fast.
    pub fn danger_fast_for_tests(passphrase: Passphrase) -> Self {
        Vault {
            passphrase,
            work_factor: Some(10),
            show_progress: false,
        }
    }

    /// Encrypts `plain` and writes it to `path` (mode 0600, atomic).
    pub fn seal(&self, path: &Path, plain: &[u8]) -> Result<(), SignerError> {
        let mut recipient = age::scrypt::Recipient::new(self.passphrase.secret());
        if let Some(w) = self.work_factor {
            recipient.set_work_factor(w);
        }
        let busy = self.busy("sealing", path);
        let sealed = age::encrypt(&recipient, plain).map_err(|e| SignerError::CorruptFile {
            path: path.to_path_buf(),
            detail: format!("cannot encrypt: {e}"),
        })?;
        drop(busy);
        write_private(path, &sealed)
    }

    /// Reads and decrypts `path`.
    pub fn open(&self, path: &Path) -> Result<Zeroizing<Vec<u8>>, SignerError> {
        let sealed = fs::read(path).map_err(SignerError::io(path))?;
        let identity = age::scrypt::Identity::new(self.passphrase.secret());
        let _busy = self.busy("unlocking", path);
        age::decrypt(&identity, &sealed)
            .map(Zeroizing::new)
            .map_err(|e| match e {
                age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                    SignerError::WrongPassphrase(path.to_path_buf())
                }
                other => SignerError::CorruptFile {
                    path: path.to_path_buf(),
                    detail: other.to_string(),
                },
            })
    }
}

/// Writes a file only its owner can read (0600), atomically and durably.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SignerError> {
    quince_store::durable::write_private(path, bytes).map_err(SignerError::io(path))
}

/// Writes a public file (messages, roots, transcripts), atomically and durably.
pub fn write_public(path: &Path, bytes: &[u8]) -> Result<(), SignerError> {
    quince_store::durable::write_atomic(path, bytes).map_err(SignerError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_files_are_private_and_need_the_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.age");
        let vault = Vault::danger_fast_for_tests(Passphrase::new("right horse".into()));
        vault.seal(&path, b"share bytes").unwrap();
        assert_eq!(vault.open(&path).unwrap().as_slice(), b"share bytes");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let wrong = Vault::danger_fast_for_tests(Passphrase::new("wrong horse".into()));
        assert!(matches!(
            wrong.open(&path),
            Err(SignerError::WrongPassphrase(_))
        ));

        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 5] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            vault.open(&path),
            Err(SignerError::CorruptFile { .. })
        ));
        assert_eq!(
            format!("{:?}", Passphrase::new("x".into())),
            "Passphrase(..)"
        );
    }
}
