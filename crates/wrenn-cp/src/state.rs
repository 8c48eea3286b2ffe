//! What every request handler shares: the database, the JWT keys, the
//! configuration, the host agents and the sandbox proxy's route cache.
use std::sync::Arc;

use crate::{agent::Hosts, auth::jwt::JwtKeys, config::CpConfig, db::Db, traffic::RouteCache};

#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub jwt: JwtKeys,
    pub config: Arc<CpConfig>,
    pub hosts: Arc<Hosts>,
    /// Where the sandbox proxy sends each sandbox's traffic (this replica's).
    pub routes: Arc<RouteCache>,
}
