//! Sandbox operations detached from the request that asked for them. A
//! handler's future is dropped when its caller goes away (the control plane
//! killed or restarted, the connection cut, the caller's own timeout), and a
//! dropped create, pause or resume would stop between two steps: a VM
//! running under a record that says `starting`, or frozen halfway through a
//! snapshot. So each mutating operation runs in a task of its own and always
//! reaches one of its end states; the handler only waits for the answer.
//!
//! A create is special: the sandbox only counts once a caller took the
//! answer (the control plane records it, then confirms nothing else; see
//! docs/architecture.md, "No orphaned work"). If nobody is left to take it,
//! nobody will ever record the sandbox, so it is destroyed at once.
use std::future::Future;

use crate::{
    sandbox::{ForkRequest, SandboxConfig, SandboxError, SandboxId, SandboxInfo, SandboxManager},
    vmm::Vmm,
};

/// Runs `operation` to its end in its own task and answers its result,
/// also when the caller stops waiting.
pub async fn run<T, F>(id: &SandboxId, operation: F) -> Result<T, SandboxError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, SandboxError>> + Send + 'static,
{
    tokio::spawn(operation)
        .await
        .map_err(|err| task_failed(id, &err))?
}

/// Creates sandbox `id` in its own task. When the caller is gone by the
/// time the create ends (its answer cannot be delivered), the sandbox is
/// destroyed: VM, network, disk and record.
pub async fn create<V: Vmm>(
    manager: &SandboxManager<V>,
    id: SandboxId,
    config: SandboxConfig,
) -> Result<SandboxInfo, SandboxError> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let (task_manager, task_id) = (manager.clone(), id.clone());
    tokio::spawn(async move {
        let result = task_manager.create_with_id(task_id.clone(), config).await;
        let outcome = match &result {
            Ok(info) => info.state.to_string(),
            Err(err) => err.to_string(),
        };
        // An id already taken is another create's sandbox, never this one's.
        let made_here = !matches!(result, Err(SandboxError::AlreadyExists(_)));
        if answer.send(result).is_err() && made_here {
            abandoned(&task_manager, &task_id, &outcome).await;
        }
    });
    answered.await.map_err(|_| SandboxError::StartFailed {
        id,
        reason: "the create task ended without an answer".into(),
    })?
}

/// Forks `source` in its own task. When the caller is gone by the time
/// the fork ends, its copies are destroyed, as an abandoned create's
/// sandbox is; the source is left as it is.
pub async fn fork<V: Vmm>(
    manager: &SandboxManager<V>,
    source: SandboxId,
    request: ForkRequest,
) -> Result<Vec<SandboxInfo>, SandboxError> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let (task_manager, task_source) = (manager.clone(), source.clone());
    tokio::spawn(async move {
        let result = task_manager.fork(&task_source, request).await;
        if let Err(Ok(copies)) = answer.send(result) {
            for copy in copies {
                abandoned(&task_manager, &copy.id, "forked").await;
            }
        }
    });
    answered.await.map_err(|_| SandboxError::ForkFailed {
        id: source,
        reason: "the fork task ended without an answer".into(),
    })?
}

/// The caller of a create left before its answer: nobody will record the
/// sandbox, so nothing of it may stay.
async fn abandoned<V: Vmm>(manager: &SandboxManager<V>, id: &SandboxId, outcome: &str) {
    tracing::warn!(sandbox_id = %id, outcome, "the caller of a create went away; destroying the sandbox nobody will record");
    match manager.destroy(id).await {
        Ok(()) | Err(SandboxError::NotFound(_)) => {}
        Err(err) => {
            tracing::warn!(sandbox_id = %id, %err, "destroying an abandoned create failed")
        }
    }
}

fn task_failed(id: &SandboxId, err: &tokio::task::JoinError) -> SandboxError {
    SandboxError::StartFailed {
        id: id.clone(),
        reason: format!("the operation's task failed: {err}"),
    }
}
