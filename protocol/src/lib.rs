//! Quince's protocol: every byte format, every decoder of untrusted input, the
//! release log's Merkle math, signed notes and checkpoints, and the rules that
//! decide whether a client may trust a new log head.
//!
//! This crate is pure: no I/O, no async, no network, no clock. The packager
//! writes logs and manifests with it, the updater and bootstrap verify with it,
//! and auditors re-check with it. Reading and writing files, talking to peers and
//! holding key shares are the jobs of the `packager`, `updater` and `signer`
//! crates.

#![forbid(unsafe_code)]

pub mod appinfo;
pub mod codec;
pub mod hash;
pub mod limits;
pub mod manifest;
pub mod merkle;

pub use codec::DecodeError;
pub use hash::Hash;
pub mod checkpoint;
pub mod cosignature;
pub mod note;
pub mod path;
pub mod record;
pub mod root;
pub mod state;
pub mod tile;
#[cfg(feature = "frost")]
pub mod transcript;
pub mod wire;

#[cfg(any(test, feature = "test-fixtures"))]
pub mod testkit;
