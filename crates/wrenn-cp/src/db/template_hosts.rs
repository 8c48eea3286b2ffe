//! Which hosts hold a copy of which team template, with the template's
//! content address (migration 0017; docs/architecture.md, "Templates on
//! every host"). Queries only.
use sqlx::{any::AnyRow, Row};

use super::{now_ms, Db};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateHostRow {
    pub template_id: String,
    pub host_id: String,
    pub digest: String,
    pub bytes: i64,
    pub created_at: i64,
}

fn row(row: &AnyRow) -> Result<TemplateHostRow, sqlx::Error> {
    Ok(TemplateHostRow {
        template_id: row.try_get("template_id")?,
        host_id: row.try_get("host_id")?,
        digest: row.try_get("digest")?,
        bytes: row.try_get("bytes")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Records that `host_id` holds the template (again: idempotent).
pub async fn insert(
    db: &Db,
    template_id: &str,
    host_id: &str,
    digest: &str,
    bytes: i64,
) -> Result<(), sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO template_hosts (template_id, host_id, digest, bytes, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(template_id)
    .bind(host_id)
    .bind(digest)
    .bind(bytes)
    .bind(now_ms())
    .execute(&db.pool)
    .await;
    match result {
        Err(err) if super::is_unique_violation(&err) => Ok(()),
        other => other.map(drop),
    }
}

/// The holders of a template, oldest first (the host that made it first).
pub async fn holders(db: &Db, template_id: &str) -> Result<Vec<TemplateHostRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT template_id, host_id, digest, bytes, created_at FROM template_hosts \
         WHERE template_id = $1 ORDER BY created_at, host_id",
    )
    .bind(template_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(row).collect()
}

/// Forgets one copy (the host deleted it).
pub async fn delete(db: &Db, template_id: &str, host_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM template_hosts WHERE template_id = $1 AND host_id = $2")
        .bind(template_id)
        .bind(host_id)
        .execute(&db.pool)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::templates::{self, TemplateRow};

    async fn db_with_template() -> (tempfile::TempDir, Db, TemplateRow) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&format!("sqlite://{}/cp.db", dir.path().display()))
            .await
            .expect("db");
        for host in ["host_a", "host_b"] {
            sqlx::query(
                "INSERT INTO hosts (id, name, team_id, address, status, created_at, updated_at) \
                 VALUES ($1, $1, NULL, '10.0.0.1:1', 'online', 0, 0)",
            )
            .bind(host)
            .execute(&db.pool)
            .await
            .expect("host");
        }
        let template = TemplateRow {
            id: "tpl_1".into(),
            team_id: None,
            name: "t".into(),
            image: "tm-1".into(),
            builtin: false,
            vcpus: 1,
            memory_mb: 256,
            disk_mb: None,
            has_memory_snapshot: false,
            source_sandbox_id: None,
            created_at: 0,
            host_id: Some("host_a".into()),
        };
        templates::insert(&db, &template).await.expect("template");
        (dir, db, template)
    }

    #[tokio::test]
    async fn insert_when_twice_then_one_row_per_host_in_order() {
        let (_dir, db, template) = db_with_template().await;
        let digest = "d".repeat(64);

        insert(&db, &template.id, "host_a", &digest, 10)
            .await
            .expect("a");
        insert(&db, &template.id, "host_a", &digest, 10)
            .await
            .expect("again");
        insert(&db, &template.id, "host_b", &digest, 10)
            .await
            .expect("b");

        let hosts: Vec<String> = holders(&db, &template.id)
            .await
            .expect("holders")
            .into_iter()
            .map(|h| h.host_id)
            .collect();
        assert_eq!(hosts, ["host_a", "host_b"]);
    }

    #[tokio::test]
    async fn rows_when_template_deleted_or_host_forgotten_then_gone() {
        let (_dir, db, template) = db_with_template().await;
        let digest = "d".repeat(64);
        insert(&db, &template.id, "host_a", &digest, 10)
            .await
            .expect("a");
        insert(&db, &template.id, "host_b", &digest, 10)
            .await
            .expect("b");

        delete(&db, &template.id, "host_b").await.expect("forget");
        assert_eq!(holders(&db, &template.id).await.expect("holders").len(), 1);
        templates::delete(&db, &template.id).await.expect("delete");

        assert!(holders(&db, &template.id)
            .await
            .expect("holders")
            .is_empty());
    }
}
