//! Reading a bundle from its JSON text, with errors that name the line, column and member at fault.

use crate::audit::{BUNDLE_FORMAT, Bundle};

use super::quote;

/// Why a text is not a bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BundleError {
    /// Where the problem is: 1-based line and column of the text (0 when not known).
    pub line: usize,
    pub column: usize,
    /// The JSON path of the member at fault, e.g. `items[2].leaf_index`; empty at the top.
    pub path: String,
    /// The whole message, with line, column and path.
    pub message: String,
}

/// Reads a bundle from its JSON text. `format` must be [`BUNDLE_FORMAT`], and every member of
/// docs/audit-format.md must be present with its type and no other member may be; an error names
/// the line, column and member at fault. Whether the bundle is true is for [`verify_bundle`] to say.
pub fn parse_bundle(text: &str) -> Result<Bundle, BundleError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let result = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| {
            let path = e.path().to_string();
            (path, e.into_inner())
        })
        .and_then(|bundle: Bundle| {
            deserializer
                .end()
                .map(|()| bundle)
                .map_err(|e| (String::new(), e))
        });
    let (path, error) = match result {
        Ok(bundle) if bundle.format != BUNDLE_FORMAT => {
            return Err(other_format(&bundle.format));
        }
        Ok(bundle) => return Ok(bundle),
        Err(e) => e,
    };
    let (line, column) = (error.line(), error.column());
    // A bundle of another format fails on its members; say what it is instead.
    if let Ok(serde_json::Value::Object(members)) = serde_json::from_str(text)
        && let Some(serde_json::Value::String(format)) = members.get("format")
        && format != BUNDLE_FORMAT
    {
        return Err(other_format(format));
    }
    let inner = error.to_string();
    let suffix = format!(" at line {line} column {column}");
    let inner = inner.strip_suffix(&suffix).unwrap_or(&inner);
    let path = path.trim_end_matches('?').trim_end_matches('.').to_owned();
    let place = if path.is_empty() {
        String::new()
    } else {
        format!(" in `{path}`")
    };
    Err(BundleError {
        line,
        column,
        message: format!("not a valid audit bundle: line {line}, column {column}{place}: {inner}"),
        path,
    })
}

fn other_format(format: &str) -> BundleError {
    BundleError {
        line: 0,
        column: 0,
        path: "format".into(),
        message: format!(
            "the file's format is {}, but this verifier reads {BUNDLE_FORMAT} only",
            quote(format)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    fn text() -> String {
        serde_json::to_string_pretty(&fixture::bundle()).unwrap()
    }

    #[test]
    fn the_text_of_a_bundle_parses_back_to_it() {
        assert_eq!(parse_bundle(&text()), Ok(fixture::bundle()));
    }

    #[test]
    fn another_format_is_named_rather_than_its_members() {
        let other = text().replace(BUNDLE_FORMAT, "liaison-audit-bundle/2");
        let e = parse_bundle(&other).unwrap_err();
        assert_eq!(e.path, "format");
        assert_eq!(
            e.message,
            "the file's format is \"liaison-audit-bundle/2\", but this verifier reads liaison-audit-bundle/1 only"
        );
        // Also when the other format's members differ from this one's.
        let other = other.replacen("\"redacted\"", "\"payloads_redacted\"", 1);
        assert_eq!(parse_bundle(&other).unwrap_err().path, "format");
    }

    #[test]
    fn an_unknown_member_is_named_with_its_line_column_and_path() {
        let spoiled = text().replacen("\"leaf_index\"", "\"leaf\": 0, \"leaf_index\"", 1);
        let e = parse_bundle(&spoiled).unwrap_err();
        assert_eq!(e.path, "items[0].leaf");
        assert!(e.line > 1 && e.column > 0, "{e:?}");
        assert!(
            e.message.starts_with(&format!(
                "not a valid audit bundle: line {}, column {} in `items[0].leaf`: unknown field `leaf`",
                e.line, e.column
            )),
            "{}",
            e.message
        );
        assert!(
            !e.message
                .ends_with(&format!("at line {} column {}", e.line, e.column))
        );
    }

    #[test]
    fn text_after_the_bundle_is_refused_at_the_top() {
        let e = parse_bundle(&format!("{}\n{{}}", text())).unwrap_err();
        assert_eq!(e.path, "");
        assert!(
            e.message.starts_with("not a valid audit bundle: line ")
                && !e.message.contains(" in `"),
            "{}",
            e.message
        );
    }
}
