//! The admin interface refuses bad input from an operator, naming what is wrong, and refuses any
//! call without the node's token; nothing it refuses reaches the outbox.

use liaison_proto::v1 as pb;
use liaison_tests::{ANSAI, BAOTA, Federation, THREE_COUNTIES, drafts};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft_with_a_bad_identity_number_is_refused_naming_body_person_id_number() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    // The example's number is 610603199302141228; a changed check character breaks it.
    let draft = drafts::with_member(
        &drafts::draft("case_notice", Some(ANSAI)),
        "/body/person/id_number",
        "610603199302141229".into(),
    );
    let status = baota.try_send(&draft, "").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("body.person.id_number"),
        "{status:?}"
    );
    assert!(baota.outbox().await.is_empty(), "nothing queued");
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_a_county_outside_the_directory_is_refused_naming_recipient() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    // 志丹县 is a real county, but not a member of this federation.
    let status = baota
        .try_send(&drafts::draft("case_notice", Some("610625")), "")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().starts_with("recipient"), "{status:?}");
    assert!(status.message().contains("610625"), "{status:?}");
    assert!(baota.outbox().await.is_empty(), "nothing queued");
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_call_without_the_right_token_is_unauthenticated() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let list = pb::ListRequest {
        status: 0,
        peer: String::new(),
        limit: 0,
    };
    let send = pb::SendRequest {
        draft_json: drafts::draft("case_notice", Some(ANSAI)),
        in_reply_to: String::new(),
    };
    for token in [None, Some("not-the-token")] {
        let mut client = fed.admin_client(BAOTA, token).await;
        let status = client.list_outbox(list.clone()).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{token:?}: {status:?}"
        );
        let status = client.send(send.clone()).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{token:?}: {status:?}"
        );
    }
    let mut baota = fed.operator(BAOTA).await;
    assert!(baota.outbox().await.is_empty(), "nothing queued");
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft_without_a_usable_recipient_is_refused_naming_recipient() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    for draft in [
        drafts::draft("case_notice", None),
        drafts::draft("case_notice", Some(BAOTA)),
    ] {
        let status = baota.try_send(&draft, "").await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().starts_with("recipient"), "{status:?}");
    }
    assert!(baota.outbox().await.is_empty(), "nothing queued");
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_to_a_notice_not_in_the_inbox_is_refused_naming_in_reply_to() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    // 宝塔区's own outbound notice is not something it can answer.
    let own = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    let status = baota
        .try_send(&drafts::draft("reply_letter", None), &own.notice_id)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().starts_with("in_reply_to"), "{status:?}");
    assert_eq!(baota.outbox().await.len(), 1, "only the original queued");
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_of_a_kind_that_cannot_answer_the_original_is_refused_naming_body_kind() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let original = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    baota
        .wait_for_status(&original.notice_id, pb::NoticeStatus::Delivered)
        .await;
    let status = ansai
        .try_send(&drafts::draft("fee_reply", None), &original.notice_id)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().starts_with("body.kind"), "{status:?}");
    assert!(
        status.message().contains("reply_letter"),
        "says what may answer: {status:?}"
    );
    assert!(ansai.outbox().await.is_empty(), "nothing queued");
    fed.shutdown().await;
}
