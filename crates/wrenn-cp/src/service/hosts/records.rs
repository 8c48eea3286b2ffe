//! Reading host records and what operators change on them: listing, one
//! host, draining and fresh registration tokens (each change audited).
use std::time::Duration;

use wrenn_types::HostId;

use super::access::{load, Access, HostAccessError};
use crate::{
    audit::{self, Outcome},
    auth::{host as host_auth, Principal},
    db::{self, hosts::HostRow, hosts::Visibility},
};

/// Why no token was issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueTokenError {
    #[error(transparent)]
    Access(#[from] HostAccessError),
    /// Tokens are only issued to pending hosts.
    #[error("host {0} is registered")]
    NotPending(String),
    #[error("cannot store the token")]
    Database(#[from] sqlx::Error),
}

/// A host record and its tags.
#[derive(Debug)]
pub struct HostRecord {
    pub row: HostRow,
    pub tags: Vec<String>,
}

/// A registration token, shown once, and when it expires (Unix ms).
#[derive(Debug)]
pub struct IssuedToken {
    pub secret: String,
    pub expires_at: i64,
}

/// Unix milliseconds `ttl` from now.
pub fn expiry(ttl: Duration) -> i64 {
    db::now_ms().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2))
}

/// Hosts the caller may see: every host for platform admins, the team's
/// bring-your-own-cloud hosts for everyone else.
pub async fn list(db: &db::Db, principal: &Principal) -> Result<Vec<HostRecord>, sqlx::Error> {
    let visibility = if principal.is_platform_admin() {
        Visibility::All
    } else {
        Visibility::Team(&principal.team_id)
    };
    let rows = db::hosts::list(db, visibility).await?;
    let mut tags = db::hosts::all_tags(db).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let tags = tags.remove(&row.id).unwrap_or_default();
            HostRecord { row, tags }
        })
        .collect())
}

/// One host the caller may see.
pub async fn get(
    db: &db::Db,
    principal: &Principal,
    id: &HostId,
) -> Result<HostRecord, HostAccessError> {
    let row = load(db, principal, id, Access::Read).await?;
    let tags = db::hosts::tags(db, &row.id).await?;
    Ok(HostRecord { row, tags })
}

/// Drains a host (or ends draining); audited as `host.drain` or
/// `host.undrain`. Answers the host as it is now.
pub async fn set_draining(
    db: &db::Db,
    principal: &Principal,
    id: &HostId,
    draining: bool,
) -> Result<HostRecord, HostAccessError> {
    let row = load(db, principal, id, Access::Manage).await?;
    db::hosts::set_draining(db, &row.id, draining).await?;
    let action = if draining {
        "host.drain"
    } else {
        "host.undrain"
    };
    audit::record(db, principal, action, ("host", &row.id), Outcome::Ok, "").await;
    get(db, principal, id).await
}

/// A fresh registration token for a pending host; the previous one stops
/// working. Audited as `host.token.issue`.
pub async fn issue_token(
    db: &db::Db,
    principal: &Principal,
    id: &HostId,
    ttl: Duration,
) -> Result<IssuedToken, IssueTokenError> {
    let host = load(db, principal, id, Access::Manage).await?;
    let token = host_auth::generate_token();
    let expires_at = expiry(ttl);
    if !db::hosts::replace_token(db, &host.id, &token.hash, expires_at).await? {
        return Err(IssueTokenError::NotPending(host.id));
    }
    audit::record(
        db,
        principal,
        "host.token.issue",
        ("host", &host.id),
        Outcome::Ok,
        "reissued",
    )
    .await;
    Ok(IssuedToken {
        secret: token.secret,
        expires_at,
    })
}
