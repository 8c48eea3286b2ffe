//! `POST /v1/sandboxes`: validate the body, then create through
//! [`crate::service::sandboxes::create`] (or `create_once` with an
//! `Idempotency-Key`, so that a retried create never makes two sandboxes).
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};

use super::{
    types::{CreateSandbox, Sandbox},
    usable::usable_view,
};
use crate::{
    api::extract::ApiJson,
    auth::Principal,
    error::{ApiError, ApiResult},
    lifecycle::SandboxState,
    service::sandboxes::{self as service, IdempotencyKey, NewSandbox},
    state::AppState,
};

/// Creates a sandbox and returns once it is `running` (envd answered). With
/// `Idempotency-Key` (1-255 of `a-z`, `0-9`, `-`), a retry of the same
/// request within 24 h answers the first one's sandbox instead of making
/// another; the key reused for a different request is `422`.
#[utoipa::path(
    post, path = "/v1/sandboxes", operation_id = "create_sandbox", tag = "sandboxes",
    params(("Idempotency-Key" = Option<String>, Header, description = "makes a retried create answer the first one's sandbox"),
        ("Wrenn-Pool-Wait" = Option<u64>, Header,
        description = "seconds to wait for room when the team's plan queues (at most 600; not with Idempotency-Key)")),
    request_body = CreateSandbox,
    responses(
        (status = 201, body = Sandbox),
        (status = 404, description = "template_not_found", body = crate::error::ErrorBody),
        (status = 409, description = "conflict: the key's first create is still running, or its sandbox ended", body = crate::error::ErrorBody),
        (status = 422, description = "validation_failed", body = crate::error::ErrorBody),
        (status = 429, description = "quota_exceeded / pool_exhausted: the team's pool (vCPUs, memory, storage, running sandboxes) has no room; the message names the limit, what is used and what was asked", body = crate::error::ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait before trying again"))),
        (status = 503, description = "no_capacity / agent_unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateSandbox>,
) -> ApiResult<(StatusCode, Json<Sandbox>)> {
    request.validate()?;
    let row = match idempotency_key(&headers)? {
        None => {
            let wait = pool_wait(&headers)?;
            service::create_waiting(&state, &principal, new_sandbox(request)?, wait).await?
        }
        Some(key) => {
            // Serialised fields in declaration order, maps sorted: equal
            // requests fingerprint equally.
            let canonical = serde_json::to_vec(&request).map_err(ApiError::internal)?;
            let hash = service::request_fingerprint(&canonical);
            let row = service::create_once(&state, &principal, &key, &hash, new_sandbox(request)?)
                .await?;
            if row.state != SandboxState::Running {
                return Err(ApiError::Conflict(format!(
                    "the sandbox this Idempotency-Key created ({}) is {}",
                    row.id, row.state
                )));
            }
            row
        }
    };
    Ok((StatusCode::CREATED, Json(usable_view(&state, row).await?)))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || ApiError::validation(service::BadIdempotencyKey.to_string());
    let key = IdempotencyKey::parse(value.to_str().map_err(|_| bad())?).map_err(|_| bad())?;
    Ok(Some(key))
}

/// The `Wrenn-Pool-Wait` header: seconds a create may wait for room
/// (`None`: the plan's `queue_wait_secs`).
fn pool_wait(headers: &HeaderMap) -> Result<Option<std::time::Duration>, ApiError> {
    let Some(value) = headers.get("wrenn-pool-wait") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|secs| *secs <= service::MAX_POOL_WAIT.as_secs())
        .map(|secs| Some(std::time::Duration::from_secs(secs)))
        .ok_or_else(|| ApiError::validation("Wrenn-Pool-Wait must be 0 to 600 seconds"))
}

/// The service's request for a validated body (also the E2B API's, which
/// rewrites its body into this one).
pub(crate) fn new_sandbox(request: CreateSandbox) -> Result<NewSandbox, ApiError> {
    let template = request.template.unwrap_or_else(|| "base".into());
    Ok(NewSandbox {
        template: super::types::validate_template_ref(&template)?,
        vcpus: request.vcpus,
        memory_mb: request.memory_mb,
        disk_mb: request.disk_mb,
        timeout_secs: request.timeout_secs,
        on_timeout: request.on_timeout.unwrap_or_default(),
        env_vars: request.env_vars.unwrap_or_default(),
        metadata: request.metadata.unwrap_or_default(),
        internet: request.internet.unwrap_or(true),
        egress_allow: request.egress_allow.unwrap_or_default(),
        egress_deny: request.egress_deny.unwrap_or_default(),
        tags: request.tags.unwrap_or_default(),
        auto_resume: request.auto_resume.unwrap_or(false),
        public_traffic: request.public_traffic.unwrap_or(true),
    })
}
