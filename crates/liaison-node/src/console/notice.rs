//! The page of one notice: the notice as a letter (函) laid out for A4 print, below the notice it
//! answers and above its replies; where it stands (delivery, receipt, signatures); its payload
//! (never for auditors); and for operators the retry and cancel actions of a pending outbound
//! notice and, where a reply is allowed, the way to reply to an inbound one.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use liaison_core::{Delivery, NoticeStatus, OutboundStatus};
use maud::{Markup, Render};

use super::access::access;
use super::layout::{
    due_time, error_note, error_text, kind_label, link, state_label, status_label, time, url,
};
use super::letter::{answerable, letter};
use super::{
    Authed, Fields, Params, authed, authed_post, forbidden, param, refused_post, to_login,
};
use crate::NodeState;
use crate::ops::{self, Action, Direction, NoticeDetail};

/// A message shown at the top of a notice page.
enum Note {
    Done(&'static str),
    Error(String),
}

pub(super) async fn notice(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Params,
) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    let note = match param(&q, "done") {
        "retry" => Some(Note::Done(
            "已请求立即重发 Retry requested: the notice will be sent again now.",
        )),
        "cancel" => Some(Note::Done("已撤销 The notice was cancelled.")),
        "sent" => Some(Note::Done(
            "已签名并放入发件箱 Signed and put in the outbox.",
        )),
        "already_sent" => Some(Note::Done(
            "这份表单已经发送过,未再次发送;以下是当时发出的通报。 This form was sent before and was not sent again: here is the notice it sent.",
        )),
        _ => None,
    };
    notice_page(&state, &who, &id, note, StatusCode::OK).await
}

/// One term and its description in the notice page's list.
fn row(label: &str, value: impl Render) -> Markup {
    maud::html! {
        dt { (label) }
        dd { (value) }
    }
}

/// The page of notice `id`, read through the application layer, with `note` above it.
async fn notice_page(
    state: &Arc<NodeState>,
    who: &Authed,
    id: &str,
    note: Option<Note>,
    status: StatusCode,
) -> Response {
    let title = "通报 Notice";
    let ops = who.ops(state);
    let shown = ops::parse_id(id).and_then(|id| ops.show(&id));
    let detail = match shown {
        Ok(d) => d,
        Err(e) => {
            let code = match super::http_status(&e) {
                code @ (StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST) => code,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            return who.error_page(code, title, &e.to_string());
        }
    };
    // The notice it answers and its replies, where this node holds them.
    let original = detail
        .notice
        .in_reply_to
        .and_then(|original| ops.show(&original).ok());
    let replies: Vec<NoticeDetail> = detail
        .notice
        .replies
        .iter()
        .filter_map(|reply| ops.show(reply).ok())
        .collect();
    let shown: Vec<&NoticeDetail> = original
        .iter()
        .chain(std::iter::once(&detail))
        .chain(&replies)
        .collect();
    for d in &shown {
        if !d.payload_withheld && d.body_json.is_some() {
            access(
                state,
                &who.account.name,
                "view_payload",
                &d.notice.id.to_string(),
            );
        }
    }
    let views: Vec<_> = shown.iter().map(|d| d.notice.clone()).collect();
    let summaries = ops.summaries(&views);
    let letter_of = |d: &NoticeDetail, html_id: &str| {
        let own = (state.config.name.as_str(), state.config.county);
        letter(d, own, summaries.get(&d.notice.id), html_id)
    };
    let letters = maud::html! {
        @if let Some(original) = &original {
            section.original {
                h2.noprint { "原函 The notice this one answers" }
                (letter_of(original, "letter-original"))
            }
            h2.noprint { "本函 This notice" }
        }
        (letter_of(&detail, "letter"))
        @if !replies.is_empty() {
            section.replies {
                h2.noprint { "复函 Replies" }
                @for reply in &replies {
                    (letter_of(reply, &format!("letter-{}", reply.notice.id)))
                }
            }
        }
    };
    who.page(status, title, notice_body(who, &detail, note, letters))
}

/// The notice page below its title: the letters, where the notice stands, its payload (not for
/// auditors), and the actions an operator may take.
fn notice_body(who: &Authed, detail: &NoticeDetail, note: Option<Note>, letters: Markup) -> Markup {
    let n = &detail.notice;
    let outbound = n.direction == Direction::Outbound;
    let pending = matches!(n.status, NoticeStatus::Outbound(s) if s.is_pending());
    let queued = Delivery::Queued;
    let delivery = n.delivery.as_ref().unwrap_or(&queued);
    maud::html! {
        @match note {
            Some(Note::Done(m)) => p.msg { (m) },
            Some(Note::Error(e)) => (error_note(&e)),
            None => {}
        }
        p.noprint.actions {
            "打印：用浏览器的打印（Ctrl+P），本页按 A4 公函排版 "
            span.muted { "Print with the browser (Ctrl+P); the page is laid out as an A4 letter." }
            @if who.operator() && !outbound && answerable(n.kind) {
                " "
                a id="reply" href={ "/console/write?reply_to=" (n.id) } { "复函 Reply to this notice" }
            }
        }
        (letters)
        h2.noprint { "送达与签名 Delivery and signatures" }
        dl.noprint.record {
            (row("通报编号 Notice id", maud::html! { span id="notice-id" { (n.id) } }))
            (row("方向 Direction", if outbound { "发出 outbound" } else { "收到 inbound" }))
            (row(
                if outbound { "收件县区 To" } else { "发件县区 From" },
                format!("{} {}", n.peer, n.peer_name),
            ))
            (row("种类 Kind", kind_label(n.kind)))
            (row("紧急 Urgent", if n.urgent { "紧急 urgent" } else { "普通 normal" }))
            (row("发出时间 Issued", time(n.issued_at_ms)))
            (row(
                "签名 Signature",
                if detail.signature_valid { "有效 valid" } else { "无效 NOT VALID" },
            ))
            (row("状态 Status", maud::html! { span id="status" { (status_label(n.status)) } }))
            @if let Some(receipt_at_ms) = n.receipt_at_ms {
                (row(
                    if outbound { "回执 Receipt" } else { "收到 Received" },
                    format!(
                        "{} ({})",
                        time(receipt_at_ms),
                        if detail.receipt_valid {
                            "回执签名有效 receipt signature valid"
                        } else {
                            "回执签名无效 receipt signature NOT VALID"
                        }
                    ),
                ))
            } @else if outbound {
                (row("回执 Receipt", "尚无 none yet"))
            }
            @if outbound {
                (row("尝试次数 Attempts", maud::html! { span id="attempts" { (delivery.attempts()) } }))
                @if let Some(last_error) = delivery.last_error() {
                    (row(
                        "最近错误 Last error",
                        maud::html! { span id="last-error" { (error_text(last_error)) } },
                    ))
                }
                @if let Some(next) = delivery.next_attempt_at_ms().filter(|&ms| ms != 0) {
                    (row("下次尝试 Next attempt", time(next)))
                }
                @if let Some((code, reason)) = delivery.rejection() {
                    (row("拒收 Rejected", format!("{}: {reason}", code.name())))
                }
            }
            @if let Some(due) = n.reply_due_at_ms {
                (row(
                    "复函期限 Reply due",
                    format!(
                        "{} ({})",
                        due_time(due),
                        n.deadline.map(state_label).unwrap_or_default()
                    ),
                ))
            } @else if let Some(why) = &n.deadline_error {
                (row("复函期限 Reply due", format!("期限未知 UNKNOWN: {why}")))
            } @else if let Some(state) = n.deadline {
                (row("复函期限 Reply due", state_label(state)))
            }
            @if let Some(answered) = n.answered_at_ms {
                (row("复函时间 Answered", time(answered)))
            }
            @if let Some(reminded) = n.reminded_at_ms {
                (row("催办 Reminded", maud::html! { span id="reminded-at" { (time(reminded)) } }))
            }
            @if let Some(original) = n.in_reply_to {
                (row("答复 Answers", link(&original.to_string())))
            }
            @for reply in &n.replies {
                (row("复函 reply", link(&reply.to_string())))
            }
        }
        @if detail.payload_withheld {
            p.noprint { "审计员不可查看内容 Auditors do not see payloads." }
        } @else if let Some(body) = &detail.body_json {
            details.noprint {
                summary { "原始数据 Raw data (JSON, see docs/notices.md)" }
                pre id="payload" { (body) }
            }
        }
        @if who.operator() {
            @if pending {
                h2.noprint { "操作 Actions" }
                form method="post" action={ "/console/notice/" (n.id) "/retry" } style="display:inline" {
                    (who.csrf_field())
                    button id="retry" type="submit" { "立即重发 Retry now" }
                }
                " "
                a id="cancel" href={ "/console/notice/" (n.id) "/cancel" } { "撤销 Cancel…" }
            }
            @if matches!(n.status, NoticeStatus::Outbound(OutboundStatus::Rejected | OutboundStatus::Cancelled)) {
                p { a id="send-again" href={ "/console/write?again=" (n.id) } { "再次发送 Send again as a new notice" } }
            }
        }
    }
}

/// Retries or cancels (`cancel`) notice `id` for an operator, then shows the notice again.
async fn act(
    state: Arc<NodeState>,
    headers: HeaderMap,
    id: String,
    form: HashMap<String, String>,
    cancel: bool,
) -> Response {
    let who = match authed_post(&state, &headers, &form) {
        Some(who) => who,
        None => return refused_post(),
    };
    if !who.operator() {
        return forbidden("审计员不能操作 Auditors may not retry or cancel notices.");
    }
    // A cancel is done only from its confirmation page.
    if cancel && form.get("confirmed").map(String::as_str) != Some("yes") {
        return Redirect::to(&format!("/console/notice/{}/cancel", url(&id))).into_response();
    }
    let ops = who.ops(&state);
    let action = if cancel { "cancel" } else { "retry" };
    let act = if cancel {
        Action::Cancel
    } else {
        Action::Retry
    };
    let result = match ops::parse_id(&id) {
        Ok(notice) => ops.act(&notice, act).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => {
            access(&state, &who.account.name, action, &id);
            Redirect::to(&format!("/console/notice/{}?done={action}", url(&id))).into_response()
        }
        Err(e) => {
            access(&state, &who.account.name, &format!("{action}_refused"), &id);
            notice_page(
                &state,
                &who,
                &id,
                Some(Note::Error(e.to_string())),
                StatusCode::CONFLICT,
            )
            .await
        }
    }
}

pub(super) async fn retry(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    act(state, headers, id, form, false).await
}

pub(super) async fn cancel(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    act(state, headers, id, form, true).await
}
