//! The outbox and inbox listings: their filters (status, peer, kind, urgency, dates, notice
//! id), one page of notices from the application layer with a summary of each (for operators:
//! the person's name masked and the subject), and the link to the next page; and the search of
//! notices by a person's identity number or name (operators only). On a phone the rows become
//! cards.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use liaison_core::clock::cst_midnight_ms;
use liaison_core::{
    CountyCode, DeadlineState, DeadlineStatus, NoticeId, NoticeKind, NoticeStatus, OutboundStatus,
};
use maud::Markup;

use super::access::access;
use super::layout::{
    due_time, error_note, error_text, kind_label, link, state_label, status_label, time, url,
};
use super::{Params, authed, directory_peers, param, to_login};
use crate::NodeState;
use crate::ops::{Direction, IdRange, NoticeView, PageQuery, Summary};

/// Rows per page of a listing.
const PAGE_SIZE: usize = 50;
/// Index entries one page may scan when filtering by kind, urgency or date, so that a page stays
/// fast with a million notices; the "next page" link continues the scan.
const MAX_SCAN: usize = 5_000;

/// The listing filters of a query string.
#[derive(Default)]
struct Filters {
    status: Option<OutboundStatus>,
    peer: Option<CountyCode>,
    kind: Option<NoticeKind>,
    urgent: Option<bool>,
    ids: IdRange,
}

/// The query parameter `name`, if it is given and not blank.
fn given<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    Some(param(q, name)).filter(|v| !v.is_empty())
}

/// A day of a date filter, such as 2026-03-01: the one place the console reads a date.
fn parse_day(text: &str, what: &str) -> Result<time::Date, String> {
    liaison_core::parse_date(text).map_err(|e| format!("{what}: {e}, such as 2026-03-01"))
}

/// The smallest notice id issued at `ms`, for bounding a listing by date.
fn first_id_at(ms: i64) -> NoticeId {
    NoticeId::new(ms.max(0) as u64, [0; 10])
}

/// The filters of a listing's query string, or what is wrong with one of them.
fn parse_filters(q: &HashMap<String, String>, outbound: bool) -> Result<Filters, String> {
    let mut f = Filters::default();
    match param(q, "status") {
        "" => {}
        s if outbound => {
            f.status = Some(OutboundStatus::parse(s).map_err(|e| format!("status {e}"))?)
        }
        _ => return Err("status: inbox notices have no delivery status".into()),
    }
    if let Some(p) = given(q, "peer") {
        f.peer = Some(CountyCode::parse(p).map_err(|e| format!("peer: {e}"))?);
    }
    if let Some(k) = given(q, "kind") {
        f.kind = Some(
            k.parse()
                .map_err(|_| format!("kind: {k:?} is not a notice kind"))?,
        );
    }
    f.urgent = match param(q, "urgency") {
        "" => None,
        "urgent" => Some(true),
        "normal" => Some(false),
        other => return Err(format!("urgency: {other:?} is not urgent or normal")),
    };
    if let Some(d) = given(q, "from") {
        let day = parse_day(d, "from")?;
        f.ids.from = Some(first_id_at(cst_midnight_ms(day)));
    }
    if let Some(d) = given(q, "to") {
        let day = parse_day(d, "to")?;
        let next = day.next_day().unwrap_or(day);
        f.ids.before = Some(first_id_at(cst_midnight_ms(next)));
    }
    if let Some(c) = given(q, "before") {
        let cursor = NoticeId::parse(c).map_err(|e| format!("before: {e}"))?;
        f.ids.before = Some(f.ids.before.map_or(cursor, |b| b.min(cursor)));
    }
    Ok(f)
}

/// The filter form of a listing, showing the current values.
fn filter_form(
    path: &str,
    q: &HashMap<String, String>,
    outbound: bool,
    peers: &[(String, String)],
) -> Markup {
    let option = |value: &str, label: &str, current: &str| {
        maud::html! {
            option value=(value) selected[value == current] { (label) }
        }
    };
    let any = |current: &str| option("", "全部 any", current);
    maud::html! {
        form.filters method="get" action=(path) {
            @if outbound {
                @let current = param(q, "status");
                label {
                    "状态 Status"
                    select name="status" {
                        (any(current))
                        @for s in OutboundStatus::ALL {
                            (option(s.name(), &status_label(NoticeStatus::Outbound(s)), current))
                        }
                    }
                }
            }
            @let current = param(q, "peer");
            label {
                "对方县区 Peer county"
                select name="peer" {
                    (any(current))
                    @for (county, label) in peers {
                        (option(county, label, current))
                    }
                }
            }
            @let current = param(q, "kind");
            label {
                "种类 Kind"
                select name="kind" {
                    (any(current))
                    @for k in NoticeKind::ALL {
                        (option(k.name(), &kind_label(k), current))
                    }
                }
            }
            @let current = param(q, "urgency");
            label {
                "紧急程度 Urgency"
                select name="urgency" {
                    (any(current))
                    (option("urgent", "紧急 urgent", current))
                    (option("normal", "普通 normal", current))
                }
            }
            label { "从 From (北京时间)" input type="date" name="from" value=(param(q, "from")); }
            label { "到 To (北京时间)" input type="date" name="to" value=(param(q, "to")); }
            label { "通报编号 Notice id" input name="id" size="30" value=(param(q, "id")); }
            button type="submit" { "查找 Search" }
            " "
            a href=(path) { "清除 Clear" }
        }
    }
}

/// The link to the next page: the same filters, `before` the cursor.
fn next_link(path: &str, q: &HashMap<String, String>, cursor: &NoticeId) -> Markup {
    let mut query: Vec<String> = ["status", "peer", "kind", "urgency", "from", "to"]
        .into_iter()
        .filter(|k| !param(q, k).is_empty())
        .map(|k| format!("{k}={}", url(param(q, k))))
        .collect();
    query.push(format!("before={cursor}"));
    maud::html! {
        p { a id="next-page" href={ (path) "?" (query.join("&")) } { "下一页 Next page →" } }
    }
}

/// A listing's "reply due" cell: the deadline and its state, or the state alone.
fn due_cell(n: &NoticeView) -> String {
    match (n.reply_due_at_ms, n.deadline) {
        (Some(due), Some(state)) => format!("{} {}", due_time(due), state_label(state)),
        (None, Some(state)) => state_label(state),
        (Some(due), None) => due_time(due),
        (None, None) => String::new(),
    }
}

/// The row class of a notice whose reply is due soon or overdue ("" for any other).
fn flag(n: &NoticeView) -> &'static str {
    match n.deadline {
        Some(DeadlineStatus::Known(state @ (DeadlineState::DueSoon | DeadlineState::Overdue))) => {
            state.name()
        }
        _ => "",
    }
}

/// The summary cell of a notice: the masked name and the subject, or nothing for auditors.
fn summary_cell(summary: Option<&Summary>) -> Markup {
    maud::html! {
        @if let Some(s) = summary {
            span.summary {
                @if let Some(person) = &s.person {
                    b.person { (person) } " · "
                }
                (s.subject)
            }
        }
    }
}

/// The table of a listing's notices: `Some(outbound)` for the outbox or inbox, `None` for
/// search results, which mix both and say which way each went.
fn notice_rows(
    notices: &[NoticeView],
    outbound: Option<bool>,
    summaries: &HashMap<NoticeId, Summary>,
) -> Markup {
    maud::html! {
        table.list {
            thead {
                tr {
                    @if outbound.is_none() {
                        th { "方向 Direction" }
                    }
                    th { "通报编号 Notice id" }
                    th { "对方县区 Peer county" }
                    th { "种类 Kind" }
                    @if !summaries.is_empty() {
                        th { "当事人 · 事由 Person · subject" }
                    }
                    th { "紧急 Urgent" }
                    th { "发出 Issued" }
                    @if outbound == Some(true) {
                        th { "状态 Status" }
                        th { "尝试 Attempts / 最近错误 Last error" }
                    } @else if outbound == Some(false) {
                        th { "收到 Received" }
                    }
                    th { "复函期限 Reply due" }
                }
            }
            tbody {
                @for n in notices {
                    @let delivery = n.delivery.as_ref();
                    tr class=(flag(n)) {
                        @if outbound.is_none() {
                            td data-label="方向 Direction" {
                                @if n.direction == Direction::Outbound { "发出 sent" } @else { "收到 received" }
                            }
                        }
                        td data-label="通报编号 Notice id" { (link(&n.id.to_string())) }
                        td data-label="对方县区 Peer county" { (n.peer_name) " " span.muted { (n.peer) } }
                        td data-label="种类 Kind" { (kind_label(n.kind)) }
                        @if !summaries.is_empty() {
                            td data-label="当事人 · 事由 Person · subject" { (summary_cell(summaries.get(&n.id))) }
                        }
                        td data-label="紧急 Urgent" { @if n.urgent { "紧急 urgent" } @else { "普通 normal" } }
                        td data-label="发出 Issued" { (time(n.issued_at_ms)) }
                        @if outbound == Some(true) {
                            td data-label="状态 Status" { (status_label(n.status)) }
                            td data-label="尝试 Attempts / 最近错误 Last error" {
                                (delivery.map_or(0, |d| d.attempts())) " "
                                @if let Some(e) = delivery.and_then(|d| d.last_error()) {
                                    (error_text(e))
                                }
                            }
                        } @else if outbound == Some(false) {
                            td data-label="收到 Received" { (time(n.receipt_at_ms.unwrap_or(0))) }
                        }
                        td data-label="复函期限 Reply due" { (due_cell(n)) }
                    }
                }
                @if notices.is_empty() {
                    tr { td colspan="9" { "没有通报 No notices" } }
                }
            }
        }
    }
}

/// The most notices a search shows.
const SEARCH_LIMIT: usize = 100;

/// The search form, showing the current text.
fn search_form(text: &str) -> Markup {
    maud::html! {
        form.search method="get" action="/console/search" role="search" {
            label {
                "身份号码或姓名 Identity number or name"
                input type="search" name="q" value=(text) required
                    placeholder="如 610602199001011234 或 张小华";
            }
            button type="submit" { "查找 Search" }
        }
    }
}

/// The search page: notices, sent and received, about a person found by identity number or
/// name. Operators only: it reads payloads.
pub(super) async fn search(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    let title = "按当事人查找 Search by person";
    if !who.operator() {
        return who.error_page(
            StatusCode::FORBIDDEN,
            title,
            "审计员不能按当事人查找通报（审计员不查看内容） Auditors may not search notices by person: they never read payloads.",
        );
    }
    let text = param(&q, "q");
    if text.is_empty() {
        return who.page(StatusCode::OK, title, search_form(""));
    }
    let ops = who.ops(&state);
    let found = match ops.search_person(text, SEARCH_LIMIT).await {
        Ok(found) => found,
        Err(e) => {
            let body = maud::html! {
                (error_note(&e.to_string()))
                (search_form(text))
            };
            return who.page(super::http_status(&e), title, body);
        }
    };
    let ids: Vec<String> = found.iter().map(|n| n.id.to_string()).collect();
    access(&state, &who.account.name, "search_person", &ids.join(","));
    let summaries = ops.summaries(&found);
    let body = maud::html! {
        (search_form(text))
        p { "找到 " b id="found" { (found.len()) } " 件 notices found"
            @if found.len() == SEARCH_LIMIT { "（只列出最新的 " (SEARCH_LIMIT) " 件 only the newest are shown）" } }
        (notice_rows(&found, None, &summaries))
    };
    who.page(StatusCode::OK, title, body)
}

/// The outbox (`outbound`) or inbox page: the filter form, one page of notices, the next-page link.
async fn listing(
    state: Arc<NodeState>,
    headers: HeaderMap,
    q: HashMap<String, String>,
    outbound: bool,
) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    let (path, title) = if outbound {
        ("/console/outbox", "发件箱 Outbox")
    } else {
        ("/console/inbox", "收件箱 Inbox")
    };
    let ops = who.ops(&state);
    let peers = directory_peers(&ops);
    let refused = |error: String| {
        let body = maud::html! {
            (error_note(&error))
            (filter_form(path, &q, outbound, &peers))
        };
        who.page(StatusCode::BAD_REQUEST, title, body)
    };
    let id = param(&q, "id");
    if !id.is_empty() {
        return match NoticeId::parse(id) {
            Ok(id) => Redirect::to(&format!("/console/notice/{id}")).into_response(),
            Err(e) => refused(format!("notice id: {e}")),
        };
    }
    let filters = match parse_filters(&q, outbound) {
        Ok(f) => f,
        Err(e) => return refused(e),
    };
    let direction = if outbound {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    let query = PageQuery {
        status: filters.status,
        peer: filters.peer,
        kind: filters.kind,
        urgent: filters.urgent,
        ids: filters.ids,
        limit: PAGE_SIZE,
        max_scan: MAX_SCAN,
    };
    let (notices, next) = match ops.page(direction, query).await {
        Ok(page) => (page.notices, page.next),
        Err(e) => {
            return who.error_page(StatusCode::SERVICE_UNAVAILABLE, title, &e.to_string());
        }
    };
    let summaries = ops.summaries(&notices);
    let body = maud::html! {
        @if who.operator() {
            (search_form(""))
        }
        (filter_form(path, &q, outbound, &peers))
        (notice_rows(&notices, Some(outbound), &summaries))
        @if let Some(cursor) = next {
            (next_link(path, &q, &cursor))
        }
    };
    who.page(StatusCode::OK, title, body)
}

pub(super) async fn outbox(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    listing(state, headers, q, true).await
}

pub(super) async fn inbox(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    listing(state, headers, q, false).await
}
