//! The operator's `Admin` service on loopback: write and answer notices, list the outbox and inbox,
//! show, retry and cancel. Every call must carry the node's admin token.

use std::sync::Arc;

use liaison_core::body::NoticeBody;
use liaison_core::draft::{body_to_json, parse_draft_json};
use liaison_core::notice::Outgoing;
use liaison_core::trust::check_reference_shape;
use liaison_core::{CountyCode, NoticeId, SignedNotice, SignedReceipt};
use liaison_proto::v1 as pb;
use liaison_store::{InboundRecord, ListFilter, OutboundRecord, OutboundStatus};
use tonic::{Request, Response, Status};
use tracing::info;

use crate::NodeState;

/// Listings return at most this many notices unless asked for fewer.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// And never more than this many.
pub const MAX_LIST_LIMIT: usize = 10_000;

/// Serves `Admin` for one node.
#[derive(Debug, Clone)]
pub(crate) struct AdminService {
    pub(crate) state: Arc<NodeState>,
}

/// Refuses calls without the node's bearer token.
#[derive(Clone)]
pub(crate) struct TokenCheck {
    pub(crate) expected: Arc<String>,
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let given = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if constant_time_eq(given.as_bytes(), self.expected.as_bytes()) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(
                "missing or wrong admin token (see admin.token in the node's data directory)",
            ))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn storage(e: liaison_store::StoreError) -> Status {
    Status::internal(format!("storage: {e}"))
}

fn parse_id(text: &str) -> Result<NoticeId, Status> {
    NoticeId::parse(text.trim()).map_err(|e| Status::invalid_argument(format!("notice id: {e}")))
}

impl AdminService {
    fn peer_name(&self, county: CountyCode) -> String {
        self.state
            .config
            .directory
            .get(county)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }

    fn outbound_info(&self, r: &OutboundRecord) -> Result<pb::NoticeInfo, Status> {
        Ok(pb::NoticeInfo {
            notice_id: r.id.to_string(),
            direction: "outbound".into(),
            peer: r.recipient.to_string(),
            peer_name: self.peer_name(r.recipient),
            kind: r.kind.name().into(),
            urgent: r.urgent,
            issued_at_ms: r.issued_at_ms,
            in_reply_to: r.in_reply_to.map(|id| id.to_string()).unwrap_or_default(),
            status: r.status.name().into(),
            attempts: r.attempts,
            last_error: r.last_error.clone().unwrap_or_default(),
            next_attempt_at_ms: if r.status.is_pending() {
                r.next_attempt_at_ms
            } else {
                0
            },
            receipt_at_ms: r.receipt_at_ms.unwrap_or(0),
            reject_code: r
                .reject_code
                .map(|c| c.name().to_owned())
                .unwrap_or_default(),
            reject_reason: r.reject_reason.clone().unwrap_or_default(),
            reply_due_at_ms: r.reply_due_at_ms.unwrap_or(0),
            replies: self.replies(&r.id)?,
        })
    }

    fn inbound_info(&self, r: &InboundRecord) -> Result<pb::NoticeInfo, Status> {
        Ok(pb::NoticeInfo {
            notice_id: r.id.to_string(),
            direction: "inbound".into(),
            peer: r.sender.to_string(),
            peer_name: self.peer_name(r.sender),
            kind: r.kind.name().into(),
            urgent: r.urgent,
            issued_at_ms: r.issued_at_ms,
            in_reply_to: r.in_reply_to.map(|id| id.to_string()).unwrap_or_default(),
            status: "received".into(),
            receipt_at_ms: r.received_at_ms,
            reply_due_at_ms: r.reply_due_at_ms.unwrap_or(0),
            replies: self.replies(&r.id)?,
            ..Default::default()
        })
    }

    fn replies(&self, id: &NoticeId) -> Result<Vec<String>, Status> {
        Ok(self
            .state
            .store
            .replies_to(id)
            .map_err(storage)?
            .iter()
            .map(ToString::to_string)
            .collect())
    }

    fn list_filter(&self, req: &pb::ListRequest) -> Result<ListFilter, Status> {
        let status = match req.status.trim() {
            "" => None,
            s => Some(OutboundStatus::parse(s).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "status {s:?} is not one of queued, in_flight, delivered, rejected, cancelled"
                ))
            })?),
        };
        let peer = match req.peer.trim() {
            "" => None,
            p => Some(
                CountyCode::parse(p).map_err(|e| Status::invalid_argument(format!("peer: {e}")))?,
            ),
        };
        let limit = match req.limit as usize {
            0 => DEFAULT_LIST_LIMIT,
            n => n.min(MAX_LIST_LIMIT),
        };
        Ok(ListFilter {
            status,
            peer,
            limit,
        })
    }

    async fn change(
        &self,
        id: &NoticeId,
        change: impl Fn(&mut OutboundRecord) -> Result<(), String>,
    ) -> Result<OutboundRecord, Status> {
        match self.state.store.update_outbound(id, None, change).await {
            Ok(r) => Ok(r),
            Err(liaison_store::StoreError::NoSuchNotice(id)) => {
                Err(Status::not_found(format!("no outbound notice {id}")))
            }
            Err(liaison_store::StoreError::Refused(why)) => Err(Status::failed_precondition(why)),
            Err(e) => Err(storage(e)),
        }
    }
}

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminService {
    async fn send(
        &self,
        request: Request<pb::SendRequest>,
    ) -> Result<Response<pb::NoticeInfo>, Status> {
        let req = request.into_inner();
        let draft = parse_draft_json(&req.draft_json)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let me = self.state.config.county;
        let kind = draft.body.kind();
        let (recipient, in_reply_to) = match req.in_reply_to.trim() {
            "" => {
                let recipient = draft.recipient.ok_or_else(|| {
                    Status::invalid_argument("recipient: required (the county code to send to)")
                })?;
                (recipient, None)
            }
            id => {
                let original_id = parse_id(id)?;
                let original = self
                    .state
                    .store
                    .inbound(&original_id)
                    .map_err(storage)?
                    .ok_or_else(|| {
                        Status::not_found(format!(
                            "in_reply_to: no notice {original_id} in the inbox"
                        ))
                    })?;
                if draft.recipient.is_some_and(|r| r != original.sender) {
                    return Err(Status::invalid_argument(format!(
                        "recipient: a reply goes to the sender of the original notice, {}",
                        original.sender
                    )));
                }
                if !kind.may_answer(original.kind) {
                    let allowed: Vec<&str> = liaison_core::NoticeKind::ALL
                        .into_iter()
                        .filter(|k| k.may_answer(original.kind))
                        .map(|k| k.name())
                        .collect();
                    return Err(Status::invalid_argument(format!(
                        "body.kind: a {} cannot answer a {}; use {}",
                        kind.name(),
                        original.kind.name(),
                        if allowed.is_empty() {
                            "nothing: that kind needs no reply".to_owned()
                        } else {
                            allowed.join(" or ")
                        }
                    )));
                }
                (original.sender, Some(original_id))
            }
        };
        if recipient == me {
            return Err(Status::invalid_argument(
                "recipient: a county cannot send a notice to itself",
            ));
        }
        check_reference_shape(kind, in_reply_to.is_some())
            .map_err(|r| Status::invalid_argument(r.reason))?;
        let peer = self.state.config.directory.get(recipient).ok_or_else(|| {
            Status::invalid_argument(format!(
                "recipient: {recipient} is not a peer in this node's directory"
            ))
        })?;
        let now = self.state.clock.now_ms();
        peer.may_send(kind, now)
            .map_err(|why| Status::failed_precondition(format!("recipient: {why}")))?;
        let mut random = [0u8; 10];
        getrandom::getrandom(&mut random)
            .map_err(|e| Status::internal(format!("no randomness: {e}")))?;
        let id = NoticeId::new(now.max(0) as u64, random);
        let notice = SignedNotice::sign(
            &self.state.key,
            Outgoing {
                id,
                sender: me,
                recipient,
                kind,
                urgent: draft.urgent,
                issued_at_ms: now,
                in_reply_to,
            },
            draft.body.encode(),
        );
        let record = OutboundRecord {
            id,
            recipient,
            kind,
            urgent: draft.urgent,
            issued_at_ms: now,
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
        };
        self.state
            .store
            .enqueue(&record, &notice.envelope_bytes())
            .await
            .map_err(storage)?;
        info!(notice_id = %id, peer = %recipient, kind = kind.name(), "queued a notice");
        self.state.wake(recipient, false);
        Ok(Response::new(self.outbound_info(&record)?))
    }

    async fn list_outbox(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let filter = self.list_filter(request.get_ref())?;
        let records = self.state.store.list_outbound(&filter).map_err(storage)?;
        let notices = records
            .iter()
            .map(|r| self.outbound_info(r))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListResponse { notices }))
    }

    async fn list_inbox(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let filter = self.list_filter(request.get_ref())?;
        if filter.status.is_some() {
            return Err(Status::invalid_argument(
                "status: inbox notices have no delivery status; filter by peer instead",
            ));
        }
        let records = self
            .state
            .store
            .list_inbound(filter.peer, filter.limit)
            .map_err(storage)?;
        let notices = records
            .iter()
            .map(|r| self.inbound_info(r))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListResponse { notices }))
    }

    async fn show(
        &self,
        request: Request<pb::NoticeRef>,
    ) -> Result<Response<pb::NoticeDetail>, Status> {
        let id = parse_id(&request.get_ref().notice_id)?;
        let store = &self.state.store;
        let (info, envelope, receipt, signer, receipt_signer) =
            if let Some(r) = store.outbound(&id).map_err(storage)? {
                let info = self.outbound_info(&r)?;
                (
                    info,
                    store.outbound_envelope(&id).map_err(storage)?,
                    store.outbound_receipt(&id).map_err(storage)?,
                    None,
                    Some(r.recipient),
                )
            } else if let Some(r) = store.inbound(&id).map_err(storage)? {
                let info = self.inbound_info(&r)?;
                (
                    info,
                    store.inbound_envelope(&id).map_err(storage)?,
                    store.inbound_receipt(&id).map_err(storage)?,
                    Some(r.sender),
                    None,
                )
            } else {
                return Err(Status::not_found(format!(
                    "no notice {id} in the outbox or the inbox"
                )));
            };
        let notice = envelope
            .as_deref()
            .map(SignedNotice::from_envelope_bytes)
            .transpose()
            .map_err(|e| Status::internal(format!("stored envelope unreadable: {e}")))?;
        let receipt = receipt
            .as_deref()
            .map(SignedReceipt::from_bytes)
            .transpose()
            .ok()
            .flatten();
        let own_key = self.state.key.verifying_key();
        let peer_key = |county: CountyCode, key_id, at_ms| {
            self.state
                .config
                .directory
                .get(county)
                .and_then(|p| p.key_at(key_id, at_ms).ok())
                .map(|k| k.key)
        };
        let signature_valid = notice.as_ref().is_some_and(|n| {
            let key = match signer {
                None => Some(own_key),
                Some(sender) => peer_key(sender, n.header.key_id, n.header.issued_at_ms),
            };
            key.is_some_and(|k| n.signature_valid(&k) && n.payload_digest_valid())
        });
        let receipt_valid = receipt.as_ref().is_some_and(|r| {
            let key = match receipt_signer {
                None => Some(own_key),
                Some(peer) => peer_key(peer, r.receipt.key_id, r.receipt.received_at_ms),
            };
            key.is_some_and(|k| r.signature_valid(&k))
        });
        let body_json = match notice.as_ref().map(|n| NoticeBody::decode(&n.payload)) {
            Some(Ok(body)) => body_to_json(&body),
            Some(Err(e)) => format!("{{\"error\": {:?}}}", e.to_string()),
            None => String::new(),
        };
        Ok(Response::new(pb::NoticeDetail {
            info: Some(info),
            body_json,
            signature_valid,
            receipt_valid,
        }))
    }

    async fn retry(
        &self,
        request: Request<pb::NoticeRef>,
    ) -> Result<Response<pb::NoticeInfo>, Status> {
        let id = parse_id(&request.get_ref().notice_id)?;
        let record = self
            .change(&id, |r| match r.status {
                OutboundStatus::Queued | OutboundStatus::InFlight => {
                    r.next_attempt_at_ms = 0;
                    Ok(())
                }
                other => Err(format!(
                    "notice {id} is {}; only queued or in-flight notices can be retried",
                    other.name()
                )),
            })
            .await?;
        info!(notice_id = %id, "operator asked for a retry");
        self.state.wake(record.recipient, true);
        Ok(Response::new(self.outbound_info(&record)?))
    }

    async fn cancel(
        &self,
        request: Request<pb::NoticeRef>,
    ) -> Result<Response<pb::NoticeInfo>, Status> {
        let id = parse_id(&request.get_ref().notice_id)?;
        let record = self
            .change(&id, |r| match r.status {
                OutboundStatus::Queued | OutboundStatus::InFlight => {
                    r.status = OutboundStatus::Cancelled;
                    Ok(())
                }
                other => Err(format!(
                    "notice {id} is {}; only queued or in-flight notices can be cancelled",
                    other.name()
                )),
            })
            .await?;
        info!(notice_id = %id, "operator cancelled a notice");
        Ok(Response::new(self.outbound_info(&record)?))
    }

    async fn peers(
        &self,
        _request: Request<pb::PeersRequest>,
    ) -> Result<Response<pb::PeersResponse>, Status> {
        let mut peers = Vec::new();
        for p in self.state.config.directory.peers() {
            let a = p.agreement.as_ref();
            peers.push(pb::PeerInfo {
                county: p.county.to_string(),
                name: p.name.clone(),
                endpoint: p.endpoint.clone(),
                allowed_kinds: a
                    .map(|a| {
                        a.allowed_kinds
                            .iter()
                            .map(|k| k.name().to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
                contact_person: a.map(|a| a.contact_person.clone()).unwrap_or_default(),
                phone: a.map(|a| a.phone.clone()).unwrap_or_default(),
                agreement_effective: a.map(|a| a.effective.to_string()).unwrap_or_default(),
                backlog: self.state.store.backlog(p.county).map_err(storage)?,
                last_error: self.state.peer_error(p.county).unwrap_or_default(),
            });
        }
        Ok(Response::new(pb::PeersResponse { peers }))
    }
}
