//! The due page: the reply deadlines we owe and those owed to us, overdue first, and the
//! notices whose deadline is unknown.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use liaison_core::DeadlineStatus;
use maud::Markup;

use super::layout::{due_time, kind_label, link, state_label};
use super::{authed, to_login};
use crate::NodeState;
use crate::ops::{DueList, DueQuery, NoticeView, Side};

/// The due page, read through the application layer.
pub(super) async fn due(State(state): State<Arc<NodeState>>, headers: HeaderMap) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    let title = "期限 Due";
    let due = who.ops(&state).due(DueQuery {
        side: None,
        overdue_only: false,
        limit: 1000,
    });
    match due {
        Ok(d) => who.page(StatusCode::OK, title, due_body(&d)),
        Err(e) => who.error_page(StatusCode::SERVICE_UNAVAILABLE, title, &e.to_string()),
    }
}

/// The due page below its title: the counts, then the replies we owe and those owed to us.
fn due_body(due: &DueList) -> Markup {
    let counts = due.counts;
    let peer = |n: &NoticeView| format!("{} {}", n.peer, n.peer_name);
    maud::html! {
        p {
            "我方应复 We owe: 已超期 overdue " b { (counts.owed_overdue) }
            ", 即将到期 due soon " b { (counts.owed_due_soon) }
            ", 未到期 open " b { (counts.owed_open) }
            ". 对方应复 Others owe us: 已超期 overdue " b { (counts.awaited_overdue) }
            ", 即将到期 due soon " b { (counts.awaited_due_soon) }
            ", 未到期 open " b { (counts.awaited_open) }
            ". 期限未知 Deadline unknown: " b { (counts.deadline_errors) }
        }
        @for (side, heading) in [
            (Side::Owed, "我方应复函 Replies we owe"),
            (Side::Awaited, "等待对方复函 Replies others owe us"),
        ] {
            // The store's due index is in due-time order, so overdue items come first.
            @let items: Vec<_> = due.items.iter().filter(|i| i.side == side).collect();
            h2 { (heading) }
            table {
                thead {
                    tr {
                        th { "复函期限 Due" }
                        th { "剩余天数 Days left" }
                        th { "状态 State" }
                        th { "通报编号 Notice id" }
                        th { "对方 Peer" }
                        th { "种类 Kind" }
                        th { "紧急 Urgent" }
                    }
                }
                tbody {
                    @for item in &items {
                        @let n = &item.notice;
                        tr class=(item.state.name()) {
                            td { (due_time(item.due_at_ms)) }
                            td { (item.days_left) }
                            td { (state_label(DeadlineStatus::Known(item.state))) }
                            td { (link(&n.id.to_string())) }
                            td { (peer(n)) }
                            td { (kind_label(n.kind)) }
                            td { @if n.urgent { "紧急 urgent" } }
                        }
                    }
                    @if items.is_empty() {
                        tr { td colspan="7" { "没有 None" } }
                    }
                }
            }
        }
        @if !due.deadline_errors.is_empty() {
            h2 { "期限未知 Deadline unknown" }
            table {
                tbody {
                    @for n in &due.deadline_errors {
                        tr {
                            td { (link(&n.id.to_string())) }
                            td { (peer(n)) }
                            td { (n.deadline_error.as_deref().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}
