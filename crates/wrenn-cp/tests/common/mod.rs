//! In-process API test harness: [`TestApp`] builds the control plane's
//! state on a fresh, isolated database (SQLite in a temporary directory,
//! or a new PostgreSQL database when `WRENN_TEST_POSTGRES_URL` is set) and
//! drives `api::router` with `tower::ServiceExt::oneshot`, no sockets.
//! [`both_dbs!`] runs one test body on both databases.
#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "shared test helpers: not every test uses each; test code fails by panicking"
)]

pub mod fake_agent;
pub mod fake_envd;
pub mod postgres;
pub mod websocket;

use std::sync::Arc;

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use wrenn_cp::{
    agent::{AgentApi, Connector, Hosts, RpcConnector},
    auth::jwt::JwtKeys,
    config::CpConfig,
    db::{self, Db, DbKind},
    server::{local_host_id, LOCAL_HOST_ID},
    service::hosts::DbDirectory,
    state::AppState,
};

pub use wrenn_cp::db::DbKind as Kind;

/// The JWT secret of every test app (so tests can forge tokens).
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
/// The password [`TestApp::signup`] uses.
pub const PASSWORD: &str = "correct horse battery";

/// A control plane on its own database.
#[derive(Debug)]
pub struct TestApp {
    pub state: AppState,
    pub kind: DbKind,
    router: Router,
    _sqlite_dir: Option<tempfile::TempDir>,
    _postgres: Option<postgres::TestDatabase>,
}

impl TestApp {
    /// A control plane with no host agents.
    pub async fn start(kind: DbKind) -> Self {
        Self::build(kind, None, &[]).await
    }

    /// A control plane whose local host (`LOCAL_HOST_ID`) is `agent`.
    pub async fn start_with_agent(kind: DbKind, agent: Arc<dyn AgentApi>) -> Self {
        Self::build(kind, Some(agent), &[]).await
    }

    /// [`TestApp::start_with_agent`] with configuration variables set
    /// (e.g. `CP_MAX_SANDBOXES_PER_TEAM`).
    pub async fn start_configured(
        kind: DbKind,
        agent: Arc<dyn AgentApi>,
        env: &[(&str, &str)],
    ) -> Self {
        Self::build(kind, Some(agent), env).await
    }

    /// A control plane without a local host whose registered hosts are
    /// reached through `connector` (fakes), with configuration variables.
    pub async fn start_with_connector(
        kind: DbKind,
        connector: Arc<dyn wrenn_cp::agent::Connector>,
        env: &[(&str, &str)],
    ) -> Self {
        Self::build_with(kind, None, env, connector).await
    }

    async fn build(kind: DbKind, agent: Option<Arc<dyn AgentApi>>, env: &[(&str, &str)]) -> Self {
        Self::build_with(kind, agent, env, Arc::new(RpcConnector::default())).await
    }

    async fn build_with(
        kind: DbKind,
        agent: Option<Arc<dyn AgentApi>>,
        env: &[(&str, &str)],
        connector: Arc<dyn Connector>,
    ) -> Self {
        let (url, sqlite_dir, pg) = match kind {
            DbKind::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}/wrenn.db", dir.path().display());
                (url, Some(dir), None)
            }
            DbKind::Postgres => {
                let admin_url = postgres::admin_url()
                    .expect("WRENN_TEST_POSTGRES_URL must be set for PostgreSQL tests");
                let database = postgres::TestDatabase::create(&admin_url).await;
                (database.url.clone(), None, Some(database))
            }
        };
        let config = CpConfig::from_lookup(|name| match name {
            "DATABASE_URL" => Some(url.clone()),
            "CP_JWT_SECRET" => Some(JWT_SECRET.to_owned()),
            "CP_AGENT_URL" => Some(String::new()),
            // In-process tests send thousands of requests a second; the
            // request limits are on only where a test sets CP_RATE_LIMIT.
            "CP_RATE_LIMIT" => Some(
                env.iter()
                    .find(|(name, _)| *name == "CP_RATE_LIMIT")
                    .map_or("off", |(_, value)| *value)
                    .to_owned(),
            ),
            other => env
                .iter()
                .find(|(name, _)| *name == other)
                .map(|(_, value)| (*value).to_owned()),
        })
        .expect("test config");
        let db = Db::open(&url).await.expect("open the test database");
        db::templates::register_builtins(&db)
            .await
            .expect("built-in templates");
        let directory = DbDirectory::new(db.clone(), config.jwt_secret.clone());
        let hosts = Hosts::new(connector, Arc::new(directory));
        if let Some(agent) = agent {
            db::hosts::upsert_local(&db, LOCAL_HOST_ID, "http://agent.test")
                .await
                .expect("host record");
            hosts.pin(local_host_id(), agent);
        }
        let state = AppState {
            db,
            jwt: JwtKeys::new(JWT_SECRET.as_bytes()),
            config: Arc::new(config),
            hosts: Arc::new(hosts),
            routes: Default::default(),
        };
        Self {
            router: wrenn_cp::api::router(state.clone()),
            state,
            kind,
            _sqlite_dir: sqlite_dir,
            _postgres: pg,
        }
    }

    /// Sends one request; `token` is sent as `Authorization: Bearer`,
    /// `body` as JSON. Answers the status and the JSON body (`Null` when
    /// empty, a string when not JSON).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.request_with(method, path, token, &[], body).await
    }

    /// [`TestApp::request`] with extra headers.
    pub async fn request_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = match body {
            Some(body) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.expect("request")).await
    }

    /// Sends a request built by the test (raw bodies, odd headers).
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, _, value) = self.send_full(request).await;
        (status, value)
    }

    /// [`TestApp::send`], answering the response headers too.
    pub async fn send_full(
        &self,
        request: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible router");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("response body")
            .to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, headers, value)
    }

    /// Serves the API on a loopback port, for what `oneshot` cannot do
    /// (WebSocket upgrades); the server lives as long as the test's runtime.
    pub async fn serve(&self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let router = self.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    }

    /// Signs up `email` with [`PASSWORD`]; answers `(token, personal team id)`.
    pub async fn signup(&self, email: &str) -> (String, String) {
        let body = json!({"email": email, "password": PASSWORD});
        let (status, answer) = self
            .request(Method::POST, "/v1/auth/signup", None, Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "signup {email}: {answer}");
        (
            answer["token"].as_str().expect("token").to_owned(),
            answer["team"]["id"].as_str().expect("team id").to_owned(),
        )
    }

    /// Creates an API key for the token's team; answers the secret.
    pub async fn api_key(&self, token: &str) -> String {
        let (status, answer) = self
            .request(
                Method::POST,
                "/v1/keys",
                Some(token),
                Some(json!({"name": "test"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create key: {answer}");
        answer["key"].as_str().expect("key").to_owned()
    }
}

/// Asserts the error envelope and its code; answers the message.
pub fn assert_error(answer: &Value, code: &str) -> String {
    assert_eq!(answer["error"]["code"], code, "answer: {answer}");
    answer["error"]["message"]
        .as_str()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| panic!("error without a message: {answer}"))
        .to_owned()
}

/// Upper bound on any one test.
pub const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// `both_dbs!(name, |kind| async move { ... })` defines the tests
/// `name::sqlite` and `name::postgres`, each running the body on a fresh
/// database of that kind within [`TEST_TIMEOUT`]. The PostgreSQL variant
/// needs `WRENN_TEST_POSTGRES_URL`; without it, it fails when `CI` is set
/// and otherwise prints why it was skipped.
#[macro_export]
macro_rules! both_dbs {
    ($name:ident, $body:expr) => {
        mod $name {
            #![allow(unused_imports, reason = "a body may use nothing from the test file")]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let body = $body;
                $crate::common::run_bounded(body($crate::common::Kind::Sqlite)).await;
            }

            #[tokio::test]
            async fn postgres() {
                if !$crate::common::postgres::available(concat!(module_path!(), "::postgres")) {
                    return;
                }
                let body = $body;
                $crate::common::run_bounded(body($crate::common::Kind::Postgres)).await;
            }
        }
    };
}

/// Runs a test body, failing it after [`TEST_TIMEOUT`].
pub async fn run_bounded(body: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .expect("the test ran past its time limit");
}
