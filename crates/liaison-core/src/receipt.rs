//! Signed receipts: the recipient's statement that it stored (or refused) an envelope, and when.

use ed25519_dalek::VerifyingKey;
use liaison_proto::v1 as pb;
use prost::Message;

use crate::CountyCode;
use crate::notice::{KeyId, NodeKey, NoticeId, PROTOCOL_VERSION, verify_prefixed};
use crate::reject::{RejectCode, Rejection};

/// Prepended to the receipt bytes before signing.
pub const RECEIPT_SIGNING_PREFIX: &[u8] = b"liaison/v1/receipt\0";

/// What the recipient decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Rejected(Rejection),
}

/// The decoded fields of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// `None` when the envelope's header could not be read.
    pub notice_id: Option<NoticeId>,
    pub envelope_sha256: [u8; 32],
    pub recipient: CountyCode,
    /// `None` when the envelope's header could not be read.
    pub sender: Option<CountyCode>,
    pub received_at_ms: i64,
    pub outcome: Outcome,
    pub reply_due_at_ms: Option<i64>,
    pub key_id: KeyId,
    /// The recipient's signed checkpoint (a signed note) just after it logged the notice.
    pub checkpoint: Option<String>,
    /// In an accepting receipt of a reply: the earliest time, on the word of counties other than
    /// the replier, by which the reply existed (see [`crate::cosign`]).
    pub existed_by_ms: Option<i64>,
}

/// A receipt exactly as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReceipt {
    pub receipt: Receipt,
    pub receipt_bytes: Vec<u8>,
    pub signature: [u8; 64],
}

/// Why receipt bytes from a peer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("receipt {field}: {problem}")]
pub struct ReceiptError {
    pub field: &'static str,
    pub problem: String,
}

fn receipt_error(field: &'static str, problem: impl Into<String>) -> ReceiptError {
    ReceiptError {
        field,
        problem: problem.into(),
    }
}

/// The answer to an envelope refused before its sender could be identified (its header cannot
/// be read): a rejecting `Receipt` with an empty signature and no key id, which costs no
/// signature. It decides nothing: the sender may deliver the envelope again.
pub fn unsigned_rejection(
    envelope_sha256: [u8; 32],
    recipient: CountyCode,
    received_at_ms: i64,
    rejection: &Rejection,
) -> pb::SignedReceipt {
    let wire = pb::Receipt {
        version: PROTOCOL_VERSION,
        envelope_sha256: envelope_sha256.to_vec(),
        recipient: recipient.to_string(),
        received_at_ms,
        accepted: false,
        reject_code: rejection.code.to_wire() as i32,
        reject_reason: rejection.reason.clone(),
        ..pb::Receipt::default()
    };
    pb::SignedReceipt {
        receipt: wire.encode_to_vec(),
        signature: Vec::new(),
    }
}

/// The rejection an unsigned answer (see [`unsigned_rejection`]) states, if `wire` is one.
pub fn read_unsigned_rejection(wire: &pb::SignedReceipt) -> Option<Rejection> {
    if !wire.signature.is_empty() {
        return None;
    }
    let r = pb::Receipt::decode(wire.receipt.as_slice()).ok()?;
    if r.accepted {
        return None;
    }
    let code = RejectCode::from_wire(r.reject_code)?;
    Some(Rejection::new(code, r.reject_reason))
}

impl SignedReceipt {
    /// Signs a receipt; the key id in `receipt` is replaced by the signing key's.
    pub fn sign(key: &NodeKey, mut receipt: Receipt) -> Self {
        receipt.key_id = key.key_id();
        let (accepted, code, reason) = match &receipt.outcome {
            Outcome::Accepted => (true, 0, String::new()),
            Outcome::Rejected(r) => (false, r.code.to_wire() as i32, r.reason.clone()),
        };
        let wire = pb::Receipt {
            version: PROTOCOL_VERSION,
            notice_id: receipt
                .notice_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            envelope_sha256: receipt.envelope_sha256.to_vec(),
            recipient: receipt.recipient.to_string(),
            sender: receipt.sender.map(|c| c.to_string()).unwrap_or_default(),
            received_at_ms: receipt.received_at_ms,
            accepted,
            reject_code: code,
            reject_reason: reason,
            reply_due_at_ms: receipt.reply_due_at_ms.unwrap_or(0),
            key_id: receipt.key_id.to_string(),
            checkpoint: receipt.checkpoint.clone().unwrap_or_default(),
            existed_by_ms: receipt.existed_by_ms.unwrap_or(0),
        };
        let receipt_bytes = wire.encode_to_vec();
        let signature = key.sign(RECEIPT_SIGNING_PREFIX, &receipt_bytes);
        Self {
            receipt,
            receipt_bytes,
            signature,
        }
    }

    /// Decodes a signed receipt received from a peer or read from storage (signature not checked).
    pub fn open(wire: pb::SignedReceipt) -> Result<Self, ReceiptError> {
        let signature: [u8; 64] = wire.signature.as_slice().try_into().map_err(|_| {
            receipt_error(
                "signature",
                format!("must be 64 bytes, not {}", wire.signature.len()),
            )
        })?;
        let r = pb::Receipt::decode(wire.receipt.as_slice())
            .map_err(|e| receipt_error("receipt", format!("not a valid Receipt: {e}")))?;
        if r.version != PROTOCOL_VERSION {
            return Err(receipt_error(
                "version",
                format!("{} is not supported", r.version),
            ));
        }
        let notice_id = match r.notice_id.as_str() {
            "" => None,
            text => {
                Some(NoticeId::parse(text).map_err(|e| receipt_error("notice_id", e.to_string()))?)
            }
        };
        let sender = match r.sender.as_str() {
            "" => None,
            text => {
                Some(CountyCode::parse(text).map_err(|e| receipt_error("sender", e.to_string()))?)
            }
        };
        let recipient = CountyCode::parse(&r.recipient)
            .map_err(|e| receipt_error("recipient", e.to_string()))?;
        let envelope_sha256: [u8; 32] = r
            .envelope_sha256
            .as_slice()
            .try_into()
            .map_err(|_| receipt_error("envelope_sha256", "must be 32 bytes"))?;
        let key_id = KeyId::parse(&r.key_id)
            .ok_or_else(|| receipt_error("key_id", "not 16 lowercase hex characters"))?;
        let outcome = if r.accepted {
            if r.reject_code != 0 || !r.reject_reason.is_empty() {
                return Err(receipt_error(
                    "reject_code",
                    "an accepting receipt must carry no rejection",
                ));
            }
            Outcome::Accepted
        } else {
            let code = RejectCode::from_wire(r.reject_code).ok_or_else(|| {
                receipt_error(
                    "reject_code",
                    format!("{} is not a known code", r.reject_code),
                )
            })?;
            Outcome::Rejected(Rejection::new(code, r.reject_reason))
        };
        let reply_due_at_ms = (r.reply_due_at_ms != 0).then_some(r.reply_due_at_ms);
        Ok(Self {
            receipt: Receipt {
                notice_id,
                envelope_sha256,
                recipient,
                sender,
                received_at_ms: r.received_at_ms,
                outcome,
                reply_due_at_ms,
                key_id,
                checkpoint: (!r.checkpoint.is_empty()).then_some(r.checkpoint),
                existed_by_ms: (r.existed_by_ms != 0).then_some(r.existed_by_ms),
            },
            receipt_bytes: wire.receipt,
            signature,
        })
    }

    /// Decodes stored bytes of an encoded `SignedReceipt`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ReceiptError> {
        let wire = pb::SignedReceipt::decode(bytes)
            .map_err(|e| receipt_error("bytes", format!("not a SignedReceipt: {e}")))?;
        Self::open(wire)
    }

    /// The signed receipt for the wire, with the signed bytes unchanged.
    pub fn to_wire(&self) -> pb::SignedReceipt {
        pb::SignedReceipt {
            receipt: self.receipt_bytes.clone(),
            signature: self.signature.to_vec(),
        }
    }

    /// The encoded `SignedReceipt`, as stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire().encode_to_vec()
    }

    /// Whether the signature verifies with `key` (strict Ed25519).
    pub fn signature_valid(&self, key: &VerifyingKey) -> bool {
        verify_prefixed(
            key,
            RECEIPT_SIGNING_PREFIX,
            &self.receipt_bytes,
            &self.signature,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn receipt(outcome: Outcome) -> Receipt {
        Receipt {
            notice_id: Some(NoticeId::new(5, [1; 10])),
            envelope_sha256: [9; 32],
            recipient: CountyCode::parse("610603").unwrap(),
            sender: Some(CountyCode::parse("610602").unwrap()),
            received_at_ms: 1_780_000_000_000,
            outcome,
            reply_due_at_ms: Some(1_780_864_000_000),
            key_id: KeyId::parse("0000000000000000").unwrap(),
            checkpoint: None,
            existed_by_ms: None,
        }
    }

    #[test]
    fn an_unsigned_rejection_states_its_code_and_is_no_signed_receipt() {
        let rejection = Rejection::new(RejectCode::Malformed, "header: not a NoticeHeader");
        let recipient = CountyCode::parse("610603").unwrap();
        let wire = unsigned_rejection([7; 32], recipient, 1_780_000_000_000, &rejection);
        assert!(wire.signature.is_empty());
        assert_eq!(read_unsigned_rejection(&wire), Some(rejection));
        let r = pb::Receipt::decode(wire.receipt.as_slice()).unwrap();
        assert_eq!(
            (
                r.version,
                r.recipient.as_str(),
                r.envelope_sha256,
                r.accepted
            ),
            (1, "610603", vec![7; 32], false)
        );
        assert!(r.notice_id.is_empty() && r.sender.is_empty() && r.key_id.is_empty());
        assert!(
            SignedReceipt::open(wire).is_err(),
            "it never passes for a signed receipt"
        );
        let key = NodeKey::new(SigningKey::from_bytes(&[3; 32]));
        let signed = SignedReceipt::sign(&key, receipt(Outcome::Accepted));
        assert_eq!(read_unsigned_rejection(&signed.to_wire()), None);
    }

    #[test]
    fn accepted_and_rejected_receipts_round_trip_and_verify() {
        let key = NodeKey::new(SigningKey::from_bytes(&[4; 32]));
        for outcome in [
            Outcome::Accepted,
            Outcome::Rejected(Rejection::new(RejectCode::BadSignature, "no")),
        ] {
            let signed = SignedReceipt::sign(&key, receipt(outcome));
            let opened = SignedReceipt::from_bytes(&signed.to_bytes()).unwrap();
            assert_eq!(opened, signed);
            assert_eq!(opened.receipt.key_id, key.key_id());
            assert!(opened.signature_valid(&key.verifying_key()));
        }
    }

    #[test]
    fn altered_receipt_time_fails_verification() {
        let key = NodeKey::new(SigningKey::from_bytes(&[4; 32]));
        let signed = SignedReceipt::sign(&key, receipt(Outcome::Accepted));
        let mut wire = pb::Receipt::decode(signed.receipt_bytes.as_slice()).unwrap();
        wire.received_at_ms += 1;
        let forged = SignedReceipt {
            receipt_bytes: wire.encode_to_vec(),
            ..signed
        };
        assert!(!forged.signature_valid(&key.verifying_key()));
    }
}
