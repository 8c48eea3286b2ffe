//! `/v1/templates` and `POST /v1/sandboxes/{id}/snapshot`: built-in
//! templates and the team's own, made by snapshotting a sandbox's disk (and,
//! optionally, a memory snapshot so that sandboxes start by restore).
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use wrenn_types::TemplateName;

pub use super::template_view::Template;
use super::{
    extract::{ApiJson, ApiPath},
    sandboxes::{self as sbx},
};
use crate::{
    auth::Principal,
    error::{ApiError, ApiResult},
    service::templates as service,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get, delete))
        .routes(routes!(snapshot))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateList {
    pub templates: Vec<Template>,
}

/// Built-in templates and the team's own.
#[utoipa::path(get, path = "/v1/templates", operation_id = "list_templates", tag = "templates", responses((status = 200, body = TemplateList)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<TemplateList>> {
    let rows = service::list(&state, &principal.team_id).await?;
    Ok(Json(TemplateList {
        templates: rows.into_iter().map(Template::from).collect(),
    }))
}

/// A template name from the path: a malformed one cannot exist.
fn template_name(name: &str) -> Result<TemplateName, ApiError> {
    sbx::types::validate_template_name(name)
        .and_then(|()| {
            TemplateName::try_from(name).map_err(|e| ApiError::validation(e.to_string()))
        })
        .map_err(|_| ApiError::TemplateNotFound(name.to_owned()))
}

/// One template by name.
#[utoipa::path(
    get, path = "/v1/templates/{name}", operation_id = "get_template", tag = "templates",
    params(("name" = String, Path)),
    responses((status = 200, body = Template), (status = 404, body = crate::error::ErrorBody))
)]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Template>> {
    let template = service::get(&state, &principal.team_id, &template_name(&name)?).await?;
    Ok(Json(template.into()))
}

/// Deletes one of the team's templates (built-ins cannot be deleted).
#[utoipa::path(
    delete, path = "/v1/templates/{name}", operation_id = "delete_template", tag = "templates",
    params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody))
)]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    service::delete(&state, &principal, &template_name(&name)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRequest {
    /// Name of the new template (unique in the team).
    pub name: String,
    /// Also build a memory snapshot, so that new sandboxes restore instead of booting.
    #[serde(default)]
    pub memory: bool,
}

/// Turns the sandbox's disk into a new team template; the sandbox keeps running.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/snapshot", tag = "templates",
    params(("id" = String, Path)),
    request_body = SnapshotRequest,
    responses((status = 201, body = Template), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody))
)]
async fn snapshot(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<SnapshotRequest>,
) -> ApiResult<(StatusCode, Json<Template>)> {
    sbx::types::validate_template_name(&request.name)?;
    let name =
        TemplateName::try_from(request.name).map_err(|e| ApiError::validation(e.to_string()))?;
    let id = sbx::sandbox_id(&id)?;
    let row = service::snapshot(&state, &principal, &id, &name, request.memory).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}
