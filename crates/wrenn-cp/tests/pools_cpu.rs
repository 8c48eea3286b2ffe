//! Guest CPU time in the usage ledger, against an in-memory host
//! ([`common::fake_agent::FakeAgent`]) on SQLite and PostgreSQL: the
//! readings a host reports (reconcile passes, the answers of pause and
//! destroy) become each running interval's guest CPU, exactly once across
//! pause and resume (a new VMM counts from 0), stale or repeated readings
//! and restarts of either side, and show in the roll-ups and exports.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]

#[macro_use]
mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{fake_agent::FakeAgent, Kind, TestApp};
use serde_json::{json, Value};
use wrenn_cp::{db, reconcile::reconcile_all};

struct Fixture {
    app: TestApp,
    agent: Arc<FakeAgent>,
    token: String,
}

impl Fixture {
    async fn start(kind: Kind) -> Self {
        let agent = FakeAgent::new();
        let app = TestApp::start_with_agent(kind, agent.clone()).await;
        let (token, _) = app.signup("cpu@example.com").await;
        Self { app, agent, token }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.app
            .request(method, path, Some(&self.token), body)
            .await
    }

    async fn create(&self) -> String {
        let (status, answer) = self
            .call(Method::POST, "/v1/sandboxes", Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "create: {answer}");
        answer["id"].as_str().expect("id").to_owned()
    }

    async fn act(&self, id: &str, action: &str) {
        let path = format!("/v1/sandboxes/{id}/{action}");
        let (status, answer) = self.call(Method::POST, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{action}: {answer}");
    }

    async fn destroy(&self, id: &str) {
        let path = format!("/v1/sandboxes/{id}");
        let (status, answer) = self.call(Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "destroy: {answer}");
    }

    async fn reconcile(&self) {
        reconcile_all(&self.app.state).await.expect("reconcile");
    }

    /// `(phase, cpu_ms, open)` of every interval of `id`, oldest first.
    async fn ledger(&self, id: &str) -> Vec<(String, Option<i64>, bool)> {
        db::usage::of_sandbox(&self.app.state.db, id)
            .await
            .expect("ledger")
            .into_iter()
            .map(|i| (i.phase, i.cpu_ms, i.ended_at.is_none()))
            .collect()
    }
}

fn at(phase: &str, cpu: Option<i64>, open: bool) -> (String, Option<i64>, bool) {
    (phase.to_owned(), cpu, open)
}

both_dbs!(
    ledger_when_readings_across_pause_resume_destroy_then_each_vmm_counted_once,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create().await;
        assert_eq!(fx.ledger(&id).await, vec![at("running", Some(0), true)]);

        // Reconcile passes carry the running figure; a lower (stale)
        // reading never lowers it, a repeated one changes nothing.
        fx.agent.set_cpu_ms(&id, 700);
        fx.reconcile().await;
        assert_eq!(fx.ledger(&id).await, vec![at("running", Some(700), true)]);
        fx.agent.set_cpu_ms(&id, 500);
        fx.reconcile().await;
        fx.reconcile().await;
        assert_eq!(fx.ledger(&id).await, vec![at("running", Some(700), true)]);

        // The pause's final reading closes the interval.
        fx.agent.set_cpu_ms(&id, 1500);
        fx.act(&id, "pause").await;
        assert_eq!(
            fx.ledger(&id).await,
            vec![at("running", Some(1500), false), at("paused", None, true)]
        );
        // A paused sandbox's last reading belongs to the ended VMM: it
        // must not reach the paused interval, nor the next running one.
        fx.reconcile().await;
        let asked_before_resume = db::now_ms() - 1;
        fx.act(&id, "resume").await;
        assert!(
            !db::usage::observe_cpu(&fx.app.state.db, &id, 1500, asked_before_resume)
                .await
                .expect("observe"),
            "a reading asked before the resume reached the new VMM's interval"
        );
        // The resumed VMM counts from 0; a control-plane restart (the
        // first reconcile pass again) adds nothing twice.
        fx.agent.set_cpu_ms(&id, 200);
        fx.reconcile().await;
        fx.reconcile().await;
        fx.agent.set_cpu_ms(&id, 300);
        fx.destroy(&id).await;
        fx.reconcile().await;
        assert_eq!(
            fx.ledger(&id).await,
            vec![
                at("running", Some(1500), false),
                at("paused", None, false),
                at("running", Some(300), false),
            ]
        );

        let (status, usage) = fx.call(Method::GET, "/v1/usage?by=sandbox", None).await;
        assert_eq!(status, StatusCode::OK, "{usage}");
        assert_eq!(
            usage["entries"][0]["guest_cpu_seconds"],
            json!(1.8),
            "{usage}"
        );
        for by in ["day", "hour", "template"] {
            let (status, grouped) = fx
                .call(Method::GET, &format!("/v1/usage?by={by}"), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{grouped}");
            let total: f64 = grouped["entries"]
                .as_array()
                .expect("entries")
                .iter()
                .map(|e| e["guest_cpu_seconds"].as_f64().expect("number"))
                .sum();
            assert!((total - 1.8).abs() < 1e-9, "{by}: {total}");
        }
        let (status, csv) = fx
            .call(Method::GET, "/v1/usage?by=sandbox&format=csv", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let csv = csv.as_str().expect("csv text");
        assert!(
            csv.lines()
                .next()
                .expect("header")
                .ends_with(",guest_cpu_seconds"),
            "{csv}"
        );
        assert!(
            csv.lines().nth(1).expect("a line").ends_with(",1.800"),
            "{csv}"
        );
        let (status, export) = fx.call(Method::GET, "/v1/usage/export", None).await;
        assert_eq!(status, StatusCode::OK);
        let export = export.as_str().expect("csv");
        let cpu: Vec<&str> = export
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().expect("last field"))
            .collect();
        assert_eq!(cpu, vec!["1.500", "", "0.300"], "{export}");
    }
);

both_dbs!(
    ledger_when_host_pauses_it_itself_then_reconcile_closes_with_its_final_reading,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create().await;
        fx.agent.set_cpu_ms(&id, 400);
        fx.reconcile().await;
        // The host's inactivity timeout paused it: the report carries the
        // ended VMM's final reading.
        fx.agent.set_cpu_ms(&id, 900);
        fx.agent.set_state(&id, wrenn_cp::agent::AgentState::Paused);
        fx.reconcile().await;
        assert_eq!(
            fx.ledger(&id).await,
            vec![at("running", Some(900), false), at("paused", None, true)]
        );
    }
);

both_dbs!(
    ledger_when_host_loses_it_then_last_seen_reading_billed,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create().await;
        fx.agent.set_cpu_ms(&id, 650);
        fx.reconcile().await;
        // Gone from its host without a final answer.
        fx.agent.forget(&id);
        fx.reconcile().await;
        let ledger = fx.ledger(&id).await;
        assert_eq!(ledger, vec![at("running", Some(650), false)]);
    }
);
