//! The RFC 6962 / RFC 9162 Merkle tree over SHA-256: hashing, roots, inclusion
//! and consistency proofs, and their verification.
//!
//! Proof generation is written once, over a [`HashSource`] that yields the hash of
//! any complete, aligned subtree. [`MemoryTree`] is the in-memory source (the
//! publisher's log keeps one); `tile::TileSet` reads the same hashes from C2SP
//! tiles, which is how clients and auditors compute proofs from fetched tiles.
//! Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step.

use thiserror::Error;

use crate::hash::Hash;
use crate::limits::{MAX_PROOF_HASHES, MAX_TREE_SIZE};

/// Why a proof could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// Index or sizes out of range (index not below size, old size above new size, ...).
    #[error("proof parameters out of range: {0}")]
    OutOfRange(String),
    /// The proof has more hashes than any proof of this shape may have.
    #[error("proof has {len} hashes; at most {max} allowed")]
    TooLong {
        /// Hashes in the proof.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The proof does not lead to the expected root: wrong hashes, sizes or index.
    #[error("proof does not verify")]
    Invalid,
    /// The proof does verify against the newer root, and shows that the newer tree's
    /// first `old_size` leaves have a different root than the older checkpoint says:
    /// the two trees are not consistent. This is evidence of a fork.
    #[error("trees are inconsistent: the newer tree's prefix has root {prefix_root}")]
    Inconsistent {
        /// Root of the newer tree's first `old_size` leaves, as the proof shows it.
        prefix_root: Hash,
    },
    /// The hash source lacks a node it needs (for tiles: a tile not fetched yet).
    #[error("hash of subtree level {level} index {index} is not available")]
    MissingNode {
        /// Height of the subtree.
        level: u32,
        /// Index of the subtree at that height.
        index: u64,
    },
}

/// Hash of a leaf: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    Hash::of_parts(&[&[0x00], entry])
}

/// Hash of an inner node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::of_parts(&[&[0x01], &left.0, &right.0])
}

/// Root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Hash::of(b"")
}

/// Anything that can give the hash of a complete, aligned subtree: the node at
/// height `level` covering leaves `index * 2^level .. (index + 1) * 2^level`.
pub trait HashSource {
    /// The hash of that subtree, or [`ProofError::MissingNode`].
    fn complete_node(&self, level: u32, index: u64) -> Result<Hash, ProofError>;
}

/// `MTH(D[lo:hi])` for any non-empty range, built from complete subtrees.
pub fn range_hash<S: HashSource + ?Sized>(src: &S, lo: u64, hi: u64) -> Result<Hash, ProofError> {
    if lo >= hi {
        return Err(ProofError::OutOfRange(format!("empty range {lo}..{hi}")));
    }
    let n = hi - lo;
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        return src.complete_node(n.trailing_zeros(), lo / n);
    }
    let k = split_point(n);
    let left = range_hash(src, lo, lo + k)?;
    let right = range_hash(src, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// Root hash of the first `size` leaves.
pub fn tree_root<S: HashSource + ?Sized>(src: &S, size: u64) -> Result<Hash, ProofError> {
    if size == 0 {
        Ok(empty_root())
    } else {
        range_hash(src, 0, size)
    }
}

/// The compact range of the first `size` leaves: the roots of the perfect
/// subtrees that cover them, largest first (one per set bit of `size`).
/// With it, a party that holds only a tree's root can check what leaves
/// are appended to it: [`root_after`].
pub fn compact_range<S: HashSource + ?Sized>(src: &S, size: u64) -> Result<Vec<Hash>, ProofError> {
    check_size(size)?;
    let mut out = Vec::new();
    let mut lo = 0;
    for bit in (0..64).rev() {
        let width = 1u64 << bit;
        if size & width != 0 {
            out.push(src.complete_node(bit, lo / width)?);
            lo += width;
        }
    }
    Ok(out)
}

/// The root of the tree of `size` leaves whose compact range is `compact`,
/// then of that tree with `leaves` (leaf hashes) appended. `None` if
/// `compact` does not have one hash per set bit of `size`.
pub fn root_after(compact: &[Hash], size: u64, leaves: &[Hash]) -> Option<(Hash, Hash)> {
    if compact.len() != size.count_ones() as usize {
        return None;
    }
    let fold = |stack: &[(u32, Hash)]| {
        let mut it = stack.iter().rev();
        let first = it.next().map_or_else(empty_root, |(_, h)| *h);
        it.fold(first, |acc, (_, h)| node_hash(h, &acc))
    };
    let heights = (0..64u32).rev().filter(|b| size & (1u64 << b) != 0);
    let mut stack: Vec<(u32, Hash)> = heights.zip(compact.iter().copied()).collect();
    let old = fold(&stack);
    for leaf in leaves {
        let mut node = (0u32, *leaf);
        while let Some(&(h, left)) = stack.last() {
            if h != node.0 {
                break;
            }
            stack.pop();
            node = (h + 1, node_hash(&left, &node.1));
        }
        stack.push(node);
    }
    Some((old, fold(&stack)))
}

/// The RFC 9162 inclusion proof (audit path) of leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof<S: HashSource + ?Sized>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    check_size(size)?;
    if index >= size {
        return Err(ProofError::OutOfRange(format!(
            "leaf {index} not below size {size}"
        )));
    }
    let mut proof = Vec::new();
    path(src, index, 0, size, &mut proof)?;
    Ok(proof)
}

/// The RFC 9162 consistency proof from the tree of `old_size` leaves to the tree of
/// `new_size` leaves. Empty when `old_size` is 0 or equal to `new_size`.
pub fn consistency_proof<S: HashSource + ?Sized>(
    src: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError> {
    check_size(new_size)?;
    if old_size > new_size {
        return Err(ProofError::OutOfRange(format!(
            "old size {old_size} above new size {new_size}"
        )));
    }
    let mut proof = Vec::new();
    if old_size > 0 && old_size < new_size {
        subproof(src, old_size, 0, new_size, true, &mut proof)?;
    }
    Ok(proof)
}

/// Checks that `leaf` is the leaf at `index` in the tree of `size` leaves with `root`
/// (RFC 9162 section 2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    check_size(size)?;
    check_proof_len(proof)?;
    if index >= size {
        return Err(ProofError::OutOfRange(format!(
            "leaf {index} not below size {size}"
        )));
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::Invalid);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n == 0 && r == *root {
        Ok(())
    } else {
        Err(ProofError::Invalid)
    }
}

/// Checks that the tree of `old_size` leaves with `old_root` is a prefix of the tree
/// of `new_size` leaves with `new_root` (RFC 9162 section 2.1.4.2).
///
/// Returns [`ProofError::Inconsistent`] when the proof authenticates against
/// `new_root` but gives a different prefix root: proof of a fork, not a bad peer.
/// When `old_size` is a power of two the standard proof starts from the old root
/// itself, so a fork can only show as [`ProofError::Invalid`] there; the caller
/// then asks other peers, and equal-size checkpoints with different roots are
/// still caught as a fork.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    check_size(new_size)?;
    check_proof_len(proof)?;
    if old_size > new_size {
        return Err(ProofError::OutOfRange(format!(
            "old size {old_size} above new size {new_size}"
        )));
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::Invalid);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Inconsistent {
                prefix_root: *new_root,
            })
        };
    }
    if old_size == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::Invalid)
        };
    }
    if proof.is_empty() {
        return Err(ProofError::Invalid);
    }
    if proof.len() != consistency_proof_len(old_size, new_size) {
        return Err(ProofError::Invalid);
    }
    let path: Vec<Hash> = if old_size.is_power_of_two() {
        std::iter::once(*old_root)
            .chain(proof.iter().copied())
            .collect()
    } else {
        proof.to_vec()
    };

    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut fr = path[0];
    let mut sr = path[0];
    for c in &path[1..] {
        if s_n == 0 {
            return Err(ProofError::Invalid);
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 || sr != *new_root {
        return Err(ProofError::Invalid);
    }
    if fr != *old_root {
        return Err(ProofError::Inconsistent { prefix_root: fr });
    }
    Ok(())
}

/// Number of hashes in the standard consistency proof from `old_size` to `new_size`
/// (for `0 < old_size < new_size`).
pub fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    fn count(m: u64, n: u64, complete: bool) -> usize {
        if m == n {
            return usize::from(!complete);
        }
        let k = split_point(n);
        if m <= k {
            count(m, k, complete) + 1
        } else {
            count(m - k, n - k, false) + 1
        }
    }
    if old_size == 0 || old_size >= new_size {
        0
    } else {
        count(old_size, new_size, true)
    }
}

/// An in-memory Merkle tree that keeps every complete subtree hash, so appends,
/// roots and proofs are cheap. The publisher's log and the tests use it.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[h][i]` is the complete subtree of height `h` at index `i`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        MemoryTree::default()
    }

    /// A tree holding these leaf hashes, in order.
    pub fn from_leaf_hashes(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut tree = MemoryTree::new();
        for leaf in leaves {
            tree.push_leaf_hash(leaf);
        }
        tree
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends the leaf for `entry`.
    pub fn push_entry(&mut self, entry: &[u8]) {
        self.push_leaf_hash(leaf_hash(entry));
    }

    /// Appends a leaf given its hash, and every subtree it completes.
    pub fn push_leaf_hash(&mut self, leaf: Hash) {
        let mut level = 0;
        let mut hash = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(hash);
            let len = self.levels[level].len();
            if len % 2 == 1 {
                break;
            }
            hash = node_hash(&self.levels[level][len - 2], &self.levels[level][len - 1]);
            level += 1;
        }
    }

    /// Root of the whole tree.
    pub fn root(&self) -> Hash {
        tree_root(self, self.size()).expect("a memory tree holds every complete node of its size")
    }

    /// Hashes of complete subtrees at `level`, from `start`, at most `count` of them.
    pub fn level_hashes(&self, level: u32, start: u64, count: u64) -> &[Hash] {
        let Some(row) = self.levels.get(level as usize) else {
            return &[];
        };
        let start = usize::try_from(start).unwrap_or(usize::MAX).min(row.len());
        let end = start
            .saturating_add(usize::try_from(count).unwrap_or(usize::MAX))
            .min(row.len());
        &row[start..end]
    }
}

impl HashSource for MemoryTree {
    fn complete_node(&self, level: u32, index: u64) -> Result<Hash, ProofError> {
        self.levels
            .get(level as usize)
            .and_then(|row| row.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(ProofError::MissingNode { level, index })
    }
}

/// Largest power of two strictly below `n` (for `n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

fn check_size(size: u64) -> Result<(), ProofError> {
    if size > MAX_TREE_SIZE {
        Err(ProofError::OutOfRange(format!(
            "tree size {size} above limit {MAX_TREE_SIZE}"
        )))
    } else {
        Ok(())
    }
}

fn check_proof_len(proof: &[Hash]) -> Result<(), ProofError> {
    if proof.len() > MAX_PROOF_HASHES {
        Err(ProofError::TooLong {
            len: proof.len(),
            max: MAX_PROOF_HASHES,
        })
    } else {
        Ok(())
    }
}

/// `PATH(m, D[lo:hi])` from RFC 9162 section 2.1.3.1, with `m` relative to `lo`.
fn path<S: HashSource + ?Sized>(
    src: &S,
    m: u64,
    lo: u64,
    hi: u64,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = hi - lo;
    if n == 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path(src, m, lo, lo + k, out)?;
        out.push(range_hash(src, lo + k, hi)?);
    } else {
        path(src, m - k, lo + k, hi, out)?;
        out.push(range_hash(src, lo, lo + k)?);
    }
    Ok(())
}

/// `SUBPROOF(m, D[lo:hi], b)` from RFC 9162 section 2.1.4.1.
fn subproof<S: HashSource + ?Sized>(
    src: &S,
    m: u64,
    lo: u64,
    hi: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = hi - lo;
    if m == n {
        if !complete {
            out.push(range_hash(src, lo, hi)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(src, m, lo, lo + k, complete, out)?;
        out.push(range_hash(src, lo + k, hi)?);
    } else {
        subproof(src, m - k, lo + k, hi, false, out)?;
        out.push(range_hash(src, lo, lo + k)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
