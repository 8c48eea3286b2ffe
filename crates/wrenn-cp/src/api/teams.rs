//! `GET /v1/teams` and `POST /v1/teams`: the caller's teams. Teams are a
//! user concept: API keys, which belong to one team, are refused here (the
//! rules: `service::teams`).
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{extract::ApiJson, input, views::Team};
use crate::{auth::Principal, error::ApiResult, service::teams, state::AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_teams, create_team))
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
