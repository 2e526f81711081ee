//! The operator's `Admin` service on loopback: write and answer notices, list the outbox and inbox,
//! show, retry and cancel, take backups. Every call must carry the node's admin token.

use std::sync::Arc;

use liaison_core::body::NoticeBody;
use liaison_core::draft::{body_to_json, parse_draft_json};
use liaison_core::outbox::Refused;
use liaison_core::trust::check_reference_shape;
use liaison_core::{CountyCode, Delivery, NoticeId, SignedNotice, SignedReceipt};
use liaison_proto::v1 as pb;
use liaison_store::{InboundRecord, ListFilter, OutboundRecord, OutboundStatus};
use tonic::{Request, Response, Status};
use tracing::info;

use liaison_core::DeadlineState;
use liaison_core::deadline::{days_left, deadline_state};
use liaison_store::{DueEntry, Side};

use crate::{NodeState, SendError};
use crate::{audit, report};

/// Listings return at most this many notices unless asked for fewer.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// And never more than this many.
pub const MAX_LIST_LIMIT: usize = 10_000;

/// Serves `Admin` for one node.
#[derive(Debug, Clone)]
pub(crate) struct AdminService {
    pub(crate) state: Arc<NodeState>,
}

/// Who is calling: an operator may do everything; an auditor may read metadata, due lists and
/// reports and export redacted bundles, but never read a payload or change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Operator,
    Auditor,
}

/// Refuses calls without one of the node's bearer tokens, and marks each call with its role.
#[derive(Clone)]
pub(crate) struct TokenCheck {
    pub(crate) operator: Arc<String>,
    pub(crate) auditor: Arc<String>,
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let given = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let role = if constant_time_eq(given.as_bytes(), self.operator.as_bytes()) {
            Role::Operator
        } else if constant_time_eq(given.as_bytes(), self.auditor.as_bytes()) {
            Role::Auditor
        } else {
            return Err(Status::unauthenticated(
                "missing or wrong admin token (see admin.token or auditor.token in the node's data directory)",
            ));
        };
        request.extensions_mut().insert(role);
        Ok(request)
    }
}

/// The caller's role; a call that did not pass the token check has none and gets nothing.
fn role<T>(request: &Request<T>) -> Result<Role, Status> {
    request
        .extensions()
        .get::<Role>()
        .copied()
        .ok_or_else(|| Status::unauthenticated("no role"))
}

/// Refuses the call unless an operator makes it.
fn operator_only<T>(request: &Request<T>, what: &str) -> Result<(), Status> {
    match role(request)? {
        Role::Operator => Ok(()),
        Role::Auditor => Err(Status::permission_denied(format!(
            "auditors may not {what}"
        ))),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn storage(e: liaison_store::StoreError) -> Status {
    match e {
        // Nothing of a failed write is kept; the operator can try again once the disk has room.
        liaison_store::StoreError::Unavailable(why) => Status::resource_exhausted(format!(
            "nothing was written: the node's store cannot write ({why}); free space on the \
             node's disk or repair it, then try again"
        )),
        e => Status::internal(format!("storage: {e}")),
    }
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

    pub(crate) fn outbound_info(&self, r: &OutboundRecord) -> Result<pb::NoticeInfo, Status> {
        let d = &r.delivery;
        Ok(pb::NoticeInfo {
            notice_id: r.id.to_string(),
            direction: "outbound".into(),
            peer: r.recipient.to_string(),
            peer_name: self.peer_name(r.recipient),
            kind: r.kind.name().into(),
            urgent: r.urgent,
            issued_at_ms: r.issued_at_ms,
            in_reply_to: r.in_reply_to.map(|id| id.to_string()).unwrap_or_default(),
            status: d.status().name().into(),
            attempts: d.attempts(),
            last_error: d.last_error().unwrap_or_default().to_owned(),
            next_attempt_at_ms: d.next_attempt_at_ms().unwrap_or(0),
            receipt_at_ms: d.receipt_at_ms().unwrap_or(0),
            reject_code: d
                .rejection()
                .map(|(code, _)| code.name().to_owned())
                .unwrap_or_default(),
            reject_reason: d
                .rejection()
                .map(|(_, reason)| reason.to_owned())
                .unwrap_or_default(),
            reply_due_at_ms: d.reply_due_at_ms().unwrap_or(0),
            replies: self.replies(&r.id)?,
            // The clock of a deadline starts only with the signed receipt.
            deadline_state: if r.status() != OutboundStatus::Delivered {
                String::new()
            } else if self.due_unknown(r) {
                "unknown".into()
            } else {
                self.deadline(r.reply_due_at_ms(), r.answered_at_ms)
                    .name()
                    .to_owned()
            },
            deadline_error: if r.status() == OutboundStatus::Delivered && self.due_unknown(r) {
                format!(
                    "a {} needs a reply, but the recipient's receipt states no due time",
                    r.kind.name()
                )
            } else {
                String::new()
            },
            answered_at_ms: r.answered_at_ms.unwrap_or(0),
            already_queued: false,
        })
    }

    /// A sent notice whose kind needs a reply under this node's policy, but whose receipt gave no
    /// due time: shown as unknown, never as "no reply required".
    fn due_unknown(&self, r: &OutboundRecord) -> bool {
        r.reply_due_at_ms().is_none() && self.state.config.deadlines.policy.rule(r.kind).is_some()
    }

    fn deadline(&self, due_at_ms: Option<i64>, answered_at_ms: Option<i64>) -> DeadlineState {
        let now = self.state.clock.now_ms();
        deadline_state(
            due_at_ms,
            answered_at_ms,
            now,
            self.state.config.deadlines.due_soon_ms,
        )
    }

    pub(crate) fn inbound_info(&self, r: &InboundRecord) -> Result<pb::NoticeInfo, Status> {
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
            deadline_state: if r.deadline_error.is_some() {
                "unknown".into()
            } else {
                self.deadline(r.reply_due_at_ms, r.answered_at_ms)
                    .name()
                    .to_owned()
            },
            deadline_error: r.deadline_error.clone().unwrap_or_default(),
            answered_at_ms: r.answered_at_ms.unwrap_or(0),
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
        transition: fn(&Delivery) -> Result<Delivery, Refused>,
    ) -> Result<OutboundRecord, Status> {
        let change = move |r: &mut OutboundRecord| {
            r.delivery = transition(&r.delivery)?;
            Ok(())
        };
        match self.state.store.update_outbound(id, None, change).await {
            Ok(r) => Ok(r),
            Err(liaison_store::StoreError::NoSuchNotice(id)) => {
                Err(Status::not_found(format!("no outbound notice {id}")))
            }
            Err(e @ liaison_store::StoreError::NotAllowed { .. }) => {
                Err(Status::failed_precondition(e.to_string()))
            }
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
        operator_only(&request, "write or answer notices")?;
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
        if self.state.config.directory.get(recipient).is_none() {
            return Err(Status::invalid_argument(format!(
                "recipient: {recipient} is not a peer in this node's directory"
            )));
        }
        let (record, new) = self
            .state
            .send_notice(
                recipient,
                draft.urgent,
                in_reply_to,
                &draft.body,
                draft.client_key.as_deref(),
            )
            .await
            .map_err(|e| match e {
                SendError::NotAllowed(why) => {
                    Status::failed_precondition(format!("recipient: {why}"))
                }
                SendError::Storage(e) => storage(e),
                SendError::Random(why) => Status::internal(why),
            })?;
        if !new {
            info!(notice_id = %record.id, "a send repeated a client key; answered with the notice queued before");
        }
        let mut info = self.outbound_info(&record)?;
        info.already_queued = !new;
        Ok(Response::new(info))
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
        // Payloads are personal data: auditors verify without reading them.
        let payload_withheld = role(&request)? == Role::Auditor;
        let body_json = match notice.as_ref().map(|n| NoticeBody::decode(&n.payload)) {
            _ if payload_withheld => String::new(),
            Some(Ok(body)) => body_to_json(&body),
            Some(Err(e)) => format!("{{\"error\": {:?}}}", e.to_string()),
            None => String::new(),
        };
        Ok(Response::new(pb::NoticeDetail {
            info: Some(info),
            body_json,
            signature_valid,
            receipt_valid,
            payload_withheld,
        }))
    }

    async fn retry(
        &self,
        request: Request<pb::NoticeRef>,
    ) -> Result<Response<pb::NoticeInfo>, Status> {
        operator_only(&request, "retry notices")?;
        let id = parse_id(&request.get_ref().notice_id)?;
        let record = self.change(&id, Delivery::retry).await?;
        info!(notice_id = %id, "operator asked for a retry");
        self.state.wake(record.recipient, true);
        Ok(Response::new(self.outbound_info(&record)?))
    }

    async fn cancel(
        &self,
        request: Request<pb::NoticeRef>,
    ) -> Result<Response<pb::NoticeInfo>, Status> {
        operator_only(&request, "cancel notices")?;
        let id = parse_id(&request.get_ref().notice_id)?;
        let record = self.change(&id, Delivery::cancel).await?;
        info!(notice_id = %id, "operator cancelled a notice");
        Ok(Response::new(self.outbound_info(&record)?))
    }

    async fn due(
        &self,
        request: Request<pb::DueRequest>,
    ) -> Result<Response<pb::DueResponse>, Status> {
        let req = request.into_inner();
        let side = match req.side.trim() {
            "" => None,
            "owed" => Some(Side::Owed),
            "awaited" => Some(Side::Awaited),
            other => {
                return Err(Status::invalid_argument(format!(
                    "side {other:?} is not \"owed\" (replies this county owes) or \"awaited\" (replies others owe it)"
                )));
            }
        };
        let limit = match req.limit as usize {
            0 => DEFAULT_LIST_LIMIT,
            n => n.min(MAX_LIST_LIMIT),
        };
        let store = &self.state.store;
        let now = self.state.clock.now_ms();
        let due_soon_ms = self.state.config.deadlines.due_soon_ms;
        // Due times before `now + 1` are those that have passed.
        let before = if req.overdue_only {
            now.saturating_add(1)
        } else {
            i64::MAX
        };
        let entries = store.due(side, before, limit).map_err(storage)?;
        let mut items = Vec::with_capacity(entries.len());
        for DueEntry {
            due_at_ms,
            side,
            id,
        } in entries
        {
            let notice = match side {
                Side::Owed => store
                    .inbound(&id)
                    .map_err(storage)?
                    .map(|r| self.inbound_info(&r)),
                Side::Awaited => store
                    .outbound(&id)
                    .map_err(storage)?
                    .map(|r| self.outbound_info(&r)),
            };
            let Some(notice) = notice.transpose()? else {
                continue;
            };
            items.push(pb::DueItem {
                notice: Some(notice),
                side: side_name(side).into(),
                due_at_ms,
                state: deadline_state(Some(due_at_ms), None, now, due_soon_ms)
                    .name()
                    .into(),
                days_left: days_left(due_at_ms, now),
            });
        }
        let mut counts = pb::DueCounts::default();
        for entry in store.due(None, i64::MAX, usize::MAX).map_err(storage)? {
            let state = deadline_state(Some(entry.due_at_ms), None, now, due_soon_ms);
            let counter = match (entry.side, state) {
                (Side::Owed, DeadlineState::Overdue) => &mut counts.owed_overdue,
                (Side::Owed, DeadlineState::DueSoon) => &mut counts.owed_due_soon,
                (Side::Owed, _) => &mut counts.owed_open,
                (Side::Awaited, DeadlineState::Overdue) => &mut counts.awaited_overdue,
                (Side::Awaited, DeadlineState::DueSoon) => &mut counts.awaited_due_soon,
                (Side::Awaited, _) => &mut counts.awaited_open,
            };
            *counter += 1;
        }
        let all_errors = store.deadline_errors(usize::MAX).map_err(storage)?;
        counts.deadline_errors = all_errors.len() as u64;
        let errors = if side == Some(Side::Awaited) {
            &[][..]
        } else {
            &all_errors[..all_errors.len().min(limit)]
        };
        let deadline_errors = errors
            .iter()
            .map(|r| self.inbound_info(r))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::DueResponse {
            items,
            counts: Some(counts),
            deadline_errors,
        }))
    }

    async fn report(
        &self,
        request: Request<pb::ReportRequest>,
    ) -> Result<Response<pb::ReportResponse>, Status> {
        let req = request.into_inner();
        if req.to_ms <= req.from_ms {
            return Err(Status::invalid_argument(
                "period: the end must come after the start",
            ));
        }
        let now = self.state.clock.now_ms();
        let store = &self.state.store;
        let mut report = report::Report::new(req.from_ms, req.to_ms, now);
        for record in store.all_inbound().map_err(storage)? {
            report.add_inbound(&record);
        }
        let policy = &self.state.config.deadlines.policy;
        for record in store.all_outbound().map_err(storage)? {
            report.add_outbound(&record, policy.rule(record.kind).is_some());
        }
        let rows = report
            .rows()
            .into_iter()
            .map(|row| pb::ReportRow {
                peer: row.peer.to_string(),
                peer_name: self.peer_name(row.peer),
                kind: row.kind.name().into(),
                direction: row.direction.into(),
                notices: row.notices,
                reply_required: row.reply_required,
                replied_on_time: row.replied_on_time,
                replied_late: row.replied_late,
                still_open: row.still_open,
                overdue_now: row.overdue_now,
                deadline_unknown: row.deadline_unknown,
                median_reply_ms: row.median_reply_ms.unwrap_or(-1),
            })
            .collect();
        Ok(Response::new(pb::ReportResponse {
            from_ms: req.from_ms,
            to_ms: req.to_ms,
            generated_at_ms: now,
            rows,
        }))
    }

    async fn export_audit(
        &self,
        request: Request<pb::AuditExportRequest>,
    ) -> Result<Response<pb::AuditExportResponse>, Status> {
        let auditor = role(&request)? == Role::Auditor;
        let req = request.into_inner();
        if auditor && !req.redact_payloads {
            return Err(Status::permission_denied(
                "auditors may export redacted bundles only (--redact-payloads)",
            ));
        }
        if req.to_ms <= req.from_ms {
            return Err(Status::invalid_argument(
                "period: the end must come after the start",
            ));
        }
        let peer = match req.peer.trim() {
            "" => None,
            p => Some(
                CountyCode::parse(p).map_err(|e| Status::invalid_argument(format!("peer: {e}")))?,
            ),
        };
        let export = audit::ExportRequest {
            from_ms: req.from_ms,
            to_ms: req.to_ms,
            peer,
            redact: req.redact_payloads,
        };
        let state = self.state.clone();
        let bundle = tokio::task::spawn_blocking(move || audit::export(&state, &export))
            .await
            .map_err(|e| Status::internal(format!("export task failed: {e}")))?
            .map_err(|e| match e {
                audit::ExportError::Nothing(why) => Status::not_found(why),
                other => Status::internal(other.to_string()),
            })?;
        let items = bundle.items.len() as u64;
        let bundle_json = serde_json::to_string_pretty(&bundle)
            .map_err(|e| Status::internal(format!("cannot write the bundle: {e}")))?;
        info!(
            items,
            redacted = req.redact_payloads,
            auditor,
            "exported an audit bundle"
        );
        Ok(Response::new(pb::AuditExportResponse {
            bundle_json,
            items,
        }))
    }

    async fn accept_peer_log(
        &self,
        request: Request<pb::AcceptPeerLogRequest>,
    ) -> Result<Response<pb::PeerInfo>, Status> {
        operator_only(&request, "accept a peer's log")?;
        let text = request.into_inner().peer;
        let peer = CountyCode::parse(text.trim())
            .map_err(|e| Status::invalid_argument(format!("peer: {e}")))?;
        if self.state.config.directory.get(peer).is_none() {
            return Err(Status::not_found(format!(
                "peer: {peer} is not in this node's directory"
            )));
        }
        let now = self.state.clock.now_ms();
        let acknowledged = self
            .state
            .store
            .accept_peer_log(peer, now)
            .await
            .map_err(storage)?;
        tracing::warn!(peer = %peer, acknowledged, "operator accepted the peer's log as it is now; its next checkpoint is the new starting point");
        let peers = self
            .peers(Request::new(pb::PeersRequest {}))
            .await?
            .into_inner()
            .peers;
        let info = peers
            .into_iter()
            .find(|p| p.county == peer.as_str())
            .unwrap_or_default();
        Ok(Response::new(info))
    }

    async fn peers(
        &self,
        _request: Request<pb::PeersRequest>,
    ) -> Result<Response<pb::PeersResponse>, Status> {
        let alarms = self.state.store.alarms().map_err(storage)?;
        let mut peers = Vec::new();
        for p in self.state.config.directory.peers() {
            let a = p.agreement.as_ref();
            let seen = self.state.peer_seen(p.county);
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
                alarms: alarms
                    .iter()
                    .filter(|a| a.peer == p.county && a.acknowledged_at_ms.is_none())
                    .map(|a| {
                        format!(
                            "{} {}: {}",
                            liaison_core::clock::format_cst(a.at_ms),
                            a.kind,
                            a.detail
                        )
                    })
                    .collect(),
                last_success_at_ms: seen.last_success_at_ms.unwrap_or(0),
                certificate_expires_at_ms: seen.certificate_expires_at_ms.unwrap_or(0),
                // The signing keys end when the last one ends; a key without an end never does.
                key_expires_at_ms: if p.keys.iter().any(|k| k.valid_until_ms.is_none()) {
                    0
                } else {
                    p.keys
                        .iter()
                        .filter_map(|k| k.valid_until_ms)
                        .max()
                        .unwrap_or(0)
                },
            });
        }
        let health = self.state.store.health();
        Ok(Response::new(pb::PeersResponse {
            peers,
            storage_failing: health.failing.unwrap_or_default(),
            storage_failed_commits: health.failed_commits,
        }))
    }

    async fn backup(
        &self,
        request: Request<pb::BackupRequest>,
    ) -> Result<Response<pb::BackupResponse>, Status> {
        operator_only(&request, "take backups")?;
        let text = request.into_inner().out_path;
        let path = std::path::Path::new(text.trim());
        if path.as_os_str().is_empty() {
            return Err(Status::invalid_argument(
                "out_path: required (the file to write the backup to)",
            ));
        }
        // The node's working directory is no concern of the caller's.
        if !path.is_absolute() {
            return Err(Status::invalid_argument(format!(
                "out_path: {} is not an absolute path",
                path.display()
            )));
        }
        if let Some(dir) = path.parent().filter(|d| !d.is_dir()) {
            return Err(Status::failed_precondition(format!(
                "out_path: there is no directory {} on the node's machine",
                dir.display()
            )));
        }
        let started = std::time::Instant::now();
        let head = self.state.store.backup(path).await.map_err(|e| match e {
            liaison_store::StoreError::Refused(why) => Status::already_exists(why),
            liaison_store::StoreError::Io(e) => Status::failed_precondition(format!(
                "out_path: cannot write {}: {e}",
                path.display()
            )),
            other => storage(other),
        })?;
        info!(
            path = %path.display(),
            log_size = head.size,
            took_ms = started.elapsed().as_millis() as u64,
            "took a backup of the store"
        );
        Ok(Response::new(pb::BackupResponse {
            log_size: head.size,
            root_hex: hex::encode(head.root),
            path: path.display().to_string(),
        }))
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Owed => "owed",
        Side::Awaited => "awaited",
    }
}
