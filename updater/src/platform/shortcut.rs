//! Windows shell links (`.lnk` files, as Microsoft's [MS-SHLLINK] lays
//! them out): the Start-menu entry of an installed app.
//!
//! A link made here has the 76-byte header, a `LinkInfo` that names the
//! target by its local path (in the ANSI code page and in UTF-16), and the
//! description and working folder as UTF-16 strings. It has no item-ID list
//! (the shell's own encoding of a path, which the shell rebuilds from the
//! `LinkInfo` path) and no extra data blocks. The target is the app's
//! launcher batch file, which reads the app's `current` pointer each time
//! it runs: the link never needs rewriting when the app updates or rolls
//! back.
//!
//! Written on every OS (pure byte layout), so it is tested on every OS;
//! only Windows puts it in a Start menu.
//!
//! [MS-SHLLINK]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-shllink/

/// The header's size, which is also its first field.
const HEADER_SIZE: u32 = 0x4C;
/// The shell link class id, 00021401-0000-0000-C000-000000000046, in the
/// byte order it has on disk.
const LINK_CLSID: [u8; 16] = [
    0x01, 0x14, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];
/// `LinkFlags`: HasLinkInfo | HasName | HasWorkingDir | IsUnicode.
const FLAGS: u32 = 0x02 | 0x04 | 0x10 | 0x80;
/// `FILE_ATTRIBUTE_NORMAL` for the target.
const ATTRIBUTES: u32 = 0x80;
/// `SW_SHOWNORMAL`.
const SHOW_NORMAL: u32 = 1;
/// `LinkInfo` header with the Unicode offsets (size 0x24).
const LINK_INFO_HEADER: u32 = 0x24;
/// `VolumeIDAndLocalBasePath`.
const VOLUME_AND_PATH: u32 = 0x01;
/// `DRIVE_FIXED`.
const DRIVE_FIXED: u32 = 3;
/// Longest string the link's string fields hold, in UTF-16 units (their
/// count is a `u16`; Windows' own limit for these is far lower).
pub const MAX_STRING_UNITS: usize = 4096;

/// What a link starts.
#[derive(Debug, Clone)]
pub struct Shortcut<'a> {
    /// The target's absolute Windows path (`C:\...\bin\hello.cmd`).
    pub target: &'a str,
    /// The folder it starts in.
    pub working_dir: &'a str,
    /// The description: the Start menu shows it as the tooltip.
    pub description: &'a str,
}

/// Why a link could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShortcutError {
    /// A field holds more than [`MAX_STRING_UNITS`] UTF-16 units, or a NUL.
    #[error("the shortcut's {0} is too long or holds a NUL character")]
    Field(&'static str),
}

/// The link's bytes.
pub fn encode(s: &Shortcut<'_>) -> Result<Vec<u8>, ShortcutError> {
    let field = |name: &'static str, text: &str| -> Result<Vec<u16>, ShortcutError> {
        let units: Vec<u16> = text.encode_utf16().collect();
        if units.len() > MAX_STRING_UNITS || units.contains(&0) {
            return Err(ShortcutError::Field(name));
        }
        Ok(units)
    };
    let target = field("target", s.target)?;
    let working_dir = field("working folder", s.working_dir)?;
    let description = field("description", s.description)?;

    let mut out = Vec::with_capacity(512);
    // ShellLinkHeader.
    out.extend_from_slice(&HEADER_SIZE.to_le_bytes());
    out.extend_from_slice(&LINK_CLSID);
    out.extend_from_slice(&FLAGS.to_le_bytes());
    out.extend_from_slice(&ATTRIBUTES.to_le_bytes());
    out.extend_from_slice(&[0; 24]); // creation, access and write times
    out.extend_from_slice(&0u32.to_le_bytes()); // target size: not known
    out.extend_from_slice(&0i32.to_le_bytes()); // icon index
    out.extend_from_slice(&SHOW_NORMAL.to_le_bytes());
    out.extend_from_slice(&[0; 2 + 2 + 4 + 4]); // hot key, reserved
    debug_assert_eq!(out.len(), HEADER_SIZE as usize);

    out.extend_from_slice(&link_info(s.target, &target));

    // StringData, in the order the flags give: NAME_STRING, then
    // WORKING_DIR (no relative path, arguments or icon location).
    for units in [&description, &working_dir] {
        out.extend_from_slice(&(units.len() as u16).to_le_bytes());
        out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
    }
    // ExtraData: only the terminal block.
    out.extend_from_slice(&0u32.to_le_bytes());
    Ok(out)
}

/// The `LinkInfo` structure for a local target: a fixed-drive volume with
/// no label or serial, the path in ANSI (characters outside ASCII as `?`:
/// readers take the UTF-16 copy that follows) and in UTF-16.
fn link_info(target: &str, target_units: &[u16]) -> Vec<u8> {
    let volume: Vec<u8> = [16u32, DRIVE_FIXED, 0, 16]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .chain([0]) // the empty volume label
        .collect();
    let ansi: Vec<u8> = target
        .chars()
        .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
        .chain([0])
        .collect();
    let suffix_ansi = [0u8];
    let unicode: Vec<u8> = target_units
        .iter()
        .chain(&[0])
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let suffix_unicode = [0u8, 0];

    let volume_at = LINK_INFO_HEADER;
    let path_at = volume_at + volume.len() as u32;
    let suffix_at = path_at + ansi.len() as u32;
    let path_unicode_at = suffix_at + suffix_ansi.len() as u32;
    let suffix_unicode_at = path_unicode_at + unicode.len() as u32;
    let size = suffix_unicode_at + suffix_unicode.len() as u32;

    let mut out = Vec::with_capacity(size as usize);
    for v in [
        size,
        LINK_INFO_HEADER,
        VOLUME_AND_PATH,
        volume_at,
        path_at,
        0, // no network location
        suffix_at,
        path_unicode_at,
        suffix_unicode_at,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&volume);
    out.extend_from_slice(&ansi);
    out.extend_from_slice(&suffix_ansi);
    out.extend_from_slice(&unicode);
    out.extend_from_slice(&suffix_unicode);
    debug_assert_eq!(out.len(), size as usize);
    out
}

/// True if `bytes` are a shell link whose text holds `mark` (Quince puts
/// the app's mark in the description).
pub fn is_shortcut_with(bytes: &[u8], mark: &str) -> bool {
    if bytes.len() < HEADER_SIZE as usize
        || bytes[..4] != HEADER_SIZE.to_le_bytes()
        || bytes[4..20] != LINK_CLSID
    {
        return false;
    }
    let needle: Vec<u8> = mark.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
    }

    #[test]
    fn a_link_has_the_header_link_info_and_strings_where_the_spec_puts_them() {
        let target = r"C:\Users\Zoë\AppData\Local\quince\bin\hello.cmd";
        let link = encode(&Shortcut {
            target,
            working_dir: r"C:\Users\Zoë",
            description: "Says hello (quince launcher: app abc)",
        })
        .unwrap();
        assert_eq!(u32_at(&link, 0), 0x4C);
        assert_eq!(
            &link[4..20],
            &[1, 0x14, 2, 0, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46]
        );
        assert_eq!(u32_at(&link, 20), FLAGS);
        assert_eq!(u32_at(&link, 60), SHOW_NORMAL);
        // LinkInfo right after the header (no ID list): its offsets lead
        // to the ANSI path, with `?` for the ë, and the UTF-16 path.
        let info = &link[0x4C..];
        let size = u32_at(info, 0) as usize;
        assert_eq!(u32_at(info, 4), 0x24);
        assert_eq!(u32_at(info, 8), 1);
        let volume = u32_at(info, 12) as usize;
        assert_eq!(u32_at(info, volume), 16);
        assert_eq!(u32_at(info, volume + 4), DRIVE_FIXED);
        let ansi = u32_at(info, 16) as usize;
        let ansi_end = ansi + info[ansi..].iter().position(|&b| b == 0).unwrap();
        assert_eq!(&info[ansi..ansi_end], target.replace('ë', "?").as_bytes());
        let wide = u32_at(info, 28) as usize;
        assert_eq!(&info[wide..wide + utf16(target).len()], &utf16(target)[..]);
        assert_eq!(&info[wide + utf16(target).len()..][..2], &[0, 0]);
        // The strings: a count of UTF-16 units, then the units.
        let mut at = 0x4C + size;
        for text in ["Says hello (quince launcher: app abc)", r"C:\Users\Zoë"] {
            let count = u16::from_le_bytes([link[at], link[at + 1]]) as usize;
            assert_eq!(count, text.encode_utf16().count());
            assert_eq!(&link[at + 2..at + 2 + 2 * count], &utf16(text)[..]);
            at += 2 + 2 * count;
        }
        // Then the terminal block, and nothing after it.
        assert_eq!(&link[at..], &[0, 0, 0, 0]);
    }

    #[test]
    fn a_link_is_recognised_by_its_mark_and_nothing_else_is() {
        let link = encode(&Shortcut {
            target: r"C:\q\bin\hello.cmd",
            working_dir: r"C:\q",
            description: "Hello (quince launcher: app abc)",
        })
        .unwrap();
        assert!(is_shortcut_with(&link, "quince launcher: app abc"));
        assert!(!is_shortcut_with(&link, "quince launcher: app abd"));
        assert!(!is_shortcut_with(&link[..40], "quince launcher: app abc"));
        assert!(!is_shortcut_with(
            &utf16("quince launcher: app abc").repeat(8),
            "quince launcher: app abc"
        ));
    }

    #[test]
    fn fields_that_a_link_cannot_hold_are_refused() {
        let long = "x".repeat(MAX_STRING_UNITS + 1);
        let nul = "a\0b";
        for (target, description, field) in [
            (long.as_str(), "d", "target"),
            ("C:\\a", nul, "description"),
        ] {
            let s = Shortcut {
                target,
                working_dir: "C:\\",
                description,
            };
            assert_eq!(encode(&s), Err(ShortcutError::Field(field)));
        }
    }
}
