//! What an audit checks of any C2SP tlog-tiles folder, given only its
//! verifier key: no Quince `root` file, no idea what the entries mean. The
//! log-level checks: the checkpoint's signature, the tiles reproduce its
//! root, every entry bundle matches the tiles, and every checkpoint seen in
//! earlier audits is consistent with this one. Also the RFC 6962 proofs an
//! outside verifier takes (Go's `tlog.CheckRecord` and `tlog.CheckTree`).

use std::path::Path;

use quince_protocol::checkpoint::{Checkpoint, VerifiedCheckpoint};
use quince_protocol::merkle;
use quince_protocol::note::{Ed25519Verifier, Note};
use quince_protocol::tile::{self, TileSet};
use quince_protocol::Hash;
use serde_json::json;

use super::{log_file_limit, AuditError};

/// The outcome of a log-level audit.
#[derive(Debug, Clone)]
pub struct TlogReport {
    /// The checkpoint's origin line.
    pub origin: String,
    /// Head tree size.
    pub size: u64,
    /// Head root hash.
    pub root: Hash,
    /// Entries whose bundle matched the tiles.
    pub entries: u64,
    /// The biggest checkpoint seen earlier than this copy's head, if this
    /// copy is behind it (and consistent with it: otherwise it is a problem).
    pub behind: Option<u64>,
    /// Problems: the audit fails if there is any.
    pub problems: Vec<String>,
    /// What could not be checked.
    pub warnings: Vec<String>,
}

impl TlogReport {
    /// True when everything checked held.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "origin": self.origin, "size": self.size, "root": self.root.to_base64(),
            "entries_checked": self.entries, "behind": self.behind, "passed": self.passed(),
            "problems": self.problems, "warnings": self.warnings,
        })
    }

    /// The report as text.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "log {}: {} entries, root {}\n  checkpoint signature valid; tiles reproduce the root; {} entries match their bundles\n",
            self.origin,
            self.size,
            self.root.to_base64(),
            self.entries
        );
        if let Some(newer) = self.behind {
            out.push_str(&format!(
                "  behind, consistent: a checkpoint of size {newer} was seen earlier; this copy is a prefix of it\n"
            ));
        }
        for w in &self.warnings {
            out.push_str(&format!("  warning: {w}\n"));
        }
        for p in &self.problems {
            out.push_str(&format!("  PROBLEM: {p}\n"));
        }
        out.push_str(if self.passed() {
            "audit passed: every check held\n"
        } else {
            "audit FAILED\n"
        });
        out
    }
}

/// Audits the tlog-tiles folder `log` against `key` (its checkpoint's
/// origin must be the key's name, as C2SP logs have it). `seen` are
/// checkpoints from earlier audits; `newer` the tiles remembered from the
/// biggest of them, which prove whether a smaller head is a prefix of it.
pub fn audit_tlog_folder(
    log: &Path,
    key: &Ed25519Verifier,
    seen: &[Vec<u8>],
    newer: Option<&Path>,
) -> Result<TlogReport, AuditError> {
    let unreadable = |rel: &str, reason: String| AuditError::Unreadable {
        path: log.join(rel).display().to_string(),
        reason,
    };
    let note =
        quince_store::durable::read_bounded(&log.join("checkpoint"), log_file_limit("checkpoint"))
            .map_err(|e| unreadable("checkpoint", e.to_string()))?;
    let head = VerifiedCheckpoint::verify(&note, key.name(), key)
        .map_err(|e| unreadable("checkpoint", e.to_string()))?;
    let mut report = TlogReport {
        origin: key.name().to_string(),
        size: head.size(),
        root: *head.root(),
        entries: 0,
        behind: None,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let tiles = match quince_store::tilefs::read_tiles(log, head.size()) {
        Ok(t) => t,
        Err(e) => {
            report.problems.push(format!("tiles: {e}"));
            return Ok(report);
        }
    };
    if let Err(e) = tiles.verify(head.size(), head.root()) {
        report
            .problems
            .push(format!("the tiles do not reproduce the checkpoint: {e}"));
        return Ok(report);
    }
    for id in tile::bundles_for_size(head.size()) {
        let checked = quince_store::durable::read_bounded(&log.join(id.path()), log_file_limit(""))
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                let bundle = tile::decode_bundle(id, &bytes).map_err(|e| e.to_string())?;
                tiles.check_bundle(id, &bundle).map_err(|e| e.to_string())?;
                Ok(bundle.len() as u64)
            });
        match checked {
            Ok(n) => report.entries += n,
            Err(e) => report
                .problems
                .push(format!("entry bundle {}: {e}", id.path())),
        }
    }
    let newer_tiles = newer.and_then(remembered);
    for other in seen {
        check_seen(
            &mut report,
            &tiles,
            newer_tiles.as_ref(),
            key.name(),
            key,
            other,
        );
    }
    Ok(report)
}

/// The tiles remembered from a bigger head (`dir/checkpoint` and its hash
/// tiles), if they are still there and reproduce that head.
pub fn remembered(dir: &Path) -> Option<(u64, TileSet)> {
    let note =
        quince_store::durable::read_bounded(&dir.join("checkpoint"), log_file_limit("checkpoint"))
            .ok()?;
    let cp = Note::parse(&note)
        .ok()
        .and_then(|n| Checkpoint::parse(n.text()).ok())?;
    // Its signature was checked when it was remembered; the tiles must still
    // give its root (a damaged memory proves nothing).
    let tiles = quince_store::tilefs::read_tiles(dir, cp.size).ok()?;
    tiles.verify(cp.size, &cp.root).ok()?;
    Some((cp.size, tiles))
}

/// Checks one checkpoint seen earlier against this copy: a smaller or equal
/// one must be a prefix of the head; a bigger one makes this copy "behind",
/// which is fine when the remembered tiles of the bigger tree show the head
/// is a prefix of it, and proof of a rewritten log when they show it is not.
fn check_seen(
    report: &mut TlogReport,
    tiles: &TileSet,
    newer: Option<&(u64, TileSet)>,
    origin: &str,
    key: &Ed25519Verifier,
    note: &[u8],
) {
    let Ok(cp) = VerifiedCheckpoint::verify(note, origin, key) else {
        report.warnings.push(
            "a checkpoint seen earlier does not verify under this key (another key, or a signer rotation)"
                .to_string(),
        );
        return;
    };
    if let Some(problem) = prefix_problem(
        tiles,
        report.size,
        &report.root,
        cp.size(),
        cp.root(),
        newer,
    ) {
        match problem {
            Prefix::Behind => report.behind = report.behind.max(Some(cp.size())),
            Prefix::Unknown(w) => report.warnings.push(w),
            Prefix::Rewritten(p) => report.problems.push(p),
        }
    }
}

/// How a checkpoint of `size` with `root` relates to a head of `head_size`
/// with `head_root` and its `tiles`.
pub(super) enum Prefix {
    /// The head is a prefix of the (bigger) checkpoint: proven with the
    /// remembered tiles of the bigger tree.
    Behind,
    /// Bigger, and nothing at hand proves either way.
    Unknown(String),
    /// Proven inconsistent: one of them rewrote the log.
    Rewritten(String),
}

/// `None` when the checkpoint is a prefix of the head (the usual case).
pub(super) fn prefix_problem(
    tiles: &TileSet,
    head_size: u64,
    head_root: &Hash,
    size: u64,
    root: &Hash,
    newer: Option<&(u64, TileSet)>,
) -> Option<Prefix> {
    if size <= head_size {
        return match merkle::tree_root(tiles, size) {
            Ok(prefix) if prefix == *root => None,
            Ok(prefix) => Some(Prefix::Rewritten(format!(
                "EQUIVOCATION: the checkpoint of size {size} seen earlier has root {}, but this log's first {size} entries have root {}: the log was rewritten",
                root.to_base64(),
                prefix.to_base64()
            ))),
            Err(e) => Some(Prefix::Rewritten(format!("checkpoint of size {size}: {e}"))),
        };
    }
    let Some((newer_size, newer_tiles)) = newer.filter(|(n, _)| *n >= size) else {
        return Some(Prefix::Unknown(format!(
            "a checkpoint of size {size} was seen earlier; this copy (size {head_size}) is behind it, and without that tree's tiles its consistency cannot be checked"
        )));
    };
    let theirs = merkle::tree_root(newer_tiles, size);
    let ours = merkle::tree_root(newer_tiles, head_size);
    match (theirs, ours) {
        (Ok(t), Ok(o)) if t == *root && o == *head_root => Some(Prefix::Behind),
        (Ok(t), Ok(o)) if t == *root => Some(Prefix::Rewritten(format!(
            "EQUIVOCATION: the tree of size {newer_size} seen earlier begins with root {} at size {head_size}, but this copy's head has root {}: the log was rewritten",
            o.to_base64(),
            head_root.to_base64()
        ))),
        _ => Some(Prefix::Unknown(format!(
            "a checkpoint of size {size} was seen earlier, and the tiles remembered do not prove it"
        ))),
    }
}

/// The RFC 6962 proofs an outside verifier takes, as text (base64 hashes,
/// one a line) and JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// Entry `index` is in the tree of `size` leaves (Go: `tlog.CheckRecord`).
    Inclusion {
        /// The entry.
        index: u64,
        /// The tree size.
        size: u64,
        /// The entry's leaf hash (SHA-256 of 0x00 || entry).
        leaf: Hash,
        /// The audit path.
        path: Vec<Hash>,
        /// The tree's root.
        root: Hash,
    },
    /// The tree of `old` leaves is a prefix of the tree of `new` (Go: `tlog.CheckTree`).
    Consistency {
        /// The smaller tree.
        old: u64,
        /// The bigger tree.
        new: u64,
        /// The proof.
        path: Vec<Hash>,
        /// Root of the smaller tree.
        old_root: Hash,
        /// Root of the bigger tree.
        new_root: Hash,
    },
}

impl Proof {
    /// The proof asked for by `spec` (`N`: entry N's inclusion in the head;
    /// `A:B`: consistency of size A with size B) in the tree of `size`
    /// leaves whose `tiles` are given, with `entry(i)` reading entry i.
    pub fn make(
        spec: &str,
        tiles: &TileSet,
        size: u64,
        entry: impl Fn(u64) -> Option<Vec<u8>>,
    ) -> Result<Proof, String> {
        let number = |s: &str| {
            quince_protocol::codec::parse_decimal(s, "proof").map_err(|_| {
                format!("--proof {spec:?}: expected ENTRY or OLD:NEW (decimal numbers)")
            })
        };
        match spec.split_once(':') {
            None => {
                let index = number(spec)?;
                if index >= size {
                    return Err(format!(
                        "entry {index} is not in the log (it has {size} entries)"
                    ));
                }
                let bytes = entry(index).ok_or_else(|| format!("entry {index} cannot be read"))?;
                Ok(Proof::Inclusion {
                    index,
                    size,
                    leaf: merkle::leaf_hash(&bytes),
                    path: merkle::inclusion_proof(tiles, index, size).map_err(|e| e.to_string())?,
                    root: merkle::tree_root(tiles, size).map_err(|e| e.to_string())?,
                })
            }
            Some((a, b)) => {
                let (old, new) = (number(a)?, number(b)?);
                if old > new || new > size || old == 0 {
                    return Err(format!(
                        "--proof {old}:{new}: need 0 < OLD <= NEW <= {size} (the log's size)"
                    ));
                }
                Ok(Proof::Consistency {
                    old,
                    new,
                    path: merkle::consistency_proof(tiles, old, new).map_err(|e| e.to_string())?,
                    old_root: merkle::tree_root(tiles, old).map_err(|e| e.to_string())?,
                    new_root: merkle::tree_root(tiles, new).map_err(|e| e.to_string())?,
                })
            }
        }
    }

    /// Text: a header line, the hashes one a line, then the roots.
    pub fn to_text(&self) -> String {
        let lines = |path: &[Hash]| -> String {
            path.iter()
                .map(|h| format!("{}\n", h.to_base64()))
                .collect()
        };
        match self {
            Proof::Inclusion { index, size, leaf, path, root } => format!(
                "inclusion of entry {index} in size {size} (RFC 6962 audit path; base64 hashes, one a line):\n{}leaf hash: {}\nroot {size}: {}\n",
                lines(path),
                leaf.to_base64(),
                root.to_base64()
            ),
            Proof::Consistency { old, new, path, old_root, new_root } => format!(
                "consistency {old} -> {new} (RFC 6962; base64 hashes, one a line):\n{}root {old}: {}\nroot {new}: {}\n",
                lines(path),
                old_root.to_base64(),
                new_root.to_base64()
            ),
        }
    }

    /// JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let b64 = |path: &[Hash]| path.iter().map(Hash::to_base64).collect::<Vec<_>>();
        match self {
            Proof::Inclusion {
                index,
                size,
                leaf,
                path,
                root,
            } => json!({
                "kind": "inclusion", "entry": index, "size": size,
                "leaf_hash": leaf.to_base64(), "proof": b64(path), "root": root.to_base64(),
            }),
            Proof::Consistency {
                old,
                new,
                path,
                old_root,
                new_root,
            } => json!({
                "kind": "consistency", "old_size": old, "new_size": new, "proof": b64(path),
                "old_root": old_root.to_base64(), "new_root": new_root.to_base64(),
            }),
        }
    }

    /// Checks the proof with this crate's RFC 6962 verifier.
    pub fn verify(&self) -> bool {
        match self {
            Proof::Inclusion {
                index,
                size,
                leaf,
                path,
                root,
            } => merkle::verify_inclusion(leaf, *index, *size, path, root).is_ok(),
            Proof::Consistency {
                old,
                new,
                path,
                old_root,
                new_root,
            } => merkle::verify_consistency(*old, *new, path, old_root, new_root).is_ok(),
        }
    }
}
