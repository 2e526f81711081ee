//! Notice bodies: the domain type of each kind, the rules a body must satisfy, and the one place where
//! bodies are converted to and from the wire (`liaison.v1.NoticeBody`).
//!
//! The rules are written down for operators in docs/notices.md; keep the two in step.
//!
//! `types` holds the body types, `validate` their rules, `wire` the protobuf form, `json` the JSON
//! form that drafts use, and `calendar_date` the `YYYY-MM-DD` text of dates in both forms.

use time::Date;
use time::macros::date;

mod calendar_date;
mod json;
mod types;
mod validate;
mod wire;

#[cfg(test)]
mod samples;

pub(crate) use json::field_error_from_serde;
pub use types::{
    ApprovalRequest, ApprovalResult, Bulletin, BulletinTopic, CaseNotice, CaseType,
    CertificateAnswer, CertificateQuery, CertificateType, ContactLetter, ContraceptionReport,
    ContraceptiveMethod, FeeConsultation, FeeOpinion, FeeReply, NoticeBody, Person, Reminder,
    ReplyLetter,
};

/// Most characters in a person's name.
pub const NAME_MAX_CHARS: usize = 64;
/// Most characters in a short, single-line text: addresses, titles, subjects, certificate numbers.
pub const SHORT_TEXT_MAX_CHARS: usize = 256;
/// Most characters in a long text: details, text, reasons, findings, answers, comments, questions.
pub const LONG_TEXT_MAX_CHARS: usize = 8000;
/// Earliest date a body may carry.
pub const EARLIEST_DATE: Date = date!(1900 - 01 - 01);
/// Latest date a body may carry.
pub const LATEST_DATE: Date = date!(2199 - 12 - 31);
/// Largest social maintenance fee, in yuan, that a consultation may propose.
pub const MAX_FEE_YUAN: i64 = 10_000_000;

/// A missing or invalid field, named by its path in a JSON draft body (e.g. `spouse.id_number`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct FieldError {
    /// Dotted path from the body (or, for drafts, from the draft) to the field.
    pub path: String,
    /// What is wrong, in words an operator can act on.
    pub problem: String,
    /// The same in Chinese, for the console's forms; `None` where only English is written.
    pub problem_zh: Option<String>,
}

impl FieldError {
    /// An error about the field at `path`.
    pub fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
            problem_zh: None,
        }
    }

    /// The same error with its problem also said in Chinese.
    pub fn zh(self, problem_zh: impl Into<String>) -> Self {
        Self {
            problem_zh: Some(problem_zh.into()),
            ..self
        }
    }

    /// The same error seen from the enclosing value: `id_number` under `spouse` is `spouse.id_number`.
    ///
    /// An empty path or `.` stands for the value itself, as in `serde_path_to_error`.
    pub fn under(self, parent: &str) -> Self {
        let path = match (parent, self.path.as_str()) {
            ("" | ".", _) => self.path,
            (_, "" | ".") => parent.to_owned(),
            (_, child) => format!("{parent}.{child}"),
        };
        Self {
            path,
            problem: self.problem,
            problem_zh: self.problem_zh,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;
    use crate::NoticeKind;

    #[test]
    fn samples_cover_every_kind_in_wire_order() {
        let kinds: Vec<_> = full_samples().iter().map(NoticeBody::kind).collect();
        assert_eq!(kinds, NoticeKind::ALL);
        let kinds: Vec<_> = minimal_samples().iter().map(NoticeBody::kind).collect();
        assert_eq!(kinds, NoticeKind::ALL);
    }

    #[test]
    fn field_error_paths_compose() {
        assert_eq!(
            FieldError::new("id_number", "x").under("spouse").path,
            "spouse.id_number"
        );
        assert_eq!(FieldError::new(".", "x").under("body").path, "body");
        assert_eq!(FieldError::new("kind", "x").under(".").path, "kind");
    }
}
