//! The `queue` overflow: a create that finds the pool full waits, up to a
//! bound the request sets, in its team's queue (shared by every replica
//! through `pool_waiters`); only the oldest waiter tries, so waiters are
//! served in order as capacity frees. A waiter holds no reservation, and
//! one that gives up (its client went away) leaves the queue on drop.
use std::time::Duration;

use crate::db::{self, Db};

/// How often a waiter looks again.
pub const POLL: Duration = Duration::from_millis(100);

/// A place in the team's queue; dropped, it leaves.
#[derive(Debug)]
pub struct Ticket {
    db: Db,
    team_id: String,
    id: String,
    left: bool,
}

impl Ticket {
    pub async fn enter(db: &Db, team_id: &str, wait: Duration) -> Result<Self, sqlx::Error> {
        let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
        let id = db::pools::enter_queue(db, team_id, db::now_ms().saturating_add(wait_ms)).await?;
        Ok(Self {
            db: db.clone(),
            team_id: team_id.to_owned(),
            id,
            left: false,
        })
    }

    /// Whether this waiter's turn has come.
    pub async fn first(&self) -> Result<bool, sqlx::Error> {
        db::pools::first_in_queue(&self.db, &self.team_id, &self.id).await
    }

    pub async fn leave(mut self) -> Result<(), sqlx::Error> {
        self.left = true;
        db::pools::leave_queue(&self.db, &self.id).await
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.left {
            return;
        }
        let (db, id) = (self.db.clone(), self.id.clone());
        // Drop cannot await; the queue row goes in a task of its own.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(err) = db::pools::leave_queue(&db, &id).await {
                    tracing::warn!(error = %err, "cannot remove a gone pool waiter");
                }
            });
        }
    }
}
