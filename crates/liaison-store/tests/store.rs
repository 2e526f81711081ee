//! The store keeps what it acknowledged across reopening, keeps indexes in step, and is idempotent.

use std::time::Duration;

use liaison_core::{CountyCode, Delivery, NoticeId, NoticeKind, RejectCode};
use liaison_store::{
    DueEntry, InboundItem, InboundOutcome, InboundRecord, IssuedReceipt, ListFilter, LogHead,
    OutboundRecord, OutboundStatus, ReceivedReceipt, Side, Store,
};

fn county(code: &str) -> CountyCode {
    CountyCode::parse(code).unwrap()
}

fn outbound(n: u64, to: &str) -> OutboundRecord {
    OutboundRecord::queued(
        NoticeId::new(1_000 + n, [n as u8; 10]),
        county(to),
        NoticeKind::CaseNotice,
        false,
        1_000 + n as i64,
        None,
    )
}

fn delivered(received_at_ms: i64, reply_due_at_ms: Option<i64>) -> Delivery {
    Delivery::Delivered {
        attempts: 1,
        received_at_ms,
        reply_due_at_ms,
    }
}

fn inbound(n: u64, digest: u8) -> InboundItem {
    InboundItem {
        record: InboundRecord {
            id: NoticeId::new(5_000 + n, [n as u8; 10]),
            sender: county("610603"),
            kind: NoticeKind::ContactLetter,
            urgent: false,
            issued_at_ms: 5_000,
            in_reply_to: None,
            received_at_ms: 6_000,
            envelope_sha256: [digest; 32],
            reply_due_at_ms: None,
            deadline_error: None,
            answered_at_ms: None,
            flagged: None,
        },
        envelope: vec![digest; 10],
        content: [digest; 32],
        existed_by_ms: None,
    }
}

/// A receipt that came back for an outbound notice, with a stand-in content hash.
fn came(bytes: Vec<u8>, content: [u8; 32]) -> ReceivedReceipt {
    ReceivedReceipt {
        bytes,
        content,
        at_ms: 7_000,
    }
}

/// A stand-in for the node's receipt: names the notice's envelope digest.
fn issue(item: &InboundItem, _head: LogHead) -> IssuedReceipt {
    let record = &item.record;
    IssuedReceipt {
        bytes: vec![record.envelope_sha256[0], 1, 2, 3],
        content: [record.envelope_sha256[0]; 32],
        checkpoint: None,
    }
}

fn receipt_for(item: &InboundItem) -> Vec<u8> {
    issue(
        item,
        LogHead {
            size: 0,
            root: [0; 32],
        },
    )
    .bytes
}

#[tokio::test]
async fn enqueued_notices_survive_reopening_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (outbound(1, "610603"), outbound(2, "610603"));
    {
        let store = Store::open(dir.path()).unwrap();
        store.enqueue(&b, b"env-b", [7; 32], None).await.unwrap();
        store.enqueue(&a, b"env-a", [7; 32], None).await.unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let pending = store.pending_for(county("610603"), 10).unwrap();
    assert_eq!(pending, vec![a.clone(), b.clone()], "oldest id first");
    assert_eq!(store.outbound_envelope(&a.id).unwrap().unwrap(), b"env-a");
    assert_eq!(store.backlog(county("610603")).unwrap(), 2);
    assert_eq!(store.backlog(county("610621")).unwrap(), 0);
}

#[tokio::test]
async fn delivered_notice_leaves_the_queue_and_keeps_its_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = outbound(1, "610603");
    store.enqueue(&a, b"env", [7; 32], None).await.unwrap();
    let updated = store
        .update_outbound(&a.id, Some(came(b"receipt".to_vec(), [5; 32])), |r| {
            r.delivery = delivered(9, None);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(updated.status(), OutboundStatus::Delivered);
    assert!(store.pending_for(county("610603"), 10).unwrap().is_empty());
    assert_eq!(store.outbound_receipt(&a.id).unwrap().unwrap(), b"receipt");
    let delivered = store
        .list_outbound(&ListFilter {
            status: Some(OutboundStatus::Delivered),
            peer: None,
            limit: 10,
        })
        .unwrap();
    assert_eq!(delivered.len(), 1);
    let queued = store
        .list_outbound(&ListFilter {
            status: Some(OutboundStatus::Queued),
            peer: None,
            limit: 10,
        })
        .unwrap();
    assert!(queued.is_empty(), "status index follows the change");
}

#[tokio::test]
async fn every_delivery_state_reads_back_as_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let states = [
        Delivery::Queued,
        Delivery::InFlight {
            attempts: 3,
            last_error: "peer unavailable: connection refused".into(),
            next_attempt_at_ms: 77_000,
        },
        delivered(9, Some(86_400_009)),
        delivered(9, None),
        Delivery::Rejected {
            attempts: 2,
            received_at_ms: 10,
            code: RejectCode::UnknownSender,
            reason: "no such county".into(),
        },
        Delivery::Cancelled {
            attempts: 1,
            last_error: Some("timed out".into()),
        },
        Delivery::Cancelled {
            attempts: 0,
            last_error: None,
        },
    ];
    {
        let store = Store::open(dir.path()).unwrap();
        for (n, state) in states.iter().enumerate() {
            let a = outbound(n as u64, "610603");
            store
                .enqueue(&a, b"env", [n as u8; 32], None)
                .await
                .unwrap();
            let state = state.clone();
            store
                .update_outbound(&a.id, None, move |r| {
                    r.delivery = state;
                    Ok(())
                })
                .await
                .unwrap();
        }
        store.close().await.unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    for (n, state) in states.iter().enumerate() {
        let id = outbound(n as u64, "610603").id;
        assert_eq!(&store.outbound(&id).unwrap().unwrap().delivery, state);
    }
}

#[tokio::test]
async fn refused_change_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = outbound(1, "610603");
    store.enqueue(&a, b"env", [7; 32], None).await.unwrap();
    let err = store
        .update_outbound(&a.id, Some(came(b"r".to_vec(), [5; 32])), |r| {
            r.delivery = r.delivery.on_failure("peer unavailable", 5, Duration::ZERO);
            r.delivery = delivered(9, None).cancel()?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "notice {} is delivered; only queued or in-flight notices can be cancelled",
            a.id
        )
    );
    assert_eq!(store.outbound(&a.id).unwrap().unwrap(), a);
    assert!(store.outbound_receipt(&a.id).unwrap().is_none());
}

#[tokio::test]
async fn same_id_cannot_be_enqueued_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = outbound(1, "610603");
    store.enqueue(&a, b"env", [7; 32], None).await.unwrap();
    assert!(store.enqueue(&a, b"other", [7; 32], None).await.is_err());
    assert_eq!(store.outbound_envelope(&a.id).unwrap().unwrap(), b"env");
}

#[tokio::test]
async fn redelivered_envelope_gets_the_first_receipt_and_a_different_one_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let first = inbound(1, 7);
    assert_eq!(
        store
            .accept_inbound(std::slice::from_ref(&first), issue)
            .await
            .unwrap(),
        vec![InboundOutcome::Stored {
            receipt: receipt_for(&first)
        }]
    );
    let again = first.clone();
    let mut other = first.clone();
    other.record.envelope_sha256 = [8; 32];
    let outcomes = store.accept_inbound(&[again, other], issue).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            InboundOutcome::AlreadyStored {
                receipt: receipt_for(&first)
            },
            InboundOutcome::IdConflict
        ]
    );
    assert_eq!(
        store.inbound_envelope(&first.record.id).unwrap().unwrap(),
        first.envelope
    );
}

#[tokio::test]
async fn duplicate_within_one_batch_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let item = inbound(1, 7);
    let outcomes = store
        .accept_inbound(&[item.clone(), item.clone()], issue)
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![
            InboundOutcome::Stored {
                receipt: receipt_for(&item)
            },
            InboundOutcome::AlreadyStored {
                receipt: receipt_for(&item)
            }
        ]
    );
    assert_eq!(store.list_inbound(None, 10).unwrap().len(), 1);
}

#[tokio::test]
async fn replies_link_back_to_their_original() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let original = inbound(1, 1);
    store
        .accept_inbound(std::slice::from_ref(&original), issue)
        .await
        .unwrap();
    let mut reply = outbound(2, "610603");
    reply.kind = NoticeKind::ReplyLetter;
    reply.in_reply_to = Some(original.record.id);
    store.enqueue(&reply, b"r", [7; 32], None).await.unwrap();
    assert_eq!(
        store.replies_to(&original.record.id).unwrap(),
        vec![reply.id]
    );
}

#[tokio::test]
async fn listings_filter_by_peer_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (n, to) in [(1, "610603"), (2, "610621"), (3, "610603")] {
        store
            .enqueue(&outbound(n, to), b"e", [7; 32], None)
            .await
            .unwrap();
    }
    let to_ansai = store
        .list_outbound(&ListFilter {
            peer: Some(county("610603")),
            status: None,
            limit: 10,
        })
        .unwrap();
    assert_eq!(
        to_ansai.iter().map(|r| r.issued_at_ms).collect::<Vec<_>>(),
        vec![1_003, 1_001]
    );
    let limited = store
        .list_outbound(&ListFilter {
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(limited.len(), 2);
}

#[tokio::test]
async fn owed_replies_are_listed_soonest_first_and_leave_the_index_when_answered() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (mut late, mut soon, none) = (inbound(1, 1), inbound(2, 2), inbound(3, 3));
    late.record.reply_due_at_ms = Some(90_000);
    soon.record.reply_due_at_ms = Some(50_000);
    store
        .accept_inbound(&[late.clone(), soon.clone(), none], issue)
        .await
        .unwrap();
    let due = store.due(None, i64::MAX, 10).unwrap();
    assert_eq!(
        due,
        vec![
            DueEntry {
                due_at_ms: 50_000,
                side: Side::Owed,
                id: soon.record.id
            },
            DueEntry {
                due_at_ms: 90_000,
                side: Side::Owed,
                id: late.record.id
            },
        ]
    );
    assert_eq!(
        store.due(None, 90_000, 10).unwrap().len(),
        1,
        "only due times before the bound"
    );

    let mut reply = outbound(4, "610603");
    reply.kind = NoticeKind::ReplyLetter;
    reply.in_reply_to = Some(soon.record.id);
    store.enqueue(&reply, b"r", [7; 32], None).await.unwrap();
    assert_eq!(
        store.due(Some(Side::Owed), i64::MAX, 10).unwrap().len(),
        2,
        "owed until the reply's receipt says when it existed"
    );
    store
        .update_outbound(
            &reply.id,
            Some(came(reply_receipt(&reply, reply.issued_at_ms), [6; 32])),
            |r| {
                r.delivery = delivered(1, None);
                Ok(())
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .inbound(&soon.record.id)
            .unwrap()
            .unwrap()
            .answered_at_ms,
        Some(reply.issued_at_ms)
    );
    assert_eq!(store.due(Some(Side::Owed), i64::MAX, 10).unwrap().len(), 1);
}

/// 610603's signed receipt accepting `reply`, stating `existed_by_ms`.
fn reply_receipt(reply: &OutboundRecord, existed_by_ms: i64) -> Vec<u8> {
    use liaison_core::receipt::{Outcome, Receipt};
    let key = liaison_core::NodeKey::new(ed25519_dalek::SigningKey::from_bytes(&[3; 32]));
    liaison_core::SignedReceipt::sign(
        &key,
        Receipt {
            notice_id: Some(reply.id),
            envelope_sha256: [0; 32],
            recipient: county("610603"),
            sender: Some(county("610602")),
            received_at_ms: existed_by_ms.max(reply.issued_at_ms) + 1_000,
            outcome: Outcome::Accepted,
            reply_due_at_ms: None,
            key_id: key.key_id(),
            checkpoint: None,
            existed_by_ms: Some(existed_by_ms),
        },
    )
    .to_bytes()
}

#[tokio::test]
async fn awaited_replies_enter_the_index_on_delivery_and_leave_it_when_a_reply_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let sent = outbound(1, "610603");
    store.enqueue(&sent, b"e", [7; 32], None).await.unwrap();
    assert!(
        store.due(None, i64::MAX, 10).unwrap().is_empty(),
        "not awaited before delivery"
    );
    store
        .update_outbound(&sent.id, Some(came(b"receipt".to_vec(), [5; 32])), |r| {
            r.delivery = delivered(1, Some(-5));
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(
        store.due(Some(Side::Awaited), 0, 10).unwrap(),
        vec![DueEntry {
            due_at_ms: -5,
            side: Side::Awaited,
            id: sent.id
        }]
    );

    let mut reply = inbound(2, 9);
    reply.record.kind = NoticeKind::ReplyLetter;
    reply.record.in_reply_to = Some(sent.id);
    reply.record.issued_at_ms = 7_777;
    // Seen by this node, or cosigned by others, a day after it claims to have been issued.
    reply.existed_by_ms = Some(7_777 + 86_400_000);
    store.accept_inbound(&[reply], issue).await.unwrap();
    assert_eq!(
        store.outbound(&sent.id).unwrap().unwrap().answered_at_ms,
        Some(7_777 + 86_400_000 - liaison_core::cosign::REPLY_TIME_SKEW_MS),
        "the reply counts from the time others vouch for, less the allowed skew"
    );
    assert!(store.due(None, i64::MAX, 10).unwrap().is_empty());
}

#[tokio::test]
async fn a_sent_reply_answers_its_original_only_once_the_other_countys_receipt_says_when_it_existed()
 {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut original = inbound(1, 4);
    original.record.reply_due_at_ms = Some(100_000_000);
    store
        .accept_inbound(&[original.clone()], issue)
        .await
        .unwrap();
    let mut reply = outbound(2, "610603");
    reply.kind = NoticeKind::ReplyLetter;
    reply.in_reply_to = Some(original.record.id);
    reply.issued_at_ms = 50_000_000;
    store.enqueue(&reply, b"r", [8; 32], None).await.unwrap();
    assert_eq!(
        store
            .inbound(&original.record.id)
            .unwrap()
            .unwrap()
            .answered_at_ms,
        None,
        "a reply not yet received proves nothing"
    );
    store
        .update_outbound(
            &reply.id,
            Some(came(reply_receipt(&reply, 60_000_000), [6; 32])),
            |r| {
                r.delivery = delivered(1, None);
                Ok(())
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .inbound(&original.record.id)
            .unwrap()
            .unwrap()
            .answered_at_ms,
        Some(60_000_000 - liaison_core::cosign::REPLY_TIME_SKEW_MS)
    );
}

#[tokio::test]
async fn every_envelope_and_receipt_becomes_a_leaf_in_order_and_the_log_survives_reopening() {
    use liaison_core::merkle::{CompactRange, LeafHashes, root};
    use liaison_core::tlog::LeafKind;
    let dir = tempfile::tempdir().unwrap();
    let sent = outbound(1, "610603");
    let received = inbound(2, 9);
    {
        let store = Store::open(dir.path()).unwrap();
        store.enqueue(&sent, b"e", [1; 32], None).await.unwrap();
        let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = heads.clone();
        store
            .accept_inbound(std::slice::from_ref(&received), move |item, head| {
                seen.lock().unwrap().push(head);
                issue(item, head)
            })
            .await
            .unwrap();
        let head = heads.lock().unwrap()[0];
        assert_eq!(head.size, 2, "the receipt's checkpoint includes the notice");
        store
            .update_outbound(&sent.id, Some(came(b"receipt".to_vec(), [3; 32])), |r| {
                r.delivery = delivered(1, None);
                Ok(())
            })
            .await
            .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let leaves: Vec<_> = (0..4)
        .map(|i| store.leaves().unwrap().leaf(i).unwrap())
        .collect();
    let leaf = |kind, logged_at_ms, content| {
        liaison_core::tlog::Leaf {
            kind,
            logged_at_ms,
            counterparty: county("610603"),
            content,
        }
        .hash()
    };
    assert_eq!(
        leaves,
        vec![
            leaf(LeafKind::SentNotice, 1_001, [1; 32]),
            leaf(LeafKind::ReceivedNotice, 6_000, [9; 32]),
            leaf(LeafKind::IssuedReceipt, 6_000, [9; 32]),
            leaf(LeafKind::ReceivedReceipt, 7_000, [3; 32]),
        ]
    );
    assert!(store.leaves().unwrap().leaf(4).is_none());
    let head = store.log_head().unwrap();
    assert_eq!(head.size, 4);
    assert_eq!(head.root, root(&leaves, 4).unwrap());
    let mut range = CompactRange::new();
    for leaf in &leaves {
        range.append(*leaf).unwrap();
    }
    assert_eq!(range.root(), head.root);
    assert_eq!(
        store.leaf_index(LeafKind::SentNotice, &sent.id).unwrap(),
        Some(0)
    );
    assert_eq!(
        store
            .leaf_index(LeafKind::ReceivedNotice, &received.record.id)
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        store
            .leaf_index(LeafKind::IssuedReceipt, &received.record.id)
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        store
            .leaf_index(LeafKind::ReceivedReceipt, &sent.id)
            .unwrap(),
        Some(3)
    );
}

#[tokio::test]
async fn a_receipt_received_twice_is_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let sent = outbound(1, "610603");
    store.enqueue(&sent, b"e", [1; 32], None).await.unwrap();
    for _ in 0..2 {
        store
            .update_outbound(&sent.id, Some(came(b"receipt".to_vec(), [3; 32])), |_| {
                Ok(())
            })
            .await
            .unwrap();
    }
    assert_eq!(store.log_head().unwrap().size, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_durable_writes_all_complete() {
    // Concurrent writers share group commits; none may wait forever.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut tasks = Vec::new();
    for n in 0..64u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .enqueue(&outbound(n, "610603"), b"e", [n as u8; 32], None)
                .await
        }));
    }
    let all = async {
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), all)
        .await
        .expect("every durable write returns");
    assert_eq!(store.backlog(county("610603")).unwrap(), 64);
    assert_eq!(store.log_head().unwrap().size, 64);
}

#[tokio::test]
async fn listings_hold_every_notice_whatever_the_bytes_of_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut items = Vec::new();
    for n in 0..3000u64 {
        let mut item = inbound(n, (n % 200) as u8);
        let random: [u8; 10] =
            std::array::from_fn(|i| (n.wrapping_mul(2654435761) >> (i % 8 * 8)) as u8 ^ i as u8);
        item.record.id = NoticeId::new(1_800_000_000_000 + n / 3, random);
        item.record.envelope_sha256 = [(n % 256) as u8; 32];
        items.push(item);
    }
    for chunk in items.chunks(64) {
        store.accept_inbound(chunk, issue).await.unwrap();
    }
    let listed = store.list_inbound(None, 10_000).unwrap();
    assert_eq!(listed.len(), 3000);
}

#[tokio::test]
async fn the_key_history_records_each_switch_in_order_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        assert!(store.own_keys().unwrap().is_empty());
        assert!(store.use_own_key([1; 32], 100).await.unwrap(), "first key");
        assert!(
            !store.use_own_key([1; 32], 150).await.unwrap(),
            "same key again"
        );
        // The clock was set back: the switch still comes after the earlier one.
        assert!(store.use_own_key([2; 32], 50).await.unwrap(), "rotated");
        assert!(
            store.use_own_key([1; 32], 200).await.unwrap(),
            "switched back"
        );
        store.close().await.unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let history: Vec<([u8; 32], i64)> = store
        .own_keys()
        .unwrap()
        .iter()
        .map(|k| (k.public_key, k.since_ms))
        .collect();
    assert_eq!(history, [([1; 32], 100), ([2; 32], 101), ([1; 32], 200)]);
}

#[tokio::test]
async fn leaves_are_logged_in_time_order_even_when_the_clock_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Issued at 1002, then at 1001 (the clock was set back), then at 1003.
    let (a, b, c) = (
        outbound(2, "610603"),
        outbound(1, "610621"),
        outbound(3, "610603"),
    );
    for (record, content) in [(&a, [1; 32]), (&b, [2; 32]), (&c, [3; 32])] {
        store.enqueue(record, b"env", content, None).await.unwrap();
    }
    let logged: Vec<_> = (0..3)
        .map(|i| store.logged_leaf(i).unwrap().unwrap())
        .collect();
    let times: Vec<i64> = logged.iter().map(|l| l.logged_at_ms).collect();
    assert_eq!(times, [1_002, 1_002, 1_003]);
    assert_eq!(logged[1].notice_id, b.id);
    assert_eq!(logged[1].counterparty, county("610621"));
    // The stored hash is the leaf of that time, counterparty and content.
    let expected = liaison_core::tlog::Leaf {
        kind: liaison_core::tlog::LeafKind::SentNotice,
        logged_at_ms: 1_002,
        counterparty: county("610621"),
        content: [2; 32],
    }
    .hash();
    assert_eq!(store.leaf_hashes(3).unwrap()[1], expected);
    assert_eq!(
        store.leaves_logged_between(1_002, 1_003).unwrap(),
        Some((0, 1))
    );
    assert_eq!(
        store.leaves_logged_between(1_003, 9_999).unwrap(),
        Some((2, 2))
    );
    assert_eq!(store.leaves_logged_between(0, 1_002).unwrap(), None);
}

#[tokio::test]
async fn proofs_from_the_stored_subtree_roots_equal_proofs_from_every_leaf() {
    use liaison_core::merkle::{MemoryTree, consistency_proof, inclusion_proof, root};
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        for n in 0..37u64 {
            let record = outbound(100 + n, "610603");
            store
                .enqueue(&record, b"env", [n as u8; 32], None)
                .await
                .unwrap();
        }
    }
    // Reopened: the store check verifies every stored node against the leaves.
    let store = Store::open(dir.path()).unwrap();
    let all = MemoryTree::new(store.leaf_hashes(37).unwrap());
    let stored = store.leaves().unwrap();
    for size in 1..=37u64 {
        assert_eq!(root(&stored, size).unwrap(), root(&all, size).unwrap());
        for index in 0..size {
            assert_eq!(
                inclusion_proof(&stored, index, size).unwrap(),
                inclusion_proof(&all, index, size).unwrap(),
                "leaf {index} of {size}"
            );
        }
        for old in 1..=size {
            assert_eq!(
                consistency_proof(&stored, old, size).unwrap(),
                consistency_proof(&all, old, size).unwrap(),
                "{old} to {size}"
            );
        }
    }
}

#[tokio::test]
async fn a_changed_interior_node_of_the_log_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        for n in 0..8u64 {
            let record = outbound(200 + n, "610603");
            store
                .enqueue(&record, b"env", [n as u8; 32], None)
                .await
                .unwrap();
        }
        store.close().await.unwrap();
    }
    let conn = rusqlite::Connection::open(dir.path().join(liaison_store::DB_FILE)).unwrap();
    let changed = conn
        .execute(
            "UPDATE log_node SET hash = zeroblob(32) WHERE level = 2 AND idx = 1",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    let refused = Store::open(dir.path()).unwrap_err().to_string();
    assert!(refused.contains("interior node 1 at level 2"), "{refused}");
}
