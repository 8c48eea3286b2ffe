//! Idempotency keys of sandbox creates (migration 0006): a claim per team
//! and key, which the first create of that key holds until it records its
//! sandbox or gives the claim up.
use sqlx::Row;

use super::{is_unique_violation, Db};

/// A key's row as a later request with the same key finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub claim_id: String,
    pub request_hash: String,
    /// `None` while the first create runs.
    pub sandbox_id: Option<String>,
    pub claimed_at: i64,
}

/// Claims `key` for a create of the request `request_hash`; `false` when
/// the team already holds a claim on it (answered by [`find`]).
pub async fn claim(
    db: &Db,
    team_id: &str,
    key: &str,
    claim_id: &str,
    request_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (team_id, idem_key, claim_id, request_hash, sandbox_id, \
         claimed_at) VALUES ($1, $2, $3, $4, NULL, $5)",
    )
    .bind(team_id)
    .bind(key)
    .bind(claim_id)
    .bind(request_hash)
    .bind(now)
    .execute(&db.pool)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(err) if is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err),
    }
}

pub async fn find(db: &Db, team_id: &str, key: &str) -> Result<Option<Claim>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT claim_id, request_hash, sandbox_id, claimed_at FROM idempotency_keys \
         WHERE team_id = $1 AND idem_key = $2",
    )
    .bind(team_id)
    .bind(key)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| {
        Ok(Claim {
            claim_id: row.try_get("claim_id")?,
            request_hash: row.try_get("request_hash")?,
            sandbox_id: row.try_get("sandbox_id")?,
            claimed_at: row.try_get("claimed_at")?,
        })
    })
    .transpose()
}

/// Records the sandbox the claim's create made.
pub async fn fulfil(
    db: &Db,
    team_id: &str,
    key: &str,
    claim_id: &str,
    sandbox_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET sandbox_id = $1 \
         WHERE team_id = $2 AND idem_key = $3 AND claim_id = $4",
    )
    .bind(sandbox_id)
    .bind(team_id)
    .bind(key)
    .bind(claim_id)
    .execute(&db.pool)
    .await
    .map(|_| ())
}

/// Drops the claim `claim_id` (its create failed, or it is stale and about
/// to be taken over); a newer claim of the same key stays.
pub async fn release(db: &Db, team_id: &str, key: &str, claim_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE team_id = $1 AND idem_key = $2 AND claim_id = $3",
    )
    .bind(team_id)
    .bind(key)
    .bind(claim_id)
    .execute(&db.pool)
    .await
    .map(|_| ())
}
