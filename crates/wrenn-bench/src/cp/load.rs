//! A closed-loop HTTP load generator: `connections` tasks on keep-alive
//! connections each send the next request as soon as the last answered.
use std::time::{Duration, Instant};

use crate::stats::percentile;

/// What a load run measured.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub requests: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// GETs `url` with `key` as bearer for `duration`; every answer must be 200.
pub async fn get(
    url: &str,
    key: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Load> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (http, url, key) = (http.clone(), url.to_owned(), key.to_owned());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let answer = http.get(&url).bearer_auth(&key).send().await?;
                let status = answer.status();
                answer.bytes().await?;
                anyhow::ensure!(status.is_success(), "GET {url} answered {status}");
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        latencies.extend(joined??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Load {
        requests: latencies.len(),
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
    })
}
