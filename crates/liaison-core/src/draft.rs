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
    /// Urgent notices (紧急事宜) must be answered within 5 days instead of 10.
    #[serde(default)]
    pub urgent: bool,
    /// What the notice says.
    pub body: NoticeBody,
}

/// The draft's members, with the body kept as JSON so that its errors can be traced to a path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDraft {
    #[serde(default)]
    recipient: Option<CountyCode>,
    #[serde(default)]
    urgent: bool,
    body: serde_json::Value,
}

impl Draft {
    /// Checks the body and that a recipient is given exactly when the kind needs one.
    pub fn validate(&self) -> Result<(), FieldError> {
        self.body.validate().map_err(|e| e.under("body"))?;
        let kind = self.body.kind();
        match (
            &self.recipient,
            kind.requires_reference(),
            kind.answers().is_empty(),
        ) {
            (Some(_), true, _) => Err(FieldError::new(
                "recipient",
                format!(
                    "must be left out for a {kind}: it goes to the sender of the notice it answers"
                ),
            )),
            (None, _, true) => Err(FieldError::new(
                "recipient",
                format!("is required for a {kind}"),
            )),
            _ => Ok(()),
        }
    }

    /// The draft as pretty JSON, in the shape [`parse_draft_json`] reads.
    pub fn to_json(&self) -> String {
        // Every member serializes to a JSON string, number, bool or object with string keys.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Reads and validates a JSON draft; an error names the path of the faulty member, e.g. `body.person.id_number`.
pub fn parse_draft_json(text: &str) -> Result<Draft, FieldError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let raw: RawDraft = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let error = field_error_from_serde(&e.path().to_string(), &e.inner().to_string());
        // Syntax errors and the like belong to no member; name the whole draft.
        if error.path == "." {
            FieldError::new("draft", error.problem)
        } else {
            error
        }
    })?;
    deserializer
        .end()
        .map_err(|e| FieldError::new("draft", e.to_string()))?;
    let body = NoticeBody::from_json_value(raw.body).map_err(|e| e.under("body"))?;
    let draft = Draft {
        recipient: raw.recipient,
        urgent: raw.urgent,
        body,
    };
    draft.validate()?;
    Ok(draft)
}

/// A body as pretty JSON, in the same shape as a draft's `body`, for showing a notice to an operator.
pub fn body_to_json(body: &NoticeBody) -> String {
    serde_json::to_string_pretty(body).unwrap_or_default()
}
