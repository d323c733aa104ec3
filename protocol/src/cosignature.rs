//! Witness cosignatures on checkpoints (C2SP tlog-cosignature, Ed25519 v1).
//!
//! A witness that has checked a checkpoint is consistent with every earlier one
//! it saw adds a signature line to the checkpoint note. The line's key id is
//! `SHA-256(name || "\n" || 0x04 || key)[:4]`; its signature is an 8-byte
//! big-endian Unix time followed by an Ed25519 signature over
//! `"cosignature/v1\ntime <t>\n" || checkpoint body`. Cosignatures travel inside
//! the note, next to the signers' own signature, so any peer that passes the
//! checkpoint on passes them on. A client configured with witness keys counts
//! the valid ones with [`Witnesses::cosigned_by`].

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::codec::DecodeError;
use crate::note::{self, Note, NoteSignature};

/// Signature type byte of Ed25519 cosignature/v1 keys.
pub const COSIGNATURE_TYPE: u8 = 0x04;

/// The latest cosignature time the spec allows: 2^63 - 1 seconds.
pub const MAX_TIME: u64 = i64::MAX as u64;

/// Length of a cosignature: timestamp and Ed25519 signature.
const COSIGNATURE_LEN: usize = 8 + 64;

/// One witness's public key, as a client is configured with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessKey {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl WitnessKey {
    /// The witness key `key` under `name` (a schema-less URL or any key name).
    pub fn new(name: &str, key: VerifyingKey) -> Result<WitnessKey, DecodeError> {
        // A valid key name is what a note signature line accepts.
        NoteSignature::new(name, 0, vec![0])?;
        Ok(WitnessKey {
            name: name.to_string(),
            key_id: note::key_id(name, COSIGNATURE_TYPE, key.as_bytes()),
            key,
        })
    }

    /// Parses the C2SP verifier key form `name+hexid+base64(0x04 || key)`.
    pub fn parse(text: &str) -> Result<WitnessKey, DecodeError> {
        let (name, id, key) = note::parse_vkey(text.trim(), COSIGNATURE_TYPE)?;
        let witness = WitnessKey::new(name, key)?;
        note::check_key_id(id, witness.key_id)?;
        Ok(witness)
    }

    /// The C2SP verifier key text form.
    pub fn to_text(&self) -> String {
        note::vkey_text(&self.name, self.key_id, COSIGNATURE_TYPE, &self.key)
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The time of this witness's valid cosignature on `note`, if it has one.
    /// A line with this witness's name and key id that does not verify counts as
    /// no cosignature (anyone can append lines to a note in transit).
    pub fn cosigned_at(&self, note: &Note) -> Option<u64> {
        note.signatures()
            .iter()
            .filter(|s| s.name() == self.name && s.key_id() == self.key_id)
            .find_map(|s| {
                let raw: &[u8; COSIGNATURE_LEN] = s.signature().try_into().ok()?;
                let time = u64::from_be_bytes(raw[..8].try_into().ok()?);
                // The spec's timestamps are at most 2^63 - 1 (what `cosign`
                // writes); a larger one is refused even if its signature holds.
                if time > MAX_TIME {
                    return None;
                }
                let sig: [u8; 64] = raw[8..].try_into().ok()?;
                note::verify_ed25519_strict(&self.key, &signed_message(note.text(), time), &sig)
                    .then_some(time)
            })
    }
}

/// The bytes a cosigner signs for the checkpoint body `text` at `time`.
fn signed_message(text: &str, time: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {time}\n{text}").into_bytes()
}

/// Adds `key`'s cosignature at `time` under `name` to `note` (the witness's
/// side). Any earlier line by the same witness is replaced.
pub fn cosign(note: &mut Note, name: &str, key: &SigningKey, time: u64) -> Result<(), DecodeError> {
    if time > MAX_TIME {
        return Err(DecodeError::invalid("cosignature", "time beyond 2^63 - 1"));
    }
    let witness = WitnessKey::new(name, key.verifying_key())?;
    let mut signature = time.to_be_bytes().to_vec();
    signature.extend_from_slice(&key.sign(&signed_message(note.text(), time)).to_bytes());
    let mut fresh = Note::unsigned(note.text())?;
    for s in note.signatures() {
        if !(s.name() == witness.name && s.key_id() == witness.key_id) {
            fresh.add_signature(s.clone())?;
        }
    }
    fresh.add_signature(NoteSignature::new(name, witness.key_id, signature)?)?;
    *note = fresh;
    Ok(())
}

/// A client's witness policy: the witnesses it trusts and how many of them
/// must have cosigned a checkpoint before it installs from it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Witnesses {
    /// The trusted witnesses.
    pub keys: Vec<WitnessKey>,
    /// How many distinct trusted witnesses must have cosigned (0: no requirement).
    pub quorum: usize,
}

impl Witnesses {
    /// The trusted witnesses that validly cosigned `note`.
    pub fn cosigned_by(&self, note: &Note) -> Vec<&WitnessKey> {
        let mut out: Vec<&WitnessKey> = Vec::new();
        for k in &self.keys {
            if k.cosigned_at(note).is_some() && !out.iter().any(|o| o.key == k.key) {
                out.push(k);
            }
        }
        out
    }

    /// The time of the newest valid cosignature on `note` by a trusted
    /// witness: when, at the latest, some witness saw this checkpoint as the
    /// newest. What a client's freshness check reads.
    pub fn confirmed_at(&self, note: &Note) -> Option<u64> {
        self.keys.iter().filter_map(|k| k.cosigned_at(note)).max()
    }

    /// `note` with, for each trusted witness, its newest valid cosignature
    /// found on `note` or on any of `others` that sign the same text (peers
    /// pass on what their witnesses gave them, so one peer's copy rarely
    /// holds all of them). The note's other lines are kept after those, as
    /// many as the note's limits leave room for: lines nobody can check never
    /// crowd out a trusted witness's.
    pub fn merge(&self, note: &Note, others: &[Note]) -> Note {
        let mut best: Vec<&NoteSignature> = Vec::new();
        for k in &self.keys {
            let newest = std::iter::once(note)
                .chain(others.iter().filter(|o| o.text() == note.text()))
                .filter_map(|n| {
                    let time = k.cosigned_at(n)?;
                    let line = n
                        .signatures()
                        .iter()
                        .find(|s| s.name() == k.name && s.key_id() == k.key_id)?;
                    Some((time, line))
                })
                .max_by_key(|(time, _)| *time);
            if let Some((_, line)) = newest {
                if !best.contains(&line) {
                    best.push(line);
                }
            }
        }
        let Ok(mut merged) = Note::unsigned(note.text()) else {
            return note.clone();
        };
        let trusted = |s: &NoteSignature| {
            self.keys
                .iter()
                .any(|k| s.name() == k.name && s.key_id() == k.key_id)
        };
        for line in best
            .into_iter()
            .chain(note.signatures().iter().filter(|s| !trusted(s)))
        {
            if merged.add_signature(line.clone()).is_err() {
                break;
            }
        }
        merged
    }

    /// Whether `note` carries the quorum of cosignatures.
    pub fn satisfied_by(&self, note: &Note) -> bool {
        self.quorum == 0 || self.cosigned_by(note).len() >= self.quorum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint_note() -> Note {
        let mut n =
            Note::unsigned("example.com/log\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
                .unwrap();
        n.sign_ed25519("example.com/log", &SigningKey::from_bytes(&[7; 32]))
            .unwrap();
        n
    }

    #[test]
    fn cosignature_verifies_and_round_trips_through_text() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let mut n = checkpoint_note();
        cosign(&mut n, "witness.example/w1", &key, 1_679_315_147).unwrap();
        let parsed = Note::parse(&n.to_bytes()).unwrap();
        let w = WitnessKey::new("witness.example/w1", key.verifying_key()).unwrap();
        assert_eq!(w.cosigned_at(&parsed), Some(1_679_315_147));
        let again = WitnessKey::parse(&w.to_text()).unwrap();
        assert_eq!(again, w);
        // Another key under the same name, or the same key under another name, does not count.
        let other = WitnessKey::new(
            "witness.example/w1",
            SigningKey::from_bytes(&[8; 32]).verifying_key(),
        )
        .unwrap();
        assert_eq!(other.cosigned_at(&parsed), None);
        let renamed = WitnessKey::new("witness.example/w2", key.verifying_key()).unwrap();
        assert_eq!(renamed.cosigned_at(&parsed), None);
    }

    #[test]
    fn cosignature_on_another_body_or_time_does_not_verify() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let w = WitnessKey::new("w", key.verifying_key()).unwrap();
        let mut n = checkpoint_note();
        cosign(&mut n, "w", &key, 100).unwrap();
        // Move the cosignature line onto another checkpoint body.
        let text = String::from_utf8(n.to_bytes())
            .unwrap()
            .replace("\n3\n", "\n4\n");
        assert_eq!(w.cosigned_at(&Note::parse(text.as_bytes()).unwrap()), None);
        // Change the timestamp bytes.
        let line = n.signatures().last().unwrap().clone();
        let mut sig = line.signature().to_vec();
        sig[7] ^= 1;
        let mut forged = Note::unsigned(n.text()).unwrap();
        forged
            .add_signature(NoteSignature::new("w", line.key_id(), sig).unwrap())
            .unwrap();
        assert_eq!(w.cosigned_at(&forged), None);
    }

    #[test]
    fn quorum_counts_distinct_trusted_witnesses() {
        let keys: Vec<SigningKey> = (1..=3).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
        let policy = Witnesses {
            keys: keys
                .iter()
                .enumerate()
                .map(|(i, k)| WitnessKey::new(&format!("w{i}"), k.verifying_key()).unwrap())
                .collect(),
            quorum: 2,
        };
        let mut n = checkpoint_note();
        assert!(!policy.satisfied_by(&n));
        cosign(&mut n, "w0", &keys[0], 5).unwrap();
        cosign(&mut n, "w0", &keys[0], 6).unwrap(); // replaces, still one witness
        assert_eq!(n.signatures().len(), 2);
        assert!(!policy.satisfied_by(&n));
        cosign(&mut n, "w2", &keys[2], 6).unwrap();
        assert!(policy.satisfied_by(&n));
        assert!(Witnesses::default().satisfied_by(&checkpoint_note()));
    }

    #[test]
    fn keys_whose_base64_holds_a_plus_round_trip() {
        let mut plus = 0;
        for i in 0..64u8 {
            let k = SigningKey::from_bytes(&[i; 32]).verifying_key();
            let w = WitnessKey::new("w", k).unwrap();
            plus += usize::from(w.to_text().matches('+').count() > 2);
            assert_eq!(WitnessKey::parse(&w.to_text()).unwrap(), w);
            let v = note::Ed25519Verifier::new("n", k).unwrap();
            assert_eq!(note::Ed25519Verifier::parse(&v.to_text()).unwrap(), v);
        }
        assert!(plus > 0, "no key exercised a '+' in base64");
    }

    #[test]
    fn parse_refuses_a_plain_note_key() {
        let v = note::Ed25519Verifier::new("w", SigningKey::from_bytes(&[1; 32]).verifying_key())
            .unwrap();
        assert!(WitnessKey::parse(&v.to_text()).is_err());
    }

    #[test]
    fn a_validly_signed_time_beyond_2_pow_63_is_refused() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let w = WitnessKey::new("w", key.verifying_key()).unwrap();
        let signed_at = |time: u64| {
            // Signed by hand: `cosign` itself refuses such a time.
            let mut n = checkpoint_note();
            let mut sig = time.to_be_bytes().to_vec();
            sig.extend_from_slice(&key.sign(&signed_message(n.text(), time)).to_bytes());
            n.add_signature(NoteSignature::new("w", w.key_id, sig).unwrap())
                .unwrap();
            w.cosigned_at(&Note::parse(&n.to_bytes()).unwrap())
        };
        assert_eq!(signed_at(MAX_TIME), Some(MAX_TIME));
        assert_eq!(signed_at(MAX_TIME + 1), None);
        assert_eq!(signed_at(u64::MAX), None);
        let mut n = checkpoint_note();
        assert!(cosign(&mut n, "w", &key, MAX_TIME + 1).is_err());
    }

    #[test]
    fn cosignatures_from_several_copies_are_merged_newest_first() {
        let keys: Vec<SigningKey> = (1..=2).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
        let policy = Witnesses {
            keys: keys
                .iter()
                .enumerate()
                .map(|(i, k)| WitnessKey::new(&format!("w{i}"), k.verifying_key()).unwrap())
                .collect(),
            quorum: 2,
        };
        // Three peers' copies of one checkpoint: w0 at 10, w0 at 20 with a
        // stranger's line, w1 at 15. None alone meets the quorum.
        let mut a = checkpoint_note();
        cosign(&mut a, "w0", &keys[0], 10).unwrap();
        let mut b = checkpoint_note();
        cosign(&mut b, "w0", &keys[0], 20).unwrap();
        cosign(&mut b, "stranger", &SigningKey::from_bytes(&[5; 32]), 99).unwrap();
        let mut c = checkpoint_note();
        cosign(&mut c, "w1", &keys[1], 15).unwrap();
        // A copy of another checkpoint contributes nothing.
        let mut other =
            Note::unsigned("example.com/log\n4\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
                .unwrap();
        cosign(&mut other, "w1", &keys[1], 30).unwrap();
        assert!(!policy.satisfied_by(&a) && !policy.satisfied_by(&c));

        let merged = policy.merge(&a, &[b.clone(), c.clone(), other]);
        assert!(policy.satisfied_by(&merged));
        assert_eq!(policy.keys[0].cosigned_at(&merged), Some(20));
        assert_eq!(policy.keys[1].cosigned_at(&merged), Some(15));
        assert_eq!(policy.confirmed_at(&merged), Some(20));
        assert_eq!(merged.text(), a.text());
        // The signers' own line is kept (it is not a witness's).
        let signer = note::Ed25519Verifier::new(
            "example.com/log",
            SigningKey::from_bytes(&[7; 32]).verifying_key(),
        )
        .unwrap();
        assert!(Note::parse(&merged.to_bytes())
            .unwrap()
            .verify(&[signer])
            .is_ok());
        assert_eq!(Witnesses::default().confirmed_at(&merged), None);
    }
}
