//! Auditors: a node's log is tamper-evident to its peers, bundles verify offline (also redacted),
//! and an auditor's credentials never reach a payload.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use liaison_core::audit::Bundle;
use liaison_core::audit_verify::{verify_bundle, verify_bundle_with_directory};
use liaison_core::checkpoint::NoteVerifierKey;
use liaison_core::directory::SignedDirectory;
use liaison_core::notice::PAYLOAD_COMMITMENT_PREFIX;
use liaison_proto::v1 as pb;
use liaison_tests::{
    ANSAI, BAOTA, Federation, THREE_COUNTIES, YANCHANG, binary, drafts, eventually,
};
use sha2::{Digest, Sha256};
use tonic::Code;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

async fn send_delivered(
    from: &mut liaison_tests::Operator,
    kind: &str,
    to: &str,
) -> pb::NoticeInfo {
    let sent = from.send(&drafts::draft(kind, Some(to))).await;
    from.wait_for_status(&sent.notice_id, pb::NoticeStatus::Delivered)
        .await
}

async fn alarms(op: &mut liaison_tests::Operator, peer: &str) -> Vec<String> {
    op.peer(peer).await.alarms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_detects_a_log_restored_from_an_older_copy() {
    let mut fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    send_delivered(&mut baota, "case_notice", ANSAI).await;

    fed.stop(ANSAI).await;
    let backup = fed.dir().join("ansai-backup");
    copy_dir(&fed.node(ANSAI).data_dir(), &backup);
    fed.restart(ANSAI).await;
    for _ in 0..3 {
        send_delivered(&mut baota, "contact_letter", ANSAI).await;
    }
    assert!(
        alarms(&mut baota, ANSAI).await.is_empty(),
        "a log that only grows raises nothing"
    );

    fed.stop(ANSAI).await;
    let data = fed.node(ANSAI).data_dir();
    std::fs::remove_dir_all(&data).unwrap();
    copy_dir(&backup, &data);
    fed.restart(ANSAI).await;
    send_delivered(&mut baota, "contact_letter", ANSAI).await;

    let client = baota.client().clone();
    let found = eventually("an alarm about 安塞区's log at 宝塔区", || {
        let mut client = client.clone();
        async move {
            let peers = client
                .peers(pb::PeersRequest {})
                .await
                .map_err(|e| e.to_string())?
                .into_inner()
                .peers;
            let alarms = peers
                .into_iter()
                .find(|p| p.county == ANSAI)
                .map(|p| p.alarms)
                .unwrap_or_default();
            if alarms.is_empty() {
                Err("no alarm yet".to_owned())
            } else {
                Ok(alarms)
            }
        }
    })
    .await;
    assert!(found[0].contains("rollback"), "{found:?}");
    assert!(
        alarms(&mut baota, YANCHANG).await.is_empty(),
        "other peers are not blamed"
    );

    // The alarm is persistent: it survives a restart of the node that raised it.
    fed.stop(BAOTA).await;
    fed.restart(BAOTA).await;
    let mut baota = fed.operator(BAOTA).await;
    assert_eq!(alarms(&mut baota, ANSAI).await, found);

    // Once 安塞区 has announced its restore, 宝塔区's operator accepts its log as it is now: the
    // alarms are acknowledged and further exchange raises none.
    let request = pb::AcceptPeerLogRequest { peer: ANSAI.into() };
    let info = baota
        .client()
        .accept_peer_log(request)
        .await
        .unwrap()
        .into_inner();
    assert!(info.alarms.is_empty(), "{info:?}");
    send_delivered(&mut baota, "contact_letter", ANSAI).await;
    send_delivered(&mut baota, "contact_letter", ANSAI).await;
    assert!(
        alarms(&mut baota, ANSAI).await.is_empty(),
        "the new starting point holds"
    );
    fed.shutdown().await;
}

async fn export(
    client: &mut liaison_tests::AdminClient,
    redact: bool,
) -> Result<Bundle, tonic::Status> {
    let request = pb::AuditExportRequest {
        from_ms: 0,
        to_ms: i64::MAX,
        peer: String::new(),
        redact_payloads: redact,
    };
    let response = client.export_audit(request).await?.into_inner();
    Ok(serde_json::from_str(&response.bundle_json).expect("bundle JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_bundle_verifies_offline_and_so_does_a_redacted_one() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let mut ansai = fed.operator(ANSAI).await;
    let case = send_delivered(&mut baota, "case_notice", ANSAI).await;
    let reply = ansai
        .reply(&case.notice_id, &drafts::draft("reply_letter", None))
        .await;
    ansai
        .wait_for_status(&reply.notice_id, pb::NoticeStatus::Delivered)
        .await;
    send_delivered(&mut baota, "bulletin", YANCHANG).await;

    let full = export(baota.client(), false).await.unwrap();
    let report = verify_bundle(&full);
    assert!(report.ok, "{}", report.to_text());
    // The checkpoint in every receipt the node issued is proven consistent by the bundle itself.
    assert!(
        !report
            .notes
            .iter()
            .any(|n| n.contains("not among the earlier checkpoints")),
        "{}",
        report.to_text()
    );
    assert!(
        full.items
            .iter()
            .filter(|i| i.kind.ends_with("notice"))
            .all(|i| i.payload.is_some() && i.payload_salt.is_some())
    );
    assert_eq!(
        full.items.len(),
        6,
        "three notices and their three receipts"
    );

    let redacted = export(baota.client(), true).await.unwrap();
    assert!(redacted.redacted);
    assert!(
        redacted
            .items
            .iter()
            .all(|i| i.payload.is_none() && i.payload_salt.is_none()),
        "no payload and no salt in a redacted bundle"
    );
    let report = verify_bundle(&redacted);
    assert!(report.ok, "{}", report.to_text());

    // A period after everything the node logged: an empty bundle that proves it empty with the
    // last leaf before it; a period before everything: nothing to show it with.
    let last_logged = full.items.iter().map(|i| i.logged_at_ms).max().unwrap();
    let later = pb::AuditExportRequest {
        from_ms: last_logged + 1,
        to_ms: i64::MAX,
        peer: String::new(),
        redact_payloads: true,
    };
    let response = baota
        .client()
        .export_audit(later)
        .await
        .unwrap()
        .into_inner();
    let empty: Bundle = serde_json::from_str(&response.bundle_json).unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.first_leaf, empty.last_leaf + 1);
    assert!(empty.leaf_before.is_some() && empty.leaf_after.is_none());
    let report = verify_bundle(&empty);
    assert!(report.ok, "{}", report.to_text());
    let earlier = pb::AuditExportRequest {
        from_ms: 0,
        to_ms: 1,
        peer: String::new(),
        redact_payloads: true,
    };
    let refused = baota.client().export_audit(earlier).await.unwrap_err();
    assert!(
        refused.message().contains("no notices in this period"),
        "{refused:?}"
    );
    fed.shutdown().await;
}

/// Every byte string a bundle's JSON text shows: each string as written, and decoded from
/// base64 or hex where it is that, token by token (a checkpoint is several lines of them).
fn byte_strings(value: &serde_json::Value, out: &mut Vec<Vec<u8>>) {
    match value {
        serde_json::Value::String(text) => {
            out.push(text.as_bytes().to_vec());
            for token in std::iter::once(text.as_str()).chain(text.split_whitespace()) {
                out.extend(B64.decode(token).ok());
                out.extend(hex::decode(token).ok());
            }
        }
        serde_json::Value::Array(values) => values.iter().for_each(|v| byte_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| byte_strings(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redacted_bundle_holds_no_value_derived_from_a_payload_without_its_salt() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    // The same draft twice: equal payloads must not show as equal commitments either.
    let first = send_delivered(&mut baota, "case_notice", ANSAI).await;
    let second = send_delivered(&mut baota, "case_notice", ANSAI).await;

    let full = export(baota.client(), false).await.unwrap();
    let notices: Vec<_> = full
        .items
        .iter()
        .filter(|i| i.kind == "sent_notice")
        .collect();
    assert_eq!(notices.len(), 2);
    let payloads: Vec<Vec<u8>> = notices
        .iter()
        .map(|i| B64.decode(i.payload.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(
        payloads[0], payloads[1],
        "{} and {}",
        first.notice_id, second.notice_id
    );
    let salts: Vec<Vec<u8>> = notices
        .iter()
        .map(|i| B64.decode(i.payload_salt.as_deref().unwrap()).unwrap())
        .collect();
    assert_ne!(salts[0], salts[1]);
    assert_ne!(notices[0].signed, notices[1].signed);

    // What anyone who guesses the payload can compute without a salt.
    let payload = &payloads[0];
    let salted = |salt: &[u8]| -> Vec<u8> {
        Sha256::new()
            .chain_update(PAYLOAD_COMMITMENT_PREFIX)
            .chain_update(salt)
            .chain_update(payload)
            .finalize()
            .to_vec()
    };
    let mut guessable = vec![
        ("the payload", payload.clone()),
        ("the payload's SHA-256", Sha256::digest(payload).to_vec()),
        ("the commitment without a salt", salted(&[])),
        ("the commitment with a zero salt", salted(&[0; 32])),
    ];
    for salt in &salts {
        guessable.push(("a payload salt", salt.clone()));
    }

    let request = pb::AuditExportRequest {
        from_ms: 0,
        to_ms: i64::MAX,
        peer: String::new(),
        redact_payloads: true,
    };
    let text = baota
        .client()
        .export_audit(request)
        .await
        .unwrap()
        .into_inner()
        .bundle_json;
    let mut shown = Vec::new();
    byte_strings(&serde_json::from_str(&text).unwrap(), &mut shown);
    shown.push(text.into_bytes());
    for (what, value) in &guessable {
        for bytes in &shown {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_slice()),
                "the redacted bundle shows {what}"
            );
        }
    }
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditor_credentials_cannot_read_a_payload_or_change_anything() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let case = send_delivered(&mut baota, "case_notice", ANSAI).await;
    let queued = baota
        .send(&drafts::draft("contact_letter", Some(YANCHANG)))
        .await;

    let token = std::fs::read_to_string(fed.node(BAOTA).data_dir().join("auditor.token")).unwrap();
    let mut auditor = fed.admin_client(BAOTA, Some(token.trim())).await;

    let detail = auditor
        .show(pb::NoticeRef {
            notice_id: case.notice_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(detail.payload_withheld);
    assert!(detail.body_json.is_empty(), "no body for an auditor");
    assert!(
        detail.signature_valid,
        "metadata and signature status are still shown"
    );
    let operator_view = baota.show(&case.notice_id).await;
    assert!(
        !operator_view.body_json.is_empty(),
        "the operator still sees it"
    );

    let listed = auditor
        .list_outbox(pb::ListRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.notices.len(), 2);
    let refused = export(&mut auditor, false).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let bundle = export(&mut auditor, true).await.unwrap();
    assert!(bundle.items.iter().all(|i| i.payload.is_none()));

    let draft = drafts::draft("case_notice", Some(ANSAI));
    let send = auditor
        .send(pb::SendRequest {
            draft_json: draft,
            in_reply_to: String::new(),
        })
        .await;
    assert_eq!(send.unwrap_err().code(), Code::PermissionDenied);
    let id = pb::NoticeRef {
        notice_id: queued.notice_id.clone(),
    };
    assert_eq!(
        auditor.retry(id.clone()).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        auditor.cancel(id).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_ne!(
        baota.info(&queued.notice_id).await.status(),
        pb::NoticeStatus::Cancelled
    );
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_key_rotation_the_nodes_older_notices_still_verify_and_so_does_its_bundle() {
    let mut fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    let signed_before = send_delivered(&mut baota, "bulletin", YANCHANG).await;
    let old_key = fed.public_key(BAOTA);

    // 宝塔区 switches to a new signing key (its peers are not asked to accept it: this is about
    // what the node itself shows and exports).
    fed.stop(BAOTA).await;
    let key_file = fed.node(BAOTA).home().join("signing.pem");
    let new_key = liaison_node::pki::generate_signing_key();
    liaison_node::pki::write_private(&key_file, &liaison_node::pki::signing_key_to_pem(&new_key))
        .unwrap();
    fed.restart(BAOTA).await;
    assert_ne!(fed.public_key(BAOTA), old_key, "the key was rotated");
    let mut baota = fed.operator(BAOTA).await;

    let shown = baota.show(&signed_before.notice_id).await;
    assert!(
        shown.signature_valid,
        "a notice signed with the earlier key still verifies: {shown:?}"
    );
    assert!(shown.receipt_valid, "{shown:?}");
    let bundle = export(baota.client(), false).await.unwrap();
    let own: Vec<_> = bundle.keys.iter().filter(|k| k.county == BAOTA).collect();
    assert_eq!(own.len(), 2, "the old key and the new one: {own:?}");
    let report = verify_bundle(&bundle);
    assert!(report.ok, "{}", report.to_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_verifies_against_the_city_directory_and_a_forged_peer_key_in_it_does_not() {
    let fed = Federation::builder(&THREE_COUNTIES)
        .signed_directory(60)
        .start()
        .await;
    let mut baota = fed.operator(BAOTA).await;
    send_delivered(&mut baota, "case_notice", ANSAI).await;
    let bundle = export(baota.client(), false).await.unwrap();
    let city = fed.city();
    let vkey = NoteVerifierKey::parse(&city.verifier_key).unwrap();
    let directory =
        SignedDirectory::open(&std::fs::read_to_string(&city.signed).unwrap(), &vkey).unwrap();
    let report = verify_bundle_with_directory(&bundle, &directory);
    assert!(report.ok, "{}", report.to_text());

    // The exporter swaps in a key of its own for 安塞区: the directory does not vouch for it.
    let mut forged = bundle.clone();
    let forged_key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key();
    for key in forged.keys.iter_mut().filter(|k| k.county == ANSAI) {
        key.public_key = hex::encode(forged_key.as_bytes());
    }
    let report = verify_bundle_with_directory(&forged, &directory);
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.item.ends_with(&format!("({ANSAI})"))
                && f.problem
                    .contains("is not one of 610603's keys in the city's directory")),
        "{}",
        report.to_text()
    );

    // The same through the command line: the honest bundle verifies, the forged one does not.
    let dir = fed.dir();
    for (name, bundle, ok) in [
        ("honest.json", &bundle, true),
        ("forged.json", &forged, false),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, serde_json::to_string(bundle).unwrap()).unwrap();
        let output = std::process::Command::new(binary::liaison())
            .args(["audit", "verify", "--directory"])
            .arg(&city.signed)
            .args(["--city-key", &city.verifier_key])
            .arg(&file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.success(), ok, "{name}: {stdout}");
        assert!(
            stdout.contains("Trust:       keys checked against the directory of city"),
            "{stdout}"
        );
    }
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creation_time_the_node_itself_moves_ahead_is_caught_by_its_checkpoints_cosignatures() {
    let fed = Federation::start(&THREE_COUNTIES).await;
    let mut baota = fed.operator(BAOTA).await;
    send_delivered(&mut baota, "contact_letter", ANSAI).await;
    let honest = export(baota.client(), true).await.unwrap();
    let report = verify_bundle(&honest);
    assert!(report.ok, "{}", report.to_text());
    let (county, cosigned_at) = report
        .cosigned
        .clone()
        .expect("the other counties cosigned the bundle's checkpoint");
    assert_ne!(county, BAOTA);
    assert!((cosigned_at - honest.created_at_ms).abs() < 60_000);

    // 宝塔区 itself dates its bundle 30 days later and signs the claims again: its own
    // signature holds, the other counties' cosignatures do not agree.
    let mut moved = honest.clone();
    moved.created_at_ms += 30 * 86_400_000;
    moved.sign_claims(&fed.signing_key(BAOTA));
    let report = verify_bundle(&moved);
    assert!(!report.ok);
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.item == "created_at_ms" && f.problem.contains("cosigned its checkpoint")),
        "{}",
        report.to_text()
    );
    fed.shutdown().await;
}
