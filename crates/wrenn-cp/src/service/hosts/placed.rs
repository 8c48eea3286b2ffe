//! The sandboxes placed on a host, for the preview of what deleting it
//! would destroy: platform admins for any host, owners of a team for its
//! bring-your-own-cloud hosts (others' hosts are "not found").
use wrenn_types::HostId;

use super::access::{self, Access, HostAccessError};
use crate::{
    auth::Principal,
    db::{self, sandbox_row::SandboxRow},
};

/// The pending and live sandboxes on host `id`, oldest first.
pub async fn sandboxes_on_host(
    db: &db::Db,
    principal: &Principal,
    id: &HostId,
) -> Result<Vec<SandboxRow>, HostAccessError> {
    access::load(db, principal, id, Access::Manage).await?;
    let mut placed = db::sandboxes::pending_on_host(db, id.as_str()).await?;
    placed.extend(db::sandboxes::live_on_host(db, id.as_str()).await?);
    placed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(placed)
}
