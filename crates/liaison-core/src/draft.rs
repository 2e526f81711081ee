//! Drafts: what an operator writes (as JSON, or TOML that the CLI turns into JSON) to send a notice.

use serde::{Deserialize, Serialize};

use crate::CountyCode;
use crate::body::{FieldError, NoticeBody, field_error_from_serde};

/// A notice as an operator writes it, before the node gives it an id, a header and a signature.
///
/// JSON shape: `{"recipient": "610603", "urgent": true, "body": {"kind": "case_notice", ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    /// The county to send to; left out for a reply, which goes to the sender of the notice it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<CountyCode>,
    /// An urgent notice (紧急事宜) is due for a reply within 5 days instead of 10.
    #[serde(default)]
    pub urgent: bool,
    /// Names the notice for the node: a send with a key that an earlier notice was queued with
    /// queues nothing and answers with that notice, so a send can be repeated safely when its
    /// outcome is unknown. Not part of the notice: it is never signed or sent to the peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    /// What the notice says.
    pub body: NoticeBody,
}

/// The longest client key a node accepts, in characters.
pub const MAX_CLIENT_KEY_CHARS: usize = 200;

/// A client key as the node keeps it: trimmed, `None` when empty; refused, naming `client_key`,
/// when longer than [`MAX_CLIENT_KEY_CHARS`] or holding control characters.
pub fn normalize_client_key(key: &str) -> Result<Option<String>, FieldError> {
    let key = key.trim();
    if key.is_empty() {
        return Ok(None);
    }
    let chars = key.chars().count();
    if chars > MAX_CLIENT_KEY_CHARS {
        return Err(FieldError::new(
            "client_key",
            format!("is {chars} characters long; at most {MAX_CLIENT_KEY_CHARS} are allowed"),
        ));
    }
    if key.chars().any(char::is_control) {
        return Err(FieldError::new(
            "client_key",
            "must not contain control characters (line breaks, tabs and the like)",
        ));
    }
    Ok(Some(key.to_owned()))
}

/// The draft's members, with the body kept as JSON so that its errors can be traced to a path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDraft {
    #[serde(default)]
    recipient: Option<CountyCode>,
    #[serde(default)]
    urgent: bool,
    #[serde(default)]
    client_key: Option<String>,
    body: serde_json::Value,
}

impl Draft {
    /// Checks the body, naming faults under `body.`.
    ///
    /// Whether a recipient is needed depends on whether the draft is sent as a reply, which the
    /// node decides when it sends, not the draft.
    pub fn validate(&self) -> Result<(), FieldError> {
        self.body.validate().map_err(|e| e.under("body"))
    }

    /// The draft as pretty JSON, in the shape [`parse_draft_json`] reads.
    pub fn to_json(&self) -> String {
        // Every member serializes to a JSON string, number, bool or object with string keys.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Reads and validates a JSON draft; an error names the path of the faulty member, e.g. `body.person.id_number`.
pub fn parse_draft_json(text: &str) -> Result<Draft, FieldError> {
    // serde would also read a struct from an array, which no operator means to write.
    if !text.trim_start().starts_with('{') {
        return Err(FieldError::new(
            "draft",
            "must be a JSON object with a \"body\" member",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let raw: RawDraft = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        // A syntax error may stop at the root (`.`) or inside a key not yet read (`?`).
        let path = e.path().to_string();
        let path = path.trim_end_matches('?').trim_end_matches('.');
        let error = field_error_from_serde(path, &e.inner().to_string());
        if error.path.is_empty() {
            FieldError::new("draft", error.problem)
        } else {
            error
        }
    })?;
    deserializer
        .end()
        .map_err(|e| FieldError::new("draft", e.to_string()))?;
    let client_key = match raw.client_key.as_deref() {
        Some(key) => normalize_client_key(key)?,
        None => None,
    };
    let body = NoticeBody::from_json_value(raw.body).map_err(|e| e.under("body"))?;
    let draft = Draft {
        recipient: raw.recipient,
        urgent: raw.urgent,
        client_key,
        body,
    };
    draft.validate()?;
    Ok(draft)
}

/// A body as pretty JSON, in the same shape as a draft's `body`, for showing a notice to an operator.
pub fn body_to_json(body: &NoticeBody) -> String {
    serde_json::to_string_pretty(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoticeKind;

    /// The example drafts shipped in deploy/examples/notices, one per kind, in wire order.
    const EXAMPLES: [(&str, &str); 12] = [
        (
            "case_notice",
            include_str!("../../../deploy/examples/notices/case_notice.json"),
        ),
        (
            "certificate_query",
            include_str!("../../../deploy/examples/notices/certificate_query.json"),
        ),
        (
            "certificate_answer",
            include_str!("../../../deploy/examples/notices/certificate_answer.json"),
        ),
        (
            "fee_consultation",
            include_str!("../../../deploy/examples/notices/fee_consultation.json"),
        ),
        (
            "fee_reply",
            include_str!("../../../deploy/examples/notices/fee_reply.json"),
        ),
        (
            "approval_request",
            include_str!("../../../deploy/examples/notices/approval_request.json"),
        ),
        (
            "approval_result",
            include_str!("../../../deploy/examples/notices/approval_result.json"),
        ),
        (
            "contraception_report",
            include_str!("../../../deploy/examples/notices/contraception_report.json"),
        ),
        (
            "bulletin",
            include_str!("../../../deploy/examples/notices/bulletin.json"),
        ),
        (
            "contact_letter",
            include_str!("../../../deploy/examples/notices/contact_letter.json"),
        ),
        (
            "reply_letter",
            include_str!("../../../deploy/examples/notices/reply_letter.json"),
        ),
        (
            "reminder",
            include_str!("../../../deploy/examples/notices/reminder.json"),
        ),
    ];

    fn refusal(text: &str) -> String {
        parse_draft_json(text).unwrap_err().to_string()
    }

    fn reply(extra: &str) -> String {
        format!(r#"{{ {extra} "body": {{"kind": "reply_letter", "text": "收悉。"}} }}"#)
    }

    #[test]
    fn every_example_draft_parses_and_is_of_its_kind() {
        let kinds: Vec<_> = EXAMPLES
            .iter()
            .map(|(name, _)| name.parse::<NoticeKind>().unwrap())
            .collect();
        assert_eq!(kinds, NoticeKind::ALL);
        for (name, text) in EXAMPLES {
            let draft = parse_draft_json(text).unwrap_or_else(|e| panic!("{name}.json: {e}"));
            assert_eq!(draft.body.kind().name(), name);
            assert_eq!(
                draft.recipient.is_none(),
                draft.body.kind().requires_reference() || name == "approval_result"
            );
        }
    }

    #[test]
    fn every_json_example_in_the_docs_is_a_valid_draft() {
        let docs = include_str!("../../../docs/notices.md");
        let blocks: Vec<&str> = docs
            .split("```json\n")
            .skip(1)
            .filter_map(|rest| rest.split("```").next())
            .collect();
        assert_eq!(blocks.len(), 1 + EXAMPLES.len());
        for block in blocks {
            parse_draft_json(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        }
        for (name, text) in EXAMPLES {
            assert!(
                docs.contains(text.trim_end()),
                "docs/notices.md shows an outdated {name}.json"
            );
        }
    }

    #[test]
    fn drafts_round_trip_through_to_json() {
        for (name, text) in EXAMPLES {
            let draft = parse_draft_json(text).unwrap();
            assert_eq!(
                parse_draft_json(&draft.to_json()),
                Ok(draft.clone()),
                "{name}"
            );
            assert_eq!(
                serde_json::from_str::<Draft>(&draft.to_json()).unwrap(),
                draft,
                "{name}"
            );
            let body: serde_json::Value = serde_json::from_str(&body_to_json(&draft.body)).unwrap();
            let original: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(body, original["body"], "{name}");
        }
    }

    #[test]
    fn urgent_defaults_to_false() {
        assert!(!parse_draft_json(&reply("")).unwrap().urgent);
        assert!(
            parse_draft_json(&reply(r#""urgent": true,"#))
                .unwrap()
                .urgent
        );
    }

    #[test]
    fn unknown_field_is_refused_naming_it() {
        assert!(
            refusal(&reply(r#""priority": 1,"#)).starts_with("priority: unknown field `priority`")
        );
        let text = r#"{"body": {"kind": "reply_letter", "text": "收悉。", "attachment": "a.pdf"}}"#;
        assert!(
            refusal(text).starts_with("body.attachment: unknown field `attachment`"),
            "{}",
            refusal(text)
        );
    }

    #[test]
    fn client_key_is_trimmed_and_an_empty_one_is_none() {
        let draft = parse_draft_json(&reply(r#""client_key": "  order-17 ","#)).unwrap();
        assert_eq!(draft.client_key.as_deref(), Some("order-17"));
        assert_eq!(
            parse_draft_json(&reply(r#""client_key": " ","#))
                .unwrap()
                .client_key,
            None
        );
        assert_eq!(parse_draft_json(&reply("")).unwrap().client_key, None);
    }

    #[test]
    fn client_key_too_long_or_with_control_characters_is_refused_naming_client_key() {
        let long = "k".repeat(MAX_CLIENT_KEY_CHARS + 1);
        let text = reply(&format!(r#""client_key": "{long}","#));
        assert!(
            refusal(&text).starts_with("client_key: is 201 characters"),
            "{}",
            refusal(&text)
        );
        let longest = "键".repeat(MAX_CLIENT_KEY_CHARS);
        let text = reply(&format!(r#""client_key": "{longest}","#));
        assert!(
            parse_draft_json(&text).is_ok(),
            "counted in characters, not bytes"
        );
        let text = reply(r#""client_key": "a\nb","#);
        assert!(
            refusal(&text).starts_with("client_key: must not contain control"),
            "{}",
            refusal(&text)
        );
        let text = reply(r#""client_key": 7,"#);
        assert!(
            refusal(&text).starts_with("client_key: invalid type"),
            "{}",
            refusal(&text)
        );
    }

    #[test]
    fn unknown_kind_is_refused() {
        let text = r#"{"recipient": "610603", "body": {"kind": "letter", "text": "x"}}"#;
        assert!(
            refusal(text).starts_with("body.kind: unknown notice kind \"letter\""),
            "{}",
            refusal(text)
        );
        let text = r#"{"recipient": "610603", "body": {"text": "x"}}"#;
        assert_eq!(refusal(text), "body.kind: is required");
    }

    #[test]
    fn recipient_that_is_not_a_county_code_is_refused_naming_recipient() {
        let text = EXAMPLES[0]
            .1
            .replace(r#""recipient": "610603""#, r#""recipient": "610600""#);
        assert!(
            refusal(&text).starts_with("recipient: \"610600\" is a province or prefecture code"),
            "{}",
            refusal(&text)
        );
        let text = EXAMPLES[0]
            .1
            .replace(r#""recipient": "610603""#, r#""recipient": 610603"#);
        assert!(
            refusal(&text).starts_with("recipient: invalid type: integer"),
            "{}",
            refusal(&text)
        );
    }

    #[test]
    fn recipient_may_be_left_out() {
        let text = EXAMPLES[0].1.replace(r#""recipient": "610603","#, "");
        assert_eq!(parse_draft_json(&text).unwrap().recipient, None);
    }

    #[test]
    fn body_errors_name_their_path_under_body() {
        let text = EXAMPLES[0]
            .1
            .replace("610602199011053010", "610602199011053011");
        assert_eq!(
            refusal(&text),
            "body.spouse.id_number: check character is 1 but digits 1-17 require 0"
        );
        let text = EXAMPLES[0].1.replace(
            r#""birth_date": "1993-02-14""#,
            r#""birth_date": "1993-02-15""#,
        );
        assert_eq!(
            refusal(&text),
            "body.person.birth_date: is 1993-02-15 but the identity number says 1993-02-14"
        );
        let text = EXAMPLES[0].1.replace(r#""event_date": "2024-05-02","#, "");
        assert_eq!(refusal(&text), "body.event_date: is required");
    }

    #[test]
    fn malformed_json_names_the_draft() {
        assert!(
            refusal("{").starts_with("draft: EOF while parsing"),
            "{}",
            refusal("{")
        );
        assert!(refusal(&format!("{} x", reply(""))).starts_with("draft: trailing characters"));
        assert_eq!(refusal(r#"{"urgent": true}"#), "body: is required");
        assert_eq!(
            refusal("[]"),
            "draft: must be a JSON object with a \"body\" member"
        );
        assert_eq!(
            refusal(""),
            "draft: must be a JSON object with a \"body\" member"
        );
    }
}
