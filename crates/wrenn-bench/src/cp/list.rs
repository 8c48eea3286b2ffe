//! `GET /v1/sandboxes` (the default page of 50) for a team with 1,000
//! sandbox records, on SQLite and on PostgreSQL. The control plane's router
//! is served in-process by axum on a loopback socket: real HTTP, a real API
//! key and a real database, no VMs. The load generator shares the process
//! and so the CPUs with the server.
use std::{collections::BTreeMap, time::Duration};

use anyhow::Context;
use reqwest::{Method, StatusCode};
use sqlx::{Connection, Executor, PgConnection};
use wrenn_cp::{
    config::CpConfig,
    db::{self, sandboxes::SandboxRow, Db},
    lifecycle::SandboxState,
};

use super::{api::Api, load};
use crate::Row;

pub(super) const RECORDS: usize = 1_000;
const CONNECTIONS: usize = 8;
const WARM_UP: Duration = Duration::from_secs(1);
const DURATION: Duration = Duration::from_secs(10);
const POSTGRES_VAR: &str = "WRENN_BENCH_POSTGRES_URL";
const POSTGRES_DEFAULT: &str = "postgres://postgres:wrenn@127.0.0.1:5432/postgres";

pub async fn run() -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}/cp.db", dir.path().display());
    let mut rows = measure("sqlite", &sqlite).await?;
    let admin = postgres_admin_url();
    match Database::create(&admin).await {
        Ok(database) => {
            let measured = measure("postgres", &database.url).await;
            database.remove().await;
            rows.extend(measured?);
        }
        Err(err) => {
            eprintln!("cp: skipping the PostgreSQL list benchmark: {err:#} (set {POSTGRES_VAR})");
            rows.push(Row::text(
                "cp.list_1000.postgres",
                "skipped",
                "",
                format!("no PostgreSQL server ({POSTGRES_VAR})"),
            ));
        }
    }
    Ok(rows)
}

/// The PostgreSQL server to make throw-away databases on.
pub(super) fn postgres_admin_url() -> String {
    std::env::var(POSTGRES_VAR).unwrap_or_else(|_| POSTGRES_DEFAULT.into())
}

async fn measure(label: &str, url: &str) -> anyhow::Result<Vec<Row>> {
    let jwt_secret = wrenn_cp::auth::random_token(48);
    let config = CpConfig::from_lookup(|name| match name {
        "DATABASE_URL" => Some(url.to_owned()),
        "CP_JWT_SECRET" => Some(jwt_secret.clone()),
        "CP_AGENT_URL" => Some(String::new()),
        _ => None,
    })?;
    let state = wrenn_cp::server::build_state(config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = wrenn_cp::api::router(state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let measured = async {
        let api = Api::signup(&base).await?;
        seed(&state.db, &api.team_id).await?;
        let page = api
            .json(Method::GET, "/v1/sandboxes", None, StatusCode::OK)
            .await?;
        let listed = page["sandboxes"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(listed == 50, "the default page held {listed} sandboxes");
        let url = format!("{base}/v1/sandboxes");
        load::get(&url, &api.key, CONNECTIONS, WARM_UP).await?;
        load::get(&url, &api.key, CONNECTIONS, DURATION).await
    }
    .await;
    server.abort();
    state.db.pool.close().await;
    let load = measured.with_context(|| format!("list benchmark on {label}"))?;
    let name = format!("cp.list_1000.{label}");
    let note = format!(
        "{CONNECTIONS} keep-alive connections, {}s, page of 50, {} requests",
        DURATION.as_secs(),
        load.requests
    );
    Ok(vec![
        Row::new(
            &format!("{name}.throughput"),
            load.per_second,
            "req/s",
            note,
        ),
        Row::new(&format!("{name}.latency_p50"), load.p50_ms, "ms", ""),
        Row::new(&format!("{name}.latency_p99"), load.p99_ms, "ms", ""),
    ])
}

/// `RECORDS` sandboxes of `team_id`, one millisecond apart, most running.
pub(super) async fn seed(db: &Db, team_id: &str) -> anyhow::Result<()> {
    let now = db::now_ms();
    for i in 0..RECORDS {
        let created_at = now - i64::try_from(i)?;
        let state = if i % 10 == 0 {
            SandboxState::Stopped
        } else {
            SandboxState::Running
        };
        let row = SandboxRow {
            id: wrenn_cp::auth::random_token(20).to_lowercase(),
            team_id: team_id.to_owned(),
            host_id: None,
            template: "base".into(),
            template_image: "base".into(),
            state,
            reason: String::new(),
            vcpus: 1,
            memory_mb: 512,
            disk_mb: None,
            timeout_secs: 300,
            on_timeout: wrenn_types::TimeoutAction::Kill,
            metadata: BTreeMap::from([("run".to_owned(), (i % 7).to_string())]),
            internet: true,
            egress_allow: Vec::new(),
            egress_deny: Vec::new(),
            from_snapshot: true,
            created_by: "bench".into(),
            created_at,
            started_at: Some(created_at),
            timeout_at: Some(created_at + 300_000),
            updated_at: created_at,
            auto_resume: false,
            public_traffic: true,
            traffic_token_hash: None,
            traffic_access_token: None,
        };
        db::sandboxes::insert(db, &row).await?;
    }
    Ok(())
}

/// A throw-away database `wrenn_bench_<random>` on a PostgreSQL server.
#[derive(Debug)]
pub(super) struct Database {
    admin: String,
    name: String,
    pub(super) url: String,
}

impl Database {
    pub(super) async fn create(admin: &str) -> anyhow::Result<Self> {
        let name = format!(
            "wrenn_bench_{}",
            wrenn_cp::auth::random_token(12).to_lowercase()
        );
        let mut conn = PgConnection::connect(admin)
            .await
            .context("cannot connect")?;
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        conn.close().await?;
        let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        Ok(Self {
            url: format!("{base}/{name}"),
            admin: admin.to_owned(),
            name,
        })
    }

    pub(super) async fn remove(self) {
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = async {
            let mut conn = PgConnection::connect(&self.admin).await?;
            conn.execute(statement.as_str()).await?;
            conn.close().await
        }
        .await;
        if let Err(err) = dropped {
            eprintln!("cp: could not drop database {}: {err}", self.name);
        }
    }
}
