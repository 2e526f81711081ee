//! RFC 6962 Merkle trees: hashing, tree heads, inclusion and consistency proofs, their verification, and a compact range that keeps a log's root.
//!
//! Hashing and proof construction follow RFC 6962 §2.1 exactly: a leaf hashes as
//! SHA-256(0x00 || data), an interior node as SHA-256(0x01 || left || right), the empty tree as
//! SHA-256(""), and a tree of n > 1 leaves splits at the largest power of two smaller than n.
//! Proofs are the PATH (§2.1.1) and PROOF (§2.1.2) lists. Verification is the algorithm of
//! RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency), which produce and check the same
//! lists, so an auditor can verify these proofs with any Certificate Transparency library.

use sha2::{Digest, Sha256};

/// A SHA-256 hash: of a leaf, of a subtree, or the root of a tree.
pub type Hash = [u8; 32];

/// The hash of a leaf: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// Why a tree, a proof or a compact range could not be computed or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("leaf {index} is needed for a tree of size {size} but is not available")]
    MissingLeaf { index: u64, size: u64 },
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the old tree size {old_size} is larger than the new tree size {new_size}")]
    SizesOutOfOrder { old_size: u64, new_size: u64 },
    #[error("the proof has more hashes than the tree sizes call for")]
    ProofTooLong,
    #[error("the proof has fewer hashes than the tree sizes call for")]
    ProofTooShort,
    #[error(
        "a consistency proof from size {old_size} to size {new_size} must be empty, but it has {len} hashes"
    )]
    ProofNotEmpty {
        old_size: u64,
        new_size: u64,
        len: usize,
    },
    #[error(
        "the inclusion proof leads to root {}, not to the expected root {}",
        hex::encode(.computed),
        hex::encode(.expected)
    )]
    RootMismatch { computed: Hash, expected: Hash },
    #[error(
        "the consistency proof leads to old root {}, not to the expected old root {}",
        hex::encode(.computed),
        hex::encode(.expected)
    )]
    OldRootMismatch { computed: Hash, expected: Hash },
    #[error(
        "the consistency proof leads to new root {}, not to the expected new root {}",
        hex::encode(.computed),
        hex::encode(.expected)
    )]
    NewRootMismatch { computed: Hash, expected: Hash },
    #[error(
        "two trees of the same size {size} have different roots {} and {}: the log has forked",
        hex::encode(.old_root),
        hex::encode(.new_root)
    )]
    RootsDifferAtSameSize {
        size: u64,
        old_root: Hash,
        new_root: Hash,
    },
    #[error("the tree is full: it cannot hold more than 2^64 - 1 leaves")]
    TreeFull,
    #[error(
        "compact range bytes must be 8 bytes of size and 32 bytes per subtree ({expected} bytes for this size), not {got} bytes"
    )]
    CompactRangeLength { expected: usize, got: usize },
}

/// Leaf hashes read by index, so proofs can be computed from storage without loading every leaf.
pub trait LeafHashes {
    /// The hash of leaf `index`, or `None` if it is not available.
    fn leaf(&self, index: u64) -> Option<Hash>;

    /// The root of the complete subtree of 2^`level` leaves starting at leaf `index << level`, if
    /// known without reading its leaves; lets a [`MemoryTree`] answer proofs in O(log² n).
    fn complete_subtree(&self, level: u32, index: u64) -> Option<Hash> {
        let _ = (level, index);
        None
    }
}

/// Every level of a tree kept in memory, so that roots and proofs take logarithmic work; for
/// building many proofs at once, e.g. an audit bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    /// `levels[0]` are the leaves; `levels[j][i]` is the root of leaves `i << j .. (i + 1) << j`,
    /// for complete subtrees only.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// The tree over `leaves`.
    pub fn new(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let above = below
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            levels.push(above);
        }
        Self { levels }
    }

    /// The hash of leaf `index`.
    pub fn leaf_hash_at(&self, index: u64) -> Option<Hash> {
        self.leaf(index)
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }
}

impl LeafHashes for MemoryTree {
    fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels.first()?.as_slice().leaf(index)
    }

    fn complete_subtree(&self, level: u32, index: u64) -> Option<Hash> {
        self.levels.get(level as usize)?.as_slice().leaf(index)
    }
}

impl LeafHashes for [Hash] {
    fn leaf(&self, index: u64) -> Option<Hash> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.get(i))
            .copied()
    }
}

impl LeafHashes for Vec<Hash> {
    fn leaf(&self, index: u64) -> Option<Hash> {
        self.as_slice().leaf(index)
    }
}

impl<T: LeafHashes + ?Sized> LeafHashes for &T {
    fn leaf(&self, index: u64) -> Option<Hash> {
        (**self).leaf(index)
    }
}

/// The largest power of two smaller than `n`, for `n >= 2`.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[start..start + len]) for a tree of `size` leaves (the size only names errors).
fn subtree_root<L: LeafHashes + ?Sized>(
    leaves: &L,
    start: u64,
    len: u64,
    size: u64,
) -> Result<Hash, MerkleError> {
    if len.is_power_of_two() && start.is_multiple_of(len) {
        if let Some(hash) =
            leaves.complete_subtree(len.trailing_zeros(), start >> len.trailing_zeros())
        {
            return Ok(hash);
        }
    } else if len > 1 && leaves.complete_subtree(0, start).is_some() {
        // Split as RFC 6962 does, so each part can be looked up whole.
        let k = split_point(len);
        let left = subtree_root(leaves, start, k, size)?;
        let right = subtree_root(leaves, start + k, len - k, size)?;
        return Ok(node_hash(&left, &right));
    }
    let mut range = CompactRange::new();
    for index in start..start + len {
        let hash = leaves
            .leaf(index)
            .ok_or(MerkleError::MissingLeaf { index, size })?;
        range.append(hash)?;
    }
    Ok(range.root())
}

/// The root (Merkle Tree Hash, RFC 6962 §2.1) of the first `size` leaves.
pub fn root<L: LeafHashes + ?Sized>(leaves: &L, size: u64) -> Result<Hash, MerkleError> {
    subtree_root(leaves, 0, size, size)
}

/// The inclusion proof PATH(index, D[size]) of RFC 6962 §2.1.1: the sibling hashes from the leaf
/// up to the root, lowest first.
pub fn inclusion_proof<L: LeafHashes + ?Sized>(
    leaves: &L,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(leaves, index, 0, size, size, &mut proof)?;
    Ok(proof)
}

/// PATH(m, D[start..start + n]), appended to `out`.
fn path<L: LeafHashes + ?Sized>(
    leaves: &L,
    m: u64,
    start: u64,
    n: u64,
    size: u64,
    out: &mut Vec<Hash>,
) -> Result<(), MerkleError> {
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path(leaves, m, start, k, size, out)?;
        out.push(subtree_root(leaves, start + k, n - k, size)?);
    } else {
        path(leaves, m - k, start + k, n - k, size, out)?;
        out.push(subtree_root(leaves, start, k, size)?);
    }
    Ok(())
}

/// The consistency proof PROOF(old_size, D[new_size]) of RFC 6962 §2.1.2. It is empty when the
/// sizes are equal or the old tree is empty, as nothing needs proving then.
pub fn consistency_proof<L: LeafHashes + ?Sized>(
    leaves: &L,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::SizesOutOfOrder { old_size, new_size });
    }
    let mut proof = Vec::new();
    if old_size > 0 && old_size < new_size {
        subproof(leaves, old_size, 0, new_size, true, new_size, &mut proof)?;
    }
    Ok(proof)
}

/// SUBPROOF(m, D[start..start + n], b), appended to `out`; requires 0 < m <= n.
fn subproof<L: LeafHashes + ?Sized>(
    leaves: &L,
    m: u64,
    start: u64,
    n: u64,
    b: bool,
    size: u64,
    out: &mut Vec<Hash>,
) -> Result<(), MerkleError> {
    if m == n {
        if !b {
            out.push(subtree_root(leaves, start, n, size)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(leaves, m, start, k, b, size, out)?;
        out.push(subtree_root(leaves, start + k, n - k, size)?);
    } else {
        subproof(leaves, m - k, start + k, n - k, false, size, out)?;
        out.push(subtree_root(leaves, start, k, size)?);
    }
    Ok(())
}

/// Checks that `proof` shows the leaf with hash `leaf_hash` at `index` in the tree of `size` leaves
/// with root `root` (RFC 9162 §2.1.3.2).
///
/// The root must come from a trusted (signed) tree head of that size: the proof alone does not
/// bind the size, and a proof can verify for another size whose path to the leaf has the same shape.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if s_n == 0 {
            return Err(MerkleError::ProofTooLong);
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
    if s_n != 0 {
        return Err(MerkleError::ProofTooShort);
    }
    if r != *root {
        return Err(MerkleError::RootMismatch {
            computed: r,
            expected: *root,
        });
    }
    Ok(())
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// RFC 9162 defines the check for 0 < old_size < new_size. For the other cases: equal sizes need an
/// empty proof and equal roots (different roots at one size are a fork); an empty old tree needs an
/// empty proof and the empty-tree root as its root.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(MerkleError::ProofNotEmpty {
                old_size,
                new_size,
                len: proof.len(),
            });
        }
        if old_size == new_size && old_root != new_root {
            return Err(MerkleError::RootsDifferAtSameSize {
                size: old_size,
                old_root: *old_root,
                new_root: *new_root,
            });
        }
        if old_size == 0 && *old_root != empty_root() {
            return Err(MerkleError::OldRootMismatch {
                computed: empty_root(),
                expected: *old_root,
            });
        }
        return Ok(());
    }
    // 1. An empty path fails.
    let Some((head, tail)) = proof.split_first() else {
        return Err(MerkleError::ProofTooShort);
    };
    // 2. If the old size is an exact power of 2, the old root is prepended to the path.
    let (first, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (head, tail)
    };
    // 3. and 4.
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // 5.
    let mut fr = *first;
    let mut sr = *first;
    // 6.
    for c in rest {
        if s_n == 0 {
            return Err(MerkleError::ProofTooLong);
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
    // 7.
    if s_n != 0 {
        return Err(MerkleError::ProofTooShort);
    }
    if fr != *old_root {
        return Err(MerkleError::OldRootMismatch {
            computed: fr,
            expected: *old_root,
        });
    }
    if sr != *new_root {
        return Err(MerkleError::NewRootMismatch {
            computed: sr,
            expected: *new_root,
        });
    }
    Ok(())
}

/// The right frontier of a tree: the roots of its complete subtrees, largest (leftmost) first,
/// one for each set bit of the size. It is enough to append leaves and compute the root without
/// re-reading earlier leaves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The range of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The range of the first `size` leaves.
    pub fn from_leaves<L: LeafHashes + ?Sized>(leaves: &L, size: u64) -> Result<Self, MerkleError> {
        let mut range = Self::new();
        for index in 0..size {
            let hash = leaves
                .leaf(index)
                .ok_or(MerkleError::MissingLeaf { index, size })?;
            range.append(hash)?;
        }
        Ok(range)
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The complete subtrees' roots, largest first.
    pub fn subtree_roots(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends the leaf with hash `leaf_hash`.
    pub fn append(&mut self, leaf_hash: Hash) -> Result<(), MerkleError> {
        let new_size = self.size.checked_add(1).ok_or(MerkleError::TreeFull)?;
        let mut hash = leaf_hash;
        // Each trailing one bit of the old size is a complete subtree of the same height as the
        // one being carried: merge them.
        for _ in 0..self.size.trailing_ones() {
            let left = self
                .hashes
                .pop()
                .expect("a compact range holds one hash per set bit of its size");
            hash = node_hash(&left, &hash);
        }
        self.hashes.push(hash);
        self.size = new_size;
        Ok(())
    }

    /// The root of the tree: the subtrees' roots folded from the right.
    pub fn root(&self) -> Hash {
        let mut hashes = self.hashes.iter().rev();
        let Some(last) = hashes.next() else {
            return empty_root();
        };
        hashes.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// The bytes to store: the size as 8 bytes big-endian, then each subtree root, largest first.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(8 + 32 * self.hashes.len());
        bytes.extend_from_slice(&self.size.to_be_bytes());
        for hash in &self.hashes {
            bytes.extend_from_slice(hash);
        }
        bytes
    }

    /// Reads the bytes of [`CompactRange::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MerkleError> {
        let Some((size_bytes, rest)) = bytes.split_first_chunk::<8>() else {
            return Err(MerkleError::CompactRangeLength {
                expected: 8,
                got: bytes.len(),
            });
        };
        let size = u64::from_be_bytes(*size_bytes);
        let count = size.count_ones() as usize;
        if rest.len() != 32 * count {
            return Err(MerkleError::CompactRangeLength {
                expected: 8 + 32 * count,
                got: bytes.len(),
            });
        }
        let hashes = rest
            .chunks_exact(32)
            .map(|chunk| {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(chunk);
                hash
            })
            .collect();
        Ok(Self { size, hashes })
    }
}

#[cfg(test)]
mod memory_tree_tests {
    use super::*;

    #[test]
    fn memory_tree_gives_the_same_roots_and_proofs_as_reading_every_leaf() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for n in 1..=leaves.len() as u64 {
            let plain = leaves[..n as usize].to_vec();
            let tree = MemoryTree::new(plain.clone());
            assert_eq!(tree.size(), n);
            assert_eq!(root(&tree, n), root(&plain, n));
            for m in 0..n {
                assert_eq!(
                    inclusion_proof(&tree, m, n),
                    inclusion_proof(&plain, m, n),
                    "PATH({m}, {n})"
                );
                assert_eq!(
                    consistency_proof(&tree, m, n),
                    consistency_proof(&plain, m, n),
                    "PROOF({m}, {n})"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(text: &str) -> Hash {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(text, &mut hash).unwrap();
        hash
    }

    // The test tree of transparency-dev/merkle proof/verify_test.go (also used by
    // google/certificate-transparency's merkle_tree_test.cc): eight leaves and the roots of
    // its prefixes of sizes 1 to 8.
    fn vector_leaves() -> Vec<Hash> {
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
        .map(|data| leaf_hash(&hex::decode(data).unwrap()))
        .collect()
    }

    const VECTOR_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn vector_root(size: u64) -> Hash {
        h(VECTOR_ROOTS[size as usize - 1])
    }

    /// 64 distinct leaves for the exhaustive tests.
    fn many_leaves() -> Vec<Hash> {
        (0..64u32)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    fn flip(hash: &Hash) -> Hash {
        let mut flipped = *hash;
        flipped[0] ^= 0x10;
        flipped
    }

    #[test]
    fn hashes_match_the_rfc6962_vectors() {
        // transparency-dev/merkle rfc6962/rfc6962_test.go.
        assert_eq!(
            empty_root(),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            leaf_hash(b""),
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
        assert_eq!(
            leaf_hash(b"L123456"),
            h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
        );
        let (a, b) = (leaf_hash(b"Hello"), leaf_hash(b"World"));
        assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
        let mut both = a.to_vec();
        both.extend_from_slice(&b);
        assert_ne!(node_hash(&a, &b), leaf_hash(&both));
    }

    #[test]
    fn roots_match_the_published_vectors() {
        let leaves = vector_leaves();
        assert_eq!(root(&leaves, 0), Ok(empty_root()));
        let mut range = CompactRange::new();
        for size in 1..=8u64 {
            assert_eq!(root(&leaves, size), Ok(vector_root(size)), "size {size}");
            range.append(leaves[size as usize - 1]).unwrap();
            assert_eq!(
                range.root(),
                vector_root(size),
                "compact range, size {size}"
            );
        }
    }

    #[test]
    fn inclusion_proofs_match_the_published_vectors() {
        let leaves = vector_leaves();
        // (index, size, proof) from transparency-dev/merkle proof/verify_test.go, whose leaf
        // numbers are one-based.
        let vectors: [(u64, u64, &[&str]); 5] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (0, 1, &[]),
        ];
        for (index, size, expected) in vectors {
            let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
            let proof = inclusion_proof(&leaves, index, size).unwrap();
            assert_eq!(proof, expected, "index {index}, size {size}");
            verify_inclusion(
                &leaves[index as usize],
                index,
                size,
                &proof,
                &vector_root(size),
            )
            .unwrap();
        }
    }

    #[test]
    fn consistency_proofs_match_the_published_vectors() {
        let leaves = vector_leaves();
        let vectors: [(u64, u64, &[&str]); 5] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                6,
                7,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (old_size, new_size, expected) in vectors {
            let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
            let proof = consistency_proof(&leaves, old_size, new_size).unwrap();
            assert_eq!(proof, expected, "{old_size} -> {new_size}");
            verify_consistency(
                old_size,
                new_size,
                &vector_root(old_size),
                &vector_root(new_size),
                &proof,
            )
            .unwrap();
        }
    }

    #[test]
    fn every_inclusion_proof_up_to_64_leaves_verifies_and_fails_when_tampered() {
        let leaves = many_leaves();
        let roots: Vec<Hash> = (0..=64).map(|n| root(&leaves, n).unwrap()).collect();
        let other_leaf = leaf_hash(b"not a leaf");
        for size in 1..=64u64 {
            let root_n = roots[size as usize];
            for index in 0..size {
                let leaf = leaves[index as usize];
                let proof = inclusion_proof(&leaves, index, size).unwrap();
                let ok = |leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash| {
                    verify_inclusion(leaf, index, size, proof, root).is_ok()
                };
                assert!(ok(&leaf, index, size, &proof, &root_n), "{index} in {size}");

                assert!(!ok(&other_leaf, index, size, &proof, &root_n));
                assert!(!ok(&flip(&leaf), index, size, &proof, &root_n));
                assert!(!ok(&leaf, index, size, &proof, &flip(&root_n)));
                for other_index in (0..=size).filter(|&i| i != index) {
                    assert!(
                        !ok(&leaf, other_index, size, &proof, &root_n),
                        "{index} in {size} passed as {other_index}"
                    );
                }
                // Against the real root of any other size.
                for other_size in (index + 1..=64).filter(|&n| n != size) {
                    assert!(
                        !ok(
                            &leaf,
                            index,
                            other_size,
                            &proof,
                            &roots[other_size as usize]
                        ),
                        "{index} in {size} passed in size {other_size}"
                    );
                }
                assert!(!ok(&leaf, index, size * 2, &proof, &root_n));
                assert!(!ok(&leaf, index, 0, &proof, &root_n));
                for i in 0..proof.len() {
                    let mut tampered = proof.clone();
                    tampered[i] = flip(&tampered[i]);
                    assert!(!ok(&leaf, index, size, &tampered, &root_n), "element {i}");
                    let mut shorter = proof.clone();
                    shorter.remove(i);
                    assert!(!ok(&leaf, index, size, &shorter, &root_n));
                }
                let mut longer = proof.clone();
                longer.push(root_n);
                assert!(!ok(&leaf, index, size, &longer, &root_n));
                let mut longer = vec![leaf];
                longer.extend_from_slice(&proof);
                assert!(!ok(&leaf, index, size, &longer, &root_n));
            }
        }
    }

    #[test]
    fn an_inclusion_proof_does_not_bind_the_tree_size_on_its_own() {
        // Leaf 4 has the same path shape in trees of 7 and 8 leaves, so the size-7 proof checks out
        // against the size-7 root claimed at size 8. A signed tree head binds root and size.
        let leaves = many_leaves();
        let proof = inclusion_proof(&leaves, 4, 7).unwrap();
        let root7 = root(&leaves, 7).unwrap();
        assert_eq!(verify_inclusion(&leaves[4], 4, 8, &proof, &root7), Ok(()));
        let root8 = root(&leaves, 8).unwrap();
        assert!(verify_inclusion(&leaves[4], 4, 8, &proof, &root8).is_err());
    }

    #[test]
    fn every_consistency_proof_up_to_64_leaves_verifies_and_fails_when_tampered() {
        let leaves = many_leaves();
        let roots: Vec<Hash> = (0..=64).map(|n| root(&leaves, n).unwrap()).collect();
        for new_size in 1..=64u64 {
            let new_root = roots[new_size as usize];
            assert_eq!(consistency_proof(&leaves, 0, new_size), Ok(vec![]));
            verify_consistency(0, new_size, &empty_root(), &new_root, &[]).unwrap();
            assert!(verify_consistency(0, new_size, &new_root, &new_root, &[]).is_err());
            assert!(
                verify_consistency(0, new_size, &empty_root(), &new_root, &[new_root]).is_err()
            );

            for old_size in 1..=new_size {
                let old_root = roots[old_size as usize];
                let proof = consistency_proof(&leaves, old_size, new_size).unwrap();
                let ok = |old_size: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]| {
                    verify_consistency(old_size, new_size, old_root, new_root, proof).is_ok()
                };
                assert!(
                    ok(old_size, &old_root, &new_root, &proof),
                    "{old_size} -> {new_size}"
                );
                assert_eq!(proof.is_empty(), old_size == new_size);

                assert!(!ok(old_size, &flip(&old_root), &new_root, &proof));
                assert!(!ok(old_size, &old_root, &flip(&new_root), &proof));
                if old_size != new_size {
                    assert!(!ok(old_size, &new_root, &old_root, &proof), "swapped roots");
                }
                for other in (1..=new_size).filter(|&m| m != old_size) {
                    assert!(
                        !ok(other, &roots[other as usize], &new_root, &proof),
                        "{old_size} -> {new_size} passed from {other}"
                    );
                }
                // Against the real root of any other new size.
                for other in (old_size..=64).filter(|&n| n != new_size) {
                    assert!(
                        verify_consistency(
                            old_size,
                            other,
                            &old_root,
                            &roots[other as usize],
                            &proof
                        )
                        .is_err(),
                        "{old_size} -> {new_size} passed to {other}"
                    );
                }
                for i in 0..proof.len() {
                    let mut tampered = proof.clone();
                    tampered[i] = flip(&tampered[i]);
                    assert!(
                        !ok(old_size, &old_root, &new_root, &tampered),
                        "element {i}"
                    );
                    let mut shorter = proof.clone();
                    shorter.remove(i);
                    assert!(!ok(old_size, &old_root, &new_root, &shorter));
                }
                for extra in [old_root, new_root, [0u8; 32]] {
                    let mut longer = proof.clone();
                    longer.push(extra);
                    assert!(!ok(old_size, &old_root, &new_root, &longer));
                    let mut longer = vec![extra];
                    longer.extend_from_slice(&proof);
                    assert!(!ok(old_size, &old_root, &new_root, &longer));
                }
            }
        }
    }

    #[test]
    fn a_same_size_fork_and_a_rollback_are_named() {
        let leaves = many_leaves();
        let root5 = root(&leaves, 5).unwrap();
        let root6 = root(&leaves, 6).unwrap();
        assert!(matches!(
            verify_consistency(5, 5, &root5, &root6, &[]),
            Err(MerkleError::RootsDifferAtSameSize { size: 5, .. })
        ));
        assert!(matches!(
            verify_consistency(6, 5, &root6, &root5, &[]),
            Err(MerkleError::SizesOutOfOrder {
                old_size: 6,
                new_size: 5
            })
        ));
        assert_eq!(
            consistency_proof(&leaves, 6, 5),
            Err(MerkleError::SizesOutOfOrder {
                old_size: 6,
                new_size: 5
            })
        );
    }

    #[test]
    fn proofs_name_missing_leaves_and_bad_indexes() {
        let leaves = many_leaves();
        assert_eq!(
            root(&leaves, 65),
            Err(MerkleError::MissingLeaf {
                index: 64,
                size: 65
            })
        );
        assert_eq!(
            inclusion_proof(&leaves, 3, 3),
            Err(MerkleError::IndexOutOfRange { index: 3, size: 3 })
        );
        assert_eq!(
            inclusion_proof(&leaves, 0, 100),
            Err(MerkleError::MissingLeaf {
                index: 64,
                size: 100
            })
        );
        assert!(consistency_proof(&leaves, 3, 100).is_err());
        assert_eq!(
            verify_inclusion(&leaves[0], 0, 0, &[], &empty_root()),
            Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
        );
    }

    #[test]
    fn compact_range_root_equals_the_tree_root_at_every_size_and_round_trips() {
        let leaves: Vec<Hash> = (0..300u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut range = CompactRange::new();
        assert_eq!(range.root(), empty_root());
        for size in 0..=300u64 {
            if size > 0 {
                range.append(leaves[size as usize - 1]).unwrap();
            }
            assert_eq!(range.size(), size);
            assert_eq!(range.subtree_roots().len(), size.count_ones() as usize);
            assert_eq!(range.root(), root(&leaves, size).unwrap(), "size {size}");
            let bytes = range.to_bytes();
            assert_eq!(bytes.len(), 8 + 32 * size.count_ones() as usize);
            assert_eq!(CompactRange::from_bytes(&bytes).as_ref(), Ok(&range));
            assert_eq!(
                CompactRange::from_leaves(&leaves, size).as_ref(),
                Ok(&range)
            );
        }
    }

    #[test]
    fn compact_range_bytes_of_the_wrong_length_are_refused() {
        let leaves = many_leaves();
        let bytes = CompactRange::from_leaves(&leaves, 7).unwrap().to_bytes();
        assert_eq!(bytes.len(), 8 + 3 * 32);
        for len in [0, 7, 8, 8 + 32, bytes.len() - 1] {
            assert!(
                matches!(
                    CompactRange::from_bytes(&bytes[..len]),
                    Err(MerkleError::CompactRangeLength { .. })
                ),
                "{len} bytes"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(CompactRange::from_bytes(&longer).is_err());
    }

    #[test]
    fn a_full_compact_range_refuses_to_grow() {
        let mut bytes = u64::MAX.to_be_bytes().to_vec();
        bytes.extend(std::iter::repeat_n(7u8, 64 * 32));
        let mut range = CompactRange::from_bytes(&bytes).unwrap();
        assert_eq!(range.append([0; 32]), Err(MerkleError::TreeFull));
        assert_eq!(range.size(), u64::MAX);
    }
}
