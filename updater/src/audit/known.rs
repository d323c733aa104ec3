//! The checkpoints an audit checks: the head, those seen in earlier audits,
//! the rotation checkpoints in `rotations/` and one per signing transcript
//! in `transcripts/`, in order of size.

use std::path::Path;

use quince_protocol::checkpoint::Checkpoint;
use quince_protocol::note::Note;
use quince_protocol::tile;
use quince_protocol::transcript::SignedShares;

/// A checkpoint to check: its body, and a signed note or a transcript.
pub(super) struct Known {
    pub(super) size: u64,
    pub(super) body: String,
    pub(super) source: &'static str,
    pub(super) note: Option<Vec<u8>>,
    pub(super) transcript: Option<SignedShares>,
}

/// Most files of a `rotations/` folder an audit reads.
const MAX_ROTATION_FILES: usize = 4096;

/// Every checkpoint of the log folder `log` the audit knows of, smallest
/// first (a transcript before a note of the same size); what cannot be read
/// goes into `problems`.
pub(super) fn checkpoints(
    log: &Path,
    head: &Checkpoint,
    head_body: String,
    head_note: &[u8],
    seen: &[Vec<u8>],
    problems: &mut Vec<String>,
) -> Vec<Known> {
    let mut known: Vec<Known> = vec![Known {
        size: head.size,
        body: head_body,
        source: "head",
        note: Some(head_note.to_vec()),
        transcript: None,
    }];
    for note in seen {
        if let Ok(n) = Note::parse(note) {
            if let Ok(c) = Checkpoint::parse(n.text()) {
                known.push(Known {
                    size: c.size,
                    body: n.text().to_string(),
                    source: "seen earlier",
                    note: Some(note.clone()),
                    transcript: None,
                });
            }
        }
    }
    // The checkpoints that first contained each signer rotation, signed by
    // the signers before it: without them a rotation cannot be followed.
    if let Ok(dir) = std::fs::read_dir(log.join(tile::ROTATIONS_DIR)) {
        for f in dir.flatten().take(MAX_ROTATION_FILES) {
            let name = f.file_name().to_string_lossy().to_string();
            let Ok(size) = quince_protocol::codec::parse_decimal(&name, "rotation") else {
                continue;
            };
            let note = match quince_store::durable::read_bounded(
                &f.path(),
                quince_protocol::limits::MAX_NOTE_BYTES,
            ) {
                Ok(n) => n,
                Err(e) => {
                    problems.push(format!("rotations/{name}: {e}"));
                    continue;
                }
            };
            match Note::parse(&note).map_err(|e| e.to_string()).and_then(|n| {
                Checkpoint::parse(n.text())
                    .map(|c| (n, c))
                    .map_err(|e| e.to_string())
            }) {
                Ok((n, c)) if c.size == size => known.push(Known {
                    size,
                    body: n.text().to_string(),
                    source: "rotation",
                    note: Some(note.clone()),
                    transcript: None,
                }),
                Ok((_, c)) => problems.push(format!(
                    "rotations/{name} holds a checkpoint of size {}",
                    c.size
                )),
                Err(e) => problems.push(format!("rotations/{name}: {e}")),
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir(log.join(tile::TRANSCRIPTS_DIR)) {
        for f in dir.flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            let Some(size) = name
                .strip_suffix(".json")
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let json = match quince_store::durable::read_bounded(
                &f.path(),
                quince_protocol::transcript::MAX_TRANSCRIPT_BYTES,
            ) {
                Ok(json) => json,
                Err(e) => {
                    tracing::warn!("{}: {e}", f.path().display());
                    continue;
                }
            };
            match SignedShares::from_json(&json) {
                Ok(t) => match std::str::from_utf8(&t.message) {
                    Ok(body) if Checkpoint::parse(body).is_ok_and(|c| c.size == size) => known
                        .push(Known {
                            size,
                            body: body.to_string(),
                            source: "transcript",
                            note: None,
                            transcript: Some(t),
                        }),
                    _ => problems.push(format!(
                        "transcripts/{name} does not sign a checkpoint of size {size}"
                    )),
                },
                Err(e) => problems.push(format!("transcripts/{name}: {e}")),
            }
        }
    }
    known.sort_by_key(|k| (k.size, k.source != "transcript"));
    known
}
