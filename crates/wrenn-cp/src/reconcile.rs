//! The reconciler: compares the database's sandbox records with what each
//! host agent reports and repairs drift, because the agent's in-memory map
//! is the truth for what runs on its host. Gone on the host → `stopped`;
//! paused by the agent's inactivity timeout → `paused`; failed on the host
//! → `error` with the host's reason. Each repair is audited as `system`.
//!
//! It also guarantees that no work is orphaned (docs/architecture.md, "No
//! orphaned work"): a record still `pending` or `starting` past
//! `CP_SANDBOX_START_TIMEOUT_SECS` lost its create (the control plane that
//! ran it was killed or restarted) and is finished (`running`, with the
//! host's deadline) when the host runs it, or rolled back (`error`) when it
//! does not; and whatever a host keeps that no live record accounts for
//! (a create nobody recorded, a rolled-back or failed sandbox) is destroyed
//! on the host, as are team template images no template record names (a
//! snapshot whose control plane died before recording it). The first pass
//! runs at start-up.
use std::collections::{HashMap, HashSet};

use crate::{
    agent::{AgentApi, AgentSandbox, AgentState, AgentTemplateImage},
    audit,
    db::{
        self,
        sandboxes::{SandboxRow, TransitionExtras},
    },
    lifecycle::SandboxState,
    state::AppState,
};

/// How the control plane names the host images of team templates
/// (`service/templates.rs`); built-in images never carry it.
const TEAM_IMAGE_PREFIX: &str = "tm-";

/// Why a reconcile pass stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("cannot read or record sandbox states")]
    Db(#[from] sqlx::Error),
}

/// Reconciles every host at start-up (the first tick is immediate) and then
/// every `CP_RECONCILE_INTERVAL_SECS`.
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
    let unreachable: HashSet<String> = db::hosts::list(&state.db, db::hosts::Visibility::All)
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
/// sandboxes), then destroys what the host keeps that no live record
/// accounts for; returns the number of repairs (orphans destroyed
/// included). An unreachable agent is skipped: the host monitor owns that
/// case.
pub async fn reconcile_host(state: &AppState, host_id: &str) -> Result<usize, ReconcileError> {
    let Ok(agent) = state.hosts.agent(host_id).await else {
        return Ok(0);
    };
    // The host's list first, the records second: a create records its
    // sandbox before asking the host, so everything listed here has its
    // record by the time the records are read.
    let asked_at = db::now_ms();
    let reported = match agent.list().await {
        Ok(list) => list,
        Err(err) => {
            tracing::warn!(host_id, error = %err, "cannot list the host's sandboxes");
            return Ok(0);
        }
    };
    let reported: HashMap<String, AgentSandbox> =
        reported.into_iter().map(|s| (s.id.clone(), s)).collect();
    let start_timeout_ms =
        i64::try_from(state.config.start_timeout.as_millis()).unwrap_or(i64::MAX);
    let rows = db::sandboxes::live_on_host(&state.db, host_id)
        .await?
        .into_iter()
        .chain(db::sandboxes::pending_on_host(&state.db, host_id).await?);
    let mut repairs = 0;
    let mut accounted = HashSet::new();
    for row in rows {
        let report = reported.get(&row.id);
        let Some((to, reason)) = repair(&row, report, db::now_ms(), start_timeout_ms) else {
            if let Some(cpu_ms) = running_cpu(&row, report) {
                // The open interval's running figure, so that a host lost
                // later still bills what was seen last.
                db::usage::observe_cpu(&state.db, &row.id, cpu_ms, asked_at).await?;
            }
            accounted.insert(row.id);
            continue;
        };
        let extras = TransitionExtras {
            timeout_at: report.map(|s| s.timeout_at_ms),
            started_at: (to == SandboxState::Running && row.started_at.is_none()).then(db::now_ms),
            from_snapshot: (to == SandboxState::Running)
                .then(|| report.is_some_and(|s| s.from_snapshot)),
            // Paused or failed on the host: its last VMM's final reading.
            cpu_ms: (row.state == SandboxState::Running)
                .then(|| report.and_then(|s| s.cpu_ms))
                .flatten(),
        };
        if !db::sandboxes::transition(&state.db, &row.id, to, &reason, extras).await? {
            // Another writer moved it first; its next pass decides.
            accounted.insert(row.id);
            continue;
        }
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
        if to.is_live() || to == SandboxState::Lost {
            accounted.insert(row.id);
        }
    }
    // Build VMs have no sandbox record; their builds account for them.
    accounted.extend(db::template_builds::sandboxes_on_host(&state.db, host_id).await?);
    for id in orphans(reported.values(), &accounted) {
        if destroy_orphan(agent.as_ref(), host_id, &id).await {
            repairs += 1;
        }
    }
    repairs += sweep_template_images(state, agent.as_ref(), host_id, start_timeout_ms).await?;
    Ok(repairs)
}

/// Deletes the team template images (`tm-*`) a host holds that no template
/// record names and that are older than the bound: a snapshot whose control
/// plane died between the host's copy and the record.
async fn sweep_template_images(
    state: &AppState,
    agent: &dyn AgentApi,
    host_id: &str,
    bound_ms: i64,
) -> Result<usize, ReconcileError> {
    // Host first, records second, as for sandboxes: a snapshot records its
    // template after the host's copy, and the bound covers that gap.
    let Ok(held) = agent.template_images().await else {
        return Ok(0);
    };
    let recorded: HashSet<String> = db::templates::images(&state.db)
        .await?
        .into_iter()
        .collect();
    let mut deleted = 0;
    for image in orphaned_images(&held, &recorded, db::now_ms(), bound_ms) {
        match agent.delete_template(&image).await {
            Ok(()) => {
                deleted += 1;
                tracing::info!(host_id, image, "deleted a template image no record names");
            }
            Err(err) => {
                tracing::warn!(host_id, image, error = %err, "cannot delete an orphaned template image")
            }
        }
    }
    Ok(deleted)
}

/// Team template images (named `tm-*` by the control plane) that no record
/// names and that were published more than `bound_ms` ago.
pub fn orphaned_images(
    held: &[AgentTemplateImage],
    recorded: &HashSet<String>,
    now_ms: i64,
    bound_ms: i64,
) -> Vec<String> {
    held.iter()
        .filter(|t| t.image.starts_with(TEAM_IMAGE_PREFIX) && !recorded.contains(&t.image))
        .filter(|t| now_ms - t.created_at_ms >= bound_ms)
        .map(|t| t.image.clone())
        .collect()
}

/// Destroys a sandbox its host keeps but no live record accounts for.
async fn destroy_orphan(agent: &dyn AgentApi, host_id: &str, id: &str) -> bool {
    match agent.destroy(id).await {
        Ok(()) => {
            tracing::info!(
                sandbox_id = id,
                host_id,
                "destroyed a sandbox no live record accounts for"
            );
            true
        }
        Err(crate::agent::AgentError::NotFound(_)) => false,
        Err(err) => {
            tracing::warn!(sandbox_id = id, host_id, error = %err, "cannot destroy an orphaned sandbox");
            false
        }
    }
}

/// The host's sandboxes that no live record (`accounted`) claims: a create
/// nobody recorded, a sandbox whose record was rolled back or failed.
pub fn orphans<'a>(
    reported: impl IntoIterator<Item = &'a AgentSandbox>,
    accounted: &HashSet<String>,
) -> Vec<String> {
    let mut ids: Vec<String> = reported
        .into_iter()
        .filter(|s| s.state != AgentState::Stopped && !accounted.contains(&s.id))
        .map(|s| s.id.clone())
        .collect();
    ids.sort();
    ids
}

/// The guest CPU reading of a sandbox running both here and on its host,
/// for its open ledger interval (`None`: not running on both sides, or the
/// host did not say).
fn running_cpu(row: &SandboxRow, report: Option<&AgentSandbox>) -> Option<i64> {
    let report = report?;
    (row.state == SandboxState::Running && report.state == AgentState::Running)
        .then_some(report.cpu_ms)
        .flatten()
}

/// What a record should become given its host's report (`None`: in step,
/// or a transition in flight). `start_timeout_ms` bounds how long a record
/// may stay `pending` or `starting`.
pub fn repair(
    row: &SandboxRow,
    reported: Option<&AgentSandbox>,
    now_ms: i64,
    start_timeout_ms: i64,
) -> Option<(SandboxState, String)> {
    let creating = matches!(row.state, SandboxState::Pending | SandboxState::Starting);
    let overdue = creating && now_ms - row.updated_at >= start_timeout_ms;
    let Some(reported) = reported else {
        return match (creating, overdue) {
            // A create in flight may not have reached its host yet.
            (true, false) => None,
            (true, true) => Some((SandboxState::Error, format!(
                "its create did not finish within {} s (the control plane was interrupted); nothing of it runs on its host",
                start_timeout_ms / 1000
            ))),
            (false, _) => Some((
                SandboxState::Stopped,
                "the sandbox no longer exists on its host".into(),
            )),
        };
    };
    let target = match reported.state {
        AgentState::Running => SandboxState::Running,
        AgentState::Paused => SandboxState::Paused,
        AgentState::Stopped => SandboxState::Stopped,
        AgentState::Error => SandboxState::Error,
        // Transitions in flight settle on a later pass; the host's own
        // deadline bounds a create that stays `starting` there.
        AgentState::Starting | AgentState::Pausing | AgentState::Resuming => return None,
    };
    if target == row.state {
        return None;
    }
    if creating && target != SandboxState::Error {
        if !overdue {
            // A create in flight records the outcome itself.
            return None;
        }
        if row.state == SandboxState::Starting && target == SandboxState::Running {
            return Some((
                SandboxState::Running,
                "its create finished on its host but was never recorded; recorded now, with the host's timeout".into(),
            ));
        }
        return Some((
            SandboxState::Error,
            format!("its create did not finish (the host reports it {target}); rolled back"),
        ));
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

    const BOUND: i64 = 60_000;

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
            auto_resume: false,
            public_traffic: true,
            traffic_token_hash: None,
            traffic_access_token: None,
        }
    }

    fn reported(state: AgentState) -> AgentSandbox {
        AgentSandbox {
            id: "sbx".into(),
            state,
            reason: "boom".into(),
            timeout_at_ms: 0,
            from_snapshot: false,
            cpu_ms: Some(1500),
        }
    }

    #[test]
    fn running_cpu_when_running_on_both_sides_then_the_hosts_reading() {
        let running = row(SandboxState::Running, 0);
        assert_eq!(
            running_cpu(&running, Some(&reported(AgentState::Running))),
            Some(1500)
        );
        assert_eq!(
            running_cpu(&running, Some(&reported(AgentState::Paused))),
            None
        );
        assert_eq!(running_cpu(&running, None), None);
        let paused = row(SandboxState::Paused, 0);
        assert_eq!(
            running_cpu(&paused, Some(&reported(AgentState::Running))),
            None
        );
    }

    #[test]
    fn repair_when_gone_from_host_then_stopped() {
        let (to, _) = repair(&row(SandboxState::Running, 0), None, 1, BOUND).expect("repair");
        assert_eq!(to, SandboxState::Stopped);
    }

    #[test]
    fn repair_when_agent_paused_it_then_paused() {
        let (to, reason) = repair(
            &row(SandboxState::Running, 0),
            Some(&reported(AgentState::Paused)),
            1,
            BOUND,
        )
        .expect("repair");
        assert_eq!(to, SandboxState::Paused);
        assert!(reason.contains("inactivity"));
    }

    #[test]
    fn repair_when_young_starting_record_missing_then_left_alone() {
        assert_eq!(
            repair(&row(SandboxState::Starting, 1_000), None, 2_000, BOUND),
            None
        );
    }

    #[test]
    fn repair_when_in_step_then_none() {
        assert_eq!(
            repair(
                &row(SandboxState::Running, 0),
                Some(&reported(AgentState::Running)),
                1,
                BOUND
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
            BOUND,
        )
        .expect("repair");
        assert_eq!(to, SandboxState::Error);
        assert!(reason.contains("boom"));
    }

    #[test]
    fn repair_when_starting_past_bound_and_host_runs_it_then_running() {
        let (to, reason) = repair(
            &row(SandboxState::Starting, 0),
            Some(&reported(AgentState::Running)),
            BOUND,
            BOUND,
        )
        .expect("finished");
        assert_eq!(to, SandboxState::Running);
        assert!(reason.contains("never recorded"), "{reason}");
    }

    #[test]
    fn repair_when_starting_within_bound_and_host_runs_it_then_left_to_its_create() {
        let young = row(SandboxState::Starting, 1_000);
        let running = reported(AgentState::Running);

        assert_eq!(repair(&young, Some(&running), BOUND, BOUND), None);
    }

    #[test]
    fn repair_when_starting_past_bound_and_host_lacks_it_then_error() {
        let (to, reason) =
            repair(&row(SandboxState::Starting, 0), None, BOUND, BOUND).expect("rolled back");
        assert_eq!(to, SandboxState::Error);
        assert!(reason.contains("did not finish"), "{reason}");
    }

    #[test]
    fn repair_when_pending_past_bound_then_error_whatever_the_host_says() {
        let pending = row(SandboxState::Pending, 0);
        for report in [None, Some(reported(AgentState::Running))] {
            let (to, _) = repair(&pending, report.as_ref(), BOUND, BOUND).expect("rolled back");
            assert_eq!(to, SandboxState::Error);
        }
    }

    #[test]
    fn repair_when_starting_past_bound_and_host_paused_it_then_error() {
        let (to, _) = repair(
            &row(SandboxState::Starting, 0),
            Some(&reported(AgentState::Paused)),
            BOUND,
            BOUND,
        )
        .expect("rolled back");
        assert_eq!(to, SandboxState::Error);
    }

    #[test]
    fn repair_when_host_still_starting_it_then_left_alone_past_bound() {
        let starting = reported(AgentState::Starting);

        assert_eq!(
            repair(
                &row(SandboxState::Starting, 0),
                Some(&starting),
                BOUND * 10,
                BOUND
            ),
            None
        );
    }

    #[test]
    fn repair_when_paused_record_and_host_runs_it_then_running() {
        let (to, _) = repair(
            &row(SandboxState::Paused, 0),
            Some(&reported(AgentState::Running)),
            1,
            BOUND,
        )
        .expect("repair");
        assert_eq!(to, SandboxState::Running);
    }

    #[test]
    fn orphans_when_host_keeps_unaccounted_sandboxes_then_listed() {
        let mut kept = reported(AgentState::Running);
        kept.id = "kept".into();
        let mut orphan = reported(AgentState::Running);
        orphan.id = "orphan".into();
        let mut failed = reported(AgentState::Error);
        failed.id = "failed".into();
        let mut gone = reported(AgentState::Stopped);
        gone.id = "gone".into();
        let accounted: HashSet<String> = ["kept".to_owned()].into();

        let found = orphans([&kept, &orphan, &failed, &gone], &accounted);

        assert_eq!(found, vec!["failed".to_owned(), "orphan".to_owned()]);
    }

    #[test]
    fn orphaned_images_when_unrecorded_and_old_then_listed() {
        let image = |name: &str, at: i64| AgentTemplateImage {
            image: name.into(),
            created_at_ms: at,
        };
        let held = [
            image("base", 0),
            image("tm-recorded", 0),
            image("tm-orphan", 0),
            image("tm-in-flight", BOUND),
        ];
        let recorded: HashSet<String> = ["tm-recorded".to_owned()].into();

        let found = orphaned_images(&held, &recorded, BOUND, BOUND);

        assert_eq!(found, vec!["tm-orphan".to_owned()]);
    }
}
