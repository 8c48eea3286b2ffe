//! The agent's RPC API for the control plane: `wrenn.agent.v1.AgentService`
//! (Connect protocol over HTTP/1.1 and h2c) behind bearer authentication,
//! the envd reverse proxy `/envd/{sandbox_id}/...` and the sandbox traffic
//! hop `/guest/{sandbox_id}/{port}/...` behind `X-Agent-Secret`, template
//! images for other agents `/templates/{name}/...` behind a control-plane
//! grant ([`template_files`]), and an unauthenticated `GET /health`.
pub mod auth;
pub mod convert;
mod detached;
pub mod envd_proxy;
pub mod error;
mod forwarding;
pub mod guest_proxy;
pub mod host;
pub mod service;
pub mod template_files;

use std::{future::Future, sync::Arc};

use wrenn_proto::wrenn::agent::v1::AgentServiceExt;

pub use auth::Secret;
pub use error::{to_connect, RpcError};
pub use host::HostFacts;
pub use service::AgentRpc;

use crate::vmm::Vmm;

/// The whole HTTP application: the Connect service behind bearer auth, the
/// envd proxy and the guest hop behind their own header, `/health` open.
pub fn router<V: Vmm>(service: AgentRpc<V>, secret: Secret) -> axum::Router {
    let directory: Arc<dyn envd_proxy::EnvdDirectory> = Arc::new(service.manager().clone());
    let proxy = envd_proxy::routes(Arc::clone(&directory), secret.clone());
    let guest = guest_proxy::routes(directory, secret.clone());
    let templates = template_files::routes(service.manager().templates(), secret.clone());
    let service = service.with_identity(secret.clone());
    let connect = Arc::new(service).register(connectrpc::Router::new());
    axum::Router::new()
        .fallback_service(connect.into_axum_service())
        .layer(axum::middleware::from_fn_with_state(
            secret,
            auth::require_bearer,
        ))
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(proxy)
        .merge(guest)
        .merge(templates)
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting
/// and waits for in-flight requests (streams included) to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
