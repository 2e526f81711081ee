//! The web console in real headless Chromium (Debian's `chromium` and `chromium-driver`): an
//! operator signs in, finds a notice by filter, opens it, retries one to a stopped peer and
//! replies to one; an auditor finds no payload on any page they can reach and cannot act; a POST
//! without the session's CSRF token is refused.

use liaison_proto::v1 as pb;
use liaison_tests::browser::{Browser, http};
use liaison_tests::console::{base, federation};
use liaison_tests::{ANSAI, BAOTA, YANCHANG, drafts, eventually};

/// The personal name in the example case notice: it must never reach an auditor.
const PERSONAL_NAME: &str = "刘红梅";

async fn sign_in(browser: &Browser, base: &str, name: &str, password: &str) {
    browser.sign_in(base, name, password).await;
    // Signing in leads to the outbox.
    browser.wait_for_url("/console/outbox").await;
}

/// The notice ids linked from the current page.
fn linked_ids(source: &str) -> Vec<String> {
    source
        .split("href=\"/console/notice/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|id| id.split('?').next().unwrap_or(id).to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_finds_a_notice_by_filter_opens_it_retries_one_and_replies_to_one() {
    let mut fed = federation().await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    // A delivered case notice to 安塞区, a bulletin to 延长县 (soon stopped), and a case notice
    // from 安塞区 to answer.
    let delivered = baota
        .send(&drafts::draft("case_notice", Some(ANSAI)))
        .await
        .notice_id;
    baota
        .wait_for_status(&delivered, pb::NoticeStatus::Delivered)
        .await;
    fed.stop(YANCHANG).await;
    let stuck = baota
        .send(&drafts::draft("bulletin", Some(YANCHANG)))
        .await
        .notice_id;
    baota
        .wait_until(&stuck, "a failed delivery attempt", |n| {
            n.attempts >= 1 && !n.last_error.is_empty()
        })
        .await;
    let incoming = ansai
        .send(&drafts::draft("case_notice", Some(BAOTA)))
        .await
        .notice_id;
    baota
        .wait_for_inbox("the case notice from 安塞区", |inbox| {
            inbox.iter().any(|n| n.notice_id == incoming)
        })
        .await;

    let browser = Browser::start().await;
    let base = base(&fed);
    sign_in(&browser, &base, "wang", "operator-pass-1").await;

    // Find the delivered case notice by peer and kind, and open it.
    browser
        .click(&format!("select[name=peer] option[value='{ANSAI}']"))
        .await;
    browser
        .click("select[name=kind] option[value='case_notice']")
        .await;
    browser.click("form.filters button[type=submit]").await;
    browser.wait_for_url("kind=case_notice").await;
    let listing = browser.source().await;
    assert!(listing.contains(&delivered), "{listing}");
    assert!(
        !listing.contains(&stuck),
        "the filter keeps the bulletin out"
    );
    browser
        .click(&format!("a[href='/console/notice/{delivered}']"))
        .await;
    let page = browser.wait_for_text("id=\"notice-id\"").await;
    assert!(page.contains(PERSONAL_NAME), "operators see the payload");
    assert!(page.contains("已送达 delivered"), "{page}");
    assert!(
        page.contains("回执签名有效"),
        "receipt signature shown: {page}"
    );

    // Retry the bulletin stuck on the stopped peer, found by status filter.
    browser
        .goto(&format!(
            "{base}/console/outbox?peer={YANCHANG}&status=queued"
        ))
        .await;
    let mut listing = browser.source().await;
    if !listing.contains(&stuck) {
        browser
            .goto(&format!(
                "{base}/console/outbox?peer={YANCHANG}&status=in_flight"
            ))
            .await;
        listing = browser.source().await;
    }
    assert!(listing.contains(&stuck), "{listing}");
    browser
        .click(&format!("a[href='/console/notice/{stuck}']"))
        .await;
    browser.wait_for_text("id=\"last-error\"").await;
    browser.click("#retry").await;
    browser.wait_for_text("Retry requested").await;

    // Reply to the case notice from 安塞区 on the reply form, then confirm the letter.
    browser
        .goto(&format!("{base}/console/inbox?peer={ANSAI}"))
        .await;
    browser
        .click(&format!("a[href='/console/notice/{incoming}']"))
        .await;
    browser.wait_for_text("id=\"reply\"").await;
    browser.click("#reply").await;
    browser.wait_for_text("id=\"check\"").await;
    browser.type_into("textarea[name=text]", "已核实。").await;
    browser.click("#check").await;
    browser.wait_for_text("id=\"send\"").await;
    browser.click("#send").await;
    let page = browser.wait_for_text("Signed and put in the outbox").await;
    assert!(page.contains(&incoming), "the reply links its original");
    let outbox = baota.outbox().await;
    let reply = outbox
        .iter()
        .find(|n| n.in_reply_to == incoming)
        .expect("the reply is in the outbox");
    eventually("the reply to reach 安塞区", || {
        let mut ansai = ansai.clone();
        let id = reply.notice_id.clone();
        async move {
            let inbox = ansai.inbox().await;
            inbox
                .iter()
                .any(|n| n.notice_id == id)
                .then_some(())
                .ok_or_else(|| format!("{} notices in the inbox", inbox.len()))
        }
    })
    .await;

    // Payload views and actions are in the access log.
    let log = std::fs::read_to_string(fed.node(BAOTA).data_dir().join("access.log")).unwrap();
    for (action, id) in [
        ("view_payload", &delivered),
        ("retry", &stuck),
        ("reply", &reply.notice_id),
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("\"action\":\"{action}\""))
                    && l.contains(id.as_str())
                    && l.contains("\"account\":\"wang\"")),
            "no {action} of {id} in the access log:\n{log}"
        );
    }
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditor_finds_no_payload_on_any_page_and_may_not_act() {
    let fed = federation().await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let sent = baota
        .send(&drafts::draft("case_notice", Some(ANSAI)))
        .await
        .notice_id;
    baota
        .wait_for_status(&sent, pb::NoticeStatus::Delivered)
        .await;
    let incoming = ansai
        .send(&drafts::draft("case_notice", Some(BAOTA)))
        .await
        .notice_id;
    baota
        .wait_for_inbox("the case notice from 安塞区", |inbox| {
            inbox.iter().any(|n| n.notice_id == incoming)
        })
        .await;

    let browser = Browser::start().await;
    let base = base(&fed);
    sign_in(&browser, &base, "li", "auditor-pass-1").await;
    let mut pages = vec![
        "/console/outbox".to_owned(),
        "/console/inbox".to_owned(),
        "/console/due".to_owned(),
        "/console/peers".to_owned(),
        "/console/write".to_owned(),
        format!("/console/write?reply_to={incoming}"),
    ];
    let mut seen = Vec::new();
    while let Some(path) = pages.pop() {
        if seen.contains(&path) {
            continue;
        }
        browser.goto(&format!("{base}{path}")).await;
        let source = browser.source().await;
        assert!(
            !source.contains(PERSONAL_NAME),
            "an auditor sees a payload on {path}:\n{source}"
        );
        assert!(
            !source.contains("<textarea") && !source.contains("id=\"retry\""),
            "an auditor gets a form to act on {path}"
        );
        for id in linked_ids(&source) {
            pages.push(format!("/console/notice/{id}"));
        }
        seen.push(path);
    }
    for id in [&sent, &incoming] {
        assert!(
            seen.contains(&format!("/console/notice/{id}")),
            "the auditor reached the notice {id}: {seen:?}"
        );
    }
    // Even with the session's own CSRF token, an auditor's POST to an action is refused.
    let cookie_name = format!("liaison_console_{}", fed.node(BAOTA).admin_addr().port());
    let cookie = format!("{cookie_name}={}", browser.cookie(&cookie_name).await);
    browser.goto(&format!("{base}/console/outbox")).await;
    let source = browser.source().await;
    let csrf = source
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-out form carries the CSRF token")
        .to_owned();
    let admin = fed.node(BAOTA).admin_addr();
    for (path, body) in [
        (
            format!("/console/notice/{sent}/retry"),
            format!("csrf={csrf}"),
        ),
        (
            "/console/write".to_owned(),
            format!("csrf={csrf}&draft_json=%7B%7D&in_reply_to={incoming}"),
        ),
    ] {
        let response = http(
            admin,
            "POST",
            &path,
            &[
                ("Cookie", &cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(response.status, 403, "{path}: {}", response.body);
        assert!(!response.body.contains(PERSONAL_NAME));
    }
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_without_the_csrf_token_is_refused() {
    let fed = federation().await;
    let mut baota = fed.operator(BAOTA).await;
    let queued = baota
        .send(&drafts::draft("bulletin", Some(ANSAI)))
        .await
        .notice_id;
    let browser = Browser::start().await;
    let base = base(&fed);
    sign_in(&browser, &base, "wang", "operator-pass-1").await;
    let cookie_name = format!("liaison_console_{}", fed.node(BAOTA).admin_addr().port());
    let session = browser.cookie(&cookie_name).await;
    assert!(!session.is_empty(), "the session cookie is set");
    let cookie = format!("{cookie_name}={session}");
    let admin = fed.node(BAOTA).admin_addr();
    for (path, body) in [
        (format!("/console/notice/{queued}/cancel"), String::new()),
        (
            format!("/console/notice/{queued}/cancel"),
            "csrf=not-the-token".to_owned(),
        ),
        (
            "/console/write".to_owned(),
            format!("draft_json={}", "%7B%22recipient%22%3A%22610603%22%7D"),
        ),
        ("/console/logout".to_owned(), String::new()),
    ] {
        let response = http(
            admin,
            "POST",
            &path,
            &[
                ("Cookie", &cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(response.status, 403, "{path} {body:?}: {}", response.body);
    }
    // The session still works, and nothing was cancelled.
    browser.goto(&format!("{base}/console/outbox")).await;
    assert!(browser.url().await.ends_with("/console/outbox"));
    let info = baota.info(&queued).await;
    assert_ne!(info.status(), pb::NoticeStatus::Cancelled);
    browser.quit().await;
    fed.shutdown().await;
}
