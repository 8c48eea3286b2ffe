//! The inactivity reaper: pauses or destroys running sandboxes whose
//! deadline passed, once a second, for as long as the lifecycle it works on
//! is alive. Owns nothing but its schedule.
use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use super::{
    config::TimeoutAction, id::SandboxId, lifecycle::Sandboxes, state::now_ms, SandboxState,
};
use crate::vmm::Vmm;

const PERIOD: Duration = Duration::from_secs(1);

/// One pass: acts on every running sandbox past its deadline. Returns what
/// it did, for logs and tests.
pub async fn reap_expired<V: Vmm>(sandboxes: &Sandboxes<V>) -> Vec<(SandboxId, TimeoutAction)> {
    let now = now_ms();
    let expired: Vec<(SandboxId, TimeoutAction)> = sandboxes
        .list()
        .into_iter()
        .filter(|s| s.state == SandboxState::Running && s.timeout_at_ms <= now)
        .filter_map(|s| {
            let action = sandboxes.timeout_action(&s.id).ok()?;
            Some((s.id, action))
        })
        .collect();
    for (id, action) in &expired {
        let result = match action {
            TimeoutAction::Pause => sandboxes.pause(id).await.map(|_| ()),
            TimeoutAction::Kill => sandboxes.destroy(id).await,
        };
        match result {
            Ok(()) => tracing::info!(sandbox_id = %id, ?action, "inactivity timeout"),
            Err(err) => {
                tracing::warn!(sandbox_id = %id, %err, "inactivity timeout action failed")
            }
        }
    }
    expired
}

/// Runs [`reap_expired`] every second until `sandboxes` is dropped
/// everywhere else.
pub fn spawn<V: Vmm>(sandboxes: &Arc<Sandboxes<V>>) -> tokio::task::JoinHandle<()> {
    let weak: Weak<Sandboxes<V>> = Arc::downgrade(sandboxes);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(PERIOD).await;
            let Some(sandboxes) = weak.upgrade() else {
                return;
            };
            reap_expired(&sandboxes).await;
        }
    })
}
