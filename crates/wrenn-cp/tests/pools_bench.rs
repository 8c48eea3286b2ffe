//! Figures for issue 14 (run on demand, they print and assert no timing):
//! the cost of the pool check on create (the create path's reservation vs
//! the plain insert it replaced, and whole creates through the API with and
//! without a plan, median of 50 each, same run), and a usage query over a
//! team's 100,000 ledger rows (p50 / p99 of 20).
//! `cargo test -p wrenn-cp --test pools_bench -- --ignored --nocapture`
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::{fake_agent::FakeAgent, Kind, TestApp};
use serde_json::json;
use wrenn_cp::{
    db::{self, sandboxes::SandboxRow},
    lifecycle::SandboxState,
    service::{pools, usage},
};

fn quantile(mut samples: Vec<Duration>, q: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[index]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn row(team: &str, n: usize) -> SandboxRow {
    SandboxRow {
        id: format!("sbx_bench{n:06}"),
        team_id: team.to_owned(),
        host_id: None,
        template: "base".into(),
        template_image: "base".into(),
        state: SandboxState::Pending,
        reason: String::new(),
        vcpus: 1,
        memory_mb: 256,
        disk_mb: None,
        timeout_secs: 300,
        on_timeout: wrenn_types::TimeoutAction::Kill,
        metadata: Default::default(),
        internet: true,
        egress_allow: vec![],
        egress_deny: vec![],
        from_snapshot: false,
        created_by: "bench".into(),
        created_at: db::now_ms(),
        started_at: None,
        timeout_at: None,
        updated_at: db::now_ms(),
        auto_resume: false,
        public_traffic: true,
        traffic_token_hash: None,
        traffic_access_token: None,
    }
}

async fn create_latency(kind: Kind) {
    let limit = [("CP_MAX_SANDBOXES_PER_TEAM", "1000")];
    let app = TestApp::start_configured(kind, FakeAgent::new(), &limit).await;
    let (token, team) = app.signup("bench@example.com").await;
    let (db, config) = (&app.state.db, &app.state.config);
    let plan = json!({"vcpus": 10000, "memory_gib": 10000, "storage_gib": 100000,
                      "max_running": 10000, "max_paused": 10000});
    let mut plain = Vec::new();
    let mut reserved = Vec::new();
    for n in 0..50 {
        let a = row(&team, 2 * n);
        let t = Instant::now();
        db::sandboxes::insert(db, &a).await.expect("insert");
        plain.push(t.elapsed());
        let b = row(&team, 2 * n + 1);
        let t = Instant::now();
        pools::insert_reserved(db, config, std::slice::from_ref(&b))
            .await
            .expect("reserved");
        reserved.push(t.elapsed());
    }
    let create = |token: String| {
        let app = &app;
        async move {
            let t = Instant::now();
            let (status, answer) = app
                .request(Method::POST, "/v1/sandboxes", Some(&token), Some(json!({})))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            t.elapsed()
        }
    };
    let mut without = Vec::new();
    let mut with = Vec::new();
    let (status, _) = app
        .request(
            Method::PUT,
            "/v1/admin/plans/bench",
            Some(&token),
            Some(plan),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..50 {
        // Alternated, so drift in the machine's load hits both alike.
        db::plans::assign(db, &team, "bench", &Default::default())
            .await
            .expect("assign");
        with.push(create(token.clone()).await);
        sqlx::query("DELETE FROM team_plans WHERE team_id = $1")
            .bind(&team)
            .execute(&db.pool)
            .await
            .expect("unassign");
        without.push(create(token.clone()).await);
    }
    println!(
        "{kind:?}: record insert median: plain {} vs with pool reservation {}; \
         API create median (fake host): without plan {} vs with plan {}",
        ms(quantile(plain, 0.5)),
        ms(quantile(reserved, 0.5)),
        ms(quantile(without, 0.5)),
        ms(quantile(with, 0.5)),
    );
}

async fn usage_query(kind: Kind) {
    let app = TestApp::start_with_agent(kind, FakeAgent::new()).await;
    let (_, team) = app.signup("bench@example.com").await;
    let db = &app.state.db;
    let day = 86_400_000_i64;
    let end = db::now_ms();
    let start = end - 30 * day;
    // 100,000 intervals of 1,000 sandboxes over 30 days, written in batches.
    for batch in 0..100 {
        let mut tx = db.pool.begin().await.expect("tx");
        let mut sql = String::from(
            "INSERT INTO usage_intervals (id, sandbox_id, team_id, template, host_id, phase, \
             vcpus, memory_mb, storage_mb, started_at, ended_at) VALUES ",
        );
        let values: Vec<String> = (0..1000)
            .map(|i| {
                let n = batch * 1000 + i;
                let at = start + (n as i64 * 25_920) % (30 * day);
                let phase = if n % 3 == 0 { "paused" } else { "running" };
                format!(
                    "('use_{n:08}', 'sbx_{:04}', '{team}', 'tpl{}', 'host_local', '{phase}', 2, 512, 1024, {at}, {})",
                    n % 1000,
                    n % 7,
                    at + 600_000
                )
            })
            .collect();
        sql.push_str(&values.join(", "));
        sqlx::query(&sql).execute(&mut *tx).await.expect("insert");
        tx.commit().await.expect("commit");
    }
    for by in [usage::GroupBy::Day, usage::GroupBy::Sandbox] {
        let mut samples = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let lines = usage::rollup(db, Some(&team), by, start, end)
                .await
                .expect("rollup");
            samples.push(t.elapsed());
            assert!(!lines.is_empty());
        }
        println!(
            "{kind:?}: usage by {by:?} over 100,000 ledger rows: p50 {} p99 {}",
            ms(quantile(samples.clone(), 0.5)),
            ms(quantile(samples, 0.99)),
        );
    }
}

#[tokio::test]
#[ignore = "a benchmark: prints figures"]
async fn bench_create_latency_sqlite() {
    create_latency(Kind::Sqlite).await;
}

#[tokio::test]
#[ignore = "a benchmark: prints figures"]
async fn bench_create_latency_postgres() {
    if common::postgres::available("bench_create_latency_postgres") {
        create_latency(Kind::Postgres).await;
    }
}

#[tokio::test]
#[ignore = "a benchmark: prints figures"]
async fn bench_usage_query_sqlite() {
    usage_query(Kind::Sqlite).await;
}

#[tokio::test]
#[ignore = "a benchmark: prints figures"]
async fn bench_usage_query_postgres() {
    if common::postgres::available("bench_usage_query_postgres") {
        usage_query(Kind::Postgres).await;
    }
}
