//! Template records: built-ins (no team, visible to all) and team templates
//! made by snapshotting a sandbox. `image` is the template's name on hosts.
use sqlx::{any::AnyRow, Row};

use super::{get_bool, new_id, now_ms, Db};

/// Templates every deployment has (built by `deploy/setup-host.sh`):
/// `code-interpreter-v1` is what the `e2b-code-interpreter` SDK creates by
/// default (Jupyter kernels; numpy, pandas and matplotlib want the memory).
pub const BUILTINS: &[(&str, i64, i64)] = &[("base", 1, 512), ("code-interpreter-v1", 2, 1024)];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRow {
    pub id: String,
    pub team_id: Option<String>,
    pub name: String,
    pub image: String,
    pub builtin: bool,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_mb: Option<i64>,
    pub has_memory_snapshot: bool,
    pub source_sandbox_id: Option<String>,
    pub created_at: i64,
    /// The host holding a team template's files; `None` for built-ins,
    /// which every host has.
    pub host_id: Option<String>,
}

const COLUMNS: &str = "id, team_id, name, image, builtin, vcpus, memory_mb, disk_mb, \
                       has_memory_snapshot, source_sandbox_id, created_at, host_id";

fn row(row: &AnyRow) -> Result<TemplateRow, sqlx::Error> {
    Ok(TemplateRow {
        id: row.try_get("id")?,
        team_id: row.try_get("team_id")?,
        name: row.try_get("name")?,
        image: row.try_get("image")?,
        builtin: get_bool(row, "builtin")?,
        vcpus: row.try_get("vcpus")?,
        memory_mb: row.try_get("memory_mb")?,
        disk_mb: row.try_get("disk_mb")?,
        has_memory_snapshot: get_bool(row, "has_memory_snapshot")?,
        source_sandbox_id: row.try_get("source_sandbox_id")?,
        created_at: row.try_get("created_at")?,
        host_id: row.try_get("host_id")?,
    })
}

/// Inserts the built-in templates that are missing (start-up; idempotent).
pub async fn register_builtins(db: &Db) -> Result<(), sqlx::Error> {
    for (name, vcpus, memory_mb) in BUILTINS {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM templates WHERE image = $1")
                .bind(*name)
                .fetch_optional(&db.pool)
                .await?;
        if exists.is_some() {
            continue;
        }
        let result = sqlx::query(&format!(
            "INSERT INTO templates ({COLUMNS}) VALUES ($1, NULL, $2, $2, 1, $3, $4, NULL, 0, NULL, $5, NULL)"
        ))
        .bind(new_id("tpl_"))
        .bind(*name)
        .bind(*vcpus)
        .bind(*memory_mb)
        .bind(now_ms())
        .execute(&db.pool)
        .await;
        // Another replica starting at the same moment may have won the race.
        if let Err(err) = result {
            if !super::is_unique_violation(&err) {
                return Err(err);
            }
        }
    }
    Ok(())
}

/// A template `team_id` may use: its own of that name first, else a built-in.
pub async fn resolve(
    db: &Db,
    team_id: &str,
    name: &str,
) -> Result<Option<TemplateRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM templates WHERE name = $1 AND (team_id = $2 OR team_id IS NULL) \
         ORDER BY builtin ASC LIMIT 1"
    ))
    .bind(name)
    .bind(team_id)
    .fetch_optional(&db.pool)
    .await?;
    rows.as_ref().map(row).transpose()
}

/// Built-ins and the team's own, by name.
pub async fn list(db: &Db, team_id: &str) -> Result<Vec<TemplateRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM templates WHERE (team_id = $1 OR team_id IS NULL) AND hidden = 0 \
         ORDER BY name, created_at"
    ))
    .bind(team_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(row).collect()
}

pub async fn insert(db: &Db, template: &TemplateRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO templates ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&template.id)
    .bind(&template.team_id)
    .bind(&template.name)
    .bind(&template.image)
    .bind(super::flag(template.builtin))
    .bind(template.vcpus)
    .bind(template.memory_mb)
    .bind(template.disk_mb)
    .bind(super::flag(template.has_memory_snapshot))
    .bind(&template.source_sandbox_id)
    .bind(template.created_at)
    .bind(&template.host_id)
    .execute(&db.pool)
    .await
    .map(|_| ())
}

/// The host images of every recorded template (any team, any host).
pub async fn images(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT image FROM templates")
        .fetch_all(&db.pool)
        .await
}

/// Drops the team templates whose files were on a deleted host.
pub async fn delete_on_host(db: &Db, host_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM templates WHERE host_id = $1 AND builtin = 0")
        .bind(host_id)
        .execute(&db.pool)
        .await
        .map(|_| ())
}

pub async fn delete(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM templates WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .map(|_| ())
}
