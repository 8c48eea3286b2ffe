//! A running build's lease: renewed every few seconds while the build
//! runs; a renewal that finds `cancel_requested`, or finds the lease gone
//! (another replica ended the build as lost), tells the runner to stop.
use tokio::sync::watch;

use super::{millis, LEASE, RENEW_EVERY};
use crate::db::{self, template_builds::Renewal, Db};

/// Why a build must stop before its next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    None,
    /// The user cancelled it.
    Cancel,
    /// The lease is no longer ours: write nothing more.
    Lost,
    /// This control plane is stopping.
    Shutdown,
}

/// Renews until aborted, signalling on `stop`.
pub(super) fn spawn(
    db: Db,
    id: String,
    owner: &'static str,
    stop: watch::Sender<Stop>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            let until = db::now_ms() + millis(LEASE);
            match db::template_builds::renew(&db, &id, owner, until).await {
                Ok(Renewal::Held) => {}
                Ok(Renewal::CancelRequested) => {
                    stop.send_if_modified(|s| {
                        let changed = *s == Stop::None;
                        if changed {
                            *s = Stop::Cancel;
                        }
                        changed
                    });
                }
                Ok(Renewal::Lost) => {
                    let _ = stop.send(Stop::Lost);
                    return;
                }
                Err(err) => {
                    tracing::warn!(build_id = id, error = %err, "cannot renew a build's lease");
                }
            }
        }
    })
}
