//! Prometheus metrics, served as text (exposition format 0.0.4) at `GET /metrics` on the admin
//! listener. Gauges are read from the store at each scrape; counters and the delivery-latency
//! histogram are kept in memory by [`Metrics`] since the node started. Nothing here names a person
//! or carries a payload: labels are county codes, statuses, sides and rejection codes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use liaison_core::deadline::deadline_state;
use liaison_core::{CountyCode, DeadlineState, RejectCode};
use liaison_store::{OutboundStatus, Side, StoreError};
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

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Observations at or below each bound of [`LATENCY_BUCKETS`] (not cumulative).
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, value: f64) {
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&bound| value <= bound) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += value;
    }
}

#[derive(Debug, Default)]
struct Counters {
    /// (peer, ok) → notices attempted.
    attempts: BTreeMap<(CountyCode, bool), u64>,
    /// (direction, code name) → rejections.
    rejections: BTreeMap<(Direction, &'static str), u64>,
    /// sender → notices accepted into the inbox.
    accepted: BTreeMap<CountyCode, u64>,
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
        for peer in peers {
            counters.attempts.insert((peer, true), 0);
            counters.attempts.insert((peer, false), 0);
            counters.accepted.insert(peer, 0);
            counters.latency.insert(peer, Histogram::default());
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
        self.with(|c| c.latency.entry(peer).or_default().observe(seconds));
    }

    pub(crate) fn rejection(&self, direction: Direction, code: RejectCode) {
        self.with(|c| *c.rejections.entry((direction, code.name())).or_default() += 1);
    }

    /// A notice from `sender` stored in the inbox.
    pub(crate) fn accepted(&self, sender: CountyCode) {
        self.with(|c| *c.accepted.entry(sender).or_default() += 1);
    }
}

/// `GET /metrics`: the text exposition, read from the store off the async threads.
pub(crate) async fn serve(state: Arc<NodeState>) -> Response {
    match tokio::task::spawn_blocking(move || render(&state)).await {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Ok(Err(e)) => {
            warn!(error = %e, "cannot read the store for metrics");
            (StatusCode::SERVICE_UNAVAILABLE, format!("storage: {e}\n")).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("metrics task failed: {e}\n"),
        )
            .into_response(),
    }
}

/// Writes one metric family's HELP and TYPE lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Every metric of the node, in the text exposition format.
pub(crate) fn render(state: &NodeState) -> Result<String, StoreError> {
    let store = &state.store;
    let now = state.clock.now_ms();
    let peers: Vec<CountyCode> = state.config.directory.peers().map(|p| p.county).collect();
    let mut out = String::new();

    family(
        &mut out,
        "liaison_node_info",
        "gauge",
        "The node's county and version; always 1.",
    );
    let _ = writeln!(
        out,
        "liaison_node_info{{county=\"{}\",version=\"{}\"}} 1",
        state.config.county,
        escape(env!("CARGO_PKG_VERSION"))
    );

    let health = store.health();
    family(
        &mut out,
        "liaison_storage_failing",
        "gauge",
        "1 while the store cannot write (full disk, I/O errors): sends fail and deliveries back off; 0 when writes succeed.",
    );
    let _ = writeln!(
        out,
        "liaison_storage_failing {}",
        u8::from(health.failing.is_some())
    );
    family(
        &mut out,
        "liaison_storage_commits_total",
        "counter",
        "Store commits since the node started; each is one fsync of the WAL, and groups all the writes that waited for it.",
    );
    let _ = writeln!(out, "liaison_storage_commits_total {}", health.commits);
    family(
        &mut out,
        "liaison_storage_failed_commits_total",
        "counter",
        "Store commits that failed since the node started; nothing of a failed commit is kept.",
    );
    let _ = writeln!(
        out,
        "liaison_storage_failed_commits_total {}",
        health.failed_commits
    );

    family(
        &mut out,
        "liaison_outbox_notices",
        "gauge",
        "Notices in the outbox by delivery status.",
    );
    for status in OutboundStatus::ALL {
        let _ = writeln!(
            out,
            "liaison_outbox_notices{{status=\"{}\"}} {}",
            status.name(),
            store.count_outbound(status)?
        );
    }

    family(
        &mut out,
        "liaison_outbox_pending",
        "gauge",
        "Notices waiting for delivery (queued or in flight) by peer county.",
    );
    for peer in &peers {
        let _ = writeln!(
            out,
            "liaison_outbox_pending{{peer=\"{peer}\"}} {}",
            store.backlog(*peer)?
        );
    }

    let counters = match state.metrics.counters.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    family(
        &mut out,
        "liaison_delivery_attempts_total",
        "counter",
        "Delivery attempts of single notices by peer county and result (ok: a signed receipt came back).",
    );
    for ((peer, ok), n) in &counters.attempts {
        let result = if *ok { "ok" } else { "failed" };
        let _ = writeln!(
            out,
            "liaison_delivery_attempts_total{{peer=\"{peer}\",result=\"{result}\"}} {n}"
        );
    }

    family(
        &mut out,
        "liaison_delivery_latency_seconds",
        "histogram",
        "Seconds from a notice's issue (when it was queued) to the peer's signed receipt.",
    );
    for (peer, h) in &counters.latency {
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "liaison_delivery_latency_seconds_bucket{{peer=\"{peer}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "liaison_delivery_latency_seconds_bucket{{peer=\"{peer}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "liaison_delivery_latency_seconds_sum{{peer=\"{peer}\"}} {}",
            h.sum
        );
        let _ = writeln!(
            out,
            "liaison_delivery_latency_seconds_count{{peer=\"{peer}\"}} {}",
            h.count
        );
    }

    family(
        &mut out,
        "liaison_rejections_total",
        "counter",
        "Signed rejections by code: sent (this node refused a peer's envelope) or received (a peer refused this node's notice).",
    );
    for ((direction, code), n) in &counters.rejections {
        let _ = writeln!(
            out,
            "liaison_rejections_total{{direction=\"{}\",code=\"{code}\"}} {n}",
            direction.name()
        );
    }

    family(
        &mut out,
        "liaison_notices_accepted_total",
        "counter",
        "Notices accepted into the inbox (answered with a signed receipt) by sending county.",
    );
    for (peer, n) in &counters.accepted {
        let _ = writeln!(out, "liaison_notices_accepted_total{{peer=\"{peer}\"}} {n}");
    }
    drop(counters);

    let [owed, awaited] = due_counts(state, now)?;
    family(
        &mut out,
        "liaison_replies_due",
        "gauge",
        "Replies due soon or overdue; side owed: this county owes them, awaited: other counties owe them.",
    );
    for (side, counts) in [("owed", owed), ("awaited", awaited)] {
        for (name, n) in [("due_soon", counts.due_soon), ("overdue", counts.overdue)] {
            let _ = writeln!(
                out,
                "liaison_replies_due{{side=\"{side}\",state=\"{name}\"}} {n}"
            );
        }
    }

    family(
        &mut out,
        "liaison_alarms",
        "gauge",
        "Alarms about a peer's log (rollback, fork, bad checkpoint) kept until an administrator deals with them.",
    );
    let mut alarms: BTreeMap<CountyCode, u64> = peers.iter().map(|p| (*p, 0)).collect();
    for alarm in store.alarms()? {
        *alarms.entry(alarm.peer).or_default() += 1;
    }
    for (peer, n) in alarms {
        let _ = writeln!(out, "liaison_alarms{{peer=\"{peer}\"}} {n}");
    }

    if let Some(not_after) = state.metrics.certificate_not_after_ms {
        family(
            &mut out,
            "liaison_tls_certificate_expiry_days",
            "gauge",
            "Days until the node's own TLS certificate expires (negative once it has).",
        );
        let days = (not_after - now) as f64 / MS_PER_DAY;
        let _ = writeln!(out, "liaison_tls_certificate_expiry_days {days:.3}");
    }
    Ok(out)
}

/// Replies due soon and overdue on one side.
#[derive(Debug, Clone, Copy, Default)]
struct DueCounts {
    due_soon: u64,
    overdue: u64,
}

/// The owed and the awaited side's [`DueCounts`], as the tracker and `Admin.Due` count them.
fn due_counts(state: &NodeState, now: i64) -> Result<[DueCounts; 2], StoreError> {
    let due_soon_ms = state.config.deadlines.due_soon_ms;
    // Only due times up to `now + due_soon_ms` can be due soon or overdue.
    let horizon = now.saturating_add(due_soon_ms).saturating_add(1);
    let mut counts = [DueCounts::default(); 2];
    for entry in state.store.due(None, horizon, usize::MAX)? {
        let side = &mut counts[match entry.side {
            Side::Owed => 0,
            Side::Awaited => 1,
        }];
        match deadline_state(Some(entry.due_at_ms), None, now, due_soon_ms) {
            DeadlineState::DueSoon => side.due_soon += 1,
            DeadlineState::Overdue => side.overdue += 1,
            _ => {}
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_in_the_text() {
        let mut h = Histogram::default();
        for v in [0.01, 0.3, 0.3, 100_000.0] {
            h.observe(v);
        }
        assert_eq!(h.count, 4);
        assert_eq!(h.buckets[0], 1, "0.01 ≤ 0.05");
        assert_eq!(h.buckets[3], 2, "0.3 ≤ 0.5");
        assert_eq!(h.buckets.iter().sum::<u64>(), 3, "100000 s only in +Inf");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
