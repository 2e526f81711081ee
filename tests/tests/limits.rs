//! The exchange service's limits keep honest peers served: a batch above the recipient's envelope
//! limit is refused with `RESOURCE_EXHAUSTED` and the sender splits it until everything arrives; a
//! request above the size limit is refused with `OUT_OF_RANGE`; envelopes whose header cannot be
//! read get unsigned answers; one county's flood does not keep another's notice out; a TCP
//! connection that never starts TLS is closed; and a TLS client that does not offer ALPN `h2`
//! is refused at the handshake.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use liaison_node::pki;
use liaison_proto::v1 as pb;
use liaison_tests::{ANSAI, BAOTA, Federation, THREE_COUNTIES, YANCHANG, code, drafts, within};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::AsyncReadExt as _;

/// `config` with these `[limits]` lines added.
fn with_limits(config: String, lines: &str) -> String {
    assert!(
        !config.contains("[limits]"),
        "the test config has no [limits] yet"
    );
    format!("{config}\n[limits]\n{lines}\n")
}

/// The value of `liaison_exchange_refusals_total` with `reason` at `county`'s node.
async fn refusals(fed: &Federation, county: &str, reason: &str) -> u64 {
    use tokio::io::AsyncWriteExt as _;
    let addr = fed.node(county).admin_addr();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    let prefix = format!("liaison_exchange_refusals_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// A well-formed envelope from 宝塔区 to 安塞区.
fn envelope(fed: &Federation) -> pb::Envelope {
    liaison_tests::peer::NoticeBuilder::new("case_notice", code(BAOTA), code(ANSAI))
        .sign(&fed.signing_key(BAOTA))
        .to_envelope()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_above_the_envelope_limit_is_refused_and_the_sender_splits_it_until_all_arrive() {
    let mut fed = Federation::builder(&THREE_COUNTIES)
        .edit_config(ANSAI, |c| with_limits(c, "max_batch_envelopes = 3"))
        .edit_config(BAOTA, |c| {
            c.replace("[delivery]\n", "[delivery]\nbatch_size = 10\n")
        })
        .start()
        .await;

    // By hand: four envelopes in one call are refused whole, and the answer names the limit.
    let mut raw = fed.peer(BAOTA, ANSAI).await;
    let four = (0..4).map(|_| envelope(&fed)).collect();
    let status = raw
        .deliver(pb::DeliverRequest {
            envelopes: four,
            proofs: Vec::new(),
        })
        .await
        .expect_err("a call above the limit is refused");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("max_batch_envelopes"),
        "{status:?}"
    );
    assert_eq!(
        status
            .metadata()
            .get("liaison-max-batch-envelopes")
            .map(|v| v.to_str().unwrap()),
        Some("3"),
        "the limit travels in the response metadata"
    );
    let mut ansai = fed.operator(ANSAI).await;
    assert!(ansai.inbox().await.is_empty(), "nothing was decided");

    // The sender: ten notices queued while 安塞区 is down go out as one batch of ten once it is
    // back, are refused, and are delivered in batches the recipient takes.
    fed.stop(ANSAI).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut sent = Vec::new();
    for _ in 0..10 {
        sent.push(
            baota
                .send(&drafts::draft("case_notice", Some(ANSAI)))
                .await
                .notice_id,
        );
    }
    fed.restart(ANSAI).await;
    for id in &sent {
        baota.retry_if_pending(id).await;
    }
    let ansai = fed.operator(ANSAI).await;
    ansai
        .wait_for_inbox("all ten notices", |inbox| {
            sent.iter()
                .all(|id| inbox.iter().any(|n| &n.notice_id == id))
        })
        .await;
    for id in &sent {
        fed.operator(BAOTA)
            .await
            .wait_for_status(id, pb::NoticeStatus::Delivered)
            .await;
    }
    assert!(
        refusals(&fed, ANSAI, "batch_envelopes").await >= 1,
        "the restarted node refused the batch of ten at least once"
    );
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_above_the_size_limit_is_refused_as_out_of_range() {
    // The smallest request limit the default envelope limit allows: 262144 + 65536.
    let fed = Federation::builder(&THREE_COUNTIES)
        .edit_config(ANSAI, |c| with_limits(c, "max_request_bytes = 327680"))
        .start()
        .await;
    let mut raw = fed.peer(BAOTA, ANSAI).await;
    let mut big = envelope(&fed);
    // Two envelopes of 200 KB each: each within the envelope limit, together above the request's.
    big.payload = vec![0x20; 200 * 1024];
    let status = raw
        .deliver(pb::DeliverRequest {
            envelopes: vec![big.clone(), big],
            proofs: Vec::new(),
        })
        .await
        .expect_err("a request above the limit is refused");
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("327680"), "{status:?}");
    // The connection is still good for a request within the limit.
    let receipts = liaison_tests::peer::deliver(&mut raw, vec![envelope(&fed)]).await;
    assert_eq!(receipts[0].receipt.outcome, liaison_core::Outcome::Accepted);
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_empty_envelopes_gets_unsigned_answers_and_another_countys_notice_still_arrives()
{
    let fed = Federation::start(&THREE_COUNTIES).await;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut flooders = Vec::new();
    // 延长县 floods 安塞区 with full batches of empty envelopes over several connections.
    for _ in 0..4 {
        let mut raw = fed.peer(YANCHANG, ANSAI).await;
        let (stop, answered) = (stop.clone(), answered.clone());
        flooders.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let envelopes = vec![pb::Envelope::default(); 256];
                let receipts = raw
                    .deliver(pb::DeliverRequest {
                        envelopes,
                        proofs: Vec::new(),
                    })
                    .await
                    .unwrap_or_else(|s| panic!("the flood's call failed: {s:?}"))
                    .into_inner()
                    .receipts;
                assert_eq!(receipts.len(), 256, "one answer per envelope");
                for answer in &receipts {
                    assert!(
                        answer.signature.is_empty(),
                        "no signature for an empty envelope"
                    );
                    let rejection = liaison_core::receipt::read_unsigned_rejection(answer)
                        .expect("an unsigned rejection");
                    assert_eq!(rejection.code, liaison_core::RejectCode::Malformed);
                }
                answered.fetch_add(256, Ordering::SeqCst);
            }
        }));
    }
    liaison_tests::eventually("the flood to be under way", || {
        let answered = answered.clone();
        async move {
            let n = answered.load(Ordering::SeqCst);
            (n >= 1024).then_some(()).ok_or(format!("{n} answered"))
        }
    })
    .await;

    // Meanwhile 宝塔区's operator sends a notice to 安塞区, which arrives.
    let sent = fed
        .operator(BAOTA)
        .await
        .send(&drafts::draft("case_notice", Some(ANSAI)))
        .await;
    fed.operator(ANSAI)
        .await
        .wait_for_inbox("宝塔区's notice", |inbox| {
            inbox.iter().any(|n| n.notice_id == sent.notice_id)
        })
        .await;
    assert!(
        !stop.load(Ordering::SeqCst) && flooders.iter().all(|f| !f.is_finished()),
        "the flood was still going on when the notice arrived"
    );
    stop.store(true, Ordering::SeqCst);
    for flooder in flooders {
        within("a flooder to stop", flooder).await.unwrap();
    }
    assert!(
        refusals(&fed, ANSAI, "unsigned_rejection").await >= 1024,
        "the unsigned answers are counted"
    );
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_connection_that_never_starts_tls_is_closed_after_the_handshake_timeout() {
    let fed = Federation::builder(&THREE_COUNTIES)
        .edit_config(ANSAI, |c| with_limits(c, "handshake_timeout_secs = 1"))
        .start()
        .await;
    let mut idle = tokio::net::TcpStream::connect(fed.node(ANSAI).exchange_addr())
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    // Closed by the node: the read ends, at end of file or with a reset.
    let read = within("the node to close the idle connection", idle.read(&mut buf)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    liaison_tests::eventually("the timeout to be counted", || {
        let fed = &fed;
        async move {
            let n = refusals(fed, ANSAI, "handshake_timeout").await;
            (n >= 1).then_some(()).ok_or(format!("{n} counted"))
        }
    })
    .await;
    fed.shutdown().await;
}

/// A TLS handshake with 安塞区's exchange service as 宝塔区, offering `alpn`.
async fn handshake(
    fed: &Federation,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let home = fed.node(BAOTA).home();
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(fed.dir().join("ca.crt")).unwrap();
    for cert in CertificateDer::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let chain = CertificateDer::pem_file_iter(home.join("tls.crt"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(home.join("tls.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(fed.node(ANSAI).exchange_addr())
        .await
        .unwrap();
    let name = ServerName::try_from(pki::county_dns_name(code(ANSAI))).unwrap();
    within("the handshake", connector.connect(name, tcp)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_that_does_not_offer_alpn_h2_is_refused_at_the_handshake() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let with_h2 = handshake(&fed, &[b"h2"]).await.expect("h2 is served");
    assert_eq!(with_h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let without = handshake(&fed, &[]).await;
    assert!(without.is_err(), "no ALPN: refused");
    let http1 = handshake(&fed, &[b"http/1.1"]).await;
    assert!(http1.is_err(), "http/1.1 only: refused");
    assert!(refusals(&fed, ANSAI, "no_alpn_h2").await >= 2);
    fed.shutdown().await;
}
