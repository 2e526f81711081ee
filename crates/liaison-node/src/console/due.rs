//! The due board: the reply deadlines we owe and those owed to us, overdue first, and the
//! notices whose deadline is unknown; with the manual reminder (催办) of a reply owed to us.
//!
//! A reminder sends the other county a signed 催办 notice naming the awaited notice (when the
//! agreement allows that kind; otherwise it is only recorded), and records its time on the
//! notice, shown on the board and the notice page; the access log names who reminded.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use liaison_core::{DeadlineStatus, NoticeId};
use maud::Markup;

use super::access::access;
use super::layout::{due_time, error_note, kind_label, link, state_label, time, url};
use super::letter::answerable;
use super::{
    Authed, Fields, Params, authed, authed_post, forbidden, param, refused_post, to_login,
};
use crate::NodeState;
use crate::ops::{self, DueList, DueQuery, NoticeView, Side, Summary};
use crate::tracker::Reminded;

/// The due page, read through the application layer, with the outcome of a reminder above it.
pub(super) async fn due(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    let note = match (param(&q, "done"), param(&q, "notice")) {
        ("sent", id) if !id.is_empty() => Some(maud::html! {
            p.msg id="reminded" {
                "已催办：催办函已签名并放入发件箱 A reminder (催办) about notice " (id) " was signed and put in the outbox"
                @if let Ok(reminder) = ops::parse_id(param(&q, "reminder")) {
                    ": " (link(&reminder.to_string()))
                }
                "."
            }
        }),
        ("recorded", id) if !id.is_empty() => Some(maud::html! {
            p.err id="reminded" {
                "已记录催办，但未能发出催办函（" (param(&q, "why")) "），请电话联系对方联系人 "
                "The reminder about notice " (id) " was recorded but not sent; call the other county's contact person."
            }
        }),
        _ => None,
    };
    due_page(&state, &who, note, StatusCode::OK)
}

fn due_page(
    state: &Arc<NodeState>,
    who: &Authed,
    note: Option<Markup>,
    status: StatusCode,
) -> Response {
    let title = "期限 Due";
    let ops = who.ops(state);
    let due = ops.due(DueQuery {
        side: None,
        overdue_only: false,
        limit: 1000,
    });
    match due {
        Ok(d) => {
            let views: Vec<NoticeView> = d
                .items
                .iter()
                .map(|i| i.notice.clone())
                .chain(d.deadline_errors.iter().cloned())
                .collect();
            let summaries = ops.summaries(&views);
            who.page(
                status,
                title,
                maud::html! { @if let Some(n) = note { (n) } (due_body(who, &d, &summaries)) },
            )
        }
        Err(e) => who.error_page(StatusCode::SERVICE_UNAVAILABLE, title, &e.to_string()),
    }
}

/// Reminds the recipient of a sent notice of the reply it owes, then shows the board again.
pub(super) async fn remind(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    let Some(who) = authed_post(&state, &headers, &form) else {
        return refused_post();
    };
    if !who.operator() {
        return forbidden("审计员不能催办 Auditors may not send reminders.");
    }
    let result = match ops::parse_id(&id) {
        Ok(notice) => who.ops(&state).remind(&notice).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(Reminded::Sent(reminder)) => {
            access(&state, &who.account.name, "remind", &id);
            Redirect::to(&format!(
                "/console/due?done=sent&notice={}&reminder={reminder}",
                url(&id)
            ))
            .into_response()
        }
        Ok(Reminded::NotSent(why)) => {
            access(&state, &who.account.name, "remind_recorded", &id);
            Redirect::to(&format!(
                "/console/due?done=recorded&notice={}&why={}",
                url(&id),
                url(&why)
            ))
            .into_response()
        }
        Err(e) => {
            access(&state, &who.account.name, "remind_refused", &id);
            due_page(
                &state,
                &who,
                Some(error_note(&e.to_string())),
                super::http_status(&e),
            )
        }
    }
}

/// The due page below its title: the counts, then the replies we owe and those owed to us.
fn due_body(who: &Authed, due: &DueList, summaries: &HashMap<NoticeId, Summary>) -> Markup {
    let summary = |n: &NoticeView| {
        maud::html! {
            @if let Some(s) = summaries.get(&n.id) {
                span.summary {
                    @if let Some(p) = &s.person { b.person { (p) } " · " }
                    (s.subject)
                }
            }
        }
    };
    let counts = due.counts;
    let peer = |n: &NoticeView| format!("{} {}", n.peer_name, n.peer);
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
            table.list {
                thead {
                    tr {
                        th { "复函期限 Due" }
                        th { "剩余天数 Days left" }
                        th { "状态 State" }
                        th { "通报编号 Notice id" }
                        th { "对方县区 Peer county" }
                        th { "种类 Kind" }
                        @if !summaries.is_empty() {
                            th { "当事人 · 事由 Person · subject" }
                        }
                        th { "紧急 Urgent" }
                        @if side == Side::Awaited {
                            th { "催办 Reminder" }
                        } @else if who.operator() {
                            th { "复函 Reply" }
                        }
                    }
                }
                tbody {
                    @for item in &items {
                        @let n = &item.notice;
                        tr class=(item.state.name()) {
                            td data-label="复函期限 Due" { (due_time(item.due_at_ms)) }
                            td data-label="剩余天数 Days left" { (item.days_left) }
                            td data-label="状态 State" { (state_label(DeadlineStatus::Known(item.state))) }
                            td data-label="通报编号 Notice id" { (link(&n.id.to_string())) }
                            td data-label="对方县区 Peer county" { (peer(n)) }
                            td data-label="种类 Kind" { (kind_label(n.kind)) }
                            @if !summaries.is_empty() {
                                td data-label="当事人 · 事由 Person · subject" { (summary(n)) }
                            }
                            td data-label="紧急 Urgent" { @if n.urgent { "紧急 urgent" } @else { "普通 normal" } }
                            @if side == Side::Awaited {
                                td data-label="催办 Reminder" {
                                    @if let Some(at) = n.reminded_at_ms {
                                        span.reminded { "已催办 reminded " (time(at)) } " "
                                    }
                                    @if who.operator() {
                                        form method="post" action={ "/console/due/" (n.id) "/remind" } {
                                            (who.csrf_field())
                                            button.remind type="submit" aria-label={ "催办 Remind about " (n.id) } {
                                                @if n.reminded_at_ms.is_some() { "再次催办 Remind again" } @else { "催办 Remind" }
                                            }
                                        }
                                    }
                                }
                            } @else if who.operator() {
                                td data-label="复函 Reply" {
                                    @if answerable(n.kind) {
                                        a.reply href={ "/console/write?reply_to=" (n.id) } { "复函 Reply" }
                                    }
                                }
                            }
                        }
                    }
                    @if items.is_empty() {
                        tr { td colspan="9" { "没有 None" } }
                    }
                }
            }
        }
        @if !due.deadline_errors.is_empty() {
            h2 { "期限未知 Deadline unknown" }
            table.list {
                tbody {
                    @for n in &due.deadline_errors {
                        tr {
                            td data-label="通报编号 Notice id" { (link(&n.id.to_string())) }
                            td data-label="对方县区 Peer county" { (peer(n)) }
                            td data-label="种类 Kind" { (kind_label(n.kind)) " " (summary(n)) }
                            td data-label="原因 Why" { (n.deadline_error.as_deref().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}
