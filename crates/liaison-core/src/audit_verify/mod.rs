//! The offline verifier of audit bundles: with nothing but the bundle, it checks every signature
//! (strict Ed25519), every payload digest, the inclusion of every leaf in the node's signed
//! checkpoint, the consistency of every earlier checkpoint with it, that each receipt answers its
//! envelope, and it recomputes every reply deadline and whether it was met.
//!
//! docs/audit-format.md defines the bundle and every check, byte for byte. The verifier never
//! stops at the first problem: every failure names the item it concerns (`leaf 17
//! (received_notice 019c…)`, `earlier_checkpoints[0]`, `keys[2]`, …) and the rest is still
//! checked. It never panics, whatever the bundle holds.
//!
//! `parse` reads a bundle's text; `inputs` checks the bundle's own fields (node, period, keys,
//! policy, calendars); `claims` the node's signature over what the bundle claims to be; `log` the checkpoints, the leaf range and every inclusion proof; `items`
//! each notice and receipt on its own (signature, payload, direction); `links` the receipts against
//! their notices; `deadlines` recomputes every reply deadline; `report` says what was found.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::VerifyingKey;

use crate::audit::Bundle;
use crate::calendar::HolidayCalendar;
use crate::checkpoint::Checkpoint;
use crate::clock::format_cst;
use crate::deadline::DuePolicy;
use crate::directory::SignedDirectory;
use crate::merkle::Hash;
use crate::notice::{Header, KeyId, NoticeId, envelope_sha256};
use crate::receipt::Receipt;
use crate::tlog::LeafKind;
use crate::{CountyCode, NoticeKind};

mod claims;
mod complete;
mod cosigned;
mod deadlines;
mod inputs;
mod items;
mod links;
mod log;
mod parse;
mod report;

#[cfg(test)]
mod fixture;

pub use parse::{BundleError, parse_bundle};
pub use report::{
    AuditReport, Counts, DeadlineLine, DeadlineOutcome, Direction, Failure, PinnedDirectory,
    ReportKey,
};

/// Text taken from the bundle is cut to this many characters in messages.
const MAX_QUOTED: usize = 64;

/// Checks everything a bundle says, with the keys the bundle itself carries; see
/// docs/audit-format.md. Never panics.
pub fn verify_bundle(bundle: &Bundle) -> AuditReport {
    run(Verifier::new(bundle, None))
}

/// Checks everything a bundle says, every signature with the keys and windows of the city-signed
/// `directory` (already opened with the city's key): a bundle key the directory does not give
/// that county, or gives with another window, is a failure and is not used.
pub fn verify_bundle_with_directory(bundle: &Bundle, directory: &SignedDirectory) -> AuditReport {
    run(Verifier::new(bundle, Some(directory)))
}

fn run(mut v: Verifier<'_>) -> AuditReport {
    v.check_header();
    v.load_keys();
    v.check_claims();
    v.load_policy();
    v.load_calendars();
    v.check_checkpoints();
    v.check_cosigned_time();
    v.check_range();
    v.decode_items();
    v.check_items();
    v.check_omitted();
    v.check_completeness();
    v.check_links();
    v.check_deadlines();
    v.into_report()
}

/// A parsed entry of `keys`.
struct Key {
    county: String,
    key: VerifyingKey,
    id: KeyId,
    valid_from_ms: Option<i64>,
    valid_until_ms: Option<i64>,
}

impl Key {
    fn valid_at(&self, at_ms: i64) -> bool {
        self.valid_from_ms.is_none_or(|from| from <= at_ms)
            && self.valid_until_ms.is_none_or(|until| at_ms < until)
    }
}

/// What an item's signed bytes say.
enum Content {
    Notice(Header),
    Receipt(Receipt),
    Unreadable,
}

/// An item of the bundle, decoded as far as it goes.
struct Item {
    leaf: u64,
    kind: Option<LeafKind>,
    signed: Option<Vec<u8>>,
    signature: Option<Vec<u8>>,
    content: Content,
    label: String,
}

impl Item {
    fn header(&self) -> Option<&Header> {
        match &self.content {
            Content::Notice(h) => Some(h),
            _ => None,
        }
    }

    fn receipt(&self) -> Option<&Receipt> {
        match &self.content {
            Content::Receipt(r) => Some(r),
            _ => None,
        }
    }

    /// The envelope digest of a notice item.
    fn envelope_digest(&self) -> Option<[u8; 32]> {
        match (&self.content, &self.signed, &self.signature) {
            (Content::Notice(_), Some(signed), Some(signature)) => {
                Some(envelope_sha256(signed, signature))
            }
            _ => None,
        }
    }
}

/// Where a failure sorts in the report: bundle-level first, then checkpoints, then by leaf.
type Order = (u8, u64);

struct Verifier<'a> {
    bundle: &'a Bundle,
    /// The city-signed directory the keys are pinned to; `None`: the bundle's keys are taken as
    /// they are.
    directory: Option<&'a SignedDirectory>,
    failures: Vec<(Order, Failure)>,
    notes: Vec<String>,
    node: Option<CountyCode>,
    peer: Option<&'a str>,
    keys: Vec<Option<Key>>,
    signature_uses: Vec<u64>,
    checkpoint_uses: Vec<u64>,
    policy: DuePolicy,
    /// Kinds whose rule in the bundle is invalid: their deadlines cannot be recomputed.
    broken_rules: BTreeSet<NoticeKind>,
    /// Other counties' rules from `peer_policies`, with their invalid kinds.
    peer_policies: BTreeMap<CountyCode, (DuePolicy, BTreeSet<NoticeKind>)>,
    calendar: HolidayCalendar,
    checkpoint: Option<Checkpoint>,
    /// (size, root) of every checkpoint proven consistent with the bundle's, the bundle's included.
    proven: Vec<(u64, Hash)>,
    items: Vec<Item>,
    /// The first notice item of each kind and id, and of each kind and envelope digest.
    by_id: BTreeMap<(LeafKind, NoticeId), usize>,
    by_digest: BTreeMap<(LeafKind, [u8; 32]), usize>,
    /// The notice items that name a notice id in `in_reply_to`.
    replies_to: BTreeMap<NoticeId, Vec<usize>>,
    /// The receipt item that answers each notice item, by item index.
    receipt_of: BTreeMap<usize, usize>,
    /// The latest verifying cosignature of the bundle's checkpoint by another county.
    cosigned: Option<(String, i64)>,
    deadlines: Vec<DeadlineLine>,
}

impl<'a> Verifier<'a> {
    fn new(bundle: &'a Bundle, directory: Option<&'a SignedDirectory>) -> Self {
        Self {
            bundle,
            directory,
            failures: Vec::new(),
            notes: Vec::new(),
            node: None,
            peer: bundle.peer.as_deref(),
            keys: Vec::new(),
            signature_uses: Vec::new(),
            checkpoint_uses: Vec::new(),
            policy: DuePolicy::default(),
            broken_rules: BTreeSet::new(),
            peer_policies: BTreeMap::new(),
            calendar: HolidayCalendar::new(),
            checkpoint: None,
            proven: Vec::new(),
            items: Vec::new(),
            by_id: BTreeMap::new(),
            by_digest: BTreeMap::new(),
            replies_to: BTreeMap::new(),
            receipt_of: BTreeMap::new(),
            cosigned: None,
            deadlines: Vec::new(),
        }
    }

    fn fail(&mut self, order: Order, item: impl Into<String>, problem: impl Into<String>) {
        self.failures.push((
            order,
            Failure {
                item: item.into(),
                problem: problem.into(),
            },
        ));
    }

    fn fail_bundle(&mut self, item: impl Into<String>, problem: impl Into<String>) {
        self.fail((0, 0), item, problem);
    }

    fn fail_leaf(&mut self, leaf: u64, item: impl Into<String>, problem: impl Into<String>) {
        self.fail((2, leaf), item, problem);
    }

    fn node_county(&self) -> &'a str {
        &self.bundle.node.county
    }
}

fn window(from: Option<i64>, until: Option<i64>) -> String {
    match (from, until) {
        (None, None) => "at all times".to_owned(),
        (Some(f), None) => format!("from {}", format_cst(f)),
        (None, Some(u)) => format!("until {}", format_cst(u)),
        (Some(f), Some(u)) => format!("from {} until {}", format_cst(f), format_cst(u)),
    }
}

/// Text from the bundle, cut short for a message.
fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(MAX_QUOTED).collect();
        short.push('…');
        short
    }
}

/// Text from the bundle, quoted and cut short for a message.
fn quote(text: &str) -> String {
    format!("{:?}", cut(text))
}

#[cfg(test)]
mod tests {
    use super::fixture::{self, node_key};
    use super::*;

    #[test]
    fn the_fixture_bundle_verifies_with_nothing_noted() {
        let report = verify_bundle(&fixture::bundle());
        assert_eq!(report.failures, Vec::new(), "{}", report.to_text());
        assert!(report.ok);
        assert_eq!(report.notes, Vec::<String>::new());
    }

    #[test]
    fn a_key_is_valid_from_its_start_and_no_longer_at_its_end() {
        let key = node_key().verifying_key();
        let key = Key {
            county: fixture::NODE.into(),
            key,
            id: KeyId::of(&key),
            valid_from_ms: Some(100),
            valid_until_ms: Some(200),
        };
        assert!(!key.valid_at(99));
        assert!(key.valid_at(100));
        assert!(key.valid_at(199));
        assert!(!key.valid_at(200));
        let open = Key {
            valid_from_ms: None,
            valid_until_ms: None,
            ..key
        };
        assert!(open.valid_at(i64::MIN) && open.valid_at(i64::MAX));
    }

    #[test]
    fn quoted_text_is_cut_at_64_characters() {
        let long = "县".repeat(MAX_QUOTED + 1);
        assert_eq!(cut(&long), format!("{}…", "县".repeat(MAX_QUOTED)));
        assert_eq!(cut(&long[..3 * MAX_QUOTED]), "县".repeat(MAX_QUOTED));
        assert_eq!(quote("a\"b"), r#""a\"b""#);
    }

    #[test]
    fn a_window_names_only_the_ends_it_has() {
        assert_eq!(window(None, None), "at all times");
        assert_eq!(window(Some(0), None), "from 1970-01-01 08:00:00 CST");
        assert_eq!(window(None, Some(0)), "until 1970-01-01 08:00:00 CST");
        assert_eq!(
            window(Some(0), Some(0)),
            "from 1970-01-01 08:00:00 CST until 1970-01-01 08:00:00 CST"
        );
    }

    #[test]
    fn failures_name_the_items_they_concern_and_the_rest_is_still_checked() {
        let mut bundle = fixture::bundle();
        bundle.node.origin = "liaison/county/000000".into();
        bundle.items[fixture::REPLY as usize].payload = None;
        bundle.items[fixture::REPLY as usize].payload_salt = None;
        let report = verify_bundle(&bundle);
        assert!(!fixture::problems(&report, "node").is_empty());
        assert_eq!(
            fixture::leaf_problems(&report, fixture::REPLY),
            ["the payload is missing, but the bundle is not redacted"]
        );
    }
}
