//! The write page: an example draft of each kind (or one fit to answer an inbound notice),
//! edited as JSON, signed and sent through the application layer.

use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use liaison_core::{CountyCode, NoticeId, NoticeKind};

use super::access::access;
use super::layout::{kind_label, link, url};
use super::{
    Authed, Fields, Params, authed, authed_post, directory_peers, forbidden, param, refused_post,
    to_login,
};
use crate::NodeState;

/// The shipped example draft of `kind` (deploy/examples/notices).
fn example(kind: NoticeKind) -> &'static str {
    match kind {
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
    }
}

/// The example draft of `kind`, addressed to `recipient` (or to nobody, for a reply).
fn example_draft(kind: NoticeKind, recipient: Option<CountyCode>) -> String {
    let text = example(kind);
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text) else {
        return text.to_owned();
    };
    if let Some(map) = value.as_object_mut() {
        match recipient {
            Some(r) => map.insert("recipient".into(), r.as_str().into()),
            None => map.remove("recipient"),
        };
    }
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| text.to_owned())
}

/// The write page: example drafts and peer counties (or the notice replied to), and the draft form.
fn write_page(
    peers: &[(String, String)],
    who: &Authed,
    reply_to: &str,
    draft: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = maud::html! {
        @if let Some(e) = error {
            p class="err" id="error" { (e) }
        }
        @if reply_to.is_empty() {
            p {
                "范例 Example drafts: "
                @for k in NoticeKind::ALL {
                    a href={ "/console/write?kind=" (k.name()) } { (kind_label(k)) }
                    " · "
                }
            }
            @let peers: Vec<&str> = peers.iter().map(|(_, label)| label.as_str()).collect();
            p { "对方县区 Peer counties: " (peers.join(", ")) }
        } @else {
            p { "复函 Reply to " (link(reply_to)) }
        }
        form method="post" action="/console/write" {
            (who.csrf_field())
            input type="hidden" name="in_reply_to" value=(reply_to);
            p {
                label {
                    "草稿 Draft (JSON, see docs/notices.md)"
                    textarea name="draft_json" id="draft" spellcheck="false" { (draft) }
                }
            }
            p { button id="send" type="submit" { "签名并发送 Sign and send" } }
        }
    };
    let title = if reply_to.is_empty() {
        "写通报 Write a notice"
    } else {
        "复函 Reply"
    };
    who.page(status, title, body)
}

/// The write page for an operator: an example draft of `kind`, or a reply to `reply_to`.
pub(super) async fn write_form(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    if !who.operator() {
        return forbidden("审计员不能写通报 Auditors may not write notices.");
    }
    let ops = who.ops(&state);
    let peers = directory_peers(&ops);
    let reply_to = param(&q, "reply_to");
    if !reply_to.is_empty() {
        let original = NoticeId::parse(reply_to)
            .ok()
            .and_then(|id| ops.inbound(&id).ok().flatten());
        let Some(original) = original else {
            let error = format!("in_reply_to: no notice {reply_to} in the inbox");
            return write_page(
                &peers,
                &who,
                reply_to,
                "",
                Some(&error),
                StatusCode::NOT_FOUND,
            );
        };
        let kind = NoticeKind::ALL
            .into_iter()
            .find(|k| k.may_answer(original.kind))
            .unwrap_or(NoticeKind::ReplyLetter);
        let draft = example_draft(kind, None);
        return write_page(&peers, &who, reply_to, &draft, None, StatusCode::OK);
    }
    let kind = param(&q, "kind").parse().unwrap_or(NoticeKind::CaseNotice);
    let to = ops.directory().first().map(|(county, _)| *county);
    let draft = example_draft(kind, to);
    write_page(&peers, &who, "", &draft, None, StatusCode::OK)
}

/// Signs and sends the draft, then shows the new notice; shows the form again on an error.
pub(super) async fn write(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let who = match authed_post(&state, &headers, &form) {
        Some(who) => who,
        None => return refused_post(),
    };
    if !who.operator() {
        return forbidden("审计员不能写通报 Auditors may not write notices.");
    }
    let draft = form.get("draft_json").cloned().unwrap_or_default();
    let reply_to = form
        .get("in_reply_to")
        .map(|r| r.trim().to_owned())
        .unwrap_or_default();
    let ops = who.ops(&state);
    let sent = ops.send(&draft, &reply_to).await;
    match sent {
        Ok(sent) => {
            let id = sent.notice.id.to_string();
            access(
                &state,
                &who.account.name,
                if reply_to.is_empty() { "send" } else { "reply" },
                &id,
            );
            Redirect::to(&format!("/console/notice/{}?done=sent", url(&id))).into_response()
        }
        Err(e) => write_page(
            &directory_peers(&ops),
            &who,
            &reply_to,
            &draft,
            Some(&e.to_string()),
            StatusCode::BAD_REQUEST,
        ),
    }
}
