//! The rules of docs/notices.md that a body's types alone do not enforce.

use time::Date;

use super::calendar_date;
use super::types::*;
use super::{
    EARLIEST_DATE, FieldError, LATEST_DATE, LONG_TEXT_MAX_CHARS, MAX_FEE_YUAN, NAME_MAX_CHARS,
    SHORT_TEXT_MAX_CHARS,
};

impl NoticeBody {
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
}

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

#[cfg(test)]
mod tests {
    use liaison_proto::v1 as pb;
    use pb::notice_body::Body;
    use time::macros::date;

    use super::super::samples::*;
    use super::*;
    use crate::NoticeKind;

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
}
