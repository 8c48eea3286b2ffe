//! The E2B-compatible API (`/e2b/...`, `crates/wrenn-cp/src/api/e2b/`)
//! against an in-memory host ([`common::fake_agent::FakeAgent`]), on SQLite
//! and PostgreSQL: every route's status codes and the keys the e2b SDK
//! requires, E2B's error body and retry headers, list filters and pages,
//! idempotent creates, forks, snapshots, network updates, other teams'
//! sandboxes, E2B-form API keys and bad input; the template build flow.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]

#[macro_use]
mod common;

use std::sync::Arc;

use axum::{
    body::Body,
    http::{header, HeaderMap, Method, Request, StatusCode},
};
use common::{fake_agent::FakeAgent, Kind, TestApp};
use serde_json::{json, Value};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const DELETE: Method = Method::DELETE;

/// An answer: status, headers, JSON body (`Null` when empty).
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts E2B's error body `{"code": status, "message"}` with
    /// `status`; answers the message.
    fn error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["code"], status.as_u16(), "{self:?}");
        self.body["message"]
            .as_str()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| panic!("error without a message: {self:?}"))
            .to_owned()
    }
}

/// A control plane on a fake host, with one team and its API key.
struct Fixture {
    app: TestApp,
    agent: Arc<FakeAgent>,
    token: String,
    key: String,
}

impl Fixture {
    async fn start(kind: Kind) -> Self {
        Self::configured(kind, &[]).await
    }

    async fn configured(kind: Kind, env: &[(&str, &str)]) -> Self {
        let agent = FakeAgent::new();
        let app = TestApp::start_configured(kind, agent.clone(), env).await;
        let (token, _) = app.signup("ada@example.com").await;
        let key = app.api_key(&token).await;
        Self {
            app,
            agent,
            token,
            key,
        }
    }

    /// A request to `/e2b{path}` with `X-API-KEY: key`.
    async fn send_as(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(format!("/e2b{path}"));
        if let Some(key) = key {
            builder = builder.header("x-api-key", key);
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
        let (status, headers, body) = self.app.send_full(request.expect("request")).await;
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send_as(Some(&self.key), method, path, &[], body).await
    }

    /// `POST /v2/sandboxes` with `body` (asserting 201); answers the body.
    async fn create(&self, body: Value) -> Value {
        let answer = self.call(POST, "/v2/sandboxes", Some(body)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "create: {answer:?}");
        answer.body
    }

    /// A sandbox of template `base` with defaults; answers its id.
    async fn create_id(&self) -> String {
        id_of(&self.create(json!({"templateID": "base"})).await)
    }

    async fn detail(&self, id: &str) -> Answer {
        self.call(GET, &format!("/sandboxes/{id}"), None).await
    }

    /// Ids listed by `GET /v2/sandboxes{query}` (asserting 200), and the
    /// next page's token.
    async fn listed(&self, query: &str) -> (Vec<String>, Option<String>) {
        let answer = self.call(GET, &format!("/v2/sandboxes{query}"), None).await;
        assert_eq!(answer.status, StatusCode::OK, "list {query}: {answer:?}");
        let ids = answer
            .body
            .as_array()
            .expect("a list")
            .iter()
            .map(id_of)
            .collect();
        (ids, answer.header("x-next-token").map(str::to_owned))
    }
}

fn id_of(sandbox: &Value) -> String {
    sandbox["sandboxID"].as_str().expect("sandboxID").to_owned()
}

/// Asserts that `value` has every key in `keys`.
fn assert_keys(value: &Value, keys: &[&str]) {
    for key in keys {
        assert!(value.get(*key).is_some(), "'{key}' missing: {value}");
    }
}

/// The keys e2b's `Sandbox.from_dict` pops without a default (2.63).
const CREATED_KEYS: &[&str] = &["templateID", "sandboxID", "clientID", "envdVersion"];
/// `SandboxDetail.from_dict`'s required keys.
const DETAIL_KEYS: &[&str] = &[
    "templateID",
    "sandboxID",
    "clientID",
    "startedAt",
    "endAt",
    "envdVersion",
    "cpuCount",
    "memoryMB",
    "diskSizeMB",
    "state",
];

#[path = "api_e2b/create.rs"]
mod create;
#[path = "api_e2b/errors.rs"]
mod errors;
#[path = "api_e2b/fork.rs"]
mod fork;
#[path = "api_e2b/idempotency.rs"]
mod idempotency;
#[path = "api_e2b/isolation.rs"]
mod isolation;
#[path = "api_e2b/keys.rs"]
mod keys;
#[path = "api_e2b/lifecycle.rs"]
mod lifecycle;
#[path = "api_e2b/list.rs"]
mod list;
#[path = "api_e2b/snapshots.rs"]
mod snapshots;
#[path = "api_e2b/templates.rs"]
mod templates;
