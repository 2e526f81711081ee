//! A node refuses every envelope that fails a check, with the check's own code, in a receipt it
//! signs (unsigned only when the header cannot be read), and stores nothing of it. Most envelopes are made by hand and delivered over a raw mutual
//! TLS connection as 宝塔区 to 安塞区; one test has 安塞区 refuse a notice sent through 宝塔区's
//! admin interface, and checks what 宝塔区's operator sees.

use ed25519_dalek::VerifyingKey;
use liaison_core::{NodeKey, NoticeKind, Outcome, RejectCode, SignedNotice};
use liaison_node::pki;
use liaison_proto::v1 as pb;
use liaison_proto::v1::exchange_client::ExchangeClient;
use liaison_tests::federation::{agreement_allowing, kinds_except};
use liaison_tests::peer::{self, NoticeBuilder};
use liaison_tests::{ANSAI, BAOTA, Federation, THREE_COUNTIES, YANCHANG, code, drafts};
use prost::Message;
use tonic::transport::Channel;

/// A federation with a raw connection from 宝塔区 to 安塞区, the node under test.
struct Bench {
    fed: Federation,
    raw: ExchangeClient<Channel>,
    baota_key: NodeKey,
    ansai_key: VerifyingKey,
}

impl Bench {
    async fn start() -> Self {
        Self::with(Federation::start(&THREE_COUNTIES).await).await
    }

    async fn with(fed: Federation) -> Self {
        let raw = fed.peer(BAOTA, ANSAI).await;
        Self {
            baota_key: fed.signing_key(BAOTA),
            ansai_key: fed.public_key(ANSAI),
            raw,
            fed,
        }
    }

    /// A well-formed case notice from 宝塔区 to 安塞区, not yet signed.
    fn notice(&self) -> NoticeBuilder {
        NoticeBuilder::new("case_notice", code(BAOTA), code(ANSAI))
    }

    /// The ids in 安塞区's inbox.
    async fn inbox(&self) -> Vec<String> {
        let mut ansai = self.fed.operator(ANSAI).await;
        ansai
            .inbox()
            .await
            .into_iter()
            .map(|n| n.notice_id)
            .collect()
    }

    /// Delivers `envelope`, checks that 安塞区 refused it with `expected` in a receipt that verifies
    /// with its key, and that its inbox did not change; returns the reason given.
    async fn refused(&mut self, envelope: pb::Envelope, expected: RejectCode) -> String {
        let before = self.inbox().await;
        let receipt = peer::deliver_one(&mut self.raw, envelope.clone()).await;
        let reason =
            peer::assert_refused(&receipt, &envelope, code(ANSAI), &self.ansai_key, expected);
        assert_eq!(
            self.inbox().await,
            before,
            "nothing stored for a refused notice"
        );
        reason
    }

    /// Delivers `notice` and checks that 安塞区 accepted it and holds it.
    async fn accepted(&mut self, notice: &SignedNotice) {
        let receipt = peer::deliver_one(&mut self.raw, notice.to_envelope()).await;
        assert_eq!(receipt.receipt.outcome, Outcome::Accepted, "{receipt:?}");
        assert!(receipt.signature_valid(&self.ansai_key));
        assert!(self.inbox().await.contains(&notice.header.id.to_string()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_signature_byte_is_refused_as_bad_signature() {
    let mut bench = Bench::start().await;
    let notice = bench.notice().sign(&bench.baota_key);
    let mut envelope = notice.to_envelope();
    envelope.signature[17] ^= 0x01;
    let reason = bench.refused(envelope, RejectCode::BadSignature).await;
    assert!(reason.contains(BAOTA), "{reason}");
    // The same notice with its signature intact is fine.
    bench.accepted(&notice).await;
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_signed_with_a_key_not_listed_for_the_sender_is_refused_as_unknown_key() {
    let mut bench = Bench::start().await;
    let stranger = NodeKey::new(pki::generate_signing_key());
    let by_stranger = bench.notice().sign(&stranger);
    let reason = bench
        .refused(by_stranger.to_envelope(), RejectCode::UnknownKey)
        .await;
    assert!(reason.contains(&stranger.key_id().to_string()), "{reason}");
    // Another member's real key is not 宝塔区's key either.
    let yanchang_key = bench.fed.signing_key(YANCHANG);
    let by_yanchang = bench.notice().sign(&yanchang_key);
    bench
        .refused(by_yanchang.to_envelope(), RejectCode::UnknownKey)
        .await;
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_signed_with_another_key_under_the_senders_key_id_is_refused_as_bad_signature() {
    let mut bench = Bench::start().await;
    let notice = bench.notice().sign(&bench.baota_key);
    let forger = NodeKey::new(pki::generate_signing_key());
    let forged = peer::signed_under_key_id(&notice, bench.baota_key.key_id(), &forger);
    bench.refused(forged, RejectCode::BadSignature).await;
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_payload_is_refused_as_payload_digest_mismatch() {
    let mut bench = Bench::start().await;
    let notice = bench.notice().sign(&bench.baota_key);
    let mut envelope = notice.to_envelope();
    let last = envelope.payload.len() - 1;
    envelope.payload[last] ^= 0x01;
    bench
        .refused(envelope, RejectCode::PayloadDigestMismatch)
        .await;
    bench.accepted(&notice).await;
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_other_than_the_tls_identity_is_refused_as_sender_mismatch() {
    let mut bench = Bench::start().await;
    // Properly signed by 延长县, but delivered over 宝塔区's TLS connection.
    let yanchang_key = bench.fed.signing_key(YANCHANG);
    let notice = NoticeBuilder::new("case_notice", code(YANCHANG), code(ANSAI)).sign(&yanchang_key);
    let reason = bench
        .refused(notice.to_envelope(), RejectCode::SenderMismatch)
        .await;
    assert!(reason.contains(YANCHANG), "{reason}");
    // Over 延长县's own connection the same envelope is accepted.
    let mut as_yanchang = bench.fed.peer(YANCHANG, ANSAI).await;
    let receipt = peer::deliver_one(&mut as_yanchang, notice.to_envelope()).await;
    assert_eq!(receipt.receipt.outcome, Outcome::Accepted, "{receipt:?}");
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_for_another_county_is_refused_as_wrong_recipient() {
    let mut bench = Bench::start().await;
    let for_yanchang =
        NoticeBuilder::new("case_notice", code(BAOTA), code(YANCHANG)).sign(&bench.baota_key);
    let reason = bench
        .refused(for_yanchang.to_envelope(), RejectCode::WrongRecipient)
        .await;
    assert!(reason.contains(YANCHANG), "{reason}");
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_outside_the_agreement_is_refused_as_kind_not_agreed() {
    let fed = Federation::builder(&THREE_COUNTIES)
        .agreement_excludes(ANSAI, BAOTA, NoticeKind::Bulletin)
        .start()
        .await;
    let mut bench = Bench::with(fed).await;
    let bulletin = NoticeBuilder::new("bulletin", code(BAOTA), code(ANSAI)).sign(&bench.baota_key);
    let reason = bench
        .refused(bulletin.to_envelope(), RejectCode::KindNotAgreed)
        .await;
    assert!(reason.contains("bulletin"), "{reason}");
    // Kinds the agreement does allow still pass.
    let notice = bench.notice().sign(&bench.baota_key);
    bench.accepted(&notice).await;
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_issued_an_hour_ahead_is_refused_as_issued_in_future() {
    let mut bench = Bench::start().await;
    let ahead = peer::now_ms() + 60 * 60 * 1000;
    let notice = bench.notice().issued_at(ahead).sign(&bench.baota_key);
    bench
        .refused(notice.to_envelope(), RejectCode::IssuedInFuture)
        .await;
    // A clock a minute fast is within the allowed skew.
    let slightly_ahead = bench
        .notice()
        .issued_at(peer::now_ms() + 60 * 1000)
        .sign(&bench.baota_key);
    bench.accepted(&slightly_ahead).await;
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_issued_before_the_agreement_took_effect_in_china_time_is_refused_as_kind_not_agreed()
 {
    let mut bench = Bench::start().await;
    // The test federation's agreements take effect on 2026-01-01 (China Standard Time).
    let new_years_eve_cst = 1_767_196_800_000 - 60 * 60 * 1000; // 2025-12-31 23:00 +08:00
    let notice = bench
        .notice()
        .issued_at(new_years_eve_cst)
        .sign(&bench.baota_key);
    let reason = bench
        .refused(notice.to_envelope(), RejectCode::KindNotAgreed)
        .await;
    assert!(reason.contains("2026-01-01"), "{reason}");
    // Half an hour into 2026-01-01 in China (still 2025-12-31 in UTC) the agreement holds.
    let new_years_morning_cst = 1_767_196_800_000 + 30 * 60 * 1000;
    let notice = bench
        .notice()
        .issued_at(new_years_morning_cst)
        .sign(&bench.baota_key);
    bench.accepted(&notice).await;
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_header_is_refused_as_malformed_without_a_signature() {
    let mut bench = Bench::start().await;
    let notice = bench.notice().sign(&bench.baota_key);
    let header = b"\xff\xff\xff\xff not a NoticeHeader".to_vec();
    let signature = bench
        .baota_key
        .sign(liaison_core::notice::NOTICE_SIGNING_PREFIX, &header)
        .to_vec();
    let envelope = pb::Envelope {
        header,
        payload: notice.payload.clone(),
        signature,
        payload_salt: notice.payload_salt.to_vec(),
    };
    let before = bench.inbox().await;
    let answer = bench
        .raw
        .deliver(pb::DeliverRequest {
            envelopes: vec![envelope],
            proofs: Vec::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .receipts;
    assert_eq!(answer.len(), 1, "one answer per envelope");
    assert!(
        answer[0].signature.is_empty(),
        "no sender can be read, so nothing is signed"
    );
    let rejection =
        liaison_core::receipt::read_unsigned_rejection(&answer[0]).expect("an unsigned rejection");
    assert_eq!(rejection.code, RejectCode::Malformed, "{rejection}");
    assert!(rejection.reason.contains("header"), "{rejection}");
    let receipt = pb::Receipt::decode(answer[0].receipt.as_slice()).unwrap();
    assert_eq!(receipt.notice_id, "", "no id can be read");
    assert_eq!(receipt.sender, "", "no sender can be read");
    assert_eq!(receipt.recipient, ANSAI);
    assert_eq!(bench.inbox().await, before, "nothing stored");
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_notice_is_refused_as_too_large() {
    let mut bench = Bench::start().await;
    let letter = pb::NoticeBody {
        body: Some(pb::notice_body::Body::ContactLetter(pb::ContactLetter {
            subject: "请协助核实".into(),
            text: "核".repeat(100 * 1024), // 300 KiB of UTF-8
            person: None,
        })),
    };
    let payload = letter.encode_to_vec();
    assert!(payload.len() > 256 * 1024);
    let notice = bench
        .notice()
        .body(NoticeKind::ContactLetter, payload)
        .sign(&bench.baota_key);
    assert!(
        notice.payload_digest_valid(),
        "properly signed and digested"
    );
    let reason = bench
        .refused(notice.to_envelope(), RejectCode::TooLarge)
        .await;
    assert!(reason.contains("262144"), "names the limit: {reason}");
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_to_a_notice_never_sent_is_refused_as_unknown_reference() {
    let mut bench = Bench::start().await;
    let never_sent = peer::fresh_id(peer::now_ms() - 60_000);
    let reply = NoticeBuilder::new("reply_letter", code(BAOTA), code(ANSAI))
        .in_reply_to(never_sent)
        .sign(&bench.baota_key);
    bench
        .refused(reply.to_envelope(), RejectCode::UnknownReference)
        .await;
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_notice_reusing_an_accepted_id_is_refused_as_duplicate_id() {
    let mut bench = Bench::start().await;
    let first = bench.notice().sign(&bench.baota_key);
    bench.accepted(&first).await;
    let second = NoticeBuilder::new("contact_letter", code(BAOTA), code(ANSAI))
        .id(first.header.id)
        .sign(&bench.baota_key);
    bench
        .refused(second.to_envelope(), RejectCode::DuplicateId)
        .await;
    let mut ansai = bench.fed.operator(ANSAI).await;
    assert_eq!(
        ansai.info(&first.header.id.to_string()).await.kind(),
        pb::NoticeKind::CaseNotice,
        "the first notice stays as it was"
    );
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_refused_by_the_recipient_shows_as_rejected_with_code_and_reason_in_the_outbox() {
    // 宝塔区's own agreement allows bulletins to 安塞区; 安塞区's does not allow them from 宝塔区.
    let fed = Federation::builder(&THREE_COUNTIES)
        .agreement_excludes(ANSAI, BAOTA, NoticeKind::Bulletin)
        .start()
        .await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let sent = baota.send(&drafts::draft("bulletin", Some(ANSAI))).await;
    let rejected = baota
        .wait_for_status(&sent.notice_id, pb::NoticeStatus::Rejected)
        .await;
    assert_eq!(
        rejected.reject_code(),
        pb::RejectCode::KindNotAgreed,
        "{rejected:?}"
    );
    assert!(rejected.reject_reason.contains("bulletin"), "{rejected:?}");
    assert!(rejected.receipt_at_ms > 0, "{rejected:?}");
    assert!(
        baota.show(&sent.notice_id).await.receipt_valid,
        "the refusal is signed by 安塞区"
    );
    let listed = baota.outbox().await;
    let entry = listed
        .iter()
        .find(|n| n.notice_id == sent.notice_id)
        .expect("the notice stays in the outbox");
    assert_eq!(entry.status(), pb::NoticeStatus::Rejected);
    assert_eq!(entry.reject_code(), pb::RejectCode::KindNotAgreed);
    assert!(ansai.inbox().await.is_empty(), "nothing stored at 安塞区");
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_of_a_kind_that_cannot_answer_the_original_is_refused_as_reply_kind_mismatch() {
    let mut bench = Bench::start().await;
    let mut ansai = bench.fed.operator(ANSAI).await;
    let original = ansai.send(&drafts::draft("case_notice", Some(BAOTA))).await;
    ansai
        .wait_for_status(&original.notice_id, pb::NoticeStatus::Delivered)
        .await;
    let original_id = original.notice_id.parse().unwrap();
    // A fee reply answers a fee consultation, not a case notice.
    let fee_reply = NoticeBuilder::new("fee_reply", code(BAOTA), code(ANSAI))
        .in_reply_to(original_id)
        .sign(&bench.baota_key);
    bench
        .refused(fee_reply.to_envelope(), RejectCode::ReplyKindMismatch)
        .await;
    let reply_letter = NoticeBuilder::new("reply_letter", code(BAOTA), code(ANSAI))
        .in_reply_to(original_id)
        .sign(&bench.baota_key);
    bench.accepted(&reply_letter).await;
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_to_a_notice_sent_to_another_county_is_refused_as_unknown_reference() {
    let mut bench = Bench::start().await;
    let mut ansai = bench.fed.operator(ANSAI).await;
    let to_yanchang = ansai
        .send(&drafts::draft("case_notice", Some(YANCHANG)))
        .await;
    ansai
        .wait_for_status(&to_yanchang.notice_id, pb::NoticeStatus::Delivered)
        .await;
    let reply = NoticeBuilder::new("reply_letter", code(BAOTA), code(ANSAI))
        .in_reply_to(to_yanchang.notice_id.parse().unwrap())
        .sign(&bench.baota_key);
    let reason = bench
        .refused(reply.to_envelope(), RejectCode::UnknownReference)
        .await;
    assert!(reason.contains(YANCHANG), "{reason}");
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_of_another_protocol_version_is_refused_as_unsupported_version_without_a_signature()
{
    let mut bench = Bench::start().await;
    let notice = bench.notice().sign(&bench.baota_key);
    let envelope = peer::resigned(&notice, &bench.baota_key, |header| header.version = 2);
    let before = bench.inbox().await;
    let answer = bench
        .raw
        .deliver(pb::DeliverRequest {
            envelopes: vec![envelope],
            proofs: Vec::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .receipts;
    // A header of another version cannot be read, so it names no sender to sign for.
    let rejection =
        liaison_core::receipt::read_unsigned_rejection(&answer[0]).expect("an unsigned rejection");
    assert_eq!(
        rejection.code,
        RejectCode::UnsupportedVersion,
        "{rejection}"
    );
    assert_eq!(bench.inbox().await, before, "nothing stored");
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_that_fails_validation_is_refused_as_invalid_content() {
    let mut bench = Bench::start().await;
    // The header says case notice; the payload is a bulletin.
    let (_, bulletin) = drafts::payload("bulletin");
    let mismatched = bench
        .notice()
        .body(NoticeKind::CaseNotice, bulletin)
        .sign(&bench.baota_key);
    let reason = bench
        .refused(mismatched.to_envelope(), RejectCode::InvalidContent)
        .await;
    assert!(reason.contains("header.kind"), "{reason}");

    // A case notice whose identity number fails its check character.
    let (kind, payload) = drafts::payload("case_notice");
    let mut body = pb::NoticeBody::decode(payload.as_slice()).unwrap();
    let Some(pb::notice_body::Body::CaseNotice(case)) = &mut body.body else {
        panic!("the example is a case notice")
    };
    case.person.as_mut().unwrap().id_number = "610603199302141229".into();
    let bad_number = bench
        .notice()
        .body(kind, body.encode_to_vec())
        .sign(&bench.baota_key);
    let reason = bench
        .refused(bad_number.to_envelope(), RejectCode::InvalidContent)
        .await;
    assert!(reason.contains("body.person.id_number"), "{reason}");
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn county_missing_from_the_directory_is_refused_as_unknown_sender() {
    // 延长县 holds a certificate from the federation's CA, but 安塞区 does not list it.
    let fed = Federation::builder(&THREE_COUNTIES)
        .without_peer(ANSAI, YANCHANG)
        .start()
        .await;
    let bench = Bench::with(fed).await;
    let yanchang_key = bench.fed.signing_key(YANCHANG);
    let notice = NoticeBuilder::new("case_notice", code(YANCHANG), code(ANSAI)).sign(&yanchang_key);
    let envelope = notice.to_envelope();
    let mut as_yanchang = bench.fed.peer(YANCHANG, ANSAI).await;
    let receipt = peer::deliver_one(&mut as_yanchang, envelope.clone()).await;
    peer::assert_refused(
        &receipt,
        &envelope,
        code(ANSAI),
        &bench.ansai_key,
        RejectCode::UnknownSender,
    );
    assert!(bench.inbox().await.is_empty(), "nothing stored");
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_replayed_by_another_county_is_refused_as_sender_mismatch() {
    let mut bench = Bench::start().await;
    let notice = bench.notice().sign(&bench.baota_key);
    bench.accepted(&notice).await;
    let before = bench.inbox().await;
    // 延长县 replays 宝塔区's accepted envelope over its own connection.
    let mut as_yanchang = bench.fed.peer(YANCHANG, ANSAI).await;
    let envelope = notice.to_envelope();
    let receipt = peer::deliver_one(&mut as_yanchang, envelope.clone()).await;
    peer::assert_refused(
        &receipt,
        &envelope,
        code(ANSAI),
        &bench.ansai_key,
        RejectCode::SenderMismatch,
    );
    assert_eq!(bench.inbox().await, before, "inbox unchanged");
    bench.fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_after_the_agreement_changed_still_gets_the_original_receipt() {
    let mut bench = Bench::start().await;
    let bulletin = NoticeBuilder::new("bulletin", code(BAOTA), code(ANSAI)).sign(&bench.baota_key);
    let first = peer::deliver_one(&mut bench.raw, bulletin.to_envelope()).await;
    assert_eq!(first.receipt.outcome, Outcome::Accepted);

    // 安塞区 stops accepting bulletins from 宝塔区 ...
    bench.fed.stop(ANSAI).await;
    bench.fed.edit_config(ANSAI, |config| {
        agreement_allowing(config, BAOTA, &kinds_except(NoticeKind::Bulletin))
    });
    bench.fed.restart(ANSAI).await;
    let mut raw = bench.fed.peer(BAOTA, ANSAI).await;
    let fresh = NoticeBuilder::new("bulletin", code(BAOTA), code(ANSAI)).sign(&bench.baota_key);
    let refused = peer::deliver_one(&mut raw, fresh.to_envelope()).await;
    assert!(
        matches!(&refused.receipt.outcome, Outcome::Rejected(r) if r.code == RejectCode::KindNotAgreed),
        "{refused:?}"
    );
    // ... but what it accepted before keeps its receipt.
    let again = peer::deliver_one(&mut raw, bulletin.to_envelope()).await;
    assert_eq!(again.to_bytes(), first.to_bytes());
    assert_eq!(bench.inbox().await, [bulletin.header.id.to_string()]);
    bench.fed.shutdown().await;
}

/// 安塞区's `node.toml` with 宝塔区's key retired at `retired_at_ms` (its `valid_until`).
fn retire_baota_key(config: String, retired_at_ms: i64) -> String {
    let at = rfc3339(retired_at_ms);
    let marker = format!("county = \"{BAOTA}\"");
    let start = config.find(&marker).expect("宝塔区 is a peer of 安塞区");
    let keys = start + config[start..].find("keys = [{ public_key = \"").unwrap();
    let end = keys + config[keys..].find("\" }]").unwrap();
    let mut edited = config.clone();
    edited.replace_range(end..end + 4, &format!("\", valid_until = \"{at}\" }}]"));
    edited
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_key_brings_in_no_back_dated_notice_but_a_queued_one_within_the_grace() {
    const DAY_MS: i64 = 86_400_000;
    let now = peer::now_ms();
    // Retired eight days ago: the seven days of grace are over.
    let long_ago = now - 8 * DAY_MS;
    let fed = Federation::builder(&THREE_COUNTIES)
        .edit_config(ANSAI, move |c| retire_baota_key(c, long_ago))
        .start()
        .await;
    let mut bench = Bench::with(fed).await;
    let back_dated = bench
        .notice()
        .issued_at(long_ago - 60_000)
        .sign(&bench.baota_key);
    let reason = bench
        .refused(back_dated.to_envelope(), RejectCode::UnknownKey)
        .await;
    assert!(reason.contains("was retired at"), "{reason}");

    // Retired yesterday: a notice signed before that, held up by an outage, still comes in.
    let mut fed = bench.fed;
    fed.stop(ANSAI).await;
    let yesterday = now - DAY_MS;
    fed.edit_config(ANSAI, |c| {
        let c = c.replace(&format!(", valid_until = \"{}\"", rfc3339(long_ago)), "");
        retire_baota_key(c, yesterday)
    });
    fed.restart(ANSAI).await;
    let mut bench = Bench::with(fed).await;
    let queued = bench
        .notice()
        .issued_at(yesterday - 60_000)
        .sign(&bench.baota_key);
    bench.accepted(&queued).await;
    bench.fed.shutdown().await;
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}
