//! Suite `cp-list` (only when named): `GET /v1/sandboxes`, the default page
//! of 50 of a team's 1,000 sandbox records, 8 keep-alive connections, with
//! today's control plane against this build IN THE SAME RUN, on SQLite and
//! on PostgreSQL.
//!
//! Both builds run as real `wrenn-cp` processes on loopback, each on its own
//! fresh database seeded alike (a baseline built from an older commit may
//! not know this build's migrations): the baseline binary is
//! `$WRENN_BENCH_BASELINE_CP`, this build's is found like suite `cp`'s
//! (`$WRENN_CP_BIN`, else beside this binary). Rounds alternate between
//! the two (and which goes first), so that a busy machine weighs on both
//! alike; the table has the median req/s of the rounds, p50 and p99 over
//! every request of the rounds, and the ratio. The request limits are on
//! but far above the load (every request pays for the check, none is
//! refused). The load generator is this process, on the same CPUs.
use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use reqwest::{Method, StatusCode};
use wrenn_cp::db::{Db, DbKind};

use super::{
    api::Api,
    list::{self, Database},
    load, procs,
};
use crate::{
    stats::{median, percentile},
    Row,
};

const CONNECTIONS: usize = 8;
const ROUNDS: usize = 6;
const ROUND: Duration = Duration::from_secs(3);
const WARM_UP: Duration = Duration::from_secs(2);
const FAR_ABOVE: &str = "100000000";
const BASELINE_VAR: &str = "WRENN_BENCH_BASELINE_CP";
const BUILDS: [&str; 2] = ["baseline", "current"];

pub async fn run() -> anyhow::Result<Vec<Row>> {
    let Some(baseline) = std::env::var_os(BASELINE_VAR).filter(|v| !v.is_empty()) else {
        eprintln!("cp-list: skipped: set {BASELINE_VAR} to today's wrenn-cp binary");
        return Ok(vec![Row::text(
            "cp.list_ab",
            "skipped",
            "",
            format!("no baseline binary ({BASELINE_VAR})"),
        )]);
    };
    let binaries = [
        PathBuf::from(baseline),
        procs::binary("wrenn-cp", "WRENN_CP_BIN")?,
    ];
    for binary in &binaries {
        eprintln!(
            "cp-list: {} ({} build)",
            binary.display(),
            procs::profile(binary)
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("wrenn-bench-cp-list-")
        .tempdir()?;
    let sqlite = [0, 1].map(|i| format!("sqlite://{}/cp-{i}.db", dir.path().display()));
    let mut rows = compare("sqlite", &binaries, &sqlite, dir.path())
        .await
        .context("list comparison on SQLite")?;
    let admin = list::postgres_admin_url();
    let mut databases = Vec::new();
    for _ in BUILDS {
        match Database::create(&admin).await {
            Ok(database) => databases.push(database),
            Err(err) => {
                eprintln!("cp-list: skipping PostgreSQL: {err:#}");
                break;
            }
        }
    }
    if databases.len() == BUILDS.len() {
        let urls = [databases[0].url.clone(), databases[1].url.clone()];
        let measured = compare("postgres", &binaries, &urls, dir.path()).await;
        for database in databases {
            database.remove().await;
        }
        rows.extend(measured.context("list comparison on PostgreSQL")?);
    } else {
        for database in databases {
            database.remove().await;
        }
        rows.push(Row::text(
            "cp.list_ab.postgres",
            "skipped",
            "",
            "no PostgreSQL server",
        ));
    }
    Ok(rows)
}

/// Starts both builds (build `i` on `urls[i]`), seeds, and alternates rounds.
async fn compare(
    label: &str,
    binaries: &[PathBuf; 2],
    urls: &[String; 2],
    log_dir: &std::path::Path,
) -> anyhow::Result<Vec<Row>> {
    let mut servers = Vec::new();
    for (i, (binary, url)) in binaries.iter().zip(urls).enumerate() {
        let log = log_dir.join(format!("cp-{label}-{}.log", BUILDS[i]));
        servers.push(procs::ControlPlane::start_binary(binary, url, FAR_ABOVE, &log).await?);
    }
    let measured = async {
        let mut targets = Vec::new();
        for (server, url) in servers.iter().zip(urls) {
            let api = Api::signup(&server.url).await?;
            seed(url, &api.team_id).await?;
            let page = api
                .json(Method::GET, "/v1/sandboxes", None, StatusCode::OK)
                .await?;
            let listed = page["sandboxes"].as_array().map_or(0, Vec::len);
            anyhow::ensure!(listed == 50, "the default page held {listed} sandboxes");
            let list_url = format!("{}/v1/sandboxes", server.url);
            load::samples(&list_url, &api.key, CONNECTIONS, WARM_UP).await?;
            targets.push((list_url, api.key));
        }
        let mut per_second = [Vec::new(), Vec::new()];
        let mut latencies = [Vec::new(), Vec::new()];
        for round in 0..ROUNDS {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let (url, key) = &targets[which];
                let samples = load::samples(url, key, CONNECTIONS, ROUND).await?;
                per_second[which].push(samples.per_second());
                latencies[which].extend(samples.latencies_ms);
            }
        }
        Ok::<_, anyhow::Error>(rows(label, &per_second, &latencies))
    }
    .await;
    for server in servers {
        server.stop().await?;
    }
    measured
}

fn rows(label: &str, per_second: &[Vec<f64>; 2], latencies: &[Vec<f64>; 2]) -> Vec<Row> {
    let note = format!(
        "median of {ROUNDS} alternating {}s rounds, {CONNECTIONS} connections, page of 50 of {}",
        ROUND.as_secs(),
        list::RECORDS
    );
    let mut rows = Vec::new();
    for (i, build) in BUILDS.iter().enumerate() {
        let name = format!("cp.list_ab.{label}.{build}");
        rows.push(Row::new(
            &format!("{name}.throughput"),
            median(&per_second[i]),
            "req/s",
            note.clone(),
        ));
        rows.push(Row::new(
            &format!("{name}.latency_p50"),
            percentile(&latencies[i], 50.0),
            "ms",
            format!("{} requests", latencies[i].len()),
        ));
        rows.push(Row::new(
            &format!("{name}.latency_p99"),
            percentile(&latencies[i], 99.0),
            "ms",
            "",
        ));
    }
    rows.push(Row::new(
        &format!("cp.list_ab.{label}.current_over_baseline"),
        median(&per_second[1]) / median(&per_second[0]),
        "ratio",
        "throughput, this build / the baseline",
    ));
    rows
}

/// Seeds the database of a running control plane straight through SQL
/// (the schema of sandbox records is the same in both builds).
async fn seed(url: &str, team_id: &str) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    let kind = if url.starts_with("sqlite:") {
        DbKind::Sqlite
    } else {
        DbKind::Postgres
    };
    let db = Db { pool, kind };
    let seeded = list::seed(&db, team_id).await;
    db.pool.close().await;
    seeded
}
