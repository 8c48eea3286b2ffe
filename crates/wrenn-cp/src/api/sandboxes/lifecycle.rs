//! Destroy, pause, resume, connect and timeouts of one sandbox.
use axum::{body::Bytes, extract::State, http::StatusCode, Json};

use super::{
    sandbox_id,
    types::{PauseSandbox, Sandbox, SetTimeout},
    usable::usable_view,
};
use crate::{
    api::extract::{ApiJson, ApiPath},
    auth::Principal,
    error::{ApiError, ApiResult},
    service::sandboxes as service,
    state::AppState,
};

/// Destroys the sandbox: VM, disk and network are released; the record
/// stays, `stopped`. Destroying a stopped sandbox is a no-op.
#[utoipa::path(
    delete, path = "/v1/sandboxes/{id}", operation_id = "destroy_sandbox", tag = "sandboxes",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody))
)]
pub async fn destroy(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    service::destroy(&state, &principal, &sandbox_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pauses the sandbox to disk, freeing its CPU and memory. The body is
/// optional; `{"memory": false}` keeps only the disk (the next resume is a
/// fresh boot with the same id, token and files).
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/pause", tag = "sandboxes",
    params(("id" = String, Path)),
    request_body(content = PauseSandbox, description = "optional"),
    responses((status = 200, body = Sandbox), (status = 400, body = crate::error::ErrorBody), (status = 409, description = "sandbox_not_running", body = crate::error::ErrorBody), (status = 429, description = "pool_exhausted: the team already holds its plan's most paused sandboxes (max_paused) or storage", body = crate::error::ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait before trying again"))))
)]
pub async fn pause(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<Sandbox>> {
    let options: PauseSandbox = if body.iter().all(u8::is_ascii_whitespace) {
        PauseSandbox::default_memory()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidJson(e.to_string()))?
    };
    let id = sandbox_id(&id)?;
    let row = service::pause_keeping(&state, &principal, &id, options.memory).await?;
    Ok(Json(Sandbox::view(row, state.config.domain.as_ref())))
}

/// Resumes a paused sandbox; processes and files are as they were.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/resume", tag = "sandboxes",
    params(("id" = String, Path)),
    responses((status = 200, body = Sandbox), (status = 409, description = "sandbox_not_paused", body = crate::error::ErrorBody), (status = 429, description = "pool_exhausted: resuming does not fit the team's pool (vCPUs, memory, running sandboxes)", body = crate::error::ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait before trying again"))))
)]
pub async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Sandbox>> {
    let row = service::resume(&state, &principal, &sandbox_id(&id)?).await?;
    Ok(Json(usable_view(&state, row).await?))
}

/// Makes the sandbox usable: resumes it if paused, else moves its timeout.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/connect", tag = "sandboxes",
    params(("id" = String, Path)),
    responses((status = 200, body = Sandbox), (status = 409, body = crate::error::ErrorBody), (status = 429, description = "pool_exhausted: resuming a paused sandbox does not fit the team's pool", body = crate::error::ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait before trying again"))))
)]
pub async fn connect(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Sandbox>> {
    let row = service::connect(&state, &principal, &sandbox_id(&id)?).await?;
    Ok(Json(usable_view(&state, row).await?))
}

/// Sets a new inactivity timeout, counted from now.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/timeout", tag = "sandboxes",
    params(("id" = String, Path)),
    request_body = SetTimeout,
    responses((status = 200, body = Sandbox), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody))
)]
pub async fn set_timeout(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SetTimeout>,
) -> ApiResult<Json<Sandbox>> {
    if !super::types::TIMEOUT_SECS.contains(&body.timeout_secs) {
        return Err(ApiError::validation(
            "timeout_secs must be between 1 and 86400",
        ));
    }
    let id = sandbox_id(&id)?;
    let row = service::set_timeout(&state, &principal, &id, body.timeout_secs).await?;
    Ok(Json(Sandbox::view(row, state.config.domain.as_ref())))
}

/// Keeps the sandbox alive: its timeout starts again from now.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/ping", tag = "sandboxes",
    params(("id" = String, Path)),
    responses((status = 200, body = Sandbox), (status = 409, body = crate::error::ErrorBody))
)]
pub async fn ping(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Sandbox>> {
    let row = service::ping(&state, &principal, &sandbox_id(&id)?).await?;
    Ok(Json(Sandbox::view(row, state.config.domain.as_ref())))
}
