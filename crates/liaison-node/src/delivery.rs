//! Delivery: one worker per peer takes the peer's pending notices in id order, delivers them in
//! batches, and records each signed receipt. A peer that fails backs off exponentially with jitter,
//! on its own, so a slow or dead peer never holds up the others.

use std::sync::Arc;
use std::time::Duration;

use liaison_core::receipt::Outcome;
use liaison_core::trust::Peer;
use liaison_core::{Backoff, CountyCode, SignedNotice, SignedReceipt};
use liaison_proto::v1 as pb;
use liaison_store::{OutboundRecord, OutboundUpdate, ReceivedReceipt};
use tokio::sync::{Notify, watch};
use tonic::transport::{Channel, Endpoint};
use tracing::{info, info_span, warn};

use crate::NodeState;
use crate::metrics::Direction;

/// Largest request the sender builds: several envelopes, well under the receiver's limit.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Largest request or response a node decodes on the exchange service.
pub(crate) const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// HTTP/2 flow-control windows large enough for a whole batch, so a batch is not held up waiting
/// for window updates.
pub(crate) const STREAM_WINDOW: u32 = 8 * 1024 * 1024;
pub(crate) const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

/// How long a stopping node still waits for the answer to a delivery call it already sent, so
/// that the receipts are recorded now rather than fetched again by redelivery after the restart.
/// Short, so that a peer that hangs does not hold up a stop: what is abandoned stays pending.
const IN_FLIGHT_DRAIN: Duration = Duration::from_secs(3);

/// Wakes a peer's worker: new notices to send, or an operator asked for a retry now.
#[derive(Debug, Default)]
pub(crate) struct PeerSignal {
    pub(crate) notify: Notify,
    pub(crate) retry_now: std::sync::atomic::AtomicBool,
}

/// What the worker learned from one attempt at one notice.
enum Attempt {
    Receipt(Box<SignedReceipt>),
    Failed(String),
}

fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

pub(crate) fn channel(state: &NodeState, peer: &Peer) -> Result<Channel, String> {
    let tls = state.tls.client_config(peer.county);
    let endpoint = Endpoint::from_shared(peer.endpoint.clone())
        .map_err(|e| format!("endpoint {:?}: {e}", peer.endpoint))?
        .tls_config(tls)
        .map_err(|e| format!("TLS settings: {e}"))?
        .connect_timeout(Duration::from_secs(10))
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
        .timeout(state.config.delivery.timeout)
        .tcp_keepalive(Some(Duration::from_secs(60)));
    Ok(endpoint.connect_lazy())
}

/// Runs until `shutdown` changes, delivering the notices queued for `peer`.
pub(crate) async fn run_peer(
    state: Arc<NodeState>,
    peer: CountyCode,
    signal: Arc<PeerSignal>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(mut peer_entry) = state.directory.current().peers.get(peer).cloned() else {
        return;
    };
    let settings = state.config.delivery;
    let client_of = |ch| {
        pb::exchange_client::ExchangeClient::new(ch)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    };
    let mut client = match channel(&state, &peer_entry) {
        Ok(ch) => client_of(ch),
        Err(e) => {
            warn!(peer = %peer, error = %e, "cannot deliver to this peer");
            state
                .peer_health
                .record_delivery(peer, Some(e), state.clock.now_ms());
            return;
        }
    };
    let mut failures: u32 = 0;
    let mut wait_until: Option<tokio::time::Instant> = None;
    // What the peer takes in one call, as far as this node knows: its own settings until the
    // peer refuses a call as too large.
    let mut batch_limit = BatchLimit {
        envelopes: settings.batch_size,
        bytes: MAX_BATCH_BYTES,
    };
    loop {
        // Checked first: a change already seen (while draining a call) does not wake `changed()`.
        if *shutdown.borrow() {
            return;
        }
        if let Some(deadline) = wait_until {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => wait_until = None,
                _ = signal.notify.notified() => {
                    // New notices do not cut a back-off short; an operator's retry does.
                    if !signal.retry_now.swap(false, std::sync::atomic::Ordering::SeqCst) {
                        continue;
                    }
                    wait_until = None;
                }
                _ = shutdown.changed() => return,
            }
        }
        if *shutdown.borrow() {
            return;
        }
        // A newer directory may have moved the peer, or changed the keys its receipts are
        // checked against.
        if let Some(now) = state.directory.current().peers.get(peer) {
            if now.endpoint != peer_entry.endpoint {
                match channel(&state, now) {
                    Ok(ch) => {
                        info!(peer = %peer, endpoint = %now.endpoint, "delivering to the peer's new endpoint");
                        client = client_of(ch);
                    }
                    Err(e) => {
                        warn!(peer = %peer, error = %e, "cannot deliver to the peer's new endpoint")
                    }
                }
            }
            peer_entry = now.clone();
        }
        signal
            .retry_now
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let pending = match state.store.pending_for(peer, batch_limit.envelopes) {
            Ok(p) => p,
            Err(e) => {
                warn!(peer = %peer, error = %e, "cannot read the outbox");
                wait_until = Some(tokio::time::Instant::now() + settings.max_backoff);
                continue;
            }
        };
        if pending.is_empty() {
            failures = 0;
            tokio::select! {
                _ = signal.notify.notified() => {}
                _ = shutdown.changed() => return,
            }
            continue;
        }
        let mut batch = Vec::new();
        let mut envelopes = Vec::new();
        let mut bytes = 0;
        for record in pending {
            let Ok(Some(env)) = state.store.outbound_envelope(&record.id) else {
                continue;
            };
            let Ok(notice) = SignedNotice::from_envelope_bytes(&env) else {
                continue;
            };
            bytes += env.len();
            if !batch.is_empty() && bytes > batch_limit.bytes {
                break;
            }
            envelopes.push(notice.to_envelope());
            batch.push((record, notice));
        }
        if batch.is_empty() {
            warn!(peer = %peer, "pending notices have no readable stored envelope; the store needs attention");
            wait_until = Some(tokio::time::Instant::now() + settings.max_backoff);
            continue;
        }
        // Replies go with the proof, signed by other counties, of when they existed.
        let mut proofs = Vec::new();
        let mut asked = false;
        for (index, (record, _)) in batch.iter().enumerate() {
            if record.in_reply_to.is_some()
                && let Some(mut proof) =
                    crate::cosigning::existence_proof(&state, &record.id, peer, &mut asked).await
            {
                proof.envelope = index as u32;
                proofs.push(proof);
            }
        }
        // The whole call is bounded, the connection and TLS handshake included. On shutdown the
        // answer is awaited a little longer only: a peer that hangs must hold up neither the
        // others nor a stop.
        let sent_ms = state.clock.now_ms();
        let outcome = {
            let call = tokio::time::timeout(
                settings.timeout,
                client.deliver(pb::DeliverRequest { envelopes, proofs }),
            );
            tokio::pin!(call);
            tokio::select! {
                outcome = &mut call => outcome,
                _ = shutdown.changed() => match tokio::time::timeout(IN_FLIGHT_DRAIN, &mut call).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        info!(peer = %peer, notices = batch.len(), "stopping: abandoned a delivery call that got no answer; its notices stay pending");
                        return;
                    }
                },
            }
        };
        let attempts = match outcome {
            Err(_) => {
                let why = format!(
                    "timed out: no answer within {} s (peer or its TLS handshake hangs)",
                    settings.timeout.as_secs()
                );
                batch.iter().map(|_| Attempt::Failed(why.clone())).collect()
            }
            Ok(Ok(response)) => {
                let receipts = response.into_inner().receipts;
                if receipts.len() == batch.len() {
                    receipts
                        .into_iter()
                        .zip(&batch)
                        .map(|(wire, (_, notice))| check_receipt(&peer_entry, notice, wire))
                        .collect::<Vec<_>>()
                } else {
                    let why = format!(
                        "peer answered {} envelopes with {} receipts",
                        batch.len(),
                        receipts.len()
                    );
                    batch.iter().map(|_| Attempt::Failed(why.clone())).collect()
                }
            }
            Ok(Err(status)) => {
                // A call the peer refused as too large decided nothing: split it, and deliver
                // again at once, without counting a failure.
                if let Some(smaller) = batch_limit.after_refusal(&status, batch.len(), bytes) {
                    info!(
                        peer = %peer,
                        envelopes = smaller.envelopes,
                        bytes = smaller.bytes,
                        refused = %describe(&status),
                        "the peer takes smaller batches; delivering in smaller ones"
                    );
                    batch_limit = smaller;
                    continue;
                }
                let why = describe(&status);
                batch.iter().map(|_| Attempt::Failed(why.clone())).collect()
            }
        };
        let first_error = attempts.iter().find_map(|a| match a {
            Attempt::Failed(why) => Some(why.clone()),
            Attempt::Receipt(_) => None,
        });
        // The peer signed each receipt while this call was under way: its time tells whether
        // the two clocks agree.
        if let Some(received_at_ms) = attempts.iter().rev().find_map(|a| match a {
            Attempt::Receipt(r) => Some(r.receipt.received_at_ms),
            Attempt::Failed(_) => None,
        }) {
            let skew_ms = state.config.limits.max_clock_skew_ms;
            let answered_ms = state.clock.now_ms();
            let (before, offset) = state.peer_health.compare_clock(
                peer,
                received_at_ms,
                sent_ms,
                answered_ms,
                skew_ms,
            );
            match (before, offset) {
                (None, Some(offset)) => warn!(
                    peer = %peer, offset_ms = offset, allowed_ms = skew_ms,
                    "this node's clock and the peer's differ by more than the allowed skew; check both clocks (NTP)"
                ),
                (Some(_), None) => {
                    info!(peer = %peer, "this node's clock and the peer's agree again")
                }
                _ => {}
            }
        }
        // The wait before the next attempt if this one failed, whether the peer or the store did.
        let delay = Backoff {
            initial: settings.initial_backoff,
            max: settings.max_backoff,
        }
        .delay(failures.saturating_add(1), random_unit());
        let now_ms = state.clock.now_ms();
        // The newest checkpoint of the batch vouches for all earlier ones.
        let newest = attempts.iter().rev().find_map(|a| match a {
            Attempt::Receipt(r) => r.receipt.checkpoint.clone(),
            Attempt::Failed(_) => None,
        });
        let updates = batch
            .iter()
            .zip(attempts)
            .map(|((record, _), attempt)| record_attempt(&state, record, attempt, now_ms, delay))
            .collect();
        // One transaction (one fsync) for the batch's results.
        let first_error = match state.store.update_outbound_batch(updates).await {
            Ok(results) => {
                for e in results.into_iter().filter_map(Result::err) {
                    warn!(peer = %peer, error = %e, "cannot record a delivery attempt");
                }
                // A stopping node leaves the checkpoint to the next receipt's, which vouches for it.
                if let Some(note) = newest
                    && !*shutdown.borrow()
                {
                    crate::witness::witness(&state, &peer_entry, &mut client, &note).await;
                }
                first_error
            }
            // The receipts are not kept, so the notices stay pending and are delivered again
            // once storage works (the peer answers with the same receipts); until then, back
            // off instead of delivering in a loop.
            Err(e) => Some(format!("cannot record the delivery results: {e}")),
        };
        if first_error.is_some() {
            failures = failures.saturating_add(1);
            wait_until = Some(tokio::time::Instant::now() + delay);
        } else {
            failures = 0;
        }
        state
            .peer_health
            .record_delivery(peer, first_error, state.clock.now_ms());
    }
}

/// How many envelopes, and how many of their bytes, a batch to one peer may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchLimit {
    envelopes: usize,
    bytes: usize,
}

impl BatchLimit {
    /// The smaller limit to use after the peer refused a batch of `envelopes` holding `bytes`
    /// with `status`; `None` when the status is no such refusal or the batch cannot be split.
    fn after_refusal(self, status: &tonic::Status, envelopes: usize, bytes: usize) -> Option<Self> {
        match status.code() {
            // Too many envelopes in one call; the peer says how many it takes.
            tonic::Code::ResourceExhausted if envelopes > 1 => {
                let peer_limit = status
                    .metadata()
                    .get(crate::exchange::MAX_BATCH_ENVELOPES_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<usize>().ok())
                    .filter(|&n| n >= 1 && n < envelopes);
                Some(Self {
                    envelopes: peer_limit.unwrap_or(envelopes / 2).max(1),
                    ..self
                })
            }
            // The request was above the peer's message size limit.
            tonic::Code::OutOfRange if envelopes > 1 => Some(Self {
                envelopes: (envelopes / 2).max(1),
                bytes: (bytes / 2).max(1),
            }),
            _ => None,
        }
    }
}

/// The status and its causes, e.g. "peer unavailable: tcp connect error: Connection refused".
fn describe(status: &tonic::Status) -> String {
    let mut why = format!("{}: {}", code_name(status.code()), status.message());
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !why.contains(&text) {
            why.push_str(": ");
            why.push_str(&text);
        }
        source = cause.source();
    }
    why
}

fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Unavailable => "peer unavailable",
        tonic::Code::DeadlineExceeded => "timed out",
        tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => "refused by peer",
        _ => "delivery error",
    }
}

/// A receipt counts only if the peer signed it with a key of its own, for this very envelope.
fn check_receipt(peer: &Peer, notice: &SignedNotice, wire: pb::SignedReceipt) -> Attempt {
    if let Some(rejection) = liaison_core::receipt::read_unsigned_rejection(&wire) {
        return Attempt::Failed(format!(
            "the peer could not read the notice's header and refused it without signing \
             ({}: {}); this node's software produced bytes the protocol does not allow",
            rejection.code.name(),
            rejection.reason
        ));
    }
    let receipt = match SignedReceipt::open(wire) {
        Ok(r) => r,
        Err(e) => return Attempt::Failed(format!("peer returned an unreadable receipt: {e}")),
    };
    let r = &receipt.receipt;
    let key = match peer.key_at(r.key_id, r.received_at_ms) {
        Ok(k) => k,
        Err(why) => {
            return Attempt::Failed(format!("receipt is signed with an unknown key: {why}"));
        }
    };
    if !receipt.signature_valid(&key.key) {
        return Attempt::Failed("receipt signature does not verify".into());
    }
    if r.recipient != peer.county || r.envelope_sha256 != notice.envelope_sha256() {
        return Attempt::Failed("receipt is not for this envelope".into());
    }
    if r.notice_id.is_some_and(|id| id != notice.header.id) {
        return Attempt::Failed("receipt names another notice".into());
    }
    Attempt::Receipt(Box::new(receipt))
}

/// The change to the outbox that one delivery attempt makes.
fn record_attempt(
    state: &NodeState,
    record: &OutboundRecord,
    attempt: Attempt,
    now_ms: i64,
    retry_in: Duration,
) -> OutboundUpdate {
    let id = record.id;
    let peer = record.recipient;
    let _span = info_span!("notice", notice_id = %id, peer = %peer).entered();
    let metrics = &state.metrics;
    match attempt {
        Attempt::Receipt(receipt) => {
            let r = receipt.receipt.clone();
            metrics.attempt(peer, true);
            metrics.receipt(peer, state.clock.now_ms() - record.issued_at_ms);
            let logged = ReceivedReceipt {
                bytes: receipt.to_bytes(),
                content: receipt.content_hash(),
                at_ms: now_ms,
            };
            match &r.outcome {
                Outcome::Accepted => info!("delivered: the peer signed a receipt that accepts it"),
                Outcome::Rejected(rej) => {
                    metrics.rejection(Direction::Received, rej.code);
                    warn!(code = rej.code.name(), reason = %rej.reason, "rejected by peer");
                }
            }
            OutboundUpdate {
                id,
                receipt: Some(logged),
                change: Box::new(move |rec| {
                    rec.delivery = rec.delivery.on_receipt(&r);
                    Ok(())
                }),
            }
        }
        Attempt::Failed(why) => {
            metrics.attempt(peer, false);
            info!(error = %why, "delivery failed; will retry");
            OutboundUpdate {
                id,
                receipt: None,
                change: Box::new(move |rec| {
                    rec.delivery = rec.delivery.on_failure(why, now_ms, retry_in);
                    Ok(())
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: BatchLimit = BatchLimit {
        envelopes: 64,
        bytes: MAX_BATCH_BYTES,
    };

    fn too_many(limit: Option<&str>) -> tonic::Status {
        let mut status = tonic::Status::resource_exhausted("envelopes: too many");
        if let Some(limit) = limit {
            status.metadata_mut().insert(
                crate::exchange::MAX_BATCH_ENVELOPES_HEADER,
                limit.parse().unwrap(),
            );
        }
        status
    }

    #[test]
    fn a_batch_refused_for_its_envelope_count_shrinks_to_the_peers_limit_or_to_half() {
        let next = |status, envelopes| START.after_refusal(&status, envelopes, 1000);
        assert_eq!(next(too_many(Some("3")), 10).map(|l| l.envelopes), Some(3));
        assert_eq!(
            next(too_many(None), 10).map(|l| l.envelopes),
            Some(5),
            "halved when the peer does not say"
        );
        assert_eq!(
            next(too_many(Some("not a number")), 10).map(|l| l.envelopes),
            Some(5)
        );
        assert_eq!(
            next(too_many(Some("40")), 10).map(|l| l.envelopes),
            Some(5),
            "a limit that would not shrink the batch is not believed"
        );
        assert_eq!(
            next(too_many(Some("3")), 1),
            None,
            "one envelope cannot be split"
        );
    }

    #[test]
    fn a_batch_refused_for_its_size_halves_count_and_bytes() {
        let status = tonic::Status::out_of_range("Error, decoded message length too large");
        assert_eq!(
            START.after_refusal(&status, 10, 9000),
            Some(BatchLimit {
                envelopes: 5,
                bytes: 4500
            })
        );
        assert_eq!(START.after_refusal(&status, 1, 9000), None);
    }

    #[test]
    fn other_failures_do_not_change_the_batch() {
        for status in [
            tonic::Status::unavailable("storage"),
            tonic::Status::internal("oops"),
        ] {
            assert_eq!(START.after_refusal(&status, 10, 9000), None);
        }
    }
}
