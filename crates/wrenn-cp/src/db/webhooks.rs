//! Team webhooks, their deliveries and the pool thresholds already told
//! (`webhooks`, `webhook_deliveries`, `pool_thresholds`): queries only.
use sqlx::Row;

use super::{new_ordered_id, now_ms, Db};

/// A team's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    pub team_id: String,
    pub url: String,
    /// As stored: sealed (`service::notify`), or plaintext from an older
    /// build.
    pub secret: String,
    pub created_at: i64,
}

/// One event to deliver and how its attempts went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: String,
    pub team_id: String,
    pub event: String,
    pub body: String,
    pub state: String,
    pub attempts: i64,
    pub next_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

const DELIVERY: &str = "id, team_id, event, body, state, attempts, next_at, last_status, \
                        last_error, created_at, delivered_at";

fn delivery(r: &sqlx::any::AnyRow) -> Result<DeliveryRow, sqlx::Error> {
    Ok(DeliveryRow {
        id: r.try_get("id")?,
        team_id: r.try_get("team_id")?,
        event: r.try_get("event")?,
        body: r.try_get("body")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        next_at: r.try_get("next_at")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

/// Sets the team's webhook (a new secret each time).
pub async fn put(db: &Db, team_id: &str, url: &str, secret: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhooks (team_id, url, secret, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (team_id) DO UPDATE SET url = excluded.url, secret = excluded.secret, \
         created_at = excluded.created_at",
    )
    .bind(team_id)
    .bind(url)
    .bind(secret)
    .bind(now_ms())
    .execute(&db.pool)
    .await
    .map(|_| ())
}

pub async fn get(db: &Db, team_id: &str) -> Result<Option<WebhookRow>, sqlx::Error> {
    let row =
        sqlx::query("SELECT team_id, url, secret, created_at FROM webhooks WHERE team_id = $1")
            .bind(team_id)
            .fetch_optional(&db.pool)
            .await?;
    row.map(|r| {
        Ok(WebhookRow {
            team_id: r.try_get("team_id")?,
            url: r.try_get("url")?,
            secret: r.try_get("secret")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .transpose()
}

/// Replaces the stored secret `old` by `new` (its sealed form); nothing if
/// the webhook was set again meanwhile.
pub async fn reseal(db: &Db, team_id: &str, old: &str, new: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhooks SET secret = $3 WHERE team_id = $1 AND secret = $2")
        .bind(team_id)
        .bind(old)
        .bind(new)
        .execute(&db.pool)
        .await
        .map(|_| ())
}

/// Removes the team's webhook; answers whether it had one. Deliveries
/// still pending are given up.
pub async fn delete(db: &Db, team_id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let gone = sqlx::query("DELETE FROM webhooks WHERE team_id = $1")
        .bind(team_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(
        "UPDATE webhook_deliveries SET state = 'failed', last_error = 'webhook removed' \
         WHERE team_id = $1 AND state = 'pending'",
    )
    .bind(team_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(gone == 1)
}

/// Queues `event` for the team's webhook; nothing without one, nor when
/// the same event was queued less than `quiet_ms` ago.
pub async fn enqueue(
    db: &Db,
    team_id: &str,
    event: &str,
    body: &str,
    quiet_ms: i64,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, team_id, event, body, state, next_at, created_at) \
         SELECT $1, team_id, $2, $3, 'pending', $4, $4 FROM webhooks WHERE team_id = $5 \
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries WHERE team_id = $5 AND event = $2 \
         AND created_at > $6)",
    )
    .bind(new_ordered_id("whd_"))
    .bind(event)
    .bind(body)
    .bind(now)
    .bind(team_id)
    .bind(now - quiet_ms)
    .execute(&db.pool)
    .await
    .map(|_| ())
}

/// Pending deliveries due now and held by no replica (at most `limit`).
pub async fn due(db: &Db, limit: i64) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    let now = now_ms();
    let rows = sqlx::query(&format!(
        "SELECT {DELIVERY} FROM webhook_deliveries WHERE state = 'pending' AND next_at <= $1 \
         AND lease_until <= $1 ORDER BY next_at, id LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(delivery).collect()
}

/// Claims a due delivery until `lease_until`: one conditional UPDATE, so
/// of two replicas only one gets it. Answers whether this one did.
pub async fn claim(db: &Db, id: &str, lease_until: i64) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let claimed = sqlx::query(
        "UPDATE webhook_deliveries SET lease_until = $2, attempts = attempts + 1 \
         WHERE id = $1 AND state = 'pending' AND next_at <= $3 AND lease_until <= $3",
    )
    .bind(id)
    .bind(lease_until)
    .bind(now)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        status: i64,
    },
    /// Try again at `next_at`.
    Retry {
        next_at: i64,
        status: Option<i64>,
        error: String,
    },
    /// Out of attempts.
    Failed {
        status: Option<i64>,
        error: String,
    },
}

pub async fn record(db: &Db, id: &str, outcome: &Outcome) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let (state, next_at, status, error, delivered_at) = match outcome {
        Outcome::Delivered { status } => ("delivered", None, Some(*status), None, Some(now)),
        Outcome::Retry {
            next_at,
            status,
            error,
        } => (
            "pending",
            Some(*next_at),
            *status,
            Some(error.as_str()),
            None,
        ),
        Outcome::Failed { status, error } => ("failed", None, *status, Some(error.as_str()), None),
    };
    sqlx::query(
        "UPDATE webhook_deliveries SET state = $2, next_at = COALESCE($3, next_at), \
         lease_until = 0, last_status = $4, last_error = $5, delivered_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(next_at)
    .bind(status)
    .bind(error)
    .bind(delivered_at)
    .execute(&db.pool)
    .await
    .map(|_| ())
}

/// The team's deliveries, newest first.
pub async fn deliveries(
    db: &Db,
    team_id: &str,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {DELIVERY} FROM webhook_deliveries WHERE team_id = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(team_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(delivery).collect()
}

/// Marks the threshold crossed, reached at use `at_use`; answers whether
/// it was not yet (the crossing to tell).
pub async fn cross(
    db: &Db,
    team_id: &str,
    dimension: &str,
    level: i64,
    at_use: i64,
) -> Result<bool, sqlx::Error> {
    let written = sqlx::query(
        "INSERT INTO pool_thresholds (team_id, dimension, level, crossed_at, reached_at_use) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (team_id, dimension, level) DO NOTHING",
    )
    .bind(team_id)
    .bind(dimension)
    .bind(level)
    .bind(now_ms())
    .bind(at_use)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(written == 1)
}

/// Inside a release's transaction (`db::pools`): re-arms every threshold
/// of the team its use is now below.
pub(super) async fn rearm_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    team_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM pool_thresholds WHERE team_id = $1 AND reached_at_use > 0 \
         AND reached_at_use > (SELECT CASE pool_thresholds.dimension \
           WHEN 'vcpus' THEN u.vcpus WHEN 'memory' THEN u.memory_mb \
           WHEN 'storage' THEN u.storage_mb WHEN 'running sandboxes' THEN u.running \
           WHEN 'paused sandboxes' THEN u.paused END \
           FROM pool_use u WHERE u.team_id = $1)",
    )
    .bind(team_id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Re-arms a threshold use fell below.
pub async fn uncross(
    db: &Db,
    team_id: &str,
    dimension: &str,
    level: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM pool_thresholds WHERE team_id = $1 AND dimension = $2 AND level = $3")
        .bind(team_id)
        .bind(dimension)
        .bind(level)
        .execute(&db.pool)
        .await
        .map(|_| ())
}
