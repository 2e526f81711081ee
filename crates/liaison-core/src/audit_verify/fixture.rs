//! A small, true log of 宝塔区 610602 and its audit bundle, for the verifier's unit tests.
//!
//! The log holds four leaves: a contact letter the node sent to 安塞区 610603 (leaf 0), 610603's
//! receipt for it (leaf 1), 610603's reply letter (leaf 2) and the node's receipt for the reply,
//! which carries the node's checkpoint of the first three leaves (leaf 3). The bundle covers all
//! four, with that checkpoint as its one earlier checkpoint. Keys come from fixed seeds.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use time::PrimitiveDateTime;
use time::macros::datetime;

use crate::audit::{
    BUNDLE_FORMAT, Bundle, BundleItem, BundleKey, BundleNode, BundlePolicy, EarlierCheckpoint,
    OmittedLeaf,
};
use crate::body::{ContactLetter, NoticeBody, ReplyLetter};
use crate::checkpoint::{Checkpoint, NoteSigner, origin_for, sign_checkpoint};
use crate::clock::CST;
use crate::merkle::{Hash, consistency_proof, inclusion_proof, root};
use crate::notice::Outgoing;
use crate::tlog::LeafKind;
use crate::{
    CountyCode, DuePolicy, HolidayCalendar, NodeKey, NoticeId, Outcome, Receipt, SignedNotice,
    SignedReceipt,
};

use super::AuditReport;

/// The node whose log it is: 宝塔区.
pub(super) const NODE: &str = "610602";
/// Its peer: 安塞区.
pub(super) const PEER: &str = "610603";

/// Leaf indexes.
pub(super) const CONTACT: u64 = 0;
pub(super) const CONTACT_RECEIPT: u64 = 1;
pub(super) const REPLY: u64 = 2;
pub(super) const REPLY_RECEIPT: u64 = 3;

pub(super) fn county(code: &str) -> CountyCode {
    CountyCode::parse(code).unwrap()
}

pub(super) fn key(seed: u8) -> NodeKey {
    NodeKey::new(SigningKey::from_bytes(&[seed; 32]))
}

pub(super) fn node_key() -> NodeKey {
    key(1)
}

pub(super) fn peer_key() -> NodeKey {
    key(2)
}

/// Unix ms of a wall-clock time in China.
pub(super) fn cst(t: PrimitiveDateTime) -> i64 {
    (t.assume_offset(CST).unix_timestamp_nanos() / 1_000_000) as i64
}

/// When the contact letter was issued.
pub(super) fn contact_issued_at() -> i64 {
    cst(datetime!(2026-03-02 09:00))
}

/// When 610603 received it.
pub(super) fn contact_received_at() -> i64 {
    cst(datetime!(2026-03-02 09:00:05))
}

/// When 610603 issued its reply.
pub(super) fn reply_issued_at() -> i64 {
    cst(datetime!(2026-03-05 10:00))
}

/// The due time of a reply to the contact letter under the default policy and built-in calendars.
pub(super) fn contact_due_at() -> i64 {
    DuePolicy::default()
        .due_at(
            crate::NoticeKind::ContactLetter,
            false,
            contact_received_at(),
            &HolidayCalendar::builtin(),
        )
        .unwrap()
        .unwrap()
}

pub(super) fn notice(
    key: &NodeKey,
    from: &str,
    to: &str,
    body: &NoticeBody,
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
            urgent: false,
            issued_at_ms,
            in_reply_to,
        },
        body.encode(),
    )
}

/// A checkpoint of the node's log of `leaves`, signed with `key`.
pub(super) fn node_checkpoint(key: &NodeKey, leaves: &[Hash]) -> String {
    let signer = NoteSigner::for_county(county(NODE), key).unwrap();
    let size = leaves.len() as u64;
    let cp = Checkpoint::new(origin_for(county(NODE)), size, root(leaves, size).unwrap());
    sign_checkpoint(&cp, &signer).unwrap()
}

/// A leaf of the log: kind, signed bytes, signature, and payload with its salt.
pub(super) type Leaf = (LeafKind, Vec<u8>, Vec<u8>, Option<(Vec<u8>, [u8; 32])>);

/// The leaves of the log, when each was logged and its counterparty, and their hashes.
pub(super) struct Log {
    pub(super) leaves: Vec<Leaf>,
    pub(super) logged: Vec<(i64, CountyCode)>,
    pub(super) hashes: Vec<Hash>,
}

impl Log {
    pub(super) fn new() -> Self {
        Self {
            leaves: Vec::new(),
            logged: Vec::new(),
            hashes: Vec::new(),
        }
    }

    /// The time a leaf is logged at: `at`, or the previous leaf's time if that is later.
    fn log_time(&self, at: i64) -> i64 {
        self.logged.last().map_or(at, |(last, _)| at.max(*last))
    }

    /// Logs a notice: a sent one at its issued-at time, a received one 3 s after it.
    pub(super) fn notice(&mut self, kind: LeafKind, notice: &SignedNotice) {
        let issued_at = notice.header.issued_at_ms;
        let logged_at_ms = self.log_time(match kind {
            LeafKind::SentNotice => issued_at,
            _ => issued_at + 3_000,
        });
        let leaf = notice.leaf(kind, logged_at_ms);
        self.hashes.push(leaf.hash());
        self.logged.push((logged_at_ms, leaf.counterparty));
        self.leaves.push((
            kind,
            notice.header_bytes.clone(),
            notice.signature.to_vec(),
            Some((notice.payload.clone(), notice.payload_salt)),
        ));
    }

    /// Logs a receipt: an issued one at its receipt time, a received one 1 s after it.
    pub(super) fn receipt(&mut self, kind: LeafKind, receipt: &SignedReceipt) {
        let r = &receipt.receipt;
        let logged_at_ms = self.log_time(match kind {
            LeafKind::IssuedReceipt => r.received_at_ms,
            _ => r.received_at_ms + 1_000,
        });
        let leaf = receipt
            .leaf(kind, logged_at_ms)
            .expect("a receipt for a readable notice");
        self.hashes.push(leaf.hash());
        self.logged.push((logged_at_ms, leaf.counterparty));
        self.leaves.push((
            kind,
            receipt.receipt_bytes.clone(),
            receipt.signature.to_vec(),
            None,
        ));
    }

    /// The bundle of the whole log, with the checkpoint of size `earlier` as an earlier one.
    pub(super) fn bundle(&self, earlier: Option<u64>) -> Bundle {
        let size = self.hashes.len() as u64;
        let hexes = |hashes: Vec<Hash>| hashes.iter().map(hex::encode).collect::<Vec<_>>();
        let items = self
            .leaves
            .iter()
            .enumerate()
            .map(|(i, (kind, signed, signature, payload))| BundleItem {
                leaf_index: i as u64,
                kind: kind.name().into(),
                logged_at_ms: self.logged[i].0,
                counterparty: self.logged[i].1.to_string(),
                signed: STANDARD.encode(signed),
                signature: STANDARD.encode(signature),
                payload: payload.as_ref().map(|(p, _)| STANDARD.encode(p)),
                payload_salt: payload.as_ref().map(|(_, salt)| STANDARD.encode(salt)),
                inclusion_proof: hexes(inclusion_proof(&self.hashes, i as u64, size).unwrap()),
            })
            .collect();
        let earlier_checkpoints = earlier
            .map(|old| EarlierCheckpoint {
                checkpoint: node_checkpoint(&node_key(), &self.hashes[..old as usize]),
                consistency_proof: hexes(consistency_proof(&self.hashes, old, size).unwrap()),
            })
            .into_iter()
            .collect();
        let keys = [(NODE, node_key()), (PEER, peer_key())]
            .into_iter()
            .map(|(county, key)| BundleKey {
                county: county.into(),
                public_key: hex::encode(key.verifying_key().as_bytes()),
                valid_from_ms: None,
                valid_until_ms: None,
            })
            .collect();
        let policy = DuePolicy::default();
        let mut bundle = Bundle {
            format: BUNDLE_FORMAT.into(),
            node: BundleNode {
                county: NODE.into(),
                name: "宝塔区".into(),
                origin: origin_for(county(NODE)),
            },
            created_at_ms: cst(datetime!(2026-03-31 12:00)),
            from_ms: cst(datetime!(2026-03-01 00:00)),
            to_ms: cst(datetime!(2026-04-01 00:00)),
            peer: None,
            redacted: false,
            keys,
            policy: BundlePolicy::from(&policy),
            peer_policies: Vec::new(),
            calendars: HolidayCalendar::builtin()
                .texts()
                .map(|(_, text)| text.to_owned())
                .collect(),
            checkpoint: node_checkpoint(&node_key(), &self.hashes),
            earlier_checkpoints,
            first_leaf: 0,
            last_leaf: size.saturating_sub(1),
            items,
            omitted: Vec::new(),
            leaf_before: None,
            leaf_after: None,
            claims: String::new(),
            claims_signature: String::new(),
        };
        bundle.sign_claims(&node_key());
        bundle
    }
}

/// The contact letter the node sends 610603.
pub(super) fn contact() -> SignedNotice {
    notice(
        &node_key(),
        NODE,
        PEER,
        &NoticeBody::ContactLetter(ContactLetter {
            subject: "请协助核实流动人口婚育情况".into(),
            text: "该人员现居住我区,请核实其在户籍地的婚育情况。".into(),
            person: None,
        }),
        contact_issued_at(),
        None,
    )
}

/// 610603's reply letter to `contact`.
pub(super) fn reply(contact: &SignedNotice) -> SignedNotice {
    notice(
        &peer_key(),
        PEER,
        NODE,
        &NoticeBody::ReplyLetter(ReplyLetter {
            text: "经核实,该人员已婚,育有一孩。".into(),
        }),
        reply_issued_at(),
        Some(contact.header.id),
    )
}

/// An accepting receipt for `notice`, signed by `signer` for the notice's recipient.
pub(super) fn receipt(
    signer: &NodeKey,
    notice: &SignedNotice,
    received_at_ms: i64,
    reply_due_at_ms: Option<i64>,
    checkpoint: Option<String>,
) -> SignedReceipt {
    SignedReceipt::sign(
        signer,
        Receipt {
            notice_id: Some(notice.header.id),
            envelope_sha256: notice.envelope_sha256(),
            recipient: notice.header.recipient,
            sender: Some(notice.header.sender),
            received_at_ms,
            outcome: Outcome::Accepted,
            reply_due_at_ms,
            key_id: signer.key_id(),
            checkpoint,
            // A reply delivered without an existence proof existed by its receipt time.
            existed_by_ms: notice.header.in_reply_to.map(|_| received_at_ms),
        },
    )
}

/// 610603's receipt for `contact`, stating the due time `due`.
pub(super) fn contact_receipt(contact: &SignedNotice, due: Option<i64>) -> SignedReceipt {
    receipt(&peer_key(), contact, contact_received_at(), due, None)
}

/// When the node received the reply.
pub(super) fn reply_received_at() -> i64 {
    reply_issued_at() + 3_000
}

/// The four-leaf log described at the top of this file.
pub(super) fn log() -> Log {
    let mut log = Log::new();
    let contact = contact();
    log.notice(LeafKind::SentNotice, &contact);
    log.receipt(
        LeafKind::ReceivedReceipt,
        &contact_receipt(&contact, Some(contact_due_at())),
    );
    let reply = reply(&contact);
    log.notice(LeafKind::ReceivedNotice, &reply);
    let checkpoint = node_checkpoint(&node_key(), &log.hashes);
    log.receipt(
        LeafKind::IssuedReceipt,
        &receipt(
            &node_key(),
            &reply,
            reply_received_at(),
            None,
            Some(checkpoint),
        ),
    );
    log
}

/// The bundle of [`log`], which verifies.
pub(super) fn bundle() -> Bundle {
    log().bundle(Some(REPLY_RECEIPT))
}

/// The problems the report names for `item` exactly.
pub(super) fn problems(report: &AuditReport, item: &str) -> Vec<String> {
    report
        .failures
        .iter()
        .filter(|f| f.item == item)
        .map(|f| f.problem.clone())
        .collect()
}

/// The problems the report names for leaf `leaf`, whatever its label.
pub(super) fn leaf_problems(report: &AuditReport, leaf: u64) -> Vec<String> {
    let prefix = format!("leaf {leaf} ");
    report
        .failures
        .iter()
        .filter(|f| f.item.starts_with(&prefix) || f.item == format!("leaf {leaf}"))
        .map(|f| f.problem.clone())
        .collect()
}

/// An item as a leaf shown by its parts (omitted, or just outside the range).
pub(super) fn as_omitted(item: &BundleItem) -> OmittedLeaf {
    let signed = STANDARD.decode(&item.signed).unwrap();
    let signature = STANDARD.decode(&item.signature).unwrap();
    OmittedLeaf {
        leaf_index: item.leaf_index,
        kind: item.kind.clone(),
        logged_at_ms: item.logged_at_ms,
        counterparty: item.counterparty.clone(),
        content_hash: hex::encode(crate::tlog::content_hash(&signed, &signature)),
        inclusion_proof: item.inclusion_proof.clone(),
    }
}

/// Decodes a base64 field, changes its bytes and encodes it again.
pub(super) fn change(field: &mut String, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = STANDARD.decode(&*field).unwrap();
    f(&mut bytes);
    *field = STANDARD.encode(bytes);
}
