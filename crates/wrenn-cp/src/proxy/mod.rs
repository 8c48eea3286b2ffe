//! The sandbox traffic proxy and the ingress in front of the REST API.
//!
//! [`Ingress`] takes every request the control plane's listener accepts
//! and sends it by its Host and headers ([`target`]) to the sandbox proxy
//! ([`SandboxProxy`]), the E2B-compatible API (`api.<domain>` at its root,
//! and `/e2b/...` on any other name, prefix stripped) or Wrenn's API.
//! Protocol-agnostic: it sees an axum request, whatever listener (plain
//! HTTP/1.1, h2c, TLS with h2) produced it.
//!
//! The proxy forwards to the sandbox's host agent, which forwards to the
//! guest port (`wrenn-agent`'s `rpc::guest_proxy`); see docs/architecture.md,
//! "Sandbox traffic proxy".
mod backend;
pub mod forward;
pub mod refusal;
pub mod target;

use std::sync::Arc;

use axum::{
    extract::Request,
    http::{uri::PathAndQuery, Uri},
    response::Response,
    Router,
};
use tower_service::Service;

pub use crate::traffic::{token, Route, RouteCache};
pub use backend::AppBackend;
pub use forward::{Backend, BackendError, SandboxProxy};
use target::Destination;

use crate::{domain::Domain, state::AppState};

/// The path prefix under which any name serves the E2B-compatible API.
pub const E2B_PREFIX: &str = "/e2b";

/// Where each request goes: the routers are values, so tests and the
/// server wire what they have (the E2B API is optional until built).
#[derive(Clone)]
pub struct Ingress {
    pub proxy: SandboxProxy,
    /// `api.<domain>` and `/e2b/...`; `None`: those go to `api` too.
    pub e2b_api: Option<Router>,
    pub api: Router,
    pub domain: Option<Domain>,
}

impl std::fmt::Debug for Ingress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingress")
            .field("e2b_api", &self.e2b_api.is_some())
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl Ingress {
    /// The production ingress: the proxy over `state`, `api` for the rest.
    pub fn new(state: &AppState, api: Router, e2b_api: Option<Router>) -> Self {
        Self {
            proxy: SandboxProxy::new(Arc::new(AppBackend::new(state.clone()))),
            e2b_api,
            api,
            domain: state.config.domain.clone(),
        }
    }

    /// One router that dispatches every request.
    pub fn into_router(self) -> Router {
        let ingress = Arc::new(self);
        Router::new().fallback(move |request: Request| {
            let ingress = Arc::clone(&ingress);
            async move { ingress.dispatch(request).await }
        })
    }

    pub async fn dispatch(&self, request: Request) -> Response {
        let destination = target::classify(request.headers(), request.uri(), self.domain.as_ref());
        match destination {
            Destination::Sandbox { id, port } => self.proxy.handle(request, &id, &port).await,
            Destination::E2bApi => match &self.e2b_api {
                Some(e2b) => call(e2b, request).await,
                None => call(&self.api, request).await,
            },
            Destination::Api => match (&self.e2b_api, strip_e2b_prefix(request.uri())) {
                (Some(e2b), Some(uri)) => {
                    let mut request = request;
                    *request.uri_mut() = uri;
                    call(e2b, request).await
                }
                _ => call(&self.api, request).await,
            },
        }
    }
}

async fn call(router: &Router, request: Request) -> Response {
    let mut router = router.clone();
    match router.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// `/e2b/x?q` → `/x?q`; `None` for paths outside the prefix.
fn strip_e2b_prefix(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let rest = path.strip_prefix(E2B_PREFIX)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let rest = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_e2b_prefix_when_under_prefix_then_rest() {
        let strip = |s: &'static str| strip_e2b_prefix(&Uri::from_static(s)).map(|u| u.to_string());
        assert_eq!(
            strip("/e2b/sandboxes?x=1").as_deref(),
            Some("/sandboxes?x=1")
        );
        assert_eq!(strip("/e2b").as_deref(), Some("/"));
        assert_eq!(strip("/e2bx"), None);
        assert_eq!(strip("/v1/sandboxes"), None);
    }
}
