//! What every request handler shares: the database, the JWT keys, the
//! configuration and the host agents.
use std::sync::Arc;

use crate::{agent::Hosts, auth::jwt::JwtKeys, config::CpConfig, db::Db};

#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub jwt: JwtKeys,
    pub config: Arc<CpConfig>,
    pub hosts: Arc<Hosts>,
}
