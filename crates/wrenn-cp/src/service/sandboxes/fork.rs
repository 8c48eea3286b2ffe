//! Forking a sandbox: `count` running copies with the source's memory and
//! disk of this moment, on the source's host; the source keeps running.
//! Each copy is a sandbox of its own (record, id, envd token), counted
//! against the team's limit. All or nothing: when the host refuses or
//! fails, no copy and no record of one stays. Audited either way.
use wrenn_types::SandboxId;

use super::{agent_of, find, running};
use crate::{
    agent::{AgentError, AgentState},
    audit::{self, Outcome},
    auth::Principal,
    db::{
        self,
        sandboxes::{SandboxRow, TransitionExtras},
    },
    lifecycle::SandboxState,
    service::pools,
    state::AppState,
};

/// Most copies one fork makes (the agent's bound too).
pub const MAX_FORK_COUNT: u32 = 16;

/// What the caller asked for.
#[derive(Debug, Clone, Copy)]
pub struct ForkSandbox {
    pub count: u32,
    /// The copies' inactivity timeout; `None`: the source's.
    pub timeout_secs: Option<u64>,
}

/// Why no copy was made.
#[derive(Debug, thiserror::Error)]
pub enum ForkSandboxError {
    #[error("sandbox not found")]
    NotFound,
    #[error("sandbox is {0}, not running")]
    NotRunning(SandboxState),
    #[error("a fork makes 1 to {max} copies, not {count}", max = MAX_FORK_COUNT)]
    CountOutOfRange { count: u32 },
    #[error(
        "the team has {live} live sandboxes and the limit is {limit}; {count} more do not fit"
    )]
    QuotaExceeded { live: i64, limit: u32, count: u32 },
    /// The team's pool has no room for the copies.
    #[error(transparent)]
    PoolExhausted(pools::Exhausted),
    #[error("the sandbox's host is not connected")]
    HostNotConnected,
    /// The host answered, but not with every copy running.
    #[error("the host did not report every copy running")]
    Incomplete,
    #[error("the host refused: {0}")]
    Host(#[source] AgentError),
    #[error("database")]
    Db(#[from] sqlx::Error),
    /// The fork task panicked or was cancelled.
    #[error("the fork task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// Forks the caller's running sandbox `id`; answers the copies' records,
/// all running. Runs in its own task, so a client that goes away cannot
/// leave half-recorded copies behind.
pub async fn fork(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
    request: ForkSandbox,
) -> Result<Vec<SandboxRow>, ForkSandboxError> {
    if request.count == 0 || request.count > MAX_FORK_COUNT {
        return Err(ForkSandboxError::CountOutOfRange {
            count: request.count,
        });
    }
    let (state, principal, id) = (state.clone(), principal.clone(), id.clone());
    let task = tokio::spawn(async move { fork_rows(&state, &principal, &id, request).await });
    task.await.map_err(ForkSandboxError::Task)?
}

async fn fork_rows(
    state: &AppState,
    principal: &Principal,
    id: &SandboxId,
    request: ForkSandbox,
) -> Result<Vec<SandboxRow>, ForkSandboxError> {
    let source = find(state, &principal.team_id, id)
        .await?
        .ok_or(ForkSandboxError::NotFound)?;
    running(&source).map_err(ForkSandboxError::NotRunning)?;
    let live = db::sandboxes::count_live(&state.db, &principal.team_id).await?;
    let limit = state.config.max_sandboxes_per_team;
    if live + i64::from(request.count) > i64::from(limit) {
        return Err(ForkSandboxError::QuotaExceeded {
            live,
            limit,
            count: request.count,
        });
    }
    let agent = agent_of(state, &source)
        .await
        .ok_or(ForkSandboxError::HostNotConnected)?;
    let timeout_secs = request
        .timeout_secs
        .unwrap_or_else(|| u64::try_from(source.timeout_secs).unwrap_or(0));
    let copies: Vec<SandboxRow> = (0..request.count)
        .map(|_| copy_row(&source, principal, timeout_secs))
        .collect();
    pools::insert_reserved(&state.db, &state.config, &copies)
        .await
        .map_err(|err| match err {
            pools::ReserveError::Exhausted(e) => ForkSandboxError::PoolExhausted(e),
            pools::ReserveError::Db(e) => ForkSandboxError::Db(e),
        })?;
    for copy in &copies {
        let starting = TransitionExtras::default();
        db::sandboxes::transition(&state.db, &copy.id, SandboxState::Starting, "", starting)
            .await?;
    }
    let ids: Vec<String> = copies.iter().map(|c| c.id.clone()).collect();
    let outcome = match agent.fork(&source.id, &ids, Some(timeout_secs)).await {
        Ok(reported)
            if reported.len() == ids.len()
                && reported.iter().all(|s| s.state == AgentState::Running) =>
        {
            Ok(reported)
        }
        Ok(_) => Err(ForkSandboxError::Incomplete),
        Err(err) => Err(ForkSandboxError::Host(err)),
    };
    let reported = match outcome {
        Ok(reported) => reported,
        Err(err) => {
            undo(state, principal, &source, &ids, agent.as_ref(), &err).await;
            return Err(err);
        }
    };
    for copy in &reported {
        let extras = TransitionExtras {
            started_at: Some(db::now_ms()),
            timeout_at: Some(copy.timeout_at_ms),
            from_snapshot: Some(false),
            cpu_ms: None,
        };
        db::sandboxes::transition(&state.db, &copy.id, SandboxState::Running, "", extras).await?;
        let resource = ("sandbox", copy.id.as_str());
        let detail = format!("fork of {}", source.id);
        audit::record(
            &state.db,
            principal,
            "sandbox.fork",
            resource,
            Outcome::Ok,
            &detail,
        )
        .await;
    }
    let mut rows = Vec::with_capacity(ids.len());
    for id in &ids {
        // Just written; gone only if destroyed meanwhile.
        let row = db::sandboxes::get(&state.db, &principal.team_id, id).await?;
        rows.push(row.ok_or(sqlx::Error::RowNotFound)?);
    }
    Ok(rows)
}

/// A copy's record: the source's shape, template, metadata and network,
/// a fresh id, created by the caller.
fn copy_row(source: &SandboxRow, principal: &Principal, timeout_secs: u64) -> SandboxRow {
    let now = db::now_ms();
    SandboxRow {
        id: SandboxId::generate().into(),
        team_id: principal.team_id.clone(),
        host_id: source.host_id.clone(),
        template: source.template.clone(),
        template_image: source.template_image.clone(),
        state: SandboxState::Pending,
        reason: String::new(),
        vcpus: source.vcpus,
        memory_mb: source.memory_mb,
        disk_mb: source.disk_mb,
        timeout_secs: i64::try_from(timeout_secs).unwrap_or(i64::MAX),
        on_timeout: source.on_timeout,
        metadata: source.metadata.clone(),
        internet: source.internet,
        egress_allow: source.egress_allow.clone(),
        egress_deny: source.egress_deny.clone(),
        from_snapshot: false,
        created_by: principal.audit_actor().1.to_owned(),
        created_at: now,
        started_at: None,
        timeout_at: None,
        updated_at: now,
        // The source's traffic rules, its token included (merge of the
        // fork and proxy branches: the lead may decide otherwise).
        auto_resume: source.auto_resume,
        public_traffic: source.public_traffic,
        traffic_token_hash: source.traffic_token_hash.clone(),
        traffic_access_token: None,
    }
}

/// A failed fork leaves nothing: the host is asked to drop every copy it
/// may still hold (it already did when it answered), and the records go.
async fn undo(
    state: &AppState,
    principal: &Principal,
    source: &SandboxRow,
    ids: &[String],
    agent: &dyn crate::agent::AgentApi,
    err: &ForkSandboxError,
) {
    tracing::warn!(sandbox_id = source.id, error = %err, "sandbox fork failed");
    for id in ids {
        match agent.destroy(id).await {
            Ok(()) | Err(AgentError::NotFound(_)) => {}
            Err(e) => {
                tracing::warn!(sandbox_id = id, error = %e, "cannot remove a failed fork's copy on its host")
            }
        }
        if let Err(e) = db::sandboxes::delete(&state.db, id).await {
            tracing::error!(sandbox_id = id, error = %e, "cannot remove a failed fork's record");
        }
    }
    let resource = ("sandbox", source.id.as_str());
    let detail = err.to_string();
    audit::record(
        &state.db,
        principal,
        "sandbox.fork",
        resource,
        Outcome::Failed,
        &detail,
    )
    .await;
}
