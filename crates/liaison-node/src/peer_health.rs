//! What a node has seen of each peer since it started: the last delivery error, the last
//! success, and when the peer's TLS certificate expires. Kept in memory, for operators.

use std::collections::HashMap;
use std::sync::Mutex;

use liaison_core::CountyCode;

/// What a node has seen of one peer since it started.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PeerSeen {
    pub(crate) last_success_at_ms: Option<i64>,
    pub(crate) certificate_expires_at_ms: Option<i64>,
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
