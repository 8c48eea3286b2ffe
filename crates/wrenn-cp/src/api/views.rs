//! The identity shapes the API answers with (`User`, `Team`, `Session`) and
//! the one place where a login session's token is minted.
use serde::Serialize;

use crate::{
    api::rfc3339,
    auth::{jwt::TokenType, Role},
    db::{teams::TeamRow, users::UserRow},
    state::AppState,
};

/// A user account (never its password hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    /// Platform administrator.
    pub is_admin: bool,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&UserRow> for User {
    fn from(row: &UserRow) -> Self {
        Self {
            id: row.id.clone(),
            email: row.email.clone(),
            name: row.name.clone(),
            is_admin: row.is_admin,
            created_at: rfc3339(row.created_at),
        }
    }
}

/// A team and the caller's role in it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The team created with its user at signup.
    pub personal: bool,
}

impl From<&TeamRow> for Team {
    fn from(row: &TeamRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            role: row.role,
            personal: row.personal,
        }
    }
}

/// A login session: a user JWT and what it acts as.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Session {
    /// `Authorization: Bearer <token>`.
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
    pub user: User,
    /// The user's personal team, which requests act on by default.
    pub team: Team,
}

impl Session {
    /// Mints a user token valid for `CP_JWT_TTL_SECS`.
    pub fn issue(state: &AppState, user: &UserRow, team: Team) -> Self {
        let (token, exp) = state
            .jwt
            .issue(&user.id, TokenType::User, state.config.jwt_ttl);
        let exp_ms = i64::try_from(exp).unwrap_or(i64::MAX / 1000) * 1000;
        Self {
            token,
            expires_at: rfc3339(exp_ms),
            user: User::from(user),
            team,
        }
    }
}
