//! What a node has seen of each peer since it started: the last delivery error, the last
//! success, when the peer's TLS certificate expires, and whether its clock agrees with this
//! node's. Kept in memory, for operators.

use std::collections::HashMap;
use std::sync::Mutex;

use liaison_core::CountyCode;

/// What a node has seen of one peer since it started.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PeerSeen {
    pub(crate) last_success_at_ms: Option<i64>,
    pub(crate) certificate_expires_at_ms: Option<i64>,
    /// By how much the peer's signed receipt time differed from this node's clock, when it
    /// differed by more than the allowed skew (positive: the peer's clock is ahead).
    pub(crate) clock_offset_ms: Option<i64>,
}

/// Every peer's health, shared by the delivery workers (which write it), the exchange service
/// (which learns certificates) and the application layer (which shows it).
#[derive(Debug, Default)]
pub(crate) struct PeerHealth {
    errors: Mutex<HashMap<CountyCode, String>>,
    seen: Mutex<HashMap<CountyCode, PeerSeen>>,
}

impl PeerHealth {
    /// Records how the last delivery to `peer` went: an error, or success at `now_ms`.
    pub(crate) fn record_delivery(&self, peer: CountyCode, error: Option<String>, now_ms: i64) {
        let succeeded = error.is_none();
        if let Ok(mut errors) = self.errors.lock() {
            match error {
                Some(e) => errors.insert(peer, e),
                None => errors.remove(&peer),
            };
        }
        if succeeded && let Ok(mut seen) = self.seen.lock() {
            seen.entry(peer).or_default().last_success_at_ms = Some(now_ms);
        }
    }

    /// Records when the TLS certificate a peer presented expires.
    pub(crate) fn set_certificate_expiry(&self, peer: CountyCode, expires_at_ms: i64) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.entry(peer).or_default().certificate_expires_at_ms = Some(expires_at_ms);
        }
    }

    /// Compares the receipt time `peer` signed with this node's clock around the call: `sent_ms`
    /// before it, `answered_ms` after it. A receipt time outside that span by more than
    /// `skew_ms` means the two clocks disagree. Records the offset (`None` when they agree) and
    /// returns it with the one recorded before, so that a change can be told once.
    pub(crate) fn compare_clock(
        &self,
        peer: CountyCode,
        received_at_ms: i64,
        sent_ms: i64,
        answered_ms: i64,
        skew_ms: i64,
    ) -> (Option<i64>, Option<i64>) {
        let offset = if received_at_ms > answered_ms.saturating_add(skew_ms) {
            Some(received_at_ms - answered_ms)
        } else if received_at_ms < sent_ms.saturating_sub(skew_ms) {
            Some(received_at_ms - sent_ms)
        } else {
            None
        };
        let before = match self.seen.lock() {
            Ok(mut seen) => {
                std::mem::replace(&mut seen.entry(peer).or_default().clock_offset_ms, offset)
            }
            Err(_) => None,
        };
        (before, offset)
    }

    /// What this node has seen of a peer since it started.
    pub(crate) fn seen(&self, peer: CountyCode) -> PeerSeen {
        self.seen
            .lock()
            .ok()
            .and_then(|seen| seen.get(&peer).copied())
            .unwrap_or_default()
    }

    /// The error of the last delivery to `peer`, while it is the latest news.
    pub(crate) fn error(&self, peer: CountyCode) -> Option<String> {
        self.errors
            .lock()
            .ok()
            .and_then(|errors| errors.get(&peer).cloned())
    }
}
