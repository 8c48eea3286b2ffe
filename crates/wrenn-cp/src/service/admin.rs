//! Platform administration (platform admins only): granting and revoking
//! the admin flag, audited as `user.set_admin`, and listing every user and
//! team.
use wrenn_types::UserId;

use crate::{
    audit::{self, Outcome},
    auth::Principal,
    db::{
        self,
        directory::{DirectoryPage, DirectoryTeam},
        users::UserRow,
    },
};

/// Why the flag was not changed.
#[derive(Debug, thiserror::Error)]
pub enum SetAdminError {
    #[error("only platform admins may do this")]
    NotAdmin,
    #[error("user not found")]
    UserNotFound,
    #[error("cannot change the user")]
    Database(#[from] sqlx::Error),
}

/// Makes the user a platform admin, or not. `user_id` is `None` for a
/// malformed id, which names no user.
pub async fn set_admin(
    db: &db::Db,
    principal: &Principal,
    user_id: Option<&UserId>,
    is_admin: bool,
) -> Result<UserRow, SetAdminError> {
    if !principal.is_platform_admin() {
        return Err(SetAdminError::NotAdmin);
    }
    let user_id = user_id.ok_or(SetAdminError::UserNotFound)?;
    let user = db::accounts::set_admin(db, user_id.as_str(), is_admin)
        .await?
        .ok_or(SetAdminError::UserNotFound)?;
    let detail = if is_admin { "granted" } else { "revoked" };
    audit::record(
        db,
        principal,
        "user.set_admin",
        ("user", &user.id),
        Outcome::Ok,
        detail,
    )
    .await;
    tracing::info!(user_id = %user.id, is_admin, "platform admin flag changed");
    Ok(user)
}

/// Why the directory was not listed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("only platform admins may do this")]
    NotAdmin,
    #[error("cannot list the directory")]
    Database(#[from] sqlx::Error),
}

/// A page of every user on the platform (platform admins only).
pub async fn list_users(
    db: &db::Db,
    principal: &Principal,
    page: &DirectoryPage<'_>,
) -> Result<Vec<UserRow>, DirectoryError> {
    if !principal.is_platform_admin() {
        return Err(DirectoryError::NotAdmin);
    }
    Ok(db::directory::users(db, page).await?)
}

/// A page of every team on the platform (platform admins only).
pub async fn list_teams(
    db: &db::Db,
    principal: &Principal,
    page: &DirectoryPage<'_>,
) -> Result<Vec<DirectoryTeam>, DirectoryError> {
    if !principal.is_platform_admin() {
        return Err(DirectoryError::NotAdmin);
    }
    Ok(db::directory::teams(db, page).await?)
}
