//! The sandbox traffic proxy in process, both hops real: the control
//! plane's [`Ingress`] (over a fake [`Backend`]: routes, resume) in front of
//! the agent's `/guest/` routes (over a fake sandbox directory) in front of
//! a fake guest (an axum server on loopback). No root or VM needed; the
//! real-VM checks are tests/proxy/run.sh.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderMap, StatusCode},
    response::Response,
    Router,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wrenn_agent::{
    rpc::{envd_proxy::EnvdDirectory, guest_proxy, Secret},
    sandbox::{
        state::IllegalTransition, AccessToken, EnvdTarget, SandboxError, SandboxId,
        SandboxState as AgentState,
    },
};
use wrenn_cp::{
    agent::guest_hop::GuestHop,
    domain::Domain,
    lifecycle::SandboxState,
    proxy::{token, Backend, BackendError, Ingress, Route, RouteCache, SandboxProxy},
    secret::SecretString,
};

const SECRET: &str = "test-secret-0123456789";
const LIMIT: Duration = Duration::from_secs(20);

/// The agent's view: sandbox id → running (generation) or paused.
#[derive(Clone, Default)]
struct Directory(Arc<Mutex<HashMap<String, Option<u64>>>>);

impl Directory {
    fn set(&self, id: &str, generation: Option<u64>) {
        self.0.lock().unwrap().insert(id.to_owned(), generation);
    }
}

impl EnvdDirectory for Directory {
    fn envd_target(&self, id: &SandboxId) -> Result<EnvdTarget, SandboxError> {
        match self.0.lock().unwrap().get(id.as_str()) {
            Some(Some(generation)) => Ok(EnvdTarget {
                // The guest's ports are on this address (any port).
                url: "http://127.0.0.1:49983".into(),
                token: AccessToken::generate(),
                generation: *generation,
            }),
            Some(None) => Err(IllegalTransition {
                from: AgentState::Paused,
                to: AgentState::Running,
            }
            .into()),
            None => Err(SandboxError::NotFound(id.clone())),
        }
    }
}

/// The control plane's view: the records, counted reads and resumes.
struct FakeBackend {
    routes: Mutex<HashMap<String, Route>>,
    lookups: AtomicUsize,
    resumes: AtomicUsize,
    hop: GuestHop,
    cache: RouteCache,
    directory: Directory,
}

#[async_trait::async_trait]
impl Backend for FakeBackend {
    async fn lookup(&self, id: &str) -> Result<Option<Route>, BackendError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        Ok(self.routes.lock().unwrap().get(id).cloned())
    }

    async fn hop(&self, _host_id: &str) -> Option<GuestHop> {
        Some(self.hop.clone())
    }

    async fn resume(&self, id: &str) -> Result<(), BackendError> {
        self.resumes.fetch_add(1, Ordering::SeqCst);
        // A resume takes a while: concurrent requests wait for this one.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.routes.lock().unwrap().get_mut(id).unwrap().state = SandboxState::Running;
        self.directory.set(id, Some(2));
        Ok(())
    }

    fn cache(&self) -> &RouteCache {
        &self.cache
    }
}

fn route(state: SandboxState) -> Route {
    Route {
        team_id: "team".into(),
        host_id: Some("host".into()),
        state,
        public_traffic: true,
        traffic_token_hash: None,
        auto_resume: false,
    }
}

/// Counts the endless guest streams that are still alive.
static ENDLESS_ALIVE: AtomicUsize = AtomicUsize::new(0);

/// Dropped with the stream it lives in.
struct Alive;

impl Drop for Alive {
    fn drop(&mut self) {
        ENDLESS_ALIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A guest app: `/echo` answers the request's headers as JSON, `/upgrade`
/// switches to a byte echo, `/endless` streams for ever.
async fn fake_guest() -> u16 {
    let app = Router::new()
        .route(
            "/endless",
            axum::routing::get(|| async {
                ENDLESS_ALIVE.fetch_add(1, Ordering::SeqCst);
                let alive = Alive;
                let chunks = futures_util::stream::unfold(alive, |alive| async move {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    Some((
                        Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 64 * 1024])),
                        alive,
                    ))
                });
                Body::from_stream(chunks)
            }),
        )
        .route(
            "/echo",
            axum::routing::any(|headers: HeaderMap| async move {
                let map: HashMap<String, String> = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                    .collect();
                axum::Json(map)
            }),
        )
        .route(
            "/upgrade",
            axum::routing::get(|mut request: Request| async move {
                let upgrade = hyper::upgrade::on(&mut request);
                tokio::spawn(async move {
                    let upgraded = upgrade.await.expect("upgraded");
                    let mut io = hyper_util::rt::TokioIo::new(upgraded);
                    let mut buf = [0u8; 1024];
                    loop {
                        match io.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => io.write_all(&buf[..n]).await.expect("echo"),
                        }
                    }
                });
                Response::builder()
                    .status(StatusCode::SWITCHING_PROTOCOLS)
                    .header("connection", "upgrade")
                    .header("upgrade", "echo")
                    .body(Body::empty())
                    .unwrap()
            }),
        );
    serve(app).await.port()
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

struct Stack {
    addr: SocketAddr,
    guest_port: u16,
    backend: Arc<FakeBackend>,
    directory: Directory,
}

const DOMAIN: &str = "wrenn.localhost";

impl Stack {
    async fn start() -> Self {
        let guest_port = fake_guest().await;
        let directory = Directory::default();
        directory.set("running", Some(1));
        directory.set("private", Some(1));
        let agent = serve(guest_proxy::routes(
            Arc::new(directory.clone()),
            Secret::new(SECRET).unwrap(),
        ))
        .await;
        let backend = Arc::new(FakeBackend {
            routes: Mutex::new(HashMap::from([(
                "running".to_owned(),
                route(SandboxState::Running),
            )])),
            lookups: AtomicUsize::new(0),
            resumes: AtomicUsize::new(0),
            hop: GuestHop::plain(&format!("http://{agent}"), SecretString::new(SECRET)),
            cache: RouteCache::default(),
            directory: directory.clone(),
        });
        let api = Router::new().fallback(|| async { "the api" });
        let e2b = Router::new()
            .fallback(|request: Request| async move { format!("e2b {}", request.uri().path()) });
        let ingress = Ingress {
            proxy: SandboxProxy::new(backend.clone()),
            e2b_api: Some(e2b),
            api,
            domain: Some(Domain::parse(DOMAIN).unwrap()),
        };
        let addr = serve(ingress.into_router()).await;
        Self {
            addr,
            guest_port,
            backend,
            directory,
        }
    }

    fn get(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        // reqwest sets Host from the URL: resolve the name to the stack.
        reqwest::Client::builder()
            .resolve(host, self.addr)
            .build()
            .unwrap()
            .get(format!("http://{host}:{}{path}", self.addr.port()))
    }

    fn sandbox(&self, id: &str, port: u16, path: &str) -> reqwest::RequestBuilder {
        self.get(&format!("{port}-{id}.{DOMAIN}"), path)
    }
}

async fn bounded<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future).await.expect("in time")
}

async fn json(response: reqwest::Response) -> (StatusCode, serde_json::Value) {
    let status = response.status();
    (status, response.json().await.expect("json body"))
}

fn assert_502(status: StatusCode, body: &serde_json::Value, id: &str) {
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["code", "message", "sandboxId"]);
    assert_eq!(body["code"], 502);
    assert_eq!(body["sandboxId"], id);
}

#[tokio::test]
async fn proxy_when_host_routed_then_guest_gets_client_headers_only() {
    let stack = Stack::start().await;
    let response = bounded(
        stack
            .sandbox("running", stack.guest_port, "/echo")
            .header("x-access-token", "the-clients-token")
            .header("x-agent-secret", "forged")
            .header("e2b-traffic-access-token", "t")
            .send(),
    )
    .await
    .unwrap();
    let (status, seen) = json(response).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["x-access-token"], "the-clients-token");
    assert!(seen.get("x-agent-secret").is_none(), "{seen}");
    assert!(seen.get("e2b-traffic-access-token").is_none(), "{seen}");
    assert!(seen["host"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}-running.", stack.guest_port)));
}

#[tokio::test]
async fn proxy_when_header_routed_on_loopback_then_guest_answers() {
    let stack = Stack::start().await;
    let response = bounded(
        stack
            .get("localhost", "/echo")
            .header("e2b-sandbox-id", "running")
            .header("e2b-sandbox-port", stack.guest_port.to_string())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn proxy_when_unknown_malformed_or_bad_port_then_same_502() {
    let stack = Stack::start().await;
    for (id, port) in [
        ("nosuch", "3000"),
        ("bad_id", "3000"),
        ("running", "0"),
        ("running", "70000"),
        ("running", "x"),
    ] {
        let response = bounded(stack.get(&format!("{port}-{id}.{DOMAIN}"), "/").send())
            .await
            .unwrap();
        let (status, body) = json(response).await;
        assert_502(status, &body, id);
    }
}

#[tokio::test]
async fn proxy_when_closed_guest_port_then_502_json() {
    let stack = Stack::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let response = bounded(stack.sandbox("running", closed, "/").send())
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["code"], 502);
}

#[tokio::test]
async fn proxy_when_host_only_envd_route_then_403_at_both_hops() {
    let stack = Stack::start().await;
    for path in ["/init", "/shutdown", "//init", "/%69nit"] {
        let response = bounded(stack.sandbox("running", 49983, path).send())
            .await
            .unwrap();
        let (status, body) = json(response).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(body["code"], 403);
    }
    // The agent refuses them on its own too.
    let hop = stack.backend.hop.clone();
    let request = axum::http::Request::builder()
        .uri(hop.url("running", 49983, "/init"))
        .header("x-agent-secret", SECRET)
        .body(Body::empty())
        .unwrap();
    let response = bounded(hop.send(request)).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn proxy_when_private_traffic_then_token_required_on_user_ports() {
    let stack = Stack::start().await;
    let minted = token::mint();
    let private = Route {
        public_traffic: false,
        traffic_token_hash: Some(minted.hash.clone()),
        ..route(SandboxState::Running)
    };
    stack
        .backend
        .routes
        .lock()
        .unwrap()
        .insert("private".into(), private);
    let port = stack.guest_port;

    let without = bounded(stack.sandbox("private", port, "/echo").send())
        .await
        .unwrap();
    let wrong = bounded(
        stack
            .sandbox("private", port, "/echo")
            .header("e2b-traffic-access-token", "no")
            .send(),
    )
    .await
    .unwrap();
    let right = bounded(
        stack
            .sandbox("private", port, "/echo")
            .header("e2b-traffic-access-token", &minted.token)
            .send(),
    )
    .await
    .unwrap();

    let (status, body) = json(without).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::FORBIDDEN, 403.into())
    );
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(right.status(), StatusCode::OK);
}

#[tokio::test]
async fn proxy_when_route_cached_then_one_lookup_and_agent_doubt_rereads() {
    let stack = Stack::start().await;
    let port = stack.guest_port;
    for _ in 0..5 {
        let response = bounded(stack.sandbox("running", port, "/echo").send())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(stack.backend.lookups.load(Ordering::SeqCst), 1);

    // Another replica paused it: the records say so, the cache does not.
    stack.directory.set("running", None);
    stack
        .backend
        .routes
        .lock()
        .unwrap()
        .get_mut("running")
        .unwrap()
        .state = SandboxState::Paused;
    let response = bounded(stack.sandbox("running", port, "/echo").send())
        .await
        .unwrap();
    let (status, body) = json(response).await;

    assert_502(status, &body, "running");
    // The agent's "not running" sent the proxy back to the records.
    assert_eq!(stack.backend.lookups.load(Ordering::SeqCst), 2);
    assert_eq!(
        stack.backend.cache.get("running"),
        Some(Some(Route {
            state: SandboxState::Paused,
            ..route(SandboxState::Running)
        }))
    );
}

#[tokio::test]
async fn proxy_when_paused_with_auto_resume_then_one_resume_serves_all() {
    let stack = Stack::start().await;
    stack.directory.set("sleepy", None);
    stack.backend.routes.lock().unwrap().insert(
        "sleepy".into(),
        Route {
            auto_resume: true,
            ..route(SandboxState::Paused)
        },
    );
    let port = stack.guest_port;
    let requests = (0..10).map(|_| stack.sandbox("sleepy", port, "/echo").send());
    let answers = bounded(futures_util::future::join_all(requests)).await;

    for answer in answers {
        assert_eq!(answer.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(stack.backend.resumes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn proxy_when_paused_without_auto_resume_then_502() {
    let stack = Stack::start().await;
    stack.directory.set("paused", None);
    stack
        .backend
        .routes
        .lock()
        .unwrap()
        .insert("paused".into(), route(SandboxState::Paused));
    let response = bounded(stack.sandbox("paused", stack.guest_port, "/echo").send())
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_502(status, &body, "paused");
    assert_eq!(stack.backend.resumes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn proxy_when_upgrade_then_bytes_echo_through_both_hops() {
    let stack = Stack::start().await;
    let mut socket = tokio::net::TcpStream::connect(stack.addr).await.unwrap();
    let request = format!(
        "GET /upgrade HTTP/1.1\r\nHost: {}-running.{DOMAIN}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
        stack.guest_port
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        bounded(socket.read_exact(&mut byte)).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");

    socket.write_all(b"ping through two hops").await.unwrap();
    let mut echoed = [0u8; 21];
    bounded(socket.read_exact(&mut echoed)).await.unwrap();
    assert_eq!(&echoed, b"ping through two hops");
}

#[tokio::test]
async fn proxy_when_oversize_headers_then_431_json() {
    let stack = Stack::start().await;
    let response = bounded(
        stack
            .sandbox("running", stack.guest_port, "/echo")
            .header("x-big", "a".repeat(40_000))
            .send(),
    )
    .await
    .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(body["code"], 431);
}

#[tokio::test]
async fn ingress_when_not_sandbox_traffic_then_apis() {
    let stack = Stack::start().await;
    let api = bounded(stack.get("localhost", "/v1/sandboxes").send())
        .await
        .unwrap();
    assert_eq!(api.text().await.unwrap(), "the api");
    let root = bounded(stack.get(&format!("api.{DOMAIN}"), "/sandboxes").send())
        .await
        .unwrap();
    assert_eq!(root.text().await.unwrap(), "e2b /sandboxes");
    let prefixed = bounded(stack.get("localhost", "/e2b/v2/sandboxes").send())
        .await
        .unwrap();
    assert_eq!(prefixed.text().await.unwrap(), "e2b /v2/sandboxes");
    // No lookup was made for any of them.
    assert_eq!(stack.backend.lookups.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn proxy_when_client_leaves_mid_stream_then_guest_stream_dropped() {
    let stack = Stack::start().await;
    let mut response = bounded(
        stack
            .sandbox("running", stack.guest_port, "/endless")
            .send(),
    )
    .await
    .unwrap();
    let mut read = 0;
    while read < 1 << 20 {
        read += bounded(response.chunk()).await.unwrap().unwrap().len();
    }
    assert!(ENDLESS_ALIVE.load(Ordering::SeqCst) >= 1);

    drop(response);

    // Both hops let go: the guest's response (and its connection) ends.
    bounded(async {
        while ENDLESS_ALIVE.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn proxy_when_paused_private_sandbox_without_token_then_403_and_not_resumed() {
    let stack = Stack::start().await;
    let minted = token::mint();
    stack.directory.set("sleepy", None);
    stack.backend.routes.lock().unwrap().insert(
        "sleepy".into(),
        Route {
            auto_resume: true,
            public_traffic: false,
            traffic_token_hash: Some(minted.hash),
            ..route(SandboxState::Paused)
        },
    );
    let response = bounded(stack.sandbox("sleepy", stack.guest_port, "/echo").send())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let init = bounded(stack.sandbox("sleepy", 49983, "/init").send())
        .await
        .unwrap();
    assert_eq!(init.status(), StatusCode::FORBIDDEN);
    assert_eq!(stack.backend.resumes.load(Ordering::SeqCst), 0);
}
