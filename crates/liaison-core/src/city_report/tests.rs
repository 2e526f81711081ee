//! Matching and figures on small hand-made bundles: two counties, a few notices, receipts signed
//! with fixed keys; the verifier's reports are made by hand, so each rule is tested on its own.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;

use super::*;
use crate::audit::{BUNDLE_FORMAT, BundleItem, BundleNode, BundlePolicy};
use crate::audit_verify::{Counts, DeadlineLine, Failure};
use crate::checkpoint::{NoteSigner, origin_for, sign_checkpoint};
use crate::notice::Outgoing;
use crate::{CountyCode, NodeKey, NoticeId, NoticeKind, Receipt, SignedNotice};

const A: &str = "610602";
const B: &str = "610603";
const DAY: i64 = 86_400_000;
const T0: i64 = 1_772_000_000_000;

fn key(county: &str) -> NodeKey {
    NodeKey::new(SigningKey::from_bytes(&[county.as_bytes()[5]; 32]))
}

fn code(c: &str) -> CountyCode {
    CountyCode::parse(c).unwrap()
}

/// A notice from `from` to `to`, its receipt, and the deadline line each side's verifier gives.
struct Exchange {
    notice: SignedNotice,
    receipt: SignedReceipt,
}

fn exchange(n: u8, from: &str, to: &str, received_at_ms: i64, due: Option<i64>) -> Exchange {
    let notice = SignedNotice::sign(
        &key(from),
        Outgoing {
            id: NoticeId::new((received_at_ms - 1000) as u64, [n; 10]),
            sender: code(from),
            recipient: code(to),
            kind: NoticeKind::ContactLetter,
            urgent: false,
            issued_at_ms: received_at_ms - 1000,
            in_reply_to: None,
        },
        vec![n],
    );
    let receipt = receipt(&notice, received_at_ms, due, None);
    Exchange { notice, receipt }
}

fn receipt(
    notice: &SignedNotice,
    received_at_ms: i64,
    due: Option<i64>,
    checkpoint: Option<String>,
) -> SignedReceipt {
    let to = notice.header.recipient;
    SignedReceipt::sign(
        &key(to.as_str()),
        Receipt {
            notice_id: Some(notice.header.id),
            envelope_sha256: notice.envelope_sha256(),
            recipient: to,
            sender: Some(notice.header.sender),
            received_at_ms,
            outcome: Outcome::Accepted,
            reply_due_at_ms: due,
            key_id: key(to.as_str()).key_id(),
            checkpoint,
            existed_by_ms: None,
        },
    )
}

fn checkpoint(county: &str, size: u64, root: u8) -> String {
    let k = key(county);
    let signer = NoteSigner::for_county(code(county), &k).unwrap();
    sign_checkpoint(
        &Checkpoint::new(origin_for(code(county)), size, [root; 32]),
        &signer,
    )
    .unwrap()
}

/// One county's bundle and hand-made report.
struct Side {
    bundle: Bundle,
    report: AuditReport,
}

impl Side {
    fn new(county: &str) -> Self {
        let bundle = Bundle {
            format: BUNDLE_FORMAT.into(),
            node: BundleNode {
                county: county.into(),
                name: format!("county {county}"),
                origin: origin_for(code(county)),
            },
            created_at_ms: T0 + 90 * DAY,
            from_ms: T0,
            to_ms: T0 + 90 * DAY,
            peer: None,
            redacted: true,
            keys: Vec::new(),
            policy: BundlePolicy {
                holiday_extension: true,
                rules: Vec::new(),
            },
            peer_policies: Vec::new(),
            calendars: Vec::new(),
            checkpoint: checkpoint(county, 100, 1),
            earlier_checkpoints: Vec::new(),
            first_leaf: 0,
            last_leaf: 0,
            items: Vec::new(),
            omitted: Vec::new(),
            leaf_before: None,
            leaf_after: None,
            claims: String::new(),
            claims_signature: String::new(),
        };
        let report = AuditReport {
            ok: true,
            format: BUNDLE_FORMAT.into(),
            node: bundle.node.clone(),
            created_at_ms: bundle.created_at_ms,
            from_ms: bundle.from_ms,
            to_ms: bundle.to_ms,
            peer: None,
            redacted: true,
            checkpoint_size: Some(100),
            checkpoint_root: None,
            first_leaf: 0,
            last_leaf: 0,
            keys: Vec::new(),
            counts: Counts::default(),
            failures: Vec::new(),
            deadlines: Vec::new(),
            notes: Vec::new(),
            directory: None,
            cosigned: None,
        };
        Self { bundle, report }
    }

    fn item(&mut self, kind: LeafKind, signed: &[u8], signature: &[u8]) {
        self.bundle.items.push(BundleItem {
            leaf_index: self.bundle.items.len() as u64,
            kind: kind.name().into(),
            logged_at_ms: T0,
            counterparty: String::new(),
            signed: STANDARD.encode(signed),
            signature: STANDARD.encode(signature),
            payload: None,
            payload_salt: None,
            inclusion_proof: Vec::new(),
        });
    }

    /// Holds the exchange as its sender or recipient, with the given deadline outcome.
    fn hold(&mut self, e: &Exchange, outcome: DeadlineOutcome, replied_at_ms: Option<i64>) {
        let sent = e.notice.header.sender.as_str() == self.bundle.node.county;
        let (nk, rk, direction, peer) = if sent {
            (
                LeafKind::SentNotice,
                LeafKind::ReceivedReceipt,
                Direction::Sent,
                e.notice.header.recipient,
            )
        } else {
            (
                LeafKind::ReceivedNotice,
                LeafKind::IssuedReceipt,
                Direction::Received,
                e.notice.header.sender,
            )
        };
        self.item(nk, &e.notice.header_bytes, &e.notice.signature);
        self.item(rk, &e.receipt.receipt_bytes, &e.receipt.signature);
        self.report.deadlines.push(DeadlineLine {
            notice_id: e.notice.header.id.to_string(),
            kind: e.notice.header.kind.name().into(),
            urgent: false,
            direction,
            peer: peer.to_string(),
            received_at_ms: e.receipt.receipt.received_at_ms,
            due_at_ms: e.receipt.receipt.reply_due_at_ms,
            replied_at_ms,
            outcome,
        });
    }

    fn input(&self, source: &str) -> CountyBundle<'_> {
        CountyBundle {
            source: source.into(),
            bundle: &self.bundle,
            report: &self.report,
        }
    }
}

fn run(sides: &[&Side]) -> CityReport {
    let inputs: Vec<CountyBundle<'_>> = sides
        .iter()
        .map(|s| s.input(&format!("{}.json", s.bundle.node.county)))
        .collect();
    city_report(&inputs, T0, T0 + 90 * DAY)
}

fn kinds(report: &CityReport) -> Vec<(DiscrepancyKind, String, Option<String>)> {
    report
        .discrepancies
        .iter()
        .map(|d| (d.kind, d.county.clone(), d.notice_id.clone()))
        .collect()
}

/// Two counties holding the same three exchanges, honestly.
fn honest() -> (Side, Side, Vec<Exchange>) {
    let (mut a, mut b) = (Side::new(A), Side::new(B));
    let x = vec![
        exchange(1, A, B, T0 + DAY, Some(T0 + 11 * DAY)),
        exchange(2, A, B, T0 + 2 * DAY, Some(T0 + 12 * DAY)),
        exchange(3, B, A, T0 + 3 * DAY, Some(T0 + 13 * DAY)),
    ];
    let replied = [Some(T0 + 3 * DAY), Some(T0 + 20 * DAY), None];
    let outcome = [
        DeadlineOutcome::OnTime,
        DeadlineOutcome::Late,
        DeadlineOutcome::Overdue,
    ];
    for i in 0..3 {
        a.hold(&x[i], outcome[i], replied[i]);
        b.hold(&x[i], outcome[i], replied[i]);
    }
    (a, b, x)
}

#[test]
fn honest_counties_show_no_discrepancy_and_their_own_figures() {
    let (a, b, _) = honest();
    let report = run(&[&a, &b]);
    assert!(report.clean(), "{:?}", report.discrepancies);
    let fig = |c: &str| report.counties.iter().find(|f| f.county == c).unwrap();
    // B received two contact letters: one answered on time after two days, one late after 18.
    let fb = fig(B);
    assert_eq!(fb.received.get("contact_letter"), Some(&2));
    assert_eq!(fb.sent.get("contact_letter"), Some(&1));
    assert_eq!(
        (fb.replies_owed, fb.on_time, fb.late, fb.overdue),
        (2, 1, 1, 0)
    );
    assert_eq!(fb.on_time_rate, Some(0.5));
    assert_eq!(fb.median_reply_days, Some(10.0));
    // A received one and never answered it.
    let fa = fig(A);
    assert_eq!(
        (fa.replies_owed, fa.on_time, fa.late, fa.overdue),
        (1, 0, 0, 1)
    );
    assert_eq!(fa.on_time_rate, Some(0.0));
    assert_eq!(fa.median_reply_days, None);
    assert_eq!(
        report
            .counties
            .iter()
            .map(|f| (f.county.as_str(), f.rank))
            .collect::<Vec<_>>(),
        [(B, Some(1)), (A, Some(2))]
    );
}

#[test]
fn a_notice_one_county_holds_and_the_other_does_not_is_missing_from_the_other() {
    let (a, mut b, x) = honest();
    b.bundle.items.drain(0..2);
    let report = run(&[&a, &b]);
    assert_eq!(
        kinds(&report),
        [(
            DiscrepancyKind::MissingNotice,
            B.to_owned(),
            Some(x[0].notice.header.id.to_string())
        )]
    );
}

#[test]
fn a_missing_notice_is_not_named_when_the_other_bundle_does_not_cover_its_time() {
    let (a, mut b, _) = honest();
    b.bundle.items.drain(0..2);
    // The bundle that covers less than the period is named for that, not for the notice.
    let short = |report: &CityReport| {
        assert!(report.left_out.is_empty());
        report
            .discrepancies
            .iter()
            .map(|d| (d.kind, d.county.clone(), d.notice_id.clone()))
            .collect::<Vec<_>>()
    };
    b.bundle.from_ms = T0 + DAY + 1;
    assert_eq!(
        short(&run(&[&a, &b])),
        [(DiscrepancyKind::PeriodNotCovered, B.to_owned(), None)]
    );
    b.bundle.from_ms = T0;
    b.bundle.peer = Some("610621".into());
    let report = run(&[&a, &b]);
    assert_eq!(
        short(&report),
        [(DiscrepancyKind::PeriodNotCovered, B.to_owned(), None)]
    );
    assert!(
        report.discrepancies[0]
            .detail
            .contains("only its notices with 610621")
    );
    // Without the other county's bundle there is nothing to match against.
    assert!(run(&[&a]).clean());
}

#[test]
fn two_different_receipts_for_one_notice_are_named_against_their_signer() {
    let (a, mut b, x) = honest();
    let other = receipt(&x[0].notice, T0 + DAY + 5000, Some(T0 + 11 * DAY), None);
    b.bundle.items[1].signed = STANDARD.encode(&other.receipt_bytes);
    b.bundle.items[1].signature = STANDARD.encode(other.signature);
    let report = run(&[&a, &b]);
    assert_eq!(
        kinds(&report),
        [(
            DiscrepancyKind::DifferentReceipt,
            B.to_owned(),
            Some(x[0].notice.header.id.to_string())
        )]
    );
    assert!(report.discrepancies[0].detail.contains("differs"));
}

#[test]
fn different_due_times_and_outcomes_are_named() {
    let (a, mut b, x) = honest();
    b.report.deadlines[1].due_at_ms = Some(T0 + 30 * DAY);
    b.report.deadlines[1].outcome = DeadlineOutcome::OnTime;
    let id = Some(x[1].notice.header.id.to_string());
    assert_eq!(
        kinds(&run(&[&a, &b])),
        [
            (DiscrepancyKind::DifferentDueTime, B.to_owned(), id.clone()),
            (DiscrepancyKind::DifferentOutcome, B.to_owned(), id)
        ]
    );
}

#[test]
fn an_open_notice_differs_only_from_a_reply_made_before_that_bundle() {
    use DeadlineOutcome::{Late, OnTime, Open, Overdue};
    assert!(!outcomes_differ((OnTime, Some(5), 0), (OnTime, None, 0)));
    assert!(outcomes_differ((OnTime, Some(5), 0), (Late, Some(5), 0)));
    // The other bundle was made before the reply: it could not know.
    assert!(!outcomes_differ((OnTime, Some(5), 0), (Open, None, 5)));
    assert!(outcomes_differ((OnTime, Some(5), 0), (Open, None, 6)));
    assert!(outcomes_differ((Overdue, None, 9), (Late, Some(8), 0)));
}

#[test]
fn two_checkpoints_of_one_size_with_different_roots_name_the_log_county() {
    let (mut a, b, x) = honest();
    // A's copy of B's receipt carries B's checkpoint of size 100 with a root B's bundle denies.
    let forked = receipt(
        &x[0].notice,
        x[0].receipt.receipt.received_at_ms,
        x[0].receipt.receipt.reply_due_at_ms,
        Some(checkpoint(B, 100, 9)),
    );
    a.bundle.items[1].signed = STANDARD.encode(&forked.receipt_bytes);
    a.bundle.items[1].signature = STANDARD.encode(forked.signature);
    let report = run(&[&a, &b]);
    let logs: Vec<_> = report
        .discrepancies
        .iter()
        .filter(|d| d.kind == DiscrepancyKind::InconsistentLog)
        .collect();
    assert_eq!(logs.len(), 1, "{:?}", report.discrepancies);
    assert_eq!(logs[0].county, B);
    assert!(logs[0].detail.contains("size 100"));
}

#[test]
fn a_bundle_that_does_not_verify_is_left_out_with_why() {
    let (a, mut b, _) = honest();
    b.report.ok = false;
    b.report.failures.push(Failure {
        item: "leaf 3".into(),
        problem: "bad signature".into(),
    });
    let report = run(&[&a, &b]);
    assert_eq!(report.left_out.len(), 1);
    assert_eq!(report.left_out[0].county, B);
    assert_eq!(report.left_out[0].problems, ["leaf 3: bad signature"]);
    assert_eq!(report.counties.len(), 1);
    assert!(!report.clean());
}

#[test]
fn equal_rates_share_a_rank_and_counties_without_a_rate_come_last() {
    let f = |county: &str, rate: Option<f64>| CountyFigures {
        county: county.into(),
        on_time_rate: rate,
        ..CountyFigures::default()
    };
    let mut c = vec![
        f("610621", None),
        f("610603", Some(0.5)),
        f("610602", Some(0.5)),
        f("610604", Some(1.0)),
    ];
    rank(&mut c);
    let got: Vec<_> = c.iter().map(|x| (x.county.as_str(), x.rank)).collect();
    assert_eq!(
        got,
        [
            ("610604", Some(1)),
            ("610602", Some(2)),
            ("610603", Some(2)),
            ("610621", None)
        ]
    );
}

#[test]
fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
    assert_eq!(median(&mut []), None);
    assert_eq!(median(&mut [3, 1, 2]), Some(2.0));
    assert_eq!(median(&mut [4, 1, 2, 3]), Some(2.5));
}

fn directory(valid_from_ms: i64, valid_until_ms: Option<i64>) -> Federation {
    let county = |c: &str| crate::directory::County {
        code: code(c),
        name: c.into(),
        endpoint: String::new(),
        tls_ca: String::new(),
        policy: None,
        keys: vec![crate::trust::PeerKey {
            key: key(c).verifying_key(),
            valid_from_ms,
            valid_until_ms,
        }],
    };
    Federation {
        city: "610600".into(),
        city_name: "延安市".into(),
        serial: 1,
        issued_at_ms: Some(T0),
        counties: vec![county(A), county(B)],
        agreements: Vec::new(),
    }
}

#[test]
fn a_bundle_signed_with_keys_the_directory_gives_passes_and_one_outside_their_windows_does_not() {
    let (mut a, _, x) = honest();
    a.bundle.keys.push(crate::audit::BundleKey {
        county: A.into(),
        public_key: hex::encode(key(A).verifying_key().as_bytes()),
        valid_from_ms: None,
        valid_until_ms: None,
    });
    assert_eq!(keys_against_directory(&a.bundle, &directory(0, None)), []);
    // The keys end when the last exchange's receipt is signed, just after its notice was.
    let until = x[2].receipt.receipt.received_at_ms;
    let failures = keys_against_directory(&a.bundle, &directory(0, Some(until)));
    let items: Vec<&str> = failures.iter().map(|f| f.item.as_str()).collect();
    let id = x[2].notice.header.id.to_string();
    assert_eq!(
        items,
        [format!("leaf 5 (issued_receipt {id})")],
        "{failures:?}"
    );
    // A key the directory does not list at all.
    a.bundle.keys[0].public_key = hex::encode([7u8; 32]);
    let failures = keys_against_directory(&a.bundle, &directory(0, None));
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].item, "keys[0]");
}

#[test]
fn a_county_of_the_directory_without_a_bundle_is_named_with_the_notices_others_hold_with_it() {
    let (a, _, x) = honest();
    let inputs = [a.input("a.json")];
    let report = city_report_of(&inputs, T0, T0 + 90 * DAY, &[A.to_owned(), B.to_owned()]);
    assert_eq!(report.left_out.len(), 1);
    let missing = &report.left_out[0];
    assert_eq!(missing.county, B);
    assert_eq!(missing.problems, ["no bundle was given for this county"]);
    let ids: Vec<String> = x.iter().map(|e| e.notice.header.id.to_string()).collect();
    for id in &ids {
        assert!(missing.unchecked_notices.contains(id), "{missing:?}");
    }
    assert!(!report.clean());
}
