//! Signing in and out: the sign-in page and form, which starts a new session for the account,
//! and the sign-out form in every page's header.
//!
//! Failed sign-ins are counted per account name and per client address; after
//! [`ACCOUNT_FREE_FAILURES`] under one name (or [`ADDRESS_FREE_FAILURES`] from one address) each
//! further attempt must wait, longer every time, and is refused unread until then. Unknown account names cost the same password check as known ones. The
//! sign-in page says when a session was lost to a restart of the node or ended by idling.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use tonic::transport::server::TcpConnectInfo;

use super::access::access;
use super::layout::{error_note, page, respond};
use super::sessions::{ACCOUNT_FREE_FAILURES, ADDRESS_FREE_FAILURES, Account, Lookup, ThrottleKey};
use super::{Fields, authed, authed_post, forbidden, refused_post};
use crate::NodeState;

/// The sign-in page of session `session`, with a note above the form (why sign-in failed, or
/// why the earlier session is gone).
fn login_page(
    state: &NodeState,
    session: &str,
    csrf: &str,
    note: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = maud::html! {
        @if let Some(e) = note {
            (error_note(e))
        }
        form method="post" action="/console/login" {
            input type="hidden" name="csrf" value=(csrf);
            p { label { "账号 Account " input name="name" autocomplete="username" required; } }
            p {
                label {
                    "密码 Password "
                    input type="password" name="password" autocomplete="current-password" required;
                }
            }
            p { button type="submit" { "登录 Sign in" } }
        }
    };
    let mut response = respond(
        status,
        page(
            "登录 Sign in",
            Some(super::layout::site_header(&state.config)),
            body,
        ),
    );
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.console.session_cookie(session));
    response
}

pub(super) async fn login_form(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
) -> Response {
    if authed(&state, &headers).is_some() {
        return Redirect::to("/console/outbox").into_response();
    }
    let note = match state.console.lookup(&headers) {
        Lookup::Restarted => {
            Some("节点已重启，请重新登录 The node restarted since you signed in: sign in again.")
        }
        Lookup::Ended => Some(
            "登录已超时（30 分钟无操作）或已退出，请重新登录 Your session ended (30 minutes without use, or signed out): sign in again.",
        ),
        Lookup::None | Lookup::Live => None,
    };
    match state.console.create(None) {
        Some((id, session)) => login_page(&state, &id, &session.csrf, note, StatusCode::OK),
        None => respond(
            StatusCode::SERVICE_UNAVAILABLE,
            page(
                "登录 Sign in",
                None,
                error_note("no randomness for a session"),
            ),
        ),
    }
}
/// How long to wait, in words a clerk reads: "3 分 20 秒".
fn wait_words(ms: i64) -> String {
    let secs = (ms + 999) / 1000;
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} 秒"),
        (m, 0) => format!("{m} 分钟"),
        (m, s) => format!("{m} 分 {s} 秒"),
    }
}

pub(super) async fn login(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    client: Option<Extension<TcpConnectInfo>>,
    Form(form): Fields,
) -> Response {
    let Some(id) = state.console.cookie_id(&headers) else {
        return forbidden("请从登录页登录 Sign in from the sign-in page.");
    };
    let Some(session) = state.console.get(&id) else {
        return forbidden("登录页已失效 The sign-in page has expired: open it again.");
    };
    let given = form.get("csrf").map(String::as_str).unwrap_or("");
    if !session.csrf_matches(given) {
        return forbidden("表单已失效 The form did not come from this console.");
    }
    let name = form
        .get("name")
        .map(|n| n.trim().to_owned())
        .unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let address = client
        .and_then(|Extension(c)| c.remote_addr())
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string());
    let keys = [ThrottleKey::account(&name), ThrottleKey::address(&address)];
    let now = state.clock.now_ms();
    let wait = state.console.wait_ms(&keys, now);
    if wait > 0 {
        access(&state, &name, "sign_in_throttled", "");
        let message = format!(
            "登录失败次数过多（同一账号连续 {ACCOUNT_FREE_FAILURES} 次或同一地址 {ADDRESS_FREE_FAILURES} 次以上），请 {} 后再试。\
             Too many failed sign-ins for this account or from this address: try again in {} s.",
            wait_words(wait),
            (wait + 999) / 1000
        );
        let mut response = login_page(
            &state,
            &id,
            &session.csrf,
            Some(&message),
            StatusCode::TOO_MANY_REQUESTS,
        );
        if let Ok(v) = header::HeaderValue::from_str(&((wait + 999) / 1000).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let account = state
        .config
        .console
        .accounts
        .iter()
        .find(|a| a.name == name)
        .cloned();
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    let checker = state.clone();
    let verified =
        tokio::task::spawn_blocking(move || checker.console.verify(hash.as_deref(), &password))
            .await
            .unwrap_or(false);
    let Some(account) = account.filter(|_| verified) else {
        state.console.failed(&keys, now);
        access(&state, &name, "sign_in_refused", "");
        return login_page(
            &state,
            &id,
            &session.csrf,
            Some("账号或密码不对 Wrong account name or password."),
            StatusCode::UNAUTHORIZED,
        );
    };
    state.console.succeeded(&keys[0]);
    // A new session id on sign-in, so an id known before it is worth nothing after.
    state.console.remove(&id);
    let Some((new_id, _)) = state.console.create(Some(Account {
        name: account.name.clone(),
        role: account.role,
    })) else {
        return forbidden("no randomness for a session");
    };
    access(&state, &account.name, "sign_in", "");
    let next = super::write::after_sign_in(&headers, account.role == crate::ops::Role::Operator);
    let mut response = Redirect::to(&next).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.console.session_cookie(&new_id));
    response
}

pub(super) async fn logout(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let who = match authed_post(&state, &headers, &form) {
        Some(who) => who,
        None => return refused_post(),
    };
    if let Some(id) = state.console.cookie_id(&headers) {
        state.console.remove(&id);
    }
    access(&state, &who.account.name, "sign_out", "");
    let mut response = Redirect::to("/console/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.console.expired_cookie());
    response
}
