//! A create that may wait for room in its team's pool: with the plan's
//! `queue` overflow and a wait the request sets, a create refused for lack
//! of room waits its turn (`service::pools::queue`) and tries again as
//! capacity frees, until its wait is over. Otherwise a plain create.
use std::time::Duration;

use super::{create, CreateSandboxError, NewSandbox};
use crate::{
    auth::Principal,
    db::sandboxes::SandboxRow,
    service::pools::{self, queue::Ticket},
    state::AppState,
};

/// Longest wait a request may ask for.
pub const MAX_POOL_WAIT: Duration = Duration::from_secs(600);

/// [`create`], waiting up to `wait` (`None`: the plan's
/// `queue_wait_secs`) in the team's queue when its plan queues. Dropping the future while it waits leaves the queue and holds
/// nothing of the pool.
pub async fn create_waiting(
    state: &AppState,
    principal: &Principal,
    request: NewSandbox,
    wait: Option<Duration>,
) -> Result<SandboxRow, CreateSandboxError> {
    let pool = pools::effective(&state.db, &state.config, &principal.team_id).await?;
    let plan_wait = pool.plan.as_ref().map_or(0, |p| p.queue_wait_secs);
    let plan_wait = Duration::from_secs(u64::try_from(plan_wait).unwrap_or(0));
    let wait = wait.unwrap_or(plan_wait).min(MAX_POOL_WAIT);
    let queues = pool.plan.as_ref().is_some_and(|p| p.overflow == "queue");
    if !queues || wait.is_zero() {
        return create(state, principal, request).await;
    }
    let until = tokio::time::Instant::now() + wait;
    let ticket = Ticket::enter(&state.db, &principal.team_id, wait).await?;
    loop {
        if ticket.first().await? {
            match create(state, principal, request.clone()).await {
                Err(CreateSandboxError::PoolExhausted(refusal)) => {
                    if tokio::time::Instant::now() >= until {
                        ticket.leave().await?;
                        return Err(CreateSandboxError::PoolExhausted(refusal));
                    }
                }
                done => {
                    ticket.leave().await?;
                    return done;
                }
            }
        } else if tokio::time::Instant::now() >= until {
            ticket.leave().await?;
            // The queue's head has not moved: one last try says why.
            return create(state, principal, request).await;
        }
        tokio::time::sleep(pools::queue::POLL).await;
    }
}
