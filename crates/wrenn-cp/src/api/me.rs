//! `GET /v1/me`: who the credential is and which team the request acts on
//! (the rules: `service::accounts`).
use axum::{extract::State, Json};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::views::{Team, User};
use crate::{
    auth::Principal,
    error::ApiResult,
    service::accounts::{self, WhoAmI},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The user; `null` when the credential is an API key.
    pub user: Option<User>,
    /// The team this request acts on.
    pub team: Team,
    /// Every team the user belongs to (for an API key: its one team).
    pub teams: Vec<Team>,
}

/// The caller, the team this request acts on and the caller's teams.
#[utoipa::path(get, path = "/v1/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
async fn me(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Me>> {
    match accounts::who_am_i(&state.db, &principal).await? {
        WhoAmI::User { user, team, teams } => Ok(Json(Me {
            user: Some(User::from(&user)),
            team: Team::from(&team),
            teams: teams.iter().map(Team::from).collect(),
        })),
        WhoAmI::ApiKey {
            team_id,
            name,
            personal,
            role,
        } => {
            let team = Team {
                id: team_id,
                name,
                role,
                personal,
            };
            Ok(Json(Me {
                user: None,
                teams: vec![team.clone()],
                team,
            }))
        }
    }
}
