//! `GET /v1/teams`, `POST /v1/teams` and `DELETE /v1/teams/{team_id}`: the
//! caller's teams. Teams are a user concept: API keys, which belong to one
//! team, are refused here (the rules: `service::teams`, deletion:
//! `service::deletion`).
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    extract::{ApiJson, ApiPath},
    input,
    views::Team,
};
use crate::{
    auth::Principal,
    error::{ApiError, ApiResult},
    service::{deletion, teams},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(delete_team))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamList {
    pub teams: Vec<Team>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    pub name: String,
}

/// The teams the caller belongs to, personal team first.
#[utoipa::path(get, path = "/v1/teams", tag = "teams",
    responses((status = 200, body = TeamList), (status = 403, body = crate::error::ErrorBody)))]
async fn list_teams(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<TeamList>> {
    let user_id = principal.require_user()?;
    let teams = teams::list(&state.db, user_id).await?;
    Ok(Json(TeamList {
        teams: teams.iter().map(Team::from).collect(),
    }))
}

/// Creates a shared team; the caller becomes its owner.
#[utoipa::path(post, path = "/v1/teams", tag = "teams", request_body = CreateTeam,
    responses((status = 201, body = Team), (status = 403, description = "forbidden: needs a user login, not an API key", body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_team(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateTeam>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    let user_id = principal.require_user()?;
    let name = input::name(&body.name, "name")?;
    let team = teams::create(&state.db, user_id, &name).await?;
    Ok((StatusCode::CREATED, Json(Team::from(&team))))
}

/// Deletes a shared team (owners only): destroys its sandboxes on their
/// hosts, deletes its templates, revokes its API keys and removes its
/// memberships and records; its audit events stay. Refused while the team
/// owns bring-your-own-cloud hosts (`team_has_hosts`: delete them first)
/// and for personal teams (`conflict`: they go with their user). When a
/// host refuses to destroy a sandbox nothing else is deleted (`503`):
/// retry. A deleted team is `404`.
#[utoipa::path(delete, path = "/v1/teams/{team_id}", tag = "teams",
    params(("team_id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, description = "team_has_hosts, or conflict (a personal team)", body = crate::error::ErrorBody),
              (status = 503, description = "agent_unavailable: a host refused to destroy a sandbox; retry", body = crate::error::ErrorBody)))]
async fn delete_team(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(team_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let team_id =
        wrenn_types::TeamId::try_from(team_id).map_err(|_| ApiError::NotFound { what: "team" })?;
    deletion::delete_team(&state, &principal, &team_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
