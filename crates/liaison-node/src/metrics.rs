//! Prometheus metrics, served as text (exposition format 0.0.4) at `GET /metrics` on the admin
//! listener and encoded with prometheus-client. Gauges are read from the store at each scrape;
//! counters and the delivery-latency histogram are kept in memory by [`Metrics`] since the node
//! started. Nothing here names a person or carries a payload: labels are county codes, statuses,
//! sides and rejection codes.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use liaison_core::deadline::deadline_state;
use liaison_core::{CountyCode, DeadlineState, RejectCode};
use liaison_store::{Side, StoreError};
use prometheus_client::encoding::text::encode_registry;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use tracing::warn;

use crate::NodeState;
use crate::pki;

/// The `Content-Type` of the text exposition format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the delivery-latency histogram's buckets: from a fast peer on the
/// same network to one that was down for a day.
const LATENCY_BUCKETS: [f64; 16] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 43200.0,
    86400.0,
];

const MS_PER_DAY: f64 = 24.0 * 3600.0 * 1000.0;

/// Who issued a rejection: this node (`sent`, to a peer whose envelope it refused) or a peer
/// (`received`, in a receipt for a notice this node sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Direction {
    Sent,
    Received,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Received => "received",
        }
    }
}

/// Why the exchange service refused a connection, a call or an envelope without a signed receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Refusal {
    /// `limits.max_connections` were open.
    Connections,
    /// The client's certificate had `limits.max_connections_per_peer` open.
    ConnectionsPerPeer,
    /// The TLS handshake failed (no or an untrusted client certificate, a protocol error).
    Handshake,
    /// The TLS handshake took longer than `limits.handshake_timeout_secs`.
    HandshakeTimeout,
    /// The client did not offer ALPN `h2`.
    NoAlpnH2,
    /// A connection was silent for `limits.idle_timeout_secs` and was closed.
    Idle,
    /// A `Deliver` call carried more than `limits.max_batch_envelopes` envelopes.
    BatchEnvelopes,
    /// A `Deliver` call came while its client already had as many calls in progress and waiting
    /// as it may.
    CallsWaiting,
    /// An envelope whose header cannot be read got an unsigned rejection.
    UnsignedRejection,
}

impl Refusal {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Connections => "connections",
            Self::ConnectionsPerPeer => "connections_per_peer",
            Self::Handshake => "handshake",
            Self::HandshakeTimeout => "handshake_timeout",
            Self::NoAlpnH2 => "no_alpn_h2",
            Self::Idle => "idle",
            Self::BatchEnvelopes => "batch_envelopes",
            Self::CallsWaiting => "calls_waiting",
            Self::UnsignedRejection => "unsigned_rejection",
        }
    }

    const ALL: [Self; 9] = [
        Self::Connections,
        Self::ConnectionsPerPeer,
        Self::Handshake,
        Self::HandshakeTimeout,
        Self::NoAlpnH2,
        Self::Idle,
        Self::BatchEnvelopes,
        Self::CallsWaiting,
        Self::UnsignedRejection,
    ];
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

#[derive(Debug, Default)]
struct Counters {
    /// (peer, ok) → notices attempted.
    attempts: BTreeMap<(CountyCode, bool), u64>,
    /// (direction, code name) → rejections.
    rejections: BTreeMap<(Direction, &'static str), u64>,
    /// sender → notices accepted into the inbox.
    accepted: BTreeMap<CountyCode, u64>,
    /// Connections, calls and envelopes the exchange service refused without signing.
    refusals: BTreeMap<Refusal, u64>,
    /// peer → seconds from a notice's issue to its receipt.
    latency: BTreeMap<CountyCode, Histogram>,
}

/// The node's counters since it started, and what it knows of its own certificate.
#[derive(Debug)]
pub(crate) struct Metrics {
    counters: Mutex<Counters>,
    /// notAfter of the node's TLS certificate (Unix ms), if it could be read.
    certificate_not_after_ms: Option<i64>,
}

impl Metrics {
    /// Counters at zero for every peer, so that each series exists from the start.
    pub(crate) fn new(peers: impl IntoIterator<Item = CountyCode>, certificate_pem: &str) -> Self {
        let mut counters = Counters::default();
        for refusal in Refusal::ALL {
            counters.refusals.insert(refusal, 0);
        }
        for peer in peers {
            counters.attempts.insert((peer, true), 0);
            counters.attempts.insert((peer, false), 0);
            counters.accepted.insert(peer, 0);
            counters.latency.insert(peer, latency_histogram());
        }
        let certificate_not_after_ms =
            pki::pem_certificate_not_after(certificate_pem).map(|secs| secs.saturating_mul(1000));
        if certificate_not_after_ms.is_none() {
            warn!("cannot read notAfter of the node's TLS certificate; its expiry is not measured");
        }
        Self {
            counters: Mutex::new(counters),
            certificate_not_after_ms,
        }
    }

    fn with(&self, change: impl FnOnce(&mut Counters)) {
        if let Ok(mut counters) = self.counters.lock() {
            change(&mut counters);
        }
    }

    /// One delivery attempt of one notice to `peer`: `ok` when a signed receipt came back.
    pub(crate) fn attempt(&self, peer: CountyCode, ok: bool) {
        self.with(|c| *c.attempts.entry((peer, ok)).or_default() += 1);
    }

    /// A signed receipt for a notice to `peer` issued `latency_ms` before.
    pub(crate) fn receipt(&self, peer: CountyCode, latency_ms: i64) {
        let seconds = latency_ms.max(0) as f64 / 1000.0;
        self.with(|c| {
            c.latency
                .entry(peer)
                .or_insert_with(latency_histogram)
                .observe(seconds);
        });
    }

    pub(crate) fn rejection(&self, direction: Direction, code: RejectCode) {
        self.with(|c| *c.rejections.entry((direction, code.name())).or_default() += 1);
    }

    /// The exchange service refused a connection, a call or an envelope without signing.
    pub(crate) fn refused(&self, why: Refusal) {
        self.with(|c| *c.refusals.entry(why).or_default() += 1);
    }

    /// A notice from `sender` stored in the inbox.
    pub(crate) fn accepted(&self, sender: CountyCode) {
        self.with(|c| *c.accepted.entry(sender).or_default() += 1);
    }
}

/// Why `/metrics` could not be answered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RenderError {
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    #[error("cannot encode the metrics: {0}")]
    Encoding(#[from] fmt::Error),
}

/// `GET /metrics`: the text exposition, read from the store off the async threads.
pub(crate) async fn serve(state: Arc<NodeState>) -> Response {
    match tokio::task::spawn_blocking(move || render(&state)).await {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Ok(Err(e @ RenderError::Storage(_))) => {
            warn!(error = %e, "cannot read the store for metrics");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
        }
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("metrics task failed: {e}\n"),
        )
            .into_response(),
    }
}

/// Every metric of the node, in the text exposition format.
pub(crate) fn render(state: &NodeState) -> Result<String, RenderError> {
    let now = state.clock.now_ms();
    let peers: Vec<CountyCode> = state
        .directory
        .current()
        .peers
        .peers()
        .map(|p| p.county)
        .collect();
    let store = store_counts(state, &peers, now)?;
    let expiry_days = state
        .metrics
        .certificate_not_after_ms
        .map(|not_after| (not_after - now) as f64 / MS_PER_DAY);
    let counters = match state.metrics.counters.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut registry = registry(
        &state.config.county.to_string(),
        &store,
        &counters,
        expiry_days,
    );
    drop(counters);
    if let Some(serial) = state.directory.current().serial() {
        registry.register(
            "liaison_directory_serial",
            "Serial of the federation directory the city signed that this node uses",
            ConstGauge::new(serial as i64),
        );
    }
    registry.register(
        "liaison_directory_refusals_total",
        "Federation directories refused since the node started, by reason: signature (not the city's), invalid, not_newer (serial not above the one in use), storage",
        state
            .directory
            .refusals()
            .into_iter()
            .map(|(reason, n)| (ReasonLabels { reason }, Total(n)))
            .collect::<Series<_, _>>(),
    );
    let mut out = String::new();
    encode_registry(&mut out, &registry)?;
    Ok(out)
}

/// Replies due soon and overdue on one side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct DueCounts {
    due_soon: u64,
    overdue: u64,
}

/// What the metrics report of the store, read at each scrape.
#[derive(Debug, Default)]
struct StoreCounts {
    storage_failing: bool,
    commits: u64,
    failed_commits: u64,
    /// Notices in the outbox by status name, in [`liaison_core::OutboundStatus::ALL`]'s order.
    outbox: Vec<(&'static str, u64)>,
    /// Notices waiting for delivery, per peer.
    pending: Vec<(CountyCode, u64)>,
    /// Replies due, on the owed and on the awaited side, as the tracker and `Admin.Due` count them.
    owed: DueCounts,
    awaited: DueCounts,
    /// Alarms per peer, every peer listed.
    alarms: BTreeMap<CountyCode, u64>,
    /// Per peer, by how many seconds its clock and this node's differ beyond the allowed skew
    /// (0 while they agree), every peer listed.
    clock_offsets: BTreeMap<CountyCode, f64>,
}

/// Reads what the metrics report from the store and counts it: the only place here that reads
/// store records.
fn store_counts(
    state: &NodeState,
    peers: &[CountyCode],
    now: i64,
) -> Result<StoreCounts, StoreError> {
    let store = &state.store;
    let health = store.health();
    let mut counts = StoreCounts {
        storage_failing: health.failing.is_some(),
        commits: health.commits,
        failed_commits: health.failed_commits,
        ..StoreCounts::default()
    };
    for (status, n) in store.count_outbound()? {
        counts.outbox.push((status.name(), n));
    }
    for peer in peers {
        counts.pending.push((*peer, store.backlog(*peer)?));
    }

    let due_soon_ms = state.config.deadlines.due_soon_ms;
    // Only due times up to `now + due_soon_ms` can be due soon or overdue.
    let horizon = now.saturating_add(due_soon_ms).saturating_add(1);
    for entry in store.due(None, horizon, usize::MAX)? {
        let side = match entry.side {
            Side::Owed => &mut counts.owed,
            Side::Awaited => &mut counts.awaited,
        };
        match deadline_state(Some(entry.due_at_ms), None, now, due_soon_ms) {
            DeadlineState::DueSoon => side.due_soon += 1,
            DeadlineState::Overdue => side.overdue += 1,
            _ => {}
        }
    }

    counts.alarms = peers.iter().map(|p| (*p, 0)).collect();
    for alarm in store.alarms()? {
        *counts.alarms.entry(alarm.peer).or_default() += 1;
    }
    counts.clock_offsets = peers
        .iter()
        .map(|p| {
            let offset_ms = state.peer_health.seen(*p).clock_offset_ms.unwrap_or(0);
            (*p, offset_ms as f64 / 1000.0)
        })
        .collect();
    Ok(counts)
}

/// The series of one metric family, in the order given (prometheus-client's `Family` would write
/// them in hash order).
#[derive(Debug)]
struct Series<L, M>(Vec<(L, M)>);

impl<L, M> FromIterator<(L, M)> for Series<L, M> {
    fn from_iter<I: IntoIterator<Item = (L, M)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<L, M> EncodeMetric for Series<L, M>
where
    L: EncodeLabelSet,
    M: EncodeMetric + TypedMetric,
{
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        for (labels, metric) in &self.0 {
            metric.encode(encoder.encode_family(labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        M::TYPE
    }
}

/// A counter's value, written under its family's name as it stands. The counter families here
/// are named with their `_total` already, as exposition format 0.0.4 names them;
/// prometheus-client's own counters would append another `_total` to the samples only.
#[derive(Debug, Clone, Copy)]
struct Total(u64);

impl TypedMetric for Total {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for Total {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        encoder.encode_gauge(&self.0)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[derive(Debug, Clone, EncodeLabelSet)]
struct NodeLabels {
    county: String,
    version: &'static str,
}

#[derive(Debug, Clone, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Debug, Clone, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
}

#[derive(Debug, Clone, EncodeLabelSet)]
struct AttemptLabels {
    peer: String,
    result: &'static str,
}

#[derive(Debug, Clone, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, EncodeLabelSet)]
struct RejectionLabels {
    direction: &'static str,
    code: &'static str,
}

#[derive(Debug, Clone, EncodeLabelSet)]
struct DueLabels {
    side: &'static str,
    state: &'static str,
}

fn peer(code: CountyCode) -> PeerLabels {
    PeerLabels {
        peer: code.to_string(),
    }
}

/// Every metric family, in the order they are written. The registry ends each help text with a
/// full stop.
fn registry(
    county: &str,
    store: &StoreCounts,
    counters: &Counters,
    expiry_days: Option<f64>,
) -> Registry {
    let mut r = Registry::default();
    r.register(
        "liaison_node_info",
        "The node's county and version; always 1",
        Series::from_iter([(
            NodeLabels {
                county: county.to_owned(),
                version: env!("CARGO_PKG_VERSION"),
            },
            ConstGauge::new(1_i64),
        )]),
    );
    r.register(
        "liaison_storage_failing",
        "1 while the store cannot write (full disk, I/O errors): sends fail and deliveries back off; 0 when writes succeed",
        ConstGauge::new(i64::from(store.storage_failing)),
    );
    r.register(
        "liaison_storage_commits_total",
        "Store commits since the node started; each is one fsync of the WAL, and groups all the writes that waited for it",
        Total(store.commits),
    );
    r.register(
        "liaison_storage_failed_commits_total",
        "Store commits that failed since the node started; nothing of a failed commit is kept",
        Total(store.failed_commits),
    );
    r.register(
        "liaison_outbox_notices",
        "Notices in the outbox by delivery status",
        store
            .outbox
            .iter()
            .map(|&(status, n)| (StatusLabels { status }, ConstGauge::new(n)))
            .collect::<Series<_, _>>(),
    );
    r.register(
        "liaison_outbox_pending",
        "Notices waiting for delivery (queued or in flight) by peer county",
        store
            .pending
            .iter()
            .map(|&(code, n)| (peer(code), ConstGauge::new(n)))
            .collect::<Series<_, _>>(),
    );
    r.register(
        "liaison_delivery_attempts_total",
        "Delivery attempts of single notices by peer county and result (ok: a signed receipt came back)",
        counters
            .attempts
            .iter()
            .map(|(&(code, ok), &n)| {
                let labels = AttemptLabels {
                    peer: code.to_string(),
                    result: if ok { "ok" } else { "failed" },
                };
                (labels, Total(n))
            })
            .collect::<Series<_, _>>(),
    );
    r.register(
        "liaison_delivery_latency_seconds",
        "Seconds from a notice's issue (when it was queued) to the peer's signed receipt",
        counters
            .latency
            .iter()
            .map(|(&code, histogram)| (peer(code), histogram.clone()))
            .collect::<Series<_, _>>(),
    );
    r.register(
        "liaison_rejections_total",
        "Signed rejections by code: sent (this node refused a peer's envelope) or received (a peer refused this node's notice)",
        counters
            .rejections
            .iter()
            .map(|(&(direction, code), &n)| {
                let labels = RejectionLabels {
                    direction: direction.name(),
                    code,
                };
                (labels, Total(n))
            })
            .collect::<Series<_, _>>(),
    );
    r.register(
        "liaison_exchange_refusals_total",
        "Connections, calls and envelopes the exchange service refused without a signed receipt, by reason",
        counters
            .refusals
            .iter()
            .map(|(&why, &n)| (RefusalLabels { reason: why.name() }, Total(n)))
            .collect::<Series<_, _>>(),
    );
    r.register(
        "liaison_notices_accepted_total",
        "Notices accepted into the inbox (answered with a signed receipt) by sending county",
        counters
            .accepted
            .iter()
            .map(|(&code, &n)| (peer(code), Total(n)))
            .collect::<Series<_, _>>(),
    );
    r.register(
        "liaison_replies_due",
        "Replies due soon or overdue; side owed: this county owes them, awaited: other counties owe them",
        [("owed", store.owed), ("awaited", store.awaited)]
            .into_iter()
            .flat_map(|(side, counts)| {
                [
                    (DeadlineState::DueSoon.name(), counts.due_soon),
                    (DeadlineState::Overdue.name(), counts.overdue),
                ]
                    .map(|(state, n)| (DueLabels { side, state }, ConstGauge::new(n)))
            })
            .collect::<Series<_, _>>(),
    );
    r.register(
        "liaison_alarms",
        "Alarms about a peer's log (rollback, fork, bad checkpoint) kept until an administrator deals with them",
        store
            .alarms
            .iter()
            .map(|(&code, &n)| (peer(code), ConstGauge::new(n)))
            .collect::<Series<_, _>>(),
    );
    r.register(
        "liaison_peer_clock_offset_seconds",
        "By how much a peer's signed receipt time differed from this node's clock beyond the allowed skew (positive: the peer's clock is ahead); 0 while they agree",
        store
            .clock_offsets
            .iter()
            .map(|(&code, &s)| (peer(code), ConstGauge::new(s)))
            .collect::<Series<_, _>>(),
    );
    if let Some(days) = expiry_days {
        r.register(
            "liaison_tls_certificate_expiry_days",
            "Days until the node's own TLS certificate expires (negative once it has)",
            ConstGauge::new((days * 1000.0).round() / 1000.0),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn county(code: &str) -> CountyCode {
        CountyCode::parse(code).unwrap()
    }

    fn encode(store: &StoreCounts, counters: &Counters, expiry_days: Option<f64>) -> String {
        let mut out = String::new();
        encode_registry(&mut out, &registry("610602", store, counters, expiry_days)).unwrap();
        out
    }

    #[test]
    fn the_exposition_keeps_the_names_and_values_of_format_0_0_4() {
        let ansai = county("610603");
        let metrics = Metrics::new([ansai], "not a certificate");
        metrics.attempt(ansai, true);
        metrics.attempt(ansai, false);
        metrics.attempt(ansai, false);
        for latency_ms in [10, 300, 300, 100_000_000] {
            metrics.receipt(ansai, latency_ms);
        }
        metrics.rejection(Direction::Received, RejectCode::KindNotAgreed);
        metrics.accepted(ansai);
        metrics.refused(Refusal::NoAlpnH2);
        metrics.refused(Refusal::NoAlpnH2);
        let store = StoreCounts {
            storage_failing: true,
            commits: 7,
            failed_commits: 2,
            outbox: vec![("queued", 3), ("delivered", 4)],
            pending: vec![(ansai, 3)],
            owed: DueCounts {
                due_soon: 1,
                overdue: 0,
            },
            awaited: DueCounts {
                due_soon: 0,
                overdue: 2,
            },
            alarms: [(ansai, 1)].into_iter().collect(),
            clock_offsets: [(ansai, -2400.0)].into_iter().collect(),
        };
        let counters = metrics.counters.lock().unwrap();
        let text = encode(&store, &counters, Some(729.99966));
        let version = env!("CARGO_PKG_VERSION");
        let expected = format!(
            r#"# HELP liaison_node_info The node's county and version; always 1.
# TYPE liaison_node_info gauge
liaison_node_info{{county="610602",version="{version}"}} 1
# HELP liaison_storage_failing 1 while the store cannot write (full disk, I/O errors): sends fail and deliveries back off; 0 when writes succeed.
# TYPE liaison_storage_failing gauge
liaison_storage_failing 1
# HELP liaison_storage_commits_total Store commits since the node started; each is one fsync of the WAL, and groups all the writes that waited for it.
# TYPE liaison_storage_commits_total counter
liaison_storage_commits_total 7
# HELP liaison_storage_failed_commits_total Store commits that failed since the node started; nothing of a failed commit is kept.
# TYPE liaison_storage_failed_commits_total counter
liaison_storage_failed_commits_total 2
# HELP liaison_outbox_notices Notices in the outbox by delivery status.
# TYPE liaison_outbox_notices gauge
liaison_outbox_notices{{status="queued"}} 3
liaison_outbox_notices{{status="delivered"}} 4
# HELP liaison_outbox_pending Notices waiting for delivery (queued or in flight) by peer county.
# TYPE liaison_outbox_pending gauge
liaison_outbox_pending{{peer="610603"}} 3
# HELP liaison_delivery_attempts_total Delivery attempts of single notices by peer county and result (ok: a signed receipt came back).
# TYPE liaison_delivery_attempts_total counter
liaison_delivery_attempts_total{{peer="610603",result="failed"}} 2
liaison_delivery_attempts_total{{peer="610603",result="ok"}} 1
# HELP liaison_delivery_latency_seconds Seconds from a notice's issue (when it was queued) to the peer's signed receipt.
# TYPE liaison_delivery_latency_seconds histogram
liaison_delivery_latency_seconds_sum{{peer="610603"}} 100000.61
liaison_delivery_latency_seconds_count{{peer="610603"}} 4
liaison_delivery_latency_seconds_bucket{{le="0.05",peer="610603"}} 1
liaison_delivery_latency_seconds_bucket{{le="0.1",peer="610603"}} 1
liaison_delivery_latency_seconds_bucket{{le="0.25",peer="610603"}} 1
liaison_delivery_latency_seconds_bucket{{le="0.5",peer="610603"}} 3
"#
        );
        assert!(text.starts_with(&expected), "{text}");
        let expected_tail = r#"liaison_delivery_latency_seconds_bucket{le="86400.0",peer="610603"} 3
liaison_delivery_latency_seconds_bucket{le="+Inf",peer="610603"} 4
# HELP liaison_rejections_total Signed rejections by code: sent (this node refused a peer's envelope) or received (a peer refused this node's notice).
# TYPE liaison_rejections_total counter
liaison_rejections_total{direction="received",code="KIND_NOT_AGREED"} 1
# HELP liaison_exchange_refusals_total Connections, calls and envelopes the exchange service refused without a signed receipt, by reason.
# TYPE liaison_exchange_refusals_total counter
liaison_exchange_refusals_total{reason="connections"} 0
liaison_exchange_refusals_total{reason="connections_per_peer"} 0
liaison_exchange_refusals_total{reason="handshake"} 0
liaison_exchange_refusals_total{reason="handshake_timeout"} 0
liaison_exchange_refusals_total{reason="no_alpn_h2"} 2
liaison_exchange_refusals_total{reason="idle"} 0
liaison_exchange_refusals_total{reason="batch_envelopes"} 0
liaison_exchange_refusals_total{reason="calls_waiting"} 0
liaison_exchange_refusals_total{reason="unsigned_rejection"} 0
# HELP liaison_notices_accepted_total Notices accepted into the inbox (answered with a signed receipt) by sending county.
# TYPE liaison_notices_accepted_total counter
liaison_notices_accepted_total{peer="610603"} 1
# HELP liaison_replies_due Replies due soon or overdue; side owed: this county owes them, awaited: other counties owe them.
# TYPE liaison_replies_due gauge
liaison_replies_due{side="owed",state="due_soon"} 1
liaison_replies_due{side="owed",state="overdue"} 0
liaison_replies_due{side="awaited",state="due_soon"} 0
liaison_replies_due{side="awaited",state="overdue"} 2
# HELP liaison_alarms Alarms about a peer's log (rollback, fork, bad checkpoint) kept until an administrator deals with them.
# TYPE liaison_alarms gauge
liaison_alarms{peer="610603"} 1
# HELP liaison_peer_clock_offset_seconds By how much a peer's signed receipt time differed from this node's clock beyond the allowed skew (positive: the peer's clock is ahead); 0 while they agree.
# TYPE liaison_peer_clock_offset_seconds gauge
liaison_peer_clock_offset_seconds{peer="610603"} -2400.0
# HELP liaison_tls_certificate_expiry_days Days until the node's own TLS certificate expires (negative once it has).
# TYPE liaison_tls_certificate_expiry_days gauge
liaison_tls_certificate_expiry_days 730.0
"#;
        assert!(text.ends_with(expected_tail), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
    }

    #[test]
    fn without_a_readable_certificate_there_is_no_expiry_and_no_rejection_series() {
        let metrics = Metrics::new([county("610603")], "");
        assert_eq!(metrics.certificate_not_after_ms, None);
        let counters = metrics.counters.lock().unwrap();
        let text = encode(&StoreCounts::default(), &counters, None);
        assert!(
            !text.contains("liaison_tls_certificate_expiry_days"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE liaison_rejections_total counter\n# HELP"),
            "the family is announced with no series: {text}"
        );
    }
}
