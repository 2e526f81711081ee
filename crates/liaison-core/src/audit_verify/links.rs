//! Links between items: each notice logged once, each receipt answering its notice, and the
//! checkpoints that receipts carry.

use std::collections::BTreeMap;

use crate::CountyCode;
use crate::clock::format_cst;
use crate::merkle::Hash;
use crate::notice::NoticeId;
use crate::receipt::{Outcome, Receipt};
use crate::tlog::LeafKind;

use super::log::open_with_keys;
use super::{Verifier, cut};

impl Verifier<'_> {
    /// The index of the notice item of `kind` that a receipt answers.
    pub(super) fn find_notice(&self, kind: LeafKind, receipt: &Receipt) -> Option<usize> {
        match receipt.notice_id {
            Some(id) => self.by_id.get(&(kind, id)).copied(),
            None => self
                .by_digest
                .get(&(kind, receipt.envelope_sha256))
                .copied(),
        }
    }

    pub(super) fn check_links(&mut self) {
        // Each notice once.
        let mut first_of: BTreeMap<(LeafKind, NoticeId), usize> = BTreeMap::new();
        for i in 0..self.items.len() {
            let (Some(kind), Some(h)) = (self.items[i].kind, self.items[i].header()) else {
                continue;
            };
            if let Some(&j) = first_of.get(&(kind, h.id)) {
                let (leaf, label) = (self.items[i].leaf, self.items[i].label.clone());
                let other = self.items[j].leaf;
                self.fail_leaf(
                    leaf,
                    label,
                    format!("the same notice is logged again: leaf {other} records it already"),
                );
            } else {
                first_of.insert((kind, h.id), i);
            }
        }

        // Each receipt to its notice.
        let mut receipt_of = std::mem::take(&mut self.receipt_of);
        let mut unproven_checkpoints = 0;
        for i in 0..self.items.len() {
            let Some(receipt) = self.items[i].receipt().cloned() else {
                continue;
            };
            let (leaf, label, kind) = (
                self.items[i].leaf,
                self.items[i].label.clone(),
                self.items[i].kind,
            );
            let notice_kind = if kind == Some(LeafKind::IssuedReceipt) {
                LeafKind::ReceivedNotice
            } else {
                LeafKind::SentNotice
            };
            let notice = self.find_notice(notice_kind, &receipt);
            match notice {
                None => self.fail_leaf(
                    leaf,
                    &label,
                    format!(
                        "its notice{} is not in the bundle as a {}",
                        receipt
                            .notice_id
                            .map(|id| format!(" {id}"))
                            .unwrap_or_default(),
                        notice_kind.name()
                    ),
                ),
                Some(n) => {
                    if let Some(&earlier) = receipt_of.get(&n) {
                        let other = self.items[earlier].leaf;
                        self.fail_leaf(
                            leaf,
                            &label,
                            format!(
                                "a second receipt for the same notice; leaf {other} is the first"
                            ),
                        );
                    } else {
                        receipt_of.insert(n, i);
                    }
                    self.check_receipt_matches(i, n, &receipt);
                }
            }
            if let Some(note) = &receipt.checkpoint {
                if kind == Some(LeafKind::IssuedReceipt) {
                    let notice_leaf = notice.map(|n| self.items[n].leaf);
                    if !self.check_issued_checkpoint(leaf, &label, note, notice_leaf) {
                        unproven_checkpoints += 1;
                    }
                } else {
                    self.check_peer_checkpoint(&label, note, receipt.recipient);
                }
            }
        }
        self.receipt_of = receipt_of.clone();
        if unproven_checkpoints > 0 {
            self.notes.push(format!(
                "{unproven_checkpoints} checkpoint(s) that the node put in its receipts are not among the earlier checkpoints, so this bundle does not prove them consistent with its checkpoint."
            ));
        }

        // Notices without receipts.
        for n in 0..self.items.len() {
            let (Some(kind), Some(h)) = (self.items[n].kind, self.items[n].header()) else {
                continue;
            };
            let (leaf, label) = (self.items[n].leaf, self.items[n].label.clone());
            let receipt = receipt_of.get(&n).and_then(|&r| self.items[r].receipt());
            match (kind, receipt) {
                (LeafKind::ReceivedNotice, None) => self.fail_leaf(
                    leaf,
                    label,
                    "no receipt the node issued for it is in the bundle, though a node logs its receipt right after the notice",
                ),
                (LeafKind::SentNotice, None) => self.notes.push(format!(
                    "{label} to {}: not delivered (no receipt in the log)",
                    h.recipient
                )),
                (LeafKind::SentNotice, Some(r)) => {
                    if let Outcome::Rejected(rejection) = &r.outcome {
                        self.notes.push(format!(
                            "{label} to {}: rejected by {} at {}: {}: {}",
                            h.recipient,
                            r.recipient,
                            format_cst(r.received_at_ms),
                            rejection.code.name(),
                            cut(&rejection.reason)
                        ));
                    }
                }
                _ => {}
            }
        }
    }

    /// A receipt at item `r` and the notice at item `n` it answers.
    pub(super) fn check_receipt_matches(&mut self, r: usize, n: usize, receipt: &Receipt) {
        let (leaf, label) = (self.items[r].leaf, self.items[r].label.clone());
        let notice = &self.items[n];
        let Some(h) = notice.header().cloned() else {
            return;
        };
        let notice_leaf = notice.leaf;
        if let Some(digest) = notice.envelope_digest()
            && digest != receipt.envelope_sha256
        {
            self.fail_leaf(
                leaf,
                &label,
                format!(
                    "its envelope_sha256 {} is not the digest {} of the notice at leaf {notice_leaf}: it does not answer that envelope",
                    hex::encode(receipt.envelope_sha256),
                    hex::encode(digest)
                ),
            );
        }
        if receipt.recipient != h.recipient || receipt.sender.is_some_and(|s| s != h.sender) {
            self.fail_leaf(
                leaf,
                &label,
                format!(
                    "it names {} → {}, but the notice at leaf {notice_leaf} went {} → {}",
                    receipt
                        .sender
                        .map_or("no sender".to_owned(), |s| s.to_string()),
                    receipt.recipient,
                    h.sender,
                    h.recipient
                ),
            );
        }
        if leaf < notice_leaf {
            self.fail_leaf(
                leaf,
                &label,
                format!("it is logged before its notice (leaf {notice_leaf})"),
            );
        }
        if receipt.outcome == Outcome::Accepted && h.in_reply_to.is_some() {
            match receipt.existed_by_ms {
                None => self.fail_leaf(
                    leaf,
                    &label,
                    format!(
                        "it accepts the reply at leaf {notice_leaf} but states no existed_by_ms, so the reply's time is not established"
                    ),
                ),
                Some(at) if at > receipt.received_at_ms => self.fail_leaf(
                    leaf,
                    &label,
                    format!(
                        "its existed_by_ms {} is after its own received_at_ms {}",
                        format_cst(at),
                        format_cst(receipt.received_at_ms)
                    ),
                ),
                Some(_) => {}
            }
        }
    }

    /// The node's checkpoint inside a receipt it issued; returns whether it is proven consistent
    /// with the bundle's checkpoint (or fails anyway).
    pub(super) fn check_issued_checkpoint(
        &mut self,
        leaf: u64,
        label: &str,
        note: &str,
        notice_leaf: Option<u64>,
    ) -> bool {
        let cp = match self.open_node_checkpoint(note) {
            Ok(cp) => cp,
            Err(problem) => {
                self.fail_leaf(
                    leaf,
                    label,
                    format!("the node's checkpoint in the receipt does not open: {problem}"),
                );
                return true;
            }
        };
        let mut failed = false;
        if let Some(main) = &self.checkpoint
            && cp.size > main.size
        {
            let main_size = main.size;
            self.fail_leaf(
                leaf,
                label,
                format!(
                    "the checkpoint in the receipt has {} leaves, more than the bundle checkpoint's {main_size}: the log was rolled back",
                    cp.size
                ),
            );
            failed = true;
        }
        if cp.size > leaf {
            self.fail_leaf(
                leaf,
                label,
                format!(
                    "the checkpoint in the receipt has {} leaves, so it would include this receipt's own leaf {leaf}, which depends on it",
                    cp.size
                ),
            );
            failed = true;
        }
        if let Some(n) = notice_leaf
            && cp.size <= n
        {
            self.fail_leaf(
                leaf,
                label,
                format!(
                    "the checkpoint in the receipt has {} leaves, so it does not include the notice it acknowledges (leaf {n})",
                    cp.size
                ),
            );
            failed = true;
        }
        let same_size: Vec<Hash> = self
            .proven
            .iter()
            .filter(|(size, _)| *size == cp.size)
            .map(|(_, root)| *root)
            .collect();
        if same_size.iter().any(|root| *root != cp.root) {
            self.fail_leaf(
                leaf,
                label,
                format!(
                    "the checkpoint in the receipt (size {}, root {}) differs from the bundle's proven checkpoint of that size: the log has forked",
                    cp.size,
                    hex::encode(cp.root)
                ),
            );
            failed = true;
        }
        failed || !same_size.is_empty()
    }

    /// The peer's checkpoint inside a receipt the node received: only noted if it does not open.
    pub(super) fn check_peer_checkpoint(&mut self, label: &str, note: &str, peer: CountyCode) {
        let (opened, problem) = open_with_keys(note, peer, &self.keys);
        if opened.is_none() {
            self.notes.push(format!(
                "{label}: the checkpoint of {peer}'s log in this receipt does not open: {problem}"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{
        self, CONTACT_RECEIPT, Log, REPLY_RECEIPT, contact, contact_receipt, leaf_problems,
        node_checkpoint, node_key, receipt, reply,
    };
    use super::super::verify_bundle;
    use crate::merkle::leaf_hash;
    use crate::tlog::LeafKind;
    use crate::{Receipt, SignedReceipt};

    /// The fixture log up to the reply, then the node's receipt for it carrying `checkpoint`.
    fn with_issued_checkpoint(checkpoint: String) -> Log {
        let mut log = Log::new();
        let contact = contact();
        log.notice(LeafKind::SentNotice, &contact);
        log.receipt(
            LeafKind::ReceivedReceipt,
            &contact_receipt(&contact, Some(fixture::contact_due_at())),
        );
        let reply = reply(&contact);
        log.notice(LeafKind::ReceivedNotice, &reply);
        log.receipt(
            LeafKind::IssuedReceipt,
            &receipt(
                &node_key(),
                &reply,
                fixture::reply_received_at(),
                None,
                Some(checkpoint),
            ),
        );
        log
    }

    #[test]
    fn a_receipt_whose_notice_is_not_in_the_bundle_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.items.remove(0);
        let report = verify_bundle(&bundle);
        let problems = leaf_problems(&report, CONTACT_RECEIPT);
        assert_eq!(
            problems,
            [format!(
                "its notice {} is not in the bundle as a sent_notice",
                contact().header.id
            )]
        );
    }

    #[test]
    fn a_notice_logged_twice_is_refused_at_its_second_leaf() {
        let mut log = Log::new();
        let contact = contact();
        log.notice(LeafKind::SentNotice, &contact);
        log.notice(LeafKind::SentNotice, &contact);
        log.receipt(LeafKind::ReceivedReceipt, &contact_receipt(&contact, None));
        let report = verify_bundle(&log.bundle(None));
        assert_eq!(
            leaf_problems(&report, 1),
            ["the same notice is logged again: leaf 0 records it already"]
        );
        assert!(leaf_problems(&report, 0).is_empty());
    }

    #[test]
    fn a_second_receipt_for_a_notice_is_refused() {
        let mut log = Log::new();
        let contact = contact();
        let due = Some(fixture::contact_due_at());
        log.notice(LeafKind::SentNotice, &contact);
        log.receipt(LeafKind::ReceivedReceipt, &contact_receipt(&contact, due));
        log.receipt(LeafKind::ReceivedReceipt, &contact_receipt(&contact, due));
        let report = verify_bundle(&log.bundle(None));
        assert_eq!(
            leaf_problems(&report, 2),
            ["a second receipt for the same notice; leaf 1 is the first"]
        );
    }

    #[test]
    fn a_receipt_logged_before_its_notice_is_refused() {
        let mut log = Log::new();
        let contact = contact();
        log.receipt(
            LeafKind::ReceivedReceipt,
            &contact_receipt(&contact, Some(fixture::contact_due_at())),
        );
        log.notice(LeafKind::SentNotice, &contact);
        let report = verify_bundle(&log.bundle(None));
        assert_eq!(
            leaf_problems(&report, 0),
            ["it is logged before its notice (leaf 1)"]
        );
    }

    #[test]
    fn a_receipt_for_another_envelope_of_the_notice_is_refused() {
        let mut log = Log::new();
        let contact = contact();
        log.notice(LeafKind::SentNotice, &contact);
        let mut spoiled = contact_receipt(&contact, Some(fixture::contact_due_at())).receipt;
        spoiled.envelope_sha256 = [0; 32];
        log.receipt(
            LeafKind::ReceivedReceipt,
            &SignedReceipt::sign(&fixture::peer_key(), spoiled),
        );
        let report = verify_bundle(&log.bundle(None));
        assert_eq!(
            leaf_problems(&report, 1),
            [format!(
                "its envelope_sha256 {} is not the digest {} of the notice at leaf 0: it does not answer that envelope",
                hex::encode([0u8; 32]),
                hex::encode(contact.envelope_sha256())
            )]
        );
    }

    #[test]
    fn a_receipt_between_other_counties_than_its_notice_is_refused() {
        let mut log = Log::new();
        let contact = contact();
        log.notice(LeafKind::SentNotice, &contact);
        let receipt = Receipt {
            recipient: fixture::county("610621"),
            ..contact_receipt(&contact, Some(fixture::contact_due_at())).receipt
        };
        log.receipt(
            LeafKind::ReceivedReceipt,
            &SignedReceipt::sign(&fixture::peer_key(), receipt),
        );
        let report = verify_bundle(&log.bundle(None));
        let problems = leaf_problems(&report, 1);
        assert!(
            problems.contains(
                &"it names 610602 → 610621, but the notice at leaf 0 went 610602 → 610603"
                    .to_owned()
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn a_received_notice_without_the_node_receipt_is_refused() {
        let mut log = fixture::log();
        log.leaves.pop();
        log.hashes.pop();
        let report = verify_bundle(&log.bundle(None));
        assert_eq!(
            leaf_problems(&report, 2),
            [
                "no receipt the node issued for it is in the bundle, though a node logs its receipt right after the notice"
            ]
        );
    }

    #[test]
    fn a_sent_notice_without_a_receipt_is_noted_as_not_delivered() {
        let mut log = Log::new();
        log.notice(LeafKind::SentNotice, &contact());
        let report = verify_bundle(&log.bundle(None));
        assert!(report.ok, "{}", report.to_text());
        assert_eq!(
            report.notes,
            [format!(
                "leaf 0 (sent_notice {}) to 610603: not delivered (no receipt in the log)",
                contact().header.id
            )]
        );
    }

    #[test]
    fn an_issued_checkpoint_not_among_the_earlier_ones_is_noted() {
        let report = verify_bundle(&fixture::log().bundle(None));
        assert!(report.ok, "{}", report.to_text());
        assert_eq!(
            report.notes,
            [
                "1 checkpoint(s) that the node put in its receipts are not among the earlier checkpoints, so this bundle does not prove them consistent with its checkpoint."
            ]
        );
    }

    #[test]
    fn an_issued_checkpoint_must_hold_the_notice_but_not_the_receipt() {
        let hashes = fixture::log().hashes;
        let log = with_issued_checkpoint(node_checkpoint(&node_key(), &hashes[..2]));
        let report = verify_bundle(&log.bundle(None));
        assert_eq!(
            leaf_problems(&report, REPLY_RECEIPT),
            [
                "the checkpoint in the receipt has 2 leaves, so it does not include the notice it acknowledges (leaf 2)"
            ]
        );

        let mut four = hashes[..3].to_vec();
        four.push(leaf_hash(b"not this receipt"));
        let log = with_issued_checkpoint(node_checkpoint(&node_key(), &four));
        let report = verify_bundle(&log.bundle(None));
        assert!(
            leaf_problems(&report, REPLY_RECEIPT).contains(&"the checkpoint in the receipt has 4 leaves, so it would include this receipt's own leaf 3, which depends on it".to_owned()),
            "{}",
            report.to_text()
        );
    }

    #[test]
    fn an_issued_checkpoint_that_differs_from_a_proven_one_is_a_fork() {
        let mut forked = fixture::log().hashes[..2].to_vec();
        forked.push(leaf_hash(b"another notice"));
        let log = with_issued_checkpoint(node_checkpoint(&node_key(), &forked));
        let report = verify_bundle(&log.bundle(Some(3)));
        let problems = leaf_problems(&report, REPLY_RECEIPT);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("the checkpoint in the receipt (size 3, root ")
                && problems[0].ends_with(
                    ") differs from the bundle's proven checkpoint of that size: the log has forked"
                ),
            "{problems:?}"
        );
    }

    #[test]
    fn an_issued_checkpoint_that_does_not_open_is_refused() {
        let log = with_issued_checkpoint("not a note".into());
        let report = verify_bundle(&log.bundle(None));
        let problems = leaf_problems(&report, REPLY_RECEIPT);
        assert!(
            problems[0].starts_with("the node's checkpoint in the receipt does not open: "),
            "{problems:?}"
        );
    }

    #[test]
    fn a_peer_checkpoint_that_does_not_open_is_only_noted() {
        let mut log = Log::new();
        let contact = contact();
        log.notice(LeafKind::SentNotice, &contact);
        // The node's own checkpoint where 610603's belongs.
        let wrong = node_checkpoint(&node_key(), &log.hashes);
        log.receipt(
            LeafKind::ReceivedReceipt,
            &receipt(
                &fixture::peer_key(),
                &contact,
                fixture::contact_received_at(),
                Some(fixture::contact_due_at()),
                Some(wrong),
            ),
        );
        let report = verify_bundle(&log.bundle(None));
        assert!(report.ok, "{}", report.to_text());
        assert_eq!(report.notes.len(), 1);
        assert!(
            report.notes[0].starts_with(&format!(
                "leaf 1 (received_receipt for {}): the checkpoint of 610603's log in this receipt does not open: ",
                contact.header.id
            )),
            "{}",
            report.notes[0]
        );
    }
}
