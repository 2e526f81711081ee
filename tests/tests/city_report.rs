//! The city's quarterly bulletin from three counties' redacted audit bundles: honest counties
//! reconcile with no discrepancy and with the figures each county reports of itself; a county
//! whose bundle leaves out a notice it received is named, with the notice.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use liaison_core::NoticeKind;
use liaison_core::audit::Bundle;
use liaison_core::audit_verify::{AuditReport, verify_bundle};
use liaison_core::city_report::{CityReport, CountyBundle, DiscrepancyKind, city_report};
use liaison_node::clock::ManualClock;
use liaison_proto::v1 as pb;
use liaison_tests::cst::{DAY_MS, cst_ms};
use liaison_tests::{ANSAI, BAOTA, Federation, Operator, THREE_COUNTIES, YANCHANG, drafts};

const FROM_MS: i64 = 0;
const TO_MS: i64 = i64::MAX;

async fn delivered(from: &mut Operator, draft: &str) -> pb::NoticeInfo {
    let sent = from.send(draft).await;
    from.wait_for_status(&sent.notice_id, pb::NoticeStatus::Delivered)
        .await
}

async fn replied(from: &mut Operator, original: &str, kind: &str) {
    let reply = from.reply(original, &drafts::draft(kind, None)).await;
    from.wait_for_status(&reply.notice_id, pb::NoticeStatus::Delivered)
        .await;
}

/// The demo's quarter: a reply in time, a late one, an urgent letter never answered, and a
/// bulletin that needs no reply, over twelve days of the federation's clock.
async fn exchange(fed: &Federation) {
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let mut yanchang = fed.operator(YANCHANG).await;
    let case = delivered(&mut baota, &drafts::draft("case_notice", Some(ANSAI))).await;
    let query = delivered(
        &mut ansai,
        &drafts::draft("certificate_query", Some(YANCHANG)),
    )
    .await;
    let letter = drafts::with_member(
        &drafts::draft("contact_letter", Some(YANCHANG)),
        "/urgent",
        true.into(),
    );
    delivered(&mut baota, &letter).await;
    fed.clock().advance(2 * DAY_MS);
    replied(&mut ansai, &case.notice_id, "reply_letter").await;
    fed.clock().advance(10 * DAY_MS);
    replied(&mut yanchang, &query.notice_id, "certificate_answer").await;
    // Last in 延长县's log: a bulletin it received and its receipt.
    delivered(&mut baota, &drafts::draft("bulletin", Some(YANCHANG))).await;
}

async fn redacted_bundle(op: &mut Operator) -> Bundle {
    let request = pb::AuditExportRequest {
        from_ms: FROM_MS,
        to_ms: TO_MS,
        peer: String::new(),
        redact_payloads: true,
    };
    let response = op
        .client()
        .export_audit(request)
        .await
        .expect("ExportAudit")
        .into_inner();
    serde_json::from_str(&response.bundle_json).expect("bundle JSON")
}

fn reconcile(bundles: &[Bundle]) -> CityReport {
    let reports: Vec<AuditReport> = bundles.iter().map(verify_bundle).collect();
    let inputs: Vec<CountyBundle<'_>> = bundles
        .iter()
        .zip(&reports)
        .map(|(bundle, report)| CountyBundle {
            source: bundle.node.county.clone(),
            bundle,
            report,
        })
        .collect();
    city_report(&inputs, FROM_MS, TO_MS)
}

async fn start() -> Federation {
    Federation::builder(&THREE_COUNTIES)
        .manual_clock(ManualClock::new(cst_ms(2026, 3, 2, 9, 0)))
        .start()
        .await
}

/// Each county's own figures, summed over its Admin.Report rows: (sent by kind, received by kind,
/// [replies owed, on time, late, overdue, open]).
type OwnFigures = (BTreeMap<String, u64>, BTreeMap<String, u64>, [u64; 5]);

fn own_figures(report: &pb::ReportResponse) -> OwnFigures {
    let (mut sent, mut received) = (BTreeMap::new(), BTreeMap::new());
    let mut replies = [0; 5];
    for r in &report.rows {
        let kind = NoticeKind::from_wire(r.kind)
            .expect("kind")
            .name()
            .to_owned();
        if r.direction == pb::Direction::Outbound as i32 {
            *sent.entry(kind).or_default() += r.notices;
        } else {
            *received.entry(kind).or_default() += r.notices;
            for (sum, n) in replies.iter_mut().zip([
                r.reply_required,
                r.replied_on_time,
                r.replied_late,
                r.overdue_now,
                r.still_open,
            ]) {
                *sum += n;
            }
        }
    }
    (sent, received, replies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_counties_reconcile_with_no_discrepancy_and_the_figures_each_reports_of_itself() {
    let fed = start().await;
    exchange(&fed).await;
    let mut bundles = Vec::new();
    let mut own = BTreeMap::new();
    for (county, _) in THREE_COUNTIES {
        let mut op = fed.operator(county).await;
        bundles.push(redacted_bundle(&mut op).await);
        own.insert(county, own_figures(&op.report(FROM_MS, TO_MS).await));
    }
    let report = reconcile(&bundles);
    assert!(report.clean(), "{report:#?}");
    assert_eq!(report.counties.len(), 3);
    for c in &report.counties {
        let (sent, received, replies) = &own[c.county.as_str()];
        assert_eq!(&c.sent, sent, "{} sent", c.county);
        assert_eq!(&c.received, received, "{} received", c.county);
        assert_eq!(
            [c.replies_owed, c.on_time, c.late, c.overdue, c.open],
            *replies,
            "{} replies",
            c.county
        );
    }
    // 安塞区 answered in time, 延长县 late and not at all; 宝塔区 owed no reply and has no rank.
    let ranks: Vec<_> = report
        .counties
        .iter()
        .map(|c| (c.county.as_str(), c.on_time_rate, c.rank))
        .collect();
    assert_eq!(
        ranks,
        [
            (ANSAI, Some(1.0), Some(1)),
            (YANCHANG, Some(0.0), Some(2)),
            (BAOTA, None, None)
        ]
    );
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_county_that_cuts_a_received_notice_from_its_bundle_is_left_out_and_a_short_period_is_named()
 {
    let fed = start().await;
    exchange(&fed).await;
    let mut bundles = Vec::new();
    for (county, _) in THREE_COUNTIES {
        bundles.push(redacted_bundle(&mut fed.operator(county).await).await);
    }
    // 延长县 cuts its last two leaves (the bulletin and its receipt) out of its bundle and signs
    // the claims again with its own key: the leaf after its new range, which it must show, was
    // logged inside the period, so the bundle no longer verifies and the city leaves it out.
    let yanchang = bundles
        .iter_mut()
        .find(|b| b.node.county == YANCHANG)
        .unwrap();
    let dropped = yanchang.items.split_off(yanchang.items.len() - 2);
    let kinds: Vec<&str> = dropped.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(kinds, ["received_notice", "issued_receipt"]);
    yanchang.last_leaf -= 2;
    yanchang.sign_claims(&fed.signing_key(YANCHANG));
    let check = verify_bundle(yanchang);
    assert!(!check.ok);
    assert!(
        check.failures.iter().any(|f| f.item == "leaf_after"),
        "{}",
        check.to_text()
    );
    let report = reconcile(&bundles);
    assert_eq!(report.left_out.len(), 1, "{:?}", report.left_out);
    assert_eq!(report.left_out[0].county, YANCHANG);
    assert!(
        report.left_out[0].problems[0].starts_with("leaf_after: missing"),
        "{:?}",
        report.left_out
    );
    // The notices the other counties exchanged with it cannot be checked, and are named: the
    // bulletin it cut among them.
    let bulletin = {
        let mut baota = fed.operator(BAOTA).await;
        let outbox = baota.outbox().await;
        outbox
            .iter()
            .find(|n| n.kind == NoticeKind::Bulletin.to_wire() as i32)
            .expect("the bulletin")
            .notice_id
            .clone()
    };
    assert!(
        report.left_out[0].unchecked_notices.contains(&bulletin),
        "{:?}",
        report.left_out
    );

    // Ending its period when the bulletin came, and showing the bulletin's leaf as the one after
    // its range, makes a bundle that verifies: the city then names the county whose bundle does
    // not cover the report's period.
    let yanchang = bundles
        .iter_mut()
        .find(|b| b.node.county == YANCHANG)
        .unwrap();
    let after = &dropped[0];
    yanchang.to_ms = after.logged_at_ms;
    yanchang.leaf_after = Some(liaison_core::audit::OmittedLeaf {
        leaf_index: after.leaf_index,
        kind: after.kind.clone(),
        logged_at_ms: after.logged_at_ms,
        counterparty: after.counterparty.clone(),
        content_hash: hex::encode(liaison_core::tlog::content_hash(
            &STANDARD.decode(&after.signed).unwrap(),
            &STANDARD.decode(&after.signature).unwrap(),
        )),
        inclusion_proof: after.inclusion_proof.clone(),
    });
    yanchang.sign_claims(&fed.signing_key(YANCHANG));
    let check = verify_bundle(yanchang);
    assert!(check.ok, "{}", check.to_text());
    let report = reconcile(&bundles);
    let found: Vec<_> = report
        .discrepancies
        .iter()
        .map(|d| (d.kind, d.county.as_str(), d.notice_id.as_deref()))
        .collect();
    assert_eq!(found, [(DiscrepancyKind::PeriodNotCovered, YANCHANG, None)]);
    assert!(report.left_out.is_empty());
    fed.shutdown().await;
}
