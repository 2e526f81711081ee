//! The peer-facing `Exchange` service: checks each envelope, stores what it accepts, and answers
//! every envelope with a signed receipt (unsigned when its header cannot be read), only once the
//! batch is durable. Each client certificate's calls take turns, so one client's flood shares the
//! node with the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use liaison_core::Delivery;
use liaison_core::cosign::{self, ExistenceProof};
use liaison_core::merkle::Hash;
use liaison_core::notice::{Header, envelope_sha256};
use liaison_core::receipt::{self, Outcome, Receipt};
use liaison_core::trust::{self, Original, PeerKey, Recipient};
use liaison_core::{RejectCode, Rejection, SignedReceipt};
use liaison_proto::v1 as pb;
use liaison_store::{InboundItem, InboundOutcome, InboundRecord, IssuedReceipt, LogHead};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Request, Response, Status};
use tracing::{Span, error, field, info, info_span, warn};

use crate::metrics::{Direction, Refusal};
use crate::refusal_log::{REFUSAL_LOG_INTERVAL, RefusalLog};
use crate::{NodeState, pki};

/// The response metadata key that carries `limits.max_batch_envelopes` when a call is refused
/// for carrying more envelopes than that.
pub(crate) const MAX_BATCH_ENVELOPES_HEADER: &str = "liaison-max-batch-envelopes";

/// `Deliver` calls of one client certificate processed at once; its further calls wait their turn,
/// so that one client's flood shares the node with the others instead of taking it.
pub(crate) const CALLS_AT_ONCE_PER_PEER: usize = 2;

/// `Deliver` calls of one client certificate that may wait for their turn; one more is refused
/// with `UNAVAILABLE` at once, so that waiting calls do not pile up in memory.
pub(crate) const CALLS_WAITING_PER_PEER: usize = 4;

/// Envelopes checked between two chances for other clients' calls to run.
const ENVELOPES_PER_TURN: usize = 16;

/// Serves `Exchange` for one node.
#[derive(Debug, Clone)]
pub(crate) struct ExchangeService {
    pub(crate) state: Arc<NodeState>,
    turns: Arc<PeerTurns>,
    refusal_log: Arc<RefusalLog>,
}

/// The client of a call: the SHA-256 of its TLS end-entity certificate.
type ClientId = [u8; 32];

/// Per client certificate, its `Deliver` calls being processed and waiting.
#[derive(Debug, Default)]
struct PeerTurns(Mutex<HashMap<ClientId, Arc<ClientCalls>>>);

#[derive(Debug)]
struct ClientCalls {
    processing: Arc<Semaphore>,
    /// Calls that hold a turn or wait for one.
    calls: AtomicUsize,
}

/// A client's call, processed or waiting for its turn; counted until dropped.
struct Turn {
    turns: Arc<PeerTurns>,
    client: ClientId,
    calls: Arc<ClientCalls>,
    permit: Option<OwnedSemaphorePermit>,
}

impl PeerTurns {
    /// The call's turn, once one of the client's calls being processed ends; `None` when the
    /// client already has as many calls waiting as it may.
    async fn wait(self: &Arc<Self>, client: ClientId) -> Option<Turn> {
        let calls = {
            let mut turns = crate::lock(&self.0);
            let calls = turns
                .entry(client)
                .or_insert_with(|| {
                    Arc::new(ClientCalls {
                        processing: Arc::new(Semaphore::new(CALLS_AT_ONCE_PER_PEER)),
                        calls: AtomicUsize::new(0),
                    })
                })
                .clone();
            if calls.calls.load(Ordering::SeqCst) >= CALLS_AT_ONCE_PER_PEER + CALLS_WAITING_PER_PEER
            {
                return None;
            }
            calls.calls.fetch_add(1, Ordering::SeqCst);
            calls
        };
        let mut turn = Turn {
            turns: self.clone(),
            client,
            calls: calls.clone(),
            permit: None,
        };
        // The semaphore is never closed.
        turn.permit = calls.processing.clone().acquire_owned().await.ok();
        Some(turn)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut turns = crate::lock(&self.turns.0);
        // Counted down under the map's lock, so a call that counts itself in is never removed.
        if self.calls.calls.fetch_sub(1, Ordering::SeqCst) == 1 {
            turns.remove(&self.client);
        }
    }
}

/// What happens to one envelope of a batch.
enum Decision {
    Refused(Box<pb::SignedReceipt>),
    /// Accepted before: the receipt issued then, whatever has changed since.
    AlreadyStored(pb::SignedReceipt),
    Accept {
        index: usize,
    },
}

impl ExchangeService {
    pub(crate) fn new(state: Arc<NodeState>) -> Self {
        Self {
            state,
            turns: Arc::default(),
            refusal_log: Arc::new(RefusalLog::new(REFUSAL_LOG_INTERVAL)),
        }
    }

    /// The client's turn to have a call processed (see [`PeerTurns`]), or `UNAVAILABLE` when it
    /// already has as many calls in progress and waiting as it may.
    async fn turn(&self, client: ClientId) -> Result<Turn, Status> {
        if let Some(turn) = self.turns.wait(client).await {
            return Ok(turn);
        }
        self.state.metrics.refused(Refusal::CallsWaiting);
        if let Some(unlogged) = self
            .refusal_log
            .should_log(client, tokio::time::Instant::now())
        {
            warn!(
                unlogged_before = unlogged,
                "refused a call: the client has too many calls in progress or waiting"
            );
        }
        Err(Status::unavailable(format!(
            "this client certificate already has {} calls in progress or waiting; \
             nothing was decided, call again later",
            CALLS_AT_ONCE_PER_PEER + CALLS_WAITING_PER_PEER
        )))
    }

    /// The receipt for a notice just stored, carrying this node's signed checkpoint of its log
    /// with the notice in it.
    fn issue_receipt(state: &NodeState, item: &InboundItem, head: LogHead) -> IssuedReceipt {
        let record = &item.record;
        // A receipt without a checkpoint is still a signed receipt; the next one vouches for
        // this notice's place in the log.
        let checkpoint = state
            .sign_checkpoint(head)
            .inspect_err(|e| error!(error = %e, notice_id = %record.id, "receipt issued without a checkpoint"))
            .ok();
        let receipt = SignedReceipt::sign(
            &state.key,
            Receipt {
                notice_id: Some(record.id),
                envelope_sha256: record.envelope_sha256,
                recipient: state.config.county,
                sender: Some(record.sender),
                received_at_ms: record.received_at_ms,
                outcome: Outcome::Accepted,
                reply_due_at_ms: record.reply_due_at_ms,
                key_id: state.key.key_id(),
                checkpoint: checkpoint.clone(),
                existed_by_ms: item.existed_by_ms,
            },
        );
        IssuedReceipt {
            bytes: receipt.to_bytes(),
            content: receipt.content_hash(),
            checkpoint: checkpoint.map(|note| (head.size, note)),
        }
    }

    /// The rejection of the envelope with these header and signature bytes: signed when its
    /// header can be read, so that it names its notice and sender; otherwise an unsigned answer,
    /// which costs no signature (see [`receipt::unsigned_rejection`]).
    fn rejection(
        &self,
        client: ClientId,
        header_bytes: &[u8],
        signature: &[u8],
        rejection: Rejection,
        now_ms: i64,
    ) -> pb::SignedReceipt {
        let header = Header::decode(header_bytes).ok();
        if header.is_some() {
            self.state
                .metrics
                .rejection(Direction::Sent, rejection.code);
        } else {
            self.state.metrics.refused(Refusal::UnsignedRejection);
        }
        if let Some(unlogged) = self
            .refusal_log
            .should_log(client, tokio::time::Instant::now())
        {
            // The notice's span (see `notice_span`) names it.
            warn!(
                sender = header.as_ref().map(|h| h.sender.to_string()),
                code = rejection.code.name(),
                reason = %rejection.reason,
                unlogged_before = unlogged,
                interval_secs = REFUSAL_LOG_INTERVAL.as_secs(),
                "refused a notice (one line per client and interval; unlogged_before counts the refusals since the last line)"
            );
        }
        let Some(header) = header else {
            return receipt::unsigned_rejection(
                envelope_sha256(header_bytes, signature),
                self.state.config.county,
                now_ms,
                &rejection,
            );
        };
        SignedReceipt::sign(
            &self.state.key,
            Receipt {
                notice_id: Some(header.id),
                envelope_sha256: envelope_sha256(header_bytes, signature),
                recipient: self.state.config.county,
                sender: Some(header.sender),
                received_at_ms: now_ms,
                outcome: Outcome::Rejected(rejection),
                reply_due_at_ms: None,
                key_id: self.state.key.key_id(),
                checkpoint: None,
                existed_by_ms: None,
            },
        )
        .to_wire()
    }

    /// The receipt of an envelope accepted before, so that a redelivery gets the same answer even if
    /// the directory or agreements changed since.
    fn stored_receipt(
        &self,
        envelope: &pb::Envelope,
        tls_is: &impl Fn(liaison_core::CountyCode) -> bool,
    ) -> Result<Option<pb::SignedReceipt>, Status> {
        let Ok(header) = Header::decode(&envelope.header) else {
            return Ok(None);
        };
        if !tls_is(header.sender) {
            return Ok(None);
        }
        let storage = |e: liaison_store::StoreError| Status::unavailable(format!("storage: {e}"));
        let Some(existing) = self.state.store.inbound(&header.id).map_err(storage)? else {
            return Ok(None);
        };
        if existing.envelope_sha256 != envelope_sha256(&envelope.header, &envelope.signature) {
            return Ok(None);
        }
        let Some(bytes) = self
            .state
            .store
            .inbound_receipt(&header.id)
            .map_err(storage)?
        else {
            return Ok(None);
        };
        let receipt = SignedReceipt::from_bytes(&bytes)
            .map_err(|e| Status::internal(format!("stored receipt unreadable: {e}")))?;
        Ok(Some(receipt.to_wire()))
    }

    /// The earliest time by which a reply is known to have existed, on the word of counties other
    /// than its sender: now, or the earliest cosignature of its existence proof if that verifies
    /// and is earlier. A proof that does not verify proves nothing, and refuses nothing.
    fn existed_by(
        &self,
        notice: &liaison_core::SignedNotice,
        proof: Option<ExistenceProof>,
        now_ms: i64,
    ) -> i64 {
        let Some(proof) = proof else {
            return now_ms;
        };
        let version = self.state.directory.current();
        let directory = &version.peers;
        let me = self.state.config.county;
        let own_keys: Vec<PeerKey> = self
            .state
            .own_keys
            .iter()
            .map(|key| PeerKey {
                key: *key,
                valid_from_ms: i64::MIN,
                valid_until_ms: None,
            })
            .collect();
        let found = cosign::existed_by(&proof, notice, |county| {
            if county == me {
                own_keys.clone()
            } else {
                directory
                    .get(county)
                    .map(|p| p.keys.clone())
                    .unwrap_or_default()
            }
        });
        match found {
            Ok(at_ms) => at_ms.min(now_ms),
            Err(why) => {
                warn!(error = %why, "a reply's existence proof proves nothing; its receipt time counts");
                now_ms
            }
        }
    }

    fn decide(
        &self,
        client: ClientId,
        envelope: pb::Envelope,
        proof: Option<ExistenceProof>,
        tls_is: &impl Fn(liaison_core::CountyCode) -> bool,
        now_ms: i64,
        items: &mut Vec<InboundItem>,
    ) -> Result<Decision, Status> {
        let directory = self.state.directory.current();
        let recipient = Recipient {
            me: self.state.config.county,
            directory: &directory.peers,
            limits: self.state.config.limits,
        };
        if let Some(receipt) = self.stored_receipt(&envelope, tls_is)? {
            return Ok(Decision::AlreadyStored(receipt));
        }
        // Only the header and signature are kept for a rejection, not the payload.
        let (header_bytes, signature) = (envelope.header.clone(), envelope.signature.clone());
        let admitted = match trust::admit(recipient, envelope, tls_is, now_ms) {
            Ok(admitted) => admitted,
            Err(rejection) => {
                return Ok(Decision::Refused(Box::new(self.rejection(
                    client,
                    &header_bytes,
                    &signature,
                    rejection,
                    now_ms,
                ))));
            }
        };
        let h = &admitted.notice.header;
        let mut existed_by_ms = None;
        if let Some(original_id) = h.in_reply_to {
            let original = self
                .state
                .store
                .outbound(&original_id)
                .map_err(|e| Status::unavailable(format!("storage: {e}")))?
                .map(|o| Original {
                    kind: o.kind,
                    recipient: o.recipient,
                    received_at_ms: match o.delivery {
                        Delivery::Delivered { received_at_ms, .. } => Some(received_at_ms),
                        _ => None,
                    },
                });
            if let Err(rejection) = trust::check_reply(h.kind, h.sender, h.issued_at_ms, original) {
                return Ok(Decision::Refused(Box::new(self.rejection(
                    client,
                    &header_bytes,
                    &signature,
                    rejection,
                    now_ms,
                ))));
            }
            existed_by_ms = Some(self.existed_by(&admitted.notice, proof, now_ms));
        }
        let digest = admitted.notice.envelope_sha256();
        let deadlines = &self.state.config.deadlines;
        // A gap in this node's calendar is this node's problem: the notice is accepted, and the
        // missing due time is shown to the operator until an administrator adds the calendar.
        let (reply_due_at_ms, deadline_error) =
            match self
                .state
                .policy()
                .due_at(h.kind, h.urgent, now_ms, &deadlines.calendar)
            {
                Ok(due) => (due, None),
                Err(e) => {
                    warn!(error = %e, "cannot compute the reply deadline");
                    (None, Some(e.to_string()))
                }
            };
        items.push(InboundItem {
            record: InboundRecord {
                id: h.id,
                sender: h.sender,
                kind: h.kind,
                urgent: h.urgent,
                issued_at_ms: h.issued_at_ms,
                in_reply_to: h.in_reply_to,
                received_at_ms: now_ms,
                envelope_sha256: digest,
                reply_due_at_ms,
                deadline_error,
                answered_at_ms: None,
                flagged: None,
            },
            envelope: admitted.notice.envelope_bytes(),
            content: admitted.notice.content_hash(),
            existed_by_ms,
        });
        Ok(Decision::Accept {
            index: items.len() - 1,
        })
    }
}

/// The client of a call, by its TLS end-entity certificate.
fn client_id(
    certs: Option<&[tonic::transport::CertificateDer<'static>]>,
) -> Result<ClientId, Status> {
    certs
        .and_then(|certs| certs.first())
        .map(|cert| Sha256::digest(cert.as_ref()).into())
        .ok_or_else(|| Status::unauthenticated("no TLS client certificate: call over mutual TLS"))
}

/// The existence proofs of a request by envelope index; proofs whose hashes are not 32 bytes
/// are dropped (they prove nothing), and of two proofs for one envelope the first counts.
fn existence_proofs(proofs: Vec<pb::ExistenceProof>) -> HashMap<usize, ExistenceProof> {
    let mut out = HashMap::new();
    for p in proofs {
        let Ok(inclusion_proof) = p
            .inclusion_proof
            .iter()
            .map(|h| Hash::try_from(h.as_slice()))
            .collect::<Result<Vec<Hash>, _>>()
        else {
            continue;
        };
        out.entry(p.envelope as usize).or_insert(ExistenceProof {
            checkpoint: p.checkpoint,
            leaf_index: p.leaf_index,
            logged_at_ms: p.logged_at_ms,
            inclusion_proof,
        });
    }
    out
}

/// The span of one envelope's handling, carrying its notice id when the header can be read.
fn notice_span(envelope: &pb::Envelope) -> Span {
    let span = info_span!("notice", notice_id = field::Empty);
    if let Ok(header) = Header::decode(&envelope.header) {
        span.record("notice_id", field::display(header.id));
    }
    span
}

#[tonic::async_trait]
impl pb::exchange_server::Exchange for ExchangeService {
    async fn deliver(
        &self,
        request: Request<pb::DeliverRequest>,
    ) -> Result<Response<pb::DeliverResponse>, Status> {
        let certs = request.peer_certs();
        let tls_is = |county| {
            certs
                .as_ref()
                .is_some_and(|certs| pki::peer_is_county(certs, county))
        };
        let client = client_id(certs.as_ref().map(|c| c.as_slice()))?;
        let request = request.into_inner();
        let limit = self.state.config.exchange.max_batch_envelopes;
        if request.envelopes.len() > limit {
            self.state.metrics.refused(Refusal::BatchEnvelopes);
            if let Some(unlogged) = self
                .refusal_log
                .should_log(client, tokio::time::Instant::now())
            {
                warn!(
                    envelopes = request.envelopes.len(),
                    limit,
                    unlogged_before = unlogged,
                    "refused a delivery call with too many envelopes"
                );
            }
            let mut status = Status::resource_exhausted(format!(
                "envelopes: {} in one call, more than this node's limit of {limit} \
                 (limits.max_batch_envelopes); nothing was decided, deliver them in smaller batches",
                request.envelopes.len()
            ));
            status
                .metadata_mut()
                .insert(MAX_BATCH_ENVELOPES_HEADER, limit.into());
            return Err(status);
        }
        let _turn = self.turn(client).await?;
        // The time is taken once the call has its turn: it is when the node decides.
        let now_ms = self.state.clock.now_ms();
        let mut proofs = existence_proofs(request.proofs);
        let mut items = Vec::new();
        let mut decisions = Vec::with_capacity(request.envelopes.len());
        for (index, envelope) in request.envelopes.into_iter().enumerate() {
            if index > 0 && index % ENVELOPES_PER_TURN == 0 {
                tokio::task::yield_now().await;
            }
            let span = notice_span(&envelope);
            let proof = proofs.remove(&index);
            let decision = span
                .in_scope(|| self.decide(client, envelope, proof, &tls_is, now_ms, &mut items))?;
            decisions.push((span, decision));
        }
        // A stored receipt found by the redelivery check was read from committed, so durable, data.
        let state = self.state.clone();
        let outcomes = self
            .state
            .store
            .accept_inbound(&items, move |item, head| {
                Self::issue_receipt(&state, item, head)
            })
            .await
            .map_err(|e| Status::unavailable(format!("storage: {e}")))?;
        if let Some(sender) = items.first().map(|i| i.record.sender) {
            // Accepted notices passed the TLS check, so the client certificate is the sender's.
            let expiry = certs
                .as_ref()
                .and_then(|certs| certs.first())
                .and_then(|cert| pki::certificate_not_after(cert.as_ref()));
            if let Some(seconds) = expiry {
                self.state
                    .peer_health
                    .set_certificate_expiry(sender, seconds.saturating_mul(1000));
            }
            // A peer that delivers to us is up again: deliver what waits for it without its back-off.
            if self.state.peer_health.error(sender).is_some() {
                self.state.wake(sender, true);
            }
        }
        let mut receipts = Vec::with_capacity(decisions.len());
        for (span, decision) in decisions {
            let _entered = span.enter();
            let receipt = match decision {
                Decision::Refused(receipt) => *receipt,
                Decision::AlreadyStored(receipt) => receipt,
                Decision::Accept { index } => match &outcomes[index] {
                    InboundOutcome::Stored { receipt } => {
                        let r = &items[index].record;
                        self.state.metrics.accepted(r.sender);
                        info!(sender = %r.sender, kind = r.kind.name(), "accepted a notice");
                        SignedReceipt::from_bytes(receipt)
                            .map_err(|e| {
                                Status::internal(format!("issued receipt unreadable: {e}"))
                            })?
                            .to_wire()
                    }
                    InboundOutcome::AlreadyStored { receipt } => SignedReceipt::from_bytes(receipt)
                        .map_err(|e| Status::internal(format!("stored receipt unreadable: {e}")))?
                        .to_wire(),
                    InboundOutcome::IdConflict => {
                        let item = &items[index];
                        let notice =
                            liaison_core::SignedNotice::from_envelope_bytes(&item.envelope)
                                .map_err(|e| {
                                    Status::internal(format!("envelope unreadable: {e}"))
                                })?;
                        let rejection = Rejection::new(
                            RejectCode::DuplicateId,
                            format!(
                                "a different notice with id {} was accepted before",
                                item.record.id
                            ),
                        );
                        self.rejection(
                            client,
                            &notice.header_bytes,
                            &notice.signature,
                            rejection,
                            now_ms,
                        )
                    }
                },
            };
            receipts.push(receipt);
        }
        Ok(Response::new(pb::DeliverResponse { receipts }))
    }

    async fn cosign(
        &self,
        request: Request<pb::CosignRequest>,
    ) -> Result<Response<pb::CosignResponse>, Status> {
        let certs = request.peer_certs();
        let _turn = self
            .turn(client_id(certs.as_ref().map(|c| c.as_slice()))?)
            .await?;
        let tls_is = |county| {
            certs
                .as_ref()
                .is_some_and(|certs| pki::peer_is_county(certs, county))
        };
        crate::witness::cosign(&self.state, tls_is, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_directory(
        &self,
        request: Request<pb::GetDirectoryRequest>,
    ) -> Result<Response<pb::GetDirectoryResponse>, Status> {
        let directory = self.state.directory.current();
        let certs = request.peer_certs();
        let is_peer = certs.as_ref().is_some_and(|certs| {
            directory
                .peers
                .peers()
                .any(|p| pki::peer_is_county(certs, p.county))
        });
        if !is_peer {
            return Err(Status::permission_denied(
                "the TLS client certificate is not that of a county in this node's directory",
            ));
        }
        let have = request.into_inner().have_serial;
        let signed_directory = directory
            .signed
            .as_ref()
            .filter(|d| d.serial > have)
            .map(|d| d.note.clone())
            .unwrap_or_default();
        Ok(Response::new(pb::GetDirectoryResponse { signed_directory }))
    }

    async fn consistency(
        &self,
        request: Request<pb::ConsistencyRequest>,
    ) -> Result<Response<pb::ConsistencyResponse>, Status> {
        let _turn = self
            .turn(client_id(
                request.peer_certs().as_ref().map(|c| c.as_slice()),
            )?)
            .await?;
        let req = request.into_inner();
        let head = self
            .state
            .store
            .log_head()
            .map_err(|e| Status::unavailable(format!("storage: {e}")))?;
        if req.old_size > req.new_size || req.new_size > head.size {
            return Err(Status::out_of_range(format!(
                "sizes {}..{} are not within this log of size {}",
                req.old_size, req.new_size, head.size
            )));
        }
        let proof = liaison_core::merkle::consistency_proof(
            &self
                .state
                .store
                .leaves()
                .map_err(|e| Status::unavailable(format!("storage: {e}")))?,
            req.old_size,
            req.new_size,
        )
        .map_err(|e| Status::internal(format!("cannot compute the proof: {e}")))?;
        Ok(Response::new(pb::ConsistencyResponse {
            proof: proof.into_iter().map(|h| h.to_vec()).collect(),
        }))
    }
}
