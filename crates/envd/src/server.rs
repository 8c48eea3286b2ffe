//! The HTTP side of envd: routes and the listener.
use std::net::SocketAddr;

use axum::{http::StatusCode, routing::get, routing::post, Router};

/// Line printed on the console once the server listens; hosts wait for it
/// (or for `GET /health`) to know the guest is ready.
pub const READY_LINE: &str = "wrenn-envd: ready";

pub fn router() -> Router {
    Router::new()
        .route("/health", get(|| async { StatusCode::NO_CONTENT }))
        .route("/shutdown", post(shutdown))
}

/// Asks the init (PID 1) for a clean shutdown: it stops every process, syncs
/// and unmounts the disks, then resets the VM (which the VMM turns into exit).
async fn shutdown() -> StatusCode {
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(1), nix::sys::signal::SIGTERM) {
        Ok(()) => StatusCode::ACCEPTED,
        Err(err) => {
            tracing::warn!(%err, "shutdown requested but PID 1 could not be signalled");
            StatusCode::CONFLICT
        }
    }
}

pub async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "envd listening");
    println!("{READY_LINE} on {addr}");
    axum::serve(listener, router()).await?;
    Ok(())
}
