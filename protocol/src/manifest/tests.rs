//! Manifest tests: canonical round trips and every hostile shape refused.

use super::*;

fn p(s: &str) -> RelPath {
    RelPath::parse(s).unwrap()
}

fn file(path: &str, data: &[u8]) -> Entry {
    let chunks = if data.is_empty() {
        vec![]
    } else {
        vec![ChunkRef {
            id: ChunkId([7; 32]),
            size: data.len() as u32,
        }]
    };
    Entry {
        path: p(path),
        platforms: vec![],
        kind: EntryKind::File {
            executable: path.starts_with("bin/"),
            size: data.len() as u64,
            sha256: Hash::of(data),
            chunks,
            shared_at: None,
        },
    }
}

fn dir(path: &str) -> Entry {
    Entry {
        path: p(path),
        platforms: vec![],
        kind: EntryKind::Dir,
    }
}

fn sample() -> Manifest {
    let linux: Platform = "linux-x86_64".parse().unwrap();
    let mut only_linux = file("bin/app-linux", b"elf");
    only_linux.platforms = vec![linux.clone()];
    Manifest::new(
        vec!["linux-aarch64".parse().unwrap(), linux],
        vec![
            file("README", b"hello"),
            dir("bin"),
            file("bin/app", b"#!/bin/sh\n"),
            only_linux,
            dir("empty"),
            file("empty-file", b""),
            Entry {
                path: p("bin/latest"),
                platforms: vec![],
                kind: EntryKind::Symlink {
                    target: "app".into(),
                },
            },
        ],
    )
    .unwrap()
}

#[test]
fn manifests_round_trip_canonically_and_verify_by_hash() {
    let m = sample();
    let bytes = m.to_bytes();
    assert_eq!(Manifest::from_bytes(&bytes).unwrap(), m);
    let v = Manifest::verify(&bytes, &m.hash()).unwrap();
    assert_eq!(v.total_size(), 5 + 10 + 3);
    // Entry order does not matter to the encoding.
    let mut shuffled = m.entries().to_vec();
    shuffled.reverse();
    assert_eq!(
        Manifest::new(m.platforms().to_vec(), shuffled)
            .unwrap()
            .to_bytes(),
        bytes
    );
    let err = Manifest::verify(&bytes, &Hash::of(b"other")).unwrap_err();
    assert!(err.to_string().contains("release record says"), "{err}");
    let sums = m.sha256sums(Some(&"linux-aarch64".parse().unwrap()));
    assert!(
        sums.contains("  bin/app\n") && !sums.contains("app-linux"),
        "{sums}"
    );
}

#[test]
fn hostile_manifests_are_refused() {
    let cases: Vec<(Vec<Entry>, &str)> = vec![
        (vec![file("a", b"1"), file("a", b"2")], "duplicate"),
        (vec![file("x/y", b"1")], "no directory entry"),
        (
            vec![file("Readme", b"1"), file("README", b"2")],
            "only in case",
        ),
        (
            vec![Entry {
                path: p("l"),
                platforms: vec![],
                kind: EntryKind::Symlink {
                    target: "../../etc".into(),
                },
            }],
            "leaves the release",
        ),
        (
            vec![Entry {
                path: p("l"),
                platforms: vec![],
                kind: EntryKind::Symlink {
                    target: "/etc".into(),
                },
            }],
            "absolute",
        ),
        (
            vec![
                dir("d"),
                Entry {
                    path: p("l"),
                    platforms: vec![],
                    kind: EntryKind::Symlink { target: "d".into() },
                },
                dir("l/x"),
            ],
            "inside the symlink",
        ),
        (
            vec![Entry {
                path: p("f"),
                platforms: vec![],
                kind: EntryKind::File {
                    executable: false,
                    size: 10,
                    sha256: Hash::of(b""),
                    chunks: vec![ChunkRef {
                        id: ChunkId([0; 32]),
                        size: 9,
                    }],
                    shared_at: None,
                },
            }],
            "do not hold its 10 bytes",
        ),
    ];
    for (entries, why) in cases {
        let err = Manifest::new(vec![], entries).unwrap_err().to_string();
        assert!(err.contains(why), "{why}: {err}");
    }
}

#[test]
fn hostile_encodings_are_refused() {
    let good = sample().to_bytes();
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        Manifest::from_bytes(&trailing),
        Err(DecodeError::TrailingBytes { .. })
    ));
    assert!(Manifest::from_bytes(&good[..good.len() - 1]).is_err());
    // A path spelled with `..` inside otherwise valid bytes.
    let evil = Manifest {
        platforms: vec![],
        entries: vec![file("a", b"x")],
        dictionaries: vec![],
    }
    .to_bytes();
    let at = evil.windows(1).position(|w| w == b"a").unwrap();
    let mut bytes = evil[..at - 2].to_vec();
    bytes.extend_from_slice(&4u16.to_be_bytes());
    bytes.extend_from_slice(b"../a");
    bytes.extend_from_slice(&evil[at + 1..]);
    let err = Manifest::from_bytes(&bytes).unwrap_err().to_string();
    assert!(err.contains("`..`"), "{err}");
    // A huge entry count with no bytes behind it.
    let mut huge = MANIFEST_MAGIC.to_vec();
    huge.push(0);
    huge.extend_from_slice(&(MAX_MANIFEST_ENTRIES as u32).to_be_bytes());
    assert!(Manifest::from_bytes(&huge).is_err());
}

#[test]
fn delta_index_round_trips_and_refuses_unsorted_paths() {
    let d = |path: &str| Delta {
        path: p(path),
        from: Hash::of(b"a"),
        to: Hash::of(b"b"),
        patch: ChunkId([1; 32]),
        patch_size: 10,
    };
    let idx = DeltaIndex {
        deltas: vec![d("a"), d("b")],
    };
    assert_eq!(DeltaIndex::from_bytes(&idx.to_bytes()).unwrap(), idx);
    let bad = DeltaIndex {
        deltas: vec![d("b"), d("a")],
    };
    assert!(DeltaIndex::from_bytes(&bad.to_bytes()).is_err());
}

#[test]
fn one_path_may_have_one_entry_per_platform_but_not_two_for_the_same() {
    let (a, b): (Platform, Platform) = (
        "linux-aarch64".parse().unwrap(),
        "linux-x86_64".parse().unwrap(),
    );
    let tagged = |data: &[u8], ps: &[&Platform]| {
        let mut f = file("app", data);
        f.platforms = ps.iter().map(|p| (*p).clone()).collect();
        f
    };
    let m = Manifest::new(
        vec![a.clone(), b.clone()],
        vec![tagged(b"arm", &[&a]), tagged(b"x86", &[&b])],
    )
    .unwrap();
    assert_eq!(m.entries_for(&a).count(), 1);
    assert_eq!(Manifest::from_bytes(&m.to_bytes()).unwrap(), m);
    let err = Manifest::new(
        vec![a.clone(), b.clone()],
        vec![tagged(b"arm", &[&a]), tagged(b"both", &[&a, &b])],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("listed twice for one platform"),
        "{err}"
    );
    let err = Manifest::new(
        vec![a.clone(), b.clone()],
        vec![tagged(b"arm", &[&a]), file("app", b"all")],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("listed twice for one platform"),
        "{err}"
    );
}

#[test]
fn dictionaries_make_a_version_2_manifest_and_round_trip() {
    let plain = sample();
    assert!(plain.dictionaries().is_empty());
    assert_eq!(
        &plain.to_bytes()[..8],
        MANIFEST_MAGIC,
        "no dictionary: version 1"
    );
    let d = |b: u8, size: u32| ChunkRef {
        id: ChunkId([b; 32]),
        size,
    };
    let with = sample()
        .with_dictionaries(vec![d(9, 4000), d(3, 100)])
        .unwrap();
    assert_eq!(with.dictionaries(), &[d(3, 100), d(9, 4000)], "sorted");
    let bytes = with.to_bytes();
    assert_eq!(&bytes[..8], MANIFEST_MAGIC_2);
    let back = Manifest::from_bytes(&bytes).unwrap();
    assert_eq!(back, with);
    assert_eq!(back.to_bytes(), bytes);
    assert_ne!(with.hash(), plain.hash(), "the dictionaries are signed too");
    // Dictionaries come first in the chunks an install reads.
    let all: Vec<ChunkRef> = with.all_chunks().collect();
    assert_eq!(&all[..2], &[d(3, 100), d(9, 4000)]);
    assert_eq!(all.len(), 2 + plain.all_chunks().count());

    // Refused: repeats, sizes out of bounds, a version 2 naming none,
    // more than the limit, trailing bytes.
    assert!(sample().with_dictionaries(vec![d(3, 1), d(3, 1)]).is_err());
    assert!(sample().with_dictionaries(vec![d(3, 0)]).is_err());
    let too_big = (MAX_DICTIONARY_BYTES + 1) as u32;
    assert!(sample().with_dictionaries(vec![d(3, too_big)]).is_err());
    let many = (0..=MAX_DICTIONARIES as u8).map(|b| d(b, 10)).collect();
    assert!(sample().with_dictionaries(many).is_err());
    let mut none = plain.to_bytes();
    none[..8].copy_from_slice(MANIFEST_MAGIC_2);
    none.push(0);
    let err = Manifest::from_bytes(&none).unwrap_err().to_string();
    assert!(err.contains("at least one"), "{err}");
    let mut unsorted = bytes.clone();
    let first = bytes.len() - 72;
    unsorted[first..first + 32].copy_from_slice(&[10; 32]);
    assert!(Manifest::from_bytes(&unsorted).is_err());
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(Manifest::from_bytes(&trailing).is_err());
    let mut short = bytes;
    short.pop();
    assert!(Manifest::from_bytes(&short).is_err());
}

/// `name`: the `len` bytes at `offset` of a shared chunk of `chunk_size` bytes.
fn shared(name: &str, chunk: u8, chunk_size: u32, offset: u32, len: u64) -> Entry {
    Entry {
        path: p(name),
        platforms: vec![],
        kind: EntryKind::File {
            executable: false,
            size: len,
            sha256: Hash::of(name.as_bytes()),
            chunks: vec![ChunkRef {
                id: ChunkId([chunk; 32]),
                size: chunk_size,
            }],
            shared_at: Some(offset),
        },
    }
}

#[test]
fn files_inside_a_shared_chunk_make_a_version_3_manifest_and_round_trip() {
    let entries = vec![
        shared("a", 1, 300, 0, 100),
        shared("b", 1, 300, 100, 200),
        shared("c", 2, 5000, 4000, 1000),
        file("d", b"a file of its own"),
    ];
    let m = Manifest::new(vec![], entries.clone()).unwrap();
    let bytes = m.to_bytes();
    assert_eq!(&bytes[..8], MANIFEST_MAGIC_3);
    let back = Manifest::from_bytes(&bytes).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.to_bytes(), bytes);
    // With dictionaries too.
    let d = ChunkRef {
        id: ChunkId([9; 32]),
        size: 4000,
    };
    let with = m.clone().with_dictionaries(vec![d]).unwrap();
    let wb = with.to_bytes();
    assert_eq!(&wb[..8], MANIFEST_MAGIC_3);
    assert_eq!(Manifest::from_bytes(&wb).unwrap(), with);
    // The shared chunk is read once per file in it.
    assert_eq!(m.all_chunks().filter(|c| c.id.0[0] == 1).count(), 2);

    // Refused: a file that leaves its chunk, is all of it, is empty, or
    // names two chunks.
    for (bad, why) in [
        (shared("x", 1, 300, 250, 100), "do not hold"),
        (shared("x", 1, 300, 0, 300), "do not hold"),
        (shared("x", 1, 300, 10, 0), "do not hold"),
        (shared("x", 1, 300, u32::MAX, 10), "do not hold"),
    ] {
        let err = Manifest::new(vec![], vec![bad]).unwrap_err().to_string();
        assert!(err.contains(why), "{why}: {err}");
    }
    let mut two = shared("x", 1, 300, 0, 10);
    if let EntryKind::File { chunks, .. } = &mut two.kind {
        chunks.push(chunks[0]);
    }
    assert!(Manifest::new(vec![], vec![two]).is_err());

    // Version 3 bytes without a shared file, and kind 3 in a version 1
    // manifest, are refused.
    let plain = sample();
    let mut as_3 = plain.to_bytes();
    as_3[..8].copy_from_slice(MANIFEST_MAGIC_3);
    as_3.push(0);
    let err = Manifest::from_bytes(&as_3).unwrap_err().to_string();
    assert!(err.contains("version"), "{err}");
    let mut as_1 = bytes.clone();
    as_1[..8].copy_from_slice(MANIFEST_MAGIC);
    as_1.pop();
    let err = Manifest::from_bytes(&as_1).unwrap_err().to_string();
    assert!(err.contains("entry kind"), "{err}");
    let mut short = bytes;
    short.truncate(short.len() - 2);
    assert!(Manifest::from_bytes(&short).is_err());
}

/// The fuzzer's seed for version 3 (`fuzz/corpus/manifest/seed-shared`)
/// decodes and re-encodes to the same bytes.
#[test]
fn the_fuzz_seed_for_shared_files_is_a_valid_manifest() {
    let bytes = include_bytes!("../../../fuzz/corpus/manifest/seed-shared");
    let m = Manifest::from_bytes(bytes).unwrap();
    assert_eq!(m.to_bytes(), bytes);
    assert_eq!(m.entries().len(), 2);
}
