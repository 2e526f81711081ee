//! The liaison domain: county codes, notice kinds and bodies, validation, signing, receipts and trust.
//!
//! Pure: no I/O, no async runtime, no storage. Time is always a parameter.

pub mod county;
pub mod kind;

pub use county::CountyCode;
pub use kind::NoticeKind;
pub mod clock;
pub mod notice;
pub mod receipt;
pub mod reject;
pub mod trust;

pub use notice::{KeyId, NodeKey, NoticeId, SignedNotice};
pub use receipt::{Outcome, Receipt, SignedReceipt};
pub use reject::{RejectCode, Rejection};
pub mod body;
pub mod draft;
pub mod identity;

pub use body::{FieldError, NoticeBody};
pub use draft::Draft;
pub use identity::IdentityNumber;
pub mod calendar;
pub mod date;
pub mod deadline;

pub use calendar::{CalendarError, HolidayCalendar, NoCalendar};
pub use date::{DateError, parse_date};
pub use deadline::{
    DeadlineError, DeadlineState, DeadlineStatus, DuePolicy, Period, PolicyError, ReplyRule,
};
pub mod audit;
pub mod audit_verify;
pub mod checkpoint;
pub mod city_report;
pub mod cosign;
pub mod directory;
pub mod merkle;
pub mod outbox;
pub mod tlog;

pub use outbox::{Backoff, Delivery, NoticeStatus, OutboundStatus};
