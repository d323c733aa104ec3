//! TEST ONLY: fixtures for tests in this and other crates (feature
//! `test-fixtures`). Nothing here is used by a shipped binary.

use ed25519_dalek::SigningKey;

use crate::root::{AppRoot, Participant};

/// TEST ONLY: a root whose group key is one plain Ed25519 key derived from
/// `seed` (no FROST), so that tests can sign checkpoints without a ceremony.
/// The participants' shares are unrelated fixed keys.
pub fn danger_single_key_root(name: &str, seed: u8) -> (AppRoot, SigningKey) {
    let group = SigningKey::from_bytes(&[seed; 32]);
    let participants = (1..=5u8)
        .map(|i| Participant {
            id: u16::from(i),
            verifying_share: SigningKey::from_bytes(&[seed.wrapping_add(i); 32])
                .verifying_key()
                .to_bytes(),
        })
        .collect();
    let root = AppRoot::new(name, 3, group.verifying_key().to_bytes(), participants)
        .expect("fixed fixture keys always make a valid root");
    (root, group)
}

/// TEST ONLY: `n` bytes that do not compress (xorshift from `seed`), the same
/// for the same seed: release payloads for tests and benchmarks.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
