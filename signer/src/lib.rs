//! The keyholders' side of Quince: FROST(Ed25519, SHA-512) threshold keys.
//!
//! - [`keyholder`]: a keyholder's ceremony identity (encryption and message keys).
//! - [`dkg`]: dealerless key generation among a roster, by files or pasted text.
//! - [`share`]: the resulting key share, encrypted at rest, 24-word backup and restore.
//! - [`signing`]: the two signing rounds, the coordinator's aggregation, and the
//!   transcript that shows which keyholders signed.
//! - [`vault`]: passphrase encryption of every secret file.
//! - [`progress`]: the status line shown during slow steps.
//!
//! What gets signed (checkpoints, rotation roots) and how it is verified is
//! defined in `quince-protocol`; the result is one plain Ed25519 signature.

#![forbid(unsafe_code)]

pub mod dkg;
pub mod error;
pub mod home;
pub mod keyholder;
pub mod net;
pub mod progress;
pub mod share;
pub mod signing;
pub mod vault;

#[cfg(test)]
mod testutil;

pub use error::SignerError;
