//! The production [`Backend`]: the sandbox records, the host connections
//! and the lifecycle service of this control plane.
use async_trait::async_trait;

use super::forward::{Backend, BackendError};
use crate::{
    agent::guest_hop::GuestHop,
    db, service,
    state::AppState,
    traffic::{Route, RouteCache},
};

#[derive(Debug, Clone)]
pub struct AppBackend {
    state: AppState,
}

impl AppBackend {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[async_trait]
impl Backend for AppBackend {
    async fn lookup(&self, id: &str) -> Result<Option<Route>, BackendError> {
        let row = db::sandboxes::get_any(&self.state.db, id)
            .await
            .map_err(|e| BackendError(e.to_string()))?;
        Ok(row.as_ref().map(Route::from))
    }

    async fn hop(&self, host_id: &str) -> Option<GuestHop> {
        self.state.hosts.agent(host_id).await.ok()?.guest_hop()
    }

    async fn resume(&self, id: &str) -> Result<(), BackendError> {
        service::sandboxes::resume_on_traffic(&self.state, id)
            .await
            .map_err(|e| BackendError(e.to_string()))
    }

    fn cache(&self) -> &RouteCache {
        &self.state.routes
    }
}
