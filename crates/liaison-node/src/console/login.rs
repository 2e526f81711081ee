//! Signing in and out: the sign-in page and form, which starts a new session for the account,
//! and the sign-out form in every page's header.

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::access::access;
use super::layout::{error_note, page, respond};
use super::sessions::{Account, cookie_id, expired_cookie, session_cookie, verify_password};
use super::{Fields, authed, authed_post, forbidden, refused_post};
use crate::NodeState;

/// The sign-in page of session `session`, with an error above the form if sign-in failed.
fn login_page(session: &str, csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    let body = maud::html! {
        @if let Some(e) = error {
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
    let mut response = respond(status, page("登录 Sign in", None, body));
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(session));
    response
}

pub(super) async fn login_form(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
) -> Response {
    if authed(&state, &headers).is_some() {
        return Redirect::to("/console/outbox").into_response();
    }
    match state.console.create(None) {
        Some((id, session)) => login_page(&id, &session.csrf, None, StatusCode::OK),
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
pub(super) async fn login(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let Some(id) = cookie_id(&headers) else {
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
    let account = state
        .config
        .console
        .accounts
        .iter()
        .find(|a| a.name == name)
        .cloned();
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    let verified = tokio::task::spawn_blocking(move || {
        hash.is_some_and(|hash| verify_password(&hash, &password))
    })
    .await
    .unwrap_or(false);
    let Some(account) = account.filter(|_| verified) else {
        access(&state, &name, "sign_in_refused", "");
        return login_page(
            &id,
            &session.csrf,
            Some("账号或密码不对 Wrong account name or password."),
            StatusCode::UNAUTHORIZED,
        );
    };
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
        .insert(header::SET_COOKIE, session_cookie(&new_id));
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
    if let Some(id) = cookie_id(&headers) {
        state.console.remove(&id);
    }
    access(&state, &who.account.name, "sign_out", "");
    let mut response = Redirect::to("/console/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, expired_cookie());
    response
}
