//! The HTTPS listener: the operator's certificate for `*.<domain>` (and the
//! names it covers), ALPN `h2` and `http/1.1`, serving the same router as the
//! plain listener. A TLS handshake per connection with a deadline, then
//! hyper-util's auto (HTTP/1.1-or-h2) server, with the same graceful
//! shutdown as the plain listener: stop accepting, let in-flight requests
//! and streams finish.
//!
//! Configured by `CP_TLS_CERT_FILE` and `CP_TLS_KEY_FILE` (PEM, both or
//! neither) and `CP_TLS_LISTEN_ADDR` (default `127.0.0.1:8443`). The plain
//! `CP_LISTEN_ADDR` keeps listening: agents and loopback development use it.
//! A renewed certificate is picked up by a restart.
//! Imports nothing of the crate but its router's signature.
use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use axum::extract::ConnectInfo;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto, graceful::GracefulShutdown},
};
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    ServerConfig,
};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;

pub const CERT_VAR: &str = "CP_TLS_CERT_FILE";
pub const KEY_VAR: &str = "CP_TLS_KEY_FILE";
pub const ADDR_VAR: &str = "CP_TLS_LISTEN_ADDR";
pub const DEFAULT_ADDR: &str = "127.0.0.1:8443";

/// How long a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after an accept error that is not about one connection (out of
/// file descriptors, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("set both {CERT_VAR} and {KEY_VAR}, or neither")]
    HalfConfigured,
    #[error("{var}: cannot read {path}")]
    ReadPem {
        var: &'static str,
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{CERT_VAR}: {0} holds no certificate")]
    NoCertificate(PathBuf),
    #[error("{CERT_VAR} and {KEY_VAR} do not make a usable TLS identity (does the key belong to the certificate?)")]
    Identity(#[source] rustls::Error),
}

/// The certificate and key the HTTPS listener presents, and its address.
/// `Debug` shows the address and the leaf's SHA-256, never the key.
#[derive(Clone)]
pub struct TlsListenerConfig {
    pub addr: SocketAddr,
    pub cert_file: PathBuf,
    server: Arc<ServerConfig>,
    leaf_sha256: String,
}

impl std::fmt::Debug for TlsListenerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListenerConfig")
            .field("addr", &self.addr)
            .field("cert_file", &self.cert_file)
            .field("cert_sha256", &self.leaf_sha256)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl TlsListenerConfig {
    /// Loads the certificate chain (leaf first) and key (PEM: PKCS#8, PKCS#1
    /// or SEC1) and checks that they belong together.
    pub fn load(addr: SocketAddr, cert: &Path, key: &Path) -> Result<Self, ListenerError> {
        fn read_error(
            var: &'static str,
            path: &Path,
        ) -> impl FnOnce(rustls::pki_types::pem::Error) -> ListenerError {
            let path = path.to_owned();
            move |source| ListenerError::ReadPem { var, path, source }
        }
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(read_error(CERT_VAR, cert))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(read_error(CERT_VAR, cert))?;
        let Some(leaf) = chain.first() else {
            return Err(ListenerError::NoCertificate(cert.to_owned()));
        };
        let leaf_sha256 = Sha256::digest(leaf)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(key).map_err(read_error(KEY_VAR, key))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(ListenerError::Identity)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(ListenerError::Identity)?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            addr,
            cert_file: cert.to_owned(),
            server: Arc::new(server),
            leaf_sha256,
        })
    }

    /// Reads `CP_TLS_CERT_FILE`, `CP_TLS_KEY_FILE` and `CP_TLS_LISTEN_ADDR`
    /// through `get`: `None` when neither file is named. `addr` parses the
    /// address (the caller's error type names the variable).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        addr: SocketAddr,
    ) -> Result<Option<Self>, ListenerError> {
        match (get(CERT_VAR), get(KEY_VAR)) {
            (Some(cert), Some(key)) => {
                Self::load(addr, Path::new(cert.trim()), Path::new(key.trim())).map(Some)
            }
            (None, None) => Ok(None),
            _ => Err(ListenerError::HalfConfigured),
        }
    }

    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }
}

/// Marks a request that came in over this TLS listener (session cookies
/// are then `Secure`, and a WebSocket's `Origin` must be `https://`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverTls;

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then stops
/// accepting and waits for open connections (handshakes included) to finish
/// their in-flight requests. Each request carries the peer's address as
/// `ConnectInfo<SocketAddr>` (as on the plain listener) and, over h2, a
/// `Host` header made from `:authority`, so that routing by name reads one
/// header whichever protocol the client chose.
pub async fn serve_tls(
    listener: TcpListener,
    app: axum::Router,
    tls: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // WebSockets over h2 (RFC 8441 extended CONNECT).
    builder.http2().enable_connect_protocol();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) if is_per_connection(&err) => continue,
                Err(err) => {
                    tracing::warn!(%err, "accept failed; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        // Taken before the handshake so that shutdown waits for it too.
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(OverTls);
                host_from_authority(&mut request);
                app.clone().call(request)
            });
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(err) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%peer, %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// h2 carries the name in `:authority` (the URI) and clients need not send
/// `Host`: add it from the URI when it is missing.
fn host_from_authority<B>(request: &mut hyper::Request<B>) {
    if request.headers().contains_key(hyper::header::HOST) {
        return;
    }
    let Some(authority) = request.uri().authority() else {
        return;
    };
    if let Ok(value) = hyper::header::HeaderValue::from_str(authority.as_str()) {
        request.headers_mut().insert(hyper::header::HOST, value);
    }
}

/// Errors that concern only the connection being accepted.
fn is_per_connection(err: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        err.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_from_authority_when_h2_request_without_host_then_added() {
        let mut request = hyper::Request::builder()
            .uri("https://49983-abc.wrenn.localhost:8443/health")
            .body(())
            .unwrap();
        host_from_authority(&mut request);
        assert_eq!(
            request.headers()[hyper::header::HOST],
            "49983-abc.wrenn.localhost:8443"
        );
    }

    #[test]
    fn host_from_authority_when_host_present_then_kept() {
        let mut request = hyper::Request::builder()
            .uri("https://other.example:1/")
            .header(hyper::header::HOST, "api.wrenn.localhost")
            .body(())
            .unwrap();
        host_from_authority(&mut request);
        assert_eq!(
            request.headers()[hyper::header::HOST],
            "api.wrenn.localhost"
        );
    }

    #[test]
    fn from_lookup_when_one_file_then_refused_naming_both() {
        let addr: SocketAddr = DEFAULT_ADDR.parse().unwrap();
        let err = TlsListenerConfig::from_lookup(
            |name| (name == CERT_VAR).then(|| "/etc/wrenn/tls.crt".to_owned()),
            addr,
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(CERT_VAR) && message.contains(KEY_VAR),
            "{message}"
        );
    }

    #[test]
    fn load_when_files_missing_then_error_names_variable() {
        let addr: SocketAddr = DEFAULT_ADDR.parse().unwrap();
        let err = TlsListenerConfig::load(
            addr,
            Path::new("/nonexistent/tls.crt"),
            Path::new("/nonexistent/tls.key"),
        )
        .unwrap_err();
        assert!(err.to_string().contains(CERT_VAR), "{err}");
    }

    #[test]
    fn load_when_key_of_another_certificate_then_refused() {
        let dir = tempfile::tempdir().unwrap();
        let one = rcgen::generate_simple_self_signed(vec!["a.test".into()]).unwrap();
        let two = rcgen::generate_simple_self_signed(vec!["b.test".into()]).unwrap();
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        std::fs::write(&cert, one.cert.pem()).unwrap();
        std::fs::write(&key, two.signing_key.serialize_pem()).unwrap();
        let addr: SocketAddr = DEFAULT_ADDR.parse().unwrap();
        let err = TlsListenerConfig::load(addr, &cert, &key).unwrap_err();
        assert!(matches!(err, ListenerError::Identity(_)), "{err}");
        std::fs::write(&key, one.signing_key.serialize_pem()).unwrap();
        let ok = TlsListenerConfig::load(addr, &cert, &key).unwrap();
        assert!(!format!("{ok:?}").contains("PRIVATE"), "{ok:?}");
        assert_eq!(
            ok.server_config().alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    /// A client that trusts only `cert_pem` and offers `alpn` (h2 and/or
    /// HTTP/1.1).
    fn client(
        cert_pem: &str,
        http2: bool,
    ) -> hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        http_body_util::Empty<bytes::Bytes>,
    > {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only();
        let connector = if http2 {
            builder.enable_http2().build()
        } else {
            builder.enable_http1().build()
        };
        hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .http2_only(http2)
            .build(connector)
    }

    #[tokio::test]
    async fn serve_tls_when_h2_or_http1_then_same_router_with_peer_and_host() {
        use axum::{extract::ConnectInfo, http::HeaderMap, routing::get};
        use http_body_util::BodyExt;
        let dir = tempfile::tempdir().unwrap();
        let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        std::fs::write(&cert, issued.cert.pem()).unwrap();
        std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = TlsListenerConfig::load(listener.local_addr().unwrap(), &cert, &key).unwrap();
        let app = axum::Router::new().route(
            "/who",
            get(
                |ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap| async move {
                    let host = headers
                        .get(hyper::header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    format!("{} {host}", peer.ip())
                },
            ),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_tls(listener, app, config.server_config(), async {
            let _ = stopped.await;
        }));
        let url: hyper::Uri = format!("https://localhost:{port}/who").parse().unwrap();
        for (http2, version) in [
            (true, hyper::Version::HTTP_2),
            (false, hyper::Version::HTTP_11),
        ] {
            let response = client(&issued.cert.pem(), http2)
                .get(url.clone())
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.version(), version);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let body = String::from_utf8(body.to_vec()).unwrap();
            assert!(
                body == format!("127.0.0.1 localhost:{port}")
                    || body == format!("::1 localhost:{port}"),
                "{version:?}: {body}"
            );
        }
        // A client that does not trust the certificate is refused.
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        assert!(client(&other.cert.pem(), false).get(url).await.is_err());
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
