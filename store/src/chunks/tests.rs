//! The chunk store's tests: batches, packs, contexts, damage.

use super::*;
use crate::{decompress_capped, DecompressError};

/// Fetched chunks in a batch are checked like single ones, invisible
/// until the batch finishes, and a batch dropped part way leaves no
/// temporary file.
#[test]
fn a_batch_of_received_chunks_is_checked_and_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let chunk = |raw: &[u8]| {
        let c = ChunkRef {
            id: ChunkId(*blake3::hash(raw).as_bytes()),
            size: raw.len() as u32,
        };
        (c, zstd::bulk::compress(raw, 3).unwrap())
    };
    let (a, a_bytes) = chunk(b"first chunk");
    let (b, b_bytes) = chunk(b"second chunk");
    let mut batch = store.batch();
    assert!(batch.put_compressed(&a, &a_bytes).unwrap());
    assert!(
        !batch.put_compressed(&a, &a_bytes).unwrap(),
        "counted twice"
    );
    let err = batch.put_compressed(&b, &a_bytes).unwrap_err();
    assert!(matches!(err, StoreError::CorruptChunk { .. }), "{err}");
    assert_eq!(batch.len(), 1);
    drop(batch);
    assert!(!store.has(&a.id));
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);

    let mut batch = store.batch();
    batch.put_compressed(&a, &a_bytes).unwrap();
    batch.put_compressed(&b, &b_bytes).unwrap();
    assert!(!store.has(&a.id) && !store.has(&b.id));
    batch.finish().unwrap();
    assert_eq!(store.chunk(&b).unwrap(), b"second chunk");
    assert!(
        !store.batch().put_compressed(&a, &a_bytes).unwrap(),
        "already stored"
    );
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}

#[test]
fn chunks_round_trip_and_corruption_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let raw = b"hello quince ".repeat(1000);
    let mut batch = store.batch();
    let (bid, _, _) = batch.put_chunk(b"batched", 3).unwrap();
    assert!(!store.has(&bid), "a batch is invisible until it finishes");
    batch.finish().unwrap();
    assert_eq!(
        store.chunk(&ChunkRef { id: bid, size: 7 }).unwrap(),
        b"batched"
    );
    let (id, _, new) = store.put_chunk(&raw, 3).unwrap();
    assert!(new);
    assert!(!store.put_chunk(&raw, 3).unwrap().2);
    let r = ChunkRef {
        id,
        size: raw.len() as u32,
    };
    assert_eq!(store.chunk(&r).unwrap(), raw);
    // Declared size smaller than the real content: the cap refuses it.
    let err = store.chunk(&ChunkRef { id, size: 10 }).unwrap_err();
    assert!(err.to_string().contains("declared 10"), "{err}");
    // Bytes on disk replaced by another valid frame: the address check refuses it.
    let other = zstd::bulk::compress(&b"x".repeat(raw.len()), 3).unwrap();
    fs::write(store.chunk_path(&id), &other).unwrap();
    let err = store.chunk(&r).unwrap_err();
    assert!(
        err.to_string().contains("does not match its address"),
        "{err}"
    );
    assert!(matches!(
        store.chunk(&ChunkRef {
            id: ChunkId([9; 32]),
            size: 1
        }),
        Err(StoreError::MissingChunk(_))
    ));
    // A received chunk that does not match is never stored.
    let bad = ChunkRef {
        id: ChunkId([8; 32]),
        size: raw.len() as u32,
    };
    assert!(store.put_compressed(&bad, &other).is_err());
    assert!(!store.has(&bad.id));
}

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn files_in(dir: &Path) -> usize {
    let mut n = 0;
    for e in fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            n += files_in(&e.path());
        } else {
            n += 1;
        }
    }
    n
}

/// A batch's small chunks go into one pack and its large ones into
/// files of their own; a store opened afresh finds every one, with
/// the same bytes and sizes.
#[test]
fn small_chunks_share_a_pack_and_large_ones_keep_their_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut batch = store.batch();
    let mut refs = Vec::new();
    for i in 0..200u32 {
        let raw = format!("small file {i}")
            .repeat(i as usize + 1)
            .into_bytes();
        let (id, _, new) = batch.put_chunk(&raw, 3).unwrap();
        assert!(new);
        refs.push((
            ChunkRef {
                id,
                size: raw.len() as u32,
            },
            raw,
        ));
    }
    let big = noise(200_000, 7); // does not compress: over the pack limit
    let (big_id, big_len, _) = batch.put_chunk(&big, 3).unwrap();
    assert!(big_len as usize > packs::PACKED_MAX);
    refs.push((
        ChunkRef {
            id: big_id,
            size: big.len() as u32,
        },
        big,
    ));
    assert_eq!(batch.len(), 201);
    assert!(!store.has(&refs[0].0.id), "invisible before finish");
    batch.finish().unwrap();

    assert_eq!(files_in(&dir.path().join("packs")), 1);
    assert_eq!(files_in(&dir.path().join("chunks")), 1);
    assert_eq!(files_in(&dir.path().join("tmp")), 0);
    let fresh = Store::open(dir.path()).unwrap();
    for (r, raw) in &refs {
        assert!(fresh.has(&r.id));
        assert_eq!(&fresh.chunk(r).unwrap(), raw);
        assert_eq!(
            fresh.compressed_size(&r.id).unwrap(),
            store.compressed(&r.id).unwrap().len() as u64
        );
    }
    let mut listed = fresh.chunks().unwrap();
    listed.sort();
    let mut expected: Vec<_> = refs
        .iter()
        .map(|(r, _)| (r.id, fresh.compressed_size(&r.id).unwrap()))
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
    // Storing them again adds nothing.
    let mut again = fresh.batch();
    for (r, raw) in &refs {
        assert!(!again.put_chunk(raw, 3).unwrap().2, "{}", r.id);
    }
    assert!(again.is_empty());
}

/// Another handle on the same folder (another process) sees a pack
/// written after it first looked; deleting chunks replaces their pack
/// by one without them, and a handle that knew the old pack still
/// reads the chunks kept.
#[test]
fn packs_written_or_replaced_elsewhere_are_found_again() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path()).unwrap();
    let reader = Store::open(dir.path()).unwrap();
    let raws: Vec<Vec<u8>> = (0..3).map(|i| format!("chunk {i}").into_bytes()).collect();
    let ids: Vec<ChunkId> = raws.iter().map(|r| crate::chunk_id(r)).collect();
    assert!(!reader.has(&ids[0]));
    let mut batch = writer.batch();
    for raw in &raws {
        batch.put_chunk(raw, 3).unwrap();
    }
    batch.finish().unwrap();
    assert!(reader.has(&ids[0]), "the new pack is found");
    let r = |i: usize| ChunkRef {
        id: ids[i],
        size: raws[i].len() as u32,
    };
    assert_eq!(reader.chunk(&r(2)).unwrap(), raws[2]);

    writer.remove_chunks(&HashSet::from([ids[0]])).unwrap();
    assert_eq!(files_in(&dir.path().join("packs")), 1);
    assert!(!writer.has(&ids[0]));
    assert!(
        !reader.has(&ids[0]),
        "the replaced pack is looked for again"
    );
    assert_eq!(reader.chunk(&r(1)).unwrap(), raws[1]);
    assert!(matches!(
        reader.chunk(&r(0)),
        Err(StoreError::MissingChunk(_))
    ));
    assert_eq!(reader.chunks().unwrap().len(), 2);

    writer.remove_chunk(&ids[1]).unwrap();
    writer.remove_chunk(&ids[2]).unwrap();
    assert_eq!(files_in(&dir.path().join("packs")), 0);
    assert!(reader.chunks().unwrap().is_empty());
    assert_eq!(files_in(&dir.path().join("tmp")), 0);
}

/// Another handle on the store (the next build, a fetch in another
/// process) skips chunks already packed, and knows which ones it lacks;
/// a reader keeps its pack open and reads what the store reads.
#[test]
fn packed_chunks_are_not_stored_twice_and_lacking_ones_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let raws: Vec<Vec<u8>> = (0..4).map(|i| format!("chunk {i}").into_bytes()).collect();
    let refs: Vec<ChunkRef> = raws
        .iter()
        .map(|r| ChunkRef {
            id: crate::chunk_id(r),
            size: r.len() as u32,
        })
        .collect();
    let first = Store::open(dir.path()).unwrap();
    let mut batch = first.batch();
    for raw in &raws[..3] {
        batch.put_chunk(raw, 3).unwrap();
    }
    batch.finish().unwrap();

    let second = Store::open(dir.path()).unwrap();
    let mut batch = second.batch();
    assert!(!batch.claim(&refs[0].id), "already packed");
    assert!(batch.claim(&refs[3].id));
    let compressed = crate::compress_chunk(&raws[1], 3).unwrap();
    assert!(!batch.put_compressed(&refs[1], &compressed).unwrap());
    drop(batch);
    assert_eq!(files_in(&dir.path().join("packs")), 1);
    let third = Store::open(dir.path()).unwrap();
    let twice: Vec<ChunkRef> = refs.iter().chain(&refs).copied().collect();
    assert_eq!(third.lacking(twice), vec![refs[3]]);

    let mut reader = second.reader();
    for (r, raw) in refs[..3].iter().zip(&raws) {
        assert_eq!(&reader.chunk(r).unwrap(), raw);
    }
    assert!(matches!(
        reader.chunk(&refs[3]),
        Err(StoreError::MissingChunk(_))
    ));
}

/// A pack that is not one (garbage, cut short, a lying index) is
/// passed over: its chunks are missing, nothing panics; a flipped byte
/// inside a chunk is caught by the address check.
#[test]
fn a_damaged_pack_is_passed_over_or_caught() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let raw = b"a packed chunk".to_vec();
    let mut batch = store.batch();
    let (id, _, _) = batch.put_chunk(&raw, 3).unwrap();
    batch.finish().unwrap();
    let pack = fs::read_dir(dir.path().join("packs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let good = fs::read(&pack).unwrap();
    let r = ChunkRef {
        id,
        size: raw.len() as u32,
    };

    let mut flipped = good.clone();
    flipped[good.len() - 13 - 44 - 1] ^= 1; // the chunk's last byte
    fs::write(&pack, &flipped).unwrap();
    let err = Store::open(dir.path()).unwrap().chunk(&r).unwrap_err();
    assert!(matches!(err, StoreError::CorruptChunk { .. }), "{err}");

    for bad in [
        &good[..good.len() - 1],
        &good[..5],
        &b"not a pack at all"[..],
    ] {
        fs::write(&pack, bad).unwrap();
        let fresh = Store::open(dir.path()).unwrap();
        assert!(!fresh.has(&id));
        assert!(matches!(fresh.chunk(&r), Err(StoreError::MissingChunk(_))));
        assert!(fresh.chunks().unwrap().is_empty());
    }
}

/// The context kept between chunks changes no byte: the same frames as
/// fresh contexts give, across sizes and levels in turn; and they
/// decompress back through the kept decompression context.
#[test]
fn kept_contexts_give_the_same_bytes_as_fresh_ones() {
    for (i, level) in [3, 19, 3, 1, 19, 19, 3].into_iter().enumerate() {
        let raw = [noise(100 << i, i as u64), b"text ".repeat(1000 << i)].concat();
        let kept = crate::compress_chunk(&raw, level).unwrap();
        assert_eq!(
            kept,
            zstd::bulk::compress(&raw, level).unwrap(),
            "level {level}"
        );
        assert_eq!(decompress_capped(&kept, raw.len()).unwrap(), raw);
        let short = decompress_capped(&kept, raw.len() + 5).unwrap_err();
        assert_eq!(
            short,
            DecompressError::WrongSize {
                got: raw.len(),
                more: false,
                declared: raw.len() + 5
            }
        );
    }
    let err = decompress_capped(b"not zstd at all", 10).unwrap_err();
    assert!(matches!(err, DecompressError::Malformed(_)), "{err}");
}

/// Temporary files a crash left are deleted once old; fresh ones (a
/// write in progress) are not.
#[test]
fn stale_temporary_files_go_and_fresh_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let old = dir.path().join("tmp/pack-1-0");
    fs::write(&old, vec![0u8; 1000]).unwrap();
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(day_ago)
        .unwrap();
    let fresh = dir.path().join("tmp/pack-2-0");
    fs::write(&fresh, b"in progress").unwrap();
    let hour = std::time::Duration::from_secs(3600);
    assert_eq!(store.remove_stale_temps(hour).unwrap(), (1, 1000));
    assert!(!old.exists() && fresh.exists());
}

#[test]
fn a_decompression_bomb_stops_at_the_declared_size() {
    let bomb = zstd::bulk::compress(&vec![0u8; 50 * 1024 * 1024], 19).unwrap();
    assert!(bomb.len() < 10_000);
    let err = decompress_capped(&bomb, 1024).unwrap_err();
    assert_eq!(
        err,
        DecompressError::WrongSize {
            got: 1025,
            more: true,
            declared: 1024
        }
    );
    assert!(
        err.to_string()
            .contains("1025+ bytes, not the declared 1024"),
        "{err}"
    );
}

/// Small text files that share their shape, as a release's many small
/// files do (the same generator makes the training set and the chunks).
fn small_file(i: usize) -> Vec<u8> {
    format!(
        "{{\n  \"name\": \"component-{i}\",\n  \"version\": \"1.{}.{}\",\n  \"description\": \"Part {i} of the user interface, with its settings and strings\",\n  \"dependencies\": {{ \"runtime\": \"^2.{}\", \"widgets\": \"^0.{}\" }},\n  \"files\": [\"index.js\", \"style.css\", \"strings-{}.json\"]\n}}\n",
        i % 7,
        i % 13,
        i % 5,
        i % 11,
        i % 3
    )
    .into_bytes()
}

fn reference(raw: &[u8]) -> ChunkRef {
    ChunkRef {
        id: crate::chunk_id(raw),
        size: raw.len() as u32,
    }
}

/// A chunk compressed with a dictionary is read through the dictionary its
/// frame names, in this process and in a later one (the `dicts/` index),
/// and still checked against its address: a wrong dictionary with the
/// same id fails, a store without the dictionary says which it lacks, and
/// removing the dictionary's chunk forgets it.
#[test]
fn chunks_compressed_with_a_dictionary_find_it_by_id_and_are_still_checked() {
    let samples: Vec<Vec<u8>> = (0..400).map(small_file).collect();
    let dict = zstd::dict::from_samples(&samples, 4096).unwrap();
    let id = crate::dictionary_id(&dict).expect("a dictionary with an id");
    let cdict = zstd::zstd_safe::CDict::create(&dict, 19);

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.put_chunk(&dict, 19).unwrap();
    let dict_ref = reference(&dict);
    assert_eq!(store.learn_dictionary(&dict_ref).unwrap(), id);

    let raw = small_file(1000);
    let chunk = reference(&raw);
    let with = crate::compress_chunk_with(&raw, &cdict).unwrap();
    let without = crate::compress_chunk(&raw, 19).unwrap();
    assert_eq!(crate::frame_dictionary(&with), Some(id));
    assert_eq!(crate::frame_dictionary(&without), None);
    assert!(
        with.len() * 2 < without.len(),
        "{} bytes with the dictionary, {} without",
        with.len(),
        without.len()
    );
    store.put_compressed(&chunk, &with).unwrap();
    assert_eq!(store.chunk(&chunk).unwrap(), raw);
    // Another process finds it through the index.
    let later = Store::open(dir.path()).unwrap();
    assert_eq!(later.chunk(&chunk).unwrap(), raw);
    assert_eq!(later.reader().chunk(&chunk).unwrap(), raw);
    assert_eq!(
        later.dictionaries_needed([chunk.id]).unwrap(),
        vec![dict_ref]
    );

    // A store without the dictionary names the one it lacks.
    let other = tempfile::tempdir().unwrap();
    let bare = Store::open(other.path()).unwrap();
    let err = bare.put_compressed(&chunk, &with).unwrap_err().to_string();
    assert!(
        err.contains(&format!("{id:08x}")) && err.contains("does not hold"),
        "{err}"
    );
    assert!(!bare.has(&chunk.id));

    // A hostile dictionary with the same id, learnt first, fails the
    // chunk's check; the right one is still found after it.
    let mut forged = zstd::dict::from_samples(&samples[..200], 2048).unwrap();
    forged[4..8].copy_from_slice(&id.to_le_bytes());
    bare.put_chunk(&forged, 3).unwrap();
    assert_eq!(bare.learn_dictionary(&reference(&forged)).unwrap(), id);
    let err = bare.put_compressed(&chunk, &with).unwrap_err();
    assert!(matches!(err, StoreError::CorruptChunk { .. }), "{err}");
    bare.put_chunk(&dict, 3).unwrap();
    bare.learn_dictionary(&dict_ref).unwrap();
    bare.put_compressed(&chunk, &with).unwrap();
    assert_eq!(
        Store::open(other.path()).unwrap().chunk(&chunk).unwrap(),
        raw
    );

    // Not a dictionary, or compressed with one: refused as a dictionary.
    let err = store.learn_dictionary(&chunk).unwrap_err().to_string();
    assert!(err.contains("as a zstd dictionary"), "{err}");
    let plain = b"plain bytes, not a dictionary".to_vec();
    store.put_chunk(&plain, 3).unwrap();
    let err = store
        .learn_dictionary(&reference(&plain))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no zstd dictionary header"), "{err}");

    // Removing the dictionary's chunk forgets it.
    store.remove_chunk(&dict_ref.id).unwrap();
    assert!(store.dictionaries().unwrap().is_empty());
    let err = Store::open(dir.path())
        .unwrap()
        .chunk(&chunk)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not hold"), "{err}");
}
