//! Pools against an in-memory host ([`common::fake_agent::FakeAgent`]), on
//! SQLite and PostgreSQL: plans and their validation, who may change them,
//! the pool's arithmetic over every lifecycle transition, exact
//! enforcement under 50 concurrent creates (on two replicas sharing one
//! PostgreSQL database), and the usage ledger's intervals.
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
    http::{header, Method, Request, StatusCode},
    Router,
};
use common::{assert_error, fake_agent::FakeAgent, Kind, TestApp};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use wrenn_cp::{
    db::{self, Db},
    lifecycle::SandboxState,
    state::AppState,
};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const DELETE: Method = Method::DELETE;

/// A control plane on a fake host; the first user (a platform admin) and
/// a second one (not).
struct Fixture {
    app: TestApp,
    agent: Arc<FakeAgent>,
    admin: String,
    team: String,
    member: String,
}

impl Fixture {
    async fn start(kind: Kind) -> Self {
        let agent = FakeAgent::new();
        let app = TestApp::start_with_agent(kind, agent.clone()).await;
        let (admin, team) = app.signup("admin@example.com").await;
        let (member, _) = app.signup("member@example.com").await;
        Self {
            app,
            agent,
            admin,
            team,
            member,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.app
            .request(method, path, Some(&self.admin), body)
            .await
    }

    /// Defines `name` and puts the admin's team on it.
    async fn plan(&self, name: &str, plan: Value) {
        let (status, answer) = self
            .call(PUT, &format!("/v1/admin/plans/{name}"), Some(plan))
            .await;
        assert_eq!(status, StatusCode::OK, "put plan: {answer}");
        let path = format!("/v1/admin/teams/{}/plan", self.team);
        let (status, answer) = self.call(PUT, &path, Some(json!({"plan": name}))).await;
        assert_eq!(status, StatusCode::OK, "assign: {answer}");
    }

    async fn create(&self) -> (StatusCode, Value) {
        self.call(POST, "/v1/sandboxes", Some(json!({}))).await
    }

    async fn create_id(&self) -> String {
        let (status, answer) = self.create().await;
        assert_eq!(status, StatusCode::CREATED, "create: {answer}");
        answer["id"].as_str().expect("id").to_owned()
    }

    async fn used(&self) -> Value {
        let (status, pool) = self.call(GET, "/v1/pool", None).await;
        assert_eq!(status, StatusCode::OK, "pool: {pool}");
        pool["used"].clone()
    }

    /// `pool_use` agrees with the sum of the reservations.
    async fn assert_consistent(&self) {
        let db = &self.app.state.db;
        let used = db::pools::used(db, &self.team).await.expect("used");
        let summed = db::pools::summed(db, &self.team).await.expect("summed");
        assert_eq!(used, summed);
    }
}

fn plan(vcpus: i64, max_running: i64) -> Value {
    json!({"vcpus": vcpus, "memory_gib": 64, "storage_gib": 1000,
           "max_running": max_running, "max_paused": 100, "price_cents": 5000})
}

both_dbs!(
    put_plan_when_zero_or_negative_size_then_422_naming_it,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        for (field, value) in [("vcpus", 0), ("memory_gib", -4), ("max_running", 0)] {
            let mut body = plan(4, 4);
            body[field] = json!(value);
            let (status, answer) = fx.call(PUT, "/v1/admin/plans/bad", Some(body)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
            assert!(assert_error(&answer, "validation_failed").contains(field));
        }
        let (_, plans) = fx.call(GET, "/v1/admin/plans", None).await;
        assert_eq!(plans, json!([]), "nothing half-written");
    }
);

both_dbs!(
    plans_when_member_not_admin_then_403_and_unchanged,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.plan("small", plan(2, 2)).await;
        let as_member = |method, path: String, body| {
            let app = &fx.app;
            let token = fx.member.clone();
            async move { app.request(method, &path, Some(&token), body).await }
        };

        let (put, answer) =
            as_member(PUT, "/v1/admin/plans/small".into(), Some(plan(99, 99))).await;
        assert_eq!(put, StatusCode::FORBIDDEN, "{answer}");
        let path = format!("/v1/admin/teams/{}/plan", fx.team);
        let (assign, _) = as_member(PUT, path, Some(json!({"plan": "small"}))).await;
        assert_eq!(assign, StatusCode::FORBIDDEN);
        let (delete, _) = as_member(DELETE, "/v1/admin/plans/small".into(), None).await;
        assert_eq!(delete, StatusCode::FORBIDDEN);

        let (_, pool) = fx.call(GET, "/v1/pool", None).await;
        assert_eq!(pool["plan"]["vcpus"], 2, "{pool}");
    }
);

both_dbs!(
    pool_when_every_transition_then_use_follows,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.plan("mid", plan(8, 8)).await;
        let id = fx.create_id().await;
        let running = fx.used().await;
        assert_eq!(
            (running["running"].clone(), running["paused"].clone()),
            (json!(1), json!(0))
        );
        assert!(running["vcpus"].as_i64().unwrap() > 0);
        let storage = running["storage_mib"].clone();

        let (status, _) = fx
            .call(POST, &format!("/v1/sandboxes/{id}/pause"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let paused = fx.used().await;
        assert_eq!(
            paused,
            json!({"vcpus": 0, "memory_mib": 0, "storage_mib": storage, "running": 0, "paused": 1})
        );
        fx.assert_consistent().await;

        let (status, _) = fx
            .call(POST, &format!("/v1/sandboxes/{id}/resume"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(fx.used().await, running);

        let (status, _) = fx.call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            fx.used().await,
            json!({"vcpus": 0, "memory_mib": 0, "storage_mib": 0, "running": 0, "paused": 0})
        );
        fx.assert_consistent().await;
    }
);

both_dbs!(
    pool_when_sandbox_lost_then_only_storage_counts,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.plan("mid", plan(8, 8)).await;
        let id = fx.create_id().await;
        let extras = Default::default();
        let db = &fx.app.state.db;
        assert!(
            db::sandboxes::transition(db, &id, SandboxState::Lost, "gone", extras)
                .await
                .expect("lost")
        );

        let used = fx.used().await;
        assert_eq!(
            (used["vcpus"].clone(), used["running"].clone()),
            (json!(0), json!(0))
        );
        assert!(used["storage_mib"].as_i64().unwrap() > 0);
        fx.assert_consistent().await;
    }
);

both_dbs!(
    create_when_team_moved_below_its_use_then_refused_saying_so,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.plan("big", plan(64, 3)).await;
        for _ in 0..3 {
            fx.create_id().await;
        }
        fx.plan("tiny", plan(64, 1)).await;

        let (_, pool) = fx.call(GET, "/v1/pool", None).await;
        assert_eq!(pool["over"], true, "{pool}");
        let (status, answer) = fx.create().await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
        let message = assert_error(&answer, "pool_exhausted");
        assert!(
            message.contains("running sandboxes: 3 in use of 1, 1 asked"),
            "{message}"
        );
        assert!(message.contains("refused until its use fits"), "{message}");
    }
);

both_dbs!(
    pause_when_paused_limit_reached_then_429_naming_it_and_still_running,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let mut body = plan(8, 8);
        body["max_paused"] = json!(1);
        fx.plan("one-paused", body).await;
        let (a, b) = (fx.create_id().await, fx.create_id().await);
        let (status, answer) = fx
            .call(POST, &format!("/v1/sandboxes/{a}/pause"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let before = fx.used().await;

        let (status, answer) = fx
            .call(POST, &format!("/v1/sandboxes/{b}/pause"), None)
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
        let message = assert_error(&answer, "pool_exhausted");
        assert!(
            message.contains("paused sandboxes: 1 in use of 1, 1 asked"),
            "{message}"
        );
        let (_, sandbox) = fx.call(GET, &format!("/v1/sandboxes/{b}"), None).await;
        assert_eq!(sandbox["state"], "running", "{sandbox}");
        assert_eq!(
            fx.agent.state(&b),
            Some(wrenn_cp::agent::AgentState::Running)
        );
        assert_eq!(fx.used().await, before, "a refused pause changes nothing");
        fx.assert_consistent().await;

        // A pause the host fails gives its paused slot back.
        let (status, _) = fx.call(DELETE, &format!("/v1/sandboxes/{a}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let running_only = fx.used().await;
        fx.agent.set_state(&b, wrenn_cp::agent::AgentState::Paused);
        let (status, answer) = fx
            .call(POST, &format!("/v1/sandboxes/{b}/pause"), None)
            .await;
        assert_ne!(status, StatusCode::OK, "{answer}");
        assert_eq!(fx.used().await, running_only, "{answer}");
        fx.assert_consistent().await;
    }
);

both_dbs!(
    fork_when_copies_exceed_pool_then_429_and_nothing_recorded,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.plan("three", plan(64, 3)).await;
        let id = fx.create_id().await;

        let path = format!("/v1/sandboxes/{id}/fork");
        let (status, answer) = fx.call(POST, &path, Some(json!({"count": 3}))).await;

        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
        assert_error(&answer, "pool_exhausted");
        assert_eq!(fx.used().await["running"], 1);
        fx.assert_consistent().await;
    }
);

/// A second replica: its own database pool (its own connections) on the
/// same database, the same (fake) host.
async fn replica(state: &AppState) -> Router {
    let db = Db::open(state.config.database_url.expose())
        .await
        .expect("second replica's database");
    let state = AppState {
        db,
        ..state.clone()
    };
    wrenn_cp::api::router(state)
}

async fn create_on(router: &Router, token: &str) -> StatusCode {
    create_waiting(router, token, None).await.0
}

/// A create through `router`, waiting up to `wait` seconds for room.
async fn create_waiting(router: &Router, token: &str, wait: Option<u64>) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(POST)
        .uri("/v1/sandboxes")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(wait) = wait {
        request = request.header("wrenn-pool-wait", wait.to_string());
    }
    let request = request.body(Body::from("{}")).expect("request");
    let response = router.clone().oneshot(request).await.expect("answer");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Waits until `n` creates wait in the team's queue.
async fn until_waiting(db: &Db, team: &str, n: i64) {
    while db::pools::waiting(db, team).await.expect("waiting") != n {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

both_dbs!(
    create_when_50_concurrent_on_two_replicas_vs_pool_of_10_then_exactly_10,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.plan("ten", plan(1000, 10)).await;
        let routers = [
            wrenn_cp::api::router(fx.app.state.clone()),
            replica(&fx.app.state).await,
        ];
        let token = Arc::new(fx.admin.clone());

        let creates = (0..50).map(|i| {
            let router = routers[i % 2].clone();
            let token = token.clone();
            tokio::spawn(async move { create_on(&router, &token).await })
        });
        let statuses = futures_util::future::join_all(creates).await;

        let statuses: Vec<StatusCode> = statuses.into_iter().map(|s| s.expect("task")).collect();
        let created = statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!((created, refused), (10, 40), "{statuses:?}");
        assert_eq!(fx.used().await["running"], 10);
        fx.assert_consistent().await;
    }
);

both_dbs!(
    ledger_when_paused_resumed_destroyed_then_intervals_match_events,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        for action in ["pause", "resume"] {
            let (status, _) = fx
                .call(POST, &format!("/v1/sandboxes/{id}/{action}"), None)
                .await;
            assert_eq!(status, StatusCode::OK);
        }
        let (status, _) = fx.call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        let db = &fx.app.state.db;
        let events = db::sandboxes::events(db, &id).await.expect("events");
        let at = |to: &str, nth: usize| {
            events
                .iter()
                .filter(|e| e.2 == to)
                .nth(nth)
                .expect("event")
                .0
        };
        let intervals = db::usage::of_sandbox(db, &id).await.expect("ledger");
        let spans: Vec<(String, i64, Option<i64>)> = intervals
            .iter()
            .map(|i| (i.phase.clone(), i.started_at, i.ended_at))
            .collect();
        assert_eq!(
            spans,
            vec![
                ("running".into(), at("running", 0), Some(at("paused", 0))),
                ("paused".into(), at("paused", 0), Some(at("running", 1))),
                ("running".into(), at("running", 1), Some(at("stopped", 0))),
            ]
        );
    }
);

both_dbs!(
    create_when_queue_pool_full_then_served_in_order_and_gone_waiter_leaves_nothing,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let mut queue = plan(64, 1);
        queue["overflow"] = json!("queue");
        fx.plan("queue", queue).await;
        let first = fx.create_id().await;
        let router = wrenn_cp::api::router(fx.app.state.clone());
        let (db, team) = (&fx.app.state.db, fx.team.as_str());
        let waiter = |wait| {
            let (router, token) = (router.clone(), fx.admin.clone());
            tokio::spawn(async move { create_waiting(&router, &token, Some(wait)).await })
        };
        let second = waiter(60);
        until_waiting(db, team, 1).await;
        let third = waiter(60);
        until_waiting(db, team, 2).await;
        let gone = waiter(60);
        until_waiting(db, team, 3).await;

        gone.abort();
        until_waiting(db, team, 2).await;
        let (status, answer) = create_waiting(&router, &fx.admin, Some(1)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
        assert_error(&answer, "pool_exhausted");
        assert_eq!(fx.used().await["running"], 1, "waiters hold nothing");

        let (status, _) = fx
            .call(DELETE, &format!("/v1/sandboxes/{first}"), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, created) = second.await.expect("second");
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert!(!third.is_finished(), "the third waits behind the second");
        let id = created["id"].as_str().expect("id");
        let (status, _) = fx.call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, created) = third.await.expect("third");
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(db::pools::waiting(db, team).await.expect("waiting"), 0);
        assert_eq!(fx.used().await["running"], 1);
        fx.assert_consistent().await;
    }
);

both_dbs!(
    e2b_create_when_queue_plan_then_waits_the_plans_default,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let mut queue = plan(64, 1);
        queue["overflow"] = json!("queue");
        queue["queue_wait_secs"] = json!(60);
        fx.plan("queue", queue).await;
        let first = fx.create_id().await;
        let key = fx.app.api_key(&fx.admin).await;
        let router = wrenn_cp::api::router(fx.app.state.clone());
        let waiter = tokio::spawn(async move {
            let request = Request::builder()
                .method(POST)
                .uri("/e2b/v2/sandboxes")
                .header("x-api-key", key)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json!({"templateID": "base"}).to_string()))
                .expect("request");
            let response = router.oneshot(request).await.expect("answer");
            let status = response.status();
            let bytes = response.into_body().collect().await.expect("body");
            (status, bytes.to_bytes())
        });
        let (db, team) = (&fx.app.state.db, fx.team.as_str());
        until_waiting(db, team, 1).await;

        let (status, _) = fx
            .call(DELETE, &format!("/v1/sandboxes/{first}"), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = waiter.await.expect("waiter");
        assert_eq!(status, StatusCode::CREATED, "{body:?}");
        until_waiting(db, team, 0).await;
        assert_eq!(fx.used().await["running"], 1);
    }
);

both_dbs!(
    put_plan_when_queue_wait_out_of_range_then_422,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let mut body = plan(4, 4);
        body["queue_wait_secs"] = json!(601);
        let (status, answer) = fx.call(PUT, "/v1/admin/plans/bad", Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(assert_error(&answer, "validation_failed").contains("queue_wait_secs"));
    }
);

both_dbs!(
    create_when_burst_then_past_pool_to_ceiling_and_excess_invoiced,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let mut burst = plan(2, 10);
        burst["overflow"] = json!("burst");
        burst["burst_vcpus"] = json!(2);
        burst["burst_cents_per_vcpu_hour"] = json!(360);
        fx.plan("burst", burst).await;
        let start = db::now_ms() - 1;
        let two = json!({"vcpus": 2});
        let mut ids = Vec::new();
        for _ in 0..2 {
            let (status, answer) = fx.call(POST, "/v1/sandboxes", Some(two.clone())).await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            ids.push(answer["id"].as_str().expect("id").to_owned());
        }
        let (status, answer) = fx.call(POST, "/v1/sandboxes", Some(two)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
        let message = assert_error(&answer, "pool_exhausted");
        assert!(
            message.contains("vcpus: 4 in use of 4, 2 asked"),
            "{message}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        for id in &ids {
            let (status, _) = fx.call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;
            assert_eq!(status, StatusCode::NO_CONTENT);
        }
        let end = db::now_ms() + 1;

        let db = &fx.app.state.db;
        let spans: Vec<(i64, i64)> = {
            let mut spans = Vec::new();
            for id in &ids {
                let ledger = db::usage::of_sandbox(db, id).await.expect("ledger");
                spans.push((ledger[0].started_at, ledger[0].ended_at.expect("closed")));
            }
            spans
        };
        let overlap = spans[0].1.min(spans[1].1) - spans[0].0.max(spans[1].0);
        let invoice =
            wrenn_cp::service::usage::invoice(db, &fx.app.state.config, &fx.team, start, end)
                .await
                .expect("invoice");
        assert!(overlap > 0);
        assert_eq!(invoice.burst_vcpu_ms, 2 * overlap);
        assert_eq!(
            invoice.burst_cents,
            (2 * overlap * 360 + 3_599_999) / 3_600_000
        );
        assert_eq!(invoice.total_cents, 5000 + invoice.burst_cents);
    }
);

both_dbs!(
    usage_when_by_sandbox_then_json_and_csv_agree,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let (status, _) = fx.call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        let (status, usage) = fx.call(GET, "/v1/usage?by=sandbox", None).await;
        assert_eq!(status, StatusCode::OK, "{usage}");
        assert_eq!(usage["entries"][0]["key"], id.as_str(), "{usage}");
        assert_eq!(usage["entries"][0]["template"], "base");
        let total = |usage: &Value, field: &str| -> f64 {
            let entries = usage["entries"].as_array().expect("entries");
            entries
                .iter()
                .map(|e| e[field].as_f64().expect("number"))
                .sum()
        };
        for by in ["day", "hour", "template"] {
            let (status, grouped) = fx.call(GET, &format!("/v1/usage?by={by}"), None).await;
            assert_eq!(status, StatusCode::OK, "{grouped}");
            for field in ["running_seconds", "vcpu_seconds", "memory_gib_seconds"] {
                let (a, b) = (total(&grouped, field), total(&usage, field));
                assert!((a - b).abs() < 1e-9 && b > 0.0, "{by} {field}: {a} vs {b}");
            }
        }
        let (status, csv) = fx.call(GET, "/v1/usage?by=sandbox&format=csv", None).await;
        assert_eq!(status, StatusCode::OK);
        let csv = csv.as_str().expect("csv text");
        assert!(csv.starts_with("key,template,running_seconds"), "{csv}");
        assert!(csv
            .lines()
            .nth(1)
            .expect("a line")
            .starts_with(&format!("{id},base,")));
        let (status, export) = fx.call(GET, "/v1/usage/export", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(export.as_str().expect("csv").lines().count(), 2, "{export}");

        let huge = "/v1/usage?start=2000-01-01T00:00:00Z&end=2026-01-01T00:00:00Z";
        let (status, answer) = fx.call(GET, huge, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(assert_error(&answer, "validation_failed").contains("400 days"));
    }
);
