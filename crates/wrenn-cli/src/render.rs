//! Turning answers into text: JSON documents, aligned tables, `key: value`
//! listings, and the one-line error report with its source chain.

use std::error::Error;
use std::io::Write;

use serde_json::Value;

/// Writes `text` and a newline to stdout; a closed pipe is an error, not a panic.
pub fn print_line(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// The server's JSON as one document; `null` (a `204` answer) prints as `{}`
/// so that every command prints exactly one JSON document.
pub fn json_document(value: &Value) -> String {
    match value {
        Value::Null => "{}".to_owned(),
        // Serialising a `Value` cannot fail.
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// One table cell from a typed field, rendered from the JSON it serialises to
/// (the wrenn-types values serialise to their wire form, so a typed answer
/// prints as the server's document would): strings as they are, `null` as
/// `-`, objects as `k=v,...`, anything else as JSON.
pub fn cell_of(value: &impl serde::Serialize) -> String {
    scalar(&serde_json::to_value(value).unwrap_or(Value::Null))
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Object(map) if map.is_empty() => "-".to_owned(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// Left-aligned columns separated by two spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut lines = vec![line(headers.to_vec())];
    lines.extend(
        rows.iter()
            .map(|row| line(row.iter().map(String::as_str).collect())),
    );
    lines.join("\n")
}

/// `key: value` lines for the top-level fields of an object.
pub fn fields(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let width = map.keys().map(String::len).max().unwrap_or(0) + 1;
            map.iter()
                .map(|(k, v)| format!("{:<width$} {}", format!("{k}:"), scalar(v)))
                .collect::<Vec<_>>()
                .join("\n")
        }
        other => scalar(other),
    }
}

/// `error: <message>: <cause>: ...` — the whole chain, printed once.
pub fn error_report(err: &dyn Error) -> String {
    let mut text = format!("error: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::client::{ApiError, ClientError};

    #[test]
    fn error_report_when_api_error_then_message_and_code() {
        let err = ClientError::Api(ApiError {
            status: 404,
            code: crate::client::Code::parse("not_found"),
            message: "sandbox sb_1 not found".into(),
        });
        assert_eq!(
            error_report(&err),
            "error: sandbox sb_1 not found (not_found)"
        );
    }

    #[test]
    fn error_report_when_chain_then_causes_joined() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = ClientError::Connect {
            url: "http://h:1/".into(),
            source: io.into(),
        };
        assert_eq!(
            error_report(&err),
            "error: cannot connect to http://h:1/: refused"
        );
    }

    #[test]
    fn table_when_rows_then_columns_aligned() {
        let rows = vec![vec!["sb_long_id".to_owned(), "running".to_owned()]];
        assert_eq!(
            table(&["ID", "STATE"], &rows),
            "ID          STATE\nsb_long_id  running"
        );
    }

    #[test]
    fn cell_when_null_or_object_then_dash_or_pairs() {
        let v = json!({"a": null, "m": {"k": "v", "n": 1}});
        assert_eq!(cell_of(&v["a"]), "-");
        assert_eq!(cell_of(&v["missing"]), "-");
        assert_eq!(cell_of(&v["m"]), "k=v,n=1");
    }

    #[test]
    fn cell_of_when_typed_values_then_as_their_json() {
        let tags = vec!["gpu".to_owned(), "eu".to_owned()];
        assert_eq!(cell_of(&tags), r#"["gpu","eu"]"#);
        assert_eq!(cell_of(&wrenn_types::SandboxState::Paused), "paused");
        assert_eq!(cell_of(&None::<String>), "-");
        assert_eq!(
            cell_of(&std::collections::BTreeMap::<String, String>::new()),
            "-"
        );
        assert_eq!(cell_of(&2048u64), "2048");
    }

    #[test]
    fn json_document_when_no_content_then_empty_object() {
        assert_eq!(json_document(&Value::Null), "{}");
    }
}
