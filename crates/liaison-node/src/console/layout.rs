//! The console's page shell and what its pages share: the HTML response with its security
//! headers, the frame with style (phone widths, keyboard focus, A4 print) and the header naming
//! this node's county, the CSRF field, error notes, notice links, and the wording of times
//! (北京时间), deadlines, kinds, statuses, deadline states and delivery errors a clerk reads.
//! Pages are maud templates, which escape every value they insert.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use liaison_core::{DeadlineStatus, NoticeKind, NoticeStatus};

use crate::config::Config;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// An HTML response with headers that keep it out of caches and frames, and a
/// Content-Security-Policy that allows no script and no form target but the console.
pub(super) fn respond(status: StatusCode, body: Markup) -> Response {
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

/// Percent-encodes a query-string value.
pub(super) fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}
/// A time as clerks read it, "2026-03-01 14:05:09 北京时间" (China Standard Time), or "-".
pub(super) fn time(ms: i64) -> String {
    if ms == 0 {
        return "-".into();
    }
    liaison_core::clock::format_cst_as(ms, "北京时间")
}

/// A deadline as the law states it: 24:00 of its last day, not 00:00 of the next.
pub(super) fn due_time(ms: i64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let last_day = liaison_core::clock::cst_date(ms)
        .filter(|d| liaison_core::clock::cst_midnight_ms(*d) == ms)
        .and_then(|d| d.previous_day());
    match last_day {
        Some(day) => format!("{day} 24:00 北京时间"),
        None => time(ms),
    }
}

/// A value's Chinese name with its English one in words: "无需复函 no reply required".
fn both(chinese: &str, name: &str) -> String {
    format!("{chinese} {}", name.replace('_', " "))
}

/// "个案信息通报 case notice".
pub(super) fn kind_label(kind: NoticeKind) -> String {
    both(kind.chinese(), kind.name())
}

/// "已送达 delivered".
pub(super) fn status_label(status: NoticeStatus) -> String {
    both(status.chinese(), status.name())
}

/// "已超期 overdue".
pub(super) fn state_label(state: DeadlineStatus) -> String {
    both(state.chinese(), state.name())
}

/// A delivery error as a clerk reads it: what it means for the work, in Chinese. The
/// technical text stays in the page's `title` for whoever maintains the node.
pub(super) fn delivery_error(error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    if e.contains("connect") || e.contains("unavailable") || e.contains("os error") {
        "对方县区无法连接（对方节点未运行或网络不通），系统会自动重发 The other county cannot be reached; the node will try again"
    } else if e.contains("timed out") || e.contains("deadline") || e.contains("timeout") {
        "对方县区响应超时，系统会自动重发 The other county did not answer in time; the node will try again"
    } else if e.contains("certificate") || e.contains("tls") || e.contains("handshake") {
        "与对方县区的安全连接失败（证书问题），请联系系统管理员 The secure connection failed (certificates): call the administrator"
    } else if e.contains("refused by peer") {
        "对方县区拒绝接收，请联系系统管理员 The other county refused the notice: call the administrator"
    } else if e.contains("receipt") {
        "对方县区的回执无效，系统会自动重发 The other county's receipt was not valid; the node will try again"
    } else if e.contains("cannot record") || e.contains("store") {
        "本节点无法保存送达结果，请联系系统管理员 This node cannot store the result: call the administrator"
    } else {
        "发送失败，系统会自动重发 Sending failed; the node will try again"
    }
}

/// A delivery error on a page: the clerk's words, the technical text as its title.
pub(super) fn error_text(error: &str) -> Markup {
    html! {
        span title=(error) { (delivery_error(error)) }
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:0;background:#f6f6f4;color:#222;overflow-wrap:anywhere}\
header{background:#8b1a1a;color:#fff;padding:.5em 1em;display:flex;gap:.4em 1.2em;align-items:center;flex-wrap:wrap}\
header a{color:#fff;text-decoration:none;font-weight:bold}header form{margin-left:auto}\
header .site{font-weight:bold;border-right:1px solid #fff8;padding-right:1em}\
a.skip{position:absolute;left:-999em}a.skip:focus{left:.5em;top:.5em;background:#fff;color:#000;padding:.4em;z-index:9}\
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible,main:focus-visible\
{outline:3px solid #f5a623;outline-offset:2px}\
main{padding:1em}table{border-collapse:collapse;background:#fff;width:100%}\
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.92em}\
th{background:#eee}.overdue{background:#fde2e2}.due_soon{background:#fff4cc}\
.msg{padding:.6em;border:1px solid #2a7;background:#e6f7ee;margin:.5em 0}\
.err{padding:.6em;border:1px solid #c33;background:#fde2e2;margin:.5em 0;white-space:pre-wrap}\
form.filters,form.search{display:flex;flex-wrap:wrap;gap:.6em;align-items:end;margin-bottom:1em}\
form.filters label,form.search label{display:flex;flex-direction:column;font-size:.85em}\
input,select,button{max-width:100%;font-size:1em}\
textarea{width:100%;box-sizing:border-box;min-height:24em;font-family:monospace}pre{background:#fff;border:1px solid #ccc;padding:.6em;overflow:auto}\
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.2em 1em;background:#fff;padding:.6em;border:1px solid #ccc}dt{font-weight:bold}\
.summary{color:#444}.muted{color:#666;font-size:.9em}\
.letter{background:#fff;border:1px solid #ccc;padding:1.2em 1.6em;max-width:48em;margin-bottom:1em}\
.letter h2{text-align:center;letter-spacing:.2em;margin:.2em 0 .8em}\
.letter dl{border:none;padding:0}.letter .meta{font-size:.9em}\
.replies{border-left:4px solid #8b1a1a;padding-left:1em}\
@media (max-width:640px){\
header form{margin-left:0}main{padding:.5em}\
table.list thead{display:none}table.list,table.list tbody,table.list tr,table.list td{display:block;width:auto}\
table.list tr{border:1px solid #ccc;margin-bottom:.6em;background:#fff}table.list td{border:none;border-bottom:1px solid #eee}\
table.list td[data-label]::before{content:attr(data-label);display:block;font-size:.8em;color:#666}\
dl{grid-template-columns:minmax(0,1fr)}dd{margin:0 0 .4em}.letter{padding:.8em}}\
@media print{@page{size:A4;margin:20mm}\
header,nav,.skip,form,button,.actions,.noprint{display:none!important}\
body{background:#fff;color:#000;font-family:serif}main{padding:0}h1{display:none}\
.letter{border:none;padding:0;max-width:none}.replies{border-left:none;padding-left:0}\
.letter+.letter,.replies .letter{page-break-before:always}a{color:#000;text-decoration:none}}";

/// The header line that names this node's county, on every page (also before sign-in).
pub(super) fn site_header(config: &Config) -> Markup {
    html! {
        header {
            span.site { (config.name) " " span.code { (config.county) } }
        }
    }
}

/// A whole page: `nav` is the signed-in header (none on the sign-in page).
pub(super) fn page(title: &str, nav: Option<Markup>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width";
                title { (title) " · liaison" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                a.skip href="#main" { "跳到正文 Skip to content" }
                @if let Some(nav) = nav {
                    (nav)
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The header of a signed-in page: this node's county (`site`: name and code), the page links
/// (writing and search only for operators) and the sign-out form, with the account's name and
/// role.
pub(super) fn nav(site: &str, account: &str, role: &str, operator: bool, csrf: &str) -> Markup {
    html! {
        header {
            span.site id="site" { (site) }
            nav aria-label="主菜单 Main menu" {
                a href="/console/outbox" { "发件箱 Outbox" } " "
                a href="/console/inbox" { "收件箱 Inbox" } " "
                @if operator {
                    a href="/console/search" { "查找 Search" } " "
                }
                a href="/console/due" { "期限 Due" } " "
                a href="/console/bulletin" { "季度通报 Quarterly" } " "
                a href="/console/peers" { "对方县区 Peers" } " "
                @if operator {
                    a href="/console/write" { "写通报 Write" }
                }
            }
            form method="post" action="/console/logout" {
                (csrf_field(csrf))
                " " (account) " (" (role) ") "
                button type="submit" { "退出 Sign out" }
            }
        }
    }
}

/// The hidden field that carries the session's CSRF token in every form.
pub(super) fn csrf_field(csrf: &str) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(csrf);
    }
}

/// An error message at the top of a page.
pub(super) fn error_note(message: &str) -> Markup {
    html! {
        p.err { (message) }
    }
}

/// The link to the page of notice `id`.
pub(super) fn link(id: &str) -> Markup {
    html! {
        a.notice href={ "/console/notice/" (id) } { (id) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_every_character_that_could_open_markup() {
        let text = "<script>alert('x') & \"y\"</script>";
        let page = page(text, None, html! { p title=(text) { (text) } }).into_string();
        assert!(!page.contains("<script>"), "{page}");
        assert!(
            page.contains(
                "<p title=\"&lt;script&gt;alert('x') &amp; &quot;y&quot;&lt;/script&gt;\">"
            ),
            "{page}"
        );
        assert!(
            page.contains("<h1>&lt;script&gt;alert('x') &amp; &quot;y&quot;&lt;/script&gt;</h1>")
        );
        assert!(link("刘红梅").into_string().contains(">刘红梅</a>"));
    }

    #[test]
    fn times_read_as_beijing_time_and_deadlines_end_at_24_00() {
        // 2026-03-01 00:00 北京时间 is 2026-02-28 16:00 UTC.
        let midnight = 1_772_294_400_000;
        assert_eq!(time(midnight + 61_000), "2026-03-01 00:01:01 北京时间");
        assert_eq!(due_time(midnight), "2026-02-28 24:00 北京时间");
        assert_eq!(time(0), "-");
    }

    #[test]
    fn delivery_errors_read_as_what_they_mean_for_the_clerk() {
        assert!(
            delivery_error(
                "peer unavailable: tcp connect error: Connection refused (os error 111)"
            )
            .starts_with("对方县区无法连接")
        );
        assert!(delivery_error("timed out: deadline has elapsed").starts_with("对方县区响应超时"));
        assert!(
            delivery_error("peer unavailable: invalid peer certificate: UnknownIssuer")
                .starts_with("对方县区无法连接")
        );
        assert!(delivery_error("something new").starts_with("发送失败"));
        assert_eq!(
            state_label(DeadlineStatus::Known(
                liaison_core::DeadlineState::NoReplyRequired
            )),
            "无需复函 no reply required"
        );
    }

    #[test]
    fn url_encodes_all_but_unreserved_characters() {
        assert_eq!(url("a b&c=宝"), "a%20b%26c%3D%E5%AE%9D");
    }
}
