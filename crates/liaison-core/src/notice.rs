//! Signed notices: ids, headers, and the exact bytes that are signed, digested, verified and stored.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use liaison_proto::v1 as pb;
use prost::Message;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::reject::{RejectCode, Rejection};
use crate::{CountyCode, NoticeKind};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Prepended to the header bytes before signing, so a notice signature can never pass for another.
pub const NOTICE_SIGNING_PREFIX: &[u8] = b"liaison/v1/notice\0";
/// Prepended to the header and signature to compute an envelope digest.
pub const ENVELOPE_DIGEST_PREFIX: &[u8] = b"liaison/v1/envelope\0";
/// Domain separation for the header's payload commitment.
pub const PAYLOAD_COMMITMENT_PREFIX: &[u8] = b"liaison/v1/payload\0";
/// Domain separation for deriving a notice's payload salt from the sender's secret key.
const PAYLOAD_SALT_PREFIX: &[u8] = b"liaison/v1/payload-salt\0";

/// A notice id: a UUIDv7, so ids sort by creation time and never collide across counties.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NoticeId(Uuid);

/// Why a text is not a notice id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a notice id: expected a UUIDv7 in lowercase hyphenated form, e.g. 019ac0de-7a4f-7c3e-9b1d-2f0e8a6b5c4d"
)]
pub struct NoticeIdError(pub String);

impl NoticeId {
    /// A new id for an instant and 10 random bytes (the caller supplies randomness).
    pub fn new(unix_ms: u64, random: [u8; 10]) -> Self {
        Self(uuid::Builder::from_unix_timestamp_millis(unix_ms, &random).into_uuid())
    }

    /// Parses the canonical text form; anything else is refused so that one id has one spelling.
    pub fn parse(text: &str) -> Result<Self, NoticeIdError> {
        let uuid = Uuid::try_parse(text).map_err(|_| NoticeIdError(text.to_owned()))?;
        let canonical = uuid.hyphenated().to_string();
        if canonical != text || uuid.get_version_num() != 7 {
            return Err(NoticeIdError(text.to_owned()));
        }
        Ok(Self(uuid))
    }

    /// The 16 id bytes: big-endian, so byte order is time order.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// Rebuilds an id from the 16 bytes of [`NoticeId::as_bytes`].
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Uuid::from_bytes(bytes))
    }
}

impl fmt::Display for NoticeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for NoticeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoticeId({})", self.0.hyphenated())
    }
}

impl FromStr for NoticeId {
    type Err = NoticeIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for NoticeId {
    type Error = NoticeIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<NoticeId> for String {
    fn from(id: NoticeId) -> String {
        id.to_string()
    }
}

/// Names a signing key: the first 8 bytes of SHA-256 of the 32-byte public key, in hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The id of a public key.
    pub fn of(key: &VerifyingKey) -> Self {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self(id)
    }

    /// Parses 16 lowercase hex characters.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 16 || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let mut id = [0u8; 8];
        hex::decode_to_slice(text, &mut id).ok()?;
        Some(Self(id))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The node's own Ed25519 key with its id, used to sign notices and receipts.
pub struct NodeKey {
    key: SigningKey,
    id: KeyId,
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret half.
        write!(f, "NodeKey({})", self.id)
    }
}

impl NodeKey {
    /// Wraps a signing key.
    pub fn new(key: SigningKey) -> Self {
        let id = KeyId::of(&key.verifying_key());
        Self { key, id }
    }

    /// The id peers know this key by.
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The salt for a notice's payload commitment: SHA-256(`PAYLOAD_SALT_PREFIX` || secret key ||
    /// notice id || payload). Like an Ed25519 nonce it is secret and never repeats for another notice.
    fn payload_salt(&self, id: NoticeId, payload: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(PAYLOAD_SALT_PREFIX);
        hasher.update(self.key.to_bytes());
        hasher.update(id.to_string().as_bytes());
        hasher.update(payload);
        hasher.finalize().into()
    }

    /// Signs `prefix || message`.
    pub fn sign(&self, prefix: &[u8], message: &[u8]) -> [u8; 64] {
        let mut input = Vec::with_capacity(prefix.len() + message.len());
        input.extend_from_slice(prefix);
        input.extend_from_slice(message);
        self.key.sign(&input).to_bytes()
    }
}

/// Verifies `signature` over `prefix || message` with strict Ed25519 (no malleable or small-order keys).
pub fn verify_prefixed(
    key: &VerifyingKey,
    prefix: &[u8],
    message: &[u8],
    signature: &[u8; 64],
) -> bool {
    let mut input = Vec::with_capacity(prefix.len() + message.len());
    input.extend_from_slice(prefix);
    input.extend_from_slice(message);
    key.verify_strict(&input, &Signature::from_bytes(signature))
        .is_ok()
}

/// The decoded, checked fields of a notice header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub id: NoticeId,
    pub sender: CountyCode,
    pub recipient: CountyCode,
    pub kind: NoticeKind,
    pub urgent: bool,
    pub issued_at_ms: i64,
    pub in_reply_to: Option<NoticeId>,
    pub key_id: KeyId,
    /// SHA-256(`PAYLOAD_COMMITMENT_PREFIX` || salt || payload): hides the payload from whoever lacks the salt.
    pub payload_commitment: [u8; 32],
}

impl Header {
    fn to_wire(&self) -> pb::NoticeHeader {
        pb::NoticeHeader {
            version: PROTOCOL_VERSION,
            notice_id: self.id.to_string(),
            sender: self.sender.to_string(),
            recipient: self.recipient.to_string(),
            kind: self.kind.to_wire() as i32,
            urgent: self.urgent,
            issued_at_ms: self.issued_at_ms,
            in_reply_to: self
                .in_reply_to
                .map(|id| id.to_string())
                .unwrap_or_default(),
            key_id: self.key_id.to_string(),
            payload_commitment: self.payload_commitment.to_vec(),
        }
    }

    /// Decodes and checks header bytes received from a peer.
    pub fn decode(bytes: &[u8]) -> Result<Self, Rejection> {
        if bytes.is_empty() {
            return Err(Rejection::new(RejectCode::Malformed, "header is empty"));
        }
        let wire = pb::NoticeHeader::decode(bytes).map_err(|e| {
            Rejection::new(
                RejectCode::Malformed,
                format!("header is not a valid NoticeHeader: {e}"),
            )
        })?;
        if wire.version != PROTOCOL_VERSION {
            return Err(Rejection::new(
                RejectCode::UnsupportedVersion,
                format!(
                    "header version {} is not supported; this node speaks version {PROTOCOL_VERSION}",
                    wire.version
                ),
            ));
        }
        let invalid = |field: &str, problem: String| {
            Rejection::new(
                RejectCode::InvalidContent,
                format!("header.{field}: {problem}"),
            )
        };
        let id =
            NoticeId::parse(&wire.notice_id).map_err(|e| invalid("notice_id", e.to_string()))?;
        let sender =
            CountyCode::parse(&wire.sender).map_err(|e| invalid("sender", e.to_string()))?;
        let recipient =
            CountyCode::parse(&wire.recipient).map_err(|e| invalid("recipient", e.to_string()))?;
        let kind = NoticeKind::from_wire(wire.kind)
            .ok_or_else(|| invalid("kind", format!("{} is not a known notice kind", wire.kind)))?;
        let in_reply_to = match wire.in_reply_to.as_str() {
            "" => None,
            text => Some(NoticeId::parse(text).map_err(|e| invalid("in_reply_to", e.to_string()))?),
        };
        let key_id = KeyId::parse(&wire.key_id).ok_or_else(|| {
            invalid(
                "key_id",
                format!("{:?} is not 16 lowercase hex characters", wire.key_id),
            )
        })?;
        let payload_commitment: [u8; 32] =
            wire.payload_commitment.as_slice().try_into().map_err(|_| {
                invalid(
                    "payload_commitment",
                    format!("must be 32 bytes, not {}", wire.payload_commitment.len()),
                )
            })?;
        if sender == recipient {
            return Err(invalid(
                "recipient",
                "a county cannot send a notice to itself".into(),
            ));
        }
        Ok(Self {
            id,
            sender,
            recipient,
            kind,
            urgent: wire.urgent,
            issued_at_ms: wire.issued_at_ms,
            in_reply_to,
            key_id,
            payload_commitment,
        })
    }
}

/// A notice exactly as signed: the header and payload bytes are never re-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNotice {
    pub header: Header,
    pub header_bytes: Vec<u8>,
    pub payload: Vec<u8>,
    pub signature: [u8; 64],
    /// The secret that the header's commitment mixes in; it travels and is removed with the payload.
    pub payload_salt: [u8; 32],
}

/// What a sender decides about a new notice; the rest of the header is derived when signing.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: NoticeId,
    pub sender: CountyCode,
    pub recipient: CountyCode,
    pub kind: NoticeKind,
    pub urgent: bool,
    pub issued_at_ms: i64,
    pub in_reply_to: Option<NoticeId>,
}

impl SignedNotice {
    /// Signs a notice whose payload is the encoded body `payload`. The payload salt is derived from
    /// the signing key's secret, the notice id and the payload, so it is unique per notice and
    /// unguessable without the key, and signing needs no source of randomness.
    pub fn sign(key: &NodeKey, outgoing: Outgoing, payload: Vec<u8>) -> Self {
        let payload_salt = key.payload_salt(outgoing.id, &payload);
        let header = Header {
            id: outgoing.id,
            sender: outgoing.sender,
            recipient: outgoing.recipient,
            kind: outgoing.kind,
            urgent: outgoing.urgent,
            issued_at_ms: outgoing.issued_at_ms,
            in_reply_to: outgoing.in_reply_to,
            key_id: key.key_id(),
            payload_commitment: payload_commitment(&payload_salt, &payload),
        };
        let header_bytes = header.to_wire().encode_to_vec();
        let signature = key.sign(NOTICE_SIGNING_PREFIX, &header_bytes);
        Self {
            header,
            header_bytes,
            payload,
            signature,
            payload_salt,
        }
    }

    /// Opens an envelope received from a peer: decodes the header and checks the parts' shapes.
    /// Signature, key and digest checks are separate (see [`crate::trust`]).
    pub fn open(envelope: pb::Envelope) -> Result<Self, Rejection> {
        let signature: [u8; 64] = envelope.signature.as_slice().try_into().map_err(|_| {
            Rejection::new(
                RejectCode::Malformed,
                format!(
                    "envelope.signature must be 64 bytes, not {}",
                    envelope.signature.len()
                ),
            )
        })?;
        let payload_salt: [u8; 32] = envelope.payload_salt.as_slice().try_into().map_err(|_| {
            Rejection::new(
                RejectCode::Malformed,
                format!(
                    "envelope.payload_salt must be 32 bytes, not {}",
                    envelope.payload_salt.len()
                ),
            )
        })?;
        let header = Header::decode(&envelope.header)?;
        Ok(Self {
            header,
            header_bytes: envelope.header,
            payload: envelope.payload,
            signature,
            payload_salt,
        })
    }

    /// Decodes envelope bytes as stored or received.
    pub fn from_envelope_bytes(bytes: &[u8]) -> Result<Self, Rejection> {
        let envelope = pb::Envelope::decode(bytes).map_err(|e| {
            Rejection::new(RejectCode::Malformed, format!("not a valid Envelope: {e}"))
        })?;
        Self::open(envelope)
    }

    /// The envelope for the wire, carrying the signed bytes unchanged.
    pub fn to_envelope(&self) -> pb::Envelope {
        pb::Envelope {
            header: self.header_bytes.clone(),
            payload: self.payload.clone(),
            signature: self.signature.to_vec(),
            payload_salt: self.payload_salt.to_vec(),
        }
    }

    /// The envelope encoded for storage or transport.
    pub fn envelope_bytes(&self) -> Vec<u8> {
        self.to_envelope().encode_to_vec()
    }

    /// Whether the signature verifies with `key` (strict Ed25519).
    pub fn signature_valid(&self, key: &VerifyingKey) -> bool {
        verify_prefixed(
            key,
            NOTICE_SIGNING_PREFIX,
            &self.header_bytes,
            &self.signature,
        )
    }

    /// Whether the payload and salt open the header's payload commitment.
    pub fn payload_digest_valid(&self) -> bool {
        payload_commitment(&self.payload_salt, &self.payload) == self.header.payload_commitment
    }

    /// The digest a receipt names: it covers the header and signature, and so the payload through
    /// the header's payload digest, which lets an auditor match a receipt to a redacted envelope.
    pub fn envelope_sha256(&self) -> [u8; 32] {
        envelope_sha256(&self.header_bytes, &self.signature)
    }
}

/// SHA-256(`PAYLOAD_COMMITMENT_PREFIX` || salt || payload); the salt has a fixed length, so the
/// split between salt and payload is unambiguous.
pub fn payload_commitment(salt: &[u8; 32], payload: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(PAYLOAD_COMMITMENT_PREFIX);
    hasher.update(salt);
    hasher.update(payload);
    hasher.finalize().into()
}

/// SHA-256(`ENVELOPE_DIGEST_PREFIX` || u32be(len(header)) || header || signature).
pub fn envelope_sha256(header_bytes: &[u8], signature: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(ENVELOPE_DIGEST_PREFIX);
    hasher.update((header_bytes.len() as u32).to_be_bytes());
    hasher.update(header_bytes);
    hasher.update(signature);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn key(seed: u8) -> NodeKey {
        NodeKey::new(SigningKey::from_bytes(&[seed; 32]))
    }

    fn outgoing() -> Outgoing {
        Outgoing {
            id: NoticeId::new(1_780_000_000_000, [7; 10]),
            sender: CountyCode::parse("610602").unwrap(),
            recipient: CountyCode::parse("610603").unwrap(),
            kind: NoticeKind::CaseNotice,
            urgent: true,
            issued_at_ms: 1_780_000_000_000,
            in_reply_to: None,
        }
    }

    #[test]
    fn notice_ids_are_canonical_uuid_v7_and_time_ordered() {
        let early = NoticeId::new(1_000, [0xff; 10]);
        let late = NoticeId::new(2_000, [0; 10]);
        assert!(early < late);
        assert_eq!(NoticeId::parse(&early.to_string()), Ok(early));
        assert!(NoticeId::parse(&early.to_string().to_uppercase()).is_err());
        assert!(
            NoticeId::parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8").is_err(),
            "v1 uuid refused"
        );
        assert!(NoticeId::parse("not-an-id").is_err());
    }

    #[test]
    fn signed_notice_survives_the_wire_and_verifies() {
        let k = key(1);
        let notice = SignedNotice::sign(&k, outgoing(), b"payload".to_vec());
        let received = SignedNotice::from_envelope_bytes(&notice.envelope_bytes()).unwrap();
        assert_eq!(received, notice);
        assert!(received.signature_valid(&k.verifying_key()));
        assert!(received.payload_digest_valid());
        assert!(!received.signature_valid(&key(2).verifying_key()));
    }

    #[test]
    fn any_flipped_header_bit_breaks_the_signature() {
        let k = key(1);
        let notice = SignedNotice::sign(&k, outgoing(), b"payload".to_vec());
        for i in 0..notice.header_bytes.len() {
            let mut tampered = notice.clone();
            tampered.header_bytes[i] ^= 0x01;
            assert!(!tampered.signature_valid(&k.verifying_key()), "byte {i}");
        }
    }

    #[test]
    fn tampered_payload_fails_the_digest() {
        let notice = SignedNotice::sign(&key(1), outgoing(), b"payload".to_vec());
        let mut tampered = notice.clone();
        tampered.payload[0] ^= 1;
        assert!(!tampered.payload_digest_valid());
    }

    #[test]
    fn tampered_salt_fails_the_digest() {
        let notice = SignedNotice::sign(&key(1), outgoing(), b"payload".to_vec());
        let mut tampered = notice.clone();
        tampered.payload_salt[0] ^= 1;
        assert!(!tampered.payload_digest_valid());
    }

    #[test]
    fn two_notices_with_the_same_payload_have_different_commitments() {
        let payload = b"payload".to_vec();
        let first = SignedNotice::sign(&key(1), outgoing(), payload.clone());
        let mut second_id = outgoing();
        second_id.id = NoticeId::new(1_780_000_000_000, [8; 10]);
        let second = SignedNotice::sign(&key(1), second_id, payload.clone());
        let other_key = SignedNotice::sign(&key(2), outgoing(), payload.clone());
        for other in [&second, &other_key] {
            assert_ne!(other.payload_salt, first.payload_salt);
            assert_ne!(
                other.header.payload_commitment,
                first.header.payload_commitment
            );
        }
        let unsalted: [u8; 32] = Sha256::digest(&payload).into();
        assert_ne!(first.header.payload_commitment, unsalted);
        assert!(first.payload_digest_valid() && second.payload_digest_valid());
    }

    #[test]
    fn header_with_wrong_version_is_refused_as_unsupported() {
        let mut wire = pb::NoticeHeader::decode(
            SignedNotice::sign(&key(1), outgoing(), vec![])
                .header_bytes
                .as_slice(),
        )
        .unwrap();
        wire.version = 2;
        let err = Header::decode(&wire.encode_to_vec()).unwrap_err();
        assert_eq!(err.code, RejectCode::UnsupportedVersion);
    }

    #[test]
    fn garbage_header_is_malformed() {
        let err = Header::decode(&[0xff, 0xff, 0xff]).unwrap_err();
        assert_eq!(err.code, RejectCode::Malformed);
    }

    #[test]
    fn key_ids_are_sixteen_lowercase_hex() {
        let id = key(3).key_id();
        assert_eq!(id.to_string().len(), 16);
        assert_eq!(KeyId::parse(&id.to_string()), Some(id));
        assert_eq!(KeyId::parse(&id.to_string().to_uppercase()), None);
    }
}
