//! Browser sessions (`browser_sessions`): insert, look up by the token's
//! hash, slide `last_seen_at`, revoke. The rules live in `service::sessions`.
use sqlx::{any::AnyRow, Row};

use super::{new_id, Db};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, csrf_token, created_at, last_seen_at, expires_at, revoked_at";

fn session_row(row: &AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        csrf_token: row.try_get("csrf_token")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// A session to store; `token_hash` is the hex SHA-256 of the cookie token.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user_id: &'a str,
    pub csrf_token: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub user_agent: &'a str,
    pub client_ip: &'a str,
}

pub async fn insert(db: &Db, session: &NewSession<'_>) -> Result<SessionRow, sqlx::Error> {
    let id = new_id("ses_");
    sqlx::query(
        "INSERT INTO browser_sessions (id, token_hash, user_id, csrf_token, created_at, \
         last_seen_at, expires_at, user_agent, client_ip) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(session.token_hash)
    .bind(session.user_id)
    .bind(session.csrf_token)
    .bind(session.now)
    .bind(session.expires_at)
    .bind(session.user_agent)
    .bind(session.client_ip)
    .execute(&db.pool)
    .await?;
    Ok(SessionRow {
        id,
        user_id: session.user_id.to_owned(),
        csrf_token: session.csrf_token.to_owned(),
        created_at: session.now,
        last_seen_at: session.now,
        expires_at: session.expires_at,
        revoked_at: None,
    })
}

pub async fn by_token_hash(db: &Db, token_hash: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM browser_sessions WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(&db.pool)
    .await?
    .as_ref()
    .map(session_row)
    .transpose()
}

pub async fn touch(db: &Db, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE browser_sessions SET last_seen_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await
        .map(|_| ())
}

/// Revokes the session `id` (a no-op when it already was).
pub async fn revoke(db: &Db, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE browser_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await
        .map(|_| ())
}

/// Revokes every live session of a user; answers how many.
pub async fn revoke_all_of_user(db: &Db, user_id: &str, now: i64) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE browser_sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(&db.pool)
    .await
    .map(|done| done.rows_affected())
}
