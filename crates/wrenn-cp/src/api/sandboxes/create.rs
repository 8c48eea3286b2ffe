//! `POST /v1/sandboxes`: record, place, boot, and answer once envd is ready.
use axum::{extract::State, http::StatusCode, Json};

use super::{
    agent_error,
    types::{CreateSandbox, OnTimeout, Sandbox},
};
use crate::{
    agent::{AgentCreate, AgentError, AgentState},
    api::extract::ApiJson,
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

/// Creates a sandbox and returns once it is `running` (envd answered).
#[utoipa::path(
    post, path = "/v1/sandboxes", operation_id = "create_sandbox", tag = "sandboxes",
    request_body = CreateSandbox,
    responses(
        (status = 201, body = Sandbox),
        (status = 404, description = "template_not_found", body = crate::error::ErrorBody),
        (status = 422, description = "validation_failed", body = crate::error::ErrorBody),
        (status = 429, description = "quota_exceeded", body = crate::error::ErrorBody),
        (status = 503, description = "no_capacity / agent_unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<CreateSandbox>,
) -> ApiResult<(StatusCode, Json<Sandbox>)> {
    request.validate()?;
    // The work continues if the client goes away, so a disconnect cannot
    // leave a half-created sandbox behind.
    let task = tokio::spawn(async move { place_and_create(&state, &principal, &request).await });
    let sandbox = task.await.map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(sandbox)))
}

/// Hosts tried for one create: the scheduler's view of free capacity can
/// be a heartbeat old, so a host that answers "full" is skipped and the
/// next best one tried.
const MAX_PLACEMENTS: usize = 3;

/// Why one placement attempt failed.
enum Attempt {
    Failed(ApiError),
    /// The chosen host had no room after all; nothing was kept.
    HostFull {
        host_id: String,
        error: ApiError,
    },
}

impl From<ApiError> for Attempt {
    fn from(err: ApiError) -> Self {
        Self::Failed(err)
    }
}

impl From<sqlx::Error> for Attempt {
    fn from(err: sqlx::Error) -> Self {
        Self::Failed(err.into())
    }
}

async fn place_and_create(
    state: &AppState,
    principal: &Principal,
    request: &CreateSandbox,
) -> ApiResult<Sandbox> {
    let mut full_hosts = Vec::new();
    let mut last_refusal = None;
    loop {
        match create_sandbox(state, principal, request, &full_hosts).await {
            Ok(sandbox) => return Ok(sandbox),
            // No other host fits: the full host's own answer says more.
            Err(Attempt::Failed(ApiError::NoCapacity(_))) if last_refusal.is_some() => {
                return Err(last_refusal.unwrap_or(ApiError::NoCapacity(String::new())));
            }
            Err(Attempt::Failed(err)) => return Err(err),
            Err(Attempt::HostFull { host_id, error }) => {
                tracing::info!(
                    host_id,
                    "host refused a create for lack of room; trying another"
                );
                full_hosts.push(host_id);
                if full_hosts.len() >= MAX_PLACEMENTS {
                    return Err(error);
                }
                last_refusal = Some(error);
            }
        }
    }
}

async fn create_sandbox(
    state: &AppState,
    principal: &Principal,
    request: &CreateSandbox,
    full_hosts: &[String],
) -> Result<Sandbox, Attempt> {
    let name = request.template.clone().unwrap_or_else(|| "base".into());
    let template = db::templates::resolve(&state.db, &principal.team_id, &name)
        .await?
        .ok_or_else(|| ApiError::TemplateNotFound(name.clone()))?;
    let live = db::sandboxes::count_live(&state.db, &principal.team_id).await?;
    if live >= i64::from(state.config.max_sandboxes_per_team) {
        return Err(ApiError::QuotaExceeded(format!(
            "the team already has {live} live sandboxes (the limit is {}); destroy some first",
            state.config.max_sandboxes_per_team
        ))
        .into());
    }
    let vcpus = request.vcpus.map_or(template.vcpus, i64::from);
    let memory_mb = request.memory_mb.map_or(template.memory_mb, i64::from);
    let disk_mb = request
        .disk_mb
        .and_then(|d| i64::try_from(d).ok())
        .or(template.disk_mb);
    let host_id = crate::scheduler::place(
        state,
        &crate::scheduler::Requirements {
            team_id: &principal.team_id,
            vcpus,
            memory_mb,
            disk_mb,
            tags: request.tags.as_deref().unwrap_or_default(),
            template_host: template.host_id.as_deref(),
            exclude: full_hosts,
        },
    )
    .await?;
    let agent = state
        .hosts
        .agent(&host_id)
        .await
        .map_err(|_| ApiError::AgentUnavailable("the chosen host is not connected".into()))?;
    let now = db::now_ms();
    let timeout_secs = request
        .timeout_secs
        .unwrap_or(state.config.default_timeout_secs);
    let on_timeout = request.on_timeout.unwrap_or_default();
    let row = SandboxRow {
        id: crate::auth::random_token(20).to_lowercase(),
        team_id: principal.team_id.clone(),
        host_id: Some(host_id),
        template: template.name.clone(),
        template_image: template.image.clone(),
        state: SandboxState::Pending,
        reason: String::new(),
        vcpus,
        memory_mb,
        disk_mb,
        timeout_secs: i64::try_from(timeout_secs).unwrap_or(i64::MAX),
        on_timeout: match on_timeout {
            OnTimeout::Kill => "kill".into(),
            OnTimeout::Pause => "pause".into(),
        },
        metadata: request.metadata.clone().unwrap_or_default(),
        internet: request.internet.unwrap_or(true),
        egress_allow: request.egress_allow.clone().unwrap_or_default(),
        egress_deny: request.egress_deny.clone().unwrap_or_default(),
        from_snapshot: false,
        created_by: principal.audit_actor().1.to_owned(),
        created_at: now,
        started_at: None,
        timeout_at: None,
        updated_at: now,
    };
    db::sandboxes::insert(&state.db, &row).await?;
    db::sandboxes::transition(
        &state.db,
        &row.id,
        SandboxState::Starting,
        "",
        TransitionExtras::default(),
    )
    .await?;
    let call = AgentCreate {
        id: row.id.clone(),
        template_image: row.template_image.clone(),
        vcpus: u32::try_from(row.vcpus).unwrap_or(1),
        memory_mb: u32::try_from(row.memory_mb).unwrap_or(512),
        disk_mb: row.disk_mb.and_then(|d| u64::try_from(d).ok()),
        timeout_secs,
        pause_on_timeout: on_timeout == OnTimeout::Pause,
        env_vars: request.env_vars.clone().unwrap_or_default(),
        metadata: row.metadata.clone(),
        internet: row.internet,
        egress_allow: row.egress_allow.clone(),
        egress_deny: row.egress_deny.clone(),
    };
    let resource = ("sandbox", row.id.as_str());
    match agent.create(call).await {
        Ok(created) if created.state == AgentState::Running => {
            let extras = TransitionExtras {
                started_at: Some(db::now_ms()),
                timeout_at: Some(created.timeout_at_ms),
                from_snapshot: Some(created.from_snapshot),
            };
            db::sandboxes::transition(&state.db, &row.id, SandboxState::Running, "", extras)
                .await?;
            audit::record(
                &state.db,
                principal,
                "sandbox.create",
                resource,
                Outcome::Ok,
                &template.name,
            )
            .await;
            let row = db::sandboxes::get(&state.db, &principal.team_id, &row.id)
                .await?
                .ok_or(ApiError::NotFound { what: "sandbox" })?;
            Ok(row.into())
        }
        Ok(created) => {
            let reason = format!(
                "the host reported the new sandbox as {:?}: {}",
                created.state, created.reason
            );
            fail(state, principal, &row.id, &reason, agent.as_ref()).await;
            Err(ApiError::AgentUnavailable(reason).into())
        }
        Err(err) => {
            let client_error = matches!(
                err,
                AgentError::InvalidArgument(_) | AgentError::Exhausted(_) | AgentError::NotFound(_)
            );
            fail(state, principal, &row.id, &err.to_string(), agent.as_ref()).await;
            if client_error {
                // Nothing was created: the record goes too, so the list
                // shows no sandbox that never existed.
                db::sandboxes::delete(&state.db, &row.id).await?;
            }
            Err(match err {
                AgentError::NotFound(_) => ApiError::TemplateNotFound(template.name).into(),
                AgentError::Exhausted(_) => Attempt::HostFull {
                    host_id: row.host_id.clone().unwrap_or_default(),
                    error: agent_error(err),
                },
                other => agent_error(other).into(),
            })
        }
    }
}

/// Marks a failed create as `error`, audits it, and asks the host to drop
/// whatever it kept of it.
async fn fail(
    state: &AppState,
    principal: &Principal,
    id: &str,
    reason: &str,
    agent: &dyn crate::agent::AgentApi,
) {
    tracing::warn!(sandbox_id = id, reason, "sandbox create failed");
    if let Err(err) = db::sandboxes::transition(
        &state.db,
        id,
        SandboxState::Error,
        reason,
        TransitionExtras::default(),
    )
    .await
    {
        tracing::error!(sandbox_id = id, error = %err, "cannot record the failed create");
    }
    if let Err(err) = agent.destroy(id).await {
        if !matches!(err, AgentError::NotFound(_)) {
            tracing::warn!(sandbox_id = id, error = %err, "cannot clean up the failed sandbox on its host");
        }
    }
    audit::record(
        &state.db,
        principal,
        "sandbox.create",
        ("sandbox", id),
        Outcome::Failed,
        reason,
    )
    .await;
}
