//! The auditor's check of a whole release log, trusting nobody.
//!
//! [`audit_folder`] reads a tlog-tiles log folder (the publisher's, a mirror a
//! client keeps, or one fetched from peers by `quince audit`) and checks:
//! - the tiles reproduce the head checkpoint's root and the entry bundles match
//!   the tiles, so every entry is the one the head commits to;
//! - every checkpoint it knows (the head, each published signing transcript,
//!   the checkpoints in `rotations/` and checkpoints this auditor saw in
//!   earlier runs) is signed by the root in
//!   force at its size, following signer rotations (a rotation counts only once
//!   a checkpoint signed by the old signers includes it), and is a prefix of the
//!   head (so the log was only ever appended to);
//! - each transcript's signature shares, naming the keyholders who signed;
//! - every entry's inclusion proof in the head;
//! - each release's manifest against the hash in its record and, with
//!   `download`, every chunk against its BLAKE3 address and every file against
//!   its SHA-256.
//!
//! The [`Report`] lists what held and every problem; the audit passes only
//! when there is no problem. Missing material (a transcript, a manifest not at
//! hand) is a warning: it is not evidence of anything, but it is reported.

use std::collections::BTreeMap;
use std::path::Path;

use quince_protocol::checkpoint::{Checkpoint, VerifiedCheckpoint};
use quince_protocol::codec::Decode;
use quince_protocol::manifest::{EntryKind, Manifest, VerifiedManifest};
use quince_protocol::merkle;
use quince_protocol::note::Note;
use quince_protocol::record::{Channel, LogEntry, Version};
use quince_protocol::root::{AppId, AppRoot};
use quince_protocol::tile::{self, TileSet};
use quince_protocol::transcript::{self, SignedShares};
use quince_protocol::Hash;
use quince_store::Store;
use serde_json::json;
use sha2::{Digest, Sha256};

mod installer;
mod known;
mod tlog;
pub use installer::{check_installer, InstallerCheck, LogAtHand, Match};
pub use tlog::{audit_tlog_folder, remembered, Proof, TlogReport};

/// Why an audit could not even start (a folder that is not a log).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file of the log could not be read.
    #[error("{path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// One checkpoint the audit checked.
#[derive(Debug, Clone)]
pub struct CheckpointReport {
    /// Tree size.
    pub size: u64,
    /// Root hash (base64, as in the checkpoint).
    pub root: String,
    /// Where it came from: `head`, `transcript`, `seen earlier` (joined by `+`).
    pub source: String,
    /// Fingerprint of the root whose group key signed it.
    pub signed_by_root: Option<String>,
    /// The keyholders who signed, from the transcript (None: no transcript).
    pub signers: Option<Vec<u16>>,
}

/// One release in the log.
#[derive(Debug, Clone)]
pub struct ReleaseReport {
    /// Log index of its record.
    pub entry: u64,
    /// Version.
    pub version: String,
    /// The channel this record offers it on.
    pub channel: String,
    /// The share of that channel's installs offered it, in percent (0: halted).
    pub rollout: u8,
    /// `release` (the version's first record), `promotion` (to another
    /// channel), `rollout` (a new share on a channel it was on) or `halt`.
    pub kind: &'static str,
    /// Platforms it serves.
    pub platforms: Vec<String>,
    /// Manifest SHA-256, hex.
    pub manifest: String,
    /// Total size in bytes.
    pub size: u64,
    /// Size of the first checkpoint known to include it.
    pub first_checkpoint: Option<u64>,
    /// Who signed that checkpoint (None: transcript missing).
    pub signers: Option<Vec<u16>>,
    /// `verified`, `not available`, or what is wrong.
    pub manifest_check: String,
    /// Files checked against their SHA-256 with `download` (None: not asked or no manifest).
    pub files_checked: Option<u64>,
}

/// The outcome of an audit.
#[derive(Debug, Clone)]
pub struct Report {
    /// The app.
    pub app: AppId,
    /// Its name (from the first root).
    pub name: String,
    /// Head tree size.
    pub size: u64,
    /// Fingerprint of the root in force at the head.
    pub root_fingerprint: String,
    /// Every checkpoint checked, by size.
    pub checkpoints: Vec<CheckpointReport>,
    /// Every release.
    pub releases: Vec<ReleaseReport>,
    /// Signer rotations: (entry, new root fingerprint).
    pub rotations: Vec<(u64, String)>,
    /// Entries whose inclusion proof verified.
    pub included: u64,
    /// The root in force's checkpoint key as a C2SP verifier key.
    pub verifier_key: String,
    /// The root in force's Ed25519 group key, hex (for OpenSSL).
    pub group_key_hex: String,
    /// The biggest checkpoint seen in an earlier audit when this copy is
    /// behind it and proven consistent with it (an honest, older copy).
    pub behind: Option<u64>,
    /// Problems: the audit fails if there is any.
    pub problems: Vec<String>,
    /// Missing material that proves nothing either way.
    pub warnings: Vec<String>,
}

impl Report {
    /// True when everything checked held.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report as JSON for programs.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "app": self.app.to_string(),
            "name": self.name,
            "size": self.size,
            "root_fingerprint": self.root_fingerprint,
            "verifier_key": self.verifier_key,
            "passed": self.passed(),
            "included_entries": self.included,
            "checkpoints": self.checkpoints.iter().map(|c| json!({
                "size": c.size, "root": c.root, "source": c.source,
                "signed_by_root": c.signed_by_root, "signers": c.signers,
            })).collect::<Vec<_>>(),
            "releases": self.releases.iter().map(|r| json!({
                "entry": r.entry, "version": r.version, "channel": r.channel,
                "rollout": r.rollout, "kind": r.kind, "platforms": r.platforms,
                "manifest": r.manifest, "size": r.size, "first_checkpoint": r.first_checkpoint,
                "signers": r.signers, "manifest_check": r.manifest_check,
                "files_checked": r.files_checked,
            })).collect::<Vec<_>>(),
            "rotations": self.rotations.iter().map(|(e, f)| json!({"entry": e, "new_root": f})).collect::<Vec<_>>(),
            "behind": self.behind,
            "problems": self.problems,
            "warnings": self.warnings,
        })
    }

    /// The report as text for people.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "app {} \"{}\": {} log entries, root in force {}\n",
            self.app, self.name, self.size, self.root_fingerprint
        );
        out.push_str(&format!(
            "  log: tiles reproduce the head, {} of {} entries proven included\n",
            self.included, self.size
        ));
        for c in &self.checkpoints {
            let who = match &c.signers {
                Some(s) => format!("signed by keyholders {}", list(s)),
                None => "signers unknown (no transcript)".into(),
            };
            let valid = if c.signed_by_root.is_some() {
                "signature valid"
            } else {
                "NOT VERIFIED"
            };
            out.push_str(&format!(
                "  checkpoint size {:>4} ({}): {valid}, {who}\n",
                c.size, c.source
            ));
        }
        for (entry, fp) in &self.rotations {
            out.push_str(&format!("  entry {entry}: signer rotation to root {fp}\n"));
        }
        for r in &self.releases {
            let who = match &r.signers {
                Some(s) => format!("signed by keyholders {}", list(s)),
                None => "transcript missing".into(),
            };
            let files = r
                .files_checked
                .map(|n| format!(", {n} files re-hashed"))
                .unwrap_or_default();
            // Plain stable-to-everyone releases read as before channels.
            let offer = match r.rollout {
                0 => format!(", {}: halted", r.channel),
                100 if r.channel == Channel::STABLE => String::new(),
                100 => format!(", {}", r.channel),
                n => format!(", {} to {n}%", r.channel),
            };
            out.push_str(&format!(
                "  {} {} (entry {}, {}{offer}): {who}; manifest {}{files}\n",
                r.kind,
                r.version,
                r.entry,
                r.platforms.join(","),
                r.manifest_check
            ));
        }
        if let Some(newer) = self.behind {
            out.push_str(&format!(
                "  behind, consistent: a checkpoint of size {newer} was seen earlier; this copy (size {}) is a prefix of it\n",
                self.size
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

fn list(s: &[u16]) -> String {
    s.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
}

/// The most a file of a log folder may hold: the protocol's limit for its
/// kind (an entry bundle is the largest).
fn log_file_limit(rel: &str) -> usize {
    use quince_protocol::limits::{MAX_ENTRY_BUNDLE_BYTES, MAX_NOTE_BYTES, MAX_ROOT_BYTES};
    match rel {
        "root" => MAX_ROOT_BYTES,
        "checkpoint" => MAX_NOTE_BYTES,
        _ => MAX_ENTRY_BUNDLE_BYTES,
    }
}

/// Audits the log folder `log`. `seen` are signed checkpoint notes from
/// earlier audits; `store` holds manifests and chunks (when at hand);
/// `download` re-hashes every chunk and file.
pub fn audit_folder(
    log: &Path,
    seen: &[Vec<u8>],
    store: Option<&Store>,
    download: bool,
) -> Result<Report, AuditError> {
    audit_folder_with(log, seen, None, store, download)
}

/// [`audit_folder`], with `newer`: the folder where an earlier audit kept
/// the hash tiles of the biggest head it passed (see [`remembered`]), so
/// that a copy behind that head is shown consistent with it (or not).
pub fn audit_folder_with(
    log: &Path,
    seen: &[Vec<u8>],
    newer: Option<&Path>,
    store: Option<&Store>,
    download: bool,
) -> Result<Report, AuditError> {
    let read = |rel: &str| -> Result<Vec<u8>, AuditError> {
        quince_store::durable::read_bounded(&log.join(rel), log_file_limit(rel)).map_err(|e| {
            AuditError::Unreadable {
                path: log.join(rel).display().to_string(),
                reason: e.to_string(),
            }
        })
    };
    let unreadable = |rel: &str, reason: String| AuditError::Unreadable {
        path: log.join(rel).display().to_string(),
        reason,
    };
    let first_root =
        AppRoot::from_bytes(&read("root")?).map_err(|e| unreadable("root", e.to_string()))?;
    let app = first_root.app_id();
    let mut report = Report {
        app,
        name: first_root.name().to_string(),
        size: 0,
        root_fingerprint: first_root.fingerprint(),
        verifier_key: first_root.checkpoint_verifier(&app).to_text(),
        group_key_hex: hex::encode(first_root.group_key().as_bytes()),
        checkpoints: Vec::new(),
        releases: Vec::new(),
        rotations: Vec::new(),
        included: 0,
        behind: None,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let head_note = read("checkpoint")?;
    let head = Note::parse(&head_note)
        .map_err(|e| e.to_string())
        .and_then(|n| {
            Checkpoint::parse(n.text())
                .map(|c| (n.text().to_string(), c))
                .map_err(|e| e.to_string())
        })
        .map_err(|e| unreadable("checkpoint", e))?;
    let (head_body, head_cp) = head;
    if head_cp.origin != app.origin() {
        report.problems.push(format!(
            "the head checkpoint is for log {}, not this app's",
            head_cp.origin
        ));
        return Ok(report);
    }
    report.size = head_cp.size;

    // The tiles must reproduce the head's root; then the bundles must match them.
    let mut tiles = TileSet::new();
    for id in tile::tiles_for_size(head_cp.size) {
        let bytes = read(&id.path())?;
        if let Err(e) = tiles.insert(id, &bytes) {
            report.problems.push(format!("tile {}: {e}", id.path()));
            return Ok(report);
        }
    }
    if let Err(e) = tiles.verify(head_cp.size, &head_cp.root) {
        report.problems.push(format!(
            "the tiles do not reproduce the head checkpoint: {e}"
        ));
        return Ok(report);
    }
    let mut entries: Vec<Vec<u8>> = Vec::new();
    for id in tile::bundles_for_size(head_cp.size) {
        let bytes = read(&id.path())?;
        let bundle = match tile::decode_bundle(id, &bytes) {
            Ok(b) => b,
            Err(e) => {
                report
                    .problems
                    .push(format!("entry bundle {}: {e}", id.path()));
                return Ok(report);
            }
        };
        if let Err(e) = tiles.check_bundle(id, &bundle) {
            report
                .problems
                .push(format!("entry bundle {}: {e}", id.path()));
            return Ok(report);
        }
        entries.extend(bundle.into_iter().map(<[u8]>::to_vec));
    }

    // Every checkpoint we know of, by size.
    let known = known::checkpoints(
        log,
        &head_cp,
        head_body,
        &head_note,
        seen,
        &mut report.problems,
    );

    // Walk the checkpoints in order, with the root in force, applying each
    // rotation once a checkpoint signed by the old root includes it.
    let mut root = first_root.clone();
    let mut applied_rotations = 0u64;
    // Entries below this are in a checkpoint the signers in force signed;
    // its rotations take effect once every checkpoint of that size is
    // checked (a transcript and a note of one size have the same signers).
    let mut covered = 0u64;
    let mut by_size: BTreeMap<u64, CheckpointReport> = BTreeMap::new();
    for k in &known {
        if k.size > covered && covered > applied_rotations {
            apply_rotations(
                &entries,
                applied_rotations..covered,
                &app,
                &mut root,
                &mut report,
            );
            applied_rotations = covered;
        }
        let cp = match Checkpoint::parse(&k.body) {
            Ok(c) => c,
            Err(e) => {
                report
                    .problems
                    .push(format!("checkpoint of size {} ({}): {e}", k.size, k.source));
                continue;
            }
        };
        if cp.origin != app.origin() {
            report.problems.push(format!(
                "checkpoint of size {} ({}) is for log {}",
                k.size, k.source, cp.origin
            ));
            continue;
        }
        // A checkpoint bigger than this copy's head (seen in an earlier
        // audit): this copy is behind it, which is fine if it is a prefix.
        if cp.size > head_cp.size {
            let newer_tiles = newer.and_then(remembered);
            match tlog::prefix_problem(
                &tiles,
                head_cp.size,
                &head_cp.root,
                cp.size,
                &cp.root,
                newer_tiles.as_ref(),
            ) {
                Some(tlog::Prefix::Behind) => report.behind = report.behind.max(Some(cp.size)),
                Some(tlog::Prefix::Unknown(w)) => report.warnings.push(w),
                Some(tlog::Prefix::Rewritten(p)) => report.problems.push(p),
                None => {}
            }
            continue;
        }
        // Append-only: the head's tree, cut at this size, must have this root.
        match merkle::tree_root(&tiles, cp.size) {
            Ok(prefix) if prefix == cp.root => {}
            Ok(prefix) => report.problems.push(format!(
                "EQUIVOCATION: the checkpoint of size {} ({}) has root {}, but the head's first {} entries have root {}: the log was rewritten",
                cp.size, k.source, cp.root.to_base64(), cp.size, prefix.to_base64()
            )),
            Err(e) => report.problems.push(format!(
                "checkpoint of size {} ({}) is beyond the head: {e}",
                cp.size, k.source
            )),
        }
        let signed = match (&k.note, &k.transcript) {
            (Some(note), _) => {
                VerifiedCheckpoint::verify(note, &app.origin(), &root.checkpoint_verifier(&app))
                    .map(|_| None)
                    .map_err(|e| e.to_string())
            }
            (None, Some(t)) => transcript::verify(&root, t)
                .map(Some)
                .map_err(|e| e.to_string()),
            (None, None) => Err("nothing to check".into()),
        };
        let entry = by_size.entry(cp.size).or_insert_with(|| CheckpointReport {
            size: cp.size,
            root: cp.root.to_base64(),
            source: String::new(),
            signed_by_root: None,
            signers: None,
        });
        if !entry.source.split('+').any(|s| s == k.source) {
            if !entry.source.is_empty() {
                entry.source.push('+');
            }
            entry.source.push_str(k.source);
        }
        match signed {
            Ok(signers) => {
                entry.signed_by_root = Some(root.fingerprint());
                if signers.is_some() {
                    entry.signers = signers;
                }
            }
            Err(e) => {
                let pending = (applied_rotations..cp.size.min(entries.len() as u64)).find(|&i| {
                    matches!(
                        LogEntry::from_bytes(&entries[i as usize]),
                        Ok(LogEntry::Rotation(_))
                    )
                });
                report.problems.push(match pending {
                    _ if k.note.is_none() => format!(
                        "the transcript of the checkpoint of size {} does not verify: {e}",
                        cp.size
                    ),
                    Some(i) => format!(
                        "checkpoint of size {} ({}) is not signed by the signers in force ({e}); the rotation at entry {i} is not covered by a checkpoint signed by the old signers that this audit has seen",
                        cp.size, k.source
                    ),
                    None => format!(
                        "checkpoint of size {} ({}) is not signed by the signers in force: {e}",
                        cp.size, k.source
                    ),
                });
                continue;
            }
        }
        // Rotations this checkpoint includes take effect for later checkpoints.
        covered = covered.max(cp.size.min(entries.len() as u64));
    }
    if covered > applied_rotations {
        apply_rotations(
            &entries,
            applied_rotations..covered,
            &app,
            &mut root,
            &mut report,
        );
    }
    report.root_fingerprint = root.fingerprint();
    report.verifier_key = root.checkpoint_verifier(&app).to_text();
    report.group_key_hex = hex::encode(root.group_key().as_bytes());
    report.checkpoints = by_size.into_values().collect();
    if !report
        .checkpoints
        .iter()
        .any(|c| c.size == head_cp.size && c.signed_by_root.is_some())
    {
        report
            .problems
            .push("the head checkpoint is not validly signed".into());
    }

    // Inclusion of every entry in the head, and the releases.
    let mut rules = quince_protocol::record::ReleaseRules::default();
    let mut seen: Vec<(Version, Vec<Channel>)> = Vec::new();
    let mut checked: Vec<(Hash, (String, Option<u64>))> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let i = i as u64;
        let included = merkle::inclusion_proof(&tiles, i, head_cp.size).and_then(|proof| {
            merkle::verify_inclusion(
                &merkle::leaf_hash(entry),
                i,
                head_cp.size,
                &proof,
                &head_cp.root,
            )
        });
        match included {
            Ok(()) => report.included += 1,
            Err(e) => report
                .problems
                .push(format!("entry {i}: inclusion proof: {e}")),
        }
        let record = match LogEntry::from_bytes(entry) {
            Ok(LogEntry::Release(r)) => r,
            Ok(LogEntry::Rotation(_)) => continue,
            Err(e) => {
                report
                    .problems
                    .push(format!("entry {i} does not decode: {e}"));
                continue;
            }
        };
        if record.app != app {
            report
                .problems
                .push(format!("entry {i} is a release of another app"));
        }
        if let Err(why) = rules.check(&record) {
            report.problems.push(format!("entry {i}: {why}"));
        }
        rules.add(record.clone());
        let kind = match seen.iter_mut().find(|(v, _)| *v == record.version) {
            None => {
                seen.push((record.version, vec![record.channel.clone()]));
                "release"
            }
            Some((_, channels)) if !channels.contains(&record.channel) => {
                channels.push(record.channel.clone());
                "promotion"
            }
            Some(_) if record.rollout.is_halted() => "halt",
            Some(_) => "rollout",
        };
        let first = report.checkpoints.iter().find(|c| c.size > i);
        // A manifest named again (a promotion, a rollout step) is checked once.
        let (manifest_check, files_checked) =
            match checked.iter().find(|(h, _)| *h == record.manifest) {
                Some((_, result)) => result.clone(),
                None => {
                    let result = check_manifest(store, &record.manifest, download);
                    checked.push((record.manifest, result.clone()));
                    result
                }
            };
        // A repeated manifest was reported with the version's first record.
        let first_record = kind == "release";
        if first_record && manifest_check != "verified" && manifest_check != "not available" {
            report.problems.push(format!(
                "release {}: manifest {manifest_check}",
                record.version
            ));
        } else if first_record && manifest_check == "not available" {
            report.warnings.push(format!(
                "release {}: manifest not at hand, not checked",
                record.version
            ));
        }
        let signers = first.and_then(|c| c.signers.clone());
        if signers.is_none() {
            report.warnings.push(format!(
                "release {}: no signing transcript for the checkpoint that first includes it",
                record.version
            ));
        }
        report.releases.push(ReleaseReport {
            entry: i,
            version: record.version.to_string(),
            channel: record.channel.to_string(),
            rollout: record.rollout.as_percent(),
            kind,
            platforms: record
                .platforms
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
            manifest: record.manifest.to_hex(),
            size: record.size,
            first_checkpoint: first.map(|c| c.size),
            signers,
            manifest_check,
            files_checked,
        });
    }
    Ok(report)
}

/// Checks one release's manifest and, with `download`, its chunks and files.
fn check_manifest(store: Option<&Store>, hash: &Hash, download: bool) -> (String, Option<u64>) {
    let Some(store) = store else {
        return ("not available".into(), None);
    };
    let bytes = match store.manifest(hash) {
        Ok(b) => b,
        Err(_) if !download => return ("not available".into(), None),
        Err(e) => return (format!("missing from the download: {e}"), None),
    };
    let manifest = match Manifest::verify(&bytes, hash) {
        Ok(m) => m,
        Err(e) => return (format!("does not match its record: {e}"), None),
    };
    if !download {
        return ("verified".into(), None);
    }
    match rehash_files(store, &manifest) {
        Ok(n) => ("verified".into(), Some(n)),
        Err(e) => (format!("verified, but {e}"), None),
    }
}

/// Rebuilds every file of every platform from its chunks (each checked against
/// its BLAKE3 address) and checks its size and SHA-256. Returns the file count.
fn rehash_files(store: &Store, manifest: &VerifiedManifest) -> Result<u64, String> {
    let mut files = 0;
    let mut reader = store.reader();
    for e in manifest.manifest().entries() {
        let EntryKind::File {
            size,
            sha256,
            chunks,
            shared_at,
            ..
        } = &e.kind
        else {
            continue;
        };
        let mut h = Sha256::new();
        let mut got = 0u64;
        reader
            .file(
                chunks,
                *shared_at,
                *size,
                |raw| -> Result<(), quince_store::StoreError> {
                    got += raw.len() as u64;
                    h.update(raw);
                    Ok(())
                },
            )
            .map_err(|err| format!("file {}: {err}", e.path))?;
        if got != *size || Hash(h.finalize().into()) != *sha256 {
            return Err(format!(
                "file {} does not match its SHA-256 in the manifest",
                e.path
            ));
        }
        files += 1;
    }
    Ok(files)
}

/// Fetches everything an audit of `app` needs from `peers` of `node` (the
/// network, or any other [`Source`](crate::fetch::Source)) into `dir`: the log
/// (verified as any client verifies it) in `dir/log`, every signing transcript
/// a peer has in `dir/log/transcripts`, each release's manifest and, with
/// `download`, every chunk of every platform in `dir/store`. What peers lack is
/// left out; [`audit_folder`] then reports it.
pub async fn fetch_for_audit<S: crate::fetch::Source>(
    node: &S,
    app: AppId,
    peers: &mut crate::fetch::Peers,
    dir: &Path,
    download: bool,
) -> Result<Store, crate::fetch::FetchError> {
    use crate::fetch::{self, FetchError};
    use quince_protocol::wire::Request;
    let log = dir.join("log");
    let store = Store::open(&dir.join("store"))?;
    let synced = fetch::sync_log(node, app, peers, None, &log).await?;
    let size = synced.state().size();
    std::fs::create_dir_all(log.join(tile::TRANSCRIPTS_DIR))
        .map_err(|e| FetchError::Mirror(e.to_string()))?;
    // Transcripts are small; a log has one per checkpoint, at most one per entry.
    for s in 1..=size.min(MAX_TRANSCRIPTS_ASKED) {
        for &peer in peers.usable() {
            if let Ok(json) = fetch::ask(node, peer, Request::Transcript(app, s)).await {
                // Kept only if it parses; audit_folder checks it against the root.
                if SignedShares::from_json(&json).is_ok() {
                    std::fs::write(log.join(tile::transcript_path(s)), &json)
                        .map_err(|e| FetchError::Mirror(e.to_string()))?;
                    break;
                }
            }
        }
    }
    let mut fetched = Vec::new();
    for record in synced.releases() {
        // Promotions and rollout steps name a manifest already fetched.
        if fetched.contains(&record.manifest) {
            continue;
        }
        fetched.push(record.manifest);
        if download {
            for platform in &record.platforms {
                if let Err(e) =
                    fetch::fetch_release(node, app, peers, &record, platform, &store, 8).await
                {
                    tracing::warn!("audit download of {}: {e}", record.version);
                }
            }
        } else if store.manifest(&record.manifest).is_err() {
            for &peer in peers.usable() {
                if let Ok(bytes) = fetch::ask(node, peer, Request::Manifest(record.manifest)).await
                {
                    if Manifest::verify(&bytes, &record.manifest).is_ok() {
                        store.put_manifest(&bytes)?;
                        break;
                    }
                }
            }
        }
    }
    Ok(store)
}

/// Applies the rotation entries among `range` (a checkpoint signed by the
/// signers in force holds them): the root in force becomes the last one's.
fn apply_rotations(
    entries: &[Vec<u8>],
    range: std::ops::Range<u64>,
    app: &AppId,
    root: &mut AppRoot,
    report: &mut Report,
) {
    for i in range {
        if let Ok(LogEntry::Rotation(r)) = LogEntry::from_bytes(&entries[i as usize]) {
            if r.app != *app || !r.new_root_signature_is_valid() {
                report.problems.push(format!(
                    "entry {i}: a rotation that is not signed by its new root, or for another app"
                ));
            } else {
                report.rotations.push((i, r.root.fingerprint()));
                *root = r.root.clone();
            }
        }
    }
}

/// Logs longer than this are audited with the transcripts of their first
/// checkpoints only (asking for each size would take too long).
const MAX_TRANSCRIPTS_ASKED: u64 = 4096;
