//! Each item on its own: what its bytes decode to, whose signature it carries, whether its payload
//! is the one signed, and whether it went the way its kind says.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use liaison_proto::v1 as pb;

use crate::body::NoticeBody;
use crate::clock::format_cst;
use crate::notice::{Header, KeyId, NOTICE_SIGNING_PREFIX, payload_commitment, verify_prefixed};
use crate::receipt::{Outcome, RECEIPT_SIGNING_PREFIX, SignedReceipt};
use crate::tlog::LeafKind;

use super::{Content, Item, Verifier, quote, window};

impl Verifier<'_> {
    pub(super) fn decode_items(&mut self) {
        for item in &self.bundle.items {
            let leaf = item.leaf_index;
            let kind = LeafKind::ALL.into_iter().find(|k| k.name() == item.kind);
            let mut problems = Vec::new();
            if kind.is_none() {
                problems.push(format!(
                    "kind {} is not sent_notice, received_notice, issued_receipt or received_receipt",
                    quote(&item.kind)
                ));
            }
            let signed = decode_base64(&item.signed, "signed", &mut problems);
            let signature = decode_base64(&item.signature, "signature", &mut problems);
            if let Some(s) = &signature
                && s.len() != 64
            {
                problems.push(format!(
                    "signature is {} bytes; an Ed25519 signature is 64",
                    s.len()
                ));
            }
            let content = match (kind, &signed) {
                (Some(k), Some(bytes)) if k.is_notice() => match Header::decode(bytes) {
                    Ok(header) => Content::Notice(header),
                    Err(rejection) => {
                        problems.push(format!(
                            "signed is not a notice header: {}",
                            rejection.reason
                        ));
                        Content::Unreadable
                    }
                },
                (Some(_), Some(bytes)) => {
                    let signature: [u8; 64] = signature
                        .as_deref()
                        .and_then(|s| s.try_into().ok())
                        .unwrap_or([0; 64]);
                    match SignedReceipt::open(pb::SignedReceipt {
                        receipt: bytes.clone(),
                        signature: signature.to_vec(),
                    }) {
                        Ok(r) => Content::Receipt(r.receipt),
                        Err(e) => {
                            problems.push(format!("signed is not a receipt: {e}"));
                            Content::Unreadable
                        }
                    }
                }
                _ => Content::Unreadable,
            };
            let name = kind.map_or("unknown kind", LeafKind::name);
            let label = match &content {
                Content::Notice(h) => format!("leaf {leaf} ({name} {})", h.id),
                Content::Receipt(r) => match r.notice_id {
                    Some(id) => format!("leaf {leaf} ({name} for {id})"),
                    None => format!("leaf {leaf} ({name})"),
                },
                Content::Unreadable => format!("leaf {leaf} ({name})"),
            };
            for problem in problems {
                self.fail_leaf(leaf, label.clone(), problem);
            }
            self.items.push(Item {
                leaf,
                kind,
                signed,
                signature,
                content,
                label,
            });
        }
        for (i, item) in self.items.iter().enumerate() {
            let (Some(kind), Some(h)) = (item.kind, item.header()) else {
                continue;
            };
            self.by_id.entry((kind, h.id)).or_insert(i);
            if let Some(digest) = item.envelope_digest() {
                self.by_digest.entry((kind, digest)).or_insert(i);
            }
            if let Some(original) = h.in_reply_to {
                self.replies_to.entry(original).or_default().push(i);
            }
        }
    }

    pub(super) fn check_items(&mut self) {
        for i in 0..self.items.len() {
            self.check_inclusion_of_item(i);
            match self.items[i].content {
                Content::Notice(_) => self.check_notice(i),
                Content::Receipt(_) => self.check_receipt(i),
                Content::Unreadable => {}
            }
        }
    }

    /// Finds the key of `county` named `key_id` valid at `at_ms` and checks the signature with it;
    /// counts the use.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_signature(
        &mut self,
        county: &str,
        key_id: KeyId,
        at_ms: i64,
        time_name: &str,
        prefix: &[u8],
        message: &[u8],
        signature: Option<&[u8]>,
    ) -> Result<(), String> {
        let of_county: Vec<usize> = (0..self.keys.len())
            .filter(|&i| self.keys[i].as_ref().is_some_and(|k| k.county == county))
            .collect();
        if of_county.is_empty() {
            return Err(format!(
                "the bundle lists no key of {county}, so its signature cannot be checked"
            ));
        }
        let named: Vec<usize> = of_county
            .iter()
            .copied()
            .filter(|&i| self.keys[i].as_ref().is_some_and(|k| k.id == key_id))
            .collect();
        if named.is_empty() {
            let listed: Vec<String> = of_county
                .iter()
                .filter_map(|&i| self.keys[i].as_ref().map(|k| k.id.to_string()))
                .collect();
            return Err(format!(
                "it was signed with {county}'s key {key_id}, which is not among {county}'s keys in the bundle ({})",
                listed.join(", ")
            ));
        }
        let Some(index) = named
            .iter()
            .copied()
            .find(|&i| self.keys[i].as_ref().is_some_and(|k| k.valid_at(at_ms)))
        else {
            let windows: Vec<String> = named
                .iter()
                .filter_map(|&i| {
                    self.keys[i]
                        .as_ref()
                        .map(|k| window(k.valid_from_ms, k.valid_until_ms))
                })
                .collect();
            return Err(format!(
                "{county}'s key {key_id} is valid {}, not at its {time_name} time {}",
                windows.join(" and "),
                format_cst(at_ms)
            ));
        };
        let Some(key) = &self.keys[index] else {
            return Err(format!("{county}'s key {key_id} is not usable"));
        };
        let Some(signature) = signature.and_then(|s| <[u8; 64]>::try_from(s).ok()) else {
            return Err(format!(
                "the signature is not 64 bytes, so it cannot verify with {county}'s key {key_id}"
            ));
        };
        if verify_prefixed(&key.key, prefix, message, &signature) {
            self.signature_uses[index] += 1;
            Ok(())
        } else {
            Err(format!(
                "signature does not verify with {county}'s key {key_id}"
            ))
        }
    }

    pub(super) fn check_notice(&mut self, i: usize) {
        let item = &self.items[i];
        let Some(header) = item.header().cloned() else {
            return;
        };
        let (leaf, label, kind) = (item.leaf, item.label.clone(), item.kind);
        let signed = item.signed.clone().unwrap_or_default();
        let signature = item.signature.clone();
        let node = self.node_county();
        let (sender, recipient) = (header.sender.to_string(), header.recipient.to_string());
        let other = if kind == Some(LeafKind::SentNotice) {
            if sender != node {
                self.fail_leaf(
                    leaf,
                    &label,
                    format!(
                        "a sent notice must be sent by the node {node}, but its sender is {sender}"
                    ),
                );
            }
            recipient.clone()
        } else {
            if recipient != node {
                self.fail_leaf(
                    leaf,
                    &label,
                    format!("a received notice must be addressed to the node {node}, but its recipient is {recipient}"),
                );
            }
            sender.clone()
        };
        if let Some(peer) = self.peer
            && other != peer
        {
            self.fail_leaf(
                leaf,
                &label,
                format!("the bundle is limited to peer {peer}, but this notice is with {other}"),
            );
        }
        if let Err(problem) = self.check_signature(
            &sender,
            header.key_id,
            header.issued_at_ms,
            "issued-at",
            NOTICE_SIGNING_PREFIX,
            &signed,
            signature.as_deref(),
        ) {
            self.fail_leaf(leaf, &label, problem);
        }
        let redacted = self.bundle.redacted;
        let payload = self.bundle.items.get(i).and_then(|b| b.payload.as_ref());
        match payload {
            None if !redacted => self.fail_leaf(
                leaf,
                &label,
                "the payload is missing, but the bundle is not redacted",
            ),
            None => {
                if self
                    .bundle
                    .items
                    .get(i)
                    .is_some_and(|b| b.payload_salt.is_some())
                {
                    self.fail_leaf(
                        leaf,
                        &label,
                        "the payload is left out but its payload_salt is given: the salt must go with the payload",
                    );
                }
            }
            Some(text) => {
                if redacted {
                    self.fail_leaf(
                        leaf,
                        &label,
                        "the bundle says it is redacted, but this notice carries its payload",
                    );
                }
                match STANDARD.decode(text) {
                    Err(e) => self.fail_leaf(
                        leaf,
                        &label,
                        format!("payload is not standard padded base64: {e}"),
                    ),
                    Ok(payload) => {
                        let salt = self
                            .bundle
                            .items
                            .get(i)
                            .and_then(|b| b.payload_salt.as_deref())
                            .map(|text| STANDARD.decode(text));
                        let salt: Option<[u8; 32]> = match salt {
                            Some(Ok(bytes)) => bytes.try_into().ok(),
                            _ => None,
                        };
                        let Some(salt) = salt else {
                            self.fail_leaf(
                                leaf,
                                &label,
                                "the payload comes without its payload_salt (32 bytes, standard padded base64), so it cannot be checked against the header",
                            );
                            return;
                        };
                        let commitment = payload_commitment(&salt, &payload);
                        if commitment != header.payload_commitment {
                            self.fail_leaf(
                                leaf,
                                &label,
                                format!(
                                    "the payload and payload_salt commit to {}, not to the header's payload_commitment {}: the payload is not the one signed",
                                    hex::encode(commitment),
                                    hex::encode(header.payload_commitment)
                                ),
                            );
                        } else {
                            match NoticeBody::decode(&payload) {
                                Err(e) => self.fail_leaf(
                                    leaf,
                                    &label,
                                    format!("the payload is not a valid notice body: {e}"),
                                ),
                                Ok(body) if body.kind() != header.kind => self.fail_leaf(
                                    leaf,
                                    &label,
                                    format!(
                                        "the payload is a {} body, but the header's kind is {}",
                                        body.kind(),
                                        header.kind
                                    ),
                                ),
                                Ok(_) => {}
                            }
                        }
                    }
                }
            }
        }
    }

    pub(super) fn check_receipt(&mut self, i: usize) {
        let item = &self.items[i];
        let Some(receipt) = item.receipt().cloned() else {
            return;
        };
        let (leaf, label, kind) = (item.leaf, item.label.clone(), item.kind);
        let signed = item.signed.clone().unwrap_or_default();
        let signature = item.signature.clone();
        let node = self.node_county();
        let recipient = receipt.recipient.to_string();
        let sender = receipt.sender.map(|s| s.to_string());
        if self
            .bundle
            .items
            .get(i)
            .is_some_and(|b| b.payload.is_some() || b.payload_salt.is_some())
        {
            self.fail_leaf(
                leaf,
                &label,
                "a receipt has no payload, but this item carries one",
            );
        }
        let (signer, other) = if kind == Some(LeafKind::IssuedReceipt) {
            if recipient != node {
                self.fail_leaf(
                    leaf,
                    &label,
                    format!("a receipt the node issued must name the node {node} as recipient, but it names {recipient}"),
                );
            }
            if let Outcome::Rejected(r) = &receipt.outcome {
                self.fail_leaf(
                    leaf,
                    &label,
                    format!(
                        "it rejects its notice ({}), but a node logs only the notices it accepts and their receipts",
                        r.code.name()
                    ),
                );
            }
            (node.to_owned(), sender.clone().unwrap_or_default())
        } else {
            if sender.as_deref() != Some(node) {
                self.fail_leaf(
                    leaf,
                    &label,
                    format!(
                        "a receipt the node received must name the node {node} as sender, but it names {}",
                        sender.as_deref().unwrap_or("no sender")
                    ),
                );
            }
            (recipient.clone(), recipient.clone())
        };
        if let Some(peer) = self.peer
            && other != peer
        {
            self.fail_leaf(
                leaf,
                &label,
                format!("the bundle is limited to peer {peer}, but this receipt is with {other}"),
            );
        }
        if let Err(problem) = self.check_signature(
            &signer,
            receipt.key_id,
            receipt.received_at_ms,
            "received-at",
            RECEIPT_SIGNING_PREFIX,
            &signed,
            signature.as_deref(),
        ) {
            self.fail_leaf(leaf, &label, problem);
        }
    }
}

pub(super) fn decode_base64(
    text: &str,
    field: &str,
    problems: &mut Vec<String>,
) -> Option<Vec<u8>> {
    match STANDARD.decode(text) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            problems.push(format!("{field} is not standard padded base64: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{
        self, CONTACT, CONTACT_RECEIPT, Log, NODE, PEER, REPLY, change, key, leaf_problems,
        node_key, peer_key,
    };
    use super::super::verify_bundle;
    use crate::NoticeKind;
    use crate::body::{Bulletin, BulletinTopic, NoticeBody};
    use crate::notice::Outgoing;
    use crate::tlog::LeafKind;
    use crate::{NoticeId, SignedNotice};

    #[test]
    fn an_item_of_no_leaf_kind_is_named() {
        let mut bundle = fixture::bundle();
        bundle.items[0].kind = "notice".into();
        let report = verify_bundle(&bundle);
        assert!(
            fixture::problems(&report, "leaf 0 (unknown kind)").contains(
                &"kind \"notice\" is not sent_notice, received_notice, issued_receipt or received_receipt".to_owned()
            ),
            "{}",
            report.to_text()
        );
    }

    #[test]
    fn a_signature_that_is_not_64_bytes_is_named() {
        let mut bundle = fixture::bundle();
        change(&mut bundle.items[0].signature, |b| {
            b.pop();
        });
        let report = verify_bundle(&bundle);
        let problems = leaf_problems(&report, CONTACT);
        assert!(
            problems.contains(&"signature is 63 bytes; an Ed25519 signature is 64".to_owned()),
            "{problems:?}"
        );
    }

    #[test]
    fn signed_bytes_that_are_not_base64_are_named() {
        let mut bundle = fixture::bundle();
        bundle.items[0].signed = "not base64!".into();
        let report = verify_bundle(&bundle);
        let problems = leaf_problems(&report, CONTACT);
        assert!(
            problems[0].starts_with("signed is not standard padded base64: "),
            "{problems:?}"
        );
    }

    #[test]
    fn signed_bytes_that_are_no_header_are_named() {
        let mut bundle = fixture::bundle();
        change(&mut bundle.items[0].signed, |b| *b = vec![0xff]);
        let report = verify_bundle(&bundle);
        let problems = leaf_problems(&report, CONTACT);
        assert!(
            problems[0].starts_with("signed is not a notice header: "),
            "{problems:?}"
        );
    }

    #[test]
    fn a_signature_by_a_key_outside_its_window_is_refused() {
        let mut bundle = fixture::bundle();
        let from = fixture::contact_issued_at() + 1;
        bundle.keys[0].valid_from_ms = Some(from);
        let report = verify_bundle(&bundle);
        assert_eq!(
            leaf_problems(&report, CONTACT),
            [format!(
                "610602's key {} is valid from 2026-03-02 09:00:00 CST, not at its issued-at time 2026-03-02 09:00:00 CST",
                node_key().key_id()
            )]
        );
    }

    #[test]
    fn a_signature_by_a_key_the_bundle_does_not_list_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.keys[1].public_key = hex::encode(key(9).verifying_key().as_bytes());
        let report = verify_bundle(&bundle);
        assert_eq!(
            leaf_problems(&report, REPLY),
            [format!(
                "it was signed with 610603's key {}, which is not among 610603's keys in the bundle ({})",
                peer_key().key_id(),
                key(9).key_id()
            )]
        );
    }

    #[test]
    fn a_signature_of_a_county_without_keys_cannot_be_checked() {
        let mut bundle = fixture::bundle();
        bundle.keys.retain(|k| k.county != PEER);
        let report = verify_bundle(&bundle);
        let expected = "the bundle lists no key of 610603, so its signature cannot be checked";
        assert_eq!(leaf_problems(&report, REPLY), [expected]);
        assert_eq!(leaf_problems(&report, CONTACT_RECEIPT), [expected]);
    }

    #[test]
    fn a_signature_that_does_not_verify_is_refused() {
        let mut bundle = fixture::bundle();
        change(&mut bundle.items[0].signature, |b| b[10] ^= 1);
        let report = verify_bundle(&bundle);
        let problems = leaf_problems(&report, CONTACT);
        let expected = format!(
            "signature does not verify with 610602's key {}",
            node_key().key_id()
        );
        assert!(problems.contains(&expected), "{problems:?}");
    }

    #[test]
    fn a_sent_notice_must_come_from_the_node() {
        let mut log = Log::new();
        log.notice(LeafKind::SentNotice, &fixture::reply(&fixture::contact()));
        let report = verify_bundle(&log.bundle(None));
        let problems = leaf_problems(&report, 0);
        assert!(
            problems.contains(
                &"a sent notice must be sent by the node 610602, but its sender is 610603"
                    .to_owned()
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn a_received_notice_must_be_addressed_to_the_node() {
        let mut log = Log::new();
        log.notice(LeafKind::ReceivedNotice, &fixture::contact());
        let report = verify_bundle(&log.bundle(None));
        let problems = leaf_problems(&report, 0);
        assert!(
            problems.contains(&"a received notice must be addressed to the node 610602, but its recipient is 610603".to_owned()),
            "{problems:?}"
        );
    }

    #[test]
    fn items_with_another_county_than_the_peer_are_refused() {
        let mut bundle = fixture::bundle();
        bundle.peer = Some("610621".into());
        let report = verify_bundle(&bundle);
        assert_eq!(
            leaf_problems(&report, CONTACT),
            ["the bundle is limited to peer 610621, but this notice is with 610603"]
        );
        assert_eq!(
            leaf_problems(&report, CONTACT_RECEIPT),
            ["the bundle is limited to peer 610621, but this receipt is with 610603"]
        );
    }

    #[test]
    fn a_payload_must_be_absent_exactly_when_the_bundle_is_redacted() {
        let mut bundle = fixture::bundle();
        bundle.redacted = true;
        bundle.sign_claims(&fixture::node_key());
        let report = verify_bundle(&bundle);
        assert_eq!(
            leaf_problems(&report, CONTACT),
            ["the bundle says it is redacted, but this notice carries its payload"]
        );
        bundle.items[0].payload = None;
        bundle.items[2].payload = None;
        assert_eq!(
            leaf_problems(&verify_bundle(&bundle), CONTACT),
            [
                "the payload is left out but its payload_salt is given: the salt must go with the payload"
            ]
        );
        bundle.items[0].payload_salt = None;
        bundle.items[2].payload_salt = None;
        assert!(verify_bundle(&bundle).ok);
    }

    #[test]
    fn a_payload_other_than_the_signed_one_is_refused() {
        let mut bundle = fixture::bundle();
        change(bundle.items[0].payload.as_mut().unwrap(), |b| b.push(0));
        let report = verify_bundle(&bundle);
        let problems = leaf_problems(&report, CONTACT);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("the payload and payload_salt commit to ")
                && problems[0].ends_with(": the payload is not the one signed"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_payload_salt_other_than_the_signed_one_or_none_is_refused() {
        let mut bundle = fixture::bundle();
        change(bundle.items[0].payload_salt.as_mut().unwrap(), |b| {
            b[0] ^= 1
        });
        let problems = leaf_problems(&verify_bundle(&bundle), CONTACT);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("the payload and payload_salt commit to "),
            "{problems:?}"
        );
        bundle.items[0].payload_salt = None;
        assert_eq!(
            leaf_problems(&verify_bundle(&bundle), CONTACT),
            [
                "the payload comes without its payload_salt (32 bytes, standard padded base64), so it cannot be checked against the header"
            ]
        );
    }

    #[test]
    fn a_payload_that_is_not_base64_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.items[0].payload = Some("*".into());
        let report = verify_bundle(&bundle);
        let problems = leaf_problems(&report, CONTACT);
        assert!(
            problems[0].starts_with("payload is not standard padded base64: "),
            "{problems:?}"
        );
    }

    fn signed_with_payload(kind: NoticeKind, payload: Vec<u8>) -> SignedNotice {
        SignedNotice::sign(
            &node_key(),
            Outgoing {
                id: NoticeId::new(1, [1; 10]),
                sender: fixture::county(NODE),
                recipient: fixture::county(PEER),
                kind,
                urgent: false,
                issued_at_ms: fixture::contact_issued_at(),
                in_reply_to: None,
            },
            payload,
        )
    }

    #[test]
    fn a_signed_payload_must_be_a_body_of_the_header_kind() {
        let bulletin = NoticeBody::Bulletin(Bulletin {
            topic: BulletinTopic::Other,
            title: "通知".into(),
            text: "略".into(),
        });
        let mut log = Log::new();
        log.notice(
            LeafKind::SentNotice,
            &signed_with_payload(NoticeKind::ReplyLetter, bulletin.encode()),
        );
        log.notice(
            LeafKind::SentNotice,
            &signed_with_payload(NoticeKind::Bulletin, vec![0xff]),
        );
        let report = verify_bundle(&log.bundle(None));
        assert_eq!(
            leaf_problems(&report, 0),
            ["the payload is a bulletin body, but the header's kind is reply_letter"]
        );
        let problems = leaf_problems(&report, 1);
        assert!(
            problems[0].starts_with("the payload is not a valid notice body: "),
            "{problems:?}"
        );
    }

    #[test]
    fn a_receipt_that_carries_a_payload_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.items[1].payload = Some("AA==".into());
        let report = verify_bundle(&bundle);
        assert_eq!(
            leaf_problems(&report, CONTACT_RECEIPT),
            ["a receipt has no payload, but this item carries one"]
        );
    }
}
