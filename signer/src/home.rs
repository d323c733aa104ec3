//! Where a keyholder's files live and how the passphrase is obtained.
//!
//! Layout under the home folder (default `$XDG_DATA_HOME/quince/signer`, or
//! `~/.local/share/quince/signer`):
//! - `identity.age` (sealed) and `card.json` (public);
//! - `dkg/<roster hash>/round1.age`, `round2.age` (sealed ceremony state);
//! - `shares/<root hash>.age` (sealed key shares, one per key generation);
//! - `nonces/` (sealed single-use signing nonces and their `.used` markers).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::error::SignerError;
use crate::vault::{Passphrase, Vault};

/// A keyholder's home folder.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// The home at `dir`, or the default one.
    pub fn new(dir: Option<PathBuf>) -> Home {
        let dir = dir.unwrap_or_else(|| {
            let base = quince_store::cli::user_dir(quince_store::cli::UserDir::Data)
                .unwrap_or_else(|| PathBuf::from("."));
            base.join("quince").join("signer")
        });
        Home { dir }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sealed identity.
    pub fn identity(&self) -> PathBuf {
        self.dir.join("identity.age")
    }

    /// The public card.
    pub fn card(&self) -> PathBuf {
        self.dir.join("card.json")
    }

    /// Sealed state of a key generation in progress.
    pub fn dkg_state(&self, roster_hash: &str, round: u8) -> PathBuf {
        self.dir
            .join("dkg")
            .join(&roster_hash[..roster_hash.len().min(32)])
            .join(format!("round{round}.age"))
    }

    /// A sealed key share, by the hash of its root.
    pub fn share(&self, root_hash: &str) -> PathBuf {
        self.dir
            .join("shares")
            .join(format!("{}.age", &root_hash[..root_hash.len().min(32)]))
    }

    /// The nonce store's folder.
    pub fn nonces(&self) -> PathBuf {
        self.dir.join("nonces")
    }
}

/// Opens the vault with the passphrase from `QUINCE_PASSPHRASE`, a file, or a prompt.
///
/// `QUINCE_DANGER_FAST_KDF=1` lowers the scrypt cost for tests and demos only.
pub fn vault(passphrase_file: Option<&Path>, confirm: bool) -> Result<Vault, SignerError> {
    let passphrase = if let Some(path) = passphrase_file {
        let text = std::fs::read_to_string(path).map_err(SignerError::io(path))?;
        Passphrase::new(text.trim_end_matches(['\n', '\r']).to_string())
    } else if let Ok(text) = std::env::var("QUINCE_PASSPHRASE") {
        Passphrase::new(text)
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("passphrase: ")
            .map_err(SignerError::io(Path::new("/dev/tty")))?;
        if confirm {
            let again = rpassword::prompt_password("again: ")
                .map_err(SignerError::io(Path::new("/dev/tty")))?;
            if again != first {
                return Err(SignerError::Passphrase("the two passphrases differ".into()));
            }
        }
        Passphrase::new(first)
    } else {
        return Err(SignerError::Passphrase(
            "none given: set QUINCE_PASSPHRASE, pass --passphrase-file, or run in a terminal"
                .into(),
        ));
    };
    // An empty passphrase seals nothing: anyone with the file has the share.
    if passphrase.is_empty() {
        if confirm {
            return Err(SignerError::Passphrase(
                "it is empty, so it would protect nothing (anyone with the file would \
                 have your share); choose one"
                    .into(),
            ));
        }
        eprintln!("quince-signer: warning: the passphrase is empty");
    }
    if std::env::var("QUINCE_DANGER_FAST_KDF").is_ok_and(|v| v == "1") {
        Ok(Vault::danger_fast_for_tests(passphrase).with_progress())
    } else {
        Ok(Vault::new(passphrase).with_progress())
    }
}
