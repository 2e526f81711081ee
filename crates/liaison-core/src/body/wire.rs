//! The one place where bodies are converted to and from the wire (`liaison.v1.NoticeBody`).

use liaison_proto::v1 as pb;
use prost::Message;
use time::Date;

use super::FieldError;
use super::calendar_date;
use super::types::*;
use crate::NoticeId;
use crate::identity::IdentityNumber;

impl NoticeBody {
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
}

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
    crate::parse_date(text).map_err(|e| FieldError::new(path, e.to_string()))
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

impl Person {
    fn to_wire(&self) -> pb::Person {
        pb::Person {
            name: self.name.clone(),
            id_number: self.id_number.as_str().to_owned(),
            birth_date: date_to_wire(self.birth_date),
        }
    }
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

#[cfg(test)]
mod tests {
    use pb::notice_body::Body;

    use super::super::samples::*;
    use super::*;
    use crate::NoticeKind;

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
}
