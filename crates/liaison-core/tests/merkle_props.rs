//! Properties of RFC 6962 trees over random leaves: proofs verify, and tampered ones do not.

use liaison_core::merkle::{
    CompactRange, Hash, consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency,
    verify_inclusion,
};
use proptest::prelude::*;

/// Random leaf data, and sizes 1 <= m <= n <= the number of leaves.
fn tree_and_sizes() -> impl Strategy<Value = (Vec<Vec<u8>>, u64, u64)> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..300).prop_flat_map(|data| {
        let len = data.len() as u64;
        (Just(data), 1..=len).prop_flat_map(|(data, n)| (Just(data), 1..=n, Just(n)))
    })
}

fn hashes(data: &[Vec<u8>]) -> Vec<Hash> {
    data.iter().map(|d| leaf_hash(d)).collect()
}

proptest! {
    #[test]
    fn consistency_proofs_verify_and_a_different_old_root_fails(
        (data, m, n) in tree_and_sizes(),
        changed in any::<prop::sample::Index>(),
    ) {
        let leaves = hashes(&data);
        let old_root = root(&leaves, m).unwrap();
        let new_root = root(&leaves, n).unwrap();
        let proof = consistency_proof(&leaves, m, n).unwrap();
        prop_assert_eq!(verify_consistency(m, n, &old_root, &new_root, &proof), Ok(()));

        // The old tree with one of its leaves rewritten is not a prefix of the new tree.
        let mut forked = leaves.clone();
        let i = changed.index(m as usize);
        forked[i] = leaf_hash(&[data[i].as_slice(), b"rewritten"].concat());
        let forked_root = root(&forked, m).unwrap();
        prop_assert!(verify_consistency(m, n, &forked_root, &new_root, &proof).is_err());
        // Nor does the new tree with a rewritten old leaf extend the old tree.
        let forked_new_root = root(&forked, n).unwrap();
        prop_assert!(verify_consistency(m, n, &old_root, &forked_new_root, &proof).is_err());
        // And the proof between the forks does not pass for the originals.
        if m < n {
            let forked_proof = consistency_proof(&forked, m, n).unwrap();
            let verified = verify_consistency(m, n, &old_root, &new_root, &forked_proof).is_ok();
            prop_assert!(!verified || forked_proof == proof);
        }
    }

    #[test]
    fn inclusion_proofs_verify_and_another_leaf_fails(
        (data, index, n) in tree_and_sizes(),
        other in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let leaves = hashes(&data);
        let index = index - 1;
        let tree_root = root(&leaves, n).unwrap();
        let proof = inclusion_proof(&leaves, index, n).unwrap();
        let leaf = leaves[index as usize];
        prop_assert_eq!(verify_inclusion(&leaf, index, n, &proof, &tree_root), Ok(()));
        prop_assume!(other != data[index as usize]);
        prop_assert!(verify_inclusion(&leaf_hash(&other), index, n, &proof, &tree_root).is_err());
    }

    #[test]
    fn compact_range_keeps_the_root_and_survives_its_bytes((data, m, n) in tree_and_sizes()) {
        let leaves = hashes(&data);
        let mut range = CompactRange::from_leaves(&leaves, m).unwrap();
        let stored = CompactRange::from_bytes(&range.to_bytes()).unwrap();
        prop_assert_eq!(&stored, &range);
        for leaf in &leaves[m as usize..n as usize] {
            range.append(*leaf).unwrap();
        }
        prop_assert_eq!(range.size(), n);
        prop_assert_eq!(range.root(), root(&leaves, n).unwrap());
    }
}
