//! Plans and the plan each team is on (`plans`, `team_plans`): queries only;
//! the rules (validation, who may change them) are `service::pools`.
use sqlx::{any::AnyRow, Row};

use super::{now_ms, Db};

/// Sizes of a pool; memory and storage in MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub vcpus: i64,
    pub memory_mb: i64,
    pub storage_mb: i64,
    pub max_running: i64,
    pub max_paused: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRow {
    pub name: String,
    pub sizes: Sizes,
    pub price_cents: i64,
    pub period: String,
    /// `refuse`, `queue` or `burst`.
    pub overflow: String,
    pub burst_vcpus: i64,
    pub burst_cents_per_vcpu_hour: i64,
    /// With `queue`: the wait of a create that asks none (seconds).
    pub queue_wait_secs: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A team's own sizes instead of its plan's; `None`: the plan's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    pub vcpus: Option<i64>,
    pub memory_mb: Option<i64>,
    pub storage_mb: Option<i64>,
    pub max_running: Option<i64>,
    pub max_paused: Option<i64>,
}

const COLUMNS: &str = "name, vcpus, memory_mb, storage_mb, max_running, max_paused, price_cents, \
    period, overflow, burst_vcpus, burst_cents_per_vcpu_hour, queue_wait_secs, created_at, updated_at";

fn plan(row: &AnyRow) -> Result<PlanRow, sqlx::Error> {
    Ok(PlanRow {
        name: row.try_get("name")?,
        sizes: Sizes {
            vcpus: row.try_get("vcpus")?,
            memory_mb: row.try_get("memory_mb")?,
            storage_mb: row.try_get("storage_mb")?,
            max_running: row.try_get("max_running")?,
            max_paused: row.try_get("max_paused")?,
        },
        price_cents: row.try_get("price_cents")?,
        period: row.try_get("period")?,
        overflow: row.try_get("overflow")?,
        burst_vcpus: row.try_get("burst_vcpus")?,
        burst_cents_per_vcpu_hour: row.try_get("burst_cents_per_vcpu_hour")?,
        queue_wait_secs: row.try_get("queue_wait_secs")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts or replaces the plan `plan.name` (its `created_at` is kept).
pub async fn upsert(db: &Db, plan: &PlanRow) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(&format!(
        "INSERT INTO plans ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
         ON CONFLICT (name) DO UPDATE SET vcpus = excluded.vcpus, memory_mb = excluded.memory_mb, \
         storage_mb = excluded.storage_mb, max_running = excluded.max_running, \
         max_paused = excluded.max_paused, price_cents = excluded.price_cents, \
         period = excluded.period, overflow = excluded.overflow, burst_vcpus = excluded.burst_vcpus, \
         burst_cents_per_vcpu_hour = excluded.burst_cents_per_vcpu_hour, \
         queue_wait_secs = excluded.queue_wait_secs, updated_at = excluded.updated_at"
    ))
    .bind(&plan.name)
    .bind(plan.sizes.vcpus)
    .bind(plan.sizes.memory_mb)
    .bind(plan.sizes.storage_mb)
    .bind(plan.sizes.max_running)
    .bind(plan.sizes.max_paused)
    .bind(plan.price_cents)
    .bind(&plan.period)
    .bind(&plan.overflow)
    .bind(plan.burst_vcpus)
    .bind(plan.burst_cents_per_vcpu_hour)
    .bind(plan.queue_wait_secs)
    .bind(now)
    .execute(&db.pool)
    .await
    .map(|_| ())
}

pub async fn get(db: &Db, name: &str) -> Result<Option<PlanRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM plans WHERE name = $1"))
        .bind(name)
        .fetch_optional(&db.pool)
        .await?
        .as_ref()
        .map(plan)
        .transpose()
}

pub async fn list(db: &Db) -> Result<Vec<PlanRow>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM plans ORDER BY name"))
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(plan).collect()
}

/// Deletes a plan no team is on; `Ok(false)` when it is absent or in use.
pub async fn delete_unused(db: &Db, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "DELETE FROM plans WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM team_plans WHERE plan = $1)",
    )
    .bind(name)
    .execute(&db.pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// How many teams are on the plan.
pub async fn teams_on(db: &Db, name: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM team_plans WHERE plan = $1")
        .bind(name)
        .fetch_one(&db.pool)
        .await
}

/// The plan the team was put on and its overrides; `None`: the default.
pub async fn of_team(db: &Db, team_id: &str) -> Result<Option<(String, Overrides)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT plan, vcpus, memory_mb, storage_mb, max_running, max_paused FROM team_plans WHERE team_id = $1",
    )
    .bind(team_id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get("plan")?,
            Overrides {
                vcpus: r.try_get("vcpus")?,
                memory_mb: r.try_get("memory_mb")?,
                storage_mb: r.try_get("storage_mb")?,
                max_running: r.try_get("max_running")?,
                max_paused: r.try_get("max_paused")?,
            },
        ))
    })
    .transpose()
}

/// The team's plan and overrides in one round trip (the create path's
/// lookup); `None` when the team is on no plan.
pub async fn team_plan(
    db: &Db,
    team_id: &str,
) -> Result<Option<(PlanRow, Overrides)>, sqlx::Error> {
    let columns = COLUMNS
        .split(',')
        .map(|c| format!("p.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let row = sqlx::query(&format!(
        "SELECT {columns}, t.vcpus AS o_vcpus, t.memory_mb AS o_memory_mb, \
         t.storage_mb AS o_storage_mb, t.max_running AS o_max_running, \
         t.max_paused AS o_max_paused FROM team_plans t JOIN plans p ON p.name = t.plan \
         WHERE t.team_id = $1"
    ))
    .bind(team_id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok((
            plan(&r)?,
            Overrides {
                vcpus: r.try_get("o_vcpus")?,
                memory_mb: r.try_get("o_memory_mb")?,
                storage_mb: r.try_get("o_storage_mb")?,
                max_running: r.try_get("o_max_running")?,
                max_paused: r.try_get("o_max_paused")?,
            },
        ))
    })
    .transpose()
}

/// Puts the team on `plan` with `overrides` (replacing earlier ones).
pub async fn assign(
    db: &Db,
    team_id: &str,
    plan: &str,
    overrides: &Overrides,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO team_plans (team_id, plan, vcpus, memory_mb, storage_mb, max_running, max_paused, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (team_id) DO UPDATE SET plan = excluded.plan, \
         vcpus = excluded.vcpus, memory_mb = excluded.memory_mb, storage_mb = excluded.storage_mb, \
         max_running = excluded.max_running, max_paused = excluded.max_paused, updated_at = excluded.updated_at",
    )
    .bind(team_id)
    .bind(plan)
    .bind(overrides.vcpus)
    .bind(overrides.memory_mb)
    .bind(overrides.storage_mb)
    .bind(overrides.max_running)
    .bind(overrides.max_paused)
    .bind(now_ms())
    .execute(&db.pool)
    .await
    .map(|_| ())
}
