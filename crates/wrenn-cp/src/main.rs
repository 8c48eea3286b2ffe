//! `wrenn-cp`: reads its configuration from the environment (see
//! `.env.example`), opens the database and serves the REST API until
//! SIGTERM or SIGINT, then drains in-flight requests.
use anyhow::Context;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("CP_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    if std::env::args().any(|a| a == "--version") {
        println!("wrenn-cp {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let config = wrenn_cp::config::CpConfig::from_env()?;
    tracing::info!(?config, "starting wrenn-cp {}", env!("CARGO_PKG_VERSION"));
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {} (CP_LISTEN_ADDR)", config.listen_addr))?;
    let tls = match &config.tls_listener {
        Some(tls) => {
            let tls_listener = tokio::net::TcpListener::bind(tls.addr)
                .await
                .with_context(|| format!("cannot listen on {} (CP_TLS_LISTEN_ADDR)", tls.addr))?;
            tracing::info!(addr = %tls_listener.local_addr()?, cert = %tls.cert_file.display(), "listening (HTTPS, h2 and HTTP/1.1)");
            Some((tls_listener, tls.server_config()))
        }
        None => None,
    };
    let state = wrenn_cp::server::build_state(config).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    wrenn_cp::server::serve(state, listener, tls, shutdown_signal()).await
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("stop signal received, draining requests");
}
