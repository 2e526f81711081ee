//! A county rotates its signing key in the middle of an exchange: its peers list the new key from
//! the switch time on and close the old one there; notices signed before the switch, some still
//! queued while the recipient is down, and notices signed after it are all delivered, none is
//! refused, and what the old key signed keeps verifying at both ends.

use std::collections::BTreeSet;
use std::time::Duration;

use liaison_node::pki;
use liaison_proto::v1 as pb;
use liaison_tests::{ANSAI, BAOTA, Federation, THREE_COUNTIES, drafts, peer};

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A peer's `node.toml` announcing 宝塔区's rotation: the old key until `switch_ms`, `new_key`
/// from then on.
fn announce_rotation(config: String, new_key: &str, switch_ms: i64) -> String {
    let start = config
        .find(&format!("county = \"{BAOTA}\""))
        .expect("宝塔区 is a peer");
    let keys = start + config[start..].find("keys = [{ public_key = \"").unwrap();
    let end = keys + config[keys..].find("\" }]").unwrap();
    let at = rfc3339(switch_ms);
    let mut edited = config.clone();
    edited.replace_range(
        end..end + 4,
        &format!(
            "\", valid_until = \"{at}\" }}, {{ public_key = \"{new_key}\", valid_from = \"{at}\" }}]"
        ),
    );
    edited
}

async fn send_batch(fed: &Federation, n: usize) -> Vec<String> {
    let mut baota = fed.operator(BAOTA).await;
    let mut ids = Vec::new();
    for _ in 0..n {
        let sent = baota
            .send(&drafts::draft("contact_letter", Some(ANSAI)))
            .await;
        ids.push(sent.notice_id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_signing_key_mid_exchange_loses_nothing_and_old_signatures_keep_verifying() {
    let new_key = pki::generate_signing_key();
    let new_public = hex::encode(new_key.verifying_key().as_bytes());
    // The switch, announced ahead: a few seconds from now.
    let switch_ms = peer::now_ms() + 8_000;
    let announced = new_public.clone();
    let mut fed = Federation::builder(&THREE_COUNTIES)
        .edit_config(ANSAI, move |c| announce_rotation(c, &announced, switch_ms))
        .start()
        .await;
    let old_public = fed.public_key(BAOTA);

    // Before the switch: some delivered at once, some queued while 安塞区 is down.
    let delivered_before = send_batch(&fed, 3).await;
    let baota = fed.operator(BAOTA).await;
    for id in &delivered_before {
        baota.wait_for_status(id, pb::NoticeStatus::Delivered).await;
    }
    fed.stop(ANSAI).await;
    let queued_before = send_batch(&fed, 3).await;

    // The switch: 宝塔区 restarts with the new key once the switch time has passed.
    let wait_ms = (switch_ms - peer::now_ms()).max(0) as u64 + 100;
    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    fed.stop(BAOTA).await;
    let key_file = fed.node(BAOTA).home().join("signing.pem");
    pki::write_private(&key_file, &pki::signing_key_to_pem(&new_key)).unwrap();
    fed.restart(BAOTA).await;
    assert_eq!(
        hex::encode(fed.public_key(BAOTA).as_bytes()),
        new_public,
        "宝塔区 signs with the new key"
    );
    let after = send_batch(&fed, 3).await;
    fed.restart(ANSAI).await;

    let mut baota = fed.operator(BAOTA).await;
    let all: Vec<String> = [delivered_before.clone(), queued_before, after.clone()].concat();
    for id in &all {
        baota.retry_if_pending(id).await;
    }
    for id in &all {
        let info = baota.wait_for_status(id, pb::NoticeStatus::Delivered).await;
        assert_eq!(info.reject_code(), pb::RejectCode::Unspecified, "{info:?}");
    }
    let mut ansai = fed.operator(ANSAI).await;
    let inbox: BTreeSet<String> = ansai
        .inbox()
        .await
        .into_iter()
        .map(|n| n.notice_id)
        .collect();
    assert!(
        all.iter().all(|id| inbox.contains(id)),
        "every notice arrived"
    );

    // What the old key signed still verifies, at the sender and at the recipient.
    let old = &delivered_before[0];
    assert!(baota.show(old).await.signature_valid, "at 宝塔区");
    assert!(ansai.show(old).await.signature_valid, "at 安塞区");
    assert!(
        ansai.show(&after[0]).await.signature_valid,
        "the new key's too"
    );
    assert_ne!(fed.public_key(BAOTA), old_public);
    fed.shutdown().await;
}
