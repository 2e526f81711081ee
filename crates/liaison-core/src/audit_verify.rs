//! The offline verifier of audit bundles: with nothing but the bundle, it checks every signature
//! (strict Ed25519), every payload digest, the inclusion of every leaf in the node's signed
//! checkpoint, the consistency of every earlier checkpoint with it, that each receipt answers its
//! envelope, and it recomputes every reply deadline and whether it was met.
//!
//! docs/audit-format.md defines the bundle and every check, byte for byte. The verifier never
//! stops at the first problem: every failure names the item it concerns (`leaf 17
//! (received_notice 019c…)`, `earlier_checkpoints[0]`, `keys[2]`, …) and the rest is still
//! checked. It never panics, whatever the bundle holds.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::VerifyingKey;
use liaison_proto::v1 as pb;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::{BUNDLE_FORMAT, Bundle, BundleNode};
use crate::body::NoticeBody;
use crate::calendar::HolidayCalendar;
use crate::checkpoint::{
    Checkpoint, CheckpointError, NoteError, NoteVerifierKey, open_signed_checkpoint, origin_for,
};
use crate::clock::format_cst;
use crate::deadline::{DeadlineState, DuePolicy, ReplyRule, deadline_state};
use crate::merkle::{Hash, MerkleError, leaf_hash, verify_consistency, verify_inclusion};
use crate::notice::{
    Header, KeyId, NOTICE_SIGNING_PREFIX, NoticeId, envelope_sha256, verify_prefixed,
};
use crate::receipt::{Outcome, RECEIPT_SIGNING_PREFIX, Receipt, SignedReceipt};
use crate::tlog::{LeafKind, notice_leaf, receipt_leaf};
use crate::{CountyCode, NoticeKind};

/// Missing leaves are named one by one up to this many in a row; a longer gap is one failure.
const MAX_GAP_NAMED: u64 = 10;
/// Text taken from the bundle is cut to this many characters in messages.
const MAX_QUOTED: usize = 64;

/// Why a text is not a bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BundleError {
    /// Where the problem is: 1-based line and column of the text (0 when not known).
    pub line: usize,
    pub column: usize,
    /// The JSON path of the member at fault, e.g. `items[2].leaf_index`; empty at the top.
    pub path: String,
    /// The whole message, with line, column and path.
    pub message: String,
}

/// Reads a bundle from its JSON text. `format` must be [`BUNDLE_FORMAT`], and every member of
/// docs/audit-format.md must be present with its type and no other member may be; an error names
/// the line, column and member at fault. Whether the bundle is true is for [`verify_bundle`] to say.
pub fn parse_bundle(text: &str) -> Result<Bundle, BundleError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let result = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| {
            let path = e.path().to_string();
            (path, e.into_inner())
        })
        .and_then(|bundle: Bundle| {
            deserializer
                .end()
                .map(|()| bundle)
                .map_err(|e| (String::new(), e))
        });
    let (path, error) = match result {
        Ok(bundle) if bundle.format != BUNDLE_FORMAT => {
            return Err(other_format(&bundle.format));
        }
        Ok(bundle) => return Ok(bundle),
        Err(e) => e,
    };
    let (line, column) = (error.line(), error.column());
    // A bundle of another format fails on its members; say what it is instead.
    if let Ok(serde_json::Value::Object(members)) = serde_json::from_str(text)
        && let Some(serde_json::Value::String(format)) = members.get("format")
        && format != BUNDLE_FORMAT
    {
        return Err(other_format(format));
    }
    let inner = error.to_string();
    let suffix = format!(" at line {line} column {column}");
    let inner = inner.strip_suffix(&suffix).unwrap_or(&inner);
    let path = path.trim_end_matches('?').trim_end_matches('.').to_owned();
    let place = if path.is_empty() {
        String::new()
    } else {
        format!(" in `{path}`")
    };
    Err(BundleError {
        line,
        column,
        message: format!("not a valid audit bundle: line {line}, column {column}{place}: {inner}"),
        path,
    })
}

fn other_format(format: &str) -> BundleError {
    BundleError {
        line: 0,
        column: 0,
        path: "format".into(),
        message: format!(
            "the file's format is {}, but this verifier reads {BUNDLE_FORMAT} only",
            quote(format)
        ),
    }
}

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
    /// The issued-at time of the earliest reply in the bundle.
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
    pub counts: Counts,
    pub failures: Vec<Failure>,
    pub deadlines: Vec<DeadlineLine>,
    /// What a person should know that is not a failure, e.g. a notice not delivered.
    pub notes: Vec<String>,
}

/// Checks everything a bundle says; see docs/audit-format.md. Never panics.
pub fn verify_bundle(bundle: &Bundle) -> AuditReport {
    let mut v = Verifier::new(bundle);
    v.check_header();
    v.load_keys();
    v.load_policy();
    v.load_calendars();
    v.check_checkpoints();
    v.check_range();
    v.decode_items();
    v.check_items();
    v.check_omitted();
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
    deadlines: Vec<DeadlineLine>,
}

impl<'a> Verifier<'a> {
    fn new(bundle: &'a Bundle) -> Self {
        Self {
            bundle,
            failures: Vec::new(),
            notes: Vec::new(),
            node: None,
            peer: bundle.peer.as_deref(),
            keys: Vec::new(),
            signature_uses: Vec::new(),
            checkpoint_uses: Vec::new(),
            policy: DuePolicy::default(),
            broken_rules: BTreeSet::new(),
            calendar: HolidayCalendar::new(),
            checkpoint: None,
            proven: Vec::new(),
            items: Vec::new(),
            by_id: BTreeMap::new(),
            by_digest: BTreeMap::new(),
            replies_to: BTreeMap::new(),
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

    // ---- the bundle's own fields -------------------------------------------------------------

    fn check_header(&mut self) {
        let b = self.bundle;
        if b.format != BUNDLE_FORMAT {
            self.fail_bundle(
                "bundle",
                format!(
                    "format is {}, but this verifier reads {BUNDLE_FORMAT}",
                    quote(&b.format)
                ),
            );
        }
        match CountyCode::parse(&b.node.county) {
            Ok(county) => {
                self.node = Some(county);
                let origin = origin_for(county);
                if b.node.origin != origin {
                    self.fail_bundle(
                        "node",
                        format!(
                            "origin is {}, but the log of {county} has the origin {origin:?}",
                            quote(&b.node.origin)
                        ),
                    );
                }
            }
            Err(e) => self.fail_bundle(
                "node",
                format!("county: {e}; the log's owner is unknown, so no checkpoint can be opened"),
            ),
        }
        if b.from_ms > b.to_ms {
            self.fail_bundle(
                "bundle",
                format!(
                    "the period ends ({}) before it starts ({})",
                    format_cst(b.to_ms),
                    format_cst(b.from_ms)
                ),
            );
        }
        if let Some(peer) = self.peer {
            match CountyCode::parse(peer) {
                Err(e) => self.fail_bundle("bundle", format!("peer: {e}")),
                Ok(_) if peer == b.node.county => self.fail_bundle(
                    "bundle",
                    format!(
                        "peer is {peer}, the node itself: a county exchanges no notices with itself"
                    ),
                ),
                Ok(_) => {}
            }
        }
    }

    fn load_keys(&mut self) {
        for (i, k) in self.bundle.keys.iter().enumerate() {
            let item = format!("keys[{i}] ({})", cut(&k.county));
            let key = match parse_key(k) {
                Ok(key) => Some(key),
                Err(problem) => {
                    self.fail_bundle(item, problem);
                    None
                }
            };
            self.keys.push(key);
        }
        self.signature_uses = vec![0; self.keys.len()];
        self.checkpoint_uses = vec![0; self.keys.len()];
        let node = self.node_county();
        if !self.bundle.keys.iter().any(|k| k.county == node) {
            self.fail_bundle(
                "keys",
                format!("the bundle lists no key of the node {}", cut(node)),
            );
        }
    }

    fn load_policy(&mut self) {
        let policy = &self.bundle.policy;
        self.policy.set_holiday_extension(policy.holiday_extension);
        let mut given: BTreeMap<NoticeKind, (usize, ReplyRule)> = BTreeMap::new();
        for (i, rule) in policy.rules.iter().enumerate() {
            let item = format!("policy.rules[{i}]");
            let kind = match rule.kind.parse::<NoticeKind>() {
                Ok(kind) => kind,
                Err(_) => {
                    self.fail_bundle(
                        item,
                        format!("kind {} is not a notice kind", quote(&rule.kind)),
                    );
                    continue;
                }
            };
            let reply_rule = ReplyRule {
                normal: rule.normal,
                urgent: rule.urgent,
            };
            if let Some((first, _)) = given.insert(kind, (i, reply_rule)) {
                self.fail_bundle(
                    item,
                    format!("a second rule for {kind}; policy.rules[{first}] is the first"),
                );
                self.broken_rules.insert(kind);
            }
        }
        for kind in NoticeKind::ALL {
            let (index, rule) = match given.get(&kind) {
                Some((i, rule)) => (Some(*i), Some(*rule)),
                None => (None, None),
            };
            if let Err(e) = self.policy.set_rule(kind, rule) {
                let item = index.map_or("policy".to_owned(), |i| format!("policy.rules[{i}]"));
                self.fail_bundle(item, e.to_string());
                self.broken_rules.insert(kind);
                // Cannot fail: removing a rule is always allowed.
                let _ = self.policy.set_rule(kind, None);
            }
        }
    }

    fn load_calendars(&mut self) {
        for (i, text) in self.bundle.calendars.iter().enumerate() {
            let label = format!("calendars[{i}]");
            if let Err(e) = self.calendar.add_year_toml(&label, text) {
                let message = e.to_string();
                let problem = message
                    .strip_prefix(&format!("{label}: "))
                    .unwrap_or(&message)
                    .to_owned();
                self.fail_bundle(label, problem);
            }
        }
    }

    // ---- checkpoints ---------------------------------------------------------------------------

    /// Opens a checkpoint of the node's log with one of the node's keys.
    fn open_node_checkpoint(&mut self, note: &str) -> Result<Checkpoint, String> {
        let Some(node) = self.node else {
            return Err("the node's county is not a county code, so no key can open it".into());
        };
        let (opened, problem) = open_with_keys(note, node, &self.keys);
        match opened {
            Some((checkpoint, index)) => {
                if let Some(uses) = self.checkpoint_uses.get_mut(index) {
                    *uses += 1;
                }
                Ok(checkpoint)
            }
            None => Err(problem),
        }
    }

    fn check_checkpoints(&mut self) {
        let b = self.bundle;
        match self.open_node_checkpoint(&b.checkpoint) {
            Ok(cp) => {
                if cp.origin != b.node.origin {
                    self.fail(
                        (1, 0),
                        "checkpoint",
                        format!(
                            "its origin {:?} is not the bundle's node origin {}",
                            cp.origin,
                            quote(&b.node.origin)
                        ),
                    );
                }
                self.proven.push((cp.size, cp.root));
                self.checkpoint = Some(cp);
            }
            Err(problem) => {
                self.fail((1, 0), "checkpoint", format!("does not open: {problem}"));
                self.notes.push(
                    "The bundle's checkpoint did not open, so no inclusion or consistency proof could be checked."
                        .into(),
                );
            }
        }
        for (i, earlier) in b.earlier_checkpoints.iter().enumerate() {
            let item = format!("earlier_checkpoints[{i}]");
            let order = (1, i as u64 + 1);
            let old = match self.open_node_checkpoint(&earlier.checkpoint) {
                Ok(old) => old,
                Err(problem) => {
                    self.fail(order, item, format!("does not open: {problem}"));
                    continue;
                }
            };
            let Some(new) = self.checkpoint.clone() else {
                continue;
            };
            if old.size > new.size {
                self.fail(
                    order,
                    item,
                    format!(
                        "its tree of {} leaves is larger than the bundle checkpoint's {}: the log was rolled back",
                        old.size, new.size
                    ),
                );
                continue;
            }
            let proof = match parse_hashes(&earlier.consistency_proof, "consistency_proof") {
                Ok(proof) => proof,
                Err(problem) => {
                    self.fail(order, item, problem);
                    continue;
                }
            };
            match verify_consistency(old.size, new.size, &old.root, &new.root, &proof) {
                Ok(()) => self.proven.push((old.size, old.root)),
                Err(e) => self.fail(
                    order,
                    item,
                    format!(
                        "the bundle checkpoint (size {}) does not extend it (size {}): {}",
                        new.size,
                        old.size,
                        consistency_problem(&e)
                    ),
                ),
            }
        }
    }

    // ---- the leaf range ----------------------------------------------------------------------

    fn check_range(&mut self) {
        let b = self.bundle;
        let (first, last) = (b.first_leaf, b.last_leaf);
        if first > last {
            self.fail_bundle(
                "bundle",
                format!("first_leaf {first} is after last_leaf {last}"),
            );
        }
        if let Some(size) = self.checkpoint.as_ref().map(|c| c.size)
            && last >= size
        {
            self.fail_bundle(
                "bundle",
                format!("last_leaf {last} is not inside the checkpoint's tree of {size} leaves"),
            );
        }
        let mut seen: BTreeMap<u64, String> = BTreeMap::new();
        let places = b
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| (item.leaf_index, format!("items[{i}]")))
            .chain(
                b.omitted
                    .iter()
                    .enumerate()
                    .map(|(i, o)| (o.leaf_index, format!("omitted[{i}]"))),
            );
        for (leaf, place) in places {
            if leaf < first || leaf > last {
                self.fail_leaf(
                    leaf,
                    format!("leaf {leaf} ({place})"),
                    format!("outside the bundle's leaf range {first} to {last}"),
                );
            }
            if let Some(other) = seen.get(&leaf) {
                self.fail_leaf(
                    leaf,
                    format!("leaf {leaf} ({place})"),
                    format!("given twice: {other} is the same leaf"),
                );
            } else {
                seen.insert(leaf, place);
            }
        }
        if first > last {
            return;
        }
        // The gaps between the leaves given, within first..=last.
        let mut next = Some(first);
        let given: Vec<u64> = seen.range(first..=last).map(|(leaf, _)| *leaf).collect();
        for leaf in given.into_iter().map(Some).chain([None]) {
            let Some(expected) = next else { break };
            let gap_end = match leaf {
                Some(leaf) if leaf > expected => Some(leaf - 1),
                Some(_) => None,
                None => Some(last),
            };
            if let Some(end) = gap_end {
                self.missing(expected, end);
            }
            next = match leaf {
                Some(leaf) => leaf.checked_add(1).filter(|n| *n <= last),
                None => None,
            };
        }
    }

    fn missing(&mut self, from: u64, to: u64) {
        const WHY: &str =
            "missing: it is inside the bundle's leaf range but neither in items nor in omitted";
        if to - from < MAX_GAP_NAMED {
            for leaf in from..=to {
                self.fail_leaf(leaf, format!("leaf {leaf}"), WHY);
            }
        } else {
            self.fail_leaf(
                from,
                format!("leaves {from} to {to}"),
                format!("{} leaves {WHY}", u128::from(to - from) + 1),
            );
        }
    }

    // ---- items ---------------------------------------------------------------------------------

    fn decode_items(&mut self) {
        for item in &self.bundle.items {
            let leaf = item.leaf_index;
            let kind = LeafKind::ALL.into_iter().find(|k| k.name() == item.kind);
            let mut problems = Vec::new();
            if kind.is_none() {
                problems.push(format!(
                    "kind {} is not sent_notice, received_notice, issued_receipt or received_receipt",
                    quote(&item.kind)
                ));
            }
            let signed = decode_base64(&item.signed, "signed", &mut problems);
            let signature = decode_base64(&item.signature, "signature", &mut problems);
            if let Some(s) = &signature
                && s.len() != 64
            {
                problems.push(format!(
                    "signature is {} bytes; an Ed25519 signature is 64",
                    s.len()
                ));
            }
            let content = match (kind, &signed) {
                (Some(k), Some(bytes)) if k.is_notice() => match Header::decode(bytes) {
                    Ok(header) => Content::Notice(header),
                    Err(rejection) => {
                        problems.push(format!(
                            "signed is not a notice header: {}",
                            rejection.reason
                        ));
                        Content::Unreadable
                    }
                },
                (Some(_), Some(bytes)) => {
                    let signature: [u8; 64] = signature
                        .as_deref()
                        .and_then(|s| s.try_into().ok())
                        .unwrap_or([0; 64]);
                    match SignedReceipt::open(pb::SignedReceipt {
                        receipt: bytes.clone(),
                        signature: signature.to_vec(),
                    }) {
                        Ok(r) => Content::Receipt(r.receipt),
                        Err(e) => {
                            problems.push(format!("signed is not a receipt: {e}"));
                            Content::Unreadable
                        }
                    }
                }
                _ => Content::Unreadable,
            };
            let name = kind.map_or("unknown kind", LeafKind::name);
            let label = match &content {
                Content::Notice(h) => format!("leaf {leaf} ({name} {})", h.id),
                Content::Receipt(r) => match r.notice_id {
                    Some(id) => format!("leaf {leaf} ({name} for {id})"),
                    None => format!("leaf {leaf} ({name})"),
                },
                Content::Unreadable => format!("leaf {leaf} ({name})"),
            };
            for problem in problems {
                self.fail_leaf(leaf, label.clone(), problem);
            }
            self.items.push(Item {
                leaf,
                kind,
                signed,
                signature,
                content,
                label,
            });
        }
        for (i, item) in self.items.iter().enumerate() {
            let (Some(kind), Some(h)) = (item.kind, item.header()) else {
                continue;
            };
            self.by_id.entry((kind, h.id)).or_insert(i);
            if let Some(digest) = item.envelope_digest() {
                self.by_digest.entry((kind, digest)).or_insert(i);
            }
            if let Some(original) = h.in_reply_to {
                self.replies_to.entry(original).or_default().push(i);
            }
        }
    }

    fn check_items(&mut self) {
        for i in 0..self.items.len() {
            self.check_inclusion_of_item(i);
            match self.items[i].content {
                Content::Notice(_) => self.check_notice(i),
                Content::Receipt(_) => self.check_receipt(i),
                Content::Unreadable => {}
            }
        }
    }

    fn check_inclusion_of_item(&mut self, i: usize) {
        let item = &self.items[i];
        let (Some(kind), Some(signed), Some(signature)) =
            (item.kind, &item.signed, &item.signature)
        else {
            return;
        };
        let (leaf, label) = (item.leaf, item.label.clone());
        if u32::try_from(signed.len()).is_err() {
            self.fail_leaf(
                leaf,
                label,
                "signed is longer than a leaf can record (2^32 - 1 bytes)",
            );
            return;
        }
        let data = if kind.is_notice() {
            notice_leaf(kind, signed, signature)
        } else {
            receipt_leaf(kind, signed, signature)
        };
        let hash = leaf_hash(&data);
        let proof = &self.bundle.items.get(i).map(|b| &b.inclusion_proof);
        if let Some(proof) = proof {
            self.check_inclusion(leaf, &label, &hash, proof);
        }
    }

    fn check_inclusion(&mut self, leaf: u64, label: &str, hash: &Hash, proof: &[String]) {
        let Some(cp) = &self.checkpoint else {
            return;
        };
        let (size, root) = (cp.size, cp.root);
        let proof = match parse_hashes(proof, "inclusion_proof") {
            Ok(proof) => proof,
            Err(problem) => {
                self.fail_leaf(leaf, label, problem);
                return;
            }
        };
        if let Err(e) = verify_inclusion(hash, leaf, size, &proof, &root) {
            self.fail_leaf(leaf, label, inclusion_problem(&e, leaf, size));
        }
    }

    /// Finds the key of `county` named `key_id` valid at `at_ms` and checks the signature with it;
    /// counts the use.
    #[allow(clippy::too_many_arguments)]
    fn check_signature(
        &mut self,
        county: &str,
        key_id: KeyId,
        at_ms: i64,
        time_name: &str,
        prefix: &[u8],
        message: &[u8],
        signature: Option<&[u8]>,
    ) -> Result<(), String> {
        let of_county: Vec<usize> = (0..self.keys.len())
            .filter(|&i| self.keys[i].as_ref().is_some_and(|k| k.county == county))
            .collect();
        if of_county.is_empty() {
            return Err(format!(
                "the bundle lists no key of {county}, so its signature cannot be checked"
            ));
        }
        let named: Vec<usize> = of_county
            .iter()
            .copied()
            .filter(|&i| self.keys[i].as_ref().is_some_and(|k| k.id == key_id))
            .collect();
        if named.is_empty() {
            let listed: Vec<String> = of_county
                .iter()
                .filter_map(|&i| self.keys[i].as_ref().map(|k| k.id.to_string()))
                .collect();
            return Err(format!(
                "it was signed with {county}'s key {key_id}, which is not among {county}'s keys in the bundle ({})",
                listed.join(", ")
            ));
        }
        let Some(index) = named
            .iter()
            .copied()
            .find(|&i| self.keys[i].as_ref().is_some_and(|k| k.valid_at(at_ms)))
        else {
            let windows: Vec<String> = named
                .iter()
                .filter_map(|&i| {
                    self.keys[i]
                        .as_ref()
                        .map(|k| window(k.valid_from_ms, k.valid_until_ms))
                })
                .collect();
            return Err(format!(
                "{county}'s key {key_id} is valid {}, not at its {time_name} time {}",
                windows.join(" and "),
                format_cst(at_ms)
            ));
        };
        let Some(key) = &self.keys[index] else {
            return Err(format!("{county}'s key {key_id} is not usable"));
        };
        let Some(signature) = signature.and_then(|s| <[u8; 64]>::try_from(s).ok()) else {
            return Err(format!(
                "the signature is not 64 bytes, so it cannot verify with {county}'s key {key_id}"
            ));
        };
        if verify_prefixed(&key.key, prefix, message, &signature) {
            self.signature_uses[index] += 1;
            Ok(())
        } else {
            Err(format!(
                "signature does not verify with {county}'s key {key_id}"
            ))
        }
    }

    fn check_notice(&mut self, i: usize) {
        let item = &self.items[i];
        let Some(header) = item.header().cloned() else {
            return;
        };
        let (leaf, label, kind) = (item.leaf, item.label.clone(), item.kind);
        let signed = item.signed.clone().unwrap_or_default();
        let signature = item.signature.clone();
        let node = self.node_county();
        let (sender, recipient) = (header.sender.to_string(), header.recipient.to_string());
        let other = if kind == Some(LeafKind::SentNotice) {
            if sender != node {
                self.fail_leaf(
                    leaf,
                    &label,
                    format!(
                        "a sent notice must be sent by the node {node}, but its sender is {sender}"
                    ),
                );
            }
            recipient.clone()
        } else {
            if recipient != node {
                self.fail_leaf(
                    leaf,
                    &label,
                    format!("a received notice must be addressed to the node {node}, but its recipient is {recipient}"),
                );
            }
            sender.clone()
        };
        if let Some(peer) = self.peer
            && other != peer
        {
            self.fail_leaf(
                leaf,
                &label,
                format!("the bundle is limited to peer {peer}, but this notice is with {other}"),
            );
        }
        if let Err(problem) = self.check_signature(
            &sender,
            header.key_id,
            header.issued_at_ms,
            "issued-at",
            NOTICE_SIGNING_PREFIX,
            &signed,
            signature.as_deref(),
        ) {
            self.fail_leaf(leaf, &label, problem);
        }
        let redacted = self.bundle.redacted;
        let payload = self.bundle.items.get(i).and_then(|b| b.payload.as_ref());
        match payload {
            None if !redacted => self.fail_leaf(
                leaf,
                &label,
                "the payload is missing, but the bundle is not redacted",
            ),
            None => {}
            Some(text) => {
                if redacted {
                    self.fail_leaf(
                        leaf,
                        &label,
                        "the bundle says it is redacted, but this notice carries its payload",
                    );
                }
                match STANDARD.decode(text) {
                    Err(e) => self.fail_leaf(
                        leaf,
                        &label,
                        format!("payload is not standard padded base64: {e}"),
                    ),
                    Ok(payload) => {
                        let digest: [u8; 32] = Sha256::digest(&payload).into();
                        if digest != header.payload_sha256 {
                            self.fail_leaf(
                                leaf,
                                &label,
                                format!(
                                    "the payload's SHA-256 {} is not the header's payload_sha256 {}: the payload is not the one signed",
                                    hex::encode(digest),
                                    hex::encode(header.payload_sha256)
                                ),
                            );
                        } else {
                            match NoticeBody::decode(&payload) {
                                Err(e) => self.fail_leaf(
                                    leaf,
                                    &label,
                                    format!("the payload is not a valid notice body: {e}"),
                                ),
                                Ok(body) if body.kind() != header.kind => self.fail_leaf(
                                    leaf,
                                    &label,
                                    format!(
                                        "the payload is a {} body, but the header's kind is {}",
                                        body.kind(),
                                        header.kind
                                    ),
                                ),
                                Ok(_) => {}
                            }
                        }
                    }
                }
            }
        }
    }

    fn check_receipt(&mut self, i: usize) {
        let item = &self.items[i];
        let Some(receipt) = item.receipt().cloned() else {
            return;
        };
        let (leaf, label, kind) = (item.leaf, item.label.clone(), item.kind);
        let signed = item.signed.clone().unwrap_or_default();
        let signature = item.signature.clone();
        let node = self.node_county();
        let recipient = receipt.recipient.to_string();
        let sender = receipt.sender.map(|s| s.to_string());
        if self
            .bundle
            .items
            .get(i)
            .is_some_and(|b| b.payload.is_some())
        {
            self.fail_leaf(
                leaf,
                &label,
                "a receipt has no payload, but this item carries one",
            );
        }
        let (signer, other) = if kind == Some(LeafKind::IssuedReceipt) {
            if recipient != node {
                self.fail_leaf(
                    leaf,
                    &label,
                    format!("a receipt the node issued must name the node {node} as recipient, but it names {recipient}"),
                );
            }
            if let Outcome::Rejected(r) = &receipt.outcome {
                self.fail_leaf(
                    leaf,
                    &label,
                    format!(
                        "it rejects its notice ({}), but a node logs only the notices it accepts and their receipts",
                        r.code.name()
                    ),
                );
            }
            (node.to_owned(), sender.clone().unwrap_or_default())
        } else {
            if sender.as_deref() != Some(node) {
                self.fail_leaf(
                    leaf,
                    &label,
                    format!(
                        "a receipt the node received must name the node {node} as sender, but it names {}",
                        sender.as_deref().unwrap_or("no sender")
                    ),
                );
            }
            (recipient.clone(), recipient.clone())
        };
        if let Some(peer) = self.peer
            && other != peer
        {
            self.fail_leaf(
                leaf,
                &label,
                format!("the bundle is limited to peer {peer}, but this receipt is with {other}"),
            );
        }
        if let Err(problem) = self.check_signature(
            &signer,
            receipt.key_id,
            receipt.received_at_ms,
            "received-at",
            RECEIPT_SIGNING_PREFIX,
            &signed,
            signature.as_deref(),
        ) {
            self.fail_leaf(leaf, &label, problem);
        }
    }

    fn check_omitted(&mut self) {
        let omitted = &self.bundle.omitted;
        for o in omitted {
            let leaf = o.leaf_index;
            let label = format!("leaf {leaf} (omitted)");
            if self.peer.is_none() {
                self.fail_leaf(
                    leaf,
                    &label,
                    "the bundle names no peer, so it must give every leaf of its range in full",
                );
            }
            let hash = match parse_hash(&o.leaf_hash) {
                Some(hash) => hash,
                None => {
                    self.fail_leaf(
                        leaf,
                        &label,
                        format!("leaf_hash {} is not 32 bytes of hex", quote(&o.leaf_hash)),
                    );
                    continue;
                }
            };
            self.check_inclusion(leaf, &label, &hash, &o.inclusion_proof);
        }
    }

    // ---- links between items -----------------------------------------------------------------

    /// The index of the notice item of `kind` that a receipt answers.
    fn find_notice(&self, kind: LeafKind, receipt: &Receipt) -> Option<usize> {
        match receipt.notice_id {
            Some(id) => self.by_id.get(&(kind, id)).copied(),
            None => self
                .by_digest
                .get(&(kind, receipt.envelope_sha256))
                .copied(),
        }
    }

    fn check_links(&mut self) {
        // Each notice once.
        let mut first_of: BTreeMap<(LeafKind, NoticeId), usize> = BTreeMap::new();
        for i in 0..self.items.len() {
            let (Some(kind), Some(h)) = (self.items[i].kind, self.items[i].header()) else {
                continue;
            };
            if let Some(&j) = first_of.get(&(kind, h.id)) {
                let (leaf, label) = (self.items[i].leaf, self.items[i].label.clone());
                let other = self.items[j].leaf;
                self.fail_leaf(
                    leaf,
                    label,
                    format!("the same notice is logged again: leaf {other} records it already"),
                );
            } else {
                first_of.insert((kind, h.id), i);
            }
        }

        // Each receipt to its notice.
        let mut receipt_of: BTreeMap<usize, usize> = BTreeMap::new();
        let mut unproven_checkpoints = 0;
        for i in 0..self.items.len() {
            let Some(receipt) = self.items[i].receipt().cloned() else {
                continue;
            };
            let (leaf, label, kind) = (
                self.items[i].leaf,
                self.items[i].label.clone(),
                self.items[i].kind,
            );
            let notice_kind = if kind == Some(LeafKind::IssuedReceipt) {
                LeafKind::ReceivedNotice
            } else {
                LeafKind::SentNotice
            };
            let notice = self.find_notice(notice_kind, &receipt);
            match notice {
                None => self.fail_leaf(
                    leaf,
                    &label,
                    format!(
                        "its notice{} is not in the bundle as a {}",
                        receipt
                            .notice_id
                            .map(|id| format!(" {id}"))
                            .unwrap_or_default(),
                        notice_kind.name()
                    ),
                ),
                Some(n) => {
                    if let Some(&earlier) = receipt_of.get(&n) {
                        let other = self.items[earlier].leaf;
                        self.fail_leaf(
                            leaf,
                            &label,
                            format!(
                                "a second receipt for the same notice; leaf {other} is the first"
                            ),
                        );
                    } else {
                        receipt_of.insert(n, i);
                    }
                    self.check_receipt_matches(i, n, &receipt);
                }
            }
            if let Some(note) = &receipt.checkpoint {
                if kind == Some(LeafKind::IssuedReceipt) {
                    let notice_leaf = notice.map(|n| self.items[n].leaf);
                    if !self.check_issued_checkpoint(leaf, &label, note, notice_leaf) {
                        unproven_checkpoints += 1;
                    }
                } else {
                    self.check_peer_checkpoint(&label, note, receipt.recipient);
                }
            }
        }
        if unproven_checkpoints > 0 {
            self.notes.push(format!(
                "{unproven_checkpoints} checkpoint(s) that the node put in its receipts are not among the earlier checkpoints, so this bundle does not prove them consistent with its checkpoint."
            ));
        }

        // Notices without receipts.
        for n in 0..self.items.len() {
            let (Some(kind), Some(h)) = (self.items[n].kind, self.items[n].header()) else {
                continue;
            };
            let (leaf, label) = (self.items[n].leaf, self.items[n].label.clone());
            let receipt = receipt_of.get(&n).and_then(|&r| self.items[r].receipt());
            match (kind, receipt) {
                (LeafKind::ReceivedNotice, None) => self.fail_leaf(
                    leaf,
                    label,
                    "no receipt the node issued for it is in the bundle, though a node logs its receipt right after the notice",
                ),
                (LeafKind::SentNotice, None) => self.notes.push(format!(
                    "{label} to {}: not delivered (no receipt in the log)",
                    h.recipient
                )),
                (LeafKind::SentNotice, Some(r)) => {
                    if let Outcome::Rejected(rejection) = &r.outcome {
                        self.notes.push(format!(
                            "{label} to {}: rejected by {} at {}: {}: {}",
                            h.recipient,
                            r.recipient,
                            format_cst(r.received_at_ms),
                            rejection.code.name(),
                            cut(&rejection.reason)
                        ));
                    }
                }
                _ => {}
            }
        }
    }

    /// A receipt at item `r` and the notice at item `n` it answers.
    fn check_receipt_matches(&mut self, r: usize, n: usize, receipt: &Receipt) {
        let (leaf, label) = (self.items[r].leaf, self.items[r].label.clone());
        let notice = &self.items[n];
        let Some(h) = notice.header().cloned() else {
            return;
        };
        let notice_leaf = notice.leaf;
        if let Some(digest) = notice.envelope_digest()
            && digest != receipt.envelope_sha256
        {
            self.fail_leaf(
                leaf,
                &label,
                format!(
                    "its envelope_sha256 {} is not the digest {} of the notice at leaf {notice_leaf}: it does not answer that envelope",
                    hex::encode(receipt.envelope_sha256),
                    hex::encode(digest)
                ),
            );
        }
        if receipt.recipient != h.recipient || receipt.sender.is_some_and(|s| s != h.sender) {
            self.fail_leaf(
                leaf,
                &label,
                format!(
                    "it names {} → {}, but the notice at leaf {notice_leaf} went {} → {}",
                    receipt
                        .sender
                        .map_or("no sender".to_owned(), |s| s.to_string()),
                    receipt.recipient,
                    h.sender,
                    h.recipient
                ),
            );
        }
        if leaf < notice_leaf {
            self.fail_leaf(
                leaf,
                &label,
                format!("it is logged before its notice (leaf {notice_leaf})"),
            );
        }
    }

    /// The node's checkpoint inside a receipt it issued; returns whether it is proven consistent
    /// with the bundle's checkpoint (or fails anyway).
    fn check_issued_checkpoint(
        &mut self,
        leaf: u64,
        label: &str,
        note: &str,
        notice_leaf: Option<u64>,
    ) -> bool {
        let cp = match self.open_node_checkpoint(note) {
            Ok(cp) => cp,
            Err(problem) => {
                self.fail_leaf(
                    leaf,
                    label,
                    format!("the node's checkpoint in the receipt does not open: {problem}"),
                );
                return true;
            }
        };
        let mut failed = false;
        if let Some(main) = &self.checkpoint
            && cp.size > main.size
        {
            let main_size = main.size;
            self.fail_leaf(
                leaf,
                label,
                format!(
                    "the checkpoint in the receipt has {} leaves, more than the bundle checkpoint's {main_size}: the log was rolled back",
                    cp.size
                ),
            );
            failed = true;
        }
        if cp.size > leaf {
            self.fail_leaf(
                leaf,
                label,
                format!(
                    "the checkpoint in the receipt has {} leaves, so it would include this receipt's own leaf {leaf}, which depends on it",
                    cp.size
                ),
            );
            failed = true;
        }
        if let Some(n) = notice_leaf
            && cp.size <= n
        {
            self.fail_leaf(
                leaf,
                label,
                format!(
                    "the checkpoint in the receipt has {} leaves, so it does not include the notice it acknowledges (leaf {n})",
                    cp.size
                ),
            );
            failed = true;
        }
        let same_size: Vec<Hash> = self
            .proven
            .iter()
            .filter(|(size, _)| *size == cp.size)
            .map(|(_, root)| *root)
            .collect();
        if same_size.iter().any(|root| *root != cp.root) {
            self.fail_leaf(
                leaf,
                label,
                format!(
                    "the checkpoint in the receipt (size {}, root {}) differs from the bundle's proven checkpoint of that size: the log has forked",
                    cp.size,
                    hex::encode(cp.root)
                ),
            );
            failed = true;
        }
        failed || !same_size.is_empty()
    }

    /// The peer's checkpoint inside a receipt the node received: only noted if it does not open.
    fn check_peer_checkpoint(&mut self, label: &str, note: &str, peer: CountyCode) {
        let (opened, problem) = open_with_keys(note, peer, &self.keys);
        if opened.is_none() {
            self.notes.push(format!(
                "{label}: the checkpoint of {peer}'s log in this receipt does not open: {problem}"
            ));
        }
    }

    // ---- deadlines -----------------------------------------------------------------------------

    fn check_deadlines(&mut self) {
        let mut lines = Vec::new();
        for r in 0..self.items.len() {
            let Some(receipt) = self.items[r].receipt().cloned() else {
                continue;
            };
            if receipt.outcome != Outcome::Accepted {
                continue;
            }
            let (leaf, label, kind) = (
                self.items[r].leaf,
                self.items[r].label.clone(),
                self.items[r].kind,
            );
            let (notice_kind, direction) = if kind == Some(LeafKind::IssuedReceipt) {
                (LeafKind::ReceivedNotice, Direction::Received)
            } else {
                (LeafKind::SentNotice, Direction::Sent)
            };
            let Some(n) = self.find_notice(notice_kind, &receipt) else {
                continue;
            };
            let Some(h) = self.items[n].header().cloned() else {
                continue;
            };
            let stated = receipt.reply_due_at_ms;
            let received = receipt.received_at_ms;
            let recomputed = if self.broken_rules.contains(&h.kind) {
                Err(format!(
                    "the bundle's rule for {} is invalid (see the policy failure)",
                    h.kind
                ))
            } else {
                self.policy
                    .due_at(h.kind, h.urgent, received, &self.calendar)
                    .map_err(|e| e.to_string())
            };
            let signer = if direction == Direction::Received {
                "the node's receipt".to_owned()
            } else {
                format!("{}'s receipt", receipt.recipient)
            };
            let due = match &recomputed {
                Ok(due) => {
                    if *due != stated {
                        self.fail_leaf(
                            leaf,
                            &label,
                            format!(
                                "{signer} states that a reply to notice {} is due {}, but the bundle's policy and calendars give {}",
                                h.id,
                                due_text(stated),
                                due_text(*due)
                            ),
                        );
                    }
                    Ok(*due)
                }
                Err(why) => {
                    if let Some(s) = stated {
                        self.fail_leaf(
                            leaf,
                            &label,
                            format!(
                                "{signer} states that a reply to notice {} is due {}, but the bundle cannot give a due time: {why}",
                                h.id,
                                format_cst(s)
                            ),
                        );
                    } else {
                        self.notes.push(format!(
                            "notice {} ({}): the reply deadline is unknown: {why}",
                            h.id, h.kind
                        ));
                    }
                    Err(())
                }
            };
            let replied = self.earliest_reply(n, &h);
            let (due_at_ms, outcome) = match due {
                Err(()) => (stated, DeadlineOutcome::Unknown),
                Ok(None) => (None, DeadlineOutcome::NoReplyRequired),
                Ok(Some(due)) => {
                    let outcome =
                        match deadline_state(Some(due), replied, self.bundle.created_at_ms, 0) {
                            DeadlineState::AnsweredOnTime => DeadlineOutcome::OnTime,
                            DeadlineState::AnsweredLate => DeadlineOutcome::Late,
                            DeadlineState::Overdue => DeadlineOutcome::Overdue,
                            DeadlineState::Open | DeadlineState::DueSoon => DeadlineOutcome::Open,
                            DeadlineState::NoReplyRequired => DeadlineOutcome::NoReplyRequired,
                        };
                    (Some(due), outcome)
                }
            };
            let peer = match direction {
                Direction::Received => h.sender,
                Direction::Sent => h.recipient,
            };
            lines.push(DeadlineLine {
                notice_id: h.id.to_string(),
                kind: h.kind.name().to_owned(),
                urgent: h.urgent,
                direction,
                peer: peer.to_string(),
                received_at_ms: received,
                due_at_ms,
                replied_at_ms: replied,
                outcome,
            });
        }
        self.deadlines = lines;
    }

    /// The issued-at time of the earliest reply in the bundle to the notice at item `n`: a notice
    /// the other way between the same two counties, naming it in `in_reply_to`, of a kind that
    /// answers it.
    fn earliest_reply(&self, n: usize, original: &Header) -> Option<i64> {
        let reply_kind = match self.items[n].kind {
            Some(LeafKind::ReceivedNotice) => LeafKind::SentNotice,
            _ => LeafKind::ReceivedNotice,
        };
        self.replies_to
            .get(&original.id)?
            .iter()
            .filter(|&&r| self.items[r].kind == Some(reply_kind))
            .filter_map(|&r| self.items[r].header())
            .filter(|reply| {
                reply.sender == original.recipient
                    && reply.recipient == original.sender
                    && reply.kind.may_answer(original.kind)
            })
            .map(|reply| reply.issued_at_ms)
            .min()
    }

    // ---- the report ----------------------------------------------------------------------------

    fn into_report(mut self) -> AuditReport {
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
        let _ = writeln!(
            out,
            "Leaves:      {} to {}",
            self.first_leaf, self.last_leaf
        );
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

// ---- helpers -------------------------------------------------------------------------------------

/// Opens a checkpoint of `county`'s log with whichever of its keys signed it: the checkpoint and
/// the key's index, or why none did.
fn open_with_keys(
    note: &str,
    county: CountyCode,
    keys: &[Option<Key>],
) -> (Option<(Checkpoint, usize)>, String) {
    let code = county.to_string();
    let mut labels = Vec::new();
    let mut problem = None;
    for (i, key) in keys.iter().enumerate() {
        let Some(key) = key.as_ref().filter(|k| k.county == code) else {
            continue;
        };
        let verifier = match NoteVerifierKey::for_county(county, key.key) {
            Ok(v) => v,
            Err(e) => {
                problem.get_or_insert_with(|| format!("{county}'s key {}: {e}", key.id));
                continue;
            }
        };
        labels.push(format!("{}+{:08x}", verifier.name(), verifier.key_id()));
        match open_signed_checkpoint(note, &verifier) {
            Ok(checkpoint) => return (Some((checkpoint, i)), String::new()),
            Err(CheckpointError::Note(NoteError::NotSignedByKey { .. })) => {}
            Err(e) => {
                problem.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let problem = problem.unwrap_or_else(|| {
        if labels.is_empty() {
            format!("the bundle lists no key of {county}")
        } else {
            format!(
                "it carries no signature by {county}'s keys in the bundle ({})",
                labels.join(", ")
            )
        }
    });
    (None, problem)
}

fn parse_key(k: &crate::audit::BundleKey) -> Result<Key, String> {
    CountyCode::parse(&k.county).map_err(|e| format!("county: {e}"))?;
    let mut bytes = [0u8; 32];
    if k.public_key.len() != 64
        || k.public_key.bytes().any(|b| b.is_ascii_uppercase())
        || hex::decode_to_slice(&k.public_key, &mut bytes).is_err()
    {
        return Err(format!(
            "public_key {} is not 64 lowercase hex digits (a raw 32-byte Ed25519 key)",
            quote(&k.public_key)
        ));
    }
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| "public_key is not an Ed25519 public key".to_owned())?;
    if key.is_weak() {
        return Err("public_key has small order and cannot be trusted".into());
    }
    if let (Some(from), Some(until)) = (k.valid_from_ms, k.valid_until_ms)
        && from >= until
    {
        return Err(format!(
            "the key is valid from {} until {}: an empty window",
            format_cst(from),
            format_cst(until)
        ));
    }
    Ok(Key {
        county: k.county.clone(),
        key,
        id: KeyId::of(&key),
        valid_from_ms: k.valid_from_ms,
        valid_until_ms: k.valid_until_ms,
    })
}

fn decode_base64(text: &str, field: &str, problems: &mut Vec<String>) -> Option<Vec<u8>> {
    match STANDARD.decode(text) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            problems.push(format!("{field} is not standard padded base64: {e}"));
            None
        }
    }
}

fn parse_hash(text: &str) -> Option<Hash> {
    let mut hash = [0u8; 32];
    if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}

fn parse_hashes(texts: &[String], field: &str) -> Result<Vec<Hash>, String> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            parse_hash(text).ok_or_else(|| {
                format!(
                    "{field}[{i}] {} is not a hash: 64 lowercase hex digits",
                    quote(text)
                )
            })
        })
        .collect()
}

fn inclusion_problem(e: &MerkleError, leaf: u64, size: u64) -> String {
    match e {
        MerkleError::RootMismatch { .. } => format!(
            "its inclusion proof does not lead to the checkpoint's root: the node's log does not hold these bytes at leaf {leaf}"
        ),
        MerkleError::IndexOutOfRange { .. } => {
            format!("leaf {leaf} is not inside the checkpoint's tree of {size} leaves")
        }
        MerkleError::ProofTooLong | MerkleError::ProofTooShort => format!(
            "its inclusion proof has the wrong number of hashes for leaf {leaf} of a tree of {size} leaves"
        ),
        other => format!("its inclusion proof does not verify: {other}"),
    }
}

fn consistency_problem(e: &MerkleError) -> String {
    match e {
        MerkleError::RootsDifferAtSameSize { .. } => e.to_string(),
        MerkleError::OldRootMismatch { .. } | MerkleError::NewRootMismatch { .. } => format!(
            "the consistency proof does not connect the two roots, so the log was not only appended to between them (or the proof is wrong): {e}"
        ),
        other => format!("the consistency proof does not verify: {other}"),
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

fn due_text(due: Option<i64>) -> String {
    match due {
        Some(ms) => format!("{} ({ms})", format_cst(ms)),
        None => "never (no due time)".to_owned(),
    }
}

/// `1 thing`, `2 things`; `leaf` becomes `leaves`.
fn plural(n: u64, thing: &str) -> String {
    match (n, thing.strip_suffix("leaf")) {
        (1, _) => format!("1 {thing}"),
        (_, Some(stem)) => format!("{n} {stem}leaves"),
        _ => format!("{n} {thing}s"),
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
