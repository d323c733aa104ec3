//! The Quince client: a libp2p node ([`node`]) that serves what it holds
//! ([`library`]) and fetches apps from peers, verifying everything before it is
//! stored ([`fetch`]); installs, updates and rolls back apps ([`install`]);
//! follows logs as a witness ([`witness`]); and, with the `audit` feature,
//! audits a whole release history (`audit`). It never links the packager or
//! the signer.

#![forbid(unsafe_code)]

#[cfg(feature = "audit")]
pub mod audit;
pub mod codec;
pub mod fetch;
pub mod install;
pub mod library;
pub mod link;
pub mod node;
pub mod witness;

pub use library::{Library, Serve};
pub use node::{load_or_create_identity, Announcement, NetError, Node, NodeConfig};
