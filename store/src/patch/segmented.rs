//! Segmented patches (see the parent module's documentation for the
//! format): made and applied a segment at a time, so that neither side
//! holds a large file whole.

use super::{window_log, FileRanges, PATCH_MAX_BYTES};

/// How much of the new file one segment of a segmented patch rebuilds.
pub const SEGMENT_BYTES: usize = 8 << 20;
/// How much of the old file a segment's reference reaches on each side of
/// the stretch the segment came from (an insertion or deletion of up to
/// this much inside a segment still finds its matches).
pub const REFERENCE_MARGIN: usize = 8 << 20;
/// The highest level a segment is made at. zstd indexes a segment's whole
/// reference before matching, which its binary-tree levels (13 and up) do
/// slowly: measured with `zstd --patch-from` (1.5.4) on an 8 MiB segment
/// against a 24 MiB reference, level 15 takes 5.0 s, level 9 0.35 s, for
/// the same patch (long matches come from long-distance matching anyway).
pub const SEGMENT_MAX_LEVEL: i32 = 9;
/// The largest reference of one segment.
const MAX_REFERENCE: usize = SEGMENT_BYTES + 2 * REFERENCE_MARGIN;
const SEGMENTED_MAGIC: [u8; 4] = *b"QPS1";
const SEGMENT_ENTRY: usize = 8 + 4 + 4 + 4;
/// Most segments a patch can have (a file of [`PATCH_MAX_BYTES`]).
const MAX_SEGMENTS: u64 = PATCH_MAX_BYTES / SEGMENT_BYTES as u64;

/// One segment of a segmented patch, as its header entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    old_start: u64,
    old_len: u32,
    new_len: u32,
    frame_len: u32,
}

/// Makes a segmented patch (the format is in `store/src/patch.rs`) of `new`
/// against `old`. `shift(start, len)`, where known, says how far the old
/// stretch that the new file's bytes `start..start + len` came from lies
/// from `start` (the packager takes it from the chunks both versions
/// hold); otherwise the same relative place in the old file is used.
/// Holds one segment of the new file and its reference at a time.
pub fn make_segmented_patch(
    old: &dyn FileRanges,
    new: &dyn FileRanges,
    shift: &dyn Fn(u64, u64) -> Option<i64>,
    level: i32,
) -> std::io::Result<Vec<u8>> {
    let longest = old.len().max(new.len());
    if longest > PATCH_MAX_BYTES {
        return Err(std::io::Error::other(format!(
            "{longest} bytes is above the {PATCH_MAX_BYTES}-byte limit for patches"
        )));
    }
    let level = level.min(SEGMENT_MAX_LEVEL);
    let mut segments = Vec::new();
    let mut frames = Vec::new();
    let mut start = 0u64;
    while start < new.len() {
        let len = (new.len() - start).min(SEGMENT_BYTES as u64);
        let piece = new.read(start, len as usize)?;
        let from = match shift(start, len) {
            Some(s) => (start as i64).saturating_add(s).max(0) as u64,
            // The same relative place (both lengths are at most 2^30).
            None => start * old.len() / new.len().max(1),
        };
        let ref_start = from.min(old.len()).saturating_sub(REFERENCE_MARGIN as u64);
        let ref_end = from
            .saturating_add(len + REFERENCE_MARGIN as u64)
            .min(old.len());
        let reference = old.read(ref_start, (ref_end.max(ref_start) - ref_start) as usize)?;
        let frame = compress_segment(&reference, &piece, level)?;
        segments.push(Segment {
            old_start: ref_start,
            old_len: reference.len() as u32,
            new_len: len as u32,
            frame_len: frame.len() as u32,
        });
        frames.extend_from_slice(&frame);
        start += len;
    }
    let mut out = Vec::with_capacity(8 + segments.len() * SEGMENT_ENTRY + frames.len());
    out.extend_from_slice(&SEGMENTED_MAGIC);
    out.extend_from_slice(&(segments.len() as u32).to_le_bytes());
    for s in &segments {
        out.extend_from_slice(&s.old_start.to_le_bytes());
        out.extend_from_slice(&s.old_len.to_le_bytes());
        out.extend_from_slice(&s.new_len.to_le_bytes());
        out.extend_from_slice(&s.frame_len.to_le_bytes());
    }
    out.extend_from_slice(&frames);
    Ok(out)
}

/// One zstd frame of `piece` against `reference`, made in one call (no
/// streaming buffers beside the two).
fn compress_segment(reference: &[u8], piece: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    use zstd::zstd_safe::{CCtx, CParameter};
    let fail = |code| std::io::Error::other(zstd::zstd_safe::get_error_name(code));
    let mut cctx = CCtx::create();
    for param in [
        CParameter::CompressionLevel(level),
        CParameter::EnableLongDistanceMatching(true),
        CParameter::WindowLog(window_log((reference.len() + piece.len()) as u64)),
        CParameter::ContentSizeFlag(true),
    ] {
        cctx.set_parameter(param).map_err(fail)?;
    }
    cctx.ref_prefix(reference).map_err(fail)?;
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(piece.len()));
    cctx.compress2(&mut out, piece).map_err(fail)?;
    Ok(out)
}

/// Whether `patch` is a segmented one (by its first bytes).
pub fn is_segmented(patch: &[u8]) -> bool {
    patch.starts_with(&SEGMENTED_MAGIC)
}

/// The segments of a segmented patch and where its frames start, checked
/// against the old file's length and the new file's `size`.
fn parse_segments(patch: &[u8], old_len: u64, size: u64) -> Result<(Vec<Segment>, usize), String> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(patch.get(at..at + 4)?.try_into().ok()?))
    };
    let count = word(4).ok_or("the patch ends inside its header")?;
    if u64::from(count) > MAX_SEGMENTS + 1 {
        return Err(format!("{count} segments is more than a patch can have"));
    }
    let frames_at = 8 + count as usize * SEGMENT_ENTRY;
    if patch.len() < frames_at {
        return Err("the patch ends inside its header".into());
    }
    let mut segments = Vec::with_capacity(count as usize);
    let (mut new_total, mut frames_total) = (0u64, 0u64);
    for i in 0..count as usize {
        let at = 8 + i * SEGMENT_ENTRY;
        let low = u64::from(word(at).unwrap_or(0));
        let high = u64::from(word(at + 4).unwrap_or(0));
        let s = Segment {
            old_start: low | high << 32,
            old_len: word(at + 8).unwrap_or(0),
            new_len: word(at + 12).unwrap_or(0),
            frame_len: word(at + 16).unwrap_or(0),
        };
        if s.new_len == 0 || s.new_len as usize > SEGMENT_BYTES {
            return Err(format!("segment {i} rebuilds {} bytes", s.new_len));
        }
        if s.old_len as usize > MAX_REFERENCE
            || s.old_start.saturating_add(u64::from(s.old_len)) > old_len
        {
            return Err(format!(
                "segment {i} refers to {} bytes at {} of a {old_len}-byte file",
                s.old_len, s.old_start
            ));
        }
        new_total += u64::from(s.new_len);
        frames_total += u64::from(s.frame_len);
        segments.push(s);
    }
    if new_total != size {
        return Err(format!(
            "its segments rebuild {new_total} bytes, not {size}"
        ));
    }
    if frames_total != (patch.len() - frames_at) as u64 {
        return Err(format!(
            "its segments' frames take {frames_total} bytes, not the {} it has",
            patch.len() - frames_at
        ));
    }
    Ok((segments, frames_at))
}

/// The new file a segmented patch rebuilds, read in order: one segment (and
/// its reference) decoded at a time.
pub(super) struct Segments<'a> {
    old: &'a dyn FileRanges,
    patch: &'a [u8],
    segments: std::vec::IntoIter<Segment>,
    /// Where the next segment's frame starts in `patch`.
    next_frame: usize,
    current: Vec<u8>,
    at: usize,
}

impl<'a> Segments<'a> {
    pub(super) fn new(
        old: &'a dyn FileRanges,
        patch: &'a [u8],
        size: u64,
    ) -> Result<Segments<'a>, String> {
        let (segments, frames_at) = parse_segments(patch, old.len(), size)?;
        Ok(Segments {
            old,
            patch,
            segments: segments.into_iter(),
            next_frame: frames_at,
            current: Vec::new(),
            at: 0,
        })
    }

    /// Decodes the next segment into `current`; false when there is none.
    fn decode_next(&mut self) -> std::io::Result<bool> {
        use zstd::zstd_safe::{DCtx, DParameter};
        let Some(s) = self.segments.next() else {
            return Ok(false);
        };
        let end = self.next_frame + s.frame_len as usize;
        let frame = &self.patch[self.next_frame..end];
        self.next_frame = end;
        match zstd::zstd_safe::get_frame_content_size(frame) {
            Ok(Some(n)) if n == u64::from(s.new_len) => {}
            _ => {
                return Err(std::io::Error::other(format!(
                    "a segment's frame does not declare its {} bytes",
                    s.new_len
                )))
            }
        }
        let reference = self.old.read(s.old_start, s.old_len as usize)?;
        let fail = |code| std::io::Error::other(zstd::zstd_safe::get_error_name(code));
        let mut dctx = DCtx::create();
        let window = window_log(u64::from(s.old_len) + u64::from(s.new_len));
        dctx.set_parameter(DParameter::WindowLogMax(window))
            .map_err(fail)?;
        dctx.ref_prefix(&reference).map_err(fail)?;
        self.current.clear();
        self.current.reserve_exact(s.new_len as usize);
        dctx.decompress(&mut self.current, frame).map_err(fail)?;
        if self.current.len() != s.new_len as usize {
            return Err(std::io::Error::other(format!(
                "a segment rebuilds {} bytes, not {}",
                self.current.len(),
                s.new_len
            )));
        }
        self.at = 0;
        Ok(true)
    }
}

impl std::io::Read for Segments<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            if !self.decode_next()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
