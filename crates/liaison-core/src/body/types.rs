//! The body types: one struct per notice kind, the enums they use, and [`Person`].

use serde::{Deserialize, Serialize};
use time::Date;

use super::calendar_date;
use crate::identity::IdentityNumber;
use crate::{NoticeId, NoticeKind};

/// The content of a notice: one variant per [`NoticeKind`].
///
/// In JSON the kind is a `"kind"` member beside the variant's fields, e.g. `{"kind": "reply_letter", "text": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NoticeBody {
    /// 个案信息通报
    CaseNotice(CaseNotice),
    /// 证件查询
    CertificateQuery(CertificateQuery),
    /// 证件查询答复
    CertificateAnswer(CertificateAnswer),
    /// 社会抚养费协商
    FeeConsultation(FeeConsultation),
    /// 协商答复
    FeeReply(FeeReply),
    /// 生育服务审批申请
    ApprovalRequest(ApprovalRequest),
    /// 审批结果通报
    ApprovalResult(ApprovalResult),
    /// 避孕节育情况报告单
    ContraceptionReport(ContraceptionReport),
    /// 信息通报
    Bulletin(Bulletin),
    /// 联系函
    ContactLetter(ContactLetter),
    /// 复函
    ReplyLetter(ReplyLetter),
    /// 催办
    Reminder(Reminder),
}

/// A person a notice is about; only what the other county needs to find the person in its records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Full name (姓名).
    pub name: String,
    /// Resident identity number (身份号码).
    pub id_number: IdentityNumber,
    /// Birth date; if given it must agree with the identity number.
    #[serde(
        default,
        with = "calendar_date::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub birth_date: Option<Date>,
}

/// Whether a case notice is about a pregnancy or a birth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseType {
    /// 政策外怀孕
    Pregnancy,
    /// 政策外生育
    Birth,
}

/// 政策外怀孕、生育的个案信息: an out-of-policy pregnancy or birth, sent to the other county of the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseNotice {
    /// Pregnancy or birth.
    pub case_type: CaseType,
    /// The person the case is about.
    pub person: Person,
    /// The person's spouse, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spouse: Option<Person>,
    /// Date of the pregnancy finding or of the birth.
    #[serde(with = "calendar_date")]
    pub event_date: Date,
    /// Address at the current residence (现居住地).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence_address: Option<String>,
    /// Address at the household registration place (户籍所在地).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_address: Option<String>,
    /// Anything else the other county needs to act.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// The family-planning certificates (计划生育证件) that counties issue and query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateType {
    /// 婚育证明
    MarriageAndChildbearing,
    /// 独生子女证
    OnlyChild,
    /// 一孩生育服务证
    FirstChildService,
    /// 二孩准生证
    SecondChildPermit,
}

/// 证件查询: asks the other county about a person's certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateQuery {
    /// Which certificate is asked about.
    pub certificate_type: CertificateType,
    /// Its holder.
    pub person: Person,
    /// The certificate's number, if the asking county knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_number: Option<String>,
    /// What the asking county wants to know, if more than whether the certificate exists and is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
}

/// 证件查询答复: answers a certificate query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateAnswer {
    /// Whether the certificate was found in the answering county's records.
    pub found: bool,
    /// The certificate's number, when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_number: Option<String>,
    /// When it was issued, when found.
    #[serde(
        default,
        with = "calendar_date::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub issued_on: Option<Date>,
    /// Until when it is valid, when found and limited.
    #[serde(
        default,
        with = "calendar_date::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_until: Option<Date>,
    /// The answer in words.
    pub answer: String,
}

/// 协商征收社会抚养费: consults the registration county before a social maintenance fee is levied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeConsultation {
    /// The person the fee would be levied on.
    pub person: Person,
    /// Date of the out-of-policy birth the fee concerns.
    #[serde(with = "calendar_date")]
    pub birth_date: Date,
    /// Proposed fee in whole yuan.
    pub proposed_amount_yuan: i64,
    /// Why the fee is proposed, and how the amount was reckoned.
    pub reasons: String,
    /// Ask the other county to continue collecting (委托继续征收).
    #[serde(default)]
    pub delegate_collection: bool,
}

/// The registration county's opinion on a proposed fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeOpinion {
    /// 同意
    Agree,
    /// 不同意
    Disagree,
    /// 已征收: this county already levied or is levying the fee.
    AlreadyLevied,
}

/// 协商答复: answers a fee consultation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeReply {
    /// Agree, disagree or already levied.
    pub opinion: FeeOpinion,
    /// Comments; required when the opinion is disagree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<String>,
    /// For a delegated collection: whether this county accepts to continue collecting.
    #[serde(default)]
    pub accept_delegation: bool,
}

/// 生育服务审批申请: forwards an application for a birth service approval to the county that decides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// Who applies.
    pub applicant: Person,
    /// The applicant's spouse, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spouse: Option<Person>,
    /// What is applied for, e.g. a second-child birth permit.
    pub certificate_type: CertificateType,
    /// When the application was filed.
    #[serde(with = "calendar_date")]
    pub application_date: Date,
    /// Anything else the deciding county needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// 生育服务审批结果: the decision on an application, due within 15 working days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalResult {
    /// Who applied.
    pub applicant: Person,
    /// Whether the application was approved.
    pub approved: bool,
    /// When it was decided.
    #[serde(with = "calendar_date")]
    pub decision_date: Date,
    /// The number of the certificate issued; only for an approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_number: Option<String>,
    /// Why; required for a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<String>,
}

/// Contraceptive methods as recorded on the contraception status report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContraceptiveMethod {
    /// 宫内节育器 (intrauterine device)
    Iud,
    /// 绝育术
    Sterilization,
    /// 皮下埋植
    Implant,
    /// 口服避孕药
    Pills,
    /// 避孕套
    Condom,
    /// 其他
    Other,
    /// 未采取措施
    None,
}

/// 流动人口避孕节育情况报告单: the result of a free check-up at the residence county.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContraceptionReport {
    /// The person checked.
    pub person: Person,
    /// When the check-up took place.
    #[serde(with = "calendar_date")]
    pub check_date: Date,
    /// The contraceptive method in use.
    pub method: ContraceptiveMethod,
    /// Whether the check-up found a pregnancy.
    pub pregnant: bool,
    /// Further findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<String>,
}

/// What a bulletin reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulletinTopic {
    /// 工作信息通报
    WorkInformation,
    /// 服务管理基础信息通报
    ServiceStatistics,
    /// 出生性别比案件查处
    SexRatioCase,
    /// 突发事件
    Emergency,
    /// 政策协调通报
    PolicyChange,
    /// 其他
    Other,
}

/// 通报: work information, statistics, sex-ratio cases, emergencies or policy changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bulletin {
    /// What the bulletin reports on.
    pub topic: BulletinTopic,
    /// Its title.
    pub title: String,
    /// Its text.
    pub text: String,
}

/// 联系函: a letter asking the other county to check, verify or do something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactLetter {
    /// Its subject.
    pub subject: String,
    /// Its text.
    pub text: String,
    /// The person the letter is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Person>,
}

/// 复函: answers a case notice or a contact letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyLetter {
    /// The answer.
    pub text: String,
}

/// 催办: reminds the other county that its reply to a notice is overdue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reminder {
    /// The notice whose reply is overdue.
    pub overdue_notice_id: NoticeId,
    /// A message to go with the reminder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl NoticeBody {
    /// The people the body names: the person it is about first, then a spouse.
    pub fn persons(&self) -> Vec<&Person> {
        match self {
            Self::CaseNotice(b) => std::iter::once(&b.person).chain(&b.spouse).collect(),
            Self::CertificateQuery(b) => vec![&b.person],
            Self::FeeConsultation(b) => vec![&b.person],
            Self::ApprovalRequest(b) => std::iter::once(&b.applicant).chain(&b.spouse).collect(),
            Self::ApprovalResult(b) => vec![&b.applicant],
            Self::ContraceptionReport(b) => vec![&b.person],
            Self::ContactLetter(b) => b.person.iter().collect(),
            Self::CertificateAnswer(_)
            | Self::FeeReply(_)
            | Self::Bulletin(_)
            | Self::ReplyLetter(_)
            | Self::Reminder(_) => Vec::new(),
        }
    }

    /// The kind of notice this body belongs to.
    pub fn kind(&self) -> NoticeKind {
        match self {
            Self::CaseNotice(_) => NoticeKind::CaseNotice,
            Self::CertificateQuery(_) => NoticeKind::CertificateQuery,
            Self::CertificateAnswer(_) => NoticeKind::CertificateAnswer,
            Self::FeeConsultation(_) => NoticeKind::FeeConsultation,
            Self::FeeReply(_) => NoticeKind::FeeReply,
            Self::ApprovalRequest(_) => NoticeKind::ApprovalRequest,
            Self::ApprovalResult(_) => NoticeKind::ApprovalResult,
            Self::ContraceptionReport(_) => NoticeKind::ContraceptionReport,
            Self::Bulletin(_) => NoticeKind::Bulletin,
            Self::ContactLetter(_) => NoticeKind::ContactLetter,
            Self::ReplyLetter(_) => NoticeKind::ReplyLetter,
            Self::Reminder(_) => NoticeKind::Reminder,
        }
    }
}
