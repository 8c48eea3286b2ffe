//! `ANY /envd/{sandbox_id}/{*rest}`: a reverse proxy to a sandbox's envd for
//! the control plane's sandbox proxy (Connect streams, multi-GB file
//! transfers). Request and response bodies stream through untouched and
//! unbuffered, over kept-alive HTTP/1.1 connections pooled per sandbox VM
//! (the forwarding core it shares with `/guest/`: [`super::forwarding`]).
//! Protocol upgrades are not forwarded.
//!
//! Authentication is `X-Agent-Secret: <secret>` rather than the bearer token
//! of the RPC routes: `Authorization` belongs to envd (it reads the guest user
//! from `Basic user:`) and passes through. The agent secret and hop-by-hop
//! headers are stripped; envd's `X-Access-Token` is set from the sandbox.
//!
//! An exchange is bounded: it ends when the sandbox's VM stops
//! under it (`409 sandbox_not_running`), and envd's response headers must
//! come within [`Limits::response_headers`] of the request body's end
//! (`504 envd_timeout`).
use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode, Uri, Version},
    response::{IntoResponse, Response},
};

pub use super::forwarding::{EnvdDirectory, AGENT_SECRET_HEADER, PROXY_ERROR_HEADER};
use super::{
    auth::Secret,
    forwarding::{self, strip_hop_by_hop, ExchangeFailure, Forwarder, Unavailable},
};
use crate::sandbox::SandboxId;

/// The route, in axum's syntax.
pub const ROUTE: &str = "/envd/{sandbox_id}/{*rest}";
const ACCESS_TOKEN_HEADER: &str = "x-access-token";

/// Why a proxied request got no answer from envd.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("missing or invalid X-Agent-Secret")]
    Unauthenticated,
    #[error("sandbox {0} not found")]
    NotFound(String),
    #[error("sandbox {0} is not running")]
    NotRunning(SandboxId),
    #[error("envd of sandbox {id} sent no answer within {after:?}")]
    Timeout { id: SandboxId, after: Duration },
    #[error("envd of sandbox {id} is unreachable")]
    Unreachable {
        id: SandboxId,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ProxyError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::NotRunning(_) => (StatusCode::CONFLICT, "sandbox_not_running"),
            Self::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "envd_timeout"),
            Self::Unreachable { .. } => (StatusCode::BAD_GATEWAY, "envd_unreachable"),
        }
    }
}

impl From<Unavailable> for ProxyError {
    fn from(unavailable: Unavailable) -> Self {
        match unavailable {
            Unavailable::NotFound(id) => Self::NotFound(id),
            Unavailable::NotRunning(id) => Self::NotRunning(id),
        }
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Unreachable { source, .. } = &self {
            tracing::warn!(error = %self, cause = %source, "envd proxy failed");
        }
        forwarding::refusal(status, code, self.to_string())
    }
}

/// How long the proxy waits on envd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From the end of the request body to envd's response headers. Every
    /// envd route answers its headers promptly (streams start at once), so
    /// a minute means the guest is wedged, not busy.
    pub response_headers: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            response_headers: Duration::from_secs(60),
        }
    }
}

#[derive(Clone)]
struct ProxyState {
    forwarder: Forwarder,
    limits: Limits,
}

/// The proxy route alone, with its own authentication.
pub fn routes(directory: Arc<dyn EnvdDirectory>, secret: Secret) -> axum::Router {
    routes_with_limits(directory, secret, Limits::default())
}

/// [`routes`] with other bounds on envd (tests use short ones).
pub fn routes_with_limits(
    directory: Arc<dyn EnvdDirectory>,
    secret: Secret,
    limits: Limits,
) -> axum::Router {
    axum::Router::new()
        .route(ROUTE, axum::routing::any(forward))
        .with_state(ProxyState {
            forwarder: Forwarder::new(directory, secret),
            limits,
        })
}

async fn forward(State(state): State<ProxyState>, request: Request) -> Response {
    match try_forward(&state, request).await {
        Ok(response) => response,
        Err(err) => settle(&state, err).into_response(),
    }
}

/// An unreachable envd of a sandbox that is no longer running is reported
/// as such, not as a gateway failure.
fn settle(state: &ProxyState, err: ProxyError) -> ProxyError {
    let ProxyError::Unreachable { id, .. } = &err else {
        return err;
    };
    match state.forwarder.stopped_since(id) {
        None => err,
        Some(unavailable) => unavailable.into(),
    }
}

async fn try_forward(state: &ProxyState, request: Request) -> Result<Response, ProxyError> {
    if !state.forwarder.authenticated(request.headers()) {
        return Err(ProxyError::Unauthenticated);
    }
    // The raw path, not axum's decoded captures: envd must see the
    // percent-encoding the client sent.
    let (raw_id, rest) = split_path(request.uri().path())
        .ok_or_else(|| ProxyError::NotFound(request.uri().path().to_owned()))?;
    let id: SandboxId = raw_id
        .parse()
        .map_err(|_| ProxyError::NotFound(raw_id.to_owned()))?;
    let target = state.forwarder.running(&id)?;
    let authority = target
        .url
        .strip_prefix("http://")
        .unwrap_or(&target.url)
        .to_owned();
    let path_and_query = forwarding::path_and_query(rest, request.uri().query());
    let unreachable = |source: Box<dyn std::error::Error + Send + Sync>| ProxyError::Unreachable {
        id: id.clone(),
        source,
    };
    let (mut parts, body) = request.into_parts();
    // Absolute for the pooled client, which sends it in origin form.
    parts.uri = format!("http://{authority}{path_and_query}")
        .parse::<Uri>()
        .map_err(|e| unreachable(e.into()))?;
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(AGENT_SECRET_HEADER);
    let host = HeaderValue::from_str(&authority).map_err(|e| unreachable(e.into()))?;
    parts.headers.insert(header::HOST, host);
    let token = HeaderValue::from_str(target.token.expose()).map_err(|e| unreachable(e.into()))?;
    parts.headers.insert(ACCESS_TOKEN_HEADER, token);

    let limit = state.limits.response_headers;
    let response = match state
        .forwarder
        .exchange(&id, &target, parts, body, limit)
        .await
    {
        Ok(response) => response,
        Err(ExchangeFailure::Unreachable(source)) => return Err(unreachable(source)),
        Err(ExchangeFailure::VmGone) => return Err(ProxyError::NotRunning(id)),
        Err(ExchangeFailure::Timeout) => return Err(ProxyError::Timeout { id, after: limit }),
    };
    let gone = state.forwarder.vm_gone(id, target.generation);
    Ok(forwarding::stream_back(response, gone))
}

/// `/envd/<id>/<rest>` → (`<id>`, `/<rest>`).
fn split_path(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/envd/")?;
    let slash = after.find('/')?;
    Some((&after[..slash], &after[slash..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_path_when_nested_rest_then_id_and_rooted_rest() {
        assert_eq!(
            split_path("/envd/abc/process.Process/Start"),
            Some(("abc", "/process.Process/Start"))
        );
        assert_eq!(split_path("/envd/abc/"), Some(("abc", "/")));
        assert_eq!(split_path("/other/abc/x"), None);
    }

    #[test]
    fn error_when_not_running_then_409_sandbox_not_running() {
        let id: SandboxId = "abc".parse().expect("id");
        let (status, code) = ProxyError::NotRunning(id).status_and_code();
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(code, "sandbox_not_running");
    }
}
