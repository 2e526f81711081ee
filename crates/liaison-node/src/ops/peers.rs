//! The peer counties: agreements, delivery health, alarms about their logs, and this node's
//! own storage health.

use liaison_core::clock::format_cst;
use liaison_core::{CountyCode, NoticeId, NoticeKind};

use super::{Ops, OpsError, Result};

/// A peer as operators see it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerView {
    pub(crate) county: Option<CountyCode>,
    pub(crate) name: String,
    pub(crate) endpoint: String,
    pub(crate) allowed_kinds: Vec<NoticeKind>,
    pub(crate) contact_person: String,
    pub(crate) phone: String,
    /// The agreement's effective date, `YYYY-MM-DD`; "" without an agreement.
    pub(crate) agreement_effective: String,
    /// Notices still to deliver to it.
    pub(crate) backlog: u64,
    /// The oldest of them: its id and issued-at.
    pub(crate) oldest_pending: Option<(NoticeId, i64)>,
    pub(crate) last_error: Option<String>,
    /// Unacknowledged alarms about its log, one line each.
    pub(crate) alarms: Vec<String>,
    pub(crate) last_success_at_ms: Option<i64>,
    pub(crate) certificate_expires_at_ms: Option<i64>,
    /// When its last signing key ends; `None` if one never does.
    pub(crate) key_expires_at_ms: Option<i64>,
    /// By how much its clock and this node's differ, when by more than the allowed skew
    /// (positive: the peer's is ahead), as its last receipt showed.
    pub(crate) clock_offset_ms: Option<i64>,
}

/// Every peer, and whether this node's store can write.
#[derive(Debug, Clone, Default)]
pub(crate) struct PeersView {
    pub(crate) peers: Vec<PeerView>,
    /// Why the store cannot write, while it cannot.
    pub(crate) storage_failing: Option<String>,
    pub(crate) storage_failed_commits: u64,
    /// How far apart this node's clock and a peer's may be before they count as disagreeing.
    pub(crate) allowed_skew_ms: i64,
    /// The serial of the city's signed directory in use; `None` for peers listed by hand.
    pub(crate) directory_serial: Option<u64>,
}

impl Ops {
    /// Every peer of the directory, in its order.
    pub(crate) fn peers(&self) -> Result<PeersView> {
        let store = &self.state.store;
        let alarms = store.alarms()?;
        let mut peers = Vec::new();
        let directory = self.state.directory.current();
        for p in directory.peers.peers() {
            let a = p.agreement.as_ref();
            let seen = self.state.peer_health.seen(p.county);
            peers.push(PeerView {
                county: Some(p.county),
                name: p.name.clone(),
                endpoint: p.endpoint.clone(),
                allowed_kinds: a
                    .map(|a| a.allowed_kinds.iter().copied().collect())
                    .unwrap_or_default(),
                contact_person: a.map(|a| a.contact_person.clone()).unwrap_or_default(),
                phone: a.map(|a| a.phone.clone()).unwrap_or_default(),
                agreement_effective: a.map(|a| a.effective.to_string()).unwrap_or_default(),
                backlog: store.backlog(p.county)?,
                oldest_pending: store
                    .pending_for(p.county, 1)?
                    .first()
                    .map(|r| (r.id, r.issued_at_ms)),
                last_error: self.state.peer_health.error(p.county),
                alarms: alarms
                    .iter()
                    .filter(|a| a.peer == p.county && a.acknowledged_at_ms.is_none())
                    .map(|a| format!("{} {}: {}", format_cst(a.at_ms), a.kind, a.detail))
                    .collect(),
                last_success_at_ms: seen.last_success_at_ms,
                certificate_expires_at_ms: seen.certificate_expires_at_ms,
                clock_offset_ms: seen.clock_offset_ms,
                // The signing keys end when the last one ends; a key without an end never does.
                key_expires_at_ms: if p.keys.iter().any(|k| k.valid_until_ms.is_none()) {
                    None
                } else {
                    p.keys.iter().filter_map(|k| k.valid_until_ms).max()
                },
            });
        }
        let health = store.health();
        Ok(PeersView {
            peers,
            storage_failing: health.failing,
            storage_failed_commits: health.failed_commits,
            allowed_skew_ms: self.state.config.limits.max_clock_skew_ms,
            directory_serial: directory.serial(),
        })
    }

    /// Accepts a peer's log as it is now, after an alarm the operator has looked into (e.g. the
    /// peer announced a restore from backup); its next checkpoint is the new starting point.
    pub(crate) async fn accept_peer_log(&self, peer: CountyCode) -> Result<PeerView> {
        self.operator_only("accept a peer's log")?;
        if self.state.directory.current().peers.get(peer).is_none() {
            return Err(OpsError::NotFound(format!(
                "peer: {peer} is not in this node's directory"
            )));
        }
        let acknowledged = self
            .state
            .store
            .accept_peer_log(peer, self.now_ms())
            .await?;
        tracing::warn!(peer = %peer, acknowledged, "operator accepted the peer's log as it is now; its next checkpoint is the new starting point");
        Ok(self
            .peers()?
            .peers
            .into_iter()
            .find(|p| p.county == Some(peer))
            .unwrap_or_default())
    }
}
