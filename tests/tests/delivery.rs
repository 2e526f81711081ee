//! Delivery between real nodes: a notice arrives exactly once with a receipt signed by the
//! recipient, replies link back to what they answer, and a peer that is down gets its notices once
//! it is back while the other peers are served meanwhile.

use std::collections::BTreeSet;

use liaison_core::{NoticeId, Outcome, RejectCode, SignedNotice, SignedReceipt};
use liaison_proto::v1 as pb;
use liaison_tests::peer::{self, NoticeBuilder};
use liaison_tests::{ANSAI, BAOTA, Federation, THREE_COUNTIES, YANCHANG, code, drafts};
use prost::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sent_notice_arrives_once_and_redelivery_returns_the_same_signed_receipt() {
    let mut fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let mut yanchang = fed.operator(YANCHANG).await;

    let sent = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    assert_eq!(
        sent.status(),
        pb::NoticeStatus::Queued,
        "Send returns the notice as queued"
    );
    assert_eq!(sent.peer, ANSAI);
    let delivered = baota
        .wait_for_status(&sent.notice_id, pb::NoticeStatus::Delivered)
        .await;
    assert!(delivered.receipt_at_ms > 0, "the receipt time is recorded");
    assert!(delivered.last_error.is_empty(), "{delivered:?}");

    let inbox = ansai.inbox().await;
    assert_eq!(
        inbox.iter().map(|n| &n.notice_id).collect::<Vec<_>>(),
        [&sent.notice_id],
        "the recipient holds the notice exactly once"
    );
    assert_eq!(inbox[0].peer, BAOTA);
    assert_eq!(inbox[0].kind(), pb::NoticeKind::CaseNotice);
    assert_eq!(inbox[0].status(), pb::NoticeStatus::Received);
    assert!(
        yanchang.inbox().await.is_empty(),
        "a third county gets nothing"
    );

    let at_sender = baota.show(&sent.notice_id).await;
    assert!(
        at_sender.signature_valid && at_sender.receipt_valid,
        "{at_sender:?}"
    );
    let at_recipient = ansai.show(&sent.notice_id).await;
    assert!(
        at_recipient.signature_valid && at_recipient.receipt_valid,
        "{at_recipient:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&at_recipient.body_json).unwrap();
    assert_eq!(body["person"]["name"], "刘红梅", "the body arrives intact");

    // The sender keeps the envelope it signed and the receipt it got; read both from its store.
    fed.stop(BAOTA).await;
    let id = NoticeId::parse(&sent.notice_id).unwrap();
    let (envelope_bytes, stored_receipt) = {
        let store = fed.open_store(BAOTA);
        (
            store
                .outbound_envelope(&id)
                .unwrap()
                .expect("envelope kept"),
            store.outbound_receipt(&id).unwrap().expect("receipt kept"),
        )
    };
    let notice = SignedNotice::from_envelope_bytes(&envelope_bytes).unwrap();
    let receipt = SignedReceipt::from_bytes(&stored_receipt).unwrap();
    assert!(
        receipt.signature_valid(&fed.public_key(ANSAI)),
        "the stored receipt verifies with the recipient's key"
    );
    assert!(!receipt.signature_valid(&fed.public_key(BAOTA)));
    let r = &receipt.receipt;
    assert_eq!(r.outcome, Outcome::Accepted);
    assert_eq!(r.notice_id, Some(id));
    assert_eq!(r.recipient, code(ANSAI));
    assert_eq!(r.sender, Some(code(BAOTA)));
    assert_eq!(r.envelope_sha256, notice.envelope_sha256());
    assert_eq!(
        r.received_at_ms, delivered.receipt_at_ms,
        "the outbox shows the receipt's own time"
    );

    // Deliver the very same envelope again, as the sender would after losing the answer.
    let envelope = pb::Envelope::decode(envelope_bytes.as_slice()).unwrap();
    let mut raw = fed.peer(BAOTA, ANSAI).await;
    let again = peer::deliver_one(&mut raw, envelope).await;
    assert_eq!(
        again.to_bytes(),
        stored_receipt,
        "redelivery gets a byte-identical receipt"
    );
    let inbox = ansai.inbox().await;
    assert_eq!(inbox.len(), 1, "still one copy: {inbox:?}");
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_links_back_to_its_original_on_both_nodes() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;

    let original = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    baota
        .wait_for_status(&original.notice_id, pb::NoticeStatus::Delivered)
        .await;
    let reply = ansai
        .reply(&original.notice_id, &drafts::draft("reply_letter", None))
        .await;
    assert_eq!(reply.peer, BAOTA, "a reply goes to the original's sender");
    assert_eq!(reply.in_reply_to, original.notice_id);
    ansai
        .wait_for_status(&reply.notice_id, pb::NoticeStatus::Delivered)
        .await;

    let reply_at_baota = baota.info(&reply.notice_id).await;
    assert_eq!(reply_at_baota.direction(), pb::Direction::Inbound);
    assert_eq!(reply_at_baota.kind(), pb::NoticeKind::ReplyLetter);
    assert_eq!(reply_at_baota.peer, ANSAI);
    assert_eq!(reply_at_baota.in_reply_to, original.notice_id);
    let reply_at_ansai = ansai.info(&reply.notice_id).await;
    assert_eq!(reply_at_ansai.direction(), pb::Direction::Outbound);
    assert_eq!(reply_at_ansai.in_reply_to, original.notice_id);

    let original_at_baota = baota.info(&original.notice_id).await;
    assert_eq!(original_at_baota.direction(), pb::Direction::Outbound);
    assert_eq!(original_at_baota.replies, [reply.notice_id.as_str()]);
    let original_at_ansai = ansai.info(&original.notice_id).await;
    assert_eq!(original_at_ansai.direction(), pb::Direction::Inbound);
    assert_eq!(original_at_ansai.replies, [reply.notice_id.as_str()]);
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_that_is_down_gets_everything_once_back_while_other_peers_are_served_meanwhile() {
    let mut fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    fed.stop(YANCHANG).await;

    let mut to_yanchang = Vec::new();
    for _ in 0..3 {
        let info = baota
            .send(&drafts::draft("certificate_query", Some(YANCHANG)))
            .await;
        to_yanchang.push(info.notice_id);
    }
    for id in &to_yanchang {
        baota
            .wait_until(id, "in flight after a failed attempt", |n| {
                n.status() == pb::NoticeStatus::InFlight
                    && n.attempts >= 1
                    && !n.last_error.is_empty()
            })
            .await;
    }

    // With 延长县 failing, notices to 安塞区 still go through.
    let mut to_ansai = Vec::new();
    for _ in 0..3 {
        let info = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
        to_ansai.push(info.notice_id);
    }
    for id in &to_ansai {
        baota.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    for id in &to_yanchang {
        let info = baota.info(id).await;
        assert_eq!(info.status(), pb::NoticeStatus::InFlight, "{info:?}");
        assert!(info.next_attempt_at_ms > 0, "a retry is planned: {info:?}");
    }
    let peers = baota
        .client()
        .peers(pb::PeersRequest {})
        .await
        .unwrap()
        .into_inner()
        .peers;
    let yanchang_peer = peers.iter().find(|p| p.county == YANCHANG).unwrap();
    assert_eq!(yanchang_peer.backlog, 3, "{yanchang_peer:?}");
    assert!(!yanchang_peer.last_error.is_empty(), "{yanchang_peer:?}");
    let ansai_peer = peers.iter().find(|p| p.county == ANSAI).unwrap();
    assert_eq!(ansai_peer.backlog, 0, "{ansai_peer:?}");

    let listed = |notices: Vec<pb::NoticeInfo>| -> BTreeSet<String> {
        notices.into_iter().map(|n| n.notice_id).collect()
    };
    let in_flight = baota
        .client()
        .list_outbox(pb::ListRequest {
            status: pb::NoticeStatus::InFlight as i32,
            peer: String::new(),
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .notices;
    assert_eq!(listed(in_flight), to_yanchang.iter().cloned().collect());
    let to_ansai_listed = baota
        .client()
        .list_outbox(pb::ListRequest {
            status: 0,
            peer: ANSAI.into(),
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .notices;
    assert_eq!(listed(to_ansai_listed), to_ansai.iter().cloned().collect());

    // More than one delivery batch (64) piles up before 延长县 is back.
    for _ in 0..67 {
        let info = baota
            .send(&drafts::draft("certificate_query", Some(YANCHANG)))
            .await;
        to_yanchang.push(info.notice_id);
    }
    fed.restart(YANCHANG).await;
    for id in &to_yanchang[..3] {
        baota.retry_if_pending(id).await;
    }
    for id in &to_yanchang {
        baota.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    let mut yanchang = fed.operator(YANCHANG).await;
    let received: Vec<String> = yanchang
        .inbox()
        .await
        .into_iter()
        .map(|n| n.notice_id)
        .collect();
    assert_eq!(received.len(), to_yanchang.len(), "each exactly once");
    assert_eq!(
        received.into_iter().collect::<BTreeSet<_>>(),
        to_yanchang.into_iter().collect::<BTreeSet<_>>()
    );
    let peers = baota
        .client()
        .peers(pb::PeersRequest {})
        .await
        .unwrap()
        .into_inner()
        .peers;
    let yanchang_peer = peers.iter().find(|p| p.county == YANCHANG).unwrap();
    assert_eq!(yanchang_peer.backlog, 0, "{yanchang_peer:?}");
    assert!(
        yanchang_peer.last_error.is_empty(),
        "the error is cleared once the peer is back: {yanchang_peer:?}"
    );
    let mut ansai = fed.operator(ANSAI).await;
    let received: BTreeSet<String> = ansai
        .inbox()
        .await
        .into_iter()
        .map(|n| n.notice_id)
        .collect();
    assert_eq!(received, to_ansai.into_iter().collect::<BTreeSet<_>>());
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_envelope_of_a_batch_gets_its_own_receipt_in_order_and_a_repeat_is_stored_once() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let key = fed.signing_key(BAOTA);
    let ansai_key = fed.public_key(ANSAI);
    let mut raw = fed.peer(BAOTA, ANSAI).await;
    let first = NoticeBuilder::new("case_notice", code(BAOTA), code(ANSAI)).sign(&key);
    let broken = NoticeBuilder::new("contact_letter", code(BAOTA), code(ANSAI)).sign(&key);
    let mut broken = broken.to_envelope();
    broken.signature[3] ^= 0x01;
    let last = NoticeBuilder::new("bulletin", code(BAOTA), code(ANSAI)).sign(&key);

    let receipts = peer::deliver(
        &mut raw,
        vec![
            first.to_envelope(),
            first.to_envelope(),
            broken.clone(),
            last.to_envelope(),
        ],
    )
    .await;
    assert_eq!(receipts[0].receipt.outcome, Outcome::Accepted);
    assert_eq!(receipts[0].receipt.notice_id, Some(first.header.id));
    assert_eq!(
        receipts[1].to_bytes(),
        receipts[0].to_bytes(),
        "the repeat gets the same receipt"
    );
    peer::assert_refused(
        &receipts[2],
        &broken,
        code(ANSAI),
        &ansai_key,
        RejectCode::BadSignature,
    );
    assert_eq!(receipts[3].receipt.outcome, Outcome::Accepted);
    assert_eq!(receipts[3].receipt.notice_id, Some(last.header.id));
    for receipt in [&receipts[0], &receipts[3]] {
        assert!(receipt.signature_valid(&ansai_key));
    }

    let mut ansai = fed.operator(ANSAI).await;
    let held: BTreeSet<String> = ansai
        .inbox()
        .await
        .into_iter()
        .map(|n| n.notice_id)
        .collect();
    let expected: BTreeSet<String> = [first.header.id, last.header.id]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(held, expected);
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_that_delivers_to_us_again_gets_its_backlog_without_waiting_out_the_back_off() {
    // After one failure 宝塔区 would wait 30 to 60 seconds, longer than any wait in these tests.
    let mut fed = Federation::builder(&THREE_COUNTIES)
        .backoff_ms(BAOTA, 60_000, 60_000)
        .start()
        .await;
    let mut baota = fed.operator(BAOTA).await;
    fed.stop(YANCHANG).await;
    let waiting = baota
        .send(&drafts::draft("certificate_query", Some(YANCHANG)))
        .await;
    baota
        .wait_until(
            &waiting.notice_id,
            "in flight after a failed attempt",
            |n| n.status() == pb::NoticeStatus::InFlight && n.attempts >= 1,
        )
        .await;

    fed.restart(YANCHANG).await;
    let mut yanchang = fed.operator(YANCHANG).await;
    let news = yanchang
        .send(&drafts::draft("fee_consultation", Some(BAOTA)))
        .await;
    yanchang
        .wait_for_status(&news.notice_id, pb::NoticeStatus::Delivered)
        .await;
    let delivered = baota
        .wait_for_status(&waiting.notice_id, pb::NoticeStatus::Delivered)
        .await;
    assert_eq!(delivered.attempts, 2, "{delivered:?}");
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_notice_is_never_delivered_while_later_ones_are() {
    let mut fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    fed.stop(YANCHANG).await;
    let cancelled = baota
        .send(&drafts::draft("certificate_query", Some(YANCHANG)))
        .await;
    baota
        .wait_for_status(&cancelled.notice_id, pb::NoticeStatus::InFlight)
        .await;
    let info = baota
        .client()
        .cancel(pb::NoticeRef {
            notice_id: cancelled.notice_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.status(), pb::NoticeStatus::Cancelled);

    fed.restart(YANCHANG).await;
    let status = baota
        .client()
        .retry(pb::NoticeRef {
            notice_id: cancelled.notice_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    // Notices go out in id order, so once a later one is delivered the cancelled one had its turn.
    let later = baota
        .send(&drafts::draft("contact_letter", Some(YANCHANG)))
        .await;
    baota.retry_if_pending(&later.notice_id).await;
    baota
        .wait_for_status(&later.notice_id, pb::NoticeStatus::Delivered)
        .await;
    let mut yanchang = fed.operator(YANCHANG).await;
    let held: Vec<String> = yanchang
        .inbox()
        .await
        .into_iter()
        .map(|n| n.notice_id)
        .collect();
    assert_eq!(held, [later.notice_id.as_str()]);
    assert_eq!(
        baota.info(&cancelled.notice_id).await.status(),
        pb::NoticeStatus::Cancelled
    );
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_that_never_finishes_the_tls_handshake_counts_as_a_failed_attempt_and_does_not_block_shutdown()
 {
    let mut fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    fed.stop(YANCHANG).await;
    // Something takes 延长县's port and accepts connections, but never speaks TLS.
    let hung = tokio::net::TcpListener::bind(fed.node(YANCHANG).exchange_addr())
        .await
        .unwrap();
    let _holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hung.accept().await {
            held.push(stream);
        }
    });
    let sent = baota
        .send(&drafts::draft("case_notice", Some(YANCHANG)))
        .await;
    baota
        .wait_until(
            &sent.notice_id,
            "in flight after a timed-out attempt",
            |n| n.attempts >= 1 && n.last_error.contains("timed out"),
        )
        .await;
    fed.stop(BAOTA).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connection_to_the_admin_port_does_not_block_shutdown() {
    let mut fed = Federation::start(&THREE_COUNTIES).await;
    let _idle = tokio::net::TcpStream::connect(fed.node(ANSAI).admin_addr())
        .await
        .unwrap();
    fed.stop(ANSAI).await;
}
