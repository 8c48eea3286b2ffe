//! `/v1/auth/session`: browser sessions for the dashboard. `POST` logs in
//! with email and password (the rules and lockout of `/v1/auth/login`) and
//! sets the `wrenn_session` cookie; `GET` says who the cookie is; `DELETE`
//! revokes it (the rules: `service::sessions`).
use axum::{
    extract::{FromRequestParts, State},
    http::{header, request::Parts, StatusCode},
    response::{AppendHeaders, IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    auth::LoginRequest,
    authenticate,
    extract::ApiJson,
    rate_limit::Limits,
    rfc3339,
    views::{Team, User},
};
use crate::{
    auth::{lockout::Policy, session, Principal},
    db::sessions::SessionRow,
    error::{ApiError, ApiResult},
    service::{
        accounts::{self, WhoAmI},
        sessions,
    },
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(open, current, close))
}

/// A browser session: who it is, its teams and the CSRF token that every
/// state-changing request it authenticates must carry in `X-CSRF-Token`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BrowserSession {
    pub user: User,
    /// The team requests act on without `X-Team-Id` (the personal team).
    pub team: Team,
    /// Every team of the user.
    pub teams: Vec<Team>,
    pub csrf_token: String,
    /// RFC 3339: when the session ends unless used again (idle expiry),
    /// at the latest its absolute end.
    pub expires_at: String,
}

/// The request's session cookie, resolved to its session and principal.
#[derive(Debug)]
pub struct CookieSession {
    pub session: SessionRow,
    pub principal: Principal,
}

impl FromRequestParts<AppState> for CookieSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = session::cookie_token(&parts.headers).ok_or(ApiError::Unauthenticated(
            "no session cookie: log in with POST /v1/auth/session",
        ))?;
        let (session, principal) = authenticate::from_cookie(parts, state, token).await?;
        if let Some(limits) = parts.extensions.get::<Limits>() {
            limits.check_principal(&principal)?;
        }
        Ok(Self { session, principal })
    }
}

/// What the transport says about a request: TLS (the cookie's `Secure`
/// flag) and the user agent (recorded with a new session).
#[derive(Debug)]
pub struct Transport {
    pub over_tls: bool,
    pub user_agent: String,
}

impl FromRequestParts<AppState> for Transport {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self {
            over_tls: authenticate::over_tls(parts, state),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

async fn describe(
    state: &AppState,
    principal: &Principal,
    session: &SessionRow,
) -> ApiResult<BrowserSession> {
    let WhoAmI::User { user, team, teams } = accounts::who_am_i(&state.db, principal).await? else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "a browser session acts as a user"
        )));
    };
    Ok(BrowserSession {
        user: User::from(&user),
        team: Team::from(&team),
        teams: teams.iter().map(Team::from).collect(),
        csrf_token: session.csrf_token.clone(),
        expires_at: rfc3339(sessions::expires_at(&state.config.sessions, session)),
    })
}

/// Logs in with email and password and sets the session cookie
/// (`wrenn_session`: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` over
/// TLS). Same limits and lockout as `POST /v1/auth/login`; audited as
/// `user.login` and `session.create`.
#[utoipa::path(post, path = "/v1/auth/session", tag = "auth", security(()),
    request_body = LoginRequest,
    responses((status = 200, body = BrowserSession, headers(("Set-Cookie" = String, description = "wrenn_session=<opaque>; HttpOnly; SameSite=Lax; Path=/"))),
              (status = 401, description = "unauthenticated: wrong email or password", body = crate::error::ErrorBody),
              (status = 429, description = "rate_limited (this address) or too_many_attempts (the account is locked after repeated wrong passwords); see `Retry-After`", body = crate::error::ErrorBody)))]
async fn open(
    State(state): State<AppState>,
    limits: Limits,
    transport: Transport,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
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
    let meta = sessions::Client {
        user_agent: &transport.user_agent,
        ip: &client,
    };
    let opened =
        sessions::open(&state.db, &state.config.sessions, &user.id, &team.id, meta).await?;
    let principal = Principal {
        actor: crate::auth::Actor::User {
            user_id: user.id.clone(),
            is_admin: user.is_admin,
        },
        team_id: team.id.clone(),
        role: team.role,
    };
    let answer = describe(&state, &principal, &opened.session).await?;
    let cookie = session::set_cookie(
        &opened.token,
        state.config.sessions.max.as_secs(),
        transport.over_tls,
    );
    Ok((AppendHeaders([(header::SET_COOKIE, cookie)]), Json(answer)).into_response())
}

/// The session of the request's cookie: the user, the team the request
/// acts on (`X-Team-Id`, else the personal team), their teams and the
/// session's CSRF token.
#[utoipa::path(get, path = "/v1/auth/session", tag = "auth", security(("session" = [])),
    responses((status = 200, body = BrowserSession), (status = 401, body = crate::error::ErrorBody)))]
async fn current(
    State(state): State<AppState>,
    cookie: CookieSession,
) -> ApiResult<Json<BrowserSession>> {
    Ok(Json(
        describe(&state, &cookie.principal, &cookie.session).await?,
    ))
}

/// Logs out: revokes the cookie's session and clears the cookie. Needs
/// `X-CSRF-Token` like every state-changing cookie request; audited as
/// `session.revoke`.
#[utoipa::path(delete, path = "/v1/auth/session", tag = "auth", security(("session" = [])),
    responses((status = 204, description = "revoked; the cookie is cleared"),
              (status = 401, body = crate::error::ErrorBody),
              (status = 403, description = "csrf_failed: the X-CSRF-Token header is missing or wrong", body = crate::error::ErrorBody)))]
async fn close(
    State(state): State<AppState>,
    transport: Transport,
    cookie: CookieSession,
) -> ApiResult<Response> {
    sessions::revoke(&state.db, &cookie.session, &cookie.principal.team_id).await?;
    let clear = session::clear_cookie(transport.over_tls);
    Ok((
        StatusCode::NO_CONTENT,
        AppendHeaders([(header::SET_COOKIE, clear)]),
    )
        .into_response())
}
