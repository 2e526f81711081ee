//! The node's log: its checkpoints and their consistency, the leaf range the bundle covers, and the
//! inclusion of every leaf in the bundle's checkpoint.

use std::collections::BTreeMap;

use crate::CountyCode;
use crate::audit::OmittedLeaf;
use crate::checkpoint::{
    Checkpoint, CheckpointError, NoteError, NoteVerifierKey, open_signed_checkpoint,
};
use crate::merkle::{Hash, MerkleError, verify_consistency, verify_inclusion};
use crate::tlog::{Leaf, LeafKind, content_hash};

use super::{Content, Key, Verifier, quote};

/// Missing leaves are named one by one up to this many in a row; a longer gap is one failure.
const MAX_GAP_NAMED: u64 = 10;

impl Verifier<'_> {
    /// Opens a checkpoint of the node's log with one of the node's keys.
    pub(super) fn open_node_checkpoint(&mut self, note: &str) -> Result<Checkpoint, String> {
        let Some(node) = self.node else {
            return Err("the node's county is not a county code, so no key can open it".into());
        };
        let (opened, problem) = open_with_keys(note, node, &self.keys);
        match opened {
            Some((checkpoint, index)) => {
                if let Some(uses) = self.checkpoint_uses.get_mut(index) {
                    *uses += 1;
                }
                Ok(checkpoint)
            }
            None => Err(problem),
        }
    }

    pub(super) fn check_checkpoints(&mut self) {
        let b = self.bundle;
        match self.open_node_checkpoint(&b.checkpoint) {
            Ok(cp) => {
                if cp.origin != b.node.origin {
                    self.fail(
                        (1, 0),
                        "checkpoint",
                        format!(
                            "its origin {:?} is not the bundle's node origin {}",
                            cp.origin,
                            quote(&b.node.origin)
                        ),
                    );
                }
                self.proven.push((cp.size, cp.root));
                self.checkpoint = Some(cp);
            }
            Err(problem) => {
                self.fail((1, 0), "checkpoint", format!("does not open: {problem}"));
                self.notes.push(
                    "The bundle's checkpoint did not open, so no inclusion or consistency proof could be checked."
                        .into(),
                );
            }
        }
        for (i, earlier) in b.earlier_checkpoints.iter().enumerate() {
            let item = format!("earlier_checkpoints[{i}]");
            let order = (1, i as u64 + 1);
            let old = match self.open_node_checkpoint(&earlier.checkpoint) {
                Ok(old) => old,
                Err(problem) => {
                    self.fail(order, item, format!("does not open: {problem}"));
                    continue;
                }
            };
            let Some(new) = self.checkpoint.clone() else {
                continue;
            };
            if old.size > new.size {
                self.fail(
                    order,
                    item,
                    format!(
                        "its tree of {} leaves is larger than the bundle checkpoint's {}: the log was rolled back",
                        old.size, new.size
                    ),
                );
                continue;
            }
            let proof = match parse_hashes(&earlier.consistency_proof, "consistency_proof") {
                Ok(proof) => proof,
                Err(problem) => {
                    self.fail(order, item, problem);
                    continue;
                }
            };
            match verify_consistency(old.size, new.size, &old.root, &new.root, &proof) {
                Ok(()) => self.proven.push((old.size, old.root)),
                Err(e) => self.fail(
                    order,
                    item,
                    format!(
                        "the bundle checkpoint (size {}) does not extend it (size {}): {}",
                        new.size,
                        old.size,
                        consistency_problem(&e)
                    ),
                ),
            }
        }
    }

    pub(super) fn check_range(&mut self) {
        let b = self.bundle;
        let (first, last) = (b.first_leaf, b.last_leaf);
        // An empty range (`first_leaf` = `last_leaf` + 1) says the period holds no leaf.
        let empty = last.checked_add(1) == Some(first);
        if first > last && !empty {
            self.fail_bundle(
                "bundle",
                format!("first_leaf {first} is after last_leaf {last}"),
            );
        }
        if let Some(size) = self.checkpoint.as_ref().map(|c| c.size) {
            if !empty && last >= size {
                self.fail_bundle(
                    "bundle",
                    format!(
                        "last_leaf {last} is not inside the checkpoint's tree of {size} leaves"
                    ),
                );
            } else if empty && first > size {
                self.fail_bundle(
                    "bundle",
                    format!(
                        "the empty range at first_leaf {first} is not inside the checkpoint's tree of {size} leaves"
                    ),
                );
            }
        }
        let mut seen: BTreeMap<u64, String> = BTreeMap::new();
        let places = b
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| (item.leaf_index, format!("items[{i}]")))
            .chain(
                b.omitted
                    .iter()
                    .enumerate()
                    .map(|(i, o)| (o.leaf_index, format!("omitted[{i}]"))),
            );
        for (leaf, place) in places {
            if leaf < first || leaf > last {
                self.fail_leaf(
                    leaf,
                    format!("leaf {leaf} ({place})"),
                    format!("outside the bundle's leaf range {first} to {last}"),
                );
            }
            if let Some(other) = seen.get(&leaf) {
                self.fail_leaf(
                    leaf,
                    format!("leaf {leaf} ({place})"),
                    format!("given twice: {other} is the same leaf"),
                );
            } else {
                seen.insert(leaf, place);
            }
        }
        if first > last {
            return;
        }
        // The gaps between the leaves given, within first..=last.
        let mut next = Some(first);
        let given: Vec<u64> = seen.range(first..=last).map(|(leaf, _)| *leaf).collect();
        for leaf in given.into_iter().map(Some).chain([None]) {
            let Some(expected) = next else { break };
            let gap_end = match leaf {
                Some(leaf) if leaf > expected => Some(leaf - 1),
                Some(_) => None,
                None => Some(last),
            };
            if let Some(end) = gap_end {
                self.missing(expected, end);
            }
            next = match leaf {
                Some(leaf) => leaf.checked_add(1).filter(|n| *n <= last),
                None => None,
            };
        }
    }

    pub(super) fn missing(&mut self, from: u64, to: u64) {
        const WHY: &str =
            "missing: it is inside the bundle's leaf range but neither in items nor in omitted";
        if to - from < MAX_GAP_NAMED {
            for leaf in from..=to {
                self.fail_leaf(leaf, format!("leaf {leaf}"), WHY);
            }
        } else {
            self.fail_leaf(
                from,
                format!("leaves {from} to {to}"),
                format!("{} leaves {WHY}", u128::from(to - from) + 1),
            );
        }
    }

    pub(super) fn check_inclusion_of_item(&mut self, i: usize) {
        let item = &self.items[i];
        let (Some(kind), Some(signed), Some(signature)) =
            (item.kind, &item.signed, &item.signature)
        else {
            return;
        };
        let (leaf, label) = (item.leaf, item.label.clone());
        if u32::try_from(signed.len()).is_err() {
            self.fail_leaf(
                leaf,
                label,
                "signed is longer than a leaf can record (2^32 - 1 bytes)",
            );
            return;
        }
        let content = content_hash(signed, signature);
        // The county the leaf names must be the one its signed bytes name.
        let named = match (&item.content, kind) {
            (Content::Notice(h), LeafKind::SentNotice) => Some(h.recipient),
            (Content::Notice(h), _) => Some(h.sender),
            (Content::Receipt(r), LeafKind::IssuedReceipt) => r.sender,
            (Content::Receipt(r), _) => Some(r.recipient),
            (Content::Unreadable, _) => None,
        };
        let given = &self.bundle.items[i];
        let logged_at_ms = given.logged_at_ms;
        let Ok(counterparty) = CountyCode::parse(&given.counterparty) else {
            self.fail_leaf(
                leaf,
                label,
                format!(
                    "counterparty {} is not a county code",
                    quote(&given.counterparty)
                ),
            );
            return;
        };
        if let Some(named) = named
            && named != counterparty
        {
            let whom = match kind {
                LeafKind::SentNotice => "the notice's recipient",
                LeafKind::ReceivedNotice => "the notice's sender",
                LeafKind::IssuedReceipt => "the sender of the notice it answers",
                LeafKind::ReceivedReceipt => "the county that signed it",
            };
            self.fail_leaf(
                leaf,
                label.clone(),
                format!("counterparty {counterparty} is not {whom}, {named}"),
            );
        }
        let hash = Leaf {
            kind,
            logged_at_ms,
            counterparty,
            content,
        }
        .hash();
        let proof = &self.bundle.items.get(i).map(|b| &b.inclusion_proof);
        if let Some(proof) = proof {
            self.check_inclusion(leaf, &label, &hash, proof);
        }
    }

    pub(super) fn check_inclusion(
        &mut self,
        leaf: u64,
        label: &str,
        hash: &Hash,
        proof: &[String],
    ) {
        let Some(cp) = &self.checkpoint else {
            return;
        };
        let (size, root) = (cp.size, cp.root);
        let proof = match parse_hashes(proof, "inclusion_proof") {
            Ok(proof) => proof,
            Err(problem) => {
                self.fail_leaf(leaf, label, problem);
                return;
            }
        };
        if let Err(e) = verify_inclusion(hash, leaf, size, &proof, &root) {
            self.fail_leaf(leaf, label, inclusion_problem(&e, leaf, size));
        }
    }

    pub(super) fn check_omitted(&mut self) {
        let omitted = &self.bundle.omitted;
        for o in omitted {
            let leaf = o.leaf_index;
            let label = format!("leaf {leaf} (omitted)");
            match self.peer {
                None => self.fail_leaf(
                    leaf,
                    &label,
                    "the bundle names no peer, so it must give every leaf of its range in full",
                ),
                Some(peer) if o.counterparty == peer => self.fail_leaf(
                    leaf,
                    &label,
                    format!(
                        "it concerns {peer}, the bundle's peer: a bundle for one peer must give \
                         every leaf of that peer in full"
                    ),
                ),
                Some(_) => {}
            }
            self.check_shown_leaf(o, &label);
        }
    }

    /// Checks a leaf given by its parts (an omitted leaf, or one just outside the range): the
    /// parts make a leaf, and that leaf is in the checkpoint's tree at its index.
    pub(super) fn check_shown_leaf(&mut self, o: &OmittedLeaf, label: &str) -> Option<Leaf> {
        let leaf = o.leaf_index;
        match parse_leaf(o) {
            Ok(parsed) => {
                self.check_inclusion(leaf, label, &parsed.hash(), &o.inclusion_proof);
                Some(parsed)
            }
            Err(problem) => {
                self.fail_leaf(leaf, label, problem);
                None
            }
        }
    }
}

/// The leaf an omitted leaf's parts describe, or what is wrong with them.
fn parse_leaf(o: &OmittedLeaf) -> Result<Leaf, String> {
    let kind = LeafKind::ALL
        .into_iter()
        .find(|k| k.name() == o.kind)
        .ok_or_else(|| {
            format!(
                "kind {} is not sent_notice, received_notice, issued_receipt or received_receipt",
                quote(&o.kind)
            )
        })?;
    let counterparty = CountyCode::parse(&o.counterparty).map_err(|_| {
        format!(
            "counterparty {} is not a county code",
            quote(&o.counterparty)
        )
    })?;
    let content = parse_hash(&o.content_hash).ok_or_else(|| {
        format!(
            "content_hash {} is not 32 bytes of hex",
            quote(&o.content_hash)
        )
    })?;
    if o.logged_at_ms < 0 {
        return Err(format!(
            "logged_at_ms {} is before 1970: a leaf's time is never negative",
            o.logged_at_ms
        ));
    }
    Ok(Leaf {
        kind,
        logged_at_ms: o.logged_at_ms,
        counterparty,
        content,
    })
}

/// Opens a checkpoint of `county`'s log with whichever of its keys signed it: the checkpoint and
/// the key's index, or why none did.
pub(super) fn open_with_keys(
    note: &str,
    county: CountyCode,
    keys: &[Option<Key>],
) -> (Option<(Checkpoint, usize)>, String) {
    let code = county.to_string();
    let mut labels = Vec::new();
    let mut problem = None;
    for (i, key) in keys.iter().enumerate() {
        let Some(key) = key.as_ref().filter(|k| k.county == code) else {
            continue;
        };
        let verifier = match NoteVerifierKey::for_county(county, key.key) {
            Ok(v) => v,
            Err(e) => {
                problem.get_or_insert_with(|| format!("{county}'s key {}: {e}", key.id));
                continue;
            }
        };
        labels.push(format!("{}+{:08x}", verifier.name(), verifier.key_id()));
        match open_signed_checkpoint(note, &verifier) {
            Ok(checkpoint) => return (Some((checkpoint, i)), String::new()),
            Err(CheckpointError::Note(NoteError::NotSignedByKey { .. })) => {}
            Err(e) => {
                problem.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let problem = problem.unwrap_or_else(|| {
        if labels.is_empty() {
            format!("the bundle lists no key of {county}")
        } else {
            format!(
                "it carries no signature by {county}'s keys in the bundle ({})",
                labels.join(", ")
            )
        }
    });
    (None, problem)
}

pub(super) fn parse_hash(text: &str) -> Option<Hash> {
    let mut hash = [0u8; 32];
    if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}

pub(super) fn parse_hashes(texts: &[String], field: &str) -> Result<Vec<Hash>, String> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            parse_hash(text).ok_or_else(|| {
                format!(
                    "{field}[{i}] {} is not a hash: 64 lowercase hex digits",
                    quote(text)
                )
            })
        })
        .collect()
}

pub(super) fn inclusion_problem(e: &MerkleError, leaf: u64, size: u64) -> String {
    match e {
        MerkleError::RootMismatch { .. } => format!(
            "its inclusion proof does not lead to the checkpoint's root: the node's log does not hold these bytes at leaf {leaf}"
        ),
        MerkleError::IndexOutOfRange { .. } => {
            format!("leaf {leaf} is not inside the checkpoint's tree of {size} leaves")
        }
        MerkleError::ProofTooLong | MerkleError::ProofTooShort => format!(
            "its inclusion proof has the wrong number of hashes for leaf {leaf} of a tree of {size} leaves"
        ),
        other => format!("its inclusion proof does not verify: {other}"),
    }
}

pub(super) fn consistency_problem(e: &MerkleError) -> String {
    match e {
        MerkleError::RootsDifferAtSameSize { .. } => e.to_string(),
        MerkleError::OldRootMismatch { .. } | MerkleError::NewRootMismatch { .. } => format!(
            "the consistency proof does not connect the two roots, so the log was not only appended to between them (or the proof is wrong): {e}"
        ),
        other => format!("the consistency proof does not verify: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{self, NODE, key, node_checkpoint, node_key, problems};
    use super::super::verify_bundle;
    use super::*;
    use crate::audit::{Bundle, OmittedLeaf};

    const MISSING: &str =
        "missing: it is inside the bundle's leaf range but neither in items nor in omitted";

    /// The failures of the range check alone, without a checkpoint.
    fn range_failures(bundle: &Bundle) -> Vec<(String, String)> {
        let mut v = Verifier::new(bundle, None);
        v.check_range();
        v.failures
            .into_iter()
            .map(|(_, f)| (f.item, f.problem))
            .collect()
    }

    /// The failures of the checkpoint checks alone.
    fn checkpoint_failures(bundle: &Bundle) -> Vec<(String, String)> {
        let mut v = Verifier::new(bundle, None);
        v.check_header();
        v.load_keys();
        v.check_checkpoints();
        v.failures
            .into_iter()
            .map(|(_, f)| (f.item, f.problem))
            .collect()
    }

    fn pair(item: &str, problem: &str) -> (String, String) {
        (item.to_owned(), problem.to_owned())
    }

    #[test]
    fn a_gap_of_up_to_ten_leaves_names_each_leaf() {
        let mut bundle = fixture::bundle();
        bundle.last_leaf = 13;
        let failures = range_failures(&bundle);
        let expected: Vec<_> = (4..=13)
            .map(|leaf| pair(&format!("leaf {leaf}"), MISSING))
            .collect();
        assert_eq!(failures, expected);
    }

    #[test]
    fn a_gap_of_more_than_ten_leaves_is_one_failure() {
        let mut bundle = fixture::bundle();
        bundle.last_leaf = 14;
        assert_eq!(
            range_failures(&bundle),
            [pair("leaves 4 to 14", &format!("11 leaves {MISSING}"))]
        );
    }

    #[test]
    fn a_gap_inside_the_range_is_named() {
        let mut bundle = fixture::bundle();
        bundle.items.remove(1);
        assert_eq!(range_failures(&bundle), [pair("leaf 1", MISSING)]);
    }

    #[test]
    fn a_leaf_given_twice_is_named_at_its_second_place() {
        let mut bundle = fixture::bundle();
        let again = bundle.items[0].clone();
        bundle.items.push(again);
        assert_eq!(
            range_failures(&bundle),
            [pair(
                "leaf 0 (items[4])",
                "given twice: items[0] is the same leaf"
            )]
        );
    }

    #[test]
    fn a_leaf_outside_the_range_is_named() {
        let mut bundle = fixture::bundle();
        bundle.first_leaf = 1;
        assert_eq!(
            range_failures(&bundle),
            [pair(
                "leaf 0 (items[0])",
                "outside the bundle's leaf range 1 to 3"
            )]
        );
    }

    #[test]
    fn a_range_that_ends_before_it_starts_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.first_leaf = 3;
        bundle.last_leaf = 1;
        let failures = range_failures(&bundle);
        assert_eq!(
            failures[0],
            pair("bundle", "first_leaf 3 is after last_leaf 1")
        );
    }

    #[test]
    fn a_range_beyond_the_checkpoint_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.last_leaf = 4;
        let report = verify_bundle(&bundle);
        assert_eq!(
            problems(&report, "bundle"),
            ["last_leaf 4 is not inside the checkpoint's tree of 4 leaves"]
        );
        assert_eq!(problems(&report, "leaf 4"), [MISSING]);
    }

    #[test]
    fn the_fixture_checkpoints_open_and_are_consistent() {
        let bundle = fixture::bundle();
        let mut v = Verifier::new(&bundle, None);
        v.check_header();
        v.load_keys();
        v.check_checkpoints();
        assert!(v.failures.is_empty());
        let sizes: Vec<u64> = v.proven.iter().map(|(size, _)| *size).collect();
        assert_eq!(sizes, [4, 3]);
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_does_not_open() {
        let log = fixture::log();
        let mut bundle = fixture::bundle();
        bundle.checkpoint = node_checkpoint(&key(9), &log.hashes);
        let report = verify_bundle(&bundle);
        let problems = problems(&report, "checkpoint");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0]
                .starts_with("does not open: it carries no signature by 610602's keys in the bundle (liaison/county/610602+"),
            "{}",
            problems[0]
        );
        assert!(report.notes[0].starts_with("The bundle's checkpoint did not open"));
    }

    #[test]
    fn an_earlier_checkpoint_larger_than_the_bundle_checkpoint_is_a_rollback() {
        let log = fixture::log();
        let mut bundle = fixture::bundle();
        bundle.checkpoint = node_checkpoint(&node_key(), &log.hashes[..3]);
        bundle.earlier_checkpoints[0].checkpoint = node_checkpoint(&node_key(), &log.hashes);
        assert_eq!(
            checkpoint_failures(&bundle),
            [pair(
                "earlier_checkpoints[0]",
                "its tree of 4 leaves is larger than the bundle checkpoint's 3: the log was rolled back"
            )]
        );
    }

    #[test]
    fn a_consistency_proof_that_does_not_connect_the_roots_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.earlier_checkpoints[0].consistency_proof[0] = hex::encode([7u8; 32]);
        let failures = checkpoint_failures(&bundle);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, "earlier_checkpoints[0]");
        assert!(
            failures[0].1.starts_with(
                "the bundle checkpoint (size 4) does not extend it (size 3): the consistency proof does not connect the two roots"
            ),
            "{}",
            failures[0].1
        );
    }

    #[test]
    fn a_proof_hash_that_is_not_lowercase_hex_is_named_by_its_index() {
        let mut bundle = fixture::bundle();
        let proof = &mut bundle.earlier_checkpoints[0].consistency_proof;
        proof[0] = proof[0].to_uppercase();
        let failures = checkpoint_failures(&bundle);
        assert_eq!(failures.len(), 1);
        assert!(
            failures[0].1.starts_with("consistency_proof[0] \"")
                && failures[0]
                    .1
                    .ends_with("\" is not a hash: 64 lowercase hex digits"),
            "{}",
            failures[0].1
        );
    }

    #[test]
    fn an_inclusion_proof_that_leads_elsewhere_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.items[0].inclusion_proof[0] = hex::encode([7u8; 32]);
        let report = verify_bundle(&bundle);
        assert_eq!(
            fixture::leaf_problems(&report, 0),
            [
                "its inclusion proof does not lead to the checkpoint's root: the node's log does not hold these bytes at leaf 0"
            ]
        );
    }

    #[test]
    fn an_inclusion_proof_of_the_wrong_length_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.items[0].inclusion_proof.pop();
        let report = verify_bundle(&bundle);
        assert_eq!(
            fixture::leaf_problems(&report, 0),
            ["its inclusion proof has the wrong number of hashes for leaf 0 of a tree of 4 leaves"]
        );
    }

    fn omitted(leaf: u64) -> OmittedLeaf {
        fixture::as_omitted(&fixture::bundle().items[leaf as usize])
    }

    #[test]
    fn an_omitted_leaf_needs_a_peer_but_its_proof_is_still_checked() {
        let mut bundle = fixture::bundle();
        bundle.items.remove(2);
        bundle.omitted.push(omitted(2));
        let report = verify_bundle(&bundle);
        assert_eq!(
            problems(&report, "leaf 2 (omitted)"),
            ["the bundle names no peer, so it must give every leaf of its range in full"]
        );

        bundle.omitted[0].content_hash = hex::encode([7u8; 32]);
        let report = verify_bundle(&bundle);
        assert_eq!(problems(&report, "leaf 2 (omitted)").len(), 2);
    }

    #[test]
    fn an_omitted_leaf_whose_parts_are_not_a_leaf_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.peer = Some("610621".into());
        bundle.items.remove(2);
        let bad = [
            (
                OmittedLeaf {
                    content_hash: "abc".into(),
                    ..omitted(2)
                },
                "content_hash \"abc\" is not 32 bytes of hex",
            ),
            (
                OmittedLeaf {
                    kind: "notice".into(),
                    ..omitted(2)
                },
                "kind \"notice\" is not sent_notice, received_notice, issued_receipt or received_receipt",
            ),
            (
                OmittedLeaf {
                    counterparty: "6106".into(),
                    ..omitted(2)
                },
                "counterparty \"6106\" is not a county code",
            ),
        ];
        for (leaf, problem) in bad {
            bundle.omitted = vec![leaf];
            let report = verify_bundle(&bundle);
            assert_eq!(problems(&report, "leaf 2 (omitted)"), [problem]);
        }
    }

    #[test]
    fn an_omitted_leaf_of_the_bundles_peer_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.peer = Some(fixture::PEER.into());
        let hidden = bundle.items.remove(2);
        bundle.omitted.push(fixture::as_omitted(&hidden));
        let report = verify_bundle(&bundle);
        assert_eq!(
            problems(&report, "leaf 2 (omitted)"),
            [
                "it concerns 610603, the bundle's peer: a bundle for one peer must give every leaf of that peer in full"
            ]
        );
        // Naming another county in its place breaks its inclusion in the log.
        bundle.omitted[0].counterparty = "610621".into();
        let report = verify_bundle(&bundle);
        assert_eq!(
            problems(&report, "leaf 2 (omitted)"),
            [
                "its inclusion proof does not lead to the checkpoint's root: the node's log does not hold these bytes at leaf 2"
            ]
        );
    }

    #[test]
    fn an_item_that_names_another_counterparty_or_time_than_logged_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.items[0].counterparty = "610621".into();
        let report = verify_bundle(&bundle);
        let found = fixture::leaf_problems(&report, 0);
        assert!(
            found.contains(&"counterparty 610621 is not the notice's recipient, 610603".to_owned()),
            "{found:?}"
        );
        let mut bundle = fixture::bundle();
        bundle.items[1].logged_at_ms += 1;
        let report = verify_bundle(&bundle);
        assert_eq!(fixture::leaf_problems(&report, 1).len(), 1);
    }

    #[test]
    fn a_hash_is_64_lowercase_hex_digits() {
        let hash = [0xabu8; 32];
        assert_eq!(parse_hash(&hex::encode(hash)), Some(hash));
        assert_eq!(parse_hash(&hex::encode(hash).to_uppercase()), None);
        assert_eq!(parse_hash(&hex::encode([0xab; 31])), None);
        assert_eq!(parse_hash(&format!("{}zz", hex::encode([0xab; 31]))), None);
    }

    #[test]
    fn a_checkpoint_opens_only_with_a_key_of_its_own_county() {
        let log = fixture::log();
        let note = node_checkpoint(&node_key(), &log.hashes);
        let keys = |county: &str, k: &crate::NodeKey| {
            vec![Some(Key {
                county: county.into(),
                key: k.verifying_key(),
                id: k.key_id(),
                valid_from_ms: None,
                valid_until_ms: None,
            })]
        };
        let node = fixture::county(NODE);
        let (opened, problem) = open_with_keys(&note, node, &keys(NODE, &node_key()));
        assert_eq!(
            opened.map(|(cp, i)| (cp.size, i)),
            Some((4, 0)),
            "{problem}"
        );
        let (opened, problem) = open_with_keys(&note, node, &keys(fixture::PEER, &node_key()));
        assert!(opened.is_none());
        assert_eq!(problem, "the bundle lists no key of 610602");
    }
}
