//! Trust: who the peers are, which keys they sign with, what the agreements allow, and the checks
//! every incoming envelope passes before it is accepted.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::VerifyingKey;
use liaison_proto::v1 as pb;
use prost::Message;
use time::Date;

use crate::body::NoticeBody;
use crate::clock::{cst_date, format_cst};
use crate::notice::{KeyId, SignedNotice};
use crate::reject::{RejectCode, Rejection};
use crate::{CountyCode, NoticeKind};

/// One of a peer's signing keys and when it may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerKey {
    pub key: VerifyingKey,
    /// Notices issued before this instant (Unix ms) may not use the key.
    pub valid_from_ms: i64,
    /// Notices issued at or after this instant may not use the key; `None` for no end.
    pub valid_until_ms: Option<i64>,
}

impl PeerKey {
    /// The key's id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.key)
    }

    /// Whether the key may sign something issued at `at_ms`.
    pub fn valid_at(&self, at_ms: i64) -> bool {
        at_ms >= self.valid_from_ms && self.valid_until_ms.is_none_or(|until| at_ms < until)
    }

    /// Whether a notice this key signed may still come in at `now_ms`: always while the key has
    /// no end; after its `valid_until`, only within `grace_ms`.
    pub fn accepts_at(
        &self,
        county: CountyCode,
        now_ms: i64,
        grace_ms: i64,
    ) -> Result<&Self, TrustError> {
        match self.valid_until_ms {
            Some(until) if now_ms >= until.saturating_add(grace_ms) => {
                Err(TrustError::KeyRetired {
                    key_id: self.key_id(),
                    county,
                    retired_at_ms: until,
                    grace_ms,
                })
            }
            _ => Ok(self),
        }
    }
}

/// The bilateral agreement (协议书) that lets two counties exchange notices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    pub allowed_kinds: BTreeSet<NoticeKind>,
    /// Responsible person (负责人).
    pub responsible_person: String,
    /// Contact person (联系人) and phone at the peer.
    pub contact_person: String,
    pub phone: String,
    pub postcode: String,
    /// First day (China Standard Time) on which the agreement is in force.
    pub effective: Date,
}

impl Agreement {
    /// Whether a notice of `kind` issued at `issued_at_ms` falls under this agreement.
    pub fn allows(&self, kind: NoticeKind, issued_at_ms: i64) -> Result<(), TrustError> {
        let day = cst_date(issued_at_ms).ok_or(TrustError::IssuedAtOutOfRange)?;
        if day < self.effective {
            return Err(TrustError::NotYetEffective {
                effective: self.effective,
                issued: day,
            });
        }
        if !self.allowed_kinds.contains(&kind) {
            return Err(TrustError::KindNotAgreed { kind });
        }
        Ok(())
    }
}

/// Why the directory does not let a notice through: a key it does not know or that was not valid,
/// or an agreement that is missing or does not cover the notice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The notice's issued-at time is not a day of the calendar.
    #[error("issued-at is out of range")]
    IssuedAtOutOfRange,
    /// The agreement was not yet in force on the day the notice was issued.
    #[error("the agreement takes effect on {effective}, after the notice was issued on {issued}")]
    NotYetEffective { effective: Date, issued: Date },
    /// The agreement does not list the notice's kind.
    #[error("the agreement does not allow {} ({})", .kind.name(), .kind.chinese())]
    KindNotAgreed { kind: NoticeKind },
    /// There is no agreement with the peer.
    #[error("there is no agreement (协议书) with {county} {name}")]
    NoAgreement { county: CountyCode, name: String },
    /// The directory lists no key with this id for the peer.
    #[error("key {key_id} is not one of {county}'s keys in the directory")]
    UnknownKey { key_id: KeyId, county: CountyCode },
    /// The key was not valid at the time it signed.
    #[error("key {key_id} of {county} was not valid at the notice's issued-at time")]
    KeyNotValid { key_id: KeyId, county: CountyCode },
    /// The key was retired, and the grace for notices signed before that is over: whatever
    /// issued-at a notice claims, the key brings in nothing new.
    #[error(
        "key {key_id} of {county} was retired at {}; notices it signed are accepted only until {} \
         (limits.retired_key_grace_secs), whatever their issued-at",
        format_cst(*.retired_at_ms),
        format_cst(.retired_at_ms.saturating_add(*.grace_ms))
    )]
    KeyRetired {
        key_id: KeyId,
        county: CountyCode,
        retired_at_ms: i64,
        grace_ms: i64,
    },
}

/// A county this node exchanges notices with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub county: CountyCode,
    pub name: String,
    /// Where its exchange service listens, e.g. `https://127.0.0.1:7443`.
    pub endpoint: String,
    pub keys: Vec<PeerKey>,
    /// `None`: no agreement, no exchange.
    pub agreement: Option<Agreement>,
}

impl Peer {
    /// The key with `key_id` if it was valid at `at_ms`.
    pub fn key_at(&self, key_id: KeyId, at_ms: i64) -> Result<&PeerKey, TrustError> {
        let key =
            self.keys
                .iter()
                .find(|k| k.key_id() == key_id)
                .ok_or(TrustError::UnknownKey {
                    key_id,
                    county: self.county,
                })?;
        if !key.valid_at(at_ms) {
            return Err(TrustError::KeyNotValid {
                key_id,
                county: self.county,
            });
        }
        Ok(key)
    }

    /// Whether this node may send `kind` to the peer now, with a reason if not.
    pub fn may_send(&self, kind: NoticeKind, issued_at_ms: i64) -> Result<(), TrustError> {
        match &self.agreement {
            None => Err(TrustError::NoAgreement {
                county: self.county,
                name: self.name.clone(),
            }),
            Some(a) => a.allows(kind, issued_at_ms),
        }
    }
}

/// The peers this node knows, by county code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    peers: BTreeMap<CountyCode, Peer>,
}

impl Directory {
    /// A directory of `peers`; a later entry for the same county replaces an earlier one.
    pub fn new(peers: impl IntoIterator<Item = Peer>) -> Self {
        Self {
            peers: peers.into_iter().map(|p| (p.county, p)).collect(),
        }
    }

    /// The peer with `county`.
    pub fn get(&self, county: CountyCode) -> Option<&Peer> {
        self.peers.get(&county)
    }

    /// All peers, by county code.
    pub fn peers(&self) -> impl Iterator<Item = &Peer> {
        self.peers.values()
    }
}

/// Limits an incoming envelope must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded envelope accepted, in bytes.
    pub max_envelope_bytes: usize,
    /// How far in the future an issued-at may lie, for clocks that disagree a little.
    pub max_clock_skew_ms: i64,
    /// How long after a key's `valid_until` notices it signed (before then) are still accepted,
    /// by this node's clock, so that notices queued during an outage are not stranded.
    pub retired_key_grace_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_envelope_bytes: DEFAULT_MAX_ENVELOPE_BYTES,
            max_clock_skew_ms: DEFAULT_MAX_CLOCK_SKEW_MS,
            retired_key_grace_ms: DEFAULT_RETIRED_KEY_GRACE_MS,
        }
    }
}

/// 256 KiB: a notice is text about a few people, not a file transfer.
pub const DEFAULT_MAX_ENVELOPE_BYTES: usize = 256 * 1024;
/// Five minutes.
pub const DEFAULT_MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;
/// Seven days: longer than a county's node is expected to be down over a holiday.
pub const DEFAULT_RETIRED_KEY_GRACE_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// An envelope that passed every check that needs no stored state.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub notice: SignedNotice,
    pub body: NoticeBody,
}

/// The node receiving the envelope: who it is and what it knows.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub me: CountyCode,
    pub directory: &'a Directory,
    pub limits: Limits,
}

/// Runs every stateless check on an envelope received over a TLS connection whose client
/// certificate `tls_is` says which counties it proves. Checks run in the order of docs/protocol.md,
/// and the first failure decides the code.
pub fn admit(
    recipient: Recipient<'_>,
    envelope: pb::Envelope,
    tls_is: impl Fn(CountyCode) -> bool,
    now_ms: i64,
) -> Result<Admitted, Rejection> {
    let size = envelope.encoded_len();
    if size > recipient.limits.max_envelope_bytes {
        return Err(Rejection::new(
            RejectCode::TooLarge,
            format!(
                "envelope is {size} bytes; this node accepts at most {}",
                recipient.limits.max_envelope_bytes
            ),
        ));
    }
    let notice = SignedNotice::open(envelope)?;
    let h = &notice.header;
    if !tls_is(h.sender) {
        return Err(Rejection::new(
            RejectCode::SenderMismatch,
            format!(
                "header.sender is {} but the TLS client certificate is not that county's",
                h.sender
            ),
        ));
    }
    if h.recipient != recipient.me {
        return Err(Rejection::new(
            RejectCode::WrongRecipient,
            format!(
                "header.recipient is {} but this node is {}",
                h.recipient, recipient.me
            ),
        ));
    }
    let peer = recipient.directory.get(h.sender).ok_or_else(|| {
        Rejection::new(
            RejectCode::UnknownSender,
            format!("{} is not in this node's directory", h.sender),
        )
    })?;
    let key = peer
        .key_at(h.key_id, h.issued_at_ms)
        .and_then(|key| key.accepts_at(peer.county, now_ms, recipient.limits.retired_key_grace_ms))
        .map_err(|why| Rejection::new(RejectCode::UnknownKey, why.to_string()))?;
    if !notice.signature_valid(&key.key) {
        return Err(Rejection::new(
            RejectCode::BadSignature,
            format!(
                "signature does not verify with {}'s key {}",
                h.sender, h.key_id
            ),
        ));
    }
    if !notice.payload_digest_valid() {
        return Err(Rejection::new(
            RejectCode::PayloadDigestMismatch,
            "the payload and payload_salt do not open header.payload_commitment",
        ));
    }
    if h.issued_at_ms > now_ms.saturating_add(recipient.limits.max_clock_skew_ms) {
        return Err(Rejection::new(
            RejectCode::IssuedInFuture,
            format!(
                "header.issued_at_ms is {} ms ahead of this node's clock; at most {} ms is allowed",
                h.issued_at_ms - now_ms,
                recipient.limits.max_clock_skew_ms
            ),
        ));
    }
    peer.may_send(h.kind, h.issued_at_ms)
        .map_err(|why| Rejection::new(RejectCode::KindNotAgreed, why.to_string()))?;
    let body = NoticeBody::decode(&notice.payload).map_err(|e| {
        if e.path == "payload" {
            Rejection::new(RejectCode::Malformed, e.to_string())
        } else {
            Rejection::new(RejectCode::InvalidContent, format!("body.{e}"))
        }
    })?;
    if body.kind() != h.kind {
        return Err(Rejection::new(
            RejectCode::InvalidContent,
            format!(
                "header.kind is {} but the payload is a {}",
                h.kind,
                body.kind()
            ),
        ));
    }
    check_reference_shape(h.kind, h.in_reply_to.is_some())?;
    Ok(Admitted { notice, body })
}

/// A reply kind must name the notice it answers; other kinds must not.
pub fn check_reference_shape(kind: NoticeKind, has_reference: bool) -> Result<(), Rejection> {
    if kind.requires_reference() && !has_reference {
        return Err(Rejection::new(
            RejectCode::InvalidContent,
            format!(
                "header.in_reply_to: a {} must name the notice it answers",
                kind.name()
            ),
        ));
    }
    if kind.answers().is_empty() && has_reference {
        return Err(Rejection::new(
            RejectCode::InvalidContent,
            format!(
                "header.in_reply_to: a {} is not a reply and must not name another notice",
                kind.name()
            ),
        ));
    }
    Ok(())
}

/// What this node knows of a notice that a reply points at.
#[derive(Debug, Clone, Copy)]
pub struct Original {
    pub kind: NoticeKind,
    pub recipient: CountyCode,
    /// When the replying county received it, by its signed receipt; `None` while this node holds
    /// no receipt for it.
    pub received_at_ms: Option<i64>,
}

/// Checks a reply issued at `issued_at_ms` against the notice it answers: `original` is the notice
/// this node sent under that id, if any. A reply cannot be older than the replier's own receipt of
/// the notice it answers.
pub fn check_reply(
    reply_kind: NoticeKind,
    replier: CountyCode,
    issued_at_ms: i64,
    original: Option<Original>,
) -> Result<(), Rejection> {
    let Some(original) = original else {
        return Err(Rejection::new(
            RejectCode::UnknownReference,
            "header.in_reply_to names no notice that this node sent",
        ));
    };
    if original.recipient != replier {
        return Err(Rejection::new(
            RejectCode::UnknownReference,
            format!(
                "header.in_reply_to names a notice sent to {}, not to {replier}",
                original.recipient
            ),
        ));
    }
    if !reply_kind.may_answer(original.kind) {
        return Err(Rejection::new(
            RejectCode::ReplyKindMismatch,
            format!(
                "a {} cannot answer a {}",
                reply_kind.name(),
                original.kind.name()
            ),
        ));
    }
    if let Some(received_at_ms) = original.received_at_ms
        && issued_at_ms < received_at_ms
    {
        return Err(Rejection::new(
            RejectCode::ReplyBeforeReceipt,
            format!(
                "header.issued_at_ms {} is before {replier} received the notice it answers, at {} by \
                 its own signed receipt: a clock was set back",
                format_cst(issued_at_ms),
                format_cst(received_at_ms)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use time::macros::date;

    use super::*;
    use crate::NodeKey;

    fn peer(agreement: Option<Agreement>) -> Peer {
        let key = NodeKey::new(SigningKey::from_bytes(&[2; 32])).verifying_key();
        Peer {
            county: CountyCode::parse("610603").unwrap(),
            name: "安塞区".into(),
            endpoint: "https://127.0.0.1:7443".into(),
            keys: vec![PeerKey {
                key,
                valid_from_ms: 1_000,
                valid_until_ms: Some(2_000),
            }],
            agreement,
        }
    }

    fn agreement() -> Agreement {
        Agreement {
            allowed_kinds: [NoticeKind::ContactLetter].into(),
            responsible_person: "张".into(),
            contact_person: "李".into(),
            phone: "0911-0000000".into(),
            postcode: "717400".into(),
            effective: date!(2026 - 01 - 01),
        }
    }

    /// 2026-03-02 09:00 CST.
    const MARCH: i64 = 1_772_413_200_000;

    #[test]
    fn trust_errors_say_what_is_missing_for_an_operator() {
        let p = peer(None);
        assert_eq!(
            p.may_send(NoticeKind::ContactLetter, MARCH)
                .unwrap_err()
                .to_string(),
            "there is no agreement (协议书) with 610603 安塞区"
        );
        let a = agreement();
        assert_eq!(a.allows(NoticeKind::ContactLetter, MARCH), Ok(()));
        assert_eq!(
            a.allows(NoticeKind::Bulletin, MARCH)
                .unwrap_err()
                .to_string(),
            "the agreement does not allow bulletin (信息通报)"
        );
        assert_eq!(
            a.allows(NoticeKind::ContactLetter, MARCH - 90 * 86_400_000)
                .unwrap_err()
                .to_string(),
            "the agreement takes effect on 2026-01-01, after the notice was issued on 2025-12-02"
        );
        assert_eq!(
            a.allows(NoticeKind::ContactLetter, i64::MAX),
            Err(TrustError::IssuedAtOutOfRange)
        );
        assert_eq!(
            TrustError::IssuedAtOutOfRange.to_string(),
            "issued-at is out of range"
        );
    }

    #[test]
    fn a_key_is_found_by_id_only_inside_its_window() {
        let p = peer(Some(agreement()));
        let id = p.keys[0].key_id();
        assert!(p.key_at(id, 1_000).is_ok());
        assert_eq!(
            p.key_at(id, 2_000).unwrap_err().to_string(),
            format!("key {id} of 610603 was not valid at the notice's issued-at time")
        );
        let other = KeyId::of(&NodeKey::new(SigningKey::from_bytes(&[9; 32])).verifying_key());
        assert_eq!(
            p.key_at(other, 1_500).unwrap_err().to_string(),
            format!("key {other} is not one of 610603's keys in the directory")
        );
    }
}
