//! `POST /v1/hosts/{id}/heartbeat`: a registered agent says it is alive and
//! how loaded it is. Authenticated by its host JWT (`X-Host-Token`), which
//! must name the host in the path. A host that was unreachable comes back
//! `online` and its sandboxes are reconciled against the agent's list.
use axum::{extract::State, http::HeaderMap, Json};
use wrenn_types::host_wire::{HeartbeatAnswer, HeartbeatRequest};

use crate::{
    api::extract::{ApiJson, ApiPath},
    audit::{self, Outcome},
    auth::jwt::{TokenError, TokenType},
    db::{
        self,
        hosts::{HostLoad, HostStatus},
    },
    error::{ApiError, ApiResult, HostError},
    state::AppState,
};

/// Clock differences above this are logged (instants are the control
/// plane's, so skew never fails a heartbeat).
const SKEW_WARN_MS: i64 = 5_000;

/// Records a heartbeat of a registered host.
#[utoipa::path(post, path = "/v1/hosts/{id}/heartbeat", tag = "hosts", params(("id" = String, Path)),
    request_body = HeartbeatRequest,
    security(("host_token" = [])),
    responses(
        (status = 200, body = HeartbeatAnswer),
        (status = 401, description = "invalid_host_token", body = crate::error::ErrorBody),
        (status = 403, description = "host_mismatch", body = crate::error::ErrorBody),
        (status = 410, description = "host_deleted: stop the agent", body = crate::error::ErrorBody)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<HeartbeatRequest>,
) -> ApiResult<Json<HeartbeatAnswer>> {
    let outcome = try_heartbeat(&state, &headers, &id, &request).await;
    if let Err(ApiError::Host(err)) = &outcome {
        audit::write(
            &state.db,
            db::audit::NewAuditEvent {
                team_id: None,
                actor_type: "host",
                actor_id: &id,
                action: "host.heartbeat",
                resource_type: "host",
                resource_id: &id,
                outcome: Outcome::Denied.as_str(),
                detail: &err.to_string(),
            },
        )
        .await;
    }
    outcome.map(Json)
}

async fn try_heartbeat(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    request: &HeartbeatRequest,
) -> ApiResult<HeartbeatAnswer> {
    let token = headers
        .get("x-host-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or(HostError::InvalidHostToken(
            "missing X-Host-Token: send the host token from registration",
        ))?;
    let claims = state
        .jwt
        .verify(token, TokenType::Host)
        .map_err(|err| match err {
            TokenError::WrongType { .. } => {
                HostError::InvalidHostToken("a user token cannot be used as a host token")
            }
            TokenError::Expired => {
                HostError::InvalidHostToken("the host token has expired; register the host again")
            }
            TokenError::Invalid => {
                HostError::InvalidHostToken("the host token is malformed or its signature is wrong")
            }
        })?;
    if claims.sub != id {
        return Err(HostError::HostMismatch(id.to_owned()).into());
    }
    let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let load = HostLoad {
        free_vcpus: i64::from(request.free.vcpus),
        free_memory_mb: to_i64(request.free.memory_mb),
        free_disk_mb: to_i64(request.free.disk_mb),
        sandboxes_running: i64::from(request.load.sandboxes_running),
        sandboxes_paused: i64::from(request.load.sandboxes_paused),
    };
    let now = db::now_ms();
    let skew = request.sent_at_ms.saturating_sub(now);
    if skew.abs() > SKEW_WARN_MS {
        tracing::warn!(
            host_id = id,
            clock_skew_ms = skew,
            "host clock differs from the control plane's"
        );
    }
    // A token we signed for a host that has no record: it was deleted.
    let before = db::hosts::heartbeat(&state.db, id, &load, skew)
        .await?
        .ok_or_else(|| HostError::HostDeleted(id.to_owned()))?;
    // Every replica's connection follows the record (docs/hosts.md).
    if let Ok(host_id) = wrenn_types::HostId::try_from(id) {
        if let Err(err) = state.hosts.refresh(&host_id).await {
            tracing::warn!(host_id = id, error = %err, "cannot dial a heartbeating host");
        }
    }
    if before == HostStatus::Unreachable {
        tracing::info!(host_id = id, "host is back online");
        audit::write(
            &state.db,
            db::audit::NewAuditEvent {
                team_id: None,
                actor_type: "system",
                actor_id: "host-monitor",
                action: "host.online",
                resource_type: "host",
                resource_id: id,
                outcome: Outcome::Ok.as_str(),
                detail: "heartbeats resumed",
            },
        )
        .await;
        let (state, id) = (state.clone(), id.to_owned());
        tokio::spawn(async move {
            if let Err(err) = crate::reconcile::reconcile_host(&state, &id).await {
                tracing::warn!(host_id = %id, error = %err, "reconcile of a returning host failed");
            }
        });
    }
    Ok(HeartbeatAnswer {
        status: HostStatus::Online.as_str().to_owned(),
        heartbeat_interval_secs: state.config.heartbeat_interval_secs,
        server_time_ms: now,
        clock_skew_ms: skew,
    })
}
