//! Build and unpack: determinism, exact round trips, and every unsafe input
//! refused, on real files.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use quince_packager::build::{build, BuildError, Source};
use quince_protocol::codec::Encode;
use quince_protocol::manifest::Manifest;
use quince_protocol::record::Platform;
use quince_store::{unpack, Store, StoreError};

fn write(root: &Path, rel: &str, data: &[u8], mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, data).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

/// A tree with thousands of files, empty files and folders, large files,
/// non-ASCII names and an in-tree symlink. `order` shuffles creation order.
fn make_tree(root: &Path, reverse: bool) {
    let mut items: Vec<(String, Vec<u8>, u32)> = Vec::new();
    for i in 0..2000u32 {
        items.push((
            format!("many/d{}/f{i}.txt", i % 37),
            format!("file {i}\n").repeat((i % 7) as usize).into_bytes(),
            0o644,
        ));
    }
    items.push(("empty.txt".into(), vec![], 0o644));
    items.push(("bin/tool".into(), b"#!/bin/sh\necho hi\n".to_vec(), 0o755));
    items.push((
        "ünïcødé/日本語.txt".into(),
        "こんにちは".as_bytes().to_vec(),
        0o644,
    ));
    let big: Vec<u8> = (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    items.push(("data/big.bin".into(), big, 0o644));
    if reverse {
        items.reverse();
    }
    for (rel, data, mode) in &items {
        write(root, rel, data, *mode);
    }
    fs::create_dir_all(root.join("empty-dir/nested-empty")).unwrap();
    std::os::unix::fs::symlink("tool", root.join("bin/tool-link")).unwrap();
}

fn linux() -> Platform {
    "linux-x86_64".parse().unwrap()
}

fn compare_trees(a: &Path, b: &Path) {
    let mut stack = vec![std::path::PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let (da, db) = (a.join(&rel), b.join(&rel));
        let mut names: Vec<_> = fs::read_dir(&da)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let mut other: Vec<_> = fs::read_dir(&db)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        other.sort();
        assert_eq!(names, other, "in {}", rel.display());
        for n in names {
            let (pa, pb) = (da.join(&n), db.join(&n));
            let (ma, mb) = (
                fs::symlink_metadata(&pa).unwrap(),
                fs::symlink_metadata(&pb).unwrap(),
            );
            assert_eq!(ma.file_type().is_dir(), mb.file_type().is_dir());
            if ma.file_type().is_symlink() {
                assert_eq!(fs::read_link(&pa).unwrap(), fs::read_link(&pb).unwrap());
            } else if ma.is_dir() {
                stack.push(rel.join(&n));
            } else {
                assert_eq!(
                    fs::read(&pa).unwrap(),
                    fs::read(&pb).unwrap(),
                    "{}",
                    pa.display()
                );
                assert_eq!(
                    ma.permissions().mode() & 0o111 != 0,
                    mb.permissions().mode() & 0o111 != 0,
                    "{}",
                    pa.display()
                );
            }
        }
    }
}

#[test]
fn the_same_tree_gives_the_same_manifest_whatever_the_order_or_mtimes() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    make_tree(&a, false);
    std::thread::sleep(std::time::Duration::from_millis(20));
    make_tree(&b, true);
    let store = Store::open(&t.path().join("store")).unwrap();
    let (ma, _) = build(
        &[Source {
            dir: a,
            platform: None,
        }],
        &store,
        3,
    )
    .unwrap();
    let (mb, stats) = build(
        &[Source {
            dir: b,
            platform: None,
        }],
        &store,
        3,
    )
    .unwrap();
    assert_eq!(ma.hash(), mb.hash());
    assert_eq!(ma.to_bytes(), mb.to_bytes());
    assert_eq!(
        stats.new_chunks, 0,
        "the second build found every chunk already stored"
    );
}

#[test]
fn build_then_unpack_gives_identical_bytes_and_modes() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, false);
    let store = Store::open(&t.path().join("store")).unwrap();
    let (m, stats) = build(
        &[Source {
            dir: src.clone(),
            platform: None,
        }],
        &store,
        3,
    )
    .unwrap();
    assert_eq!(stats.files, 2000 + 4);
    let bytes = m.to_bytes();
    let verified = Manifest::verify(&bytes, &m.hash()).unwrap();
    let out = t.path().join("out");
    let st = unpack(&verified, &linux(), &store, &out).unwrap();
    assert_eq!(st.files, 2004);
    assert_eq!(st.links, 1);
    compare_trees(&src, &out);
    // Unpacking into a folder that exists is refused.
    assert!(matches!(
        unpack(&verified, &linux(), &store, &out),
        Err(StoreError::UnsafePath { .. })
    ));
}

#[test]
fn per_platform_sources_give_each_platform_its_own_files() {
    let t = tempfile::tempdir().unwrap();
    let (common, x86, arm) = (
        t.path().join("common"),
        t.path().join("x86"),
        t.path().join("arm"),
    );
    write(&common, "share/readme.txt", b"hello", 0o644);
    write(&x86, "bin/app", b"x86 binary", 0o755);
    write(&arm, "bin/app", b"arm binary", 0o755);
    let store = Store::open(&t.path().join("store")).unwrap();
    let (m, _) = build(
        &[
            Source {
                dir: common,
                platform: None,
            },
            Source {
                dir: x86,
                platform: Some(linux()),
            },
            Source {
                dir: arm,
                platform: Some("linux-aarch64".parse().unwrap()),
            },
        ],
        &store,
        3,
    )
    .unwrap();
    let v = Manifest::verify(&m.to_bytes(), &m.hash()).unwrap();
    let out = t.path().join("out-x86");
    unpack(&v, &linux(), &store, &out).unwrap();
    assert_eq!(fs::read(out.join("bin/app")).unwrap(), b"x86 binary");
    assert_eq!(fs::read(out.join("share/readme.txt")).unwrap(), b"hello");
    let out = t.path().join("out-arm");
    unpack(&v, &"linux-aarch64".parse().unwrap(), &store, &out).unwrap();
    assert_eq!(fs::read(out.join("bin/app")).unwrap(), b"arm binary");
}

fn refused(setup: impl FnOnce(&Path), why: &str) {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    write(&src, "ok.txt", b"fine", 0o644);
    setup(&src);
    let store = Store::open(&t.path().join("store")).unwrap();
    let err = build(
        &[Source {
            dir: src,
            platform: None,
        }],
        &store,
        3,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains(why),
        "expected `{why}`, got: {err}"
    );
}

#[test]
fn unsafe_trees_are_refused_when_packing() {
    refused(
        |s| std::os::unix::fs::symlink("../../etc/passwd", s.join("escape")).unwrap(),
        "leaves the release",
    );
    refused(
        |s| std::os::unix::fs::symlink("/etc/passwd", s.join("abs")).unwrap(),
        "absolute",
    );
    refused(
        |s| fs::hard_link(s.join("ok.txt"), s.join("again.txt")).unwrap(),
        "hard link",
    );
    refused(
        |s| {
            fs::write(s.join("caf\u{e9}"), b"1").unwrap();
            fs::write(s.join("cafe\u{301}"), b"2").unwrap();
        },
        "collides",
    );
    refused(
        |s| {
            fs::write(s.join("README"), b"1").unwrap();
            fs::write(s.join("readme"), b"2").unwrap();
        },
        "collides",
    );
    refused(
        |s| {
            use std::os::unix::ffi::OsStrExt;
            fs::write(s.join(std::ffi::OsStr::from_bytes(b"bad\xffname")), b"x").unwrap();
        },
        "not UTF-8",
    );
    refused(
        |s| {
            let st = std::process::Command::new("mkfifo")
                .arg(s.join("pipe"))
                .status()
                .unwrap();
            assert!(st.success());
        },
        "FIFOs",
    );
}

#[test]
fn a_device_file_is_refused_when_we_can_make_one() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let made = std::process::Command::new("mknod")
        .arg(src.join("null"))
        .args(["c", "1", "3"])
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: mknod needs root; the FIFO case covers the same refusal");
        return;
    }
    let store = Store::open(&t.path().join("store")).unwrap();
    let err = build(
        &[Source {
            dir: src,
            platform: None,
        }],
        &store,
        3,
    )
    .unwrap_err();
    assert!(err.to_string().contains("device files"), "{err}");
}

#[test]
fn a_file_that_grows_while_it_is_packed_is_refused() {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(&src, "growing.log", &vec![1u8; 8_000_000], 0o644);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, path) = (stop.clone(), src.join("growing.log"));
        std::thread::spawn(move || {
            let mut f = fs::OpenOptions::new().append(true).open(path).unwrap();
            while !stop.load(Ordering::SeqCst) {
                f.write_all(&[2u8; 4096]).unwrap();
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };
    let store = Store::open(&t.path().join("store")).unwrap();
    let result = build(
        &[Source {
            dir: src,
            platform: None,
        }],
        &store,
        1,
    );
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(matches!(result, Err(BuildError::Changed(_))), "{result:?}");
}

#[test]
fn a_corrupt_store_or_a_lying_manifest_fails_the_unpack() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write(&src, "a.bin", &vec![5u8; 300_000], 0o644);
    let store = Store::open(&t.path().join("store")).unwrap();
    let (m, _) = build(
        &[Source {
            dir: src,
            platform: None,
        }],
        &store,
        3,
    )
    .unwrap();
    // Replace the stored chunk (small once compressed: it is in a pack)
    // with another valid zstd frame of the same length.
    let pack = fs::read_dir(t.path().join("store/packs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = fs::read(&pack).unwrap();
    let index = quince_store::packs::index_of(&bytes).unwrap();
    assert_eq!(index.len(), 1);
    let slot = index[0].1;
    let other = zstd_frame(&vec![6u8; 300_000]);
    assert_eq!(other.len(), slot.len as usize);
    let at = slot.offset as usize;
    bytes[at..at + other.len()].copy_from_slice(&other);
    fs::write(&pack, bytes).unwrap();
    let v = Manifest::verify(&m.to_bytes(), &m.hash()).unwrap();
    let err = unpack(&v, &linux(), &store, &t.path().join("out")).unwrap_err();
    assert!(
        err.to_string().contains("does not match its address"),
        "{err}"
    );
}

fn zstd_frame(data: &[u8]) -> Vec<u8> {
    // A store with the same data gives us a valid frame without naming zstd here.
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path()).unwrap();
    let (id, _, _) = s.put_chunk(data, 3).unwrap();
    s.compressed(&id).unwrap()
}

/// Unmounts a tmpfs when the test ends, however it ends.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_gives_a_clear_error_and_no_partial_chunk() {
    let t = tempfile::tempdir().unwrap();
    let small = t.path().join("small");
    fs::create_dir_all(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(&small)
        .stderr(std::process::Stdio::null())
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!(
            "SKIPPED: cannot mount a small tmpfs here (needs root); the full-disk case did not run"
        );
        return;
    }
    let _guard = Mount(small.clone());
    let src = t.path().join("src");
    // xorshift64: incompressible, so the chunks cannot fit in 512 KiB.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..3_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    write(&src, "big.bin", &noise, 0o644);
    let store = Store::open(&small.join("store")).unwrap();
    let err = build(
        &[Source {
            dir: src,
            platform: None,
        }],
        &store,
        1,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("No space left on device") || text.contains("os error 28"),
        "{text}"
    );
    // Nothing half-written is visible under a chunk address.
    for sub in ["chunks", "packs"] {
        let found: Vec<_> = fs::read_dir(small.join("store").join(sub))
            .unwrap()
            .collect();
        assert!(found.is_empty(), "no chunk may appear from a failed batch");
    }
}

/// The command line names what is wrong once: a missing folder, a file
/// given as the folder, a store under a file (an error whose message ends
/// with its OS error, which is not repeated).
#[test]
fn a_wrong_folder_or_store_is_one_clear_line() {
    let t = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_quince-packager"))
            .arg("build")
            .args(args)
            .current_dir(t.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    let missing = run(&["nowhere", "--store", "s"]);
    assert!(
        missing.contains("cannot read the folder nowhere"),
        "{missing}"
    );
    assert_eq!(
        missing.matches("No such file or directory").count(),
        1,
        "{missing}"
    );
    assert!(!missing.contains("note:"), "{missing}");
    fs::write(t.path().join("file"), b"x").unwrap();
    let file = run(&["file", "--store", "s"]);
    assert!(file.contains("file is not a folder"), "{file}");
    fs::create_dir_all(t.path().join("tree")).unwrap();
    fs::write(t.path().join("tree/a"), b"a").unwrap();
    let store = run(&["tree", "--store", "file/store"]);
    assert!(store.contains("file/store"), "{store}");
    assert_eq!(store.matches("Not a directory").count(), 1, "{store}");
}

/// `quince-packager build --share-small-files`: the small files of
/// [`make_tree`] go into shared chunks (a version 3 manifest); unpacked,
/// the tree is the same bytes and modes; the build is the same whatever
/// the creation order; identical files share their bytes; the store is
/// smaller than with a chunk per file; and a small file that grows changes
/// only the shared chunks around it (where one ends depends on the files,
/// not on where they sit).
#[test]
fn small_files_share_chunks_unpack_exactly_and_a_change_stays_local() {
    use quince_packager::build::{build_with_options, Options};
    use quince_protocol::manifest::{ChunkId, EntryKind};
    use std::collections::{BTreeMap, BTreeSet};

    let t = tempfile::tempdir().unwrap();
    let (src, reversed) = (t.path().join("src"), t.path().join("reversed"));
    make_tree(&src, false);
    make_tree(&reversed, true);
    for root in [&src, &reversed] {
        write(root, "dup/a.txt", b"the same bytes in two files\n", 0o644);
        write(root, "dup/b.txt", b"the same bytes in two files\n", 0o644);
        // 5.5 MB of text in files of 4 to 14 KiB: several shared chunks.
        for i in 0..600u32 {
            let text: String = (0..6 * (200 + i * 7 % 400))
                .map(|w| format!("w{} ", (w * 31 + i * 17) % 97))
                .collect();
            write(root, &format!("text/t{i:03}.txt"), text.as_bytes(), 0o644);
        }
    }
    let shared = Options {
        level: 3,
        share_small_files: true,
    };
    let build_in = |dir: &Path, store: &str, options: Options| {
        let store = Store::open(&t.path().join(store)).unwrap();
        let source = Source {
            dir: dir.to_path_buf(),
            platform: None,
        };
        let (m, stats) = build_with_options(&[source], &store, options, &mut |_| {}).unwrap();
        (m, stats, store)
    };
    let (m, stats, store) = build_in(&src, "shared", shared);
    let bytes = m.to_bytes();
    assert_eq!(&bytes[..8], b"QMANIF\x00\x03");
    // Where each file is: (chunk, offset) for the shared ones.
    let placed = |m: &Manifest| -> BTreeMap<String, (ChunkId, u32)> {
        m.entries()
            .iter()
            .filter_map(|e| match &e.kind {
                EntryKind::File {
                    chunks,
                    shared_at: Some(offset),
                    ..
                } => Some((e.path.to_string(), (chunks[0].id, *offset))),
                _ => None,
            })
            .collect()
    };
    let at = placed(&m);
    // 2,000 small files, a sixth of them empty (no chunk at all).
    assert!(at.len() > 1600, "{} shared files", at.len());
    assert!(!at.contains_key("data/big.bin"));
    assert_eq!(at["dup/a.txt"], at["dup/b.txt"], "one copy of the bytes");
    let chunks: BTreeSet<ChunkId> = at.values().map(|(id, _)| *id).collect();
    assert!(chunks.len() >= 3, "{} shared chunks", chunks.len());

    let verified = Manifest::verify(&bytes, &m.hash()).unwrap();
    let out = t.path().join("out");
    let st = unpack(&verified, &linux(), &store, &out).unwrap();
    assert_eq!(st.files, stats.files);
    compare_trees(&src, &out);

    let (again, ..) = build_in(&reversed, "again", shared);
    assert_eq!(again.to_bytes(), bytes, "the same whatever the order");

    let (_, alone, _) = build_in(&src, "alone", Options::level(3));
    assert!(
        stats.new_compressed_bytes < alone.new_compressed_bytes,
        "shared {} bytes, a chunk per file {}",
        stats.new_compressed_bytes,
        alone.new_compressed_bytes
    );

    // One small file early in the walk grows: later files move in their
    // chunk, but the chunks after the next end are the same.
    let grown = "many/d1/f1.txt";
    let mut data = fs::read(src.join(grown)).unwrap();
    data.extend_from_slice(&[b'x'; 5000]);
    fs::write(src.join(grown), &data).unwrap();
    let (changed, ..) = build_in(&src, "changed", shared);
    let now: BTreeSet<ChunkId> = placed(&changed).values().map(|(id, _)| *id).collect();
    let new = now.difference(&chunks).count();
    assert!(
        (1..=2).contains(&new),
        "{new} of {} shared chunks are new",
        now.len()
    );
}

/// With the earlier release's manifest in the store (as staging it leaves
/// it), a build keeps the earlier shared chunks that still hold at least
/// half their bytes in this release's files: a changed and a new small
/// file cost one new chunk, not every chunk around them; once most files
/// of a chunk are gone, the rest are packed anew. Every release unpacks
/// to its tree.
#[test]
fn a_release_keeps_the_shared_chunks_of_the_one_before() {
    use quince_packager::build::{build_with_options, Options};
    use quince_protocol::manifest::{ChunkId, EntryKind};
    use std::collections::{BTreeMap, BTreeSet};

    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    for i in 0..600u32 {
        let text: String = (0..6 * (200 + i * 7 % 400))
            .map(|w| format!("w{} ", (w * 31 + i * 17) % 97))
            .collect();
        write(&src, &format!("text/t{i:03}.txt"), text.as_bytes(), 0o644);
    }
    let store = Store::open(&t.path().join("store")).unwrap();
    let options = Options {
        level: 3,
        share_small_files: true,
    };
    let release = |n: usize| {
        let source = Source {
            dir: src.clone(),
            platform: None,
        };
        let (m, stats) = build_with_options(&[source], &store, options, &mut |_| {}).unwrap();
        let bytes = m.to_bytes();
        store.put_manifest(&bytes).unwrap();
        let verified = Manifest::verify(&bytes, &m.hash()).unwrap();
        let out = t.path().join(format!("out{n}"));
        unpack(&verified, &linux(), &store, &out).unwrap();
        compare_trees(&src, &out);
        (m, stats)
    };
    // Each shared chunk with the bytes of it this release's files use.
    let used = |m: &Manifest| -> BTreeMap<ChunkId, (u32, u64)> {
        let mut out: BTreeMap<ChunkId, (u32, BTreeSet<(u32, u64)>)> = BTreeMap::new();
        for e in m.entries() {
            if let EntryKind::File {
                size,
                chunks,
                shared_at: Some(offset),
                ..
            } = &e.kind
            {
                let slot = out
                    .entry(chunks[0].id)
                    .or_insert((chunks[0].size, BTreeSet::new()));
                slot.1.insert((*offset, *size));
            }
        }
        out.into_iter()
            .map(|(id, (size, pieces))| (id, (size, pieces.iter().map(|p| p.1).sum())))
            .collect()
    };
    let (first, _) = release(1);
    let before = used(&first);
    assert!(before.len() >= 5, "{} shared chunks", before.len());

    // One file changed (early in the walk) and one added.
    let mut grown = fs::read(src.join("text/t010.txt")).unwrap();
    grown.extend_from_slice(b"one more line\n");
    fs::write(src.join("text/t010.txt"), grown).unwrap();
    write(&src, "text/t600.txt", b"a new file\n", 0o644);
    let (second, stats) = release(2);
    let after = used(&second);
    let new: Vec<_> = after.keys().filter(|id| !before.contains_key(id)).collect();
    assert_eq!(new.len(), 1, "one new shared chunk: {after:?}");
    assert_eq!(stats.new_chunks, 1);
    assert_eq!(after.len(), before.len() + 1, "every earlier chunk kept");

    // Most files gone: no chunk is kept with less than half of it in use.
    for i in (0..600u32).filter(|i| i % 5 != 0) {
        fs::remove_file(src.join(format!("text/t{i:03}.txt"))).unwrap();
    }
    let (third, stats) = release(3);
    assert!(stats.new_chunks >= 1, "the rest packed anew");
    for (id, (size, in_use)) in used(&third) {
        if before.contains_key(&id) || after.contains_key(&id) {
            assert!(
                2 * in_use >= u64::from(size),
                "{id:?}: {in_use} of {size} bytes in use"
            );
        }
    }
}
