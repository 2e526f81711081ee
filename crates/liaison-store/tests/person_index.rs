//! The person index: the notices about a person, sent or received, are found by identity number
//! (or its start) and by name (or its start), and the migration that adds the index fills it
//! from the envelopes stored before it.

use liaison_core::draft::parse_draft_json;
use liaison_core::notice::Outgoing;
use liaison_core::{CountyCode, NodeKey, NoticeId, NoticeKind, SignedNotice};
use liaison_store::{
    InboundItem, InboundRecord, IssuedReceipt, OutboundRecord, PersonQuery, Store,
};

fn county(code: &str) -> CountyCode {
    CountyCode::parse(code).unwrap()
}

/// The signed envelope of the shipped example of `kind`, with id `id`, from `sender`.
fn envelope(kind: &str, id: NoticeId, sender: &str, recipient: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../deploy/examples/notices/{kind}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = parse_draft_json(&std::fs::read_to_string(path).unwrap())
        .unwrap()
        .body;
    let key = NodeKey::new(ed25519_dalek::SigningKey::from_bytes(&[3; 32]));
    let outgoing = Outgoing {
        id,
        sender: county(sender),
        recipient: county(recipient),
        kind: body.kind(),
        urgent: false,
        issued_at_ms: 1_000,
        in_reply_to: None,
    };
    SignedNotice::sign(&key, outgoing, body.encode()).envelope_bytes()
}

/// A case notice about 刘红梅 sent to 安塞区, and a certificate query about 高晓燕 received from
/// 延长县.
async fn fill(store: &Store) -> (NoticeId, NoticeId) {
    let sent = NoticeId::new(1_000, [1; 10]);
    let record = OutboundRecord::queued(
        sent,
        county("610603"),
        NoticeKind::CaseNotice,
        false,
        1_000,
        None,
    );
    let bytes = envelope("case_notice", sent, "610602", "610603");
    store.enqueue(&record, &bytes, [1; 32], None).await.unwrap();
    let received = NoticeId::new(2_000, [2; 10]);
    let item = InboundItem {
        record: InboundRecord {
            id: received,
            sender: county("610621"),
            kind: NoticeKind::CertificateQuery,
            urgent: false,
            issued_at_ms: 2_000,
            in_reply_to: None,
            received_at_ms: 2_500,
            envelope_sha256: [2; 32],
            reply_due_at_ms: None,
            deadline_error: None,
            answered_at_ms: None,
            flagged: None,
        },
        envelope: envelope("certificate_query", received, "610621", "610602"),
        content: [2; 32],
        existed_by_ms: None,
    };
    store
        .accept_inbound(&[item], |_, _| IssuedReceipt {
            bytes: vec![1, 2, 3],
            content: [3; 32],
            checkpoint: None,
        })
        .await
        .unwrap();
    (sent, received)
}

fn find(store: &Store, query: PersonQuery<'_>) -> Vec<NoticeId> {
    store.find_by_person(query, 10).unwrap()
}

fn check(store: &Store, sent: NoticeId, received: NoticeId) {
    use PersonQuery::{IdNumber, Name};
    assert_eq!(find(store, IdNumber("610603199302141228")), [sent]);
    assert_eq!(find(store, Name("刘红梅")), [sent]);
    // The spouse is named too.
    assert_eq!(find(store, Name("张建军")), [sent]);
    assert_eq!(find(store, IdNumber("61062119950708002x")), [received]);
    assert_eq!(find(store, Name("高")), [received]);
    // Both start with 6106: newest first.
    assert_eq!(find(store, IdNumber("6106")), [received, sent]);
    assert!(find(store, Name("王")).is_empty());
    assert!(find(store, IdNumber("610603199302141229")).is_empty());
}

#[tokio::test]
async fn sent_and_received_notices_are_found_by_identity_number_or_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (sent, received) = fill(&store).await;
    check(&store, sent, received);
}

#[tokio::test]
async fn the_migration_that_adds_the_index_fills_it_from_the_envelopes_stored_before() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (sent, received) = fill(&store).await;
    store.close().await.unwrap();
    drop(store);
    // Back to the schema before the index.
    let conn = rusqlite::Connection::open(dir.path().join(liaison_store::DB_FILE)).unwrap();
    conn.execute_batch("DROP TABLE person_key; DROP TABLE log_node; PRAGMA user_version = 4;")
        .unwrap();
    drop(conn);
    let store = Store::open(dir.path()).unwrap();
    check(&store, sent, received);
}
