//! The quarterly bulletin page (季度通报): for a chosen quarter, per peer county, kind and
//! direction, how many notices passed and how their replies went, from the same figures as
//! `liaison report` (the application layer's report); printable on A4 and downloadable as CSV
//! with the columns of `liaison report --csv`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use liaison_core::clock::{cst_date, cst_midnight_ms};
use maud::Markup;
use time::{Date, Month};

use super::layout::{error_note, kind_label, time};
use super::{Params, authed, param, to_login};
use crate::NodeState;
use crate::ops::{Direction, ReportQuery};
use crate::report::Row;

/// A calendar quarter, such as 2026Q1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Quarter {
    year: i32,
    /// 1 to 4.
    n: u8,
}

impl std::fmt::Display for Quarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}Q{}", self.year, self.n)
    }
}

impl Quarter {
    /// Reads "2026Q1" (or "2026q1").
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || {
            format!("季度 quarter: “{text}”不是季度，例如 2026Q1 (is not a quarter such as 2026Q1)")
        };
        let (year, n) = text.split_once(['Q', 'q']).ok_or_else(bad)?;
        let year: i32 = year.parse().map_err(|_| bad())?;
        let n: u8 = n.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&n) || !(1900..=2199).contains(&year) {
            return Err(bad());
        }
        Ok(Self { year, n })
    }

    /// The quarter a day falls in.
    pub(super) fn of(day: Date) -> Self {
        Self {
            year: day.year(),
            n: (u8::from(day.month()) - 1) / 3 + 1,
        }
    }

    fn first_day(self) -> Option<Date> {
        let month = Month::try_from(3 * self.n - 2).ok()?;
        Date::from_calendar_date(self.year, month, 1).ok()
    }

    pub(super) fn next(self) -> Self {
        if self.n == 4 {
            Self {
                year: self.year + 1,
                n: 1,
            }
        } else {
            Self {
                year: self.year,
                n: self.n + 1,
            }
        }
    }

    pub(super) fn previous(self) -> Self {
        if self.n == 1 {
            Self {
                year: self.year - 1,
                n: 4,
            }
        } else {
            Self {
                year: self.year,
                n: self.n - 1,
            }
        }
    }

    /// The quarter as `[from_ms, to_ms)` in China Standard Time, with its first and last days.
    pub(super) fn period(self) -> Option<(i64, i64, Date, Date)> {
        let first = self.first_day()?;
        let after = self.next().first_day()?;
        Some((
            cst_midnight_ms(first),
            cst_midnight_ms(after),
            first,
            after.previous_day()?,
        ))
    }
}

/// The CSV columns, as `liaison report --csv` writes them.
const CSV_HEADER: &str = "peer,peer_name,kind,direction,notices,reply_required,replied_on_time,replied_late,still_open,overdue_now,deadline_unknown,median_reply_days";

/// A median reply time in days, one decimal; "-" without replies.
fn days(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "-".into(),
        |ms| format!("{:.1}", ms as f64 / 86_400_000.0),
    )
}

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Outbound => "sent",
        Direction::Inbound => "received",
    }
}

/// The bulletin's rows as CSV (with a byte-order mark, so that spreadsheet programs read the
/// county names as UTF-8).
pub(super) fn csv(rows: &[(Row, String)]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    for (r, name) in rows {
        let cells = [
            r.peer.to_string(),
            name.clone(),
            r.kind.name().to_owned(),
            direction_name(r.direction).to_owned(),
            r.notices.to_string(),
            r.reply_required.to_string(),
            r.replied_on_time.to_string(),
            r.replied_late.to_string(),
            r.still_open.to_string(),
            r.overdue_now.to_string(),
            r.deadline_unknown.to_string(),
            days(r.median_reply_ms),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The share of required replies made on time, "87.5%", or "-" when none was due yet.
fn on_time_share(on_time: u64, late: u64, overdue: u64) -> String {
    let judged = on_time + late + overdue;
    if judged == 0 {
        "-".into()
    } else {
        format!("{:.1}%", on_time as f64 * 100.0 / judged as f64)
    }
}

/// The quarter a request asks for (this quarter if none), or what is wrong with it.
fn asked_quarter(
    state: &NodeState,
    q: &std::collections::HashMap<String, String>,
) -> Result<Quarter, String> {
    match param(q, "quarter") {
        "" => cst_date(state.clock.now_ms())
            .map(Quarter::of)
            .ok_or_else(|| "the node's clock is out of range".to_owned()),
        text => Quarter::parse(text),
    }
}

/// The quarter form with links to the quarters before and after.
fn quarter_form(quarter: &str, shown: Option<Quarter>) -> Markup {
    maud::html! {
        form.filters method="get" action="/console/bulletin" {
            label {
                "季度 Quarter (如 2026Q1)"
                input name="quarter" value=(quarter) required pattern="[0-9]{4}[Qq][1-4]" size="8";
            }
            button type="submit" { "查看 Show" }
            @if let Some(q) = shown {
                a href={ "/console/bulletin?quarter=" (q.previous()) } { "← 上一季度 " (q.previous()) }
                a href={ "/console/bulletin?quarter=" (q.next()) } { "下一季度 " (q.next()) " →" }
                a id="csv" href={ "/console/bulletin.csv?quarter=" (q) } { "下载 CSV Download CSV" }
            }
        }
    }
}

/// The bulletin page.
pub(super) async fn bulletin(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    let title = "季度通报 Quarterly bulletin";
    let quarter = match asked_quarter(&state, &q) {
        Ok(quarter) => quarter,
        Err(e) => {
            let body = maud::html! { (error_note(&e)) (quarter_form(param(&q, "quarter"), None)) };
            return who.page(StatusCode::BAD_REQUEST, title, body);
        }
    };
    let Some((from_ms, to_ms, first, last)) = quarter.period() else {
        return who.error_page(
            StatusCode::BAD_REQUEST,
            title,
            "季度超出范围 quarter out of range",
        );
    };
    let report = match who.ops(&state).report(ReportQuery { from_ms, to_ms }) {
        Ok(r) => r,
        Err(e) => return who.error_page(super::http_status(&e), title, &e.to_string()),
    };
    let rows = &report.rows;
    let total = |f: fn(&Row) -> u64| rows.iter().map(|(r, _)| f(r)).sum::<u64>();
    let body = maud::html! {
        (quarter_form(&quarter.to_string(), Some(quarter)))
        article.letter id="bulletin" {
            h2 { (who.site) " 流动人口信息交换情况季度通报" }
            p {
                (quarter.year) " 年第 " (quarter.n) " 季度（" (first) " 至 " (last) "，北京时间）。"
                "统计时间 " (time(report.generated_at_ms)) "。"
                "按收函时间计入本季度；“发出”为本县区发出、由对方复函，“收到”为对方发来、由本县区复函。"
            }
            table.list.figures {
                thead {
                    tr {
                        th { "对方县区 Peer" }
                        th { "种类 Kind" }
                        th { "方向 Direction" }
                        th { "通报数 Notices" }
                        th { "需复函 Reply required" }
                        th { "按期复函 On time" }
                        th { "超期复函 Late" }
                        th { "未到期 Open" }
                        th { "已超期未复 Overdue" }
                        th { "期限未知 Unknown" }
                        th { "复函用时中位数（天） Median days" }
                        th { "按期率 On-time share" }
                    }
                }
                tbody {
                    @for (r, name) in rows {
                        tr {
                            td data-label="对方县区 Peer" { (name) " " span.muted { (r.peer) } }
                            td data-label="种类 Kind" { (kind_label(r.kind)) }
                            td data-label="方向 Direction" {
                                @if r.direction == Direction::Outbound { "发出 sent" } @else { "收到 received" }
                            }
                            td data-label="通报数 Notices" { (r.notices) }
                            td data-label="需复函 Reply required" { (r.reply_required) }
                            td data-label="按期复函 On time" { (r.replied_on_time) }
                            td data-label="超期复函 Late" { (r.replied_late) }
                            td data-label="未到期 Open" { (r.still_open) }
                            td data-label="已超期未复 Overdue" { (r.overdue_now) }
                            td data-label="期限未知 Unknown" { (r.deadline_unknown) }
                            td data-label="复函用时中位数（天） Median days" { (days(r.median_reply_ms)) }
                            td data-label="按期率 On-time share" {
                                (on_time_share(r.replied_on_time, r.replied_late, r.overdue_now))
                            }
                        }
                    }
                    @if rows.is_empty() {
                        tr { td colspan="12" { "本季度没有通报 No notices this quarter" } }
                    } @else {
                        tr.total {
                            td data-label="合计 Total" colspan="3" { b { "合计 Total" } }
                            td data-label="通报数 Notices" { b id="total-notices" { (total(|r| r.notices)) } }
                            td data-label="需复函 Reply required" { (total(|r| r.reply_required)) }
                            td data-label="按期复函 On time" { (total(|r| r.replied_on_time)) }
                            td data-label="超期复函 Late" { (total(|r| r.replied_late)) }
                            td data-label="未到期 Open" { (total(|r| r.still_open)) }
                            td data-label="已超期未复 Overdue" { (total(|r| r.overdue_now)) }
                            td data-label="期限未知 Unknown" { (total(|r| r.deadline_unknown)) }
                            td { "" }
                            td data-label="按期率 On-time share" {
                                (on_time_share(total(|r| r.replied_on_time), total(|r| r.replied_late), total(|r| r.overdue_now)))
                            }
                        }
                    }
                }
            }
        }
        p.noprint.muted { "打印：用浏览器的打印（Ctrl+P） Print with the browser (Ctrl+P)." }
    };
    who.page(StatusCode::OK, title, body)
}

/// The bulletin's figures as a CSV download.
pub(super) async fn bulletin_csv(
    State(state): State<Arc<NodeState>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    let title = "季度通报 Quarterly bulletin";
    let quarter = match asked_quarter(&state, &q) {
        Ok(quarter) => quarter,
        Err(e) => return who.error_page(StatusCode::BAD_REQUEST, title, &e),
    };
    let Some((from_ms, to_ms, _, _)) = quarter.period() else {
        return who.error_page(
            StatusCode::BAD_REQUEST,
            title,
            "季度超出范围 quarter out of range",
        );
    };
    let report = match who.ops(&state).report(ReportQuery { from_ms, to_ms }) {
        Ok(r) => r,
        Err(e) => return who.error_page(super::http_status(&e), title, &e.to_string()),
    };
    let mut response = (StatusCode::OK, csv(&report.rows)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"bulletin-{}-{quarter}.csv\"",
        state.config.county
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn quarters_read_and_span_their_three_months_in_beijing_time() {
        let q = Quarter::parse(" 2026q4 ").unwrap();
        assert_eq!(q.to_string(), "2026Q4");
        let (from, to, first, last) = q.period().unwrap();
        assert_eq!(
            (first, last),
            (date!(2026 - 10 - 01), date!(2026 - 12 - 31))
        );
        assert_eq!(from, cst_midnight_ms(date!(2026 - 10 - 01)));
        assert_eq!(to, cst_midnight_ms(date!(2027 - 01 - 01)));
        assert_eq!(q.next().to_string(), "2027Q1");
        assert_eq!(
            Quarter::parse("2026Q1").unwrap().previous().to_string(),
            "2025Q4"
        );
        assert_eq!(Quarter::of(date!(2026 - 06 - 30)).to_string(), "2026Q2");
        for bad in ["2026Q5", "2026", "Q1", "20x6Q1", "2026Q0"] {
            let e = Quarter::parse(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("2026Q1"), "{e}");
        }
    }

    #[test]
    fn csv_has_the_report_columns_and_quotes_what_needs_it() {
        let row = Row {
            peer: liaison_core::CountyCode::parse("610603").unwrap(),
            kind: liaison_core::NoticeKind::CaseNotice,
            direction: Direction::Outbound,
            notices: 3,
            reply_required: 3,
            replied_on_time: 2,
            replied_late: 0,
            still_open: 1,
            overdue_now: 0,
            deadline_unknown: 0,
            median_reply_ms: Some(2 * 86_400_000 + 43_200_000),
        };
        let text = csv(&[(row, "安塞区, \"北\"".into())]);
        let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            "610603,\"安塞区, \"\"北\"\"\",case_notice,sent,3,3,2,0,1,0,0,2.5"
        );
        assert_eq!(on_time_share(2, 0, 0), "100.0%");
        assert_eq!(on_time_share(1, 1, 2), "25.0%");
        assert_eq!(on_time_share(0, 0, 0), "-");
    }
}
