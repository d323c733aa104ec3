//! Merkle tests: the RFC 6962 test vectors published with the Certificate
//! Transparency verifiers (transparency-dev/merkle), every corruption those
//! verifiers probe, and property tests over random trees.

use proptest::prelude::*;

use super::*;

fn h(hex_text: &str) -> Hash {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).unwrap();
    Hash(out)
}

fn vector_leaves() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|x| hex::decode(x).unwrap())
    .collect()
}

fn vector_roots() -> Vec<Hash> {
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    .iter()
    .map(|x| h(x))
    .collect()
}

/// (leaf index, tree size, proof) from the published vectors.
fn vector_inclusion_proofs() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (
            0,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            5,
            8,
            vec![
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            3,
            vec![h(
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            )],
        ),
        (
            1,
            5,
            vec![
                h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
    ]
}

/// (old size, new size, proof) from the published vectors.
fn vector_consistency_proofs() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            5,
            vec![
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
        (
            6,
            7,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
    ]
}

fn vector_tree() -> MemoryTree {
    let mut tree = MemoryTree::new();
    for leaf in vector_leaves() {
        tree.push_entry(&leaf);
    }
    tree
}

#[test]
fn roots_match_the_rfc6962_vectors() {
    let leaves = vector_leaves();
    let roots = vector_roots();
    let mut tree = MemoryTree::new();
    assert_eq!(tree.root(), empty_root());
    for (i, leaf) in leaves.iter().enumerate() {
        tree.push_entry(leaf);
        assert_eq!(tree.root(), roots[i], "root of {} leaves", i + 1);
        // Every smaller root is still computable from the grown tree.
        for (j, root) in roots.iter().enumerate().take(i + 1) {
            assert_eq!(tree_root(&tree, j as u64 + 1).unwrap(), *root);
        }
    }
}

#[test]
fn generated_proofs_equal_the_published_ones() {
    let tree = vector_tree();
    for (index, size, proof) in vector_inclusion_proofs() {
        assert_eq!(
            inclusion_proof(&tree, index, size).unwrap(),
            proof,
            "inclusion {index} in {size}"
        );
    }
    for (old, new, proof) in vector_consistency_proofs() {
        assert_eq!(
            consistency_proof(&tree, old, new).unwrap(),
            proof,
            "consistency {old} -> {new}"
        );
        assert_eq!(consistency_proof_len(old, new), proof.len());
    }
}

#[test]
fn published_inclusion_proofs_verify_and_every_corruption_fails() {
    let leaves = vector_leaves();
    let roots = vector_roots();
    let some_hash = h("abacaba000000000000000000000000000000000000000000060061e00123456");
    for (index, size, proof) in vector_inclusion_proofs() {
        let root = roots[size as usize - 1];
        let leaf = leaf_hash(&leaves[index as usize]);
        verify_inclusion(&leaf, index, size, &proof, &root).unwrap();

        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>, String)> = vec![
            (
                index.wrapping_sub(1),
                size,
                root,
                leaf,
                proof.clone(),
                "index - 1".into(),
            ),
            (
                index + 1,
                size,
                root,
                leaf,
                proof.clone(),
                "index + 1".into(),
            ),
            (
                index ^ 2,
                size,
                root,
                leaf,
                proof.clone(),
                "index ^ 2".into(),
            ),
            (
                index,
                size * 2,
                root,
                leaf,
                proof.clone(),
                "size * 2".into(),
            ),
            (
                index,
                size / 2,
                root,
                leaf,
                proof.clone(),
                "size / 2".into(),
            ),
            (
                index,
                size,
                root,
                leaf_hash(b"WrongLeaf"),
                proof.clone(),
                "wrong leaf".into(),
            ),
            (
                index,
                size,
                empty_root(),
                leaf,
                proof.clone(),
                "empty root".into(),
            ),
            (
                index,
                size,
                some_hash,
                leaf,
                proof.clone(),
                "random root".into(),
            ),
        ];
        let mut trailing = proof.clone();
        trailing.push(root);
        probes.push((index, size, root, leaf, trailing, "trailing root".into()));
        let mut preceding = vec![root];
        preceding.extend(proof.iter().copied());
        probes.push((index, size, root, leaf, preceding, "preceding root".into()));
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i].0[0] ^= 8;
            probes.push((
                index,
                size,
                root,
                leaf,
                bad,
                format!("bit flip in proof[{i}]"),
            ));
        }
        if !proof.is_empty() {
            probes.push((
                index,
                size,
                root,
                leaf,
                proof[..proof.len() - 1].to_vec(),
                "removed".into(),
            ));
        }
        if proof.len() > 1 {
            let mut inserted = vec![proof[0], some_hash];
            inserted.extend(proof[1..].iter().copied());
            probes.push((index, size, root, leaf, inserted, "inserted".into()));
        }
        for (i, s, r, l, p, desc) in probes {
            assert!(
                verify_inclusion(&l, i, s, &p, &r).is_err(),
                "corrupted proof verified: {desc} (leaf {index} in {size})"
            );
        }
    }
}

#[test]
fn published_consistency_proofs_verify_and_every_corruption_fails() {
    let roots = vector_roots();
    for (old, new, proof) in vector_consistency_proofs() {
        let r1 = roots[old as usize - 1];
        let r2 = roots[new as usize - 1];
        verify_consistency(old, new, &proof, &r1, &r2).unwrap();

        let wrong_root = leaf_hash(b"WrongRoot");
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>, String)> = vec![
            (old - 1, new, r1, r2, proof.clone(), "old - 1".into()),
            (old + 1, new, r1, r2, proof.clone(), "old + 1".into()),
            (old ^ 2, new, r1, r2, proof.clone(), "old ^ 2".into()),
            (old, new * 2, r1, r2, proof.clone(), "new * 2".into()),
            (old, new / 2, r1, r2, proof.clone(), "new / 2".into()),
            (
                old,
                new,
                wrong_root,
                r2,
                proof.clone(),
                "wrong root1".into(),
            ),
            (
                old,
                new,
                r1,
                wrong_root,
                proof.clone(),
                "wrong root2".into(),
            ),
            (old, new, r2, r1, proof.clone(), "swapped roots".into()),
            (old, new, r1, r2, vec![], "empty proof".into()),
            (
                old,
                new,
                r1,
                r2,
                proof[..proof.len() - 1].to_vec(),
                "truncated".into(),
            ),
        ];
        for extra in [r1, r2, proof[0]] {
            let mut trailing = proof.clone();
            trailing.push(extra);
            probes.push((old, new, r1, r2, trailing, "trailing hash".into()));
            let mut preceding = vec![extra];
            preceding.extend(proof.iter().copied());
            probes.push((old, new, r1, r2, preceding, "preceding hash".into()));
        }
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i].0[0] ^= 16;
            probes.push((old, new, r1, r2, bad, format!("bit flip in proof[{i}]")));
        }
        for (o, n, a, b, p, desc) in probes {
            assert!(
                verify_consistency(o, n, &p, &a, &b).is_err(),
                "corrupted proof verified: {desc} ({old} -> {new})"
            );
        }
    }
}

#[test]
fn trivial_consistency_cases_follow_rfc9162() {
    let r1 = leaf_hash(b"1");
    let r2 = leaf_hash(b"2");
    assert!(verify_consistency(0, 0, &[], &r1, &r1).is_ok());
    assert!(verify_consistency(0, 1, &[], &r1, &r2).is_ok());
    assert!(verify_consistency(1, 1, &[], &r2, &r2).is_ok());
    assert!(verify_consistency(1, 0, &[], &r1, &r2).is_err());
    assert!(verify_consistency(2, 1, &[], &r1, &r2).is_err());
    assert!(verify_consistency(1, 2, &[], &r1, &r2).is_err());
    assert!(verify_consistency(0, 1, &[empty_root()], &r1, &r1).is_err());
    assert!(verify_consistency(1, 1, &[empty_root()], &r1, &r1).is_err());
    // Same size, different roots: a fork, reported as such.
    assert_eq!(
        verify_consistency(5, 5, &[], &r1, &r2),
        Err(ProofError::Inconsistent { prefix_root: r2 })
    );
}

#[test]
fn a_forked_history_is_reported_as_inconsistent_not_as_a_bad_proof() {
    // Two logs share 5 leaves, then one rewrites leaf 5 and both grow to 9.
    let mut honest = MemoryTree::new();
    let mut forked = MemoryTree::new();
    for i in 0..9u8 {
        honest.push_entry(&[i]);
        forked.push_entry(&[if i == 5 { 0xff } else { i }]);
    }
    let old_root = tree_root(&honest, 6).unwrap();
    let proof = consistency_proof(&forked, 6, 9).unwrap();
    let err = verify_consistency(6, 9, &proof, &old_root, &forked.root()).unwrap_err();
    assert_eq!(
        err,
        ProofError::Inconsistent {
            prefix_root: tree_root(&forked, 6).unwrap()
        }
    );
    // A garbled proof is just invalid.
    let mut garbled = proof.clone();
    garbled[1].0[3] ^= 1;
    assert_eq!(
        verify_consistency(6, 9, &garbled, &old_root, &forked.root()),
        Err(ProofError::Invalid)
    );
}

#[test]
fn limits_refuse_huge_sizes_and_long_proofs() {
    let r = leaf_hash(b"x");
    assert!(matches!(
        verify_inclusion(&r, 0, u64::MAX, &[], &r),
        Err(ProofError::OutOfRange(_))
    ));
    let long = vec![r; MAX_PROOF_HASHES + 1];
    assert!(matches!(
        verify_consistency(3, 1 << 40, &long, &r, &r),
        Err(ProofError::TooLong { .. })
    ));
    assert!(inclusion_proof(&vector_tree(), 8, 8).is_err());
    assert!(consistency_proof(&vector_tree(), 9, 8).is_err());
    assert_eq!(
        inclusion_proof(&vector_tree(), 3, 9),
        Err(ProofError::MissingNode { level: 0, index: 8 })
    );
}

/// A hash source that recomputes everything from the leaves, independently of
/// `MemoryTree`'s incremental bookkeeping.
struct Leaves(Vec<Hash>);

impl HashSource for Leaves {
    fn complete_node(&self, level: u32, index: u64) -> Result<Hash, ProofError> {
        let start = (index << level) as usize;
        let end = start + (1usize << level);
        if end > self.0.len() {
            return Err(ProofError::MissingNode { level, index });
        }
        // Reference MTH straight from the RFC's recursive definition.
        fn mth(leaves: &[Hash]) -> Hash {
            if leaves.len() == 1 {
                return leaves[0];
            }
            let k = split_point(leaves.len() as u64) as usize;
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
        Ok(mth(&self.0[start..end]))
    }
}

fn tree_of(n: u64) -> MemoryTree {
    MemoryTree::from_leaf_hashes((0..n).map(|i| leaf_hash(&i.to_be_bytes())))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn memory_tree_agrees_with_the_recursive_definition(n in 1u64..300) {
        let tree = tree_of(n);
        let reference = Leaves((0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect());
        prop_assert_eq!(tree.root(), tree_root(&reference, n).unwrap());
    }

    #[test]
    fn every_inclusion_proof_verifies_and_any_change_fails(
        n in 1u64..600, index_seed in any::<u64>(), flip in any::<(usize, u8, u8)>()
    ) {
        let tree = tree_of(n);
        let index = index_seed % n;
        let leaf = leaf_hash(&index.to_be_bytes());
        let root = tree.root();
        let proof = inclusion_proof(&tree, index, n).unwrap();
        prop_assert!(verify_inclusion(&leaf, index, n, &proof, &root).is_ok());

        // Altered proof hash.
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let i = flip.0 % bad.len();
            bad[i].0[usize::from(flip.1) % 32] ^= 1 << (flip.2 % 8);
            prop_assert!(verify_inclusion(&leaf, index, n, &bad, &root).is_err());
        }
        // Altered leaf, root, index and size.
        let mut bad_leaf = leaf;
        bad_leaf.0[usize::from(flip.1) % 32] ^= 1 << (flip.2 % 8);
        prop_assert!(verify_inclusion(&bad_leaf, index, n, &proof, &root).is_err());
        let mut bad_root = root;
        bad_root.0[usize::from(flip.1) % 32] ^= 1 << (flip.2 % 8);
        prop_assert!(verify_inclusion(&leaf, index, n, &proof, &bad_root).is_err());
        for other in [index ^ 1, index + 1, index.wrapping_sub(1)] {
            if other != index && other < n {
                prop_assert!(verify_inclusion(&leaf, other, n, &proof, &root).is_err());
            }
        }
        // With the true root of another size, the proof verifies only if it is
        // also that size's proof (a size and its root are bound by the signature,
        // so an unchanged root with another size is not a case to consider).
        for other_size in [n + 1, n - 1, n * 2] {
            if other_size != n && other_size > index {
                let other = tree_of(other_size);
                let accepted = verify_inclusion(&leaf, index, other_size, &proof, &other.root()).is_ok();
                prop_assert!(!accepted || inclusion_proof(&other, index, other_size).unwrap() == proof);
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_any_change_fails(
        n in 2u64..600, old_seed in any::<u64>(), flip in any::<(usize, u8, u8)>()
    ) {
        let tree = tree_of(n);
        let old = 1 + old_seed % (n - 1);
        let old_root = tree_root(&tree, old).unwrap();
        let new_root = tree.root();
        let proof = consistency_proof(&tree, old, n).unwrap();
        prop_assert_eq!(proof.len(), consistency_proof_len(old, n));
        prop_assert!(verify_consistency(old, n, &proof, &old_root, &new_root).is_ok());

        let mut bad = proof.clone();
        let i = flip.0 % bad.len();
        bad[i].0[usize::from(flip.1) % 32] ^= 1 << (flip.2 % 8);
        prop_assert!(verify_consistency(old, n, &bad, &old_root, &new_root).is_err());

        let mut bad_old = old_root;
        bad_old.0[usize::from(flip.1) % 32] ^= 1 << (flip.2 % 8);
        prop_assert!(verify_consistency(old, n, &proof, &bad_old, &new_root).is_err());
        let mut bad_new = new_root;
        bad_new.0[usize::from(flip.1) % 32] ^= 1 << (flip.2 % 8);
        prop_assert!(verify_consistency(old, n, &proof, &old_root, &bad_new).is_err());

        for (o, s) in [(old + 1, n), (old - 1, n), (old, n + 1), (old, n - 1)] {
            if o == 0 || o >= s || (o, s) == (old, n) {
                continue;
            }
            let other = tree_of(s);
            let (r1, r2) = (tree_root(&other, o).unwrap(), other.root());
            let accepted = verify_consistency(o, s, &proof, &r1, &r2).is_ok();
            prop_assert!(!accepted || consistency_proof(&other, o, s).unwrap() == proof,
                "proof for {}->{} accepted as {}->{}", old, n, o, s);
        }
    }
}

#[test]
fn a_compact_range_and_appended_leaves_give_the_grown_trees_root() {
    let leaves: Vec<Hash> = (0..40u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    for old in 0..20usize {
        for new in old..40usize {
            let before = MemoryTree::from_leaf_hashes(leaves[..old].iter().copied());
            let after = MemoryTree::from_leaf_hashes(leaves[..new].iter().copied());
            let compact = compact_range(&before, old as u64).unwrap();
            let (r0, r1) = root_after(&compact, old as u64, &leaves[old..new]).unwrap();
            assert_eq!((r0, r1), (before.root(), after.root()), "{old}..{new}");
        }
    }
    let before = MemoryTree::from_leaf_hashes(leaves[..5].iter().copied());
    let compact = compact_range(&before, 5).unwrap();
    assert!(root_after(&compact, 7, &[]).is_none());
    // Another leaf in place of one gives another root.
    let (_, grown) = root_after(&compact, 5, &leaves[5..8]).unwrap();
    let (_, other) = root_after(&compact, 5, &leaves[6..9]).unwrap();
    assert_ne!(grown, other);
}
