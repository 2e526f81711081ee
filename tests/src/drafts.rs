//! The example drafts shipped in `deploy/examples/notices`, readdressed for a test federation, and
//! their bodies encoded as notice payloads.

use liaison_core::NoticeKind;
use liaison_core::draft::parse_draft_json;

/// Every example draft, by its kind name.
const EXAMPLES: [(&str, &str); 12] = [
    (
        "approval_request",
        include_str!("../../deploy/examples/notices/approval_request.json"),
    ),
    (
        "approval_result",
        include_str!("../../deploy/examples/notices/approval_result.json"),
    ),
    (
        "bulletin",
        include_str!("../../deploy/examples/notices/bulletin.json"),
    ),
    (
        "case_notice",
        include_str!("../../deploy/examples/notices/case_notice.json"),
    ),
    (
        "certificate_answer",
        include_str!("../../deploy/examples/notices/certificate_answer.json"),
    ),
    (
        "certificate_query",
        include_str!("../../deploy/examples/notices/certificate_query.json"),
    ),
    (
        "contact_letter",
        include_str!("../../deploy/examples/notices/contact_letter.json"),
    ),
    (
        "contraception_report",
        include_str!("../../deploy/examples/notices/contraception_report.json"),
    ),
    (
        "fee_consultation",
        include_str!("../../deploy/examples/notices/fee_consultation.json"),
    ),
    (
        "fee_reply",
        include_str!("../../deploy/examples/notices/fee_reply.json"),
    ),
    (
        "reminder",
        include_str!("../../deploy/examples/notices/reminder.json"),
    ),
    (
        "reply_letter",
        include_str!("../../deploy/examples/notices/reply_letter.json"),
    ),
];

/// The example draft of kind `kind` (e.g. `"case_notice"`), exactly as shipped.
///
/// # Panics
/// If there is no example of that kind.
pub fn example(kind: &str) -> &'static str {
    EXAMPLES
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("no example draft of kind {kind:?}"))
}

/// The example draft of kind `kind` addressed to `recipient`, or with no recipient (for a reply).
pub fn draft(kind: &str, recipient: Option<&str>) -> String {
    let mut value: serde_json::Value = serde_json::from_str(example(kind)).unwrap();
    let map = value.as_object_mut().unwrap();
    match recipient {
        Some(r) => map.insert("recipient".into(), r.into()),
        None => map.remove("recipient"),
    };
    value.to_string()
}

/// `draft_json` with the member at JSON pointer `pointer` (e.g. `/body/person/id_number`) set to
/// `value`.
///
/// # Panics
/// If the draft has no member at `pointer`.
pub fn with_member(draft_json: &str, pointer: &str, value: serde_json::Value) -> String {
    let mut draft: serde_json::Value = serde_json::from_str(draft_json).unwrap();
    let member = draft
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("the draft has no member {pointer}"));
    *member = value;
    draft.to_string()
}

/// The kind and the encoded body (the envelope payload) of the example draft of kind `kind`.
pub fn payload(kind: &str) -> (NoticeKind, Vec<u8>) {
    let draft = parse_draft_json(example(kind))
        .unwrap_or_else(|e| panic!("the shipped example {kind} does not parse: {e}"));
    (draft.body.kind(), draft.body.encode())
}
