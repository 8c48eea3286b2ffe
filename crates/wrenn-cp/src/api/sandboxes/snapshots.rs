//! `POST /v1/sandboxes/{id}/snapshots` and `GET /v1/snapshots`: snapshots
//! in E2B's sense, which are team templates made from a sandbox's disk
//! (deleted with `DELETE /v1/templates/{name}`).
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use wrenn_types::TemplateName;

use super::{sandbox_id, types::validate_template_name};
use crate::{
    api::{
        extract::{ApiJson, ApiPath, ApiQuery},
        template_view::Template,
    },
    auth::Principal,
    error::{ApiError, ApiResult},
    service::sandboxes as service,
    state::AppState,
};

/// The body of `POST /v1/sandboxes/{id}/snapshots`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSnapshot {
    /// The snapshot's (template's) name, unique in the team; default
    /// `snap-<random>`.
    #[serde(default)]
    pub name: Option<String>,
}

/// `GET /v1/snapshots` filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SnapshotFilter {
    /// Only snapshots of this sandbox.
    pub sandbox_id: Option<String>,
    /// Only the snapshot of this name.
    pub name: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SnapshotList {
    /// Newest first.
    pub snapshots: Vec<Template>,
}

/// Snapshots the sandbox's disk into a new team template (a snapshot); the
/// sandbox keeps running. New sandboxes of it boot on that disk.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/snapshots", operation_id = "create_snapshot", tag = "templates",
    params(("id" = String, Path)),
    request_body = CreateSnapshot,
    responses(
        (status = 201, body = Template),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)
    )
)]
pub async fn create_snapshot(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateSnapshot>,
) -> ApiResult<(StatusCode, Json<Template>)> {
    let name = match body.name {
        Some(name) => {
            validate_template_name(&name)?;
            Some(TemplateName::try_from(name).map_err(|e| ApiError::validation(e.to_string()))?)
        }
        None => None,
    };
    let row = service::snapshot(&state, &principal, &sandbox_id(&id)?, name).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// The team's snapshots: templates made from its sandboxes.
#[utoipa::path(
    get, path = "/v1/snapshots", operation_id = "list_snapshots", tag = "templates",
    params(SnapshotFilter),
    responses((status = 200, body = SnapshotList))
)]
pub async fn list_snapshots(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<SnapshotFilter>,
) -> ApiResult<Json<SnapshotList>> {
    let rows = service::list_snapshots(
        &state,
        &principal.team_id,
        filter.sandbox_id.as_deref(),
        filter.name.as_deref(),
    )
    .await?;
    Ok(Json(SnapshotList {
        snapshots: rows.into_iter().map(Template::from).collect(),
    }))
}
