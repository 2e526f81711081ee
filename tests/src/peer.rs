//! Acting as a peer county by hand: connect to a node's exchange service with a county's TLS
//! identity, craft and sign envelopes (well-formed or deliberately broken), deliver them, and
//! read the signed receipts.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::VerifyingKey;
use liaison_core::notice::{NOTICE_SIGNING_PREFIX, Outgoing, envelope_sha256};
use liaison_core::{
    CountyCode, KeyId, NodeKey, NoticeId, NoticeKind, Outcome, RejectCode, SignedNotice,
    SignedReceipt,
};
use liaison_node::clock::{Clock, SystemClock};
use liaison_node::pki;
use liaison_proto::v1 as pb;
use liaison_proto::v1::exchange_client::ExchangeClient;
use prost::Message;
use sha2::{Digest, Sha256};
use tonic::transport::{Channel, Endpoint};

use crate::drafts;

/// Largest message the raw client sends or reads, as large as a node's own limit.
const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Connects to the exchange service at `addr` of county `target` as the county whose files lie in
/// `home` (`tls.crt`, `tls.key`), trusting the CA certificate `ca`.
///
/// # Panics
/// If the files are unusable or the TLS connection cannot be made.
pub async fn connect(
    home: &Path,
    ca: &Path,
    target: CountyCode,
    addr: SocketAddr,
) -> ExchangeClient<Channel> {
    let tls = pki::load_tls_files(&home.join("tls.crt"), &home.join("tls.key"), ca)
        .unwrap_or_else(|e| panic!("{e}"));
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls.client_config(target))
        .unwrap()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(crate::poll::DEADLINE)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {target} at {addr}: {e:?}"));
    ExchangeClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// Now, as the nodes' clock tells it.
pub fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// A new notice id for instant `at_ms`, unique across this test process.
pub fn fresh_id(at_ms: i64) -> NoticeId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // std's hasher keys are random per process: entropy without a clock or another crate.
    let salt = RandomState::new().build_hasher().finish();
    let seed = Sha256::digest(format!("{}/{salt}/{n}", std::process::id()));
    let mut random = [0u8; 10];
    random.copy_from_slice(&seed[..10]);
    NoticeId::new(at_ms.max(0) as u64, random)
}

/// A notice being made by hand; by default a fresh id, issued now, not a reply, not urgent.
#[derive(Debug, Clone)]
pub struct NoticeBuilder {
    outgoing: Outgoing,
    payload: Vec<u8>,
}

impl NoticeBuilder {
    /// A notice from `sender` to `recipient` whose body is the shipped example of kind `example`.
    pub fn new(example: &str, sender: CountyCode, recipient: CountyCode) -> Self {
        let (kind, payload) = drafts::payload(example);
        let now = now_ms();
        Self {
            outgoing: Outgoing {
                id: fresh_id(now),
                sender,
                recipient,
                kind,
                urgent: false,
                issued_at_ms: now,
                in_reply_to: None,
            },
            payload,
        }
    }

    /// Uses notice id `id`.
    pub fn id(mut self, id: NoticeId) -> Self {
        self.outgoing.id = id;
        self
    }

    /// Claims to have been issued at `at_ms`.
    pub fn issued_at(mut self, at_ms: i64) -> Self {
        self.outgoing.issued_at_ms = at_ms;
        self
    }

    /// Answers notice `original`.
    pub fn in_reply_to(mut self, original: NoticeId) -> Self {
        self.outgoing.in_reply_to = Some(original);
        self
    }

    /// Carries `payload` as a body of kind `kind`.
    pub fn body(mut self, kind: NoticeKind, payload: Vec<u8>) -> Self {
        self.outgoing.kind = kind;
        self.payload = payload;
        self
    }

    /// Signs the notice with `key`, whose id goes into the header.
    pub fn sign(self, key: &NodeKey) -> SignedNotice {
        SignedNotice::sign(key, self.outgoing, self.payload)
    }
}

/// `notice`'s envelope with its header changed by `edit`, re-encoded and signed with `key`.
pub fn resigned(
    notice: &SignedNotice,
    key: &NodeKey,
    edit: impl FnOnce(&mut pb::NoticeHeader),
) -> pb::Envelope {
    let mut header = pb::NoticeHeader::decode(notice.header_bytes.as_slice()).unwrap();
    edit(&mut header);
    let header = header.encode_to_vec();
    let signature = key.sign(NOTICE_SIGNING_PREFIX, &header).to_vec();
    pb::Envelope {
        header,
        payload: notice.payload.clone(),
        signature,
        payload_salt: notice.payload_salt.to_vec(),
    }
}

/// `notice`'s envelope with its header naming key `claimed` but signed with `key`: a signature
/// by one key passed off as another's.
pub fn signed_under_key_id(notice: &SignedNotice, claimed: KeyId, key: &NodeKey) -> pb::Envelope {
    resigned(notice, key, |header| header.key_id = claimed.to_string())
}

/// Delivers `envelopes` in one call and opens each signed receipt of the answer.
///
/// # Panics
/// If the call fails, or the answer does not hold one readable receipt per envelope.
pub async fn deliver(
    client: &mut ExchangeClient<Channel>,
    envelopes: Vec<pb::Envelope>,
) -> Vec<SignedReceipt> {
    let count = envelopes.len();
    let receipts = client
        .deliver(pb::DeliverRequest {
            envelopes,
            proofs: Vec::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("Deliver failed: {s:?}"))
        .into_inner()
        .receipts;
    assert_eq!(receipts.len(), count, "one receipt per envelope");
    receipts
        .into_iter()
        .map(|wire| SignedReceipt::open(wire).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Delivers one envelope and returns its opened receipt.
pub async fn deliver_one(
    client: &mut ExchangeClient<Channel>,
    envelope: pb::Envelope,
) -> SignedReceipt {
    deliver(client, vec![envelope]).await.remove(0)
}

/// Checks that `receipt` is `recipient`'s signed refusal of `envelope` with `code`, verifying the
/// signature with `recipient_key`; returns the refusal's reason.
///
/// # Panics
/// If any of that does not hold.
pub fn assert_refused(
    receipt: &SignedReceipt,
    envelope: &pb::Envelope,
    recipient: CountyCode,
    recipient_key: &VerifyingKey,
    code: RejectCode,
) -> String {
    let r = &receipt.receipt;
    let reason = match &r.outcome {
        Outcome::Rejected(rejection) => {
            assert_eq!(
                rejection.code, code,
                "refused, but for another reason: {rejection}"
            );
            rejection.reason.clone()
        }
        Outcome::Accepted => panic!("accepted an envelope that should be refused with {code}"),
    };
    assert!(!reason.trim().is_empty(), "a refusal gives its reason");
    assert!(
        receipt.signature_valid(recipient_key),
        "the refusal receipt verifies with {recipient}'s key"
    );
    assert_eq!(
        r.key_id,
        KeyId::of(recipient_key),
        "receipt names the signing key"
    );
    assert_eq!(r.recipient, recipient, "receipt signed by the recipient");
    assert_eq!(
        r.envelope_sha256,
        envelope_sha256(&envelope.header, &envelope.signature),
        "receipt names this very envelope"
    );
    reason
}
