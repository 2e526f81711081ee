//! The JSON form of a body, as drafts carry it, with errors that name the path of the bad field.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::FieldError;
use super::types::*;
use crate::NoticeKind;

impl NoticeBody {
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

#[cfg(test)]
mod tests {
    use super::super::samples::*;
    use super::*;

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
}
