//! A send names its notice with a client key, so that repeating a send whose outcome is unknown
//! never queues the notice twice: through the admin interface (the draft's `client_key`) and
//! through `liaison send` and `liaison reply`, which key a draft by its file's content.

use liaison_proto::v1 as pb;
use std::collections::BTreeSet;
use std::path::Path;

use liaison_tests::{ANSAI, BAOTA, Federation, Operator, THREE_COUNTIES, binary, drafts};
use tonic::Code;

/// `draft_json` with the top-level `client_key` set to `key`.
fn keyed(draft_json: &str, key: &str) -> String {
    let mut draft: serde_json::Value = serde_json::from_str(draft_json).unwrap();
    draft
        .as_object_mut()
        .unwrap()
        .insert("client_key".into(), key.into());
    draft.to_string()
}

/// The ids of the notices from `sender` in `operator`'s inbox, once it holds `count` of them.
async fn received_from(operator: &Operator, sender: &str, count: usize) -> BTreeSet<String> {
    let sender = sender.to_owned();
    operator
        .wait_for_inbox(&format!("{count} notices from {sender}"), |inbox| {
            inbox.iter().filter(|n| n.peer == sender).count() >= count
        })
        .await
        .into_iter()
        .filter(|n| n.peer == sender)
        .map(|n| n.notice_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_draft_sent_twice_with_one_client_key_is_queued_once_and_received_once() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let ansai = fed.operator(ANSAI).await;
    let draft = keyed(&drafts::draft("case_notice", Some(ANSAI)), "case-2026-0117");

    let first = baota.send(&draft).await;
    assert!(!first.already_queued, "{first:?}");
    baota
        .wait_for_status(&first.notice_id, pb::NoticeStatus::Delivered)
        .await;
    let second = baota.send(&draft).await;
    assert_eq!(second.notice_id, first.notice_id);
    assert!(second.already_queued, "{second:?}");
    assert_eq!(
        second.status(),
        pb::NoticeStatus::Delivered,
        "the notice as it stands now"
    );

    let received = received_from(&ansai, BAOTA, 1).await;
    assert_eq!(received, BTreeSet::from([first.notice_id.clone()]));
    // A later notice, delivered after any second copy would have been, shows there is none.
    let later = baota.send(&drafts::draft("bulletin", Some(ANSAI))).await;
    baota
        .wait_for_status(&later.notice_id, pb::NoticeStatus::Delivered)
        .await;
    let received = received_from(&ansai, BAOTA, 2).await;
    assert_eq!(
        received,
        BTreeSet::from([first.notice_id, later.notice_id]),
        "exactly one copy of the keyed notice"
    );
    assert_eq!(baota.outbox().await.len(), 2);
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_draft_with_different_client_keys_or_none_is_queued_each_time() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let ansai = fed.operator(ANSAI).await;
    let draft = drafts::draft("contact_letter", Some(ANSAI));

    let mut ids = BTreeSet::new();
    for text in [
        keyed(&draft, "first"),
        keyed(&draft, "second"),
        draft.clone(),
        draft.clone(),
        // A blank key is no key.
        keyed(&draft, "  "),
    ] {
        let info = baota.send(&text).await;
        assert!(!info.already_queued, "{info:?}");
        ids.insert(info.notice_id);
    }
    assert_eq!(ids.len(), 5, "five notices: {ids:?}");
    assert_eq!(received_from(&ansai, BAOTA, 5).await, ids);
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_with_one_client_key_queue_one_notice() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let baota = fed.operator(BAOTA).await;
    let ansai = fed.operator(ANSAI).await;
    let draft = keyed(&drafts::draft("certificate_query", Some(ANSAI)), "query-77");

    let sends: Vec<_> = (0..8)
        .map(|_| {
            let mut baota = baota.clone();
            let draft = draft.clone();
            tokio::spawn(async move { baota.send(&draft).await })
        })
        .collect();
    let mut answers = Vec::new();
    for send in sends {
        answers.push(send.await.expect("a send task panicked"));
    }
    let ids: BTreeSet<&str> = answers.iter().map(|a| a.notice_id.as_str()).collect();
    assert_eq!(ids.len(), 1, "one notice for all eight: {ids:?}");
    assert_eq!(
        answers.iter().filter(|a| !a.already_queued).count(),
        1,
        "exactly one send queued it: {answers:?}"
    );
    let mut baota = baota;
    assert_eq!(baota.outbox().await.len(), 1);
    let id = answers[0].notice_id.clone();
    baota
        .wait_for_status(&id, pb::NoticeStatus::Delivered)
        .await;
    let marker = baota.send(&drafts::draft("bulletin", Some(ANSAI))).await;
    baota
        .wait_for_status(&marker.notice_id, pb::NoticeStatus::Delivered)
        .await;
    assert_eq!(
        received_from(&ansai, BAOTA, 2).await,
        BTreeSet::from([id, marker.notice_id])
    );
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_key_names_the_notice_so_another_draft_with_it_gets_the_first_notice() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let first = baota
        .send(&keyed(&drafts::draft("case_notice", Some(ANSAI)), "shared"))
        .await;
    let other = baota
        .send(&keyed(&drafts::draft("bulletin", Some(ANSAI)), "shared"))
        .await;
    assert_eq!(other.notice_id, first.notice_id);
    assert!(other.already_queued);
    assert_eq!(
        other.kind(),
        pb::NoticeKind::CaseNotice,
        "the first notice, not the new draft"
    );
    assert_eq!(baota.outbox().await.len(), 1, "the bulletin was not queued");
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_key_too_long_or_with_control_characters_is_refused_naming_client_key() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let draft = drafts::draft("case_notice", Some(ANSAI));
    for key in ["k".repeat(201), "line\nbreak".to_owned()] {
        let status = baota.try_send(&keyed(&draft, &key), "").await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().starts_with("client_key"), "{status:?}");
    }
    assert!(baota.outbox().await.is_empty(), "nothing queued");
    fed.shutdown().await;
}

/// `liaison <command> --config <config> <rest>`, which must succeed; returns its output.
async fn liaison_ok(command: &[&str], config: &Path, rest: &[&str]) -> String {
    let mut args: Vec<String> = command.iter().map(|s| (*s).to_owned()).collect();
    args.push("--config".into());
    args.push(config.display().to_string());
    args.extend(rest.iter().map(|s| (*s).to_owned()));
    let (code, stdout, stderr) = binary::run(None, args.clone()).await;
    assert_eq!(code, 0, "liaison {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

fn json_of(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liaison_send_of_the_same_file_twice_queues_once_and_again_queues_another() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let ansai = fed.operator(ANSAI).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notice.json");
    std::fs::write(&file, drafts::draft("case_notice", Some(ANSAI))).unwrap();
    let file = file.display().to_string();
    let config = fed.node(BAOTA).config_path();

    let first = json_of(&liaison_ok(&["send"], config, &[&file, "--json"]).await);
    let id = first["notice_id"].as_str().unwrap().to_owned();
    assert_eq!(first["already_queued"], false, "{first}");

    let second = liaison_ok(&["send"], config, &[&file]).await;
    assert!(
        second.starts_with(&format!("already queued as {id} ")),
        "{second}"
    );
    assert!(second.contains("--again"), "{second}");
    let second = json_of(&liaison_ok(&["send"], config, &[&file, "--json"]).await);
    assert_eq!(second["notice_id"], id.as_str());
    assert_eq!(second["already_queued"], true, "{second}");

    let again = json_of(&liaison_ok(&["send"], config, &["--again", &file, "--json"]).await);
    let copy = again["notice_id"].as_str().unwrap().to_owned();
    assert_ne!(copy, id, "--again sends another copy");
    assert_eq!(again["already_queued"], false, "{again}");

    // A changed file is another notice.
    let edited =
        drafts::draft("case_notice", Some(ANSAI)).replace(r#""urgent":false"#, r#""urgent":true"#);
    assert!(edited.contains(r#""urgent":true"#));
    std::fs::write(&file, edited).unwrap();
    let changed = json_of(&liaison_ok(&["send"], config, &[&file, "--json"]).await);
    let changed = changed["notice_id"].as_str().unwrap().to_owned();
    assert!(changed != id && changed != copy);

    let received = received_from(&ansai, BAOTA, 3).await;
    assert_eq!(received, BTreeSet::from([id.clone(), copy, changed]));
    assert_eq!(baota.outbox().await.len(), 3);

    // A reply from a file is keyed by the file and the notice it answers.
    let reply = dir.path().join("reply.json");
    std::fs::write(&reply, drafts::draft("reply_letter", None)).unwrap();
    let reply = reply.display().to_string();
    let ansai_config = fed.node(ANSAI).config_path();
    let answer = json_of(&liaison_ok(&["reply"], ansai_config, &[&id, &reply, "--json"]).await);
    let repeated = json_of(&liaison_ok(&["reply"], ansai_config, &[&id, &reply, "--json"]).await);
    assert_eq!(repeated["notice_id"], answer["notice_id"]);
    assert_eq!(repeated["already_queued"], true, "{repeated}");
    let answer = answer["notice_id"].as_str().unwrap().to_owned();
    ansai
        .wait_for_status(&answer, pb::NoticeStatus::Delivered)
        .await;
    let replies: Vec<String> = baota
        .inbox()
        .await
        .into_iter()
        .filter(|n| n.in_reply_to == id)
        .map(|n| n.notice_id)
        .collect();
    assert_eq!(replies, [answer], "one reply received");
    fed.shutdown().await;
}
