//! `trust::admit` gives every broken envelope the code of the first rule it breaks, and only that code;
//! replies and receipts are checked the same way.

use std::collections::BTreeSet;

use ed25519_dalek::SigningKey;
use liaison_core::clock::cst_date;
use liaison_core::notice::{self, NOTICE_SIGNING_PREFIX, Outgoing};
use liaison_core::trust::{
    self, Admitted, Agreement, Directory, Limits, Original, Peer, PeerKey, Recipient,
};
use liaison_core::{
    CountyCode, NodeKey, NoticeBody, NoticeId, NoticeKind, Outcome, Receipt, RejectCode, Rejection,
    SignedNotice, SignedReceipt,
};
use liaison_proto::v1 as pb;
use prost::Message;
use sha2::{Digest, Sha256};
use time::macros::{date, datetime};

/// This node: 安塞区.
const ME: &str = "610603";
/// The peer that sends: 宝塔区.
const SENDER: &str = "610602";
/// A county that is neither this node nor the sender: 延长县.
const OTHER: &str = "610621";
/// A county missing from the directory: 志丹县.
const STRANGER: &str = "610625";

/// The receiving node's clock, fixed: 2026-05-29 04:26:40 in China (UTC+8).
const NOW_MS: i64 = 1_780_000_000_000;
/// When the test notices were signed: a minute before they arrive.
const ISSUED_MS: i64 = NOW_MS - 60_000;

fn county(code: &str) -> CountyCode {
    CountyCode::parse(code).unwrap()
}

fn node_key(seed: u8) -> NodeKey {
    NodeKey::new(SigningKey::from_bytes(&[seed; 32]))
}

/// The sender's key, as the directory knows it.
fn sender_key() -> NodeKey {
    node_key(1)
}

/// A key the directory does not know.
fn foreign_key() -> NodeKey {
    node_key(2)
}

/// The key this node signs receipts with.
fn my_key() -> NodeKey {
    node_key(9)
}

fn forever(key: &NodeKey) -> PeerKey {
    PeerKey {
        key: key.verifying_key(),
        valid_from_ms: 0,
        valid_until_ms: None,
    }
}

fn agreement(kinds: impl IntoIterator<Item = NoticeKind>, effective: time::Date) -> Agreement {
    Agreement {
        allowed_kinds: kinds.into_iter().collect::<BTreeSet<_>>(),
        responsible_person: "王建国".into(),
        contact_person: "李娜".into(),
        phone: "0911-2111111".into(),
        postcode: "716000".into(),
        effective,
    }
}

/// The receiving node's view of the world; each test changes what it needs.
struct Scene {
    /// The sender's directory entry.
    peer: Peer,
    limits: Limits,
    /// The county that the TLS client certificate proves.
    tls_proves: CountyCode,
    now_ms: i64,
}

impl Scene {
    fn new() -> Self {
        Self {
            peer: Peer {
                county: county(SENDER),
                name: "宝塔区".into(),
                endpoint: "https://127.0.0.1:7443".into(),
                keys: vec![forever(&sender_key())],
                agreement: Some(agreement(NoticeKind::ALL, date!(2024 - 01 - 01))),
            },
            limits: Limits::default(),
            tls_proves: county(SENDER),
            now_ms: NOW_MS,
        }
    }

    fn admit(&self, envelope: pb::Envelope) -> Result<Admitted, Rejection> {
        let directory = Directory::new([self.peer.clone()]);
        let recipient = Recipient {
            me: county(ME),
            directory: &directory,
            limits: self.limits,
        };
        let proves = self.tls_proves;
        trust::admit(recipient, envelope, |c| c == proves, self.now_ms)
    }
}

/// What `admit` decided, after [`check`] asserted it.
struct Verdict(Result<Admitted, Rejection>);

impl Verdict {
    fn admitted(self) -> Admitted {
        self.0.unwrap()
    }

    fn reason(self) -> String {
        self.0.unwrap_err().reason
    }
}

/// Admits `envelope` in `scene` and asserts the verdict: admission, or exactly the code `expected`.
#[track_caller]
fn check(scene: &Scene, envelope: pb::Envelope, expected: Result<(), RejectCode>) -> Verdict {
    let verdict = scene.admit(envelope);
    match (&verdict, expected) {
        (Ok(_), Ok(())) => {}
        (Err(got), Err(code)) => assert_eq!(got.code, code, "reason: {}", got.reason),
        (Ok(_), Err(code)) => panic!("admitted, but {code} was expected"),
        (Err(got), Ok(())) => panic!("rejected ({got}), but admission was expected"),
    }
    Verdict(verdict)
}

/// The body of the example draft shipped for `kind` in deploy/examples/notices.
fn example(kind: NoticeKind) -> NoticeBody {
    let text = match kind {
        NoticeKind::CaseNotice => {
            include_str!("../../../deploy/examples/notices/case_notice.json")
        }
        NoticeKind::CertificateQuery => {
            include_str!("../../../deploy/examples/notices/certificate_query.json")
        }
        NoticeKind::CertificateAnswer => {
            include_str!("../../../deploy/examples/notices/certificate_answer.json")
        }
        NoticeKind::FeeConsultation => {
            include_str!("../../../deploy/examples/notices/fee_consultation.json")
        }
        NoticeKind::FeeReply => include_str!("../../../deploy/examples/notices/fee_reply.json"),
        NoticeKind::ApprovalRequest => {
            include_str!("../../../deploy/examples/notices/approval_request.json")
        }
        NoticeKind::ApprovalResult => {
            include_str!("../../../deploy/examples/notices/approval_result.json")
        }
        NoticeKind::ContraceptionReport => {
            include_str!("../../../deploy/examples/notices/contraception_report.json")
        }
        NoticeKind::Bulletin => include_str!("../../../deploy/examples/notices/bulletin.json"),
        NoticeKind::ContactLetter => {
            include_str!("../../../deploy/examples/notices/contact_letter.json")
        }
        NoticeKind::ReplyLetter => {
            include_str!("../../../deploy/examples/notices/reply_letter.json")
        }
        NoticeKind::Reminder => include_str!("../../../deploy/examples/notices/reminder.json"),
    };
    let draft: serde_json::Value = serde_json::from_str(text).unwrap();
    let body: NoticeBody = serde_json::from_value(draft["body"].clone()).unwrap();
    body.validate().unwrap();
    assert_eq!(body.kind(), kind);
    body
}

/// The notice a reply answers.
fn original_id() -> NoticeId {
    NoticeId::new((ISSUED_MS - 86_400_000) as u64, [3; 10])
}

/// What the sender decides for a notice of `kind` to this node; a reply kind names [`original_id`].
fn outgoing(kind: NoticeKind) -> Outgoing {
    Outgoing {
        id: NoticeId::new(ISSUED_MS as u64, [7; 10]),
        sender: county(SENDER),
        recipient: county(ME),
        kind,
        urgent: false,
        issued_at_ms: ISSUED_MS,
        in_reply_to: kind.requires_reference().then(original_id),
    }
}

/// The example body of `kind`, signed by the sender's key, edited first by `edit`.
fn notice_with(kind: NoticeKind, edit: impl FnOnce(&mut Outgoing)) -> SignedNotice {
    let mut out = outgoing(kind);
    edit(&mut out);
    SignedNotice::sign(&sender_key(), out, example(kind).encode())
}

/// A valid case notice from the sender to this node.
fn case_notice() -> SignedNotice {
    notice_with(NoticeKind::CaseNotice, |_| {})
}

/// The wire header of [`case_notice`], edited by `edit`.
fn edited_header(edit: impl FnOnce(&mut pb::NoticeHeader)) -> pb::NoticeHeader {
    let mut header = pb::NoticeHeader::decode(case_notice().header_bytes.as_slice()).unwrap();
    edit(&mut header);
    header
}

/// A case notice whose header was edited on the wire by `edit`, then signed again with the sender's
/// key over `NOTICE_SIGNING_PREFIX || header`, so that only the edited field is wrong.
fn hand_made(edit: impl FnOnce(&mut pb::NoticeHeader)) -> pb::Envelope {
    signed_by(&sender_key(), &edited_header(edit), case_notice())
}

/// An envelope of `header` with the payload and salt of `notice`, signed by `key` whatever the
/// header's key id says.
fn signed_by(key: &NodeKey, header: &pb::NoticeHeader, notice: SignedNotice) -> pb::Envelope {
    let header = header.encode_to_vec();
    let signature = key.sign(NOTICE_SIGNING_PREFIX, &header).to_vec();
    pb::Envelope {
        header,
        payload: notice.payload,
        signature,
        payload_salt: notice.payload_salt.to_vec(),
    }
}

fn flip_signature(mut envelope: pb::Envelope) -> pb::Envelope {
    envelope.signature[10] ^= 0x01;
    envelope
}

fn tamper_payload(mut envelope: pb::Envelope) -> pb::Envelope {
    let last = envelope.payload.len() - 1;
    envelope.payload[last] ^= 0x01;
    envelope
}

/// Unix ms of a date-time.
fn ms(at: time::OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

// ---- Admitted ---------------------------------------------------------------------------------------

#[test]
fn valid_envelope_is_admitted_with_the_body_that_was_signed() {
    let signed = case_notice();
    let admitted = check(&Scene::new(), signed.to_envelope(), Ok(())).admitted();
    assert_eq!(admitted.body, example(NoticeKind::CaseNotice));
    assert_eq!(admitted.notice, signed);
}

#[test]
fn example_of_every_kind_is_admitted() {
    for kind in NoticeKind::ALL {
        let signed = notice_with(kind, |_| {});
        let admitted = check(&Scene::new(), signed.to_envelope(), Ok(())).admitted();
        assert_eq!(admitted.body, example(kind), "{kind}");
        assert_eq!(
            admitted.notice.header.in_reply_to.is_some(),
            kind.requires_reference()
        );
    }
}

#[test]
fn approval_result_is_admitted_with_or_without_a_reference() {
    for reference in [None, Some(original_id())] {
        let signed = notice_with(NoticeKind::ApprovalResult, |o| o.in_reply_to = reference);
        check(&Scene::new(), signed.to_envelope(), Ok(()));
    }
}

// ---- TOO_LARGE --------------------------------------------------------------------------------------

#[test]
fn envelope_one_byte_over_the_limit_is_too_large() {
    let envelope = case_notice().to_envelope();
    let mut scene = Scene::new();
    scene.limits.max_envelope_bytes = envelope.encoded_len() - 1;
    check(&scene, envelope, Err(RejectCode::TooLarge));
}

#[test]
fn envelope_exactly_at_the_limit_is_admitted() {
    let envelope = case_notice().to_envelope();
    let mut scene = Scene::new();
    scene.limits.max_envelope_bytes = envelope.encoded_len();
    check(&scene, envelope, Ok(()));
}

// ---- MALFORMED and UNSUPPORTED_VERSION --------------------------------------------------------------

#[test]
fn garbage_header_bytes_are_malformed() {
    let mut envelope = case_notice().to_envelope();
    envelope.header = vec![0xff, 0xff, 0xff];
    check(&Scene::new(), envelope, Err(RejectCode::Malformed));
}

#[test]
fn signature_of_63_bytes_is_malformed() {
    let mut envelope = case_notice().to_envelope();
    envelope.signature.pop();
    let reason = check(&Scene::new(), envelope, Err(RejectCode::Malformed)).reason();
    assert!(reason.contains("63"), "{}", reason);
}

#[test]
fn payload_that_is_not_a_notice_body_is_malformed() {
    let signed = SignedNotice::sign(
        &sender_key(),
        outgoing(NoticeKind::CaseNotice),
        vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0xff],
    );
    let reason = check(
        &Scene::new(),
        signed.to_envelope(),
        Err(RejectCode::Malformed),
    )
    .reason();
    assert!(reason.starts_with("payload:"), "{reason}");
}

#[test]
fn header_of_version_2_is_unsupported() {
    let envelope = hand_made(|h| h.version = 2);
    check(&Scene::new(), envelope, Err(RejectCode::UnsupportedVersion));
}

#[test]
fn empty_header_is_malformed() {
    let mut envelope = case_notice().to_envelope();
    envelope.header.clear();
    check(&Scene::new(), envelope, Err(RejectCode::Malformed));
}

// ---- INVALID_CONTENT in the header -------------------------------------------------------------------

/// Asserts that `header`, signed by the sender, is refused as invalid content naming `field`.
#[track_caller]
fn check_invalid_header(header: &pb::NoticeHeader, field: &str) -> String {
    let envelope = signed_by(&sender_key(), header, case_notice());
    let reason = check(&Scene::new(), envelope, Err(RejectCode::InvalidContent)).reason();
    assert!(reason.starts_with(&format!("header.{field}:")), "{reason}");
    reason
}

#[test]
fn notice_id_that_is_a_uuid_v4_is_invalid_content() {
    check_invalid_header(
        &edited_header(|h| {
            h.notice_id = "6ba7b810-9dad-41d1-80b4-00c04fd430c8".into();
        }),
        "notice_id",
    );
}

#[test]
fn notice_id_in_uppercase_is_invalid_content() {
    check_invalid_header(
        &edited_header(|h| h.notice_id = h.notice_id.to_uppercase()),
        "notice_id",
    );
}

#[test]
fn sender_that_is_not_a_county_code_is_invalid_content() {
    check_invalid_header(&edited_header(|h| h.sender = "610600".into()), "sender");
}

#[test]
fn recipient_that_is_not_a_county_code_is_invalid_content() {
    check_invalid_header(
        &edited_header(|h| h.recipient = "61060".into()),
        "recipient",
    );
}

#[test]
fn unspecified_kind_is_invalid_content() {
    check_invalid_header(
        &edited_header(|h| h.kind = pb::NoticeKind::Unspecified as i32),
        "kind",
    );
}

#[test]
fn unknown_kind_number_is_invalid_content() {
    check_invalid_header(&edited_header(|h| h.kind = 99), "kind");
}

#[test]
fn in_reply_to_that_is_not_a_notice_id_is_invalid_content() {
    check_invalid_header(
        &edited_header(|h| h.in_reply_to = "not-an-id".into()),
        "in_reply_to",
    );
}

#[test]
fn key_id_that_is_not_hex_is_invalid_content() {
    check_invalid_header(
        &edited_header(|h| h.key_id = "zzzzzzzzzzzzzzzz".into()),
        "key_id",
    );
}

#[test]
fn key_id_in_uppercase_hex_is_invalid_content() {
    check_invalid_header(
        &edited_header(|h| h.key_id = h.key_id.to_uppercase()),
        "key_id",
    );
}

#[test]
fn payload_digest_of_31_bytes_is_invalid_content() {
    check_invalid_header(
        &edited_header(|h| {
            h.payload_commitment.pop();
        }),
        "payload_commitment",
    );
}

#[test]
fn sender_equal_to_recipient_is_invalid_content() {
    check_invalid_header(&edited_header(|h| h.sender = ME.into()), "recipient");
}

#[test]
fn header_fields_are_checked_in_the_documented_order() {
    // Every field broken at once; repairing them one by one, in order, reveals the next one.
    let good = edited_header(|_| {});
    let mut header = good.clone();
    header.notice_id = "not-an-id".into();
    header.sender = "61060".into();
    header.recipient = "61060".into();
    header.kind = 0;
    header.in_reply_to = "not-an-id".into();
    header.key_id = "zz".into();
    header.payload_commitment.pop();
    type Repair = fn(&mut pb::NoticeHeader, &pb::NoticeHeader);
    let repairs: [(&str, Repair); 7] = [
        ("notice_id", |h, g| h.notice_id = g.notice_id.clone()),
        ("sender", |h, _| h.sender = ME.into()),
        ("recipient", |h, _| h.recipient = ME.into()),
        ("kind", |h, g| h.kind = g.kind),
        ("in_reply_to", |h, _| h.in_reply_to.clear()),
        ("key_id", |h, g| h.key_id = g.key_id.clone()),
        ("payload_commitment", |h, g| {
            h.payload_commitment = g.payload_commitment.clone()
        }),
    ];
    for (field, repair) in repairs {
        check_invalid_header(&header, field);
        repair(&mut header, &good);
    }
    // Now only sender == recipient is left.
    let reason = check_invalid_header(&header, "recipient");
    assert!(reason.contains("itself"), "{reason}");
    header.sender = good.sender.clone();
    let envelope = signed_by(&sender_key(), &header, case_notice());
    check(&Scene::new(), envelope, Ok(()));
}

// ---- Who sends, to whom, with which key ---------------------------------------------------------------

#[test]
fn sender_that_the_tls_certificate_does_not_prove_is_a_sender_mismatch() {
    let mut scene = Scene::new();
    scene.tls_proves = county(OTHER);
    check(
        &scene,
        case_notice().to_envelope(),
        Err(RejectCode::SenderMismatch),
    );
}

#[test]
fn notice_for_another_county_is_a_wrong_recipient() {
    let signed = notice_with(NoticeKind::CaseNotice, |o| o.recipient = county(OTHER));
    check(
        &Scene::new(),
        signed.to_envelope(),
        Err(RejectCode::WrongRecipient),
    );
}

#[test]
fn sender_missing_from_the_directory_is_unknown() {
    let signed = notice_with(NoticeKind::CaseNotice, |o| o.sender = county(STRANGER));
    let mut scene = Scene::new();
    scene.tls_proves = county(STRANGER);
    check(&scene, signed.to_envelope(), Err(RejectCode::UnknownSender));
}

#[test]
fn key_missing_from_the_directory_is_unknown() {
    let signed = SignedNotice::sign(
        &foreign_key(),
        outgoing(NoticeKind::CaseNotice),
        example(NoticeKind::CaseNotice).encode(),
    );
    check(
        &Scene::new(),
        signed.to_envelope(),
        Err(RejectCode::UnknownKey),
    );
}

/// A scene where the sender's only key is valid from `from` until `until`.
fn key_valid(from: i64, until: Option<i64>) -> Scene {
    let mut scene = Scene::new();
    scene.peer.keys = vec![PeerKey {
        key: sender_key().verifying_key(),
        valid_from_ms: from,
        valid_until_ms: until,
    }];
    scene
}

#[test]
fn key_used_before_its_valid_from_is_unknown() {
    let scene = key_valid(ISSUED_MS + 1, None);
    check(
        &scene,
        case_notice().to_envelope(),
        Err(RejectCode::UnknownKey),
    );
}

#[test]
fn key_used_at_its_valid_from_is_admitted() {
    let scene = key_valid(ISSUED_MS, None);
    check(&scene, case_notice().to_envelope(), Ok(()));
}

#[test]
fn key_used_at_its_valid_until_is_unknown() {
    let scene = key_valid(0, Some(ISSUED_MS));
    check(
        &scene,
        case_notice().to_envelope(),
        Err(RejectCode::UnknownKey),
    );
}

#[test]
fn key_used_after_its_valid_until_is_unknown() {
    let scene = key_valid(0, Some(ISSUED_MS - 1));
    check(
        &scene,
        case_notice().to_envelope(),
        Err(RejectCode::UnknownKey),
    );
}

#[test]
fn key_used_just_before_its_valid_until_is_admitted() {
    let scene = key_valid(0, Some(ISSUED_MS + 1));
    check(&scene, case_notice().to_envelope(), Ok(()));
}

#[test]
fn rotated_key_is_admitted_and_retired_key_is_unknown() {
    let rotated = node_key(3);
    let rotation_ms = ISSUED_MS - 1_000;
    let mut scene = Scene::new();
    scene.peer.keys = vec![
        PeerKey {
            key: sender_key().verifying_key(),
            valid_from_ms: 0,
            valid_until_ms: Some(rotation_ms),
        },
        PeerKey {
            key: rotated.verifying_key(),
            valid_from_ms: rotation_ms,
            valid_until_ms: None,
        },
    ];
    let body = example(NoticeKind::CaseNotice);
    let by_rotated = SignedNotice::sign(&rotated, outgoing(NoticeKind::CaseNotice), body.encode());
    let admitted = check(&scene, by_rotated.to_envelope(), Ok(())).admitted();
    assert_eq!(admitted.notice.header.key_id, rotated.key_id());
    assert_eq!(admitted.body, body);
    check(
        &scene,
        case_notice().to_envelope(),
        Err(RejectCode::UnknownKey),
    );
    let before_rotation = notice_with(NoticeKind::CaseNotice, |o| {
        o.issued_at_ms = rotation_ms - 1;
    });
    check(&scene, before_rotation.to_envelope(), Ok(()));
}

#[test]
fn retired_key_brings_in_no_new_notice_whatever_issued_at_it_claims() {
    // Retired ten days ago, a seven-day grace over: a notice back-dated to before the retirement
    // (issued-at inside the key's window) is refused.
    let retired_at = NOW_MS - 10 * 86_400_000;
    let mut scene = key_valid(0, Some(retired_at));
    scene.limits.retired_key_grace_ms = 7 * 86_400_000;
    let back_dated = notice_with(NoticeKind::CaseNotice, |o| {
        o.issued_at_ms = retired_at - 60_000;
    });
    let reason = check(
        &scene,
        back_dated.to_envelope(),
        Err(RejectCode::UnknownKey),
    )
    .reason();
    assert!(reason.contains("was retired at"), "{reason}");
    assert!(reason.contains("retired_key_grace_secs"), "{reason}");
}

#[test]
fn notice_signed_before_the_retirement_is_admitted_within_the_grace() {
    // Queued during an outage: signed before the retirement, delivered six days after it.
    let retired_at = NOW_MS - 6 * 86_400_000;
    let mut scene = key_valid(0, Some(retired_at));
    scene.limits.retired_key_grace_ms = 7 * 86_400_000;
    let queued = notice_with(NoticeKind::CaseNotice, |o| {
        o.issued_at_ms = retired_at - 60_000;
    });
    check(&scene, queued.to_envelope(), Ok(()));
    // The grace ends exactly at retirement + grace.
    scene.now_ms = retired_at + 7 * 86_400_000;
    check(&scene, queued.to_envelope(), Err(RejectCode::UnknownKey));
    scene.now_ms -= 1;
    check(&scene, queued.to_envelope(), Ok(()));
}

// ---- Signature and payload digest ---------------------------------------------------------------------

#[test]
fn flipped_signature_byte_is_a_bad_signature() {
    let envelope = flip_signature(case_notice().to_envelope());
    check(&Scene::new(), envelope, Err(RejectCode::BadSignature));
}

#[test]
fn signature_by_another_key_under_the_senders_key_id_is_a_bad_signature() {
    let good = case_notice();
    let header = pb::NoticeHeader::decode(good.header_bytes.as_slice()).unwrap();
    assert_eq!(header.key_id, sender_key().key_id().to_string());
    let envelope = signed_by(&foreign_key(), &header, good);
    check(&Scene::new(), envelope, Err(RejectCode::BadSignature));
}

#[test]
fn signature_over_the_header_without_the_prefix_is_a_bad_signature() {
    let good = case_notice();
    let mut envelope = good.to_envelope();
    envelope.signature = sender_key().sign(b"", &good.header_bytes).to_vec();
    check(&Scene::new(), envelope, Err(RejectCode::BadSignature));
}

#[test]
fn payload_changed_after_signing_is_a_digest_mismatch() {
    let envelope = tamper_payload(case_notice().to_envelope());
    check(
        &Scene::new(),
        envelope,
        Err(RejectCode::PayloadDigestMismatch),
    );
}

#[test]
fn payload_swapped_for_another_valid_body_is_a_digest_mismatch() {
    let mut envelope = case_notice().to_envelope();
    envelope.payload = example(NoticeKind::Bulletin).encode();
    check(
        &Scene::new(),
        envelope,
        Err(RejectCode::PayloadDigestMismatch),
    );
}

#[test]
fn salt_changed_after_signing_is_a_digest_mismatch() {
    for byte in [0, 31] {
        let mut envelope = case_notice().to_envelope();
        envelope.payload_salt[byte] ^= 0x01;
        check(
            &Scene::new(),
            envelope,
            Err(RejectCode::PayloadDigestMismatch),
        );
    }
}

#[test]
fn payload_and_salt_of_another_notice_are_a_digest_mismatch() {
    // Both are well formed and open a commitment, but not the one this header carries.
    let other = notice_with(NoticeKind::CaseNotice, |o| o.id = NoticeId::new(1, [9; 10]));
    assert_eq!(other.payload, case_notice().payload);
    let mut envelope = case_notice().to_envelope();
    envelope.payload_salt = other.payload_salt.to_vec();
    check(
        &Scene::new(),
        envelope,
        Err(RejectCode::PayloadDigestMismatch),
    );
}

#[test]
fn salt_that_is_not_32_bytes_is_malformed() {
    for length in [0, 31, 33] {
        let mut envelope = case_notice().to_envelope();
        envelope.payload_salt.resize(length, 0);
        let reason = check(&Scene::new(), envelope, Err(RejectCode::Malformed)).reason();
        assert!(reason.contains("payload_salt"), "{reason}");
    }
}

// ---- ISSUED_IN_FUTURE -------------------------------------------------------------------------------

#[test]
fn issued_one_ms_beyond_the_clock_skew_is_in_the_future() {
    let mut scene = Scene::new();
    scene.now_ms = ISSUED_MS - scene.limits.max_clock_skew_ms - 1;
    check(
        &scene,
        case_notice().to_envelope(),
        Err(RejectCode::IssuedInFuture),
    );
}

#[test]
fn issued_exactly_at_now_plus_skew_is_admitted() {
    let mut scene = Scene::new();
    scene.now_ms = ISSUED_MS - scene.limits.max_clock_skew_ms;
    check(&scene, case_notice().to_envelope(), Ok(()));
}

// ---- KIND_NOT_AGREED --------------------------------------------------------------------------------

#[test]
fn notice_from_a_peer_without_agreement_is_not_agreed() {
    let mut scene = Scene::new();
    scene.peer.agreement = None;
    check(
        &scene,
        case_notice().to_envelope(),
        Err(RejectCode::KindNotAgreed),
    );
}

#[test]
fn kind_left_out_of_the_agreement_is_not_agreed() {
    let mut scene = Scene::new();
    let others = NoticeKind::ALL
        .into_iter()
        .filter(|&k| k != NoticeKind::CaseNotice);
    scene.peer.agreement = Some(agreement(others, date!(2024 - 01 - 01)));
    check(
        &scene,
        case_notice().to_envelope(),
        Err(RejectCode::KindNotAgreed),
    );
    check(
        &scene,
        notice_with(NoticeKind::Bulletin, |_| {}).to_envelope(),
        Ok(()),
    );
}

#[test]
fn agreement_effective_the_day_after_issue_in_china_is_not_agreed() {
    let issued_day = cst_date(ISSUED_MS).unwrap();
    let mut scene = Scene::new();
    scene.peer.agreement = Some(agreement(NoticeKind::ALL, issued_day.next_day().unwrap()));
    check(
        &scene,
        case_notice().to_envelope(),
        Err(RejectCode::KindNotAgreed),
    );
    scene.peer.agreement = Some(agreement(NoticeKind::ALL, issued_day));
    check(&scene, case_notice().to_envelope(), Ok(()));
}

/// A scene where the agreement takes effect on `effective` and the notice arrives a minute after
/// `issued_ms`, with the notice.
fn agreement_from(effective: time::Date, issued_ms: i64) -> (Scene, pb::Envelope) {
    let mut scene = Scene::new();
    scene.peer.agreement = Some(agreement(NoticeKind::ALL, effective));
    scene.now_ms = issued_ms + 60_000;
    let signed = notice_with(NoticeKind::CaseNotice, |o| {
        o.id = NoticeId::new(issued_ms as u64, [7; 10]);
        o.issued_at_ms = issued_ms;
    });
    (scene, signed.to_envelope())
}

#[test]
fn half_past_midnight_in_china_falls_on_the_chinese_date_not_the_utc_one() {
    // 2026-01-01 00:30 CST is still 2025-12-31 in UTC.
    let issued = ms(datetime!(2026-01-01 00:30 +8));
    assert_eq!(issued, ms(datetime!(2025-12-31 16:30 UTC)));
    let (scene, envelope) = agreement_from(date!(2026 - 01 - 01), issued);
    check(&scene, envelope, Ok(()));
    let (scene, envelope) = agreement_from(date!(2026 - 01 - 02), issued);
    check(&scene, envelope, Err(RejectCode::KindNotAgreed));
}

#[test]
fn last_millisecond_before_midnight_in_china_is_before_an_agreement_of_the_next_day() {
    let issued = ms(datetime!(2026-01-01 00:00 +8)) - 1;
    let (scene, envelope) = agreement_from(date!(2026 - 01 - 01), issued);
    check(&scene, envelope, Err(RejectCode::KindNotAgreed));
}

// ---- INVALID_CONTENT in the body and references ------------------------------------------------------

#[test]
fn body_of_another_kind_than_the_header_is_invalid_content() {
    let signed = SignedNotice::sign(
        &sender_key(),
        outgoing(NoticeKind::Bulletin),
        example(NoticeKind::CaseNotice).encode(),
    );
    let reason = check(
        &Scene::new(),
        signed.to_envelope(),
        Err(RejectCode::InvalidContent),
    )
    .reason();
    assert!(reason.starts_with("header.kind"), "{}", reason);
}

#[test]
fn payload_without_a_body_member_is_invalid_content() {
    let signed = SignedNotice::sign(&sender_key(), outgoing(NoticeKind::CaseNotice), Vec::new());
    let reason = check(
        &Scene::new(),
        signed.to_envelope(),
        Err(RejectCode::InvalidContent),
    )
    .reason();
    assert!(reason.starts_with("body.kind"), "{}", reason);
}

#[test]
fn reply_kind_without_in_reply_to_is_invalid_content() {
    for kind in [
        NoticeKind::CertificateAnswer,
        NoticeKind::FeeReply,
        NoticeKind::ReplyLetter,
    ] {
        let signed = notice_with(kind, |o| o.in_reply_to = None);
        let reason = check(
            &Scene::new(),
            signed.to_envelope(),
            Err(RejectCode::InvalidContent),
        )
        .reason();
        assert!(
            reason.starts_with("header.in_reply_to"),
            "{kind}: {}",
            reason
        );
    }
}

#[test]
fn non_reply_kind_with_in_reply_to_is_invalid_content() {
    for kind in [
        NoticeKind::CaseNotice,
        NoticeKind::Bulletin,
        NoticeKind::Reminder,
    ] {
        let signed = notice_with(kind, |o| o.in_reply_to = Some(original_id()));
        let reason = check(
            &Scene::new(),
            signed.to_envelope(),
            Err(RejectCode::InvalidContent),
        )
        .reason();
        assert!(
            reason.starts_with("header.in_reply_to"),
            "{kind}: {}",
            reason
        );
    }
}

// ---- Order: the first failing check decides the code -------------------------------------------------

#[test]
fn too_large_is_decided_before_the_header_is_read() {
    let mut envelope = case_notice().to_envelope();
    envelope.header = vec![0xff; 64];
    let mut scene = Scene::new();
    scene.limits.max_envelope_bytes = envelope.encoded_len() - 1;
    check(&scene, envelope, Err(RejectCode::TooLarge));
}

#[test]
fn short_signature_outranks_an_unsupported_version() {
    let mut envelope = hand_made(|h| h.version = 2);
    envelope.signature.pop();
    check(&Scene::new(), envelope, Err(RejectCode::Malformed));
}

#[test]
fn unsupported_version_outranks_invalid_header_fields() {
    let envelope = hand_made(|h| {
        h.version = 2;
        h.notice_id = "not-an-id".into();
    });
    check(&Scene::new(), envelope, Err(RejectCode::UnsupportedVersion));
}

#[test]
fn invalid_header_field_outranks_a_sender_mismatch() {
    let mut scene = Scene::new();
    scene.tls_proves = county(OTHER);
    let envelope = hand_made(|h| h.key_id = "zz".into());
    check(&scene, envelope, Err(RejectCode::InvalidContent));
}

#[test]
fn sender_mismatch_outranks_a_wrong_recipient() {
    let mut scene = Scene::new();
    scene.tls_proves = county(OTHER);
    let signed = notice_with(NoticeKind::CaseNotice, |o| o.recipient = county(OTHER));
    check(
        &scene,
        signed.to_envelope(),
        Err(RejectCode::SenderMismatch),
    );
}

#[test]
fn wrong_recipient_outranks_a_bad_signature() {
    let signed = notice_with(NoticeKind::CaseNotice, |o| o.recipient = county(OTHER));
    let envelope = flip_signature(signed.to_envelope());
    check(&Scene::new(), envelope, Err(RejectCode::WrongRecipient));
}

#[test]
fn wrong_recipient_outranks_an_unknown_sender() {
    let signed = notice_with(NoticeKind::CaseNotice, |o| {
        o.sender = county(STRANGER);
        o.recipient = county(OTHER);
    });
    let mut scene = Scene::new();
    scene.tls_proves = county(STRANGER);
    check(
        &scene,
        signed.to_envelope(),
        Err(RejectCode::WrongRecipient),
    );
}

#[test]
fn unknown_key_outranks_a_bad_signature_and_digest() {
    let signed = SignedNotice::sign(
        &foreign_key(),
        outgoing(NoticeKind::CaseNotice),
        example(NoticeKind::CaseNotice).encode(),
    );
    let envelope = tamper_payload(flip_signature(signed.to_envelope()));
    check(&Scene::new(), envelope, Err(RejectCode::UnknownKey));
}

#[test]
fn bad_signature_outranks_a_digest_mismatch() {
    let envelope = tamper_payload(flip_signature(case_notice().to_envelope()));
    check(&Scene::new(), envelope, Err(RejectCode::BadSignature));
}

#[test]
fn digest_mismatch_outranks_issued_in_future() {
    let mut scene = Scene::new();
    scene.now_ms = ISSUED_MS - scene.limits.max_clock_skew_ms - 1;
    let envelope = tamper_payload(case_notice().to_envelope());
    check(&scene, envelope, Err(RejectCode::PayloadDigestMismatch));
}

#[test]
fn issued_in_future_outranks_kind_not_agreed() {
    let mut scene = Scene::new();
    scene.now_ms = ISSUED_MS - scene.limits.max_clock_skew_ms - 1;
    scene.peer.agreement = None;
    check(
        &scene,
        case_notice().to_envelope(),
        Err(RejectCode::IssuedInFuture),
    );
}

#[test]
fn kind_not_agreed_outranks_a_body_of_the_wrong_kind() {
    let mut scene = Scene::new();
    scene.peer.agreement = None;
    let signed = SignedNotice::sign(
        &sender_key(),
        outgoing(NoticeKind::Bulletin),
        example(NoticeKind::CaseNotice).encode(),
    );
    check(&scene, signed.to_envelope(), Err(RejectCode::KindNotAgreed));
}

#[test]
fn malformed_payload_outranks_a_missing_reference() {
    let mut out = outgoing(NoticeKind::ReplyLetter);
    out.in_reply_to = None;
    let signed = SignedNotice::sign(&sender_key(), out, vec![0xff]);
    check(
        &Scene::new(),
        signed.to_envelope(),
        Err(RejectCode::Malformed),
    );
}

#[test]
fn body_kind_mismatch_is_reported_before_the_reference_shape() {
    let mut out = outgoing(NoticeKind::ReplyLetter);
    out.in_reply_to = None;
    let signed = SignedNotice::sign(&sender_key(), out, example(NoticeKind::Bulletin).encode());
    let reason = check(
        &Scene::new(),
        signed.to_envelope(),
        Err(RejectCode::InvalidContent),
    )
    .reason();
    assert!(reason.starts_with("header.kind"), "{}", reason);
}

// ---- check_reply and check_reference_shape -----------------------------------------------------------

/// Checks `reply_kind` from `SENDER` against `original` and asserts the verdict.
#[track_caller]
fn check_reply(
    reply_kind: NoticeKind,
    original: Option<(NoticeKind, &str)>,
    expected: Result<(), RejectCode>,
) {
    let original = original.map(|(kind, to)| Original {
        kind,
        recipient: county(to),
        received_at_ms: None,
    });
    let verdict = trust::check_reply(reply_kind, county(SENDER), 0, original).map_err(|r| r.code);
    assert_eq!(verdict, expected, "{reply_kind} answering {original:?}");
}

#[test]
fn reply_to_no_notice_this_node_sent_is_an_unknown_reference() {
    check_reply(
        NoticeKind::ReplyLetter,
        None,
        Err(RejectCode::UnknownReference),
    );
}

#[test]
fn reply_to_a_notice_sent_to_another_county_is_an_unknown_reference() {
    check_reply(
        NoticeKind::ReplyLetter,
        Some((NoticeKind::CaseNotice, OTHER)),
        Err(RejectCode::UnknownReference),
    );
}

#[test]
fn reply_of_the_wrong_kind_is_a_reply_kind_mismatch() {
    check_reply(
        NoticeKind::FeeReply,
        Some((NoticeKind::CaseNotice, SENDER)),
        Err(RejectCode::ReplyKindMismatch),
    );
    check_reply(
        NoticeKind::ReplyLetter,
        Some((NoticeKind::FeeConsultation, SENDER)),
        Err(RejectCode::ReplyKindMismatch),
    );
}

#[test]
fn reply_to_another_county_outranks_a_kind_mismatch() {
    check_reply(
        NoticeKind::FeeReply,
        Some((NoticeKind::CaseNotice, OTHER)),
        Err(RejectCode::UnknownReference),
    );
}

#[test]
fn every_reply_kind_may_answer_what_it_answers_when_sent_to_the_replier() {
    let pairs = [
        (NoticeKind::CertificateAnswer, NoticeKind::CertificateQuery),
        (NoticeKind::FeeReply, NoticeKind::FeeConsultation),
        (NoticeKind::ApprovalResult, NoticeKind::ApprovalRequest),
        (NoticeKind::ReplyLetter, NoticeKind::CaseNotice),
        (NoticeKind::ReplyLetter, NoticeKind::ContactLetter),
    ];
    for (reply, original) in pairs {
        check_reply(reply, Some((original, SENDER)), Ok(()));
    }
}

#[test]
fn a_reply_issued_before_the_replier_received_the_original_is_refused() {
    let original = |received_at_ms| {
        Some(Original {
            kind: NoticeKind::ContactLetter,
            recipient: county(SENDER),
            received_at_ms,
        })
    };
    let received = 1_780_000_000_000;
    let verdict = |issued_at_ms, received_at_ms| {
        trust::check_reply(
            NoticeKind::ReplyLetter,
            county(SENDER),
            issued_at_ms,
            original(received_at_ms),
        )
        .map_err(|r| r.code)
    };
    assert_eq!(verdict(received, Some(received)), Ok(()));
    assert_eq!(verdict(received + 1, Some(received)), Ok(()));
    assert_eq!(
        verdict(received - 1, Some(received)),
        Err(RejectCode::ReplyBeforeReceipt)
    );
    // Without the replier's receipt there is nothing to compare with.
    assert_eq!(verdict(received - 1, None), Ok(()));
}

/// Checks the reference shape of `kind` and asserts the verdict.
#[track_caller]
fn check_shape(kind: NoticeKind, has_reference: bool, expected: Result<(), RejectCode>) {
    let verdict = trust::check_reference_shape(kind, has_reference).map_err(|r| r.code);
    assert_eq!(verdict, expected, "{kind}, reference: {has_reference}");
}

#[test]
fn approval_result_may_name_a_request_or_stand_alone() {
    check_shape(NoticeKind::ApprovalResult, true, Ok(()));
    check_shape(NoticeKind::ApprovalResult, false, Ok(()));
}

#[test]
fn replies_need_a_reference_and_other_kinds_refuse_one() {
    for kind in [
        NoticeKind::CertificateAnswer,
        NoticeKind::FeeReply,
        NoticeKind::ReplyLetter,
    ] {
        check_shape(kind, true, Ok(()));
        check_shape(kind, false, Err(RejectCode::InvalidContent));
    }
    for kind in NoticeKind::ALL
        .into_iter()
        .filter(|k| k.answers().is_empty())
    {
        check_shape(kind, false, Ok(()));
        check_shape(kind, true, Err(RejectCode::InvalidContent));
    }
}

// ---- Receipts ----------------------------------------------------------------------------------------

fn receipt(notice: Option<&SignedNotice>, digest: [u8; 32], outcome: Outcome) -> Receipt {
    Receipt {
        notice_id: notice.map(|n| n.header.id),
        envelope_sha256: digest,
        recipient: county(ME),
        sender: notice.map(|n| n.header.sender),
        received_at_ms: NOW_MS,
        outcome,
        reply_due_at_ms: None,
        // Replaced by the signing key's id.
        key_id: foreign_key().key_id(),
        checkpoint: None,
        existed_by_ms: None,
    }
}

/// Signs `receipt` with this node's key and asserts that it survives `to_bytes`/`from_bytes` and
/// `to_wire`/`open` unchanged, verifies with this node's key and with no other.
#[track_caller]
fn check_receipt(receipt: Receipt) -> SignedReceipt {
    let signed = SignedReceipt::sign(&my_key(), receipt.clone());
    assert_eq!(signed.receipt.key_id, my_key().key_id());
    assert_eq!(
        Receipt {
            key_id: receipt.key_id,
            checkpoint: None,
            ..signed.receipt.clone()
        },
        receipt
    );
    let from_bytes = SignedReceipt::from_bytes(&signed.to_bytes()).unwrap();
    assert_eq!(from_bytes, signed);
    assert_eq!(SignedReceipt::open(signed.to_wire()).unwrap(), signed);
    assert!(from_bytes.signature_valid(&my_key().verifying_key()));
    assert!(!from_bytes.signature_valid(&sender_key().verifying_key()));
    signed
}

#[test]
fn receipt_of_an_admitted_notice_round_trips_and_verifies() {
    let admitted = Scene::new().admit(case_notice().to_envelope()).unwrap();
    let mut accepted = receipt(
        Some(&admitted.notice),
        admitted.notice.envelope_sha256(),
        Outcome::Accepted,
    );
    accepted.reply_due_at_ms = Some(NOW_MS + 10 * 86_400_000);
    let signed = check_receipt(accepted);
    assert_eq!(signed.receipt.outcome, Outcome::Accepted);
    assert_eq!(signed.receipt.notice_id, Some(admitted.notice.header.id));
    assert_eq!(signed.receipt.sender, Some(county(SENDER)));
}

#[test]
fn receipt_of_a_rejected_notice_keeps_its_code_and_reason() {
    let signed_notice = case_notice();
    let envelope = flip_signature(signed_notice.to_envelope());
    let rejection = Scene::new().admit(envelope.clone()).unwrap_err();
    let opened = SignedNotice::open(envelope).unwrap();
    let signed = check_receipt(receipt(
        Some(&opened),
        opened.envelope_sha256(),
        Outcome::Rejected(rejection.clone()),
    ));
    assert_eq!(signed.receipt.outcome, Outcome::Rejected(rejection));
    assert_eq!(signed.receipt.reply_due_at_ms, None);
}

#[test]
fn receipt_of_an_unreadable_envelope_names_no_notice_or_sender() {
    let mut envelope = case_notice().to_envelope();
    envelope.header = vec![0xff, 0xff, 0xff];
    let rejection = Scene::new().admit(envelope.clone()).unwrap_err();
    assert_eq!(rejection.code, RejectCode::Malformed);
    let digest = notice::envelope_sha256(&envelope.header, &envelope.signature);
    let signed = check_receipt(receipt(None, digest, Outcome::Rejected(rejection)));
    assert_eq!(signed.receipt.notice_id, None);
    assert_eq!(signed.receipt.sender, None);
    assert_eq!(signed.receipt.envelope_sha256, digest);
}

#[test]
fn receipt_for_every_reject_code_round_trips() {
    let codes = [
        RejectCode::Malformed,
        RejectCode::UnsupportedVersion,
        RejectCode::TooLarge,
        RejectCode::SenderMismatch,
        RejectCode::UnknownSender,
        RejectCode::UnknownKey,
        RejectCode::BadSignature,
        RejectCode::PayloadDigestMismatch,
        RejectCode::WrongRecipient,
        RejectCode::KindNotAgreed,
        RejectCode::IssuedInFuture,
        RejectCode::InvalidContent,
        RejectCode::UnknownReference,
        RejectCode::ReplyKindMismatch,
        RejectCode::DuplicateId,
    ];
    let notice = case_notice();
    for code in codes {
        let outcome = Outcome::Rejected(Rejection::new(code, format!("because {code}")));
        check_receipt(receipt(Some(&notice), notice.envelope_sha256(), outcome));
    }
}

#[test]
fn receipt_with_altered_bytes_does_not_verify() {
    let notice = case_notice();
    let signed = SignedReceipt::sign(
        &my_key(),
        receipt(Some(&notice), notice.envelope_sha256(), Outcome::Accepted),
    );
    let mut wire = pb::Receipt::decode(signed.receipt_bytes.as_slice()).unwrap();
    wire.accepted = false;
    wire.reject_code = pb::RejectCode::BadSignature as i32;
    let forged = SignedReceipt {
        receipt_bytes: wire.encode_to_vec(),
        ..signed
    };
    let reopened = SignedReceipt::from_bytes(&forged.to_bytes()).unwrap();
    assert!(matches!(reopened.receipt.outcome, Outcome::Rejected(_)));
    assert!(!reopened.signature_valid(&my_key().verifying_key()));
}

#[test]
fn receipt_with_a_63_byte_signature_or_garbage_bytes_is_refused() {
    let notice = case_notice();
    let signed = SignedReceipt::sign(
        &my_key(),
        receipt(Some(&notice), notice.envelope_sha256(), Outcome::Accepted),
    );
    let mut wire = signed.to_wire();
    wire.signature.pop();
    assert_eq!(SignedReceipt::open(wire).unwrap_err().field, "signature");
    assert!(SignedReceipt::from_bytes(&[0xff, 0xff, 0xff]).is_err());
}

#[test]
fn envelope_digest_is_sha256_of_prefix_length_header_and_signature() {
    let notice = case_notice();
    let mut expected = Sha256::new();
    expected.update(b"liaison/v1/envelope\0");
    expected.update((notice.header_bytes.len() as u32).to_be_bytes());
    expected.update(&notice.header_bytes);
    expected.update(notice.signature);
    let expected: [u8; 32] = expected.finalize().into();
    assert_eq!(notice.envelope_sha256(), expected);
    assert_eq!(
        notice::envelope_sha256(&notice.header_bytes, &notice.signature),
        expected
    );
}

#[test]
fn receipt_digest_matches_the_envelope_and_survives_redaction_of_the_payload() {
    let notice = case_notice();
    let envelope = notice.to_envelope();
    let admitted = Scene::new().admit(envelope.clone()).unwrap();
    let signed = check_receipt(receipt(
        Some(&admitted.notice),
        admitted.notice.envelope_sha256(),
        Outcome::Accepted,
    ));
    assert_eq!(signed.receipt.envelope_sha256, notice.envelope_sha256());

    let redacted = SignedNotice::open(pb::Envelope {
        payload: Vec::new(),
        ..envelope
    })
    .unwrap();
    assert!(redacted.payload.is_empty());
    assert_eq!(redacted.envelope_sha256(), signed.receipt.envelope_sha256);
    let stored = SignedNotice::from_envelope_bytes(&redacted.envelope_bytes()).unwrap();
    assert_eq!(stored.envelope_sha256(), signed.receipt.envelope_sha256);
}

#[test]
fn envelope_digest_changes_with_the_header_or_signature() {
    let notice = case_notice();
    let urgent = notice_with(NoticeKind::CaseNotice, |o| o.urgent = true);
    assert_ne!(urgent.envelope_sha256(), notice.envelope_sha256());
    let mut other_signature = notice.clone();
    other_signature.signature[0] ^= 0x01;
    assert_ne!(other_signature.envelope_sha256(), notice.envelope_sha256());
}

#[test]
fn worked_example_of_the_protocol_is_reproduced_byte_for_byte() {
    // docs/protocol.md, "Worked example": a contact letter 610602 → 610603 signed with seed 0x01,
    // admitted and answered with a receipt signed with seed 0x02. Every value is checked both
    // against the code and against the page, so neither can drift from the other.
    let page: String = include_str!("../../../docs/protocol.md")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let documented = |name: &str, bytes: &[u8], expected: &str| {
        assert_eq!(hex::encode(bytes), expected, "{name}");
        assert!(
            page.contains(expected),
            "docs/protocol.md does not show the {name} {expected}"
        );
    };
    let body: NoticeBody = serde_json::from_value(serde_json::json!(
        {"kind": "contact_letter", "subject": "test", "text": "hello"}
    ))
    .unwrap();
    let payload = body.encode();
    documented("payload", &payload, "520d0a0474657374120568656c6c6f");
    let out = Outgoing {
        id: NoticeId::new(1_780_000_000_000, [7; 10]),
        sender: county(SENDER),
        recipient: county(ME),
        kind: NoticeKind::ContactLetter,
        urgent: false,
        issued_at_ms: 1_780_000_000_000,
        in_reply_to: None,
    };
    let signed = SignedNotice::sign(&node_key(1), out, payload.clone());
    assert_eq!(
        signed.header.id.to_string(),
        "019e7044-8800-7707-8707-070707070707"
    );
    assert_eq!(signed.header.key_id.to_string(), "34750f98bd59fcfc");
    documented(
        "payload salt",
        &signed.payload_salt,
        "af1e5bc6e0372d1d69f55d40a97e00690fdf65c068b77cdde27dbe5411e9150e",
    );
    let commitment_input = [
        notice::PAYLOAD_COMMITMENT_PREFIX,
        &signed.payload_salt[..],
        &payload,
    ]
    .concat();
    documented(
        "commitment input",
        &commitment_input,
        "6c696169736f6e2f76312f7061796c6f616400af1e5bc6e0372d1d69f55d40a97e00690fdf65c068b77cdde27dbe\
         5411e9150e520d0a0474657374120568656c6c6f",
    );
    documented(
        "payload commitment",
        &Sha256::digest(&commitment_input),
        "353f25fe27a568b445c58c61e3bb8ae2529836a91654354f3d01e5cbe1b91fb2",
    );
    assert_eq!(
        signed.header.payload_commitment,
        <[u8; 32]>::from(Sha256::digest(&commitment_input))
    );
    documented(
        "header",
        &signed.header_bytes,
        "0801122430313965373034342d383830302d373730372d383730372d3037303730373037303730371a0636313036\
         30322206363130363033280a3880909282e7334a10333437353066393862643539666366635220353f25fe27a568\
         b445c58c61e3bb8ae2529836a91654354f3d01e5cbe1b91fb2",
    );
    documented(
        "signing input",
        &[NOTICE_SIGNING_PREFIX, &signed.header_bytes].concat(),
        "6c696169736f6e2f76312f6e6f74696365000801122430313965373034342d383830302d373730372d383730372d\
         3037303730373037303730371a063631303630322206363130363033280a3880909282e7334a1033343735306639\
         3862643539666366635220353f25fe27a568b445c58c61e3bb8ae2529836a91654354f3d01e5cbe1b91fb2",
    );
    documented(
        "signature",
        &signed.signature,
        "e75a4186302e3005555aa72645fa512c6a5880a50285dc388b4159740fb62ffdf9e952d992bf9c68310ddb492a0e\
         3af7b4a783899fd6e39547b9203dfa2a4305",
    );
    documented(
        "envelope digest input",
        &[
            notice::ENVELOPE_DIGEST_PREFIX,
            &(signed.header_bytes.len() as u32).to_be_bytes(),
            &signed.header_bytes,
            &signed.signature,
        ]
        .concat(),
        "6c696169736f6e2f76312f656e76656c6f706500000000750801122430313965373034342d383830302d37373037\
         2d383730372d3037303730373037303730371a063631303630322206363130363033280a3880909282e7334a1033\
         3437353066393862643539666366635220353f25fe27a568b445c58c61e3bb8ae2529836a91654354f3d01e5cbe1\
         b91fb2e75a4186302e3005555aa72645fa512c6a5880a50285dc388b4159740fb62ffdf9e952d992bf9c68310ddb\
         492a0e3af7b4a783899fd6e39547b9203dfa2a4305",
    );
    documented(
        "envelope_sha256",
        &signed.envelope_sha256(),
        "a7989ec3101e551478fe79818c814e5d97eba4a5de3bc8460d6a0a613d79a75b",
    );
    assert_eq!(signed.envelope_bytes().len(), 236);
    documented(
        "envelope",
        &signed.envelope_bytes(),
        "0a750801122430313965373034342d383830302d373730372d383730372d3037303730373037303730371a063631\
         303630322206363130363033280a3880909282e7334a10333437353066393862643539666366635220353f25fe27\
         a568b445c58c61e3bb8ae2529836a91654354f3d01e5cbe1b91fb2120f520d0a0474657374120568656c6c6f1a40\
         e75a4186302e3005555aa72645fa512c6a5880a50285dc388b4159740fb62ffdf9e952d992bf9c68310ddb492a0e\
         3af7b4a783899fd6e39547b9203dfa2a43052220af1e5bc6e0372d1d69f55d40a97e00690fdf65c068b77cdde27d\
         be5411e9150e",
    );

    let mut scene = Scene::new();
    scene.now_ms = 1_780_000_001_000;
    let admitted = check(&scene, signed.to_envelope(), Ok(())).admitted();
    assert_eq!(admitted.body, body);

    let receipt = SignedReceipt::sign(
        &node_key(2),
        Receipt {
            notice_id: Some(admitted.notice.header.id),
            envelope_sha256: admitted.notice.envelope_sha256(),
            recipient: county(ME),
            sender: Some(county(SENDER)),
            received_at_ms: 1_780_000_001_000,
            outcome: Outcome::Accepted,
            reply_due_at_ms: None,
            key_id: node_key(2).key_id(),
            checkpoint: None,
            existed_by_ms: None,
        },
    );
    assert_eq!(receipt.receipt.key_id.to_string(), "6a3803d5f059902a");
    documented(
        "receipt",
        &receipt.receipt_bytes,
        "0801122430313965373034342d383830302d373730372d383730372d3037303730373037303730371a20a7989ec3\
         101e551478fe79818c814e5d97eba4a5de3bc8460d6a0a613d79a75b22063631303630332a0636313036303230e8\
         979282e73338015a1036613338303364356630353939303261",
    );
    documented(
        "receipt signature",
        &receipt.signature,
        "404b4552517c4a81ffe0e15d16a4b46c5a584b694b106d481f548c6fcb6070a4ea91016a539fd62353ba12fd665a\
         78098a87c90187163c3a31ca2ec5c7362c01",
    );
}
