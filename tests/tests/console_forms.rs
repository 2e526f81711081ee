//! Writing notices on the console's forms in real headless Chromium: every kind is written on
//! its form (no JSON typed) and delivered, and every received kind that needs an answer is
//! answered on its reply form; JSON is an advanced view that starts empty; every problem is shown
//! at once, in Chinese, beside its field, with what was typed kept; the letter is shown for
//! confirmation before it is signed; a second press or a resubmitted form sends one notice; a
//! second reply and a cancel must be confirmed; a cancelled notice can be sent again; a form
//! posted after the session ended comes back after signing in, and only then.

use liaison_proto::v1 as pb;
use liaison_tests::browser::{Browser, http};
use liaison_tests::console::{OPERATOR, base, federation, session_cookie_name};
use liaison_tests::{ANSAI, BAOTA, Federation, Operator, YANCHANG, drafts};

/// A valid identity number (born 1992-03-15) and another one (born 1988-11-20).
const WOMAN_ID: &str = "610602199203154529";
const MAN_ID: &str = "61060319881120451X";

/// One thing a clerk does on a form.
#[derive(Clone, Copy)]
enum Entry {
    /// Types into the text field or text area `name`.
    Type(&'static str, &'static str),
    /// Chooses the option with value `.1` of the list `name`.
    Choose(&'static str, &'static str),
    /// Picks the radio button with value `.1` of `name`.
    Pick(&'static str, &'static str),
    /// Sets the date field `name` with the date picker's value `YYYY-MM-DD`.
    Date(&'static str, &'static str),
    /// Ticks the box `name`.
    Tick(&'static str),
}

async fn enter(browser: &Browser, entries: &[Entry]) {
    for entry in entries {
        match entry {
            Entry::Type(name, text) => browser.fill(&format!("[name='{name}']"), text).await,
            Entry::Choose(name, value) => {
                browser
                    .click(&format!("select[name='{name}'] option[value='{value}']"))
                    .await
            }
            Entry::Pick(name, value) => {
                browser
                    .click(&format!("input[name='{name}'][value='{value}']"))
                    .await
            }
            // What a date picker leaves in the field; typing into one depends on the locale.
            Entry::Date(name, value) => {
                browser
                    .execute(&format!(
                        "document.querySelector(\"input[name='{name}']\").value = '{value}';"
                    ))
                    .await;
            }
            Entry::Tick(name) => browser.click(&format!("input[name='{name}']")).await,
        }
    }
}

/// The names of the form's visible controls that hold a value or are ticked.
async fn filled_controls(browser: &Browser) -> Vec<String> {
    let filled = browser
        .execute(
            "return Array.from(document.querySelectorAll(\
               'form.notice-form input:not([type=hidden]), form.notice-form textarea, form.notice-form select'))\
             .filter(e => (e.type === 'checkbox' || e.type === 'radio') ? e.checked : e.value !== '')\
             .map(e => e.name);",
        )
        .await;
    serde_json::from_value(filled).unwrap()
}

/// The id of the notice whose page is shown.
fn shown_notice_id(source: &str) -> String {
    source
        .split("id=\"notice-id\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("no notice id on the page:\n{source}"))
        .to_owned()
}

/// The text of the letter shown for confirmation.
fn letter(source: &str) -> &str {
    source
        .split("id=\"letter\"")
        .nth(1)
        .and_then(|rest| rest.split("</article>").next())
        .unwrap_or_else(|| panic!("no letter on the page:\n{source}"))
}

/// Checks the form, confirms the letter and sends it; the id of the notice sent.
async fn check_confirm_and_send(browser: &Browser) -> String {
    browser.click("#check").await;
    browser.wait_for_text("id=\"letter\"").await;
    browser.click("#send").await;
    let page = browser.wait_for_text("Signed and put in the outbox").await;
    shown_notice_id(&page)
}

/// Waits until `id` is delivered, then the body the recipient `peer` received, as JSON.
async fn delivered_body(sender: &Operator, peer: &mut Operator, id: &str) -> serde_json::Value {
    sender
        .wait_for_status(id, pb::NoticeStatus::Delivered)
        .await;
    serde_json::from_str(&peer.show(id).await.body_json).unwrap()
}

async fn signed_in(fed: &Federation) -> (Browser, String) {
    let browser = Browser::start().await;
    let base = base(fed);
    browser.sign_in(&base, OPERATOR.0, OPERATOR.1).await;
    (browser, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_notice_is_written_on_its_empty_form_and_delivered() {
    use Entry::*;
    let fed = federation().await;
    let baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let (browser, base) = signed_in(&fed).await;
    let person = [
        Type("person.name", "王丽"),
        Type("person.id_number", WOMAN_ID),
    ];
    let forms: Vec<(&str, Vec<Entry>, Vec<&str>, serde_json::Value)> = vec![
        (
            "case_notice",
            vec![
                Choose("case_type", "birth"),
                Type("person.name", "王丽"),
                Type("person.id_number", WOMAN_ID),
                Date("person.birth_date", "1992-03-15"),
                Type("spouse.name", "李强"),
                Type("spouse.id_number", MAN_ID),
                Date("event_date", "2024-05-02"),
                Type("details", "第三孩。\n请核实。"),
                Tick("urgent"),
            ],
            vec!["政策外生育", "王丽", "李强", "紧急"],
            serde_json::json!({
                "kind": "case_notice", "case_type": "birth",
                "person": {"name": "王丽", "id_number": WOMAN_ID, "birth_date": "1992-03-15"},
                "spouse": {"name": "李强", "id_number": MAN_ID},
                "event_date": "2024-05-02", "details": "第三孩。\n请核实。"
            }),
        ),
        (
            "certificate_query",
            vec![
                Choose("certificate_type", "only_child"),
                person[0],
                person[1],
                Type("certificate_number", "宝计生字2023第0157号"),
            ],
            vec!["独生子女证", "宝计生字2023第0157号"],
            serde_json::json!({
                "kind": "certificate_query", "certificate_type": "only_child",
                "person": {"name": "王丽", "id_number": WOMAN_ID},
                "certificate_number": "宝计生字2023第0157号"
            }),
        ),
        (
            "fee_consultation",
            vec![
                person[0],
                person[1],
                Date("birth_date", "2024-05-02"),
                Type("proposed_amount_yuan", "36000"),
                Type("reasons", "政策外生育第三孩。"),
                Tick("delegate_collection"),
            ],
            vec!["36000 元", "委托对方继续征收"],
            serde_json::json!({
                "kind": "fee_consultation",
                "person": {"name": "王丽", "id_number": WOMAN_ID},
                "birth_date": "2024-05-02", "proposed_amount_yuan": 36000,
                "reasons": "政策外生育第三孩。", "delegate_collection": true
            }),
        ),
        (
            "approval_request",
            vec![
                Type("applicant.name", "王丽"),
                Type("applicant.id_number", WOMAN_ID),
                Type("spouse.name", "李强"),
                Type("spouse.id_number", MAN_ID),
                Choose("certificate_type", "second_child_permit"),
                Date("application_date", "2024-03-01"),
            ],
            vec!["二孩准生证", "申请人", "配偶", "2024-03-01"],
            serde_json::json!({
                "kind": "approval_request",
                "applicant": {"name": "王丽", "id_number": WOMAN_ID},
                "spouse": {"name": "李强", "id_number": MAN_ID},
                "certificate_type": "second_child_permit", "application_date": "2024-03-01"
            }),
        ),
        (
            "approval_result",
            vec![
                Type("applicant.name", "王丽"),
                Type("applicant.id_number", WOMAN_ID),
                Pick("approved", "no"),
                Date("decision_date", "2024-06-01"),
                Type("reasons", "不符合再生育条件。"),
            ],
            vec!["不批准", "不符合再生育条件。"],
            serde_json::json!({
                "kind": "approval_result",
                "applicant": {"name": "王丽", "id_number": WOMAN_ID},
                "approved": false, "decision_date": "2024-06-01", "reasons": "不符合再生育条件。"
            }),
        ),
        (
            "contraception_report",
            vec![
                person[0],
                person[1],
                Date("check_date", "2024-04-20"),
                Choose("method", "iud"),
                Pick("pregnant", "no"),
            ],
            vec!["宫内节育器", "未怀孕"],
            serde_json::json!({
                "kind": "contraception_report",
                "person": {"name": "王丽", "id_number": WOMAN_ID},
                "check_date": "2024-04-20", "method": "iud", "pregnant": false
            }),
        ),
        (
            "bulletin",
            vec![
                Choose("topic", "policy_change"),
                Type("title", "关于再生育审批的政策调整"),
                Type("text", "自7月1日起执行。"),
            ],
            vec!["政策协调通报", "关于再生育审批的政策调整"],
            serde_json::json!({
                "kind": "bulletin", "topic": "policy_change",
                "title": "关于再生育审批的政策调整", "text": "自7月1日起执行。"
            }),
        ),
        (
            "contact_letter",
            vec![
                Type("subject", "请协助核实户籍"),
                Type("text", "请核实王丽的户籍登记。"),
                person[0],
                person[1],
            ],
            vec!["请协助核实户籍", "所涉人员"],
            serde_json::json!({
                "kind": "contact_letter", "subject": "请协助核实户籍",
                "text": "请核实王丽的户籍登记。",
                "person": {"name": "王丽", "id_number": WOMAN_ID}
            }),
        ),
    ];
    for (kind, entries, shown, expected) in forms {
        browser
            .goto(&format!("{base}/console/write?kind={kind}"))
            .await;
        browser.wait_for_text("id=\"check\"").await;
        assert_eq!(
            filled_controls(&browser).await,
            Vec::<String>::new(),
            "the {kind} form starts empty"
        );
        // The county by its name, as a clerk knows it.
        browser.fill("[name='recipient']", "安塞区").await;
        enter(&browser, &entries).await;
        browser.click("#check").await;
        let page = browser.wait_for_text("id=\"letter\"").await;
        let letter = letter(&page);
        for text in shown.iter().chain(&["安塞区", "宝塔区"]) {
            assert!(letter.contains(text), "{kind}: no {text} in {letter}");
        }
        assert!(!letter.contains("{\""), "{kind}: the letter is not JSON");
        browser.click("#send").await;
        let page = browser.wait_for_text("Signed and put in the outbox").await;
        let id = shown_notice_id(&page);
        let body = delivered_body(&baota, &mut ansai, &id).await;
        assert_eq!(body, expected, "{kind} as 安塞区 received it");
    }

    // The reply letter, on the reply form of a case notice from 安塞区.
    let incoming = ansai
        .send(&drafts::draft("case_notice", Some(BAOTA)))
        .await
        .notice_id;
    baota
        .wait_for_inbox("the case notice from 安塞区", |inbox| {
            inbox.iter().any(|n| n.notice_id == incoming)
        })
        .await;
    browser
        .goto(&format!("{base}/console/write?reply_to={incoming}"))
        .await;
    let page = browser.wait_for_text("id=\"check\"").await;
    assert!(page.contains("复函内容"), "{page}");
    // The notice answered is shown as a letter beside the reply.
    let shown = page
        .split("id=\"original-letter\"")
        .nth(1)
        .expect("the notice answered is shown");
    assert!(
        shown.contains("刘红梅") && shown.contains("个案类别"),
        "{shown}"
    );
    assert_eq!(filled_controls(&browser).await, Vec::<String>::new());
    enter(&browser, &[Type("text", "经核实,情况属实。")]).await;
    let id = check_confirm_and_send(&browser).await;
    let body = delivered_body(&baota, &mut ansai, &id).await;
    assert_eq!(
        body,
        serde_json::json!({"kind": "reply_letter", "text": "经核实,情况属实。"})
    );
    assert_eq!(ansai.info(&incoming).await.replies, vec![id]);
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_error_is_shown_at_once_in_chinese_beside_its_field_keeping_what_was_typed() {
    use Entry::*;
    let fed = federation().await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let (browser, base) = signed_in(&fed).await;
    browser
        .goto(&format!("{base}/console/write?kind=case_notice"))
        .await;
    browser.wait_for_text("id=\"check\"").await;
    // The check character is checked as it is typed.
    browser
        .fill("[name='person.id_number']", "610602199203154525")
        .await;
    browser.wait_for_text("校验位是5,按前17位应为9").await;
    browser.fill("[name='person.id_number']", WOMAN_ID).await;
    browser.wait_for_text("校验位正确").await;
    browser.fill("[name='recipient']", "宝塔").await;
    enter(
        &browser,
        &[
            Type("person.name", "王丽"),
            Date("person.birth_date", "1992-03-16"),
            Type("spouse.name", "李强"),
            Type("spouse.id_number", "610603198811204519"),
            Type("details", "请核实。"),
        ],
    )
    .await;
    browser.click("#check").await;
    let page = browser.wait_for_text("id=\"problems\"").await;
    let errors = browser
        .execute(
            "return Array.from(document.querySelectorAll('p.field-error'))\
             .map(e => [e.dataset.field, e.textContent]);",
        )
        .await;
    let errors: Vec<(String, String)> = serde_json::from_value(errors).unwrap();
    let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "recipient",
            "case_type",
            "person.birth_date",
            "spouse.id_number",
            "event_date"
        ],
        "{errors:?}"
    );
    for (expected, (_, text)) in [
        "没有名为“宝塔”的对方县区",
        "必填",
        "填的是 1992-03-16,但身份号码中的出生日期是 1992-03-15",
        "校验位是9,按前17位应为X",
        "必填",
    ]
    .iter()
    .zip(&errors)
    {
        assert!(text.starts_with(expected), "{text:?} is not {expected:?}");
    }
    assert!(page.contains("有 5 处需要修改"), "{page}");
    // Each error is beside its field: the field points at it.
    let described = browser.value("[name='spouse.id_number']").await;
    assert_eq!(described, "610603198811204519", "what was typed is kept");
    for (name, typed) in [
        ("recipient", "宝塔"),
        ("person.name", "王丽"),
        ("person.id_number", WOMAN_ID),
        ("person.birth_date", "1992-03-16"),
        ("spouse.name", "李强"),
        ("details", "请核实。"),
    ] {
        assert_eq!(
            browser.value(&format!("[name='{name}']")).await,
            typed,
            "{name}"
        );
    }
    assert_eq!(
        browser
            .execute(
                "return document.querySelector(\"[name='spouse.id_number']\")\
                 .getAttribute('aria-describedby');"
            )
            .await,
        "e-f-spouse-id_number"
    );
    assert!(baota.outbox().await.is_empty(), "nothing was sent");

    // Put right, the same form goes through.
    browser.fill("[name='recipient']", "安塞区").await;
    enter(
        &browser,
        &[
            Choose("case_type", "pregnancy"),
            Date("person.birth_date", "1992-03-15"),
            Type("spouse.id_number", MAN_ID),
            Date("event_date", "2024-05-02"),
        ],
    )
    .await;
    let id = check_confirm_and_send(&browser).await;
    let body = delivered_body(&baota, &mut ansai, &id).await;
    assert_eq!(body["spouse"]["id_number"], MAN_ID);
    assert_eq!(body["details"], "请核实。");
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_letter_is_confirmed_before_signing_and_going_back_keeps_it_for_editing() {
    use Entry::*;
    let fed = federation().await;
    let mut baota = fed.operator(BAOTA).await;
    let (browser, base) = signed_in(&fed).await;
    browser
        .goto(&format!("{base}/console/write?kind=bulletin"))
        .await;
    browser.wait_for_text("id=\"check\"").await;
    browser.fill("[name='recipient']", "610603").await;
    enter(
        &browser,
        &[
            Choose("topic", "work_information"),
            Type("title", "第一稿"),
            Type("text", "正文。"),
        ],
    )
    .await;
    browser.click("#check").await;
    let page = browser.wait_for_text("id=\"letter\"").await;
    let shown = letter(&page);
    for text in [
        "通报类别",
        "工作信息通报",
        "标题",
        "第一稿",
        "收函单位",
        "安塞区",
    ] {
        assert!(shown.contains(text), "no {text} in {shown}");
    }
    assert!(
        baota.outbox().await.is_empty(),
        "nothing is signed before it is confirmed"
    );
    browser.click("#edit").await;
    browser.wait_for_text("id=\"check\"").await;
    assert_eq!(browser.value("[name='title']").await, "第一稿");
    assert_eq!(browser.value("[name='topic']").await, "work_information");
    browser.fill("[name='title']", "第二稿").await;
    let id = check_confirm_and_send(&browser).await;
    let outbox = baota.outbox().await;
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    let body: serde_json::Value = serde_json::from_str(&baota.show(&id).await.body_json).unwrap();
    assert_eq!(body["title"], "第二稿");
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_press_or_a_resubmitted_form_sends_one_notice() {
    use Entry::*;
    let fed = federation().await;
    let mut baota = fed.operator(BAOTA).await;
    let (browser, base) = signed_in(&fed).await;
    let write_bulletin = async |title: &'static str| {
        browser
            .goto(&format!("{base}/console/write?kind=bulletin"))
            .await;
        browser.wait_for_text("id=\"check\"").await;
        browser.fill("[name='recipient']", "安塞区").await;
        enter(
            &browser,
            &[
                Choose("topic", "other"),
                Type("title", title),
                Type("text", "正文。"),
            ],
        )
        .await;
        browser.click("#check").await;
        browser.wait_for_text("id=\"send\"").await;
    };

    // Two presses of the send button, as fast as a script can press.
    write_bulletin("按两次").await;
    browser
        .execute("const b = document.getElementById('send'); b.click(); b.click();")
        .await;
    let page = browser.wait_for_text("id=\"notice-id\"").await;
    let first = shown_notice_id(&page);

    // The same confirmed form posted again, as a reload or the back button would.
    write_bulletin("重新提交").await;
    let form = browser
        .execute(
            "const f = document.querySelector('form.notice-form');\
             const d = new URLSearchParams(new FormData(f)); d.append('step', 'send');\
             return d.toString();",
        )
        .await;
    let form = form.as_str().unwrap().to_owned();
    browser.click("#send").await;
    let page = browser.wait_for_text("Signed and put in the outbox").await;
    let second = shown_notice_id(&page);
    let name = session_cookie_name(&fed, BAOTA);
    let cookie = format!("{name}={}", browser.cookie(&name).await);
    let admin = fed.node(BAOTA).admin_addr();
    let again = http(
        admin,
        "POST",
        "/console/write",
        &[
            ("Cookie", &cookie),
            ("Origin", &base),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        form.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(again.status, 303, "{}", again.body);
    let location = again
        .headers
        .iter()
        .find(|(n, _)| n == "location")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_eq!(
        location,
        format!("/console/notice/{second}?done=already_sent"),
        "the second post shows the first one's notice"
    );
    browser.goto(&format!("{base}{location}")).await;
    browser.wait_for_text("未再次发送").await;

    let outbox = baota.outbox().await;
    let mut ids: Vec<&str> = outbox.iter().map(|n| n.notice_id.as_str()).collect();
    ids.sort();
    let mut expected = vec![first.as_str(), second.as_str()];
    expected.sort();
    assert_eq!(ids, expected, "one notice per form");
    for id in [&first, &second] {
        baota.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_reply_to_an_answered_notice_is_sent_only_once_confirmed() {
    let fed = federation().await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let incoming = ansai
        .send(&drafts::draft("contact_letter", Some(BAOTA)))
        .await
        .notice_id;
    baota
        .wait_for_inbox("the contact letter from 安塞区", |inbox| {
            inbox.iter().any(|n| n.notice_id == incoming)
        })
        .await;
    let (browser, base) = signed_in(&fed).await;
    let reply = async |text: &'static str| {
        browser
            .goto(&format!("{base}/console/write?reply_to={incoming}"))
            .await;
        let page = browser.wait_for_text("id=\"check\"").await;
        browser.fill("textarea[name=text]", text).await;
        page
    };
    let page = reply("第一次复函。").await;
    assert!(!page.contains("second-reply-warning"), "not answered yet");
    browser.click("#check").await;
    browser.wait_for_text("id=\"letter\"").await;
    let confirmed = browser
        .execute(
            "const d = new URLSearchParams(new FormData(document.querySelector('form.notice-form')));\
             d.append('step', 'send'); return d.toString();",
        )
        .await;
    browser.click("#send").await;
    let page = browser.wait_for_text("Signed and put in the outbox").await;
    let first = shown_notice_id(&page);
    // The first reply's form posted again is not taken for a second reply: it leads to the first.
    let name = session_cookie_name(&fed, BAOTA);
    let cookie = format!("{name}={}", browser.cookie(&name).await);
    let again = http(
        fed.node(BAOTA).admin_addr(),
        "POST",
        "/console/write",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        confirmed.as_str().unwrap().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(again.status, 303, "{}", again.body);
    assert!(
        again
            .headers
            .iter()
            .any(|(n, v)| n == "location" && v.contains(&format!("{first}?done=already_sent"))),
        "{:?}",
        again.headers
    );

    let page = reply("补充复函。").await;
    assert!(page.contains("second-reply-warning"), "{page}");
    assert!(page.contains(&first), "the warning links the first reply");
    browser.click("#check").await;
    browser.wait_for_text("id=\"second-reply\"").await;
    browser.click("#send").await;
    let page = browser.wait_for_text("请勾选").await;
    assert!(page.contains("id=\"letter\""), "the letter is shown again");
    assert_eq!(baota.info(&incoming).await.replies, vec![first.clone()]);
    browser.click("#second-reply").await;
    browser.click("#send").await;
    let page = browser.wait_for_text("Signed and put in the outbox").await;
    let second = shown_notice_id(&page);
    assert_ne!(second, first);
    let mut replies = baota.info(&incoming).await.replies;
    replies.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(replies, expected);
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_is_confirmed_first_and_a_cancelled_notice_is_sent_again_from_its_own_content() {
    let mut fed = federation().await;
    let mut baota = fed.operator(BAOTA).await;
    fed.stop(YANCHANG).await;
    let stuck = baota
        .send(&drafts::draft("bulletin", Some(YANCHANG)))
        .await
        .notice_id;
    let (browser, base) = signed_in(&fed).await;
    browser
        .goto(&format!("{base}/console/notice/{stuck}"))
        .await;
    browser.wait_for_text("id=\"cancel\"").await;
    browser.click("#cancel").await;
    let page = browser.wait_for_text("id=\"confirm-cancel\"").await;
    assert!(page.contains("确定要撤销"), "{page}");
    assert_ne!(
        baota.info(&stuck).await.status(),
        pb::NoticeStatus::Cancelled,
        "asking is not cancelling"
    );
    browser.click("#keep").await;
    let page = browser.wait_for_text("id=\"notice-id\"").await;
    assert_ne!(
        baota.info(&stuck).await.status(),
        pb::NoticeStatus::Cancelled
    );
    // A cancel posted without the confirmation, even with the session's token, only asks.
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let name = session_cookie_name(&fed, BAOTA);
    let cookie = format!("{name}={}", browser.cookie(&name).await);
    let unconfirmed = http(
        fed.node(BAOTA).admin_addr(),
        "POST",
        &format!("/console/notice/{stuck}/cancel"),
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        format!("csrf={csrf}").as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(unconfirmed.status, 303);
    assert!(
        unconfirmed
            .headers
            .iter()
            .any(|(n, v)| n == "location" && v == &format!("/console/notice/{stuck}/cancel"))
    );
    assert_ne!(
        baota.info(&stuck).await.status(),
        pb::NoticeStatus::Cancelled
    );
    browser.click("#cancel").await;
    browser.wait_for_text("id=\"confirm-cancel\"").await;
    browser.click("#confirm-cancel").await;
    browser.wait_for_text("The notice was cancelled").await;
    assert_eq!(
        baota.info(&stuck).await.status(),
        pb::NoticeStatus::Cancelled
    );

    // Send again as new: the form holds the cancelled notice's own content.
    browser.click("#send-again").await;
    browser.wait_for_text("id=\"check\"").await;
    let original: serde_json::Value =
        serde_json::from_str(&baota.show(&stuck).await.body_json).unwrap();
    assert_eq!(browser.value("[name='recipient']").await, "延长县");
    assert_eq!(
        browser.value("[name='title']").await,
        original["title"].as_str().unwrap()
    );
    assert_eq!(
        browser.value("[name='text']").await,
        original["text"].as_str().unwrap()
    );
    assert_eq!(
        browser.value("[name='topic']").await,
        original["topic"].as_str().unwrap()
    );
    // Sent again to 安塞区, which is running.
    browser.fill("[name='recipient']", "安塞区").await;
    let again = check_confirm_and_send(&browser).await;
    assert_ne!(again, stuck);
    let mut ansai = fed.operator(ANSAI).await;
    let body = delivered_body(&baota, &mut ansai, &again).await;
    assert_eq!(body, original);
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_posted_after_the_session_ended_comes_back_only_after_signing_in() {
    let fed = federation().await;
    let mut baota = fed.operator(BAOTA).await;
    let (browser, base) = signed_in(&fed).await;
    browser
        .goto(&format!("{base}/console/write?kind=contact_letter"))
        .await;
    browser.wait_for_text("id=\"check\"").await;
    browser.fill("[name='recipient']", "安塞区").await;
    enter(
        &browser,
        &[
            Entry::Type("subject", "核实户籍"),
            Entry::Type("text", "请核实赵敏的户籍。"),
            Entry::Type("person.name", "赵敏"),
            Entry::Type("person.id_number", WOMAN_ID),
        ],
    )
    .await;
    // The session ends while the clerk types.
    browser
        .delete_cookie(&session_cookie_name(&fed, BAOTA))
        .await;
    browser.click("#check").await;
    let page = browser.wait_for_text("id=\"sign-in-again\"").await;
    assert!(page.contains("登录已过期"), "{page}");
    assert!(
        !page.contains("赵敏") && !page.contains(WOMAN_ID),
        "nothing typed is shown before signing in"
    );
    let admin = fed.node(BAOTA).admin_addr();
    let kept = browser
        .cookie(&format!("liaison_kept_form_{}", admin.port()))
        .await;
    assert_eq!(kept.len(), 64, "the kept form is named by a random id");

    // Without this node's sign-in the kept form is not given out.
    let stranger = http(
        admin,
        "GET",
        &format!("/console/write?draft={kept}"),
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(stranger.status, 303);
    assert!(!stranger.body.contains("赵敏"));

    browser.click("#sign-in-again").await;
    browser.wait_for_text("name=\"password\"").await;
    browser.type_into("input[name=name]", OPERATOR.0).await;
    browser.type_into("input[name=password]", OPERATOR.1).await;
    browser.click("button[type=submit]").await;
    let page = browser.wait_for_text("id=\"check\"").await;
    assert!(page.contains("已恢复"), "{page}");
    for (name, typed) in [
        ("recipient", "安塞区"),
        ("subject", "核实户籍"),
        ("text", "请核实赵敏的户籍。"),
        ("person.name", "赵敏"),
        ("person.id_number", WOMAN_ID),
    ] {
        assert_eq!(
            browser.value(&format!("[name='{name}']")).await,
            typed,
            "{name}"
        );
    }
    assert!(baota.outbox().await.is_empty(), "nothing was sent");
    let id = check_confirm_and_send(&browser).await;
    baota
        .wait_for_status(&id, pb::NoticeStatus::Delivered)
        .await;
    // Given back once: the kept form is gone.
    browser
        .goto(&format!("{base}/console/write?draft={kept}"))
        .await;
    let page = browser.wait_for_text("id=\"check\"").await;
    assert!(!page.contains("赵敏"), "{page}");
    let log = std::fs::read_to_string(fed.node(BAOTA).data_dir().join("access.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("\"action\":\"send\"") && l.contains(&id)),
        "{log}"
    );
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_received_notice_is_answered_on_the_form_of_the_reply_it_needs() {
    use Entry::*;
    let fed = federation().await;
    let baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let (browser, base) = signed_in(&fed).await;
    let answers: Vec<(&str, &str, Vec<Entry>, serde_json::Value)> = vec![
        (
            "certificate_query",
            "证件查询答复",
            vec![
                Pick("found", "yes"),
                Type("certificate_number", "宝计生字2023第0157号"),
                Date("issued_on", "2023-04-11"),
                Type("answer", "该证由我局签发,现仍有效。"),
            ],
            serde_json::json!({
                "kind": "certificate_answer", "found": true,
                "certificate_number": "宝计生字2023第0157号", "issued_on": "2023-04-11",
                "answer": "该证由我局签发,现仍有效。",
            }),
        ),
        (
            "fee_consultation",
            "协商答复",
            vec![
                Choose("opinion", "disagree"),
                Type("comments", "已在我县征收。"),
            ],
            serde_json::json!({
                "kind": "fee_reply", "opinion": "disagree", "comments": "已在我县征收。",
                "accept_delegation": false
            }),
        ),
        (
            "approval_request",
            "审批结果通报",
            vec![
                Type("applicant.name", "王丽"),
                Type("applicant.id_number", WOMAN_ID),
                Pick("approved", "yes"),
                Date("decision_date", "2024-03-20"),
                Type("certificate_number", "安计生字2024第12号"),
            ],
            serde_json::json!({
                "kind": "approval_result",
                "applicant": {"name": "王丽", "id_number": WOMAN_ID},
                "approved": true, "decision_date": "2024-03-20",
                "certificate_number": "安计生字2024第12号"
            }),
        ),
    ];
    for (original_kind, reply_title, entries, expected) in answers {
        let original = ansai
            .send(&drafts::draft(original_kind, Some(BAOTA)))
            .await
            .notice_id;
        baota
            .wait_for_inbox(original_kind, |inbox| {
                inbox.iter().any(|n| n.notice_id == original)
            })
            .await;
        browser
            .goto(&format!("{base}/console/notice/{original}"))
            .await;
        browser.wait_for_text("id=\"reply\"").await;
        browser.click("#reply").await;
        let page = browser.wait_for_text("id=\"check\"").await;
        assert!(page.contains(reply_title), "{original_kind}: {page}");
        assert!(page.contains("id=\"original-letter\""), "{page}");
        assert_eq!(filled_controls(&browser).await, Vec::<String>::new());
        enter(&browser, &entries).await;
        let id = check_confirm_and_send(&browser).await;
        let body = delivered_body(&baota, &mut ansai, &id).await;
        assert_eq!(body, expected, "the answer to the {original_kind}");
        assert_eq!(ansai.info(&original).await.replies, vec![id]);
    }
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_view_is_offered_as_advanced_starts_empty_and_is_confirmed_like_a_form() {
    let fed = federation().await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let (browser, base) = signed_in(&fed).await;
    browser.goto(&format!("{base}/console/write")).await;
    let page = browser.wait_for_text("id=\"check\"").await;
    assert!(!page.contains("draft_json"), "JSON is not the default");
    browser.click("#json-view").await;
    browser.wait_for_text("name=\"draft_json\"").await;
    assert_eq!(
        browser.value("textarea[name=draft_json]").await,
        "",
        "the example is a placeholder, not a draft"
    );
    let draft = r#"{"recipient": "安塞区", "body": {"kind": "bulletin", "topic": "other", "title": "JSON 写的通报", "text": "正文。"}}"#;
    browser.type_into("textarea[name=draft_json]", draft).await;
    browser.click("#check").await;
    let page = browser.wait_for_text("id=\"letter\"").await;
    assert!(letter(&page).contains("JSON 写的通报"));
    assert!(baota.outbox().await.is_empty());
    browser.click("#send").await;
    let page = browser.wait_for_text("Signed and put in the outbox").await;
    let id = shown_notice_id(&page);
    let body = delivered_body(&baota, &mut ansai, &id).await;
    assert_eq!(body["title"], "JSON 写的通报");
    browser.quit().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_the_reply_form_and_the_letter_fit_a_phone_without_sideways_scrolling() {
    use Entry::*;
    let fed = federation().await;
    let mut ansai = fed.operator(ANSAI).await;
    let baota = fed.operator(BAOTA).await;
    let incoming = ansai
        .send(&drafts::draft("case_notice", Some(BAOTA)))
        .await
        .notice_id;
    baota
        .wait_for_inbox("the case notice from 安塞区", |inbox| {
            inbox.iter().any(|n| n.notice_id == incoming)
        })
        .await;
    let (browser, base) = signed_in(&fed).await;
    browser.resize(390, 844).await;
    let overflow = async || -> i64 {
        let sizes = browser
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
            )
            .await;
        sizes[0].as_i64().unwrap() - sizes[1].as_i64().unwrap()
    };
    for path in [
        "/console/write?kind=case_notice".to_owned(),
        "/console/write?kind=fee_consultation".to_owned(),
        format!("/console/write?reply_to={incoming}"),
    ] {
        browser.goto(&format!("{base}{path}")).await;
        browser.wait_for_text("id=\"check\"").await;
        assert!(overflow().await <= 0, "{path} is wider than the phone");
    }
    browser
        .goto(&format!("{base}/console/write?kind=case_notice"))
        .await;
    browser.wait_for_text("id=\"check\"").await;
    browser.fill("[name='recipient']", "安塞区").await;
    enter(
        &browser,
        &[
            Choose("case_type", "birth"),
            Type("person.name", "王丽"),
            Type("person.id_number", WOMAN_ID),
            Date("event_date", "2024-05-02"),
            Type(
                "residence_address",
                "延安市宝塔区南关街道办事处二道街社区居民委员会十二号院三单元",
            ),
        ],
    )
    .await;
    browser.click("#check").await;
    browser.wait_for_text("id=\"letter\"").await;
    assert!(overflow().await <= 0, "the letter is wider than the phone");
    browser.quit().await;
    fed.shutdown().await;
}
