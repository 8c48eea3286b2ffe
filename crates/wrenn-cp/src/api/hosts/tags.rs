//! `/v1/hosts/{id}/tags`: labels the scheduler matches against a create's
//! `tags`. Readable by whoever sees the host, changed by whoever manages it.
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};

use super::{load, validate_tags, Access};
use crate::{
    api::extract::{ApiJson, ApiPath},
    audit::{self, Outcome},
    auth::Principal,
    db,
    error::{ApiError, ApiResult},
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
    let host = load(&state, &principal, &id, Access::Read).await?;
    Ok(Json(Tags {
        tags: db::hosts::tags(&state.db, &host.id).await?,
    }))
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
    let host = load(&state, &principal, &id, Access::Manage).await?;
    let present = db::hosts::tags(&state.db, &host.id).await?;
    let added = body.tags.iter().filter(|t| !present.contains(t)).count();
    if present.len() + added > super::MAX_TAGS {
        return Err(ApiError::validation(format!(
            "a host carries at most {} tags",
            super::MAX_TAGS
        )));
    }
    db::hosts::add_tags(&state.db, &host.id, &body.tags).await?;
    audit::record(
        &state.db,
        &principal,
        "host.tags.add",
        ("host", &host.id),
        Outcome::Ok,
        &body.tags.join(","),
    )
    .await;
    Ok(Json(Tags {
        tags: db::hosts::tags(&state.db, &host.id).await?,
    }))
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
    let host = load(&state, &principal, &id, Access::Manage).await?;
    if !db::hosts::remove_tag(&state.db, &host.id, &tag).await? {
        return Err(ApiError::NotFound { what: "tag" });
    }
    audit::record(
        &state.db,
        &principal,
        "host.tags.remove",
        ("host", &host.id),
        Outcome::Ok,
        &tag,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
