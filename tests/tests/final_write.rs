//! A clean stop whose last write to the store fails says so and exits non-zero, instead of
//! reporting that everything is on disk; the store still opens afterwards with everything that
//! was acknowledged.

use liaison_proto::v1 as pb;
use std::time::Duration;

use liaison_tests::lazyfs::LazyFs;
use liaison_tests::{ANSAI, BAOTA, Federation, THREE_COUNTIES, drafts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_whose_final_write_fails_exits_1_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let lazy = LazyFs::mount(&dir.path().join("durable"), &dir.path().join("disk"))
        .unwrap_or_else(|e| panic!("this test needs its FUSE mount: {e}"));
    let mut fed = Federation::builder(&THREE_COUNTIES)
        .as_process(BAOTA)
        .data_dir_under(BAOTA, lazy.mountpoint())
        .start()
        .await;
    let mut baota = fed.operator(BAOTA).await;
    let sent = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    baota
        .wait_for_status(&sent.notice_id, pb::NoticeStatus::Delivered)
        .await;

    // The disk starts failing every fsync just before the operator stops the node.
    lazy.set_fail_fsync(true);
    let (status, _) = fed.terminate(BAOTA, Duration::from_secs(30)).await;
    let log = fed.log(BAOTA);
    assert_eq!(status.code(), Some(1), "exit code 1 expected; log:\n{log}");
    assert!(
        log.contains("the store's final write failed"),
        "the log says the final write failed; log:\n{log}"
    );
    assert!(
        !log.contains("everything acknowledged is on disk"),
        "a failed stop must not claim success; log:\n{log}"
    );

    lazy.set_fail_fsync(false);
    fed.restart(BAOTA).await;
    let mut baota = fed.operator(BAOTA).await;
    assert_eq!(
        baota.info(&sent.notice_id).await.status(),
        pb::NoticeStatus::Delivered,
        "what was acknowledged before the stop is still there"
    );
    fed.shutdown().await;
}
