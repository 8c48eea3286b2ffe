//! Host records. Until hosts register themselves, the one agent named by
//! `CP_AGENT_URL` is recorded at start-up as a shared host.
use super::{now_ms, Db};

/// Creates or updates the local host's record.
pub async fn upsert_local(db: &Db, id: &str, address: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let updated = sqlx::query(
        "UPDATE hosts SET address = $1, status = 'online', updated_at = $2 WHERE id = $3",
    )
    .bind(address)
    .bind(now)
    .bind(id)
    .execute(&db.pool)
    .await?
    .rows_affected();
    if updated == 0 {
        sqlx::query(
            "INSERT INTO hosts (id, team_id, address, status, created_at, updated_at) \
             VALUES ($1, NULL, $2, 'online', $3, $3)",
        )
        .bind(id)
        .bind(address)
        .bind(now)
        .execute(&db.pool)
        .await?;
    }
    Ok(())
}
