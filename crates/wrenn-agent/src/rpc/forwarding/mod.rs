//! The forwarding core of the agent's two proxies (`/envd/`: the control
//! plane's client of envd; `/guest/`: end users' traffic to any guest
//! port): the agent-secret check, the lookup of the sandbox's running VM,
//! the bounded exchange over the pooled connections, the streamed answer
//! and the JSON refusal. Each proxy keeps its own request rewriting and its
//! own error enum; this module owns what they do alike.
pub(crate) mod pool;
pub(crate) mod watch;

use std::{future::Future, sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::Request,
    http::{header, request, HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use pool::EnvdPools;

use super::auth::Secret;
use crate::{
    sandbox::{EnvdTarget, SandboxError, SandboxId, SandboxManager},
    vmm::Vmm,
};

pub const AGENT_SECRET_HEADER: &str = "x-agent-secret";
/// Set on the proxies' own refusals (their error code), so a client can
/// tell them from the guest's answers whatever protocol it speaks: a
/// Connect client does not read the JSON envelope of a 404.
pub const PROXY_ERROR_HEADER: &str = "x-wrenn-proxy-error";

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

/// Why a sandbox's VM cannot take a request.
#[derive(Debug)]
pub(crate) enum Unavailable {
    NotFound(String),
    NotRunning(SandboxId),
}

/// Why an exchange with a guest gave no response headers.
pub(crate) enum ExchangeFailure {
    Unreachable(Box<dyn std::error::Error + Send + Sync>),
    VmGone,
    Timeout,
}

/// What both proxies hold: where VMs are, the secret, the connection pools.
#[derive(Clone)]
pub(crate) struct Forwarder {
    directory: Arc<dyn EnvdDirectory>,
    secret: Secret,
    pools: Arc<EnvdPools>,
}

impl Forwarder {
    pub(crate) fn new(directory: Arc<dyn EnvdDirectory>, secret: Secret) -> Self {
        Self {
            directory,
            secret,
            pools: Arc::default(),
        }
    }

    /// Whether the request carries the agent secret in `X-Agent-Secret`.
    pub(crate) fn authenticated(&self, headers: &HeaderMap) -> bool {
        let presented = headers.get(AGENT_SECRET_HEADER);
        self.secret
            .matches_raw(presented.map(HeaderValue::as_bytes))
    }

    /// The running VM of sandbox `id`; its pool goes when it has none.
    pub(crate) fn running(&self, id: &SandboxId) -> Result<EnvdTarget, Unavailable> {
        self.directory.envd_target(id).map_err(|err| {
            self.pools.forget(id);
            match err {
                SandboxError::NotFound(id) => Unavailable::NotFound(id.to_string()),
                _ => Unavailable::NotRunning(id.clone()),
            }
        })
    }

    /// A sandbox can stop (timeout, destroy) between the lookup and the
    /// connection to its VM: after an unreachable guest, what became of the
    /// sandbox, or `None` when it still runs (the failure stands).
    pub(crate) fn stopped_since(&self, id: &SandboxId) -> Option<Unavailable> {
        self.running(id).err()
    }

    /// Resolves when the VM of `generation` no longer runs sandbox `id`.
    pub(crate) fn vm_gone(
        &self,
        id: SandboxId,
        generation: u64,
    ) -> impl Future<Output = ()> + Send + 'static {
        watch::vm_gone(Arc::clone(&self.directory), id, generation)
    }

    /// Sends the request to `target`'s VM over its pool and waits for the
    /// response headers: at most `limit` after the request body's end, and
    /// no longer than the VM runs.
    pub(crate) async fn exchange(
        &self,
        id: &SandboxId,
        target: &EnvdTarget,
        parts: request::Parts,
        body: Body,
        limit: Duration,
    ) -> Result<Response<hyper::body::Incoming>, ExchangeFailure> {
        let client = self.pools.client(id, target, self.directory.as_ref());
        let (body, body_sent) = watch::sent(body);
        let exchange = client.request(Request::from_parts(parts, Body::new(body)));
        let headers_due = async move {
            // Err only means the body was dropped: sent or abandoned, either way done.
            let _ = body_sent.await;
            tokio::time::sleep(limit).await;
        };
        tokio::select! {
            response = exchange => response.map_err(|e| ExchangeFailure::Unreachable(e.into())),
            () = self.vm_gone(id.clone(), target.generation) => Err(ExchangeFailure::VmGone),
            () = headers_due => Err(ExchangeFailure::Timeout),
        }
    }
}

/// `rest` with the request's query, if any.
pub(crate) fn path_and_query(rest: &str, query: Option<&str>) -> String {
    match query {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    }
}

/// The guest's response, minus hop-by-hop headers, its body streamed until
/// it ends or the VM stops (`gone`).
pub(crate) fn stream_back(
    response: Response<hyper::body::Incoming>,
    gone: impl Future<Output = ()> + Send + 'static,
) -> Response {
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, Body::new(watch::UntilVmGone::new(body, gone)))
}

/// A proxy's own refusal: the JSON error envelope, its code also in the
/// proxy error header.
pub(crate) fn refusal(status: StatusCode, code: &'static str, message: String) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, [(PROXY_ERROR_HEADER, code)], axum::Json(body)).into_response()
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
}
