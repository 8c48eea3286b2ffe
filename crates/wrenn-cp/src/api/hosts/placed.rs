//! `GET /v1/hosts/{id}/sandboxes`: what deleting a host would destroy.
use axum::{extract::State, Json};
use serde::Serialize;

use super::parse_host;
use crate::{
    api::extract::ApiPath, auth::Principal, error::ApiResult, lifecycle::SandboxState,
    service::hosts, state::AppState,
};

/// A sandbox placed on the host.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlacedSandbox {
    pub id: String,
    pub team_id: String,
    pub state: SandboxState,
    pub template: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlacedSandboxes {
    /// Oldest first.
    pub sandboxes: Vec<PlacedSandbox>,
}

/// The pending and live sandboxes on a host (platform admins, or owners of
/// the team of a bring-your-own-cloud host): those `DELETE
/// /v1/hosts/{id}?force=true` would destroy.
#[utoipa::path(get, path = "/v1/hosts/{id}/sandboxes", operation_id = "host_sandboxes", tag = "hosts",
    params(("id" = String, Path)),
    responses((status = 200, body = PlacedSandboxes), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn host_sandboxes(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PlacedSandboxes>> {
    let placed = hosts::sandboxes_on_host(&state.db, &principal, &parse_host(&id)?).await?;
    Ok(Json(PlacedSandboxes {
        sandboxes: placed
            .into_iter()
            .map(|s| PlacedSandbox {
                id: s.id,
                team_id: s.team_id,
                state: s.state,
                template: s.template,
            })
            .collect(),
    }))
}
