//! `liaison city report`: the city bureau's quarterly bulletin (市局季度通报) from the counties' audit
//! bundles — each verified offline, then matched against the others — as a table, CSV, JSON or a
//! printable HTML page.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use liaison_core::NoticeKind;
use liaison_core::audit::Bundle;
use liaison_core::audit_verify::{AuditReport, DeadlineOutcome, parse_bundle, verify_bundle};
use liaison_core::checkpoint::NoteVerifierKey;
use liaison_core::city_report::{
    CityReport, CountyBundle, CountyFigures, LeftOut, city_report_of, keys_against_directory,
};
use liaison_core::clock::format_cst;
use liaison_core::directory::{Federation, SignedDirectory};

use crate::print::table;
use crate::{EXIT_BAD_INPUT, EXIT_NOT_VERIFIED, Failure, Output};

/// How the report is printed.
pub struct Format<'a> {
    pub csv: bool,
    pub html: Option<&'a Path>,
    pub out: Output,
}

/// Reads, verifies and matches the bundles; prints the bulletin. Exits 5 when a bundle is left
/// out or a discrepancy is found (after printing everything).
pub fn report(
    files: &[PathBuf],
    directory: Option<&Federation>,
    from_ms: i64,
    to_ms: i64,
    format: Format<'_>,
) -> Result<(), Failure> {
    let report = build(files, directory, from_ms, to_ms)?;
    if let Some(path) = format.html {
        write_new(path, &html(&report))?;
    }
    if format.out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else if format.csv {
        print!("{}", csv(&report));
    } else {
        print!("{}", text(&report));
    }
    if report.clean() {
        Ok(())
    } else {
        Err(Failure::new(
            EXIT_NOT_VERIFIED,
            format!(
                "{} bundle(s) left out, {} discrepancy(ies) found",
                report.left_out.len(),
                report.discrepancies.len()
            ),
        ))
    }
}

/// The city report of the bundle files; a file that cannot be read is bad input, one that does not
/// parse is left out like one that does not verify.
/// With `directory`, a bundle's keys must be the city's (see
/// [`liaison_core::city_report::keys_against_directory`]).
pub fn build(
    files: &[PathBuf],
    directory: Option<&Federation>,
    from_ms: i64,
    to_ms: i64,
) -> Result<CityReport, Failure> {
    let mut parsed: Vec<(String, Bundle, AuditReport)> = Vec::new();
    let mut unreadable = Vec::new();
    for file in files {
        let source = file.display().to_string();
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::new(EXIT_BAD_INPUT, format!("cannot read {source}: {e}")))?;
        match parse_bundle(&text) {
            Ok(bundle) => {
                let mut verified = verify_bundle(&bundle);
                if let Some(federation) = directory {
                    let failures = keys_against_directory(&bundle, federation);
                    verified.ok &= failures.is_empty();
                    verified.failures.extend(failures);
                }
                parsed.push((source, bundle, verified));
            }
            Err(e) => unreadable.push(LeftOut {
                source,
                county: "?".into(),
                problems: vec![e.to_string()],
                unchecked_notices: Vec::new(),
            }),
        }
    }
    let inputs: Vec<CountyBundle<'_>> = parsed
        .iter()
        .map(|(source, bundle, report)| CountyBundle {
            source: source.clone(),
            bundle,
            report,
        })
        .collect();
    // Every county of the city's directory owes a bundle.
    let expected: Vec<String> = directory
        .map(|f| f.counties.iter().map(|c| c.code.to_string()).collect())
        .unwrap_or_default();
    let mut report = city_report_of(&inputs, from_ms, to_ms, &expected);
    report.left_out.extend(unreadable);
    Ok(report)
}

/// The federation of the city's signed directory, checked with the city's key.
pub fn open_directory(file: &Path, city_key: &str) -> Result<Federation, Failure> {
    let key = NoteVerifierKey::parse(city_key.trim())
        .map_err(|e| Failure::new(EXIT_BAD_INPUT, format!("--city-key: {e}")))?;
    let note = std::fs::read_to_string(file).map_err(|e| {
        Failure::new(
            EXIT_BAD_INPUT,
            format!("cannot read {}: {e}", file.display()),
        )
    })?;
    SignedDirectory::open(&note, &key)
        .map(|d| d.federation)
        .map_err(|e| {
            Failure::new(
                EXIT_NOT_VERIFIED,
                format!("{} does not verify: {e}", file.display()),
            )
        })
}

fn write_new(path: &Path, content: &str) -> Result<(), Failure> {
    use std::io::Write as _;
    let fail = |e: std::io::Error| {
        Failure::new(
            EXIT_BAD_INPUT,
            format!("cannot write {}: {e}", path.display()),
        )
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(fail)?;
    file.write_all(content.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)
}

fn total(by_kind: &std::collections::BTreeMap<String, u64>) -> u64 {
    by_kind.values().sum()
}

fn rate(c: &CountyFigures) -> String {
    c.on_time_rate
        .map_or("—".into(), |r| format!("{:.1}%", r * 100.0))
}

fn median(c: &CountyFigures) -> String {
    c.median_reply_days
        .map_or("—".into(), |d| format!("{d:.1}"))
}

fn rank(c: &CountyFigures) -> String {
    c.rank.map_or("—".into(), |r| r.to_string())
}

fn kind_label(name: &str) -> String {
    match name.parse::<NoticeKind>() {
        Ok(k) => format!("{} {}", k.chinese(), k.name()),
        Err(_) => name.to_owned(),
    }
}

/// Per county: rank, county, the totals and the reply figures, as cells.
fn county_cells(c: &CountyFigures) -> Vec<String> {
    vec![
        rank(c),
        format!("{} {}", c.county, c.name),
        total(&c.sent).to_string(),
        total(&c.received).to_string(),
        c.replies_owed.to_string(),
        c.on_time.to_string(),
        c.late.to_string(),
        c.overdue.to_string(),
        c.open.to_string(),
        rate(c),
        median(c),
    ]
}

const COUNTY_HEADER: [&str; 11] = [
    "RANK 排名",
    "COUNTY 县区",
    "SENT 发出",
    "RECEIVED 收到",
    "REPLIES OWED 应复函",
    "ON TIME 按期",
    "LATE 超期复函",
    "OVERDUE 超期未复",
    "OPEN 未到期",
    "ON-TIME RATE 按期率",
    "MEDIAN DAYS 复函天数中位数",
];

/// Per county and kind: the notices sent and received.
fn kind_rows(report: &CityReport) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for c in &report.counties {
        let kinds: std::collections::BTreeSet<&String> =
            c.sent.keys().chain(c.received.keys()).collect();
        for k in kinds {
            rows.push(vec![
                format!("{} {}", c.county, c.name),
                kind_label(k),
                c.sent.get(k).copied().unwrap_or(0).to_string(),
                c.received.get(k).copied().unwrap_or(0).to_string(),
            ]);
        }
    }
    rows
}

const KIND_HEADER: [&str; 4] = ["COUNTY 县区", "KIND 类型", "SENT 发出", "RECEIVED 收到"];

fn discrepancy_rows(report: &CityReport) -> Vec<Vec<String>> {
    report
        .discrepancies
        .iter()
        .map(|d| {
            vec![
                format!("{} {}", d.kind.chinese(), d.kind.name()),
                d.county.clone(),
                d.peer.clone().unwrap_or_else(|| "—".into()),
                d.notice_id.clone().unwrap_or_else(|| "—".into()),
                d.detail.clone(),
            ]
        })
        .collect()
}

const DISCREPANCY_HEADER: [&str; 5] = [
    "DISCREPANCY 差异",
    "COUNTY 县区",
    "PEER 对方",
    "NOTICE 通报",
    "DETAIL 说明",
];

/// The bulletin for a terminal.
pub fn text(report: &CityReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "City bulletin 市局季度通报 from {} to {}",
        format_cst(report.from_ms),
        format_cst(report.to_ms)
    );
    if !report.left_out.is_empty() {
        let _ = writeln!(s, "\nBundles left out 未纳入统计 (they do not verify):");
        for l in &report.left_out {
            let _ = writeln!(s, "  {} (county {}):", l.source, l.county);
            for p in &l.problems {
                let _ = writeln!(s, "    {p}");
            }
            if !l.unchecked_notices.is_empty() {
                let _ = writeln!(
                    s,
                    "    notices other counties exchanged with it, unchecked 未核对: {}",
                    l.unchecked_notices.join(", ")
                );
            }
        }
    }
    let _ = writeln!(s);
    if report.discrepancies.is_empty() {
        let _ = writeln!(s, "No discrepancy 无差异.");
    } else {
        let _ = writeln!(s, "Discrepancies 差异 ({}):", report.discrepancies.len());
        s.push_str(&table(&DISCREPANCY_HEADER, &discrepancy_rows(report)));
    }
    let _ = writeln!(s);
    if report.counties.is_empty() {
        let _ = writeln!(s, "No county's bundle verifies.");
        return s;
    }
    let rows: Vec<Vec<String>> = report.counties.iter().map(county_cells).collect();
    s.push_str(&table(&COUNTY_HEADER, &rows));
    let kinds = kind_rows(report);
    if !kinds.is_empty() {
        let _ = writeln!(s, "\nBy kind 按类型:");
        s.push_str(&table(&KIND_HEADER, &kinds));
    }
    s
}

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// One line per county; the kinds in columns `sent_<kind>` and `received_<kind>`.
pub fn csv(report: &CityReport) -> String {
    // The outcome columns are named as DeadlineOutcome names them.
    let mut header: Vec<String> = [
        "rank",
        "county",
        "name",
        "sent",
        "received",
        "replies_owed",
        DeadlineOutcome::OnTime.name(),
        DeadlineOutcome::Late.name(),
        DeadlineOutcome::Overdue.name(),
        DeadlineOutcome::Open.name(),
        DeadlineOutcome::Unknown.name(),
        "on_time_rate",
        "median_reply_days",
    ]
    .map(str::to_owned)
    .to_vec();
    for k in NoticeKind::ALL {
        header.push(format!("sent_{}", k.name()));
    }
    for k in NoticeKind::ALL {
        header.push(format!("received_{}", k.name()));
    }
    let mut s = header.join(",");
    s.push('\n');
    for c in &report.counties {
        let mut cells = vec![
            c.rank.map(|r| r.to_string()).unwrap_or_default(),
            c.county.clone(),
            c.name.clone(),
            total(&c.sent).to_string(),
            total(&c.received).to_string(),
            c.replies_owed.to_string(),
            c.on_time.to_string(),
            c.late.to_string(),
            c.overdue.to_string(),
            c.open.to_string(),
            c.unknown.to_string(),
            c.on_time_rate
                .map(|r| format!("{r:.4}"))
                .unwrap_or_default(),
            c.median_reply_days
                .map(|d| format!("{d:.2}"))
                .unwrap_or_default(),
        ];
        for k in NoticeKind::ALL {
            cells.push(c.sent.get(k.name()).copied().unwrap_or(0).to_string());
        }
        for k in NoticeKind::ALL {
            cells.push(c.received.get(k.name()).copied().unwrap_or(0).to_string());
        }
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        s.push_str(&line.join(","));
        s.push('\n');
    }
    s
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
fn esc(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            _ => s.push(c),
        }
    }
    s
}

fn html_table(s: &mut String, header: &[&str], rows: &[Vec<String>]) {
    s.push_str("<table>\n<thead><tr>");
    for h in header {
        // "ON TIME 按期" → Chinese first, English below.
        let (en, zh) = h.rsplit_once(' ').unwrap_or((h, ""));
        let _ = write!(s, "<th>{}<br><small>{}</small></th>", esc(zh), esc(en));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        s.push_str("<tr>");
        for cell in row {
            let _ = write!(s, "<td>{}</td>", esc(cell));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");
}

const HTML_STYLE: &str = "@page { size: A4; margin: 18mm 15mm; }
body { font-family: \"Noto Serif CJK SC\", \"Source Han Serif SC\", \"SimSun\", serif; font-size: 10.5pt; color: #000; max-width: 180mm; margin: 0 auto; }
h1 { font-size: 16pt; text-align: center; margin: 0 0 4mm; }
h2 { font-size: 12pt; margin: 6mm 0 2mm; break-after: avoid; }
p.period { text-align: center; margin: 0 0 6mm; }
table { width: 100%; border-collapse: collapse; margin-bottom: 4mm; }
th, td { border: 0.5pt solid #000; padding: 1mm 1.5mm; vertical-align: top; }
th { font-weight: bold; background: #eee; }
th small { font-weight: normal; }
td { overflow-wrap: anywhere; white-space: pre-line; }
tr { break-inside: avoid; }
thead { display: table-header-group; }
@media print { th { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }";

/// A printable, self-contained page: A4, Chinese first, every text from a bundle escaped.
pub fn html(report: &CityReport) -> String {
    let mut s = String::new();
    let period = format!(
        "{} — {}",
        format_cst(report.from_ms),
        format_cst(report.to_ms)
    );
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>市局季度通报 City bulletin {}</title>\n<style>\n{HTML_STYLE}\n</style>\n</head>\n<body>\n<h1>流动人口信息交换情况季度通报<br><small>Quarterly bulletin on the counties' information exchange</small></h1>\n<p class=\"period\">统计期间 Period: {}</p>\n",
        esc(&period),
        esc(&period)
    );
    s.push_str("<h2>各县区情况 Counties</h2>\n");
    if report.counties.is_empty() {
        s.push_str("<p>没有可核验的审计包 No county's bundle verifies.</p>\n");
    } else {
        let rows: Vec<Vec<String>> = report.counties.iter().map(county_cells).collect();
        html_table(&mut s, &COUNTY_HEADER, &rows);
        s.push_str("<h2>按类型 By kind</h2>\n");
        html_table(&mut s, &KIND_HEADER, &kind_rows(report));
    }
    s.push_str("<h2>差异 Discrepancies</h2>\n");
    if report.discrepancies.is_empty() {
        s.push_str("<p>无差异 No discrepancy.</p>\n");
    } else {
        html_table(&mut s, &DISCREPANCY_HEADER, &discrepancy_rows(report));
    }
    if !report.left_out.is_empty() {
        s.push_str("<h2>未纳入统计的审计包 Bundles left out (they do not verify)</h2>\n");
        let rows: Vec<Vec<String>> = report
            .left_out
            .iter()
            .map(|l| {
                vec![
                    l.source.clone(),
                    l.county.clone(),
                    l.problems.join("\n"),
                    l.unchecked_notices.join("\n"),
                ]
            })
            .collect();
        html_table(
            &mut s,
            &[
                "FILE 文件",
                "COUNTY 县区",
                "WHY 原因",
                "UNCHECKED 未核对通报",
            ],
            &rows,
        );
    }
    s.push_str("</body>\n</html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use liaison_core::city_report::{Discrepancy, DiscrepancyKind};

    fn sample() -> CityReport {
        CityReport {
            from_ms: 0,
            to_ms: 86_400_000,
            left_out: vec![LeftOut {
                source: "<b>.json".into(),
                county: "610621".into(),
                problems: vec!["leaf 1: bad & wrong".into()],
                unchecked_notices: vec!["019c-unchecked".into()],
            }],
            discrepancies: vec![Discrepancy {
                kind: DiscrepancyKind::MissingNotice,
                county: "610603".into(),
                peer: Some("610602".into()),
                notice_id: Some("019c".into()),
                detail: "<script>alert(1)</script>".into(),
            }],
            counties: vec![CountyFigures {
                county: "610602".into(),
                name: "宝塔区".into(),
                sent: [("contact_letter".to_owned(), 2)].into(),
                received: [("case_notice".to_owned(), 1)].into(),
                replies_owed: 1,
                on_time: 1,
                late: 0,
                overdue: 0,
                open: 0,
                unknown: 0,
                on_time_rate: Some(1.0),
                median_reply_days: Some(2.5),
                rank: Some(1),
            }],
        }
    }

    #[test]
    fn the_html_page_escapes_every_text_from_a_bundle_and_is_set_for_a4() {
        let page = html(&sample());
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&lt;b&gt;.json"));
        assert!(page.contains("bad &amp; wrong"));
        assert!(page.contains("size: A4"));
        assert!(!page.contains("http"), "the page loads nothing");
        assert!(page.contains("<th>按期<br><small>ON TIME</small></th>"));
    }

    #[test]
    fn the_csv_has_one_line_per_county_with_every_kind_in_columns() {
        let text = csv(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let header: Vec<&str> = lines[0].split(',').collect();
        let row: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(header.len(), row.len());
        let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
        assert_eq!(col("sent_contact_letter"), "2");
        assert_eq!(col("received_case_notice"), "1");
        assert_eq!(col("on_time_rate"), "1.0000");
        assert_eq!(col("median_reply_days"), "2.50");
    }

    #[test]
    fn the_table_names_the_bundles_left_out_and_the_discrepancies() {
        let t = text(&sample());
        assert!(t.contains("<b>.json (county 610621):"));
        assert!(t.contains("unchecked 未核对: 019c-unchecked"));
        assert!(t.contains("通报缺失 missing_notice"));
        assert!(t.contains("100.0%"));
        assert!(t.contains("个案信息通报 case_notice"));
    }
}
