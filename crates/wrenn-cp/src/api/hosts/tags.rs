//! `/v1/hosts/{id}/tags`: labels the scheduler matches against a create's
//! `tags`. Readable by whoever sees the host, changed by whoever manages it
//! (the rules: `service::hosts::tags`).
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};

use super::{parse_host, validate_tags};
use crate::{
    api::extract::{ApiJson, ApiPath},
    auth::Principal,
    error::ApiResult,
    service::hosts::tags,
    state::AppState,
};

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tags {
    pub tags: Vec<String>,
}

/// The host's tags.
#[utoipa::path(get, path = "/v1/hosts/{id}/tags", tag = "hosts", params(("id" = String, Path)),
    responses((status = 200, body = Tags), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_tags(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Tags>> {
    let tags = tags::list(&state.db, &principal, &parse_host(&id)?).await?;
    Ok(Json(Tags { tags }))
}

/// Adds tags (present ones are kept); answers the host's tags.
#[utoipa::path(post, path = "/v1/hosts/{id}/tags", tag = "hosts", params(("id" = String, Path)), request_body = Tags,
    responses((status = 200, body = Tags), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn add_tags(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Tags>,
) -> ApiResult<Json<Tags>> {
    validate_tags(&body.tags)?;
    let tags = tags::add(&state.db, &principal, &parse_host(&id)?, &body.tags).await?;
    Ok(Json(Tags { tags }))
}

/// Removes one tag.
#[utoipa::path(delete, path = "/v1/hosts/{id}/tags/{tag}", tag = "hosts",
    params(("id" = String, Path), ("tag" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn remove_tag(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, tag)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    // An invalid tag is simply not on the host: 404 like any absent one.
    tags::remove(&state.db, &principal, &parse_host(&id)?, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}
