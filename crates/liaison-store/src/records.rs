//! What the store keeps about each notice besides its signed bytes.

use liaison_core::{CountyCode, DeadlineState, Delivery, NoticeId, NoticeKind, OutboundStatus};

/// A notice this node signed and sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRecord {
    pub id: NoticeId,
    pub recipient: CountyCode,
    pub kind: NoticeKind,
    pub urgent: bool,
    pub issued_at_ms: i64,
    pub in_reply_to: Option<NoticeId>,
    /// Where it is in its delivery; changed only through [`Delivery`]'s transitions.
    pub delivery: Delivery,
    /// The time of the first reply received for it (see `liaison_core::cosign::reply_time`).
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
            delivery: Delivery::Queued,
            answered_at_ms: None,
            flagged: None,
            reminded_at_ms: None,
        }
    }

    /// Where it is in its delivery.
    pub fn status(&self) -> OutboundStatus {
        self.delivery.status()
    }

    /// The reply deadline from the recipient's receipt, once delivered.
    pub fn reply_due_at_ms(&self) -> Option<i64> {
        self.delivery.reply_due_at_ms()
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
    /// The time of the first reply this node sent for it, set once the other county's receipt
    /// for the reply says by when it existed (see `liaison_core::cosign::reply_time`).
    pub answered_at_ms: Option<i64>,
    /// The deadline state last logged by the tracker.
    pub flagged: Option<DeadlineState>,
}
