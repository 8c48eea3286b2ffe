//! Users, their memberships and personal teams, and deleting a user.
use sqlx::{any::AnyRow, Row};

use super::{get_bool, Db};
use crate::role::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: i64,
}

fn user_row(row: &AnyRow) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        is_admin: get_bool(row, "is_admin")?,
        created_at: row.try_get("created_at")?,
    })
}

const USER_COLUMNS: &str = "id, email, name, password_hash, is_admin, created_at";

pub async fn get(db: &Db, id: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .as_ref()
        .map(user_row)
        .transpose()
}

pub async fn by_email(db: &Db, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(&db.pool)
    .await?
    .as_ref()
    .map(user_row)
    .transpose()
}

/// The user's role in a team, `None` when not a member.
pub async fn membership(
    db: &Db,
    team_id: &str,
    user_id: &str,
) -> Result<Option<Role>, sqlx::Error> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team_id)
            .bind(user_id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(role.as_deref().and_then(Role::parse))
}

/// The user's personal team and role in it.
pub async fn personal_team(db: &Db, user_id: &str) -> Result<Option<(String, Role)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT m.team_id, m.role FROM team_members m JOIN teams t ON t.id = m.team_id \
         WHERE m.user_id = $1 AND t.personal = 1 ORDER BY t.created_at LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| {
        let role: String = row.try_get("role")?;
        Ok((
            row.try_get("team_id")?,
            Role::parse(&role).unwrap_or(Role::Member),
        ))
    })
    .transpose()
}

/// Deletes a user in one transaction: revokes the keys they created that
/// are theirs (`owner = 'user'`) in every team (answered as `(team_id,
/// key_id)`, for the audit log), then removes their memberships and the
/// user. `None` when there was no such user.
pub async fn delete(db: &Db, user_id: &str) -> Result<Option<Vec<(String, String)>>, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let teams: Vec<String> =
        sqlx::query_scalar("SELECT team_id FROM team_members WHERE user_id = $1 ORDER BY team_id")
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
    let mut revoked = Vec::new();
    for team_id in teams {
        for key_id in super::keys::revoke_creator_keys(&mut tx, &team_id, user_id).await? {
            revoked.push((team_id.clone(), key_id));
        }
    }
    sqlx::query("DELETE FROM team_members WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    crate::auth::key_cache::forget_all();
    Ok((deleted == 1).then_some(revoked))
}
