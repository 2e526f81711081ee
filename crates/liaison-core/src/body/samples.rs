//! Sample bodies of every kind, and helpers that spoil them, for the body tests.

use liaison_proto::v1 as pb;
use pb::notice_body::Body;
use time::macros::date;

use super::*;
use crate::identity::IdentityNumber;
use crate::{NoticeId, NoticeKind};

pub(super) fn id(text: &str) -> IdentityNumber {
    IdentityNumber::parse(text).unwrap()
}

pub(super) fn woman() -> Person {
    Person {
        name: "王丽".to_owned(),
        id_number: id("610602199203154529"),
        birth_date: Some(date!(1992 - 03 - 15)),
    }
}

pub(super) fn man() -> Person {
    Person {
        name: "李强".to_owned(),
        id_number: id("61060319881120451X"),
        birth_date: None,
    }
}

pub(super) fn text(s: &str) -> Option<String> {
    Some(s.to_owned())
}

/// One body of every kind with every optional field filled in.
pub(super) fn full_samples() -> Vec<NoticeBody> {
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
pub(super) fn minimal_samples() -> Vec<NoticeBody> {
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
pub(super) fn wire(kind: NoticeKind) -> Body {
    let sample = full_samples()
        .into_iter()
        .find(|b| b.kind() == kind)
        .unwrap();
    sample.to_wire().body.unwrap()
}

/// The error a peer would get for this wire body.
pub(super) fn refusal(body: Body) -> String {
    NoticeBody::from_wire(pb::NoticeBody { body: Some(body) })
        .unwrap_err()
        .to_string()
}

pub(super) fn invalid(body: NoticeBody) -> String {
    body.validate().unwrap_err().to_string()
}

pub(super) fn from_json(json: serde_json::Value) -> Result<NoticeBody, String> {
    NoticeBody::from_json_value(json).map_err(|e| e.to_string())
}
