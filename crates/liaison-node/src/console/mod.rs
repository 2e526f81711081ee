//! The web console on the admin listener (loopback): server-rendered HTML pages for operators
//! and auditors, signed in with the accounts of `[[console.accounts]]`.
//!
//! Every action and listing goes through the application layer ([`crate::ops`]) that the admin
//! service uses too, with the account's role, so validation and error messages are the same. Sessions live in
//! memory (a restart signs everyone out, and the sign-in page says so); every form carries the
//! session's CSRF token and every POST is checked for it; every request must name the admin
//! listener's own address as its `Host`. Auditors never see a payload: not on a page, not in a form. Operator
//! actions and payload views are written to the access log (tracing target `liaison::access` and
//! `<data_dir>/access.log`).
//!
//! This file holds the router and the guards every page shares; each page has its own file.

mod access;
mod bulletin;
mod cancel;
mod due;
mod forms;
mod layout;
mod letter;
mod listing;
mod login;
mod notice;
mod peers;
mod sessions;
mod write;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::Markup;

use crate::NodeState;
use crate::ops::{Ops, OpsError, Role};
use layout::{error_note, page, respond};
use sessions::Account;

pub(crate) use sessions::Sessions;
pub use sessions::{PasswordHashError, check_password_hash, hash_password};

/// The console's routes, to be merged into the admin listener's router; `admin_addr` is the
/// listener's bound address, the only `Host` the console answers to.
pub(crate) fn router(state: Arc<NodeState>, admin_addr: SocketAddr) -> Router {
    state.console.serve_at(admin_addr);
    // The dummy hash is made before the first sign-in, so that even the first unknown name
    // costs no more than a known one.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let warm = state.clone();
        runtime.spawn_blocking(move || {
            warm.console.dummy_hash();
        });
    }
    let host_state = state.clone();
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/outbox") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/outbox") }),
        )
        .route("/console/login", get(login::login_form).post(login::login))
        .route("/console/logout", post(login::logout))
        .route("/console/outbox", get(listing::outbox))
        .route("/console/inbox", get(listing::inbox))
        .route("/console/search", get(listing::search))
        .route("/console/notice/{id}", get(notice::notice))
        .route("/console/notice/{id}/retry", post(notice::retry))
        .route(
            "/console/notice/{id}/cancel",
            get(cancel::confirm_cancel).post(notice::cancel),
        )
        .route("/console/write", get(write::write_form).post(write::write))
        .route("/console/forms.js", get(forms::script::forms_js))
        .route("/console/due", get(due::due))
        .route("/console/due/{id}/remind", post(due::remind))
        .route("/console/bulletin", get(bulletin::bulletin))
        .route("/console/bulletin.csv", get(bulletin::bulletin_csv))
        .route("/console/peers", get(peers::peers))
        .layer(axum::Extension(
            Arc::new(forms::saved::KeptForms::default()),
        ))
        .layer(axum::middleware::from_fn(move |request, next| {
            check_host(host_state.clone(), request, next)
        }))
        .with_state(state)
}

/// Refuses a request whose `Host` (or HTTP/2 `:authority`) is not the admin listener's address:
/// a page opened under another name (DNS rebinding) must not reach the console.
async fn check_host(
    state: Arc<NodeState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            request
                .headers()
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        });
    let expected = state.console.admin_host().to_owned();
    let refuse = |status: StatusCode, message: String| {
        respond(
            status,
            page("地址不对 Wrong address", None, error_note(&message)),
        )
    };
    match host {
        None => refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "请求没有 Host 头 The request names no host: open the console at http://{expected}/console/"
            ),
        ),
        Some(host) if !state.console.host_allowed(&host) => refuse(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "本控制台不以 {host} 提供服务，请用 http://{expected}/console/ 打开 \
                 This console does not answer to {host}: open it at http://{expected}/console/"
            ),
        ),
        Some(_) => next.run(request).await,
    }
}

/// A request's query parameters.
type Params = Query<HashMap<String, String>>;
/// A POST's form fields.
type Fields = Form<HashMap<String, String>>;

/// The query parameter `name`, trimmed, or "".
fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> &'a str {
    q.get(name).map(|v| v.trim()).unwrap_or("")
}

/// A page that refuses the request, with a link to the sign-in page.
fn forbidden(why: &str) -> Response {
    respond(
        StatusCode::FORBIDDEN,
        page(
            "拒绝 Forbidden",
            None,
            maud::html! {
                (error_note(why))
                p { a href="/console/login" { "登录 Sign in" } }
            },
        ),
    )
}

fn to_login() -> Response {
    Redirect::to("/console/login").into_response()
}

/// The signed-in session of a request.
struct Authed {
    account: Account,
    csrf: String,
    /// This node's county, "宝塔区 610602", for every page's header.
    site: String,
}

impl Authed {
    fn operator(&self) -> bool {
        self.account.role == Role::Operator
    }

    fn role_name(&self) -> &'static str {
        match self.account.role {
            Role::Operator => "操作员 operator",
            Role::Auditor => "审计员 auditor",
        }
    }

    /// The hidden field with this session's CSRF token.
    fn csrf_field(&self) -> Markup {
        layout::csrf_field(&self.csrf)
    }

    /// A page with the signed-in header.
    fn page(&self, status: StatusCode, title: &str, body: Markup) -> Response {
        let nav = layout::nav(
            &self.site,
            &self.account.name,
            self.role_name(),
            self.operator(),
            &self.csrf,
        );
        respond(status, page(title, Some(nav), body))
    }

    /// A page that says only what went wrong.
    fn error_page(&self, status: StatusCode, title: &str, message: &str) -> Response {
        self.page(status, title, error_note(message))
    }

    /// The application layer, with this account's role.
    fn ops(&self, state: &Arc<NodeState>) -> Ops {
        Ops::new(state.clone(), self.account.role)
    }
}

/// The signed-in session of a GET request; `None` leads to the sign-in page.
fn authed(state: &NodeState, headers: &HeaderMap) -> Option<Authed> {
    let session = state.console.get(&state.console.cookie_id(headers)?)?;
    Some(Authed {
        account: session.account?,
        csrf: session.csrf,
        site: site(state),
    })
}

/// This node's county as the header shows it.
fn site(state: &NodeState) -> String {
    format!("{} {}", state.config.name, state.config.county)
}

/// The signed-in session of a POST, if its form carries the session's CSRF token.
fn authed_post(
    state: &NodeState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<Authed> {
    let session = state.console.get(&state.console.cookie_id(headers)?)?;
    let given = form.get("csrf").map(String::as_str).unwrap_or("");
    if !session.csrf_matches(given) {
        return None;
    }
    Some(Authed {
        account: session.account?,
        csrf: session.csrf,
        site: site(state),
    })
}

/// What a POST without a valid session and CSRF token gets.
fn refused_post() -> Response {
    forbidden(
        "表单已失效,请重新登录 The form has expired or did not come from this console: sign in again.",
    )
}

/// The peer counties of the directory, as (county code, "code name"), for the pages that offer
/// a choice of them.
fn directory_peers(ops: &Ops) -> Vec<(String, String)> {
    ops.directory()
        .into_iter()
        .map(|(county, name)| (county.as_str().to_owned(), format!("{county} {name}")))
        .collect()
}

/// The HTTP status of an action that was not done.
fn http_status(e: &OpsError) -> StatusCode {
    match e {
        OpsError::Invalid(_) => StatusCode::BAD_REQUEST,
        OpsError::NotFound(_) => StatusCode::NOT_FOUND,
        OpsError::NotNow(_) | OpsError::Exists(_) => StatusCode::CONFLICT,
        OpsError::Forbidden(_) => StatusCode::FORBIDDEN,
        OpsError::StorageFull(_) => StatusCode::SERVICE_UNAVAILABLE,
        OpsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
