//! One sandbox: detail, kill, timeout, pause (with or without memory),
//! resume and connect, each one call of `service::sandboxes`, with E2B's
//! status codes (kill 204, pause 204 or 409 when already paused, connect
//! 200 when it was running and 201 when it was resumed).
use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;

use super::{
    create::DEFAULT_TIMEOUT_SECS,
    error::{E2bError, E2bResult},
    extract::{Body, Caller, OptionalBody, SandboxPath},
    views::{visible, Created, Detail},
};
use crate::{
    api::sandboxes::types::TIMEOUT_SECS,
    lifecycle::SandboxState,
    service::sandboxes::{self as service, Connected},
    state::AppState,
};

/// `GET /sandboxes/{sandboxID}`.
pub async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    SandboxPath(id): SandboxPath,
) -> E2bResult<Json<Detail>> {
    let row = visible(service::get(&state, &principal.team_id, &id).await?)?;
    // The token only while it runs; a host that cannot be asked now leaves
    // it out rather than failing the read.
    let token = match row.state {
        SandboxState::Running => service::envd_access_token(&state, &row)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(sandbox_id = %row.id, error = %err, "envd token unavailable");
                None
            }),
        _ => None,
    };
    Ok(Json(Detail::of(&state, row, token.as_ref())?))
}

/// `DELETE /sandboxes/{sandboxID}`: 204, or 404 for a sandbox that is
/// unknown, another team's, or already gone.
pub async fn kill(
    State(state): State<AppState>,
    Caller(principal): Caller,
    SandboxPath(id): SandboxPath,
) -> E2bResult<StatusCode> {
    let row = service::get(&state, &principal.team_id, &id).await?;
    if matches!(row.state, SandboxState::Stopped | SandboxState::Error) {
        return Err(E2bError::sandbox_not_found());
    }
    service::destroy(&state, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutBody {
    timeout: i64,
}

/// `POST /sandboxes/{sandboxID}/timeout {timeout}`: the deadline becomes
/// `timeout` seconds from now; 0 takes the timeout action at once.
pub async fn set_timeout(
    State(state): State<AppState>,
    Caller(principal): Caller,
    SandboxPath(id): SandboxPath,
    Body(body): Body<TimeoutBody>,
) -> E2bResult<StatusCode> {
    visible(service::get(&state, &principal.team_id, &id).await?)?;
    match u64::try_from(body.timeout) {
        Ok(0) => {
            service::time_out_now(&state, &principal, &id).await?;
        }
        Ok(secs) if TIMEOUT_SECS.contains(&secs) => {
            service::set_timeout(&state, &principal, &id, secs).await?;
        }
        _ => {
            return Err(E2bError::bad_request(format!(
                "timeout must be between 0 and {} seconds",
                TIMEOUT_SECS.end()
            )))
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseBody {
    /// `false`: keep only the filesystem; the next resume boots afresh.
    memory: Option<bool>,
    #[serde(rename = "requireHealthyGuest")]
    _require_healthy_guest: Option<bool>,
}

/// `POST /sandboxes/{sandboxID}/pause {memory?}`: 204; 409 when already
/// paused. `memory: false` keeps only the disk (processes end).
pub async fn pause(
    State(state): State<AppState>,
    Caller(principal): Caller,
    SandboxPath(id): SandboxPath,
    OptionalBody(body): OptionalBody<PauseBody>,
) -> E2bResult<StatusCode> {
    let row = visible(service::get(&state, &principal.team_id, &id).await?)?;
    if row.state == SandboxState::Paused {
        return Err(E2bError::conflict("sandbox is already paused"));
    }
    service::pause_keeping(&state, &principal, &id, body.memory.unwrap_or(true)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectBody {
    timeout: Option<i64>,
    /// `false` asks for a fresh boot on the same disk (not supported yet).
    memory: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectBodyV1 {
    timeout: i64,
    memory: Option<bool>,
}

/// `POST /sandboxes/{sandboxID}/connect {timeout}` (the 2.4x SDKs).
pub async fn connect_v1(
    state: State<AppState>,
    caller: Caller,
    path: SandboxPath,
    Body(body): Body<ConnectBodyV1>,
) -> E2bResult<(StatusCode, Json<Created>)> {
    let body = ConnectBody {
        timeout: Some(body.timeout),
        memory: body.memory,
    };
    connect(state, caller, path, OptionalBody(body)).await
}

/// `POST /v2/sandboxes/{sandboxID}/connect {timeout?, memory?}`: 200 when
/// it was running (its deadline moves only later), 201 when it was paused
/// and is resumed.
pub async fn connect(
    State(state): State<AppState>,
    Caller(principal): Caller,
    SandboxPath(id): SandboxPath,
    OptionalBody(body): OptionalBody<ConnectBody>,
) -> E2bResult<(StatusCode, Json<Created>)> {
    if body.memory == Some(false) {
        return Err(E2bError::bad_request(
            "memory: false (resuming with a fresh boot) is not supported by this Wrenn",
        ));
    }
    let timeout = timeout_secs(body.timeout)?;
    visible(service::get(&state, &principal.team_id, &id).await?)?;
    let (row, how) = service::connect_until(&state, &principal, &id, timeout).await?;
    let token = service::envd_access_token(&state, &row)
        .await?
        .ok_or_else(|| E2bError::unavailable("the sandbox is not running"))?;
    let status = match how {
        Connected::WasRunning => StatusCode::OK,
        Connected::Resumed => StatusCode::CREATED,
    };
    Ok((status, Json(Created::new(&state, &row, &token))))
}

/// `POST /sandboxes/{sandboxID}/resume {timeout?}` (older SDKs): 201; 409
/// when it is running.
pub async fn resume(
    State(state): State<AppState>,
    Caller(principal): Caller,
    SandboxPath(id): SandboxPath,
    OptionalBody(body): OptionalBody<ConnectBody>,
) -> E2bResult<(StatusCode, Json<Created>)> {
    let timeout = timeout_secs(body.timeout)?;
    let row = visible(service::get(&state, &principal.team_id, &id).await?)?;
    if row.state == SandboxState::Running {
        return Err(E2bError::conflict("sandbox is already running"));
    }
    let (row, _) = service::connect_until(&state, &principal, &id, timeout).await?;
    let token = service::envd_access_token(&state, &row)
        .await?
        .ok_or_else(|| E2bError::unavailable("the sandbox is not running"))?;
    Ok((
        StatusCode::CREATED,
        Json(Created::new(&state, &row, &token)),
    ))
}

fn timeout_secs(timeout: Option<i64>) -> E2bResult<u64> {
    let Some(timeout) = timeout else {
        return Ok(DEFAULT_TIMEOUT_SECS);
    };
    u64::try_from(timeout)
        .ok()
        .filter(|t| TIMEOUT_SECS.contains(t))
        .ok_or_else(|| {
            E2bError::bad_request(format!(
                "timeout must be between {} and {} seconds",
                TIMEOUT_SECS.start(),
                TIMEOUT_SECS.end()
            ))
        })
}
