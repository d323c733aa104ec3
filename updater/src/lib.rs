//! The client: libp2p node, verified fetch, install, rollback, seeding and
//! audit. Only its crate skeleton exists so far; the network and install issues
//! build it. Everything it verifies is decided by `quince-protocol`.

#![forbid(unsafe_code)]
