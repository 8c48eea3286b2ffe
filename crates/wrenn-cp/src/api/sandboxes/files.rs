//! Files of a running sandbox: streamed download and upload (any size; the
//! body passes through without being held in memory), list, mkdir, remove,
//! rename, and the guest's resource metrics.
use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::guest as sandbox_envd;
use crate::{
    api::{
        extract::{ApiJson, ApiPath, ApiQuery},
        rfc3339,
    },
    auth::Principal,
    envd::{self, EntryKind},
    error::{ApiError, ApiResult},
    state::AppState,
};

/// One file system entry, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub name: String,
    pub path: String,
    /// `file`, `dir` or `symlink`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub size: i64,
    pub mode: u32,
    pub modified_at: Option<String>,
}

impl From<envd::Entry> for Entry {
    fn from(entry: envd::Entry) -> Self {
        Self {
            name: entry.name,
            path: entry.path,
            kind: match entry.kind {
                EntryKind::File => "file",
                EntryKind::Dir => "dir",
                EntryKind::Symlink => "symlink",
            },
            size: entry.size,
            mode: entry.mode,
            modified_at: entry.modified_at_ms.map(rfc3339),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PathParams {
    /// Absolute, or relative to the user's home.
    pub path: String,
    /// Guest user; default `user`.
    pub user: Option<String>,
    /// Depth of `files/list`, 1-10; default 1.
    pub depth: Option<u32>,
}

impl PathParams {
    pub(crate) fn checked(&self) -> Result<(&str, &str), ApiError> {
        checked_path(&self.path)?;
        let user = self.user.as_deref().unwrap_or("user");
        super::types::validate_guest_user(user)?;
        Ok((&self.path, user))
    }
}

pub(crate) fn checked_path(path: &str) -> Result<(), ApiError> {
    if path.is_empty() || path.len() > 4096 || path.chars().any(char::is_control) {
        Err(ApiError::validation(
            "path must be 1-4096 bytes without control characters",
        ))
    } else {
        Ok(())
    }
}

/// Downloads a file.
#[utoipa::path(
    get, path = "/v1/sandboxes/{id}/files", operation_id = "download_file", tag = "files",
    params(("id" = String, Path), PathParams),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream"), (status = 404, body = crate::error::ErrorBody))
)]
pub async fn download(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PathParams>,
) -> ApiResult<Response> {
    let (path, user) = params.checked()?;
    let envd = sandbox_envd(&state, &principal, &id).await?;
    let response = envd.call(envd.envd.download(user, path)).await?;
    let length = response.content_length();
    let body = Body::from_stream(response.bytes_stream());
    let mut answer = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        body,
    )
        .into_response();
    if let Some(length) = length {
        answer
            .headers_mut()
            .insert(header::CONTENT_LENGTH, length.into());
    }
    Ok(answer)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Uploaded {
    pub path: String,
    /// Bytes received.
    pub bytes: u64,
}

/// Uploads the request body to a file (created or replaced).
#[utoipa::path(
    put, path = "/v1/sandboxes/{id}/files", operation_id = "upload_file", tag = "files",
    params(("id" = String, Path), PathParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = Uploaded), (status = 409, body = crate::error::ErrorBody))
)]
pub async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PathParams>,
    request: Request,
) -> ApiResult<Json<Uploaded>> {
    let (path, user) = params.checked()?;
    let envd = sandbox_envd(&state, &principal, &id).await?;
    let counted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = counted.clone();
    let stream = request
        .into_body()
        .into_data_stream()
        .inspect_ok(move |chunk| {
            counter.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
        });
    envd.call(
        envd.envd
            .upload(user, path, reqwest::Body::wrap_stream(stream)),
    )
    .await?;
    Ok(Json(Uploaded {
        path: path.to_owned(),
        bytes: counted.load(std::sync::atomic::Ordering::Relaxed),
    }))
}

/// Removes a file or a directory tree.
#[utoipa::path(
    delete, path = "/v1/sandboxes/{id}/files", operation_id = "remove_file", tag = "files",
    params(("id" = String, Path), PathParams),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody))
)]
pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PathParams>,
) -> ApiResult<StatusCode> {
    let (path, user) = params.checked()?;
    let envd = sandbox_envd(&state, &principal, &id).await?;
    envd.call(envd.envd.remove(user, path)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Listing {
    pub entries: Vec<Entry>,
}

/// Lists a directory.
#[utoipa::path(
    get, path = "/v1/sandboxes/{id}/files/list", operation_id = "list_files", tag = "files",
    params(("id" = String, Path), PathParams),
    responses((status = 200, body = Listing), (status = 404, body = crate::error::ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PathParams>,
) -> ApiResult<Json<Listing>> {
    let (path, user) = params.checked()?;
    let depth = params.depth.unwrap_or(1);
    if !(1..=10).contains(&depth) {
        return Err(ApiError::validation("depth must be between 1 and 10"));
    }
    let envd = sandbox_envd(&state, &principal, &id).await?;
    let entries = envd.call(envd.envd.list_dir(user, path, depth)).await?;
    Ok(Json(Listing {
        entries: entries.into_iter().map(Entry::from).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MakeDir {
    pub path: String,
    pub user: Option<String>,
}

/// Creates a directory and its parents.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/files/mkdir", tag = "files",
    params(("id" = String, Path)),
    request_body = MakeDir,
    responses((status = 204), (status = 409, body = crate::error::ErrorBody))
)]
pub async fn mkdir(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MakeDir>,
) -> ApiResult<StatusCode> {
    let params = PathParams {
        path: body.path,
        user: body.user,
        depth: None,
    };
    let (path, user) = params.checked()?;
    let envd = sandbox_envd(&state, &principal, &id).await?;
    envd.call(envd.envd.make_dir(user, path)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    pub from: String,
    pub to: String,
    pub user: Option<String>,
}

/// Renames or moves a file or directory.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/files/rename", tag = "files",
    params(("id" = String, Path)),
    request_body = Rename,
    responses((status = 204), (status = 404, body = crate::error::ErrorBody))
)]
pub async fn rename(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Rename>,
) -> ApiResult<StatusCode> {
    checked_path(&body.to)?;
    let params = PathParams {
        path: body.from,
        user: body.user,
        depth: None,
    };
    let (from, user) = params.checked()?;
    let envd = sandbox_envd(&state, &principal, &id).await?;
    envd.call(envd.envd.rename(user, from, &body.to)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Metrics {
    pub cpu_count: u64,
    pub cpu_used_pct: f64,
    pub mem_total_mb: u64,
    pub mem_used_mb: u64,
    pub disk_total_mb: u64,
    pub disk_used_mb: u64,
}

/// CPU, memory and disk use inside the sandbox, measured now.
#[utoipa::path(
    get, path = "/v1/sandboxes/{id}/metrics", tag = "sandboxes",
    params(("id" = String, Path)),
    responses((status = 200, body = Metrics), (status = 409, body = crate::error::ErrorBody))
)]
pub async fn metrics(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Metrics>> {
    let envd = sandbox_envd(&state, &principal, &id).await?;
    let raw = envd.call(envd.envd.metrics()).await?;
    let number = |key: &str| {
        raw.get(key)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    Ok(Json(Metrics {
        cpu_count: number("cpu_count"),
        cpu_used_pct: raw
            .get("cpu_used_pct")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0),
        mem_total_mb: number("mem_total") >> 20,
        mem_used_mb: number("mem_used") >> 20,
        disk_total_mb: number("disk_total") >> 20,
        disk_used_mb: number("disk_used") >> 20,
    }))
}
