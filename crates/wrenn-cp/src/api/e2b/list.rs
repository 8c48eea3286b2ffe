//! `GET /v2/sandboxes` (filters, pages through `X-Next-Token`) and the
//! older `GET /sandboxes` (running sandboxes, one answer). The filters are
//! the database's (`db::sandboxes::ListFilter`); this module only parses
//! E2B's query, including its doubly encoded `metadata`.
use std::collections::BTreeMap;

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue},
    Json,
};

use super::{
    error::{E2bError, E2bResult},
    extract::Caller,
    views::Listed,
};
use crate::{
    api::{cursor, sandboxes::types::validate_metadata},
    db::sandboxes::ListFilter,
    lifecycle::SandboxState,
    service::sandboxes as service,
    state::AppState,
};

/// Largest page; also the default.
pub const MAX_LIMIT: i64 = 100;

/// Parses the v2 list query; unknown parameters are refused so that a typo
/// does not silently list everything.
pub fn parse_v2(query: Option<&str>) -> E2bResult<ListFilter> {
    let mut filter = ListFilter {
        limit: MAX_LIMIT,
        ..ListFilter::default()
    };
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "state" => filter.any_state = states(&value)?,
            "metadata" => filter.metadata = metadata(&value)?,
            "order" => {
                filter.oldest_first = match value.as_ref() {
                    "asc" => true,
                    "desc" => false,
                    other => {
                        return Err(E2bError::bad_request(format!(
                            "order '{other}' is not asc or desc"
                        )))
                    }
                }
            }
            "startedAfter" => filter.started_after = Some(instant(&value)?),
            "template" => filter.template = Some(value.into_owned()),
            "limit" => filter.limit = limit(&value)?,
            "nextToken" => filter.before = Some(cursor::decode(&value)?),
            other => {
                return Err(E2bError::bad_request(format!(
                    "unknown query parameter '{other}' (state, metadata, order, startedAfter, template, limit, nextToken)"
                )))
            }
        }
    }
    if filter.any_state.is_empty() {
        filter.any_state = vec![SandboxState::Running, SandboxState::Paused];
    }
    Ok(filter)
}

fn states(list: &str) -> E2bResult<Vec<SandboxState>> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            "running" => Ok(SandboxState::Running),
            "paused" => Ok(SandboxState::Paused),
            other => Err(E2bError::bad_request(format!(
                "state '{other}' is not running or paused"
            ))),
        })
        .collect()
}

fn limit(text: &str) -> E2bResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| E2bError::bad_request(format!("limit must be between 1 and {MAX_LIMIT}")))
}

/// An ISO 8601 / RFC 3339 instant as Unix ms.
fn instant(text: &str) -> E2bResult<i64> {
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            E2bError::bad_request(format!(
                "startedAfter '{text}' is not an RFC 3339 instant such as 2026-01-02T03:04:05Z"
            ))
        })?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| E2bError::bad_request("startedAfter is out of range"))
}

/// E2B's metadata filter: `k=v&k2=v2` with every key and value
/// percent-encoded, sent URL-encoded as one parameter (so, once the query
/// is decoded, each part is decoded twice more). An AND filter.
pub fn metadata(text: &str) -> E2bResult<BTreeMap<String, String>> {
    let bad = || {
        E2bError::bad_request(
            "metadata must be key=value pairs joined by '&', each percent-encoded",
        )
    };
    let mut filter = BTreeMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(bad)?;
        let decode = |part: &str| {
            percent_decode(part, true)
                .and_then(|once| percent_decode(&once, false))
                .ok_or_else(bad)
        };
        let key = decode(key)?;
        if key.is_empty() {
            return Err(bad());
        }
        filter.insert(key, decode(value)?);
    }
    validate_metadata(&filter)?;
    Ok(filter)
}

/// Strict percent-decoding (a `%` not followed by two hex digits, or bytes
/// that are not UTF-8, fail); `plus_is_space` for form encoding.
fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `GET /v2/sandboxes`: a page, newest first unless `order=asc`; the next
/// page's token in `X-Next-Token` (absent on the last page).
pub async fn list_v2(
    State(state): State<AppState>,
    Caller(principal): Caller,
    RawQuery(query): RawQuery,
) -> E2bResult<(HeaderMap, Json<Vec<Listed>>)> {
    let filter = parse_v2(query.as_deref())?;
    let page = service::list(&state, &principal.team_id, filter).await?;
    let mut headers = HeaderMap::new();
    if page.more {
        if let Some(last) = page.sandboxes.last() {
            let token = cursor::encode(last.created_at, &last.id);
            if let Ok(value) = HeaderValue::from_str(&token) {
                headers.insert("x-next-token", value);
            }
        }
    }
    let listed = page.sandboxes.into_iter().filter_map(Listed::of).collect();
    Ok((headers, Json(listed)))
}

/// Most sandboxes `GET /sandboxes` answers (it has no pages).
const V1_MAX: usize = 1000;

/// `GET /sandboxes?metadata=`: the team's running sandboxes.
pub async fn list_v1(
    State(state): State<AppState>,
    Caller(principal): Caller,
    RawQuery(query): RawQuery,
) -> E2bResult<Json<Vec<Listed>>> {
    let mut filter = ListFilter {
        any_state: vec![SandboxState::Running],
        limit: 200,
        ..ListFilter::default()
    };
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "metadata" => filter.metadata = metadata(&value)?,
            other => {
                return Err(E2bError::bad_request(format!(
                    "unknown query parameter '{other}' (metadata)"
                )))
            }
        }
    }
    let mut listed = Vec::new();
    loop {
        let page = service::list(&state, &principal.team_id, filter.clone()).await?;
        filter.before = page.sandboxes.last().map(|r| (r.created_at, r.id.clone()));
        listed.extend(page.sandboxes.into_iter().filter_map(Listed::of));
        if !page.more || listed.len() >= V1_MAX {
            break;
        }
    }
    listed.truncate(V1_MAX);
    Ok(Json(listed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_v2_when_no_query_then_running_and_paused_100() {
        let filter = parse_v2(None).expect("valid");
        assert_eq!(
            filter.any_state,
            vec![SandboxState::Running, SandboxState::Paused]
        );
        assert_eq!(filter.limit, 100);
        assert!(!filter.oldest_first);
    }

    #[test]
    fn parse_v2_when_sdk_query_then_every_filter() {
        // What e2b 2.63 sends for SandboxQuery(metadata={"a b": "c&d", "k": "v"},
        // state=["paused"], template="base"), order="asc", limit=10.
        let query = "metadata=a%252520b%3Dc%252526d%26k%3Dv&state=paused&order=asc\
                     &startedAfter=2026-12-01T10%3A00%3A00%2B00%3A00&template=base&limit=10";
        let filter = parse_v2(Some(query)).expect("valid");
        assert_eq!(filter.any_state, vec![SandboxState::Paused]);
        assert_eq!(filter.metadata.get("a b").map(String::as_str), Some("c&d"));
        assert_eq!(filter.metadata.get("k").map(String::as_str), Some("v"));
        assert!(filter.oldest_first);
        assert_eq!(filter.template.as_deref(), Some("base"));
        assert_eq!(filter.limit, 10);
        assert_eq!(filter.started_after, Some(1_796_119_200_000));
    }

    #[test]
    fn parse_v2_when_bad_input_then_400() {
        for query in [
            "limit=101",
            "limit=0",
            "limit=x",
            "state=stopped",
            "order=up",
            "startedAfter=yesterday",
            "nextToken=%25%25",
            "metadata=novalue",
            "metadata=k%3D%25zz",
            "metadata=%3Dv",
            "stat=running",
        ] {
            let err = parse_v2(Some(query)).expect_err(query);
            assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST, "{query}");
        }
    }
}
