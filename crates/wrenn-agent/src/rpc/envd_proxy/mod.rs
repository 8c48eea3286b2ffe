//! `ANY /envd/{sandbox_id}/{*rest}`: a reverse proxy to a sandbox's envd for
//! the control plane's sandbox proxy (Connect streams, multi-GB file
//! transfers). Request and response bodies stream through untouched and
//! unbuffered, over kept-alive HTTP/1.1 connections pooled per sandbox VM
//! ([`pool`]). Protocol upgrades are not forwarded.
//!
//! Authentication is `X-Agent-Secret: <secret>` rather than the bearer token
//! of the RPC routes: `Authorization` belongs to envd (it reads the guest user
//! from `Basic user:`) and passes through. The agent secret and hop-by-hop
//! headers are stripped; envd's `X-Access-Token` is set from the sandbox.
//!
//! An exchange is bounded ([`watch`]): it ends when the sandbox's VM stops
//! under it (`409 sandbox_not_running`), and envd's response headers must
//! come within [`Limits::response_headers`] of the request body's end
//! (`504 envd_timeout`).
pub mod pool;
pub(crate) mod watch;

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version},
    response::{IntoResponse, Response},
};
use pool::EnvdPools;

use super::auth::Secret;
use crate::{
    sandbox::{EnvdTarget, SandboxError, SandboxId, SandboxManager},
    vmm::Vmm,
};

/// The route, in axum's syntax.
pub const ROUTE: &str = "/envd/{sandbox_id}/{*rest}";
pub const AGENT_SECRET_HEADER: &str = "x-agent-secret";
/// Set on the proxy's own refusals (its error code), so a client can tell
/// them from envd's answers whatever protocol it speaks: a Connect client
/// does not read the JSON envelope of a 404.
pub const PROXY_ERROR_HEADER: &str = "x-wrenn-proxy-error";
const ACCESS_TOKEN_HEADER: &str = "x-access-token";

/// Where envd of a running sandbox answers (`http://ip:port`), its token
/// and the generation of its VM (connections are kept per generation).
/// The sandbox manager in production; a fake in tests.
pub trait EnvdDirectory: Send + Sync + 'static {
    fn envd_target(&self, id: &SandboxId) -> Result<EnvdTarget, SandboxError>;
}

impl<V: Vmm> EnvdDirectory for SandboxManager<V> {
    fn envd_target(&self, id: &SandboxId) -> Result<EnvdTarget, SandboxError> {
        SandboxManager::envd_target(self, id)
    }
}

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

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Unreachable { source, .. } = &self {
            tracing::warn!(error = %self, cause = %source, "envd proxy failed");
        }
        let body = serde_json::json!({ "error": { "code": code, "message": self.to_string() } });
        (status, [(PROXY_ERROR_HEADER, code)], axum::Json(body)).into_response()
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
    directory: Arc<dyn EnvdDirectory>,
    secret: Secret,
    pools: Arc<EnvdPools>,
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
            directory,
            secret,
            pools: Arc::default(),
            limits,
        })
}

async fn forward(State(state): State<ProxyState>, request: Request) -> Response {
    match try_forward(&state, request).await {
        Ok(response) => response,
        Err(err) => settle(&state, err).into_response(),
    }
}

/// A sandbox can stop (timeout, destroy) between the lookup and the
/// connection to its envd: an unreachable envd of a sandbox that is no longer
/// running is reported as such, not as a gateway failure.
fn settle(state: &ProxyState, err: ProxyError) -> ProxyError {
    let ProxyError::Unreachable { id, .. } = &err else {
        return err;
    };
    match state.directory.envd_target(id) {
        Ok(_) => err,
        Err(SandboxError::NotFound(id)) => {
            state.pools.forget(&id);
            ProxyError::NotFound(id.to_string())
        }
        Err(_) => {
            state.pools.forget(id);
            ProxyError::NotRunning(id.clone())
        }
    }
}

async fn try_forward(state: &ProxyState, request: Request) -> Result<Response, ProxyError> {
    let presented = request.headers().get(AGENT_SECRET_HEADER);
    if !state
        .secret
        .matches_raw(presented.map(HeaderValue::as_bytes))
    {
        return Err(ProxyError::Unauthenticated);
    }
    // The raw path, not axum's decoded captures: envd must see the
    // percent-encoding the client sent.
    let (raw_id, rest) = split_path(request.uri().path())
        .ok_or_else(|| ProxyError::NotFound(request.uri().path().to_owned()))?;
    let id: SandboxId = raw_id
        .parse()
        .map_err(|_| ProxyError::NotFound(raw_id.to_owned()))?;
    let target = match state.directory.envd_target(&id) {
        Ok(target) => target,
        Err(err) => {
            state.pools.forget(&id);
            return Err(match err {
                SandboxError::NotFound(id) => ProxyError::NotFound(id.to_string()),
                _ => ProxyError::NotRunning(id),
            });
        }
    };
    let authority = target
        .url
        .strip_prefix("http://")
        .unwrap_or(&target.url)
        .to_owned();
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    };
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

    let client = state.pools.client(&id, &target, state.directory.as_ref());
    let (body, body_sent) = watch::sent(body);
    let exchange = client.request(Request::from_parts(parts, Body::new(body)));
    let directory = Arc::clone(&state.directory);
    let generation = target.generation;
    let gone = move |id: SandboxId| watch::vm_gone(Arc::clone(&directory), id, generation);
    let limit = state.limits.response_headers;
    let headers_due = async move {
        // Err only means the body was dropped: sent or abandoned, either way done.
        let _ = body_sent.await;
        tokio::time::sleep(limit).await;
    };
    let response = tokio::select! {
        response = exchange => response.map_err(|e| unreachable(e.into()))?,
        () = gone(id.clone()) => return Err(ProxyError::NotRunning(id)),
        () = headers_due => return Err(ProxyError::Timeout { id, after: limit }),
    };
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(
        parts,
        Body::new(watch::UntilVmGone::new(body, gone(id))),
    ))
}

/// `/envd/<id>/<rest>` → (`<id>`, `/<rest>`).
fn split_path(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/envd/")?;
    let slash = after.find('/')?;
    Some((&after[..slash], &after[slash..]))
}

/// Removes the headers that describe one connection, not the message
/// (RFC 9110 §7.6.1), including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
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
    fn strip_hop_by_hop_when_connection_names_header_then_it_goes_too() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("x-custom, close"),
        );
        headers.insert("x-custom", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjo="),
        );

        strip_hop_by_hop(&mut headers);

        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key(header::AUTHORIZATION));
    }

    #[test]
    fn error_when_not_running_then_409_sandbox_not_running() {
        let id: SandboxId = "abc".parse().expect("id");
        let (status, code) = ProxyError::NotRunning(id).status_and_code();
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(code, "sandbox_not_running");
    }
}
