//! `liaison backup` copies a running node's store without stopping it, and `liaison restore` puts
//! such a copy back into the stopped node. A restore rolls the county's log back, which each peer
//! reports as one alarm until its operator accepts the log, after which the exchange goes on
//! without further alarms.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use liaison_proto::v1 as pb;
use liaison_tests::{ANSAI, BAOTA, Federation, Operator, THREE_COUNTIES, binary, drafts};
use tonic::Code;

/// Sends notices from `from` to `to` until `running` turns false, adding their ids to `sent`.
fn keep_sending(
    mut from: Operator,
    to: &'static str,
    running: Arc<AtomicBool>,
    sent: Arc<Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // A steady stream rather than a flood: deliveries run during the backup, and the
        // store is not swamped.
        let mut pace = tokio::time::interval(Duration::from_millis(15));
        while running.load(Ordering::SeqCst) {
            pace.tick().await;
            let info = from.send(&drafts::draft("bulletin", Some(to))).await;
            sent.lock().unwrap().push(info.notice_id);
        }
    })
}

/// Sends `count` notices from `from` to `to` and waits until each is delivered; returns their ids.
async fn send_delivered(from: &mut Operator, to: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(
            from.send(&drafts::draft("contact_letter", Some(to)))
                .await
                .notice_id,
        );
    }
    for id in &ids {
        from.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    ids
}

/// The alarms `operator`'s node shows about `peer` (not yet acknowledged).
async fn alarms_about(operator: &mut Operator, peer: &str) -> Vec<String> {
    operator.peer(peer).await.alarms
}

fn ids(notices: &[pb::NoticeInfo]) -> BTreeSet<String> {
    notices.iter().map(|n| n.notice_id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restoring_a_backup_taken_during_exchange_raises_one_alarm_until_the_peer_accepts_the_log()
{
    let counties = [THREE_COUNTIES[0], THREE_COUNTIES[1]];
    let mut fed = Federation::builder(&counties)
        .backoff_ms(ANSAI, 50, 500)
        .start()
        .await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let config = fed.node(BAOTA).config_path().display().to_string();
    let backups = tempfile::tempdir().unwrap();

    send_delivered(&mut baota, ANSAI, 3).await;
    send_delivered(&mut ansai, BAOTA, 3).await;

    // Deliveries in both directions while the backup is taken.
    let running = Arc::new(AtomicBool::new(true));
    let to_ansai = Arc::new(Mutex::new(Vec::new()));
    let to_baota = Arc::new(Mutex::new(Vec::new()));
    let senders = [
        keep_sending(baota.clone(), ANSAI, running.clone(), to_ansai.clone()),
        keep_sending(ansai.clone(), BAOTA, running.clone(), to_baota.clone()),
    ];
    liaison_tests::eventually("both directions to be busy", || async {
        let (a, b) = (
            to_ansai.lock().unwrap().len(),
            to_baota.lock().unwrap().len(),
        );
        if a >= 5 && b >= 5 {
            Ok(())
        } else {
            Err(format!("{a} and {b} sent"))
        }
    })
    .await;
    let acknowledged_in = ids(&baota.inbox().await);
    let acknowledged_out = ids(&baota.outbox().await);
    // A relative path is the CLI's: the node is told the absolute one.
    let (code, stdout, stderr) = binary::run(
        Some(backups.path()),
        &["backup", "--config", &config, "--out", "baota.db", "--json"],
    )
    .await;
    assert_eq!(code, 0, "liaison backup failed:\n{stdout}\n{stderr}");
    let taken: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let backup = backups.path().join("baota.db");
    assert_eq!(taken["path"], backup.display().to_string());
    let backup_size = taken["log_size"].as_u64().unwrap();
    assert_eq!(taken["root_hex"].as_str().unwrap().len(), 64, "{taken}");
    assert!(backup.is_file());
    to_ansai.lock().unwrap().clear();
    liaison_tests::eventually("more sends after the backup", || async {
        let sent = to_ansai.lock().unwrap().len();
        if sent >= 3 {
            Ok(())
        } else {
            Err(format!("{sent} sent"))
        }
    })
    .await;
    running.store(false, Ordering::SeqCst);
    for sender in senders {
        sender.await.expect("a sender panicked");
    }
    let sent_to_ansai = to_ansai.lock().unwrap().clone();
    for id in &sent_to_ansai {
        baota.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    let sent_to_baota = to_baota.lock().unwrap().clone();
    for id in &sent_to_baota {
        ansai.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }

    let (code, _, stderr) = binary::run(
        Some(backups.path()),
        &["backup", "--config", &config, "--out", "baota.db"],
    )
    .await;
    assert_eq!(code, 2, "an existing file is never overwritten: {stderr}");
    assert!(stderr.contains("exists already"), "{stderr}");

    // The backup is a store of its own, with everything acknowledged before it was taken.
    let copy = tempfile::tempdir().unwrap();
    std::fs::create_dir(copy.path().join("store")).unwrap();
    std::fs::copy(&backup, copy.path().join("store").join("liaison.db")).unwrap();
    let store = liaison_store::Store::open(&copy.path().join("store"))
        .unwrap_or_else(|e| panic!("the backup does not open: {e}"));
    assert_eq!(store.log_head().unwrap().size, backup_size);
    for id in &acknowledged_in {
        let id = liaison_core::NoticeId::parse(id).unwrap();
        assert!(
            store.inbound(&id).unwrap().is_some(),
            "received {id} is in the backup"
        );
        assert!(store.inbound_receipt(&id).unwrap().is_some());
    }
    for id in &acknowledged_out {
        let id = liaison_core::NoticeId::parse(id).unwrap();
        assert!(
            store.outbound(&id).unwrap().is_some(),
            "queued {id} is in the backup"
        );
    }
    store.close().await.unwrap();

    // 安塞区 goes on receiving 宝塔区's checkpoints, so the one it holds is well past the backup.
    let lost = send_delivered(&mut ansai, BAOTA, 16).await;

    let (code, _, stderr) = binary::run(
        Some(backups.path()),
        &["restore", "--config", &config, "--from", "baota.db"],
    )
    .await;
    assert_ne!(code, 0, "a running node's store is not replaced");
    assert!(stderr.contains("stop the node first"), "{stderr}");
    let (code, _, stderr) = binary::run(
        Some(backups.path()),
        &["restore", "--config", &config, "--from", "missing.db"],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");

    fed.stop(BAOTA).await;
    let mut while_stopped = Vec::new();
    for _ in 0..2 {
        while_stopped.push(
            ansai
                .send(&drafts::draft("case_notice", Some(BAOTA)))
                .await
                .notice_id,
        );
    }
    let (code, stdout, stderr) = binary::run(
        Some(backups.path()),
        &["restore", "--config", &config, "--from", "baota.db"],
    )
    .await;
    assert_eq!(code, 0, "liaison restore failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("a log of {backup_size} entries")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("liaison accept-peer-log {BAOTA}")),
        "{stdout}"
    );
    let replaced = std::fs::read_dir(fed.node(BAOTA).data_dir().join("store"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("replaced-"))
        .count();
    assert_eq!(replaced, 1, "the replaced files are kept");

    fed.restart(BAOTA).await;
    let mut baota = fed.operator(BAOTA).await;
    for id in &while_stopped {
        ansai.retry_if_pending(id).await;
    }
    for id in &while_stopped {
        ansai.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    // Several deliveries, each with a receipt carrying the restored, shorter log's checkpoint.
    let mut after_restore = while_stopped.clone();
    for _ in 0..3 {
        after_restore.extend(send_delivered(&mut ansai, BAOTA, 1).await);
    }
    send_delivered(&mut baota, ANSAI, 1).await;
    // The delivery worker checks a receipt's checkpoint before its next call: once this last
    // notice is delivered, every earlier receipt has been checked.
    after_restore.extend(send_delivered(&mut ansai, BAOTA, 1).await);

    let alarms = alarms_about(&mut ansai, BAOTA).await;
    assert_eq!(
        alarms.len(),
        1,
        "one alarm for the one restore, not one per receipt: {alarms:#?}"
    );
    assert!(alarms[0].contains("rollback"), "{alarms:?}");
    assert!(alarms_about(&mut baota, ANSAI).await.is_empty());

    let inbox = ids(&baota.inbox().await);
    for id in &lost {
        assert!(!inbox.contains(id), "{id} was received after the backup");
        let held = ansai.info(id).await;
        assert!(
            held.status() == pb::NoticeStatus::Delivered && held.receipt_at_ms != 0,
            "its sender holds the receipt: {held:?}"
        );
    }
    for id in &after_restore {
        assert!(inbox.contains(id), "{id} was delivered after the restore");
    }

    let accepted = ansai
        .client()
        .accept_peer_log(pb::AcceptPeerLogRequest {
            peer: BAOTA.to_owned(),
        })
        .await
        .expect("AcceptPeerLog answers")
        .into_inner();
    assert!(accepted.alarms.is_empty(), "{accepted:?}");
    for _ in 0..3 {
        send_delivered(&mut ansai, BAOTA, 1).await;
        send_delivered(&mut baota, ANSAI, 1).await;
    }
    send_delivered(&mut ansai, BAOTA, 1).await;
    let alarms = alarms_about(&mut ansai, BAOTA).await;
    assert!(
        alarms.is_empty(),
        "the accepted log grows as it should: {alarms:#?}"
    );
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_needs_an_operator_and_an_absolute_path_to_a_new_file() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let dir = tempfile::tempdir().unwrap();
    let auditor_token =
        std::fs::read_to_string(fed.node(BAOTA).data_dir().join("auditor.token")).unwrap();
    let mut auditor = fed.admin_client(BAOTA, Some(auditor_token.trim())).await;
    let request = |path: &Path| pb::BackupRequest {
        out_path: path.display().to_string(),
    };
    let status = auditor
        .backup(request(&dir.path().join("a.db")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(!dir.path().join("a.db").exists());

    let mut baota = fed.operator(BAOTA).await;
    let status = baota
        .client()
        .backup(request(Path::new("relative.db")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().starts_with("out_path"), "{status:?}");
    let status = baota
        .client()
        .backup(request(&dir.path().join("no-such-dir").join("a.db")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    std::fs::write(dir.path().join("taken.db"), "not to be overwritten").unwrap();
    let status = baota
        .client()
        .backup(request(&dir.path().join("taken.db")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("taken.db")).unwrap(),
        "not to be overwritten"
    );

    let written = baota
        .client()
        .backup(request(&dir.path().join("b.db")))
        .await
        .expect("an operator's backup")
        .into_inner();
    assert_eq!(written.path, dir.path().join("b.db").display().to_string());
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_file_that_is_not_a_store_and_changes_nothing() {
    let mut fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let sent = baota.send(&drafts::draft("bulletin", Some(ANSAI))).await;
    fed.stop(BAOTA).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.db"), vec![0x5a; 8192]).unwrap();
    let config = fed.node(BAOTA).config_path().display().to_string();
    let (code, stdout, stderr) = binary::run(
        Some(dir.path()),
        &["restore", "--config", &config, "--from", "junk.db"],
    )
    .await;
    assert_eq!(code, 3, "a damaged backup:\n{stdout}\n{stderr}");
    assert!(stderr.contains("not a usable backup"), "{stderr}");
    fed.restart(BAOTA).await;
    let mut baota = fed.operator(BAOTA).await;
    assert_eq!(baota.info(&sent.notice_id).await.notice_id, sent.notice_id);
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_json_reports_the_health_of_the_store() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let config = fed.node(BAOTA).config_path().display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) =
        binary::run(Some(dir.path()), &["peers", "--config", &config, "--json"]).await;
    assert_eq!(code, 0, "{stderr}");
    let peers: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        peers["storage"]["failing"],
        serde_json::Value::Null,
        "{peers}"
    );
    assert_eq!(peers["storage"]["failed_commits"], 0, "{peers}");
    assert_eq!(peers["peers"].as_array().unwrap().len(), 2, "{peers}");
    fed.shutdown().await;
}
