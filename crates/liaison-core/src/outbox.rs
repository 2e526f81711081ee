//! The life of a notice in the outbox: queued → in flight → delivered, rejected or cancelled.
//!
//! [`Delivery`] holds, in each state, exactly what that state means: the attempts and next
//! attempt of a pending notice, the receipt time of a delivered one, the code and reason of a
//! rejection. Its transitions are pure: the caller passes the receipt, the failure and the time,
//! and stores the state that comes back.
//!
//! Two races are decided here, once:
//! - a signed receipt that arrives for a notice the operator cancelled meanwhile wins: the peer
//!   holds the notice and signed for it, so the notice is delivered (or rejected), not cancelled;
//! - a failed attempt that ends after the operator asked for a retry sets the next attempt from
//!   its own back-off, and a receipt that ends it delivers the notice.

use std::fmt;
use std::time::Duration;

use liaison_proto::v1 as pb;

use crate::receipt::{Outcome, Receipt};
use crate::reject::RejectCode;

/// Where an outbound notice is in its delivery, without the details (see [`Delivery`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboundStatus {
    /// Durable in the outbox, not yet tried.
    Queued,
    /// Tried at least once without a receipt; will be tried again.
    InFlight,
    /// The recipient returned a signed receipt that accepts it.
    Delivered,
    /// The recipient returned a signed rejection; final.
    Rejected,
    /// The operator stopped it before it was delivered.
    Cancelled,
}

impl OutboundStatus {
    /// Every status.
    pub const ALL: [OutboundStatus; 5] = [
        Self::Queued,
        Self::InFlight,
        Self::Delivered,
        Self::Rejected,
        Self::Cancelled,
    ];

    /// The snake-case name used in listings, JSON and the store.
    pub fn name(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::InFlight => "in_flight",
            Self::Delivered => "delivered",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    /// The name clerks read (Chinese).
    pub fn chinese(self) -> &'static str {
        match self {
            Self::Queued => "排队待发",
            Self::InFlight => "发送中",
            Self::Delivered => "已送达",
            Self::Rejected => "被拒收",
            Self::Cancelled => "已撤销",
        }
    }

    /// Parses [`OutboundStatus::name`].
    pub fn parse(text: &str) -> Result<Self, UnknownStatus> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or_else(|| UnknownStatus(text.to_owned()))
    }

    /// Whether delivery is still to be attempted.
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Queued | Self::InFlight)
    }
}

/// A name that is none of the outbound statuses'; it says which names there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStatus(pub String);

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = OutboundStatus::ALL.iter().map(|s| s.name()).collect();
        write!(f, "{:?} is not one of {}", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownStatus {}

impl fmt::Display for OutboundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A notice's status as operators see it: where a sent one is in its delivery, or received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeStatus {
    Outbound(OutboundStatus),
    /// Received and accepted into the inbox.
    Received,
}

impl NoticeStatus {
    /// The snake-case name used in listings and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Outbound(status) => status.name(),
            Self::Received => "received",
        }
    }

    /// The name clerks read (Chinese).
    pub fn chinese(self) -> &'static str {
        match self {
            Self::Outbound(status) => status.chinese(),
            Self::Received => "已收到",
        }
    }

    /// The admin API's enum value.
    pub fn to_wire(self) -> pb::NoticeStatus {
        match self {
            Self::Outbound(OutboundStatus::Queued) => pb::NoticeStatus::Queued,
            Self::Outbound(OutboundStatus::InFlight) => pb::NoticeStatus::InFlight,
            Self::Outbound(OutboundStatus::Delivered) => pb::NoticeStatus::Delivered,
            Self::Outbound(OutboundStatus::Rejected) => pb::NoticeStatus::Rejected,
            Self::Outbound(OutboundStatus::Cancelled) => pb::NoticeStatus::Cancelled,
            Self::Received => pb::NoticeStatus::Received,
        }
    }

    /// Converts the admin API's enum; `None` for unspecified or unknown values.
    pub fn from_wire(value: i32) -> Option<Self> {
        Some(match pb::NoticeStatus::try_from(value).ok()? {
            pb::NoticeStatus::Unspecified => return None,
            pb::NoticeStatus::Queued => Self::Outbound(OutboundStatus::Queued),
            pb::NoticeStatus::InFlight => Self::Outbound(OutboundStatus::InFlight),
            pb::NoticeStatus::Delivered => Self::Outbound(OutboundStatus::Delivered),
            pb::NoticeStatus::Rejected => Self::Outbound(OutboundStatus::Rejected),
            pb::NoticeStatus::Cancelled => Self::Outbound(OutboundStatus::Cancelled),
            pb::NoticeStatus::Received => Self::Received,
        })
    }
}

impl fmt::Display for NoticeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The delivery state of an outbound notice, with what each state means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Durable in the outbox, not yet tried.
    Queued,
    /// Tried without a receipt; tried again from `next_attempt_at_ms` (Unix ms; 0 for at once).
    InFlight {
        attempts: u32,
        last_error: String,
        next_attempt_at_ms: i64,
    },
    /// The recipient's signed receipt accepts it.
    Delivered {
        attempts: u32,
        /// When the recipient stored it, as its receipt says.
        received_at_ms: i64,
        /// The reply deadline the recipient's receipt states, if the notice needs a reply.
        reply_due_at_ms: Option<i64>,
    },
    /// The recipient's signed receipt refuses it; final.
    Rejected {
        attempts: u32,
        received_at_ms: i64,
        code: RejectCode,
        reason: String,
    },
    /// The operator stopped it before any receipt came.
    Cancelled {
        attempts: u32,
        /// The error of the last failed attempt before the cancellation, if any.
        last_error: Option<String>,
    },
}

/// What the operator asked that a notice's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is {status}; only queued or in-flight notices can be {action}")]
pub struct Refused {
    pub status: OutboundStatus,
    pub action: Action,
}

/// An operator's action on an outbound notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Retry,
    Cancel,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Retry => "retried",
            Self::Cancel => "cancelled",
        })
    }
}

impl Delivery {
    /// The state's name.
    pub fn status(&self) -> OutboundStatus {
        match self {
            Self::Queued => OutboundStatus::Queued,
            Self::InFlight { .. } => OutboundStatus::InFlight,
            Self::Delivered { .. } => OutboundStatus::Delivered,
            Self::Rejected { .. } => OutboundStatus::Rejected,
            Self::Cancelled { .. } => OutboundStatus::Cancelled,
        }
    }

    /// How many delivery attempts ended, with or without a receipt.
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Queued => 0,
            Self::InFlight { attempts, .. }
            | Self::Delivered { attempts, .. }
            | Self::Rejected { attempts, .. }
            | Self::Cancelled { attempts, .. } => *attempts,
        }
    }

    /// The error of the last failed attempt, while it is the latest news of the notice.
    pub fn last_error(&self) -> Option<&str> {
        match self {
            Self::InFlight { last_error, .. } => Some(last_error),
            Self::Cancelled { last_error, .. } => last_error.as_deref(),
            _ => None,
        }
    }

    /// When a pending notice may next be tried (0 for at once); `None` once it is not pending.
    pub fn next_attempt_at_ms(&self) -> Option<i64> {
        match self {
            Self::Queued => Some(0),
            Self::InFlight {
                next_attempt_at_ms, ..
            } => Some(*next_attempt_at_ms),
            _ => None,
        }
    }

    /// When the recipient stored it, from its signed receipt (accepting or refusing).
    pub fn receipt_at_ms(&self) -> Option<i64> {
        match self {
            Self::Delivered { received_at_ms, .. } | Self::Rejected { received_at_ms, .. } => {
                Some(*received_at_ms)
            }
            _ => None,
        }
    }

    /// The reply deadline from the recipient's receipt of a delivered notice.
    pub fn reply_due_at_ms(&self) -> Option<i64> {
        match self {
            Self::Delivered {
                reply_due_at_ms, ..
            } => *reply_due_at_ms,
            _ => None,
        }
    }

    /// The code and reason of the recipient's rejection.
    pub fn rejection(&self) -> Option<(RejectCode, &str)> {
        match self {
            Self::Rejected { code, reason, .. } => Some((*code, reason)),
            _ => None,
        }
    }

    /// A signed receipt for the notice came back. It decides the notice for good, even one the
    /// operator cancelled meanwhile; a notice that already has its receipt keeps it (a peer
    /// answers a redelivery with the same receipt).
    pub fn on_receipt(&self, receipt: &Receipt) -> Delivery {
        let attempts = match self {
            Self::Delivered { .. } | Self::Rejected { .. } => return self.clone(),
            other => other.attempts().saturating_add(1),
        };
        match &receipt.outcome {
            Outcome::Accepted => Self::Delivered {
                attempts,
                received_at_ms: receipt.received_at_ms,
                reply_due_at_ms: receipt.reply_due_at_ms,
            },
            Outcome::Rejected(rejection) => Self::Rejected {
                attempts,
                received_at_ms: receipt.received_at_ms,
                code: rejection.code,
                reason: rejection.reason.clone(),
            },
        }
    }

    /// An attempt ended at `now_ms` without a receipt; the next starts `retry_in` later. A notice
    /// that is no longer pending (cancelled meanwhile, or decided by another attempt's receipt)
    /// does not change.
    pub fn on_failure(
        &self,
        error: impl Into<String>,
        now_ms: i64,
        retry_in: Duration,
    ) -> Delivery {
        if !self.status().is_pending() {
            return self.clone();
        }
        let retry_in_ms = i64::try_from(retry_in.as_millis()).unwrap_or(i64::MAX);
        Self::InFlight {
            attempts: self.attempts().saturating_add(1),
            last_error: error.into(),
            next_attempt_at_ms: now_ms.saturating_add(retry_in_ms),
        }
    }

    /// The operator asks to try a pending notice again at once.
    pub fn retry(&self) -> Result<Delivery, Refused> {
        match self {
            Self::Queued => Ok(Self::Queued),
            Self::InFlight {
                attempts,
                last_error,
                ..
            } => Ok(Self::InFlight {
                attempts: *attempts,
                last_error: last_error.clone(),
                next_attempt_at_ms: 0,
            }),
            other => Err(Refused {
                status: other.status(),
                action: Action::Retry,
            }),
        }
    }

    /// The operator stops a pending notice.
    pub fn cancel(&self) -> Result<Delivery, Refused> {
        match self {
            Self::Queued | Self::InFlight { .. } => Ok(Self::Cancelled {
                attempts: self.attempts(),
                last_error: self.last_error().map(str::to_owned),
            }),
            other => Err(Refused {
                status: other.status(),
                action: Action::Cancel,
            }),
        }
    }
}

/// How long to wait before retrying a peer that failed: doubling from `initial`, capped at
/// `max`, with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay before retry number `failures` (1 for the first retry): doubling from
    /// `initial`, capped at `max`, then "full jitter" between half and the whole of it, where
    /// `unit` in [0, 1] picks the point.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        let capped = exp.min(self.max);
        capped.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::county::CountyCode;
    use crate::notice::KeyId;
    use crate::reject::Rejection;

    const NOW: i64 = 1_780_000_000_000;

    fn receipt(outcome: Outcome) -> Receipt {
        Receipt {
            notice_id: None,
            envelope_sha256: [7; 32],
            recipient: CountyCode::parse("410102").unwrap(),
            sender: None,
            received_at_ms: NOW + 5,
            outcome,
            reply_due_at_ms: Some(NOW + 86_400_000),
            key_id: KeyId::parse("0101010101010101").unwrap(),
            checkpoint: None,
            existed_by_ms: None,
        }
    }

    fn accepted() -> Receipt {
        receipt(Outcome::Accepted)
    }

    fn refused() -> Receipt {
        receipt(Outcome::Rejected(Rejection {
            code: RejectCode::UnknownSender,
            reason: "no such county".into(),
        }))
    }

    fn in_flight(attempts: u32) -> Delivery {
        Delivery::InFlight {
            attempts,
            last_error: "peer unavailable".into(),
            next_attempt_at_ms: NOW + 1_000,
        }
    }

    fn failed_once() -> Delivery {
        Delivery::Queued.on_failure("peer unavailable", NOW, Duration::from_secs(2))
    }

    #[test]
    fn a_failed_attempt_counts_and_schedules_the_next_from_the_given_time() {
        assert_eq!(
            failed_once(),
            Delivery::InFlight {
                attempts: 1,
                last_error: "peer unavailable".into(),
                next_attempt_at_ms: NOW + 2_000,
            }
        );
        let twice = failed_once().on_failure("timed out", NOW + 3_000, Duration::from_secs(4));
        assert_eq!(twice.attempts(), 2);
        assert_eq!(twice.last_error(), Some("timed out"));
        assert_eq!(twice.next_attempt_at_ms(), Some(NOW + 7_000));
    }

    #[test]
    fn an_accepting_receipt_delivers_with_its_time_and_due_date() {
        let delivered = failed_once().on_receipt(&accepted());
        assert_eq!(
            delivered,
            Delivery::Delivered {
                attempts: 2,
                received_at_ms: NOW + 5,
                reply_due_at_ms: Some(NOW + 86_400_000),
            }
        );
        assert_eq!(delivered.last_error(), None);
        assert_eq!(delivered.next_attempt_at_ms(), None);
        assert_eq!(delivered.receipt_at_ms(), Some(NOW + 5));
    }

    #[test]
    fn a_refusing_receipt_rejects_with_its_code_and_reason_and_no_due_date() {
        let rejected = Delivery::Queued.on_receipt(&refused());
        assert_eq!(rejected.status(), OutboundStatus::Rejected);
        assert_eq!(rejected.attempts(), 1);
        assert_eq!(
            rejected.rejection(),
            Some((RejectCode::UnknownSender, "no such county"))
        );
        assert_eq!(rejected.reply_due_at_ms(), None);
        assert_eq!(rejected.receipt_at_ms(), Some(NOW + 5));
    }

    #[test]
    fn a_second_receipt_for_a_decided_notice_changes_nothing() {
        let delivered = Delivery::Queued.on_receipt(&accepted());
        assert_eq!(delivered.on_receipt(&refused()), delivered);
        let rejected = Delivery::Queued.on_receipt(&refused());
        assert_eq!(rejected.on_receipt(&accepted()), rejected);
    }

    #[test]
    fn a_failure_after_the_notice_was_decided_or_cancelled_changes_nothing() {
        for decided in [
            Delivery::Queued.on_receipt(&accepted()),
            Delivery::Queued.on_receipt(&refused()),
            in_flight(3).cancel().unwrap(),
        ] {
            assert_eq!(
                decided.on_failure("late failure", NOW, Duration::from_secs(1)),
                decided
            );
        }
    }

    #[test]
    fn retry_makes_a_pending_notice_due_at_once_and_keeps_its_history() {
        assert_eq!(Delivery::Queued.retry(), Ok(Delivery::Queued));
        let retried = in_flight(3).retry().unwrap();
        assert_eq!(retried.next_attempt_at_ms(), Some(0));
        assert_eq!(retried.attempts(), 3);
        assert_eq!(retried.last_error(), Some("peer unavailable"));
    }

    #[test]
    fn retry_and_cancel_are_refused_once_the_notice_is_decided_or_cancelled() {
        let delivered = Delivery::Queued.on_receipt(&accepted());
        let rejected = Delivery::Queued.on_receipt(&refused());
        let cancelled = Delivery::Queued.cancel().unwrap();
        for (state, status) in [
            (&delivered, OutboundStatus::Delivered),
            (&rejected, OutboundStatus::Rejected),
            (&cancelled, OutboundStatus::Cancelled),
        ] {
            assert_eq!(
                state.retry(),
                Err(Refused {
                    status,
                    action: Action::Retry
                })
            );
            assert_eq!(
                state.cancel(),
                Err(Refused {
                    status,
                    action: Action::Cancel
                })
            );
        }
        assert_eq!(
            delivered.cancel().unwrap_err().to_string(),
            "is delivered; only queued or in-flight notices can be cancelled"
        );
    }

    #[test]
    fn cancel_keeps_the_attempts_and_the_last_error() {
        assert_eq!(
            in_flight(2).cancel(),
            Ok(Delivery::Cancelled {
                attempts: 2,
                last_error: Some("peer unavailable".into()),
            })
        );
        assert_eq!(
            Delivery::Queued.cancel(),
            Ok(Delivery::Cancelled {
                attempts: 0,
                last_error: None
            })
        );
    }

    #[test]
    fn a_receipt_that_arrives_after_a_cancel_delivers_the_notice() {
        // The attempt was under way when the operator cancelled; the peer signed for it.
        let cancelled = in_flight(1).cancel().unwrap();
        let decided = cancelled.on_receipt(&accepted());
        assert_eq!(decided.status(), OutboundStatus::Delivered);
        assert_eq!(decided.attempts(), 2);
        assert_eq!(
            cancelled.on_receipt(&refused()).status(),
            OutboundStatus::Rejected
        );
    }

    #[test]
    fn a_cancel_that_arrives_after_the_receipt_is_refused() {
        let delivered = in_flight(1).on_receipt(&accepted());
        assert_eq!(
            delivered.cancel().map_err(|r| r.status),
            Err(OutboundStatus::Delivered)
        );
    }

    #[test]
    fn a_failure_that_ends_an_attempt_after_a_retry_sets_its_own_next_attempt() {
        let retried = in_flight(1).retry().unwrap();
        let failed = retried.on_failure("timed out", NOW + 10, Duration::from_millis(500));
        assert_eq!(failed.attempts(), 2);
        assert_eq!(failed.next_attempt_at_ms(), Some(NOW + 510));
    }

    #[test]
    fn a_receipt_that_ends_an_attempt_after_a_retry_delivers() {
        let retried = in_flight(1).retry().unwrap();
        assert_eq!(
            retried.on_receipt(&accepted()).status(),
            OutboundStatus::Delivered
        );
    }

    #[test]
    fn only_queued_and_in_flight_are_pending() {
        let pending: Vec<_> = OutboundStatus::ALL
            .into_iter()
            .filter(|s| s.is_pending())
            .collect();
        assert_eq!(
            pending,
            vec![OutboundStatus::Queued, OutboundStatus::InFlight]
        );
        for status in OutboundStatus::ALL {
            assert_eq!(OutboundStatus::parse(status.name()), Ok(status));
            let notice = NoticeStatus::Outbound(status);
            assert_eq!(
                NoticeStatus::from_wire(notice.to_wire() as i32),
                Some(notice)
            );
        }
        let received = NoticeStatus::Received;
        assert_eq!(
            NoticeStatus::from_wire(received.to_wire() as i32),
            Some(received)
        );
        assert_eq!(NoticeStatus::from_wire(0), None);
        assert_eq!(
            OutboundStatus::parse("sent").unwrap_err().to_string(),
            "\"sent\" is not one of queued, in_flight, delivered, rejected, cancelled"
        );
    }

    #[test]
    fn backoff_doubles_and_caps_with_jitter_in_the_upper_half() {
        let b = Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
        };
        assert_eq!(b.delay(1, 1.0), Duration::from_millis(500));
        assert_eq!(b.delay(2, 1.0), Duration::from_millis(1000));
        assert_eq!(b.delay(4, 1.0), Duration::from_millis(4000));
        assert_eq!(b.delay(30, 1.0), b.max);
        assert_eq!(b.delay(3, 0.0), Duration::from_millis(1000));
    }
}
