//! Sandbox and template API behaviour against an in-memory host
//! ([`common::fake_agent::FakeAgent`]), on SQLite and PostgreSQL: the
//! lifecycle and its recorded history, forks, lists, exec, validation, failed
//! creates, quotas, team isolation of every route, envd-backed routes with
//! an unreachable guest, templates, the reconciler, and a sweep of
//! malformed requests that must never answer 5xx.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]

#[macro_use]
mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{assert_error, fake_agent::FakeAgent, Kind, TestApp};
use serde_json::{json, Value};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const DELETE: Method = Method::DELETE;

/// A control plane on a fake host, with one signed-up user.
struct Fixture {
    app: TestApp,
    agent: Arc<FakeAgent>,
    token: String,
    team: String,
}

impl Fixture {
    async fn start(kind: Kind) -> Self {
        Self::configured(kind, &[]).await
    }

    /// With configuration variables set, e.g. `CP_MAX_SANDBOXES_PER_TEAM`.
    async fn configured(kind: Kind, env: &[(&str, &str)]) -> Self {
        let agent = FakeAgent::new();
        let app = TestApp::start_configured(kind, agent.clone(), env).await;
        let (token, team) = app.signup("ada@example.com").await;
        Self {
            app,
            agent,
            token,
            team,
        }
    }

    /// A request as the fixture's user.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.app
            .request(method, path, Some(&self.token), body)
            .await
    }

    /// Creates a sandbox (asserting 201) and answers it.
    async fn create(&self, body: Value) -> Value {
        let (status, sandbox) = self.call(POST, "/v1/sandboxes", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "create: {sandbox}");
        sandbox
    }

    /// Creates a sandbox with defaults and answers its id.
    async fn create_id(&self) -> String {
        id_of(&self.create(json!({})).await)
    }

    /// The sandbox's recorded state.
    async fn state_of(&self, id: &str) -> String {
        let (status, sandbox) = self.call(GET, &format!("/v1/sandboxes/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "get {id}: {sandbox}");
        sandbox["state"].as_str().expect("state").to_owned()
    }

    /// Ids of the team's sandboxes as listed with `query`.
    async fn listed(&self, query: &str) -> Vec<String> {
        let (status, page) = self.call(GET, &format!("/v1/sandboxes{query}"), None).await;
        assert_eq!(status, StatusCode::OK, "list {query}: {page}");
        page["sandboxes"]
            .as_array()
            .expect("sandboxes")
            .iter()
            .map(id_of)
            .collect()
    }
}

fn id_of(sandbox: &Value) -> String {
    sandbox["id"].as_str().expect("sandbox id").to_owned()
}

#[path = "api_sandboxes/data_plane.rs"]
mod data_plane;
#[path = "api_sandboxes/envd_routes.rs"]
mod envd_routes;
#[path = "api_sandboxes/exec.rs"]
mod exec;
#[path = "api_sandboxes/failures.rs"]
mod failures;
#[path = "api_sandboxes/fork.rs"]
mod fork;
#[path = "api_sandboxes/isolation.rs"]
mod isolation;
#[path = "api_sandboxes/lifecycle.rs"]
mod lifecycle;
#[path = "api_sandboxes/list.rs"]
mod list;
#[path = "api_sandboxes/orphans.rs"]
mod orphans;
#[path = "api_sandboxes/reconcile.rs"]
mod reconcile;
#[path = "api_sandboxes/sweep.rs"]
mod sweep;
#[path = "api_sandboxes/templates.rs"]
mod templates;
#[path = "api_sandboxes/validation.rs"]
mod validation;
