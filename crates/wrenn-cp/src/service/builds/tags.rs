//! Moving a built template's tags by hand (Docker's `tag`/`rmi name:tag`,
//! E2B's `Template.assign_tags` / `remove_tags`): a tag points at one
//! version; assigning points more tags at the version a tag names now,
//! removing drops tags. `latest` is not moved by hand: it follows the
//! newest build, as the plain name does. The versions stay either way
//! (deleting the template frees them). Audited.
use crate::{
    audit::{self, Outcome},
    auth::Principal,
    db::{self, templates::TagRow},
    state::AppState,
};
use wrenn_types::TemplateTag as Tag;

#[derive(Debug, thiserror::Error)]
pub enum TagError {
    #[error("template '{0}' not found")]
    TemplateNotFound(String),
    #[error("template '{name}' has no tag '{tag}'")]
    TagNotFound { name: String, tag: String },
    #[error("'latest' follows the newest build of '{0}' and is not assigned or removed by hand")]
    Latest(String),
    #[error("name at least one tag")]
    NoTags,
    #[error("database")]
    Db(#[from] sqlx::Error),
}

fn checked(name: &str, tags: &[Tag]) -> Result<(), TagError> {
    if tags.is_empty() {
        return Err(TagError::NoTags);
    }
    if tags.iter().any(|t| *t == Tag::latest()) {
        return Err(TagError::Latest(name.to_owned()));
    }
    Ok(())
}

/// Points `tags` of the team's `name` at the version `from` points at;
/// answers that version's tag row (its template and build).
pub async fn assign(
    state: &AppState,
    principal: &Principal,
    name: &str,
    from: &Tag,
    tags: &[Tag],
) -> Result<TagRow, TagError> {
    checked(name, tags)?;
    let team_id = principal.team_id.as_str();
    let current = db::templates::tags(&state.db, team_id, name).await?;
    if current.is_empty() {
        return Err(TagError::TemplateNotFound(name.to_owned()));
    }
    let source = current
        .into_iter()
        .find(|t| t.tag == from.as_str())
        .ok_or_else(|| TagError::TagNotFound {
            name: name.to_owned(),
            tag: from.to_string(),
        })?;
    let names: Vec<&str> = tags.iter().map(Tag::as_str).collect();
    db::templates::set_tags(&state.db, team_id, name, &names, &source).await?;
    audit::record(
        &state.db,
        principal,
        "template.tags.assign",
        ("template", name),
        Outcome::Ok,
        &format!("{} -> {from}", names.join(",")),
    )
    .await;
    Ok(source)
}

/// Removes `tags` of the team's `name`; every one must be there.
pub async fn remove(
    state: &AppState,
    principal: &Principal,
    name: &str,
    tags: &[Tag],
) -> Result<(), TagError> {
    checked(name, tags)?;
    let team_id = principal.team_id.as_str();
    let current = db::templates::tags(&state.db, team_id, name).await?;
    if current.is_empty() {
        return Err(TagError::TemplateNotFound(name.to_owned()));
    }
    if let Some(missing) = tags
        .iter()
        .find(|t| !current.iter().any(|c| c.tag == t.as_str()))
    {
        return Err(TagError::TagNotFound {
            name: name.to_owned(),
            tag: missing.to_string(),
        });
    }
    let names: Vec<&str> = tags.iter().map(Tag::as_str).collect();
    db::templates::delete_tags(&state.db, team_id, name, &names).await?;
    audit::record(
        &state.db,
        principal,
        "template.tags.remove",
        ("template", name),
        Outcome::Ok,
        &names.join(","),
    )
    .await;
    Ok(())
}
