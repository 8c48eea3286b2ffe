//! What the sandbox proxy asks of the lifecycle: resuming a paused sandbox
//! whose `auto_resume` is on, for a request that reached it. There is no
//! caller principal (proxy traffic authenticates to envd or with the
//! traffic token, not with an API key), so it is audited as the system.
use super::{agent_of, lifecycle::record, ResumeSandboxError};
use crate::{
    audit,
    db::{self, audit::NewAuditEvent},
    lifecycle::SandboxState,
    state::AppState,
};

/// Resumes sandbox `id` if it is paused with auto-resume on.
pub async fn resume_on_traffic(state: &AppState, id: &str) -> Result<(), ResumeSandboxError> {
    let row = db::sandboxes::get_any(&state.db, id)
        .await?
        .ok_or(ResumeSandboxError::NotFound)?;
    if row.state != SandboxState::Paused || !row.auto_resume {
        return Err(ResumeSandboxError::NotPaused(row.state));
    }
    let agent = agent_of(state, &row)
        .await
        .ok_or(ResumeSandboxError::HostNotConnected)?;
    let reported = agent
        .resume(&row.id)
        .await
        .map_err(ResumeSandboxError::Host)?;
    record(state, &row, SandboxState::Running, Some(&reported)).await?;
    audit::write(
        &state.db,
        NewAuditEvent {
            team_id: Some(&row.team_id),
            actor_type: "system",
            actor_id: "proxy",
            action: "sandbox.resume",
            resource_type: "sandbox",
            resource_id: &row.id,
            outcome: audit::Outcome::Ok.as_str(),
            detail: "auto-resume on a request",
        },
    )
    .await;
    Ok(())
}
