//! The liaison domain: county codes, notice kinds and bodies, validation, signing, receipts and trust.
//!
//! Pure: no I/O, no async runtime, no storage. Time is always a parameter.

pub mod county;
pub mod kind;

pub use county::CountyCode;
pub use kind::NoticeKind;
