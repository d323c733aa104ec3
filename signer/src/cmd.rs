//! One module per subcommand, plus the file helpers they share.

pub mod backup;
pub mod dkg;
pub mod init;
pub mod inspect;
pub mod roster;
pub mod serve;
pub mod sign;
pub mod transcript;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use quince_protocol::codec::Decode;
use quince_protocol::root::AppRoot;
use quince_signer::home::{self, Home};
use quince_signer::keyholder::Keyholder;
use quince_signer::vault::Vault;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What every subcommand gets.
pub struct Context {
    pub home: Home,
    pub passphrase_file: Option<PathBuf>,
}

impl Context {
    pub fn vault(&self, confirm: bool) -> Result<Vault> {
        Ok(home::vault(self.passphrase_file.as_deref(), confirm)?)
    }

    pub fn keyholder(&self, vault: &Vault) -> Result<Keyholder> {
        let path = self.home.identity();
        if !path.exists() {
            anyhow::bail!(
                "no keyholder identity in {}; run `quince-signer init --name NAME` first",
                self.home.dir().display()
            );
        }
        Ok(Keyholder::load(vault, &path)?)
    }
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid message file", path.display()))
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    quince_signer::vault::write_public(path, text.as_bytes())?;
    Ok(())
}

pub fn read_root(path: &Path) -> Result<AppRoot> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    AppRoot::from_bytes(&bytes).with_context(|| format!("{} is not an app root", path.display()))
}

/// Expands arguments that are folders into the `<prefix>*.json` files inside them
/// (files named on the command line are taken as they are).
pub fn expand(paths: &[PathBuf], prefix: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"))
                })
                .collect();
            inside.sort();
            out.extend(inside);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}
