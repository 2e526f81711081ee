//! What the store keeps about each notice besides its signed bytes.

use liaison_core::{CountyCode, DeadlineState, NoticeId, NoticeKind, RejectCode};

/// Where an outbound notice is in its delivery.
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

    /// The name shown to operators.
    pub fn name(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::InFlight => "in_flight",
            Self::Delivered => "delivered",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses [`OutboundStatus::name`].
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == text)
    }

    /// Whether delivery is still to be attempted.
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Queued | Self::InFlight)
    }
}

/// A notice this node signed and sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRecord {
    pub id: NoticeId,
    pub recipient: CountyCode,
    pub kind: NoticeKind,
    pub urgent: bool,
    pub issued_at_ms: i64,
    pub in_reply_to: Option<NoticeId>,
    pub status: OutboundStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// When the next attempt may start (Unix ms); 0 for at once.
    pub next_attempt_at_ms: i64,
    /// From the signed receipt, once there is one.
    pub receipt_at_ms: Option<i64>,
    pub reject_code: Option<RejectCode>,
    pub reject_reason: Option<String>,
    pub reply_due_at_ms: Option<i64>,
    /// The signed issued-at of the first reply received for it.
    pub answered_at_ms: Option<i64>,
    /// The deadline state last logged by the tracker.
    pub flagged: Option<DeadlineState>,
    /// When this node sent (or tried to send) a reminder (催办) about the overdue reply.
    pub reminded_at_ms: Option<i64>,
}

impl OutboundRecord {
    /// A newly signed notice, queued for delivery.
    pub fn queued(
        id: NoticeId,
        recipient: CountyCode,
        kind: NoticeKind,
        urgent: bool,
        issued_at_ms: i64,
        in_reply_to: Option<NoticeId>,
    ) -> Self {
        Self {
            id,
            recipient,
            kind,
            urgent,
            issued_at_ms,
            in_reply_to,
            status: OutboundStatus::Queued,
            attempts: 0,
            last_error: None,
            next_attempt_at_ms: 0,
            receipt_at_ms: None,
            reject_code: None,
            reject_reason: None,
            reply_due_at_ms: None,
            answered_at_ms: None,
            flagged: None,
            reminded_at_ms: None,
        }
    }
}

/// A notice this node received and accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    pub id: NoticeId,
    pub sender: CountyCode,
    pub kind: NoticeKind,
    pub urgent: bool,
    pub issued_at_ms: i64,
    pub in_reply_to: Option<NoticeId>,
    /// When this node stored it, as its signed receipt says.
    pub received_at_ms: i64,
    /// Identifies the exact envelope, so a redelivery can be told from a different notice.
    pub envelope_sha256: [u8; 32],
    pub reply_due_at_ms: Option<i64>,
    /// Why no due time could be computed although a reply is required (e.g. no working-day
    /// calendar for the year); shown to operators until resolved.
    pub deadline_error: Option<String>,
    /// The signed issued-at of the first reply this node sent for it.
    pub answered_at_ms: Option<i64>,
    /// The deadline state last logged by the tracker.
    pub flagged: Option<DeadlineState>,
}
