//! The inactivity reaper: pauses or destroys sandboxes whose deadline
//! passed, once a second, for as long as the lifecycle it works on is alive.
//! The deadline is armed when a create begins, before the VM boots, so a
//! sandbox that never reaches `running` is still reaped. Owns nothing but
//! its schedule.
use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use super::{
    config::TimeoutAction, id::SandboxId, lifecycle::Sandboxes, record::SandboxInfo, state::now_ms,
    SandboxState,
};
use crate::vmm::Vmm;

const PERIOD: Duration = Duration::from_secs(1);

/// What the reaper does to one sandbox whose deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// A running sandbox: its timeout action.
    Act,
    /// Still starting at its deadline (armed when booting began): destroyed
    /// once its create ends, whatever it was meant to do on timeout, so a
    /// create that nobody saw through cannot keep a VM past its deadline.
    Destroy,
}

/// Which of `sandboxes` are due at `now_ms`, and what happens to them. The
/// deadline counts in every state that may hold a VM except the short-lived
/// pause and resume steps (a resume re-arms it; a pause ends without a VM).
pub fn due(sandboxes: &[SandboxInfo], now_ms: u64) -> Vec<(SandboxId, Expired)> {
    sandboxes
        .iter()
        .filter(|s| s.timeout_at_ms <= now_ms)
        .filter_map(|s| match s.state {
            SandboxState::Running => Some((s.id.clone(), Expired::Act)),
            SandboxState::Starting => Some((s.id.clone(), Expired::Destroy)),
            _ => None,
        })
        .collect()
}

/// One pass: acts on every sandbox past its deadline. Returns what it did,
/// for logs and tests.
pub async fn reap_expired<V: Vmm>(sandboxes: &Sandboxes<V>) -> Vec<(SandboxId, TimeoutAction)> {
    let expired = due(&sandboxes.list(), now_ms());
    let mut done = Vec::with_capacity(expired.len());
    for (id, what) in expired {
        let action = match what {
            Expired::Act => match sandboxes.timeout_action(&id) {
                Ok(action) => action,
                Err(_) => continue, // gone meanwhile
            },
            Expired::Destroy => TimeoutAction::Kill,
        };
        let result = match action {
            TimeoutAction::Pause => sandboxes.pause(&id, true).await.map(|_| ()),
            TimeoutAction::Kill => sandboxes.destroy(&id).await.map(drop),
        };
        match result {
            Ok(()) => tracing::info!(sandbox_id = %id, ?action, ?what, "inactivity timeout"),
            Err(err) => {
                tracing::warn!(sandbox_id = %id, %err, "inactivity timeout action failed")
            }
        }
        done.push((id, action));
    }
    done
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn info(state: SandboxState, timeout_at_ms: u64) -> SandboxInfo {
        SandboxInfo {
            id: SandboxId::generate(),
            template: "base".into(),
            state,
            reason: None,
            vcpus: 1,
            memory_mib: 256,
            disk_mib: None,
            created_at_ms: 0,
            timeout_at_ms,
            metadata: BTreeMap::new(),
            envd_url: None,
            from_snapshot: false,
            cpu_usage_ms: None,
        }
    }

    #[test]
    fn due_when_starting_past_deadline_then_destroyed() {
        let starting = info(SandboxState::Starting, 1_000);

        let due = due(std::slice::from_ref(&starting), 1_000);

        assert_eq!(due, vec![(starting.id, Expired::Destroy)]);
    }

    #[test]
    fn due_when_running_past_deadline_then_its_action() {
        let running = info(SandboxState::Running, 999);

        assert_eq!(
            due(std::slice::from_ref(&running), 1_000),
            vec![(running.id, Expired::Act)]
        );
    }

    #[test]
    fn due_when_before_deadline_or_without_vm_then_left_alone() {
        let all = [
            info(SandboxState::Running, 2_000),
            info(SandboxState::Starting, 2_000),
            info(SandboxState::Paused, 0),
            info(SandboxState::Error, 0),
            info(SandboxState::Pausing, 0),
            info(SandboxState::Resuming, 0),
        ];

        assert!(due(&all, 1_000).is_empty());
    }
}
