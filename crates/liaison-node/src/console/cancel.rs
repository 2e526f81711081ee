//! The confirmation asked before an outbound notice is cancelled: what will be stopped, and the
//! button that stops it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use liaison_core::NoticeStatus;

use super::layout::{kind_label, link, status_label, time};
use super::{authed, forbidden, to_login};
use crate::NodeState;
use crate::ops;

/// `GET /console/notice/{id}/cancel`: asks the operator to confirm the cancel.
pub(super) async fn confirm_cancel(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    if !who.operator() {
        return forbidden("审计员不能操作 Auditors may not retry or cancel notices.");
    }
    let title = "撤销通报 Cancel a notice";
    let detail = match ops::parse_id(&id).and_then(|id| who.ops(&state).show(&id)) {
        Ok(d) => d,
        Err(e) => return who.error_page(super::http_status(&e), title, &e.to_string()),
    };
    let n = &detail.notice;
    let pending = matches!(n.status, NoticeStatus::Outbound(s) if s.is_pending());
    if !pending {
        return who.error_page(
            StatusCode::CONFLICT,
            title,
            &format!(
                "只有尚未送达的通报可以撤销 Only a notice not yet delivered can be cancelled; this one is {}.",
                status_label(n.status)
            ),
        );
    }
    let body = maud::html! {
        p.err role="alert" {
            "确定要撤销这份通报吗?撤销后不再发送,也不能恢复;如需要可再次发送为新通报。 "
            "Cancel this notice? It will not be sent, and cannot be resumed; it can be sent again as a new notice."
        }
        dl {
            dt { "通报编号 Notice" } dd { (link(&n.id.to_string())) }
            dt { "种类 Kind" } dd { (kind_label(n.kind)) }
            dt { "收件县区 To" } dd { (n.peer) " " (n.peer_name) }
            dt { "发出时间 Issued" } dd { (time(n.issued_at_ms)) }
            dt { "状态 Status" } dd { (status_label(n.status)) }
        }
        form method="post" action={ "/console/notice/" (n.id) "/cancel" } {
            (who.csrf_field())
            input type="hidden" name="confirmed" value="yes";
            p {
                button id="confirm-cancel" type="submit" { "确认撤销 Yes, cancel it" }
                " "
                a id="keep" href={ "/console/notice/" (n.id) } { "不撤销,返回 No, keep it" }
            }
        }
    };
    who.page(StatusCode::OK, title, body)
}
