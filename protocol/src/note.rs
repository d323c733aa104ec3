//! C2SP signed notes: text signed by one or more keys.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then signature lines
//! `— <key name> base64(key id || signature)`. We parse every line strictly and
//! within the limits in `limits.rs`, verify Ed25519 signatures (type 0x01) with
//! the strict RFC 8032 rule, and ignore signatures from keys we do not know, as
//! the spec requires. What the text means (a checkpoint) is `checkpoint`'s job.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use thiserror::Error;

use crate::codec::{self, DecodeError};
use crate::hash::Hash;
use crate::limits::{
    MAX_KEY_NAME_BYTES, MAX_NOTE_BYTES, MAX_NOTE_SIGNATURES, MAX_NOTE_SIGNATURE_BYTES,
};

/// Signature type byte of plain Ed25519 note signatures.
pub const ED25519_TYPE: u8 = 0x01;

/// Start of every signature line: em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a note was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoteError {
    /// The note's bytes are not a well-formed signed note.
    #[error("malformed note: {0}")]
    Malformed(#[from] DecodeError),
    /// No signature on the note is from a key we trust.
    #[error("no signature from a trusted key (expected one by {expected})")]
    NoTrustedSignature {
        /// The trusted key names, for the error message.
        expected: String,
    },
    /// A signature claims to be from a trusted key but does not verify.
    #[error("signature by {name} (key id {key_id:08x}) does not verify")]
    BadSignature {
        /// Key name on the line.
        name: String,
        /// Key id on the line.
        key_id: u32,
    },
}

/// One signature line of a note.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// A signature line from its parts; the name must be a valid key name.
    pub fn new(name: &str, key_id: u32, signature: Vec<u8>) -> Result<Self, DecodeError> {
        check_key_name(name)?;
        codec::check_len(
            "note signature",
            signature.len() + 4,
            MAX_NOTE_SIGNATURE_BYTES,
        )?;
        if signature.is_empty() {
            return Err(DecodeError::invalid("note signature", "empty signature"));
        }
        Ok(NoteSignature {
            name: name.to_string(),
            key_id,
            signature,
        })
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key id (first 4 bytes of the decoded signature, big-endian).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Signature bytes after the key id.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The line as it appears in a note, with its final newline.
    pub fn line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!(
            "{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            codec::to_base64(&raw)
        )
    }

    fn parse(line: &str) -> Result<Self, DecodeError> {
        let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or_else(|| {
            DecodeError::invalid(
                "note signature",
                "line does not start with an em dash and a space",
            )
        })?;
        let (name, b64) = rest.split_once(' ').ok_or_else(|| {
            DecodeError::invalid("note signature", "no space between key name and signature")
        })?;
        let raw = codec::parse_base64(b64, MAX_NOTE_SIGNATURE_BYTES, "note signature")?;
        if raw.len() < 5 {
            return Err(DecodeError::invalid(
                "note signature",
                "shorter than a key id and one byte",
            ));
        }
        let key_id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        NoteSignature::new(name, key_id, raw[4..].to_vec())
    }
}

impl fmt::Debug for NoteSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSignature({} {:08x})", self.name, self.key_id)
    }
}

/// A signed note as parsed: text and signatures, none of them verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// A note with `text` and no signatures yet (for signing).
    pub fn unsigned(text: &str) -> Result<Note, DecodeError> {
        check_note_text(text)?;
        Ok(Note {
            text: text.to_string(),
            signatures: Vec::new(),
        })
    }

    /// Parses a complete signed note (at least one signature line).
    pub fn parse(bytes: &[u8]) -> Result<Note, DecodeError> {
        codec::check_len("note", bytes.len(), MAX_NOTE_BYTES)?;
        let all =
            std::str::from_utf8(bytes).map_err(|_| DecodeError::invalid("note", "not UTF-8"))?;
        check_note_chars(all, "note")?;
        let split = all
            .rfind("\n\n")
            .ok_or_else(|| DecodeError::invalid("note", "no blank line before the signatures"))?;
        let text = &all[..=split];
        let block = &all[split + 2..];
        check_note_text(text)?;
        let lines = block.strip_suffix('\n').ok_or_else(|| {
            DecodeError::invalid("note", "signature block does not end with a newline")
        })?;
        let mut signatures = Vec::new();
        for line in lines.split('\n') {
            if signatures.len() == MAX_NOTE_SIGNATURES {
                return Err(DecodeError::TooLong {
                    what: "note signatures",
                    len: MAX_NOTE_SIGNATURES + 1,
                    max: MAX_NOTE_SIGNATURES,
                });
            }
            signatures.push(NoteSignature::parse(line)?);
        }
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// The signed text, with its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every signature line, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line (for example an aggregated FROST signature or a
    /// witness cosignature). Refused if the note would exceed its limits.
    pub fn add_signature(&mut self, signature: NoteSignature) -> Result<(), DecodeError> {
        codec::check_len(
            "note signatures",
            self.signatures.len() + 1,
            MAX_NOTE_SIGNATURES,
        )?;
        let size = self.to_bytes().len() + signature.line().len();
        codec::check_len("note", size, MAX_NOTE_BYTES)?;
        self.signatures.push(signature);
        Ok(())
    }

    /// Signs the text with a single Ed25519 key and adds the line. For tests,
    /// witnesses and tools; keyholders sign through the FROST ceremony instead.
    pub fn sign_ed25519(&mut self, name: &str, key: &SigningKey) -> Result<(), DecodeError> {
        let signature = key.sign(self.text.as_bytes());
        let verifier = Ed25519Verifier::new(name, key.verifying_key())?;
        self.add_signature(NoteSignature::new(
            name,
            verifier.key_id(),
            signature.to_bytes().to_vec(),
        )?)
    }

    /// The whole note as bytes: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.text.clone();
        out.push('\n');
        for sig in &self.signatures {
            out.push_str(&sig.line());
        }
        out.into_bytes()
    }

    /// Verifies the note against a set of trusted keys.
    ///
    /// Signatures from unknown keys (name and id not both matching) are ignored.
    /// Every signature from a trusted key must verify; at least one must exist.
    /// Returns the trusted keys that signed, in the order given.
    pub fn verify<'v>(
        &self,
        trusted: &'v [Ed25519Verifier],
    ) -> Result<Vec<&'v Ed25519Verifier>, NoteError> {
        let mut signed_by: Vec<&Ed25519Verifier> = Vec::new();
        for sig in &self.signatures {
            let Some(key) = trusted
                .iter()
                .find(|k| k.name == sig.name && k.key_id == sig.key_id)
            else {
                continue;
            };
            // Every line from a trusted key must verify; a repeated valid line is
            // harmless and counted once (as Go's note package does).
            key.verify(self.text.as_bytes(), &sig.signature)
                .map_err(|()| NoteError::BadSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                })?;
            if !signed_by.iter().any(|k| std::ptr::eq(*k, key)) {
                signed_by.push(key);
            }
        }
        if signed_by.is_empty() {
            return Err(NoteError::NoTrustedSignature {
                expected: trusted
                    .iter()
                    .map(|k| k.to_text())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        signed_by.sort_by_key(|k| trusted.iter().position(|t| std::ptr::eq(t, *k)));
        Ok(signed_by)
    }
}

/// A trusted Ed25519 note key: name, key id and public key.
#[derive(Clone, PartialEq, Eq)]
pub struct Ed25519Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl Ed25519Verifier {
    /// The verifier for `key` under `name`, with the spec's key id.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, DecodeError> {
        check_key_name(name)?;
        Ok(Ed25519Verifier {
            name: name.to_string(),
            key_id: key_id(name, ED25519_TYPE, key.as_bytes()),
            key,
        })
    }

    /// Parses the `name+hexid+base64(0x01 || key)` text form.
    pub fn parse(text: &str) -> Result<Self, DecodeError> {
        let (name, id, key) = parse_vkey(text, ED25519_TYPE)?;
        let verifier = Ed25519Verifier::new(name, key)?;
        check_key_id(id, verifier.key_id)?;
        Ok(verifier)
    }

    /// The `name+hexid+base64(0x01 || key)` text form, as Go's note package prints it.
    pub fn to_text(&self) -> String {
        vkey_text(&self.name, self.key_id, ED25519_TYPE, &self.key)
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), ()> {
        let signature = Signature::from_slice(signature).map_err(|_| ())?;
        self.key.verify_strict(message, &signature).map_err(|_| ())
    }
}

impl fmt::Debug for Ed25519Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519Verifier({})", self.to_text())
    }
}

/// Splits a C2SP verifier key `name+hexid+base64(type || key)` whose type byte
/// must be `signature_type`; the caller checks the key id against its own rule.
pub fn parse_vkey(
    text: &str,
    signature_type: u8,
) -> Result<(&str, u32, VerifyingKey), DecodeError> {
    codec::check_len("verifier key", text.len(), MAX_KEY_NAME_BYTES + 64)?;
    // The key name cannot hold a '+'; the base64 key can, so split twice only.
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(DecodeError::invalid(
            "verifier key",
            "expected name+hexid+base64key",
        ));
    };
    let id = u32::from_be_bytes(codec::parse_hex::<4>(id_hex, "verifier key id")?);
    let raw = codec::parse_base64(b64, 33, "verifier key")?;
    match raw.split_first() {
        Some((&t, _)) if t == signature_type => {}
        _ => {
            return Err(DecodeError::invalid(
                "verifier key",
                format!("not a key of signature type 0x{signature_type:02x}"),
            ))
        }
    }
    let key_bytes: [u8; 32] = raw[1..]
        .try_into()
        .map_err(|_| DecodeError::invalid("verifier key", "Ed25519 key is not 32 bytes"))?;
    Ok((name, id, verifying_key(&key_bytes, "verifier key")?))
}

/// The C2SP verifier key text `name+hexid+base64(type || key)`.
pub fn vkey_text(name: &str, key_id: u32, signature_type: u8, key: &VerifyingKey) -> String {
    let mut raw = vec![signature_type];
    raw.extend_from_slice(key.as_bytes());
    format!("{name}+{key_id:08x}+{}", codec::to_base64(&raw))
}

/// Refuses a verifier key whose stated id is not the one its key gives.
pub fn check_key_id(stated: u32, computed: u32) -> Result<(), DecodeError> {
    if stated == computed {
        return Ok(());
    }
    Err(DecodeError::invalid(
        "verifier key id",
        format!("{stated:08x} does not match the key, which gives {computed:08x}"),
    ))
}

/// Key id per the spec: first 4 bytes of SHA-256(name || 0x0A || type || key).
pub fn key_id(name: &str, signature_type: u8, public_key: &[u8]) -> u32 {
    let digest = Hash::of_parts(&[name.as_bytes(), b"\n", &[signature_type], public_key]);
    u32::from_be_bytes([digest.0[0], digest.0[1], digest.0[2], digest.0[3]])
}

/// Verifies one Ed25519 signature with the rule used everywhere in Quince:
/// strict RFC 8032 (canonical S, no small-order keys or R).
pub fn verify_ed25519_strict(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
    key.verify_strict(message, &Signature::from_bytes(signature))
        .is_ok()
}

/// Parses a 32-byte Ed25519 public key, refusing invalid and small-order points.
pub fn verifying_key(bytes: &[u8; 32], what: &'static str) -> Result<VerifyingKey, DecodeError> {
    let key = VerifyingKey::from_bytes(bytes)
        .map_err(|_| DecodeError::invalid(what, "not a valid Ed25519 public key"))?;
    if key.is_weak() {
        return Err(DecodeError::invalid(
            what,
            "Ed25519 public key of small order",
        ));
    }
    Ok(key)
}

fn check_key_name(name: &str) -> Result<(), DecodeError> {
    codec::check_len("key name", name.len(), MAX_KEY_NAME_BYTES)?;
    if name.is_empty() {
        return Err(DecodeError::invalid("key name", "empty"));
    }
    // The spec's rule (and Go's): no Unicode space, no plus. Characters
    // below U+0020 are already refused for the whole note; U+007F and the
    // C1 controls are allowed, so a line from an unknown signer that uses
    // them is parsed and then ignored, not a reason to refuse the note.
    if name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(DecodeError::invalid(
            "key name",
            format!("`{}` contains a space or a plus", name.escape_debug()),
        ));
    }
    if name.chars().any(|c| c < ' ') {
        return Err(DecodeError::invalid(
            "key name",
            format!("`{}` contains a control character", name.escape_debug()),
        ));
    }
    Ok(())
}

/// The signed-note rule for characters: valid UTF-8 (already checked) and
/// nothing below U+0020 but the newline. Unlike the record formats'
/// [`codec::check_text`], U+007F (DEL) is allowed: the spec forbids only
/// the characters below U+0020.
fn check_note_chars(text: &str, what: &'static str) -> Result<(), DecodeError> {
    match text.bytes().position(|b| b < 0x20 && b != b'\n') {
        Some(at) => Err(DecodeError::invalid(
            what,
            format!("control character at byte {at}"),
        )),
        None => Ok(()),
    }
}

fn check_note_text(text: &str) -> Result<(), DecodeError> {
    codec::check_len("note text", text.len(), MAX_NOTE_BYTES)?;
    check_note_chars(text, "note text")?;
    if text.trim_matches('\n').is_empty() || !text.ends_with('\n') {
        return Err(DecodeError::invalid(
            "note text",
            "must be non-empty and end with a newline",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn the_spec_example_note_parses() {
        let text = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
        let note = Note::parse(text.as_bytes()).unwrap();
        assert_eq!(note.text(), "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n");
        assert_eq!(note.signatures().len(), 1);
        assert_eq!(note.signatures()[0].name(), "quasimodo.example/salvatore");
        assert_eq!(note.to_bytes(), text.as_bytes());
    }

    #[test]
    fn sign_verify_round_trip_and_unknown_signatures_are_ignored() {
        let mut note = Note::unsigned("hello\nworld\n").unwrap();
        note.sign_ed25519("example.com/a", &key(1)).unwrap();
        note.sign_ed25519("example.com/b", &key(2)).unwrap();
        let a = Ed25519Verifier::new("example.com/a", key(1).verifying_key()).unwrap();
        let parsed = Note::parse(&note.to_bytes()).unwrap();
        assert_eq!(parsed, note);
        assert_eq!(parsed.verify(std::slice::from_ref(&a)).unwrap(), vec![&a]);

        // Same name, other key: its id differs, so it is an unknown key.
        let other = Ed25519Verifier::new("example.com/a", key(3).verifying_key()).unwrap();
        assert!(matches!(
            parsed.verify(&[other]),
            Err(NoteError::NoTrustedSignature { .. })
        ));
    }

    #[test]
    fn a_bad_signature_from_a_trusted_key_rejects_the_note() {
        let mut note = Note::unsigned("hello\n").unwrap();
        note.sign_ed25519("example.com/a", &key(1)).unwrap();
        let mut bytes = note.to_bytes();
        let a = Ed25519Verifier::new("example.com/a", key(1).verifying_key()).unwrap();
        bytes[0] = b'j';
        let err = Note::parse(&bytes).unwrap().verify(&[a]).unwrap_err();
        assert!(matches!(err, NoteError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn a_repeated_signature_counts_once_but_a_bad_repeat_rejects() {
        let mut note = Note::unsigned("hello\n").unwrap();
        note.sign_ed25519("example.com/a", &key(1)).unwrap();
        note.sign_ed25519("example.com/a", &key(1)).unwrap();
        let a = Ed25519Verifier::new("example.com/a", key(1).verifying_key()).unwrap();
        assert_eq!(note.verify(std::slice::from_ref(&a)).unwrap().len(), 1);
        let mut bad = note.clone();
        let first = bad.signatures[0].clone();
        let mut forged = first.signature.clone();
        forged[0] ^= 1;
        bad.signatures[1] = NoteSignature::new(first.name(), first.key_id(), forged).unwrap();
        assert!(matches!(
            bad.verify(&[a]),
            Err(NoteError::BadSignature { .. })
        ));
    }

    #[test]
    fn verifier_text_form_round_trips_and_checks_the_key_id() {
        let v = Ed25519Verifier::new("example.com/a", key(1).verifying_key()).unwrap();
        let text = v.to_text();
        assert_eq!(Ed25519Verifier::parse(&text).unwrap(), v);
        let id = format!("{:08x}", v.key_id());
        let wrong = text.replacen(&id, "00000000", 1);
        let err = Ed25519Verifier::parse(&wrong).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        assert!(Ed25519Verifier::parse("a+b").is_err());
        assert!(Ed25519Verifier::parse(&format!("{text}+x")).is_err());
    }

    #[test]
    fn malformed_notes_get_specific_errors() {
        let mut note = Note::unsigned("hello\n").unwrap();
        note.sign_ed25519("example.com/a", &key(1)).unwrap();
        let good = String::from_utf8(note.to_bytes()).unwrap();
        let cases: Vec<(String, &str)> = vec![
            (good.replace("\n\n", "\n"), "no blank line"),
            (good.trim_end().to_string(), "does not end with a newline"),
            (good.replace('\u{2014}', "-"), "em dash"),
            (good.replace("hello", "hel\tlo"), "control character"),
            (format!("{good}garbage\n"), "em dash"),
            ("\n\n\u{2014} a AAAAAAA=\n".to_string(), "non-empty"),
        ];
        for (bad, expect) in cases {
            let err = Note::parse(bad.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expect), "{bad:?}: {err}");
        }
        let huge = vec![b'a'; MAX_NOTE_BYTES + 1];
        assert!(matches!(
            Note::parse(&huge),
            Err(DecodeError::TooLong { .. })
        ));
        let many = format!(
            "{}\n{}",
            "t\n",
            note.signatures()[0].line().repeat(MAX_NOTE_SIGNATURES + 1)
        );
        assert!(matches!(
            Note::parse(many.as_bytes()),
            Err(DecodeError::TooLong {
                what: "note signatures",
                ..
            })
        ));
    }

    #[test]
    fn del_and_c1_characters_are_allowed_and_lines_from_unknown_signers_ignored() {
        // U+007F in the text and in a line by a signer we do not know (whose
        // name also holds a C1 control, U+0080): the note parses, our
        // signature verifies, the stranger's line is kept and ignored.
        let mut note = Note::unsigned("origin\u{7f}\n1\nx\u{7f}y\n").unwrap();
        note.sign_ed25519("example.com/a", &key(1)).unwrap();
        let mut text = String::from_utf8(note.to_bytes()).unwrap();
        text.push_str("\u{2014} stranger\u{7f}\u{80}.example AAAAAQE=\n");
        let parsed = Note::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.signatures().len(), 2);
        assert_eq!(
            parsed.signatures()[1].name(),
            "stranger\u{7f}\u{80}.example"
        );
        let a = Ed25519Verifier::new("example.com/a", key(1).verifying_key()).unwrap();
        assert_eq!(parsed.verify(std::slice::from_ref(&a)).unwrap(), vec![&a]);
        assert_eq!(parsed.to_bytes(), text.as_bytes());

        // Below U+0020 stays refused, in the text and in a line.
        assert!(Note::unsigned("origin\u{1f}\n").is_err());
        let bad = text.replace("stranger", "stranger\u{1b}");
        assert!(Note::parse(bad.as_bytes()).is_err());
        // So do the spec's other key-name rules: a Unicode space, a plus.
        for name in ["a\u{a0}b", "a+b", "a\u{85}b"] {
            let bad = text.replace("stranger", name);
            assert!(Note::parse(bad.as_bytes()).is_err(), "{name:?}");
        }
    }
}
