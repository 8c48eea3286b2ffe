//! `GET /v1/me`: who the credential is and which team the request acts on.
use axum::{extract::State, Json};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::views::{Team, User};
use crate::{
    auth::{Actor, Principal},
    db,
    error::{ApiError, ApiResult},
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
    match &principal.actor {
        Actor::User { user_id, .. } => {
            let user =
                db::users::get(&state.db, user_id)
                    .await?
                    .ok_or(ApiError::Unauthenticated(
                        "the token's user no longer exists",
                    ))?;
            let teams: Vec<Team> = db::teams::list_for_user(&state.db, user_id)
                .await?
                .iter()
                .map(Team::from)
                .collect();
            let team = teams
                .iter()
                .find(|t| t.id == principal.team_id)
                .cloned()
                .ok_or(ApiError::NotFound { what: "team" })?;
            Ok(Json(Me {
                user: Some(User::from(&user)),
                team,
                teams,
            }))
        }
        Actor::ApiKey { .. } => {
            let (name, personal) = db::teams::name(&state.db, &principal.team_id)
                .await?
                .ok_or(ApiError::NotFound { what: "team" })?;
            let team = Team {
                id: principal.team_id.clone(),
                name,
                role: principal.role,
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
