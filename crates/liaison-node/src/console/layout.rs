//! The console's page shell and what its pages share: the HTML response with its security
//! headers, the frame with style and the signed-in header, the CSRF field, error notes, notice
//! links, and the formatting of times, deadlines, kinds, statuses and deadline states. Pages are
//! maud templates, which escape every value they insert.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use liaison_core::clock::format_cst;
use liaison_core::{DeadlineStatus, NoticeKind, NoticeStatus};
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
/// A time in China Standard Time, or "-".
pub(super) fn time(ms: i64) -> String {
    if ms == 0 { "-".into() } else { format_cst(ms) }
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
        Some(day) => format!("{day} 24:00 CST"),
        None => format_cst(ms),
    }
}

/// "个案信息通报 case_notice".
pub(super) fn kind_label(kind: NoticeKind) -> String {
    format!("{} {}", kind.chinese(), kind.name())
}

/// "已送达 delivered".
pub(super) fn status_label(status: NoticeStatus) -> String {
    format!("{} {}", status.chinese(), status.name())
}

/// "已超期 overdue".
pub(super) fn state_label(state: DeadlineStatus) -> String {
    format!("{} {}", state.chinese(), state.name())
}

const STYLE: &str = "body{font-family:sans-serif;margin:0;background:#f6f6f4;color:#222}\
header{background:#8b1a1a;color:#fff;padding:.5em 1em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}\
header a{color:#fff;text-decoration:none;font-weight:bold}header form{margin-left:auto}\
main{padding:1em}table{border-collapse:collapse;background:#fff;width:100%}\
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.92em}\
th{background:#eee}.overdue{background:#fde2e2}.due_soon{background:#fff4cc}\
.msg{padding:.6em;border:1px solid #2a7;background:#e6f7ee;margin:.5em 0}\
.err{padding:.6em;border:1px solid #c33;background:#fde2e2;margin:.5em 0;white-space:pre-wrap}\
form.filters{display:flex;flex-wrap:wrap;gap:.6em;align-items:end;margin-bottom:1em}\
form.filters label{display:flex;flex-direction:column;font-size:.85em}\
textarea{width:100%;min-height:24em;font-family:monospace}pre{background:#fff;border:1px solid #ccc;padding:.6em;overflow:auto}\
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;background:#fff;padding:.6em;border:1px solid #ccc}dt{font-weight:bold}";

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
                @if let Some(nav) = nav {
                    (nav)
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The header of a signed-in page: the page links (writing only for operators) and the sign-out
/// form, with the account's name and role.
pub(super) fn nav(account: &str, role: &str, operator: bool, csrf: &str) -> Markup {
    html! {
        header {
            a href="/console/outbox" { "发件箱 Outbox" }
            a href="/console/inbox" { "收件箱 Inbox" }
            a href="/console/due" { "期限 Due" }
            a href="/console/peers" { "对方县区 Peers" }
            @if operator {
                a href="/console/write" { "写通报 Write" }
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
    fn url_encodes_all_but_unreserved_characters() {
        assert_eq!(url("a b&c=宝"), "a%20b%26c%3D%E5%AE%9D");
    }
}
