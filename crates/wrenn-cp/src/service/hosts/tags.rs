//! Host tags, which the scheduler matches against a create's `tags`:
//! readable by whoever sees the host, changed by whoever manages it, each
//! change audited.
use wrenn_types::HostId;

use super::access::{load, Access, HostAccessError};
use crate::{
    audit::{self, Outcome},
    auth::Principal,
    db,
};

/// Most tags one host carries.
pub const MAX_TAGS: usize = 16;

/// Why tags were not added.
#[derive(Debug, thiserror::Error)]
pub enum AddTagsError {
    #[error(transparent)]
    Access(#[from] HostAccessError),
    #[error("a host carries at most {max} tags")]
    TooMany { max: usize },
    #[error("cannot store the tags")]
    Database(#[from] sqlx::Error),
}

/// Why a tag was not removed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveTagError {
    #[error(transparent)]
    Access(#[from] HostAccessError),
    #[error("tag {tag} not found")]
    NotFound { tag: String },
    #[error("cannot remove the tag")]
    Database(#[from] sqlx::Error),
}

/// The host's tags.
pub async fn list(
    db: &db::Db,
    principal: &Principal,
    id: &HostId,
) -> Result<Vec<String>, HostAccessError> {
    let host = load(db, principal, id, Access::Read).await?;
    Ok(db::hosts::tags(db, &host.id).await?)
}

/// Adds `tags` (already validated; present ones are kept) and answers the
/// host's tags; audited as `host.tags.add`.
pub async fn add(
    db: &db::Db,
    principal: &Principal,
    id: &HostId,
    tags: &[String],
) -> Result<Vec<String>, AddTagsError> {
    let host = load(db, principal, id, Access::Manage).await?;
    let present = db::hosts::tags(db, &host.id).await?;
    let added = tags.iter().filter(|t| !present.contains(t)).count();
    if present.len() + added > MAX_TAGS {
        return Err(AddTagsError::TooMany { max: MAX_TAGS });
    }
    db::hosts::add_tags(db, &host.id, tags).await?;
    audit::record(
        db,
        principal,
        "host.tags.add",
        ("host", &host.id),
        Outcome::Ok,
        &tags.join(","),
    )
    .await;
    Ok(db::hosts::tags(db, &host.id).await?)
}

/// Removes one tag (an invalid one is simply not on the host); audited as
/// `host.tags.remove`.
pub async fn remove(
    db: &db::Db,
    principal: &Principal,
    id: &HostId,
    tag: &str,
) -> Result<(), RemoveTagError> {
    let host = load(db, principal, id, Access::Manage).await?;
    if !db::hosts::remove_tag(db, &host.id, tag).await? {
        return Err(RemoveTagError::NotFound {
            tag: tag.to_owned(),
        });
    }
    audit::record(
        db,
        principal,
        "host.tags.remove",
        ("host", &host.id),
        Outcome::Ok,
        tag,
    )
    .await;
    Ok(())
}
