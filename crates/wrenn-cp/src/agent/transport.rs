//! How the control plane's HTTP clients reach one agent: plain HTTP, or
//! HTTPS with that agent's pinned TLS configuration ([`crate::tls`]).
//!
//! connectrpc's own TLS client (`client-tls`) would pull rustls with its
//! default provider, aws-lc-rs, which needs cmake to build; so the Connect
//! clients here run on hyper-util's client with a hyper-rustls connector on
//! the ring provider, and reqwest takes the same configuration preconfigured.
//! Both speak HTTP/1.1 over TLS, as the plaintext clients do.
use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::http;
use connectrpc::{
    client::{ClientBody, ClientTransport, HttpClient, DEFAULT_ESTABLISHMENT_TIMEOUT},
    ConnectError,
};
use futures_util::future::BoxFuture;
use hyper_util::client::legacy::{connect::HttpConnector, Client};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;
type TlsClient = Client<Bounded<HttpsConnector>, ClientBody>;

/// TCP connect deadline, as for the API's plain reqwest client.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The pinned TLS of one agent and the HTTP clients built on it, once: the
/// Connect client's connection pool and a reqwest client for envd's file
/// routes. Cloning shares both.
#[derive(Clone)]
pub struct AgentTls {
    config: Arc<rustls::ClientConfig>,
    connect: TlsClient,
    http: reqwest::Client,
}

impl std::fmt::Debug for AgentTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentTls").finish_non_exhaustive()
    }
}

impl AgentTls {
    /// Builds the clients for `config` (see [`crate::tls::pinned_client_config`]).
    pub fn new(config: Arc<rustls::ClientConfig>) -> Result<Self, reqwest::Error> {
        let mut http1 = (*config).clone();
        http1.alpn_protocols = vec![b"http/1.1".to_vec()];
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .use_preconfigured_tls(http1)
            .build()?;
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        tcp.enforce_http(false);
        // hyper-rustls sets ALPN itself and wants it empty on input.
        let mut tls = (*config).clone();
        tls.alpn_protocols.clear();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(tcp);
        let connect = Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(Bounded(https, DEFAULT_ESTABLISHMENT_TIMEOUT));
        Ok(Self {
            config,
            connect,
            http,
        })
    }

    pub fn config(&self) -> &Arc<rustls::ClientConfig> {
        &self.config
    }

    /// reqwest over this TLS (HTTP/1.1).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// The transport of the Connect clients to an agent and its envd proxy.
#[derive(Clone)]
pub enum AgentTransport {
    Plain(HttpClient),
    Tls(AgentTls),
}

impl std::fmt::Debug for AgentTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain(_) => "AgentTransport::Plain",
            Self::Tls(_) => "AgentTransport::Tls",
        })
    }
}

impl AgentTransport {
    /// Plain HTTP, or the agent's TLS when it has one.
    pub fn new(tls: Option<&AgentTls>) -> Self {
        match tls {
            Some(tls) => Self::Tls(tls.clone()),
            None => Self::Plain(HttpClient::plaintext()),
        }
    }
}

impl ClientTransport for AgentTransport {
    type ResponseBody = hyper::body::Incoming;
    type Error = ConnectError;

    fn send(
        &self,
        request: http::Request<ClientBody>,
    ) -> BoxFuture<'static, Result<http::Response<Self::ResponseBody>, ConnectError>> {
        match self {
            Self::Plain(client) => client.send(request),
            Self::Tls(tls) => {
                let client = tls.connect.clone();
                Box::pin(async move {
                    client.request(request).await.map_err(|err| {
                        // hyper-util's error says only "client error
                        // (Connect)": keep the causes, a pin mismatch
                        // among them, in the message.
                        let message = error_chain(&err);
                        ConnectError::unavailable(format!(
                            "HTTPS request to the agent failed: {message}"
                        ))
                        .with_source(err)
                    })
                })
            }
        }
    }
}

/// `err` and its sources, joined with ": ".
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// A connector whose connections (TCP and TLS handshake) must be
/// established within a deadline, as connectrpc's own clients are.
#[derive(Clone)]
struct Bounded<C>(C, Duration);

impl<C> tower_service::Service<http::Uri> for Bounded<C>
where
    C: tower_service::Service<http::Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
    C::Response: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<C::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        let deadline = self.1;
        Box::pin(async move {
            match tokio::time::timeout(deadline, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(format!("no TLS connection to the agent within {deadline:?}").into()),
            }
        })
    }
}
