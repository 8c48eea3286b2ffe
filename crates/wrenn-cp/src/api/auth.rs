//! `POST /v1/auth/signup` and `POST /v1/auth/login`: accounts and sessions
//! (the rules: `service::accounts`).
use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    extract::ApiJson,
    input::{self, Email},
    rate_limit::Limits,
    views::{Session, Team},
};
use crate::{
    auth::{lockout::Policy, Role},
    error::ApiResult,
    service::accounts,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub email: String,
    /// 8 characters at least, 1024 bytes at most.
    pub password: String,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Creates a user with a personal team and logs them in. The deployment's
/// first user becomes its platform admin. Limited per client address
/// (`429 rate_limited` with `Retry-After`).
#[utoipa::path(post, path = "/v1/auth/signup", tag = "auth", security(()),
    request_body = SignupRequest,
    responses((status = 201, body = Session), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody),
              (status = 429, description = "rate_limited: too many signups and logins from this address; see `Retry-After`", body = crate::error::ErrorBody)))]
async fn signup(
    State(state): State<AppState>,
    limits: Limits,
    ApiJson(body): ApiJson<SignupRequest>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    limits.check_auth()?;
    let email = Email::parse(&body.email)?;
    let password = input::new_password(&body.password)?.to_owned();
    let name = match body.name.as_deref() {
        Some(raw) => input::name(raw, "name")?,
        None => String::new(),
    };
    let signup = accounts::NewSignup {
        email: email.as_str(),
        name: &name,
        password,
    };
    let account = accounts::signup(&state.db, signup).await?;
    let team = Team {
        id: account.team_id,
        name: account.team_name,
        role: Role::Owner,
        personal: true,
    };
    Ok((
        StatusCode::CREATED,
        Json(Session::issue(&state, &account.user, team)),
    ))
}

/// Exchanges an email and password for a user token. Limited per client
/// address (`429 rate_limited`); a run of wrong passwords locks the account
/// for that address, then for every address, for a growing time (`429
/// too_many_attempts`, even with the right password), both with `Retry-After`.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses((status = 200, body = Session), (status = 401, body = crate::error::ErrorBody),
              (status = 429, description = "rate_limited (this address) or too_many_attempts (the account is locked after repeated wrong passwords); see `Retry-After`", body = crate::error::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    limits: Limits,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<Session>> {
    limits.check_auth()?;
    let config = &state.config.rate_limits;
    let policy = Policy {
        client_after: config.lockout_after,
        account_after: config.account_lockout_after,
        base: config.lockout_base,
        max: config.lockout_max,
    };
    let client = limits.client();
    let attempt = accounts::LoginAttempt {
        email: &body.email,
        password: body.password,
        client: &client,
    };
    let accounts::LoggedIn { user, team } = accounts::login(&state.db, &policy, attempt).await?;
    Ok(Json(Session::issue(&state, &user, Team::from(&team))))
}
