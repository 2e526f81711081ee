//! The rules of docs/notices.md that a body's types alone do not enforce.
//!
//! Every rule is checked and every violation reported, so that a form can show all of them beside
//! their fields at once; each error carries its problem in Chinese as well.

use time::Date;

use super::calendar_date;
use super::types::*;
use super::{
    EARLIEST_DATE, FieldError, LATEST_DATE, LONG_TEXT_MAX_CHARS, MAX_FEE_YUAN, NAME_MAX_CHARS,
    SHORT_TEXT_MAX_CHARS,
};

impl NoticeBody {
    /// Checks the rules of docs/notices.md that the types alone do not enforce; the first
    /// violation, in field order, wins.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self.violations().into_iter().next() {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }

    /// Every violation of the rules that [`Self::validate`] checks, in field order.
    pub fn violations(&self) -> Vec<FieldError> {
        let mut found = Vec::new();
        let out = &mut found;
        match self {
            Self::CaseNotice(b) => b.check(out),
            Self::CertificateQuery(b) => b.check(out),
            Self::CertificateAnswer(b) => b.check(out),
            Self::FeeConsultation(b) => b.check(out),
            Self::FeeReply(b) => b.check(out),
            Self::ApprovalRequest(b) => b.check(out),
            Self::ApprovalResult(b) => b.check(out),
            Self::ContraceptionReport(b) => b.check(out),
            Self::Bulletin(b) => b.check(out),
            Self::ContactLetter(b) => b.check(out),
            Self::ReplyLetter(b) => b.check(out),
            Self::Reminder(b) => b.check(out),
        }
        found
    }
}

/// The violations found so far.
type Found = Vec<FieldError>;

fn note(out: &mut Found, checked: Result<(), FieldError>) {
    out.extend(checked.err());
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
    let max = class.max_chars();
    if count > max {
        return Err(FieldError::new(
            path,
            format!("has {count} characters; at most {max} are allowed"),
        )
        .zh(format!("共{count}字,最多{max}字")));
    }
    if let Some(c) = value.chars().find(|&c| !class.allows(c)) {
        let (what, zh) = if matches!(class, Text::Long) {
            (
                "other than line breaks and tabs",
                "除换行和制表符外不能含控制字符",
            )
        } else {
            ("in a single-line field", "单行内容不能含换行等控制字符")
        };
        return Err(FieldError::new(
            path,
            format!(
                "contains the control character U+{:04X}, {what}",
                u32::from(c)
            ),
        )
        .zh(format!("{zh}(U+{:04X})", u32::from(c))));
    }
    Ok(())
}

fn required_text(path: &str, value: &str, class: Text) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(path, "is required and must not be blank").zh("必填"));
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
        )
        .zh("不能只填空白;不填请留空")),
        Some(text) => check_text(path, text, class),
    }
}

fn check_date(path: &str, date: Date) -> Result<(), FieldError> {
    if date < EARLIEST_DATE || date > LATEST_DATE {
        let date = calendar_date::format(date);
        return Err(
            FieldError::new(path, format!("{date} is {OUTSIDE_DATE_RANGE}"))
                .zh(format!("{date} {OUTSIDE_DATE_RANGE_ZH}")),
        );
    }
    Ok(())
}

const OUTSIDE_DATE_RANGE: &str = "outside the accepted range 1900-01-01 to 2199-12-31";
const OUTSIDE_DATE_RANGE_ZH: &str = "超出可接受的范围 1900-01-01 至 2199-12-31";

fn optional_date(path: &str, date: Option<Date>) -> Result<(), FieldError> {
    date.map_or(Ok(()), |d| check_date(path, d))
}

/// `condition` and `condition_zh` say, in English and Chinese, when the field must be left out.
fn absent_unless<T>(
    path: &str,
    value: &Option<T>,
    allowed: bool,
    (condition, condition_zh): (&str, &str),
) -> Result<(), FieldError> {
    if value.is_some() && !allowed {
        return Err(
            FieldError::new(path, format!("must be left out when {condition}"))
                .zh(format!("{condition_zh}时不应填写")),
        );
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
        )
        .zh("与本人的身份号码相同")),
        _ => Ok(()),
    }
}

impl Person {
    fn check(&self, out: &mut Found) {
        note(out, required_text("name", &self.name, Text::Name));
        let id_birth_date = self.id_number.birth_date();
        if id_birth_date < EARLIEST_DATE || id_birth_date > LATEST_DATE {
            let date = calendar_date::format(id_birth_date);
            out.push(
                FieldError::new(
                    "id_number",
                    format!("holds birth date {date}, {OUTSIDE_DATE_RANGE}"),
                )
                .zh(format!("其中的出生日期 {date} {OUTSIDE_DATE_RANGE_ZH}")),
            );
            // The birth date cannot agree with a number the rules refuse.
            return;
        }
        if let Some(birth_date) = self.birth_date {
            let range = check_date("birth_date", birth_date);
            let in_range = range.is_ok();
            note(out, range);
            if in_range && birth_date != id_birth_date {
                let (given, said) = (
                    calendar_date::format(birth_date),
                    calendar_date::format(id_birth_date),
                );
                out.push(
                    FieldError::new(
                        "birth_date",
                        format!("is {given} but the identity number says {said}"),
                    )
                    .zh(format!("填的是 {given},但身份号码中的出生日期是 {said}")),
                );
            }
        }
    }
}

fn person(path: &str, person: &Person, out: &mut Found) {
    let mut found = Vec::new();
    person.check(&mut found);
    out.extend(found.into_iter().map(|e| e.under(path)));
}

fn optional_person(path: &str, value: &Option<Person>, out: &mut Found) {
    if let Some(p) = value {
        person(path, p, out);
    }
}

impl CaseNotice {
    fn check(&self, out: &mut Found) {
        person("person", &self.person, out);
        optional_person("spouse", &self.spouse, out);
        note(out, different_people("person", &self.person, &self.spouse));
        note(out, check_date("event_date", self.event_date));
        note(
            out,
            optional_text("residence_address", &self.residence_address, Text::Short),
        );
        note(
            out,
            optional_text(
                "registration_address",
                &self.registration_address,
                Text::Short,
            ),
        );
        note(out, optional_text("details", &self.details, Text::Long));
    }
}

impl CertificateQuery {
    fn check(&self, out: &mut Found) {
        person("person", &self.person, out);
        note(
            out,
            optional_text("certificate_number", &self.certificate_number, Text::Short),
        );
        note(out, optional_text("question", &self.question, Text::Long));
    }
}

impl CertificateAnswer {
    fn check(&self, out: &mut Found) {
        let not_found = ("found is false", "未查到证件");
        let before = out.len();
        for (path, present) in [
            ("certificate_number", self.certificate_number.is_some()),
            ("issued_on", self.issued_on.is_some()),
            ("valid_until", self.valid_until.is_some()),
        ] {
            note(
                out,
                absent_unless(path, &present.then_some(()), self.found, not_found),
            );
        }
        if out.len() > before {
            // What must be left out is not worth checking further.
            note(out, required_text("answer", &self.answer, Text::Long));
            return;
        }
        note(
            out,
            optional_text("certificate_number", &self.certificate_number, Text::Short),
        );
        note(out, optional_date("issued_on", self.issued_on));
        note(out, optional_date("valid_until", self.valid_until));
        if let (Some(issued), Some(until)) = (self.issued_on, self.valid_until)
            && until < issued
        {
            let (until, issued) = (calendar_date::format(until), calendar_date::format(issued));
            out.push(
                FieldError::new(
                    "valid_until",
                    format!("is {until}, before issued_on {issued}"),
                )
                .zh(format!("{until} 早于发证日期 {issued}")),
            );
        }
        note(out, required_text("answer", &self.answer, Text::Long));
    }
}

impl FeeConsultation {
    fn check(&self, out: &mut Found) {
        person("person", &self.person, out);
        note(out, check_date("birth_date", self.birth_date));
        if self.proposed_amount_yuan <= 0 {
            out.push(
                FieldError::new("proposed_amount_yuan", "must be more than 0 yuan")
                    .zh("必须大于0元"),
            );
        } else if self.proposed_amount_yuan > MAX_FEE_YUAN {
            out.push(
                FieldError::new(
                    "proposed_amount_yuan",
                    format!("must be at most {MAX_FEE_YUAN} yuan"),
                )
                .zh(format!("最多{MAX_FEE_YUAN}元")),
            );
        }
        note(out, required_text("reasons", &self.reasons, Text::Long));
    }
}

impl FeeReply {
    fn check(&self, out: &mut Found) {
        if self.opinion == FeeOpinion::Disagree && self.comments.is_none() {
            out.push(
                FieldError::new("comments", "is required when the opinion is disagree")
                    .zh("不同意时必须填写意见"),
            );
        }
        note(out, optional_text("comments", &self.comments, Text::Long));
    }
}

impl ApprovalRequest {
    fn check(&self, out: &mut Found) {
        person("applicant", &self.applicant, out);
        optional_person("spouse", &self.spouse, out);
        note(
            out,
            different_people("applicant", &self.applicant, &self.spouse),
        );
        note(out, check_date("application_date", self.application_date));
        note(out, optional_text("details", &self.details, Text::Long));
    }
}

impl ApprovalResult {
    fn check(&self, out: &mut Found) {
        person("applicant", &self.applicant, out);
        note(out, check_date("decision_date", self.decision_date));
        let refused = ("approved is false", "不批准");
        let before = out.len();
        note(
            out,
            absent_unless(
                "certificate_number",
                &self.certificate_number,
                self.approved,
                refused,
            ),
        );
        if out.len() == before {
            note(
                out,
                optional_text("certificate_number", &self.certificate_number, Text::Short),
            );
        }
        if !self.approved && self.reasons.is_none() {
            out.push(
                FieldError::new("reasons", "is required when approved is false")
                    .zh("不批准时必须填写理由"),
            );
        }
        note(out, optional_text("reasons", &self.reasons, Text::Long));
    }
}

impl ContraceptionReport {
    fn check(&self, out: &mut Found) {
        person("person", &self.person, out);
        note(out, check_date("check_date", self.check_date));
        note(out, optional_text("findings", &self.findings, Text::Long));
    }
}

impl Bulletin {
    fn check(&self, out: &mut Found) {
        note(out, required_text("title", &self.title, Text::Short));
        note(out, required_text("text", &self.text, Text::Long));
    }
}

impl ContactLetter {
    fn check(&self, out: &mut Found) {
        note(out, required_text("subject", &self.subject, Text::Short));
        note(out, required_text("text", &self.text, Text::Long));
        optional_person("person", &self.person, out);
    }
}

impl ReplyLetter {
    fn check(&self, out: &mut Found) {
        note(out, required_text("text", &self.text, Text::Long));
    }
}

impl Reminder {
    fn check(&self, out: &mut Found) {
        note(out, optional_text("text", &self.text, Text::Long));
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
    fn every_violation_is_reported_with_its_path_and_in_chinese() {
        let NoticeBody::CaseNotice(notice) = full_samples().remove(0) else {
            unreachable!()
        };
        let body = NoticeBody::CaseNotice(CaseNotice {
            person: Person {
                name: " ".to_owned(),
                birth_date: Some(date!(1992 - 03 - 16)),
                ..woman()
            },
            spouse: Some(Person {
                name: "王".repeat(NAME_MAX_CHARS + 1),
                ..woman()
            }),
            residence_address: text("南关街\n12号"),
            details: text(" "),
            ..notice
        });
        let found: Vec<String> = body.violations().iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "person.name: is required and must not be blank",
                "person.birth_date: is 1992-03-16 but the identity number says 1992-03-15",
                "spouse.name: has 65 characters; at most 64 are allowed",
                "spouse.id_number: is the same as person.id_number",
                "residence_address: contains the control character U+000A, in a single-line field",
                "details: must not be blank; leave it out instead",
            ]
        );
        assert!(
            body.violations().iter().all(|e| e.problem_zh.is_some()),
            "{:?}",
            body.violations()
        );
        assert_eq!(body.validate().unwrap_err().to_string(), found[0]);
        for sample in full_samples().into_iter().chain(minimal_samples()) {
            assert_eq!(sample.violations(), [], "{:?}", sample.kind());
        }
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
            {
                let mut found = Vec::new();
                person.check(&mut found);
                found[0].to_string()
            },
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
