//! Placement of new sandboxes. One host for now (the agent named by
//! `CP_AGENT_URL`); the multi-host scheduler replaces this.
use crate::{error::ApiError, state::AppState};

/// The host a new sandbox goes to.
pub fn pick_host(state: &AppState) -> Result<String, ApiError> {
    state
        .hosts
        .all()
        .into_iter()
        .next()
        .map(|(id, _)| id)
        .ok_or_else(|| ApiError::NoCapacity("no host is connected to this control plane".into()))
}
