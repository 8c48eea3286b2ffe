//! `PUT /v1/admin/users/{user_id}/admin`: granting and revoking platform
//! administration (platform admins only; the rules: `service::admin`).
use axum::{extract::State, Json};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    extract::{ApiJson, ApiPath},
    views::User,
};
use wrenn_types::UserId;

use crate::{auth::Principal, error::ApiResult, service::admin, state::AppState};

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
    let user_id = UserId::try_from(user_id).ok();
    let user = admin::set_admin(&state.db, &principal, user_id.as_ref(), body.is_admin).await?;
    Ok(Json(User::from(&user)))
}
