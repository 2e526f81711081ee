//! The HTML of the notice forms and of the letter shown for confirmation before signing.

use std::collections::HashMap;

use liaison_core::draft::Draft;
use liaison_core::{CountyCode, NoticeBody, NoticeKind};
use maud::{Markup, PreEscaped, html};

use super::read::{Peer, Problem, lookup};
use super::spec::{self, Field, Input, Part};
use super::{Compose, Original};

/// The forms' own style, added to the console's.
pub(crate) const FORM_STYLE: &str = "\
.notice-form fieldset{border:1px solid #ccc;background:#fff;margin:.8em 0;padding:.6em 1em;min-width:0}\
.notice-form legend{font-weight:bold}\
.notice-form .field{margin:.6em 0}\
.notice-form .for{display:block;font-weight:bold}\
.notice-form .en{font-weight:normal;color:#555;font-size:.9em}\
.notice-form input[type=text],.notice-form input[type=number],.notice-form select{font-size:1em;padding:.25em;box-sizing:border-box;width:100%;max-width:22em}\
.notice-form textarea{box-sizing:border-box;width:100%;max-width:40em;min-height:6em;font-family:inherit;font-size:1em}\
.notice-form .req{color:#b00;text-decoration:none;font-weight:bold}\
.notice-form .help{color:#555;font-size:.85em;margin:.15em 0}\
.notice-form .field-error{color:#a00;background:#fde2e2;border-left:3px solid #c33;padding:.2em .5em;margin:.2em 0}\
.notice-form [aria-invalid=true]{border:2px solid #c33}\
.notice-form .id-hint{font-size:.85em;margin-left:.5em}.id-hint.bad{color:#a00}.id-hint.good{color:#276}\
.choices label{display:inline-block;margin-right:1.2em;font-weight:normal}\
.kinds a{margin-right:.8em;white-space:nowrap}.kinds a.current{font-weight:bold;text-decoration:none;color:#222}\
.warn{padding:.6em;border:2px solid #c80;background:#fff4cc;margin:.5em 0}\
.letter{background:#fff;border:1px solid #999;padding:1em 1.5em;max-width:48em}\
.letter h2{text-align:center;margin:.2em 0 .8em}\
.letter dl{border:none;padding:0;grid-template-columns:minmax(5em,11em) minmax(0,1fr);margin:.3em 0}\
.letter dd{white-space:pre-wrap;margin:0}.letter,.warn,.reply-to,#problems{overflow-wrap:anywhere}\
@media (max-width:480px){.letter{padding:.6em}.letter dl{grid-template-columns:minmax(0,1fr)}.letter dd{margin-bottom:.3em}}\
.letter h3{margin:.8em 0 .3em;font-size:1em}\
.actions{margin:1em 0;display:flex;gap:1em;flex-wrap:wrap}\
.actions button{font-size:1.05em;padding:.4em 1em}";

/// The element id of the form field `name`.
pub(crate) fn field_id(name: &str) -> String {
    format!("f-{}", name.replace('.', "-"))
}

/// The label of a county: its name in the directory, or its code.
pub(crate) fn county_name(peers: &[Peer], county: CountyCode) -> String {
    peers
        .iter()
        .find(|(code, _)| *code == county)
        .map_or_else(|| county.as_str().to_owned(), |(_, name)| name.clone())
}

fn label(for_id: &str, zh: &str, en: &str, required: Required) -> Markup {
    html! {
        label.for for=(for_id) {
            (zh) " " span.en { (en) }
            @match required {
                Required::Yes => { " " abbr.req title="必填 required" { "*" } }
                Required::WithPerson => {
                    " " abbr.req title="填写此人时必填 required when this person is given" { "*" }
                }
                Required::No => {}
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Required {
    Yes,
    /// Required once the optional person it belongs to is given.
    WithPerson,
    No,
}

/// The problems about field `name`, beside it.
fn field_errors(name: &str, problems: &[Problem]) -> Markup {
    let id = format!("e-{}", field_id(name));
    html! {
        @for p in problems.iter().filter(|p| p.path == name) {
            p.field-error id=(id) data-field=(name) role="alert" {
                (p.zh)
                @if !p.en.is_empty() { " " span.en lang="en" { "(" (p.en) ")" } }
            }
        }
    }
}

fn one_field(
    name: &str,
    field: &Field,
    required: Required,
    values: &HashMap<String, String>,
    problems: &[Problem],
) -> Markup {
    let id = field_id(name);
    let value = values.get(name).map(String::as_str).unwrap_or("");
    let invalid = problems.iter().any(|p| p.path == name);
    let invalid_attr = invalid.then_some("true");
    let error_id = invalid.then(|| format!("e-{id}"));
    let required_attr = matches!(required, Required::Yes);
    let control = match field.input {
        Input::Line(max) => html! {
            input type="text" id=(id) name=(name) value=(value) maxlength=(max)
                required[required_attr] aria-invalid=[invalid_attr] aria-describedby=[error_id.as_deref()];
        },
        Input::Lines => html! {
            textarea id=(id) name=(name) maxlength=(liaison_core::body::LONG_TEXT_MAX_CHARS)
                required[required_attr] aria-invalid=[invalid_attr] aria-describedby=[error_id.as_deref()] { (value) }
        },
        Input::Date => html! {
            input type="date" id=(id) name=(name) value=(value) min="1900-01-01" max="2199-12-31"
                required[required_attr] aria-invalid=[invalid_attr] aria-describedby=[error_id.as_deref()];
        },
        Input::IdNumber => html! {
            input type="text" id=(id) name=(name) value=(value) maxlength="18" minlength="18"
                pattern="[0-9]{17}[0-9Xx]" inputmode="text" autocomplete="off" spellcheck="false"
                data-idcheck="" required[required_attr] aria-invalid=[invalid_attr]
                aria-describedby=[error_id.as_deref()];
            span.id-hint aria-live="polite" {}
        },
        Input::Choice(choices) => html! {
            select id=(id) name=(name) required[required_attr] aria-invalid=[invalid_attr]
                aria-describedby=[error_id.as_deref()] {
                option value="" selected[value.is_empty()] { "请选择 Choose…" }
                @for (v, text) in choices {
                    option value=(v) selected[*v == value] { (text) }
                }
            }
        },
        Input::YesNo(yes, no) => html! {
            span.choices id=(id) role="radiogroup" aria-labelledby={ "l-" (id) } aria-invalid=[invalid_attr]
                aria-describedby=[error_id.as_deref()] {
                label { input type="radio" name=(name) value="yes" checked[value == "yes"]; " " (yes) }
                label { input type="radio" name=(name) value="no" checked[value == "no"]; " " (no) }
            }
        },
        Input::Tick => html! {
            input type="checkbox" id=(id) name=(name) checked[value == "on"];
        },
        Input::Yuan => html! {
            input type="number" id=(id) name=(name) value=(value) min="1"
                max=(liaison_core::body::MAX_FEE_YUAN) step="1" inputmode="numeric"
                required[required_attr] aria-invalid=[invalid_attr] aria-describedby=[error_id.as_deref()];
        },
    };
    html! {
        div.field {
            @if field.input == Input::Tick {
                label.for for=(id) { (control) " " (field.zh) " " span.en { (field.en) } }
            } @else if let Input::YesNo(..) = field.input {
                // A group of radio buttons is named by its heading, not by a label of one control.
                span.for id={ "l-" (id) } {
                    (field.zh) " " span.en { (field.en) }
                    @if matches!(required, Required::Yes) { " " abbr.req title="必填 required" { "*" } }
                }
                (control)
            } @else {
                (label(&id, field.zh, field.en, required))
                (control)
            }
            @if !field.help.is_empty() { p.help { (field.help) } }
            (field_errors(name, problems))
        }
    }
}

/// The fields of the body of `kind`, filled with `values`, each with its problems.
fn body_fields(kind: NoticeKind, values: &HashMap<String, String>, problems: &[Problem]) -> Markup {
    html! {
        @for part in spec::parts(kind) {
            @match part {
                Part::Field(f) => {
                    (one_field(f.path, &f, if f.required { Required::Yes } else { Required::No }, values, problems))
                }
                Part::Person { path, zh, en, optional } => {
                    fieldset id=(field_id(path)) {
                        legend {
                            (zh) " " span.en { (en) }
                            @if optional { " " span.en { "(选填 optional)" } }
                        }
                        @for (name, f) in spec::person_fields(path) {
                            @let required = match (f.required, optional) {
                                (false, _) => Required::No,
                                (true, false) => Required::Yes,
                                (true, true) => Required::WithPerson,
                            };
                            (one_field(&name, &f, required, values, problems))
                        }
                    }
                }
            }
        }
    }
}

/// The hidden fields every step of writing carries: the CSRF token, the one-time submission
/// token, the kind and the notice answered.
fn carried(compose: &Compose<'_>, csrf: &Markup) -> Markup {
    html! {
        (csrf)
        input type="hidden" name="token" value=(compose.token);
        input type="hidden" name="kind" value=(compose.kind.name());
        input type="hidden" name="in_reply_to"
            value=(compose.reply.map(|o| o.id.to_string()).unwrap_or_default());
    }
}

/// The notice answered, as a letter, for reading while the reply is written.
fn original_letter(original: &Original, peers: &[Peer], me: &str) -> Markup {
    let head = LetterHead {
        from: county_name(peers, original.sender),
        to: me.to_owned(),
        urgent: original.urgent,
        answers: None,
    };
    html! {
        @if let Some(body) = &original.body {
            details open id="original" {
                summary { "原通报 The notice being answered" }
                (letter("original-letter", &head, body))
            }
        }
    }
}

/// What is answered, and the warning when it has been answered before.
fn reply_header(original: &Original, peers: &[Peer]) -> Markup {
    html! {
        p.reply-to {
            "复函 Reply to "
            a.notice href={ "/console/notice/" (original.id) } { (original.id) }
            " (" (original.kind.chinese()) ", 来自 from " (county_name(peers, original.sender)) ")"
        }
        @if !original.replies.is_empty() {
            div.warn id="second-reply-warning" role="alert" {
                strong { "此通报已经复函 This notice has already been answered" }
                " (" (original.replies.len()) " 份 replies: "
                @for (i, r) in original.replies.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href={ "/console/notice/" (r) } { (r) }
                }
                "). 再次复函须在确认页勾选确认。 A second reply must be confirmed on the next page."
            }
        }
    }
}

/// The summary of all problems above the form, each linking to its field.
fn problem_summary(problems: &[Problem], kind: NoticeKind) -> Markup {
    let label_of = |path: &str| -> String {
        if path == "recipient" {
            return "收函单位".to_owned();
        }
        spec::fields(kind)
            .into_iter()
            .find(|(name, ..)| name == path)
            .map(|(_, f, person)| {
                let owner = person.and_then(|p| {
                    spec::parts(kind).into_iter().find_map(|part| match part {
                        Part::Person { path, zh, .. } if path == p => Some(zh),
                        _ => None,
                    })
                });
                format!("{}{}", owner.unwrap_or(""), f.zh)
            })
            .unwrap_or_else(|| path.to_owned())
    };
    html! {
        @if !problems.is_empty() {
            div.err id="problems" role="alert" {
                strong { "有 " (problems.len()) " 处需要修改,已保留您填写的内容 — "
                    span.en { (problems.len()) " problems; what you typed is kept" } }
                ul {
                    @for p in problems {
                        li {
                            @if p.path.is_empty() {
                                (p.zh) " " span.en { (p.en) }
                            } @else {
                                a href={ "#" (field_id(&p.path)) } { (label_of(&p.path)) } ": " (p.zh)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The form of a notice: kind choice (for a new notice), addressee, urgency and the body's fields.
pub(crate) fn notice_form(
    compose: &Compose<'_>,
    me: &str,
    csrf: Markup,
    values: &HashMap<String, String>,
    problems: &[Problem],
    note: Option<&str>,
) -> Markup {
    let kind = compose.kind;
    let recipient = values.get("recipient").map(String::as_str).unwrap_or("");
    html! {
        style { (PreEscaped(FORM_STYLE)) }
        @if let Some(note) = note { p.msg { (note) } }
        @if let Some(original) = compose.reply {
            (reply_header(original, compose.peers))
            (original_letter(original, compose.peers, me))
        } @else {
            nav.kinds aria-label="通报种类 Kind of notice" {
                "种类 Kind: "
                @for k in NoticeKind::ALL.into_iter().filter(|k| spec::has_form(*k) && !k.requires_reference()) {
                    @if k == kind {
                        a.current href={ "/console/write?kind=" (k.name()) } aria-current="page" { (k.chinese()) }
                    } @else {
                        a href={ "/console/write?kind=" (k.name()) } { (k.chinese()) }
                    }
                }
            }
        }
        (problem_summary(problems, kind))
        form.notice-form method="post" action="/console/write" novalidate {
            (carried(compose, &csrf))
            h2 { (kind.chinese()) " " span.en { (kind.name()) } }
            p.help { abbr.req title="必填 required" { "*" } " 为必填项 marks a required field" }
            @if compose.reply.is_none() {
                div.field {
                    (label("f-recipient", "收函单位", "To (county)", Required::Yes))
                    input type="text" id="f-recipient" name="recipient" list="counties" value=(recipient)
                        autocomplete="off" required aria-invalid=[problems.iter().any(|p| p.path == "recipient").then_some("true")];
                    datalist id="counties" {
                        @for (code, name) in compose.peers {
                            option value=(name) { (code) " " (name) }
                        }
                    }
                    p.help { "填写县区名称或代码,如 安塞区 或 610603。可选: "
                        @for (i, (_, name)) in compose.peers.iter().enumerate() {
                            @if i > 0 { "、" } (name)
                        }
                    }
                    (field_errors("recipient", problems))
                }
            }
            div.field {
                label.for for="f-urgent" {
                    input type="checkbox" id="f-urgent" name="urgent" checked[values.get("urgent").is_some_and(|v| v == "on")];
                    " 紧急 " span.en { "Urgent (reply due in 5 days instead of 10)" }
                }
            }
            (body_fields(kind, values, problems))
            div.actions {
                button id="check" type="submit" name="step" value="check" { "下一步:核对 Next: check the letter" }
            }
        }
        p {
            a id="json-view" href={ "/console/write?view=json&kind=" (kind.name())
                @if let Some(o) = compose.reply { "&reply_to=" (o.id) } } { "高级:JSON Advanced: JSON" }
        }
        script src="/console/forms.js" {}
    }
}

/// The JSON view of writing, for those who write drafts as in docs/notices.md.
pub(crate) fn json_form(
    compose: &Compose<'_>,
    me: &str,
    csrf: Markup,
    draft_json: &str,
    example: &str,
    error: Option<&str>,
) -> Markup {
    html! {
        style { (PreEscaped(FORM_STYLE)) }
        @if let Some(original) = compose.reply {
            (reply_header(original, compose.peers))
            (original_letter(original, compose.peers, me))
        }
        @if let Some(e) = error { p.err id="problems" role="alert" { (e) } }
        form.notice-form method="post" action="/console/write" {
            (carried(compose, &csrf))
            div.field {
                label.for for="f-draft" { "草稿 JSON " span.en { "Draft as JSON (docs/notices.md)" } }
                textarea id="f-draft" name="draft_json" spellcheck="false" placeholder=(example)
                    style="font-family:monospace;min-height:20em" { (draft_json) }
                p.help { "收函单位可写县区名称,如 \"recipient\": \"安塞区\"。范例仅作提示,不会被发送。" }
            }
            div.actions {
                button id="check" type="submit" name="step" value="check" { "下一步:核对 Next: check the letter" }
            }
        }
        p { a href={ "/console/write?kind=" (compose.kind.name())
            @if let Some(o) = compose.reply { "&reply_to=" (o.id) } } { "返回表单 Back to the form" } }
    }
}

/// The letter as it will be signed and sent, with a form that sends it (carrying `hidden`, the
/// fields it was read from) or goes back to edit it.
pub(crate) fn confirm_page(
    compose: &Compose<'_>,
    csrf: Markup,
    me: &str,
    draft: &Draft,
    hidden: &HashMap<String, String>,
    error: Option<&str>,
) -> Markup {
    let mut hidden: Vec<(&String, &String)> = hidden
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "csrf" | "token" | "kind" | "in_reply_to" | "step" | "second_reply"
            )
        })
        .collect();
    hidden.sort();
    let second = compose.reply.is_some_and(|o| !o.replies.is_empty());
    html! {
        style { (PreEscaped(FORM_STYLE)) }
        p.msg { "请核对以下函件。确认后将签名并发送,发送后不能修改。 Check the letter below: once confirmed it is signed and sent, and cannot be changed." }
        @if let Some(e) = error { p.err id="problems" role="alert" { (e) } }
        @if let Some(original) = compose.reply { (reply_header(original, compose.peers)) }
        (outgoing_letter(compose, me, draft))
        form.notice-form method="post" action="/console/write" {
            (carried(compose, &csrf))
            @for (k, v) in hidden {
                input type="hidden" name=(k) value=(v);
            }
            @if second {
                p.warn {
                    label {
                        input type="checkbox" id="second-reply" name="second_reply" value="yes";
                        " 我知道此通报已经复函,仍要再次复函 I know this notice has been answered and want to reply again"
                    }
                }
            }
            div.actions {
                button id="send" type="submit" name="step" value="send" { "确认签名并发送 Sign and send" }
                button id="edit" type="submit" name="step" value="edit" { "返回修改 Back to edit" }
            }
        }
    }
}

/// A value of the body as the letter shows it.
fn shown(field: &Field, value: &serde_json::Value) -> String {
    match (field.input, value) {
        (Input::Choice(choices), serde_json::Value::String(v)) => spec::choice_label(choices, v),
        (Input::YesNo(yes, no), serde_json::Value::Bool(b)) => {
            (if *b { yes } else { no }).to_owned()
        }
        (Input::Tick, serde_json::Value::Bool(b)) => {
            (if *b { "是 yes" } else { "否 no" }).to_owned()
        }
        (Input::Yuan, v) => format!("{v} 元"),
        (_, serde_json::Value::String(s)) => s.clone(),
        (_, v) => v.to_string(),
    }
}

/// The head of a letter: who sends it to whom, how urgent it is, and what it answers.
#[derive(Debug, Clone)]
pub(crate) struct LetterHead {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) urgent: bool,
    pub(crate) answers: Option<(NoticeKind, liaison_core::NoticeId)>,
}

/// The letter of `draft` as this node would send it.
fn outgoing_letter(compose: &Compose<'_>, me: &str, draft: &Draft) -> Markup {
    let to = match (compose.reply, draft.recipient) {
        (Some(o), _) => county_name(compose.peers, o.sender),
        (None, Some(r)) => county_name(compose.peers, r),
        (None, None) => String::new(),
    };
    let head = LetterHead {
        from: me.to_owned(),
        to,
        urgent: draft.urgent,
        answers: compose.reply.map(|o| (o.kind, o.id)),
    };
    letter("letter", &head, &draft.body)
}

/// A letter: sender, addressee, kind, urgency, and each field of the body with its label.
pub(crate) fn letter(id: &str, head: &LetterHead, notice_body: &NoticeBody) -> Markup {
    let kind = notice_body.kind();
    let body = serde_json::to_value(notice_body).unwrap_or_default();
    let row = |zh: &str, en: &str, value: String| {
        html! { dt { (zh) " " span.en { (en) } } dd { (value) } }
    };
    html! {
        article.letter id=(id) {
            h2 { (kind.chinese()) }
            dl {
                (row("发函单位", "From", head.from.clone()))
                (row("收函单位", "To", head.to.clone()))
                (row("种类", "Kind", format!("{} {}", kind.chinese(), kind.name())))
                (row("紧急程度", "Urgency", (if head.urgent { "紧急 urgent (5日内复函)" } else { "普通 normal" }).to_owned()))
                @if let Some((kind, id)) = head.answers {
                    (row("答复", "Answers", format!("{} {}", kind.chinese(), id)))
                }
            }
            @if spec::parts(kind).is_empty() {
                pre { (liaison_core::draft::body_to_json(notice_body)) }
            }
            @for part in spec::parts(kind) {
                @match part {
                    Part::Field(f) => {
                        @if let Some(v) = lookup(&body, f.path) {
                            dl { (row(f.zh, f.en, shown(&f, v))) }
                        }
                    }
                    Part::Person { path, zh, en, .. } => {
                        @if lookup(&body, path).is_some() {
                            h3 { (zh) " " span.en { (en) } }
                            dl {
                                @for (name, f) in spec::person_fields(path) {
                                    @if let Some(v) = lookup(&body, &name) {
                                        (row(f.zh, f.en, shown(&f, v)))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use liaison_core::CountyCode;

    use super::super::read::{Envelope, Problem, read_form};
    use super::*;

    fn peers() -> Vec<Peer> {
        vec![(CountyCode::parse("610603").unwrap(), "安塞区".to_owned())]
    }

    fn values(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_form_keeps_what_was_typed_escaped_and_puts_each_problem_beside_its_field() {
        let peers = peers();
        let token = "t".repeat(64);
        let compose = Compose {
            kind: NoticeKind::ContactLetter,
            reply: None,
            peers: &peers,
            token: &token,
        };
        let typed = values(&[
            ("recipient", "安塞"),
            ("subject", "<b>核实</b>"),
            ("person.name", "王丽"),
        ]);
        let problems = vec![
            Problem::new("recipient", "没有名为“安塞”的对方县区", "not a peer"),
            Problem::new("person.id_number", "必填", "is required"),
        ];
        let page = notice_form(&compose, "宝塔区", html! {}, &typed, &problems, None).into_string();
        assert!(page.contains("value=\"&lt;b&gt;核实&lt;/b&gt;\""), "{page}");
        assert!(page.contains("有 2 处需要修改"), "{page}");
        let beside = |name: &str| {
            let at = page.find(&format!("name=\"{name}\"")).unwrap();
            let error = page
                .find(&format!("data-field=\"{name}\""))
                .unwrap_or_else(|| panic!("no error for {name}"));
            let next_field = page[at..]
                .find("class=\"field\"")
                .map_or(usize::MAX, |i| at + i);
            error > at && error < next_field
        };
        assert!(beside("recipient") && beside("person.id_number"), "{page}");
        assert!(
            page.contains("id=\"f-person-id_number\"") && page.contains("aria-invalid=\"true\""),
            "{page}"
        );
        // Nothing is invented: an empty choice is asked for, not preset.
        assert!(!page.contains("checked"), "{page}");
    }

    #[test]
    fn the_letter_shows_labels_and_choices_in_words_and_leaves_out_what_was_not_given() {
        let peers = peers();
        let form = values(&[
            ("recipient", "安塞区"),
            ("person.name", "王丽"),
            ("person.id_number", "610602199203154529"),
            ("check_date", "2024-04-20"),
            ("method", "implant"),
            ("pregnant", "yes"),
        ]);
        let draft = read_form(
            NoticeKind::ContraceptionReport,
            &form,
            Envelope {
                peers: Some(&peers),
            },
        )
        .unwrap();
        let token = "t".repeat(64);
        let compose = Compose {
            kind: NoticeKind::ContraceptionReport,
            reply: None,
            peers: &peers,
            token: &token,
        };
        let page = outgoing_letter(&compose, "宝塔区 (610602)", &draft).into_string();
        for text in [
            "避孕节育情况报告单",
            "宝塔区 (610602)",
            "安塞区",
            "皮下埋植 implant",
            "已怀孕 pregnant",
            "受检人",
            "610602199203154529",
        ] {
            assert!(page.contains(text), "no {text} in {page}");
        }
        assert!(
            !page.contains("出生日期") && !page.contains("其他查验情况"),
            "{page}"
        );
    }
}
