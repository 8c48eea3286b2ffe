//! In-process tests of the envd reverse proxy: the proxy routes over a fake
//! sandbox directory in front of a fake envd (a small axum server), both on
//! loopback. No root or VM needed.
//!
//! The fake envd records each request's client port, so tests can tell a
//! kept-alive connection from a fresh one.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use wrenn_agent::{
    rpc::{envd_proxy, Secret},
    sandbox::{
        state::IllegalTransition, AccessToken, EnvdTarget, SandboxError, SandboxId, SandboxState,
    },
};

const SECRET: &str = "test-secret-0123456789";
const LIMIT: Duration = Duration::from_secs(20);

/// envd's URL and the VM generation of a running sandbox.
type Running = (String, u64);

/// Sandboxes by id: `Some((url, generation))` runs with envd there, `None`
/// is paused. Tests change it to model a VM restarted or a sandbox gone.
#[derive(Clone)]
struct FakeDirectory {
    sandboxes: Arc<Mutex<HashMap<String, Option<Running>>>>,
    token: AccessToken,
}

impl FakeDirectory {
    fn set(&self, id: &str, state: Option<Running>) {
        self.sandboxes
            .lock()
            .expect("lock")
            .insert(id.to_owned(), state);
    }
}

impl envd_proxy::EnvdDirectory for FakeDirectory {
    fn envd_target(&self, id: &SandboxId) -> Result<EnvdTarget, SandboxError> {
        match self.sandboxes.lock().expect("lock").get(id.as_str()) {
            Some(Some((url, generation))) => Ok(EnvdTarget {
                url: url.clone(),
                token: self.token.clone(),
                generation: *generation,
            }),
            Some(None) => Err(IllegalTransition {
                from: SandboxState::Paused,
                to: SandboxState::Running,
            }
            .into()),
            None => Err(SandboxError::NotFound(id.clone())),
        }
    }
}

/// What the fake envd saw of the last request, and hooks to pace streams.
#[derive(Default)]
struct Seen {
    headers: Mutex<Option<(HeaderMap, String)>>,
    /// Each upload chunk's size as it arrives.
    upload_progress: Mutex<Option<mpsc::UnboundedSender<usize>>>,
    /// Released by the test to let the download send its second chunk.
    download_gate: Mutex<Option<oneshot::Receiver<()>>>,
    /// The client address of every `/health` request, in order.
    health_peers: Mutex<Vec<SocketAddr>>,
}

async fn fake_envd(seen: Arc<Seen>) -> SocketAddr {
    let echo_seen = Arc::clone(&seen);
    let health_seen = Arc::clone(&seen);
    let app = axum::Router::new()
        // A guest that took the request and never answers (a wedged envd,
        // or a VM stopped under the connection).
        .route(
            "/silent",
            axum::routing::get(std::future::pending::<StatusCode>),
        )
        .route(
            "/health",
            axum::routing::get(
                move |ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                    health_seen.health_peers.lock().expect("lock").push(peer);
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/files",
            axum::routing::post(move |request: Request| {
                let seen = Arc::clone(&echo_seen);
                async move {
                    let query = request.uri().query().unwrap_or("").to_owned();
                    *seen.headers.lock().expect("lock") = Some((request.headers().clone(), query));
                    let progress = seen.upload_progress.lock().expect("lock").clone();
                    let body = request.into_body().into_data_stream().map(move |chunk| {
                        if let (Ok(bytes), Some(tx)) = (&chunk, &progress) {
                            let _ = tx.send(bytes.len());
                        }
                        chunk
                    });
                    Response::new(Body::from_stream(body))
                }
            }),
        )
        .route(
            "/download",
            axum::routing::get(move || {
                let gate = seen.download_gate.lock().expect("lock").take();
                async move {
                    let chunks = futures_util::stream::once(async {
                        Ok::<_, std::io::Error>(Bytes::from("first"))
                    })
                    .chain(futures_util::stream::once(async move {
                        if let Some(gate) = gate {
                            let _ = gate.await;
                        }
                        Ok(Bytes::from("second"))
                    }));
                    Response::new(Body::from_stream(chunks))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

struct Proxy {
    addr: SocketAddr,
    token: AccessToken,
    seen: Arc<Seen>,
    envd: SocketAddr,
    directory: FakeDirectory,
}

impl Proxy {
    async fn start() -> Self {
        Self::start_with(envd_proxy::Limits::default()).await
    }

    async fn start_with(limits: envd_proxy::Limits) -> Self {
        let seen = Arc::new(Seen::default());
        let envd = fake_envd(Arc::clone(&seen)).await;
        let token = AccessToken::generate();
        let directory = FakeDirectory {
            sandboxes: Arc::new(Mutex::new(HashMap::from([
                ("running".to_owned(), Some((format!("http://{envd}"), 1))),
                ("paused".to_owned(), None),
                // Nothing listens on port 1.
                (
                    "gone".to_owned(),
                    Some(("http://127.0.0.1:1".to_owned(), 1)),
                ),
            ]))),
            token: token.clone(),
        };
        let routes = envd_proxy::routes_with_limits(
            Arc::new(directory.clone()),
            Secret::new(SECRET).expect("secret"),
            limits,
        );
        let addr = serve(routes).await;
        Self {
            addr,
            token,
            seen,
            envd,
            directory,
        }
    }

    /// `GET /envd/<id>/health` through the proxy; panics unless envd answered.
    async fn health(&self, id: &str) {
        let response = bounded(
            self.request(reqwest::Method::GET, &format!("/envd/{id}/health"))
                .send(),
        )
        .await
        .expect("sent");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    fn health_peers(&self) -> Vec<SocketAddr> {
        self.seen.health_peers.lock().expect("lock").clone()
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, format!("http://{}{path}", self.addr))
            .header(envd_proxy::AGENT_SECRET_HEADER, SECRET)
    }
}

async fn bounded<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("finished in time")
}

async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("json");
    body["error"]["code"].as_str().expect("code").to_owned()
}

#[tokio::test]
async fn proxy_when_secret_missing_or_wrong_then_401() {
    let proxy = Proxy::start().await;
    let url = format!("http://{}/envd/running/files", proxy.addr);
    let client = reqwest::Client::new();

    let missing = bounded(client.post(&url).send()).await.expect("sent");
    let wrong = bounded(
        client
            .post(&url)
            .header(envd_proxy::AGENT_SECRET_HEADER, "test-secret-0123456780")
            .send(),
    )
    .await
    .expect("sent");
    let bearer = bounded(client.post(&url).bearer_auth(SECRET).send())
        .await
        .expect("sent");

    for response in [missing, wrong, bearer] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(response).await, "unauthenticated");
    }
    assert!(
        proxy.seen.headers.lock().expect("lock").is_none(),
        "nothing reached envd"
    );
}

#[tokio::test]
async fn proxy_when_unknown_sandbox_then_404_not_found() {
    let proxy = Proxy::start().await;
    let response = bounded(
        proxy
            .request(reqwest::Method::GET, "/envd/nope/health")
            .send(),
    )
    .await
    .expect("sent");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()[envd_proxy::PROXY_ERROR_HEADER],
        "not_found",
        "a Connect client only sees headers on a refusal"
    );
    assert_eq!(error_code(response).await, "not_found");
}

#[tokio::test]
async fn proxy_when_sandbox_paused_then_409_sandbox_not_running() {
    let proxy = Proxy::start().await;
    let response = bounded(
        proxy
            .request(reqwest::Method::GET, "/envd/paused/health")
            .send(),
    )
    .await
    .expect("sent");
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(response).await, "sandbox_not_running");
}

#[tokio::test]
async fn proxy_when_envd_down_then_502_envd_unreachable() {
    let proxy = Proxy::start().await;
    let response = bounded(
        proxy
            .request(reqwest::Method::GET, "/envd/gone/health")
            .send(),
    )
    .await
    .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(error_code(response).await, "envd_unreachable");
}

#[tokio::test]
async fn proxy_when_forwarding_then_authorization_kept_token_injected_secret_stripped() {
    let proxy = Proxy::start().await;
    let response = bounded(
        proxy
            .request(
                reqwest::Method::POST,
                "/envd/running/files?path=%2Ftmp%2Fa%20b&username=user",
            )
            .header("authorization", "Basic dXNlcjo=")
            .header("x-access-token", "forged")
            .body("hello")
            .send(),
    )
    .await
    .expect("sent");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(bounded(response.text()).await.expect("body"), "hello");
    let (headers, query) = proxy
        .seen
        .headers
        .lock()
        .expect("lock")
        .take()
        .expect("seen");
    assert_eq!(headers["authorization"], "Basic dXNlcjo=");
    assert_eq!(headers["x-access-token"], proxy.token.expose());
    assert!(!headers.contains_key(envd_proxy::AGENT_SECRET_HEADER));
    assert_eq!(query, "path=%2Ftmp%2Fa%20b&username=user");
}

#[tokio::test]
async fn proxy_when_upload_streams_then_envd_sees_chunks_before_the_body_ends() {
    let proxy = Proxy::start().await;
    let (progress_tx, mut progress) = mpsc::unbounded_channel();
    *proxy.seen.upload_progress.lock().expect("lock") = Some(progress_tx);
    let (chunks_tx, chunks_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(tokio_stream(chunks_rx));
    let sending = tokio::spawn(
        proxy
            .request(reqwest::Method::POST, "/envd/running/files")
            .body(body)
            .send(),
    );

    chunks_tx
        .send(Ok(Bytes::from(vec![1u8; 64 * 1024])))
        .await
        .expect("chunk");
    let first = bounded(progress.recv())
        .await
        .expect("first chunk reached envd");
    // Only now the rest of the upload: 8 MiB in 64 KiB chunks.
    for _ in 0..128 {
        chunks_tx
            .send(Ok(Bytes::from(vec![2u8; 64 * 1024])))
            .await
            .expect("chunk");
    }
    drop(chunks_tx);
    let response = bounded(sending).await.expect("task").expect("sent");
    let echoed = bounded(response.bytes()).await.expect("body");

    assert!(first > 0);
    assert_eq!(echoed.len(), 129 * 64 * 1024);
    assert!(echoed[..64 * 1024].iter().all(|&b| b == 1));
    assert!(echoed[64 * 1024..].iter().all(|&b| b == 2));
}

#[tokio::test]
async fn proxy_when_download_streams_then_first_chunk_arrives_before_envd_finishes() {
    let proxy = Proxy::start().await;
    let (release, gate) = oneshot::channel();
    *proxy.seen.download_gate.lock().expect("lock") = Some(gate);
    let response = bounded(
        proxy
            .request(reqwest::Method::GET, "/envd/running/download")
            .send(),
    )
    .await
    .expect("sent");
    let mut body = response.bytes_stream();

    let first = bounded(body.next()).await.expect("a chunk").expect("ok");
    release.send(()).expect("released");
    let mut rest = Vec::new();
    while let Some(chunk) = bounded(body.next()).await {
        rest.extend_from_slice(&chunk.expect("ok"));
    }

    assert_eq!(first, Bytes::from("first"));
    assert_eq!(rest, b"second");
}

fn tokio_stream<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn proxy_when_requests_follow_each_other_then_one_envd_connection_serves_them() {
    let proxy = Proxy::start().await;

    for _ in 0..3 {
        proxy.health("running").await;
    }

    let peers = proxy.health_peers();
    assert_eq!(peers.len(), 3);
    assert!(
        peers.iter().all(|p| *p == peers[0]),
        "kept alive: {peers:?}"
    );
}

#[tokio::test]
async fn proxy_when_sandbox_vm_restarted_then_fresh_connection() {
    let proxy = Proxy::start().await;
    proxy.health("running").await;

    // Paused and resumed: same address, a new VM.
    proxy
        .directory
        .set("running", Some((format!("http://{}", proxy.envd), 2)));
    proxy.health("running").await;

    let peers = proxy.health_peers();
    assert_eq!(peers.len(), 2);
    assert_ne!(peers[0], peers[1], "a connection to the old VM was reused");
}

#[tokio::test]
async fn proxy_when_sandbox_paused_between_requests_then_409_and_fresh_connection_after() {
    let proxy = Proxy::start().await;
    let url = Some((format!("http://{}", proxy.envd), 1));
    proxy.health("running").await;

    proxy.directory.set("running", None);
    let paused = bounded(
        proxy
            .request(reqwest::Method::GET, "/envd/running/health")
            .send(),
    )
    .await
    .expect("sent");
    proxy.directory.set("running", url);
    proxy.health("running").await;

    assert_eq!(paused.status(), StatusCode::CONFLICT);
    let peers = proxy.health_peers();
    assert_eq!(peers.len(), 2);
    assert_ne!(peers[0], peers[1], "the pool outlived the paused sandbox");
}

#[tokio::test]
async fn proxy_when_concurrent_downloads_then_both_stream_independently() {
    let proxy = Proxy::start().await;
    let (release, gate) = oneshot::channel();
    *proxy.seen.download_gate.lock().expect("lock") = Some(gate);
    let held = bounded(
        proxy
            .request(reqwest::Method::GET, "/envd/running/download")
            .send(),
    )
    .await
    .expect("sent");
    let mut held = held.bytes_stream();
    assert_eq!(
        bounded(held.next()).await.expect("chunk").expect("ok"),
        Bytes::from("first")
    );

    // The first download's connection is busy: this one needs its own.
    proxy.health("running").await;
    release.send(()).expect("released");
    let mut rest = Vec::new();
    while let Some(chunk) = bounded(held.next()).await {
        rest.extend_from_slice(&chunk.expect("ok"));
    }

    assert_eq!(rest, b"second");
    assert_eq!(proxy.health_peers().len(), 1);
}

#[tokio::test]
async fn proxy_when_vm_stops_while_envd_silent_then_409_sandbox_not_running() {
    let proxy = Proxy::start().await;
    let pending = proxy
        .request(reqwest::Method::GET, "/envd/running/silent")
        .send();
    let stop = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.directory.set("running", None);
    };

    let (response, ()) = bounded(async { tokio::join!(pending, stop) }).await;

    let response = response.expect("answered");
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(response).await, "sandbox_not_running");
}

#[tokio::test]
async fn proxy_when_envd_silent_past_header_limit_then_504_envd_timeout() {
    let proxy = Proxy::start_with(envd_proxy::Limits {
        response_headers: Duration::from_millis(300),
    })
    .await;

    let response = bounded(
        proxy
            .request(reqwest::Method::GET, "/envd/running/silent")
            .send(),
    )
    .await
    .expect("answered");

    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(error_code(response).await, "envd_timeout");
}

#[tokio::test]
async fn proxy_when_upload_outlasts_header_limit_then_still_answered() {
    // The header limit counts from the end of the body: a slow upload is
    // not a silent envd.
    let proxy = Proxy::start_with(envd_proxy::Limits {
        response_headers: Duration::from_millis(300),
    })
    .await;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let feed = async move {
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            tx.send(Ok(Bytes::from_static(b"slow"))).await.expect("fed");
        }
    };
    let upload = proxy
        .request(reqwest::Method::POST, "/envd/running/files")
        .body(reqwest::Body::wrap_stream(tokio_stream(rx)))
        .send();

    let (response, ()) = bounded(async { tokio::join!(upload, feed) }).await;

    let response = response.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.expect("body"), "slowslowslowslow");
}

#[tokio::test]
async fn proxy_when_vm_stops_mid_download_then_body_ends_in_error() {
    let proxy = Proxy::start().await;
    let (_held, gate) = oneshot::channel::<()>();
    *proxy.seen.download_gate.lock().expect("lock") = Some(gate);
    let response = bounded(
        proxy
            .request(reqwest::Method::GET, "/envd/running/download")
            .send(),
    )
    .await
    .expect("sent");
    let mut body = response.bytes_stream();
    let first = bounded(body.next()).await.expect("a chunk").expect("ok");

    proxy.directory.set("running", None);
    let mut ended_in_error = false;
    while let Some(chunk) = bounded(body.next()).await {
        if chunk.is_err() {
            ended_in_error = true;
            break;
        }
    }

    assert_eq!(first, Bytes::from("first"));
    assert!(ended_in_error, "a cut stream must not read as complete");
}
