//! The publisher's side of Quince: the app's release log on disk ([`logdir`]),
//! and later the directory-to-release packer.
//!
//! Formats and verification come from `quince-protocol`; this crate only adds
//! files, fsync and atomic renames. It is never linked by the updater or the
//! bootstrap.

#![forbid(unsafe_code)]

pub mod appfile;
pub mod build;
pub mod delta;
mod dict;
pub mod logdir;
mod packer;
pub mod release;
mod sharer;
#[cfg(feature = "test-fixtures")]
pub mod testkit;

pub use logdir::{LogDir, LogError, PendingAppend};
