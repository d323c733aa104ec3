//! A release's zstd dictionary for its small chunks.
//!
//! Each chunk is compressed on its own, so that peers can fetch and check
//! it alone; a file smaller than a chunk then compresses with nothing to
//! refer back to, and a release of many small files took 1.6-1.7x the disk
//! of its tarball. A dictionary trained on a sample of those files gives
//! each of them the shared vocabulary back. Which chunks use it is decided
//! by size alone ([`DICT_CHUNK_BYTES`]); whether a release gets one at all
//! is decided by measuring it on files it was not trained on.
//!
//! Everything here is deterministic: the files are taken in sorted order
//! and zstd's trainer has no randomness, so the same tree gives the same
//! dictionary and the same chunks.

use std::fs;
use std::path::{Path, PathBuf};

use quince_protocol::limits::CHUNK_MIN_BYTES;
use zstd::zstd_safe::CDict;

use crate::build::Source;

/// Chunks shorter than this (small files, and the tails of large ones) are
/// compressed with the release's dictionary when it has one. Longer chunks
/// have enough context of their own.
pub(crate) const DICT_CHUNK_BYTES: usize = CHUNK_MIN_BYTES as usize;
/// The dictionary's largest size: zstd's own default (110 KiB).
const MAX_DICT_BYTES: usize = 112_640;
/// Fewer small files than this, or fewer bytes of them, gain too little
/// to pay for a dictionary.
const MIN_SMALL_FILES: usize = 100;
const MIN_SMALL_BYTES: u64 = 1 << 20;
/// Every fifth small file at least is a training sample (at most this
/// many, and this many bytes: more are skipped between them, so that they
/// come from the whole tree); others are held out to measure the
/// dictionary. On the unpacked wheels of four Python packages (numpy,
/// pandas, Django, ruff), taking the first MiB's worth trained on
/// Django's translations alone; spread, the small files' chunks took 6.6%
/// fewer bytes. 2 or 4 MiB of samples saved 0.4% and 3% more, for about
/// 0.2 s of build time per extra MiB.
/// Training takes about 0.15 s per MiB of samples on this project's
/// machine; on 20,000 small files, 1 MiB of samples gave a store 0.6%
/// larger than 16 MiB did, in a fifth of the build time.
const SAMPLE_EVERY: usize = 5;
const MAX_SAMPLES: usize = 4_000;
const MAX_SAMPLE_BYTES: usize = 1 << 20;
const MAX_TRIALS: usize = 200;

/// A new dictionary is preferred to one the store holds already only when
/// it compresses the held-out files into at most 90% of the bytes: every
/// dictionary a release's chunks were compressed with stays named by the
/// manifests that reuse those chunks, so a new one each release would pile
/// up (a manifest names at most 16).
const NEW_IF_BELOW: f64 = 0.9;

/// A release's dictionary: its bytes (stored as a chunk) and the same
/// prepared for compressing at the build's level.
pub(crate) struct Dictionary {
    pub(crate) raw: Vec<u8>,
    pub(crate) prepared: CDict<'static>,
    /// Whether an earlier build's dictionary (already in the store) was
    /// chosen over a new one.
    pub(crate) reused: bool,
}

/// The dictionary for the small files of `sources` at `level`, if one pays
/// for itself: its estimated saving on held-out files must be at least
/// twice its own compressed size. One the store holds already (an earlier
/// release's) is used again unless a new one does clearly better (see
/// [`NEW_IF_BELOW`]). `None` also when training fails (zstd refuses too
/// few or too uniform samples); the build goes on without.
pub(crate) fn train(
    sources: &[Source],
    level: i32,
    store: &quince_store::Store,
) -> Option<Dictionary> {
    let mut small = Vec::new();
    for source in sources {
        small_files(&source.dir, &mut small);
    }
    let total: u64 = small.iter().map(|(_, len)| len).sum();
    if small.len() < MIN_SMALL_FILES || total < MIN_SMALL_BYTES {
        return None;
    }
    // Samples and trials are spread over the whole tree (a release of
    // several packages would otherwise be trained on the first alone),
    // trials never on a sample.
    let (every, trial_every) = strides(small.len(), total);
    let mut samples: Vec<Vec<u8>> = Vec::new();
    let mut sampled = 0usize;
    for (path, _) in small.iter().step_by(every) {
        if samples.len() >= MAX_SAMPLES || sampled >= MAX_SAMPLE_BYTES {
            break;
        }
        if let Some(data) = read_small(path) {
            sampled += data.len();
            samples.push(data);
        }
    }
    let size = (sampled / 10).min(MAX_DICT_BYTES);
    let raw = zstd::dict::from_samples(&samples, size).ok()?;
    drop(samples);
    let prepared = CDict::try_create(&raw, level)?;
    // Measured on files none of them was trained on.
    let trials: Vec<Vec<u8>> = small
        .iter()
        .skip(every / 2)
        .step_by(trial_every)
        .take(MAX_TRIALS)
        .filter_map(|(path, _)| read_small(path))
        .collect();
    let tried: u64 = trials.iter().map(|t| t.len() as u64).sum();
    let measure = |dict: Option<&CDict<'_>>| -> Option<u64> {
        let mut bytes = 0;
        for t in &trials {
            let c = match dict {
                Some(d) => quince_store::compress_chunk_with(t, d),
                None => quince_store::compress_chunk(t, level),
            };
            bytes += c.ok()?.len() as u64;
        }
        Some(bytes)
    };
    let plain = measure(None)?;
    let mut best = Dictionary {
        raw,
        prepared,
        reused: false,
    };
    let mut with = measure(Some(&best.prepared))?;
    // The store's dictionaries, in a fixed order: the first that comes
    // near the new one is kept.
    let mut held = store.dictionaries().unwrap_or_default();
    held.sort_by_key(|(_, d)| d.id);
    for (_, d) in held {
        let Some(raw) = store.chunk(&d).ok() else {
            continue;
        };
        let Some(prepared) = CDict::try_create(&raw, level) else {
            continue;
        };
        let Some(bytes) = measure(Some(&prepared)) else {
            continue;
        };
        if (with as f64) >= NEW_IF_BELOW * bytes as f64 {
            best = Dictionary {
                raw,
                prepared,
                reused: true,
            };
            with = bytes;
            break;
        }
    }
    let cost = quince_store::compress_chunk(&best.raw, level).ok()?.len() as u64;
    let saving = (plain.saturating_sub(with) as f64) * total as f64 / tried.max(1) as f64;
    (saving >= 2.0 * cost as f64).then_some(best)
}

/// Every how many small files (of `files`, `bytes` in all) a sample is
/// taken, and a trial (starting half a sample stride in): samples reach
/// the last files before their caps, trials too, and no trial is a sample.
fn strides(files: usize, bytes: u64) -> (usize, usize) {
    let every = SAMPLE_EVERY
        .max((bytes / MAX_SAMPLE_BYTES as u64) as usize + 1)
        .max(files.div_ceil(MAX_SAMPLES));
    let trial_every = every * files.div_ceil(every * MAX_TRIALS).max(1);
    (every, trial_every)
}

/// The regular files under `dir` shorter than one chunk, in sorted order,
/// with their sizes. What cannot be read is skipped: the build's own walk
/// reports it.
fn small_files(dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
    let Ok(items) = fs::read_dir(dir) else {
        return;
    };
    let mut children: Vec<PathBuf> = items.flatten().map(|e| e.path()).collect();
    children.sort();
    for path in children {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            small_files(&path, out);
        } else if meta.is_file() && meta.len() > 0 && meta.len() < DICT_CHUNK_BYTES as u64 {
            out.push((path, meta.len()));
        }
    }
}

fn read_small(path: &Path) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let file = fs::File::open(path).ok()?;
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, DICT_CHUNK_BYTES as u64),
        &mut data,
    )
    .ok()?;
    Some(data)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashSet;

    use quince_protocol::codec::Encode as _;
    use quince_protocol::manifest::{ChunkRef, EntryKind, Manifest};
    use quince_store::Store;

    use super::*;
    use crate::build::build;

    /// `n` small text files that share their shape; `changed` of them
    /// (the first ones) differ by `version`.
    pub(crate) fn similar_files(dir: &Path, n: usize, version: u32, changed: usize) {
        fs::create_dir_all(dir).unwrap();
        for i in 0..n {
            let v = if i < changed { version } else { 0 };
            let mut text = format!("{{\n  \"component\": \"part-{i}\",\n  \"release\": {v},\n");
            for j in 0..30 {
                text.push_str(&format!(
                    "  \"setting_{j}\": \"the value of setting {j} for part {}, with its usual comment\",\n",
                    (i * 7 + j * 3 + v as usize) % 101
                ));
            }
            text.push_str("}\n");
            fs::write(dir.join(format!("part-{i:04}.json")), text).unwrap();
        }
    }

    fn sources(dir: &Path) -> [Source; 1] {
        [Source {
            dir: dir.to_path_buf(),
            platform: None,
        }]
    }

    fn chunks(m: &Manifest) -> Vec<ChunkRef> {
        m.entries()
            .iter()
            .filter_map(|e| match &e.kind {
                EntryKind::File { chunks, .. } => Some(chunks.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn many_small_files_get_a_dictionary_that_shrinks_the_store_the_same_way_every_time() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        similar_files(&src, 500, 0, 0);
        let a = Store::open(&t.path().join("a")).unwrap();
        let (m, stats) = build(&sources(&src), &a, 3).unwrap();
        assert_eq!(m.dictionaries().len(), 1, "{stats:?}");
        let dict = m.dictionaries()[0];
        assert_eq!(stats.dictionary_bytes, u64::from(dict.size));
        let id = quince_store::dictionary_id(&a.chunk(&dict).unwrap()).unwrap();
        let mut plain = 0;
        for c in chunks(&m) {
            let raw = a.chunk(&c).unwrap(); // read through the dictionary
            assert_eq!(
                quince_store::frame_dictionary(&a.compressed(&c.id).unwrap()),
                Some(id)
            );
            plain += quince_store::compress_chunk(&raw, 3).unwrap().len() as u64;
        }
        let with = stats.new_compressed_bytes + a.compressed_size(&dict.id).unwrap();
        assert!(
            with * 10 < plain * 7,
            "{with} bytes with the dictionary (itself included), {plain} without"
        );
        // The same tree in another store: the same bytes.
        let b = Store::open(&t.path().join("b")).unwrap();
        let (again, _) = build(&sources(&src), &b, 3).unwrap();
        assert_eq!(again.to_bytes(), m.to_bytes());

        // The next release, of the same shape, in the same store: the
        // first dictionary is as good, and is used again.
        let next = t.path().join("next");
        similar_files(&next, 500, 1, 250);
        let (m2, s2) = build(&sources(&next), &a, 3).unwrap();
        assert!(s2.dictionary_reused, "{s2:?}");
        assert_eq!(m2.dictionaries(), m.dictionaries());
        // Files of another shape: a new dictionary, and the release names
        // both (its unchanged chunks are stored, and served, compressed
        // with the first).
        let other = t.path().join("other");
        similar_files(&other, 300, 1, 250);
        stylesheets(&other, 600);
        let (m3, s3) = build(&sources(&other), &a, 3).unwrap();
        assert!(!s3.dictionary_reused, "{s3:?}");
        let named: HashSet<_> = m3.dictionaries().iter().map(|d| d.id).collect();
        assert_eq!(
            named.len(),
            2,
            "{:?} then {:?} {s3:?}",
            m.dictionaries(),
            m3.dictionaries()
        );
        assert!(named.contains(&dict.id));
        for c in chunks(&m3) {
            a.chunk(&c).unwrap();
        }
        // Built alone, it needs only its own.
        let c = Store::open(&t.path().join("c")).unwrap();
        let (alone, _) = build(&sources(&other), &c, 3).unwrap();
        assert_eq!(alone.dictionaries().len(), 1);
    }

    /// `n` small stylesheets, nothing like [`similar_files`].
    fn stylesheets(dir: &Path, n: usize) {
        let colours = ["slategray", "tomato", "seagreen", "goldenrod", "orchid"];
        let shows = ["flex", "block", "grid", "inline-block"];
        for i in 0..n {
            let mut text = String::new();
            for j in 0..30 {
                text.push_str(&format!(
                    ".sidebar-{} .menu-item:hover {{\n  display: {};\n  border-left: 2px solid {};\n  transition: background-color 120ms ease-in-out;\n}}\n",
                    (i * 3 + j) % 23,
                    shows[(i + j) % shows.len()],
                    colours[(i * j) % colours.len()],
                ));
            }
            fs::write(dir.join(format!("style-{i:04}.css")), text).unwrap();
        }
    }

    /// Samples and trials come from the whole tree, within their caps,
    /// and no trial is a sample: for trees of many sizes and shapes.
    #[test]
    fn samples_and_trials_are_spread_over_the_whole_tree() {
        for files in [100, 1_000, 5_993, 20_000, 100_000, 1_000_000] {
            for average in [50u64, 1_500, 7_000, 60_000] {
                let (every, trial_every) = strides(files, files as u64 * average);
                let samples: Vec<usize> = (0..files).step_by(every).collect();
                let bytes = samples.len() as u64 * average;
                let case = format!(
                    "{files} files of {average} bytes: every {every}, trials every {trial_every}"
                );
                assert!(samples.len() <= MAX_SAMPLES, "{case}");
                assert!(bytes <= MAX_SAMPLE_BYTES as u64 + average, "{case}");
                assert!(*samples.last().unwrap() + every >= files, "{case}");
                let trials: Vec<usize> = (every / 2..files).step_by(trial_every).collect();
                assert!(
                    trials.len() <= MAX_TRIALS + 1
                        && trials.len() >= MAX_TRIALS.min(files / every) / 2,
                    "{case}"
                );
                assert!(trials.last().unwrap() + trial_every >= files, "{case}");
                assert!(trials.iter().all(|t| t % every != 0), "{case}");
            }
        }
    }

    #[test]
    fn a_few_small_files_or_random_ones_get_no_dictionary() {
        let t = tempfile::tempdir().unwrap();
        let few = t.path().join("few");
        similar_files(&few, 60, 0, 0);
        let store = Store::open(&t.path().join("s")).unwrap();
        let (m, stats) = build(&sources(&few), &store, 3).unwrap();
        assert!(m.dictionaries().is_empty());
        assert_eq!(stats.dictionary_bytes, 0);
        assert_eq!(&m.to_bytes()[..8], b"QMANIF\x00\x01", "version 1 as before");
        assert!(store.dictionaries().unwrap().is_empty());
        // Random bytes: a dictionary would not pay for itself.
        let noise = t.path().join("noise");
        fs::create_dir_all(&noise).unwrap();
        let bytes = crate::build::tests::noise(200 * 8000);
        for (i, file) in bytes.chunks(8000).enumerate() {
            fs::write(noise.join(format!("{i}.bin")), file).unwrap();
        }
        let (m, _) = build(&sources(&noise), &store, 3).unwrap();
        assert!(m.dictionaries().is_empty());
    }
}
