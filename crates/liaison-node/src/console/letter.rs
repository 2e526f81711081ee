//! A notice shown as a letter (函), as it would be printed on A4: the kind as its heading, the
//! sending and receiving bureaus (发函单位, 收函单位), the subject (事由), the body's fields
//! under their Chinese labels, and the reply deadline with its state. The body is shown to
//! operators only; an auditor's letter says that it is withheld.

use liaison_core::{CountyCode, NoticeKind};
use maud::{Markup, html};
use serde_json::Value;

use super::layout::{due_time, state_label, time};
use crate::ops::{Direction, NoticeDetail, Summary, field_label, field_rank, value_label};

/// A body value in words: enumerations and yes/no in Chinese, a person on one line.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => value_label(s).map_or_else(|| s.clone(), str::to_owned),
        Value::Bool(true) => "是".into(),
        Value::Bool(false) => "否".into(),
        Value::Number(n) => n.to_string(),
        Value::Null => "-".into(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join("、"),
        Value::Object(fields) => in_order(fields)
            .into_iter()
            .map(|(k, v)| format!("{}：{}", field_label(k), value_text(v)))
            .collect::<Vec<_>>()
            .join("；"),
    }
}

/// A body object's fields in a letter's order, without its `kind`.
fn in_order(fields: &serde_json::Map<String, Value>) -> Vec<(&str, &Value)> {
    let mut ordered: Vec<(&str, &Value)> = fields
        .iter()
        .filter(|(k, _)| k.as_str() != "kind")
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    ordered.sort_by_key(|(k, _)| field_rank(k));
    ordered
}

/// Whether a notice of `kind` may be answered (some kind of reply may answer it).
pub(super) fn answerable(kind: NoticeKind) -> bool {
    NoticeKind::ALL.into_iter().any(|k| k.may_answer(kind))
}

/// A county's bureau as a letter names it: "安塞区人口计生局（610603）".
fn bureau(name: &str, county: CountyCode) -> String {
    format!("{name}人口计生局（{county}）")
}

/// The letter of a notice. `own` is this node's county and its name; `summary` gives the
/// subject (operators only; the person is named in full among the body's fields); `id` is the
/// letter's HTML id.
pub(super) fn letter(
    detail: &NoticeDetail,
    own: (&str, CountyCode),
    summary: Option<&Summary>,
    id: &str,
) -> Markup {
    let n = &detail.notice;
    let peer = bureau(&n.peer_name, n.peer);
    let own = bureau(own.0, own.1);
    let (from, to) = match n.direction {
        Direction::Outbound => (own, peer),
        Direction::Inbound => (peer, own),
    };
    let body: Option<Value> = detail
        .body_json
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok());
    html! {
        article.letter id=(id) {
            h2 { (n.kind.chinese()) @if n.urgent { "（紧急）" } }
            dl {
                dt { "编号" } dd { (n.id) }
                dt { "发函单位" } dd.from { (from) }
                dt { "收函单位" } dd.to { (to) }
                @if let Some(s) = summary {
                    dt { "事由" }
                    dd.subject { (s.subject) }
                }
                dt { "发函时间" } dd { (time(n.issued_at_ms)) }
                @if let Some(received) = n.receipt_at_ms {
                    dt { "收函时间" } dd { (time(received)) }
                }
                dt { "复函期限" }
                dd.due {
                    @if let Some(due) = n.reply_due_at_ms {
                        (due_time(due)) " "
                    }
                    @if let Some(state) = n.deadline {
                        "（" (state_label(state)) "）"
                    } @else if !answerable(n.kind) {
                        "无需复函"
                    } @else {
                        "送达后起算 counted from delivery"
                    }
                }
                @if let Some(answered) = n.answered_at_ms {
                    dt { "复函时间" } dd { (time(answered)) }
                }
            }
            @if detail.payload_withheld {
                p.muted { "内容不向审计员显示 The body is not shown to auditors." }
            } @else if let Some(Value::Object(fields)) = &body {
                dl.body {
                    @for (name, value) in in_order(fields) {
                        dt { (field_label(name)) }
                        dd data-field=(name) { (value_text(value)) }
                    }
                }
            } @else if let Some(raw) = &detail.body_json {
                pre { (raw) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_values_read_in_chinese() {
        assert_eq!(value_text(&json!("birth")), "政策外生育");
        assert_eq!(value_text(&json!("宝塔区")), "宝塔区");
        assert_eq!(value_text(&json!(true)), "是");
        assert_eq!(
            value_text(&json!({"name": "刘红梅", "id_number": "610603199302141228"})),
            "姓名：刘红梅；公民身份号码：610603199302141228"
        );
    }

    #[test]
    fn bulletins_and_replies_are_not_answerable_but_case_notices_are() {
        assert!(!answerable(NoticeKind::Bulletin));
        assert!(!answerable(NoticeKind::ReplyLetter));
        assert!(!answerable(NoticeKind::Reminder));
        assert!(answerable(NoticeKind::CaseNotice));
        assert!(answerable(NoticeKind::ContactLetter));
        assert!(answerable(NoticeKind::ApprovalRequest));
    }
}
