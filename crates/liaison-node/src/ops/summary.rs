//! What tells notices apart in a listing: a short summary of a body (the person's name partly
//! masked, and the subject, 事由), the Chinese labels of body fields and values, and the search
//! of notices by a person's identity number or name. Summaries and search read payloads, so
//! they are for operators only.

use std::collections::HashMap;

use liaison_core::NoticeId;
use liaison_core::body::NoticeBody;
use liaison_store::PersonQuery;

use super::{Direction, NoticeView, Ops, OpsError, Result};
use liaison_core::SignedNotice;

/// A notice's summary for a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    /// The name of the person the notice is about, partly masked (张*华); `None` if it names
    /// nobody.
    pub(crate) person: Option<String>,
    /// The subject (事由) in a few words.
    pub(crate) subject: String,
}

/// The longest subject a summary shows, in characters.
const SUBJECT_CHARS: usize = 30;
/// The shortest start of an identity number a search takes, so that a search names few people.
pub(crate) const MIN_ID_SEARCH_CHARS: usize = 6;

/// A name with all but its first and last characters masked: 张*华, 欧**华, 李*.
pub(crate) fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

/// The first [`SUBJECT_CHARS`] characters of `text`, with "…" if it was longer.
fn shorten(text: &str) -> String {
    let text = text.trim();
    let mut short: String = text.chars().take(SUBJECT_CHARS).collect();
    if text.chars().count() > SUBJECT_CHARS {
        short.push('…');
    }
    short
}

/// The body fields' Chinese labels, by JSON name (see docs/notices.md), in the order a letter
/// shows them.
const FIELDS: &[(&str, &str)] = &[
    ("kind", "种类"),
    ("case_type", "个案类别"),
    ("person", "当事人"),
    ("spouse", "配偶"),
    ("applicant", "申请人"),
    ("name", "姓名"),
    ("id_number", "公民身份号码"),
    ("birth_date", "出生日期"),
    ("event_date", "怀孕或生育日期"),
    ("residence_address", "现居住地址"),
    ("registration_address", "户籍地址"),
    ("details", "详细情况"),
    ("certificate_type", "证件种类"),
    ("certificate_number", "证件编号"),
    ("question", "查询事项"),
    ("found", "是否查到"),
    ("issued_on", "发证日期"),
    ("valid_until", "有效期至"),
    ("answer", "答复"),
    ("proposed_amount_yuan", "拟征收金额（元）"),
    ("reasons", "理由"),
    ("delegate_collection", "委托继续征收"),
    ("opinion", "意见"),
    ("comments", "说明"),
    ("accept_delegation", "接受委托征收"),
    ("application_date", "申请日期"),
    ("approved", "是否批准"),
    ("decision_date", "审批日期"),
    ("check_date", "查验日期"),
    ("method", "避孕节育措施"),
    ("pregnant", "是否怀孕"),
    ("findings", "查验结果"),
    ("topic", "通报类别"),
    ("title", "标题"),
    ("text", "正文"),
    ("subject", "事由"),
    ("overdue_notice_id", "催办的通报编号"),
];

/// The Chinese label of a body field; the name itself for a field without one.
pub(crate) fn field_label(name: &str) -> &str {
    FIELDS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(name, |(_, label)| label)
}

/// Where a field comes in a letter: by [`FIELDS`], unknown fields last.
pub(crate) fn field_rank(name: &str) -> usize {
    FIELDS
        .iter()
        .position(|(n, _)| *n == name)
        .unwrap_or(FIELDS.len())
}

/// The Chinese label of an enumerated body value, by its JSON name; `None` for free text.
pub(crate) fn value_label(value: &str) -> Option<&'static str> {
    Some(match value {
        "pregnancy" => "政策外怀孕",
        "birth" => "政策外生育",
        "marriage_and_childbearing" => "婚育证明",
        "only_child" => "独生子女证",
        "first_child_service" => "一孩生育服务证",
        "second_child_permit" => "二孩准生证",
        "agree" => "同意",
        "disagree" => "不同意",
        "already_levied" => "已征收",
        "iud" => "宫内节育器",
        "sterilization" => "绝育术",
        "implant" => "皮下埋植",
        "pills" => "口服避孕药",
        "condom" => "避孕套",
        "other" => "其他",
        "none" => "未采取措施",
        "work_information" => "工作信息通报",
        "service_statistics" => "服务管理基础信息通报",
        "sex_ratio_case" => "出生性别比案件查处",
        "emergency" => "突发事件",
        "policy_change" => "政策协调通报",
        _ => return None,
    })
}

/// The Chinese label of an enum value of a body (`CaseType`, `CertificateType`, …).
fn label_of(value: impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => value_label(&name).unwrap_or("").to_owned(),
        _ => String::new(),
    }
}

/// The summary of a body: the person it is about, masked, and its subject.
pub(crate) fn summarize(body: &NoticeBody) -> Summary {
    let person = body.persons().first().map(|p| mask_name(&p.name));
    let subject = match body {
        NoticeBody::CaseNotice(b) => format!("{} {}", label_of(b.case_type), b.event_date),
        NoticeBody::CertificateQuery(b) => format!("查询{}", label_of(b.certificate_type)),
        NoticeBody::CertificateAnswer(b) => match (&b.found, &b.certificate_number) {
            (true, Some(number)) => format!("已查到 {number}"),
            (true, None) => "已查到".into(),
            (false, _) => "未查到".into(),
        },
        NoticeBody::FeeConsultation(b) => {
            format!("拟征收社会抚养费 {} 元", b.proposed_amount_yuan)
        }
        NoticeBody::FeeReply(b) => label_of(b.opinion),
        NoticeBody::ApprovalRequest(b) => format!("申请{}", label_of(b.certificate_type)),
        NoticeBody::ApprovalResult(b) => if b.approved { "批准" } else { "不批准" }.to_owned(),
        NoticeBody::ContraceptionReport(b) => {
            format!("{} 查验：{}", b.check_date, label_of(b.method))
        }
        NoticeBody::Bulletin(b) => format!("{}：{}", label_of(b.topic), shorten(&b.title)),
        NoticeBody::ContactLetter(b) => shorten(&b.subject),
        NoticeBody::ReplyLetter(b) => shorten(&b.text),
        NoticeBody::Reminder(b) => format!("催办通报 {}", b.overdue_notice_id),
    };
    Summary { person, subject }
}

/// How an operator's search text is read: an identity number (or its start) if it is digits
/// with perhaps a final `X`, else a name.
pub(crate) fn person_query(text: &str) -> Result<PersonQuery<'_>> {
    let text = text.trim();
    let id_like = !text.is_empty()
        && text
            .char_indices()
            .all(|(i, c)| c.is_ascii_digit() || (i == text.len() - 1 && matches!(c, 'x' | 'X')));
    if id_like {
        if text.len() < MIN_ID_SEARCH_CHARS {
            return Err(OpsError::Invalid(format!(
                "身份号码至少输入 {MIN_ID_SEARCH_CHARS} 位 identity number: give at least its first {MIN_ID_SEARCH_CHARS} characters, not {}",
                text.len()
            )));
        }
        if text.len() > 18 {
            return Err(OpsError::Invalid(format!(
                "身份号码是 18 位 identity number: {} characters is more than 18",
                text.len()
            )));
        }
        return Ok(PersonQuery::IdNumber(text));
    }
    if text.is_empty() {
        return Err(OpsError::Invalid(
            "请输入姓名或身份号码 search: give a name or an identity number".into(),
        ));
    }
    if text.chars().any(|c| c.is_ascii_digit()) {
        return Err(OpsError::Invalid(format!(
            "“{text}”既不是姓名也不是身份号码 search: {text:?} is neither a name nor an identity number (18 digits, the last may be X)"
        )));
    }
    Ok(PersonQuery::Name(text))
}

impl Ops {
    /// The body of a stored notice, if it can be read.
    pub(crate) fn body_of(&self, direction: Direction, id: &NoticeId) -> Option<NoticeBody> {
        let store = &self.state.store;
        let envelope = match direction {
            Direction::Outbound => store.outbound_envelope(id),
            Direction::Inbound => store.inbound_envelope(id),
        }
        .ok()
        .flatten()?;
        let notice = SignedNotice::from_envelope_bytes(&envelope).ok()?;
        NoticeBody::decode(&notice.payload).ok()
    }

    /// The summaries of `notices` by id, for operators; auditors, who never read payloads, get
    /// none.
    pub(crate) fn summaries(&self, notices: &[NoticeView]) -> HashMap<NoticeId, Summary> {
        if self.operator_only("read payloads").is_err() {
            return HashMap::new();
        }
        notices
            .iter()
            .filter_map(|n| Some((n.id, summarize(&self.body_of(n.direction, &n.id)?))))
            .collect()
    }

    /// The newest notices, sent or received, about a person found by identity number or name;
    /// at most `limit`. Operators only.
    pub(crate) async fn search_person(&self, text: &str, limit: usize) -> Result<Vec<NoticeView>> {
        self.operator_only("search notices by person")?;
        let text = text.to_owned();
        let ops = self.clone();
        tokio::task::spawn_blocking(move || {
            let query = person_query(&text)?;
            let ids = ops.state.store.find_by_person(query, limit)?;
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                let view = match ops.view_of(Direction::Outbound, &id)? {
                    Some(v) => Some(v),
                    None => ops.view_of(Direction::Inbound, &id)?,
                };
                found.extend(view);
            }
            Ok(found)
        })
        .await
        .map_err(|e| OpsError::Internal(format!("search task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_only_their_first_and_last_characters() {
        assert_eq!(mask_name("张小华"), "张*华");
        assert_eq!(mask_name("李明"), "李*");
        assert_eq!(mask_name("欧阳小华"), "欧**华");
        assert_eq!(mask_name("王"), "*");
        assert_eq!(mask_name(" "), "");
    }

    #[test]
    fn search_text_is_an_identity_number_or_a_name_and_anything_else_is_refused_with_why() {
        assert_eq!(
            person_query(" 61060219900101123X ").unwrap(),
            PersonQuery::IdNumber("61060219900101123X")
        );
        assert_eq!(
            person_query("610602").unwrap(),
            PersonQuery::IdNumber("610602")
        );
        assert_eq!(person_query("刘红梅").unwrap(), PersonQuery::Name("刘红梅"));
        let short = person_query("6106").unwrap_err().to_string();
        assert!(short.contains("at least its first 6"), "{short}");
        let long = person_query("6106021990010112345").unwrap_err().to_string();
        assert!(long.contains("19 characters is more than 18"), "{long}");
        let mixed = person_query("刘1").unwrap_err().to_string();
        assert!(
            mixed.contains("neither a name nor an identity number"),
            "{mixed}"
        );
        assert!(person_query("  ").is_err());
        assert!(
            person_query("12X3456").is_err(),
            "X only as the last character"
        );
    }

    #[test]
    fn summaries_name_the_masked_person_and_the_subject() {
        let examples =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples/notices");
        for kind in liaison_core::NoticeKind::ALL {
            let path = examples.join(format!("{}.json", kind.name()));
            let json = std::fs::read_to_string(&path).unwrap();
            let body = liaison_core::draft::parse_draft_json(&json).unwrap().body;
            let summary = summarize(&body);
            assert!(!summary.subject.is_empty(), "{body:?}");
            if let Some(person) = body.persons().first() {
                let masked = summary.person.clone().unwrap();
                assert_ne!(masked, person.name, "masked");
                assert_eq!(masked.chars().count(), person.name.chars().count());
            }
        }
        let case = liaison_core::draft::parse_draft_json(
            &std::fs::read_to_string(examples.join("case_notice.json")).unwrap(),
        )
        .unwrap()
        .body;
        assert_eq!(
            summarize(&case),
            Summary {
                person: Some("刘*梅".into()),
                subject: "政策外生育 2024-05-02".into()
            }
        );
    }
}
