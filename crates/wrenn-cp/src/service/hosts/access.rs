//! Who may see and manage a host record: platform admins any host; a team
//! its own bring-your-own-cloud hosts (owners to manage). Others' hosts are
//! "not found", as if they did not exist.
use wrenn_types::HostId;

use crate::{
    auth::{Principal, Role},
    db::{self, hosts::HostRow},
};

/// What a caller may do with a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Manage,
}

/// Why a host could not be loaded for the caller.
#[derive(Debug, thiserror::Error)]
pub enum HostAccessError {
    /// Absent, or not the caller's to see.
    #[error("host {0} not found")]
    NotFound(HostId),
    #[error("only owners of the team may manage its hosts")]
    NotOwner,
    #[error("cannot read the host")]
    Database(#[from] sqlx::Error),
}

/// The host `id`, if the caller may see it (and, for `Manage`, change it).
pub async fn load(
    db: &db::Db,
    principal: &Principal,
    id: &HostId,
    access: Access,
) -> Result<HostRow, HostAccessError> {
    let not_found = || HostAccessError::NotFound(id.clone());
    let host = db::hosts::get(db, id.as_str())
        .await?
        .ok_or_else(not_found)?;
    if principal.is_platform_admin() {
        return Ok(host);
    }
    if host.team_id.as_deref() != Some(principal.team_id.as_str()) {
        return Err(not_found());
    }
    if access == Access::Manage && principal.role != Role::Owner {
        return Err(HostAccessError::NotOwner);
    }
    Ok(host)
}
