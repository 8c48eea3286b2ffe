//! Templates: built-ins and the team's own, made by snapshotting a
//! sandbox's disk (optionally with a memory snapshot, so that sandboxes
//! start by restore), and deleted from every host that holds a copy.
use wrenn_types::{SandboxId, TemplateName};

use crate::{
    agent::{AgentError, AgentTemplate},
    audit::{self, Outcome},
    auth::Principal,
    db::{self, templates::TemplateRow},
    lifecycle::SandboxState,
    service::template_copies,
    state::AppState,
};

#[derive(Debug, thiserror::Error)]
pub enum GetTemplateError {
    #[error("template '{0}' not found")]
    NotFound(TemplateName),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteTemplateError {
    #[error("template '{0}' not found")]
    NotFound(TemplateName),
    #[error("built-in templates cannot be deleted")]
    Builtin,
    /// The host keeps it (sandboxes still use it).
    #[error("{0}")]
    InUse(String),
    #[error("the host refused: {0}")]
    Host(#[source] AgentError),
    /// The host records could not be read.
    #[error("cannot list the hosts")]
    Hosts(#[source] crate::agent::DirectoryError),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("sandbox not found")]
    SandboxNotFound,
    #[error("sandbox is {0}, not running")]
    NotRunning(SandboxState),
    #[error("a template named '{0}' already exists")]
    NameTaken(TemplateName),
    #[error("the sandbox's host is not connected")]
    HostNotConnected,
    #[error("the host refused: {0}")]
    Host(#[source] AgentError),
    #[error("the snapshot task failed")]
    Task(#[source] tokio::task::JoinError),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// Built-in templates and the team's own.
pub async fn list(state: &AppState, team_id: &str) -> Result<Vec<TemplateRow>, sqlx::Error> {
    db::templates::list(&state.db, team_id).await
}

/// A template the team may use: its own of that name first, else a built-in.
pub async fn get(
    state: &AppState,
    team_id: &str,
    name: &TemplateName,
) -> Result<TemplateRow, GetTemplateError> {
    db::templates::resolve(&state.db, team_id, name.as_str())
        .await?
        .ok_or_else(|| GetTemplateError::NotFound(name.clone()))
}

/// Deletes one of the team's templates from its host and the database.
pub async fn delete(
    state: &AppState,
    principal: &Principal,
    name: &TemplateName,
) -> Result<(), DeleteTemplateError> {
    let template = get(state, &principal.team_id, name)
        .await
        .map_err(|err| match err {
            GetTemplateError::NotFound(n) => DeleteTemplateError::NotFound(n),
            GetTemplateError::Db(e) => DeleteTemplateError::Db(e),
        })?;
    if template.builtin {
        return Err(DeleteTemplateError::Builtin);
    }
    // A built template goes with all its versions (their tags cascade).
    let versions = if db::templates::has_tags(&state.db, &principal.team_id, name.as_str()).await? {
        db::templates::versions(&state.db, &principal.team_id, name.as_str()).await?
    } else {
        vec![template.clone()]
    };
    for version in &versions {
        delete_one(state, version).await?;
    }
    let resource = ("template", template.name.as_str());
    audit::record(
        &state.db,
        principal,
        "template.delete",
        resource,
        Outcome::Ok,
        "",
    )
    .await;
    Ok(())
}

/// Deletes one template row's image from the host(s) holding it, then the row.
async fn delete_one(state: &AppState, template: &TemplateRow) -> Result<(), DeleteTemplateError> {
    // A team template lives on the host it was snapshotted on and on the
    // hosts that fetched a copy (template_hosts); a record from before
    // hosts were tracked may be on any of them.
    let mut copies: Vec<String> = db::template_hosts::holders(&state.db, &template.id)
        .await?
        .into_iter()
        .map(|h| h.host_id)
        .collect();
    copies.extend(template.host_id.clone());
    copies.sort();
    copies.dedup();
    let holders = match &template.host_id {
        Some(_) => {
            let mut agents = Vec::new();
            for host_id in &copies {
                agents.extend(state.hosts.agent(host_id).await);
            }
            agents
        }
        None => state
            .hosts
            .all()
            .await
            .map_err(DeleteTemplateError::Hosts)?
            .into_iter()
            .map(|(_, a)| a)
            .collect::<Vec<_>>(),
    };
    for agent in holders {
        match agent.delete_template(&template.image).await {
            Ok(()) | Err(AgentError::NotFound(_)) => {}
            Err(AgentError::FailedPrecondition(m)) => return Err(DeleteTemplateError::InUse(m)),
            Err(err) => return Err(DeleteTemplateError::Host(err)),
        }
    }
    db::templates::delete(&state.db, &template.id).await?;
    Ok(())
}

/// Turns sandbox `id`'s disk into the team template `name`; the sandbox
/// keeps running.
pub async fn snapshot(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
    name: &TemplateName,
    memory: bool,
) -> Result<TemplateRow, SnapshotError> {
    let sandbox = db::sandboxes::get(&state.db, &principal.team_id, id.as_str())
        .await?
        .ok_or(SnapshotError::SandboxNotFound)?;
    if !matches!(sandbox.state, SandboxState::Running | SandboxState::Paused) {
        return Err(SnapshotError::NotRunning(sandbox.state));
    }
    let taken = db::templates::resolve(&state.db, &principal.team_id, name.as_str())
        .await?
        .is_some_and(|t| !t.builtin)
        || db::templates::BUILTINS
            .iter()
            .any(|(b, _, _)| *b == name.as_str());
    if taken {
        return Err(SnapshotError::NameTaken(name.clone()));
    }
    let host = sandbox.host_id.as_deref().unwrap_or_default();
    let agent = state
        .hosts
        .agent(host)
        .await
        .map_err(|_| SnapshotError::HostNotConnected)?;
    // Hosts know templates by a unique image name, so two teams can both
    // have a template called "python".
    let image = format!("tm-{}", crate::auth::random_token(16).to_lowercase());
    let task = {
        let (agent, id, image) = (agent.clone(), sandbox.id.clone(), image.clone());
        tokio::spawn(async move { agent.snapshot(&id, &image, memory, None).await })
    };
    let made: AgentTemplate = task
        .await
        .map_err(SnapshotError::Task)?
        .map_err(SnapshotError::Host)?;
    let row = TemplateRow {
        id: db::new_id("tpl_"),
        team_id: Some(principal.team_id.clone()),
        name: name.to_string(),
        image: made.image.clone(),
        builtin: false,
        vcpus: sandbox.vcpus,
        memory_mb: sandbox.memory_mb,
        disk_mb: i64::try_from(made.disk_mb).ok(),
        has_memory_snapshot: made.has_memory_snapshot,
        source_sandbox_id: Some(sandbox.id.clone()),
        created_at: db::now_ms(),
        host_id: sandbox.host_id.clone(),
    };
    if let Err(err) = db::templates::insert(&state.db, &row).await {
        // A concurrent snapshot took the name: drop our copy on the host.
        let _ = agent.delete_template(&image).await;
        return Err(if db::is_unique_violation(&err) {
            SnapshotError::NameTaken(name.clone())
        } else {
            err.into()
        });
    }
    if let Some(host) = &row.host_id {
        template_copies::record_made(state, &row.id, host, &made).await;
    }
    let resource = ("template", row.name.as_str());
    audit::record(
        &state.db,
        principal,
        "template.snapshot",
        resource,
        Outcome::Ok,
        &sandbox.id,
    )
    .await;
    Ok(row)
}
