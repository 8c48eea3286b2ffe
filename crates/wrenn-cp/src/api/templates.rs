//! `/v1/templates` and `POST /v1/sandboxes/{id}/snapshot`: built-in
//! templates and the team's own, made by snapshotting a sandbox's disk (and,
//! optionally, a memory snapshot so that sandboxes start by restore).
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    extract::{ApiJson, ApiPath},
    rfc3339,
    sandboxes::{self as sbx},
};
use crate::{
    agent::AgentError,
    audit::{self, Outcome},
    auth::Principal,
    db::{self, templates::TemplateRow},
    error::{ApiError, ApiResult},
    lifecycle::SandboxState,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get, delete))
        .routes(routes!(snapshot))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Template {
    pub name: String,
    pub builtin: bool,
    /// Owner team; null for built-ins.
    pub team_id: Option<String>,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_mb: Option<i64>,
    /// Sandboxes of this shape start by restoring a memory snapshot.
    pub has_memory_snapshot: bool,
    pub created_at: String,
    pub source_sandbox_id: Option<String>,
}

impl From<TemplateRow> for Template {
    fn from(row: TemplateRow) -> Self {
        Self {
            name: row.name,
            builtin: row.builtin,
            team_id: row.team_id,
            vcpus: row.vcpus,
            memory_mb: row.memory_mb,
            disk_mb: row.disk_mb,
            has_memory_snapshot: row.has_memory_snapshot,
            created_at: rfc3339(row.created_at),
            source_sandbox_id: row.source_sandbox_id,
        }
    }
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
    let rows = db::templates::list(&state.db, &principal.team_id).await?;
    Ok(Json(TemplateList {
        templates: rows.into_iter().map(Template::from).collect(),
    }))
}

async fn resolve(state: &AppState, principal: &Principal, name: &str) -> ApiResult<TemplateRow> {
    sbx::types::validate_template_name(name)
        .map_err(|_| ApiError::TemplateNotFound(name.to_owned()))?;
    db::templates::resolve(&state.db, &principal.team_id, name)
        .await?
        .ok_or_else(|| ApiError::TemplateNotFound(name.to_owned()))
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
    Ok(Json(resolve(&state, &principal, &name).await?.into()))
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
    let template = resolve(&state, &principal, &name).await?;
    if template.builtin {
        return Err(ApiError::Forbidden("built-in templates cannot be deleted"));
    }
    // A team template lives on the host it was snapshotted on; a record
    // from before hosts were tracked may be on any of them.
    let holders = match &template.host_id {
        Some(host_id) => state.hosts.agent(host_id).await.into_iter().collect(),
        None => state
            .hosts
            .all()
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|(_, a)| a)
            .collect::<Vec<_>>(),
    };
    for agent in holders {
        match agent.delete_template(&template.image).await {
            Ok(()) | Err(AgentError::NotFound(_)) => {}
            Err(AgentError::FailedPrecondition(m)) => return Err(ApiError::Conflict(m)),
            Err(err) => return Err(sbx::agent_error(err)),
        }
    }
    db::templates::delete(&state.db, &template.id).await?;
    audit::record(
        &state.db,
        &principal,
        "template.delete",
        ("template", &template.name),
        Outcome::Ok,
        "",
    )
    .await;
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
    let sandbox = sbx::load(&state, &principal, &id).await?;
    if !matches!(sandbox.state, SandboxState::Running | SandboxState::Paused) {
        return Err(ApiError::SandboxNotRunning {
            state: sandbox.state.to_string(),
        });
    }
    if db::templates::resolve(&state.db, &principal.team_id, &request.name)
        .await?
        .is_some_and(|t| !t.builtin)
        || db::templates::BUILTINS
            .iter()
            .any(|(b, _, _)| *b == request.name)
    {
        return Err(ApiError::Conflict(format!(
            "a template named '{}' already exists",
            request.name
        )));
    }
    let agent = sbx::agent_of(&state, &sandbox).await?;
    // Hosts know templates by a unique image name, so two teams can both
    // have a template called "python".
    let image = format!("tm-{}", crate::auth::random_token(16).to_lowercase());
    let task = {
        let (agent, id, image, memory) = (
            agent.clone(),
            sandbox.id.clone(),
            image.clone(),
            request.memory,
        );
        tokio::spawn(async move { agent.snapshot(&id, &image, memory).await })
    };
    let made = task
        .await
        .map_err(ApiError::internal)?
        .map_err(sbx::agent_error)?;
    let row = TemplateRow {
        id: db::new_id("tpl_"),
        team_id: Some(principal.team_id.clone()),
        name: request.name.clone(),
        image: made.image,
        builtin: false,
        vcpus: sandbox.vcpus,
        memory_mb: sandbox.memory_mb,
        disk_mb: i64::try_from(made.disk_mb).ok(),
        has_memory_snapshot: made.has_memory_snapshot,
        source_sandbox_id: Some(sandbox.id.clone()),
        created_at: db::now_ms(),
        host_id: sandbox.host_id.clone(),
    };
    if let Err(err) = db::templates::insert(&state.db, &row).await {
        // A concurrent snapshot took the name: drop our copy on the host.
        let _ = agent.delete_template(&image).await;
        return Err(if db::is_unique_violation(&err) {
            ApiError::Conflict(format!(
                "a template named '{}' already exists",
                request.name
            ))
        } else {
            err.into()
        });
    }
    audit::record(
        &state.db,
        &principal,
        "template.snapshot",
        ("template", &row.name),
        Outcome::Ok,
        &sandbox.id,
    )
    .await;
    Ok((StatusCode::CREATED, Json(row.into())))
}
