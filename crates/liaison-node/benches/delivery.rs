//! Delivery throughput between two real nodes over mutual TLS on 127.0.0.1: the same outbox is
//! delivered once one notice per call (the baseline) and once in batches, and the figures and their
//! ratio are printed, with the recipient's store commits per delivery call (each commit is one
//! fsync of its WAL). Run with `cargo bench -p liaison-node --bench delivery`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use liaison_core::draft::parse_draft_json;
use liaison_core::notice::Outgoing;
use liaison_core::{CountyCode, NodeKey, NoticeId, SignedNotice};
use liaison_node::Node;
use liaison_node::clock::{Clock, SystemClock};
use liaison_node::config::Config;
use liaison_node::federation::{self, Member};
use liaison_node::pki;
use liaison_proto::v1 as pb;
use liaison_store::{OutboundRecord, Store};
use tokio::net::TcpListener;

const NOTICES: usize = 1000;

fn county(code: &str) -> CountyCode {
    CountyCode::parse(code).expect("county code")
}

/// Fills the sender's outbox directly, before the sender starts, so only delivery is timed.
async fn fill_outbox(dir: &Path, from: CountyCode, to: CountyCode) {
    let home = dir.join(from.as_str());
    let pem = std::fs::read_to_string(home.join("signing.pem")).expect("signing key");
    let key =
        NodeKey::new(pki::signing_key_from_pem(&pem, &home.join("signing.pem")).expect("key"));
    let draft = parse_draft_json(include_str!(
        "../../../deploy/examples/notices/case_notice.json"
    ))
    .expect("draft");
    let payload = draft.body.encode();
    let store = Store::open(&home.join("data/store")).expect("store");
    let now = SystemClock.now_ms();
    for i in 0..NOTICES {
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let id = NoticeId::new(now as u64, random);
        let outgoing = Outgoing {
            id,
            sender: from,
            recipient: to,
            kind: draft.body.kind(),
            urgent: false,
            issued_at_ms: now,
            in_reply_to: None,
        };
        let notice = SignedNotice::sign(&key, outgoing, payload.clone());
        let record = OutboundRecord::queued(id, to, draft.body.kind(), false, now, None);
        store
            .enqueue(
                &record,
                &notice.envelope_bytes(),
                notice.content_hash(),
                None,
            )
            .await
            .expect("enqueue");
    }
}

/// The value of an unlabelled metric of the node whose admin listener is `addr`.
async fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("metrics");
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut text = String::new();
    stream.read_to_string(&mut text).await.expect("response");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// Delivers `NOTICES` notices from 610602 to 610603 with `batch_size`; returns the time taken and
/// the recipient's store commits.
async fn run(batch_size: usize) -> (Duration, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let counties = [("610602", "宝塔区"), ("610603", "安塞区")];
    let mut listeners = Vec::new();
    let mut members = Vec::new();
    for (code, name) in counties {
        let exchange = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let admin = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        members.push(Member {
            county: county(code),
            name: name.into(),
            exchange_addr: exchange.local_addr().expect("addr"),
            admin_addr: admin.local_addr().expect("addr"),
        });
        listeners.push((exchange, admin));
    }
    let files = federation::create(dir.path(), &members, "2026-01-01").expect("federation");
    for file in &files {
        let text = std::fs::read_to_string(&file.config).expect("config");
        let text = text.replace(
            "[delivery]\n",
            &format!("[delivery]\nbatch_size = {batch_size}\n"),
        );
        std::fs::write(&file.config, text).expect("config");
    }
    fill_outbox(dir.path(), county("610602"), county("610603")).await;

    let mut stops = Vec::new();
    let mut tasks = Vec::new();
    let mut admin_client = None;
    let mut recipient_admin = None;
    let start = Instant::now();
    // The recipient first, so the sender's first attempt finds it.
    for (file, (exchange, admin)) in files.iter().zip(listeners).rev() {
        let admin_addr = admin.local_addr().expect("addr");
        let node = Node::start(
            Config::load(&file.config).expect("config"),
            Arc::new(SystemClock),
        )
        .expect("node");
        let token = node.admin_token().to_owned();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tasks.push(tokio::spawn(node.run(exchange, admin, async move {
            let _ = stopped.await;
        })));
        stops.push(stop);
        if file.county == county("610603") {
            recipient_admin = Some(admin_addr);
        }
        if file.county == county("610602") {
            let channel = tonic::transport::Channel::from_shared(format!("http://{admin_addr}"))
                .expect("uri")
                .connect()
                .await
                .expect("admin");
            let bearer: tonic::metadata::MetadataValue<_> =
                format!("Bearer {token}").parse().expect("token");
            admin_client = Some(pb::admin_client::AdminClient::with_interceptor(
                channel,
                move |mut r: tonic::Request<()>| {
                    r.metadata_mut().insert("authorization", bearer.clone());
                    Ok(r)
                },
            ));
        }
    }
    let mut admin = admin_client.expect("sender admin");
    let elapsed = loop {
        let peers = admin
            .peers(pb::PeersRequest {})
            .await
            .expect("peers")
            .into_inner();
        if peers.peers.iter().all(|p| p.backlog == 0) {
            break start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "delivery did not finish"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let delivered = admin
        .list_outbox(pb::ListRequest {
            status: pb::NoticeStatus::Delivered as i32,
            peer: String::new(),
            limit: NOTICES as u32,
        })
        .await
        .expect("list")
        .into_inner()
        .notices
        .len();
    assert_eq!(delivered, NOTICES, "every notice delivered");
    let commits = metric(
        recipient_admin.expect("recipient admin"),
        "liaison_storage_commits_total",
    )
    .await;
    for stop in stops {
        let _ = stop.send(());
    }
    for task in tasks {
        task.await.expect("join").expect("node");
    }
    (elapsed, commits)
}

#[tokio::main]
async fn main() {
    println!("delivery of {NOTICES} case notices, 610602 → 610603, mutual TLS on 127.0.0.1");
    let (baseline, baseline_commits) = run(1).await;
    let (batched, batched_commits) = run(64).await;
    let rate = |d: Duration| NOTICES as f64 / d.as_secs_f64();
    let per_call = |commits: f64, batch: usize| commits / NOTICES.div_ceil(batch) as f64;
    println!(
        "  one notice per call (baseline): {:>8.1} ms  {:>8.0} notices/s  {:>5.2} recipient commits (fsyncs) per call",
        baseline.as_secs_f64() * 1e3,
        rate(baseline),
        per_call(baseline_commits, 1)
    );
    println!(
        "  batches of 64:                  {:>8.1} ms  {:>8.0} notices/s  {:>5.2} recipient commits (fsyncs) per call",
        batched.as_secs_f64() * 1e3,
        rate(batched),
        per_call(batched_commits, 64)
    );
    println!(
        "  batched / baseline throughput:  {:.1}x",
        rate(batched) / rate(baseline)
    );
}
