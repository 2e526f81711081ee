//! Why a recipient refuses a notice: a code that machines act on and a reason that people read.

use std::fmt;

use liaison_proto::v1 as pb;
use serde::{Deserialize, Serialize};

/// The rejection codes of the wire contract; every refusal is final and carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    Malformed,
    UnsupportedVersion,
    TooLarge,
    SenderMismatch,
    UnknownSender,
    UnknownKey,
    BadSignature,
    PayloadDigestMismatch,
    WrongRecipient,
    KindNotAgreed,
    IssuedInFuture,
    InvalidContent,
    UnknownReference,
    ReplyKindMismatch,
    DuplicateId,
    ReplyBeforeReceipt,
}

impl RejectCode {
    /// The upper-case name used in logs, listings and docs, e.g. `BAD_SIGNATURE`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Malformed => "MALFORMED",
            Self::UnsupportedVersion => "UNSUPPORTED_VERSION",
            Self::TooLarge => "TOO_LARGE",
            Self::SenderMismatch => "SENDER_MISMATCH",
            Self::UnknownSender => "UNKNOWN_SENDER",
            Self::UnknownKey => "UNKNOWN_KEY",
            Self::BadSignature => "BAD_SIGNATURE",
            Self::PayloadDigestMismatch => "PAYLOAD_DIGEST_MISMATCH",
            Self::WrongRecipient => "WRONG_RECIPIENT",
            Self::KindNotAgreed => "KIND_NOT_AGREED",
            Self::IssuedInFuture => "ISSUED_IN_FUTURE",
            Self::InvalidContent => "INVALID_CONTENT",
            Self::UnknownReference => "UNKNOWN_REFERENCE",
            Self::ReplyKindMismatch => "REPLY_KIND_MISMATCH",
            Self::DuplicateId => "DUPLICATE_ID",
            Self::ReplyBeforeReceipt => "REPLY_BEFORE_RECEIPT",
        }
    }

    /// The wire enum value.
    pub fn to_wire(self) -> pb::RejectCode {
        match self {
            Self::Malformed => pb::RejectCode::Malformed,
            Self::UnsupportedVersion => pb::RejectCode::UnsupportedVersion,
            Self::TooLarge => pb::RejectCode::TooLarge,
            Self::SenderMismatch => pb::RejectCode::SenderMismatch,
            Self::UnknownSender => pb::RejectCode::UnknownSender,
            Self::UnknownKey => pb::RejectCode::UnknownKey,
            Self::BadSignature => pb::RejectCode::BadSignature,
            Self::PayloadDigestMismatch => pb::RejectCode::PayloadDigestMismatch,
            Self::WrongRecipient => pb::RejectCode::WrongRecipient,
            Self::KindNotAgreed => pb::RejectCode::KindNotAgreed,
            Self::IssuedInFuture => pb::RejectCode::IssuedInFuture,
            Self::InvalidContent => pb::RejectCode::InvalidContent,
            Self::UnknownReference => pb::RejectCode::UnknownReference,
            Self::ReplyKindMismatch => pb::RejectCode::ReplyKindMismatch,
            Self::DuplicateId => pb::RejectCode::DuplicateId,
            Self::ReplyBeforeReceipt => pb::RejectCode::ReplyBeforeReceipt,
        }
    }

    /// Converts the wire enum; `None` for unspecified or unknown values.
    pub fn from_wire(value: i32) -> Option<Self> {
        let code = match pb::RejectCode::try_from(value).ok()? {
            pb::RejectCode::Unspecified => return None,
            pb::RejectCode::Malformed => Self::Malformed,
            pb::RejectCode::UnsupportedVersion => Self::UnsupportedVersion,
            pb::RejectCode::TooLarge => Self::TooLarge,
            pb::RejectCode::SenderMismatch => Self::SenderMismatch,
            pb::RejectCode::UnknownSender => Self::UnknownSender,
            pb::RejectCode::UnknownKey => Self::UnknownKey,
            pb::RejectCode::BadSignature => Self::BadSignature,
            pb::RejectCode::PayloadDigestMismatch => Self::PayloadDigestMismatch,
            pb::RejectCode::WrongRecipient => Self::WrongRecipient,
            pb::RejectCode::KindNotAgreed => Self::KindNotAgreed,
            pb::RejectCode::IssuedInFuture => Self::IssuedInFuture,
            pb::RejectCode::InvalidContent => Self::InvalidContent,
            pb::RejectCode::UnknownReference => Self::UnknownReference,
            pb::RejectCode::ReplyKindMismatch => Self::ReplyKindMismatch,
            pb::RejectCode::DuplicateId => Self::DuplicateId,
            pb::RejectCode::ReplyBeforeReceipt => Self::ReplyBeforeReceipt,
        };
        Some(code)
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A refusal: the code and a reason that names the field or check that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct Rejection {
    pub code: RejectCode,
    pub reason: String,
}

impl Rejection {
    /// A rejection with `code` and a reason.
    pub fn new(code: RejectCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}
