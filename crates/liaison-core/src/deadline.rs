//! Reply deadlines: which notices need a reply, by when, and where a notice stands against its deadline.
//!
//! Periods are counted in China Standard Time the way the Civil Code counts them (民法典 第二百零一条、
//! 第二百零三条): the day of receipt is not counted, a period ends at 24:00 of its last day, and a last day
//! that is a rest day or public holiday moves to the next working day. docs/deadlines.md has the rules
//! and worked examples; keep the two in step.

use std::collections::BTreeMap;
use std::fmt;

use liaison_proto::v1 as pb;
use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::NoticeKind;
use crate::calendar::{HolidayCalendar, NoCalendar};
use crate::clock::{cst_date, cst_midnight_ms};

/// A reply to a letter is due within 10 days of receipt (户籍地自接函起10日内复函).
pub const REPLY_DAYS: Period = Period::CalendarDays(10);
/// An urgent letter is due within 5 days of receipt (紧急事宜5日内复函).
pub const URGENT_REPLY_DAYS: Period = Period::CalendarDays(5);
/// An approval result is due within 15 working days (15个工作日内通报); urgency does not shorten it.
pub const APPROVAL_WORKING_DAYS: Period = Period::WorkingDays(15);
/// The rule for letters that need a reply: case notices, certificate queries, fee consultations and
/// contact letters.
pub const LETTER_RULE: ReplyRule = ReplyRule {
    normal: REPLY_DAYS,
    urgent: URGENT_REPLY_DAYS,
};
/// The rule for approval requests.
pub const APPROVAL_RULE: ReplyRule = ReplyRule {
    normal: APPROVAL_WORKING_DAYS,
    urgent: APPROVAL_WORKING_DAYS,
};
/// Longest period a policy accepts, in days of either sort: a year, so that a typo cannot set a
/// deadline decades away.
pub const MAX_PERIOD_DAYS: u32 = 366;
/// How long before its deadline a notice counts as due soon, by default: 2 days.
pub const DEFAULT_DUE_SOON_MS: i64 = 2 * MS_PER_DAY;

const MS_PER_DAY: i64 = 86_400_000;
/// China Standard Time is UTC+8, in milliseconds.
const CST_OFFSET_MS: i64 = 8 * 3_600_000;

/// How long the other side has to reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// N calendar days (日), moved to the next working day if the last one is a rest day or holiday.
    CalendarDays(u32),
    /// N working days (工作日): weekends and public holidays skipped, make-up working days counted.
    WorkingDays(u32),
}

/// A deadline that cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    #[error(
        "no working-day calendar for {year}, needed to tell whether {date} is a working day: add deploy/calendars/{year}.toml from the State Council's notice on the {year} holidays (see docs/deadlines.md)"
    )]
    NoCalendar { year: i32, date: Date },
    #[error("received-at time {received_at_ms} ms is outside the dates this node can count")]
    OutOfRange { received_at_ms: i64 },
}

/// A reply rule that a policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "{kind}: no kind of notice answers a {kind}, so a deadline for replying to it could never be met"
    )]
    NotAnswerable { kind: NoticeKind },
    #[error("{kind}: {which} period of {period} is out of range: give 1 to {MAX_PERIOD_DAYS} days")]
    PeriodOutOfRange {
        kind: NoticeKind,
        which: &'static str,
        period: Period,
    },
}

impl Period {
    /// The number of days, of whichever sort.
    pub fn days(self) -> u32 {
        match self {
            Self::CalendarDays(n) | Self::WorkingDays(n) => n,
        }
    }

    /// The last day of the period for a notice received on `receipt_day` (CST), which is not counted.
    ///
    /// Needs the calendar of every year it looks at; calendar days without the holiday extension need none.
    pub fn last_day(
        self,
        receipt_day: Date,
        holiday_extension: bool,
        calendar: &HolidayCalendar,
    ) -> Result<Date, DeadlineError> {
        let out_of_range = || DeadlineError::OutOfRange {
            received_at_ms: cst_midnight_ms(receipt_day),
        };
        let working = |date: Date| {
            calendar
                .is_working_day(date)
                .map_err(|NoCalendar { year }| DeadlineError::NoCalendar { year, date })
        };
        match self {
            Self::CalendarDays(n) => {
                let mut last = receipt_day
                    .checked_add(Duration::days(i64::from(n)))
                    .ok_or_else(out_of_range)?;
                // 第二百零三条: a last day that is a rest day or holiday gives way to the next working day.
                // Even a plain weekday needs the calendar here, since it may be an official day off.
                while holiday_extension && !working(last)? {
                    last = last.next_day().ok_or_else(out_of_range)?;
                }
                Ok(last)
            }
            Self::WorkingDays(n) => {
                let mut day = receipt_day;
                let mut counted = 0;
                while counted < n {
                    day = day.next_day().ok_or_else(out_of_range)?;
                    if working(day)? {
                        counted += 1;
                    }
                }
                Ok(day)
            }
        }
    }

    /// The deadline, as Unix ms, of a notice received at `received_at_ms`: 24:00 CST of the last day,
    /// that is 00:00 CST of the day after. A reply issued strictly before it is on time.
    pub fn due_at(
        self,
        received_at_ms: i64,
        holiday_extension: bool,
        calendar: &HolidayCalendar,
    ) -> Result<i64, DeadlineError> {
        let out_of_range = || DeadlineError::OutOfRange { received_at_ms };
        let receipt_day = cst_date(received_at_ms).ok_or_else(out_of_range)?;
        let last = self
            .last_day(receipt_day, holiday_extension, calendar)
            .map_err(|e| match e {
                DeadlineError::OutOfRange { .. } => out_of_range(),
                other => other,
            })?;
        let end = last.next_day().ok_or_else(out_of_range)?;
        Ok(cst_midnight_ms(end))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CalendarDays(1) => f.write_str("1 calendar day"),
            Self::CalendarDays(n) => write!(f, "{n} calendar days"),
            Self::WorkingDays(1) => f.write_str("1 working day"),
            Self::WorkingDays(n) => write!(f, "{n} working days"),
        }
    }
}

/// How long a reply to one kind of notice may take, for ordinary and for urgent notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplyRule {
    /// The period for a notice not marked urgent.
    pub normal: Period,
    /// The period for an urgent notice (紧急事宜).
    pub urgent: Period,
}

impl ReplyRule {
    /// The period that applies to a notice that is, or is not, urgent.
    pub fn period(self, urgent: bool) -> Period {
        if urgent { self.urgent } else { self.normal }
    }
}

/// One kind's reply rule as written in TOML: node.toml's `[deadlines.rules.<kind>]` and the
/// directory's `[counties.deadlines.rules.<kind>]` (docs/operations.md, docs/protocol.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDoc {
    /// `false`: no reply is required for this kind.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgent_days: Option<u32>,
    /// Count working days (工作日) instead of calendar days.
    #[serde(default, skip_serializing_if = "is_false")]
    pub working_days: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A county's deadline policy as written in TOML: the directive's limits, with the holiday
/// extension and the rules of the kinds named here replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holiday_extension: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, RuleDoc>,
}

impl PolicyDoc {
    /// The policy this text gives, or every problem with the path below it (`rules.<kind>.days`).
    pub fn to_policy(&self) -> Result<DuePolicy, Vec<(String, String)>> {
        let mut policy = DuePolicy::default();
        let mut problems = Vec::new();
        if let Some(on) = self.holiday_extension {
            policy.set_holiday_extension(on);
        }
        for (name, rule) in &self.rules {
            let at = format!("rules.{name}");
            let kind = match name.parse::<NoticeKind>() {
                Ok(kind) => kind,
                Err(e) => {
                    problems.push((at, e.to_string()));
                    continue;
                }
            };
            let rule = if rule.required {
                let Some(days) = rule.days else {
                    problems.push((
                        format!("{at}.days"),
                        "required unless `required = false`".into(),
                    ));
                    continue;
                };
                let period = |d: u32| {
                    if rule.working_days {
                        Period::WorkingDays(d)
                    } else {
                        Period::CalendarDays(d)
                    }
                };
                Some(ReplyRule {
                    normal: period(days),
                    urgent: period(rule.urgent_days.unwrap_or(days)),
                })
            } else {
                None
            };
            if let Err(e) = policy.set_rule(kind, rule) {
                problems.push((at, e.to_string()));
            }
        }
        if problems.is_empty() {
            Ok(policy)
        } else {
            Err(problems)
        }
    }
}

/// The kinds of notice that answer a notice of kind `original`, i.e. close its deadline.
pub fn answered_by(original: NoticeKind) -> Vec<NoticeKind> {
    NoticeKind::ALL
        .into_iter()
        .filter(|reply| reply.may_answer(original))
        .collect()
}

/// Which notices need a reply and how soon, and whether a deadline on a rest day moves on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePolicy {
    rules: BTreeMap<NoticeKind, ReplyRule>,
    holiday_extension: bool,
}

impl Default for DuePolicy {
    /// The directive's limits (see docs/deadlines.md), with the holiday extension on.
    fn default() -> Self {
        let rules = [
            (NoticeKind::CaseNotice, LETTER_RULE),
            (NoticeKind::CertificateQuery, LETTER_RULE),
            (NoticeKind::FeeConsultation, LETTER_RULE),
            (NoticeKind::ContactLetter, LETTER_RULE),
            (NoticeKind::ApprovalRequest, APPROVAL_RULE),
        ];
        Self {
            rules: rules.into_iter().collect(),
            holiday_extension: true,
        }
    }
}

impl DuePolicy {
    /// The rule for notices of `kind`, or `None` if they need no reply.
    pub fn rule(&self, kind: NoticeKind) -> Option<ReplyRule> {
        self.rules.get(&kind).copied()
    }

    /// Every kind that needs a reply, with its rule, in kind order.
    pub fn rules(&self) -> impl Iterator<Item = (NoticeKind, ReplyRule)> + '_ {
        self.rules.iter().map(|(k, r)| (*k, *r))
    }

    /// Sets or (with `None`) removes the rule for `kind`; refuses a kind no notice can answer and
    /// periods outside 1..=[`MAX_PERIOD_DAYS`].
    pub fn set_rule(
        &mut self,
        kind: NoticeKind,
        rule: Option<ReplyRule>,
    ) -> Result<(), PolicyError> {
        let Some(rule) = rule else {
            self.rules.remove(&kind);
            return Ok(());
        };
        if answered_by(kind).is_empty() {
            return Err(PolicyError::NotAnswerable { kind });
        }
        for (which, period) in [("normal", rule.normal), ("urgent", rule.urgent)] {
            if !(1..=MAX_PERIOD_DAYS).contains(&period.days()) {
                return Err(PolicyError::PeriodOutOfRange {
                    kind,
                    which,
                    period,
                });
            }
        }
        self.rules.insert(kind, rule);
        Ok(())
    }

    /// Whether a calendar-day deadline on a rest day or holiday moves to the next working day.
    pub fn holiday_extension(&self) -> bool {
        self.holiday_extension
    }

    /// Turns the holiday extension (第二百零三条) on or off.
    pub fn set_holiday_extension(&mut self, on: bool) {
        self.holiday_extension = on;
    }

    /// When a reply to a notice of `kind` received at `received_at_ms` is due, as Unix ms (24:00 CST of
    /// the last day); `None` if the kind needs no reply.
    pub fn due_at(
        &self,
        kind: NoticeKind,
        urgent: bool,
        received_at_ms: i64,
        calendar: &HolidayCalendar,
    ) -> Result<Option<i64>, DeadlineError> {
        let Some(rule) = self.rule(kind) else {
            return Ok(None);
        };
        rule.period(urgent)
            .due_at(received_at_ms, self.holiday_extension, calendar)
            .map(Some)
    }
}

/// Where a notice stands against its reply deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineState {
    /// A reply is due and the deadline is not near.
    Open,
    /// A reply is due and the deadline is near.
    DueSoon,
    /// No reply, and the deadline has passed.
    Overdue,
    /// Answered by a reply issued before the deadline.
    AnsweredOnTime,
    /// Answered by a reply issued at or after the deadline.
    AnsweredLate,
    /// The notice needs no reply.
    NoReplyRequired,
}

impl DeadlineState {
    /// Every state.
    pub const ALL: [DeadlineState; 6] = [
        Self::Open,
        Self::DueSoon,
        Self::Overdue,
        Self::AnsweredOnTime,
        Self::AnsweredLate,
        Self::NoReplyRequired,
    ];

    /// Parses [`DeadlineState::name`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The snake-case name used in listings and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::DueSoon => "due_soon",
            Self::Overdue => "overdue",
            Self::AnsweredOnTime => "answered_on_time",
            Self::AnsweredLate => "answered_late",
            Self::NoReplyRequired => "no_reply_required",
        }
    }

    /// The name clerks read (Chinese).
    pub fn chinese(self) -> &'static str {
        match self {
            Self::Open => "未到期",
            Self::DueSoon => "即将到期",
            Self::Overdue => "已超期",
            Self::AnsweredOnTime => "按期复函",
            Self::AnsweredLate => "超期复函",
            Self::NoReplyRequired => "无需复函",
        }
    }

    /// Whether the state can still change as time passes (open, due soon, overdue until answered).
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Open | Self::DueSoon | Self::Overdue)
    }
}

/// A notice's reply deadline as operators see it: a state, or unknown when a reply is needed but
/// no due time could be computed or was stated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadlineStatus {
    Known(DeadlineState),
    Unknown,
}

impl DeadlineStatus {
    /// The snake-case name used in listings and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Known(state) => state.name(),
            Self::Unknown => "unknown",
        }
    }

    /// The name clerks read (Chinese).
    pub fn chinese(self) -> &'static str {
        match self {
            Self::Known(state) => state.chinese(),
            Self::Unknown => "期限未知",
        }
    }

    /// The admin API's enum value.
    pub fn to_wire(self) -> pb::DeadlineState {
        match self {
            Self::Known(DeadlineState::Open) => pb::DeadlineState::Open,
            Self::Known(DeadlineState::DueSoon) => pb::DeadlineState::DueSoon,
            Self::Known(DeadlineState::Overdue) => pb::DeadlineState::Overdue,
            Self::Known(DeadlineState::AnsweredOnTime) => pb::DeadlineState::AnsweredOnTime,
            Self::Known(DeadlineState::AnsweredLate) => pb::DeadlineState::AnsweredLate,
            Self::Known(DeadlineState::NoReplyRequired) => pb::DeadlineState::NoReplyRequired,
            Self::Unknown => pb::DeadlineState::Unknown,
        }
    }

    /// Converts the admin API's enum; `None` for unspecified (no deadline clock yet) or unknown
    /// values.
    pub fn from_wire(value: i32) -> Option<Self> {
        Some(match pb::DeadlineState::try_from(value).ok()? {
            pb::DeadlineState::Unspecified => return None,
            pb::DeadlineState::Open => Self::Known(DeadlineState::Open),
            pb::DeadlineState::DueSoon => Self::Known(DeadlineState::DueSoon),
            pb::DeadlineState::Overdue => Self::Known(DeadlineState::Overdue),
            pb::DeadlineState::AnsweredOnTime => Self::Known(DeadlineState::AnsweredOnTime),
            pb::DeadlineState::AnsweredLate => Self::Known(DeadlineState::AnsweredLate),
            pb::DeadlineState::NoReplyRequired => Self::Known(DeadlineState::NoReplyRequired),
            pb::DeadlineState::Unknown => Self::Unknown,
        })
    }
}

impl fmt::Display for DeadlineStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for DeadlineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The state of a notice due at `due_at_ms` (`None`: no reply required), answered by a reply whose
/// time is `answered_at_ms` (see [`crate::cosign::reply_time`]), seen at `now_ms`; due soon within
/// `due_soon_ms` of the deadline.
pub fn deadline_state(
    due_at_ms: Option<i64>,
    answered_at_ms: Option<i64>,
    now_ms: i64,
    due_soon_ms: i64,
) -> DeadlineState {
    let Some(due) = due_at_ms else {
        return DeadlineState::NoReplyRequired;
    };
    match answered_at_ms {
        Some(answered) if answered < due => DeadlineState::AnsweredOnTime,
        Some(_) => DeadlineState::AnsweredLate,
        None if now_ms >= due => DeadlineState::Overdue,
        None if now_ms >= due.saturating_sub(due_soon_ms) => DeadlineState::DueSoon,
        None => DeadlineState::Open,
    }
}

/// Calendar days (CST) from today to the last day of a deadline: 0 on the last day itself, negative once
/// it has passed. For a due time at CST midnight, as [`Period::due_at`] gives, negative iff overdue.
pub fn days_left(due_at_ms: i64, now_ms: i64) -> i64 {
    // Integer day numbers rather than `time::Date`, so that no input is out of range.
    let cst_day = |ms: i64| ms.saturating_add(CST_OFFSET_MS).div_euclid(MS_PER_DAY);
    cst_day(due_at_ms.saturating_sub(1)) - cst_day(now_ms)
}

#[cfg(test)]
mod tests {

    #[test]
    fn every_deadline_status_crosses_the_admin_api_and_back() {
        let all = DeadlineState::ALL
            .into_iter()
            .map(DeadlineStatus::Known)
            .chain([DeadlineStatus::Unknown]);
        for status in all {
            assert_eq!(
                DeadlineStatus::from_wire(status.to_wire() as i32),
                Some(status)
            );
            assert!(!status.chinese().is_empty());
        }
        assert_eq!(DeadlineStatus::from_wire(0), None, "no clock yet");
    }
    use super::*;
    use time::macros::{date, datetime};
    use time::{PrimitiveDateTime, Weekday};

    use crate::clock::CST;

    /// Unix ms of a wall-clock time in China.
    fn cst(t: PrimitiveDateTime) -> i64 {
        (t.assume_offset(CST).unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// Unix ms of 24:00 CST at the end of `last_day`.
    fn end_of(last_day: Date) -> i64 {
        cst_midnight_ms(last_day.next_day().unwrap())
    }

    fn due(kind: NoticeKind, urgent: bool, received: PrimitiveDateTime) -> i64 {
        DuePolicy::default()
            .due_at(kind, urgent, cst(received), &HolidayCalendar::builtin())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn default_policy_matches_the_directive() {
        let policy = DuePolicy::default();
        for kind in [
            NoticeKind::CaseNotice,
            NoticeKind::CertificateQuery,
            NoticeKind::FeeConsultation,
            NoticeKind::ContactLetter,
        ] {
            assert_eq!(
                policy.rule(kind),
                Some(ReplyRule {
                    normal: Period::CalendarDays(10),
                    urgent: Period::CalendarDays(5)
                }),
                "{kind}"
            );
        }
        assert_eq!(
            policy.rule(NoticeKind::ApprovalRequest),
            Some(ReplyRule {
                normal: Period::WorkingDays(15),
                urgent: Period::WorkingDays(15)
            })
        );
        assert_eq!(policy.rules().count(), 5);
        for (kind, _) in policy.rules() {
            assert!(
                !answered_by(kind).is_empty(),
                "{kind} has a rule no reply can meet"
            );
        }
        assert!(policy.holiday_extension());
    }

    #[test]
    fn replies_close_the_kinds_they_answer() {
        assert_eq!(
            answered_by(NoticeKind::CaseNotice),
            [NoticeKind::ReplyLetter]
        );
        assert_eq!(
            answered_by(NoticeKind::ApprovalRequest),
            [NoticeKind::ApprovalResult]
        );
        assert!(answered_by(NoticeKind::Bulletin).is_empty());
    }

    #[test]
    fn kinds_without_a_rule_need_no_reply() {
        let calendar = HolidayCalendar::builtin();
        let received = cst(datetime!(2026-03-02 10:00));
        for kind in [
            NoticeKind::Bulletin,
            NoticeKind::ContraceptionReport,
            NoticeKind::Reminder,
            NoticeKind::ReplyLetter,
            NoticeKind::ApprovalResult,
        ] {
            assert_eq!(
                DuePolicy::default().due_at(kind, false, received, &calendar),
                Ok(None),
                "{kind}"
            );
        }
    }

    #[test]
    fn receipt_just_before_midnight_cst_counts_from_that_day() {
        // 2026-03-02 23:59:59 CST is 15:59:59 UTC the same day. Mar 2 is not counted: day 10 is
        // Thu Mar 12, so the reply is due at 24:00 Mar 12 CST = 2026-03-12 16:00 UTC.
        let received = cst(datetime!(2026-03-02 23:59:59));
        assert_eq!(received, 1_772_467_199_000);
        let due_at = due(
            NoticeKind::CaseNotice,
            false,
            datetime!(2026-03-02 23:59:59),
        );
        assert_eq!(due_at, end_of(date!(2026 - 03 - 12)));
        assert_eq!(due_at, 1_773_331_200_000);
    }

    #[test]
    fn receipt_just_after_midnight_cst_counts_from_the_next_day() {
        // 2026-03-03 00:00:01 CST is still 2026-03-02 (16:00:01) in UTC, but in China it is Mar 3:
        // Mar 3 is not counted, day 10 is Fri Mar 13, due at 24:00 Mar 13 CST.
        let received = cst(datetime!(2026-03-03 00:00:01));
        assert_eq!(received, 1_772_467_201_000);
        let due_at = due(
            NoticeKind::CaseNotice,
            false,
            datetime!(2026-03-03 00:00:01),
        );
        assert_eq!(due_at, end_of(date!(2026 - 03 - 13)));
        assert_eq!(due_at, 1_773_417_600_000);
    }

    #[test]
    fn last_day_on_saturday_moves_to_monday() {
        // Received Wed 2026-03-04; day 10 is Sat Mar 14, a rest day: the period ends 24:00 Mon Mar 16.
        assert_eq!(date!(2026 - 03 - 14).weekday(), Weekday::Saturday);
        let due_at = due(
            NoticeKind::ContactLetter,
            false,
            datetime!(2026-03-04 09:30),
        );
        assert_eq!(due_at, end_of(date!(2026 - 03 - 16)));
    }

    #[test]
    fn without_holiday_extension_saturday_stays() {
        let mut policy = DuePolicy::default();
        policy.set_holiday_extension(false);
        let due_at = policy
            .due_at(
                NoticeKind::ContactLetter,
                false,
                cst(datetime!(2026-03-04 09:30)),
                &HolidayCalendar::builtin(),
            )
            .unwrap();
        assert_eq!(due_at, Some(end_of(date!(2026 - 03 - 14))));
    }

    #[test]
    fn last_day_on_a_make_up_saturday_is_not_moved() {
        // Received Wed 2026-02-04; day 10 is Sat Feb 14, an official make-up working day (调休上班).
        let due_at = due(NoticeKind::CaseNotice, false, datetime!(2026-02-04 15:00));
        assert_eq!(due_at, end_of(date!(2026 - 02 - 14)));
    }

    #[test]
    fn last_day_in_national_day_2026_moves_past_the_holiday() {
        // Received Wed 2026-09-23; day 10 is Sat Oct 3, inside National Day (Oct 1-7 off).
        // The first working day after it is Thu Oct 8.
        let due_at = due(NoticeKind::CaseNotice, false, datetime!(2026-09-23 11:00));
        assert_eq!(due_at, end_of(date!(2026 - 10 - 08)));
    }

    #[test]
    fn last_day_in_national_day_2025_moves_past_the_holiday() {
        // Received Fri 2025-09-26; day 10 is Mon Oct 6, inside National Day and Mid-Autumn (Oct 1-8
        // off). The first working day after it is Thu Oct 9.
        let due_at = due(
            NoticeKind::CertificateQuery,
            false,
            datetime!(2025-09-26 16:45),
        );
        assert_eq!(due_at, end_of(date!(2025 - 10 - 09)));
    }

    #[test]
    fn urgent_letter_is_due_in_five_days() {
        // Received Mon 2026-03-09 urgent; day 5 is Sat Mar 14 -> Mon Mar 16. Not urgent: Thu Mar 19.
        let urgent = due(
            NoticeKind::FeeConsultation,
            true,
            datetime!(2026-03-09 08:00),
        );
        assert_eq!(urgent, end_of(date!(2026 - 03 - 16)));
        let normal = due(
            NoticeKind::FeeConsultation,
            false,
            datetime!(2026-03-09 08:00),
        );
        assert_eq!(normal, end_of(date!(2026 - 03 - 19)));
    }

    #[test]
    fn urgent_letter_ending_on_qingming_moves_past_it() {
        // Received Wed 2026-04-01 urgent; day 5 is Mon Apr 6, the last day of Qingming (Apr 4-6 off):
        // due 24:00 Tue Apr 7.
        let due_at = due(NoticeKind::CaseNotice, true, datetime!(2026-04-01 10:00));
        assert_eq!(due_at, end_of(date!(2026 - 04 - 07)));
    }

    #[test]
    fn fifteen_working_days_across_spring_festival_2026() {
        // Received Tue 2026-02-10 (not counted). Working days:
        //  1 Wed Feb 11, 2 Thu Feb 12, 3 Fri Feb 13, 4 Sat Feb 14 (make-up working day),
        //  Feb 15-23 off (Spring Festival),
        //  5 Tue Feb 24, 6 Wed Feb 25, 7 Thu Feb 26, 8 Fri Feb 27, 9 Sat Feb 28 (make-up working day),
        //  Sun Mar 1 rest, 10 Mon Mar 2, 11 Tue Mar 3, 12 Wed Mar 4, 13 Thu Mar 5, 14 Fri Mar 6,
        //  Sat-Sun Mar 7-8 rest, 15 Mon Mar 9. Due at 24:00 Mar 9 CST.
        let due_at = due(
            NoticeKind::ApprovalRequest,
            false,
            datetime!(2026-02-10 14:00),
        );
        assert_eq!(due_at, end_of(date!(2026 - 03 - 09)));
        // Urgency does not shorten the approval limit.
        let urgent = due(
            NoticeKind::ApprovalRequest,
            true,
            datetime!(2026-02-10 14:00),
        );
        assert_eq!(urgent, due_at);
    }

    #[test]
    fn fifteen_working_days_across_national_day_2026() {
        // Received Fri 2026-09-18 (not counted). Sat Sep 19 rest; working days:
        //  1 Sun Sep 20 (make-up), 2 Mon Sep 21, 3 Tue Sep 22, 4 Wed Sep 23, 5 Thu Sep 24,
        //  Sep 25-27 off (Mid-Autumn), 6 Mon Sep 28, 7 Tue Sep 29, 8 Wed Sep 30,
        //  Oct 1-7 off (National Day), 9 Thu Oct 8, 10 Fri Oct 9, 11 Sat Oct 10 (make-up),
        //  Sun Oct 11 rest, 12 Mon Oct 12, 13 Tue Oct 13, 14 Wed Oct 14, 15 Thu Oct 15.
        let due_at = due(
            NoticeKind::ApprovalRequest,
            false,
            datetime!(2026-09-18 17:00),
        );
        assert_eq!(due_at, end_of(date!(2026 - 10 - 15)));
    }

    #[test]
    fn working_days_into_a_year_without_calendar_is_an_error() {
        // From Sun 2026-12-20 there are only 9 working days left in 2026 (Dec 21-25, 28-31);
        // the 10th would be in 2027, which has no calendar yet.
        let err = DuePolicy::default()
            .due_at(
                NoticeKind::ApprovalRequest,
                false,
                cst(datetime!(2026-12-20 10:00)),
                &HolidayCalendar::builtin(),
            )
            .unwrap_err();
        assert_eq!(
            err,
            DeadlineError::NoCalendar {
                year: 2027,
                date: date!(2027 - 01 - 01)
            }
        );
        let message = err.to_string();
        assert!(
            message.contains("no working-day calendar for 2027"),
            "{message}"
        );
        assert!(message.contains("deploy/calendars/2027.toml"), "{message}");
    }

    #[test]
    fn calendar_days_ending_on_a_weekday_of_an_unknown_year_need_its_calendar() {
        // Received Fri 2026-12-25; day 10 is Mon 2027-01-04. A Monday may still be an official day off
        // (or the last day of New Year's), so with the holiday extension this needs 2027's calendar.
        let received = cst(datetime!(2026-12-25 10:00));
        let calendar = HolidayCalendar::builtin();
        let mut policy = DuePolicy::default();
        assert_eq!(
            policy.due_at(NoticeKind::CaseNotice, false, received, &calendar),
            Err(DeadlineError::NoCalendar {
                year: 2027,
                date: date!(2027 - 01 - 04)
            })
        );
        // Without the extension the last day is what it is, and no calendar is consulted.
        policy.set_holiday_extension(false);
        assert_eq!(
            policy.due_at(NoticeKind::CaseNotice, false, received, &calendar),
            Ok(Some(end_of(date!(2027 - 01 - 04))))
        );
        assert_eq!(
            policy.due_at(
                NoticeKind::CaseNotice,
                false,
                received,
                &HolidayCalendar::new()
            ),
            Ok(Some(end_of(date!(2027 - 01 - 04))))
        );
    }

    #[test]
    fn out_of_range_receipt_is_an_error() {
        let err = Period::CalendarDays(10)
            .due_at(i64::MAX, false, &HolidayCalendar::new())
            .unwrap_err();
        assert_eq!(
            err,
            DeadlineError::OutOfRange {
                received_at_ms: i64::MAX
            }
        );
    }

    #[test]
    fn rules_may_be_overridden_per_kind() {
        let mut policy = DuePolicy::default();
        let weekly = ReplyRule {
            normal: Period::WorkingDays(5),
            urgent: Period::WorkingDays(2),
        };
        policy
            .set_rule(NoticeKind::CertificateQuery, Some(weekly))
            .unwrap();
        assert_eq!(policy.rule(NoticeKind::CertificateQuery), Some(weekly));
        policy.set_rule(NoticeKind::ContactLetter, None).unwrap();
        assert_eq!(policy.rule(NoticeKind::ContactLetter), None);
        assert_eq!(
            policy.due_at(NoticeKind::ContactLetter, false, 0, &HolidayCalendar::new()),
            Ok(None)
        );
    }

    #[test]
    fn rule_no_reply_can_meet_is_refused() {
        let mut policy = DuePolicy::default();
        assert_eq!(
            policy.set_rule(NoticeKind::Bulletin, Some(LETTER_RULE)),
            Err(PolicyError::NotAnswerable {
                kind: NoticeKind::Bulletin
            })
        );
        assert_eq!(policy.rule(NoticeKind::Bulletin), None);
    }

    #[test]
    fn zero_or_huge_period_is_refused() {
        let mut policy = DuePolicy::default();
        let zero = ReplyRule {
            normal: Period::CalendarDays(10),
            urgent: Period::CalendarDays(0),
        };
        let err = policy
            .set_rule(NoticeKind::CaseNotice, Some(zero))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "case_notice: urgent period of 0 calendar days is out of range: give 1 to 366 days"
        );
        let huge = ReplyRule {
            normal: Period::WorkingDays(367),
            urgent: Period::WorkingDays(5),
        };
        assert!(matches!(
            policy.set_rule(NoticeKind::CaseNotice, Some(huge)),
            Err(PolicyError::PeriodOutOfRange {
                which: "normal",
                ..
            })
        ));
        assert_eq!(policy.rule(NoticeKind::CaseNotice), Some(LETTER_RULE));
    }

    #[test]
    fn period_and_state_serialize_in_snake_case() {
        assert_eq!(
            serde_json::to_string(&Period::WorkingDays(15)).unwrap(),
            r#"{"working_days":15}"#
        );
        assert_eq!(
            serde_json::to_string(&DeadlineState::AnsweredOnTime).unwrap(),
            r#""answered_on_time""#
        );
        assert_eq!(DeadlineState::DueSoon.to_string(), "due_soon");
        assert_eq!(Period::CalendarDays(10).to_string(), "10 calendar days");
    }

    const DUE: i64 = 1_773_417_600_000; // 24:00 2026-03-13 CST
    const HOUR: i64 = 3_600_000;

    #[test]
    fn state_without_deadline_is_no_reply_required() {
        let state = |answered| deadline_state(None, answered, DUE, DEFAULT_DUE_SOON_MS);
        assert_eq!(state(None), DeadlineState::NoReplyRequired);
        assert_eq!(state(Some(DUE)), DeadlineState::NoReplyRequired);
    }

    #[test]
    fn state_moves_open_then_due_soon_then_overdue() {
        let state = |now| deadline_state(Some(DUE), None, now, DEFAULT_DUE_SOON_MS);
        assert_eq!(state(DUE - DEFAULT_DUE_SOON_MS - 1), DeadlineState::Open);
        assert_eq!(state(DUE - DEFAULT_DUE_SOON_MS), DeadlineState::DueSoon);
        assert_eq!(state(DUE - 1), DeadlineState::DueSoon);
        assert_eq!(state(DUE), DeadlineState::Overdue);
        assert_eq!(state(DUE + 30 * 24 * HOUR), DeadlineState::Overdue);
        // No due-soon window: straight from open to overdue.
        assert_eq!(
            deadline_state(Some(DUE), None, DUE - 1, 0),
            DeadlineState::Open
        );
    }

    #[test]
    fn reply_before_the_deadline_is_on_time_at_it_late() {
        // The reply's time decides, whenever it is looked at.
        for now in [DUE - 5 * HOUR, DUE, DUE + 100 * HOUR] {
            let state =
                |answered| deadline_state(Some(DUE), Some(answered), now, DEFAULT_DUE_SOON_MS);
            assert_eq!(state(DUE - 1), DeadlineState::AnsweredOnTime);
            assert_eq!(state(DUE - 3 * 24 * HOUR), DeadlineState::AnsweredOnTime);
            assert_eq!(state(DUE), DeadlineState::AnsweredLate);
            assert_eq!(state(DUE + HOUR), DeadlineState::AnsweredLate);
        }
        assert!(!DeadlineState::AnsweredLate.is_pending());
        assert!(DeadlineState::Overdue.is_pending());
    }

    #[test]
    fn days_left_counts_cst_calendar_days_to_the_last_day() {
        // DUE is 24:00 Fri 2026-03-13 CST: the last day is Mar 13.
        assert_eq!(days_left(DUE, cst(datetime!(2026-03-03 00:00:01))), 10);
        assert_eq!(days_left(DUE, cst(datetime!(2026-03-12 23:59:59))), 1);
        assert_eq!(days_left(DUE, cst(datetime!(2026-03-13 00:00))), 0);
        assert_eq!(days_left(DUE, DUE - 1), 0);
        assert_eq!(days_left(DUE, DUE), -1);
        assert_eq!(days_left(DUE, cst(datetime!(2026-03-16 09:00))), -3);
        // 2026-03-12 16:30 UTC is already 00:30 Mar 13 in China: due today, not tomorrow.
        assert_eq!(days_left(DUE, 1_773_333_000_000), 0);
        // Extremes do not overflow.
        assert!(days_left(i64::MIN, i64::MAX) < 0);
        assert!(days_left(i64::MAX, i64::MIN) > 0);
    }
}
