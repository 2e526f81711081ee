//! The city bureau's quarterly reconciliation and bulletin (市局季度通报): every county's audit
//! bundle, verified on its own, then matched against the others — each notice and receipt is held
//! by two counties — to name every discrepancy, and each county's figures and rank.
//!
//! docs/audit-format.md ("The city report") defines the matching and every discrepancy.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::audit::Bundle;
use crate::audit_verify::{AuditReport, DeadlineOutcome, Direction, Failure};
use crate::checkpoint::Checkpoint;
use crate::clock::format_cst;
use crate::directory::Federation;
use crate::notice::Header;
use crate::receipt::{Outcome, SignedReceipt};
use crate::tlog::LeafKind;
use liaison_proto::v1 as pb;

#[cfg(test)]
mod tests;

/// A bundle given to the city report: where it came from, the bundle and its verification.
pub struct CountyBundle<'a> {
    /// The file name, for messages.
    pub source: String,
    pub bundle: &'a Bundle,
    pub report: &'a AuditReport,
}

/// A bundle that did not verify and was left out of the figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    pub source: String,
    /// The county the bundle says it is from.
    pub county: String,
    /// Why: the verifier's failures, `item: problem`.
    pub problems: Vec<String>,
    /// The notices of the period that the counties whose bundles count exchanged with this
    /// county: none of them can be checked against its records.
    pub unchecked_notices: Vec<String>,
}

/// What kind of discrepancy was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscrepancyKind {
    /// One county holds a delivered notice that the other county's bundle should hold and does not.
    MissingNotice,
    /// The two counties hold different receipts (bytes, received-at or due time) for one notice.
    DifferentReceipt,
    /// The two counties' bundles give different due times for one notice.
    DifferentDueTime,
    /// The two counties' bundles give different outcomes for one notice.
    DifferentOutcome,
    /// Two checkpoints of one county's log with the same size and different roots.
    InconsistentLog,
    /// A county's bundle covers less than the report's period, or only one peer.
    PeriodNotCovered,
}

impl DiscrepancyKind {
    /// The snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::MissingNotice => "missing_notice",
            Self::DifferentReceipt => "different_receipt",
            Self::DifferentDueTime => "different_due_time",
            Self::DifferentOutcome => "different_outcome",
            Self::InconsistentLog => "inconsistent_log",
            Self::PeriodNotCovered => "period_not_covered",
        }
    }

    /// The Chinese label.
    pub fn chinese(self) -> &'static str {
        match self {
            Self::MissingNotice => "通报缺失",
            Self::DifferentReceipt => "回执不一致",
            Self::DifferentDueTime => "期限不一致",
            Self::DifferentOutcome => "结果不一致",
            Self::InconsistentLog => "日志不一致",
            Self::PeriodNotCovered => "期间不全",
        }
    }
}

/// One discrepancy between counties' records.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Discrepancy {
    pub kind: DiscrepancyKind,
    /// The county whose records are in question.
    pub county: String,
    /// The other county involved, if any.
    pub peer: Option<String>,
    /// The notice concerned, if any.
    pub notice_id: Option<String>,
    /// What differs, for a person.
    pub detail: String,
}

/// One county's figures for the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CountyFigures {
    pub county: String,
    pub name: String,
    /// Notices this county sent and that were accepted, by kind (snake-case name).
    pub sent: BTreeMap<String, u64>,
    /// Notices this county received and accepted, by kind.
    pub received: BTreeMap<String, u64>,
    /// Replies this county owed on notices it received.
    pub replies_owed: u64,
    pub on_time: u64,
    pub late: u64,
    /// No reply and past due when the bundle was made.
    pub overdue: u64,
    /// No reply yet, not yet due.
    pub open: u64,
    /// A reply is owed but its due time is unknown.
    pub unknown: u64,
    /// on_time / (on_time + late + overdue); `None` when nothing was decided.
    pub on_time_rate: Option<f64>,
    /// The median time from receipt to reply of this county's replies, in days.
    pub median_reply_days: Option<f64>,
    /// 1 for the best on-time rate; counties with equal rates share a rank; `None` without a rate.
    pub rank: Option<usize>,
}

/// The whole city report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CityReport {
    pub from_ms: i64,
    pub to_ms: i64,
    pub left_out: Vec<LeftOut>,
    pub discrepancies: Vec<Discrepancy>,
    pub counties: Vec<CountyFigures>,
}

impl CityReport {
    /// Nothing left out and no discrepancy.
    pub fn clean(&self) -> bool {
        self.left_out.is_empty() && self.discrepancies.is_empty()
    }
}

/// What one county's bundle says about one notice.
#[derive(Debug, Clone, Default)]
struct Held {
    kind: String,
    sender: String,
    recipient: String,
    /// The receipt's signed bytes and signature (base64, as in the bundle).
    receipt: Option<(String, String)>,
    received_at_ms: Option<i64>,
    reply_due_at_ms: Option<i64>,
    accepted: bool,
    /// From the verifier's deadline line.
    due_at_ms: Option<i64>,
    outcome: Option<DeadlineOutcome>,
    replied_at_ms: Option<i64>,
}

/// A verified bundle, read for matching.
struct Holding<'a> {
    county: String,
    input: &'a CountyBundle<'a>,
    notices: BTreeMap<String, Held>,
}

/// Verifies nothing itself: takes bundles with their verifier reports, leaves out those that do
/// not verify, matches the rest and computes the figures for `[from_ms, to_ms)`.
pub fn city_report(inputs: &[CountyBundle<'_>], from_ms: i64, to_ms: i64) -> CityReport {
    city_report_of(inputs, from_ms, to_ms, &[])
}

/// [`city_report`], where every county of `expected` (the counties of the city's directory) must
/// have given a bundle: one that did not is left out too ("no bundle was given").
pub fn city_report_of(
    inputs: &[CountyBundle<'_>],
    from_ms: i64,
    to_ms: i64,
    expected: &[String],
) -> CityReport {
    let mut left_out = Vec::new();
    for county in expected {
        if !inputs.iter().any(|i| &i.bundle.node.county == county) {
            left_out.push(LeftOut {
                source: "-".into(),
                county: county.clone(),
                problems: vec!["no bundle was given for this county".into()],
                unchecked_notices: Vec::new(),
            });
        }
    }
    let mut holdings: Vec<Holding<'_>> = Vec::new();
    let mut seen = BTreeSet::new();
    for input in inputs {
        let county = input.bundle.node.county.clone();
        if !input.report.ok {
            left_out.push(LeftOut {
                source: input.source.clone(),
                county,
                problems: input
                    .report
                    .failures
                    .iter()
                    .map(|f| format!("{}: {}", f.item, f.problem))
                    .collect(),
                unchecked_notices: Vec::new(),
            });
            continue;
        }
        if !seen.insert(county.clone()) {
            left_out.push(LeftOut {
                source: input.source.clone(),
                county,
                problems: vec!["another bundle of the same county was given first".into()],
                unchecked_notices: Vec::new(),
            });
            continue;
        }
        holdings.push(read_holding(input));
    }
    for l in &mut left_out {
        l.unchecked_notices = exchanged_with(&holdings, &l.county, from_ms, to_ms);
    }
    let mut discrepancies = Vec::new();
    check_periods(&holdings, from_ms, to_ms, &mut discrepancies);
    match_notices(&holdings, from_ms, to_ms, &mut discrepancies);
    check_logs(&holdings, &mut discrepancies);
    discrepancies.sort();
    discrepancies.dedup();
    let mut counties: Vec<CountyFigures> = holdings
        .iter()
        .map(|h| figures(h.input, from_ms, to_ms))
        .collect();
    rank(&mut counties);
    CityReport {
        from_ms,
        to_ms,
        left_out,
        discrepancies,
        counties,
    }
}

fn header_of(signed: &str) -> Option<Header> {
    Header::decode(&STANDARD.decode(signed).ok()?).ok()
}

fn receipt_of(signed: &str, signature: &str) -> Option<SignedReceipt> {
    SignedReceipt::open(pb::SignedReceipt {
        receipt: STANDARD.decode(signed).ok()?,
        signature: STANDARD.decode(signature).ok()?,
    })
    .ok()
}

fn leaf_kind(name: &str) -> Option<LeafKind> {
    LeafKind::ALL.into_iter().find(|k| k.name() == name)
}

fn read_holding<'a>(input: &'a CountyBundle<'a>) -> Holding<'a> {
    let mut notices: BTreeMap<String, Held> = BTreeMap::new();
    for item in &input.bundle.items {
        match leaf_kind(&item.kind) {
            Some(k) if k.is_notice() => {
                if let Some(h) = header_of(&item.signed) {
                    let held = notices.entry(h.id.to_string()).or_default();
                    held.kind = h.kind.name().to_owned();
                    held.sender = h.sender.to_string();
                    held.recipient = h.recipient.to_string();
                }
            }
            Some(_) => {
                if let Some(r) = receipt_of(&item.signed, &item.signature)
                    && let Some(id) = r.receipt.notice_id
                {
                    let held = notices.entry(id.to_string()).or_default();
                    held.receipt = Some((item.signed.clone(), item.signature.clone()));
                    held.received_at_ms = Some(r.receipt.received_at_ms);
                    held.reply_due_at_ms = r.receipt.reply_due_at_ms;
                    held.accepted = r.receipt.outcome == Outcome::Accepted;
                }
            }
            None => {}
        }
    }
    for line in &input.report.deadlines {
        if let Some(held) = notices.get_mut(&line.notice_id) {
            held.due_at_ms = line.due_at_ms;
            held.outcome = Some(line.outcome);
            held.replied_at_ms = line.replied_at_ms;
        }
    }
    Holding {
        county: input.bundle.node.county.clone(),
        input,
        notices,
    }
}

/// The ids of the notices of `[from_ms, to_ms)` that the counted counties hold with `county`.
fn exchanged_with(holdings: &[Holding<'_>], county: &str, from_ms: i64, to_ms: i64) -> Vec<String> {
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for h in holdings.iter().filter(|h| h.county != county) {
        for (id, held) in &h.notices {
            let in_period = held
                .received_at_ms
                .is_some_and(|at| (from_ms..to_ms).contains(&at));
            if in_period && (held.sender == county || held.recipient == county) {
                ids.insert(id.clone());
            }
        }
    }
    ids.into_iter().collect()
}

/// A bundle that covers less than `[from_ms, to_ms)`, or only one peer, cannot give the county's
/// figures for the period: it is named.
fn check_periods(holdings: &[Holding<'_>], from_ms: i64, to_ms: i64, out: &mut Vec<Discrepancy>) {
    for h in holdings {
        let b = h.input.bundle;
        let short = b.from_ms > from_ms || b.to_ms < to_ms;
        if short || b.peer.is_some() {
            let mut detail = format!(
                "{}'s bundle covers {} to {}",
                h.county,
                format_cst(b.from_ms),
                format_cst(b.to_ms)
            );
            if let Some(peer) = &b.peer {
                detail.push_str(&format!(" and only its notices with {peer}"));
            }
            detail.push_str(&format!(
                ", not the whole period {} to {}: its figures and the notices it should hold outside \
                 what it covers cannot be checked",
                format_cst(from_ms),
                format_cst(to_ms)
            ));
            out.push(Discrepancy {
                kind: DiscrepancyKind::PeriodNotCovered,
                county: h.county.clone(),
                peer: b.peer.clone(),
                notice_id: None,
                detail,
            });
        }
    }
}

/// Whether `holding`'s bundle must hold a notice received at `at_ms` between `county` and its peer.
fn covers(holding: &Holding<'_>, peer: &str, at_ms: i64) -> bool {
    let b = holding.input.bundle;
    (b.from_ms..b.to_ms).contains(&at_ms)
        && at_ms <= b.created_at_ms
        && b.peer.as_deref().is_none_or(|p| p == peer)
}

fn match_notices(holdings: &[Holding<'_>], from_ms: i64, to_ms: i64, out: &mut Vec<Discrepancy>) {
    let by_county: BTreeMap<&str, &Holding<'_>> =
        holdings.iter().map(|h| (h.county.as_str(), h)).collect();
    for holding in holdings {
        for (id, held) in &holding.notices {
            let (Some(at), true) = (held.received_at_ms, held.accepted) else {
                continue;
            };
            if !(from_ms..to_ms).contains(&at) {
                continue;
            }
            let other = if held.sender == holding.county {
                &held.recipient
            } else {
                &held.sender
            };
            let Some(peer) = by_county.get(other.as_str()) else {
                continue;
            };
            let found = peer.notices.get(id);
            let Some(theirs) = found.filter(|t| t.receipt.is_some()) else {
                if covers(peer, &holding.county, at) {
                    out.push(Discrepancy {
                        kind: DiscrepancyKind::MissingNotice,
                        county: other.clone(),
                        peer: Some(holding.county.clone()),
                        notice_id: Some(id.clone()),
                        detail: format!(
                            "{} holds {} notice {id} ({} → {}, received {}), but {}'s bundle, which covers that time, does not",
                            holding.county,
                            held.kind,
                            held.sender,
                            held.recipient,
                            crate::clock::format_cst(at),
                            other
                        ),
                    });
                }
                continue;
            };
            // Each pair is compared once, from the sender's side.
            if held.sender != holding.county {
                continue;
            }
            compare(holding, held, peer, theirs, id, out);
        }
    }
}

fn compare(
    sender: &Holding<'_>,
    ours: &Held,
    recipient: &Holding<'_>,
    theirs: &Held,
    id: &str,
    out: &mut Vec<Discrepancy>,
) {
    let push = |out: &mut Vec<Discrepancy>, kind, detail: String| {
        out.push(Discrepancy {
            kind,
            county: recipient.county.clone(),
            peer: Some(sender.county.clone()),
            notice_id: Some(id.to_owned()),
            detail,
        })
    };
    if ours.receipt != theirs.receipt {
        let times = |h: &Held| {
            format!(
                "received {}, due {}",
                h.received_at_ms
                    .map_or("—".into(), crate::clock::format_cst),
                h.reply_due_at_ms
                    .map_or("—".into(), crate::clock::format_cst)
            )
        };
        push(
            out,
            DiscrepancyKind::DifferentReceipt,
            format!(
                "{} holds a receipt for notice {id} ({}) that differs from the one {} holds ({})",
                sender.county,
                times(ours),
                recipient.county,
                times(theirs)
            ),
        );
    }
    if ours.due_at_ms != theirs.due_at_ms {
        push(
            out,
            DiscrepancyKind::DifferentDueTime,
            format!(
                "a reply to notice {id} is due {} by {}'s bundle and {} by {}'s",
                ours.due_at_ms.map_or("—".into(), crate::clock::format_cst),
                sender.county,
                theirs
                    .due_at_ms
                    .map_or("—".into(), crate::clock::format_cst),
                recipient.county
            ),
        );
    }
    if let (Some(a), Some(b)) = (ours.outcome, theirs.outcome)
        && outcomes_differ(
            (a, ours.replied_at_ms, sender.input.bundle.created_at_ms),
            (
                b,
                theirs.replied_at_ms,
                recipient.input.bundle.created_at_ms,
            ),
        )
    {
        push(
            out,
            DiscrepancyKind::DifferentOutcome,
            format!(
                "notice {id}: {} by {}'s bundle, {} by {}'s",
                a.name(),
                sender.county,
                b.name(),
                recipient.county
            ),
        );
    }
}

/// Two outcomes differ when both are decided (on time or late) and differ, or when one side's
/// reply came before the other side's bundle was made and that side shows no reply.
fn outcomes_differ(
    a: (DeadlineOutcome, Option<i64>, i64),
    b: (DeadlineOutcome, Option<i64>, i64),
) -> bool {
    use DeadlineOutcome::{Late, OnTime, Open, Overdue};
    let decided = |o| matches!(o, OnTime | Late);
    let waiting = |o| matches!(o, Open | Overdue);
    if decided(a.0) && decided(b.0) {
        return a.0 != b.0;
    }
    let missed = |x: (DeadlineOutcome, Option<i64>, i64),
                  y: (DeadlineOutcome, Option<i64>, i64)| {
        decided(x.0) && waiting(y.0) && x.1.is_some_and(|replied| replied < y.2)
    };
    missed(a, b) || missed(b, a)
}

/// The body of a signed note: its text up to the blank line.
fn checkpoint_of(note: &str) -> Option<Checkpoint> {
    let (body, _) = note.split_once("\n\n")?;
    Checkpoint::parse_body(&format!("{body}\n")).ok()
}

/// Of one county's log: size → root → who holds a checkpoint with them.
type CheckpointsSeen = BTreeMap<u64, BTreeMap<[u8; 32], BTreeSet<String>>>;

fn check_logs(holdings: &[Holding<'_>], out: &mut Vec<Discrepancy>) {
    let mut seen: BTreeMap<String, CheckpointsSeen> = BTreeMap::new();
    let mut add = |county: &str, c: Checkpoint, holder: &str| {
        let Some(origin_county) = crate::checkpoint::county_of_origin(&c.origin) else {
            return;
        };
        if origin_county.as_str() != county {
            return;
        }
        seen.entry(county.to_owned())
            .or_default()
            .entry(c.size)
            .or_default()
            .entry(c.root)
            .or_default()
            .insert(holder.to_owned());
    };
    for h in holdings {
        let b = h.input.bundle;
        if let Some(c) = checkpoint_of(&b.checkpoint) {
            add(&h.county, c, &format!("{}'s bundle", h.county));
        }
        for e in &b.earlier_checkpoints {
            if let Some(c) = checkpoint_of(&e.checkpoint) {
                add(&h.county, c, &format!("{}'s bundle", h.county));
            }
        }
        for item in &b.items {
            if leaf_kind(&item.kind).is_some_and(|k| !k.is_notice())
                && let Some(r) = receipt_of(&item.signed, &item.signature)
                && let Some(note) = &r.receipt.checkpoint
                && let Some(c) = checkpoint_of(note)
            {
                add(
                    r.receipt.recipient.as_str(),
                    c,
                    &format!("{}'s receipts", h.county),
                );
            }
        }
    }
    for (county, sizes) in seen {
        for (size, roots) in sizes {
            if roots.len() < 2 {
                continue;
            }
            let holders: Vec<String> = roots
                .iter()
                .map(|(root, who)| {
                    format!(
                        "root {}… in {}",
                        &hex::encode(root)[..16],
                        who.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                })
                .collect();
            out.push(Discrepancy {
                kind: DiscrepancyKind::InconsistentLog,
                county: county.clone(),
                peer: None,
                notice_id: None,
                detail: format!(
                    "{county}'s log has {} different checkpoints of size {size}: {}",
                    roots.len(),
                    holders.join("; ")
                ),
            });
        }
    }
}

const DAY_MS: f64 = 86_400_000.0;

/// One county's figures from its own bundle's deadline lines with a receipt time in the period.
fn figures(input: &CountyBundle<'_>, from_ms: i64, to_ms: i64) -> CountyFigures {
    let mut f = CountyFigures {
        county: input.bundle.node.county.clone(),
        name: input.bundle.node.name.clone(),
        ..CountyFigures::default()
    };
    let mut reply_times = Vec::new();
    for line in &input.report.deadlines {
        if !(from_ms..to_ms).contains(&line.received_at_ms) {
            continue;
        }
        if line.direction == Direction::Sent {
            *f.sent.entry(line.kind.clone()).or_default() += 1;
            continue;
        }
        *f.received.entry(line.kind.clone()).or_default() += 1;
        match line.outcome {
            DeadlineOutcome::NoReplyRequired => continue,
            DeadlineOutcome::OnTime => f.on_time += 1,
            DeadlineOutcome::Late => f.late += 1,
            DeadlineOutcome::Overdue => f.overdue += 1,
            DeadlineOutcome::Open => f.open += 1,
            DeadlineOutcome::Unknown => f.unknown += 1,
        }
        f.replies_owed += 1;
        if let Some(replied) = line.replied_at_ms {
            reply_times.push(replied - line.received_at_ms);
        }
    }
    let decided = f.on_time + f.late + f.overdue;
    if decided > 0 {
        f.on_time_rate = Some(f.on_time as f64 / decided as f64);
    }
    f.median_reply_days = median(&mut reply_times).map(|ms| ms / DAY_MS);
    f
}

/// The median, the mean of the two middle values for an even count.
fn median(values: &mut [i64]) -> Option<f64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2] as f64),
        _ => Some((values[n / 2 - 1] as f64 + values[n / 2] as f64) / 2.0),
    }
}

/// Orders the counties best on-time rate first (then by county code) and numbers the ranks;
/// equal rates share a rank, counties without a rate come last, unranked.
fn rank(counties: &mut [CountyFigures]) {
    counties.sort_by(|a, b| match (a.on_time_rate, b.on_time_rate) {
        (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| a.county.cmp(&b.county)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.county.cmp(&b.county),
    });
    let mut last: Option<(f64, usize)> = None;
    for (i, c) in counties.iter_mut().enumerate() {
        let Some(rate) = c.on_time_rate else { continue };
        let r = match last {
            Some((prev, r)) if prev == rate => r,
            _ => i + 1,
        };
        c.rank = Some(r);
        last = Some((rate, r));
    }
}

/// The keys the directory gives `county`.
fn keys_of<'a>(
    federation: &'a Federation,
    county: &'a str,
) -> impl Iterator<Item = &'a crate::trust::PeerKey> {
    federation
        .counties
        .iter()
        .filter(move |c| c.code.as_str() == county)
        .flat_map(|c| &c.keys)
}

/// What in a bundle the city's directory does not vouch for: a key of `keys` not listed for its
/// county, or a notice or receipt signed with a key the directory does not give its signer at
/// the time it signed (issued-at, or received-at for a receipt). The city report leaves such a
/// bundle out as not verifying.
pub fn keys_against_directory(bundle: &Bundle, federation: &Federation) -> Vec<Failure> {
    let mut failures = Vec::new();
    let node = &bundle.node.county;
    if !federation.counties.iter().any(|c| c.code.as_str() == node) {
        failures.push(Failure {
            item: "node".into(),
            problem: format!("county {node} is not in the city's directory"),
        });
    }
    for (i, k) in bundle.keys.iter().enumerate() {
        if !keys_of(federation, &k.county)
            .any(|p| hex::encode(p.key.as_bytes()) == k.public_key.to_lowercase())
        {
            failures.push(Failure {
                item: format!("keys[{i}]"),
                problem: format!(
                    "the key {}… is not one of county {}'s keys in the city's directory",
                    k.public_key.chars().take(16).collect::<String>(),
                    k.county
                ),
            });
        }
    }
    for item in &bundle.items {
        let signed = match leaf_kind(&item.kind) {
            Some(k) if k.is_notice() => header_of(&item.signed)
                .map(|h| (h.sender, h.key_id, h.issued_at_ms, h.id.to_string())),
            Some(_) => receipt_of(&item.signed, &item.signature).map(|r| {
                let r = r.receipt;
                let id = r.notice_id.map_or("?".into(), |id| id.to_string());
                (r.recipient, r.key_id, r.received_at_ms, id)
            }),
            None => None,
        };
        let Some((signer, key_id, at_ms, id)) = signed else {
            continue;
        };
        let vouched = keys_of(federation, signer.as_str()).any(|p| {
            crate::notice::KeyId::of(&p.key) == key_id
                && p.valid_from_ms <= at_ms
                && p.valid_until_ms.is_none_or(|until| at_ms < until)
        });
        if !vouched {
            failures.push(Failure {
                item: format!("leaf {} ({} {id})", item.leaf_index, item.kind),
                problem: format!(
                    "signed by {signer} with key {key_id} at {}, which the city's directory does not give {signer} at that time",
                    crate::clock::format_cst(at_ms)
                ),
            });
        }
    }
    failures
}
