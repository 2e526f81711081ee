//! The console pages a county clerk works with, in real headless Chromium: notices found by a
//! person's identity number or name (operators only), the notice printed as a letter, the
//! quarterly bulletin and its CSV, the reminder (催办) from the due board, every page at a phone's
//! 390 px width; and sign-in security: throttling, the `Host` check, cookies of two nodes on one
//! machine, and a session lost to a restart.
//!
//! Screenshots of each page at desktop and phone width are written to
//! `target/console-screenshots/` for a reviewer to look at.

use std::path::PathBuf;

use liaison_proto::v1 as pb;
use liaison_tests::browser::{Browser, http};
use liaison_tests::console::session_cookie_name;
use liaison_tests::federation::with_console_accounts;
use liaison_tests::{ANSAI, BAOTA, Federation, THREE_COUNTIES, YANCHANG, drafts};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The person of the example case notice, and her identity number.
const CASE_PERSON: &str = "刘红梅";
const CASE_PERSON_MASKED: &str = "刘*梅";
const CASE_ID_NUMBER: &str = "610603199302141228";
/// The person of the example certificate query.
const QUERY_PERSON: &str = "高晓燕";
const QUERY_ID_NUMBER: &str = "61062119950708002X";

/// Accounts on every node: an operator and an auditor.
fn accounts(config: String) -> String {
    with_console_accounts(
        config,
        &[
            ("wang", "operator", "operator-pass-1"),
            ("li", "auditor", "auditor-pass-1"),
        ],
    )
}

async fn federation() -> Federation {
    Federation::builder(&THREE_COUNTIES)
        .edit_config(BAOTA, accounts)
        .edit_config(ANSAI, accounts)
        .start()
        .await
}

fn base(fed: &Federation, county: &str) -> String {
    format!("http://{}", fed.node(county).admin_addr())
}

/// Signs in through the sign-in page and returns the page that follows.
async fn try_sign_in(browser: &Browser, base: &str, name: &str, password: &str) -> String {
    browser.goto(&format!("{base}/console/login")).await;
    browser.type_into("input[name=name]", name).await;
    browser.type_into("input[name=password]", password).await;
    browser.click("button[type=submit]").await;
    // The answer is the outbox, or the sign-in page again with a note above the form.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let source = browser.source().await;
        if source.contains("class=\"err\"") || browser.url().await.ends_with("/console/outbox") {
            return source;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer to signing in as {name} within 10 s:\n{source}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn sign_in(browser: &Browser, base: &str, name: &str, password: &str) {
    try_sign_in(browser, base, name, password).await;
    browser.wait_for_url("/console/outbox").await;
}

/// Where this run's screenshots go.
fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/console-screenshots")
        .join(format!("{name}.png"))
}

/// A case notice delivered from 宝塔区 to 安塞区, one received from 安塞区, and a certificate
/// query (about another person) delivered to 延长县; their ids.
struct Notices {
    sent_case: String,
    received_case: String,
    sent_query: String,
}

async fn exchange_notices(fed: &Federation) -> Notices {
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let sent_case = baota
        .send(&drafts::draft("case_notice", Some(ANSAI)))
        .await
        .notice_id;
    let sent_query = baota
        .send(&drafts::draft("certificate_query", Some(YANCHANG)))
        .await
        .notice_id;
    let received_case = ansai
        .send(&drafts::draft("case_notice", Some(BAOTA)))
        .await
        .notice_id;
    for id in [&sent_case, &sent_query] {
        baota.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    baota
        .wait_for_inbox("the case notice from 安塞区", |inbox| {
            inbox.iter().any(|n| n.notice_id == received_case)
        })
        .await;
    Notices {
        sent_case,
        received_case,
        sent_query,
    }
}

/// The notice ids linked from a page.
fn linked_ids(source: &str) -> Vec<String> {
    let mut ids: Vec<String> = source
        .split("href=\"/console/notice/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|id| id.split('?').next().unwrap_or(id).to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_finds_sent_and_received_notices_by_identity_number_or_name_and_an_auditor_cannot_search()
 {
    let fed = federation().await;
    let notices = exchange_notices(&fed).await;
    let browser = Browser::start().await;
    let base = base(&fed, BAOTA);
    sign_in(&browser, &base, "wang", "operator-pass-1").await;

    // The outbox tells the notices apart: county names, kinds, masked names and subjects.
    let outbox = browser.source().await;
    assert!(outbox.contains(CASE_PERSON_MASKED), "{outbox}");
    assert!(outbox.contains("政策外生育 2024-05-02"), "{outbox}");
    assert!(
        outbox.contains("安塞区") && outbox.contains("延长县"),
        "{outbox}"
    );
    assert!(
        outbox.contains("查询婚育证明") || outbox.contains("查询"),
        "{outbox}"
    );
    assert!(!outbox.contains(CASE_PERSON), "lists mask names: {outbox}");

    // By identity number, typed into the search form: the sent and the received case notice,
    // not the query about another person.
    browser.type_into("input[name=q]", CASE_ID_NUMBER).await;
    browser.click("form[action='/console/search'] button").await;
    browser.wait_for_url("/console/search?q=").await;
    let found = browser.wait_for_text("id=\"found\"").await;
    assert_eq!(
        linked_ids(&found),
        {
            let mut ids = vec![notices.sent_case.clone(), notices.received_case.clone()];
            ids.sort();
            ids
        },
        "{found}"
    );
    assert!(found.contains("发出 sent") && found.contains("收到 received"));
    assert!(found.contains(CASE_PERSON_MASKED));

    // By the start of a number (lower-case x), and by name.
    for (query, expected) in [
        (QUERY_ID_NUMBER.to_ascii_lowercase(), &notices.sent_query),
        (QUERY_ID_NUMBER[..10].to_owned(), &notices.sent_query),
        (QUERY_PERSON.to_owned(), &notices.sent_query),
        ("刘".to_owned(), &notices.received_case),
    ] {
        browser
            .goto(&format!("{base}/console/search?q={}", urlencode(&query)))
            .await;
        let page = browser.wait_for_text("id=\"found\"").await;
        assert!(
            linked_ids(&page).contains(expected),
            "{query}: {expected} not found:\n{page}"
        );
        if query != "刘" {
            assert_eq!(linked_ids(&page).len(), 1, "{query}: {page}");
        }
    }
    // Nobody of that name; and text that is neither a name nor a number is refused with why.
    browser
        .goto(&format!("{base}/console/search?q={}", urlencode("不存在")))
        .await;
    let none = browser.wait_for_text("id=\"found\"").await;
    assert!(linked_ids(&none).is_empty(), "{none}");
    browser
        .goto(&format!("{base}/console/search?q={}", urlencode("刘1")))
        .await;
    let refused = browser.source().await;
    assert!(refused.contains("既不是姓名也不是身份号码"), "{refused}");

    // Searches are in the access log, with the notices found.
    let log = std::fs::read_to_string(fed.node(BAOTA).data_dir().join("access.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("\"action\":\"search_person\"") && l.contains(&notices.sent_case)),
        "{log}"
    );

    // An auditor gets neither the search nor a summary.
    let auditor = Browser::start().await;
    sign_in(&auditor, &base, "li", "auditor-pass-1").await;
    let listing = auditor.source().await;
    assert!(!listing.contains(CASE_PERSON_MASKED), "{listing}");
    assert!(!listing.contains("/console/search"), "{listing}");
    auditor
        .goto(&format!("{base}/console/search?q={CASE_ID_NUMBER}"))
        .await;
    let page = auditor.source().await;
    assert!(page.contains("审计员不能按当事人查找"), "{page}");
    assert!(linked_ids(&page).is_empty(), "{page}");
    auditor.quit().await;
    browser.quit().await;
    fed.shutdown().await;
}

/// Percent-encodes a query value.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// `display` of the first element matching each selector, in the page as it is rendered now.
async fn displays(browser: &Browser, selectors: &[&str]) -> Vec<String> {
    let value = browser
        .execute_with(
            "return arguments[0].map(s => { const e = document.querySelector(s); \
             return e ? getComputedStyle(e).display : 'missing'; });",
            json!([selectors]),
        )
        .await;
    value
        .as_array()
        .unwrap_or_else(|| panic!("{value}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_prints_as_a_letter_with_navigation_and_buttons_hidden() {
    let fed = federation().await;
    let notices = exchange_notices(&fed).await;
    let mut ansai = fed.operator(ANSAI).await;
    let bulletin = ansai
        .send(&drafts::draft("bulletin", Some(BAOTA)))
        .await
        .notice_id;
    fed.operator(BAOTA)
        .await
        .wait_for_inbox("the bulletin from 安塞区", |inbox| {
            inbox.iter().any(|n| n.notice_id == bulletin)
        })
        .await;
    let browser = Browser::start().await;
    let base = base(&fed, BAOTA);
    sign_in(&browser, &base, "wang", "operator-pass-1").await;

    browser
        .goto(&format!("{base}/console/notice/{}", notices.received_case))
        .await;
    let page = browser.wait_for_text("id=\"letter\"").await;
    for text in [
        "发函单位",
        "收函单位",
        "事由",
        "安塞区人口计生局（610603）",
        "宝塔区人口计生局（610602）",
        "个案类别",
        "政策外生育",
        "公民身份号码",
        CASE_ID_NUMBER,
        CASE_PERSON,
        "复函期限",
        "北京时间",
    ] {
        assert!(page.contains(text), "no {text:?} in the letter:\n{page}");
    }
    assert!(!page.contains(" CST"), "times read 北京时间: {page}");
    assert!(
        page.contains("id=\"reply\""),
        "a case notice may be answered"
    );

    let selectors = [
        "header",
        "nav",
        "a.skip",
        "p.actions",
        "#letter",
        "dl.record",
    ];
    let screen = displays(&browser, &selectors).await;
    assert_eq!(
        screen,
        ["flex", "block", "block", "block", "block", "grid"],
        "on screen everything shows"
    );
    browser.screenshot(&screenshot_path("notice-screen")).await;
    browser.emulate_media("print").await;
    let print = displays(&browser, &selectors).await;
    assert_eq!(
        print,
        ["none", "none", "none", "none", "block", "none"],
        "printed, only the letter shows"
    );
    browser.screenshot(&screenshot_path("notice-print")).await;
    browser.emulate_media("screen").await;

    // A bulletin needs no reply: no reply link, and its letter says so.
    browser
        .goto(&format!("{base}/console/notice/{bulletin}"))
        .await;
    let page = browser.wait_for_text("id=\"letter\"").await;
    assert!(!page.contains("id=\"reply\""), "{page}");
    assert!(page.contains("无需复函"), "{page}");

    // A reply shows the notice it answers above it.
    let mut baota = fed.operator(BAOTA).await;
    let reply = baota
        .reply(&notices.received_case, &drafts::draft("reply_letter", None))
        .await
        .notice_id;
    browser
        .goto(&format!("{base}/console/notice/{reply}"))
        .await;
    let page = browser.wait_for_text("id=\"letter-original\"").await;
    let original_at = page.find("id=\"letter-original\"").unwrap();
    let reply_at = page.find("id=\"letter\"").unwrap();
    assert!(original_at < reply_at, "the original comes first");
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quarterly_bulletin_shows_this_quarters_figures_and_its_csv_has_the_same_rows() {
    let fed = federation().await;
    exchange_notices(&fed).await;
    let browser = Browser::start().await;
    let base = base(&fed, BAOTA);
    sign_in(&browser, &base, "wang", "operator-pass-1").await;
    browser.click("a[href='/console/bulletin']").await;
    let page = browser.wait_for_text("id=\"bulletin\"").await;
    assert!(page.contains("流动人口信息交换情况季度通报"), "{page}");
    // Two notices sent (to 安塞区 and 延长县) and one received, all this quarter.
    let total = browser.find("#total-notices").await;
    let text = browser
        .execute_with(
            "return arguments[0].textContent;",
            json!([{ "element-6066-11e4-a52e-4f735466cecf": total }]),
        )
        .await;
    assert_eq!(text, json!("3"), "{page}");
    browser
        .screenshot(&screenshot_path("bulletin-screen"))
        .await;

    // The CSV of the quarter shown: the report's columns, one row per peer, kind and direction.
    let csv_path = page
        .split("id=\"csv\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSV link")
        .replace("&amp;", "&");
    let cookie = format!(
        "{}={}",
        session_cookie_name(&fed, BAOTA),
        browser.cookie(&session_cookie_name(&fed, BAOTA)).await
    );
    let response = http(
        fed.node(BAOTA).admin_addr(),
        "GET",
        &csv_path,
        &[("Cookie", &cookie)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        response
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.starts_with("text/csv")),
        "{:?}",
        response.headers
    );
    let body = response.body.trim_start_matches('\u{feff}');
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines[0],
        "peer,peer_name,kind,direction,notices,reply_required,replied_on_time,replied_late,still_open,overdue_now,deadline_unknown,median_reply_days"
    );
    let mut rows: Vec<&str> = lines[1..].to_vec();
    rows.sort();
    assert_eq!(rows.len(), 3, "{body}");
    assert!(
        rows[0].starts_with("610603,安塞区,case_notice,received,1,1,0,0,1,0,0,"),
        "{body}"
    );
    assert!(
        rows[1].starts_with("610603,安塞区,case_notice,sent,1,1,0,0,1,0,0,"),
        "{body}"
    );
    assert!(
        rows[2].starts_with("610621,延长县,certificate_query,sent,1,"),
        "{body}"
    );

    // Another quarter has none; a quarter that is not one is refused with what is wrong.
    browser
        .goto(&format!("{base}/console/bulletin?quarter=2020Q1"))
        .await;
    assert!(browser.source().await.contains("本季度没有通报"));
    browser
        .goto(&format!("{base}/console/bulletin?quarter=2026Q5"))
        .await;
    let refused = browser.source().await;
    assert!(refused.contains("“2026Q5”不是季度"), "{refused}");

    // Printed, the figures show without the menu or the form.
    browser.goto(&format!("{base}/console/bulletin")).await;
    browser.emulate_media("print").await;
    assert_eq!(
        displays(&browser, &["header", "form.filters", "#bulletin"]).await,
        ["none", "none", "block"]
    );
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_reminds_the_other_county_from_the_due_board_and_the_reminder_arrives() {
    let fed = federation().await;
    let notices = exchange_notices(&fed).await;
    let browser = Browser::start().await;
    let base = base(&fed, BAOTA);
    sign_in(&browser, &base, "wang", "operator-pass-1").await;
    browser.goto(&format!("{base}/console/due")).await;
    browser
        .click(&format!(
            "form[action='/console/due/{}/remind'] button",
            notices.sent_case
        ))
        .await;
    browser.wait_for_url("done=sent").await;
    let page = browser.wait_for_text("id=\"reminded\"").await;
    assert!(page.contains("已催办"), "{page}");
    assert!(
        page.contains("已催办 reminded"),
        "the board shows when: {page}"
    );
    assert!(
        page.contains(CASE_PERSON_MASKED),
        "the board says whom it is about: {page}"
    );
    assert!(
        page.contains(&format!(
            "href=\"/console/write?reply_to={}\"",
            notices.received_case
        )),
        "a reply this county owes can be written from the board: {page}"
    );
    let ansai = fed.operator(ANSAI).await;
    ansai
        .wait_for_inbox("the reminder from 宝塔区", |inbox| {
            inbox
                .iter()
                .any(|n| n.kind() == pb::NoticeKind::Reminder && n.peer == BAOTA)
        })
        .await;
    browser
        .goto(&format!("{base}/console/notice/{}", notices.sent_case))
        .await;
    assert!(browser.source().await.contains("id=\"reminded-at\""));
    // An auditor sees the board without the button.
    let auditor = Browser::start().await;
    sign_in(&auditor, &base, "li", "auditor-pass-1").await;
    auditor.goto(&format!("{base}/console/due")).await;
    let board = auditor.source().await;
    assert!(
        board.contains("已催办 reminded") && !board.contains("button class=\"remind\""),
        "{board}"
    );
    assert!(!board.contains(CASE_PERSON_MASKED), "{board}");
    auditor.quit().await;
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_390_px_phone_without_sideways_scrolling() {
    let mut fed = federation().await;
    let notices = exchange_notices(&fed).await;
    // A notice stuck on a stopped peer, so that the outbox shows a delivery error.
    fed.stop(YANCHANG).await;
    let mut baota = fed.operator(BAOTA).await;
    let stuck = baota
        .send(&drafts::draft("contact_letter", Some(YANCHANG)))
        .await
        .notice_id;
    baota
        .wait_until(&stuck, "a failed delivery attempt", |n| {
            n.attempts >= 1 && !n.last_error.is_empty()
        })
        .await;
    let browser = Browser::start().await;
    let base = base(&fed, BAOTA);
    sign_in(&browser, &base, "wang", "operator-pass-1").await;
    let pages = [
        ("outbox", "/console/outbox".to_owned()),
        ("inbox", "/console/inbox".to_owned()),
        ("due", "/console/due".to_owned()),
        ("peers", "/console/peers".to_owned()),
        ("bulletin", "/console/bulletin".to_owned()),
        ("search", format!("/console/search?q={CASE_ID_NUMBER}")),
        (
            "notice",
            format!("/console/notice/{}", notices.received_case),
        ),
        ("stuck", format!("/console/notice/{stuck}")),
    ];
    for (name, path) in &pages {
        browser.goto(&format!("{base}{path}")).await;
        browser
            .screenshot(&screenshot_path(&format!("{name}-desktop")))
            .await;
    }
    // At desktop width the outbox shows the error in a clerk's words.
    browser.goto(&format!("{base}/console/outbox")).await;
    let outbox = browser
        .execute_with("return document.body.innerText;", json!([]))
        .await;
    let outbox = outbox.as_str().unwrap_or_default();
    assert!(outbox.contains("对方县区无法连接"), "{outbox}");
    assert!(
        !outbox.contains("os error") && !outbox.contains("tcp connect"),
        "the technical text stays out of what a clerk reads: {outbox}"
    );

    browser.phone_width(390, 844).await;
    for (name, path) in &pages {
        browser.goto(&format!("{base}{path}")).await;
        let width = browser
            .execute_with(
                "return [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth];",
                json!([]),
            )
            .await;
        assert_eq!(width[2], json!(390), "{name}: the viewport is a phone's");
        let page_width = width[0].as_u64().unwrap();
        assert!(
            page_width <= 390 && width[1].as_u64().unwrap() <= 390,
            "{name} ({path}) is {width} px wide at 390 px"
        );
        browser
            .screenshot(&screenshot_path(&format!("{name}-phone")))
            .await;
    }
    browser.quit().await;
    fed.shutdown().await;
}

/// WebDriver's key codes.
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

/// The controls of the current page that have no label a screen reader could read.
async fn unlabelled_controls(browser: &Browser) -> serde_json::Value {
    browser
        .execute_with(
            "return Array.from(document.querySelectorAll('input:not([type=hidden]),select,textarea,button'))\
             .filter(e => e.tagName === 'BUTTON' \
                 ? !(e.textContent.trim() || e.getAttribute('aria-label')) \
                 : !((e.labels && e.labels.length) || e.getAttribute('aria-label')))\
             .map(e => e.outerHTML);",
            json!([]),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_users_can_skip_to_the_content_and_every_control_has_a_label() {
    let fed = federation().await;
    let notices = exchange_notices(&fed).await;
    let browser = Browser::start().await;
    let base = base(&fed, BAOTA);
    browser.goto(&format!("{base}/console/login")).await;
    assert_eq!(
        unlabelled_controls(&browser).await,
        json!([]),
        "sign-in page"
    );
    sign_in(&browser, &base, "wang", "operator-pass-1").await;
    for path in [
        "/console/outbox".to_owned(),
        "/console/inbox".to_owned(),
        format!("/console/search?q={CASE_ID_NUMBER}"),
        "/console/due".to_owned(),
        "/console/bulletin".to_owned(),
        "/console/peers".to_owned(),
        format!("/console/notice/{}", notices.received_case),
    ] {
        browser.goto(&format!("{base}{path}")).await;
        assert_eq!(unlabelled_controls(&browser).await, json!([]), "{path}");
    }
    // The first Tab reaches the skip link, which shows itself; Enter moves to the content.
    browser.goto(&format!("{base}/console/outbox")).await;
    browser.press(TAB).await;
    let focused = browser
        .execute_with(
            "const e = document.activeElement; \
             return [e.className, e.getBoundingClientRect().left >= 0, getComputedStyle(e).outlineStyle];",
            json!([]),
        )
        .await;
    assert_eq!(focused, json!(["skip", true, "solid"]), "{focused}");
    browser.press(ENTER).await;
    let at = browser
        .execute_with(
            "return [location.hash, document.activeElement.id];",
            json!([]),
        )
        .await;
    assert_eq!(at, json!(["#main", "main"]));
    browser.quit().await;
    fed.shutdown().await;
}

/// A sign-in page's session cookie and CSRF token, fetched without a browser.
async fn sign_in_form(addr: std::net::SocketAddr) -> (String, String) {
    let login = http(addr, "GET", "/console/login", &[], b"").await.unwrap();
    let cookie = login
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.split(';').next().unwrap_or_default().to_owned())
        .expect("the sign-in page sets a cookie");
    let csrf = login
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    (cookie, csrf)
}

/// Posts a sign-in without a browser; returns the status, the Retry-After seconds and the body.
async fn post_sign_in(
    addr: std::net::SocketAddr,
    (cookie, csrf): &(String, String),
    name: &str,
    password: &str,
) -> (u16, Option<u64>, String) {
    let response = http(
        addr,
        "POST",
        "/console/login",
        &[
            ("Cookie", cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        format!("csrf={csrf}&name={name}&password={password}").as_bytes(),
    )
    .await
    .unwrap();
    let retry_after = response
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .map(|(_, v)| v.parse().unwrap());
    (response.status, retry_after, response.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_refused_after_five_failures_for_an_account_or_twenty_from_an_address_even_with_the_right_password()
 {
    let fed = federation().await;
    let addr = fed.node(BAOTA).admin_addr();
    let browser = Browser::start().await;
    let base = base(&fed, BAOTA);
    // Five wrong passwords for one account.
    for n in 1..=5 {
        let page = try_sign_in(&browser, &base, "wang", &format!("wrong-{n}")).await;
        assert!(page.contains("账号或密码不对"), "{page}");
    }
    let page = try_sign_in(&browser, &base, "wang", "operator-pass-1").await;
    assert!(
        page.contains("登录失败次数过多") && page.contains("后再试"),
        "wang is let in after five failures:\n{page}"
    );
    assert!(browser.url().await.ends_with("/console/login"));
    let form = sign_in_form(addr).await;
    let (status, retry_after, _) = post_sign_in(addr, &form, "wang", "operator-pass-1").await;
    assert_eq!(status, 429);
    assert!(
        retry_after.is_some_and(|s| (1..=30).contains(&s)),
        "{retry_after:?}"
    );

    // Another account from the same address still signs in.
    sign_in(&browser, &base, "li", "auditor-pass-1").await;

    // Fifteen more failures from this address, each under a new name: twenty in all, and now
    // every account from it waits, unknown names included.
    for n in 0..15 {
        let (status, _, body) = post_sign_in(addr, &form, &format!("guess{n}"), "x").await;
        assert_eq!(status, 401, "{body}");
    }
    for name in ["li", "guess-new"] {
        let (status, retry_after, body) = post_sign_in(addr, &form, name, "auditor-pass-1").await;
        assert_eq!(status, 429, "{name}: {body}");
        assert!(body.contains("登录失败次数过多"), "{body}");
        assert!(retry_after.is_some());
    }
    browser.quit().await;
    fed.shutdown().await;
}

/// Sends a GET with exactly the `Host` header given, and returns the status and body.
async fn get_with_host(addr: std::net::SocketAddr, path: &str, host: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_naming_another_host_is_refused_so_a_rebound_dns_name_cannot_reach_the_console() {
    let fed = federation().await;
    let addr = fed.node(BAOTA).admin_addr();
    let (status, _) = get_with_host(addr, "/console/login", &addr.to_string()).await;
    assert_eq!(status, 200);
    let (status, _) = get_with_host(
        addr,
        "/console/login",
        &format!("localhost:{}", addr.port()),
    )
    .await;
    assert_eq!(status, 200);
    for host in [
        format!("attacker.example:{}", addr.port()),
        format!("127.0.0.1:{}", addr.port() + 1),
        "attacker.example".to_owned(),
    ] {
        let (status, body) = get_with_host(addr, "/console/login", &host).await;
        assert_eq!(status, 421, "{host}: {body}");
        assert!(
            body.contains(&format!("http://{addr}/console/")),
            "the refusal says where the console is: {body}"
        );
    }
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_machine_keep_their_own_console_sessions() {
    let fed = federation().await;
    let browser = Browser::start().await;
    let (baota, ansai) = (base(&fed, BAOTA), base(&fed, ANSAI));
    sign_in(&browser, &baota, "wang", "operator-pass-1").await;
    sign_in(&browser, &ansai, "wang", "operator-pass-1").await;
    assert_ne!(
        session_cookie_name(&fed, BAOTA),
        session_cookie_name(&fed, ANSAI)
    );
    for (base, site) in [(&baota, "宝塔区 610602"), (&ansai, "安塞区 610603")] {
        browser.goto(&format!("{base}/console/outbox")).await;
        let url = browser.url().await;
        assert!(
            url.ends_with("/console/outbox"),
            "signed out of {base}: {url}"
        );
        let page = browser.source().await;
        assert!(page.contains(&format!("id=\"site\">{site}<")), "{page}");
    }
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_from_before_a_restart_is_told_the_node_restarted() {
    let mut fed = federation().await;
    let browser = Browser::start().await;
    let base = base(&fed, BAOTA);
    sign_in(&browser, &base, "wang", "operator-pass-1").await;
    fed.stop(BAOTA).await;
    fed.restart(BAOTA).await;
    browser.goto(&format!("{base}/console/outbox")).await;
    browser.wait_for_url("/console/login").await;
    let page = browser.source().await;
    assert!(page.contains("节点已重启，请重新登录"), "{page}");
    sign_in(&browser, &base, "wang", "operator-pass-1").await;
    browser.quit().await;
    fed.shutdown().await;
}
