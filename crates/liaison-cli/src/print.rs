//! Tables for people and JSON for programs; times in China Standard Time.

use liaison_core::clock::format_cst;
use liaison_core::{
    DeadlineState, DeadlineStatus, NoticeKind, NoticeStatus, OutboundStatus, RejectCode,
};
use liaison_proto::v1 as pb;
use serde::Serialize;
use serde_json::json;

use crate::Output;

/// Columns a text takes in a terminal: CJK and other wide characters take two (Unicode East Asian
/// Width), combining marks none.
fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
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

/// "个案信息通报 case_notice", from the admin API's enum value.
fn kind_label(kind: i32) -> String {
    match NoticeKind::from_wire(kind) {
        Some(k) => format!("{} {}", k.chinese(), k.name()),
        None => format!("kind {kind}"),
    }
}

fn kind_name(kind: i32) -> &'static str {
    NoticeKind::from_wire(kind).map_or("unknown", NoticeKind::name)
}

fn status(n: &pb::NoticeInfo) -> Option<NoticeStatus> {
    NoticeStatus::from_wire(n.status)
}

fn status_name(n: &pb::NoticeInfo) -> &'static str {
    status(n).map_or("unknown", NoticeStatus::name)
}

fn deadline(n: &pb::NoticeInfo) -> Option<DeadlineStatus> {
    DeadlineStatus::from_wire(n.deadline_state)
}

fn urgent(n: &pb::NoticeInfo) -> bool {
    n.urgency == pb::Urgency::Urgent as i32
}

fn outbound(direction: i32) -> bool {
    direction == pb::Direction::Outbound as i32
}

fn direction_name(direction: i32) -> &'static str {
    if outbound(direction) {
        "outbound"
    } else {
        "inbound"
    }
}

fn reject_code(n: &pb::NoticeInfo) -> Option<&'static str> {
    RejectCode::from_wire(n.reject_code).map(RejectCode::name)
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
    direction: &'static str,
    peer: &'a str,
    peer_name: &'a str,
    kind: &'static str,
    urgent: bool,
    issued_at: String,
    issued_at_ms: i64,
    in_reply_to: Option<&'a str>,
    status: &'static str,
    attempts: u32,
    last_error: Option<&'a str>,
    next_attempt_at_ms: Option<i64>,
    receipt_at: Option<String>,
    receipt_at_ms: Option<i64>,
    reject_code: Option<&'static str>,
    reject_reason: Option<&'a str>,
    reply_due_at_ms: Option<i64>,
    reply_due_at: Option<String>,
    deadline_state: Option<&'static str>,
    deadline_error: Option<&'a str>,
    answered_at_ms: Option<i64>,
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
        direction: direction_name(n.direction),
        peer: &n.peer,
        peer_name: &n.peer_name,
        kind: kind_name(n.kind),
        urgent: urgent(n),
        issued_at: format_cst(n.issued_at_ms),
        issued_at_ms: n.issued_at_ms,
        in_reply_to: some_str(&n.in_reply_to),
        status: status_name(n),
        attempts: n.attempts,
        last_error: some_str(&n.last_error),
        next_attempt_at_ms: some_ms(n.next_attempt_at_ms),
        receipt_at: some_ms(n.receipt_at_ms).map(format_cst),
        receipt_at_ms: some_ms(n.receipt_at_ms),
        reject_code: reject_code(n),
        reject_reason: some_str(&n.reject_reason),
        reply_due_at_ms: some_ms(n.reply_due_at_ms),
        reply_due_at: some_ms(n.reply_due_at_ms).map(format_cst),
        deadline_state: deadline(n).map(DeadlineStatus::name),
        deadline_error: some_str(&n.deadline_error),
        answered_at_ms: some_ms(n.answered_at_ms),
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
    match status(n) {
        Some(NoticeStatus::Outbound(OutboundStatus::Delivered)) => match deadline_note(n) {
            Some(note) => format!("receipt {}; {note}", short_time(n.receipt_at_ms)),
            None => format!("receipt {}", short_time(n.receipt_at_ms)),
        },
        Some(NoticeStatus::Outbound(OutboundStatus::Rejected)) => format!(
            "{}: {}",
            reject_code(n).unwrap_or_default(),
            n.reject_reason
        ),
        Some(NoticeStatus::Outbound(OutboundStatus::InFlight)) => {
            format!("attempt {}: {}", n.attempts, n.last_error)
        }
        _ => String::new(),
    }
}

/// "urgent 紧急" for an urgent notice, "" for any other.
fn urgency_cell(n: &pb::NoticeInfo) -> String {
    if urgent(n) {
        "urgent 紧急".into()
    } else {
        String::new()
    }
}

/// The cells that begin a listing's row: id, peer, kind and urgency.
fn notice_cells(n: &pb::NoticeInfo) -> Vec<String> {
    vec![
        n.notice_id.clone(),
        peer_label(n),
        kind_label(n.kind),
        urgency_cell(n),
    ]
}

/// Renders the outbox as a table.
pub fn outbox_table(notices: &[pb::NoticeInfo]) -> String {
    let rows: Vec<Vec<String>> = notices
        .iter()
        .map(|n| {
            let mut row = notice_cells(n);
            row.extend([
                short_time(n.issued_at_ms),
                status_name(n).to_owned(),
                status_detail(n),
            ]);
            row
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
            let mut row = notice_cells(n);
            row.extend([
                short_time(n.receipt_at_ms),
                if n.in_reply_to.is_empty() {
                    String::new()
                } else {
                    format!("answers {}", n.in_reply_to)
                },
                deadline_note(n).unwrap_or_default(),
            ]);
            row
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
            "REPLY 复函",
        ],
        &rows,
    )
}

pub fn outbox(list: &pb::ListResponse, out: Output) {
    let notices = &list.notices;
    if out.json {
        json_out(&notices.iter().map(view).collect::<Vec<_>>());
    } else if notices.is_empty() {
        println!("The outbox (发件箱) is empty.");
    } else {
        print!("{}", outbox_table(notices));
    }
    cut_listing(list, out, "--status or --peer");
}

pub fn inbox(list: &pb::ListResponse, out: Output) {
    let notices = &list.notices;
    if out.json {
        json_out(&notices.iter().map(view).collect::<Vec<_>>());
    } else if notices.is_empty() {
        println!("The inbox (收件箱) is empty.");
    } else {
        print!("{}", inbox_table(notices));
    }
    cut_listing(list, out, "--peer");
}

/// Says that a listing was cut at its limit: after the table, or on standard error beside JSON
/// output, which stays one array.
fn cut_listing(list: &pb::ListResponse, out: Output, narrow: &str) {
    if !list.more {
        return;
    }
    let note = format!(
        "Showing the newest {} only; more notices match. Narrow the listing with {narrow}, or \
         raise --limit (at most {}).",
        list.notices.len(),
        liaison_node::MAX_LIST_LIMIT
    );
    if out.json {
        eprintln!("{note}");
    } else {
        println!("{note}");
    }
}

pub fn notice_done(n: &pb::NoticeInfo, what: &str, out: Output) {
    if out.json {
        json_out(&view(n));
    } else {
        println!(
            "{} {} to {}: {what} (status {})",
            kind_label(n.kind),
            n.notice_id,
            peer_label(n),
            status_name(n)
        );
    }
}

/// The answer to a send: the notice queued, or the one queued before under the same key
/// (`earlier` says how it was sent before).
pub fn sent(n: &pb::NoticeInfo, earlier: &str, out: Output) {
    if out.json {
        #[derive(Serialize)]
        struct Sent<'a> {
            #[serde(flatten)]
            notice: NoticeView<'a>,
            already_queued: bool,
        }
        json_out(&Sent {
            notice: view(n),
            already_queued: n.already_queued,
        });
    } else if n.already_queued {
        println!(
            "already queued as {} to {} (status {}; {earlier}); nothing new was sent — use --again to send another copy",
            n.notice_id,
            peer_label(n),
            status_name(n)
        );
    } else {
        notice_done(n, OutboundStatus::Queued.name(), out);
    }
}

/// What `liaison backup` wrote.
pub fn backup(b: &pb::BackupResponse, out: Output) {
    if out.json {
        json_out(&json!({
            "path": b.path,
            "log_size": b.log_size,
            "root_hex": b.root_hex,
        }));
    } else {
        println!(
            "wrote the backup {}: a log of {} entries, root {}\n\
             Keep it with the other backups; restore it, with the node stopped, with: liaison restore --from {}",
            b.path, b.log_size, b.root_hex, b.path
        );
    }
}

/// What `liaison restore` did, and what the operator must do next.
pub fn restored(
    config: &liaison_node::config::Config,
    from: &std::path::Path,
    log_size: u64,
    aside: &std::path::Path,
) {
    let county = config.county;
    let mut lines = vec![
        format!(
            "restored the store of {county} from {}: a log of {log_size} entries.",
            from.display()
        ),
        format!("The replaced files are kept in {}.", aside.display()),
        String::new(),
        "Next:".to_owned(),
        "  1. Start the node (`systemctl start liaison`, or `liaison serve`).".to_owned(),
        format!(
            "  2. Tell each peer county's operator, in writing, that {county} restored a backup:"
        ),
    ];
    for peer in config.directory.peers() {
        let contact = peer
            .agreement
            .as_ref()
            .map(|a| format!(" (contact {} {})", a.contact_person, a.phone))
            .unwrap_or_default();
        lines.push(format!("     - {} {}{contact}", peer.county, peer.name));
    }
    lines.push(format!(
        "     Their nodes raise a rollback alarm about {county} at the next delivery to it; once \
         they have seen it, they run `liaison accept-peer-log {county}`."
    ));
    lines.push(
        "  3. Notices this node received or sent after the backup was taken are no longer here. \
         The peers still hold them: the senders hold signed receipts for what they delivered \
         here, and can send it again."
            .to_owned(),
    );
    println!("{}", lines.join("\n"));
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
    let (direction, party) = if outbound(n.direction) {
        ("sent 发出", "to")
    } else {
        ("received 收到", "from")
    };
    let mut lines = vec![
        format!("Notice {}", n.notice_id),
        format!("  {direction} {party} {}", peer_label(n)),
        format!(
            "  kind:        {}{}",
            kind_label(n.kind),
            if urgent(n) { ", urgent 紧急" } else { "" }
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
        format!("  status:      {}", status_name(n)),
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
    if let Some(code) = reject_code(n) {
        lines.push(format!("  rejected:    {code}: {}", n.reject_reason));
    }
    if n.reply_due_at_ms != 0 {
        lines.push(format!(
            "  reply due:   {} CST ({})",
            due_time(n.reply_due_at_ms),
            deadline(n).map(state_label).unwrap_or_default()
        ));
    } else if !n.deadline_error.is_empty() {
        lines.push(format!("  reply due:   UNKNOWN: {}", n.deadline_error));
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

/// How the reply to a notice stands, for a listing: e.g. "reply due 2026-03-12 24:00 未到期".
fn deadline_note(n: &pb::NoticeInfo) -> Option<String> {
    match deadline(n)? {
        DeadlineStatus::Known(DeadlineState::NoReplyRequired) => None,
        DeadlineStatus::Unknown => Some(format!("reply due UNKNOWN: {}", n.deadline_error)),
        state @ DeadlineStatus::Known(s) if s.is_pending() => Some(format!(
            "reply due {} {}",
            due_time(n.reply_due_at_ms),
            state_label(state)
        )),
        state => Some(state_label(state)),
    }
}

/// A deadline as the law states it: 24:00 of its last day, not 00:00 of the next.
pub fn due_time(ms: i64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let midnight = liaison_core::clock::cst_date(ms)
        .filter(|d| liaison_core::clock::cst_midnight_ms(*d) == ms)
        .and_then(|d| d.previous_day());
    match midnight {
        Some(last_day) => format!("{last_day} 24:00"),
        None => short_time(ms),
    }
}

/// "overdue 已超期".
fn state_label(state: DeadlineStatus) -> String {
    format!("{} {}", state.name(), state.chinese())
}

fn side_name(side: i32) -> &'static str {
    if side == pb::Side::Owed as i32 {
        "owed"
    } else {
        "awaited"
    }
}

fn due_state(item: &pb::DueItem) -> Option<DeadlineStatus> {
    DeadlineStatus::from_wire(item.state)
}

/// Counts by deadline state, keyed by the states' names.
fn counts_json(open: u64, due_soon: u64, overdue: u64) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (state, n) in [
        (DeadlineState::Open, open),
        (DeadlineState::DueSoon, due_soon),
        (DeadlineState::Overdue, overdue),
    ] {
        map.insert(state.name().to_owned(), n.into());
    }
    map.into()
}

/// The due lists: `side` is the side asked for, if any.
pub fn due(
    due: &pb::DueResponse,
    side: pb::Side,
    overdue_only: bool,
    show_counts: bool,
    out: Output,
) {
    if out.json {
        let items: Vec<_> = due
            .items
            .iter()
            .map(|i| {
                json!({
                    "side": side_name(i.side),
                    "state": due_state(i).map(DeadlineStatus::name),
                    "due_at": format!("{} CST", due_time(i.due_at_ms)),
                    "due_at_ms": i.due_at_ms,
                    "days_left": i.days_left,
                    "notice": i.notice.as_ref().map(view),
                })
            })
            .collect();
        let counts = due.counts.unwrap_or_default();
        json_out(&json!({
            "items": items,
            "more": due.more,
            "counts": {
                "owed": counts_json(counts.owed_open, counts.owed_due_soon, counts.owed_overdue),
                "awaited": counts_json(counts.awaited_open, counts.awaited_due_soon, counts.awaited_overdue),
                "deadline_errors": counts.deadline_errors,
            },
            "deadline_errors": due.deadline_errors.iter().map(view).collect::<Vec<_>>(),
        }));
        return;
    }
    let what = match (side, overdue_only) {
        (_, true) => "Overdue replies (超期)",
        (pb::Side::Owed, _) => "Replies this county owes (应复函)",
        _ => "Replies other counties owe this county (待对方复函)",
    };
    if due.items.is_empty() {
        println!("{what}: none.");
    } else {
        let rows: Vec<Vec<String>> = due
            .items
            .iter()
            .filter_map(|i| {
                let n = i.notice.as_ref()?;
                Some(vec![
                    n.notice_id.clone(),
                    if i.side == pb::Side::Owed as i32 {
                        format!("from {}", peer_label(n))
                    } else {
                        format!("to {}", peer_label(n))
                    },
                    kind_label(n.kind),
                    urgency_cell(n),
                    short_time(n.receipt_at_ms),
                    due_time(i.due_at_ms),
                    match i.days_left {
                        d if d < 0 => format!("{} days late", -d),
                        0 => "last day".into(),
                        1 => "1 day".into(),
                        d => format!("{d} days"),
                    },
                    due_state(i).map(state_label).unwrap_or_default(),
                ])
            })
            .collect();
        println!("{what}:");
        print!(
            "{}",
            table(
                &[
                    "ID",
                    "COUNTY 县区",
                    "KIND 类型",
                    "",
                    "RECEIVED (CST)",
                    "DUE (CST) 期限",
                    "LEFT 剩余",
                    "STATE 状态"
                ],
                &rows
            )
        );
    }
    if due.more {
        println!(
            "Showing the {} soonest only; more replies are due. Raise --limit (at most {}).",
            due.items.len(),
            liaison_node::MAX_LIST_LIMIT
        );
    }
    if let Some(c) = due.counts.as_ref().filter(|_| show_counts) {
        println!(
            "Owed 应复函: {} open, {} due soon, {} overdue.  Awaited 待复函: {} open, {} due soon, {} overdue.",
            c.owed_open,
            c.owed_due_soon,
            c.owed_overdue,
            c.awaited_open,
            c.awaited_due_soon,
            c.awaited_overdue
        );
    }
    for n in &due.deadline_errors {
        println!(
            "WARNING: no due time for {} from {}: {}",
            n.notice_id,
            peer_label(n),
            n.deadline_error
        );
    }
}

fn days(ms: i64) -> String {
    if ms < 0 {
        "-".into()
    } else {
        format!("{:.1}", ms as f64 / 86_400_000.0)
    }
}

/// The quarterly bulletin's figures as a table, CSV or JSON.
pub fn report(report: &pb::ReportResponse, csv: bool, out: Output) {
    let header = [
        "peer",
        "peer_name",
        "kind",
        "direction",
        "notices",
        "reply_required",
        "replied_on_time",
        "replied_late",
        "still_open",
        "overdue_now",
        "deadline_unknown",
        "median_reply_days",
    ];
    let cells = |r: &pb::ReportRow| {
        vec![
            r.peer.clone(),
            r.peer_name.clone(),
            kind_name(r.kind).to_owned(),
            report_direction(r.direction).to_owned(),
            r.notices.to_string(),
            r.reply_required.to_string(),
            r.replied_on_time.to_string(),
            r.replied_late.to_string(),
            r.still_open.to_string(),
            r.overdue_now.to_string(),
            r.deadline_unknown.to_string(),
            days(r.median_reply_ms),
        ]
    };
    if out.json {
        let rows: Vec<_> = report
            .rows
            .iter()
            .map(|r| {
                json!({
                    "peer": r.peer, "peer_name": r.peer_name, "kind": kind_name(r.kind), "direction": report_direction(r.direction),
                    "notices": r.notices, "reply_required": r.reply_required,
                    "replied_on_time": r.replied_on_time, "replied_late": r.replied_late,
                    "still_open": r.still_open, "overdue_now": r.overdue_now,
                    "deadline_unknown": r.deadline_unknown,
                    "median_reply_ms": (r.median_reply_ms >= 0).then_some(r.median_reply_ms),
                })
            })
            .collect();
        json_out(&json!({
            "from": format_cst(report.from_ms), "to": format_cst(report.to_ms),
            "from_ms": report.from_ms, "to_ms": report.to_ms,
            "generated_at": format_cst(report.generated_at_ms), "rows": rows,
        }));
    } else if csv {
        println!("{}", header.join(","));
        for r in &report.rows {
            let line: Vec<String> = cells(r).into_iter().map(|c| csv_cell(&c)).collect();
            println!("{}", line.join(","));
        }
    } else {
        println!(
            "Quarterly bulletin figures (季度通报) from {} to {}, as of {}",
            format_cst(report.from_ms),
            format_cst(report.to_ms),
            format_cst(report.generated_at_ms)
        );
        if report.rows.is_empty() {
            println!("No notices in this period.");
            return;
        }
        let rows: Vec<Vec<String>> = report
            .rows
            .iter()
            .map(|r| {
                let mut c = cells(r);
                c[0] = format!("{} {}", r.peer, r.peer_name);
                c.remove(1);
                c[1] = kind_label(r.kind);
                c[2] = if !outbound(r.direction) {
                    "received 收到".into()
                } else {
                    "sent 发出".into()
                };
                c
            })
            .collect();
        print!(
            "{}",
            table(
                &[
                    "COUNTY 县区",
                    "KIND 类型",
                    "DIRECTION",
                    "NOTICES",
                    "REPLY DUE",
                    "ON TIME 按期",
                    "LATE 超期复函",
                    "OPEN",
                    "OVERDUE 超期",
                    "UNKNOWN 期限未知",
                    "MEDIAN DAYS"
                ],
                &rows
            )
        );
    }
}

/// A report row's direction as the report names it: notices received, or sent.
fn report_direction(direction: i32) -> &'static str {
    if outbound(direction) {
        "sent"
    } else {
        "received"
    }
}

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

pub fn peers(response: &pb::PeersResponse, out: Output) {
    let peers = &response.peers;
    let failing = some_str(&response.storage_failing);
    if out.json {
        let views: Vec<_> = peers
            .iter()
            .map(|p| {
                json!({
                    "county": p.county, "name": p.name, "endpoint": p.endpoint,
                    "allowed_kinds": p.allowed_kinds.iter().map(|k| kind_name(*k)).collect::<Vec<_>>(), "contact_person": p.contact_person, "phone": p.phone,
                    "agreement_effective": some_str(&p.agreement_effective), "backlog": p.backlog,
                    "last_error": some_str(&p.last_error),
                    "alarms": p.alarms,
                    "last_success_at_ms": some_ms(p.last_success_at_ms),
                    "certificate_expires_at_ms": some_ms(p.certificate_expires_at_ms),
                    "key_expires_at_ms": some_ms(p.key_expires_at_ms),
                    "clock_offset_ms": p.clock_disagrees.then_some(p.clock_offset_ms),
                })
            })
            .collect();
        json_out(&json!({
            "storage": {
                "failing": failing,
                "failed_commits": response.storage_failed_commits,
            },
            "peers": views,
            "directory_serial": (response.directory_serial > 0).then_some(response.directory_serial),
        }));
        return;
    }
    if response.directory_serial > 0 {
        println!(
            "DIRECTORY 名录: serial {}, signed by the city",
            response.directory_serial
        );
    }
    if let Some(why) = failing {
        println!(
            "STORAGE FAILING: {why} — writes are refused; sends fail and deliveries back off until it works again"
        );
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
    for p in peers {
        for alarm in &p.alarms {
            println!("ALARM {} {}: {alarm}", p.county, p.name);
        }
        if p.clock_disagrees {
            println!(
                "CLOCK {} {}: {}; one of the two clocks is wrong — check both (NTP) before trusting signed times",
                p.county,
                p.name,
                clock_offset_text(p.clock_offset_ms)
            );
        }
    }
}

/// "its clock is 40 min 0 s ahead of this node's".
fn clock_offset_text(offset_ms: i64) -> String {
    let secs = offset_ms.unsigned_abs() / 1000;
    format!(
        "its clock is {} min {} s {} of this node's",
        secs / 60,
        secs % 60,
        if offset_ms > 0 { "ahead" } else { "behind" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_at_midnight_is_shown_as_24_00_of_the_last_day() {
        // 2026-03-10 00:00 CST is the end of 2026-03-09.
        assert_eq!(due_time(1_773_072_000_000), "2026-03-09 24:00");
        assert_eq!(due_time(1_773_072_000_000 + 60_000), "2026-03-10 00:01");
    }

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
