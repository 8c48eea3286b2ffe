//! Start-up: database, built-in records, host agents, the reconciler and
//! the HTTP server with graceful shutdown.
use std::{future::Future, sync::Arc};

use anyhow::Context;

use crate::{
    agent::{connect::ConnectAgent, HostTarget, Hosts, RpcConnector, LOCAL_HOST_ID},
    api,
    auth::jwt::JwtKeys,
    config::{CpConfig, SecretString},
    db::{self, Db},
    state::AppState,
};

/// Opens the database, registers built-ins and the local agent.
pub async fn build_state(config: CpConfig) -> anyhow::Result<AppState> {
    let db = Db::open(config.database_url.expose())
        .await
        .context("cannot open the database (DATABASE_URL)")?;
    db::templates::register_builtins(&db).await?;
    let hosts = Hosts::with_connector(Arc::new(RpcConnector::new(config.client_identity.clone())));
    if let Some(url) = &config.agent_url {
        let secret = config
            .agent_secret
            .clone()
            .context("CP_AGENT_URL is set but CP_AGENT_SECRET(_FILE) is not")?;
        let agent = ConnectAgent::new(url, secret)?;
        db::hosts::upsert_local(&db, LOCAL_HOST_ID, url).await?;
        hosts.insert(LOCAL_HOST_ID, Arc::new(agent));
    }
    connect_registered(&db, &config, &hosts).await?;
    Ok(AppState {
        db,
        jwt: JwtKeys::new(config.jwt_secret.expose().as_bytes()),
        config: Arc::new(config),
        hosts: Arc::new(hosts),
    })
}

/// Dials every registered host (start-up; their records outlive restarts).
pub async fn connect_registered(db: &Db, config: &CpConfig, hosts: &Hosts) -> anyhow::Result<()> {
    for host in db::hosts::registered(db).await? {
        let target = HostTarget {
            secret: SecretString::new(crate::auth::host::agent_secret(
                config.jwt_secret.expose().as_bytes(),
                &host.id,
            )),
            host_id: host.id,
            address: host.address,
            tls_fingerprint: host.tls_fingerprint,
        };
        if let Err(err) = hosts.connect(&target) {
            tracing::warn!(host_id = %target.host_id, error = %err, "cannot dial a registered host");
        }
    }
    Ok(())
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let reconciler = crate::reconcile::spawn(state.clone());
    let monitor = crate::host_monitor::spawn(state.clone());
    let app = api::router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server failed")?;
    reconciler.abort();
    monitor.abort();
    Ok(())
}
