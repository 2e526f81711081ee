//! Three counties on a directory the city signs: a new version handed to one node reaches every
//! node through its peers within seconds, without a restart, and changes what they accept; a
//! directory with a forged signature or a serial not above the one in use is refused when
//! published and ignored when a peer serves it. The city's CLI, a county added later and a key
//! rotated through the directory work the same way.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use liaison_core::directory::{
    DirectoryDoc, KeyDoc, SignedDirectory, format_instant, sign_directory,
};
use liaison_core::{NodeKey, NoticeKind, RejectCode};
use liaison_node::clock::SystemClock;
use liaison_node::config::Config;
use liaison_node::{Node, pki};
use liaison_proto::v1 as pb;
use liaison_proto::v1::exchange_server::{Exchange, ExchangeServer};
use liaison_tests::peer::{self, NoticeBuilder};
use liaison_tests::{
    ANSAI, BAOTA, Federation, THREE_COUNTIES, YANCHANG, binary, code, drafts, eventually,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// Signs the next version of the federation's directory after `edit`, as the city does with
/// `liaison directory sign`, and returns the signed note. The draft keeps the new serial.
fn sign_next(fed: &Federation, edit: impl FnOnce(&mut DirectoryDoc)) -> SignedDirectory {
    let city = fed.city();
    let mut doc = DirectoryDoc::parse(&std::fs::read_to_string(&city.draft).unwrap()).unwrap();
    edit(&mut doc);
    let key_text = std::fs::read_to_string(&city.key).unwrap();
    let key = NodeKey::new(pki::signing_key_from_pem(&key_text, &city.key).unwrap());
    let signed = sign_directory(&mut doc, &key, peer::now_ms()).unwrap();
    std::fs::write(&city.draft, doc.to_text()).unwrap();
    signed
}

/// The agreement between `a` and `b` in `doc`.
fn agreement<'d>(doc: &'d mut DirectoryDoc, a: &str, b: &str) -> &'d mut Vec<String> {
    &mut doc
        .agreements
        .iter_mut()
        .find(|x| x.counties.contains(&a.to_owned()) && x.counties.contains(&b.to_owned()))
        .unwrap_or_else(|| panic!("no agreement between {a} and {b}"))
        .kinds
}

async fn publish(
    fed: &Federation,
    county: &str,
    note: &str,
) -> Result<pb::PublishDirectoryResponse, Status> {
    let mut operator = fed.operator(county).await;
    operator
        .client()
        .publish_directory(pb::PublishDirectoryRequest {
            signed_directory: note.to_owned(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn serial_of(fed: &Federation, county: &str) -> u64 {
    let mut operator = fed.operator(county).await;
    operator
        .client()
        .peers(pb::PeersRequest {})
        .await
        .unwrap()
        .into_inner()
        .directory_serial
}

/// Waits until every node of `counties` uses the directory with `serial`.
async fn wait_for_serial(fed: &Federation, counties: &[&str], serial: u64) {
    eventually(
        &format!("every node on directory serial {serial}"),
        || async {
            let mut seen = Vec::new();
            for county in counties {
                seen.push((*county, serial_of(fed, county).await));
            }
            if seen.iter().all(|(_, s)| *s == serial) {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        },
    )
    .await
}

async fn metrics(addr: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text
}

/// The value of `liaison_directory_refusals_total` with `reason` at `county`'s node.
async fn refusals(fed: &Federation, county: &str, reason: &str) -> u64 {
    let text = metrics(fed.node(county).admin_addr()).await;
    let prefix = format!("liaison_directory_refusals_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_published_to_one_node_reaches_every_node_and_changes_what_is_agreed_without_a_restart()
 {
    let fed = Federation::builder(&THREE_COUNTIES)
        .signed_directory(1)
        .start()
        .await;
    let all = [BAOTA, ANSAI, YANCHANG];
    wait_for_serial(&fed, &all, 1).await;
    let mut baota = fed.operator(BAOTA).await;
    let before = baota.send(&drafts::draft("bulletin", Some(ANSAI))).await;
    baota
        .wait_for_status(&before.notice_id, pb::NoticeStatus::Delivered)
        .await;

    // Version 2: 宝塔区 and 安塞区 no longer agree on bulletins. Only 宝塔区 is told.
    let v2 = sign_next(&fed, |doc| {
        agreement(doc, BAOTA, ANSAI).retain(|k| k != NoticeKind::Bulletin.name());
    });
    let answer = publish(&fed, BAOTA, &v2.note).await.unwrap();
    assert_eq!((answer.serial, answer.accepted), (2, true));
    wait_for_serial(&fed, &all, 2).await;
    let refused = baota
        .try_send(&drafts::draft("bulletin", Some(ANSAI)), "")
        .await
        .unwrap_err();
    assert!(refused.message().contains("bulletin"), "{refused:?}");
    let mut raw = fed.peer(BAOTA, ANSAI).await;
    let bulletin = NoticeBuilder::new("bulletin", code(BAOTA), code(ANSAI))
        .sign(&fed.signing_key(BAOTA))
        .to_envelope();
    let receipt = peer::deliver_one(&mut raw, bulletin.clone()).await;
    peer::assert_refused(
        &receipt,
        &bulletin,
        code(ANSAI),
        &fed.public_key(ANSAI),
        RejectCode::KindNotAgreed,
    );

    // Version 3 agrees on bulletins again, and now on them only for 宝塔区 and 延长县.
    let v3 = sign_next(&fed, |doc| {
        agreement(doc, BAOTA, ANSAI).push(NoticeKind::Bulletin.name().to_owned());
        agreement(doc, BAOTA, YANCHANG).retain(|k| k == NoticeKind::Bulletin.name());
    });
    publish(&fed, BAOTA, &v3.note).await.unwrap();
    wait_for_serial(&fed, &all, 3).await;
    let after = baota.send(&drafts::draft("bulletin", Some(ANSAI))).await;
    let delivered = baota
        .wait_for_status(&after.notice_id, pb::NoticeStatus::Delivered)
        .await;
    assert_eq!(delivered.reject_code(), pb::RejectCode::Unspecified);
    assert!(
        baota
            .try_send(&drafts::draft("case_notice", Some(YANCHANG)), "")
            .await
            .is_err(),
        "宝塔区 and 延长县 now agree on bulletins only"
    );

    // Every node kept its copy: a restart starts from serial 3, not from the configured file's 1.
    let mut fed = fed;
    fed.stop(ANSAI).await;
    fed.restart(ANSAI).await;
    assert_eq!(serial_of(&fed, ANSAI).await, 3);
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_older_directory_is_refused_when_published() {
    let fed = Federation::builder(&THREE_COUNTIES)
        .signed_directory(60)
        .start()
        .await;
    let first = std::fs::read_to_string(&fed.city().signed).unwrap();
    let v2 = sign_next(&fed, |doc| doc.counties[0].name = "宝塔".into());
    let forged = v2.note.replace("宝塔", "宝塔区");
    let refused = publish(&fed, BAOTA, &forged).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("signature"), "{refused:?}");
    assert_eq!(serial_of(&fed, BAOTA).await, 1);

    let answer = publish(&fed, BAOTA, &v2.note).await.unwrap();
    assert_eq!((answer.serial, answer.accepted), (2, true));
    let again = publish(&fed, BAOTA, &v2.note).await.unwrap();
    assert_eq!(
        (again.serial, again.accepted),
        (2, false),
        "the same version twice is no change"
    );
    let older = publish(&fed, BAOTA, &first).await.unwrap_err();
    assert_eq!(older.code(), tonic::Code::FailedPrecondition, "{older:?}");
    assert!(
        older
            .message()
            .contains("serial 1 is not newer than serial 2"),
        "{older:?}"
    );
    assert_eq!(serial_of(&fed, BAOTA).await, 2);
    assert_eq!(refusals(&fed, BAOTA, "signature").await, 1);
    assert_eq!(refusals(&fed, BAOTA, "not_newer").await, 1);

    let mut auditor = fed.admin_client(BAOTA, Some(&auditor_token(&fed))).await;
    let forbidden = auditor
        .publish_directory(pb::PublishDirectoryRequest {
            signed_directory: v2.note.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(forbidden.code(), tonic::Code::PermissionDenied);

    // A configured file that does not verify stops the node from starting, naming the file.
    let mut fed = fed;
    fed.stop(BAOTA).await;
    std::fs::write(&fed.city().signed, &forged).unwrap();
    let config = Config::load(fed.node(BAOTA).config_path()).unwrap();
    let error = Node::start(config, Arc::new(SystemClock))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("/../directory.note: the city's signature"),
        "{error}"
    );
    fed.shutdown().await;
}

fn auditor_token(fed: &Federation) -> String {
    std::fs::read_to_string(fed.node(BAOTA).data_dir().join("auditor.token"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A county's exchange service that answers `GetDirectory` with whatever the test puts in it.
#[derive(Clone, Default)]
struct ServesDirectory(Arc<Mutex<String>>);

#[tonic::async_trait]
impl Exchange for ServesDirectory {
    async fn deliver(
        &self,
        _request: Request<pb::DeliverRequest>,
    ) -> Result<Response<pb::DeliverResponse>, Status> {
        Err(Status::unavailable("not delivering"))
    }

    async fn consistency(
        &self,
        _request: Request<pb::ConsistencyRequest>,
    ) -> Result<Response<pb::ConsistencyResponse>, Status> {
        Err(Status::unavailable("no log"))
    }

    async fn cosign(
        &self,
        _request: Request<pb::CosignRequest>,
    ) -> Result<Response<pb::CosignResponse>, Status> {
        Err(Status::unavailable("not cosigning"))
    }

    async fn get_directory(
        &self,
        _request: Request<pb::GetDirectoryRequest>,
    ) -> Result<Response<pb::GetDirectoryResponse>, Status> {
        let signed_directory = self.0.lock().unwrap().clone();
        Ok(Response::new(pb::GetDirectoryResponse { signed_directory }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_older_directory_served_by_a_peer_is_ignored() {
    let mut fed = Federation::builder(&THREE_COUNTIES)
        .signed_directory(1)
        .start()
        .await;
    let first = std::fs::read_to_string(&fed.city().signed).unwrap();
    let v2 = sign_next(&fed, |doc| doc.counties[1].name = "安塞".into());
    publish(&fed, BAOTA, &v2.note).await.unwrap();
    wait_for_serial(&fed, &[BAOTA, ANSAI], 2).await;

    // 延长县's address now answers with its certificate, serving a forged version 3.
    fed.stop(YANCHANG).await;
    let home = fed.node(YANCHANG).home().to_owned();
    let tls = pki::load_tls_files(
        &home.join("tls.crt"),
        &home.join("tls.key"),
        &fed.dir().join("ca.crt"),
    )
    .unwrap();
    let served = ServesDirectory::default();
    let v3 = sign_next(&fed, |doc| doc.counties[1].name = "安塞区".into());
    *served.0.lock().unwrap() = v3.note.replace("安塞区", "安塞县");
    let listener = tokio::net::TcpListener::bind(fed.node(YANCHANG).exchange_addr())
        .await
        .unwrap();
    let server = tokio::spawn(
        Server::builder()
            .tls_config(tls.server_config())
            .unwrap()
            .add_service(ExchangeServer::new(served.clone()))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    for county in [BAOTA, ANSAI] {
        eventually(
            &format!("{county} refusing the forged directory"),
            || async {
                match refusals(&fed, county, "signature").await {
                    0 => Err("no refusal yet".to_owned()),
                    _ => Ok(()),
                }
            },
        )
        .await;
    }
    *served.0.lock().unwrap() = first;
    for county in [BAOTA, ANSAI] {
        eventually(
            &format!("{county} refusing the older directory"),
            || async {
                match refusals(&fed, county, "not_newer").await {
                    0 => Err("no refusal yet".to_owned()),
                    _ => Ok(()),
                }
            },
        )
        .await;
    }
    for county in [BAOTA, ANSAI] {
        assert_eq!(serial_of(&fed, county).await, 2, "{county}");
    }
    // The real version 3, served the same way, is taken: the refusals were for what was served.
    *served.0.lock().unwrap() = v3.note.clone();
    wait_for_serial(&fed, &[BAOTA, ANSAI], 3).await;
    server.abort();
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_city_changes_signs_and_publishes_a_version_with_the_cli_and_every_node_takes_it() {
    let fed = Federation::builder(&THREE_COUNTIES)
        .signed_directory(1)
        .start()
        .await;
    let city = fed.city().clone();
    let dir = Some(fed.dir());
    let liaison = |args: Vec<String>| binary::run(dir, args);
    let args = |list: &[&str]| list.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    let draft = city.draft.display().to_string();

    let (code, _, stderr) = liaison(args(&[
        "directory",
        "agree",
        "--draft",
        &draft,
        "--counties",
        BAOTA,
        ANSAI,
        "--kinds",
        "case_notice,contact_letter",
        "--effective",
        "2026-01-01",
        "--contact",
        &format!("{BAOTA},王芳,0911-8212345"),
        "--contact",
        &format!("{ANSAI},李强,0911-6212345,张伟,717400"),
    ]))
    .await;
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = liaison(args(&[
        "directory",
        "agree",
        "--draft",
        &draft,
        "--counties",
        BAOTA,
        "610699",
        "--kinds",
        "all",
        "--effective",
        "2026-01-01",
        "--contact",
        "610699,x,1",
        "--contact",
        &format!("{BAOTA},y,2"),
    ]))
    .await;
    assert_eq!(code, 2, "a county not in the directory is bad input");
    assert!(
        stderr.contains("agreements[")
            && stderr.contains("610699 is not a county of the directory"),
        "{stderr}"
    );

    // The city gives 安塞区 7 days for contact letters; a rule for a kind nothing answers is
    // refused and changes nothing.
    let (code, _, stderr) = liaison(args(&[
        "directory",
        "deadline",
        "--draft",
        &draft,
        "--county",
        ANSAI,
        "--kind",
        "contact_letter",
        "--days",
        "7",
    ]))
    .await;
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = liaison(args(&[
        "directory",
        "deadline",
        "--draft",
        &draft,
        "--county",
        ANSAI,
        "--kind",
        "bulletin",
        "--days",
        "7",
    ]))
    .await;
    assert_eq!(code, 2);
    assert!(
        stderr.contains("deadlines.rules.bulletin") && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    let federation = DirectoryDoc::parse(&std::fs::read_to_string(&city.draft).unwrap())
        .unwrap()
        .check()
        .unwrap();
    let ansai_rules = federation
        .county(liaison_core::CountyCode::parse(ANSAI).unwrap())
        .and_then(|c| c.policy.clone())
        .expect("安塞区's rules");
    assert_eq!(
        ansai_rules.rule(NoticeKind::ContactLetter).unwrap().normal,
        liaison_core::Period::CalendarDays(7)
    );
    assert_eq!(ansai_rules.rule(NoticeKind::Bulletin), None);

    let key = city.key.display().to_string();
    let (code, stdout, stderr) = liaison(args(&[
        "directory",
        "sign",
        "--draft",
        &draft,
        "--key",
        &key,
        "--out",
        "v2.note",
    ]))
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("signed serial 2"), "{stdout}");
    assert!(
        stdout.contains(&city.verifier_key),
        "sign prints the city's key: {stdout}"
    );
    let (code, stdout, stderr) = liaison(args(&[
        "directory",
        "verify",
        "--city-key",
        &city.verifier_key,
        "v2.note",
    ]))
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");

    let v2 = std::fs::read_to_string(fed.dir().join("v2.note")).unwrap();
    std::fs::write(fed.dir().join("forged.note"), v2.replace("李强", "李刚")).unwrap();
    let (code, _, stderr) = liaison(args(&[
        "directory",
        "verify",
        "--city-key",
        &city.verifier_key,
        "forged.note",
    ]))
    .await;
    assert_eq!(code, 5, "{stderr}");
    let config = fed.node(BAOTA).config_path().display().to_string();
    let (code, _, stderr) = liaison(args(&[
        "directory",
        "publish",
        "--config",
        &config,
        "forged.note",
    ]))
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("signature"), "{stderr}");
    let (code, stdout, stderr) = liaison(args(&[
        "directory",
        "publish",
        "--config",
        &config,
        "v2.note",
    ]))
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("serial 2"), "{stdout}");
    wait_for_serial(&fed, &[BAOTA, ANSAI, YANCHANG], 2).await;
    let mut ansai = fed.operator(ANSAI).await;
    let baota = ansai.peer(BAOTA).await;
    assert_eq!(
        baota.contact_person, "王芳",
        "安塞区 sees 宝塔区's contact of version 2"
    );
    let (code, stdout, _) = liaison(args(&[
        "peers",
        "--config",
        &fed.node(ANSAI).config_path().display().to_string(),
    ]))
    .await;
    assert_eq!(code, 0);
    assert!(stdout.contains("DIRECTORY 名录: serial 2"), "{stdout}");
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_county_added_by_a_newer_directory_is_delivered_to_without_a_restart() {
    let fed = Federation::builder(&THREE_COUNTIES)
        .signed_directory(1)
        .start()
        .await;
    let mut baota = fed.operator(BAOTA).await;
    let yanchuan = "610622";
    assert!(
        baota
            .try_send(&drafts::draft("case_notice", Some(yanchuan)), "")
            .await
            .is_err(),
        "延川县 is not in the directory yet"
    );
    // 延川县 joins, with an agreement with 宝塔区; its node is not up yet.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("https://{}", closed.local_addr().unwrap());
    drop(closed);
    let v2 = sign_next(&fed, |doc| {
        let mut county = doc.counties[0].clone();
        county.code = yanchuan.into();
        county.name = "延川县".into();
        county.endpoint = endpoint;
        doc.counties.push(county);
        let mut agreement = doc.agreements[0].clone();
        assert_eq!(agreement.counties, [BAOTA, ANSAI]);
        agreement.counties[1] = yanchuan.into();
        agreement.contacts[1].county = yanchuan.into();
        doc.agreements.push(agreement);
    });
    publish(&fed, BAOTA, &v2.note).await.unwrap();
    let sent = baota
        .send(&drafts::draft("case_notice", Some(yanchuan)))
        .await;
    eventually("宝塔区 trying to deliver to 延川县", || async {
        let mut baota = fed.operator(BAOTA).await;
        let peer = baota.peer(yanchuan).await;
        if peer.last_error.is_empty() {
            Err(format!("no attempt yet: {peer:?}"))
        } else {
            Ok(())
        }
    })
    .await;
    let info = baota.info(&sent.notice_id).await;
    assert_eq!(info.status(), pb::NoticeStatus::InFlight, "{info:?}");
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_through_the_directory_is_announced_switched_and_retired_without_peer_restarts()
 {
    let mut fed = Federation::builder(&THREE_COUNTIES)
        .signed_directory(1)
        .start()
        .await;
    let old_key = fed.signing_key(BAOTA);
    let mut baota = fed.operator(BAOTA).await;
    let before = baota
        .send(&drafts::draft("contact_letter", Some(ANSAI)))
        .await;
    baota
        .wait_for_status(&before.notice_id, pb::NoticeStatus::Delivered)
        .await;

    // Announce: the city adds 宝塔区's new key, valid from now; 延长县 is the node told.
    let new_key = pki::generate_signing_key();
    let switch_ms = peer::now_ms();
    let announce = sign_next(&fed, |doc| {
        doc.county_mut(BAOTA).unwrap().keys.push(KeyDoc {
            public_key: hex::encode(new_key.verifying_key().as_bytes()),
            valid_from: format_instant(switch_ms),
            valid_until: None,
        });
    });
    publish(&fed, YANCHANG, &announce.note).await.unwrap();
    wait_for_serial(&fed, &[BAOTA, ANSAI, YANCHANG], 2).await;

    // Switch: only 宝塔区 restarts, with the new key.
    fed.stop(BAOTA).await;
    let key_file = fed.node(BAOTA).home().join("signing.pem");
    pki::write_private(&key_file, &pki::signing_key_to_pem(&new_key)).unwrap();
    fed.restart(BAOTA).await;
    let mut baota = fed.operator(BAOTA).await;
    let after = baota
        .send(&drafts::draft("contact_letter", Some(ANSAI)))
        .await;
    let delivered = baota
        .wait_for_status(&after.notice_id, pb::NoticeStatus::Delivered)
        .await;
    assert_eq!(delivered.reject_code(), pb::RejectCode::Unspecified);

    // Retire: the old key ends at the switch; it is kept, so what it signed still verifies.
    let retire = sign_next(&fed, |doc| {
        doc.county_mut(BAOTA).unwrap().keys[0].valid_until = Some(format_instant(switch_ms));
    });
    publish(&fed, ANSAI, &retire.note).await.unwrap();
    wait_for_serial(&fed, &[BAOTA, ANSAI, YANCHANG], 3).await;
    let mut raw = fed.peer(BAOTA, ANSAI).await;
    let late = NoticeBuilder::new("contact_letter", code(BAOTA), code(ANSAI))
        .sign(&old_key)
        .to_envelope();
    let receipt = peer::deliver_one(&mut raw, late.clone()).await;
    peer::assert_refused(
        &receipt,
        &late,
        code(ANSAI),
        &fed.public_key(ANSAI),
        RejectCode::UnknownKey,
    );
    let mut ansai = fed.operator(ANSAI).await;
    assert!(ansai.show(&before.notice_id).await.signature_valid);
    assert!(ansai.show(&after.notice_id).await.signature_valid);
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_countys_deadline_rules_set_by_the_city_are_applied_by_its_node_and_by_auditors() {
    use liaison_core::audit::Bundle;
    use liaison_core::audit_verify::{verify_bundle, verify_bundle_with_directory};
    use liaison_core::deadline::{PolicyDoc, RuleDoc};

    let fed = Federation::builder(&THREE_COUNTIES)
        .signed_directory(1)
        .start()
        .await;
    let all = [BAOTA, ANSAI, YANCHANG];
    wait_for_serial(&fed, &all, 1).await;
    // Version 2: the city gives 安塞区 7 days (3 if urgent) to answer a contact letter.
    let rules = PolicyDoc {
        holiday_extension: None,
        rules: [(
            NoticeKind::ContactLetter.name().to_owned(),
            RuleDoc {
                required: true,
                days: Some(7),
                urgent_days: Some(3),
                working_days: false,
            },
        )]
        .into_iter()
        .collect(),
    };
    let seven = rules.to_policy().unwrap();
    let v2 = sign_next(&fed, |doc| {
        doc.counties
            .iter_mut()
            .find(|c| c.code == ANSAI)
            .unwrap()
            .deadlines = Some(rules.clone());
    });
    publish(&fed, BAOTA, &v2.note).await.unwrap();
    wait_for_serial(&fed, &all, 2).await;

    let mut baota = fed.operator(BAOTA).await;
    let sent = baota
        .send(&drafts::draft("contact_letter", Some(ANSAI)))
        .await;
    baota
        .wait_for_status(&sent.notice_id, pb::NoticeStatus::Delivered)
        .await;
    let response = baota
        .client()
        .export_audit(pb::AuditExportRequest {
            from_ms: 0,
            to_ms: i64::MAX,
            peer: String::new(),
            redact_payloads: true,
        })
        .await
        .unwrap()
        .into_inner();
    let bundle: Bundle = serde_json::from_str(&response.bundle_json).unwrap();
    assert_eq!(
        bundle.peer_policies.len(),
        1,
        "安塞区's rules, from the directory"
    );
    assert_eq!(bundle.peer_policies[0].county, ANSAI);

    // 安塞区's receipt states the due time of the city's rule, not the directive's.
    let report = verify_bundle(&bundle);
    assert!(report.ok, "{}", report.to_text());
    let line = report
        .deadlines
        .iter()
        .find(|l| l.notice_id == sent.notice_id)
        .unwrap();
    let calendar = liaison_core::HolidayCalendar::builtin();
    let city_due = seven
        .due_at(
            NoticeKind::ContactLetter,
            line.urgent,
            line.received_at_ms,
            &calendar,
        )
        .unwrap();
    let directive_due = liaison_core::DuePolicy::default()
        .due_at(
            NoticeKind::ContactLetter,
            line.urgent,
            line.received_at_ms,
            &calendar,
        )
        .unwrap();
    assert_ne!(city_due, directive_due);
    assert_eq!(line.due_at_ms, city_due);
    let pinned = verify_bundle_with_directory(&bundle, &v2);
    assert!(pinned.ok, "{}", pinned.to_text());

    // Without 安塞区's rules, its receipt disagrees with the node's own.
    let mut bare = bundle.clone();
    bare.peer_policies.clear();
    let report = verify_bundle(&bare);
    assert!(
        report.failures.iter().any(|f| f
            .problem
            .contains("but the bundle's policy and calendars give")),
        "{}",
        report.to_text()
    );
    // Against the directory its rules come from the city, whatever the bundle carries.
    let pinned = verify_bundle_with_directory(&bare, &v2);
    assert!(pinned.ok, "{}", pinned.to_text());
    fed.shutdown().await;
}
