//! The write page: a form for each kind of notice (or for the reply a received notice needs),
//! then the letter shown for confirmation, then signed and sent through the application layer,
//! once per submission token. JSON drafts stay available as an advanced view. A form posted after
//! the session ended is kept for the clerk's next sign-in.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use liaison_core::draft::{Draft, parse_draft_json};
use liaison_core::{NoticeBody, NoticeId, NoticeKind, NoticeStatus, OutboundStatus};

use super::access::access;
use super::forms::read::{Envelope, Peer, Problem, form_values, read_form, resolve_county};
use super::forms::saved::{KeptForms, forget_cookie, is_id, kept_cookie, random_id, same_origin};
use super::forms::{Compose, Original, allow_form_script, client_key, render, spec};
use super::layout::{error_note, page, respond, url};
use super::{
    Authed, Fields, Params, authed, authed_post, forbidden, param, refused_post, to_login,
};
use crate::NodeState;
use crate::ops::Ops;

const NOT_FOR_AUDITORS: &str = "审计员不能写通报 Auditors may not write notices.";

/// This node's county as the letter names it.
fn me(ops: &Ops) -> String {
    let county = ops.county();
    match county.yanan_name() {
        Some(name) => format!("{name} ({county})"),
        None => county.to_string(),
    }
}

/// The received notice `id`, with what it says, for answering it.
fn original(ops: &Ops, id: &str) -> Result<Original, String> {
    let found = NoticeId::parse(id.trim())
        .ok()
        .and_then(|id| ops.inbound(&id).ok().flatten());
    match found {
        Some(n) => Ok(Original {
            id: n.id,
            sender: n.peer,
            kind: n.kind,
            urgent: n.urgent,
            replies: n.replies,
            body: ops
                .show(&n.id)
                .ok()
                .and_then(|d| d.body_json)
                .and_then(|json| serde_json::from_str(&json).ok()),
        }),
        None => Err(format!(
            "收件箱中没有通报 {id} — in_reply_to: no notice {id} in the inbox"
        )),
    }
}

/// The kind a reply to `original` is written as: the one the form asked for if it may answer,
/// else the first kind that may.
fn reply_kind(original: &Original, asked: Option<NoticeKind>) -> Option<NoticeKind> {
    asked.filter(|k| k.may_answer(original.kind)).or_else(|| {
        NoticeKind::ALL
            .into_iter()
            .find(|k| k.may_answer(original.kind))
    })
}

fn page_title(reply: bool) -> &'static str {
    if reply {
        "复函 Reply"
    } else {
        "写通报 Write a notice"
    }
}

/// A page of writing, with the forms' script allowed.
fn writing_page(who: &Authed, status: StatusCode, reply: bool, body: maud::Markup) -> Response {
    allow_form_script(who.page(status, page_title(reply), body))
}

/// The page that shows the letter before it is signed.
fn confirmation_page(who: &Authed, status: StatusCode, body: maud::Markup) -> Response {
    who.page(status, "核对函件 Check the letter", body)
}

/// The write page for an operator: an empty form of `kind`, a reply to `reply_to`, a rejected or
/// cancelled notice to send again (`again`), or a form kept while the session had ended.
pub(super) async fn write_form(
    State(state): State<Arc<NodeState>>,
    Extension(kept): Extension<Arc<KeptForms>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    if !who.operator() {
        return forbidden(NOT_FOR_AUDITORS);
    }
    let ops = who.ops(&state);
    let peers: Vec<Peer> = ops.directory();
    let Some(token) = random_id() else {
        return who.error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            page_title(false),
            "no randomness for a submission token",
        );
    };
    let mut values = HashMap::new();
    let mut note = None;
    let mut reply_to = param(&q, "reply_to").to_owned();
    let mut asked_kind = param(&q, "kind").parse::<NoticeKind>().ok();
    let mut forget = false;
    let kept_id = param(&q, "draft");
    if !kept_id.is_empty() {
        forget = true;
        match kept.take(kept_id) {
            Some(fields) => {
                reply_to = fields.get("in_reply_to").cloned().unwrap_or_default();
                asked_kind = fields.get("kind").and_then(|k| k.parse().ok());
                values = fields;
                note = Some(
                    "已恢复登录过期前填写的内容,请核对后继续。 Restored what you typed before your session ended.",
                );
            }
            None => {
                note = Some(
                    "保存的内容已过期或已取回。 The kept form has expired or was already restored.",
                )
            }
        }
    }
    let again = param(&q, "again");
    if !again.is_empty() {
        match again_values(&ops, again, &peers) {
            Ok((kind, in_reply_to, filled)) => {
                access(&state, &who.account.name, "view_payload", again);
                asked_kind = Some(kind);
                reply_to = in_reply_to;
                values = filled;
                note = Some(
                    "以下为原通报的内容,核对后将作为新通报发送。 The content of the original notice, to be sent as a new notice.",
                );
            }
            Err(e) => return who.error_page(StatusCode::CONFLICT, page_title(false), &e),
        }
    }
    let original = if reply_to.trim().is_empty() {
        None
    } else {
        match original(&ops, &reply_to) {
            Ok(o) => Some(o),
            Err(e) => return who.error_page(StatusCode::NOT_FOUND, page_title(true), &e),
        }
    };
    let kind = match &original {
        Some(o) => match reply_kind(o, asked_kind) {
            Some(k) => k,
            None => {
                return who.error_page(
                    StatusCode::CONFLICT,
                    page_title(true),
                    &format!(
                        "{}无需复函 A {} needs no reply.",
                        o.kind.chinese(),
                        o.kind.name()
                    ),
                );
            }
        },
        None => asked_kind
            .filter(|k| !k.requires_reference())
            .unwrap_or(NoticeKind::CaseNotice),
    };
    let compose = Compose {
        kind,
        reply: original.as_ref(),
        peers: &peers,
        token: &token,
    };
    if let Some(o) = original.as_ref().filter(|o| o.body.is_some()) {
        access(&state, &who.account.name, "view_payload", &o.id.to_string());
    }
    let body = if param(&q, "view") == "json" || !spec::has_form(kind) {
        render::json_form(
            &compose,
            &me(&ops),
            who.csrf_field(),
            "",
            &example(kind, &compose),
            None,
        )
    } else {
        render::notice_form(&compose, &me(&ops), who.csrf_field(), &values, &[], note)
    };
    let mut response = writing_page(&who, StatusCode::OK, original.is_some(), body);
    if forget {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, forget_cookie(&headers));
    }
    response
}

/// The kind, the notice answered and the form fields of outbound notice `id`, if it was rejected
/// or cancelled and so may be sent again as a new notice.
fn again_values(
    ops: &Ops,
    id: &str,
    peers: &[Peer],
) -> Result<(NoticeKind, String, HashMap<String, String>), String> {
    let id = crate::ops::parse_id(id).map_err(|e| e.to_string())?;
    let detail = ops.show(&id).map_err(|e| e.to_string())?;
    let n = &detail.notice;
    let again = matches!(
        n.status,
        NoticeStatus::Outbound(OutboundStatus::Rejected | OutboundStatus::Cancelled)
    );
    if !again {
        return Err(format!(
            "只有被拒收或已撤销的通报可以再次发送 Only a rejected or cancelled notice can be sent again; {id} is {}.",
            n.status.name()
        ));
    }
    let body: NoticeBody = detail
        .body_json
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .ok_or_else(|| format!("the content of {id} cannot be read"))?;
    let draft = Draft {
        recipient: Some(n.peer),
        urgent: n.urgent,
        client_key: None,
        body,
    };
    let in_reply_to = n.in_reply_to.map(|o| o.to_string()).unwrap_or_default();
    let mut values = form_values(&draft, peers);
    if !in_reply_to.is_empty() {
        values.remove("recipient");
    }
    Ok((draft.body.kind(), in_reply_to, values))
}

/// The example draft of `kind` for the JSON view's placeholder: the shipped example, addressed
/// to nobody for a reply.
fn example(kind: NoticeKind, compose: &Compose<'_>) -> String {
    let text = match kind {
        NoticeKind::CaseNotice => {
            include_str!("../../../../deploy/examples/notices/case_notice.json")
        }
        NoticeKind::CertificateQuery => {
            include_str!("../../../../deploy/examples/notices/certificate_query.json")
        }
        NoticeKind::CertificateAnswer => {
            include_str!("../../../../deploy/examples/notices/certificate_answer.json")
        }
        NoticeKind::FeeConsultation => {
            include_str!("../../../../deploy/examples/notices/fee_consultation.json")
        }
        NoticeKind::FeeReply => include_str!("../../../../deploy/examples/notices/fee_reply.json"),
        NoticeKind::ApprovalRequest => {
            include_str!("../../../../deploy/examples/notices/approval_request.json")
        }
        NoticeKind::ApprovalResult => {
            include_str!("../../../../deploy/examples/notices/approval_result.json")
        }
        NoticeKind::ContraceptionReport => {
            include_str!("../../../../deploy/examples/notices/contraception_report.json")
        }
        NoticeKind::Bulletin => include_str!("../../../../deploy/examples/notices/bulletin.json"),
        NoticeKind::ContactLetter => {
            include_str!("../../../../deploy/examples/notices/contact_letter.json")
        }
        NoticeKind::ReplyLetter => {
            include_str!("../../../../deploy/examples/notices/reply_letter.json")
        }
        NoticeKind::Reminder => include_str!("../../../../deploy/examples/notices/reminder.json"),
    };
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text) else {
        return text.to_owned();
    };
    if let Some(map) = value.as_object_mut()
        && compose.reply.is_some()
    {
        map.remove("recipient");
    }
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| text.to_owned())
}

/// Reads a JSON draft; a recipient may be written by name (安塞区) as on the form.
fn read_json(text: &str, peers: &[Peer]) -> Result<Draft, String> {
    let mut text = text.to_owned();
    if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str(&text)
        && let Some(serde_json::Value::String(named)) = map.get("recipient")
        && !named.trim().chars().all(|c| c.is_ascii_digit())
    {
        let code = resolve_county(peers, named).map_err(|p| p.zh)?;
        map.insert("recipient".into(), code.as_str().into());
        text = serde_json::Value::Object(map).to_string();
    }
    parse_draft_json(&text).map_err(|first| {
        // A draft that reads but breaks the body's rules is told every broken rule at once.
        let violations = serde_json::from_str::<Draft>(&text)
            .map(|d| d.body.violations())
            .unwrap_or_default();
        if violations.is_empty() {
            return first.to_string();
        }
        let lines: Vec<String> = violations
            .iter()
            .map(|e| {
                let zh = e.problem_zh.as_deref().unwrap_or("");
                format!("body.{}: {zh} ({})", e.path, e.problem)
            })
            .collect();
        lines.join("\n")
    })
}

/// What a POST to the write page asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Check the form and show the letter for confirmation.
    Check,
    /// Go back from the letter to the form.
    Edit,
    /// Sign and send the confirmed letter.
    Send,
}

/// Checks, confirms or sends what the form holds; keeps it if the session has ended.
pub(super) async fn write(
    State(state): State<Arc<NodeState>>,
    Extension(kept): Extension<Arc<KeptForms>>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let who = match authed_post(&state, &headers, &form) {
        Some(who) => who,
        None => return keep_for_sign_in(&state, &kept, &headers, form),
    };
    if !who.operator() {
        return forbidden(NOT_FOR_AUDITORS);
    }
    let ops = who.ops(&state);
    let peers: Vec<Peer> = ops.directory();
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or("");
    let step = match field("step") {
        "send" => Step::Send,
        "edit" => Step::Edit,
        _ => Step::Check,
    };
    let token = field("token").to_owned();
    if !is_id(&token) {
        return who.error_page(
            StatusCode::BAD_REQUEST,
            page_title(false),
            "表单已失效,请重新打开写通报页面 The form has no submission token: open the write page again.",
        );
    }
    // A form is sent once: pressed again, reloaded or resubmitted, it leads to what it sent.
    match ops.sent_with_client_key(&client_key(&token)) {
        Ok(Some(sent)) => {
            let id = sent.id.to_string();
            return Redirect::to(&format!("/console/notice/{}?done=already_sent", url(&id)))
                .into_response();
        }
        Ok(None) => {}
        Err(e) => {
            return who.error_page(super::http_status(&e), page_title(false), &e.to_string());
        }
    }
    let original = match field("in_reply_to") {
        "" => None,
        id => match original(&ops, id) {
            Ok(o) => Some(o),
            Err(e) => return who.error_page(StatusCode::NOT_FOUND, page_title(true), &e),
        },
    };
    let json = form.get("draft_json").map(String::as_str);
    // The kind of a JSON draft is in the draft; a form's is in the form.
    let asked = field("kind").parse::<NoticeKind>().ok();
    let kind = match &original {
        Some(o) => reply_kind(o, asked),
        None => asked.filter(|k| !k.requires_reference()),
    }
    .unwrap_or(NoticeKind::CaseNotice);
    let compose = Compose {
        kind,
        reply: original.as_ref(),
        peers: &peers,
        token: &token,
    };
    let reply = original.is_some();
    let read = match json {
        Some(text) => read_json(text, &peers).map_err(|e| vec![Problem::new("", e, "")]),
        None => read_form(
            kind,
            &form,
            Envelope {
                peers: (!reply).then_some(&peers[..]),
            },
        ),
    };
    let show_form = |problems: &[Problem], status| {
        let body = match json {
            Some(text) => {
                if let Some(o) = original.as_ref().filter(|o| o.body.is_some()) {
                    access(&state, &who.account.name, "view_payload", &o.id.to_string());
                }
                let error: Vec<String> = problems.iter().map(|p| p.zh.clone()).collect();
                let error = error.join("\n");
                render::json_form(
                    &compose,
                    &me(&ops),
                    who.csrf_field(),
                    text,
                    &example(kind, &compose),
                    (!error.is_empty()).then_some(error.as_str()),
                )
            }
            None => {
                if let Some(o) = original.as_ref().filter(|o| o.body.is_some()) {
                    access(&state, &who.account.name, "view_payload", &o.id.to_string());
                }
                render::notice_form(&compose, &me(&ops), who.csrf_field(), &form, problems, None)
            }
        };
        writing_page(&who, status, reply, body)
    };
    let draft = match read {
        Ok(draft) if step != Step::Edit => draft,
        Ok(_) => return show_form(&[], StatusCode::OK),
        Err(problems) => return show_form(&problems, StatusCode::BAD_REQUEST),
    };
    let confirm = |draft: &Draft, error: Option<&str>, status| {
        let compose = Compose {
            kind: draft.body.kind(),
            ..compose
        };
        let body = render::confirm_page(&compose, who.csrf_field(), &me(&ops), draft, &form, error);
        confirmation_page(&who, status, body)
    };
    if step == Step::Check {
        return confirm(&draft, None, StatusCode::OK);
    }
    let answered_before = original.as_ref().is_some_and(|o| !o.replies.is_empty());
    if answered_before && field("second_reply") != "yes" {
        return confirm(
            &draft,
            Some(
                "此通报已经复函;如确要再次复函,请勾选下方的确认框。 This notice has been answered: tick the box below to reply again.",
            ),
            StatusCode::CONFLICT,
        );
    }
    let once = Draft {
        client_key: Some(client_key(&token)),
        ..draft.clone()
    };
    let reply_to = original
        .as_ref()
        .map(|o| o.id.to_string())
        .unwrap_or_default();
    match ops.send(&once.to_json(), &reply_to).await {
        Ok(sent) => {
            let id = sent.notice.id.to_string();
            if !sent.already_queued {
                access(
                    &state,
                    &who.account.name,
                    if reply { "reply" } else { "send" },
                    &id,
                );
            }
            let done = if sent.already_queued {
                "already_sent"
            } else {
                "sent"
            };
            Redirect::to(&format!("/console/notice/{}?done={done}", url(&id))).into_response()
        }
        Err(e) => confirm(
            &draft,
            Some(&format!("未能发送 Not sent: {e}")),
            super::http_status(&e),
        ),
    }
}

/// A form posted without a signed-in session: kept for the next sign-in in this browser, if it
/// came from this console, and never shown to anyone before that sign-in.
fn keep_for_sign_in(
    state: &NodeState,
    kept: &KeptForms,
    headers: &HeaderMap,
    form: HashMap<String, String>,
) -> Response {
    let signed_in = state
        .console
        .cookie_id(headers)
        .and_then(|id| state.console.get(&id))
        .is_some_and(|s| s.account.is_some());
    // A signed-in session with a wrong token is a forged form: refused, not kept.
    if signed_in || !same_origin(headers) || !form.contains_key("token") {
        return refused_post();
    }
    let Some(id) = kept.keep(form) else {
        return refused_post();
    };
    let body = maud::html! {
        (error_note("登录已过期 Your session has ended."))
        p { "您填写的内容已暂存在本节点(2小时内有效),重新登录后会自动恢复,不会丢失。 \
             What you typed is kept on this node for 2 hours and comes back when you sign in again in this browser." }
        p { a id="sign-in-again" href="/console/login" { "重新登录 Sign in again" } }
    };
    let mut response = respond(
        StatusCode::UNAUTHORIZED,
        page("登录已过期 Session ended", None, body),
    );
    response
        .headers_mut()
        .insert(header::SET_COOKIE, kept_cookie(headers, &id));
    response
}

/// Where a sign-in leads: back to a kept form for an operator whose browser has one, else the outbox.
pub(super) fn after_sign_in(headers: &HeaderMap, operator: bool) -> String {
    match super::forms::saved::kept_id(headers) {
        Some(id) if operator => format!("/console/write?draft={id}"),
        _ => "/console/outbox".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_draft_may_name_its_recipient_by_name() {
        let peers = vec![(
            liaison_core::CountyCode::parse("610603").unwrap(),
            "安塞区".to_owned(),
        )];
        let draft = |to: &str| {
            format!(
                r#"{{"recipient": "{to}", "body": {{"kind": "contact_letter", "subject": "核实", "text": "请核实。"}}}}"#
            )
        };
        let by_name = read_json(&draft("安塞区"), &peers).unwrap();
        assert_eq!(by_name, read_json(&draft("610603"), &peers).unwrap());
        assert_eq!(
            by_name.recipient.map(|c| c.to_string()).as_deref(),
            Some("610603")
        );
        assert_eq!(
            read_json(&draft("宝塔区"), &peers).unwrap_err(),
            "没有名为“宝塔区”的对方县区;可选:安塞区"
        );
        assert!(
            read_json(&draft("610600"), &peers)
                .unwrap_err()
                .starts_with("recipient: \"610600\" is a province or prefecture code")
        );
    }

    #[test]
    fn a_json_draft_that_breaks_body_rules_hears_every_one_in_chinese() {
        let peers = vec![(
            liaison_core::CountyCode::parse("610603").unwrap(),
            "安塞区".to_owned(),
        )];
        let broken = r#"{"recipient": "610603", "body": {"kind": "contact_letter", "subject": " ", "text": "请核实。",
            "person": {"name": "王丽", "id_number": "610602199203154529", "birth_date": "1992-03-16"}}}"#;
        assert_eq!(
            read_json(broken, &peers).unwrap_err(),
            "body.subject: 必填 (is required and must not be blank)\n\
             body.person.birth_date: 填的是 1992-03-16,但身份号码中的出生日期是 1992-03-15 \
             (is 1992-03-16 but the identity number says 1992-03-15)"
        );
    }
}
