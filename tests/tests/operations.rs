//! Running a node for years: Prometheus metrics at `GET /metrics` that move as notices are queued,
//! delivered, refused and fall due; the gRPC health and reflection services on the admin listener;
//! JSON logs with a span per notice; SIGTERM in the middle of deliveries ends `liaison serve` with
//! exit code 0 within the grace period and loses nothing it acknowledged; and a configuration with
//! several mistakes is reported in full, with exit code 3, before any port is bound.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use liaison_core::NoticeKind;
use liaison_node::SHUTDOWN_GRACE;
use liaison_node::clock::ManualClock;
use liaison_proto::v1 as pb;
use liaison_tests::cst::{HOUR_MS, cst_ms};
use liaison_tests::federation::connect_admin;
use liaison_tests::{ANSAI, BAOTA, Federation, binary, drafts, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Endpoint;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

/// 宝塔区 and 安塞区.
const TWO_COUNTIES: [(&str, &str); 2] = [(BAOTA, "宝塔区"), (ANSAI, "安塞区")];

/// The `Content-Type` of Prometheus' text exposition format 0.0.4.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An HTTP/1.1 response: status code, headers (names in lower case) and body.
struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The body of a `Transfer-Encoding: chunked` response.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size_text = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .unwrap_or_else(|e| panic!("chunk size {size_text:?}: {e}"));
        raw = &raw[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// `GET path` over plain HTTP/1.1, as a Prometheus server scrapes, with no token.
async fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(&raw)));
    let head = std::str::from_utf8(&raw[..head_end]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(
        status_line.starts_with("HTTP/1.1 "),
        "not an HTTP/1.1 answer: {status_line:?}"
    );
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[head_end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    HttpResponse {
        status,
        headers,
        body: String::from_utf8(body).expect("a UTF-8 body"),
    }
}

/// Checks the exposition's shape: every sample belongs to a family announced before it with one
/// HELP and one TYPE line, every value is a number, and histogram buckets are cumulative.
fn check_exposition(text: &str) {
    let mut families: Vec<(String, String)> = Vec::new();
    let mut last_bucket: Option<(String, f64)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(
                families.iter().all(|(n, _)| n != name),
                "{name} announced twice"
            );
            families.push((name.to_owned(), String::new()));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            let last = families.last_mut().expect("TYPE after HELP");
            assert_eq!(last.0, name, "TYPE of {name} right after its HELP");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "type {kind}"
            );
            last.1 = kind.to_owned();
            continue;
        }
        assert!(!line.is_empty() && !line.starts_with('#'), "line {line:?}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|e| panic!("value of {line:?}: {e}")),
        };
        let name = series.split('{').next().unwrap();
        let (family, kind) = families.last().expect("a sample after its family");
        let fits = match kind.as_str() {
            "histogram" => [
                format!("{family}_bucket"),
                format!("{family}_sum"),
                format!("{family}_count"),
            ]
            .contains(&name.to_owned()),
            _ => name == family,
        };
        assert!(fits, "{name} does not belong to family {family} ({kind})");
        assert!(
            !name.ends_with("_total") || kind == "counter",
            "{name} is a counter"
        );
        if name.ends_with("_bucket") {
            // Label order carries no meaning: `le` may stand anywhere among the labels.
            let (name, labels) = series.split_once('{').unwrap();
            let labels_but_le: Vec<&str> = labels
                .trim_end_matches('}')
                .split(',')
                .filter(|label| !label.starts_with("le="))
                .collect();
            let labels_but_le = format!("{name}{{{}}}", labels_but_le.join(","));
            if let Some((previous, n)) = &last_bucket
                && *previous == labels_but_le
            {
                assert!(value >= *n, "buckets of {labels_but_le} are cumulative");
            }
            last_bucket = Some((labels_but_le, value));
        }
    }
}

/// The node's metrics, checked for shape; the test fails unless `GET /metrics` answers 200 in the
/// text exposition format.
async fn metrics(fed: &Federation, county: &str) -> String {
    let response = http_get(fed.node(county).admin_addr(), "/metrics").await;
    assert_eq!(response.status, 200, "GET /metrics: {}", response.body);
    assert_eq!(response.header("content-type"), Some(EXPOSITION));
    check_exposition(&response.body);
    response.body
}

/// The value of one series, e.g. `liaison_outbox_notices{status="queued"}`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
        .parse()
        .unwrap()
}

fn outbox(status: &str) -> String {
    format!("liaison_outbox_notices{{status=\"{status}\"}}")
}

fn attempts(peer: &str, result: &str) -> String {
    format!("liaison_delivery_attempts_total{{peer=\"{peer}\",result=\"{result}\"}}")
}

fn due(side: &str, state: &str) -> String {
    format!("liaison_replies_due{{side=\"{side}\",state=\"{state}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_as_notices_are_queued_delivered_refused_and_fall_due() {
    let mut fed = Federation::builder(&TWO_COUNTIES)
        .manual_clock(ManualClock::new(cst_ms(2026, 3, 2, 9, 0)))
        .agreement_excludes(ANSAI, BAOTA, NoticeKind::Bulletin)
        .start()
        .await;
    let mut baota = fed.operator(BAOTA).await;
    let latency_count = format!("liaison_delivery_latency_seconds_count{{peer=\"{ANSAI}\"}}");
    let accepted = format!("liaison_notices_accepted_total{{peer=\"{BAOTA}\"}}");
    let pending = format!("liaison_outbox_pending{{peer=\"{ANSAI}\"}}");
    let refused = |direction: &str| {
        format!("liaison_rejections_total{{direction=\"{direction}\",code=\"KIND_NOT_AGREED\"}}")
    };

    let before = metrics(&fed, BAOTA).await;
    assert_eq!(
        sample(
            &before,
            &format!(
                "liaison_node_info{{county=\"{BAOTA}\",version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    for status in ["queued", "in_flight", "delivered", "rejected", "cancelled"] {
        assert_eq!(sample(&before, &outbox(status)), 0.0, "{status}");
    }
    assert_eq!(sample(&before, &pending), 0.0);
    assert_eq!(sample(&before, &attempts(ANSAI, "ok")), 0.0);
    assert_eq!(sample(&before, &attempts(ANSAI, "failed")), 0.0);
    assert_eq!(sample(&before, &latency_count), 0.0);
    for (side, state) in [
        ("owed", "due_soon"),
        ("owed", "overdue"),
        ("awaited", "due_soon"),
        ("awaited", "overdue"),
    ] {
        assert_eq!(sample(&before, &due(side, state)), 0.0);
    }
    assert_eq!(
        sample(&before, &format!("liaison_alarms{{peer=\"{ANSAI}\"}}")),
        0.0
    );
    assert!(!before.contains("liaison_rejections_total{"), "{before}");
    assert!(
        sample(&before, "liaison_tls_certificate_expiry_days") > 0.0,
        "the node's certificate is valid on the test's clock"
    );
    assert_eq!(sample(&metrics(&fed, ANSAI).await, &accepted), 0.0);

    // With 安塞区 down, the notice waits in the outbox and attempts fail.
    fed.stop(ANSAI).await;
    let case = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    let waiting = metrics(&fed, BAOTA).await;
    assert_eq!(sample(&waiting, &pending), 1.0);
    assert_eq!(
        sample(&waiting, &outbox("queued")) + sample(&waiting, &outbox("in_flight")),
        1.0
    );
    eventually("a failed delivery attempt to be counted", || async {
        let text = metrics(&fed, BAOTA).await;
        match sample(&text, &attempts(ANSAI, "failed")) {
            n if n >= 1.0 => Ok(()),
            n => Err(format!("{n} failed attempts")),
        }
    })
    .await;

    // 安塞区 is back: delivered, with its latency; 安塞区 counts it accepted.
    fed.restart(ANSAI).await;
    baota.retry_if_pending(&case.notice_id).await;
    baota
        .wait_for_status(&case.notice_id, pb::NoticeStatus::Delivered)
        .await;
    let delivered = metrics(&fed, BAOTA).await;
    assert_eq!(sample(&delivered, &outbox("delivered")), 1.0);
    assert_eq!(sample(&delivered, &outbox("queued")), 0.0);
    assert_eq!(sample(&delivered, &outbox("in_flight")), 0.0);
    assert_eq!(sample(&delivered, &pending), 0.0);
    assert_eq!(sample(&delivered, &attempts(ANSAI, "ok")), 1.0);
    assert_eq!(sample(&delivered, &latency_count), 1.0);
    assert_eq!(
        sample(
            &delivered,
            &format!("liaison_delivery_latency_seconds_bucket{{le=\"+Inf\",peer=\"{ANSAI}\"}}")
        ),
        1.0
    );
    let at_ansai = metrics(&fed, ANSAI).await;
    assert_eq!(sample(&at_ansai, &accepted), 1.0);
    assert!(
        !at_ansai.contains("liaison_rejections_total{"),
        "{at_ansai}"
    );

    // A bulletin, which 安塞区's agreement does not allow, is refused: both sides count the code.
    let bulletin = baota.send(&drafts::draft("bulletin", Some(ANSAI))).await;
    baota
        .wait_for_status(&bulletin.notice_id, pb::NoticeStatus::Rejected)
        .await;
    let refused_at_baota = metrics(&fed, BAOTA).await;
    assert_eq!(sample(&refused_at_baota, &refused("received")), 1.0);
    assert_eq!(sample(&refused_at_baota, &outbox("rejected")), 1.0);
    assert_eq!(sample(&refused_at_baota, &attempts(ANSAI, "ok")), 2.0);
    assert_eq!(sample(&refused_at_baota, &latency_count), 2.0);
    let refused_at_ansai = metrics(&fed, ANSAI).await;
    assert_eq!(sample(&refused_at_ansai, &refused("sent")), 1.0);
    assert_eq!(sample(&refused_at_ansai, &accepted), 1.0);

    // The case notice's reply falls due soon, then overdue, on both sides.
    let due_at = baota.info(&case.notice_id).await.reply_due_at_ms;
    assert!(due_at > 0, "a case notice needs a reply by a due time");
    fed.clock().set(due_at - HOUR_MS);
    let soon = metrics(&fed, BAOTA).await;
    assert_eq!(sample(&soon, &due("awaited", "due_soon")), 1.0);
    assert_eq!(sample(&soon, &due("awaited", "overdue")), 0.0);
    let soon = metrics(&fed, ANSAI).await;
    assert_eq!(sample(&soon, &due("owed", "due_soon")), 1.0);
    fed.clock().set(due_at + HOUR_MS);
    let late = metrics(&fed, BAOTA).await;
    assert_eq!(sample(&late, &due("awaited", "due_soon")), 0.0);
    assert_eq!(sample(&late, &due("awaited", "overdue")), 1.0);
    assert_eq!(sample(&late, &due("owed", "overdue")), 0.0);
    let late = metrics(&fed, ANSAI).await;
    assert_eq!(sample(&late, &due("owed", "overdue")), 1.0);
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_listener_serves_grpc_health_reflection_and_metrics_without_a_token() {
    let fed = Federation::start(&TWO_COUNTIES).await;
    let addr = fed.node(BAOTA).admin_addr();
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_secs(20))
        .connect()
        .await
        .unwrap();

    let mut health = HealthClient::new(channel.clone());
    for service in ["", "liaison.v1.Admin"] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|s| panic!("health of {service:?}: {s:?}"))
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "liaison.v1.Exchange".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        unknown.code(),
        tonic::Code::NotFound,
        "the exchange service is not on the admin listener"
    );

    let mut reflection = ServerReflectionClient::new(channel.clone());
    let ask = |request| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let requests = tokio_stream::iter([
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol(
            "liaison.v1.Admin".to_owned(),
        )),
    ]);
    let mut answers = reflection
        .server_reflection_info(requests)
        .await
        .unwrap()
        .into_inner();
    let listed = answers.message().await.unwrap().unwrap().message_response;
    let Some(MessageResponse::ListServicesResponse(list)) = listed else {
        panic!("not a list of services: {listed:?}");
    };
    let names: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "liaison.v1.Admin",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(names.contains(expected), "{expected} missing in {names:?}");
    }
    assert!(
        !names.contains("liaison.v1.Exchange"),
        "only what the admin listener serves: {names:?}"
    );
    let file = answers.message().await.unwrap().unwrap().message_response;
    let Some(MessageResponse::FileDescriptorResponse(files)) = file else {
        panic!("not a file descriptor: {file:?}");
    };
    assert!(
        files.file_descriptor_proto.iter().any(|f| f
            .windows(b"liaison/v1/admin.proto".len())
            .any(|w| w == b"liaison/v1/admin.proto")),
        "admin.proto is described"
    );

    // The admin service itself still wants its token.
    let refused = fed
        .admin_client(BAOTA, None)
        .await
        .peers(pb::PeersRequest {})
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    // Node certificates of test federations are made for two years (730 days).
    let days = sample(
        &metrics(&fed, BAOTA).await,
        "liaison_tls_certificate_expiry_days",
    );
    assert!((729.0..=730.01).contains(&days), "{days} days");
    fed.shutdown().await;
}

/// `config` (a `node.toml` made by the federation) delivering one notice per call.
fn one_notice_per_call(config: String) -> String {
    assert!(config.contains("\n[delivery]\n"), "{config}");
    config.replace("\n[delivery]\n", "\n[delivery]\nbatch_size = 1\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_delivery_exits_0_within_the_grace_period_and_loses_nothing_acknowledged() {
    // 宝塔区 runs as `liaison serve`, delivering one notice per call so that it is busy for a while.
    let mut fed = Federation::builder(&TWO_COUNTIES)
        .as_process(BAOTA)
        .edit_config(BAOTA, one_notice_per_call)
        .start()
        .await;
    let baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;

    // 安塞区 keeps sending to 宝塔区 all along.
    let (stop_sending, stop) = tokio::sync::watch::channel(false);
    let from_ansai = {
        let mut ansai = ansai.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            while !*stop.borrow() && ids.len() < 500 {
                let draft = drafts::draft("contact_letter", Some(BAOTA));
                ids.push(ansai.send(&draft).await.notice_id);
            }
            ids
        })
    };
    // 宝塔区's operator queues 48 notices, from two windows at once.
    let mut senders = Vec::new();
    for _ in 0..2 {
        let mut baota = baota.clone();
        senders.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..24 {
                let draft = drafts::draft("case_notice", Some(ANSAI));
                ids.push(baota.try_send(&draft, "").await?.notice_id);
            }
            Ok::<_, tonic::Status>(ids)
        }));
    }
    let mut queued_at_baota = BTreeSet::new();
    for sender in senders {
        match sender.await.unwrap() {
            Ok(ids) => queued_at_baota.extend(ids),
            Err(s) => panic!("宝塔区 refused a Send: {s:?}; its log:\n{}", fed.log(BAOTA)),
        }
    }

    // SIGTERM as soon as the last Send has returned.
    let (status, took) = fed
        .terminate(BAOTA, SHUTDOWN_GRACE + Duration::from_secs(5))
        .await;
    let log = fed.log(BAOTA);
    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{log}");
    assert!(took <= SHUTDOWN_GRACE, "took {took:?}; log:\n{log}");
    for said in [
        "stop requested",
        "SIGTERM",
        "stopped; everything acknowledged is on disk",
        "liaison serve exits (code 0)",
    ] {
        assert!(log.contains(said), "{said:?} not in the log:\n{log}");
    }
    assert!(
        log.contains("notice{notice_id="),
        "events about a notice carry its span:\n{log}"
    );
    let _ = stop_sending.send(true);
    let from_ansai = from_ansai.await.unwrap();

    // What 宝塔区 acknowledged: every Send that returned, and every notice 安塞区 holds a receipt for.
    let mut receipted_by_baota = BTreeSet::new();
    for id in &from_ansai {
        if ansai.info(id).await.status() == pb::NoticeStatus::Delivered {
            receipted_by_baota.insert(id.clone());
        }
    }
    let (outbound, inbound) = {
        let store = fed.open_store(BAOTA);
        let outbound = store.all_outbound().unwrap();
        let inbound: BTreeSet<String> = store
            .all_inbound()
            .unwrap()
            .into_iter()
            .map(|r| r.id.to_string())
            .collect();
        (outbound, inbound)
    };
    let in_outbox: BTreeSet<String> = outbound.iter().map(|r| r.id.to_string()).collect();
    assert!(
        queued_at_baota.is_subset(&in_outbox),
        "a notice whose Send returned is missing"
    );
    let still_pending = outbound.iter().filter(|r| r.status().is_pending()).count();
    assert!(
        still_pending > 0,
        "every notice was delivered before SIGTERM: not mid-delivery"
    );
    assert!(
        receipted_by_baota.is_subset(&inbound),
        "a notice 宝塔区 gave a receipt for is missing: {:?}",
        receipted_by_baota.difference(&inbound).collect::<Vec<_>>()
    );
    eprintln!(
        "at SIGTERM (after {took:?}): 宝塔区 had {still_pending} of {} notices still to deliver; \
         安塞区 held receipts for {} of its {} notices",
        queued_at_baota.len(),
        receipted_by_baota.len(),
        from_ansai.len()
    );

    // After a restart, everything still queued on either side is delivered, each exactly once.
    fed.restart(BAOTA).await;
    let mut baota = fed.operator(BAOTA).await;
    for id in &queued_at_baota {
        baota.retry_if_pending(id).await;
    }
    for id in &from_ansai {
        ansai.retry_if_pending(id).await;
    }
    for id in &queued_at_baota {
        baota.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    for id in &from_ansai {
        ansai.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    let inbox_at_ansai: Vec<String> = ansai
        .inbox()
        .await
        .into_iter()
        .map(|n| n.notice_id)
        .collect();
    assert_eq!(
        inbox_at_ansai.len(),
        queued_at_baota.len(),
        "each exactly once"
    );
    assert_eq!(
        inbox_at_ansai.into_iter().collect::<BTreeSet<_>>(),
        queued_at_baota
    );
    let inbox_at_baota: Vec<String> = baota
        .inbox()
        .await
        .into_iter()
        .map(|n| n.notice_id)
        .collect();
    assert_eq!(inbox_at_baota.len(), from_ansai.len(), "each exactly once");
    assert_eq!(
        inbox_at_baota.into_iter().collect::<BTreeSet<_>>(),
        from_ansai.into_iter().collect::<BTreeSet<_>>()
    );
    fed.shutdown().await;
}

/// Sends SIGTERM to `child` and waits for it to exit, at most `limit`.
async fn terminate(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "no exit within {limit:?} of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_json_with_the_notice_span_and_says_how_it_stopped() {
    let mut fed = Federation::start(&TWO_COUNTIES).await;
    fed.stop(ANSAI).await;
    let node = fed.node(ANSAI);
    let log_path = node.home().join("serve-json.log");
    let mut child = Command::new(binary::liaison())
        .args(["serve", "--log-format", "json", "--config"])
        .arg(node.config_path())
        .env("LIAISON_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let token = std::fs::read_to_string(node.data_dir().join("admin.token")).unwrap();
    let admin_addr = node.admin_addr();
    eventually("the JSON-logging node to answer admin calls", || {
        let token = token.trim().to_owned();
        async move {
            let mut client = connect_admin(admin_addr, Some(&token))
                .await
                .map_err(|e| e.to_string())?;
            client
                .peers(pb::PeersRequest {})
                .await
                .map(|_| ())
                .map_err(|s| format!("{s:?}"))
        }
    })
    .await;
    let mut baota = fed.operator(BAOTA).await;
    let sent = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    baota.retry_if_pending(&sent.notice_id).await;
    baota
        .wait_for_status(&sent.notice_id, pb::NoticeStatus::Delivered)
        .await;

    let status = terminate(&mut child, SHUTDOWN_GRACE + Duration::from_secs(5)).await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(status.code(), Some(0), "{status}; log:\n{log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let message = |line: &serde_json::Value| line["fields"]["message"].as_str().map(str::to_owned);
    let accepted = lines
        .iter()
        .find(|l| message(l).as_deref() == Some("accepted a notice"))
        .unwrap_or_else(|| panic!("no accepted notice in:\n{log}"));
    assert_eq!(accepted["span"]["name"], "notice", "{accepted}");
    assert_eq!(
        accepted["span"]["notice_id"],
        sent.notice_id.as_str(),
        "{accepted}"
    );
    assert_eq!(accepted["fields"]["sender"], BAOTA, "{accepted}");
    assert_eq!(accepted["level"], "INFO");
    let stop = lines
        .iter()
        .find(|l| message(l).as_deref() == Some("stop requested"))
        .unwrap_or_else(|| panic!("no stop request in:\n{log}"));
    assert_eq!(stop["fields"]["signal"], "SIGTERM");
    let said: Vec<String> = lines.iter().filter_map(message).collect();
    let stopping = said
        .iter()
        .position(|m| m.starts_with("shutting down"))
        .expect("shutting down");
    let stopped = said
        .iter()
        .position(|m| m == "stopped; everything acknowledged is on disk")
        .expect("stopped");
    assert!(stopping < stopped);
    assert_eq!(
        said.last().map(String::as_str),
        Some("liaison serve exits (code 0)")
    );
    fed.shutdown().await;
}

#[test]
fn config_with_several_mistakes_is_reported_in_full_and_binds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let exchange = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ports = [exchange.local_addr().unwrap(), admin.local_addr().unwrap()];
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        format!(
            r#"[node]
county = "61060"
name = ""
data_dir = "data"
signing_key = "signing.pem"

[tls]
cert = "tls.crt"
key = "tls.key"
ca = "ca.crt"

[listen]
exchange = "{}"
admin = "{}"

[delivery]
batch_size = 0

[[peers]]
county = "610603"
name = "安塞区"
endpoint = "http://127.0.0.1:7444"
keys = [{{ public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a" }}]
agreement = {{ effective = "2026-01-01", allowed_kinds = ["all"], contact_person = "王芳", phone = "" }}
"#,
            ports[0], ports[1]
        ),
    )
    .unwrap();
    let mistakes = [
        "node.county",
        "node.name",
        "delivery.batch_size",
        "peers[0].endpoint",
        "peers[0].agreement.phone",
    ];
    let serve = || {
        let started = Instant::now();
        let output = Command::new(binary::liaison())
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("LIAISON_CONFIG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(3), "stderr:\n{stderr}");
        assert!(stderr.contains(&config.display().to_string()), "{stderr}");
        assert!(stderr.contains("has 5 problem(s)"), "{stderr}");
        for key in mistakes {
            assert!(
                stderr.contains(&format!("  {key}: ")),
                "{key} not named:\n{stderr}"
            );
        }
        assert!(!stderr.contains("cannot listen"), "{stderr}");
        assert!(started.elapsed() < Duration::from_secs(20));
    };

    // With both ports taken by this test, the mistakes are still what is reported: the config is
    // checked before any port is bound.
    serve();
    // With both ports free, nothing is listening on them afterwards either.
    drop((exchange, admin));
    serve();
    for addr in ports {
        assert!(
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
            "something listens on {addr}"
        );
        std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("{addr} is not free: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_show_last_success_and_the_certificate_and_key_expiry_dates() {
    let fed = Federation::start(&liaison_tests::THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let sent = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    baota
        .wait_for_status(&sent.notice_id, pb::NoticeStatus::Delivered)
        .await;

    let ansai_seen = &baota.peer(ANSAI).await;
    assert!(ansai_seen.last_success_at_ms > 0, "{ansai_seen:?}");
    assert_eq!(
        ansai_seen.key_expires_at_ms, 0,
        "the federation's keys have no end date"
    );

    let baota_seen = &ansai.peer(BAOTA).await;
    // Certificates are made for two years from the moment the federation is made, so the expiry
    // is well after this bound whenever the test runs.
    assert!(
        baota_seen.certificate_expires_at_ms > cst_ms(2028, 1, 1, 0, 0),
        "宝塔区's two-year certificate, seen on its delivery: {baota_seen:?}"
    );
    let yanchang = ansai.peer(liaison_tests::YANCHANG).await;
    assert_eq!(
        yanchang.certificate_expires_at_ms, 0,
        "not seen yet: 延长县 has not delivered"
    );
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_forty_minutes_slow_is_flagged_by_the_peers_receipts_on_both_sides() {
    const FORTY_MIN_MS: i64 = 40 * 60_000;
    let fed = Federation::builder(&TWO_COUNTIES)
        .clock_offset(BAOTA, -FORTY_MIN_MS)
        .start()
        .await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let to_ansai = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    baota
        .wait_for_status(&to_ansai.notice_id, pb::NoticeStatus::Delivered)
        .await;
    // To 宝塔区's slow clock 安塞区's notice is issued in the future: refused, in a receipt whose
    // signed time shows the disagreement all the same.
    let to_baota = ansai
        .send(&drafts::draft("contact_letter", Some(BAOTA)))
        .await;
    let refused = ansai
        .wait_for_status(&to_baota.notice_id, pb::NoticeStatus::Rejected)
        .await;
    assert_eq!(refused.reject_code(), pb::RejectCode::IssuedInFuture);

    // Each side sees the other's signed receipt time 40 minutes off its own clock.
    for (op, peer, sign) in [(&mut baota, ANSAI, 1), (&mut ansai, BAOTA, -1)] {
        let seen = op.peer(peer).await;
        assert!(seen.clock_disagrees, "{seen:?}");
        assert!(
            (seen.clock_offset_ms - sign * FORTY_MIN_MS).abs() < 60_000,
            "{seen:?}"
        );
    }
    let text = metrics(&fed, BAOTA).await;
    let offset = sample(
        &text,
        &format!("liaison_peer_clock_offset_seconds{{peer=\"{ANSAI}\"}}"),
    );
    assert!((offset - 2400.0).abs() < 60.0, "{offset}");
    let config = fed.node(BAOTA).config_path().display().to_string();
    let (code, stdout, stderr) = binary::run(None, &["peers", "--config", &config]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("CLOCK {ANSAI}")) && stdout.contains("ahead of this node's"),
        "{stdout}"
    );
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_that_agree_raise_no_clock_flag() {
    let fed = Federation::start(&TWO_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let sent = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    baota
        .wait_for_status(&sent.notice_id, pb::NoticeStatus::Delivered)
        .await;
    let peers = baota.peers().await;
    assert!(peers.iter().all(|p| !p.clock_disagrees), "{peers:?}");
    let text = metrics(&fed, BAOTA).await;
    assert_eq!(
        sample(
            &text,
            &format!("liaison_peer_clock_offset_seconds{{peer=\"{ANSAI}\"}}")
        ),
        0.0
    );
    fed.shutdown().await;
}
