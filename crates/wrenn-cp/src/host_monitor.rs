//! The host monitor: a registered host silent for `CP_HOST_DEAD_SECS`
//! becomes `unreachable` and its running and paused sandboxes `lost`, with
//! a reason their owners can read. Its next heartbeat brings it back and
//! reconciles those sandboxes (`api::hosts::heartbeat`). Each change is
//! audited as actor `system`.
use crate::{
    audit,
    db::{self, sandboxes::TransitionExtras},
    lifecycle::SandboxState,
    state::AppState,
    timestamp::rfc3339,
};

pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.config.host_monitor_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = check(&state).await {
                tracing::warn!(error = %err, "host monitor pass failed");
            }
        }
    })
}

/// One pass: returns the hosts it marked unreachable.
pub async fn check(state: &AppState) -> Result<Vec<String>, sqlx::Error> {
    let dead_ms = i64::try_from(state.config.host_dead_after.as_millis()).unwrap_or(i64::MAX);
    let cutoff = db::now_ms().saturating_sub(dead_ms);
    let reason = format!(
        "no heartbeat for {} s",
        state.config.host_dead_after.as_secs()
    );
    let silent = db::hosts::mark_silent_unreachable(&state.db, cutoff, &reason).await?;
    let mut marked = Vec::new();
    for host in silent {
        let since = host.last_heartbeat_at.map_or_else(String::new, rfc3339);
        tracing::warn!(host_id = %host.id, last_heartbeat = %since, "host unreachable");
        audit::write(
            &state.db,
            db::audit::NewAuditEvent {
                team_id: host.team_id.as_deref(),
                actor_type: "system",
                actor_id: "host-monitor",
                action: "host.unreachable",
                resource_type: "host",
                resource_id: &host.id,
                outcome: audit::Outcome::Ok.as_str(),
                detail: &reason,
            },
        )
        .await;
        let lost_reason = format!("host {} unreachable since {since}", host.id);
        for sandbox in db::sandboxes::live_on_host(&state.db, &host.id).await? {
            if !matches!(sandbox.state, SandboxState::Running | SandboxState::Paused) {
                continue;
            }
            if db::sandboxes::transition(
                &state.db,
                &sandbox.id,
                SandboxState::Lost,
                &lost_reason,
                TransitionExtras::default(),
            )
            .await?
            {
                audit::record_system(
                    &state.db,
                    &sandbox.team_id,
                    "sandbox.lost",
                    ("sandbox", &sandbox.id),
                    &lost_reason,
                )
                .await;
            }
        }
        marked.push(host.id);
    }
    Ok(marked)
}
