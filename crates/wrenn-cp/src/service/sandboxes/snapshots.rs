//! Snapshots in E2B's sense: a sandbox's disk turned into a team template
//! (the existing template snapshot, [`crate::service::templates::snapshot`]),
//! named by the caller or `snap-<random>`, and listed by the sandbox they
//! came from. A snapshot is deleted as the template it is.
use wrenn_types::{SandboxId, TemplateName};

use crate::{
    auth::Principal,
    db::{self, templates::TemplateRow},
    service::templates::{self, SnapshotError},
    state::AppState,
};

/// Snapshots the caller's sandbox `id` (running or paused) into the team
/// template `name`, or a fresh `snap-<random>` name; the sandbox keeps
/// running. Disk only: new sandboxes of it boot on that disk.
pub async fn snapshot(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
    name: Option<TemplateName>,
) -> Result<TemplateRow, SnapshotError> {
    let name = match name {
        Some(name) => name,
        None => generated_name()?,
    };
    templates::snapshot(state, principal, id, &name, false).await
}

/// The team's snapshots, newest first: templates made from a sandbox,
/// optionally only those of `sandbox_id` or named `name`.
pub async fn list_snapshots(
    state: &AppState,
    team_id: &str,
    sandbox_id: Option<&str>,
    name: Option<&str>,
) -> Result<Vec<TemplateRow>, sqlx::Error> {
    let mut rows: Vec<TemplateRow> = db::templates::list(&state.db, team_id)
        .await?
        .into_iter()
        .filter(|t| !t.builtin && t.team_id.as_deref() == Some(team_id))
        .filter(|t| match (&t.source_sandbox_id, sandbox_id) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(source), Some(wanted)) => source == wanted,
        })
        .filter(|t| name.is_none_or(|n| t.name == n))
        .collect();
    rows.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.name.cmp(&b.name)));
    Ok(rows)
}

fn generated_name() -> Result<TemplateName, SnapshotError> {
    let suffix = crate::auth::random_token(10).to_lowercase();
    TemplateName::try_from(format!("snap-{suffix}"))
        .map_err(|e| SnapshotError::Db(sqlx::Error::Protocol(format!("generated name: {e}"))))
}
