//! The quarterly bulletin's figures (季度通报): per peer county, kind and direction, how many notices
//! there were and how their replies went, computed from the stored signed times only — receipt
//! times, the due times the receipts carry, and the replies' issued-at times.

use std::collections::BTreeMap;

use liaison_core::Delivery;

use crate::ops::Direction;
use liaison_core::deadline::deadline_state;
use liaison_core::{CountyCode, DeadlineState, NoticeKind};
use liaison_store::{InboundRecord, OutboundRecord};

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub peer: CountyCode,
    pub kind: NoticeKind,
    /// Inbound: notices received, and this county's replies; outbound: notices sent, and the
    /// peer's replies.
    pub direction: Direction,
    pub notices: u64,
    pub reply_required: u64,
    pub replied_on_time: u64,
    pub replied_late: u64,
    pub still_open: u64,
    pub overdue_now: u64,
    /// A reply is required but no due time is known (e.g. no working-day calendar for the year).
    pub deadline_unknown: u64,
    pub median_reply_ms: Option<i64>,
}

#[derive(Default)]
struct Tally {
    notices: u64,
    reply_required: u64,
    replied_on_time: u64,
    replied_late: u64,
    still_open: u64,
    overdue_now: u64,
    deadline_unknown: u64,
    reply_times: Vec<i64>,
}

/// Collects notices whose receipt time falls in `[from_ms, to_ms)`.
#[derive(Default)]
pub struct Report {
    from_ms: i64,
    to_ms: i64,
    now_ms: i64,
    tallies: BTreeMap<(CountyCode, NoticeKind, Direction), Tally>,
}

impl Report {
    /// An empty report for a period, as of `now_ms`.
    pub fn new(from_ms: i64, to_ms: i64, now_ms: i64) -> Self {
        Self {
            from_ms,
            to_ms,
            now_ms,
            tallies: BTreeMap::new(),
        }
    }

    fn add(
        &mut self,
        key: (CountyCode, NoticeKind, Direction),
        received_at_ms: i64,
        due_at_ms: Option<i64>,
        answered_at_ms: Option<i64>,
        deadline_unknown: bool,
    ) {
        if !(self.from_ms..self.to_ms).contains(&received_at_ms) {
            return;
        }
        let tally = self.tallies.entry(key).or_default();
        tally.notices += 1;
        if deadline_unknown {
            tally.reply_required += 1;
            tally.deadline_unknown += 1;
            if let Some(answered) = answered_at_ms {
                tally.reply_times.push(answered - received_at_ms);
            }
            return;
        }
        // Due soon is still open: the report counts against the deadline only.
        match deadline_state(due_at_ms, answered_at_ms, self.now_ms, 0) {
            DeadlineState::NoReplyRequired => return,
            DeadlineState::AnsweredOnTime => tally.replied_on_time += 1,
            DeadlineState::AnsweredLate => tally.replied_late += 1,
            DeadlineState::Overdue => tally.overdue_now += 1,
            DeadlineState::Open | DeadlineState::DueSoon => tally.still_open += 1,
        }
        tally.reply_required += 1;
        if let Some(answered) = answered_at_ms {
            tally.reply_times.push(answered - received_at_ms);
        }
    }

    /// Counts a received notice: the reply is this county's.
    pub fn add_inbound(&mut self, r: &InboundRecord) {
        let unknown = r.deadline_error.is_some();
        let key = (r.sender, r.kind, Direction::Inbound);
        self.add(
            key,
            r.received_at_ms,
            r.reply_due_at_ms,
            r.answered_at_ms,
            unknown,
        );
    }

    /// Counts a sent notice once delivered: the reply is the peer's. `reply_required` says whether
    /// this node's policy expects a reply to its kind, for receipts that state no due time.
    pub fn add_outbound(&mut self, r: &OutboundRecord, reply_required: bool) {
        let Delivery::Delivered {
            received_at_ms,
            reply_due_at_ms,
            ..
        } = r.delivery
        else {
            return;
        };
        let unknown = reply_required && reply_due_at_ms.is_none();
        let key = (r.recipient, r.kind, Direction::Outbound);
        self.add(
            key,
            received_at_ms,
            reply_due_at_ms,
            r.answered_at_ms,
            unknown,
        );
    }

    /// The rows, by peer, kind and direction.
    pub fn rows(self) -> Vec<Row> {
        self.tallies
            .into_iter()
            .map(|((peer, kind, direction), mut t)| Row {
                peer,
                kind,
                direction,
                notices: t.notices,
                reply_required: t.reply_required,
                replied_on_time: t.replied_on_time,
                replied_late: t.replied_late,
                still_open: t.still_open,
                overdue_now: t.overdue_now,
                deadline_unknown: t.deadline_unknown,
                median_reply_ms: median(&mut t.reply_times),
            })
            .collect()
    }
}

/// The median; for an even count, the mean of the two middle values.
fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        values[mid - 1] + (values[mid] - values[mid - 1]) / 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use liaison_core::NoticeId;

    const DAY: i64 = 24 * 3600 * 1000;

    fn inbound(n: u8, received: i64, due: Option<i64>, answered: Option<i64>) -> InboundRecord {
        InboundRecord {
            id: NoticeId::new(u64::from(n), [n; 10]),
            sender: CountyCode::parse("610603").unwrap(),
            kind: NoticeKind::CaseNotice,
            urgent: false,
            issued_at_ms: received,
            in_reply_to: None,
            received_at_ms: received,
            envelope_sha256: [n; 32],
            reply_due_at_ms: due,
            deadline_error: None,
            answered_at_ms: answered,
            flagged: None,
        }
    }

    #[test]
    fn counts_on_time_late_open_and_overdue_with_the_median_reply_time() {
        let now = 100 * DAY;
        let mut report = Report::new(0, 90 * DAY, now);
        report.add_inbound(&inbound(1, DAY, Some(11 * DAY), Some(3 * DAY)));
        report.add_inbound(&inbound(2, DAY, Some(11 * DAY), Some(12 * DAY)));
        report.add_inbound(&inbound(3, 80 * DAY, Some(110 * DAY), None));
        report.add_inbound(&inbound(4, 2 * DAY, Some(12 * DAY), None));
        report.add_inbound(&inbound(5, 2 * DAY, Some(12 * DAY), Some(7 * DAY)));
        report.add_inbound(&inbound(6, 95 * DAY, Some(105 * DAY), None)); // outside the period
        let rows = report.rows();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.direction, Direction::Inbound);
        assert_eq!((row.notices, row.reply_required), (5, 5));
        assert_eq!(
            (
                row.replied_on_time,
                row.replied_late,
                row.still_open,
                row.overdue_now
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(
            row.median_reply_ms,
            Some(5 * DAY),
            "reply times 2, 5 and 11 days"
        );
    }

    #[test]
    fn notices_without_a_required_reply_are_counted_but_not_judged() {
        let mut report = Report::new(0, 10 * DAY, 20 * DAY);
        report.add_inbound(&inbound(1, DAY, None, None));
        let row = &report.rows()[0];
        assert_eq!(
            (row.notices, row.reply_required, row.overdue_now),
            (1, 0, 0)
        );
        assert_eq!(row.median_reply_ms, None);
    }

    #[test]
    fn a_required_reply_without_a_known_deadline_is_counted_as_unknown_not_as_free() {
        let mut report = Report::new(0, 10 * DAY, 20 * DAY);
        let mut r = inbound(1, DAY, None, None);
        r.deadline_error = Some("no working-day calendar for 2027".into());
        report.add_inbound(&r);
        let row = &report.rows()[0];
        assert_eq!(
            (row.notices, row.reply_required, row.deadline_unknown),
            (1, 1, 1)
        );
        assert_eq!(
            (
                row.replied_on_time,
                row.replied_late,
                row.still_open,
                row.overdue_now
            ),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2));
        assert_eq!(median(&mut [10, 20]), Some(15));
        assert_eq!(median(&mut []), None);
    }
}
