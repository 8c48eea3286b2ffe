//! `/v1/templates/builds` and `/v1/templates/{name}/tags`: template builds
//! from a Dockerfile (submit as multipart with a `spec` JSON part and an
//! optional `context` tar, list, get, NDJSON logs with follow, cancel) and
//! the tags of built templates (list, assign, remove). The contract is
//! docs/architecture.md, "Template builds".
mod multipart;

use std::{collections::BTreeMap, time::Duration};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    extract::{ApiJson, ApiPath, ApiQuery},
    rfc3339,
};
use crate::{
    auth::Principal,
    db::template_builds::{BuildRow, LogLine},
    error::{ApiError, ApiResult},
    service::builds::{
        read as service,
        registry_auth::RegistryAuth,
        settings::BuildSettings,
        submit,
        tags::{self as tag_service},
    },
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get))
        .routes(routes!(logs))
        .routes(routes!(cancel))
        .routes(routes!(tags, assign_tags))
        .routes(routes!(remove_tag))
}

/// The `spec` part of a build upload.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// The template to build (a new name, or one made by builds).
    pub name: String,
    /// The version's tag (default `latest`; `latest` always moves too).
    #[serde(default)]
    pub tag: Option<String>,
    /// The Dockerfile's text.
    pub dockerfile: String,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// Overrides the Dockerfile's HEALTHCHECK as the ready command.
    #[serde(default)]
    pub ready_command: Option<String>,
    /// Default: the base template's.
    #[serde(default)]
    pub vcpus: Option<u32>,
    #[serde(default)]
    pub memory_mb: Option<u32>,
    /// Accepted for the contract; team visibility only for now.
    #[serde(default)]
    pub public: bool,
    /// Credentials for the registry of an OCI `FROM` image: used for this
    /// build's pull only, never stored, logged or answered.
    #[serde(default)]
    pub registry_auth: Option<RegistryAuthSpec>,
    /// Plain HTTP to the `FROM` image's registry (a local registry).
    #[serde(default)]
    pub insecure_registry: bool,
}

/// Basic credentials for a registry.
// `Debug` (below) hides the password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryAuthSpec {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryAuthSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuthSpec")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why a build failed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BuildErrorView {
    /// `step_failed`, `missing_context_file`, `build_lost`, ...
    pub code: String,
    pub message: String,
    /// The Dockerfile line.
    pub line: Option<i64>,
    /// The failed step's exit code.
    pub exit_code: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Build {
    pub id: String,
    pub name: String,
    pub tag: String,
    /// `queued`, `building`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    pub steps_total: i64,
    pub steps_done: i64,
    pub steps_cached: i64,
    pub current_step: i64,
    pub current_step_text: Option<String>,
    pub error: Option<BuildErrorView>,
    /// The version a successful build registered.
    pub template_id: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

impl From<BuildRow> for Build {
    fn from(row: BuildRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            tag: row.tag,
            status: row.status.as_str().to_owned(),
            steps_total: row.steps_total,
            steps_done: row.steps_done,
            steps_cached: row.steps_cached,
            current_step: row.current_step,
            current_step_text: row.current_step_text,
            error: row.error.map(|e| BuildErrorView {
                code: e.code,
                message: e.message,
                line: e.line,
                exit_code: e.exit_code,
            }),
            template_id: row.template_id,
            created_at: rfc3339(row.created_at),
            started_at: row.started_at.map(rfc3339),
            finished_at: row.finished_at.map(rfc3339),
        }
    }
}

/// Submits a build: `multipart/form-data` with a `spec` part (JSON) and
/// an optional `context` part (a tar archive, plain or gzip).
#[utoipa::path(
    post, path = "/v1/templates/builds", operation_id = "create_template_build", tag = "templates",
    request_body(content = BuildSpec, content_type = "multipart/form-data", description = "part `spec` (this JSON) and optional part `context` (tar or tar.gz)"),
    responses((status = 202, body = Build), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody), (status = 415, description = "not multipart/form-data with a boundary", body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody))
)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    request: Request,
) -> ApiResult<(StatusCode, Json<Build>)> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let boundary = multipart::boundary(&content_type)
        .map_err(|e| ApiError::UnsupportedMediaType(e.to_string()))?;
    // The context plus room for the spec (a Dockerfile is at most 256 KiB).
    let limit = BuildSettings::get().context_max_bytes + 2 * 1024 * 1024;
    let body = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })?;
    let parts =
        multipart::parse(&body, &boundary).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let spec = parts
        .iter()
        .find(|p| p.name == "spec")
        .ok_or_else(|| ApiError::BadRequest("the upload has no 'spec' part".into()))?;
    let spec: BuildSpec = serde_json::from_slice(spec.data)
        .map_err(|e| ApiError::InvalidJson(format!("the 'spec' part: {e}")))?;
    let context = parts.iter().find(|p| p.name == "context").map(|p| p.data);
    let request = submit::NewBuild {
        id: None,
        name: spec.name,
        tag: spec.tag,
        dockerfile: spec.dockerfile,
        build_args: spec.build_args,
        ready_command: spec.ready_command.filter(|c| !c.trim().is_empty()),
        vcpus: spec.vcpus,
        memory_mb: spec.memory_mb,
        registry_auth: spec.registry_auth.map(|a| RegistryAuth {
            username: a.username,
            password: crate::secret::SecretString::new(a.password),
        }),
        insecure_registry: spec.insecure_registry,
    };
    let row = submit::submit(&state, &principal, request, context).await?;
    Ok((StatusCode::ACCEPTED, Json(row.into())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// At most this many (default 50, at most 500).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BuildList {
    pub builds: Vec<Build>,
}

/// The team's builds, newest first.
#[utoipa::path(
    get, path = "/v1/templates/builds", operation_id = "list_template_builds", tag = "templates",
    params(ListParams),
    responses((status = 200, body = BuildList))
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<BuildList>> {
    let limit = params.limit.unwrap_or(50).clamp(1, 500);
    let rows = service::list(&state, &principal.team_id, limit).await?;
    Ok(Json(BuildList {
        builds: rows.into_iter().map(Build::from).collect(),
    }))
}

/// One build.
#[utoipa::path(
    get, path = "/v1/templates/builds/{id}", operation_id = "get_template_build", tag = "templates",
    params(("id" = String, Path)),
    responses((status = 200, body = Build), (status = 404, body = crate::error::ErrorBody))
)]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Build>> {
    Ok(Json(
        service::get(&state, &principal.team_id, &id).await?.into(),
    ))
}

/// Cancels a build: a queued one at once, a running one at its next check
/// (its build VM destroyed, nothing registered).
#[utoipa::path(
    post, path = "/v1/templates/builds/{id}/cancel", operation_id = "cancel_template_build", tag = "templates",
    params(("id" = String, Path)),
    responses((status = 202, body = Build), (status = 404, body = crate::error::ErrorBody))
)]
async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<Build>)> {
    let row = service::cancel(&state, &principal, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(row.into())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// The first `seq` wanted (default 0).
    pub offset: Option<i64>,
    /// Keep the response open until the build ends, then write an `end`
    /// object.
    pub follow: Option<bool>,
}

/// One NDJSON line of a build's log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LogEvent {
    Log {
        seq: i64,
        at: String,
        /// 1-based; 0: the build itself.
        step: i64,
        /// `stdout`, `stderr` or `system`.
        stream: String,
        text: String,
    },
    End {
        status: String,
        error: Option<BuildErrorView>,
    },
}

fn ndjson(event: &LogEvent) -> bytes::Bytes {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    line.into()
}

fn log_event(line: LogLine) -> LogEvent {
    LogEvent::Log {
        seq: line.seq,
        at: rfc3339(line.at),
        step: line.step,
        stream: line.stream,
        text: line.text,
    }
}

const LOG_PAGE: i64 = 1000;
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// The build's log as NDJSON from `offset`; with `follow=true` until the
/// build ends (then an `end` object).
#[utoipa::path(
    get, path = "/v1/templates/builds/{id}/logs", operation_id = "template_build_logs", tag = "templates",
    params(("id" = String, Path), LogParams),
    responses((status = 200, description = "application/x-ndjson: LogEvent per line", body = LogEvent), (status = 404, body = crate::error::ErrorBody))
)]
async fn logs(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> ApiResult<Response> {
    let build = service::get(&state, &principal.team_id, &id).await?;
    let offset = params.offset.unwrap_or(0).max(0);
    let follow = params.follow.unwrap_or(false);
    if !follow {
        let mut body = Vec::new();
        let mut at = offset;
        loop {
            let lines = service::logs(&state, &build.id, at, LOG_PAGE).await?;
            let n = lines.len();
            for line in lines {
                at = line.seq + 1;
                body.extend_from_slice(&ndjson(&log_event(line)));
            }
            if i64::try_from(n).unwrap_or(0) < LOG_PAGE {
                break;
            }
        }
        return Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response());
    }
    struct Follow {
        state: AppState,
        team_id: String,
        id: String,
        at: i64,
        ended: bool,
    }
    let start = Follow {
        state,
        team_id: principal.team_id.clone(),
        id: build.id,
        at: offset,
        ended: false,
    };
    let stream = futures_util::stream::unfold(start, |mut f| async move {
        if f.ended {
            return None;
        }
        loop {
            // The status first: lines written before it ended are all in
            // by the time it reads final.
            let row = match service::get(&f.state, &f.team_id, &f.id).await {
                Ok(row) => row,
                Err(err) => {
                    tracing::warn!(build_id = f.id, error = %err, "cannot follow a build's log");
                    return None;
                }
            };
            let lines = match service::logs(&f.state, &f.id, f.at, LOG_PAGE).await {
                Ok(lines) => lines,
                Err(err) => {
                    tracing::warn!(build_id = f.id, error = %err, "cannot read a build's log");
                    return None;
                }
            };
            if !lines.is_empty() {
                let mut chunk = Vec::new();
                for line in lines {
                    f.at = line.seq + 1;
                    chunk.extend_from_slice(&ndjson(&log_event(line)));
                }
                return Some((
                    Ok::<_, std::convert::Infallible>(bytes::Bytes::from(chunk)),
                    f,
                ));
            }
            if row.status.is_final() {
                f.ended = true;
                let end = LogEvent::End {
                    status: row.status.as_str().to_owned(),
                    error: Build::from(row).error,
                };
                return Some((Ok(ndjson(&end)), f));
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateTag {
    pub tag: String,
    pub template_id: String,
    pub build_id: Option<String>,
    pub updated_at: String,
}

/// The tags of one of the team's built templates.
#[utoipa::path(
    get, path = "/v1/templates/{name}/tags", operation_id = "list_template_tags", tag = "templates",
    params(("name" = String, Path)),
    responses((status = 200, body = Vec<TemplateTag>), (status = 404, body = crate::error::ErrorBody))
)]
async fn tags(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<TemplateTag>>> {
    tag_views(&state, &principal, name).await
}

async fn tag_views(
    state: &AppState,
    principal: &Principal,
    name: String,
) -> ApiResult<Json<Vec<TemplateTag>>> {
    let rows = service::tags(state, &principal.team_id, &name).await?;
    if rows.is_empty() {
        return Err(ApiError::TemplateNotFound(name));
    }
    Ok(Json(
        rows.into_iter()
            .map(|t| TemplateTag {
                tag: t.tag,
                template_id: t.template_id,
                build_id: t.build_id,
                updated_at: rfc3339(t.updated_at),
            })
            .collect(),
    ))
}

/// Tags to point at the version another tag names now.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignTags {
    /// Tags to add, or move from the version they point at (not `latest`,
    /// which follows the newest build).
    pub tags: Vec<String>,
    /// The tag whose version they point at; default `latest`.
    #[serde(default)]
    pub from: Option<String>,
}

fn parse_tag(value: &str) -> ApiResult<wrenn_types::TemplateTag> {
    wrenn_types::TemplateTag::parse(value).ok_or_else(|| {
        ApiError::validation(format!(
            "tag '{value}' is invalid: use 1-63 characters a-z, 0-9, '-', '_' and '.', \
             starting with a letter or digit"
        ))
    })
}

/// Points tags of a built template at the version `from` names (Docker's
/// `tag`); answers every tag of the template.
#[utoipa::path(
    post, path = "/v1/templates/{name}/tags", operation_id = "assign_template_tags", tag = "templates",
    params(("name" = String, Path)),
    request_body = AssignTags,
    responses(
        (status = 200, body = Vec<TemplateTag>),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)
    )
)]
async fn assign_tags(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<AssignTags>,
) -> ApiResult<Json<Vec<TemplateTag>>> {
    let from = parse_tag(body.from.as_deref().unwrap_or("latest"))?;
    let tags = body
        .tags
        .iter()
        .map(|t| parse_tag(t))
        .collect::<ApiResult<Vec<_>>>()?;
    tag_service::assign(&state, &principal, &name, &from, &tags).await?;
    tag_views(&state, &principal, name).await
}

/// Removes one tag of a built template; its version stays (deleting the
/// template frees every version).
#[utoipa::path(
    delete, path = "/v1/templates/{name}/tags/{tag}", operation_id = "remove_template_tag", tag = "templates",
    params(("name" = String, Path), ("tag" = String, Path)),
    responses(
        (status = 204),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)
    )
)]
async fn remove_tag(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((name, tag)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let tag = parse_tag(&tag)?;
    tag_service::remove(&state, &principal, &name, &[tag]).await?;
    Ok(StatusCode::NO_CONTENT)
}
