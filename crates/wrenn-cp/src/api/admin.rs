//! `PUT /v1/admin/users/{user_id}/admin`: granting and revoking platform
//! administration (platform admins only).
use axum::{extract::State, Json};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    extract::{ApiJson, ApiPath},
    views::User,
};
use crate::{
    audit::{self, Outcome},
    auth::Principal,
    db,
    error::{ApiError, ApiResult},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_admin))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAdmin {
    pub is_admin: bool,
}

/// Makes a user a platform admin, or not.
#[utoipa::path(put, path = "/v1/admin/users/{user_id}/admin", tag = "admin",
    params(("user_id" = String, Path)), request_body = SetAdmin,
    responses((status = 200, body = User), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
async fn set_admin(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<SetAdmin>,
) -> ApiResult<Json<User>> {
    if !principal.is_platform_admin() {
        return Err(ApiError::Forbidden("only platform admins may do this"));
    }
    let user = db::accounts::set_admin(&state.db, &user_id, body.is_admin)
        .await?
        .ok_or(ApiError::NotFound { what: "user" })?;
    let detail = if body.is_admin { "granted" } else { "revoked" };
    audit::record(
        &state.db,
        &principal,
        "user.set_admin",
        ("user", &user.id),
        Outcome::Ok,
        detail,
    )
    .await;
    tracing::info!(user_id = %user.id, is_admin = body.is_admin, "platform admin flag changed");
    Ok(Json(User::from(&user)))
}
