//! Teams and their members, as seen from one user.
use sqlx::{any::AnyRow, Row};

use super::{flag, get_bool, new_id, now_ms, Db, DbKind};
use crate::role::Role;

/// A team together with the caller's role in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRow {
    pub id: String,
    pub name: String,
    pub personal: bool,
    pub role: Role,
    pub created_at: i64,
}

fn team_row(row: &AnyRow) -> Result<TeamRow, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(TeamRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        personal: get_bool(row, "personal")?,
        role: Role::parse(&role).unwrap_or(Role::Member),
        created_at: row.try_get("created_at")?,
    })
}

const TEAM_SELECT: &str = "SELECT t.id, t.name, t.personal, t.created_at, m.role \
     FROM teams t JOIN team_members m ON m.team_id = t.id WHERE m.user_id = $1";

/// The user's teams, oldest first (the personal team first).
pub async fn list_for_user(db: &Db, user_id: &str) -> Result<Vec<TeamRow>, sqlx::Error> {
    let rows = sqlx::query(&format!("{TEAM_SELECT} ORDER BY t.created_at, t.id"))
        .bind(user_id)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(team_row).collect()
}

/// One of the user's teams; `None` when the user is not a member.
pub async fn get_for_user(
    db: &Db,
    user_id: &str,
    team_id: &str,
) -> Result<Option<TeamRow>, sqlx::Error> {
    sqlx::query(&format!("{TEAM_SELECT} AND t.id = $2"))
        .bind(user_id)
        .bind(team_id)
        .fetch_optional(&db.pool)
        .await?
        .as_ref()
        .map(team_row)
        .transpose()
}

/// A team without the caller's role (API keys act on one team).
pub async fn name(db: &Db, team_id: &str) -> Result<Option<(String, bool)>, sqlx::Error> {
    let row = sqlx::query("SELECT name, personal FROM teams WHERE id = $1")
        .bind(team_id)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|row| Ok((row.try_get("name")?, get_bool(&row, "personal")?)))
        .transpose()
}

/// Creates a shared (non-personal) team owned by `owner_id`.
pub async fn create(db: &Db, owner_id: &str, name: &str) -> Result<TeamRow, sqlx::Error> {
    let id = new_id("team_");
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    sqlx::query("INSERT INTO teams (id, name, personal, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(name)
        .bind(flag(false))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO team_members (team_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
    )
    .bind(&id)
    .bind(owner_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(TeamRow {
        id,
        name: name.to_owned(),
        personal: false,
        role: Role::Owner,
        created_at: now,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub user_id: String,
    pub email: String,
    pub role: Role,
}

pub async fn members(db: &Db, team_id: &str) -> Result<Vec<MemberRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT m.user_id, u.email, m.role FROM team_members m JOIN users u ON u.id = m.user_id \
         WHERE m.team_id = $1 ORDER BY m.created_at, u.email",
    )
    .bind(team_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            let role: String = row.try_get("role")?;
            Ok(MemberRow {
                user_id: row.try_get("user_id")?,
                email: row.try_get("email")?,
                role: Role::parse(&role).unwrap_or(Role::Member),
            })
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum AddMemberError {
    #[error("no user has this email")]
    UnknownUser,
    #[error("the user is already a member of this team")]
    AlreadyMember,
    #[error("cannot add the member")]
    Db(#[source] sqlx::Error),
}

impl From<sqlx::Error> for AddMemberError {
    fn from(err: sqlx::Error) -> Self {
        if super::is_unique_violation(&err) {
            Self::AlreadyMember
        } else {
            Self::Db(err)
        }
    }
}

/// Adds the user with `email` to the team.
pub async fn add_member(
    db: &Db,
    team_id: &str,
    email: &str,
    role: Role,
) -> Result<MemberRow, AddMemberError> {
    let user = super::users::by_email(db, email)
        .await?
        .ok_or(AddMemberError::UnknownUser)?;
    sqlx::query(
        "INSERT INTO team_members (team_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(team_id)
    .bind(&user.id)
    .bind(role.as_str())
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(MemberRow {
        user_id: user.id,
        email: user.email,
        role,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RemoveMemberError {
    #[error("the user is not a member of this team")]
    NotMember,
    #[error("the team's last owner cannot be removed")]
    LastOwner,
    #[error("cannot remove the member")]
    Db(#[from] sqlx::Error),
}

/// Removes a member unless they are the team's last owner, and revokes in
/// the same transaction the keys they created there that are theirs
/// (answers those keys' ids). On PostgreSQL
/// the owners' rows are locked first, so that two owners removing each
/// other concurrently cannot leave the team without one; SQLite runs
/// writers one at a time and the check is part of the one `DELETE`.
pub async fn remove_member(
    db: &Db,
    team_id: &str,
    user_id: &str,
) -> Result<Vec<String>, RemoveMemberError> {
    let mut tx = db.pool.begin().await?;
    if db.kind == DbKind::Postgres {
        sqlx::query(
            "SELECT user_id FROM team_members WHERE team_id = $1 AND role = 'owner' FOR UPDATE",
        )
        .bind(team_id)
        .fetch_all(&mut *tx)
        .await?;
    }
    let removed = sqlx::query(
        "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2 AND (role <> 'owner' \
         OR (SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND role = 'owner') > 1)",
    )
    .bind(team_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if removed == 0 {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2")
                .bind(team_id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        return Err(match role {
            Some(_) => RemoveMemberError::LastOwner,
            None => RemoveMemberError::NotMember,
        });
    }
    let revoked = super::keys::revoke_creator_keys(&mut tx, team_id, user_id).await?;
    tx.commit().await?;
    crate::auth::key_cache::forget_all();
    Ok(revoked)
}

/// How many bring-your-own-cloud hosts the team owns.
pub async fn host_count(db: &Db, team_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM hosts WHERE team_id = $1")
        .bind(team_id)
        .fetch_one(&db.pool)
        .await
}

/// The user's teams in which they are the only owner, with how many
/// members each has (user deletion decides what to do with them).
pub async fn solely_owned(db: &Db, user_id: &str) -> Result<Vec<(TeamRow, i64)>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "{TEAM_SELECT} AND m.role = 'owner' AND (SELECT COUNT(*) FROM team_members o \
         WHERE o.team_id = t.id AND o.role = 'owner') = 1 ORDER BY t.created_at, t.id"
    ))
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    let mut teams = Vec::with_capacity(rows.len());
    for row in &rows {
        let team = team_row(row)?;
        let members: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM team_members WHERE team_id = $1")
                .bind(&team.id)
                .fetch_one(&db.pool)
                .await?;
        teams.push((team, members));
    }
    Ok(teams)
}

/// Deletes the team's records in one transaction: its keys (answered, for
/// the audit log), templates, sandbox records and their state histories,
/// memberships and the team itself. Its audit events stay. `None` when
/// there was no such team (already deleted).
pub async fn delete(db: &Db, team_id: &str) -> Result<Option<Vec<String>>, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM api_keys WHERE team_id = $1 AND revoked_at IS NULL ORDER BY id",
    )
    .bind(team_id)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM sandbox_events WHERE sandbox_id IN (SELECT id FROM sandboxes WHERE team_id = $1)",
    )
    .bind(team_id)
    .execute(&mut *tx)
    .await?;
    for table in ["sandboxes", "templates", "api_keys", "team_members"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE team_id = $1"))
            .bind(team_id)
            .execute(&mut *tx)
            .await?;
    }
    let deleted = sqlx::query("DELETE FROM teams WHERE id = $1")
        .bind(team_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    crate::auth::key_cache::forget_all();
    Ok((deleted == 1).then_some(keys))
}
