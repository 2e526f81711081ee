//! Notice kinds, their names in English and Chinese, and which kinds answer which.

use std::fmt;
use std::str::FromStr;

use liaison_proto::v1 as pb;
use serde::{Deserialize, Serialize};

/// What a notice is about. Each kind has one body type (see [`crate::body`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    CaseNotice,
    CertificateQuery,
    CertificateAnswer,
    FeeConsultation,
    FeeReply,
    ApprovalRequest,
    ApprovalResult,
    ContraceptionReport,
    Bulletin,
    ContactLetter,
    ReplyLetter,
    Reminder,
}

impl NoticeKind {
    /// Every kind, in wire order.
    pub const ALL: [NoticeKind; 12] = [
        Self::CaseNotice,
        Self::CertificateQuery,
        Self::CertificateAnswer,
        Self::FeeConsultation,
        Self::FeeReply,
        Self::ApprovalRequest,
        Self::ApprovalResult,
        Self::ContraceptionReport,
        Self::Bulletin,
        Self::ContactLetter,
        Self::ReplyLetter,
        Self::Reminder,
    ];

    /// The snake-case name used in drafts, configs and listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::CaseNotice => "case_notice",
            Self::CertificateQuery => "certificate_query",
            Self::CertificateAnswer => "certificate_answer",
            Self::FeeConsultation => "fee_consultation",
            Self::FeeReply => "fee_reply",
            Self::ApprovalRequest => "approval_request",
            Self::ApprovalResult => "approval_result",
            Self::ContraceptionReport => "contraception_report",
            Self::Bulletin => "bulletin",
            Self::ContactLetter => "contact_letter",
            Self::ReplyLetter => "reply_letter",
            Self::Reminder => "reminder",
        }
    }

    /// The directive's own term for the kind.
    pub fn chinese(self) -> &'static str {
        match self {
            Self::CaseNotice => "个案信息通报",
            Self::CertificateQuery => "证件查询",
            Self::CertificateAnswer => "证件查询答复",
            Self::FeeConsultation => "社会抚养费协商",
            Self::FeeReply => "协商答复",
            Self::ApprovalRequest => "生育服务审批申请",
            Self::ApprovalResult => "审批结果通报",
            Self::ContraceptionReport => "避孕节育情况报告单",
            Self::Bulletin => "信息通报",
            Self::ContactLetter => "联系函",
            Self::ReplyLetter => "复函",
            Self::Reminder => "催办",
        }
    }

    /// The kinds of notice that this kind may answer; empty if it is not a reply.
    pub fn answers(self) -> &'static [NoticeKind] {
        match self {
            Self::CertificateAnswer => &[Self::CertificateQuery],
            Self::FeeReply => &[Self::FeeConsultation],
            Self::ApprovalResult => &[Self::ApprovalRequest],
            Self::ReplyLetter => &[Self::CaseNotice, Self::ContactLetter],
            _ => &[],
        }
    }

    /// Whether a notice of this kind must point at the notice it answers.
    ///
    /// An approval result may also be sent on its own, for an application filed in person.
    pub fn requires_reference(self) -> bool {
        !self.answers().is_empty() && self != Self::ApprovalResult
    }

    /// Whether this kind may answer a notice of kind `original`.
    pub fn may_answer(self, original: NoticeKind) -> bool {
        self.answers().contains(&original)
    }

    /// Converts the wire enum; `None` for unspecified or unknown values.
    pub fn from_wire(value: i32) -> Option<Self> {
        let kind = match pb::NoticeKind::try_from(value).ok()? {
            pb::NoticeKind::Unspecified => return None,
            pb::NoticeKind::CaseNotice => Self::CaseNotice,
            pb::NoticeKind::CertificateQuery => Self::CertificateQuery,
            pb::NoticeKind::CertificateAnswer => Self::CertificateAnswer,
            pb::NoticeKind::FeeConsultation => Self::FeeConsultation,
            pb::NoticeKind::FeeReply => Self::FeeReply,
            pb::NoticeKind::ApprovalRequest => Self::ApprovalRequest,
            pb::NoticeKind::ApprovalResult => Self::ApprovalResult,
            pb::NoticeKind::ContraceptionReport => Self::ContraceptionReport,
            pb::NoticeKind::Bulletin => Self::Bulletin,
            pb::NoticeKind::ContactLetter => Self::ContactLetter,
            pb::NoticeKind::ReplyLetter => Self::ReplyLetter,
            pb::NoticeKind::Reminder => Self::Reminder,
        };
        Some(kind)
    }

    /// The wire enum value.
    pub fn to_wire(self) -> pb::NoticeKind {
        match self {
            Self::CaseNotice => pb::NoticeKind::CaseNotice,
            Self::CertificateQuery => pb::NoticeKind::CertificateQuery,
            Self::CertificateAnswer => pb::NoticeKind::CertificateAnswer,
            Self::FeeConsultation => pb::NoticeKind::FeeConsultation,
            Self::FeeReply => pb::NoticeKind::FeeReply,
            Self::ApprovalRequest => pb::NoticeKind::ApprovalRequest,
            Self::ApprovalResult => pb::NoticeKind::ApprovalResult,
            Self::ContraceptionReport => pb::NoticeKind::ContraceptionReport,
            Self::Bulletin => pb::NoticeKind::Bulletin,
            Self::ContactLetter => pb::NoticeKind::ContactLetter,
            Self::ReplyLetter => pb::NoticeKind::ReplyLetter,
            Self::Reminder => pb::NoticeKind::Reminder,
        }
    }
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown kind name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown notice kind {0:?}; known kinds: case_notice, certificate_query, certificate_answer, fee_consultation, fee_reply, approval_request, approval_result, contraception_report, bulletin, contact_letter, reply_letter, reminder"
)]
pub struct UnknownKind(pub String);

impl FromStr for NoticeKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_wire_and_name() {
        for kind in NoticeKind::ALL {
            assert_eq!(NoticeKind::from_wire(kind.to_wire() as i32), Some(kind));
            assert_eq!(kind.name().parse::<NoticeKind>(), Ok(kind));
        }
        assert_eq!(NoticeKind::from_wire(0), None);
        assert_eq!(NoticeKind::from_wire(99), None);
    }

    #[test]
    fn replies_answer_only_their_own_kinds() {
        assert!(NoticeKind::ReplyLetter.may_answer(NoticeKind::CaseNotice));
        assert!(NoticeKind::ReplyLetter.may_answer(NoticeKind::ContactLetter));
        assert!(!NoticeKind::ReplyLetter.may_answer(NoticeKind::FeeConsultation));
        assert!(NoticeKind::FeeReply.may_answer(NoticeKind::FeeConsultation));
        assert!(!NoticeKind::CertificateAnswer.may_answer(NoticeKind::FeeConsultation));
        assert!(!NoticeKind::Bulletin.may_answer(NoticeKind::CaseNotice));
    }

    #[test]
    fn approval_result_may_stand_alone_other_replies_may_not() {
        assert!(!NoticeKind::ApprovalResult.requires_reference());
        assert!(NoticeKind::FeeReply.requires_reference());
        assert!(!NoticeKind::CaseNotice.requires_reference());
    }
}
