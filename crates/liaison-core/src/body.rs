//! Notice bodies: the domain type of each kind, the rules a body must satisfy, and the one place where
//! bodies are converted to and from the wire (`liaison.v1.NoticeBody`).
//!
//! The rules are written down for operators in docs/notices.md; keep the two in step.

use liaison_proto::v1 as pb;
use prost::Message;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use time::Date;
use time::macros::date;

use crate::identity::IdentityNumber;
use crate::{NoticeId, NoticeKind};

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
}

impl FieldError {
    /// An error about the field at `path`.
    pub fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
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
        }
    }
}

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

    /// Checks the rules of docs/notices.md that the types alone do not enforce; the first violation wins.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            Self::CaseNotice(b) => b.validate(),
            Self::CertificateQuery(b) => b.validate(),
            Self::CertificateAnswer(b) => b.validate(),
            Self::FeeConsultation(b) => b.validate(),
            Self::FeeReply(b) => b.validate(),
            Self::ApprovalRequest(b) => b.validate(),
            Self::ApprovalResult(b) => b.validate(),
            Self::ContraceptionReport(b) => b.validate(),
            Self::Bulletin(b) => b.validate(),
            Self::ContactLetter(b) => b.validate(),
            Self::ReplyLetter(b) => b.validate(),
            Self::Reminder(b) => b.validate(),
        }
    }

    /// The wire form. Optional fields that are absent become empty strings or unset messages.
    pub fn to_wire(&self) -> pb::NoticeBody {
        use pb::notice_body::Body;
        let body = match self {
            Self::CaseNotice(b) => Body::CaseNotice(pb::CaseNotice {
                case_type: b.case_type.to_wire() as i32,
                person: Some(b.person.to_wire()),
                spouse: b.spouse.as_ref().map(Person::to_wire),
                event_date: calendar_date::format(b.event_date),
                residence_address: text_to_wire(&b.residence_address),
                registration_address: text_to_wire(&b.registration_address),
                details: text_to_wire(&b.details),
            }),
            Self::CertificateQuery(b) => Body::CertificateQuery(pb::CertificateQuery {
                certificate_type: b.certificate_type.to_wire() as i32,
                person: Some(b.person.to_wire()),
                certificate_number: text_to_wire(&b.certificate_number),
                question: text_to_wire(&b.question),
            }),
            Self::CertificateAnswer(b) => Body::CertificateAnswer(pb::CertificateAnswer {
                found: b.found,
                certificate_number: text_to_wire(&b.certificate_number),
                issued_on: date_to_wire(b.issued_on),
                valid_until: date_to_wire(b.valid_until),
                answer: b.answer.clone(),
            }),
            Self::FeeConsultation(b) => Body::FeeConsultation(pb::FeeConsultation {
                person: Some(b.person.to_wire()),
                birth_date: calendar_date::format(b.birth_date),
                proposed_amount_yuan: b.proposed_amount_yuan,
                reasons: b.reasons.clone(),
                delegate_collection: b.delegate_collection,
            }),
            Self::FeeReply(b) => Body::FeeReply(pb::FeeReply {
                opinion: b.opinion.to_wire() as i32,
                comments: text_to_wire(&b.comments),
                accept_delegation: b.accept_delegation,
            }),
            Self::ApprovalRequest(b) => Body::ApprovalRequest(pb::ApprovalRequest {
                applicant: Some(b.applicant.to_wire()),
                spouse: b.spouse.as_ref().map(Person::to_wire),
                certificate_type: b.certificate_type.to_wire() as i32,
                application_date: calendar_date::format(b.application_date),
                details: text_to_wire(&b.details),
            }),
            Self::ApprovalResult(b) => Body::ApprovalResult(pb::ApprovalResult {
                applicant: Some(b.applicant.to_wire()),
                approved: b.approved,
                decision_date: calendar_date::format(b.decision_date),
                certificate_number: text_to_wire(&b.certificate_number),
                reasons: text_to_wire(&b.reasons),
            }),
            Self::ContraceptionReport(b) => Body::ContraceptionReport(pb::ContraceptionReport {
                person: Some(b.person.to_wire()),
                check_date: calendar_date::format(b.check_date),
                method: b.method.to_wire() as i32,
                pregnant: b.pregnant,
                findings: text_to_wire(&b.findings),
            }),
            Self::Bulletin(b) => Body::Bulletin(pb::Bulletin {
                topic: b.topic.to_wire() as i32,
                title: b.title.clone(),
                text: b.text.clone(),
            }),
            Self::ContactLetter(b) => Body::ContactLetter(pb::ContactLetter {
                subject: b.subject.clone(),
                text: b.text.clone(),
                person: b.person.as_ref().map(Person::to_wire),
            }),
            Self::ReplyLetter(b) => Body::ReplyLetter(pb::ReplyLetter {
                text: b.text.clone(),
            }),
            Self::Reminder(b) => Body::Reminder(pb::Reminder {
                overdue_notice_id: b.overdue_notice_id.to_string(),
                text: text_to_wire(&b.text),
            }),
        };
        pb::NoticeBody { body: Some(body) }
    }

    /// Converts a wire body from a peer and validates it; never panics, whatever the peer sent.
    pub fn from_wire(wire: pb::NoticeBody) -> Result<Self, FieldError> {
        use pb::notice_body::Body;
        let body = match wire.body {
            None => {
                return Err(FieldError::new(
                    "kind",
                    "is required: the payload holds no body of a kind this node knows",
                ));
            }
            Some(Body::CaseNotice(m)) => Self::CaseNotice(CaseNotice {
                case_type: enum_from_wire("case_type", m.case_type, CaseType::from_wire)?,
                person: person_from_wire("person", m.person)?,
                spouse: optional_person_from_wire("spouse", m.spouse)?,
                event_date: date_from_wire("event_date", &m.event_date)?,
                residence_address: text_from_wire(m.residence_address),
                registration_address: text_from_wire(m.registration_address),
                details: text_from_wire(m.details),
            }),
            Some(Body::CertificateQuery(m)) => Self::CertificateQuery(CertificateQuery {
                certificate_type: enum_from_wire(
                    "certificate_type",
                    m.certificate_type,
                    CertificateType::from_wire,
                )?,
                person: person_from_wire("person", m.person)?,
                certificate_number: text_from_wire(m.certificate_number),
                question: text_from_wire(m.question),
            }),
            Some(Body::CertificateAnswer(m)) => Self::CertificateAnswer(CertificateAnswer {
                found: m.found,
                certificate_number: text_from_wire(m.certificate_number),
                issued_on: optional_date_from_wire("issued_on", &m.issued_on)?,
                valid_until: optional_date_from_wire("valid_until", &m.valid_until)?,
                answer: m.answer,
            }),
            Some(Body::FeeConsultation(m)) => Self::FeeConsultation(FeeConsultation {
                person: person_from_wire("person", m.person)?,
                birth_date: date_from_wire("birth_date", &m.birth_date)?,
                proposed_amount_yuan: m.proposed_amount_yuan,
                reasons: m.reasons,
                delegate_collection: m.delegate_collection,
            }),
            Some(Body::FeeReply(m)) => Self::FeeReply(FeeReply {
                opinion: enum_from_wire("opinion", m.opinion, FeeOpinion::from_wire)?,
                comments: text_from_wire(m.comments),
                accept_delegation: m.accept_delegation,
            }),
            Some(Body::ApprovalRequest(m)) => Self::ApprovalRequest(ApprovalRequest {
                applicant: person_from_wire("applicant", m.applicant)?,
                spouse: optional_person_from_wire("spouse", m.spouse)?,
                certificate_type: enum_from_wire(
                    "certificate_type",
                    m.certificate_type,
                    CertificateType::from_wire,
                )?,
                application_date: date_from_wire("application_date", &m.application_date)?,
                details: text_from_wire(m.details),
            }),
            Some(Body::ApprovalResult(m)) => Self::ApprovalResult(ApprovalResult {
                applicant: person_from_wire("applicant", m.applicant)?,
                approved: m.approved,
                decision_date: date_from_wire("decision_date", &m.decision_date)?,
                certificate_number: text_from_wire(m.certificate_number),
                reasons: text_from_wire(m.reasons),
            }),
            Some(Body::ContraceptionReport(m)) => Self::ContraceptionReport(ContraceptionReport {
                person: person_from_wire("person", m.person)?,
                check_date: date_from_wire("check_date", &m.check_date)?,
                method: enum_from_wire("method", m.method, ContraceptiveMethod::from_wire)?,
                pregnant: m.pregnant,
                findings: text_from_wire(m.findings),
            }),
            Some(Body::Bulletin(m)) => Self::Bulletin(Bulletin {
                topic: enum_from_wire("topic", m.topic, BulletinTopic::from_wire)?,
                title: m.title,
                text: m.text,
            }),
            Some(Body::ContactLetter(m)) => Self::ContactLetter(ContactLetter {
                subject: m.subject,
                text: m.text,
                person: optional_person_from_wire("person", m.person)?,
            }),
            Some(Body::ReplyLetter(m)) => Self::ReplyLetter(ReplyLetter { text: m.text }),
            Some(Body::Reminder(m)) => Self::Reminder(Reminder {
                overdue_notice_id: notice_id_from_wire("overdue_notice_id", &m.overdue_notice_id)?,
                text: text_from_wire(m.text),
            }),
        };
        body.validate()?;
        Ok(body)
    }

    /// The protobuf encoding of [`Self::to_wire`], ready to be carried as an envelope's payload.
    pub fn encode(&self) -> Vec<u8> {
        self.to_wire().encode_to_vec()
    }

    /// Decodes and validates payload bytes received from a peer; malformed bytes are a `payload` error.
    pub fn decode(bytes: &[u8]) -> Result<Self, FieldError> {
        let wire = pb::NoticeBody::decode(bytes).map_err(|e| {
            FieldError::new("payload", format!("is not an encoded notice body: {e}"))
        })?;
        Self::from_wire(wire)
    }

    /// Reads a body from JSON, naming the path of any problem. Structure only: call [`Self::validate`] next.
    ///
    /// The kind is dispatched by hand because serde's internally tagged enums buffer their content,
    /// which hides the path of a nested error (`person.id_number`) from `serde_path_to_error`.
    pub(crate) fn from_json_value(value: serde_json::Value) -> Result<Self, FieldError> {
        let serde_json::Value::Object(mut members) = value else {
            return Err(FieldError::new(
                "kind",
                "is required: a body is a JSON object whose \"kind\" names its kind",
            ));
        };
        let kind = match members.remove("kind") {
            Some(serde_json::Value::String(name)) => name
                .parse::<NoticeKind>()
                .map_err(|e| FieldError::new("kind", e.to_string()))?,
            Some(_) => {
                return Err(FieldError::new(
                    "kind",
                    "must be a string naming the kind of notice",
                ));
            }
            None => return Err(FieldError::new("kind", "is required")),
        };
        let fields = serde_json::Value::Object(members);
        Ok(match kind {
            NoticeKind::CaseNotice => Self::CaseNotice(from_json_fields(fields)?),
            NoticeKind::CertificateQuery => Self::CertificateQuery(from_json_fields(fields)?),
            NoticeKind::CertificateAnswer => Self::CertificateAnswer(from_json_fields(fields)?),
            NoticeKind::FeeConsultation => Self::FeeConsultation(from_json_fields(fields)?),
            NoticeKind::FeeReply => Self::FeeReply(from_json_fields(fields)?),
            NoticeKind::ApprovalRequest => Self::ApprovalRequest(from_json_fields(fields)?),
            NoticeKind::ApprovalResult => Self::ApprovalResult(from_json_fields(fields)?),
            NoticeKind::ContraceptionReport => Self::ContraceptionReport(from_json_fields(fields)?),
            NoticeKind::Bulletin => Self::Bulletin(from_json_fields(fields)?),
            NoticeKind::ContactLetter => Self::ContactLetter(from_json_fields(fields)?),
            NoticeKind::ReplyLetter => Self::ReplyLetter(from_json_fields(fields)?),
            NoticeKind::Reminder => Self::Reminder(from_json_fields(fields)?),
        })
    }
}

impl<'de> Deserialize<'de> for NoticeBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Self::from_json_value(value).map_err(serde::de::Error::custom)
    }
}

fn from_json_fields<T: DeserializeOwned>(fields: serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(fields)
        .map_err(|e| field_error_from_serde(&e.path().to_string(), &e.inner().to_string()))
}

/// Turns a serde error at `path` into a [`FieldError`], naming a missing field by its own path.
pub(crate) fn field_error_from_serde(path: &str, message: &str) -> FieldError {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match missing {
        Some(field) => FieldError::new(field, "is required").under(path),
        None => FieldError::new(path, message),
    }
}

// ---- Validation -------------------------------------------------------------------------------------

/// The length class of a text field; see the limits at the top of this module.
#[derive(Clone, Copy)]
enum Text {
    Name,
    Short,
    Long,
}

impl Text {
    fn max_chars(self) -> usize {
        match self {
            Self::Name => NAME_MAX_CHARS,
            Self::Short => SHORT_TEXT_MAX_CHARS,
            Self::Long => LONG_TEXT_MAX_CHARS,
        }
    }

    /// Control characters could rewrite an operator's terminal when a notice is shown, so only long
    /// texts may hold any, and only line breaks and tabs.
    fn allows(self, c: char) -> bool {
        !c.is_control() || matches!(self, Self::Long) && matches!(c, '\n' | '\r' | '\t')
    }
}

fn check_text(path: &str, value: &str, class: Text) -> Result<(), FieldError> {
    let count = value.chars().count();
    if count > class.max_chars() {
        return Err(FieldError::new(
            path,
            format!(
                "has {count} characters; at most {} are allowed",
                class.max_chars()
            ),
        ));
    }
    if let Some(c) = value.chars().find(|&c| !class.allows(c)) {
        let what = if matches!(class, Text::Long) {
            "other than line breaks and tabs"
        } else {
            "in a single-line field"
        };
        return Err(FieldError::new(
            path,
            format!(
                "contains the control character U+{:04X}, {what}",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

fn required_text(path: &str, value: &str, class: Text) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(path, "is required and must not be blank"));
    }
    check_text(path, value, class)
}

fn optional_text(path: &str, value: &Option<String>, class: Text) -> Result<(), FieldError> {
    match value {
        None => Ok(()),
        // A blank text would travel as an empty string and come back as absent.
        Some(text) if text.trim().is_empty() => Err(FieldError::new(
            path,
            "must not be blank; leave it out instead",
        )),
        Some(text) => check_text(path, text, class),
    }
}

fn check_date(path: &str, date: Date) -> Result<(), FieldError> {
    if date < EARLIEST_DATE || date > LATEST_DATE {
        return Err(FieldError::new(
            path,
            format!("{} is {}", calendar_date::format(date), OUTSIDE_DATE_RANGE),
        ));
    }
    Ok(())
}

const OUTSIDE_DATE_RANGE: &str = "outside the accepted range 1900-01-01 to 2199-12-31";

fn optional_date(path: &str, date: Option<Date>) -> Result<(), FieldError> {
    date.map_or(Ok(()), |d| check_date(path, d))
}

fn absent_unless<T>(
    path: &str,
    value: &Option<T>,
    allowed: bool,
    condition: &str,
) -> Result<(), FieldError> {
    if value.is_some() && !allowed {
        return Err(FieldError::new(
            path,
            format!("must be left out when {condition}"),
        ));
    }
    Ok(())
}

fn different_people(
    first_path: &str,
    first: &Person,
    spouse: &Option<Person>,
) -> Result<(), FieldError> {
    match spouse {
        Some(spouse) if spouse.id_number == first.id_number => Err(FieldError::new(
            "spouse.id_number",
            format!("is the same as {first_path}.id_number"),
        )),
        _ => Ok(()),
    }
}

impl Person {
    fn validate(&self) -> Result<(), FieldError> {
        required_text("name", &self.name, Text::Name)?;
        let id_birth_date = self.id_number.birth_date();
        if id_birth_date < EARLIEST_DATE || id_birth_date > LATEST_DATE {
            let date = calendar_date::format(id_birth_date);
            return Err(FieldError::new(
                "id_number",
                format!("holds birth date {date}, {OUTSIDE_DATE_RANGE}"),
            ));
        }
        if let Some(birth_date) = self.birth_date {
            check_date("birth_date", birth_date)?;
            if birth_date != self.id_number.birth_date() {
                return Err(FieldError::new(
                    "birth_date",
                    format!(
                        "is {} but the identity number says {}",
                        calendar_date::format(birth_date),
                        calendar_date::format(self.id_number.birth_date())
                    ),
                ));
            }
        }
        Ok(())
    }

    fn to_wire(&self) -> pb::Person {
        pb::Person {
            name: self.name.clone(),
            id_number: self.id_number.as_str().to_owned(),
            birth_date: date_to_wire(self.birth_date),
        }
    }
}

fn person(path: &str, person: &Person) -> Result<(), FieldError> {
    person.validate().map_err(|e| e.under(path))
}

fn optional_person(path: &str, value: &Option<Person>) -> Result<(), FieldError> {
    value.as_ref().map_or(Ok(()), |p| person(path, p))
}

impl CaseNotice {
    fn validate(&self) -> Result<(), FieldError> {
        person("person", &self.person)?;
        optional_person("spouse", &self.spouse)?;
        different_people("person", &self.person, &self.spouse)?;
        check_date("event_date", self.event_date)?;
        optional_text("residence_address", &self.residence_address, Text::Short)?;
        optional_text(
            "registration_address",
            &self.registration_address,
            Text::Short,
        )?;
        optional_text("details", &self.details, Text::Long)
    }
}

impl CertificateQuery {
    fn validate(&self) -> Result<(), FieldError> {
        person("person", &self.person)?;
        optional_text("certificate_number", &self.certificate_number, Text::Short)?;
        optional_text("question", &self.question, Text::Long)
    }
}

impl CertificateAnswer {
    fn validate(&self) -> Result<(), FieldError> {
        let not_found = "found is false";
        absent_unless(
            "certificate_number",
            &self.certificate_number,
            self.found,
            not_found,
        )?;
        absent_unless("issued_on", &self.issued_on, self.found, not_found)?;
        absent_unless("valid_until", &self.valid_until, self.found, not_found)?;
        optional_text("certificate_number", &self.certificate_number, Text::Short)?;
        optional_date("issued_on", self.issued_on)?;
        optional_date("valid_until", self.valid_until)?;
        if let (Some(issued), Some(until)) = (self.issued_on, self.valid_until)
            && until < issued
        {
            return Err(FieldError::new(
                "valid_until",
                format!(
                    "is {}, before issued_on {}",
                    calendar_date::format(until),
                    calendar_date::format(issued)
                ),
            ));
        }
        required_text("answer", &self.answer, Text::Long)
    }
}

impl FeeConsultation {
    fn validate(&self) -> Result<(), FieldError> {
        person("person", &self.person)?;
        check_date("birth_date", self.birth_date)?;
        if self.proposed_amount_yuan <= 0 {
            return Err(FieldError::new(
                "proposed_amount_yuan",
                "must be more than 0 yuan",
            ));
        }
        if self.proposed_amount_yuan > MAX_FEE_YUAN {
            return Err(FieldError::new(
                "proposed_amount_yuan",
                format!("must be at most {MAX_FEE_YUAN} yuan"),
            ));
        }
        required_text("reasons", &self.reasons, Text::Long)
    }
}

impl FeeReply {
    fn validate(&self) -> Result<(), FieldError> {
        if self.opinion == FeeOpinion::Disagree && self.comments.is_none() {
            return Err(FieldError::new(
                "comments",
                "is required when the opinion is disagree",
            ));
        }
        optional_text("comments", &self.comments, Text::Long)
    }
}

impl ApprovalRequest {
    fn validate(&self) -> Result<(), FieldError> {
        person("applicant", &self.applicant)?;
        optional_person("spouse", &self.spouse)?;
        different_people("applicant", &self.applicant, &self.spouse)?;
        check_date("application_date", self.application_date)?;
        optional_text("details", &self.details, Text::Long)
    }
}

impl ApprovalResult {
    fn validate(&self) -> Result<(), FieldError> {
        person("applicant", &self.applicant)?;
        check_date("decision_date", self.decision_date)?;
        absent_unless(
            "certificate_number",
            &self.certificate_number,
            self.approved,
            "approved is false",
        )?;
        optional_text("certificate_number", &self.certificate_number, Text::Short)?;
        if !self.approved && self.reasons.is_none() {
            return Err(FieldError::new(
                "reasons",
                "is required when approved is false",
            ));
        }
        optional_text("reasons", &self.reasons, Text::Long)
    }
}

impl ContraceptionReport {
    fn validate(&self) -> Result<(), FieldError> {
        person("person", &self.person)?;
        check_date("check_date", self.check_date)?;
        optional_text("findings", &self.findings, Text::Long)
    }
}

impl Bulletin {
    fn validate(&self) -> Result<(), FieldError> {
        required_text("title", &self.title, Text::Short)?;
        required_text("text", &self.text, Text::Long)
    }
}

impl ContactLetter {
    fn validate(&self) -> Result<(), FieldError> {
        required_text("subject", &self.subject, Text::Short)?;
        required_text("text", &self.text, Text::Long)?;
        optional_person("person", &self.person)
    }
}

impl ReplyLetter {
    fn validate(&self) -> Result<(), FieldError> {
        required_text("text", &self.text, Text::Long)
    }
}

impl Reminder {
    fn validate(&self) -> Result<(), FieldError> {
        optional_text("text", &self.text, Text::Long)
    }
}

// ---- Wire conversion --------------------------------------------------------------------------------

fn text_to_wire(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// proto3 cannot tell an empty string from an absent one; absent is what an empty string means here.
fn text_from_wire(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn date_to_wire(value: Option<Date>) -> String {
    value.map(calendar_date::format).unwrap_or_default()
}

fn date_from_wire(path: &str, text: &str) -> Result<Date, FieldError> {
    if text.is_empty() {
        return Err(FieldError::new(path, "is required"));
    }
    calendar_date::parse(text).map_err(|problem| FieldError::new(path, problem))
}

fn optional_date_from_wire(path: &str, text: &str) -> Result<Option<Date>, FieldError> {
    if text.is_empty() {
        Ok(None)
    } else {
        date_from_wire(path, text).map(Some)
    }
}

fn notice_id_from_wire(path: &str, text: &str) -> Result<NoticeId, FieldError> {
    if text.is_empty() {
        return Err(FieldError::new(path, "is required"));
    }
    NoticeId::parse(text).map_err(|e| FieldError::new(path, e.to_string()))
}

fn person_from_wire(path: &str, value: Option<pb::Person>) -> Result<Person, FieldError> {
    let value = value.ok_or_else(|| FieldError::new(path, "is required"))?;
    person_fields_from_wire(value).map_err(|e| e.under(path))
}

fn person_fields_from_wire(value: pb::Person) -> Result<Person, FieldError> {
    let id_number = match value.id_number.as_str() {
        "" => return Err(FieldError::new("id_number", "is required")),
        text => {
            IdentityNumber::parse(text).map_err(|e| FieldError::new("id_number", e.to_string()))?
        }
    };
    let birth_date = optional_date_from_wire("birth_date", &value.birth_date)?;
    Ok(Person {
        name: value.name,
        id_number,
        birth_date,
    })
}

fn optional_person_from_wire(
    path: &str,
    value: Option<pb::Person>,
) -> Result<Option<Person>, FieldError> {
    value.map(|p| person_from_wire(path, Some(p))).transpose()
}

/// Reads a required wire enum: 0 (unspecified) counts as missing, and an unknown value is refused.
fn enum_from_wire<W: TryFrom<i32>, T>(
    path: &str,
    value: i32,
    convert: fn(W) -> Option<T>,
) -> Result<T, FieldError> {
    if value == 0 {
        return Err(FieldError::new(path, "is required (0 means unspecified)"));
    }
    let wire = W::try_from(value)
        .map_err(|_| FieldError::new(path, format!("has unknown value {value}")))?;
    convert(wire).ok_or_else(|| FieldError::new(path, "is required (0 means unspecified)"))
}

impl CaseType {
    fn to_wire(self) -> pb::CaseType {
        match self {
            Self::Pregnancy => pb::CaseType::Pregnancy,
            Self::Birth => pb::CaseType::Birth,
        }
    }

    fn from_wire(wire: pb::CaseType) -> Option<Self> {
        match wire {
            pb::CaseType::Unspecified => None,
            pb::CaseType::Pregnancy => Some(Self::Pregnancy),
            pb::CaseType::Birth => Some(Self::Birth),
        }
    }
}

impl CertificateType {
    fn to_wire(self) -> pb::CertificateType {
        match self {
            Self::MarriageAndChildbearing => pb::CertificateType::MarriageAndChildbearing,
            Self::OnlyChild => pb::CertificateType::OnlyChild,
            Self::FirstChildService => pb::CertificateType::FirstChildService,
            Self::SecondChildPermit => pb::CertificateType::SecondChildPermit,
        }
    }

    fn from_wire(wire: pb::CertificateType) -> Option<Self> {
        match wire {
            pb::CertificateType::Unspecified => None,
            pb::CertificateType::MarriageAndChildbearing => Some(Self::MarriageAndChildbearing),
            pb::CertificateType::OnlyChild => Some(Self::OnlyChild),
            pb::CertificateType::FirstChildService => Some(Self::FirstChildService),
            pb::CertificateType::SecondChildPermit => Some(Self::SecondChildPermit),
        }
    }
}

impl FeeOpinion {
    fn to_wire(self) -> pb::FeeOpinion {
        match self {
            Self::Agree => pb::FeeOpinion::Agree,
            Self::Disagree => pb::FeeOpinion::Disagree,
            Self::AlreadyLevied => pb::FeeOpinion::AlreadyLevied,
        }
    }

    fn from_wire(wire: pb::FeeOpinion) -> Option<Self> {
        match wire {
            pb::FeeOpinion::Unspecified => None,
            pb::FeeOpinion::Agree => Some(Self::Agree),
            pb::FeeOpinion::Disagree => Some(Self::Disagree),
            pb::FeeOpinion::AlreadyLevied => Some(Self::AlreadyLevied),
        }
    }
}

impl ContraceptiveMethod {
    fn to_wire(self) -> pb::ContraceptiveMethod {
        match self {
            Self::Iud => pb::ContraceptiveMethod::Iud,
            Self::Sterilization => pb::ContraceptiveMethod::Sterilization,
            Self::Implant => pb::ContraceptiveMethod::Implant,
            Self::Pills => pb::ContraceptiveMethod::Pills,
            Self::Condom => pb::ContraceptiveMethod::Condom,
            Self::Other => pb::ContraceptiveMethod::Other,
            Self::None => pb::ContraceptiveMethod::None,
        }
    }

    fn from_wire(wire: pb::ContraceptiveMethod) -> Option<Self> {
        match wire {
            pb::ContraceptiveMethod::Unspecified => None,
            pb::ContraceptiveMethod::Iud => Some(Self::Iud),
            pb::ContraceptiveMethod::Sterilization => Some(Self::Sterilization),
            pb::ContraceptiveMethod::Implant => Some(Self::Implant),
            pb::ContraceptiveMethod::Pills => Some(Self::Pills),
            pb::ContraceptiveMethod::Condom => Some(Self::Condom),
            pb::ContraceptiveMethod::Other => Some(Self::Other),
            pb::ContraceptiveMethod::None => Some(Self::None),
        }
    }
}

impl BulletinTopic {
    fn to_wire(self) -> pb::BulletinTopic {
        match self {
            Self::WorkInformation => pb::BulletinTopic::WorkInformation,
            Self::ServiceStatistics => pb::BulletinTopic::ServiceStatistics,
            Self::SexRatioCase => pb::BulletinTopic::SexRatioCase,
            Self::Emergency => pb::BulletinTopic::Emergency,
            Self::PolicyChange => pb::BulletinTopic::PolicyChange,
            Self::Other => pb::BulletinTopic::Other,
        }
    }

    fn from_wire(wire: pb::BulletinTopic) -> Option<Self> {
        match wire {
            pb::BulletinTopic::Unspecified => None,
            pb::BulletinTopic::WorkInformation => Some(Self::WorkInformation),
            pb::BulletinTopic::ServiceStatistics => Some(Self::ServiceStatistics),
            pb::BulletinTopic::SexRatioCase => Some(Self::SexRatioCase),
            pb::BulletinTopic::Emergency => Some(Self::Emergency),
            pb::BulletinTopic::PolicyChange => Some(Self::PolicyChange),
            pb::BulletinTopic::Other => Some(Self::Other),
        }
    }
}

/// Calendar dates as ISO 8601 `YYYY-MM-DD` text, the one form used on the wire and in drafts.
mod calendar_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::{Date, Month};

    pub(super) fn format(date: Date) -> String {
        format!(
            "{:04}-{:02}-{:02}",
            date.year(),
            u8::from(date.month()),
            date.day()
        )
    }

    pub(super) fn parse(text: &str) -> Result<Date, String> {
        let b = text.as_bytes();
        let shaped = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shaped {
            return Err(format!("{text:?} is not a date written as YYYY-MM-DD"));
        }
        // The shape check makes every slice below ASCII digits on char boundaries.
        let number = |range: std::ops::Range<usize>| text[range].parse::<u16>().unwrap_or(0);
        let (year, month, day) = (number(0..4), number(5..7), number(8..10));
        let month = Month::try_from(month as u8)
            .map_err(|_| format!("{text:?} is not a calendar date: there is no month {month}"))?;
        Date::from_calendar_date(i32::from(year), month, day as u8).map_err(|_| {
            format!("{text:?} is not a calendar date: {month} {year} has no day {day}")
        })
    }

    pub(super) fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*date))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Date, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    /// The same for optional dates.
    pub(super) mod optional {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::Date;

        pub(in super::super) fn serialize<S: Serializer>(
            date: &Option<Date>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match date {
                Some(date) => super::serialize(date, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Date>, D::Error> {
            match Option::<String>::deserialize(deserializer)? {
                Some(text) => super::parse(&text)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use pb::notice_body::Body;

    use super::*;

    fn id(text: &str) -> IdentityNumber {
        IdentityNumber::parse(text).unwrap()
    }

    fn woman() -> Person {
        Person {
            name: "王丽".to_owned(),
            id_number: id("610602199203154529"),
            birth_date: Some(date!(1992 - 03 - 15)),
        }
    }

    fn man() -> Person {
        Person {
            name: "李强".to_owned(),
            id_number: id("61060319881120451X"),
            birth_date: None,
        }
    }

    fn text(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    /// One body of every kind with every optional field filled in.
    fn full_samples() -> Vec<NoticeBody> {
        vec![
            NoticeBody::CaseNotice(CaseNotice {
                case_type: CaseType::Birth,
                person: woman(),
                spouse: Some(man()),
                event_date: date!(2024 - 05 - 02),
                residence_address: text("延安市宝塔区南关街12号"),
                registration_address: text("延安市安塞区真武洞镇"),
                details: text("第三孩,未办理生育服务证。\n请核实户籍地登记情况。"),
            }),
            NoticeBody::CertificateQuery(CertificateQuery {
                certificate_type: CertificateType::MarriageAndChildbearing,
                person: woman(),
                certificate_number: text("宝计生字2023第0157号"),
                question: text("请核实该证是否由贵局签发、是否有效。"),
            }),
            NoticeBody::CertificateAnswer(CertificateAnswer {
                found: true,
                certificate_number: text("宝计生字2023第0157号"),
                issued_on: Some(date!(2023 - 04 - 11)),
                valid_until: Some(date!(2026 - 04 - 10)),
                answer: "该证由我局签发,现仍有效。".to_owned(),
            }),
            NoticeBody::FeeConsultation(FeeConsultation {
                person: woman(),
                birth_date: date!(2024 - 05 - 02),
                proposed_amount_yuan: 36_000,
                reasons: "政策外生育第三孩,按上年度农村居民人均纯收入三倍计。".to_owned(),
                delegate_collection: true,
            }),
            NoticeBody::FeeReply(FeeReply {
                opinion: FeeOpinion::Agree,
                comments: text("同意征收,并接受委托继续征收。"),
                accept_delegation: true,
            }),
            NoticeBody::ApprovalRequest(ApprovalRequest {
                applicant: woman(),
                spouse: Some(man()),
                certificate_type: CertificateType::SecondChildPermit,
                application_date: date!(2024 - 03 - 01),
                details: text("夫妻双方均为独生子女。"),
            }),
            NoticeBody::ApprovalResult(ApprovalResult {
                applicant: woman(),
                approved: true,
                decision_date: date!(2024 - 03 - 18),
                certificate_number: text("安计生准字2024第0032号"),
                reasons: text("符合条件。"),
            }),
            NoticeBody::ContraceptionReport(ContraceptionReport {
                person: woman(),
                check_date: date!(2024 - 06 - 20),
                method: ContraceptiveMethod::Iud,
                pregnant: false,
                findings: text("节育器位置正常。"),
            }),
            NoticeBody::Bulletin(Bulletin {
                topic: BulletinTopic::WorkInformation,
                title: "2024年第二季度流动人口信息交换情况".to_owned(),
                text: "各县区:\n本季度共交换信息……".to_owned(),
            }),
            NoticeBody::ContactLetter(ContactLetter {
                subject: "请协助核实流动人口婚育情况".to_owned(),
                text: "该人员现居住我区,请核实其在户籍地的婚育情况。".to_owned(),
                person: Some(woman()),
            }),
            NoticeBody::ReplyLetter(ReplyLetter {
                text: "经核实,该人员已婚,育有一孩。".to_owned(),
            }),
            NoticeBody::Reminder(Reminder {
                overdue_notice_id: NoticeId::parse("0190c3b2-7c1e-7a4e-9d2b-1f0c8e5a6b7c").unwrap(),
                text: text("来函已逾期未复,请尽快复函。"),
            }),
        ]
    }

    /// One body of every kind with only what is required.
    fn minimal_samples() -> Vec<NoticeBody> {
        let bare = Person {
            birth_date: None,
            ..woman()
        };
        vec![
            NoticeBody::CaseNotice(CaseNotice {
                case_type: CaseType::Pregnancy,
                person: bare.clone(),
                spouse: None,
                event_date: date!(2024 - 05 - 02),
                residence_address: None,
                registration_address: None,
                details: None,
            }),
            NoticeBody::CertificateQuery(CertificateQuery {
                certificate_type: CertificateType::OnlyChild,
                person: bare.clone(),
                certificate_number: None,
                question: None,
            }),
            NoticeBody::CertificateAnswer(CertificateAnswer {
                found: false,
                certificate_number: None,
                issued_on: None,
                valid_until: None,
                answer: "未查到。".to_owned(),
            }),
            NoticeBody::FeeConsultation(FeeConsultation {
                person: bare.clone(),
                birth_date: date!(2024 - 05 - 02),
                proposed_amount_yuan: 1,
                reasons: "见附件。".to_owned(),
                delegate_collection: false,
            }),
            NoticeBody::FeeReply(FeeReply {
                opinion: FeeOpinion::AlreadyLevied,
                comments: None,
                accept_delegation: false,
            }),
            NoticeBody::ApprovalRequest(ApprovalRequest {
                applicant: bare.clone(),
                spouse: None,
                certificate_type: CertificateType::FirstChildService,
                application_date: date!(2024 - 03 - 01),
                details: None,
            }),
            NoticeBody::ApprovalResult(ApprovalResult {
                applicant: bare.clone(),
                approved: true,
                decision_date: date!(2024 - 03 - 18),
                certificate_number: None,
                reasons: None,
            }),
            NoticeBody::ContraceptionReport(ContraceptionReport {
                person: bare,
                check_date: date!(2024 - 06 - 20),
                method: ContraceptiveMethod::None,
                pregnant: true,
                findings: None,
            }),
            NoticeBody::Bulletin(Bulletin {
                topic: BulletinTopic::Other,
                title: "通知".to_owned(),
                text: "略".to_owned(),
            }),
            NoticeBody::ContactLetter(ContactLetter {
                subject: "联系".to_owned(),
                text: "略".to_owned(),
                person: None,
            }),
            NoticeBody::ReplyLetter(ReplyLetter {
                text: "收悉。".to_owned(),
            }),
            NoticeBody::Reminder(Reminder {
                overdue_notice_id: NoticeId::parse("0190c3b2-7c1e-7a4e-9d2b-1f0c8e5a6b7c").unwrap(),
                text: None,
            }),
        ]
    }

    /// The wire member of a valid sample, to be spoiled by a test.
    fn wire(kind: NoticeKind) -> Body {
        let sample = full_samples()
            .into_iter()
            .find(|b| b.kind() == kind)
            .unwrap();
        sample.to_wire().body.unwrap()
    }

    /// The error a peer would get for this wire body.
    fn refusal(body: Body) -> String {
        NoticeBody::from_wire(pb::NoticeBody { body: Some(body) })
            .unwrap_err()
            .to_string()
    }

    fn invalid(body: NoticeBody) -> String {
        body.validate().unwrap_err().to_string()
    }

    fn from_json(json: serde_json::Value) -> Result<NoticeBody, String> {
        NoticeBody::from_json_value(json).map_err(|e| e.to_string())
    }

    #[test]
    fn samples_cover_every_kind_in_wire_order() {
        let kinds: Vec<_> = full_samples().iter().map(NoticeBody::kind).collect();
        assert_eq!(kinds, NoticeKind::ALL);
        let kinds: Vec<_> = minimal_samples().iter().map(NoticeBody::kind).collect();
        assert_eq!(kinds, NoticeKind::ALL);
    }

    #[test]
    fn every_kind_round_trips_through_the_wire_bytes() {
        for body in full_samples().into_iter().chain(minimal_samples()) {
            assert_eq!(body.validate(), Ok(()), "{:?}", body.kind());
            assert_eq!(
                NoticeBody::decode(&body.encode()),
                Ok(body.clone()),
                "{:?}",
                body.kind()
            );
        }
    }

    #[test]
    fn every_kind_round_trips_through_json() {
        for body in full_samples().into_iter().chain(minimal_samples()) {
            let json = serde_json::to_string(&body).unwrap();
            assert_eq!(
                serde_json::from_str::<NoticeBody>(&json).unwrap(),
                body,
                "{json}"
            );
        }
    }

    #[test]
    fn json_names_kinds_and_values_in_snake_case() {
        let json = serde_json::to_value(&full_samples()[0]).unwrap();
        assert_eq!(json["kind"], "case_notice");
        assert_eq!(json["case_type"], "birth");
        assert_eq!(json["person"]["id_number"], "610602199203154529");
        assert_eq!(json["person"]["birth_date"], "1992-03-15");
        assert_eq!(json["event_date"], "2024-05-02");
        let json = serde_json::to_value(&full_samples()[1]).unwrap();
        assert_eq!(json["certificate_type"], "marriage_and_childbearing");
        let json = serde_json::to_value(&full_samples()[7]).unwrap();
        assert_eq!(json["method"], "iud");
        // Absent options are left out rather than written as null.
        let json = serde_json::to_value(&minimal_samples()[0]).unwrap();
        assert!(
            json.get("spouse").is_none() && json["person"].get("birth_date").is_none(),
            "{json}"
        );
    }

    #[test]
    fn missing_required_field_names_its_path() {
        let Body::CaseNotice(m) = wire(NoticeKind::CaseNotice) else {
            unreachable!()
        };
        assert_eq!(
            refusal(Body::CaseNotice(pb::CaseNotice {
                person: None,
                ..m.clone()
            })),
            "person: is required"
        );
        assert_eq!(
            refusal(Body::CaseNotice(pb::CaseNotice {
                event_date: String::new(),
                ..m.clone()
            })),
            "event_date: is required"
        );
        let nameless = pb::Person {
            name: "  ".to_owned(),
            ..m.person.clone().unwrap()
        };
        assert_eq!(
            refusal(Body::CaseNotice(pb::CaseNotice {
                person: Some(nameless),
                ..m.clone()
            })),
            "person.name: is required and must not be blank"
        );
        let no_id = pb::Person {
            id_number: String::new(),
            ..m.person.clone().unwrap()
        };
        assert_eq!(
            refusal(Body::CaseNotice(pb::CaseNotice {
                spouse: Some(no_id),
                ..m
            })),
            "spouse.id_number: is required"
        );
        assert_eq!(
            refusal(Body::ReplyLetter(pb::ReplyLetter {
                text: String::new()
            })),
            "text: is required and must not be blank"
        );
        let Body::CertificateAnswer(m) = wire(NoticeKind::CertificateAnswer) else {
            unreachable!()
        };
        assert_eq!(
            refusal(Body::CertificateAnswer(pb::CertificateAnswer {
                answer: String::new(),
                ..m
            })),
            "answer: is required and must not be blank"
        );
        let Body::Reminder(m) = wire(NoticeKind::Reminder) else {
            unreachable!()
        };
        assert_eq!(
            refusal(Body::Reminder(pb::Reminder {
                overdue_notice_id: String::new(),
                ..m
            })),
            "overdue_notice_id: is required"
        );
    }

    #[test]
    fn bad_identity_number_in_spouse_names_spouse_id_number() {
        let Body::CaseNotice(m) = wire(NoticeKind::CaseNotice) else {
            unreachable!()
        };
        let spouse = pb::Person {
            id_number: "610603198811204512".to_owned(),
            ..m.spouse.clone().unwrap()
        };
        assert_eq!(
            refusal(Body::CaseNotice(pb::CaseNotice {
                spouse: Some(spouse),
                ..m
            })),
            "spouse.id_number: check character is 2 but digits 1-17 require X"
        );
    }

    #[test]
    fn unspecified_or_unknown_enum_is_refused() {
        let Body::CaseNotice(m) = wire(NoticeKind::CaseNotice) else {
            unreachable!()
        };
        assert_eq!(
            refusal(Body::CaseNotice(pb::CaseNotice {
                case_type: 0,
                ..m.clone()
            })),
            "case_type: is required (0 means unspecified)"
        );
        assert_eq!(
            refusal(Body::CaseNotice(pb::CaseNotice { case_type: 99, ..m })),
            "case_type: has unknown value 99"
        );
        assert_eq!(
            refusal(Body::FeeReply(pb::FeeReply {
                opinion: 0,
                comments: String::new(),
                accept_delegation: false
            })),
            "opinion: is required (0 means unspecified)"
        );
        assert_eq!(
            refusal(Body::Bulletin(pb::Bulletin {
                topic: -1,
                title: "t".to_owned(),
                text: "t".to_owned()
            })),
            "topic: has unknown value -1"
        );
    }

    #[test]
    fn malformed_bytes_give_a_payload_error() {
        for bytes in [
            &[0xff][..],
            &[0x0a, 0x05, 0x08],
            &[0x5a, 0x02, 0xc3, 0x28],
            &[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff],
        ] {
            let err = NoticeBody::decode(bytes).unwrap_err();
            assert_eq!(err.path, "payload", "{bytes:?}: {err}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // Spoil every byte of every valid encoding in turn, and feed some pseudo-random noise.
        for body in full_samples() {
            let bytes = body.encode();
            for i in 0..bytes.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut spoiled = bytes.clone();
                    spoiled[i] ^= flip;
                    let _ = NoticeBody::decode(&spoiled);
                    let _ = NoticeBody::decode(&spoiled[..i]);
                }
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..2000 {
            let noise: Vec<u8> = (0..len % 97)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let _ = NoticeBody::decode(&noise);
        }
    }

    #[test]
    fn body_without_a_member_is_refused() {
        assert_eq!(NoticeBody::decode(&[]).unwrap_err().path, "kind");
        assert_eq!(
            NoticeBody::from_wire(pb::NoticeBody { body: None })
                .unwrap_err()
                .path,
            "kind"
        );
    }

    #[test]
    fn birth_date_that_disagrees_with_the_identity_number_is_refused() {
        let Body::CaseNotice(m) = wire(NoticeKind::CaseNotice) else {
            unreachable!()
        };
        let person = pb::Person {
            birth_date: "1992-03-16".to_owned(),
            ..m.person.clone().unwrap()
        };
        assert_eq!(
            refusal(Body::CaseNotice(pb::CaseNotice {
                person: Some(person),
                ..m
            })),
            "person.birth_date: is 1992-03-16 but the identity number says 1992-03-15"
        );
    }

    #[test]
    fn oversize_text_is_refused() {
        let NoticeBody::CaseNotice(notice) = full_samples().remove(0) else {
            unreachable!()
        };
        let named = |name: String| CaseNotice {
            person: Person { name, ..woman() },
            ..notice.clone()
        };
        assert_eq!(
            NoticeBody::CaseNotice(named("王".repeat(NAME_MAX_CHARS))).validate(),
            Ok(())
        );
        assert_eq!(
            invalid(NoticeBody::CaseNotice(named(
                "王".repeat(NAME_MAX_CHARS + 1)
            ))),
            "person.name: has 65 characters; at most 64 are allowed"
        );
        let address = Some("路".repeat(SHORT_TEXT_MAX_CHARS + 1));
        assert_eq!(
            invalid(NoticeBody::CaseNotice(CaseNotice {
                residence_address: address,
                ..notice.clone()
            })),
            "residence_address: has 257 characters; at most 256 are allowed"
        );
        let details = Some("x".repeat(LONG_TEXT_MAX_CHARS + 1));
        assert_eq!(
            invalid(NoticeBody::CaseNotice(CaseNotice { details, ..notice })),
            "details: has 8001 characters; at most 8000 are allowed"
        );
        assert_eq!(
            refusal(Body::ReplyLetter(pb::ReplyLetter {
                text: "答".repeat(LONG_TEXT_MAX_CHARS + 1)
            })),
            "text: has 8001 characters; at most 8000 are allowed"
        );
    }

    #[test]
    fn control_characters_are_refused_except_line_breaks_in_long_text() {
        let bulletin = |title: &str, text: &str| {
            NoticeBody::Bulletin(Bulletin {
                topic: BulletinTopic::Other,
                title: title.to_owned(),
                text: text.to_owned(),
            })
        };
        assert_eq!(bulletin("标题", "第一行\r\n第二行\t完").validate(), Ok(()));
        assert_eq!(
            invalid(bulletin("标\n题", "正文")),
            "title: contains the control character U+000A, in a single-line field"
        );
        assert_eq!(
            invalid(bulletin("标题", "正文\u{1b}[2J")),
            "text: contains the control character U+001B, other than line breaks and tabs"
        );
    }

    #[test]
    fn blank_optional_text_is_refused_rather_than_dropped() {
        let NoticeBody::CaseNotice(notice) = full_samples().remove(0) else {
            unreachable!()
        };
        assert_eq!(
            invalid(NoticeBody::CaseNotice(CaseNotice {
                details: text(" "),
                ..notice
            })),
            "details: must not be blank; leave it out instead"
        );
    }

    #[test]
    fn dates_must_be_calendar_dates_within_range() {
        let Body::CaseNotice(m) = wire(NoticeKind::CaseNotice) else {
            unreachable!()
        };
        let with_date = |d: &str| {
            refusal(Body::CaseNotice(pb::CaseNotice {
                event_date: d.to_owned(),
                ..m.clone()
            }))
        };
        assert_eq!(
            with_date("2023-02-29"),
            "event_date: \"2023-02-29\" is not a calendar date: February 2023 has no day 29"
        );
        assert_eq!(
            with_date("2024-2-3"),
            "event_date: \"2024-2-3\" is not a date written as YYYY-MM-DD"
        );
        assert_eq!(
            with_date("2024/02/03"),
            "event_date: \"2024/02/03\" is not a date written as YYYY-MM-DD"
        );
        assert_eq!(
            with_date("２０２４-02-03"),
            "event_date: \"２０２４-02-03\" is not a date written as YYYY-MM-DD"
        );
        assert_eq!(
            with_date("2024-13-01"),
            "event_date: \"2024-13-01\" is not a calendar date: there is no month 13"
        );
        assert_eq!(
            with_date("2024-04-00"),
            "event_date: \"2024-04-00\" is not a calendar date: April 2024 has no day 0"
        );
        assert_eq!(
            with_date("1899-12-31"),
            "event_date: 1899-12-31 is outside the accepted range 1900-01-01 to 2199-12-31"
        );
        assert_eq!(
            with_date("2200-01-01"),
            "event_date: 2200-01-01 is outside the accepted range 1900-01-01 to 2199-12-31"
        );
    }

    #[test]
    fn the_range_message_states_the_range_constants() {
        let range = format!(
            "{} to {}",
            calendar_date::format(EARLIEST_DATE),
            calendar_date::format(LATEST_DATE)
        );
        assert!(OUTSIDE_DATE_RANGE.ends_with(&range));
    }

    #[test]
    fn identity_number_birth_date_must_be_within_range() {
        let first17 = "61060218991231452";
        let old = format!(
            "{first17}{}",
            crate::identity::check_character(first17).unwrap()
        );
        let person = Person {
            name: "张".to_owned(),
            id_number: id(&old),
            birth_date: None,
        };
        assert_eq!(
            person.validate().unwrap_err().to_string(),
            "id_number: holds birth date 1899-12-31, outside the accepted range 1900-01-01 to 2199-12-31"
        );
    }

    #[test]
    fn fee_amount_must_be_positive_and_at_most_ten_million() {
        let NoticeBody::FeeConsultation(fee) = full_samples().remove(3) else {
            unreachable!()
        };
        let amount = |proposed_amount_yuan| {
            NoticeBody::FeeConsultation(FeeConsultation {
                proposed_amount_yuan,
                ..fee.clone()
            })
        };
        assert_eq!(amount(MAX_FEE_YUAN).validate(), Ok(()));
        assert_eq!(
            invalid(amount(0)),
            "proposed_amount_yuan: must be more than 0 yuan"
        );
        assert_eq!(
            invalid(amount(-5)),
            "proposed_amount_yuan: must be more than 0 yuan"
        );
        assert_eq!(
            invalid(amount(MAX_FEE_YUAN + 1)),
            "proposed_amount_yuan: must be at most 10000000 yuan"
        );
    }

    #[test]
    fn reminder_needs_a_uuid_v7_notice_id_in_canonical_form() {
        let with_id = |id: &str| {
            refusal(Body::Reminder(pb::Reminder {
                overdue_notice_id: id.to_owned(),
                text: String::new(),
            }))
        };
        for bad in [
            "not-a-uuid",
            "0190C3B2-7C1E-7A4E-9D2B-1F0C8E5A6B7C",
            "0190c3b27c1e7a4e9d2b1f0c8e5a6b7c",
            "0190c3b2-7c1e-4a4e-9d2b-1f0c8e5a6b7c",
        ] {
            let err = with_id(bad);
            assert!(
                err.starts_with(&format!("overdue_notice_id: {bad:?} is not a notice id")),
                "{err}"
            );
        }
        let mut json = serde_json::to_value(&full_samples()[11]).unwrap();
        json["overdue_notice_id"] = "0190c3b2".into();
        assert!(
            from_json(json)
                .unwrap_err()
                .starts_with("overdue_notice_id: \"0190c3b2\" is not a notice id")
        );
    }

    #[test]
    fn contradictory_answers_are_refused() {
        let NoticeBody::CertificateAnswer(answer) = full_samples().remove(2) else {
            unreachable!()
        };
        assert_eq!(
            invalid(NoticeBody::CertificateAnswer(CertificateAnswer {
                found: false,
                ..answer.clone()
            })),
            "certificate_number: must be left out when found is false"
        );
        assert_eq!(
            invalid(NoticeBody::CertificateAnswer(CertificateAnswer {
                valid_until: Some(date!(2023 - 04 - 10)),
                ..answer
            })),
            "valid_until: is 2023-04-10, before issued_on 2023-04-11"
        );
        let NoticeBody::ApprovalResult(result) = full_samples().remove(6) else {
            unreachable!()
        };
        assert_eq!(
            invalid(NoticeBody::ApprovalResult(ApprovalResult {
                approved: false,
                ..result.clone()
            })),
            "certificate_number: must be left out when approved is false"
        );
        assert_eq!(
            invalid(NoticeBody::ApprovalResult(ApprovalResult {
                approved: false,
                certificate_number: None,
                reasons: None,
                ..result
            })),
            "reasons: is required when approved is false"
        );
        assert_eq!(
            invalid(NoticeBody::FeeReply(FeeReply {
                opinion: FeeOpinion::Disagree,
                comments: None,
                accept_delegation: false
            })),
            "comments: is required when the opinion is disagree"
        );
        let NoticeBody::CaseNotice(notice) = full_samples().remove(0) else {
            unreachable!()
        };
        assert_eq!(
            invalid(NoticeBody::CaseNotice(CaseNotice {
                spouse: Some(woman()),
                ..notice
            })),
            "spouse.id_number: is the same as person.id_number"
        );
    }

    #[test]
    fn json_errors_name_the_nested_path() {
        let mut json = serde_json::to_value(&full_samples()[0]).unwrap();
        json["spouse"]["id_number"] = "610603198811204512".into();
        assert_eq!(
            from_json(json).unwrap_err(),
            "spouse.id_number: check character is 2 but digits 1-17 require X"
        );

        let mut json = serde_json::to_value(&full_samples()[0]).unwrap();
        json["event_date"] = "2024-02-30".into();
        assert!(
            from_json(json)
                .unwrap_err()
                .starts_with("event_date: \"2024-02-30\" is not a calendar date")
        );

        let mut json = serde_json::to_value(&full_samples()[7]).unwrap();
        json["method"] = "unspecified".into();
        assert!(
            from_json(json)
                .unwrap_err()
                .starts_with("method: unknown variant `unspecified`, expected one of `iud`")
        );
    }

    #[test]
    fn json_missing_field_names_its_path() {
        let mut json = serde_json::to_value(&full_samples()[0]).unwrap();
        json.as_object_mut().unwrap().remove("event_date");
        assert_eq!(from_json(json).unwrap_err(), "event_date: is required");

        let mut json = serde_json::to_value(&full_samples()[0]).unwrap();
        json["person"].as_object_mut().unwrap().remove("id_number");
        assert_eq!(
            from_json(json).unwrap_err(),
            "person.id_number: is required"
        );

        // Decisive booleans have no default: forgetting `approved` must not send a refusal.
        let mut json = serde_json::to_value(&full_samples()[6]).unwrap();
        json.as_object_mut().unwrap().remove("approved");
        assert_eq!(from_json(json).unwrap_err(), "approved: is required");
    }

    #[test]
    fn json_unknown_fields_are_refused_despite_the_kind_tag() {
        let mut json = serde_json::to_value(&full_samples()[10]).unwrap();
        json["txet"] = "typo".into();
        assert_eq!(
            from_json(json.clone()).unwrap_err(),
            "txet: unknown field `txet`, expected `text`"
        );
        // The same through the serde impl, as other formats would use it.
        let err = serde_json::from_value::<NoticeBody>(json)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("txet: unknown field `txet`"), "{err}");

        let mut json = serde_json::to_value(&full_samples()[0]).unwrap();
        json["person"]["gender"] = "female".into();
        assert!(
            from_json(json)
                .unwrap_err()
                .starts_with("person.gender: unknown field `gender`")
        );
    }

    #[test]
    fn json_kind_must_be_present_and_known() {
        assert_eq!(
            from_json(serde_json::json!({"text": "x"})).unwrap_err(),
            "kind: is required"
        );
        assert!(
            from_json(serde_json::json!({"kind": "letter"}))
                .unwrap_err()
                .starts_with("kind: unknown notice kind \"letter\"")
        );
        assert_eq!(
            from_json(serde_json::json!({"kind": 11})).unwrap_err(),
            "kind: must be a string naming the kind of notice"
        );
        assert!(
            from_json(serde_json::json!(["reply_letter"]))
                .unwrap_err()
                .starts_with("kind: is required")
        );
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
