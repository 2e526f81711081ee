//! The command line and the start of `liaison serve` under conditions that used to go wrong: a
//! listing cut at its limit says so; a reader that stops reading (`liaison inbox --json | head`)
//! ends the command quietly instead of a panic; and a SIGTERM at any moment of start-up stops the
//! node with exit code 0, leaving a store that opens.

use std::process::{Command, Stdio};
use std::time::Duration;

use liaison_proto::v1 as pb;
use liaison_tests::peer::{self, NoticeBuilder};
use liaison_tests::{ANSAI, BAOTA, Federation, THREE_COUNTIES, binary, code, eventually, within};

/// A federation whose 安塞区 has received `count` notices from 宝塔区.
async fn with_inbox(count: usize) -> Federation {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut raw = fed.peer(BAOTA, ANSAI).await;
    let key = fed.signing_key(BAOTA);
    let envelopes = (0..count)
        .map(|_| {
            NoticeBuilder::new("case_notice", code(BAOTA), code(ANSAI))
                .sign(&key)
                .to_envelope()
        })
        .collect();
    peer::deliver(&mut raw, envelopes).await;
    fed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_cut_at_its_limit_says_so_in_the_response_and_in_the_cli() {
    let fed = with_inbox(3).await;
    let mut operator = fed.operator(ANSAI).await;
    let ansai = operator.client();
    let list = |limit| pb::ListRequest {
        status: 0,
        peer: String::new(),
        limit,
    };
    let cut = ansai.list_inbox(list(2)).await.unwrap().into_inner();
    assert_eq!((cut.notices.len(), cut.more, cut.limit), (2, true, 2));
    let whole = ansai.list_inbox(list(3)).await.unwrap().into_inner();
    assert_eq!(
        (whole.notices.len(), whole.more, whole.limit),
        (3, false, 3)
    );
    let capped = ansai.list_inbox(list(20_000)).await.unwrap().into_inner();
    assert_eq!(
        (capped.more, capped.limit),
        (false, 10_000),
        "the cap is reported"
    );

    let config = fed.node(ANSAI).config_path().display().to_string();
    let (status, stdout, stderr) =
        binary::run(None, &["inbox", "--config", &config, "--limit", "2"]).await;
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stdout.contains("Showing the newest 2 only; more notices match"),
        "{stdout}"
    );
    let (status, stdout, stderr) = binary::run(
        None,
        &["inbox", "--config", &config, "--limit", "2", "--json"],
    )
    .await;
    assert_eq!(status, 0, "{stderr}");
    let array: serde_json::Value = serde_json::from_str(&stdout).expect("stdout stays JSON");
    assert_eq!(array.as_array().map(Vec::len), Some(2));
    assert!(stderr.contains("more notices match"), "{stderr}");
    let (_, stdout, _) = binary::run(None, &["inbox", "--config", &config]).await;
    assert!(!stdout.contains("more notices match"), "{stdout}");

    // Three case notices to answer: the due board cut at two says so too.
    let due = |limit| pb::DueRequest {
        side: pb::Side::Owed as i32,
        overdue_only: false,
        limit,
    };
    let cut = ansai.due(due(2)).await.unwrap().into_inner();
    assert_eq!((cut.items.len(), cut.more, cut.limit), (2, true, 2));
    let whole = ansai.due(due(3)).await.unwrap().into_inner();
    assert_eq!((whole.items.len(), whole.more), (3, false));
    let (status, stdout, stderr) =
        binary::run(None, &["due", "--config", &config, "--limit", "2"]).await;
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stdout.contains("Showing the 2 soonest only; more replies are due"),
        "{stdout}"
    );
    let (_, stdout, _) = binary::run(
        None,
        &["due", "--config", &config, "--limit", "2", "--json"],
    )
    .await;
    let board: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(board["more"], true, "{board}");
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_reading_ends_the_command_quietly() {
    let fed = with_inbox(3).await;
    let config = fed.node(ANSAI).config_path().to_owned();
    for args in [
        &["inbox", "--json"][..],
        &["inbox"],
        &["outbox", "--json"],
        &["due", "--json"],
    ] {
        let result = tokio::task::spawn_blocking({
            let config = config.clone();
            move || {
                let mut child = Command::new(binary::liaison())
                    .args(args)
                    .arg("--config")
                    .arg(&config)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                // The reader goes away before the command writes a byte.
                drop(child.stdout.take());
                child.wait_with_output().unwrap()
            }
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(result.status.code(), Some(0), "{args:?}: {stderr}");
    }
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_any_moment_of_start_up_stops_the_node_with_code_0_and_a_store_that_opens() {
    let mut fed = with_inbox(3).await;
    fed.stop(ANSAI).await;
    let node = fed.node(ANSAI);
    let (config, home) = (node.config_path().to_owned(), node.home().to_owned());
    for (attempt, delay_ms) in [0u64, 0, 1, 2, 5, 10, 20, 50, 100, 300]
        .into_iter()
        .enumerate()
    {
        let log_path = home.join(format!("start-{attempt}.log"));
        let mut child = Command::new(binary::liaison())
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("LIAISON_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap();
        // Until "starting" the process is still loading: the signal handlers come first.
        eventually("the node to begin starting", || {
            let log_path = log_path.clone();
            async move {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                log.contains("starting").then_some(()).ok_or(log)
            }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let status = within(
            "the node to exit after SIGTERM",
            tokio::task::spawn_blocking(move || child.wait().unwrap()),
        )
        .await
        .unwrap();
        let log = std::fs::read_to_string(&log_path).unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "SIGTERM {delay_ms} ms into start-up: {status}; log:\n{log}"
        );
        assert!(!log.contains("panicked"), "{log}");
        drop(fed.open_store(ANSAI));
    }
    fed.shutdown().await;
}
