//! SHA-256 digests as a type of their own, with their text forms.
//!
//! The Merkle tree (RFC 6962), manifest hashes and app ids are all SHA-256; this
//! module only names the 32-byte value and its canonical spellings. Tree hashing
//! rules live in `merkle`.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::codec::{self, DecodeError};

/// A SHA-256 digest: a Merkle tree node, a leaf hash or a file hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Size of a digest in bytes.
    pub const LEN: usize = 32;

    /// SHA-256 of `data`.
    pub fn of(data: &[u8]) -> Hash {
        Hash(Sha256::digest(data).into())
    }

    /// SHA-256 of several byte strings, one after the other.
    pub fn of_parts(parts: &[&[u8]]) -> Hash {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Hash(hasher.finalize().into())
    }

    /// Standard padded base64, as checkpoints and proofs spell hashes.
    pub fn to_base64(&self) -> String {
        codec::to_base64(&self.0)
    }

    /// Parses the canonical base64 spelling of a 32-byte hash.
    pub fn from_base64(text: &str, what: &'static str) -> Result<Hash, DecodeError> {
        codec::parse_base64_array(text, what).map(Hash)
    }

    /// Lowercase hex, as records and `SHA256SUMS` spell hashes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses exactly 64 lowercase hex digits.
    pub fn from_hex(text: &str, what: &'static str) -> Result<Hash, DecodeError> {
        codec::parse_hex(text, what).map(Hash)
    }
}

/// SHA-256 over data that arrives in pieces (a file written chunk by chunk).
#[derive(Clone, Default)]
pub struct Sha256Stream(Sha256);

impl Sha256Stream {
    /// A fresh digest.
    pub fn new() -> Self {
        Sha256Stream(Sha256::new())
    }

    /// Adds data.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything added.
    pub fn finish(self) -> Hash {
        Hash(self.0.finalize().into())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input_is_the_known_value() {
        assert_eq!(
            Hash::of(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Hash::of_parts(&[b"ab", b"c"]), Hash::of(b"abc"));
    }

    #[test]
    fn text_forms_round_trip() {
        let h = Hash::of(b"quince");
        assert_eq!(Hash::from_hex(&h.to_hex(), "h"), Ok(h));
        assert_eq!(Hash::from_base64(&h.to_base64(), "h"), Ok(h));
        assert!(Hash::from_base64("AAAA", "h").is_err());
    }
}
