//! The retention purge: records of `stopped` and `error` sandboxes older
//! than `CP_STOPPED_RETENTION_SECS` (7 days by default; 0 keeps them) are
//! deleted with their state histories, every `CP_RETENTION_INTERVAL_SECS`,
//! so that lists do not pile up. Each purge is audited; audit events are
//! never purged.
use std::time::Duration;

use crate::{
    audit::{self, Outcome},
    db::{self, audit::NewAuditEvent},
    state::AppState,
};

/// Records purged per batch (a large backlog goes in several batches).
const BATCH: i64 = 500;

/// Runs the purge every `config.retention_interval` until aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.config.retention_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match purge(&state, state.config.stopped_retention).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "purged old sandbox records"),
                Err(err) => tracing::warn!(error = %err, "cannot purge old sandbox records"),
            }
        }
    })
}

/// Purges the records of sandboxes `stopped` or in `error` for longer than
/// `retention` (none when it is zero); answers how many.
pub async fn purge(state: &AppState, retention: Duration) -> Result<usize, sqlx::Error> {
    if retention.is_zero() {
        return Ok(0);
    }
    let keep = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let before = db::now_ms().saturating_sub(keep);
    let mut total = 0;
    loop {
        let purged = db::sandboxes::purge_finished(&state.db, before, BATCH).await?;
        for (sandbox_id, team_id) in &purged {
            audit::write(
                &state.db,
                NewAuditEvent {
                    team_id: Some(team_id),
                    actor_type: "system",
                    actor_id: "retention",
                    action: "sandbox.purge",
                    resource_type: "sandbox",
                    resource_id: sandbox_id,
                    outcome: Outcome::Ok.as_str(),
                    detail: "record older than the retention period",
                },
            )
            .await;
        }
        total += purged.len();
        if i64::try_from(purged.len()).unwrap_or(0) < BATCH {
            return Ok(total);
        }
    }
}
