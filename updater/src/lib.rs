//! The Quince client library. Start at [`Client`]: one user's Quince folder
//! and node, with install, update, run, rollback, share, verify and status;
//! the `quince` CLI and the `quince-bootstrap` installer are thin shells
//! over it.
//!
//! The seams below it, each a module:
//! - [`node`]: the libp2p node, an actor task behind a cheap handle; serving
//!   what the [`library`] holds.
//! - [`fetch`]: getting a log and a release from untrusted sources (peers or
//!   an offline bundle): log sync to a verified log, a pure chunk scheduler,
//!   typed peer faults.
//! - [`install`]: installed apps on disk: staging, the atomic switch, health
//!   checks, rollback, bundles, verification.
//! - [`home`]: the user's folder: identity, remembered peers, config.
//! - [`link`]: `quince://` links; [`witness`] and (feature `audit`) `audit`.
//!
//! It never links the packager or the signer.

#![forbid(unsafe_code)]

#[cfg(feature = "audit")]
pub mod audit;
pub mod client;
pub mod codec;
pub mod desktop;
pub mod fetch;
pub mod home;
pub mod install;
pub mod library;
pub mod link;
pub mod network;
pub mod node;
pub mod platform;
pub mod service;
pub mod witness;

pub use client::{Client, ClientError, Event, ProgressSnapshot, Report};
pub use library::{Library, Serve};
pub use node::{load_or_create_identity, Announcement, NetError, Node, NodeConfig};
