//! `POST /v1/auth/signup` and `POST /v1/auth/login`: accounts and sessions.
use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    extract::ApiJson,
    input::{self, Email},
    views::{Session, Team},
};
use crate::{
    audit::{self, Outcome},
    auth::{password, Role},
    db::{self, accounts::CreateAccountError, audit::NewAuditEvent},
    error::{ApiError, ApiResult},
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

impl From<CreateAccountError> for ApiError {
    fn from(err: CreateAccountError) -> Self {
        match err {
            CreateAccountError::EmailTaken => Self::Conflict(err.to_string()),
            CreateAccountError::Db(source) => Self::internal(source),
        }
    }
}

/// Creates a user with a personal team and logs them in. The deployment's
/// first user becomes its platform admin.
#[utoipa::path(post, path = "/v1/auth/signup", tag = "auth", security(()),
    request_body = SignupRequest,
    responses((status = 201, body = Session), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn signup(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignupRequest>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let email = Email::parse(&body.email)?;
    let password = input::new_password(&body.password)?.to_owned();
    let name = match body.name.as_deref() {
        Some(raw) => input::name(raw, "name")?,
        None => String::new(),
    };
    let owner = if name.is_empty() {
        email.as_str()
    } else {
        &name
    };
    let team_name = format!("{owner}'s team");
    let password_hash = hash_password(password).await?;
    let account = db::accounts::create(
        &state.db,
        &db::accounts::NewAccount {
            email: email.as_str(),
            name: &name,
            password_hash: &password_hash,
            team_name: &team_name,
        },
    )
    .await?;
    let user_id = account.user.id.as_str();
    let team = Team {
        id: account.team_id.clone(),
        name: team_name,
        role: Role::Owner,
        personal: true,
    };
    let event = user_event(Some(&account.team_id), user_id, "user.signup", Outcome::Ok);
    audit::write(&state.db, event).await;
    tracing::info!(user_id, is_admin = account.user.is_admin, "user signed up");
    Ok((
        StatusCode::CREATED,
        Json(Session::issue(&state, &account.user, team)),
    ))
}

const LOGIN_REFUSED: &str = "wrong email or password";

/// Exchanges an email and password for a user token.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses((status = 200, body = Session), (status = 401, body = crate::error::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<Session>> {
    let email = body.email.trim().to_lowercase();
    let user = db::users::by_email(&state.db, &email).await?;
    let Some(user) = user else {
        verify_blocking(body.password, None).await?;
        audit::write(
            &state.db,
            NewAuditEvent {
                team_id: None,
                actor_type: "anonymous",
                actor_id: "",
                action: "user.login",
                resource_type: "user",
                resource_id: "",
                outcome: "denied",
                detail: "unknown email",
            },
        )
        .await;
        return Err(ApiError::Unauthenticated(LOGIN_REFUSED));
    };
    let team = db::teams::list_for_user(&state.db, &user.id)
        .await?
        .into_iter()
        .find(|t| t.personal);
    let team_id = team.as_ref().map(|t| t.id.as_str());
    if !verify_blocking(body.password, Some(user.password_hash.clone())).await? {
        let event = user_event(team_id, &user.id, "user.login", Outcome::Denied);
        audit::write(
            &state.db,
            NewAuditEvent {
                detail: "wrong password",
                ..event
            },
        )
        .await;
        return Err(ApiError::Unauthenticated(LOGIN_REFUSED));
    }
    let team = team.ok_or(ApiError::Unauthenticated("the user has no team"))?;
    audit::write(
        &state.db,
        user_event(Some(&team.id), &user.id, "user.login", Outcome::Ok),
    )
    .await;
    Ok(Json(Session::issue(&state, &user, Team::from(&team))))
}

fn user_event<'a>(
    team_id: Option<&'a str>,
    user_id: &'a str,
    action: &'a str,
    outcome: Outcome,
) -> NewAuditEvent<'a> {
    NewAuditEvent {
        team_id,
        actor_type: "user",
        actor_id: user_id,
        action,
        resource_type: "user",
        resource_id: user_id,
        outcome: outcome.as_str(),
        detail: "",
    }
}

/// argon2 takes tens of milliseconds of CPU: off the async workers.
async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// Verifies against `stored`, or against a dummy hash when there is no
/// account, so both refusals take the same time.
async fn verify_blocking(password: String, stored: Option<String>) -> ApiResult<bool> {
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => password::verify(&password, &stored),
        None => {
            password::dummy_verify(&password);
            false
        }
    })
    .await
    .map_err(ApiError::internal)
}
