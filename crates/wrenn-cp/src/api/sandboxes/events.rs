//! `GET /v1/sandboxes/{id}/events`: the sandbox's recorded history (the
//! dashboard's event list).
use axum::{extract::State, Json};
use serde::Serialize;

use super::sandbox_id;
use crate::{
    api::{extract::ApiPath, rfc3339},
    auth::Principal,
    error::ApiResult,
    service::sandboxes as service,
    state::AppState,
};

/// What kind of event: today only state transitions are recorded.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SandboxEventKind {
    StateChange,
}

/// One event of a sandbox's history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SandboxEvent {
    /// RFC 3339.
    pub at: String,
    pub kind: SandboxEventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_state: Option<String>,
    /// Why, when it was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SandboxEvents {
    /// Oldest first.
    pub events: Vec<SandboxEvent>,
}

fn present(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// The sandbox's state transitions, oldest first.
#[utoipa::path(
    get, path = "/v1/sandboxes/{id}/events", operation_id = "sandbox_events", tag = "sandboxes",
    params(("id" = String, Path)),
    responses((status = 200, body = SandboxEvents), (status = 404, body = crate::error::ErrorBody))
)]
pub async fn events(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SandboxEvents>> {
    let events = service::events(&state, &principal.team_id, &sandbox_id(&id)?).await?;
    Ok(Json(SandboxEvents {
        events: events
            .into_iter()
            .map(|e| SandboxEvent {
                at: rfc3339(e.at),
                kind: SandboxEventKind::StateChange,
                from_state: present(e.from_state),
                to_state: present(e.to_state),
                detail: present(e.reason),
            })
            .collect(),
    }))
}
