//! The operator's `Admin` service on loopback: the gRPC front door onto [`crate::ops`]. Every call
//! must carry one of the node's tokens; this file turns requests into domain values and answers
//! back into messages, and does nothing else.

use std::sync::Arc;

use liaison_core::{DeadlineStatus, NoticeStatus};
use liaison_proto::v1 as pb;
use subtle::ConstantTimeEq;
use tonic::{Request, Response, Status};

use crate::NodeState;
use crate::ops::{
    self, Action, Direction, DueCounts, DueItem, ListFilter, NoticeView, Ops, OpsError, PeerView,
    ReportQuery, Role, Side,
};

/// Serves `Admin` for one node.
#[derive(Debug, Clone)]
pub(crate) struct AdminService {
    pub(crate) state: Arc<NodeState>,
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
            .unwrap_or("")
            .as_bytes();
        let role = if bool::from(given.ct_eq(self.operator.as_bytes())) {
            Role::Operator
        } else if bool::from(given.ct_eq(self.auditor.as_bytes())) {
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

/// The gRPC answer to an action that was not done.
fn to_status(e: OpsError) -> Status {
    let message = e.to_string();
    match e {
        OpsError::Invalid(_) => Status::invalid_argument(message),
        OpsError::NotFound(_) => Status::not_found(message),
        OpsError::NotNow(_) => Status::failed_precondition(message),
        OpsError::Forbidden(_) => Status::permission_denied(message),
        OpsError::Exists(_) => Status::already_exists(message),
        OpsError::StorageFull(_) => Status::resource_exhausted(message),
        OpsError::Internal(_) => Status::internal(message),
    }
}

fn direction(d: Direction) -> pb::Direction {
    match d {
        Direction::Outbound => pb::Direction::Outbound,
        Direction::Inbound => pb::Direction::Inbound,
    }
}

fn urgency(urgent: bool) -> pb::Urgency {
    if urgent {
        pb::Urgency::Urgent
    } else {
        pb::Urgency::Normal
    }
}

fn side(side: Side) -> pb::Side {
    match side {
        Side::Owed => pb::Side::Owed,
        Side::Awaited => pb::Side::Awaited,
    }
}

fn ms(value: Option<i64>) -> i64 {
    value.unwrap_or(0)
}

/// The message form of a notice.
pub(crate) fn notice_info(n: &NoticeView) -> pb::NoticeInfo {
    let d = n.delivery.as_ref();
    let rejection = d.and_then(|d| d.rejection());
    pb::NoticeInfo {
        notice_id: n.id.to_string(),
        direction: direction(n.direction) as i32,
        peer: n.peer.to_string(),
        peer_name: n.peer_name.clone(),
        kind: n.kind.to_wire() as i32,
        urgency: urgency(n.urgent) as i32,
        issued_at_ms: n.issued_at_ms,
        in_reply_to: n.in_reply_to.map(|id| id.to_string()).unwrap_or_default(),
        status: n.status.to_wire() as i32,
        attempts: d.map_or(0, |d| d.attempts()),
        last_error: d.and_then(|d| d.last_error()).unwrap_or_default().into(),
        next_attempt_at_ms: ms(d.and_then(|d| d.next_attempt_at_ms())),
        receipt_at_ms: ms(n.receipt_at_ms),
        reject_code: rejection.map_or(0, |(code, _)| code.to_wire() as i32),
        reject_reason: rejection
            .map(|(_, reason)| reason.to_owned())
            .unwrap_or_default(),
        reply_due_at_ms: ms(n.reply_due_at_ms),
        replies: n.replies.iter().map(ToString::to_string).collect(),
        deadline_state: n.deadline.map_or(0, |s| s.to_wire() as i32),
        deadline_error: n.deadline_error.clone().unwrap_or_default(),
        answered_at_ms: ms(n.answered_at_ms),
        already_queued: false,
    }
}

/// A listing of at most `limit` notices from `views`, which holds one more when more match.
fn notices(mut views: Vec<NoticeView>, limit: usize) -> pb::ListResponse {
    let more = views.len() > limit;
    views.truncate(limit);
    pb::ListResponse {
        notices: views.iter().map(notice_info).collect(),
        more,
        limit: limit as u32,
    }
}

fn peer_info(p: &PeerView) -> pb::PeerInfo {
    pb::PeerInfo {
        county: p.county.map(|c| c.to_string()).unwrap_or_default(),
        name: p.name.clone(),
        endpoint: p.endpoint.clone(),
        allowed_kinds: p.allowed_kinds.iter().map(|k| k.to_wire() as i32).collect(),
        contact_person: p.contact_person.clone(),
        phone: p.phone.clone(),
        agreement_effective: p.agreement_effective.clone(),
        backlog: p.backlog,
        last_error: p.last_error.clone().unwrap_or_default(),
        alarms: p.alarms.clone(),
        last_success_at_ms: ms(p.last_success_at_ms),
        certificate_expires_at_ms: ms(p.certificate_expires_at_ms),
        key_expires_at_ms: ms(p.key_expires_at_ms),
        clock_disagrees: p.clock_offset_ms.is_some(),
        clock_offset_ms: p.clock_offset_ms.unwrap_or(0),
    }
}

fn due_item(item: &DueItem) -> pb::DueItem {
    pb::DueItem {
        notice: Some(notice_info(&item.notice)),
        side: side(item.side) as i32,
        due_at_ms: item.due_at_ms,
        state: DeadlineStatus::Known(item.state).to_wire() as i32,
        days_left: item.days_left,
    }
}

fn due_counts(c: &DueCounts) -> pb::DueCounts {
    pb::DueCounts {
        owed_open: c.owed_open,
        owed_due_soon: c.owed_due_soon,
        owed_overdue: c.owed_overdue,
        awaited_open: c.awaited_open,
        awaited_due_soon: c.awaited_due_soon,
        awaited_overdue: c.awaited_overdue,
        deadline_errors: c.deadline_errors,
    }
}

impl AdminService {
    /// The application layer for the caller; a call that did not pass the token check has no
    /// role and gets nothing.
    fn ops<T>(&self, request: &Request<T>) -> Result<Ops, Status> {
        let role = request
            .extensions()
            .get::<Role>()
            .copied()
            .ok_or_else(|| Status::unauthenticated("no role"))?;
        Ok(Ops::new(self.state.clone(), role))
    }

    async fn act(
        &self,
        request: Request<pb::NoticeRef>,
        action: Action,
    ) -> Result<Response<pb::NoticeInfo>, Status> {
        let ops = self.ops(&request)?;
        let id = ops::parse_id(&request.get_ref().notice_id).map_err(to_status)?;
        let notice = ops.act(&id, action).await.map_err(to_status)?;
        Ok(Response::new(notice_info(&notice)))
    }

    fn list_filter(req: &pb::ListRequest) -> Result<ListFilter, Status> {
        let status = match NoticeStatus::from_wire(req.status) {
            None if req.status == 0 => None,
            Some(NoticeStatus::Outbound(status)) => Some(status),
            Some(NoticeStatus::Received) | None => {
                return Err(Status::invalid_argument(format!(
                    "status {} is not a delivery status (queued, in flight, delivered, rejected, cancelled)",
                    req.status
                )));
            }
        };
        Ok(ListFilter {
            status,
            peer: ops::parse_peer(&req.peer).map_err(to_status)?,
            limit: ops::list_limit(req.limit as usize),
        })
    }
}

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminService {
    async fn send(
        &self,
        request: Request<pb::SendRequest>,
    ) -> Result<Response<pb::NoticeInfo>, Status> {
        let ops = self.ops(&request)?;
        let req = request.into_inner();
        let sent = ops
            .send(&req.draft_json, &req.in_reply_to)
            .await
            .map_err(to_status)?;
        let mut info = notice_info(&sent.notice);
        info.already_queued = sent.already_queued;
        Ok(Response::new(info))
    }

    async fn list_outbox(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let ops = self.ops(&request)?;
        let mut filter = Self::list_filter(request.get_ref())?;
        let limit = filter.limit;
        // One more than shown tells whether the listing is cut.
        filter.limit += 1;
        Ok(Response::new(notices(
            ops.list_outbox(&filter).map_err(to_status)?,
            limit,
        )))
    }

    async fn list_inbox(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let ops = self.ops(&request)?;
        let filter = Self::list_filter(request.get_ref())?;
        if filter.status.is_some() {
            return Err(Status::invalid_argument(
                "status: inbox notices have no delivery status; filter by peer instead",
            ));
        }
        // One more than shown tells whether the listing is cut.
        Ok(Response::new(notices(
            ops.list_inbox(filter.peer, filter.limit + 1)
                .map_err(to_status)?,
            filter.limit,
        )))
    }

    async fn show(
        &self,
        request: Request<pb::NoticeRef>,
    ) -> Result<Response<pb::NoticeDetail>, Status> {
        let ops = self.ops(&request)?;
        let id = ops::parse_id(&request.get_ref().notice_id).map_err(to_status)?;
        let detail = ops.show(&id).map_err(to_status)?;
        Ok(Response::new(pb::NoticeDetail {
            info: Some(notice_info(&detail.notice)),
            body_json: detail.body_json.unwrap_or_default(),
            signature_valid: detail.signature_valid,
            receipt_valid: detail.receipt_valid,
            payload_withheld: detail.payload_withheld,
        }))
    }

    async fn retry(
        &self,
        request: Request<pb::NoticeRef>,
    ) -> Result<Response<pb::NoticeInfo>, Status> {
        self.act(request, Action::Retry).await
    }

    async fn cancel(
        &self,
        request: Request<pb::NoticeRef>,
    ) -> Result<Response<pb::NoticeInfo>, Status> {
        self.act(request, Action::Cancel).await
    }

    async fn due(
        &self,
        request: Request<pb::DueRequest>,
    ) -> Result<Response<pb::DueResponse>, Status> {
        let ops = self.ops(&request)?;
        let req = request.into_inner();
        let side = match pb::Side::try_from(req.side) {
            Ok(pb::Side::Unspecified) => None,
            Ok(pb::Side::Owed) => Some(Side::Owed),
            Ok(pb::Side::Awaited) => Some(Side::Awaited),
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "side {} is neither owed (replies this county owes) nor awaited (replies others owe it)",
                    req.side
                )));
            }
        };
        let limit = ops::list_limit(req.limit as usize);
        // One more than shown tells whether the listing is cut.
        let due = ops
            .due(ops::DueQuery {
                side,
                overdue_only: req.overdue_only,
                limit: limit + 1,
            })
            .map_err(to_status)?;
        Ok(Response::new(pb::DueResponse {
            items: due.items.iter().take(limit).map(due_item).collect(),
            counts: Some(due_counts(&due.counts)),
            deadline_errors: due
                .deadline_errors
                .iter()
                .take(limit)
                .map(notice_info)
                .collect(),
            more: due.items.len() > limit,
            limit: limit as u32,
        }))
    }

    async fn report(
        &self,
        request: Request<pb::ReportRequest>,
    ) -> Result<Response<pb::ReportResponse>, Status> {
        let ops = self.ops(&request)?;
        let req = request.into_inner();
        let report = ops
            .report(ReportQuery {
                from_ms: req.from_ms,
                to_ms: req.to_ms,
            })
            .map_err(to_status)?;
        let rows = report
            .rows
            .iter()
            .map(|(row, peer_name)| pb::ReportRow {
                peer: row.peer.to_string(),
                peer_name: peer_name.clone(),
                kind: row.kind.to_wire() as i32,
                direction: direction(row.direction) as i32,
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
            from_ms: report.query.from_ms,
            to_ms: report.query.to_ms,
            generated_at_ms: report.generated_at_ms,
            rows,
        }))
    }

    async fn export_audit(
        &self,
        request: Request<pb::AuditExportRequest>,
    ) -> Result<Response<pb::AuditExportResponse>, Status> {
        let ops = self.ops(&request)?;
        let req = request.into_inner();
        let peer = ops::parse_peer(&req.peer).map_err(to_status)?;
        let bundle = ops
            .export_audit(req.from_ms, req.to_ms, peer, req.redact_payloads)
            .await
            .map_err(to_status)?;
        let items = bundle.items.len() as u64;
        let bundle_json = serde_json::to_string_pretty(&bundle)
            .map_err(|e| Status::internal(format!("cannot write the bundle: {e}")))?;
        Ok(Response::new(pb::AuditExportResponse {
            bundle_json,
            items,
        }))
    }

    async fn accept_peer_log(
        &self,
        request: Request<pb::AcceptPeerLogRequest>,
    ) -> Result<Response<pb::PeerInfo>, Status> {
        let ops = self.ops(&request)?;
        let peer = liaison_core::CountyCode::parse(request.get_ref().peer.trim())
            .map_err(|e| Status::invalid_argument(format!("peer: {e}")))?;
        let view = ops.accept_peer_log(peer).await.map_err(to_status)?;
        Ok(Response::new(peer_info(&view)))
    }

    async fn peers(
        &self,
        request: Request<pb::PeersRequest>,
    ) -> Result<Response<pb::PeersResponse>, Status> {
        let view = self.ops(&request)?.peers().map_err(to_status)?;
        Ok(Response::new(pb::PeersResponse {
            peers: view.peers.iter().map(peer_info).collect(),
            storage_failing: view.storage_failing.unwrap_or_default(),
            storage_failed_commits: view.storage_failed_commits,
            directory_serial: view.directory_serial.unwrap_or(0),
        }))
    }

    async fn publish_directory(
        &self,
        request: Request<pb::PublishDirectoryRequest>,
    ) -> Result<Response<pb::PublishDirectoryResponse>, Status> {
        self.ops(&request)?
            .operator_only("publish a directory")
            .map_err(to_status)?;
        let note = &request.get_ref().signed_directory;
        let (serial, accepted) = match crate::directory::offer(&self.state, note) {
            Ok(crate::directory::Offered::Accepted(serial)) => (serial, true),
            Ok(crate::directory::Offered::AlreadyHave(serial)) => (serial, false),
            Err(why) => {
                crate::directory::note_refusal(&self.state, note, "Admin.PublishDirectory", &why);
                let message = why.to_string();
                return Err(match why {
                    crate::directory::Refusal::Invalid(_) => Status::invalid_argument(message),
                    crate::directory::Refusal::Storage { .. } => Status::internal(message),
                    _ => Status::failed_precondition(message),
                });
            }
        };
        Ok(Response::new(pb::PublishDirectoryResponse {
            serial,
            accepted,
        }))
    }

    async fn backup(
        &self,
        request: Request<pb::BackupRequest>,
    ) -> Result<Response<pb::BackupResponse>, Status> {
        let ops = self.ops(&request)?;
        let path = std::path::PathBuf::from(request.get_ref().out_path.trim());
        let backup = ops.backup(&path).await.map_err(to_status)?;
        Ok(Response::new(pb::BackupResponse {
            log_size: backup.log_size,
            root_hex: hex::encode(backup.root),
            path: backup.path,
        }))
    }
}
