//! `liaison demo`: three Yan'an counties on 127.0.0.1 with a throw-away PKI exchange a case notice,
//! a certificate query, a fee consultation and an urgent contact letter, on a controlled clock that
//! starts on Monday 2026-03-02 and moves forward twelve days: two replies come in time, one late,
//! and one never, so it is overdue. Then every outbox and inbox, what is due, and the quarterly
//! figures are shown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use liaison_core::clock::{cst_midnight_ms, format_cst};
use liaison_core::{CountyCode, NoticeKind, NoticeStatus, OutboundStatus};
use liaison_node::Node;
use liaison_node::clock::{Clock, ManualClock};
use liaison_node::config::Config;
use liaison_node::federation::{self, Member};
use liaison_proto::v1 as pb;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::admin::{Admin, connect, refused};
use crate::{EXIT_FAILURE, Failure, Output, period, print};

/// The demo's clock starts at 09:00 on this day (a Monday), China Standard Time.
const START: time::Date = time::macros::date!(2026 - 03 - 02);
const HOUR_MS: i64 = 3600 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;

const COUNTIES: [(&str, &str); 3] = [
    ("610602", "宝塔区"),
    ("610603", "安塞区"),
    ("610621", "延长县"),
];

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::new(EXIT_FAILURE, e.to_string())
}

/// An example draft from deploy/examples/notices, addressed to `recipient` (or to nobody, for a reply).
fn draft(example: &str, recipient: Option<&str>) -> Result<String, Failure> {
    let text = match example {
        "case_notice" => include_str!("../../../deploy/examples/notices/case_notice.json"),
        "contact_letter" => include_str!("../../../deploy/examples/notices/contact_letter.json"),
        "certificate_query" => {
            include_str!("../../../deploy/examples/notices/certificate_query.json")
        }
        "fee_consultation" => {
            include_str!("../../../deploy/examples/notices/fee_consultation.json")
        }
        "reply_letter" => include_str!("../../../deploy/examples/notices/reply_letter.json"),
        "certificate_answer" => {
            include_str!("../../../deploy/examples/notices/certificate_answer.json")
        }
        "fee_reply" => include_str!("../../../deploy/examples/notices/fee_reply.json"),
        other => return Err(failed(format!("no example draft {other}"))),
    };
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(failed)?;
    if let Some(map) = value.as_object_mut() {
        match recipient {
            Some(r) => map.insert("recipient".into(), r.into()),
            None => map.remove("recipient"),
        };
    }
    Ok(value.to_string())
}

struct RunningNode {
    county: CountyCode,
    name: &'static str,
    admin: Admin,
}

async fn wait_delivered(admin: &mut Admin, id: &str) -> Result<pb::NoticeInfo, Failure> {
    for _ in 0..300 {
        let detail = admin
            .show(pb::NoticeRef {
                notice_id: id.to_owned(),
            })
            .await
            .map_err(refused)?
            .into_inner();
        if let Some(info) = detail.info
            && NoticeStatus::from_wire(info.status).is_some_and(|s| {
                matches!(
                    s,
                    NoticeStatus::Outbound(OutboundStatus::Delivered | OutboundStatus::Rejected)
                )
            })
        {
            return Ok(info);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(failed(format!(
        "notice {id} was not delivered within 30 seconds"
    )))
}

async fn send(
    from: &mut RunningNode,
    draft_json: String,
    in_reply_to: &str,
) -> Result<pb::NoticeInfo, Failure> {
    let info = from
        .admin
        .send(pb::SendRequest {
            draft_json,
            in_reply_to: in_reply_to.to_owned(),
        })
        .await
        .map_err(refused)?
        .into_inner();
    let done = wait_delivered(&mut from.admin, &info.notice_id).await?;
    println!(
        "  {} {} → {} {}: {} {} ({})",
        from.county,
        from.name,
        done.peer,
        done.peer_name,
        NoticeKind::from_wire(done.kind).map_or("unknown", NoticeKind::name),
        done.notice_id,
        NoticeStatus::from_wire(done.status).map_or("unknown", NoticeStatus::name)
    );
    Ok(done)
}

pub async fn run(dir: Option<PathBuf>) -> Result<(), Failure> {
    let temp;
    let dir = match dir {
        Some(d) => d,
        None => {
            temp = tempfile::tempdir().map_err(failed)?;
            temp.path().to_owned()
        }
    };
    println!(
        "liaison demo: a federation of {} Yan'an counties (延安市) on 127.0.0.1, files in {}",
        COUNTIES.len(),
        dir.display()
    );
    let mut listeners = Vec::new();
    let mut members = Vec::new();
    for (code, name) in COUNTIES {
        let exchange = TcpListener::bind("127.0.0.1:0").await.map_err(failed)?;
        let admin = TcpListener::bind("127.0.0.1:0").await.map_err(failed)?;
        members.push(Member {
            county: CountyCode::parse(code).map_err(failed)?,
            name: name.to_owned(),
            exchange_addr: exchange.local_addr().map_err(failed)?,
            admin_addr: admin.local_addr().map_err(failed)?,
        });
        listeners.push((exchange, admin));
    }
    let clock = ManualClock::new(cst_midnight_ms(START) + 9 * HOUR_MS);
    let city = federation::City {
        code: "610600".into(),
        name: "延安市".into(),
        refresh_secs: liaison_node::config::DEFAULT_DIRECTORY_REFRESH.as_secs(),
        now_ms: clock.now_ms(),
    };
    let (files, city_files) =
        federation::create_signed(&dir, &members, "2026-01-01", &city).map_err(failed)?;
    println!(
        "the city's signed directory (名录), serial 1: {}",
        city_files.signed.display()
    );
    let mut nodes = Vec::new();
    let mut stops = Vec::new();
    let mut tasks = Vec::new();
    for ((file, (exchange, admin)), (_, name)) in files.iter().zip(listeners).zip(COUNTIES) {
        let config = Config::load(&file.config).map_err(failed)?;
        let admin_addr = admin.local_addr().map_err(failed)?;
        let node = Node::start(config, Arc::new(clock.clone())).map_err(failed)?;
        let token = node.admin_token().to_owned();
        let (stop, stopped) = oneshot::channel::<()>();
        tasks.push(tokio::spawn(node.run(exchange, admin, async move {
            let _ = stopped.await;
        })));
        stops.push(stop);
        nodes.push(RunningNode {
            county: file.county,
            name,
            admin: connect(admin_addr, &token).await?,
        });
    }

    let [baota, ansai, yanchang] = &mut nodes[..] else {
        return Err(failed("three nodes expected"));
    };
    println!(
        "\n{}: notices (信息通报 and 联系函)",
        format_cst(clock.now_ms())
    );
    let case = send(baota, draft("case_notice", Some("610603"))?, "").await?;
    let query = send(ansai, draft("certificate_query", Some("610621"))?, "").await?;
    let fee = send(yanchang, draft("fee_consultation", Some("610602"))?, "").await?;
    let mut letter =
        serde_json::from_str::<serde_json::Value>(&draft("contact_letter", Some("610621"))?)
            .map_err(failed)?;
    letter["urgent"] = true.into();
    send(baota, letter.to_string(), "").await?;

    clock.advance(2 * DAY_MS);
    println!(
        "\n{}: replies in time (按期复函)",
        format_cst(clock.now_ms())
    );
    send(ansai, draft("reply_letter", None)?, &case.notice_id).await?;
    send(baota, draft("fee_reply", None)?, &fee.notice_id).await?;

    clock.advance(10 * DAY_MS);
    println!(
        "\n{}: a late reply (超期复函); the urgent contact letter stays unanswered",
        format_cst(clock.now_ms())
    );
    send(
        yanchang,
        draft("certificate_answer", None)?,
        &query.notice_id,
    )
    .await?;

    for node in &mut nodes {
        let list = pb::ListRequest {
            status: 0,
            peer: String::new(),
            limit: 100,
        };
        let outbox = node
            .admin
            .list_outbox(list.clone())
            .await
            .map_err(refused)?
            .into_inner();
        let inbox = node
            .admin
            .list_inbox(list)
            .await
            .map_err(refused)?
            .into_inner();
        println!("\n== {} {} ==", node.county, node.name);
        println!("Outbox (发件箱):");
        print!("{}", print::outbox_table(&outbox.notices));
        println!("Inbox (收件箱):");
        print!("{}", print::inbox_table(&inbox.notices));
        for side in [pb::Side::Owed, pb::Side::Awaited] {
            let request = pb::DueRequest {
                side: side as i32,
                overdue_only: false,
                limit: 100,
            };
            let due = node.admin.due(request).await.map_err(refused)?.into_inner();
            let last = side == pb::Side::Awaited;
            print::due(&due, side, false, last, Output { json: false });
        }
    }

    let (from_ms, to_ms) = period::parse(Some("2026Q1"), None, None).map_err(failed)?;
    for node in &mut nodes {
        let report = node
            .admin
            .report(pb::ReportRequest { from_ms, to_ms })
            .await
            .map_err(refused)?
            .into_inner();
        println!(
            "\n== {} {}: liaison report --quarter 2026Q1 ==",
            node.county, node.name
        );
        print::report(&report, false, Output { json: false });
    }

    println!(
        "\n{}: each county exports its redacted audit bundle (审计包) for the city",
        format_cst(clock.now_ms())
    );
    let mut bundles = Vec::new();
    for node in &mut nodes {
        let request = pb::AuditExportRequest {
            from_ms,
            to_ms,
            peer: String::new(),
            redact_payloads: true,
        };
        let export = node
            .admin
            .export_audit(request)
            .await
            .map_err(refused)?
            .into_inner();
        let path = dir.join(format!("audit-{}-2026Q1.json", node.county));
        std::fs::write(&path, export.bundle_json.as_bytes()).map_err(failed)?;
        println!("wrote {} ({} log entries)", path.display(), export.items);
        bundles.push(path);
    }
    let directory = crate::city::open_directory(&city_files.signed, &city_files.verifier_key)?;
    let city = crate::city::build(&bundles, Some(&directory), from_ms, to_ms)?;
    println!(
        "\n== liaison city report --quarter 2026Q1 --directory {} --city-key … (the files above) ==",
        city_files.signed.display()
    );
    print!("{}", crate::city::text(&city));
    if !city.clean() {
        return Err(failed(
            "the city report left a bundle out or found a discrepancy",
        ));
    }

    for stop in stops {
        let _ = stop.send(());
    }
    for task in tasks {
        task.await.map_err(failed)?.map_err(failed)?;
    }
    println!("\nAll notices delivered and verified; the federation has stopped.");
    Ok(())
}
