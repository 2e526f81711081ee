//! A node that is killed outright (SIGKILL of a `liaison serve` process) keeps everything it had
//! acknowledged: every notice it gave a receipt for, and every notice its operator was told was
//! queued, which it then delivers once it runs again.

use liaison_proto::v1 as pb;
use std::collections::BTreeSet;

use liaison_tests::{ANSAI, BAOTA, Federation, THREE_COUNTIES, YANCHANG, drafts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_killed_with_sigkill_and_restarted_loses_nothing_it_acknowledged() {
    let mut fed = Federation::builder(&THREE_COUNTIES)
        .as_process(ANSAI)
        .start()
        .await;
    let mut baota = fed.operator(BAOTA).await;
    let mut yanchang = fed.operator(YANCHANG).await;
    let mut ansai = fed.operator(ANSAI).await;

    // 安塞区 receives notices from both others; each sender holds its signed receipt.
    let mut sent_to_ansai = Vec::new();
    for kind in ["case_notice", "contact_letter", "bulletin"] {
        let info = baota.send(&drafts::draft(kind, Some(ANSAI))).await;
        sent_to_ansai.push((baota.clone(), info.notice_id));
    }
    for kind in [
        "certificate_query",
        "fee_consultation",
        "contraception_report",
    ] {
        let info = yanchang.send(&drafts::draft(kind, Some(ANSAI))).await;
        sent_to_ansai.push((yanchang.clone(), info.notice_id));
    }
    for (sender, id) in &sent_to_ansai {
        sender
            .wait_for_status(id, pb::NoticeStatus::Delivered)
            .await;
    }

    // With 延长县 down, 安塞区's operator queues notices to it.
    fed.stop(YANCHANG).await;
    let mut queued = Vec::new();
    for _ in 0..3 {
        let info = ansai
            .send(&drafts::draft("case_notice", Some(YANCHANG)))
            .await;
        queued.push(info.notice_id);
    }

    // kill -9 as soon as the last receipt and the last Send have been answered.
    fed.kill(ANSAI);
    fed.restart(ANSAI).await;
    let mut ansai = fed.operator(ANSAI).await;

    let inbox = ansai.inbox().await;
    let held: Vec<&String> = inbox.iter().map(|n| &n.notice_id).collect();
    assert_eq!(
        held.len(),
        sent_to_ansai.len(),
        "each exactly once: {held:?}"
    );
    let expected: BTreeSet<&String> = sent_to_ansai.iter().map(|(_, id)| id).collect();
    assert_eq!(held.into_iter().collect::<BTreeSet<_>>(), expected);
    for (_, id) in &sent_to_ansai {
        let detail = ansai.show(id).await;
        assert!(
            detail.signature_valid && detail.receipt_valid,
            "stored notice and receipt still verify: {detail:?}"
        );
    }
    for id in &queued {
        let info = ansai.info(id).await;
        assert!(
            info.status() == pb::NoticeStatus::Queued
                || info.status() == pb::NoticeStatus::InFlight,
            "still waiting for delivery after the kill: {info:?}"
        );
    }

    fed.restart(YANCHANG).await;
    for id in &queued {
        ansai.retry_if_pending(id).await;
    }
    for id in &queued {
        ansai.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    let mut yanchang = fed.operator(YANCHANG).await;
    let from_ansai: Vec<String> = yanchang
        .inbox()
        .await
        .into_iter()
        .filter(|n| n.peer == ANSAI)
        .map(|n| n.notice_id)
        .collect();
    assert_eq!(from_ansai.len(), queued.len(), "each exactly once");
    assert_eq!(
        from_ansai.into_iter().collect::<BTreeSet<_>>(),
        queued.into_iter().collect::<BTreeSet<_>>()
    );
    fed.shutdown().await;
}
