//! `GET /v1/sandboxes` (filters, cursor pages) and `GET /v1/sandboxes/{id}`.
use std::collections::BTreeMap;

use axum::{
    extract::{RawQuery, State},
    Json,
};

use super::{
    sandbox_id,
    types::{Sandbox, SandboxPage},
};
use crate::{
    api::{cursor, extract::ApiPath, page_limit},
    auth::Principal,
    db::sandboxes::ListFilter,
    error::{ApiError, ApiResult},
    lifecycle::SandboxState,
    service::sandboxes as service,
    state::AppState,
};

/// Parses `state=`, `limit=`, `cursor=` and `metadata[KEY]=VALUE`; anything
/// else is refused so that a typo does not silently list everything.
pub(crate) fn parse_filter(query: Option<&str>) -> Result<ListFilter, ApiError> {
    let mut filter = ListFilter::default();
    let mut limit = None;
    let mut metadata = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "state" => {
                filter.state = Some(SandboxState::parse(&value).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "unknown state '{value}' (pending, starting, running, paused, stopped, error, lost)"
                    ))
                })?);
            }
            "limit" => {
                limit = Some(value.parse::<u32>().map_err(|_| {
                    ApiError::BadRequest(format!("limit '{value}' is not a number"))
                })?);
            }
            "cursor" => filter.before = Some(cursor::decode(&value)?),
            other => match other
                .strip_prefix("metadata[")
                .and_then(|k| k.strip_suffix(']'))
            {
                Some(meta_key) => {
                    metadata.insert(meta_key.to_owned(), value.into_owned());
                }
                None => {
                    return Err(ApiError::BadRequest(format!(
                        "unknown query parameter '{other}' (state, metadata[KEY], limit, cursor)"
                    )))
                }
            },
        }
    }
    super::types::validate_metadata(&metadata)?;
    filter.metadata = metadata;
    filter.limit = page_limit(limit)?;
    Ok(filter)
}

/// The team's sandboxes, newest first.
#[utoipa::path(
    get, path = "/v1/sandboxes", operation_id = "list_sandboxes", tag = "sandboxes",
    params(
        ("state" = Option<String>, Query, description = "Only sandboxes in this state"),
        ("metadata[KEY]" = Option<String>, Query, description = "Only sandboxes whose metadata KEY has this value (repeatable)"),
        ("limit" = Option<u32>, Query, description = "Page size, 1-200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = SandboxPage), (status = 400, body = crate::error::ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<SandboxPage>> {
    let filter = parse_filter(query.as_deref())?;
    let page = service::list(&state, &principal.team_id, filter).await?;
    let next_cursor = page
        .more
        .then(|| {
            page.sandboxes
                .last()
                .map(|r| cursor::encode(r.created_at, &r.id))
        })
        .flatten();
    Ok(Json(SandboxPage {
        sandboxes: page
            .sandboxes
            .into_iter()
            .map(|row| Sandbox::view(row, state.config.domain.as_ref()))
            .collect(),
        next_cursor,
    }))
}

/// One sandbox of the team.
#[utoipa::path(
    get, path = "/v1/sandboxes/{id}", operation_id = "get_sandbox", tag = "sandboxes",
    params(("id" = String, Path, description = "Sandbox id")),
    responses((status = 200, body = Sandbox), (status = 404, body = crate::error::ErrorBody))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Sandbox>> {
    let row = service::get(&state, &principal.team_id, &sandbox_id(&id)?).await?;
    Ok(Json(Sandbox::view(row, state.config.domain.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_filter_when_metadata_and_state_then_filter() {
        let filter =
            parse_filter(Some("state=running&metadata%5Bowner%5D=ana&limit=10")).expect("valid");
        assert_eq!(filter.state, Some(SandboxState::Running));
        assert_eq!(
            filter.metadata.get("owner").map(String::as_str),
            Some("ana")
        );
        assert_eq!(filter.limit, 10);
    }

    #[test]
    fn parse_filter_when_unknown_parameter_then_bad_request() {
        let err = parse_filter(Some("stat=running")).expect_err("refused");
        assert_eq!(err.code(), "bad_request");
    }

    #[test]
    fn parse_filter_when_limit_out_of_range_then_validation() {
        assert!(parse_filter(Some("limit=0")).is_err());
        assert!(parse_filter(Some("limit=abc")).is_err());
    }
}
