//! `POST /v1/sandboxes/{id}/fork`: running copies of a running sandbox.
use axum::{extract::State, http::StatusCode, Json};

use super::{
    sandbox_id,
    types::{ForkSandbox, ForkedSandboxes, TIMEOUT_SECS},
    usable::usable_view,
};
use crate::{
    api::extract::{ApiJson, ApiPath},
    auth::Principal,
    error::{ApiError, ApiResult},
    service::sandboxes::{self as service, MAX_FORK_COUNT},
    state::AppState,
};

/// Makes `count` running copies of the sandbox with its memory and disk of
/// this moment (files, and processes started before the fork); the source
/// keeps running. Each copy is a new sandbox with its own id and envd
/// token, counted against the team's limit. All copies or none.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/fork", operation_id = "fork_sandbox", tag = "sandboxes",
    params(("id" = String, Path)),
    request_body = ForkSandbox,
    responses(
        (status = 201, body = ForkedSandboxes),
        (status = 400, description = "fork_limit_exceeded", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "sandbox_not_running", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
        (status = 429, description = "quota_exceeded / pool_exhausted: the copies do not fit the team's pool", body = crate::error::ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait before trying again")))
    )
)]
pub async fn fork(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ForkSandbox>,
) -> ApiResult<(StatusCode, Json<ForkedSandboxes>)> {
    let count = body.count.unwrap_or(1);
    if count == 0 {
        return Err(ApiError::validation("count must be at least 1"));
    }
    if count > MAX_FORK_COUNT {
        return Err(ApiError::ForkLimitExceeded(format!(
            "a fork makes at most {MAX_FORK_COUNT} copies, not {count}"
        )));
    }
    if let Some(secs) = body.timeout_secs {
        if !TIMEOUT_SECS.contains(&secs) {
            return Err(ApiError::validation(
                "timeout_secs must be between 1 and 86400",
            ));
        }
    }
    let request = service::ForkSandbox {
        count,
        timeout_secs: body.timeout_secs,
    };
    let rows = service::fork(&state, &principal, &sandbox_id(&id)?, request).await?;
    let mut sandboxes = Vec::with_capacity(rows.len());
    for row in rows {
        sandboxes.push(usable_view(&state, row).await?);
    }
    Ok((StatusCode::CREATED, Json(ForkedSandboxes { sandboxes })))
}
