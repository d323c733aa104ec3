//! One module per group of subcommands, plus the helpers they share.

pub mod app;
pub mod build;
pub mod inspect;
pub mod log;

use std::path::Path;

use anyhow::{Context as _, Result};
use quince_protocol::codec::Decode;
use quince_protocol::manifest::Manifest;

/// Reads a manifest file (as `build --out` wrote it).
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Manifest::from_bytes(&bytes).with_context(|| format!("{} is not a manifest", path.display()))
}
