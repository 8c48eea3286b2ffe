//! A team's API keys: creation (only the hash is stored), listing,
//! revocation, and the lookup by hash that authenticates a key.
use sqlx::{any::AnyRow, Row};

use super::{get_bool, new_id, now_ms, Db};
use crate::auth::api_key::KeyOwner;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub id: String,
    pub team_id: String,
    pub name: String,
    pub prefix: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub owner: KeyOwner,
}

pub const KEY_COLUMNS: &str = "id, team_id, name, prefix, created_by, created_at, expires_at, \
     last_used_at, revoked_at, owner";

pub fn key_row(row: &AnyRow) -> Result<KeyRow, sqlx::Error> {
    Ok(KeyRow {
        id: row.try_get("id")?,
        team_id: row.try_get("team_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
        owner: KeyOwner::parse(&row.try_get::<String, _>("owner")?),
    })
}

/// A key found by its hash, for authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyForAuth {
    pub key: KeyRow,
    /// False when the key is its creator's and the creator is no longer a
    /// member of the key's team (a second line behind the revocation done
    /// when they leave: such a key never authenticates).
    pub owner_in_team: bool,
}

pub async fn key_by_hash(db: &Db, hash: &str) -> Result<Option<KeyForAuth>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {KEY_COLUMNS}, CASE WHEN owner = 'team' OR EXISTS (SELECT 1 FROM team_members m \
         WHERE m.team_id = api_keys.team_id AND m.user_id = api_keys.created_by) THEN 1 ELSE 0 \
         END AS owner_in_team FROM api_keys WHERE key_hash = $1"
    ))
    .bind(hash)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| {
        Ok(KeyForAuth {
            key: key_row(&row)?,
            owner_in_team: get_bool(&row, "owner_in_team")?,
        })
    })
    .transpose()
}

pub async fn touch_key(db: &Db, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await
        .map(|_| ())
}

/// A key to store: `hash` and `prefix` come from `auth::api_key::generate`.
#[derive(Debug, Clone)]
pub struct NewKeyRecord<'a> {
    pub team_id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub hash: &'a str,
    pub created_by: Option<&'a str>,
    pub expires_at: Option<i64>,
    pub owner: KeyOwner,
}

pub async fn insert(db: &Db, key: &NewKeyRecord<'_>) -> Result<KeyRow, sqlx::Error> {
    let id = new_id("key_");
    let now = now_ms();
    sqlx::query(
        "INSERT INTO api_keys (id, team_id, name, prefix, key_hash, created_by, created_at, \
         expires_at, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(key.team_id)
    .bind(key.name)
    .bind(key.prefix)
    .bind(key.hash)
    .bind(key.created_by)
    .bind(now)
    .bind(key.expires_at)
    .bind(key.owner.as_str())
    .execute(&db.pool)
    .await?;
    Ok(KeyRow {
        id,
        team_id: key.team_id.to_owned(),
        name: key.name.to_owned(),
        prefix: key.prefix.to_owned(),
        created_by: key.created_by.map(str::to_owned),
        created_at: now,
        expires_at: key.expires_at,
        last_used_at: None,
        revoked_at: None,
        owner: key.owner,
    })
}

/// The team's keys, newest first, revoked ones included.
pub async fn list(db: &Db, team_id: &str) -> Result<Vec<KeyRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE team_id = $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind(team_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(key_row).collect()
}

/// Revokes one of the team's keys; false when the team has no such key.
/// Revoking twice keeps the first instant.
pub async fn revoke(db: &Db, team_id: &str, key_id: &str) -> Result<bool, sqlx::Error> {
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM api_keys WHERE id = $1 AND team_id = $2")
            .bind(key_id)
            .bind(team_id)
            .fetch_optional(&db.pool)
            .await?;
    if exists.is_none() {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND team_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(key_id)
    .bind(team_id)
    .execute(&db.pool)
    .await?;
    crate::auth::key_cache::forget_all();
    Ok(true)
}

/// Revokes, inside `tx`, the keys `user_id` created in `team_id` that are
/// theirs (`owner = 'user'`), because they left the team or are being
/// deleted; answers the revoked keys' ids (already revoked ones excluded).
pub async fn revoke_creator_keys(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    team_id: &str,
    user_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM api_keys WHERE team_id = $1 AND created_by = $2 AND owner = 'user' \
         AND revoked_at IS NULL ORDER BY id",
    )
    .bind(team_id)
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE team_id = $2 AND created_by = $3 \
         AND owner = 'user' AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(team_id)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(ids)
}
