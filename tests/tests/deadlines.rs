//! Reply deadlines between real nodes on one shared, controlled clock: the recipient's signed receipt
//! carries the due time it computed and both counties hold the same one; the reply owed becomes due
//! soon and then overdue as time passes, on both sides alike; a reply closes it on time or late by
//! its reply time (its signed issued-at, unless the receipt time is later by more than the skew); the quarterly report agrees between sender and recipient; a node
//! restarted after a deadline passed flags it at once and reminds the other county exactly once;
//! and a working-day deadline that runs into a year without a calendar is a visible error.

use std::collections::BTreeMap;

use liaison_core::{NoticeId, Outcome, SignedReceipt};
use liaison_node::clock::ManualClock;
use liaison_proto::v1 as pb;
use liaison_tests::cst::{DAY_MS, cst_ms, end_of_day_cst};
use liaison_tests::federation::with_deadlines;
use liaison_tests::{ANSAI, BAOTA, Federation, Operator, drafts, names};

/// The two counties of these tests: 宝塔区 sends, 安塞区 receives and owes the replies.
const TWO_COUNTIES: [(&str, &str); 2] = [(BAOTA, "宝塔区"), (ANSAI, "安塞区")];

/// Both nodes on one manual clock showing `now_ms`, their trackers checking every second.
async fn start_at(now_ms: i64) -> Federation {
    Federation::builder(&TWO_COUNTIES)
        .manual_clock(ManualClock::new(now_ms))
        .deadlines(BAOTA, "check_interval_secs = 1")
        .deadlines(ANSAI, "check_interval_secs = 1")
        .start()
        .await
}

/// The example draft of `kind` to 安塞区, marked urgent if `urgent`.
fn draft_to_ansai(kind: &str, urgent: bool) -> String {
    let draft = drafts::draft(kind, Some(ANSAI));
    if urgent {
        drafts::with_member(&draft, "/urgent", true.into())
    } else {
        draft
    }
}

/// Sends `draft` and waits until the recipient's receipt is in; returns the outbox entry then.
async fn send_delivered(sender: &mut Operator, draft: &str) -> pb::NoticeInfo {
    let queued = sender.send(draft).await;
    sender
        .wait_for_status(&queued.notice_id, pb::NoticeStatus::Delivered)
        .await
}

/// Answers inbox notice `original` with a reply letter and waits until it is delivered.
async fn reply_delivered(replier: &mut Operator, original: &str) -> pb::NoticeInfo {
    let queued = replier
        .reply(original, &drafts::draft("reply_letter", None))
        .await;
    replier
        .wait_for_status(&queued.notice_id, pb::NoticeStatus::Delivered)
        .await
}

/// The signed receipt that `county`'s stopped node keeps for its outbound notice `id`.
fn stored_receipt(fed: &Federation, county: &str, id: &str) -> SignedReceipt {
    let id = NoticeId::parse(id).unwrap();
    let bytes = fed
        .open_store(county)
        .outbound_receipt(&id)
        .unwrap()
        .unwrap_or_else(|| panic!("{county} keeps no receipt for {id}"));
    SignedReceipt::from_bytes(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_carries_the_recipients_due_time_and_sender_and_recipient_hold_the_same_one() {
    struct Case {
        what: &'static str,
        received_at_ms: i64,
        kind: &'static str,
        urgent: bool,
        /// 0: no reply required.
        due_at_ms: i64,
        state: &'static str,
    }
    // In order of time, so that the shared clock only moves forward.
    let cases = [
        Case {
            what: "approval request received Tue 2026-02-10: 15 working days across the Spring \
                   Festival (Feb 14 and 28 worked, Feb 15-23 off) end Mon 2026-03-09",
            received_at_ms: cst_ms(2026, 2, 10, 10, 0),
            kind: "approval_request",
            urgent: false,
            due_at_ms: end_of_day_cst(2026, 3, 9),
            state: "open",
        },
        Case {
            what: "case notice received Wed 2026-03-04: day 10 is Sat 2026-03-14, a rest day, so \
                   the period ends Mon 2026-03-16",
            received_at_ms: cst_ms(2026, 3, 4, 10, 0),
            kind: "case_notice",
            urgent: false,
            due_at_ms: end_of_day_cst(2026, 3, 16),
            state: "open",
        },
        Case {
            what: "urgent case notice received Wed 2026-04-01: day 5 is Mon 2026-04-06, the last \
                   day of Qingming, so the period ends Tue 2026-04-07",
            received_at_ms: cst_ms(2026, 4, 1, 10, 0),
            kind: "case_notice",
            urgent: true,
            due_at_ms: end_of_day_cst(2026, 4, 7),
            state: "open",
        },
        Case {
            what: "bulletin: no reply required",
            received_at_ms: cst_ms(2026, 4, 2, 10, 0),
            kind: "bulletin",
            urgent: false,
            due_at_ms: 0,
            state: "no_reply_required",
        },
    ];
    let mut fed = start_at(cases[0].received_at_ms).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;

    let mut sent = Vec::new();
    for case in &cases {
        fed.clock().set(case.received_at_ms);
        let what = case.what;
        let at_sender = send_delivered(&mut baota, &draft_to_ansai(case.kind, case.urgent)).await;
        assert_eq!(
            at_sender.urgency() == pb::Urgency::Urgent,
            case.urgent,
            "{what}"
        );
        assert_eq!(
            at_sender.receipt_at_ms, case.received_at_ms,
            "{what}: signed receipt time"
        );
        assert_eq!(
            at_sender.reply_due_at_ms, case.due_at_ms,
            "{what}: the sender's outbox holds the due time of the receipt"
        );
        assert_eq!(
            names::deadline(at_sender.deadline_state),
            case.state,
            "{what}: at the sender"
        );

        let at_recipient = ansai.info(&at_sender.notice_id).await;
        assert_eq!(at_recipient.receipt_at_ms, case.received_at_ms, "{what}");
        assert_eq!(
            at_recipient.reply_due_at_ms, case.due_at_ms,
            "{what}: the recipient's inbox holds the due time it signed"
        );
        assert_eq!(
            names::deadline(at_recipient.deadline_state),
            case.state,
            "{what}: at the recipient"
        );
        assert!(
            at_recipient.deadline_error.is_empty(),
            "{what}: {at_recipient:?}"
        );
        sent.push(at_sender.notice_id);
    }

    // The due time is part of what the recipient signed, and the sender keeps that receipt.
    fed.stop(BAOTA).await;
    let ansai_key = fed.public_key(ANSAI);
    for (case, id) in cases.iter().zip(&sent) {
        let receipt = stored_receipt(&fed, BAOTA, id);
        assert!(receipt.signature_valid(&ansai_key), "{}", case.what);
        assert_eq!(receipt.receipt.outcome, Outcome::Accepted, "{}", case.what);
        assert_eq!(
            receipt.receipt.received_at_ms, case.received_at_ms,
            "{}",
            case.what
        );
        let expected = (case.due_at_ms != 0).then_some(case.due_at_ms);
        assert_eq!(
            receipt.receipt.reply_due_at_ms, expected,
            "{}: the signed receipt's due time",
            case.what
        );
    }
    fed.shutdown().await;
}

/// What one side's Due call shows: per item (id, due time, state, days left, the notice's own
/// deadline state), soonest first, and the counts (open, due soon, overdue) of that side.
type DueView = (Vec<(String, i64, String, i64, String)>, [u64; 3]);

fn due_view(response: &pb::DueResponse, side: &str) -> DueView {
    let items = response
        .items
        .iter()
        .map(|item| {
            assert_eq!(names::side(item.side), side, "{item:?}");
            let notice = item.notice.as_ref().expect("a due item names its notice");
            (
                notice.notice_id.clone(),
                item.due_at_ms,
                names::deadline(item.state).to_owned(),
                item.days_left,
                names::deadline(notice.deadline_state).to_owned(),
            )
        })
        .collect();
    let c = response.counts.expect("Due answers with counts");
    let counts = match side {
        "owed" => {
            assert_eq!(
                [c.awaited_open, c.awaited_due_soon, c.awaited_overdue],
                [0; 3],
                "nothing awaited"
            );
            [c.owed_open, c.owed_due_soon, c.owed_overdue]
        }
        _ => {
            assert_eq!(
                [c.owed_open, c.owed_due_soon, c.owed_overdue],
                [0; 3],
                "nothing owed"
            );
            [c.awaited_open, c.awaited_due_soon, c.awaited_overdue]
        }
    };
    (items, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_owed_becomes_due_soon_then_overdue_as_the_clock_advances_alike_on_both_sides() {
    let received = cst_ms(2026, 3, 2, 10, 0);
    let fed = start_at(received).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;

    // Both received Mon 2026-03-02. Normal: day 10 is Thu Mar 12. Urgent: day 5 is Sat Mar 7, a
    // rest day, so Mon Mar 9.
    let normal = send_delivered(&mut baota, &draft_to_ansai("case_notice", false)).await;
    let urgent = send_delivered(&mut baota, &draft_to_ansai("case_notice", true)).await;
    let (normal_due, urgent_due) = (end_of_day_cst(2026, 3, 12), end_of_day_cst(2026, 3, 9));
    assert_eq!(normal.reply_due_at_ms, normal_due);
    assert_eq!(urgent.reply_due_at_ms, urgent_due);

    // (now, (state, days left) of the urgent notice, of the normal one); due soon is 2 days.
    let steps = [
        (received, ("open", 7), ("open", 10)),
        (urgent_due - 2 * DAY_MS - 1, ("open", 2), ("open", 5)),
        (urgent_due - 2 * DAY_MS, ("due_soon", 1), ("open", 4)),
        (urgent_due - 1, ("due_soon", 0), ("open", 3)),
        (urgent_due, ("overdue", -1), ("open", 2)),
        (normal_due - 2 * DAY_MS, ("overdue", -2), ("due_soon", 1)),
        (normal_due - 1, ("overdue", -3), ("due_soon", 0)),
        (normal_due, ("overdue", -4), ("overdue", -1)),
        (
            cst_ms(2026, 3, 20, 10, 0),
            ("overdue", -11),
            ("overdue", -8),
        ),
    ];
    for (now, (urgent_state, urgent_left), (normal_state, normal_left)) in steps {
        fed.clock().set(now);
        let at = liaison_core::clock::format_cst(now);
        let expected_items = vec![
            (
                urgent.notice_id.clone(),
                urgent_due,
                urgent_state.to_owned(),
                urgent_left,
                urgent_state.to_owned(),
            ),
            (
                normal.notice_id.clone(),
                normal_due,
                normal_state.to_owned(),
                normal_left,
                normal_state.to_owned(),
            ),
        ];
        let mut expected_counts = [0u64; 3];
        for state in [urgent_state, normal_state] {
            let slot = ["open", "due_soon", "overdue"]
                .iter()
                .position(|s| *s == state)
                .unwrap();
            expected_counts[slot] += 1;
        }

        let owed = due_view(&ansai.due("owed", false).await, "owed");
        let awaited = due_view(&baota.due("awaited", false).await, "awaited");
        assert_eq!(owed, (expected_items, expected_counts), "owed at {at}");
        assert_eq!(awaited, owed, "the sender's view agrees at {at}");

        let overdue_ids: Vec<&String> = owed
            .0
            .iter()
            .filter(|item| item.2 == "overdue")
            .map(|item| &item.0)
            .collect();
        for (operator, side) in [(&mut ansai, "owed"), (&mut baota, "awaited")] {
            let overdue = operator.due(side, true).await;
            let listed: Vec<&String> = overdue
                .items
                .iter()
                .map(|item| &item.notice.as_ref().unwrap().notice_id)
                .collect();
            assert_eq!(listed, overdue_ids, "{side} overdue only, at {at}");
        }
    }
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_before_the_deadline_closes_it_on_time_and_one_at_the_deadline_closes_it_late() {
    let fed = start_at(cst_ms(2026, 3, 2, 10, 0)).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let due = end_of_day_cst(2026, 3, 12);

    let in_time = send_delivered(&mut baota, &draft_to_ansai("case_notice", false)).await;
    let late = send_delivered(&mut baota, &draft_to_ansai("case_notice", false)).await;
    let unanswered = send_delivered(&mut baota, &draft_to_ansai("case_notice", false)).await;
    for notice in [&in_time, &late, &unanswered] {
        assert_eq!(notice.reply_due_at_ms, due);
    }

    // The last millisecond of Thu Mar 12 is still in time; 24:00 itself is not.
    fed.clock().set(due - 1);
    let reply_in_time = reply_delivered(&mut ansai, &in_time.notice_id).await;
    fed.clock().set(due);
    let reply_late = reply_delivered(&mut ansai, &late.notice_id).await;
    assert_eq!(reply_in_time.issued_at_ms, due - 1);
    assert_eq!(reply_late.issued_at_ms, due);

    // Judged by the reply's signed time, not by when anyone looks.
    fed.clock().set(cst_ms(2026, 3, 30, 10, 0));
    for (original, reply, state) in [
        (&in_time, &reply_in_time, "answered_on_time"),
        (&late, &reply_late, "answered_late"),
    ] {
        for (county, operator) in [(BAOTA, &mut baota), (ANSAI, &mut ansai)] {
            let info = operator.info(&original.notice_id).await;
            assert_eq!(
                names::deadline(info.deadline_state),
                state,
                "at {county}: {info:?}"
            );
            assert_eq!(
                info.answered_at_ms, reply.issued_at_ms,
                "at {county}: answered at the reply's signed issued-at"
            );
            assert_eq!(info.replies, [reply.notice_id.as_str()], "at {county}");
        }
    }

    // Only the unanswered notice is still listed, on both sides.
    for (operator, side) in [(&mut ansai, "owed"), (&mut baota, "awaited")] {
        let response = operator.due(side, false).await;
        let (items, counts) = due_view(&response, side);
        let listed: Vec<&String> = items.iter().map(|item| &item.0).collect();
        assert_eq!(listed, [&unanswered.notice_id], "{side}");
        assert_eq!(
            counts,
            [0, 0, 1],
            "{side}: only the unanswered one, overdue"
        );
    }
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_third_county_to_vouch_a_reply_delivered_after_the_deadline_counts_from_its_receipt()
 {
    let mut fed = start_at(cst_ms(2026, 3, 2, 10, 0)).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let due = end_of_day_cst(2026, 3, 12);
    let original = send_delivered(&mut baota, &draft_to_ansai("case_notice", false)).await;

    // 宝塔区 is down when 安塞区 signs its reply, and comes back after the deadline. No other
    // county can cosign 安塞区's log meanwhile, so nothing but 安塞区's own word says the reply
    // existed before 宝塔区 received it: it counts from the receipt (see reply_time.rs for the
    // same with a third county, where it counts on time).
    fed.stop(BAOTA).await;
    fed.clock().set(due - DAY_MS);
    let reply = ansai
        .reply(&original.notice_id, &drafts::draft("reply_letter", None))
        .await;
    fed.clock().set(due + 3 * DAY_MS);
    fed.restart(BAOTA).await;
    let mut baota = fed.operator(BAOTA).await;
    ansai.retry_if_pending(&reply.notice_id).await;
    ansai
        .wait_for_status(&reply.notice_id, pb::NoticeStatus::Delivered)
        .await;

    for (county, operator) in [(BAOTA, &mut baota), (ANSAI, &mut ansai)] {
        let info = operator.info(&original.notice_id).await;
        assert_eq!(
            info.deadline_state(),
            pb::DeadlineState::AnsweredLate,
            "at {county}: {info:?}"
        );
        assert_eq!(
            info.answered_at_ms,
            due + 3 * DAY_MS - liaison_core::cosign::REPLY_TIME_SKEW_MS,
            "at {county}"
        );
    }
    assert!(baota.due("awaited", false).await.items.is_empty());
    fed.shutdown().await;
}

/// A report row's figures: notices, reply required, on time, late, still open, overdue now,
/// median reply time.
type Figures = (u64, u64, u64, u64, u64, u64, i64);

/// The rows of a report by (kind, direction), each checked to be about `peer`.
fn rows_by_kind(report: &pb::ReportResponse, peer: &str) -> BTreeMap<(String, String), Figures> {
    report
        .rows
        .iter()
        .map(|row| {
            assert_eq!(row.peer, peer, "{row:?}");
            (
                (
                    names::kind(row.kind).to_owned(),
                    names::report_direction(row.direction).to_owned(),
                ),
                (
                    row.notices,
                    row.reply_required,
                    row.replied_on_time,
                    row.replied_late,
                    row.still_open,
                    row.overdue_now,
                    row.median_reply_ms,
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarterly_report_counts_each_outcome_and_the_recipients_rows_mirror_the_senders() {
    let start = cst_ms(2026, 3, 2, 10, 0);
    let fed = start_at(start).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let case_notice = draft_to_ansai("case_notice", false);

    // Received Mon 2026-03-02, due 24:00 Thu Mar 12.
    let replied_after_1_day = send_delivered(&mut baota, &case_notice).await;
    let replied_after_3_days = send_delivered(&mut baota, &case_notice).await;
    let replied_after_18_days = send_delivered(&mut baota, &case_notice).await;
    let never_replied = send_delivered(&mut baota, &case_notice).await;
    send_delivered(&mut baota, &draft_to_ansai("bulletin", false)).await;
    // The other way: a contact letter 宝塔区 never answers.
    let letter = ansai
        .send(&drafts::draft("contact_letter", Some(BAOTA)))
        .await;
    ansai
        .wait_for_status(&letter.notice_id, pb::NoticeStatus::Delivered)
        .await;

    fed.clock().set(start + DAY_MS);
    reply_delivered(&mut ansai, &replied_after_1_day.notice_id).await;
    fed.clock().set(start + 3 * DAY_MS);
    reply_delivered(&mut ansai, &replied_after_3_days.notice_id).await;
    fed.clock().set(start + 18 * DAY_MS);
    reply_delivered(&mut ansai, &replied_after_18_days.notice_id).await;
    // Received Mon Mar 30, due 24:00 Thu Apr 9: still open when the report is made.
    fed.clock().set(cst_ms(2026, 3, 30, 10, 0));
    let still_open = send_delivered(&mut baota, &case_notice).await;
    assert_eq!(still_open.reply_due_at_ms, end_of_day_cst(2026, 4, 9));
    // Received in the second quarter: not in the first quarter's report.
    let now = cst_ms(2026, 4, 2, 10, 0);
    fed.clock().set(now);
    send_delivered(&mut baota, &case_notice).await;
    assert_eq!(
        baota.info(&never_replied.notice_id).await.deadline_state(),
        pb::DeadlineState::Overdue
    );

    let (q1_from, q1_to) = (cst_ms(2026, 1, 1, 0, 0), cst_ms(2026, 4, 1, 0, 0));
    let at_baota = baota.report(q1_from, q1_to).await;
    let at_ansai = ansai.report(q1_from, q1_to).await;
    for report in [&at_baota, &at_ansai] {
        assert_eq!(
            (report.from_ms, report.to_ms, report.generated_at_ms),
            (q1_from, q1_to, now)
        );
    }
    let at_baota = rows_by_kind(&at_baota, ANSAI);
    let at_ansai = rows_by_kind(&at_ansai, BAOTA);
    let row = |kind: &str, direction: &str| (kind.to_owned(), direction.to_owned());
    // Case notices: on time after 1 and 3 days, late after 18, one overdue, one still open;
    // the median of the reply times 1, 3 and 18 days is 3 days.
    let case_notices = (5, 5, 2, 1, 1, 1, 3 * DAY_MS);
    let expected_at_baota = BTreeMap::from([
        (row("case_notice", "sent"), case_notices),
        (row("bulletin", "sent"), (1, 0, 0, 0, 0, 0, -1)),
        (row("reply_letter", "received"), (3, 0, 0, 0, 0, 0, -1)),
        (row("contact_letter", "received"), (1, 1, 0, 0, 0, 1, -1)),
    ]);
    assert_eq!(at_baota, expected_at_baota, "宝塔区's first quarter");

    // 安塞区's "received" row is 宝塔区's "sent" row for the same notices, and the other way round.
    let mirrored: BTreeMap<(String, String), Figures> = at_baota
        .iter()
        .map(|((kind, direction), figures)| {
            let other = if direction == "sent" {
                "received"
            } else {
                "sent"
            };
            ((kind.clone(), other.to_owned()), *figures)
        })
        .collect();
    assert_eq!(
        at_ansai, mirrored,
        "安塞区's first quarter mirrors 宝塔区's"
    );

    let q2 = baota.report(q1_to, cst_ms(2026, 7, 1, 0, 0)).await;
    assert_eq!(
        rows_by_kind(&q2, ANSAI),
        BTreeMap::from([(row("case_notice", "sent"), (1, 1, 0, 0, 1, 0, -1))]),
        "the second quarter holds only the notice received in April"
    );
    fed.shutdown().await;
}

/// The reminders in an inbox, as the notice each one points at.
async fn reminders(operator: &mut Operator, inbox: &[pb::NoticeInfo]) -> Vec<String> {
    let mut pointed_at = Vec::new();
    for notice in inbox
        .iter()
        .filter(|n| n.kind() == pb::NoticeKind::Reminder)
    {
        let detail = operator.show(&notice.notice_id).await;
        let body: serde_json::Value = serde_json::from_str(&detail.body_json)
            .unwrap_or_else(|e| panic!("{e}: {}", detail.body_json));
        assert!(detail.signature_valid, "{detail:?}");
        let info = detail.info.unwrap();
        assert_eq!(info.peer, BAOTA, "{info:?}");
        assert!(
            info.in_reply_to.is_empty(),
            "a reminder is no reply: {info:?}"
        );
        assert_eq!(
            info.deadline_state(),
            pb::DeadlineState::NoReplyRequired,
            "{info:?}"
        );
        pointed_at.push(
            body["overdue_notice_id"]
                .as_str()
                .unwrap_or_else(|| panic!("no overdue_notice_id in {body}"))
                .to_owned(),
        );
    }
    pointed_at.sort();
    pointed_at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_restarted_after_a_deadline_passed_flags_it_at_once_and_reminds_exactly_once() {
    let mut fed = start_at(cst_ms(2026, 3, 2, 10, 0)).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let case_notice = draft_to_ansai("case_notice", false);
    // Due 24:00 Thu Mar 12, Mon Mar 16 (day 10 is a Saturday) and Thu Mar 19.
    let first = send_delivered(&mut baota, &case_notice).await;
    fed.clock().set(cst_ms(2026, 3, 4, 10, 0));
    let second = send_delivered(&mut baota, &case_notice).await;
    fed.clock().set(cst_ms(2026, 3, 9, 10, 0));
    let third = send_delivered(&mut baota, &case_notice).await;
    assert_eq!(
        [
            first.reply_due_at_ms,
            second.reply_due_at_ms,
            third.reply_due_at_ms
        ],
        [
            end_of_day_cst(2026, 3, 12),
            end_of_day_cst(2026, 3, 16),
            end_of_day_cst(2026, 3, 19)
        ]
    );

    // 宝塔区 is down while the first deadline passes, and comes back sending reminders.
    fed.stop(BAOTA).await;
    let back_at = cst_ms(2026, 3, 14, 10, 0);
    fed.clock().set(back_at);
    fed.edit_config(BAOTA, |config| {
        with_deadlines(config, "check_interval_secs = 1\nsend_reminders = true")
    });
    fed.restart(BAOTA).await;
    let mut baota = fed.operator(BAOTA).await;

    let overdue = baota.due("awaited", true).await;
    let listed: Vec<(&str, &str, i64)> = overdue
        .items
        .iter()
        .map(|item| {
            (
                item.notice.as_ref().unwrap().notice_id.as_str(),
                names::deadline(item.state),
                item.days_left,
            )
        })
        .collect();
    assert_eq!(
        listed,
        [(first.notice_id.as_str(), "overdue", -2)],
        "overdue since Mar 13, listed as soon as the node is back"
    );
    let counts = overdue.counts.unwrap();
    assert_eq!(
        (counts.awaited_overdue, counts.awaited_open),
        (1, 2),
        "{counts:?}"
    );

    let inbox = ansai
        .wait_for_inbox("a reminder", |inbox| {
            inbox.iter().any(|n| n.kind() == pb::NoticeKind::Reminder)
        })
        .await;
    assert_eq!(
        reminders(&mut ansai, &inbox).await,
        [first.notice_id.as_str()]
    );
    let reminder = inbox
        .iter()
        .find(|n| n.kind() == pb::NoticeKind::Reminder)
        .unwrap();
    assert_eq!(reminder.issued_at_ms, back_at, "signed on the shared clock");
    let body = ansai.show(&reminder.notice_id).await.body_json;
    assert!(body.contains(&first.notice_id), "{body}");

    // Each later deadline brings its own reminder, each a later tracker pass that does not remind
    // of the earlier notices again; one of them after yet another restart.
    fed.stop(BAOTA).await;
    fed.restart(BAOTA).await;
    let mut expected = vec![first.notice_id.clone()];
    for (notice, now) in [
        (&second, cst_ms(2026, 3, 18, 10, 0)),
        (&third, cst_ms(2026, 3, 21, 10, 0)),
    ] {
        fed.clock().set(now);
        expected.push(notice.notice_id.clone());
        expected.sort();
        let count = expected.len();
        let inbox = ansai
            .wait_for_inbox(&format!("{count} reminders"), |inbox| {
                inbox
                    .iter()
                    .filter(|n| n.kind() == pb::NoticeKind::Reminder)
                    .count()
                    >= count
            })
            .await;
        assert_eq!(
            reminders(&mut ansai, &inbox).await,
            expected,
            "one reminder per overdue notice"
        );
    }
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn working_day_deadline_into_a_year_without_calendar_is_accepted_and_shown_as_an_error() {
    // Sun 2026-12-20: only 9 working days remain in 2026, and there is no calendar for 2027.
    let received = cst_ms(2026, 12, 20, 10, 0);
    let mut fed = start_at(received).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;

    let approval = send_delivered(&mut baota, &draft_to_ansai("approval_request", false)).await;
    assert_eq!(
        approval.reply_due_at_ms, 0,
        "the receipt states no due time"
    );
    assert!(
        approval.reject_code() == pb::RejectCode::Unspecified,
        "{approval:?}"
    );
    assert_eq!(
        approval.deadline_state(),
        pb::DeadlineState::Unknown,
        "the sender shows the missing due time too, never \"no reply required\": {approval:?}"
    );
    assert!(!approval.deadline_error.is_empty(), "{approval:?}");
    let figures = baota
        .report(cst_ms(2026, 10, 1, 0, 0), cst_ms(2027, 1, 1, 0, 0))
        .await;
    let row = figures
        .rows
        .iter()
        .find(|r| r.kind() == pb::NoticeKind::ApprovalRequest)
        .expect("a row for the approval request");
    assert_eq!(
        (row.reply_required, row.deadline_unknown),
        (1, 1),
        "{row:?}"
    );

    let at_recipient = ansai.info(&approval.notice_id).await;
    assert_eq!(at_recipient.status(), pb::NoticeStatus::Received);
    assert_eq!(at_recipient.reply_due_at_ms, 0);
    assert_eq!(
        at_recipient.deadline_state(),
        pb::DeadlineState::Unknown,
        "{at_recipient:?}"
    );
    assert!(
        at_recipient.deadline_error.contains("2027"),
        "{at_recipient:?}"
    );

    let due = ansai.due("owed", false).await;
    assert!(due.items.is_empty(), "no due time to list it by: {due:?}");
    let errors: Vec<(&str, &str)> = due
        .deadline_errors
        .iter()
        .map(|n| (n.notice_id.as_str(), n.deadline_error.as_str()))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, approval.notice_id);
    assert!(
        errors[0].1.contains("no working-day calendar for 2027"),
        "the error names the missing year: {errors:?}"
    );
    assert_eq!(due.counts.unwrap().deadline_errors, 1);

    fed.stop(BAOTA).await;
    let receipt = stored_receipt(&fed, BAOTA, &approval.notice_id);
    assert_eq!(receipt.receipt.outcome, Outcome::Accepted);
    assert_eq!(receipt.receipt.reply_due_at_ms, None);
    fed.shutdown().await;
}
