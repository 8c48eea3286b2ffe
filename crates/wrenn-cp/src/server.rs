//! Start-up: database, built-in records, host connections, the reconciler and
//! the HTTP server (the ingress: sandbox proxy and APIs) with graceful shutdown.
use std::{future::Future, sync::Arc};

use anyhow::Context;

use wrenn_types::HostId;

use crate::{
    agent::{connect::ConnectAgent, Hosts, RpcConnector},
    api,
    auth::jwt::JwtKeys,
    config::CpConfig,
    db::{self, Db},
    service::hosts::DbDirectory,
    state::AppState,
};

/// The id of the host record of the `CP_AGENT_URL` development agent.
pub const LOCAL_HOST_ID: &str = "host_local";

/// Opens the database, registers built-ins and pins the development
/// agent (`CP_AGENT_URL`), if any. Registered hosts are dialled on first use.
pub async fn build_state(config: CpConfig) -> anyhow::Result<AppState> {
    let db = Db::open(config.database_url.expose())
        .await
        .context("cannot open the database (DATABASE_URL)")?;
    db::templates::register_builtins(&db).await?;
    let directory = DbDirectory::new(db.clone(), config.jwt_secret.clone());
    let hosts = Hosts::new(
        Arc::new(RpcConnector::new(config.client_identity.clone())),
        Arc::new(directory),
    );
    if let Some(url) = &config.agent_url {
        let secret = config
            .agent_secret
            .clone()
            .context("CP_AGENT_URL is set but CP_AGENT_SECRET(_FILE) is not")?;
        let agent = ConnectAgent::new(url, secret)?;
        let id = local_host_id();
        db::hosts::upsert_local(&db, id.as_str(), url).await?;
        hosts.pin(id, Arc::new(agent));
    }
    Ok(AppState {
        db,
        jwt: JwtKeys::new(config.jwt_secret.expose().as_bytes()),
        config: Arc::new(config),
        hosts: Arc::new(hosts),
        routes: Arc::default(),
    })
}

/// The id of the unregistered development host (`CP_AGENT_URL`).
pub fn local_host_id() -> HostId {
    #[expect(clippy::expect_used, reason = "a literal checked by a unit test")]
    HostId::try_from(LOCAL_HOST_ID).expect("a valid host id literal")
}

/// Serves until `shutdown` resolves, then drains in-flight requests: the
/// plain listener, and the HTTPS one (`crate::listener`) when `tls` is given,
/// both with the same router.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    tls: Option<(tokio::net::TcpListener, Arc<rustls::ServerConfig>)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let reconciler = crate::reconcile::spawn(state.clone());
    let monitor = crate::host_monitor::spawn(state.clone());
    let retention = crate::retention::spawn(state.clone());
    let webhooks = crate::service::notify::deliver::spawn(state.clone());
    let builds = crate::service::builds::runner::spawn_sweeper(state.clone());
    // Sandbox traffic and the E2B API by Host, the REST API otherwise.
    // Both APIs spend the same rate limit buckets.
    let (wrenn_api, e2b_api) = api::routers(state.clone());
    let app = crate::proxy::Ingress::new(&state, wrenn_api, Some(e2b_api)).into_router();
    // One stop signal for both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let when_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let https = tls.map(|(listener, config)| {
        tokio::spawn(crate::listener::serve_tls(
            listener,
            app.clone(),
            config,
            when_stopped(),
        ))
    });
    // The peer address feeds the per-client limits of signup and login.
    let plain = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, plain)
        .with_graceful_shutdown(when_stopped())
        .await
        .context("the HTTP server failed");
    if let Some(https) = https {
        https
            .await
            .context("the HTTPS server panicked")?
            .context("the HTTPS server failed")?;
    }
    reconciler.abort();
    monitor.abort();
    retention.abort();
    webhooks.abort();
    builds.abort();
    // Builds running here destroy their build VMs and register nothing.
    crate::service::builds::runner::shutdown().await;
    served
}
