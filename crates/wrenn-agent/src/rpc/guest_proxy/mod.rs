//! `ANY /guest/{sandbox_id}/{port}/{*rest}`: the agent's hop of the
//! control plane's sandbox traffic proxy, to any TCP port of a running
//! sandbox's guest (a web app on 3000, envd on 49983). The sandbox's slot
//! address DNATs every port to the guest, so the target is envd's address
//! with the requested port.
//!
//! Unlike `/envd/` (the control plane's own client of envd), the request is
//! the end user's: its headers pass through as sent, `X-Access-Token`
//! included (envd checks it itself; the proxy never adds or replaces it),
//! minus the agent secret and hop-by-hop headers. Bodies stream both ways
//! unbuffered over kept-alive connections pooled per sandbox VM (the
//! forwarding core it shares with `/envd/`: [`super::forwarding`]); `Upgrade` requests (WebSocket) are
//! forwarded and, once the guest answers 101, both upgraded connections
//! are spliced until either side closes or the VM stops.
//!
//! On envd's port the host-only routes (`/init`, `/shutdown`:
//! [`wrenn_types::envd_paths`]) answer 403 whatever the encoding of the
//! path: the control plane refuses them too, this is the second wall.
//!
//! Bounds ([`Limits`]): the exchange ends when the VM stops under it. The
//! response headers must come within a minute of the request body's end on
//! envd's port (envd answers at once; a minute means a wedged guest), and
//! within [`Limits::user_headers`] (15 min) on other ports, where a user's
//! app may long-poll: long enough for the long polls of common frameworks,
//! short enough that a wedged app does not hold a connection for ever.
use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri, Version},
    response::{IntoResponse, Response},
};
use hyper_util::rt::TokioIo;
use wrenn_types::envd_paths::{self, ENVD_PORT};

use super::{
    auth::Secret,
    forwarding::{
        self, strip_hop_by_hop, EnvdDirectory, ExchangeFailure, Forwarder, Unavailable,
        AGENT_SECRET_HEADER, PROXY_ERROR_HEADER,
    },
};
use crate::sandbox::SandboxId;

/// The routes, in axum's syntax (the second serves `/guest/<id>/<port>/`).
pub const ROUTE: &str = "/guest/{sandbox_id}/{port}/{*rest}";
const ROUTE_ROOT: &str = "/guest/{sandbox_id}/{port}/";

/// Why a request got no answer from the guest.
#[derive(Debug, thiserror::Error)]
pub enum GuestProxyError {
    #[error("missing or invalid X-Agent-Secret")]
    Unauthenticated,
    #[error("sandbox {0} not found")]
    NotFound(String),
    #[error("'{0}' is not a port (1-65535)")]
    BadPort(String),
    #[error("sandbox {0} is not running")]
    NotRunning(SandboxId),
    #[error("this route of envd is reserved to the host")]
    HostOnly,
    #[error("port {port} of sandbox {id} sent no answer within {after:?}")]
    Timeout {
        id: SandboxId,
        port: u16,
        after: Duration,
    },
    #[error("port {port} of sandbox {id} is unreachable")]
    Unreachable {
        id: SandboxId,
        port: u16,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl GuestProxyError {
    /// The status and the code (also in [`PROXY_ERROR_HEADER`]).
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::BadPort(_) => (StatusCode::BAD_REQUEST, "bad_port"),
            Self::NotRunning(_) => (StatusCode::CONFLICT, "sandbox_not_running"),
            Self::HostOnly => (StatusCode::FORBIDDEN, "host_only_route"),
            Self::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "guest_timeout"),
            Self::Unreachable { .. } => (StatusCode::BAD_GATEWAY, "guest_unreachable"),
        }
    }
}

impl From<Unavailable> for GuestProxyError {
    fn from(unavailable: Unavailable) -> Self {
        match unavailable {
            Unavailable::NotFound(id) => Self::NotFound(id),
            Unavailable::NotRunning(id) => Self::NotRunning(id),
        }
    }
}

impl IntoResponse for GuestProxyError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Unreachable { source, .. } = &self {
            tracing::debug!(error = %self, cause = %source, "guest proxy failed");
        }
        forwarding::refusal(status, code, self.to_string())
    }
}

/// How long the proxy waits for a guest's response headers, counted from
/// the end of the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub envd_headers: Duration,
    pub user_headers: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            envd_headers: Duration::from_secs(60),
            user_headers: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Clone)]
struct GuestState {
    forwarder: Forwarder,
    limits: Limits,
}

/// The guest routes alone, with their own authentication.
pub fn routes(directory: Arc<dyn EnvdDirectory>, secret: Secret) -> axum::Router {
    routes_with_limits(directory, secret, Limits::default())
}

/// [`routes`] with other bounds (tests use short ones).
pub fn routes_with_limits(
    directory: Arc<dyn EnvdDirectory>,
    secret: Secret,
    limits: Limits,
) -> axum::Router {
    axum::Router::new()
        .route(ROUTE, axum::routing::any(forward))
        .route(ROUTE_ROOT, axum::routing::any(forward))
        .with_state(GuestState {
            forwarder: Forwarder::new(directory, secret),
            limits,
        })
}

async fn forward(State(state): State<GuestState>, request: Request) -> Response {
    match try_forward(&state, request).await {
        Ok(response) => response,
        Err(err) => settle(&state, err).into_response(),
    }
}

/// An unreachable port of a sandbox that stopped meanwhile is reported as
/// the stop, not as a gateway failure.
fn settle(state: &GuestState, err: GuestProxyError) -> GuestProxyError {
    let GuestProxyError::Unreachable { id, .. } = &err else {
        return err;
    };
    match state.forwarder.stopped_since(id) {
        None => err,
        Some(unavailable) => unavailable.into(),
    }
}

/// What the raw path names: sandbox, port and the guest's path.
#[derive(Debug, PartialEq, Eq)]
struct Target<'a> {
    id: &'a str,
    port: &'a str,
    rest: &'a str,
}

/// `/guest/<id>/<port>/<rest>` → its parts (`rest` keeps its leading `/`).
fn split_path(path: &str) -> Option<Target<'_>> {
    let after = path.strip_prefix("/guest/")?;
    let (id, after) = after.split_once('/')?;
    let slash = after.find('/')?;
    Some(Target {
        id,
        port: &after[..slash],
        rest: &after[slash..],
    })
}

fn parse_port(text: &str) -> Result<u16, GuestProxyError> {
    match text.parse::<u16>() {
        Ok(port) if port != 0 && !text.starts_with('+') => Ok(port),
        _ => Err(GuestProxyError::BadPort(text.chars().take(16).collect())),
    }
}

/// Whether the request asks to switch protocols (WebSocket).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

async fn try_forward(
    state: &GuestState,
    mut request: Request,
) -> Result<Response, GuestProxyError> {
    if !state.forwarder.authenticated(request.headers()) {
        return Err(GuestProxyError::Unauthenticated);
    }
    // The raw path: the guest sees the percent-encoding the client sent.
    let path = request.uri().path().to_owned();
    let target = split_path(&path).ok_or_else(|| GuestProxyError::NotFound(path.clone()))?;
    let id: SandboxId = target
        .id
        .parse()
        .map_err(|_| GuestProxyError::NotFound(target.id.to_owned()))?;
    let port = parse_port(target.port)?;
    if port == ENVD_PORT && envd_paths::is_host_only(target.rest) {
        return Err(GuestProxyError::HostOnly);
    }
    let envd = state.forwarder.running(&id)?;
    let unreachable =
        |source: Box<dyn std::error::Error + Send + Sync>| GuestProxyError::Unreachable {
            id: id.clone(),
            port,
            source,
        };
    let authority =
        guest_authority(&envd.url, port).ok_or_else(|| unreachable("bad envd address".into()))?;
    let path_and_query = forwarding::path_and_query(target.rest, request.uri().query());
    let upgrade = is_upgrade(request.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    let (mut parts, body) = request.into_parts();
    parts.uri = format!("http://{authority}{path_and_query}")
        .parse::<Uri>()
        .map_err(|e| unreachable(e.into()))?;
    parts.version = Version::HTTP_11;
    let upgrade_to = parts.headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(AGENT_SECRET_HEADER);
    if let Some(protocol) = upgrade_to.filter(|_| upgrade) {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, protocol);
    }
    if !parts.headers.contains_key(header::HOST) {
        let host = HeaderValue::from_str(&authority).map_err(|e| unreachable(e.into()))?;
        parts.headers.insert(header::HOST, host);
    }

    let limit = if port == ENVD_PORT {
        state.limits.envd_headers
    } else {
        state.limits.user_headers
    };
    let mut response = match state
        .forwarder
        .exchange(&id, &envd, parts, body, limit)
        .await
    {
        Ok(response) => response,
        Err(ExchangeFailure::Unreachable(source)) => return Err(unreachable(source)),
        Err(ExchangeFailure::VmGone) => return Err(GuestProxyError::NotRunning(id)),
        Err(ExchangeFailure::Timeout) => {
            return Err(GuestProxyError::Timeout {
                id,
                port,
                after: limit,
            })
        }
    };
    let gone = |id: SandboxId| state.forwarder.vm_gone(id, envd.generation);
    // The guest's answer must not pass for one of the proxy's refusals.
    response.headers_mut().remove(PROXY_ERROR_HEADER);
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_upgrade) = client_upgrade {
            let guest_upgrade = hyper::upgrade::on(&mut response);
            tokio::spawn(splice(client_upgrade, guest_upgrade, gone(id.clone())));
            let (parts, _) = response.into_parts();
            return Ok(Response::from_parts(parts, Body::empty()));
        }
    }
    Ok(forwarding::stream_back(response, gone(id)))
}

/// Copies both ways between the client's and the guest's upgraded
/// connections until either closes or the VM stops.
async fn splice(
    client: hyper::upgrade::OnUpgrade,
    guest: hyper::upgrade::OnUpgrade,
    vm_gone: impl std::future::Future<Output = ()>,
) {
    let (client, guest) = match tokio::join!(client, guest) {
        (Ok(client), Ok(guest)) => (client, guest),
        (Err(err), _) | (_, Err(err)) => {
            tracing::debug!(error = %err, "upgrade failed");
            return;
        }
    };
    let (mut client, mut guest) = (TokioIo::new(client), TokioIo::new(guest));
    tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut client, &mut guest) => {
            if let Err(err) = copied {
                tracing::debug!(error = %err, "upgraded connection ended");
            }
        }
        () = vm_gone => {}
    }
}

/// envd's `http://ip:port` with `port` instead of envd's.
fn guest_authority(envd_url: &str, port: u16) -> Option<String> {
    let authority = envd_url.strip_prefix("http://")?.trim_end_matches('/');
    let addr: std::net::SocketAddr = authority.parse().ok()?;
    Some(std::net::SocketAddr::new(addr.ip(), port).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_path_when_nested_rest_then_parts() {
        assert_eq!(
            split_path("/guest/sb/3000/a/b?x"),
            Some(Target {
                id: "sb",
                port: "3000",
                rest: "/a/b?x"
            })
        );
        assert_eq!(
            split_path("/guest/sb/3000/"),
            Some(Target {
                id: "sb",
                port: "3000",
                rest: "/"
            })
        );
        assert_eq!(split_path("/guest/sb/3000"), None);
        assert_eq!(split_path("/envd/sb/x"), None);
    }

    #[test]
    fn parse_port_when_out_of_range_or_signed_then_refused() {
        assert_eq!(parse_port("3000").unwrap(), 3000);
        for bad in ["0", "65536", "+80", "-1", "", "80a"] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn guest_authority_when_envd_url_then_same_ip_other_port() {
        assert_eq!(
            guest_authority("http://10.200.0.5:49983", 3000).as_deref(),
            Some("10.200.0.5:3000")
        );
        assert_eq!(guest_authority("10.200.0.5:49983", 3000), None);
    }

    #[test]
    fn is_upgrade_when_connection_lists_upgrade_then_true() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(!is_upgrade(&headers));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(is_upgrade(&headers));
    }
}
