//! Start-up: database, built-in records, host agents, the reconciler and
//! the HTTP server with graceful shutdown.
use std::{future::Future, sync::Arc};

use anyhow::Context;

use crate::{
    agent::{connect::ConnectAgent, Hosts, LOCAL_HOST_ID},
    api,
    auth::jwt::JwtKeys,
    config::CpConfig,
    db::{self, Db},
    state::AppState,
};

/// Opens the database, registers built-ins and the local agent.
pub async fn build_state(config: CpConfig) -> anyhow::Result<AppState> {
    let db = Db::open(config.database_url.expose())
        .await
        .context("cannot open the database (DATABASE_URL)")?;
    db::templates::register_builtins(&db).await?;
    let hosts = Hosts::default();
    if let Some(url) = &config.agent_url {
        let secret = config
            .agent_secret
            .clone()
            .context("CP_AGENT_URL is set but CP_AGENT_SECRET(_FILE) is not")?;
        let agent = ConnectAgent::new(url, secret)?;
        db::hosts::upsert_local(&db, LOCAL_HOST_ID, url).await?;
        hosts.insert(LOCAL_HOST_ID, Arc::new(agent));
    }
    Ok(AppState {
        db,
        jwt: JwtKeys::new(config.jwt_secret.expose().as_bytes()),
        config: Arc::new(config),
        hosts: Arc::new(hosts),
    })
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let reconciler = crate::reconcile::spawn(state.clone());
    let app = api::router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server failed")?;
    reconciler.abort();
    Ok(())
}
