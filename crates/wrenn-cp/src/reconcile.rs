//! The reconciler: compares the database's sandbox records with what each
//! host agent reports and repairs drift, because the agent's in-memory map
//! is the truth for what runs on its host. Gone on the host → `stopped`;
//! paused by the agent's inactivity timeout → `paused`; failed on the host
//! → `error` with the host's reason. Each repair is audited as `system`.
use std::collections::HashMap;

use crate::{
    agent::{AgentSandbox, AgentState},
    audit,
    db::{
        self,
        sandboxes::{SandboxRow, TransitionExtras},
    },
    lifecycle::SandboxState,
    state::AppState,
};

/// Why a reconcile pass stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("cannot read or record sandbox states")]
    Db(#[from] sqlx::Error),
}

/// A `starting` record younger than this may not have reached its host yet.
const START_GRACE_MS: i64 = 10 * 60 * 1000;

pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.config.reconcile_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = reconcile_all(&state).await {
                tracing::warn!(error = %err, "reconcile pass failed");
            }
        }
    })
}

/// One pass over every host; returns the number of repairs.
pub async fn reconcile_all(state: &AppState) -> Result<usize, ReconcileError> {
    // Lost sandboxes of an unreachable host wait for its heartbeat, which
    // reconciles it, so a half-working host does not flap them.
    let unreachable: std::collections::HashSet<String> =
        db::hosts::list(&state.db, db::hosts::Visibility::All)
            .await?
            .into_iter()
            .filter(|h| h.status == db::hosts::HostStatus::Unreachable)
            .map(|h| h.id)
            .collect();
    let mut repairs = 0;
    for (host_id, _) in state.hosts.all().await.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "cannot list the hosts");
        Vec::new()
    }) {
        if !unreachable.contains(host_id.as_str()) {
            repairs += reconcile_host(state, host_id.as_str()).await?;
        }
    }
    Ok(repairs)
}

/// Brings one host's sandbox records in line with the host's own list
/// (also run when an unreachable host comes back, to settle its `lost`
/// sandboxes); returns the number of repairs. An unreachable agent is
/// skipped: the host monitor owns that case.
pub async fn reconcile_host(state: &AppState, host_id: &str) -> Result<usize, ReconcileError> {
    let Ok(agent) = state.hosts.agent(host_id).await else {
        return Ok(0);
    };
    let reported = match agent.list().await {
        Ok(list) => list,
        Err(err) => {
            tracing::warn!(host_id, error = %err, "cannot list the host's sandboxes");
            return Ok(0);
        }
    };
    let reported: HashMap<String, AgentSandbox> =
        reported.into_iter().map(|s| (s.id.clone(), s)).collect();
    let mut repairs = 0;
    for row in db::sandboxes::live_on_host(&state.db, host_id).await? {
        if let Some((to, reason)) = repair(&row, reported.get(&row.id), db::now_ms()) {
            let extras = TransitionExtras {
                timeout_at: reported.get(&row.id).map(|s| s.timeout_at_ms),
                ..Default::default()
            };
            if db::sandboxes::transition(&state.db, &row.id, to, &reason, extras).await? {
                repairs += 1;
                tracing::info!(sandbox_id = %row.id, host_id, from = %row.state, to = %to, reason, "reconciled");
                let detail = format!("{} → {to}: {reason}", row.state);
                audit::record_system(
                    &state.db,
                    &row.team_id,
                    "sandbox.reconcile",
                    ("sandbox", &row.id),
                    &detail,
                )
                .await;
            }
        }
    }
    Ok(repairs)
}

/// What a record should become given its host's report (`None`: in step).
pub fn repair(
    row: &SandboxRow,
    reported: Option<&AgentSandbox>,
    now_ms: i64,
) -> Option<(SandboxState, String)> {
    let Some(reported) = reported else {
        if row.state == SandboxState::Starting && now_ms - row.updated_at < START_GRACE_MS {
            return None;
        }
        return Some((
            SandboxState::Stopped,
            "the sandbox no longer exists on its host".into(),
        ));
    };
    let target = match reported.state {
        AgentState::Running => SandboxState::Running,
        AgentState::Paused => SandboxState::Paused,
        AgentState::Stopped => SandboxState::Stopped,
        AgentState::Error => SandboxState::Error,
        // Transitions in flight settle on a later pass.
        AgentState::Starting | AgentState::Pausing | AgentState::Resuming => return None,
    };
    if target == row.state
        || (row.state == SandboxState::Starting && target == SandboxState::Running)
    {
        // A create in flight records `running` itself.
        return None;
    }
    let reason = match (row.state, target) {
        (SandboxState::Running, SandboxState::Paused) => {
            "paused by its inactivity timeout".to_owned()
        }
        (_, SandboxState::Error) => format!("failed on its host: {}", reported.reason),
        (SandboxState::Lost, _) => "its host reports it again".to_owned(),
        (_, SandboxState::Stopped) => "stopped on its host (inactivity timeout)".to_owned(),
        _ => "the host reports it in this state".to_owned(),
    };
    Some((target, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: SandboxState, updated_at: i64) -> SandboxRow {
        SandboxRow {
            id: "sbx".into(),
            team_id: "team".into(),
            host_id: Some("local".into()),
            template: "base".into(),
            template_image: "base".into(),
            state,
            reason: String::new(),
            vcpus: 1,
            memory_mb: 512,
            disk_mb: None,
            timeout_secs: 300,
            on_timeout: wrenn_types::TimeoutAction::Kill,
            metadata: Default::default(),
            internet: true,
            egress_allow: vec![],
            egress_deny: vec![],
            from_snapshot: false,
            created_by: "usr".into(),
            created_at: updated_at,
            started_at: None,
            timeout_at: None,
            updated_at,
        }
    }

    fn reported(state: AgentState) -> AgentSandbox {
        AgentSandbox {
            id: "sbx".into(),
            state,
            reason: "boom".into(),
            timeout_at_ms: 0,
            from_snapshot: false,
        }
    }

    #[test]
    fn repair_when_gone_from_host_then_stopped() {
        let (to, _) = repair(&row(SandboxState::Running, 0), None, 1).expect("repair");
        assert_eq!(to, SandboxState::Stopped);
    }

    #[test]
    fn repair_when_agent_paused_it_then_paused() {
        let (to, reason) = repair(
            &row(SandboxState::Running, 0),
            Some(&reported(AgentState::Paused)),
            1,
        )
        .expect("repair");
        assert_eq!(to, SandboxState::Paused);
        assert!(reason.contains("inactivity"));
    }

    #[test]
    fn repair_when_young_starting_record_missing_then_left_alone() {
        assert_eq!(
            repair(&row(SandboxState::Starting, 1_000), None, 2_000),
            None
        );
    }

    #[test]
    fn repair_when_in_step_then_none() {
        assert_eq!(
            repair(
                &row(SandboxState::Running, 0),
                Some(&reported(AgentState::Running)),
                1
            ),
            None
        );
    }

    #[test]
    fn repair_when_host_failed_it_then_error_with_reason() {
        let (to, reason) = repair(
            &row(SandboxState::Running, 0),
            Some(&reported(AgentState::Error)),
            1,
        )
        .expect("repair");
        assert_eq!(to, SandboxState::Error);
        assert!(reason.contains("boom"));
    }
}
