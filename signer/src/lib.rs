//! Keyholders' tool: FROST(Ed25519, SHA-512) key generation, share storage and
//! threshold signing of checkpoints. Only its crate skeleton exists so far; the
//! signer issue builds it. The pure formats it signs live in `quince-protocol`.

#![forbid(unsafe_code)]
