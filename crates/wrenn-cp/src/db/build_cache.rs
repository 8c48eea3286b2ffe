//! The per-team build step cache (migration 0012): a step's cache key →
//! the hidden template holding the disk after it, least recently used
//! entries evicted beyond a cap.
use sqlx::Row;

use super::{now_ms, Db};

/// The template of a cached step, touched as used now; `None`: a miss.
pub async fn lookup(db: &Db, team_id: &str, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE template_build_cache SET last_used_at = $3 \
         WHERE team_id = $1 AND cache_key = $2 RETURNING template_id",
    )
    .bind(team_id)
    .bind(key)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await
}

/// Records a step's snapshot; a key already present keeps its entry
/// (another build stored the same step first): `false` then.
pub async fn insert(
    db: &Db,
    team_id: &str,
    key: &str,
    template_id: &str,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO template_build_cache (team_id, cache_key, template_id, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (team_id, cache_key) DO NOTHING",
    )
    .bind(team_id)
    .bind(key)
    .bind(template_id)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The entries beyond the newest `keep` (by last use): their keys and
/// templates, oldest first, removed from the cache. The caller deletes
/// the templates from their hosts and the database.
pub async fn evict_beyond(
    db: &Db,
    team_id: &str,
    keep: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    // SQLite needs a LIMIT before OFFSET; PostgreSQL has no `LIMIT -1`.
    let rows = sqlx::query(
        "SELECT cache_key, template_id FROM template_build_cache WHERE team_id = $1 \
         ORDER BY last_used_at DESC, cache_key DESC LIMIT $2 OFFSET $3",
    )
    .bind(team_id)
    .bind(i64::MAX)
    .bind(keep)
    .fetch_all(&db.pool)
    .await?;
    let mut evicted = Vec::new();
    for row in rows.iter().rev() {
        let key: String = row.try_get("cache_key")?;
        let template_id: String = row.try_get("template_id")?;
        sqlx::query("DELETE FROM template_build_cache WHERE team_id = $1 AND cache_key = $2")
            .bind(team_id)
            .bind(&key)
            .execute(&db.pool)
            .await?;
        evicted.push((key, template_id));
    }
    Ok(evicted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{new_id, templates};

    async fn db_with_templates(n: usize) -> (tempfile::TempDir, Db, String, Vec<String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&format!("sqlite://{}/cp.db", dir.path().display()))
            .await
            .expect("open");
        let team = new_id("team_");
        sqlx::query("INSERT INTO teams (id, name, personal, created_at) VALUES ($1, 't', 0, 0)")
            .bind(&team)
            .execute(&db.pool)
            .await
            .expect("team");
        let mut ids = Vec::new();
        for i in 0..n {
            let row = templates::TemplateRow {
                id: new_id("tpl_"),
                team_id: Some(team.clone()),
                name: format!("~cache-{i}"),
                image: new_id("tm-"),
                builtin: false,
                vcpus: 1,
                memory_mb: 512,
                disk_mb: None,
                has_memory_snapshot: false,
                source_sandbox_id: None,
                created_at: 0,
                host_id: None,
            };
            templates::insert(&db, &row).await.expect("template");
            ids.push(row.id);
        }
        (dir, db, team, ids)
    }

    #[tokio::test]
    async fn lookup_when_inserted_then_hit_and_duplicate_keeps_first() {
        let (_dir, db, team, ids) = db_with_templates(2).await;
        assert_eq!(lookup(&db, &team, "k1").await.unwrap(), None);
        assert!(insert(&db, &team, "k1", &ids[0]).await.unwrap());
        assert!(!insert(&db, &team, "k1", &ids[1]).await.unwrap());
        assert_eq!(
            lookup(&db, &team, "k1").await.unwrap(),
            Some(ids[0].clone())
        );
        assert_eq!(lookup(&db, "team_other", "k1").await.unwrap(), None);
    }

    #[tokio::test]
    async fn evict_when_over_cap_then_least_recently_used_go() {
        let (_dir, db, team, ids) = db_with_templates(3).await;
        for (i, id) in ids.iter().enumerate() {
            insert(&db, &team, &format!("k{i}"), id).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        lookup(&db, &team, "k0").await.unwrap();
        let evicted = evict_beyond(&db, &team, 2).await.unwrap();
        assert_eq!(evicted, [("k1".to_string(), ids[1].clone())]);
        assert_eq!(lookup(&db, &team, "k1").await.unwrap(), None);
        assert!(lookup(&db, &team, "k0").await.unwrap().is_some());
        assert!(evict_beyond(&db, &team, 2).await.unwrap().is_empty());
    }
}
