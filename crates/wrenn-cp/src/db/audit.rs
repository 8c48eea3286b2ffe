//! The audit log: who did what to which resource, and how it ended.
use sqlx::{any::AnyRow, Row};

use super::{new_id, now_ms, Db};

/// One audit entry to write.
#[derive(Debug, Clone)]
pub struct NewAuditEvent<'a> {
    pub team_id: Option<&'a str>,
    pub actor_type: &'a str,
    pub actor_id: &'a str,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub outcome: &'a str,
    pub detail: &'a str,
}

/// One recorded audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: String,
    /// Unix milliseconds.
    pub at: i64,
    pub team_id: Option<String>,
    /// `user`, `api_key`, `host` or `system`.
    pub actor_type: String,
    pub actor_id: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    pub detail: String,
}

pub async fn insert(db: &Db, event: &NewAuditEvent<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_events (id, at, team_id, actor_type, actor_id, action, \
         resource_type, resource_id, outcome, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(new_id("aud_"))
    .bind(now_ms())
    .bind(event.team_id)
    .bind(event.actor_type)
    .bind(event.actor_id)
    .bind(event.action)
    .bind(event.resource_type)
    .bind(event.resource_id)
    .bind(event.outcome)
    .bind(event.detail)
    .execute(&db.pool)
    .await
    .map(|_| ())
}

fn event_row(row: &AnyRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        team_id: row.try_get("team_id")?,
        actor_type: row.try_get("actor_type")?,
        actor_id: row.try_get("actor_id")?,
        action: row.try_get("action")?,
        resource_type: row.try_get("resource_type")?,
        resource_id: row.try_get("resource_id")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
    })
}

/// A team's events, newest first, `limit` of them after the `before` cursor
/// (`(at, id)` of the last event of the previous page).
pub async fn list(
    db: &Db,
    team_id: &str,
    before: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    let (at, id) = before.unwrap_or((i64::MAX, String::new()));
    let rows = sqlx::query(
        "SELECT id, at, team_id, actor_type, actor_id, action, resource_type, resource_id, \
         outcome, detail FROM audit_events WHERE team_id = $1 \
         AND (at < $2 OR (at = $2 AND id < $3)) \
         ORDER BY at DESC, id DESC LIMIT $4",
    )
    .bind(team_id)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(event_row).collect()
}
