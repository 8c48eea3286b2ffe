//! One request through the sandbox proxy: resolve the route (resuming a
//! paused sandbox that asks for it), apply the access rules, and forward
//! to the sandbox's host agent (`/guest/{id}/{port}/...`), streaming both
//! bodies and splicing upgraded connections (WebSocket).
use std::sync::Arc;

use axum::{
    body::Body,
    extract::Request,
    http::{header, request::Parts, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version},
    response::{IntoResponse, Response},
};
use hyper_util::rt::TokioIo;
use wrenn_types::{
    envd_paths::{self, ENVD_PORT},
    SandboxId,
};

use super::refusal::Refusal;
use crate::{
    agent::guest_hop::GuestHop,
    lifecycle::SandboxState,
    traffic::{token, Route, RouteCache},
};

/// The header of a sandbox's traffic access token (user ports of a
/// sandbox without public traffic). Not forwarded.
pub const TRAFFIC_TOKEN_HEADER: &str = "e2b-traffic-access-token";
/// What the agent sets on its own refusals (`crate::agent`'s guest route).
const AGENT_ERROR_HEADER: &str = "x-wrenn-proxy-error";
const AGENT_SECRET_HEADER: &str = "x-agent-secret";
/// Total size of a request's header names and values the proxy accepts.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Why the backend could not answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

/// What the proxy needs of the rest of the control plane (the database,
/// the host connections, the lifecycle service); tests substitute fakes.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The route of `id` from the records (`None`: no such sandbox).
    async fn lookup(&self, id: &str) -> Result<Option<Route>, BackendError>;
    /// The hop to `host_id`'s agent, if connected.
    async fn hop(&self, host_id: &str) -> Option<GuestHop>;
    /// Resumes paused sandbox `id` through the lifecycle service.
    async fn resume(&self, id: &str) -> Result<(), BackendError>;
    /// This replica's route cache.
    fn cache(&self) -> &RouteCache;
}

/// The sandbox proxy: a handler of requests already classified as
/// sandbox traffic ([`super::target`]).
#[derive(Clone)]
pub struct SandboxProxy {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for SandboxProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxProxy").finish_non_exhaustive()
    }
}

/// What the agent said instead of forwarding.
enum AgentAnswer {
    /// The sandbox is not (or no longer) running there.
    Gone,
    Refused(Refusal),
}

impl SandboxProxy {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    /// Proxies `request` to `port` of sandbox `id` (both as the client sent
    /// them).
    pub async fn handle(&self, request: Request, id: &str, port: &str) -> Response {
        match self.try_handle(request, id, port).await {
            Ok(response) => response,
            Err(refusal) => refusal.into_response(),
        }
    }

    async fn try_handle(
        &self,
        mut request: Request,
        raw_id: &str,
        raw_port: &str,
    ) -> Result<Response, Refusal> {
        let not_running = || Refusal::NotRunning(raw_id.to_owned());
        if header_bytes(request.headers()) > MAX_HEADER_BYTES {
            return Err(Refusal::HeadersTooLarge {
                id: raw_id.to_owned(),
                limit: MAX_HEADER_BYTES,
            });
        }
        let id: SandboxId = raw_id.parse().map_err(|_| not_running())?;
        let port = parse_port(raw_port).ok_or_else(not_running)?;
        let id = id.as_str().to_owned();
        let mut route = self.route(&id).await?;
        let resumable = route.state == SandboxState::Paused && route.auto_resume;
        if route.state != SandboxState::Running && !resumable {
            return Err(not_running());
        }
        // Before any resume: a request the rules refuse wakes nothing.
        check_access(&route, &id, port, request.uri().path(), request.headers())?;
        if resumable {
            route = self.ensure_running(&id).await?;
        }
        if route.state != SandboxState::Running {
            return Err(not_running());
        }

        let upgrade = is_upgrade(request.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
        let (parts, body) = request.into_parts();
        // A request without a body can be sent again (after a resume).
        let replayable = axum::body::HttpBody::is_end_stream(&body);
        let mut attempt = self.forward(&route, &id, port, &parts, body, upgrade).await;
        if let Err(AgentAnswer::Gone) = &attempt {
            // The host says the sandbox is not running: another replica
            // paused or destroyed it. One fresh read of the records.
            self.backend.cache().invalidate(&id);
            let fresh = self.route(&id).await?;
            if fresh.state == SandboxState::Paused && fresh.auto_resume && replayable {
                let route = self.ensure_running(&id).await?;
                attempt = self
                    .forward(&route, &id, port, &parts, Body::empty(), upgrade)
                    .await;
            }
        }
        let mut response = match attempt {
            Ok(response) => response,
            // The fresh read stays cached: the next request trusts it.
            Err(AgentAnswer::Gone) => return Err(not_running()),
            Err(AgentAnswer::Refused(refusal)) => return Err(refusal),
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_upgrade) = client_upgrade {
                let upstream = hyper::upgrade::on(&mut response);
                tokio::spawn(splice(client_upgrade, upstream));
                let (parts, _) = response.into_parts();
                return Ok(Response::from_parts(parts, Body::empty()));
            }
        }
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Body::new(body)))
    }

    /// The route of `id`, cached or read (and cached).
    async fn route(&self, id: &str) -> Result<Route, Refusal> {
        let cache = self.backend.cache();
        let lookup = match cache.get(id) {
            Some(lookup) => lookup,
            None => {
                let lookup = self.backend.lookup(id).await.map_err(|err| {
                    tracing::warn!(sandbox_id = id, error = %err, "cannot read the route");
                    Refusal::Unavailable(id.to_owned())
                })?;
                cache.put(id, lookup.clone());
                lookup
            }
        };
        lookup.ok_or_else(|| Refusal::NotRunning(id.to_owned()))
    }

    /// Resumes `id` if it is still paused with auto-resume on; one request
    /// at a time per sandbox does the work, the others then find it
    /// running.
    async fn ensure_running(&self, id: &str) -> Result<Route, Refusal> {
        let cache = self.backend.cache();
        let lock = cache.resume_lock(id);
        let _resuming = lock.lock().await;
        cache.invalidate(id);
        let route = self.route(id).await?;
        if route.state != SandboxState::Paused || !route.auto_resume {
            return Ok(route);
        }
        tracing::info!(sandbox_id = id, "resuming a paused sandbox for a request");
        if let Err(err) = self.backend.resume(id).await {
            tracing::warn!(sandbox_id = id, error = %err, "auto-resume failed");
            cache.invalidate(id);
            return Err(Refusal::NotRunning(id.to_owned()));
        }
        cache.invalidate(id);
        self.route(id).await
    }

    /// One exchange with the sandbox's host agent.
    async fn forward(
        &self,
        route: &Route,
        id: &str,
        port: u16,
        parts: &Parts,
        body: Body,
        upgrade: bool,
    ) -> Result<hyper::Response<hyper::body::Incoming>, AgentAnswer> {
        let hop = match &route.host_id {
            Some(host_id) => self.backend.hop(host_id).await,
            None => None,
        };
        let Some(hop) = hop else {
            tracing::warn!(sandbox_id = id, "the sandbox's host is not connected");
            return Err(AgentAnswer::Refused(Refusal::NotRunning(id.to_owned())));
        };
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let uri: Uri = hop
            .url(id, port, path_and_query)
            .parse()
            .map_err(|_| AgentAnswer::Refused(Refusal::NotRunning(id.to_owned())))?;
        let mut headers = parts.headers.clone();
        let upgrade_to = headers.get(header::UPGRADE).cloned();
        strip_hop_by_hop(&mut headers);
        headers.remove(TRAFFIC_TOKEN_HEADER);
        if let Some(protocol) = upgrade_to.filter(|_| upgrade) {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, protocol);
        }
        if !headers.contains_key(header::HOST) {
            // HTTP/2 carries the name in the URI: the guest still sees it.
            if let Some(authority) = parts.uri.authority() {
                if let Ok(value) = HeaderValue::from_str(authority.as_str()) {
                    headers.insert(header::HOST, value);
                }
            }
        }
        let secret = HeaderValue::from_str(hop.secret())
            .map_err(|_| AgentAnswer::Refused(Refusal::NotRunning(id.to_owned())))?;
        headers.insert(AGENT_SECRET_HEADER, secret);
        let mut upstream = hyper::Request::new(body);
        *upstream.method_mut() = parts.method.clone();
        *upstream.uri_mut() = uri;
        *upstream.version_mut() = Version::HTTP_11;
        *upstream.headers_mut() = headers;

        let response = hop.send(upstream).await.map_err(|err| {
            tracing::warn!(sandbox_id = id, error = %crate::agent::transport::error_chain(&err), "the sandbox's host is unreachable");
            self.backend.cache().invalidate(id);
            AgentAnswer::Refused(Refusal::NotRunning(id.to_owned()))
        })?;
        let Some(code) = response.headers().get(AGENT_ERROR_HEADER) else {
            return Ok(response);
        };
        let code = String::from_utf8_lossy(code.as_bytes()).into_owned();
        Err(match code.as_str() {
            "not_found" | "sandbox_not_running" => AgentAnswer::Gone,
            "host_only_route" => AgentAnswer::Refused(Refusal::HostOnly(id.to_owned())),
            "guest_timeout" => AgentAnswer::Refused(Refusal::Timeout {
                id: id.to_owned(),
                port,
            }),
            "guest_unreachable" => AgentAnswer::Refused(Refusal::PortClosed {
                id: id.to_owned(),
                port,
            }),
            other => {
                tracing::warn!(sandbox_id = id, code = other, status = %response.status(), "the host's agent refused a proxied request");
                AgentAnswer::Refused(Refusal::NotRunning(id.to_owned()))
            }
        })
    }
}

/// The proxy's access rules, before anything is forwarded: envd's
/// host-only routes never; user ports of a sandbox without public traffic
/// only with its traffic token (envd's port is exempt: envd checks its own
/// access token, which the proxy passes through untouched).
pub fn check_access(
    route: &Route,
    id: &str,
    port: u16,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    if port == ENVD_PORT {
        if envd_paths::is_host_only(path) {
            return Err(Refusal::HostOnly(id.to_owned()));
        }
        return Ok(());
    }
    if route.public_traffic {
        return Ok(());
    }
    let presented = headers.get(TRAFFIC_TOKEN_HEADER).map(HeaderValue::as_bytes);
    match &route.traffic_token_hash {
        Some(hash) if token::matches(hash, presented) => Ok(()),
        _ => Err(Refusal::TrafficToken(id.to_owned())),
    }
}

fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

/// `1`-`65535`, digits only.
pub fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|p| *p != 0)
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

/// Removes the headers that describe one connection (RFC 9110 §7.6.1),
/// those the `Connection` header names included.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
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

/// Copies both ways between the client's and the agent's upgraded
/// connections until either side closes.
async fn splice(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    let (client, upstream) = match tokio::join!(client, upstream) {
        (Ok(client), Ok(upstream)) => (client, upstream),
        (Err(err), _) | (_, Err(err)) => {
            tracing::debug!(error = %err, "upgrade failed");
            return;
        }
    };
    let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
    if let Err(err) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(error = %err, "upgraded connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(public_traffic: bool) -> Route {
        let minted = token::mint();
        Route {
            team_id: "team".into(),
            host_id: Some("host".into()),
            state: SandboxState::Running,
            public_traffic,
            traffic_token_hash: (!public_traffic).then_some(minted.hash),
            auto_resume: false,
        }
    }

    #[test]
    fn check_access_when_host_only_envd_route_then_403() {
        let headers = HeaderMap::new();
        for path in ["/init", "/shutdown", "//init", "/%69nit"] {
            assert!(matches!(
                check_access(&route(true), "a", ENVD_PORT, path, &headers),
                Err(Refusal::HostOnly(_))
            ));
        }
        // Only on envd's port: a user's app may serve /init.
        assert!(check_access(&route(true), "a", 3000, "/init", &headers).is_ok());
        assert!(check_access(&route(true), "a", ENVD_PORT, "/health", &headers).is_ok());
    }

    #[test]
    fn check_access_when_private_traffic_then_token_needed_except_envd() {
        let minted = token::mint();
        let private = Route {
            traffic_token_hash: Some(minted.hash.clone()),
            ..route(false)
        };
        let mut headers = HeaderMap::new();
        assert!(matches!(
            check_access(&private, "a", 3000, "/", &headers),
            Err(Refusal::TrafficToken(_))
        ));
        assert!(check_access(&private, "a", ENVD_PORT, "/health", &headers).is_ok());
        headers.insert(TRAFFIC_TOKEN_HEADER, HeaderValue::from_static("wrong"));
        assert!(check_access(&private, "a", 3000, "/", &headers).is_err());
        headers.insert(
            TRAFFIC_TOKEN_HEADER,
            HeaderValue::from_str(&minted.token).unwrap(),
        );
        assert!(check_access(&private, "a", 3000, "/", &headers).is_ok());
    }

    #[test]
    fn parse_port_when_not_plain_digits_then_none() {
        assert_eq!(parse_port("3000"), Some(3000));
        for bad in ["0", "65536", "+80", "", "80a", "-1", " 80"] {
            assert_eq!(parse_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn strip_hop_by_hop_when_named_then_removed_keeps_access_token() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("x-a, keep-alive"),
        );
        headers.insert("x-a", HeaderValue::from_static("1"));
        headers.insert("x-access-token", HeaderValue::from_static("t"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert_eq!(headers["x-access-token"], "t");
    }
}
