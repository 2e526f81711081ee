//! The offline verifier of audit bundles: a clean bundle verifies, a redacted or peer-limited one
//! too, and every way of tampering with a bundle that matters is caught and named.
//!
//! The bundles are built here from a small but realistic log of 宝塔区 610602, which exchanges
//! notices with 安塞区 610603 (and sends one bulletin to 延长县 610621), signed with keys from
//! fixed seeds, hashed and proven exactly as a node does.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use liaison_core::audit::{
    BUNDLE_FORMAT, Bundle, BundleItem, BundleKey, BundleNode, BundlePolicy, BundleRule,
    EarlierCheckpoint, OmittedLeaf,
};
use liaison_core::audit_verify::{
    AuditReport, DeadlineOutcome, Direction, parse_bundle, verify_bundle,
    verify_bundle_with_directory,
};
use liaison_core::checkpoint::{Checkpoint, NoteSigner, origin_for, sign_checkpoint};
use liaison_core::clock::CST;
use liaison_core::directory::{
    CountyDoc, DirectoryDoc, KeyDoc, SignedDirectory, city_verifier_key, sign_directory,
};
use liaison_core::draft::parse_draft_json;
use liaison_core::merkle::{Hash, consistency_proof, inclusion_proof, leaf_hash, root};
use liaison_core::notice::Outgoing;
use liaison_core::tlog::{Leaf as TlogLeaf, LeafKind, content_hash};
use liaison_core::{
    CountyCode, DuePolicy, HolidayCalendar, NodeKey, NoticeBody, NoticeId, NoticeKind, Outcome,
    Receipt, SignedNotice, SignedReceipt,
};
use liaison_proto::v1 as pb;
use prost::Message;
use time::PrimitiveDateTime;
use time::macros::datetime;

/// The node whose log is audited: 宝塔区.
const NODE: &str = "610602";
/// Its main peer: 安塞区.
const PEER: &str = "610603";
/// A county the node sends a bulletin to: 延长县.
const THIRD: &str = "610621";

fn county(code: &str) -> CountyCode {
    CountyCode::parse(code).unwrap()
}

fn key(seed: u8) -> NodeKey {
    NodeKey::new(SigningKey::from_bytes(&[seed; 32]))
}

fn node_key() -> NodeKey {
    key(1)
}

fn peer_key() -> NodeKey {
    key(2)
}

fn third_key() -> NodeKey {
    key(3)
}

/// Unix ms of a wall-clock time in China.
fn cst(t: PrimitiveDateTime) -> i64 {
    (t.assume_offset(CST).unix_timestamp_nanos() / 1_000_000) as i64
}

fn body(json: &str) -> NoticeBody {
    parse_draft_json(json).unwrap().body
}

fn case_notice() -> NoticeBody {
    body(include_str!(
        "../../../deploy/examples/notices/case_notice.json"
    ))
}

fn reply_letter() -> NoticeBody {
    body(include_str!(
        "../../../deploy/examples/notices/reply_letter.json"
    ))
}

fn contact_letter() -> (NoticeBody, bool) {
    let draft = parse_draft_json(include_str!(
        "../../../deploy/examples/notices/contact_letter.json"
    ))
    .unwrap();
    (draft.body, draft.urgent)
}

fn bulletin() -> NoticeBody {
    body(include_str!(
        "../../../deploy/examples/notices/bulletin.json"
    ))
}

fn certificate_query() -> NoticeBody {
    body(include_str!(
        "../../../deploy/examples/notices/certificate_query.json"
    ))
}

fn notice(
    key: &NodeKey,
    from: &str,
    to: &str,
    body: &NoticeBody,
    urgent: bool,
    issued_at_ms: i64,
    in_reply_to: Option<NoticeId>,
) -> SignedNotice {
    SignedNotice::sign(
        key,
        Outgoing {
            id: NoticeId::new(issued_at_ms as u64, [issued_at_ms as u8; 10]),
            sender: county(from),
            recipient: county(to),
            kind: body.kind(),
            urgent,
            issued_at_ms,
            in_reply_to,
        },
        body.encode(),
    )
}

/// A county's checkpoint of a tree of `leaves`, signed with `key`.
fn signed_checkpoint(of: &str, key: &NodeKey, leaves: &[Hash]) -> String {
    let signer = NoteSigner::for_county(county(of), key).unwrap();
    let size = leaves.len() as u64;
    let cp = Checkpoint::new(origin_for(county(of)), size, root(leaves, size).unwrap());
    sign_checkpoint(&cp, &signer).unwrap()
}

/// One leaf of the node's log.
#[derive(Clone)]
struct Leaf {
    kind: LeafKind,
    logged_at_ms: i64,
    counterparty: CountyCode,
    signed: Vec<u8>,
    signature: Vec<u8>,
    payload: Option<Vec<u8>>,
    payload_salt: Option<[u8; 32]>,
}

/// The node's log as a node keeps it: leaves, their hashes, and the checkpoints it signed.
#[derive(Default)]
struct Log {
    leaves: Vec<Leaf>,
    hashes: Vec<Hash>,
    /// Signed checkpoints by tree size.
    checkpoints: BTreeMap<u64, String>,
}

impl Log {
    /// The time a leaf is logged at: `at`, or the previous leaf's time if that is later.
    fn log_time(&self, at: i64) -> i64 {
        self.leaves.last().map_or(at, |l| at.max(l.logged_at_ms))
    }

    /// Appends the leaf of `kind` for the signed bytes; returns its index.
    fn append(&mut self, leaf: Leaf) -> u64 {
        self.hashes.push(
            TlogLeaf {
                kind: leaf.kind,
                logged_at_ms: leaf.logged_at_ms,
                counterparty: leaf.counterparty,
                content: content_hash(&leaf.signed, &leaf.signature),
            }
            .hash(),
        );
        self.leaves.push(leaf);
        self.leaves.len() as u64 - 1
    }

    /// Logs a notice: a sent one at its issued-at time, a received one 3 s after it.
    fn append_notice(&mut self, kind: LeafKind, notice: &SignedNotice) -> u64 {
        let issued_at = notice.header.issued_at_ms;
        let logged_at_ms = self.log_time(match kind {
            LeafKind::SentNotice => issued_at,
            _ => issued_at + 3_000,
        });
        let counterparty = notice.leaf(kind, logged_at_ms).counterparty;
        self.append(Leaf {
            kind,
            logged_at_ms,
            counterparty,
            signed: notice.header_bytes.clone(),
            signature: notice.signature.to_vec(),
            payload: Some(notice.payload.clone()),
            payload_salt: Some(notice.payload_salt),
        })
    }

    /// Logs a receipt: an issued one at its receipt time, a received one 1 s after it.
    fn append_receipt(&mut self, kind: LeafKind, receipt: &SignedReceipt) -> u64 {
        let r = &receipt.receipt;
        let logged_at_ms = self.log_time(match kind {
            LeafKind::IssuedReceipt => r.received_at_ms,
            _ => r.received_at_ms.saturating_add(1_000),
        });
        let counterparty = receipt
            .leaf(kind, logged_at_ms)
            .expect("a receipt for a readable notice")
            .counterparty;
        self.append(Leaf {
            kind,
            logged_at_ms,
            counterparty,
            signed: receipt.receipt_bytes.clone(),
            signature: receipt.signature.to_vec(),
            payload: None,
            payload_salt: None,
        })
    }

    fn size(&self) -> u64 {
        self.hashes.len() as u64
    }

    /// Signs and keeps a checkpoint of the log as it is.
    fn checkpoint(&mut self) -> String {
        let note = signed_checkpoint(NODE, &node_key(), &self.hashes);
        self.checkpoints.insert(self.size(), note.clone());
        note
    }
}

/// What to make differently when building the log, for tests that need a log that is consistent
/// in every respect but one.
#[derive(Debug, Clone, Copy, Default)]
struct Options {
    /// Added to the due time 610603 states in its receipt for the case notice.
    peer_due_shift_ms: i64,
    /// Added to the due time the node states in its receipt for the contact letter.
    node_due_shift_ms: i64,
    /// Neither side has a working-day calendar, and the bundle carries none.
    no_calendars: bool,
    /// When 610603 issues its reply to the case notice, instead of 2026-03-05 10:00.
    reply_issued_at_ms: Option<i64>,
    /// The node puts a checkpoint of a different tree in its receipt for the contact letter.
    fork_in_receipt: bool,
    /// Everything 610603 signed is signed instead with a key the exporter made up (seed 9), and
    /// the bundle lists that key as 610603's.
    forged_peer_key: bool,
}

/// The log of node 610602, in March 2026, and the facts the tests check against.
struct Scenario {
    log: Log,
    case_notice: SignedNotice,
    reply: SignedNotice,
    contact: SignedNotice,
    bulletin: SignedNotice,
    query: SignedNotice,
    created_at_ms: i64,
    options: Options,
}

/// Leaf indexes in the clean log.
const CASE: u64 = 2;
const CASE_RECEIPT: u64 = 3;
const REPLY: u64 = 4;
const REPLY_RECEIPT: u64 = 5;
const CONTACT: u64 = 6;
const CONTACT_RECEIPT: u64 = 7;
const BULLETIN: u64 = 8;
const BULLETIN_RECEIPT: u64 = 9;
const QUERY: u64 = 10;

impl Scenario {
    fn new() -> Self {
        Self::with(Options::default())
    }

    fn with(options: Options) -> Self {
        let peer_key = || {
            if options.forged_peer_key {
                key(9)
            } else {
                peer_key()
            }
        };
        let calendar = if options.no_calendars {
            HolidayCalendar::new()
        } else {
            HolidayCalendar::builtin()
        };
        let policy = DuePolicy::default();
        let due = |kind: NoticeKind, urgent: bool, received: i64| {
            policy
                .due_at(kind, urgent, received, &calendar)
                .ok()
                .flatten()
        };
        // 610603's own log, as far as its receipts show it.
        let mut peer_log: Vec<Hash> = (0..5u8).map(|i| leaf_hash(&[i])).collect();

        let mut log = Log::default();
        let mut leaf = BTreeMap::new();

        // February, before the period: a contact letter to 610603 and its receipt.
        let (contact_body, contact_urgent) = contact_letter();
        let february = notice(
            &node_key(),
            NODE,
            PEER,
            &contact_body,
            false,
            cst(datetime!(2026-02-02 10:00)),
            None,
        );
        log.append_notice(LeafKind::SentNotice, &february);
        let received = cst(datetime!(2026-02-02 10:00:04));
        let receipt = SignedReceipt::sign(
            &peer_key(),
            Receipt {
                notice_id: Some(february.header.id),
                envelope_sha256: february.envelope_sha256(),
                recipient: county(PEER),
                sender: Some(county(NODE)),
                received_at_ms: received,
                outcome: Outcome::Accepted,
                reply_due_at_ms: due(NoticeKind::ContactLetter, false, received),
                key_id: peer_key().key_id(),
                checkpoint: None,
                existed_by_ms: None,
            },
        );
        log.append_receipt(LeafKind::ReceivedReceipt, &receipt);
        log.checkpoint();

        // A case notice to 610603 ...
        let case_notice = notice(
            &node_key(),
            NODE,
            PEER,
            &case_notice(),
            false,
            cst(datetime!(2026-03-02 09:00)),
            None,
        );
        leaf.insert(
            "case",
            log.append_notice(LeafKind::SentNotice, &case_notice),
        );
        // ... which 610603 logs and acknowledges with its checkpoint.
        peer_log.push(
            case_notice
                .leaf(
                    LeafKind::ReceivedNotice,
                    cst(datetime!(2026-03-02 09:00:05)),
                )
                .hash(),
        );
        let received = cst(datetime!(2026-03-02 09:00:05));
        let receipt = SignedReceipt::sign(
            &peer_key(),
            Receipt {
                notice_id: Some(case_notice.header.id),
                envelope_sha256: case_notice.envelope_sha256(),
                recipient: county(PEER),
                sender: Some(county(NODE)),
                received_at_ms: received,
                outcome: Outcome::Accepted,
                reply_due_at_ms: due(NoticeKind::CaseNotice, false, received)
                    .map(|d| d + options.peer_due_shift_ms),
                key_id: peer_key().key_id(),
                checkpoint: Some(signed_checkpoint(PEER, &peer_key(), &peer_log)),
                existed_by_ms: None,
            },
        );
        leaf.insert(
            "case_receipt",
            log.append_receipt(LeafKind::ReceivedReceipt, &receipt),
        );
        // A periodic checkpoint.
        log.checkpoint();

        // 610603's reply to the case notice, and the node's receipt for it.
        let reply = notice(
            &peer_key(),
            PEER,
            NODE,
            &reply_letter(),
            false,
            options
                .reply_issued_at_ms
                .unwrap_or(cst(datetime!(2026-03-05 10:00))),
            Some(case_notice.header.id),
        );
        let received = reply.header.issued_at_ms + 2_000;
        let receipt = |log: &mut Log, n: &SignedNotice, received: i64, due: Option<i64>| {
            let leaf = log.append_notice(LeafKind::ReceivedNotice, n);
            let checkpoint = log.checkpoint();
            let receipt = SignedReceipt::sign(
                &node_key(),
                Receipt {
                    notice_id: Some(n.header.id),
                    envelope_sha256: n.envelope_sha256(),
                    recipient: county(NODE),
                    sender: Some(n.header.sender),
                    received_at_ms: received,
                    outcome: Outcome::Accepted,
                    reply_due_at_ms: due,
                    key_id: node_key().key_id(),
                    checkpoint: Some(checkpoint),
                    existed_by_ms: n.header.in_reply_to.map(|_| received),
                },
            );
            (leaf, log.append_receipt(LeafKind::IssuedReceipt, &receipt))
        };
        let (l, r) = receipt(
            &mut log,
            &reply,
            received,
            due(NoticeKind::ReplyLetter, false, received),
        );
        leaf.insert("reply", l);
        leaf.insert("reply_receipt", r);

        // An urgent contact letter from 610603, left unanswered.
        let contact = notice(
            &peer_key(),
            PEER,
            NODE,
            &contact_body,
            contact_urgent,
            cst(datetime!(2026-03-09 11:00)),
            None,
        );
        let received = cst(datetime!(2026-03-09 11:00:01));
        let stated = due(NoticeKind::ContactLetter, contact_urgent, received)
            .map(|d| d + options.node_due_shift_ms);
        let (l, r) = if options.fork_in_receipt {
            let l = log.append_notice(LeafKind::ReceivedNotice, &contact);
            // The honest checkpoint is kept, but the receipt carries one of another tree.
            log.checkpoint();
            let mut other = log.hashes.clone();
            other[0] = leaf_hash(b"rewritten");
            let forked = signed_checkpoint(NODE, &node_key(), &other);
            let receipt = SignedReceipt::sign(
                &node_key(),
                Receipt {
                    notice_id: Some(contact.header.id),
                    envelope_sha256: contact.envelope_sha256(),
                    recipient: county(NODE),
                    sender: Some(county(PEER)),
                    received_at_ms: received,
                    outcome: Outcome::Accepted,
                    reply_due_at_ms: stated,
                    key_id: node_key().key_id(),
                    checkpoint: Some(forked),
                    existed_by_ms: None,
                },
            );
            (l, log.append_receipt(LeafKind::IssuedReceipt, &receipt))
        } else {
            receipt(&mut log, &contact, received, stated)
        };
        leaf.insert("contact", l);
        leaf.insert("contact_receipt", r);

        // A bulletin to 610621, and its receipt.
        let bulletin = notice(
            &node_key(),
            NODE,
            THIRD,
            &bulletin(),
            false,
            cst(datetime!(2026-03-10 15:00)),
            None,
        );
        leaf.insert(
            "bulletin",
            log.append_notice(LeafKind::SentNotice, &bulletin),
        );
        let received = cst(datetime!(2026-03-10 15:00:03));
        let receipt = SignedReceipt::sign(
            &third_key(),
            Receipt {
                notice_id: Some(bulletin.header.id),
                envelope_sha256: bulletin.envelope_sha256(),
                recipient: county(THIRD),
                sender: Some(county(NODE)),
                received_at_ms: received,
                outcome: Outcome::Accepted,
                reply_due_at_ms: due(NoticeKind::Bulletin, false, received),
                key_id: third_key().key_id(),
                checkpoint: None,
                existed_by_ms: None,
            },
        );
        leaf.insert(
            "bulletin_receipt",
            log.append_receipt(LeafKind::ReceivedReceipt, &receipt),
        );

        // A certificate query to 610603 that is not delivered yet.
        let query = notice(
            &node_key(),
            NODE,
            PEER,
            &certificate_query(),
            false,
            cst(datetime!(2026-03-30 16:00)),
            None,
        );
        leaf.insert("query", log.append_notice(LeafKind::SentNotice, &query));

        let expected = [
            ("case", CASE),
            ("case_receipt", CASE_RECEIPT),
            ("reply", REPLY),
            ("reply_receipt", REPLY_RECEIPT),
            ("contact", CONTACT),
            ("contact_receipt", CONTACT_RECEIPT),
            ("bulletin", BULLETIN),
            ("bulletin_receipt", BULLETIN_RECEIPT),
            ("query", QUERY),
        ];
        assert_eq!(leaf, BTreeMap::from(expected));
        Self {
            log,
            case_notice,
            reply,
            contact,
            bulletin,
            query,
            created_at_ms: cst(datetime!(2026-03-31 12:00)),
            options,
        }
    }

    /// The bundle for March 2026, with all peers, payloads included.
    fn bundle(&self) -> Bundle {
        let log = &self.log;
        let size = log.size();
        let hexes = |hashes: Vec<Hash>| hashes.iter().map(hex::encode).collect::<Vec<_>>();
        let (first_leaf, last_leaf) = (CASE, QUERY);
        let items = (first_leaf..=last_leaf)
            .map(|index| {
                let leaf = &log.leaves[index as usize];
                BundleItem {
                    leaf_index: index,
                    kind: leaf.kind.name().into(),
                    logged_at_ms: leaf.logged_at_ms,
                    counterparty: leaf.counterparty.to_string(),
                    signed: B64.encode(&leaf.signed),
                    signature: B64.encode(&leaf.signature),
                    payload: leaf.payload.as_ref().map(|p| B64.encode(p)),
                    payload_salt: leaf.payload_salt.as_ref().map(|s| B64.encode(s)),
                    inclusion_proof: hexes(inclusion_proof(&log.hashes, index, size).unwrap()),
                }
            })
            .collect();
        let earlier_checkpoints = log
            .checkpoints
            .iter()
            .map(|(&old, note)| EarlierCheckpoint {
                checkpoint: note.clone(),
                consistency_proof: hexes(consistency_proof(&log.hashes, old, size).unwrap()),
            })
            .collect();
        let policy = DuePolicy::default();
        let keys = [
            (NODE, node_key(), None),
            (
                PEER,
                if self.options.forged_peer_key {
                    key(9)
                } else {
                    peer_key()
                },
                Some(cst(datetime!(2025-01-01 00:00))),
            ),
            (THIRD, third_key(), None),
        ]
        .into_iter()
        .map(|(county, key, valid_from_ms)| BundleKey {
            county: county.into(),
            public_key: hex::encode(key.verifying_key().as_bytes()),
            valid_from_ms,
            valid_until_ms: None,
        })
        .collect();
        let mut bundle = Bundle {
            format: BUNDLE_FORMAT.into(),
            node: BundleNode {
                county: NODE.into(),
                name: "宝塔区".into(),
                origin: origin_for(county(NODE)),
            },
            created_at_ms: self.created_at_ms,
            from_ms: cst(datetime!(2026-03-01 00:00)),
            to_ms: cst(datetime!(2026-04-01 00:00)),
            peer: None,
            redacted: false,
            keys,
            policy: BundlePolicy::from(&policy),
            peer_policies: Vec::new(),
            calendars: if self.options.no_calendars {
                Vec::new()
            } else {
                HolidayCalendar::builtin()
                    .texts()
                    .map(|(_, text)| text.to_owned())
                    .collect()
            },
            checkpoint: signed_checkpoint(NODE, &node_key(), &log.hashes),
            earlier_checkpoints,
            first_leaf,
            last_leaf,
            items,
            omitted: Vec::new(),
            leaf_before: first_leaf.checked_sub(1).map(|i| self.omitted(i)),
            leaf_after: (last_leaf + 1 < size).then(|| self.omitted(last_leaf + 1)),
            claims: String::new(),
            claims_signature: String::new(),
        };
        bundle.sign_claims(&node_key());
        bundle
    }

    /// Leaf `index` of the log as an omitted leaf of a bundle.
    fn omitted(&self, index: u64) -> OmittedLeaf {
        let leaf = &self.log.leaves[index as usize];
        OmittedLeaf {
            leaf_index: index,
            kind: leaf.kind.name().into(),
            logged_at_ms: leaf.logged_at_ms,
            counterparty: leaf.counterparty.to_string(),
            content_hash: hex::encode(content_hash(&leaf.signed, &leaf.signature)),
            inclusion_proof: inclusion_proof(&self.log.hashes, index, self.log.size())
                .unwrap()
                .iter()
                .map(hex::encode)
                .collect(),
        }
    }
}

fn item(bundle: &mut Bundle, leaf: u64) -> &mut BundleItem {
    bundle
        .items
        .iter_mut()
        .find(|i| i.leaf_index == leaf)
        .unwrap()
}

/// The bundle with its claims signed again by the node, as an honest exporter would have made it.
fn resigned(mut bundle: Bundle) -> Bundle {
    bundle.sign_claims(&node_key());
    bundle
}

fn redacted(mut bundle: Bundle) -> Bundle {
    bundle.redacted = true;
    for item in &mut bundle.items {
        item.payload = None;
        item.payload_salt = None;
    }
    resigned(bundle)
}

/// Decodes a base64 field, changes its bytes and encodes it again.
fn change(field: &mut String, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = B64.decode(&*field).unwrap();
    f(&mut bytes);
    *field = B64.encode(bytes);
}

/// The leaves that failures name, and the other items they name.
fn named(report: &AuditReport) -> (BTreeSet<u64>, BTreeSet<String>) {
    let mut leaves = BTreeSet::new();
    let mut others = BTreeSet::new();
    for f in &report.failures {
        let leaf = f
            .item
            .strip_prefix("leaf ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok());
        match leaf {
            Some(leaf) => {
                leaves.insert(leaf);
            }
            None => {
                others.insert(f.item.clone());
            }
        }
    }
    (leaves, others)
}

/// Asserts that the report fails, names every leaf of `must` and no leaf outside `must` and
/// `may`, and nothing but leaves.
#[track_caller]
fn assert_caught(report: &AuditReport, must: &[u64], may: &[u64]) {
    assert!(!report.ok, "not caught:\n{}", report.to_text());
    let (leaves, others) = named(report);
    for leaf in must {
        assert!(
            leaves.contains(leaf),
            "leaf {leaf} is not named:\n{}",
            report.to_text()
        );
    }
    for leaf in &leaves {
        assert!(
            must.contains(leaf) || may.contains(leaf),
            "leaf {leaf} is named but should not be:\n{}",
            report.to_text()
        );
    }
    assert!(others.is_empty(), "{others:?}:\n{}", report.to_text());
    assert!(
        report
            .to_text()
            .contains(&format!("FAILED: {} problem", report.failures.len()))
    );
}

#[track_caller]
fn assert_verified(report: &AuditReport) {
    assert!(
        report.ok && report.failures.is_empty(),
        "{}",
        report.to_text()
    );
    assert!(
        report.to_text().contains("\nVERIFIED\n"),
        "{}",
        report.to_text()
    );
}

// ---- clean bundles -------------------------------------------------------------------------------

#[test]
fn a_clean_bundle_verifies_with_its_deadlines() {
    let s = Scenario::new();
    let bundle = s.bundle();
    let report = verify_bundle(&bundle);
    assert_verified(&report);
    assert_eq!(report.checkpoint_size, Some(11));
    assert_eq!(report.counts.items, 9);
    assert_eq!(report.counts.notices, 5);
    assert_eq!(report.counts.receipts, 4);
    assert_eq!(report.counts.omitted, 0);
    assert_eq!(report.counts.earlier_checkpoints, 4);

    let lines: Vec<_> = report
        .deadlines
        .iter()
        .map(|d| {
            (
                d.notice_id.clone(),
                d.direction,
                d.peer.as_str(),
                d.due_at_ms,
                d.replied_at_ms,
                d.outcome,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            // Received 2026-03-02: day 10 is Thu Mar 12; answered on Mar 5.
            (
                s.case_notice.header.id.to_string(),
                Direction::Sent,
                PEER,
                Some(cst(datetime!(2026-03-13 00:00))),
                Some(s.reply.header.issued_at_ms),
                DeadlineOutcome::OnTime,
            ),
            (
                s.reply.header.id.to_string(),
                Direction::Received,
                PEER,
                None,
                None,
                DeadlineOutcome::NoReplyRequired,
            ),
            // Urgent, received Mon 2026-03-09: day 5 is Sat Mar 14, moved to Mon Mar 16.
            (
                s.contact.header.id.to_string(),
                Direction::Received,
                PEER,
                Some(cst(datetime!(2026-03-17 00:00))),
                None,
                DeadlineOutcome::Overdue,
            ),
            (
                s.bulletin.header.id.to_string(),
                Direction::Sent,
                THIRD,
                None,
                None,
                DeadlineOutcome::NoReplyRequired,
            ),
        ]
    );
    assert!(report.deadlines[2].urgent);
    assert_eq!(
        report.notes,
        [format!(
            "leaf {QUERY} (sent_notice {}) to {PEER}: not delivered (no receipt in the log)",
            s.query.header.id
        )]
    );
    // Every key was used, the node's also for checkpoints: the bundle's, 4 earlier ones and 2 in
    // its receipts.
    let uses: Vec<(u64, u64)> = report
        .keys
        .iter()
        .map(|k| (k.signatures, k.checkpoints))
        .collect();
    assert_eq!(uses, [(5, 7), (3, 0), (1, 0)]);
    assert_eq!(
        report.keys[0].key_id.as_deref(),
        Some(node_key().key_id().to_string().as_str())
    );
    assert!(report.keys[0].note_key_id.is_some());
    assert!(report.keys[1].note_key_id.is_none());

    let text = report.to_text();
    for expected in [
        "Audit bundle of 610602 宝塔区 (log liaison/county/610602)",
        "Checkpoint:  11 leaves",
        "overdue",
        "on_time",
        "not delivered",
        "Checked 9 items (5 notices, 4 receipts), 0 omitted leaves, 4 earlier checkpoints.",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
}

#[test]
fn a_bundle_round_trips_through_its_json_text() {
    let bundle = Scenario::new().bundle();
    let text = serde_json::to_string_pretty(&bundle).unwrap();
    assert_eq!(parse_bundle(&text), Ok(bundle.clone()));
    let report = verify_bundle(&parse_bundle(&text).unwrap());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["checkpoint_size"], 11);
    assert_eq!(json["deadlines"][0]["outcome"], "on_time");
    assert_eq!(json["deadlines"][0]["direction"], "sent");
    assert_eq!(json["deadlines"][2]["outcome"], "overdue");
    assert_eq!(json["failures"], serde_json::json!([]));
}

#[test]
fn parse_errors_name_line_column_and_member() {
    let bundle = Scenario::new().bundle();
    let text = serde_json::to_string_pretty(&bundle).unwrap();

    let broken = text.replacen("\"first_leaf\": 2", "\"first_leaf\": \"two\"", 1);
    let e = parse_bundle(&broken).unwrap_err();
    assert_eq!(e.path, "first_leaf");
    let line = broken.lines().position(|l| l.contains("\"two\"")).unwrap() + 1;
    assert_eq!(e.line, line);
    assert!(
        e.message.contains(&format!("line {line}")) && e.message.contains("`first_leaf`"),
        "{e}"
    );

    let e = parse_bundle(&text.replacen("\"redacted\"", "\"redacted_payloads\"", 1)).unwrap_err();
    assert!(e.message.contains("redacted_payloads"), "{e}");

    let mut half = text.len() / 2;
    while !text.is_char_boundary(half) {
        half -= 1;
    }
    let e = parse_bundle(&text[..half]).unwrap_err();
    assert!(e.line > 1 && e.message.contains("line"), "{e}");

    let e = parse_bundle(&format!("{text} extra")).unwrap_err();
    assert!(e.message.contains("trailing"), "{e}");

    let e = parse_bundle(&text.replace(BUNDLE_FORMAT, "liaison-audit-bundle/2")).unwrap_err();
    assert!(e.message.contains("liaison-audit-bundle/2"), "{e}");
}

#[test]
fn a_redacted_bundle_still_verifies_with_the_same_deadlines() {
    let s = Scenario::new();
    let clean = verify_bundle(&s.bundle());
    let report = verify_bundle(&redacted(s.bundle()));
    assert_verified(&report);
    assert!(report.redacted);
    assert_eq!(report.deadlines, clean.deadlines);
    assert_eq!(report.notes, clean.notes);
    assert!(report.to_text().contains("Payloads:    redacted"));
}

#[test]
fn a_redacted_bundle_that_carries_a_payload_is_caught() {
    let s = Scenario::new();
    let mut bundle = redacted(s.bundle());
    item(&mut bundle, CONTACT).payload = Some(B64.encode(&s.contact.payload));
    assert_caught(&verify_bundle(&bundle), &[CONTACT], &[]);
}

#[test]
fn a_bundle_limited_to_one_peer_verifies_with_the_other_leaves_omitted() {
    let s = Scenario::new();
    let mut bundle = s.bundle();
    bundle.peer = Some(PEER.into());
    bundle
        .items
        .retain(|i| ![BULLETIN, BULLETIN_RECEIPT].contains(&i.leaf_index));
    bundle.omitted = vec![s.omitted(BULLETIN), s.omitted(BULLETIN_RECEIPT)];
    let bundle = resigned(bundle);
    let report = verify_bundle(&bundle);
    assert_verified(&report);
    assert_eq!(report.counts.omitted, 2);
    assert_eq!(report.deadlines.len(), 3);
    assert!(report.deadlines.iter().all(|d| d.peer == PEER));

    // An omitted leaf must still be the leaf the log holds.
    let mut wrong = bundle.clone();
    wrong.omitted[0].content_hash = hex::encode(leaf_hash(b"something else"));
    assert_caught(&verify_bundle(&wrong), &[BULLETIN], &[]);

    // A notice with another county, given in full in a bundle limited to one peer, is refused.
    let mut other = bundle.clone();
    other
        .items
        .push(s.bundle().items[(BULLETIN - CASE) as usize].clone());
    other.omitted.remove(0);
    assert_caught(&verify_bundle(&other), &[BULLETIN], &[]);
}

#[test]
fn deadlines_are_judged_when_the_bundle_was_made() {
    let s = Scenario::new();
    let mut bundle = s.bundle();
    bundle.created_at_ms = cst(datetime!(2026-03-16 23:59:59));
    let mut bundle = resigned(bundle);
    let report = verify_bundle(&bundle);
    assert_verified(&report);
    assert_eq!(report.deadlines[2].outcome, DeadlineOutcome::Open);
    // 24:00 of the last day is already overdue.
    bundle.created_at_ms = cst(datetime!(2026-03-17 00:00));
    bundle.sign_claims(&node_key());
    assert_eq!(
        verify_bundle(&bundle).deadlines[2].outcome,
        DeadlineOutcome::Overdue
    );
}

#[test]
fn a_reply_issued_at_the_due_time_is_late() {
    let due = cst(datetime!(2026-03-13 00:00));
    let report = verify_bundle(
        &Scenario::with(Options {
            reply_issued_at_ms: Some(due),
            ..Options::default()
        })
        .bundle(),
    );
    assert_verified(&report);
    assert_eq!(report.deadlines[0].replied_at_ms, Some(due));
    assert_eq!(report.deadlines[0].outcome, DeadlineOutcome::Late);

    let report = verify_bundle(
        &Scenario::with(Options {
            reply_issued_at_ms: Some(due - 1),
            ..Options::default()
        })
        .bundle(),
    );
    assert_verified(&report);
    assert_eq!(report.deadlines[0].outcome, DeadlineOutcome::OnTime);
}

#[test]
fn without_calendars_a_deadline_the_receipts_left_open_is_unknown() {
    let report = verify_bundle(
        &Scenario::with(Options {
            no_calendars: true,
            ..Options::default()
        })
        .bundle(),
    );
    assert_verified(&report);
    let outcomes: Vec<_> = report.deadlines.iter().map(|d| d.outcome).collect();
    assert_eq!(
        outcomes,
        [
            DeadlineOutcome::Unknown,
            DeadlineOutcome::NoReplyRequired,
            DeadlineOutcome::Unknown,
            DeadlineOutcome::NoReplyRequired,
        ]
    );
    assert_eq!(report.deadlines[0].due_at_ms, None);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("no working-day calendar for 2026")),
        "{:?}",
        report.notes
    );
}

// ---- tampering -----------------------------------------------------------------------------------

#[test]
fn every_flipped_byte_of_a_header_is_caught_and_named() {
    let s = Scenario::new();
    let len = s.case_notice.header_bytes.len();
    for i in 0..len {
        let mut bundle = s.bundle();
        change(&mut item(&mut bundle, CASE).signed, |b| b[i] ^= 0x01);
        // Its receipt no longer matches the envelope; a changed id also leaves the reply to it
        // unmatched, which is not a failure.
        assert_caught(&verify_bundle(&bundle), &[CASE], &[CASE_RECEIPT]);
    }
    // A received notice too.
    let mut bundle = s.bundle();
    change(&mut item(&mut bundle, CONTACT).signed, |b| {
        let last = b.len() - 1;
        b[last] ^= 0x80;
    });
    let report = verify_bundle(&bundle);
    assert_caught(&report, &[CONTACT], &[CONTACT_RECEIPT]);
    assert!(
        report.failures.iter().any(|f| f.item
            == format!("leaf {CONTACT} (received_notice {})", s.contact.header.id)
            && f.problem
                == format!(
                    "signature does not verify with {PEER}'s key {}",
                    peer_key().key_id()
                )),
        "{}",
        report.to_text()
    );
}

#[test]
fn every_flipped_byte_of_a_payload_is_caught_and_named() {
    let s = Scenario::new();
    for (leaf, notice) in [(CASE, &s.case_notice), (REPLY, &s.reply)] {
        for i in 0..notice.payload.len() {
            let mut bundle = s.bundle();
            change(item(&mut bundle, leaf).payload.as_mut().unwrap(), |b| {
                b[i] ^= 0x01
            });
            let report = verify_bundle(&bundle);
            assert_caught(&report, &[leaf], &[]);
            assert_eq!(report.failures.len(), 1, "{}", report.to_text());
            assert!(report.failures[0].problem.contains("payload"));
        }
    }
}

#[test]
fn every_flipped_byte_of_a_signature_is_caught_and_named() {
    let s = Scenario::new();
    for (leaf, receipt_leaf) in [
        (CASE, Some(CASE_RECEIPT)),
        (CASE_RECEIPT, None),
        (CONTACT_RECEIPT, None),
    ] {
        for i in 0..64 {
            let mut bundle = s.bundle();
            change(&mut item(&mut bundle, leaf).signature, |b| b[i] ^= 0x01);
            // The envelope digest in a notice's receipt covers the signature.
            let may: Vec<u64> = receipt_leaf.into_iter().collect();
            assert_caught(&verify_bundle(&bundle), &[leaf], &may);
        }
    }
}

/// Re-encodes a receipt item's bytes with a change, keeping its old signature.
fn change_receipt(item: &mut BundleItem, f: impl FnOnce(&mut pb::Receipt)) {
    change(&mut item.signed, |bytes| {
        let mut receipt = pb::Receipt::decode(bytes.as_slice()).unwrap();
        f(&mut receipt);
        *bytes = receipt.encode_to_vec();
    });
}

#[test]
fn a_changed_receipt_time_is_caught_and_named() {
    let s = Scenario::new();
    for leaf in [
        CASE_RECEIPT,
        REPLY_RECEIPT,
        CONTACT_RECEIPT,
        BULLETIN_RECEIPT,
    ] {
        for shift in [1, -3_600_000, 86_400_000] {
            let mut bundle = s.bundle();
            change_receipt(item(&mut bundle, leaf), |r| r.received_at_ms += shift);
            let report = verify_bundle(&bundle);
            assert_caught(&report, &[leaf], &[]);
            assert!(
                report
                    .failures
                    .iter()
                    .any(|f| f.problem.starts_with("signature does not verify")),
                "{}",
                report.to_text()
            );
        }
    }
}

#[test]
fn a_removed_item_is_caught_and_named() {
    let s = Scenario::new();
    for leaf in CASE..=QUERY {
        let mut bundle = s.bundle();
        bundle.items.retain(|i| i.leaf_index != leaf);
        let report = verify_bundle(&bundle);
        // A notice's receipt then has no notice; a received notice, no receipt.
        let may = match leaf {
            CASE | REPLY | CONTACT | BULLETIN => vec![leaf + 1],
            REPLY_RECEIPT | CONTACT_RECEIPT => vec![leaf - 1],
            _ => vec![],
        };
        assert_caught(&report, &[leaf], &may);
        assert!(
            report
                .failures
                .iter()
                .any(|f| f.item == format!("leaf {leaf}") && f.problem.starts_with("missing"))
        );
    }
    // A received notice's receipt removed: the notice is then without its receipt.
    let mut bundle = s.bundle();
    bundle.items.retain(|i| i.leaf_index != CONTACT_RECEIPT);
    assert_caught(&verify_bundle(&bundle), &[CONTACT_RECEIPT, CONTACT], &[]);
    // Several removed at once, reported as one gap when long.
    let mut bundle = s.bundle();
    bundle.last_leaf = 100;
    let report = verify_bundle(&bundle);
    assert!(!report.ok);
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.item == "leaves 11 to 100" && f.problem.starts_with("90 leaves missing")),
        "{}",
        report.to_text()
    );
}

#[test]
fn two_swapped_items_are_caught_and_both_named() {
    let s = Scenario::new();
    for (a, b) in [
        (REPLY, CONTACT),
        (CASE, QUERY),
        (REPLY_RECEIPT, CONTACT_RECEIPT),
    ] {
        let mut bundle = s.bundle();
        item(&mut bundle, a).leaf_index = u64::MAX;
        item(&mut bundle, b).leaf_index = a;
        item(&mut bundle, u64::MAX).leaf_index = b;
        // Receipts logged before their notices are named too.
        assert_caught(
            &verify_bundle(&bundle),
            &[a, b],
            &[CASE_RECEIPT, REPLY_RECEIPT, CONTACT_RECEIPT],
        );
    }
    // Swapping the whole items (index and proof together) is caught by the order of the log.
    let mut bundle = s.bundle();
    let (i, j) = ((REPLY - CASE) as usize, (CONTACT - CASE) as usize);
    let (x, y) = (bundle.items[i].clone(), bundle.items[j].clone());
    bundle.items[i] = BundleItem {
        leaf_index: x.leaf_index,
        ..y.clone()
    };
    bundle.items[j] = BundleItem {
        leaf_index: y.leaf_index,
        ..x
    };
    assert_caught(
        &verify_bundle(&bundle),
        &[REPLY, CONTACT],
        &[REPLY_RECEIPT, CONTACT_RECEIPT],
    );
}

#[test]
fn a_replaced_key_is_caught_and_every_item_it_signed_named() {
    let s = Scenario::new();
    let mut bundle = s.bundle();
    let entry = bundle.keys.iter_mut().find(|k| k.county == PEER).unwrap();
    entry.public_key = hex::encode(key(9).verifying_key().as_bytes());
    let report = verify_bundle(&bundle);
    // 610603 signed the case notice's receipt, the reply and the contact letter.
    assert_caught(&report, &[CASE_RECEIPT, REPLY, CONTACT], &[]);
    assert_eq!(report.failures.len(), 3, "{}", report.to_text());
    assert!(
        report.failures.iter().all(|f| f.problem.contains(&format!(
            "{PEER}'s key {}, which is not among {PEER}'s keys in the bundle",
            peer_key().key_id()
        ))),
        "{}",
        report.to_text()
    );
    // The checkpoint of 610603's log in its receipt no longer opens either: a note.
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("checkpoint of 610603's log")),
        "{:?}",
        report.notes
    );

    // The node's own key replaced: every checkpoint and everything it signed fails.
    let mut bundle = s.bundle();
    bundle.keys[0].public_key = hex::encode(key(9).verifying_key().as_bytes());
    let report = verify_bundle(&bundle);
    assert!(!report.ok);
    assert!(report.failures.iter().any(|f| f.item == "checkpoint"));
    let (leaves, _) = named(&report);
    assert!(leaves.is_superset(&[CASE, REPLY_RECEIPT, CONTACT_RECEIPT, QUERY].into()));

    // A key whose validity window does not cover the time of signing.
    let mut bundle = s.bundle();
    let entry = bundle.keys.iter_mut().find(|k| k.county == PEER).unwrap();
    entry.valid_from_ms = Some(cst(datetime!(2026-03-06 00:00)));
    let report = verify_bundle(&bundle);
    // The receipt of Mar 2 and the reply of Mar 5 were signed before; the letter of Mar 9 after.
    assert_caught(&report, &[CASE_RECEIPT, REPLY], &[]);
}

#[test]
fn a_checkpoint_from_a_forked_log_is_caught_and_named() {
    let s = Scenario::new();
    let clean = s.bundle();
    for (i, earlier) in clean.earlier_checkpoints.iter().enumerate() {
        let size = Checkpoint::parse_body(
            &earlier.checkpoint[..earlier.checkpoint.find("\n\n").unwrap() + 1],
        )
        .unwrap()
        .size;
        // The same number of leaves, one of them different, signed by the node.
        let mut other = s.log.hashes[..size as usize].to_vec();
        other[size as usize - 1] = leaf_hash(b"a notice that was rewritten");
        let mut bundle = clean.clone();
        bundle.earlier_checkpoints[i].checkpoint = signed_checkpoint(NODE, &node_key(), &other);
        let report = verify_bundle(&bundle);
        assert!(!report.ok);
        let items: Vec<&str> = report.failures.iter().map(|f| f.item.as_str()).collect();
        assert_eq!(
            items,
            [format!("earlier_checkpoints[{i}]")],
            "{}",
            report.to_text()
        );
    }

    // A checkpoint of the full size with another root: two trees of one size.
    let mut other = s.log.hashes.clone();
    other[0] = leaf_hash(b"rewritten");
    let mut bundle = clean.clone();
    bundle.earlier_checkpoints.push(EarlierCheckpoint {
        checkpoint: signed_checkpoint(NODE, &node_key(), &other),
        consistency_proof: Vec::new(),
    });
    let report = verify_bundle(&bundle);
    assert_eq!(report.failures.len(), 1, "{}", report.to_text());
    assert_eq!(report.failures[0].item, "earlier_checkpoints[4]");
    assert!(report.failures[0].problem.contains("forked"));

    // A checkpoint larger than the bundle's: the log was rolled back.
    let mut longer = s.log.hashes.clone();
    longer.push(leaf_hash(b"later"));
    let mut bundle = clean.clone();
    bundle.earlier_checkpoints[0].checkpoint = signed_checkpoint(NODE, &node_key(), &longer);
    let report = verify_bundle(&bundle);
    assert_eq!(report.failures.len(), 1, "{}", report.to_text());
    assert!(report.failures[0].problem.contains("rolled back"));

    // A forked checkpoint the node handed to a peer inside its receipt.
    let report = verify_bundle(
        &Scenario::with(Options {
            fork_in_receipt: true,
            ..Options::default()
        })
        .bundle(),
    );
    assert_caught(&report, &[CONTACT_RECEIPT], &[]);
    assert_eq!(report.failures.len(), 1, "{}", report.to_text());
    assert!(report.failures[0].problem.contains("forked"));
}

#[test]
fn a_checkpoint_signed_by_another_key_is_caught() {
    let s = Scenario::new();
    let mut bundle = s.bundle();
    bundle.checkpoint = signed_checkpoint(NODE, &peer_key(), &s.log.hashes);
    let report = verify_bundle(&resigned(bundle));
    assert!(!report.ok);
    assert_eq!(report.failures[0].item, "checkpoint");
    assert_eq!(report.checkpoint_size, None);
    assert!(report.to_text().contains("Checkpoint:  did not open"));
}

#[test]
fn a_payload_removed_from_an_unredacted_bundle_is_caught_and_named() {
    let mut bundle = Scenario::new().bundle();
    item(&mut bundle, REPLY).payload = None;
    let report = verify_bundle(&bundle);
    assert_caught(&report, &[REPLY], &[]);
    assert_eq!(report.failures.len(), 1);
    assert!(report.failures[0].problem.contains("not redacted"));
}

#[test]
fn a_stated_deadline_that_disagrees_is_caught_and_named() {
    // 610603's receipt states a due time a day late, properly signed and logged.
    let s = Scenario::with(Options {
        peer_due_shift_ms: 86_400_000,
        ..Options::default()
    });
    let report = verify_bundle(&s.bundle());
    assert_caught(&report, &[CASE_RECEIPT], &[]);
    assert_eq!(report.failures.len(), 1, "{}", report.to_text());
    assert!(
        report.failures[0]
            .problem
            .contains(&s.case_notice.header.id.to_string())
            && report.failures[0].problem.contains("due"),
        "{}",
        report.to_text()
    );
    // The deadline table keeps the recomputed due time.
    assert_eq!(
        report.deadlines[0].due_at_ms,
        Some(cst(datetime!(2026-03-13 00:00)))
    );

    // The node's own receipt states one a minute early.
    let report = verify_bundle(
        &Scenario::with(Options {
            node_due_shift_ms: -60_000,
            ..Options::default()
        })
        .bundle(),
    );
    assert_caught(&report, &[CONTACT_RECEIPT], &[]);
    assert_eq!(report.failures.len(), 1, "{}", report.to_text());

    // The receipt re-signed with a due time changed after the fact: its leaf changes too.
    let s = Scenario::new();
    let mut bundle = s.bundle();
    let it = item(&mut bundle, CASE_RECEIPT);
    change_receipt(it, |r| r.reply_due_at_ms += 86_400_000);
    let signed = B64.decode(&it.signed).unwrap();
    it.signature =
        B64.encode(peer_key().sign(liaison_core::receipt::RECEIPT_SIGNING_PREFIX, &signed));
    let report = verify_bundle(&bundle);
    assert_caught(&report, &[CASE_RECEIPT], &[]);
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.problem.contains("states that a reply")),
        "{}",
        report.to_text()
    );

    // The calendars dropped from the bundle: the stated due times can no longer be checked.
    let mut bundle = s.bundle();
    bundle.calendars.clear();
    assert_caught(
        &verify_bundle(&bundle),
        &[CASE_RECEIPT, CONTACT_RECEIPT],
        &[],
    );

    // A rule changed in the bundle's policy.
    let mut bundle = s.bundle();
    let rule = bundle
        .policy
        .rules
        .iter_mut()
        .find(|r| r.kind == "contact_letter")
        .unwrap();
    // 3 days from Mon 2026-03-09 end on Thu Mar 12, not (as 5 days do) on Mon Mar 16.
    rule.urgent = liaison_core::Period::CalendarDays(3);
    assert_caught(&verify_bundle(&bundle), &[CONTACT_RECEIPT], &[]);
}

#[test]
fn an_omitted_leaf_in_a_bundle_without_a_peer_is_caught_and_named() {
    let s = Scenario::new();
    let mut bundle = s.bundle();
    bundle.items.retain(|i| i.leaf_index != QUERY);
    bundle.omitted.push(s.omitted(QUERY));
    let report = verify_bundle(&bundle);
    assert_caught(&report, &[QUERY], &[]);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].item, format!("leaf {QUERY} (omitted)"));
}

#[test]
fn a_leaf_given_twice_or_outside_the_range_is_caught() {
    let s = Scenario::new();
    let mut bundle = s.bundle();
    let copy = item(&mut bundle, QUERY).clone();
    bundle.items.push(copy);
    assert_caught(&verify_bundle(&bundle), &[QUERY], &[]);

    let mut bundle = s.bundle();
    bundle.last_leaf = BULLETIN_RECEIPT;
    let report = verify_bundle(&resigned(bundle));
    let (leaves, others) = named(&report);
    assert_eq!(leaves, BTreeSet::from([QUERY]), "{}", report.to_text());
    // The leaf after the new range must be shown, and it is the one left out.
    assert_eq!(others, BTreeSet::from(["leaf_after".to_owned()]));
}

#[test]
fn a_tail_cut_by_the_node_itself_is_caught_by_the_leaf_after_the_range() {
    let s = Scenario::new();
    let mut bundle = s.bundle();
    bundle.items.retain(|i| i.leaf_index != QUERY);
    bundle.last_leaf = BULLETIN_RECEIPT;
    bundle.leaf_after = Some(s.omitted(QUERY));
    let report = verify_bundle(&resigned(bundle));
    assert!(!report.ok);
    let problems: Vec<&str> = report
        .failures
        .iter()
        .filter(|f| f.item == "leaf_after")
        .map(|f| f.problem.as_str())
        .collect();
    assert_eq!(
        problems,
        [
            "it was logged at 2026-03-30 16:00:00 CST, inside the period (to 2026-04-01 00:00:00 CST): \
          the range leaves out leaves of the period logged after last_leaf 9"
        ],
        "{}",
        report.to_text()
    );
}

#[test]
fn a_head_cut_by_the_node_itself_is_caught_by_the_leaf_before_the_range() {
    let s = Scenario::new();
    let mut bundle = s.bundle();
    bundle
        .items
        .retain(|i| ![CASE, CASE_RECEIPT].contains(&i.leaf_index));
    bundle.first_leaf = REPLY;
    bundle.leaf_before = Some(s.omitted(CASE_RECEIPT));
    let report = verify_bundle(&resigned(bundle));
    assert!(
        report.failures.iter().any(|f| f.item == "leaf_before"
            && f.problem
                .starts_with("it was logged at 2026-03-02 09:00:06 CST, inside the period")),
        "{}",
        report.to_text()
    );
}

#[test]
fn a_notice_of_the_peer_hidden_as_an_omitted_leaf_is_caught() {
    let s = Scenario::new();
    let mut bundle = s.bundle();
    bundle.peer = Some(PEER.into());
    bundle.items.retain(|i| {
        ![BULLETIN, BULLETIN_RECEIPT, CONTACT, CONTACT_RECEIPT].contains(&i.leaf_index)
    });
    bundle.omitted = [CONTACT, CONTACT_RECEIPT, BULLETIN, BULLETIN_RECEIPT]
        .map(|i| s.omitted(i))
        .to_vec();
    let report = verify_bundle(&resigned(bundle));
    let (leaves, _) = named(&report);
    assert_eq!(
        leaves,
        BTreeSet::from([CONTACT, CONTACT_RECEIPT]),
        "{}",
        report.to_text()
    );
    assert!(report.failures.iter().all(|f| f.problem.starts_with(
        "it concerns 610603, the bundle's peer: a bundle for one peer must give every leaf"
    )));
}

#[test]
fn a_notice_moved_to_the_other_direction_is_caught() {
    let s = Scenario::new();
    let mut bundle = s.bundle();
    item(&mut bundle, CONTACT).kind = "sent_notice".into();
    // The leaf hash covers the kind; the direction is wrong; its receipt loses its notice.
    assert_caught(&verify_bundle(&bundle), &[CONTACT, CONTACT_RECEIPT], &[]);
}

// ---- robustness ----------------------------------------------------------------------------------

#[test]
fn the_verifier_does_not_panic_on_mangled_bundles() {
    let s = Scenario::new();
    let text = serde_json::to_string(&redacted(s.bundle())).unwrap();
    let bytes = text.as_bytes();
    // Change one character at many places; whatever still parses must verify without panicking.
    let mut parsed = 0;
    for i in (0..bytes.len()).step_by(7) {
        for replacement in [b'0', b'9', b'A', b'"', b'-'] {
            let mut mangled = bytes.to_vec();
            mangled[i] = replacement;
            let Ok(mangled) = String::from_utf8(mangled) else {
                continue;
            };
            if let Ok(bundle) = parse_bundle(&mangled) {
                parsed += 1;
                let report = verify_bundle(&bundle);
                let _ = report.to_text();
            }
        }
    }
    assert!(parsed > 100, "{parsed}");

    // Extreme values.
    let mut bundle = s.bundle();
    bundle.first_leaf = 0;
    bundle.last_leaf = u64::MAX;
    bundle.created_at_ms = i64::MIN;
    bundle.from_ms = i64::MAX;
    bundle.to_ms = i64::MIN;
    bundle.peer = Some("not a county".into());
    bundle.node.county = "ünïcode".repeat(40);
    bundle.keys[1].public_key = "zz".into();
    bundle.keys[2].valid_from_ms = Some(i64::MAX);
    bundle.keys[2].valid_until_ms = Some(i64::MIN);
    bundle.policy.rules.push(BundleRule {
        kind: "approval_request".into(),
        normal: liaison_core::Period::WorkingDays(u32::MAX),
        urgent: liaison_core::Period::CalendarDays(0),
    });
    bundle.calendars.push("year = ".into());
    bundle.earlier_checkpoints[0].consistency_proof = vec!["00".into(); 3];
    bundle.items[0].leaf_index = u64::MAX;
    bundle.items[1].inclusion_proof = vec![hex::encode([0u8; 32]); 200];
    bundle.items[2].signed = "not base64!".into();
    bundle.items[3].signature = B64.encode([1u8; 3]);
    bundle.items[4].kind = "lost_notice".into();
    bundle.omitted.push(OmittedLeaf {
        leaf_index: u64::MAX - 1,
        kind: "".into(),
        logged_at_ms: i64::MIN,
        counterparty: "".into(),
        content_hash: "".into(),
        inclusion_proof: vec![],
    });
    let report = verify_bundle(&bundle);
    assert!(!report.ok);
    let _ = report.to_text();

    // Receipts with extreme times.
    let mut bundle = s.bundle();
    for (leaf, t) in [(CASE_RECEIPT, i64::MIN), (CONTACT_RECEIPT, i64::MAX)] {
        change_receipt(item(&mut bundle, leaf), |r| {
            r.received_at_ms = t;
            r.reply_due_at_ms = t;
        });
    }
    let report = verify_bundle(&bundle);
    assert_caught(&report, &[CASE_RECEIPT, CONTACT_RECEIPT], &[]);

    // An empty bundle.
    let mut bundle = s.bundle();
    bundle.items.clear();
    bundle.keys.clear();
    bundle.earlier_checkpoints.clear();
    bundle.checkpoint.clear();
    let report = verify_bundle(&bundle);
    assert!(!report.ok);
    let _ = report.to_text();
}

// ---- the worked example of docs/audit-format.md ---------------------------------------------------

#[test]
fn the_worked_example_of_the_format_is_reproduced_byte_for_byte() {
    // The notice and receipt of docs/protocol.md's worked example, as leaves 0 and 1 of 610602's log.
    let body: NoticeBody = serde_json::from_value(serde_json::json!(
        {"kind": "contact_letter", "subject": "test", "text": "hello"}
    ))
    .unwrap();
    let notice = SignedNotice::sign(
        &key(1),
        Outgoing {
            id: NoticeId::new(1_780_000_000_000, [7; 10]),
            sender: county(NODE),
            recipient: county(PEER),
            kind: NoticeKind::ContactLetter,
            urgent: false,
            issued_at_ms: 1_780_000_000_000,
            in_reply_to: None,
        },
        body.encode(),
    );
    let receipt = SignedReceipt::sign(
        &key(2),
        Receipt {
            notice_id: Some(notice.header.id),
            envelope_sha256: notice.envelope_sha256(),
            recipient: county(PEER),
            sender: Some(county(NODE)),
            received_at_ms: 1_780_000_001_000,
            outcome: Outcome::Accepted,
            reply_due_at_ms: None,
            key_id: key(2).key_id(),
            checkpoint: None,
            existed_by_ms: None,
        },
    );
    let leaf0 = notice.leaf(LeafKind::SentNotice, 1_780_000_000_000);
    let leaf1 = TlogLeaf {
        kind: LeafKind::ReceivedReceipt,
        logged_at_ms: 1_780_000_002_000,
        counterparty: county(PEER),
        content: receipt.content_hash(),
    };
    let (bytes0, bytes1) = (leaf0.bytes(), leaf1.bytes());
    assert_eq!(bytes0.len(), 63);
    assert_eq!(
        hex::encode(content_hash(&notice.header_bytes, &notice.signature)),
        "c6fcb49c1b67ab1d24efc15cb025c91d031a47553484c59469f14e316c9f55fd"
    );
    assert_eq!(
        hex::encode(bytes0),
        "6c696169736f6e2f76312f6c65616600010000019e70448800363130363033\
         c6fcb49c1b67ab1d24efc15cb025c91d031a47553484c59469f14e316c9f55fd"
    );
    assert_eq!(
        hex::encode(bytes1),
        "6c696169736f6e2f76312f6c65616600040000019e70448fd0363130363033\
         78bbcf73d69011c7d2f99c20f1d27fc1856d41befaae9f6578629e5615cb4e4d"
    );
    let (h0, h1) = (leaf0.hash(), leaf1.hash());
    assert_eq!(h0, leaf_hash(&bytes0));
    assert_eq!(
        hex::encode(h0),
        "7c2de193d8f017a413ffe4705d77e6f90c853f19f82c1821d9c29ff733cf3572"
    );
    assert_eq!(
        hex::encode(h1),
        "f1f7f4e833e688091c2dd94fb0c252c9941bbfbd7aa24729fcb7a5c785a6015d"
    );
    let leaves = [h0, h1];
    let root2 = root(&leaves[..], 2).unwrap();
    assert_eq!(
        hex::encode(root2),
        "0fd3ab98fdbddab341a3fa6850e9e0d3e326c32d76242fac03f23b933612e217"
    );
    assert_eq!(inclusion_proof(&leaves[..], 0, 2).unwrap(), [h1]);
    assert_eq!(inclusion_proof(&leaves[..], 1, 2).unwrap(), [h0]);
    assert_eq!(consistency_proof(&leaves[..], 1, 2).unwrap(), [h1]);

    let node = node_key();
    let signer = NoteSigner::for_county(county(NODE), &node).unwrap();
    assert_eq!(signer.key_id(), 0x3e594add);
    assert_eq!(
        signer.verifier_key().to_string(),
        "liaison/county/610602+3e594add+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c"
    );
    assert_eq!(
        signed_checkpoint(NODE, &key(1), &leaves[..1]),
        "liaison/county/610602\n1\nfC3hk9jwF6QT/+RwXXfm+QyFPxn4LBgh2cKf9zPPNXI=\n\n\u{2014} \
         liaison/county/610602 PllK3ZDOV1DNdSGUxZ266Ihck4+SLyT6Yf/1mZcAJxunzTOKnNKbRYpAteBMmJg4KqZSle2QPJQknPJTWPlzKSLqKQs=\n"
    );
    assert_eq!(
        signed_checkpoint(NODE, &key(1), &leaves),
        "liaison/county/610602\n2\nD9OrmP292rNBo/poUOng0+Mmwy12JC+sA/I7kzYS4hc=\n\n\u{2014} \
         liaison/county/610602 PllK3bqwXTbJbi1puekhSveauaSj9EhD853/yJMB7yVtckySpvcoA+6o4HESSHnxxy4hn0DHfoqBaXijTr+oGO0ASAo=\n"
    );
}

// ---- keys pinned to the city's directory ---------------------------------------------------------

/// The directory of 延安市 610600, signed by the city's key (seed 7), that lists the three
/// counties with their real keys (610603's from 2025-01-01).
fn city_directory() -> SignedDirectory {
    let county = |code: &str, name: &str, key: NodeKey, from: &str| CountyDoc {
        code: code.into(),
        name: name.into(),
        endpoint: format!("https://{code}.example:7443"),
        tls_ca: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
        keys: vec![KeyDoc {
            public_key: hex::encode(key.verifying_key().as_bytes()),
            valid_from: from.into(),
            valid_until: None,
        }],
        deadlines: None,
    };
    let mut doc = DirectoryDoc::new("610600", "延安市");
    doc.counties = vec![
        county(NODE, "宝塔区", node_key(), "2020-01-01T00:00:00+08:00"),
        county(PEER, "安塞区", peer_key(), "2025-01-01T00:00:00+08:00"),
        county(THIRD, "延长县", third_key(), "2020-01-01T00:00:00+08:00"),
    ];
    let city = key(7);
    let signed = sign_directory(&mut doc, &city, cst(datetime!(2026-03-01 09:00))).unwrap();
    let vkey = city_verifier_key("610600", &city).unwrap();
    SignedDirectory::open(&signed.note, &vkey).unwrap()
}

#[test]
fn honest_bundles_verify_against_the_city_directory_and_say_so() {
    let s = Scenario::new();
    let directory = city_directory();
    let full = s.bundle();
    let mut peer = s.bundle();
    peer.peer = Some(PEER.into());
    peer.items
        .retain(|i| ![BULLETIN, BULLETIN_RECEIPT].contains(&i.leaf_index));
    peer.omitted = vec![s.omitted(BULLETIN), s.omitted(BULLETIN_RECEIPT)];
    for bundle in [full.clone(), redacted(full.clone()), resigned(peer)] {
        let report = verify_bundle_with_directory(&bundle, &directory);
        assert_verified(&report);
        assert!(
            report
                .to_text()
                .contains("keys checked against the directory of city 610600, serial 1"),
            "{}",
            report.to_text()
        );
    }
    let alone = verify_bundle(&full).to_text();
    assert!(
        alone.contains("keys taken from the bundle itself"),
        "{alone}"
    );
}

#[test]
fn a_forged_peer_key_verifies_from_the_bundle_alone_but_not_against_the_city_directory() {
    let forged = Scenario::with(Options {
        forged_peer_key: true,
        ..Options::default()
    })
    .bundle();
    // The bundle alone cannot tell: the exporter supplied the key it checks with.
    assert_verified(&verify_bundle(&forged));

    let report = verify_bundle_with_directory(&forged, &city_directory());
    assert!(!report.ok);
    let forged_id = key(9).key_id();
    assert!(
        report.failures.iter().any(|f| f.item == "keys[1] (610603)"
            && f.problem.contains(&format!(
                "key {forged_id} is not one of 610603's keys in the city's directory"
            ))),
        "{}",
        report.to_text()
    );
    // Everything signed with it is named: the case notice's receipt, the reply, the letter.
    let (leaves, _) = named(&report);
    assert!(
        leaves.is_superset(&[CASE_RECEIPT, REPLY, CONTACT].into()),
        "{}",
        report.to_text()
    );
}

#[test]
fn against_the_directory_a_key_is_used_only_within_the_directorys_window() {
    let s = Scenario::new();
    let mut bundle = s.bundle();
    // The bundle claims 610603's key from 2025; the directory says it starts later.
    let mut doc_key = city_directory();
    for c in &mut doc_key.federation.counties {
        if c.code.as_str() == PEER {
            c.keys[0].valid_from_ms = cst(datetime!(2026-03-06 00:00));
        }
    }
    bundle.keys[1].valid_from_ms = Some(cst(datetime!(2025-01-01 00:00)));
    let report = verify_bundle_with_directory(&bundle, &doc_key);
    // The receipt of Mar 2 and the reply of Mar 5 were signed before the directory's start.
    assert_caught(&report, &[CASE_RECEIPT, REPLY], &[]);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("signatures are checked with the directory's window")),
        "{:?}",
        report.notes
    );
}

// ---- the signed claims ---------------------------------------------------------------------------

/// The failures of `report` about the bundle's claims.
fn claim_problems(report: &AuditReport) -> Vec<String> {
    report
        .failures
        .iter()
        .filter(|f| f.item == "claims")
        .map(|f| f.problem.clone())
        .collect()
}

#[test]
fn a_creation_time_moved_30_days_ahead_is_caught_and_named() {
    let s = Scenario::new();
    let mut bundle = s.bundle();
    bundle.created_at_ms += 30 * 86_400_000;
    let report = verify_bundle(&bundle);
    assert!(!report.ok);
    assert_eq!(
        claim_problems(&report),
        [
            "created_at_ms was changed after the node signed the bundle: the bundle says \
          2026-04-30 12:00:00 CST (1777521600000), the node signed 2026-03-31 12:00:00 CST \
          (1774929600000)"
        ]
    );
}

#[test]
fn a_period_relabelled_to_another_quarter_is_caught_and_named() {
    let s = Scenario::new();
    let mut bundle = s.bundle();
    bundle.from_ms = cst(datetime!(2026-04-01 00:00));
    bundle.to_ms = cst(datetime!(2026-07-01 00:00));
    let report = verify_bundle(&bundle);
    let problems = claim_problems(&report);
    assert_eq!(problems.len(), 2, "{}", report.to_text());
    assert!(problems[0].starts_with("from_ms was changed after the node signed the bundle"));
    assert!(problems[1].starts_with("to_ms was changed after the node signed the bundle"));
}

#[test]
fn a_changed_peer_filter_redaction_or_leaf_range_is_caught_and_named() {
    let s = Scenario::new();
    for (change, name) in [
        (
            (|b: &mut Bundle| b.peer = Some(PEER.into())) as fn(&mut Bundle),
            "peer",
        ),
        (|b: &mut Bundle| b.redacted = true, "redacted"),
        (|b: &mut Bundle| b.last_leaf -= 1, "last_leaf"),
        (|b: &mut Bundle| b.first_leaf += 1, "first_leaf"),
    ] {
        let mut bundle = s.bundle();
        change(&mut bundle);
        let problems = claim_problems(&verify_bundle(&bundle));
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(&format!("{name} was changed after the node signed"))),
            "{name}: {problems:?}"
        );
    }
}

#[test]
fn unsigned_or_forged_claims_are_refused() {
    let s = Scenario::new();
    let mut unsigned = s.bundle();
    unsigned.claims.clear();
    unsigned.claims_signature.clear();
    assert_eq!(
        claim_problems(&verify_bundle(&unsigned)),
        ["the bundle's claims are not signed: nothing shows that the node made it as it is"]
    );

    // Claims changed together with the bundle, but signed by someone else.
    let mut forged = s.bundle();
    forged.created_at_ms += 30 * 86_400_000;
    forged.claims = forged.claims_text();
    forged.claims_signature = B64.encode(key(9).sign(
        liaison_core::audit::CLAIMS_SIGNING_PREFIX,
        forged.claims.as_bytes(),
    ));
    let problems = claim_problems(&verify_bundle(&forged));
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].starts_with("the claims signature does not verify with any key of the node"),
        "{problems:?}"
    );
}

#[test]
fn the_worked_example_of_the_signed_claims_is_reproduced_byte_for_byte() {
    // The bundle of leaves 0 and 1 of the format's worked example, with its checkpoint of size 2.
    let mut bundle = Scenario::new().bundle();
    bundle.checkpoint = "liaison/county/610602\n2\nD9OrmP292rNBo/poUOng0+Mmwy12JC+sA/I7kzYS4hc=\n\n\
                         — liaison/county/610602 PllK3bqwXTbJbi1puekhSveauaSj9EhD853/yJMB7yVtckySpvcoA+6o4HESSHnxxy4hn0DHfoqBaXijTr+oGO0ASAo=\n"
        .into();
    bundle.created_at_ms = 1_780_000_060_000;
    bundle.from_ms = 1_779_984_000_000;
    bundle.to_ms = 1_780_070_400_000;
    bundle.peer = Some(PEER.into());
    bundle.redacted = true;
    bundle.first_leaf = 0;
    bundle.last_leaf = 1;
    bundle.sign_claims(&key(1));
    assert_eq!(
        bundle.claims,
        "format liaison-audit-bundle/1\nnode 610602\ncreated_at_ms 1780000060000\n\
         from_ms 1779984000000\nto_ms 1780070400000\npeer 610603\nredacted true\n\
         first_leaf 0\nlast_leaf 1\n\
         checkpoint_sha256 c5755e1b7407cf7c955ff7ab6bd4273e1214dd40a28bdf6dbddcf0f6db42bcf2\n"
    );
    assert_eq!(bundle.claims.len(), 246);
    assert_eq!(
        bundle.claims_signature,
        "S3OkHZWP/rHbP19HxQJ1CxJQFIPzmOORePgES9tZ6TdmVK1KsARKXPJsRPdXNCXQq+485lCcPUdKWvpIXq/3BQ=="
    );
    let mut input = b"liaison/v1/bundle\0".to_vec();
    input.extend_from_slice(bundle.claims.as_bytes());
    let signature = B64.decode(&bundle.claims_signature).unwrap();
    key(1)
        .verifying_key()
        .verify_strict(&input, &signature.as_slice().try_into().unwrap())
        .unwrap();
}

#[test]
fn against_the_directory_a_key_of_a_county_it_does_not_list_is_refused() {
    let mut directory = city_directory();
    directory
        .federation
        .counties
        .retain(|c| c.code.as_str() != THIRD);
    let report = verify_bundle_with_directory(&Scenario::new().bundle(), &directory);
    assert!(!report.ok);
    assert!(
        report.failures.iter().any(|f| f.item == "keys[2] (610621)"
            && f.problem == "county 610621 is not in the city's directory (serial 1)"),
        "{}",
        report.to_text()
    );
    // The bulletin's receipt from 610621 can no longer be checked.
    let (leaves, _) = named(&report);
    assert!(leaves.contains(&BULLETIN_RECEIPT), "{}", report.to_text());
}
