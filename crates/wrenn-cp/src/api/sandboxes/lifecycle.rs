//! Destroy, pause, resume, connect and timeouts of one sandbox.
use axum::{extract::State, http::StatusCode, Json};

use super::{
    agent_error, agent_of, load, require_running,
    types::{Sandbox, SetTimeout},
};
use crate::{
    agent::{AgentError, AgentSandbox},
    api::extract::{ApiJson, ApiPath},
    audit::{self, Outcome},
    auth::Principal,
    db::{
        self,
        sandboxes::{SandboxRow, TransitionExtras},
    },
    error::{ApiError, ApiResult},
    lifecycle::SandboxState,
    state::AppState,
};

async fn reload(state: &AppState, principal: &Principal, id: &str) -> ApiResult<Json<Sandbox>> {
    Ok(Json(load(state, principal, id).await?.into()))
}

/// Records `to` after the host did the work; a lost race (someone else moved
/// the sandbox first) leaves the other writer's state.
async fn record(
    state: &AppState,
    row: &SandboxRow,
    to: SandboxState,
    reported: Option<&AgentSandbox>,
) -> ApiResult<()> {
    let extras = TransitionExtras {
        timeout_at: reported.map(|s| s.timeout_at_ms),
        started_at: (to == SandboxState::Running).then(db::now_ms),
        from_snapshot: None,
    };
    db::sandboxes::transition(&state.db, &row.id, to, "", extras).await?;
    Ok(())
}

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
    let row = load(&state, &principal, &id).await?;
    if row.state == SandboxState::Stopped {
        return Ok(StatusCode::NO_CONTENT);
    }
    if let Ok(agent) = state
        .hosts
        .agent(row.host_id.as_deref().unwrap_or_default())
        .await
    {
        match agent.destroy(&row.id).await {
            Ok(()) | Err(AgentError::NotFound(_)) => {}
            Err(err) => return Err(agent_error(err)),
        }
    }
    record(&state, &row, SandboxState::Stopped, None).await?;
    audit::record(
        &state.db,
        &principal,
        "sandbox.destroy",
        ("sandbox", &row.id),
        Outcome::Ok,
        "",
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Pauses the sandbox to disk, freeing its CPU and memory.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/pause", tag = "sandboxes",
    params(("id" = String, Path)),
    responses((status = 200, body = Sandbox), (status = 409, description = "sandbox_not_running", body = crate::error::ErrorBody))
)]
pub async fn pause(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Sandbox>> {
    let row = load(&state, &principal, &id).await?;
    require_running(&row)?;
    let reported = agent_of(&state, &row)
        .await?
        .pause(&row.id)
        .await
        .map_err(agent_error)?;
    record(&state, &row, SandboxState::Paused, Some(&reported)).await?;
    audit::record(
        &state.db,
        &principal,
        "sandbox.pause",
        ("sandbox", &row.id),
        Outcome::Ok,
        "",
    )
    .await;
    reload(&state, &principal, &id).await
}

async fn resume_row(state: &AppState, principal: &Principal, row: &SandboxRow) -> ApiResult<()> {
    let reported = agent_of(state, row)
        .await?
        .resume(&row.id)
        .await
        .map_err(agent_error)?;
    record(state, row, SandboxState::Running, Some(&reported)).await?;
    audit::record(
        &state.db,
        principal,
        "sandbox.resume",
        ("sandbox", &row.id),
        Outcome::Ok,
        "",
    )
    .await;
    Ok(())
}

/// Resumes a paused sandbox; processes and files are as they were.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/resume", tag = "sandboxes",
    params(("id" = String, Path)),
    responses((status = 200, body = Sandbox), (status = 409, description = "sandbox_not_paused", body = crate::error::ErrorBody))
)]
pub async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Sandbox>> {
    let row = load(&state, &principal, &id).await?;
    if row.state != SandboxState::Paused {
        return Err(ApiError::SandboxNotPaused {
            state: row.state.to_string(),
        });
    }
    resume_row(&state, &principal, &row).await?;
    reload(&state, &principal, &id).await
}

/// Makes the sandbox usable: resumes it if paused, else moves its timeout.
#[utoipa::path(
    post, path = "/v1/sandboxes/{id}/connect", tag = "sandboxes",
    params(("id" = String, Path)),
    responses((status = 200, body = Sandbox), (status = 409, body = crate::error::ErrorBody))
)]
pub async fn connect(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Sandbox>> {
    let row = load(&state, &principal, &id).await?;
    match row.state {
        SandboxState::Paused => resume_row(&state, &principal, &row).await?,
        SandboxState::Running => touch(&state, &row, None).await?,
        other => {
            return Err(ApiError::SandboxNotRunning {
                state: other.to_string(),
            })
        }
    }
    reload(&state, &principal, &id).await
}

async fn touch(state: &AppState, row: &SandboxRow, timeout_secs: Option<u64>) -> ApiResult<()> {
    let reported = agent_of(state, row)
        .await?
        .set_timeout(&row.id, timeout_secs)
        .await
        .map_err(agent_error)?;
    let secs = timeout_secs.and_then(|s| i64::try_from(s).ok());
    db::sandboxes::set_timeout_at(&state.db, &row.id, reported.timeout_at_ms, secs).await?;
    Ok(())
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
    let row = load(&state, &principal, &id).await?;
    require_running(&row)?;
    touch(&state, &row, Some(body.timeout_secs)).await?;
    reload(&state, &principal, &id).await
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
    let row = load(&state, &principal, &id).await?;
    require_running(&row)?;
    touch(&state, &row, None).await?;
    reload(&state, &principal, &id).await
}
