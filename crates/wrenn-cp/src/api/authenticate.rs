//! Who is calling: the [`Principal`] extractor every authenticated handler
//! takes, from a user JWT, an API key, (WebSocket upgrades) `?token=`, or
//! the browser session cookie, which acts as the same user principal as a
//! user JWT but must also pass the CSRF check (state-changing methods) or
//! the `Origin` check (WebSocket upgrades).
use axum::{
    extract::FromRequestParts,
    http::{request::Parts, Method},
};

use super::rate_limit::Limits;
use crate::{
    auth::{
        api_key,
        jwt::{TokenError, TokenType},
        key_cache, session, Actor, Principal, Role,
    },
    db::{self, sessions::SessionRow},
    error::ApiError,
    listener::OverTls,
    service::sessions,
    state::AppState,
};

fn is_websocket(parts: &Parts) -> bool {
    parts
        .headers
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
}

/// Whether the request came over TLS: on the HTTPS listener, or (behind a
/// trusted proxy, `CP_TRUST_FORWARDED_FOR`) with `X-Forwarded-Proto: https`.
pub(crate) fn over_tls(parts: &Parts, state: &AppState) -> bool {
    parts.extensions.get::<OverTls>().is_some()
        || (state.config.rate_limits.trust_forwarded_for
            && parts
                .headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https")))
}

/// The credential of a request: `Authorization: Bearer`, `X-API-Key`, or,
/// for WebSocket upgrades (browsers cannot set headers), `?token=`.
fn credential(parts: &Parts) -> Option<String> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(bearer) = header("authorization").and_then(|v| v.strip_prefix("Bearer ")) {
        return Some(bearer.trim().to_owned());
    }
    if let Some(key) = header("x-api-key") {
        return Some(key.trim().to_owned());
    }
    ws_query_param(parts, "token")
}

/// `NAME`'s value in the query of a WebSocket upgrade (never of another
/// request: query strings end up in logs and browser history).
fn ws_query_param(parts: &Parts, name: &str) -> Option<String> {
    if !is_websocket(parts) {
        return None;
    }
    parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    })
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    /// Authenticates, then spends one request of the credential's and the
    /// team's rate limits (`api::rate_limit`).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = authenticate(parts, state).await?;
        if let Some(limits) = parts.extensions.get::<Limits>() {
            limits.check_principal(&principal)?;
        }
        Ok(principal)
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let Some(credential) = credential(parts) else {
        return match session::cookie_token(&parts.headers) {
            Some(token) => from_cookie(parts, state, token).await.map(|(_, p)| p),
            None => Err(ApiError::Unauthenticated(
                "missing credentials: send `Authorization: Bearer <token or API key>`",
            )),
        };
    };
    if api_key::has_key_prefix(&credential) {
        return from_api_key(state, &credential).await;
    }
    let claims = state
        .jwt
        .verify(&credential, TokenType::User)
        .map_err(|err| match err {
            TokenError::Expired => ApiError::Unauthenticated("the token has expired; log in again"),
            TokenError::WrongType { .. } => {
                ApiError::Unauthenticated("a host token cannot be used as a user credential")
            }
            TokenError::Invalid => {
                ApiError::Unauthenticated("the token is malformed or its signature is wrong")
            }
        })?;
    user_principal(parts, state, &claims.sub).await
}

/// The browser session of the request's cookie and the user principal it
/// acts as, once the CSRF or `Origin` rule is met.
pub(crate) async fn from_cookie(
    parts: &Parts,
    state: &AppState,
    token: &str,
) -> Result<(SessionRow, Principal), ApiError> {
    let session = sessions::resolve(&state.db, &state.config.sessions, token)
        .await?
        .ok_or(ApiError::Unauthenticated(
            "the session has expired or was revoked; log in again",
        ))?;
    if is_websocket(parts) {
        if !session::same_origin(&parts.headers, over_tls(parts, state)) {
            return Err(ApiError::Forbidden(
                "a WebSocket authenticated by the session cookie must come from this origin",
            ));
        }
    } else if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
        && !session::csrf_matches(&parts.headers, &session.csrf_token)
    {
        return Err(ApiError::CsrfFailed);
    }
    let principal = user_principal(parts, state, &session.user_id).await?;
    Ok((session, principal))
}

/// The user `user_id` acting on the team of `X-Team-Id`, else their
/// personal team: one path for user tokens and session cookies.
async fn user_principal(
    parts: &Parts,
    state: &AppState,
    user_id: &str,
) -> Result<Principal, ApiError> {
    let user = db::users::get(&state.db, user_id)
        .await?
        .ok_or(ApiError::Unauthenticated(
            "the token's user no longer exists",
        ))?;
    // WebSocket upgrades from a browser cannot set headers: `?team_id=`
    // stands in for `X-Team-Id` there, as `?token=` does for the credential.
    let team_header = parts
        .headers
        .get("x-team-id")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .or_else(|| ws_query_param(parts, "team_id"));
    let (team_id, role) = match team_header {
        Some(team_id) => {
            let role = db::users::membership(&state.db, &team_id, &user.id)
                .await?
                .ok_or(ApiError::NotFound { what: "team" })?;
            (team_id, role)
        }
        None => db::users::personal_team(&state.db, &user.id)
            .await?
            .ok_or(ApiError::Unauthenticated("the user has no team"))?,
    };
    Ok(Principal {
        actor: Actor::User {
            user_id: user.id,
            is_admin: user.is_admin,
        },
        team_id,
        role,
    })
}

async fn from_api_key(state: &AppState, credential: &str) -> Result<Principal, ApiError> {
    const REFUSED: &str = "the API key is unknown, revoked or expired";
    if !api_key::looks_like_key(credential) {
        return Err(ApiError::Unauthenticated(REFUSED));
    }
    let digest = api_key::digest(credential);
    let cache = key_cache::shared();
    let now = db::now_ms();
    let key = match cache.get(&digest) {
        Some(key) => key,
        None => {
            let generation = cache.generation();
            let key = verify_key(state, &digest, now)
                .await?
                .ok_or(ApiError::Unauthenticated(REFUSED))?;
            cache.insert(generation, digest, key.clone());
            key
        }
    };
    if key.expires_at.is_some_and(|at| at <= now) {
        return Err(ApiError::Unauthenticated(REFUSED));
    }
    Ok(Principal {
        actor: Actor::ApiKey { key_id: key.key_id },
        team_id: key.team_id,
        role: Role::Member,
    })
}

/// The database's word on a key: `None` when it is unknown, revoked,
/// expired or its creator has left the team.
async fn verify_key(
    state: &AppState,
    digest: &key_cache::Digest,
    now: i64,
) -> Result<Option<key_cache::VerifiedKey>, ApiError> {
    let Some(db::keys::KeyForAuth { key, owner_in_team }) =
        db::keys::key_by_hash(&state.db, &api_key::hex(digest)).await?
    else {
        return Ok(None);
    };
    if key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now) || !owner_in_team {
        return Ok(None);
    }
    // One write a minute at most: `last_used_at` is informative, and a write
    // per request would serialise every API call on SQLite.
    if key.last_used_at.is_none_or(|at| now - at > 60_000) {
        db::keys::touch_key(&state.db, &key.id, now).await?;
    }
    Ok(Some(key_cache::VerifiedKey {
        key_id: key.id,
        team_id: key.team_id,
        expires_at: key.expires_at,
    }))
}
