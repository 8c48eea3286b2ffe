//! The control plane's hop to a host agent's `/guest/{id}/{port}/...`
//! route (the sandbox traffic proxy): a hyper client per host that takes
//! any request body as it streams and hands back the response's, pools
//! kept-alive HTTP/1.1 connections (a WebSocket upgrade takes one out of
//! the pool), and speaks the host's pinned TLS when it has one
//! ([`crate::tls::pinned_client_config`]), as the Connect clients do.
use std::time::Duration;

use axum::body::Body;
use futures_util::future::BoxFuture;
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};

use crate::secret::SecretString;

/// TCP connect deadline (TLS handshakes are bounded by the pool's idle
/// reuse; a dead agent fails the connect).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept per agent: enough for bursts of many streams.
const MAX_IDLE: usize = 256;

type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

#[derive(Clone)]
enum HopClient {
    Plain(Client<HttpConnector, Body>),
    Tls(Client<HttpsConnector, Body>),
}

/// One agent's guest route: base URL, the secret it expects in
/// `X-Agent-Secret`, and the pooled client. Cloning shares the pool.
#[derive(Clone)]
pub struct GuestHop {
    base_url: String,
    secret: SecretString,
    client: HopClient,
}

impl std::fmt::Debug for GuestHop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestHop")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn tcp() -> HttpConnector {
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
    // A host that vanished (no RST) is noticed mid-stream within ~30 s.
    tcp.set_keepalive(Some(Duration::from_secs(15)));
    tcp.set_keepalive_interval(Some(Duration::from_secs(5)));
    tcp.set_keepalive_retries(Some(3));
    tcp
}

fn builder() -> hyper_util::client::legacy::Builder {
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE);
    builder
}

impl GuestHop {
    /// An agent over plain HTTP (`http://host:port`).
    pub fn plain(base_url: &str, secret: SecretString) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            secret,
            client: HopClient::Plain(builder().build(tcp())),
        }
    }

    /// An agent over HTTPS with its pinned configuration.
    pub fn tls(base_url: &str, secret: SecretString, config: &rustls::ClientConfig) -> Self {
        let mut tls = config.clone();
        // hyper-rustls sets ALPN itself and wants it empty on input.
        tls.alpn_protocols.clear();
        let mut tcp = tcp();
        tcp.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(tcp);
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            secret,
            client: HopClient::Tls(builder().build(https)),
        }
    }

    /// The agent's URL for `path_and_query` (rooted) on `port` of `id`.
    pub fn url(&self, id: &str, port: u16, path_and_query: &str) -> String {
        format!("{}/guest/{id}/{port}{path_and_query}", self.base_url)
    }

    /// The value of `X-Agent-Secret`.
    pub fn secret(&self) -> &str {
        self.secret.expose()
    }

    /// Sends `request` (absolute URI from [`GuestHop::url`]).
    pub fn send(
        &self,
        request: axum::http::Request<Body>,
    ) -> BoxFuture<'static, Result<axum::http::Response<Incoming>, hyper_util::client::legacy::Error>>
    {
        match &self.client {
            HopClient::Plain(client) => Box::pin(client.request(request)),
            HopClient::Tls(client) => Box::pin(client.request(request)),
        }
    }
}
