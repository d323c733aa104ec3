//! The one place where untrusted bytes and text are taken apart.
//!
//! [`Reader`] is a checked cursor over a byte slice: every read says what it is
//! reading, never indexes out of bounds, and [`Reader::finish`] refuses trailing
//! bytes. [`Lines`] does the same for the line-oriented text formats (records,
//! checkpoints). The number, hex and base64 helpers accept only the canonical
//! spelling, so every value has exactly one encoding. Formats themselves live in
//! their own modules and call into this one.

use thiserror::Error;

/// Why some bytes or text could not be decoded.
///
/// `what` names the field being read, so that an error read by a person points at
/// the place in the format that was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended before the field was complete.
    #[error("truncated {what}: needed {needed} more bytes, {available} left")]
    Truncated {
        /// Field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A length or count is over its named limit.
    #[error("{what} too long: {len} > limit {max}")]
    TooLong {
        /// Field being read.
        what: &'static str,
        /// Length found.
        len: usize,
        /// The limit (see `limits.rs`).
        max: usize,
    },
    /// Bytes were left after a complete value.
    #[error("{count} trailing bytes after {what}")]
    TrailingBytes {
        /// Value that was complete.
        what: &'static str,
        /// Bytes left over.
        count: usize,
    },
    /// A value is spelled in a form other than the one canonical form.
    #[error("non-canonical {what}: {detail}")]
    NonCanonical {
        /// Field being read.
        what: &'static str,
        /// What was wrong with the spelling.
        detail: String,
    },
    /// A value is well formed but not allowed.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// Field being read.
        what: &'static str,
        /// Why it is not allowed.
        detail: String,
    },
    /// A required line of a text format is not there.
    #[error("missing line `{key}`")]
    MissingLine {
        /// The key the line should have started with.
        key: &'static str,
    },
    /// A line of a text format appears twice.
    #[error("duplicate line `{key}`")]
    DuplicateLine {
        /// The key of the repeated line.
        key: String,
    },
    /// A line that the format does not allow at this place.
    #[error("unexpected line {line}: expected `{expected}`")]
    UnexpectedLine {
        /// 1-based line number.
        line: usize,
        /// What the format expected there.
        expected: &'static str,
    },
}

impl DecodeError {
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::Invalid {
            what,
            detail: detail.into(),
        }
    }

    pub(crate) fn non_canonical(what: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::NonCanonical {
            what,
            detail: detail.into(),
        }
    }
}

/// A value that can be written in its one canonical binary encoding.
pub trait Encode {
    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The encoding as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// A value that can be read from untrusted bytes.
pub trait Decode: Sized {
    /// Name used in errors.
    const WHAT: &'static str;

    /// Reads one value from the reader, leaving the rest.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Reads exactly one value from `bytes`; trailing bytes are an error.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = Self::decode(&mut reader)?;
        reader.finish(Self::WHAT)?;
        Ok(value)
    }
}

/// A checked cursor over untrusted bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated {
                what,
                needed: n,
                available: self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Reads a u8 length, checks it against `max`, then takes that many bytes.
    pub fn bytes_u8(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u8(what)?);
        self.bounded(len, max, what)
    }

    /// Reads a big-endian u16 length, checks it against `max`, then takes the bytes.
    pub fn bytes_u16(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u16(what)?);
        self.bounded(len, max, what)
    }

    /// Reads a big-endian u32 length, checks it against `max`, then takes the bytes.
    pub fn bytes_u32(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = usize::try_from(self.u32(what)?).unwrap_or(usize::MAX);
        self.bounded(len, max, what)
    }

    /// Reads a u8-length-prefixed UTF-8 string.
    pub fn str_u8(&mut self, max: usize, what: &'static str) -> Result<&'a str, DecodeError> {
        let bytes = self.bytes_u8(max, what)?;
        std::str::from_utf8(bytes).map_err(|_| DecodeError::invalid(what, "not UTF-8"))
    }

    /// Succeeds only if every byte has been read.
    pub fn finish(self, what: &'static str) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                what,
                count: self.rest.len(),
            })
        }
    }

    fn bounded(
        &mut self,
        len: usize,
        max: usize,
        what: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        if len > max {
            return Err(DecodeError::TooLong { what, len, max });
        }
        self.take(len, what)
    }
}

/// Appends a u8-length-prefixed byte string. The caller guarantees `bytes.len() <= 255`.
pub fn put_bytes_u8(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u8::try_from(bytes.len()).expect("caller checked the length against a u8 limit");
    out.push(len);
    out.extend_from_slice(bytes);
}

/// Appends a u16-length-prefixed byte string. The caller guarantees `bytes.len() <= 65535`.
pub fn put_bytes_u16(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).expect("caller checked the length against a u16 limit");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Checks that `len` is within `max`.
pub fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), DecodeError> {
    if len > max {
        Err(DecodeError::TooLong { what, len, max })
    } else {
        Ok(())
    }
}

/// Parses a decimal number in its canonical form: ASCII digits only, no sign, no
/// leading zero (except `0` itself), and no overflow.
pub fn parse_decimal(text: &str, what: &'static str) -> Result<u64, DecodeError> {
    if text.is_empty() {
        return Err(DecodeError::invalid(what, "empty number"));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::invalid(
            what,
            format!("`{text}` is not a decimal number"),
        ));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(DecodeError::non_canonical(
            what,
            format!("leading zero in `{text}`"),
        ));
    }
    text.parse::<u64>()
        .map_err(|_| DecodeError::invalid(what, format!("`{text}` does not fit in 64 bits")))
}

/// Parses lowercase hex of exactly `N` bytes.
pub fn parse_hex<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], DecodeError> {
    if text.len() != 2 * N {
        return Err(DecodeError::invalid(
            what,
            format!("expected {} hex digits, got {}", 2 * N, text.len()),
        ));
    }
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(DecodeError::non_canonical(what, "hex must be lowercase"));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|e| DecodeError::invalid(what, e.to_string()))?;
    Ok(out)
}

/// Parses standard padded base64 (RFC 4648 section 4), canonical form only.
pub fn parse_base64(text: &str, max: usize, what: &'static str) -> Result<Vec<u8>, DecodeError> {
    // 4 characters carry 3 bytes; check before decoding so that nothing large is allocated.
    check_len(what, text.len() / 4 * 3, max + 2)?;
    let bytes = data_encoding::BASE64
        .decode(text.as_bytes())
        .map_err(|e| DecodeError::invalid(what, format!("bad base64: {e}")))?;
    check_len(what, bytes.len(), max)?;
    // Only the one spelling `to_base64` writes: the decoder also takes
    // padding between blocks (`AAE=AAE=`), which would let two texts stand
    // for the same bytes (found by the checkpoint fuzz target).
    if to_base64(&bytes) != text {
        return Err(DecodeError::non_canonical(
            what,
            "base64 not in its one canonical spelling",
        ));
    }
    Ok(bytes)
}

/// Parses base64 that must decode to exactly `N` bytes.
pub fn parse_base64_array<const N: usize>(
    text: &str,
    what: &'static str,
) -> Result<[u8; N], DecodeError> {
    let bytes = parse_base64(text, N, what)?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| DecodeError::invalid(what, format!("expected {N} bytes, got {}", bytes.len())))
}

/// Standard padded base64 of `bytes`.
pub fn to_base64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

/// Checks that text has no ASCII control characters other than newline.
pub fn check_text(text: &str, what: &'static str) -> Result<(), DecodeError> {
    match text
        .bytes()
        .position(|b| (b < 0x20 && b != b'\n') || b == 0x7f)
    {
        Some(at) => Err(DecodeError::invalid(
            what,
            format!("control character at byte {at}"),
        )),
        None => Ok(()),
    }
}

/// A strict reader of `key value` text lines, for the record formats.
///
/// The text must end in a newline; each expected key must come in its place,
/// once. Errors say whether a line is missing, repeated or out of place.
#[derive(Debug)]
pub struct Lines<'a> {
    lines: Vec<&'a str>,
    next: usize,
    previous_key: Option<&'a str>,
}

impl<'a> Lines<'a> {
    /// Splits `text` into lines after checking its size, characters and final newline.
    pub fn new(text: &'a str, max: usize, what: &'static str) -> Result<Self, DecodeError> {
        check_len(what, text.len(), max)?;
        check_text(text, what)?;
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| DecodeError::invalid(what, "text must end with a newline"))?;
        Ok(Lines {
            lines: body.split('\n').collect(),
            next: 0,
            previous_key: None,
        })
    }

    /// Takes the next line, which must be exactly `line`.
    pub fn exact(&mut self, line: &'static str) -> Result<(), DecodeError> {
        match self.lines.get(self.next) {
            Some(l) if *l == line => {
                self.next += 1;
                Ok(())
            }
            _ => Err(DecodeError::UnexpectedLine {
                line: self.next + 1,
                expected: line,
            }),
        }
    }

    /// Takes the next line, which must read `key value`; returns the value.
    pub fn field(&mut self, key: &'static str) -> Result<&'a str, DecodeError> {
        let Some(line) = self.lines.get(self.next).copied() else {
            return Err(DecodeError::MissingLine { key });
        };
        let (found, value) = line.split_once(' ').unwrap_or((line, ""));
        if found != key {
            if Some(found) == self.previous_key {
                return Err(DecodeError::DuplicateLine {
                    key: found.to_string(),
                });
            }
            return Err(DecodeError::MissingLine { key });
        }
        if value.is_empty() || value.starts_with(' ') || value.ends_with(' ') {
            return Err(DecodeError::non_canonical(
                key,
                "value must be one space after the key, with no extra spaces",
            ));
        }
        self.next += 1;
        self.previous_key = Some(found);
        Ok(value)
    }

    /// Takes every following line whose key is `key` (possibly none).
    pub fn repeated(&mut self, key: &'static str, max: usize) -> Result<Vec<&'a str>, DecodeError> {
        let mut values = Vec::new();
        while let Some(line) = self.lines.get(self.next) {
            if line.split_once(' ').map(|(k, _)| k) != Some(key) {
                break;
            }
            if values.len() == max {
                return Err(DecodeError::TooLong {
                    what: key,
                    len: max + 1,
                    max,
                });
            }
            values.push(self.field(key)?);
        }
        Ok(values)
    }

    /// Succeeds only if every line has been taken.
    pub fn finish(self, what: &'static str) -> Result<(), DecodeError> {
        let left = self.lines.len() - self.next;
        if left == 0 {
            return Ok(());
        }
        let next_line = self.lines[self.next];
        let key = next_line.split_once(' ').map_or(next_line, |(k, _)| k);
        if Some(key) == self.previous_key {
            return Err(DecodeError::DuplicateLine {
                key: key.to_string(),
            });
        }
        Err(DecodeError::TrailingBytes {
            what,
            count: self.lines[self.next..].iter().map(|l| l.len() + 1).sum(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_refuses_truncation_and_trailing_bytes() {
        let mut r = Reader::new(&[0, 3, b'a', b'b']);
        assert_eq!(
            r.bytes_u16(10, "name"),
            Err(DecodeError::Truncated {
                what: "name",
                needed: 3,
                available: 2
            })
        );
        let mut r = Reader::new(&[1, b'a', b'z']);
        assert_eq!(r.bytes_u8(10, "name").unwrap(), b"a");
        assert_eq!(
            r.finish("thing"),
            Err(DecodeError::TrailingBytes {
                what: "thing",
                count: 1
            })
        );
    }

    #[test]
    fn reader_refuses_lengths_over_their_limit_before_reading() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            r.bytes_u32(1024, "blob"),
            Err(DecodeError::TooLong {
                len: 4294967295,
                max: 1024,
                ..
            })
        ));
    }

    #[test]
    fn decimal_accepts_only_the_canonical_spelling() {
        assert_eq!(parse_decimal("0", "n"), Ok(0));
        assert_eq!(parse_decimal("18446744073709551615", "n"), Ok(u64::MAX));
        for bad in [
            "",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "0x10",
            "18446744073709551616",
        ] {
            assert!(parse_decimal(bad, "n").is_err(), "{bad:?} accepted");
        }
        assert!(matches!(
            parse_decimal("007", "n"),
            Err(DecodeError::NonCanonical { .. })
        ));
    }

    #[test]
    fn hex_and_base64_accept_only_the_canonical_spelling() {
        assert_eq!(parse_hex::<2>("0aff", "h"), Ok([0x0a, 0xff]));
        assert!(matches!(
            parse_hex::<2>("0AFF", "h"),
            Err(DecodeError::NonCanonical { .. })
        ));
        assert!(parse_hex::<2>("0af", "h").is_err());
        assert_eq!(parse_base64("AAE=", 8, "b"), Ok(vec![0, 1]));
        // Non-zero padding bits and missing padding are refused.
        assert!(parse_base64("AAF=", 8, "b").is_err());
        assert!(parse_base64("AAE", 8, "b").is_err());
        assert!(parse_base64("AAECAwQFBgcICQ==", 8, "b").is_err());
        // Padding between blocks decodes, but is not the canonical spelling.
        assert!(matches!(
            parse_base64("AAE=AAE=", 8, "b"),
            Err(DecodeError::NonCanonical { .. })
        ));
    }

    #[test]
    fn lines_name_missing_duplicate_and_extra_lines() {
        let mut l = Lines::new("a 1\nb 2\n", 100, "rec").unwrap();
        assert_eq!(l.field("a"), Ok("1"));
        assert_eq!(l.field("b"), Ok("2"));
        assert!(l.finish("rec").is_ok());

        let mut l = Lines::new("a 1\na 1\nb 2\n", 100, "rec").unwrap();
        l.field("a").unwrap();
        assert_eq!(
            l.field("b"),
            Err(DecodeError::DuplicateLine { key: "a".into() })
        );

        let mut l = Lines::new("a 1\n", 100, "rec").unwrap();
        l.field("a").unwrap();
        assert_eq!(l.field("b"), Err(DecodeError::MissingLine { key: "b" }));

        let mut l = Lines::new("a 1\nc 3\n", 100, "rec").unwrap();
        l.field("a").unwrap();
        assert!(matches!(
            l.finish("rec"),
            Err(DecodeError::TrailingBytes { .. })
        ));

        assert!(Lines::new("a 1", 100, "rec").is_err());
        assert!(Lines::new("a\t1\n", 100, "rec").is_err());
        let mut l = Lines::new("a  1\n", 100, "rec").unwrap();
        assert!(matches!(
            l.field("a"),
            Err(DecodeError::NonCanonical { .. })
        ));
    }
}
