//! The exchange service's limits keep honest peers served: a batch above the recipient's envelope
//! limit is refused with `RESOURCE_EXHAUSTED` and the sender splits it until everything arrives; a
//! request above the size limit is refused with `OUT_OF_RANGE`; a flood from one county, of
//! unreadable envelopes (unsigned answers) or of badly signed ones, does not keep another county's
//! notice out; a TCP connection that never starts TLS, and a TLS connection that stays silent, are
//! closed; a client certificate gets only so many connections and calls; and a TLS client that does not
//! offer ALPN `h2` is refused at the handshake.

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
async fn a_batch_above_the_request_size_limit_is_refused_and_the_sender_halves_it_until_all_arrive()
{
    // Envelopes up to 32 KiB, requests up to the least that allows: 32768 + 65536 bytes.
    let mut fed = Federation::builder(&THREE_COUNTIES)
        .edit_config(ANSAI, |c| {
            with_limits(c, "max_envelope_bytes = 32768\nmax_request_bytes = 98304")
        })
        .start()
        .await;
    // Six letters of about 24 KB each: together above the request limit, each well within.
    fed.stop(ANSAI).await;
    let mut baota = fed.operator(BAOTA).await;
    let letter = drafts::with_member(
        &drafts::draft("contact_letter", Some(ANSAI)),
        "/body/text",
        "核".repeat(8000).into(),
    );
    let mut sent = Vec::new();
    for _ in 0..6 {
        sent.push(baota.send(&letter).await.notice_id);
    }
    fed.restart(ANSAI).await;
    for id in &sent {
        baota.retry_if_pending(id).await;
    }
    for id in &sent {
        baota.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    let inbox = fed.operator(ANSAI).await.inbox().await;
    assert!(
        sent.iter()
            .all(|id| inbox.iter().any(|n| &n.notice_id == id)),
        "all six arrived"
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

/// Floods 安塞区 from 延长县 with full batches of `envelope` over four connections, checking each
/// answer with `check`, and has 宝塔区's operator send a notice to 安塞区 meanwhile: it must arrive
/// while the flood goes on.
async fn honest_notice_arrives_during_a_flood(
    fed: &Federation,
    envelope: pb::Envelope,
    check: fn(&pb::SignedReceipt),
) {
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut flooders = Vec::new();
    for _ in 0..4 {
        let mut raw = fed.peer(YANCHANG, ANSAI).await;
        let (stop, answered, envelope) = (stop.clone(), answered.clone(), envelope.clone());
        flooders.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let receipts = raw
                    .deliver(pb::DeliverRequest {
                        envelopes: vec![envelope.clone(); 256],
                        proofs: Vec::new(),
                    })
                    .await
                    .unwrap_or_else(|s| panic!("the flood's call failed: {s:?}"))
                    .into_inner()
                    .receipts;
                assert_eq!(receipts.len(), 256, "one answer per envelope");
                receipts.iter().for_each(check);
                answered.fetch_add(256, Ordering::SeqCst);
            }
        }));
    }
    liaison_tests::eventually("the flood to be under way", || {
        let answered = answered.clone();
        async move {
            let n = answered.load(Ordering::SeqCst);
            (n >= 512).then_some(()).ok_or(format!("{n} answered"))
        }
    })
    .await;

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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_empty_envelopes_gets_unsigned_answers_and_another_countys_notice_still_arrives()
{
    let fed = Federation::start(&THREE_COUNTIES).await;
    honest_notice_arrives_during_a_flood(&fed, pb::Envelope::default(), |answer| {
        assert!(
            answer.signature.is_empty(),
            "no signature for an empty envelope"
        );
        let rejection =
            liaison_core::receipt::read_unsigned_rejection(answer).expect("an unsigned rejection");
        assert_eq!(rejection.code, liaison_core::RejectCode::Malformed);
    })
    .await;
    assert!(
        refusals(&fed, ANSAI, "unsigned_rejection").await >= 512,
        "the unsigned answers are counted"
    );
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_badly_signed_notices_is_refused_and_another_countys_notice_still_arrives() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    // Readable, so each costs a verification and a signed BAD_SIGNATURE.
    let mut envelope =
        liaison_tests::peer::NoticeBuilder::new("case_notice", code(YANCHANG), code(ANSAI))
            .sign(&fed.signing_key(YANCHANG))
            .to_envelope();
    envelope.signature[5] ^= 0x01;
    honest_notice_arrives_during_a_flood(&fed, envelope, |answer| {
        assert_eq!(answer.signature.len(), 64, "signed: the sender is named");
        let receipt = liaison_core::SignedReceipt::open(answer.clone()).unwrap();
        let liaison_core::Outcome::Rejected(rejection) = receipt.receipt.outcome else {
            panic!("accepted a badly signed notice")
        };
        assert_eq!(rejection.code, liaison_core::RejectCode::BadSignature);
    })
    .await;
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
    handshake_as(fed, BAOTA, alpn).await
}

/// A TLS handshake with 安塞区's exchange service as `county`, offering `alpn`.
async fn handshake_as(
    fed: &Federation,
    county: &str,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let home = fed.node(county).home();
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

/// Reads from `stream` until the node closes it, which must happen within the test deadline.
async fn closed_by_the_node(
    what: &str,
    stream: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) {
    within(what, async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_silent_after_its_handshake_is_closed_and_the_sender_reconnects() {
    let fed = Federation::builder(&THREE_COUNTIES)
        .edit_config(ANSAI, |c| with_limits(c, "idle_timeout_secs = 1"))
        .start()
        .await;
    let mut silent = handshake(&fed, &[b"h2"]).await.expect("h2 is served");
    closed_by_the_node("the node to close the silent connection", &mut silent).await;
    assert!(refusals(&fed, ANSAI, "idle").await >= 1);

    // 宝塔区's own connection goes idle between two notices; the second still arrives.
    let mut baota = fed.operator(BAOTA).await;
    let first = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    baota
        .wait_for_status(&first.notice_id, pb::NoticeStatus::Delivered)
        .await;
    let before = refusals(&fed, ANSAI, "idle").await;
    liaison_tests::eventually("宝塔区's connection to be closed as idle", || {
        let fed = &fed;
        async move {
            let n = refusals(fed, ANSAI, "idle").await;
            (n > before).then_some(()).ok_or(format!("{n} closed"))
        }
    })
    .await;
    let second = baota.send(&drafts::draft("case_notice", Some(ANSAI))).await;
    baota
        .wait_for_status(&second.notice_id, pb::NoticeStatus::Delivered)
        .await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_above_its_connection_limit_is_closed_while_others_connect() {
    let fed = Federation::builder(&THREE_COUNTIES)
        .edit_config(ANSAI, |c| with_limits(c, "max_connections_per_peer = 1"))
        .start()
        .await;
    let mut first = handshake(&fed, &[b"h2"])
        .await
        .expect("the first is served");
    let mut buf = [0u8; 64];
    // The server's HTTP/2 SETTINGS come on a served connection.
    let n = within("the first connection's SETTINGS", first.read(&mut buf))
        .await
        .unwrap();
    assert!(n > 0, "the first connection is served");
    // With TLS 1.3 the client finishes its handshake before the node has seen its certificate;
    // the node closes the connection right after.
    if let Ok(mut second) = handshake(&fed, &[b"h2"]).await {
        closed_by_the_node("the node to close the second connection", &mut second).await;
    }
    assert!(refusals(&fed, ANSAI, "connections_per_peer").await >= 1);
    let mut other = handshake_as(&fed, YANCHANG, &[b"h2"])
        .await
        .expect("another county has its own connections");
    let n = within("the other county's SETTINGS", other.read(&mut buf))
        .await
        .unwrap();
    assert!(n > 0, "another county is served");
    drop(first);
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_those_a_client_may_have_waiting_are_refused_as_unavailable() {
    let fed = Federation::builder(&THREE_COUNTIES)
        .edit_config(ANSAI, |c| with_limits(c, "max_streams_per_connection = 32"))
        .start()
        .await;
    let raw = fed.peer(YANCHANG, ANSAI).await;
    let mut envelope =
        liaison_tests::peer::NoticeBuilder::new("case_notice", code(YANCHANG), code(ANSAI))
            .sign(&fed.signing_key(YANCHANG))
            .to_envelope();
    envelope.signature[5] ^= 0x01;
    // Sixteen calls at once on one connection: two are processed, four wait, the rest are
    // refused, and each call is either answered in full or refused whole.
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let (mut raw, envelope) = (raw.clone(), envelope.clone());
            tokio::spawn(async move {
                raw.deliver(pb::DeliverRequest {
                    envelopes: vec![envelope; 256],
                    proofs: Vec::new(),
                })
                .await
            })
        })
        .collect();
    let mut refused = 0;
    for call in calls {
        match within("a call to end", call).await.unwrap() {
            Ok(answer) => assert_eq!(answer.into_inner().receipts.len(), 256),
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                assert!(status.message().contains("waiting"), "{status:?}");
                refused += 1;
            }
        }
    }
    assert!(refused >= 1, "some calls were refused");
    assert!(
        refused <= 10,
        "at least the six that fit were served: {refused} refused"
    );
    assert_eq!(refusals(&fed, ANSAI, "calls_waiting").await, refused);
    fed.shutdown().await;
}
