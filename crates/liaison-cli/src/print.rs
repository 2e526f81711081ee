//! Tables for people and JSON for programs; times in China Standard Time.

use liaison_core::NoticeKind;
use liaison_core::clock::format_cst;
use liaison_proto::v1 as pb;
use serde::Serialize;
use serde_json::json;

use crate::Output;

/// Columns a character takes in a terminal: CJK and other wide characters take two.
fn width(text: &str) -> usize {
    text.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

/// Renders rows under a header, columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            text.push_str(cell);
            if i + 1 < widths.len() {
                text.push_str(&" ".repeat(widths[i] - width(cell) + 2));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

fn time(ms: i64) -> String {
    if ms == 0 { "-".into() } else { format_cst(ms) }
}

fn short_time(ms: i64) -> String {
    // "2026-11-28 22:24" without seconds and zone: the header says CST.
    let full = time(ms);
    full.get(..16).map_or(full.clone(), str::to_owned)
}

fn kind_label(kind: &str) -> String {
    match kind.parse::<NoticeKind>() {
        Ok(k) => format!("{} {}", k.chinese(), k.name()),
        Err(_) => kind.to_owned(),
    }
}

fn peer_label(n: &pb::NoticeInfo) -> String {
    if n.peer_name.is_empty() {
        n.peer.clone()
    } else {
        format!("{} {}", n.peer, n.peer_name)
    }
}

/// The JSON form of a notice listing entry: the admin fields plus readable times.
#[derive(Serialize)]
struct NoticeView<'a> {
    notice_id: &'a str,
    direction: &'a str,
    peer: &'a str,
    peer_name: &'a str,
    kind: &'a str,
    urgent: bool,
    issued_at: String,
    issued_at_ms: i64,
    in_reply_to: Option<&'a str>,
    status: &'a str,
    attempts: u32,
    last_error: Option<&'a str>,
    next_attempt_at_ms: Option<i64>,
    receipt_at: Option<String>,
    receipt_at_ms: Option<i64>,
    reject_code: Option<&'a str>,
    reject_reason: Option<&'a str>,
    reply_due_at_ms: Option<i64>,
    replies: &'a [String],
}

fn some_str(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn some_ms(ms: i64) -> Option<i64> {
    (ms != 0).then_some(ms)
}

fn view(n: &pb::NoticeInfo) -> NoticeView<'_> {
    NoticeView {
        notice_id: &n.notice_id,
        direction: &n.direction,
        peer: &n.peer,
        peer_name: &n.peer_name,
        kind: &n.kind,
        urgent: n.urgent,
        issued_at: format_cst(n.issued_at_ms),
        issued_at_ms: n.issued_at_ms,
        in_reply_to: some_str(&n.in_reply_to),
        status: &n.status,
        attempts: n.attempts,
        last_error: some_str(&n.last_error),
        next_attempt_at_ms: some_ms(n.next_attempt_at_ms),
        receipt_at: some_ms(n.receipt_at_ms).map(format_cst),
        receipt_at_ms: some_ms(n.receipt_at_ms),
        reject_code: some_str(&n.reject_code),
        reject_reason: some_str(&n.reject_reason),
        reply_due_at_ms: some_ms(n.reply_due_at_ms),
        replies: &n.replies,
    }
}

fn json_out<T: Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn status_detail(n: &pb::NoticeInfo) -> String {
    match n.status.as_str() {
        "delivered" => format!("receipt {}", short_time(n.receipt_at_ms)),
        "rejected" => format!("{}: {}", n.reject_code, n.reject_reason),
        "in_flight" => format!("attempt {}: {}", n.attempts, n.last_error),
        _ => String::new(),
    }
}

/// Renders the outbox as a table.
pub fn outbox_table(notices: &[pb::NoticeInfo]) -> String {
    let rows: Vec<Vec<String>> = notices
        .iter()
        .map(|n| {
            vec![
                n.notice_id.clone(),
                peer_label(n),
                kind_label(&n.kind),
                if n.urgent {
                    "urgent 紧急".into()
                } else {
                    String::new()
                },
                short_time(n.issued_at_ms),
                n.status.clone(),
                status_detail(n),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "TO 收件方",
            "KIND 类型",
            "",
            "ISSUED (CST)",
            "STATUS 状态",
            "DETAIL",
        ],
        &rows,
    )
}

/// Renders the inbox as a table.
pub fn inbox_table(notices: &[pb::NoticeInfo]) -> String {
    let rows: Vec<Vec<String>> = notices
        .iter()
        .map(|n| {
            vec![
                n.notice_id.clone(),
                peer_label(n),
                kind_label(&n.kind),
                if n.urgent {
                    "urgent 紧急".into()
                } else {
                    String::new()
                },
                short_time(n.receipt_at_ms),
                if n.in_reply_to.is_empty() {
                    String::new()
                } else {
                    format!("answers {}", n.in_reply_to)
                },
                if n.replies.is_empty() {
                    String::new()
                } else {
                    format!("replied 已复函 ({})", n.replies.len())
                },
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "FROM 发件方",
            "KIND 类型",
            "",
            "RECEIVED (CST)",
            "IN REPLY TO",
            "REPLIES",
        ],
        &rows,
    )
}

pub fn outbox(notices: &[pb::NoticeInfo], out: Output) {
    if out.json {
        json_out(&notices.iter().map(view).collect::<Vec<_>>());
    } else if notices.is_empty() {
        println!("The outbox (发件箱) is empty.");
    } else {
        print!("{}", outbox_table(notices));
    }
}

pub fn inbox(notices: &[pb::NoticeInfo], out: Output) {
    if out.json {
        json_out(&notices.iter().map(view).collect::<Vec<_>>());
    } else if notices.is_empty() {
        println!("The inbox (收件箱) is empty.");
    } else {
        print!("{}", inbox_table(notices));
    }
}

pub fn notice_done(n: &pb::NoticeInfo, what: &str, out: Output) {
    if out.json {
        json_out(&view(n));
    } else {
        println!(
            "{} {} to {}: {what} (status {})",
            kind_label(&n.kind),
            n.notice_id,
            peer_label(n),
            n.status
        );
    }
}

pub fn detail(d: &pb::NoticeDetail, out: Output) {
    let Some(n) = d.info.as_ref() else { return };
    let body: serde_json::Value =
        serde_json::from_str(&d.body_json).unwrap_or(serde_json::Value::Null);
    if out.json {
        json_out(&json!({
            "notice": view(n),
            "body": body,
            "signature_valid": d.signature_valid,
            "receipt_valid": d.receipt_valid,
        }));
        return;
    }
    let (direction, party) = if n.direction == "outbound" {
        ("sent 发出", "to")
    } else {
        ("received 收到", "from")
    };
    let mut lines = vec![
        format!("Notice {}", n.notice_id),
        format!("  {direction} {party} {}", peer_label(n)),
        format!(
            "  kind:        {}{}",
            kind_label(&n.kind),
            if n.urgent { ", urgent 紧急" } else { "" }
        ),
        format!("  issued at:   {}", time(n.issued_at_ms)),
        format!(
            "  signature:   {}",
            if d.signature_valid {
                "valid"
            } else {
                "NOT VALID"
            }
        ),
        format!("  status:      {}", n.status),
    ];
    if !n.in_reply_to.is_empty() {
        lines.push(format!("  answers:     {}", n.in_reply_to));
    }
    if n.receipt_at_ms != 0 {
        lines.push(format!(
            "  receipt:     {} ({})",
            time(n.receipt_at_ms),
            if d.receipt_valid {
                "signature valid"
            } else {
                "signature NOT VALID"
            }
        ));
    }
    if n.attempts > 0 {
        lines.push(format!("  attempts:    {}", n.attempts));
    }
    if !n.last_error.is_empty() {
        lines.push(format!("  last error:  {}", n.last_error));
    }
    if !n.reject_code.is_empty() {
        lines.push(format!(
            "  rejected:    {}: {}",
            n.reject_code, n.reject_reason
        ));
    }
    for reply in &n.replies {
        lines.push(format!("  reply 复函:  {reply}"));
    }
    lines.push("  body:".into());
    for line in serde_json::to_string_pretty(&body)
        .unwrap_or_default()
        .lines()
    {
        lines.push(format!("    {line}"));
    }
    println!("{}", lines.join("\n"));
}

pub fn peers(peers: &[pb::PeerInfo], out: Output) {
    if out.json {
        let views: Vec<_> = peers
            .iter()
            .map(|p| {
                json!({
                    "county": p.county, "name": p.name, "endpoint": p.endpoint,
                    "allowed_kinds": p.allowed_kinds, "contact_person": p.contact_person, "phone": p.phone,
                    "agreement_effective": some_str(&p.agreement_effective), "backlog": p.backlog,
                    "last_error": some_str(&p.last_error),
                })
            })
            .collect();
        json_out(&views);
        return;
    }
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                format!("{} {}", p.county, p.name),
                p.endpoint.clone(),
                if p.agreement_effective.is_empty() {
                    "none 无协议".into()
                } else {
                    format!("since {}", p.agreement_effective)
                },
                format!("{} {}", p.contact_person, p.phone),
                p.backlog.to_string(),
                p.last_error.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "PEER 协作县区",
                "ENDPOINT",
                "AGREEMENT 协议",
                "CONTACT 联系人",
                "BACKLOG",
                "LAST ERROR"
            ],
            &rows
        )
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_text_counts_double_width_so_columns_line_up() {
        let t = table(
            &["A", "B"],
            &[
                vec!["宝塔区".into(), "x".into()],
                vec!["abc".into(), "y".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[1], "宝塔区  x");
        assert_eq!(lines[2], "abc     y");
    }
}
