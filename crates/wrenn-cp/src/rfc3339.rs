//! Instants as the API and logs show them: Unix milliseconds as RFC 3339
//! (UTC, millisecond precision). A leaf module, so the database layer and
//! the envd client can format times without depending on the API.

/// Unix milliseconds as RFC 3339, e.g. `1970-01-01T00:00:01.5Z`.
pub fn from_unix_ms(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn from_unix_ms_when_epoch_ms_then_utc_text() {
        assert_eq!(super::from_unix_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::from_unix_ms(1_500), "1970-01-01T00:00:01.5Z");
    }
}
