//! Reading a submitted form into a draft, with every problem at once.
//!
//! Each field is read with the core's own parser (identity numbers, dates, county codes); a field
//! that cannot be read is reported and stands in, for the rest of the check, with a value that
//! makes no other field required, so that the core's body rules ([`NoticeBody::violations`])
//! still check every other field. Their errors on fields already reported are dropped.

use std::collections::{BTreeSet, HashMap};

use liaison_core::body::NoticeBody;
use liaison_core::draft::Draft;
use liaison_core::identity::{IdentityNumber, IdentityNumberError, check_character};
use liaison_core::{CountyCode, DateError, NoticeKind, parse_date};
use serde_json::{Map, Value};

use super::spec::{self, Input};

/// A problem with one field (`path`, the form field's name) or, with an empty path, the whole form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) path: String,
    pub(crate) zh: String,
    /// The core's English wording, when it has one.
    pub(crate) en: String,
}

impl Problem {
    pub(crate) fn new(path: &str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            zh: zh.into(),
            en: en.into(),
        }
    }
}

/// A peer county that a form may address: code and name.
pub(crate) type Peer = (CountyCode, String);

/// Finds the county `text` names among `peers`: by name (安塞区), by code (610603) or by both
/// ("610603 安塞区").
pub(crate) fn resolve_county(peers: &[Peer], text: &str) -> Result<CountyCode, Problem> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Problem::new(
            "recipient",
            "必填:请选择收函县区",
            "is required",
        ));
    }
    let found = peers.iter().find(|(code, name)| {
        let both = format!("{code} {name}");
        text == name || text == code.as_str() || text == both
    });
    match found {
        Some((code, _)) => Ok(*code),
        None => {
            let names: Vec<&str> = peers.iter().map(|(_, n)| n.as_str()).collect();
            Err(Problem::new(
                "recipient",
                format!("没有名为“{text}”的对方县区;可选:{}", names.join("、")),
                format!("{text:?} is not a peer county of this node"),
            ))
        }
    }
}

/// The Chinese for why a text is not an identity number.
pub(crate) fn id_number_problem(e: &IdentityNumberError) -> String {
    match e {
        IdentityNumberError::WrongLength(n) => format!("身份号码应为18位,现为{n}位"),
        IdentityNumberError::NotDigit { position, .. } => {
            format!("第{position}位应为数字")
        }
        IdentityNumberError::BadCheckCharacter(_) => "第18位(校验位)应为数字或X".to_owned(),
        IdentityNumberError::UnknownProvince(_) => "前两位不是有效的省级行政区划代码".to_owned(),
        IdentityNumberError::BadBirthDate(_) => "第7至14位不是有效的出生日期".to_owned(),
        IdentityNumberError::CheckMismatch { found, expected } => {
            format!("校验位是{found},按前17位应为{expected};请核对号码")
        }
    }
}

fn date_problem(e: &DateError) -> String {
    match e {
        DateError::NotYyyyMmDd { .. } => "请按 年-月-日 填写日期".to_owned(),
        DateError::NoSuchMonth { .. } | DateError::NoSuchDay { .. } => "没有这一天".to_owned(),
    }
}

/// A valid identity number that stands in for one that cannot be read.
fn stand_in_id_number() -> String {
    let first17 = "11010119000101001";
    format!("{first17}{}", check_character(first17).unwrap_or('0'))
}

/// What a form asks for besides the body: whom to send to (not for a reply) and how urgent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope<'a> {
    /// The peer counties to choose from; `None` for a reply, which goes to the original's sender.
    pub(crate) peers: Option<&'a [Peer]>,
}

/// Reads the submitted `form` for a notice of `kind` into a draft, or every problem found.
pub(crate) fn read_form(
    kind: NoticeKind,
    form: &HashMap<String, String>,
    envelope: Envelope<'_>,
) -> Result<Draft, Vec<Problem>> {
    let value = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let mut problems = Vec::new();
    let recipient = match envelope.peers {
        Some(peers) => match resolve_county(peers, value("recipient")) {
            Ok(code) => Some(code),
            Err(p) => {
                problems.push(p);
                None
            }
        },
        None => None,
    };
    let urgent = value("urgent") == "on";
    let mut failed = BTreeSet::new();
    let mut body = Map::new();
    body.insert("kind".into(), kind.name().into());
    let fields = spec::fields(kind);
    // A person left entirely empty is left out when it is optional.
    let given = |person: &str| {
        fields
            .iter()
            .any(|(name, _, p)| *p == Some(person) && !value(name).trim().is_empty())
    };
    let optional_persons: BTreeSet<&str> = spec::parts(kind)
        .into_iter()
        .filter_map(|part| match part {
            spec::Part::Person {
                path,
                optional: true,
                ..
            } => Some(path),
            _ => None,
        })
        .collect();
    for (name, field, person) in &fields {
        if let Some(person) = person
            && optional_persons.contains(person)
            && !given(person)
        {
            continue;
        }
        let raw = value(name).trim();
        let required = |problems: &mut Vec<Problem>, failed: &mut BTreeSet<String>| {
            problems.push(Problem::new(name, "必填", "is required"));
            failed.insert(name.clone());
        };
        let read: Option<Value> = match field.input {
            Input::Line(_) | Input::Lines => match (raw.is_empty(), field.required) {
                // The core reports a blank required text in its own words.
                (true, true) => Some(Value::String(String::new())),
                (true, false) => None,
                // Browsers send every line break of a text area as CR LF; the clerk typed one.
                (false, _) => Some(Value::String(raw.replace("\r\n", "\n"))),
            },
            Input::Date => {
                if raw.is_empty() {
                    if field.required {
                        required(&mut problems, &mut failed);
                        Some(liaison_core::body::EARLIEST_DATE.to_string().into())
                    } else {
                        None
                    }
                } else {
                    match parse_date(raw) {
                        Ok(_) => Some(raw.into()),
                        Err(e) => {
                            problems.push(Problem::new(name, date_problem(&e), e.to_string()));
                            failed.insert(name.clone());
                            Some(liaison_core::body::EARLIEST_DATE.to_string().into())
                        }
                    }
                }
            }
            Input::IdNumber => {
                if raw.is_empty() {
                    required(&mut problems, &mut failed);
                    Some(stand_in_id_number().into())
                } else {
                    match IdentityNumber::parse(raw) {
                        Ok(id) => Some(id.as_str().into()),
                        Err(e) => {
                            problems.push(Problem::new(name, id_number_problem(&e), e.to_string()));
                            failed.insert(name.clone());
                            Some(stand_in_id_number().into())
                        }
                    }
                }
            }
            Input::Choice(choices) => {
                if choices.iter().any(|(v, _)| *v == raw) {
                    Some(raw.into())
                } else {
                    if raw.is_empty() {
                        required(&mut problems, &mut failed);
                    } else {
                        problems.push(Problem::new(
                            name,
                            "不是可选的一项",
                            format!("{raw:?} is not one of the choices"),
                        ));
                        failed.insert(name.clone());
                    }
                    Some(choices[0].0.into())
                }
            }
            Input::YesNo(..) => match raw {
                "yes" => Some(true.into()),
                "no" => Some(false.into()),
                _ => {
                    required(&mut problems, &mut failed);
                    Some(true.into())
                }
            },
            Input::Tick => Some((raw == "on").into()),
            Input::Yuan => {
                if raw.is_empty() {
                    required(&mut problems, &mut failed);
                    Some(1.into())
                } else {
                    match raw.parse::<i64>() {
                        Ok(n) => Some(n.into()),
                        Err(_) => {
                            problems.push(Problem::new(
                                name,
                                "请填写整数金额(元)",
                                "must be a whole number of yuan",
                            ));
                            failed.insert(name.clone());
                            Some(1.into())
                        }
                    }
                }
            }
        };
        if let Some(read) = read {
            insert(&mut body, name, read);
        }
    }
    let body: NoticeBody = match serde_json::from_value(Value::Object(body)) {
        Ok(body) => body,
        Err(e) => {
            problems.push(Problem::new("", "内容有误", e.to_string()));
            return Err(problems);
        }
    };
    for e in body.violations() {
        if !stands_in(&failed, &e.path) {
            problems.push(Problem::new(
                &e.path,
                e.problem_zh.clone().unwrap_or_default(),
                e.problem.clone(),
            ));
        }
    }
    // In the order of the form, the envelope first and problems of the whole form last.
    let order = |path: &str| match path {
        "recipient" => 0,
        "" => usize::MAX,
        _ => fields
            .iter()
            .position(|(name, ..)| name == path)
            .map_or(usize::MAX - 1, |i| i + 1),
    };
    problems.sort_by_key(|p| order(&p.path));
    if problems.is_empty() {
        Ok(Draft {
            recipient,
            urgent,
            client_key: None,
            body,
        })
    } else {
        Err(problems)
    }
}

/// Whether a rule's error at `path` may come from a stand-in for a field in `failed`.
fn stands_in(failed: &BTreeSet<String>, path: &str) -> bool {
    if failed.contains(path) {
        return true;
    }
    // A person's birth date is checked against the identity number, and a spouse's identity
    // number against the other person's.
    let person_of = |p: &str| p.rsplit_once('.').map(|(person, _)| person.to_owned());
    match person_of(path) {
        Some(person) if path.ends_with(".birth_date") => {
            failed.contains(&format!("{person}.id_number"))
        }
        Some(_) if path == "spouse.id_number" => failed.iter().any(|f| f.ends_with(".id_number")),
        _ => false,
    }
}

/// Puts `value` at the dotted `path` of `object`.
fn insert(object: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            object.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let inner = object
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = inner {
                insert(inner, rest, value);
            }
        }
    }
}

/// The form fields that show `draft` again, for "send again as new" and for a JSON draft.
pub(crate) fn form_values(draft: &Draft, peers: &[Peer]) -> HashMap<String, String> {
    let mut values = HashMap::new();
    if let Some(recipient) = draft.recipient {
        let name = peers
            .iter()
            .find(|(code, _)| *code == recipient)
            .map_or_else(|| recipient.as_str().to_owned(), |(_, n)| n.clone());
        values.insert("recipient".to_owned(), name);
    }
    if draft.urgent {
        values.insert("urgent".to_owned(), "on".to_owned());
    }
    let body = serde_json::to_value(&draft.body).unwrap_or_default();
    for (name, field, _) in spec::fields(draft.body.kind()) {
        let Some(value) = lookup(&body, &name) else {
            continue;
        };
        let text = match (field.input, value) {
            (Input::YesNo(..), Value::Bool(b)) => (if *b { "yes" } else { "no" }).to_owned(),
            (Input::Tick, Value::Bool(b)) => (if *b { "on" } else { "" }).to_owned(),
            (_, Value::String(s)) => s.clone(),
            (_, other) => other.to_string(),
        };
        values.insert(name, text);
    }
    values
}

/// The member at dotted `path` of a JSON value.
pub(crate) fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers() -> Vec<Peer> {
        vec![
            (CountyCode::parse("610603").unwrap(), "安塞区".to_owned()),
            (CountyCode::parse("610621").unwrap(), "延长县".to_owned()),
        ]
    }

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn read(kind: NoticeKind, pairs: &[(&str, &str)]) -> Result<Draft, Vec<Problem>> {
        let peers = peers();
        read_form(
            kind,
            &form(pairs),
            Envelope {
                peers: Some(&peers),
            },
        )
    }

    fn paths(problems: &[Problem]) -> Vec<(&str, &str)> {
        problems
            .iter()
            .map(|p| (p.path.as_str(), p.zh.as_str()))
            .collect()
    }

    #[test]
    fn a_county_is_found_by_name_code_or_both() {
        let ansai = CountyCode::parse("610603").unwrap();
        for text in ["安塞区", "610603", "610603 安塞区", " 安塞区 "] {
            assert_eq!(resolve_county(&peers(), text), Ok(ansai), "{text}");
        }
        let e = resolve_county(&peers(), "宝塔区").unwrap_err();
        assert_eq!(e.zh, "没有名为“宝塔区”的对方县区;可选:安塞区、延长县");
    }

    #[test]
    fn a_filled_case_notice_reads_as_the_core_would_read_its_json() {
        let draft = read(
            NoticeKind::CaseNotice,
            &[
                ("recipient", "安塞区"),
                ("urgent", "on"),
                ("case_type", "birth"),
                ("person.name", "王丽"),
                ("person.id_number", "610602199203154529"),
                ("person.birth_date", ""),
                ("spouse.name", ""),
                ("spouse.id_number", ""),
                ("event_date", "2024-05-02"),
                ("residence_address", " "),
                ("details", "第三孩。\r\n请核实。"),
            ],
        )
        .unwrap();
        let json = serde_json::json!({
            "recipient": "610603",
            "urgent": true,
            "body": {
                "kind": "case_notice",
                "case_type": "birth",
                "person": {"name": "王丽", "id_number": "610602199203154529"},
                "event_date": "2024-05-02",
                "details": "第三孩。\n请核实。"
            }
        });
        assert_eq!(
            draft,
            liaison_core::draft::parse_draft_json(&json.to_string()).unwrap()
        );
        assert_eq!(
            form_values(&draft, &peers())["recipient"],
            "安塞区",
            "shown again by name"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_field() {
        let problems = read(
            NoticeKind::CaseNotice,
            &[
                ("recipient", "宝塔"),
                ("case_type", ""),
                ("person.name", "王丽"),
                ("person.id_number", "610602199203154525"),
                ("person.birth_date", "1992-03-15"),
                ("spouse.name", "李"),
                ("spouse.id_number", "61060319881120451"),
                ("event_date", ""),
                ("details", "x".repeat(8001).as_str()),
            ],
        )
        .unwrap_err();
        assert_eq!(
            paths(&problems),
            [
                ("recipient", "没有名为“宝塔”的对方县区;可选:安塞区、延长县"),
                ("case_type", "必填"),
                ("person.id_number", "校验位是5,按前17位应为9;请核对号码"),
                ("spouse.id_number", "身份号码应为18位,现为17位"),
                ("event_date", "必填"),
                ("details", "共8001字,最多8000字"),
            ]
        );
    }

    #[test]
    fn an_optional_person_is_left_out_only_when_empty() {
        let base = [
            ("recipient", "610603"),
            ("subject", "核实"),
            ("text", "请核实。"),
        ];
        let draft = read(NoticeKind::ContactLetter, &base).unwrap();
        let liaison_core::body::NoticeBody::ContactLetter(letter) = draft.body else {
            unreachable!()
        };
        assert_eq!(letter.person, None);
        let mut half = base.to_vec();
        half.push(("person.name", "王丽"));
        let problems = read(NoticeKind::ContactLetter, &half).unwrap_err();
        assert_eq!(paths(&problems), [("person.id_number", "必填")]);
    }

    #[test]
    fn rules_between_fields_come_from_the_core_in_chinese() {
        let problems = read(
            NoticeKind::ApprovalResult,
            &[
                ("recipient", "延长县"),
                ("applicant.name", "王丽"),
                ("applicant.id_number", "610602199203154529"),
                ("applicant.birth_date", "1992-03-16"),
                ("approved", "no"),
                ("decision_date", "2024-06-01"),
                ("certificate_number", "延计生字2024第1号"),
            ],
        )
        .unwrap_err();
        assert_eq!(
            paths(&problems),
            [
                (
                    "applicant.birth_date",
                    "填的是 1992-03-16,但身份号码中的出生日期是 1992-03-15"
                ),
                ("certificate_number", "不批准时不应填写"),
                ("reasons", "不批准时必须填写理由"),
            ]
        );
        // Undecided is asked for, not taken as a refusal that needs reasons.
        let problems = read(
            NoticeKind::ApprovalResult,
            &[
                ("recipient", "延长县"),
                ("applicant.name", "王丽"),
                ("applicant.id_number", "610602199203154529"),
                ("decision_date", "2024-06-01"),
            ],
        )
        .unwrap_err();
        assert_eq!(paths(&problems), [("approved", "必填")]);
    }

    #[test]
    fn a_stand_in_never_adds_an_error_of_its_own() {
        let problems = read(
            NoticeKind::CaseNotice,
            &[
                ("recipient", "安塞区"),
                ("case_type", "birth"),
                ("person.name", "王丽"),
                ("person.id_number", "abc"),
                ("person.birth_date", "1992-03-15"),
                ("spouse.name", "李强"),
                ("spouse.id_number", "xyz"),
                ("event_date", "2024-02-30"),
            ],
        )
        .unwrap_err();
        assert_eq!(
            paths(&problems),
            [
                ("person.id_number", "身份号码应为18位,现为3位"),
                ("spouse.id_number", "身份号码应为18位,现为3位"),
                ("event_date", "没有这一天"),
            ]
        );
    }

    #[test]
    fn every_kind_with_a_form_reads_its_empty_form_as_required_fields_only() {
        for kind in NoticeKind::ALL.into_iter().filter(|k| spec::has_form(*k)) {
            let problems = read(kind, &[("recipient", "安塞区")]).unwrap_err();
            let required: Vec<String> = spec::fields(kind)
                .into_iter()
                .filter(|(_, f, person)| {
                    f.required
                        && person.is_none_or(|p| {
                            spec::parts(kind).iter().any(|part| {
                                matches!(part, spec::Part::Person { path, optional: false, .. } if *path == p)
                            })
                        })
                })
                .map(|(name, ..)| name)
                .collect();
            let reported: Vec<String> = problems.iter().map(|p| p.path.clone()).collect();
            assert_eq!(reported, required, "{kind}");
            assert!(problems.iter().all(|p| !p.zh.is_empty()), "{problems:?}");
        }
    }
}
