//! What the verifier found: the report's types, and its text for a person.

use std::fmt::Write as _;

use serde::Serialize;

use crate::audit::BundleNode;
use crate::checkpoint::NoteVerifierKey;
use crate::clock::format_cst;
use crate::tlog::LeafKind;

use super::{Verifier, cut, window};

/// One problem the verifier found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What is wrong: `leaf 17 (received_notice 019c…)`, `checkpoint`, `earlier_checkpoints[0]`,
    /// `keys[2]`, `policy`, `calendars[0]`, `node` or `bundle`.
    pub item: String,
    /// Why, for a person.
    pub problem: String,
}

/// Which way a notice went, seen from the node whose log it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Received,
    Sent,
}

impl Direction {
    /// `received` or `sent`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Sent => "sent",
        }
    }
}

/// How a notice fared against its reply deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineOutcome {
    /// The earliest reply was issued before the due time.
    OnTime,
    /// The earliest reply was issued at or after the due time.
    Late,
    /// No reply yet, and the bundle was made before the due time.
    Open,
    /// No reply, and the due time had passed when the bundle was made.
    Overdue,
    /// The kind needs no reply.
    NoReplyRequired,
    /// The due time cannot be computed (e.g. no calendar for a year it depends on), and the receipt
    /// states none.
    Unknown,
}

impl DeadlineOutcome {
    /// The snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::OnTime => "on_time",
            Self::Late => "late",
            Self::Open => "open",
            Self::Overdue => "overdue",
            Self::NoReplyRequired => "no_reply_required",
            Self::Unknown => "unknown",
        }
    }
}

/// A delivered notice's deadline, recomputed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadlineLine {
    pub notice_id: String,
    /// Snake-case kind name.
    pub kind: String,
    pub urgent: bool,
    pub direction: Direction,
    /// The other county.
    pub peer: String,
    /// The receipt's received-at time, from which the period counts.
    pub received_at_ms: i64,
    /// The due time the bundle's policy and calendars give (or, when they cannot give one, the
    /// receipt's); `None` when no reply is required or the due time is unknown.
    pub due_at_ms: Option<i64>,
    /// The time of the earliest reply in the bundle accepted by a receipt in it (its issued-at,
    /// or its receipt's `existed_by_ms` less the allowed skew if that is later).
    pub replied_at_ms: Option<i64>,
    pub outcome: DeadlineOutcome,
}

/// A key of the bundle and what it was used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportKey {
    pub county: String,
    /// The liaison key id (16 hex digits); `None` when the key is not a valid public key.
    pub key_id: Option<String>,
    /// For the node's own keys, the 8-hex-digit note key id that starts its checkpoint signatures.
    pub note_key_id: Option<String>,
    pub valid_from_ms: Option<i64>,
    pub valid_until_ms: Option<i64>,
    /// Notice and receipt signatures that verified with it.
    pub signatures: u64,
    /// Checkpoints (the bundle's, earlier ones, those in issued receipts) that opened with it.
    pub checkpoints: u64,
}

/// How much was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    /// Items (leaves given in full) checked.
    pub items: usize,
    pub notices: usize,
    pub receipts: usize,
    /// Leaves given only by hash.
    pub omitted: usize,
    pub earlier_checkpoints: usize,
}

/// The city-signed directory whose keys the signatures were checked with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinnedDirectory {
    pub city: String,
    pub serial: u64,
    pub issued_at_ms: i64,
}

/// What the verifier found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// No failures.
    pub ok: bool,
    pub format: String,
    pub node: BundleNode,
    pub created_at_ms: i64,
    pub from_ms: i64,
    pub to_ms: i64,
    pub peer: Option<String>,
    pub redacted: bool,
    /// The size of the bundle's checkpoint, if it opened with a node key.
    pub checkpoint_size: Option<u64>,
    /// Its root hash, hex.
    pub checkpoint_root: Option<String>,
    pub first_leaf: u64,
    pub last_leaf: u64,
    pub keys: Vec<ReportKey>,
    /// The directory the keys were checked against; `None`: taken from the bundle itself.
    pub directory: Option<PinnedDirectory>,
    /// The latest cosignature of the bundle's checkpoint by another county that verifies
    /// (county code, Unix ms); `None`: no other county cosigned it, and the creation time rests
    /// on the node's clock alone.
    pub cosigned: Option<(String, i64)>,
    pub counts: Counts,
    pub failures: Vec<Failure>,
    pub deadlines: Vec<DeadlineLine>,
    /// What a person should know that is not a failure, e.g. a notice not delivered.
    pub notes: Vec<String>,
}

impl Verifier<'_> {
    pub(super) fn into_report(mut self) -> AuditReport {
        let b = self.bundle;
        self.failures.sort_by_key(|(order, _)| *order);
        let failures: Vec<Failure> = self.failures.into_iter().map(|(_, f)| f).collect();
        let node = self.node;
        let keys = b
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let parsed = self.keys.get(i).and_then(Option::as_ref);
                let note_key_id = match (parsed, node) {
                    (Some(p), Some(node)) if p.county == node.as_str() => {
                        NoteVerifierKey::for_county(node, p.key)
                            .ok()
                            .map(|v| format!("{:08x}", v.key_id()))
                    }
                    _ => None,
                };
                ReportKey {
                    county: k.county.clone(),
                    key_id: parsed.map(|p| p.id.to_string()),
                    note_key_id,
                    valid_from_ms: k.valid_from_ms,
                    valid_until_ms: k.valid_until_ms,
                    signatures: self.signature_uses.get(i).copied().unwrap_or(0),
                    checkpoints: self.checkpoint_uses.get(i).copied().unwrap_or(0),
                }
            })
            .collect();
        let counts = Counts {
            items: b.items.len(),
            notices: self
                .items
                .iter()
                .filter(|i| i.kind.is_some_and(LeafKind::is_notice))
                .count(),
            receipts: self
                .items
                .iter()
                .filter(|i| i.kind.is_some_and(|k| !k.is_notice()))
                .count(),
            omitted: b.omitted.len(),
            earlier_checkpoints: b.earlier_checkpoints.len(),
        };
        AuditReport {
            ok: failures.is_empty(),
            format: b.format.clone(),
            node: b.node.clone(),
            created_at_ms: b.created_at_ms,
            from_ms: b.from_ms,
            to_ms: b.to_ms,
            peer: b.peer.clone(),
            redacted: b.redacted,
            checkpoint_size: self.checkpoint.as_ref().map(|c| c.size),
            checkpoint_root: self.checkpoint.as_ref().map(|c| hex::encode(c.root)),
            first_leaf: b.first_leaf,
            last_leaf: b.last_leaf,
            keys,
            directory: self.directory.map(|d| PinnedDirectory {
                city: d.federation.city.clone(),
                serial: d.serial,
                issued_at_ms: d.issued_at_ms,
            }),
            cosigned: self.cosigned,
            counts,
            failures,
            deadlines: self.deadlines,
            notes: self.notes,
        }
    }
}

impl AuditReport {
    /// The report for a person: what the bundle covers, the verdict, every problem, the deadline
    /// table, notes and counts.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let node = &self.node;
        let _ = writeln!(
            out,
            "Audit bundle of {} {} (log {})",
            node.county, node.name, node.origin
        );
        let scope = match &self.peer {
            Some(peer) => format!("notices with {peer} only"),
            None => "notices with all peers".to_owned(),
        };
        let _ = writeln!(
            out,
            "Period:      {} to {} ({scope})",
            format_cst(self.from_ms),
            format_cst(self.to_ms)
        );
        let _ = writeln!(
            out,
            "Payloads:    {}",
            if self.redacted {
                "redacted"
            } else {
                "included"
            }
        );
        let _ = writeln!(out, "Made:        {}", format_cst(self.created_at_ms));
        match (self.checkpoint_size, &self.checkpoint_root) {
            (Some(size), Some(root)) => {
                let _ = writeln!(out, "Checkpoint:  {size} leaves, root {root}");
            }
            _ => {
                let _ = writeln!(out, "Checkpoint:  did not open");
            }
        }
        if self.last_leaf.checked_add(1) == Some(self.first_leaf) {
            let _ = writeln!(
                out,
                "Leaves:      none in the period (an empty range before leaf {})",
                self.first_leaf
            );
        } else {
            let _ = writeln!(
                out,
                "Leaves:      {} to {}",
                self.first_leaf, self.last_leaf
            );
        }
        match &self.directory {
            Some(d) => {
                let _ = writeln!(
                    out,
                    "Trust:       keys checked against the directory of city {}, serial {}, signed {}",
                    d.city,
                    d.serial,
                    format_cst(d.issued_at_ms)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "Trust:       keys taken from the bundle itself, as the exporter supplied them; \
                     not checked against the city's directory (--directory)"
                );
            }
        }
        match &self.cosigned {
            Some((county, at_ms)) => {
                let _ = writeln!(
                    out,
                    "Cosigned:    {county} cosigned the checkpoint at {}, which bounds the creation time",
                    format_cst(*at_ms)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "Cosigned:    no other county cosigned the checkpoint; the creation time rests on the node's clock alone"
                );
            }
        }
        let _ = writeln!(out, "Keys:");
        for k in &self.keys {
            let id = k.key_id.as_deref().unwrap_or("(invalid key)");
            let note = k
                .note_key_id
                .as_ref()
                .map(|n| format!(", note key id {n}"))
                .unwrap_or_default();
            let mut uses = plural(k.signatures, "signature");
            if k.checkpoints > 0 {
                let _ = write!(uses, ", {}", plural(k.checkpoints, "checkpoint"));
            }
            let _ = writeln!(
                out,
                "  {:<6}  {id}{note}  valid {}  used for {uses}",
                cut(&k.county),
                window(k.valid_from_ms, k.valid_until_ms)
            );
        }
        out.push('\n');
        if self.ok {
            let _ = writeln!(out, "VERIFIED");
        } else {
            let n = self.failures.len();
            let _ = writeln!(
                out,
                "FAILED: {n} {}",
                if n == 1 { "problem" } else { "problems" }
            );
            for f in &self.failures {
                let _ = writeln!(out, "  {}: {}", f.item, f.problem);
            }
        }
        out.push('\n');
        let _ = writeln!(out, "Deadlines:");
        if self.deadlines.is_empty() {
            let _ = writeln!(out, "  (no delivered notices)");
        } else {
            let _ = writeln!(
                out,
                "  {:<36}  {:<29}  {:<8}  {:<6}  {:<23}  {:<23}  {:<23}  outcome",
                "notice", "kind", "way", "peer", "received", "due", "replied"
            );
            for d in &self.deadlines {
                let kind = if d.urgent {
                    format!("{} (urgent)", d.kind)
                } else {
                    d.kind.clone()
                };
                let _ = writeln!(
                    out,
                    "  {:<36}  {:<29}  {:<8}  {:<6}  {:<23}  {:<23}  {:<23}  {}",
                    d.notice_id,
                    kind,
                    d.direction.name(),
                    d.peer,
                    format_cst(d.received_at_ms),
                    d.due_at_ms.map_or("-".to_owned(), format_cst),
                    d.replied_at_ms.map_or("-".to_owned(), format_cst),
                    d.outcome.name()
                );
            }
        }
        if !self.notes.is_empty() {
            out.push('\n');
            let _ = writeln!(out, "Notes:");
            for note in &self.notes {
                let _ = writeln!(out, "  - {note}");
            }
        }
        out.push('\n');
        let c = &self.counts;
        let _ = writeln!(
            out,
            "Checked {} ({}, {}), {}, {}.",
            plural(c.items as u64, "item"),
            plural(c.notices as u64, "notice"),
            plural(c.receipts as u64, "receipt"),
            plural(c.omitted as u64, "omitted leaf"),
            plural(c.earlier_checkpoints as u64, "earlier checkpoint")
        );
        out
    }
}

/// `1 thing`, `2 things`; `leaf` becomes `leaves`.
pub(super) fn plural(n: u64, thing: &str) -> String {
    match (n, thing.strip_suffix("leaf")) {
        (1, _) => format!("1 {thing}"),
        (_, Some(stem)) => format!("{n} {stem}leaves"),
        _ => format!("{n} {thing}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{self, NODE, PEER};
    use super::super::verify_bundle;
    use super::*;

    #[test]
    fn failures_sort_bundle_first_then_checkpoints_then_by_leaf() {
        let bundle = fixture::bundle();
        let mut v = Verifier::new(&bundle, None);
        v.fail_leaf(3, "leaf 3", "c");
        v.fail((1, 1), "earlier_checkpoints[0]", "b");
        v.fail_leaf(1, "leaf 1", "d");
        v.fail_bundle("bundle", "a");
        v.fail((1, 0), "checkpoint", "e");
        let report = v.into_report();
        let items: Vec<&str> = report.failures.iter().map(|f| f.item.as_str()).collect();
        assert_eq!(
            items,
            [
                "bundle",
                "checkpoint",
                "earlier_checkpoints[0]",
                "leaf 1",
                "leaf 3"
            ]
        );
        assert!(!report.ok);
    }

    #[test]
    fn the_report_counts_what_each_key_was_used_for() {
        let report = verify_bundle(&fixture::bundle());
        let node = &report.keys[0];
        let peer = &report.keys[1];
        assert_eq!((node.county.as_str(), peer.county.as_str()), (NODE, PEER));
        // The node signed the contact letter and the receipt for the reply, and the bundle's
        // checkpoint, the earlier one and the one in its receipt.
        assert_eq!((node.signatures, node.checkpoints), (2, 3));
        // 610603 signed its receipt and its reply.
        assert_eq!((peer.signatures, peer.checkpoints), (2, 0));
        assert_eq!(node.key_id, Some(fixture::node_key().key_id().to_string()));
        assert!(node.note_key_id.as_ref().is_some_and(|id| id.len() == 8));
        assert_eq!(peer.note_key_id, None);
        assert_eq!(
            report.counts,
            Counts {
                items: 4,
                notices: 2,
                receipts: 2,
                omitted: 0,
                earlier_checkpoints: 1
            }
        );
        assert_eq!(report.checkpoint_size, Some(4));
    }

    #[test]
    fn the_text_gives_the_verdict_and_the_counts() {
        let text = verify_bundle(&fixture::bundle()).to_text();
        assert!(text.contains("\nVERIFIED\n"), "{text}");
        assert!(text.contains("Checkpoint:  4 leaves, root "), "{text}");
        assert!(
            text.ends_with(
                "Checked 4 items (2 notices, 2 receipts), 0 omitted leaves, 1 earlier checkpoint.\n"
            ),
            "{text}"
        );
        assert!(!text.contains("Notes:"), "{text}");
    }

    #[test]
    fn the_text_lists_every_failure_under_its_count() {
        let mut bundle = fixture::bundle();
        bundle.first_leaf = 1;
        bundle.sign_claims(&fixture::node_key());
        let text = verify_bundle(&bundle).to_text();
        assert!(
            text.contains(
                "FAILED: 2 problems\n  leaf_before: missing: first_leaf is 1, so the bundle must \
                 show leaf 0 to prove that no leaf of the period was logged before its range\n  \
                 leaf 0 (items[0]): outside the bundle's leaf range 1 to 3\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn plurals_of_leaf_are_leaves() {
        assert_eq!(plural(1, "omitted leaf"), "1 omitted leaf");
        assert_eq!(plural(0, "omitted leaf"), "0 omitted leaves");
        assert_eq!(plural(2, "item"), "2 items");
        assert_eq!(plural(1, "item"), "1 item");
    }

    #[test]
    fn names_are_snake_case_as_in_the_json() {
        assert_eq!(DeadlineOutcome::NoReplyRequired.name(), "no_reply_required");
        assert_eq!(
            serde_json::to_value(DeadlineOutcome::NoReplyRequired).unwrap(),
            "no_reply_required"
        );
        assert_eq!(Direction::Received.name(), "received");
        assert_eq!(serde_json::to_value(Direction::Sent).unwrap(), "sent");
    }
}
