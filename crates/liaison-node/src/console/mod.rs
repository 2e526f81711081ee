//! The web console on the admin listener (loopback): server-rendered HTML pages for operators
//! and auditors, signed in with the accounts of `[[console.accounts]]`.
//!
//! Every action goes through the same [`AdminService`] methods as the CLI, with the account's
//! role, so validation and error messages are the same. Sessions live in memory (a restart signs
//! everyone out); every form carries the session's CSRF token and every POST is checked for it.
//! Auditors never see a payload: not on a page, not in a form. Operator actions and payload views
//! are written to the access log (tracing target `liaison::access` and `<data_dir>/access.log`).

mod html;

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use liaison_core::clock::{cst_midnight_ms, format_cst};
use liaison_core::{CountyCode, NoticeId, NoticeKind};
use liaison_proto::v1 as pb;
use liaison_proto::v1::admin_server::Admin as _;
use liaison_store::{IdRange, ListFilter, OutboundStatus};
use maud::{Markup, Render};
use tonic::Request;

use crate::NodeState;
use crate::admin::{AdminService, Role};
use html::{due_time, kind_label, link, page, state_label, status_label, time, url};

/// The session cookie's name.
const COOKIE: &str = "liaison_console";
/// A session ends after this long without a request.
const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// Rows per page of a listing.
const PAGE_SIZE: usize = 50;
/// Index entries one page may scan when filtering by kind, urgency or date, so that a page stays
/// fast with a million notices; the "next page" link continues the scan.
const MAX_SCAN: usize = 5_000;

/// Hashes a console password as an argon2id PHC string (for `[[console.accounts]] password_hash`).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| format!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks that `hash` is an argon2 PHC string such as `hash_password` makes.
pub fn check_password_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| {
        format!("not a PHC password hash ({e}); make one with `liaison console hash-password`")
    })?;
    match parsed.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => Ok(()),
        other => Err(format!(
            "algorithm {other:?} is not argon2; make one with `liaison console hash-password`"
        )),
    }
}

fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A signed-in account.
#[derive(Debug, Clone)]
struct Account {
    name: String,
    role: Role,
}

#[derive(Debug, Clone)]
struct Session {
    /// `None` before sign-in: the session only carries the sign-in form's CSRF token.
    account: Option<Account>,
    csrf: String,
    expires: Instant,
}

/// The console's sessions, in memory.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    // Without randomness no session can be made safely; an empty id is refused below.
    if getrandom::getrandom(&mut bytes).is_err() {
        return String::new();
    }
    hex::encode(bytes)
}

impl Sessions {
    fn create(&self, account: Option<Account>) -> Option<(String, Session)> {
        let id = random_hex();
        let csrf = random_hex();
        if id.is_empty() || csrf.is_empty() {
            return None;
        }
        let session = Session {
            account,
            csrf,
            expires: Instant::now() + SESSION_IDLE,
        };
        let mut map = self.inner.lock().ok()?;
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The live session `id`, its idle time renewed.
    fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.inner.lock().ok()?;
        let now = Instant::now();
        let session = map.get_mut(id)?;
        if session.expires <= now {
            map.remove(id);
            return None;
        }
        session.expires = now + SESSION_IDLE;
        Some(session.clone())
    }

    fn remove(&self, id: &str) {
        if let Ok(mut map) = self.inner.lock() {
            map.remove(id);
        }
    }
}

/// The session id from the request's cookie.
fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// The cookie that carries session `id`. `Secure` is left out on purpose: the console is served
/// over plain HTTP on the loopback interface only (the config refuses another admin address),
/// and browsers drop `Secure` cookies sent over plain HTTP. `HttpOnly` keeps it from scripts
/// and `SameSite=Strict` from requests started by other sites.
fn session_cookie(id: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/console"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("liaison_console=; Path=/console"))
}

fn expired_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "liaison_console=; HttpOnly; SameSite=Strict; Path=/console; Max-Age=0",
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An HTML response with headers that keep it out of caches and frames.
fn html(status: StatusCode, body: Markup) -> Response {
    let mut response = (status, body.into_string()).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

/// An error message at the top of a page.
fn error_note(message: &str) -> Markup {
    maud::html! {
        p.err { (message) }
    }
}

fn forbidden(why: &str) -> Response {
    html(
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

/// The signed-in session of a GET request, or the way to the sign-in page.
struct Authed {
    account: Account,
    csrf: String,
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

    fn csrf_field(&self) -> Markup {
        maud::html! {
            input type="hidden" name="csrf" value=(self.csrf);
        }
    }

    fn nav(&self) -> Markup {
        maud::html! {
            header {
                a href="/console/outbox" { "发件箱 Outbox" }
                a href="/console/inbox" { "收件箱 Inbox" }
                a href="/console/due" { "期限 Due" }
                a href="/console/peers" { "对方县区 Peers" }
                @if self.operator() {
                    a href="/console/write" { "写通报 Write" }
                }
                form method="post" action="/console/logout" {
                    (self.csrf_field())
                    " " (self.account.name) " (" (self.role_name()) ") "
                    button type="submit" { "退出 Sign out" }
                }
            }
        }
    }

    fn page(&self, status: StatusCode, title: &str, body: Markup) -> Response {
        html(status, page(title, Some(self.nav()), body))
    }

    /// A page that says only what went wrong.
    fn error_page(&self, status: StatusCode, title: &str, message: &str) -> Response {
        self.page(status, title, error_note(message))
    }

    /// A request to the admin service made with this account's role.
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.extensions_mut().insert(self.account.role);
        request
    }
}

fn authed(state: &NodeState, headers: &HeaderMap) -> Option<Authed> {
    let session = state.console.get(&cookie_id(headers)?)?;
    Some(Authed {
        account: session.account?,
        csrf: session.csrf,
    })
}

/// The signed-in session of a POST, if its form carries the session's CSRF token.
fn authed_post(
    state: &NodeState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<Authed> {
    let session = state.console.get(&cookie_id(headers)?)?;
    let given = form.get("csrf").map(String::as_str).unwrap_or("");
    if !constant_time_eq(given.as_bytes(), session.csrf.as_bytes()) {
        return None;
    }
    Some(Authed {
        account: session.account?,
        csrf: session.csrf,
    })
}

/// What a POST without a valid session and CSRF token gets.
fn refused_post() -> Response {
    forbidden(
        "表单已失效,请重新登录 The form has expired or did not come from this console: sign in again.",
    )
}

/// Records an operator action or a payload view.
fn access(state: &NodeState, account: &str, action: &str, notice: &str) {
    tracing::info!(target: "liaison::access", account, action, notice_id = notice, "console access");
    let line = serde_json::json!({
        "at": format_cst(state.clock.now_ms()),
        "account": account,
        "action": action,
        "notice_id": notice,
    });
    let path = state.config.data_dir.join("access.log");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "cannot append to the access log");
    }
}

/// The peer counties of the directory, as (county code, "code name"), for the pages that offer
/// a choice of them.
fn directory_peers(state: &NodeState) -> Vec<(String, String)> {
    state
        .config
        .directory
        .peers()
        .map(|p| {
            (
                p.county.as_str().to_owned(),
                format!("{} {}", p.county, p.name),
            )
        })
        .collect()
}

/// The console's routes, to be merged into the admin listener's router.
pub(crate) fn router(state: Arc<NodeState>) -> Router {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/outbox") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/outbox") }),
        )
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", post(logout))
        .route("/console/outbox", get(outbox))
        .route("/console/inbox", get(inbox))
        .route("/console/notice/{id}", get(notice))
        .route("/console/notice/{id}/retry", post(retry))
        .route("/console/notice/{id}/cancel", post(cancel))
        .route("/console/write", get(write_form).post(write))
        .route("/console/due", get(due))
        .route("/console/peers", get(peers))
        .with_state(state)
}

type Params = Query<HashMap<String, String>>;
type Fields = Form<HashMap<String, String>>;

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
    let mut response = html(status, page("登录 Sign in", None, body));
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(session));
    response
}

async fn login_form(State(state): State<Arc<NodeState>>, headers: HeaderMap) -> Response {
    if authed(&state, &headers).is_some() {
        return Redirect::to("/console/outbox").into_response();
    }
    match state.console.create(None) {
        Some((id, session)) => login_page(&id, &session.csrf, None, StatusCode::OK),
        None => html(
            StatusCode::SERVICE_UNAVAILABLE,
            page(
                "登录 Sign in",
                None,
                error_note("no randomness for a session"),
            ),
        ),
    }
}
async fn login(
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
    if !constant_time_eq(given.as_bytes(), session.csrf.as_bytes()) {
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
    let mut response = Redirect::to("/console/outbox").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&new_id));
    response
}

async fn logout(
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

/// The listing filters of a query string.
#[derive(Default)]
struct Filters {
    status: Option<OutboundStatus>,
    peer: Option<CountyCode>,
    kind: Option<NoticeKind>,
    urgent: Option<bool>,
    ids: IdRange,
}

fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> &'a str {
    q.get(name).map(|v| v.trim()).unwrap_or("")
}

fn given<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    Some(param(q, name)).filter(|v| !v.is_empty())
}

fn parse_day(text: &str, what: &str) -> Result<time::Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map_err(|_| format!("{what}: {text:?} is not a date such as 2026-03-01"))
}

fn first_id_at(ms: i64) -> NoticeId {
    NoticeId::new(ms.max(0) as u64, [0; 10])
}

fn parse_filters(q: &HashMap<String, String>, outbound: bool) -> Result<Filters, String> {
    let mut f = Filters::default();
    match param(q, "status") {
        "" => {}
        s if outbound => {
            f.status = Some(OutboundStatus::parse(s).ok_or_else(|| {
                format!(
                    "status {s:?} is not one of queued, in_flight, delivered, rejected, cancelled"
                )
            })?)
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
                        @for s in ["queued", "in_flight", "delivered", "rejected", "cancelled"] {
                            (option(s, &status_label(s), current))
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
                        (option(k.name(), &kind_label(k.name()), current))
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
            label { "从 From (CST)" input type="date" name="from" value=(param(q, "from")); }
            label { "到 To (CST)" input type="date" name="to" value=(param(q, "to")); }
            label { "通报编号 Notice id" input name="id" size="38" value=(param(q, "id")); }
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
fn due_cell(n: &pb::NoticeInfo) -> String {
    if n.reply_due_at_ms != 0 {
        format!(
            "{} {}",
            due_time(n.reply_due_at_ms),
            state_label(&n.deadline_state)
        )
    } else if !n.deadline_state.is_empty() {
        state_label(&n.deadline_state)
    } else {
        String::new()
    }
}

fn notice_rows(notices: &[pb::NoticeInfo], outbound: bool) -> Markup {
    maud::html! {
        table {
            thead {
                tr {
                    th { "通报编号 Notice id" }
                    th { "对方 Peer" }
                    th { "种类 Kind" }
                    th { "紧急 Urgent" }
                    th { "发出 Issued (CST)" }
                    @if outbound {
                        th { "状态 Status" }
                        th { "尝试 Attempts / 最近错误 Last error" }
                    } @else {
                        th { "收到 Received (CST)" }
                    }
                    th { "复函期限 Reply due" }
                }
            }
            tbody {
                @for n in notices {
                    @let flagged = n.deadline_state == "overdue" || n.deadline_state == "due_soon";
                    tr class=(if flagged { n.deadline_state.as_str() } else { "" }) {
                        td { (link(&n.notice_id)) }
                        td { (n.peer) " " (n.peer_name) }
                        td { (kind_label(&n.kind)) }
                        td { @if n.urgent { "紧急 urgent" } }
                        td { (time(n.issued_at_ms)) }
                        @if outbound {
                            td { (status_label(&n.status)) }
                            td { (n.attempts) " " (n.last_error) }
                        } @else {
                            td { (time(n.receipt_at_ms)) }
                        }
                        td { (due_cell(n)) }
                    }
                }
                @if notices.is_empty() {
                    tr { td colspan="8" { "没有通报 No notices" } }
                }
            }
        }
    }
}

/// One page of a listing, read from the store.
fn list_page(
    state: &Arc<NodeState>,
    filters: Filters,
    outbound: bool,
) -> Result<(Vec<pb::NoticeInfo>, Option<NoticeId>), String> {
    let service = AdminService {
        state: state.clone(),
    };
    let keep_kind = |kind: NoticeKind, urgent: bool| {
        filters.kind.is_none_or(|k| k == kind) && filters.urgent.is_none_or(|u| u == urgent)
    };
    if outbound {
        let filter = ListFilter {
            status: filters.status,
            peer: filters.peer,
            limit: PAGE_SIZE,
        };
        let page = state
            .store
            .page_outbound(&filter, filters.ids, MAX_SCAN, |r| {
                keep_kind(r.kind, r.urgent)
            })
            .map_err(|e| format!("storage: {e}"))?;
        let infos = page
            .items
            .iter()
            .map(|r| service.outbound_info(r).map_err(|s| s.message().to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((infos, page.next))
    } else {
        let page = state
            .store
            .page_inbound(filters.peer, PAGE_SIZE, filters.ids, MAX_SCAN, |r| {
                keep_kind(r.kind, r.urgent)
            })
            .map_err(|e| format!("storage: {e}"))?;
        let infos = page
            .items
            .iter()
            .map(|r| service.inbound_info(r).map_err(|s| s.message().to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((infos, page.next))
    }
}

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
    let peers = directory_peers(&state);
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
    let task_state = state.clone();
    let listed = tokio::task::spawn_blocking(move || list_page(&task_state, filters, outbound))
        .await
        .unwrap_or_else(|e| Err(format!("listing task failed: {e}")));
    let (notices, next) = match listed {
        Ok(listed) => listed,
        Err(e) => return who.error_page(StatusCode::SERVICE_UNAVAILABLE, title, &e),
    };
    let body = maud::html! {
        (filter_form(path, &q, outbound, &peers))
        (notice_rows(&notices, outbound))
        @if let Some(cursor) = next {
            (next_link(path, &q, &cursor))
        }
    };
    who.page(StatusCode::OK, title, body)
}

async fn outbox(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    listing(state, headers, q, true).await
}

async fn inbox(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    listing(state, headers, q, false).await
}

/// A message shown at the top of a notice page.
enum Note {
    Done(&'static str),
    Error(String),
}

async fn notice(
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

async fn notice_page(
    state: &Arc<NodeState>,
    who: &Authed,
    id: &str,
    note: Option<Note>,
    status: StatusCode,
) -> Response {
    let title = "通报 Notice";
    let service = AdminService {
        state: state.clone(),
    };
    let shown = service
        .show(who.request(pb::NoticeRef {
            notice_id: id.to_owned(),
        }))
        .await;
    let detail = match shown {
        Ok(d) => d.into_inner(),
        Err(s) => {
            let code = match s.code() {
                tonic::Code::NotFound => StatusCode::NOT_FOUND,
                tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            return who.error_page(code, title, s.message());
        }
    };
    if !detail.payload_withheld && !detail.body_json.is_empty() {
        let notice_id = detail.info.as_ref().map_or("", |n| n.notice_id.as_str());
        access(state, &who.account.name, "view_payload", notice_id);
    }
    who.page(status, title, notice_body(who, &detail, note))
}

/// The notice page below its title: what the notice is, where it stands, its payload (not for
/// auditors), and the actions an operator may take.
fn notice_body(who: &Authed, detail: &pb::NoticeDetail, note: Option<Note>) -> Markup {
    let n = detail.info.clone().unwrap_or_default();
    let outbound = n.direction == "outbound";
    let pending = outbound && (n.status == "queued" || n.status == "in_flight");
    maud::html! {
        @match note {
            Some(Note::Done(m)) => p.msg { (m) },
            Some(Note::Error(e)) => (error_note(&e)),
            None => {}
        }
        dl {
            (row("通报编号 Notice id", maud::html! { span id="notice-id" { (n.notice_id) } }))
            (row("方向 Direction", if outbound { "发出 outbound" } else { "收到 inbound" }))
            (row(
                if outbound { "收件县区 To" } else { "发件县区 From" },
                format!("{} {}", n.peer, n.peer_name),
            ))
            (row("种类 Kind", kind_label(&n.kind)))
            (row("紧急 Urgent", if n.urgent { "紧急 urgent" } else { "普通 normal" }))
            (row("发出时间 Issued", time(n.issued_at_ms)))
            (row(
                "签名 Signature",
                if detail.signature_valid { "有效 valid" } else { "无效 NOT VALID" },
            ))
            (row("状态 Status", maud::html! { span id="status" { (status_label(&n.status)) } }))
            @if n.receipt_at_ms != 0 {
                (row(
                    if outbound { "回执 Receipt" } else { "收到 Received" },
                    format!(
                        "{} ({})",
                        time(n.receipt_at_ms),
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
                (row("尝试次数 Attempts", maud::html! { span id="attempts" { (n.attempts) } }))
                @if !n.last_error.is_empty() {
                    (row(
                        "最近错误 Last error",
                        maud::html! { span id="last-error" { (n.last_error) } },
                    ))
                }
                @if n.next_attempt_at_ms != 0 {
                    (row("下次尝试 Next attempt", time(n.next_attempt_at_ms)))
                }
                @if !n.reject_code.is_empty() {
                    (row("拒收 Rejected", format!("{}: {}", n.reject_code, n.reject_reason)))
                }
            }
            @if n.reply_due_at_ms != 0 {
                (row(
                    "复函期限 Reply due",
                    format!(
                        "{} ({})",
                        due_time(n.reply_due_at_ms),
                        state_label(&n.deadline_state)
                    ),
                ))
            } @else if !n.deadline_error.is_empty() {
                (row("复函期限 Reply due", format!("期限未知 UNKNOWN: {}", n.deadline_error)))
            } @else if !n.deadline_state.is_empty() {
                (row("复函期限 Reply due", state_label(&n.deadline_state)))
            }
            @if n.answered_at_ms != 0 {
                (row("复函时间 Answered", time(n.answered_at_ms)))
            }
            @if !n.in_reply_to.is_empty() {
                (row("答复 Answers", link(&n.in_reply_to)))
            }
            @for reply in &n.replies {
                (row("复函 reply", link(reply)))
            }
        }
        @if detail.payload_withheld {
            h2 { "内容 Payload" }
            p { "审计员不可查看内容 Auditors do not see payloads." }
        } @else if !detail.body_json.is_empty() {
            h2 { "内容 Payload" }
            pre id="payload" { (detail.body_json) }
        }
        @if who.operator() {
            @if pending {
                h2 { "操作 Actions" }
                form method="post" action={ "/console/notice/" (n.notice_id) "/retry" } style="display:inline" {
                    (who.csrf_field())
                    button id="retry" type="submit" { "立即重发 Retry now" }
                }
                " "
                form method="post" action={ "/console/notice/" (n.notice_id) "/cancel" } style="display:inline" {
                    (who.csrf_field())
                    button id="cancel" type="submit" { "撤销 Cancel" }
                }
            }
            @if !outbound {
                p { a id="reply" href={ "/console/write?reply_to=" (n.notice_id) } { "复函 Reply to this notice" } }
            }
        }
    }
}

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
    let service = AdminService {
        state: state.clone(),
    };
    let request = who.request(pb::NoticeRef {
        notice_id: id.clone(),
    });
    let (action, result) = if cancel {
        ("cancel", service.cancel(request).await)
    } else {
        ("retry", service.retry(request).await)
    };
    match result {
        Ok(_) => {
            access(&state, &who.account.name, action, &id);
            Redirect::to(&format!("/console/notice/{}?done={action}", url(&id))).into_response()
        }
        Err(s) => {
            access(&state, &who.account.name, &format!("{action}_refused"), &id);
            notice_page(
                &state,
                &who,
                &id,
                Some(Note::Error(s.message().to_owned())),
                StatusCode::CONFLICT,
            )
            .await
        }
    }
}

async fn retry(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    act(state, headers, id, form, false).await
}

async fn cancel(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    act(state, headers, id, form, true).await
}

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
                    a href={ "/console/write?kind=" (k.name()) } { (kind_label(k.name())) }
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

async fn write_form(
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
    let peers = directory_peers(&state);
    let reply_to = param(&q, "reply_to");
    if !reply_to.is_empty() {
        let original = NoticeId::parse(reply_to)
            .ok()
            .and_then(|id| state.store.inbound(&id).ok().flatten());
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
    let to = state.config.directory.peers().next().map(|p| p.county);
    let draft = example_draft(kind, to);
    write_page(&peers, &who, "", &draft, None, StatusCode::OK)
}

async fn write(
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
    let service = AdminService {
        state: state.clone(),
    };
    let sent = service
        .send(who.request(pb::SendRequest {
            draft_json: draft.clone(),
            in_reply_to: reply_to.clone(),
        }))
        .await;
    match sent {
        Ok(info) => {
            let id = info.into_inner().notice_id;
            access(
                &state,
                &who.account.name,
                if reply_to.is_empty() { "send" } else { "reply" },
                &id,
            );
            Redirect::to(&format!("/console/notice/{}?done=sent", url(&id))).into_response()
        }
        Err(s) => write_page(
            &directory_peers(&state),
            &who,
            &reply_to,
            &draft,
            Some(s.message()),
            StatusCode::BAD_REQUEST,
        ),
    }
}

async fn due(State(state): State<Arc<NodeState>>, headers: HeaderMap) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    let title = "期限 Due";
    let service = AdminService {
        state: state.clone(),
    };
    let due = service
        .due(who.request(pb::DueRequest {
            side: String::new(),
            overdue_only: false,
            limit: 1000,
        }))
        .await;
    match due {
        Ok(d) => who.page(StatusCode::OK, title, due_body(&d.into_inner())),
        Err(s) => who.error_page(StatusCode::SERVICE_UNAVAILABLE, title, s.message()),
    }
}

/// The due page below its title: the counts, then the replies we owe and those owed to us.
fn due_body(due: &pb::DueResponse) -> Markup {
    let counts = due.counts.unwrap_or_default();
    let peer = |n: &pb::NoticeInfo| format!("{} {}", n.peer, n.peer_name);
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
            ("owed", "我方应复函 Replies we owe"),
            ("awaited", "等待对方复函 Replies others owe us"),
        ] {
            // The store's due index is in due-time order, so overdue items come first.
            @let items: Vec<&pb::DueItem> = due.items.iter().filter(|i| i.side == side).collect();
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
                        @let n = item.notice.clone().unwrap_or_default();
                        tr class=(item.state) {
                            td { (due_time(item.due_at_ms)) }
                            td { (item.days_left) }
                            td { (state_label(&item.state)) }
                            td { (link(&n.notice_id)) }
                            td { (peer(&n)) }
                            td { (kind_label(&n.kind)) }
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
                            td { (link(&n.notice_id)) }
                            td { (peer(n)) }
                            td { (n.deadline_error) }
                        }
                    }
                }
            }
        }
    }
}

/// A time for a table cell, or `none` when it is 0 (unknown or not set).
fn optional_time(ms: i64, none: &str) -> String {
    if ms == 0 { none.to_owned() } else { time(ms) }
}

/// A peer's oldest undelivered notice: its id and when it was issued.
struct Oldest {
    id: String,
    issued_at_ms: i64,
}

async fn peers(State(state): State<Arc<NodeState>>, headers: HeaderMap) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    let title = "对方县区 Peers";
    let service = AdminService {
        state: state.clone(),
    };
    let peers = match service.peers(who.request(pb::PeersRequest {})).await {
        Ok(p) => p.into_inner().peers,
        Err(s) => return who.error_page(StatusCode::SERVICE_UNAVAILABLE, title, s.message()),
    };
    let oldest: Vec<Option<Oldest>> = peers
        .iter()
        .map(|p| {
            CountyCode::parse(&p.county)
                .ok()
                .and_then(|c| state.store.pending_for(c, 1).ok())
                .and_then(|v| v.into_iter().next())
                .map(|r| Oldest {
                    id: r.id.to_string(),
                    issued_at_ms: r.issued_at_ms,
                })
        })
        .collect();
    who.page(StatusCode::OK, title, peers_body(&peers, &oldest))
}

/// The peers page below its title: one row per peer county, with its oldest undelivered notice
/// from `oldest` (in the same order as `peers`).
fn peers_body(peers: &[pb::PeerInfo], oldest: &[Option<Oldest>]) -> Markup {
    maud::html! {
        table {
            thead {
                tr {
                    th { "县区 County" }
                    th { "地址 Endpoint" }
                    th { "待发 Backlog" }
                    th { "最早未送达 Oldest undelivered" }
                    th { "最近成功 Last success" }
                    th { "最近错误 Last error" }
                    th { "警报 Alarms" }
                    th { "联系人 Contact" }
                    th { "电话 Phone" }
                    th { "协议生效 Agreement effective" }
                    th { "允许种类 Allowed kinds" }
                    th { "证书到期 Certificate expires" }
                    th { "密钥到期 Key expires" }
                }
            }
            tbody {
                @for (p, oldest) in peers.iter().zip(oldest) {
                    @let kinds: Vec<String> = p.allowed_kinds.iter().map(|k| kind_label(k)).collect();
                    tr {
                        td { (p.county) " " (p.name) }
                        td { (p.endpoint) }
                        td { (p.backlog) }
                        td {
                            @match oldest {
                                Some(o) => { (link(&o.id)) " (" (time(o.issued_at_ms)) ")" },
                                None => "-",
                            }
                        }
                        td { (optional_time(p.last_success_at_ms, "-")) }
                        td { (p.last_error) }
                        td { (p.alarms.join("\n")) }
                        td { (p.contact_person) }
                        td { (p.phone) }
                        td { (p.agreement_effective) }
                        td { (kinds.join(", ")) }
                        td { (optional_time(p.certificate_expires_at_ms, "未知 not seen yet")) }
                        td { (optional_time(p.key_expires_at_ms, "无期限 no end date")) }
                    }
                }
            }
        }
    }
}
