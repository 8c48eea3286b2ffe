//! `GET /v1/sandboxes` (page of 50 of 1,000 records, SQLite) with the
//! request limits on vs off, to price the per-key and per-team token
//! buckets and their `RateLimit-*` headers. Two routers over one database
//! are served in-process on loopback sockets, one per setting; rounds
//! alternate between them (and which goes first) in one run, and the table
//! has the medians and their ratio. "On" uses limits far above the load, so
//! that every request is checked and none is refused: the figure is the
//! limiter's cost, not its cap (the defaults, 200 req/s per key, would cap
//! this closed loop).
use std::{sync::Arc, time::Duration};

use anyhow::Context;
use reqwest::{Method, StatusCode};
use wrenn_cp::{config::CpConfig, state::AppState};

use super::{api::Api, list, load};
use crate::{stats::median, Row};

const CONNECTIONS: usize = 8;
const ROUNDS: usize = 6;
const ROUND: Duration = Duration::from_secs(3);
const WARM_UP: Duration = Duration::from_secs(1);
const FAR_ABOVE: &str = "100000000";

pub async fn run() -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/cp.db", dir.path().display());
    let jwt_secret = wrenn_cp::auth::random_token(48);
    let config = |limits: &str| {
        CpConfig::from_lookup(|name| match name {
            "DATABASE_URL" => Some(url.clone()),
            "CP_JWT_SECRET" => Some(jwt_secret.clone()),
            "CP_AGENT_URL" => Some(String::new()),
            "CP_RATE_LIMIT" => Some(limits.to_owned()),
            "CP_RATE_LIMIT_KEY_PER_SEC"
            | "CP_RATE_LIMIT_KEY_BURST"
            | "CP_RATE_LIMIT_TEAM_PER_SEC"
            | "CP_RATE_LIMIT_TEAM_BURST" => Some(FAR_ABOVE.to_owned()),
            _ => None,
        })
    };
    let on = wrenn_cp::server::build_state(config("on")?).await?;
    let off = AppState {
        config: Arc::new(config("off")?),
        ..on.clone()
    };
    let (on_base, on_server) = serve(on.clone()).await?;
    let (off_base, off_server) = serve(off).await?;
    let measured = measure(&on, &on_base, &off_base).await;
    on_server.abort();
    off_server.abort();
    on.db.pool.close().await;
    measured.context("rate-limit benchmark")
}

async fn serve(state: AppState) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = wrenn_cp::api::router(state);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, server))
}

async fn measure(on: &AppState, on_base: &str, off_base: &str) -> anyhow::Result<Vec<Row>> {
    let api = Api::signup(on_base).await?;
    list::seed(&on.db, &api.team_id).await?;
    let page = api
        .json(Method::GET, "/v1/sandboxes", None, StatusCode::OK)
        .await?;
    anyhow::ensure!(page["sandboxes"].as_array().map_or(0, Vec::len) == 50);
    let urls = [
        format!("{on_base}/v1/sandboxes"),
        format!("{off_base}/v1/sandboxes"),
    ];
    for (url, limited) in urls.iter().zip([true, false]) {
        let answer = api.http.get(url).bearer_auth(&api.key).send().await?;
        let has = answer.headers().contains_key("ratelimit-remaining");
        anyhow::ensure!(has == limited, "{url}: RateLimit headers present: {has}");
        load::get(url, &api.key, CONNECTIONS, WARM_UP).await?;
    }
    let (mut per_second, mut p50) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for round in 0..ROUNDS {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let load = load::get(&urls[which], &api.key, CONNECTIONS, ROUND).await?;
            per_second[which].push(load.per_second);
            p50[which].push(load.p50_ms);
        }
    }
    let (on_rps, off_rps) = (median(&per_second[0]), median(&per_second[1]));
    let note = format!(
        "median of {ROUNDS} alternating {}s rounds, {CONNECTIONS} connections",
        ROUND.as_secs()
    );
    Ok(vec![
        Row::new(
            "cp.ratelimit.list_1000.on.throughput",
            on_rps,
            "req/s",
            note.clone(),
        ),
        Row::new(
            "cp.ratelimit.list_1000.off.throughput",
            off_rps,
            "req/s",
            note,
        ),
        Row::new(
            "cp.ratelimit.list_1000.on_over_off",
            on_rps / off_rps,
            "ratio",
            "throughput with limits on / off",
        ),
        Row::new(
            "cp.ratelimit.list_1000.on.latency_p50",
            median(&p50[0]),
            "ms",
            "",
        ),
        Row::new(
            "cp.ratelimit.list_1000.off.latency_p50",
            median(&p50[1]),
            "ms",
            "",
        ),
    ])
}
