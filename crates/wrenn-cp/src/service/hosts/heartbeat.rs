//! Heartbeats (docs/hosts.md, "Heartbeats"): a registered agent says it is
//! alive and how loaded it is, authenticated by its host JWT, which must
//! name the host. A host that was unreachable comes back `online` and its
//! sandboxes are reconciled; every heartbeat refreshes this replica's
//! connection to the host. Refusals are audited.
use wrenn_types::{
    host_wire::{HeartbeatAnswer, HeartbeatRequest},
    ErrorCode,
};

use crate::{
    audit::{self, Outcome},
    auth::jwt::{TokenError, TokenType},
    db::{
        self,
        hosts::{HostLoad, HostStatus},
    },
    state::AppState,
};

/// Clock differences above this are logged (instants are the control
/// plane's, so skew never fails a heartbeat).
const SKEW_WARN_MS: i64 = 5_000;

/// Why a heartbeat was refused.
#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    #[error("{0}")]
    InvalidHostToken(&'static str),
    #[error("the host token belongs to another host than {0}")]
    HostMismatch(String),
    #[error("host {0} was deleted from the control plane; stop this agent, delete its token file and register again")]
    HostDeleted(String),
    #[error("cannot read or write the host record")]
    Database(#[from] sqlx::Error),
}

impl HeartbeatError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidHostToken(_) => ErrorCode::InvalidHostToken,
            Self::HostMismatch(_) => ErrorCode::HostMismatch,
            Self::HostDeleted(_) => ErrorCode::HostDeleted,
            Self::Database(_) => ErrorCode::Internal,
        }
    }
}

/// Records a heartbeat of host `id`; `token` is its `X-Host-Token`.
pub async fn heartbeat(
    state: &AppState,
    token: Option<&str>,
    id: &str,
    request: &HeartbeatRequest,
) -> Result<HeartbeatAnswer, HeartbeatError> {
    let outcome = try_heartbeat(state, token, id, request).await;
    match &outcome {
        Err(HeartbeatError::Database(_)) | Ok(_) => {}
        Err(err) => {
            audit::write(
                &state.db,
                db::audit::NewAuditEvent {
                    team_id: None,
                    actor_type: "host",
                    actor_id: id,
                    action: "host.heartbeat",
                    resource_type: "host",
                    resource_id: id,
                    outcome: Outcome::Denied.as_str(),
                    detail: &err.to_string(),
                },
            )
            .await;
        }
    }
    if let Err(HeartbeatError::HostDeleted(_)) = &outcome {
        // Deleted through another replica: forget the connection here too.
        if let Ok(host_id) = wrenn_types::HostId::try_from(id) {
            state.hosts.forget(&host_id);
        }
    }
    outcome
}

async fn try_heartbeat(
    state: &AppState,
    token: Option<&str>,
    id: &str,
    request: &HeartbeatRequest,
) -> Result<HeartbeatAnswer, HeartbeatError> {
    let token = token
        .map(str::trim)
        .ok_or(HeartbeatError::InvalidHostToken(
            "missing X-Host-Token: send the host token from registration",
        ))?;
    let claims = state
        .jwt
        .verify(token, TokenType::Host)
        .map_err(|err| match err {
            TokenError::WrongType { .. } => {
                HeartbeatError::InvalidHostToken("a user token cannot be used as a host token")
            }
            TokenError::Expired => HeartbeatError::InvalidHostToken(
                "the host token has expired; register the host again",
            ),
            TokenError::Invalid => HeartbeatError::InvalidHostToken(
                "the host token is malformed or its signature is wrong",
            ),
        })?;
    if claims.sub != id {
        return Err(HeartbeatError::HostMismatch(id.to_owned()));
    }
    let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let load = HostLoad {
        free_vcpus: i64::from(request.free.vcpus),
        free_memory_mb: to_i64(request.free.memory_mb),
        free_disk_mb: to_i64(request.free.disk_mb),
        sandboxes_running: i64::from(request.load.sandboxes_running),
        sandboxes_paused: i64::from(request.load.sandboxes_paused),
        warm_pools: request.load.warm_pools.clone(),
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
        .ok_or_else(|| HeartbeatError::HostDeleted(id.to_owned()))?;
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
