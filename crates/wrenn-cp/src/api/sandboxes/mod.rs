//! `/v1/sandboxes`: handlers that authenticate, parse, call one function of
//! [`crate::service::sandboxes`] and map its typed error.
mod create;
mod events;
pub(crate) mod exec;
pub(crate) mod exec_ws;
pub(crate) mod files;
mod fork;
mod lifecycle;
pub(crate) mod list;
mod metrics_history;
mod network;
pub(crate) mod pty;
mod snapshots;
pub(crate) mod types;
mod usable;

use utoipa_axum::{router::OpenApiRouter, routes};
use wrenn_types::SandboxId;

pub(crate) use create::new_sandbox;
pub use types::{CreateSandbox, Sandbox};

use crate::{
    auth::Principal,
    envd::Envd,
    error::ApiError,
    service::sandboxes::{self as service, Guest},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create, list::list))
        .routes(routes!(list::get, lifecycle::destroy))
        .routes(routes!(lifecycle::set_timeout))
        .routes(routes!(lifecycle::ping))
        .routes(routes!(lifecycle::pause))
        .routes(routes!(lifecycle::resume))
        .routes(routes!(lifecycle::connect))
        .routes(routes!(fork::fork))
        .routes(routes!(network::update_network))
        .routes(routes!(snapshots::create_snapshot))
        .routes(routes!(snapshots::list_snapshots))
        .routes(routes!(metrics_history::metrics_history))
        .routes(routes!(events::events))
        .routes(routes!(exec::exec))
        .routes(routes!(exec_ws::exec_ws))
        .routes(routes!(pty::pty))
        .routes(routes!(files::download, files::upload, files::remove))
        .routes(routes!(files::list))
        .routes(routes!(files::mkdir))
        .routes(routes!(files::rename))
        .routes(routes!(files::metrics))
}

/// A sandbox id from the path: a malformed one cannot exist, so it is
/// "not found" like other teams' ids.
pub(crate) fn sandbox_id(id: &str) -> Result<SandboxId, ApiError> {
    SandboxId::try_from(id).map_err(|_| ApiError::NotFound { what: "sandbox" })
}

/// The guest of the caller's running sandbox `id`.
pub(crate) async fn guest(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<Guest, ApiError> {
    Ok(service::guest(state, &principal.team_id, &sandbox_id(id)?).await?)
}

/// The envd of the caller's running sandbox `id`, for streams.
pub(crate) async fn running_envd(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<Envd, ApiError> {
    guest(state, principal, id).await.map(|g| g.envd)
}
