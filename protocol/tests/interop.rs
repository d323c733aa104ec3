//! Interoperability: our code reads and verifies what independent implementations
//! wrote (Go's tlog and note packages, a frost-ed25519 group), and what we write
//! is accepted by independent verifiers (Cloudflare's Rust ports of Go's note and
//! tlog, and OpenSSL's Ed25519).

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed step should stop the test

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use quince_protocol::checkpoint::{Checkpoint, VerifiedCheckpoint};
use quince_protocol::merkle::{self, MemoryTree};
use quince_protocol::note::{Ed25519Verifier, Note};
use quince_protocol::tile::{self, BundleId, TileId, TilePath, TileSet};
use quince_protocol::Hash;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(data(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn read_text(rel: &str) -> String {
    String::from_utf8(read(rel)).unwrap()
}

/// Loads every tile and bundle the log at `dir` holds, keyed by path.
fn load_log(dir: &str) -> (TileSet, Vec<(BundleId, Vec<u8>)>) {
    let root = data(dir);
    let mut tiles = TileSet::new();
    let mut bundles = Vec::new();
    let mut stack = vec![root.join("tile")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(&root).unwrap().to_str().unwrap().to_string();
            let bytes = std::fs::read(&p).unwrap();
            match TilePath::parse(&rel).unwrap() {
                TilePath::Tile(id) => tiles.insert(id, &bytes).unwrap(),
                TilePath::Entries(id) => bundles.push((id, bytes)),
            }
        }
    }
    bundles.sort_by_key(|(id, _)| id.index);
    (tiles, bundles)
}

fn go_verifier() -> Ed25519Verifier {
    Ed25519Verifier::parse(read_text("go-tlog/vkey").trim_end()).unwrap()
}

#[test]
fn go_tlog_checkpoints_verify_under_the_go_verifier_key() {
    let vkey = go_verifier();
    assert_eq!(vkey.to_text(), read_text("go-tlog/vkey").trim_end());
    for size in [200u64, 300] {
        let note = read(&format!("go-tlog/size{size}/checkpoint"));
        let cp = VerifiedCheckpoint::verify(&note, "vectors.quince.test/go-tlog", &vkey).unwrap();
        assert_eq!(cp.size(), size);
        // Our parse and re-format is byte-identical.
        assert_eq!(Note::parse(&note).unwrap().to_bytes(), note);
        assert_eq!(
            Checkpoint::parse(cp.note().text()).unwrap().to_text(),
            cp.note().text()
        );
    }
}

#[test]
fn go_tlog_tiles_and_entries_compute_the_checkpoint_roots() {
    for size in [200u64, 300] {
        let note = read(&format!("go-tlog/size{size}/checkpoint"));
        let cp = VerifiedCheckpoint::verify(&note, "vectors.quince.test/go-tlog", &go_verifier())
            .unwrap();
        let (tiles, bundles) = load_log(&format!("go-tlog/size{size}"));
        tiles.verify(size, cp.root()).unwrap();
        assert_eq!(
            bundles.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            tile::bundles_for_size(size)
        );

        let mut from_entries = MemoryTree::new();
        for (id, bytes) in &bundles {
            let entries = tile::decode_bundle(*id, bytes).unwrap();
            tiles.check_bundle(*id, &entries).unwrap();
            for (i, e) in entries.iter().enumerate() {
                let n = id.first_entry() + i as u64;
                assert_eq!(*e, format!("record {n}: the quick brown fox\n").as_bytes());
                from_entries.push_entry(e);
            }
        }
        assert_eq!(from_entries.root(), *cp.root());
        // And the tiles we would write for this tree are byte-identical to Go's.
        for id in tile::tiles_for_size(size) {
            let ours = tile::tile_data(&from_entries, id).unwrap();
            assert_eq!(
                ours,
                read(&format!("go-tlog/size{size}/{}", id.path())),
                "{id}"
            );
        }
    }
}

fn go_proofs() -> (Vec<Hash>, Vec<Hash>, Hash, Hash) {
    let text = read_text("go-tlog/proofs.txt");
    let mut consistency = Vec::new();
    let mut inclusion = Vec::new();
    let (mut r200, mut r300) = (None, None);
    let mut section = 0;
    for line in text.lines() {
        if line.starts_with("consistency 200 -> 300") {
            section = 1;
        } else if line.starts_with("inclusion of record 123 in size 300") {
            section = 2;
        } else if let Some(r) = line.strip_prefix("root 200: ") {
            r200 = Some(Hash::from_base64(r, "root").unwrap());
        } else if let Some(r) = line.strip_prefix("root 300: ") {
            r300 = Some(Hash::from_base64(r, "root").unwrap());
        } else {
            let h = Hash::from_base64(line, "proof").unwrap();
            if section == 1 {
                consistency.push(h)
            } else {
                inclusion.push(h)
            }
        }
    }
    (consistency, inclusion, r200.unwrap(), r300.unwrap())
}

#[test]
fn go_proofs_verify_and_every_single_bit_change_fails() {
    let (consistency, inclusion, r200, r300) = go_proofs();
    let leaf = merkle::leaf_hash(b"record 123: the quick brown fox\n");
    merkle::verify_consistency(200, 300, &consistency, &r200, &r300).unwrap();
    merkle::verify_inclusion(&leaf, 123, 300, &inclusion, &r300).unwrap();

    // Proofs computed from Go's tiles equal the proofs Go computed.
    let (tiles, _) = load_log("go-tlog/size300");
    assert_eq!(
        merkle::consistency_proof(&tiles, 200, 300).unwrap(),
        consistency
    );
    assert_eq!(
        merkle::inclusion_proof(&tiles, 123, 300).unwrap(),
        inclusion
    );

    for i in 0..consistency.len() {
        for bit in 0..256 {
            let mut bad = consistency.clone();
            bad[i].0[bit / 8] ^= 1 << (bit % 8);
            assert!(merkle::verify_consistency(200, 300, &bad, &r200, &r300).is_err());
        }
    }
    for i in 0..inclusion.len() {
        for bit in 0..256 {
            let mut bad = inclusion.clone();
            bad[i].0[bit / 8] ^= 1 << (bit % 8);
            assert!(merkle::verify_inclusion(&leaf, 123, 300, &bad, &r300).is_err());
        }
    }
    for bit in 0..256 {
        let (mut a, mut b) = (r200, r300);
        a.0[bit / 8] ^= 1 << (bit % 8);
        b.0[bit / 8] ^= 1 << (bit % 8);
        assert!(merkle::verify_consistency(200, 300, &consistency, &a, &r300).is_err());
        assert!(merkle::verify_consistency(200, 300, &consistency, &r200, &b).is_err());
        assert!(merkle::verify_inclusion(&leaf, 123, 300, &inclusion, &b).is_err());
    }
}

#[test]
fn the_frost_signed_note_verifies_as_a_plain_ed25519_note() {
    let vkey = Ed25519Verifier::parse(read_text("frost-note/vkey").trim_end()).unwrap();
    let note = read("frost-note/checkpoint");
    let cp = VerifiedCheckpoint::verify(&note, "quince.example/app", &vkey).unwrap();
    assert_eq!(cp.size(), 3);
    // One flipped bit anywhere in the signed text is refused.
    let text_len = Note::parse(&note).unwrap().text().len();
    for i in 0..text_len {
        let mut bad = note.clone();
        bad[i] ^= 0x01;
        assert!(
            VerifiedCheckpoint::verify(&bad, "quince.example/app", &vkey).is_err(),
            "byte {i}"
        );
    }
}

/// A small log written by our code: entries, tiles and a signed checkpoint.
struct OurLog {
    tree: MemoryTree,
    entries: Vec<Vec<u8>>,
    key: SigningKey,
    origin: String,
    note: Vec<u8>,
}

fn our_log(n: u64) -> OurLog {
    let key = SigningKey::from_bytes(&[42; 32]);
    let origin = "quince.app/interop-test".to_string();
    let entries: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("quince entry {i}\n").into_bytes())
        .collect();
    let tree = MemoryTree::from_leaf_hashes(entries.iter().map(|e| merkle::leaf_hash(e)));
    let cp = Checkpoint {
        origin: origin.clone(),
        size: n,
        root: tree.root(),
        extensions: vec![],
    };
    let mut note = Note::unsigned(&cp.to_text()).unwrap();
    note.sign_ed25519(&origin, &key).unwrap();
    OurLog {
        tree,
        entries,
        key,
        origin,
        note: note.to_bytes(),
    }
}

#[test]
fn our_checkpoint_verifies_with_an_independent_note_implementation() {
    use signed_note::{Note as TheirNote, StandardVerifier, VerifierList};
    let log = our_log(300);
    let ours = Ed25519Verifier::new(&log.origin, log.key.verifying_key()).unwrap();
    let theirs = StandardVerifier::new(&ours.to_text()).unwrap();
    let note = TheirNote::from_bytes(&log.note).unwrap();
    let (verified, _) = note
        .verify(&VerifierList::new(vec![Box::new(theirs.clone())]))
        .unwrap();
    assert_eq!(verified.len(), 1);
    let cp = tlog_tiles::Checkpoint::from_bytes(note.text()).unwrap();
    assert_eq!(cp.size(), 300);
    assert_eq!(cp.hash().0, log.tree.root().0);
    assert_eq!(cp.origin(), log.origin);

    let mut bad = log.note.clone();
    bad[3] ^= 1;
    let bad = TheirNote::from_bytes(&bad).unwrap();
    assert!(bad
        .verify(&VerifierList::new(vec![Box::new(theirs)]))
        .is_err());
}

#[test]
fn our_tiles_are_read_and_authenticated_by_an_independent_tlog_implementation() {
    use std::collections::HashMap;
    use tlog_tiles::{Tile, TileHashReader, TileReader};

    struct Files(HashMap<String, Vec<u8>>);
    impl TileReader for Files {
        fn height(&self) -> u8 {
            8
        }
        fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
            // Their Go-style path carries the tile height ("tile/8/L/N"); C2SP drops it.
            tiles
                .iter()
                .map(|t| {
                    let c2sp = t.path().replacen("tile/8/", "tile/", 1);
                    self.0
                        .get(&c2sp)
                        .cloned()
                        .ok_or(tlog_tiles::Error::InvalidTile)
                })
                .collect()
        }
        fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
    }

    for n in [1u64, 255, 256, 300, 70_000] {
        let log = our_log(n);
        let files: HashMap<String, Vec<u8>> = tile::tiles_for_size(n)
            .into_iter()
            .map(|id: TileId| (id.path(), tile::tile_data(&log.tree, id).unwrap()))
            .collect();
        let files = Files(files);
        let root = tlog_tiles::Hash(log.tree.root().0);
        let reader = TileHashReader::new(n, root, &files);
        assert_eq!(tlog_tiles::tree_hash(n, &reader).unwrap(), root, "size {n}");
        for index in [0, n / 2, n - 1] {
            let proof = tlog_tiles::prove_record(n, index, &reader).unwrap();
            let leaf = tlog_tiles::record_hash(&log.entries[index as usize]);
            tlog_tiles::check_record(&proof, n, root, index, leaf).unwrap();
            // Their proof is the RFC 6962 path, the same as ours.
            let ours = merkle::inclusion_proof(&log.tree, index, n).unwrap();
            assert_eq!(
                proof.iter().map(|h| h.0).collect::<Vec<_>>(),
                ours.iter().map(|h| h.0).collect::<Vec<_>>()
            );
        }
        if n > 2 {
            let tproof = tlog_tiles::prove_tree(n, n / 2, &reader).unwrap();
            let old_root = tlog_tiles::Hash(merkle::tree_root(&log.tree, n / 2).unwrap().0);
            tlog_tiles::check_tree(&tproof, n, root, n / 2, old_root).unwrap();
        }
    }
}

#[test]
fn our_checkpoint_signature_verifies_with_openssl() {
    let Ok(out) = std::process::Command::new("openssl")
        .arg("version")
        .output()
    else {
        eprintln!("SKIPPED: openssl is not installed, so the OpenSSL cross-check did not run");
        return;
    };
    assert!(out.status.success());
    let log = our_log(7);
    let note = Note::parse(&log.note).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // SubjectPublicKeyInfo for Ed25519 (RFC 8410): fixed 12-byte prefix + key.
    let mut spki = hex::decode("302a300506032b6570032100").unwrap();
    spki.extend_from_slice(log.key.verifying_key().as_bytes());
    std::fs::write(dir.path().join("pub.der"), &spki).unwrap();
    std::fs::write(dir.path().join("body"), note.text()).unwrap();
    std::fs::write(dir.path().join("sig"), note.signatures()[0].signature()).unwrap();
    let verify = |body: &str| {
        std::process::Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-rawin",
            ])
            .args(["-in", body, "-sigfile", "sig"])
            .output()
            .unwrap()
    };
    let ok = verify("body");
    assert!(
        ok.status.success(),
        "openssl refused: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let mut altered = note.text().as_bytes().to_vec();
    altered[0] ^= 1;
    std::fs::write(dir.path().join("altered"), altered).unwrap();
    assert!(!verify("altered").status.success());
}
