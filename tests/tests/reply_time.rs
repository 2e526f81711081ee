//! The time of a reply (复函时间) rests on more than the replier's word: three counties on one
//! controlled clock, one of whose clocks is then set wrong. A replier that sets its clock back to
//! make a late reply look timely gets a late reply on both sides and in both audit bundles; an
//! awaiting county whose clock runs days ahead does not make a timely reply late; a reply sent in
//! time while the awaiting county is down counts on time once it arrives, because a third county
//! cosigned the replier's log meanwhile; and a reply older than the replier's own receipt of the
//! notice it answers is refused.

use liaison_core::audit::Bundle;
use liaison_core::audit_verify::{DeadlineOutcome, verify_bundle};
use liaison_core::{RejectCode, SignedNotice};
use liaison_node::clock::ManualClock;
use liaison_proto::v1 as pb;
use liaison_tests::cst::{DAY_MS, HOUR_MS, cst_ms};
use liaison_tests::peer::{NoticeBuilder, assert_refused, deliver_one};
use liaison_tests::{ANSAI, BAOTA, Federation, Operator, THREE_COUNTIES, drafts};

/// 宝塔区 awaits replies, 安塞区 owes them, 延长县 is the third county that cosigns.
const AWAITING: &str = BAOTA;
const REPLIER: &str = ANSAI;

/// 2026-03-02 09:00 CST, a Monday.
fn start() -> i64 {
    cst_ms(2026, 3, 2, 9, 0)
}

async fn federation() -> Federation {
    Federation::builder(&THREE_COUNTIES)
        .manual_clock(ManualClock::new(start()))
        .start()
        .await
}

/// 宝塔区 sends 安塞区 a contact letter, which needs a reply within 10 days; returns its outbox
/// entry once delivered.
async fn letter_delivered(awaiting: &mut Operator) -> pb::NoticeInfo {
    let queued = awaiting
        .send(&drafts::draft("contact_letter", Some(REPLIER)))
        .await;
    let info = awaiting
        .wait_for_status(&queued.notice_id, pb::NoticeStatus::Delivered)
        .await;
    assert!(info.reply_due_at_ms > 0, "a contact letter needs a reply");
    info
}

/// 安塞区 replies to `original`; returns the reply as queued.
async fn reply(replier: &mut Operator, original: &str) -> pb::NoticeInfo {
    replier
        .reply(original, &drafts::draft("reply_letter", None))
        .await
}

/// Waits until `op` shows notice `id` answered, and returns it then.
async fn answered_state(op: &mut Operator, id: &str) -> pb::NoticeInfo {
    op.wait_until(id, "answered", |info| {
        matches!(
            info.deadline_state(),
            pb::DeadlineState::AnsweredOnTime | pb::DeadlineState::AnsweredLate
        )
    })
    .await
}

async fn export(op: &mut Operator) -> Bundle {
    let response = op
        .client()
        .export_audit(pb::AuditExportRequest {
            from_ms: 0,
            to_ms: i64::MAX,
            peer: String::new(),
            redact_payloads: true,
        })
        .await
        .expect("an audit bundle")
        .into_inner();
    serde_json::from_str(&response.bundle_json).expect("bundle JSON")
}

/// Exports `op`'s bundle, checks that it verifies, and returns the outcome it finds for notice `id`.
async fn bundle_outcome(op: &mut Operator, id: &str) -> DeadlineOutcome {
    let report = verify_bundle(&export(op).await);
    assert!(
        report.ok,
        "{}'s bundle verifies:\n{}",
        op.county(),
        report.to_text()
    );
    report
        .deadlines
        .iter()
        .find(|line| line.notice_id == id)
        .unwrap_or_else(|| panic!("{}'s bundle judges notice {id}", op.county()))
        .outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replier_that_sets_its_clock_back_by_minutes_or_days_still_replies_late() {
    let fed = federation().await;
    let mut awaiting = fed.operator(AWAITING).await;
    let mut replier = fed.operator(REPLIER).await;
    let first = letter_delivered(&mut awaiting).await;
    let second = letter_delivered(&mut awaiting).await;
    let due = first.reply_due_at_ms;
    assert_eq!(second.reply_due_at_ms, due);

    // Ten minutes late, with the clock set 40 minutes back: it signs "30 minutes early".
    fed.clock().set(due + 10 * 60 * 1000);
    fed.set_clock_offset(REPLIER, -40 * 60 * 1000);
    let minutes = reply(&mut replier, &first.notice_id).await;
    assert!(
        minutes.issued_at_ms < due,
        "the replier's clock claims it was in time"
    );
    // Two days late, with the clock set three days back.
    fed.clock().set(due + 2 * DAY_MS);
    fed.set_clock_offset(REPLIER, -3 * DAY_MS);
    let days = reply(&mut replier, &second.notice_id).await;
    assert!(
        days.issued_at_ms < due,
        "the replier's clock claims it was in time"
    );

    for original in [&first.notice_id, &second.notice_id] {
        let at_awaiting = answered_state(&mut awaiting, original).await;
        assert_eq!(
            at_awaiting.deadline_state(),
            pb::DeadlineState::AnsweredLate,
            "the awaiting county counts the reply late"
        );
        assert!(at_awaiting.answered_at_ms >= due);
        let at_replier = answered_state(&mut replier, original).await;
        assert_eq!(
            at_replier.deadline_state(),
            pb::DeadlineState::AnsweredLate,
            "the replier itself counts its reply late"
        );
        assert_eq!(at_replier.answered_at_ms, at_awaiting.answered_at_ms);
        assert_eq!(
            bundle_outcome(&mut awaiting, original).await,
            DeadlineOutcome::Late
        );
        assert_eq!(
            bundle_outcome(&mut replier, original).await,
            DeadlineOutcome::Late
        );
    }
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_awaiting_county_whose_clock_runs_days_ahead_does_not_make_a_timely_reply_late() {
    let fed = federation().await;
    let mut awaiting = fed.operator(AWAITING).await;
    let mut replier = fed.operator(REPLIER).await;
    let letter = letter_delivered(&mut awaiting).await;
    let due = letter.reply_due_at_ms;

    // A day before the deadline 安塞区 replies, but 宝塔区's clock says it is two days past it.
    fed.clock().set(due - DAY_MS);
    fed.set_clock_offset(AWAITING, 3 * DAY_MS);
    let sent = reply(&mut replier, &letter.notice_id).await;

    let at_awaiting = answered_state(&mut awaiting, &letter.notice_id).await;
    assert_eq!(
        at_awaiting.deadline_state(),
        pb::DeadlineState::AnsweredOnTime,
        "延长县's cosignature shows the reply existed a day before the deadline"
    );
    let received = awaiting.info(&sent.notice_id).await.receipt_at_ms;
    assert!(
        received >= due + 2 * DAY_MS,
        "宝塔区 signed its wrong time as the receipt time"
    );
    assert!(
        at_awaiting.answered_at_ms < due,
        "the reply counts from the cosigned time, not the receipt time"
    );
    let at_replier = answered_state(&mut replier, &letter.notice_id).await;
    assert_eq!(
        at_replier.deadline_state(),
        pb::DeadlineState::AnsweredOnTime
    );
    assert_eq!(
        bundle_outcome(&mut replier, &letter.notice_id).await,
        DeadlineOutcome::OnTime
    );
    // 宝塔区's own bundle judges the reply on time too; its creation time, by its wrong clock,
    // is later than the other counties cosigned its checkpoint, and the verifier says so.
    let report = verify_bundle(&export(&mut awaiting).await);
    assert!(
        !report.failures.is_empty() && report.failures.iter().all(|f| f.item == "created_at_ms"),
        "{}",
        report.to_text()
    );
    let line = report
        .deadlines
        .iter()
        .find(|line| line.notice_id == letter.notice_id)
        .expect("宝塔区's bundle judges the letter");
    assert_eq!(line.outcome, DeadlineOutcome::OnTime);
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_sent_in_time_while_the_awaiting_county_is_down_counts_on_time_once_delivered() {
    let mut fed = federation().await;
    let mut awaiting = fed.operator(AWAITING).await;
    let mut replier = fed.operator(REPLIER).await;
    let letter = letter_delivered(&mut awaiting).await;
    let due = letter.reply_due_at_ms;

    fed.stop(AWAITING).await;
    fed.clock().set(due - HOUR_MS);
    let sent = reply(&mut replier, &letter.notice_id).await;
    // The reply waits; meanwhile the deadline passes by two days.
    replier
        .wait_until(&sent.notice_id, "a failed delivery attempt", |info| {
            info.attempts > 0
        })
        .await;
    fed.clock().set(due + 2 * DAY_MS);
    fed.restart(AWAITING).await;
    let mut awaiting = fed.operator(AWAITING).await;
    replier.retry_if_pending(&sent.notice_id).await;
    let delivered = replier
        .wait_for_status(&sent.notice_id, pb::NoticeStatus::Delivered)
        .await;
    assert!(delivered.receipt_at_ms >= due + 2 * DAY_MS);

    let at_awaiting = answered_state(&mut awaiting, &letter.notice_id).await;
    assert_eq!(
        at_awaiting.deadline_state(),
        pb::DeadlineState::AnsweredOnTime
    );
    assert!(at_awaiting.answered_at_ms < due);
    let at_replier = answered_state(&mut replier, &letter.notice_id).await;
    assert_eq!(
        at_replier.deadline_state(),
        pb::DeadlineState::AnsweredOnTime
    );
    assert_eq!(
        bundle_outcome(&mut awaiting, &letter.notice_id).await,
        DeadlineOutcome::OnTime
    );
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_issued_before_the_notice_it_answers_was_received_is_refused() {
    let fed = federation().await;
    let mut awaiting = fed.operator(AWAITING).await;
    let mut replier = fed.operator(REPLIER).await;
    let letter = letter_delivered(&mut awaiting).await;
    let received = letter.receipt_at_ms;

    // The replier's own node refuses to sign it.
    fed.set_clock_offset(REPLIER, -HOUR_MS);
    let refused = replier
        .try_send(&drafts::draft("reply_letter", None), &letter.notice_id)
        .await
        .expect_err("a reply dated before the receipt is not signed");
    assert!(
        refused
            .message()
            .contains("before the notice being answered was received"),
        "{refused:?}"
    );

    // A replier whose software signs it anyway is refused by the awaiting county.
    let original = liaison_core::NoticeId::parse(&letter.notice_id).unwrap();
    let (kind, payload) = drafts::payload("reply_letter");
    let forged: SignedNotice = NoticeBuilder::new(
        "reply_letter",
        liaison_tests::federation::code(REPLIER),
        liaison_tests::federation::code(AWAITING),
    )
    .body(kind, payload)
    .in_reply_to(original)
    .issued_at(received - 26 * 60 * 1000)
    .sign(&fed.signing_key(REPLIER));
    let envelope = forged.to_envelope();
    let mut client = fed.peer(REPLIER, AWAITING).await;
    let receipt = deliver_one(&mut client, envelope.clone()).await;
    let reason = assert_refused(
        &receipt,
        &envelope,
        liaison_tests::federation::code(AWAITING),
        &fed.public_key(AWAITING),
        RejectCode::ReplyBeforeReceipt,
    );
    assert!(
        reason.contains("before 610603 received the notice"),
        "{reason}"
    );
    let still = awaiting.info(&letter.notice_id).await;
    assert_eq!(still.answered_at_ms, 0, "nothing answered the letter");
    fed.shutdown().await;
}
