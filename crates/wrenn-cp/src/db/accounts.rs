//! Creating accounts: a user, their personal team and their owner
//! membership in one transaction; the deployment's first user becomes its
//! platform admin. Also the admin flag itself.
use super::{flag, new_id, now_ms, users::UserRow, Db, DbKind};

#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("cannot create the account")]
    Db(#[source] sqlx::Error),
}

impl From<sqlx::Error> for CreateAccountError {
    fn from(err: sqlx::Error) -> Self {
        if super::is_unique_violation(&err) {
            Self::EmailTaken
        } else {
            Self::Db(err)
        }
    }
}

/// What signup stores; `email` is already normalised.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub team_name: &'a str,
}

/// A created account: the user and their personal team's id.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: UserRow,
    pub team_id: String,
    pub team_created_at: i64,
}

/// Creates the user, the personal team and the owner membership.
///
/// The first user becomes platform admin. Race-safe: PostgreSQL serialises
/// concurrent signups with a table lock taken before the `users` table is
/// read; SQLite serialises writers, and the first statement of the
/// transaction is the write that also decides the flag, so no stale read
/// can precede it.
pub async fn create(db: &Db, account: &NewAccount<'_>) -> Result<Account, CreateAccountError> {
    let user_id = new_id("usr_");
    let team_id = new_id("team_");
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    if db.kind == DbKind::Postgres {
        sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, is_admin, created_at) \
         SELECT $1, $2, $3, $4, CASE WHEN EXISTS (SELECT 1 FROM users) THEN 0 ELSE 1 END, $5",
    )
    .bind(&user_id)
    .bind(account.email)
    .bind(account.name)
    .bind(account.password_hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO teams (id, name, personal, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&team_id)
        .bind(account.team_name)
        .bind(flag(true))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO team_members (team_id, user_id, role, created_at) \
         VALUES ($1, $2, 'owner', $3)",
    )
    .bind(&team_id)
    .bind(&user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let is_admin: i64 = sqlx::query_scalar("SELECT is_admin FROM users WHERE id = $1")
        .bind(&user_id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Account {
        user: UserRow {
            id: user_id,
            email: account.email.to_owned(),
            name: account.name.to_owned(),
            password_hash: account.password_hash.to_owned(),
            is_admin: is_admin != 0,
            created_at: now,
        },
        team_id,
        team_created_at: now,
    })
}

/// Sets a user's platform-admin flag; `None` when there is no such user.
pub async fn set_admin(
    db: &Db,
    user_id: &str,
    is_admin: bool,
) -> Result<Option<UserRow>, sqlx::Error> {
    let updated = sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
        .bind(flag(is_admin))
        .bind(user_id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if updated == 0 {
        return Ok(None);
    }
    super::users::get(db, user_id).await
}

/// The latest `locked_until` (Unix ms) of these login counters; 0 when
/// none is locked.
pub async fn locked_until(db: &Db, subjects: &[(&str, &str)]) -> Result<i64, sqlx::Error> {
    let mut until = 0;
    for (scope, subject) in subjects {
        let row: Option<i64> = sqlx::query_scalar(
            "SELECT locked_until FROM login_failures WHERE scope = $1 AND subject = $2",
        )
        .bind(*scope)
        .bind(*subject)
        .fetch_optional(&db.pool)
        .await?;
        until = until.max(row.unwrap_or(0));
    }
    Ok(until)
}

/// Counts one more wrong password on a login counter and answers the run's
/// length. A counter untouched for a day starts again from 1. Atomic
/// (one upsert), so replicas counting at once lose no failure.
pub async fn record_login_failure(
    db: &Db,
    scope: &str,
    subject: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    const FORGET_AFTER_MS: i64 = 24 * 3600 * 1000;
    sqlx::query_scalar(
        "INSERT INTO login_failures (scope, subject, failures, locked_until, updated_at) \
         VALUES ($1, $2, 1, 0, $3) ON CONFLICT (scope, subject) DO UPDATE SET \
         failures = CASE WHEN login_failures.updated_at < $4 THEN 1 \
         ELSE login_failures.failures + 1 END, updated_at = $3 RETURNING failures",
    )
    .bind(scope)
    .bind(subject)
    .bind(now)
    .bind(now - FORGET_AFTER_MS)
    .fetch_one(&db.pool)
    .await
}

/// Locks a login counter until `until` (Unix ms).
pub async fn lock_login(
    db: &Db,
    scope: &str,
    subject: &str,
    until: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE login_failures SET locked_until = $1 WHERE scope = $2 AND subject = $3")
        .bind(until)
        .bind(scope)
        .bind(subject)
        .execute(&db.pool)
        .await
        .map(|_| ())
}

/// Forgets a login counter (after a correct password).
pub async fn clear_login_failures(db: &Db, scope: &str, subject: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE scope = $1 AND subject = $2")
        .bind(scope)
        .bind(subject)
        .execute(&db.pool)
        .await
        .map(|_| ())
}
